"""Stage 04, GRPO with the reflection-aware reward (paper §3.2, Eq. 4-8, and §4.1), with TRL's ``GRPOTrainer``.

Each reward component is its own TRL reward function, so TRL logs ``rewards/format/mean`` …
``rewards/length/mean``; their sum is the paper's R_total. Advantages are group-normalised over the
``num_generations`` completions of a prompt (TRL ``scale_rewards: group``). The online accuracy filter and
the reflection metrics (first/final accuracy, fix and break rates) come from ``srpo.grpo_trainer``; they read
the verdicts the reward functions gave (each completion is graded once per step).

    python -m srpo.grpo --config runs/<profile>/<run>/grpo_rl/config.yaml                  # one process
    accelerate launch --config_file recipes/accelerate/zero3.yaml -m srpo.grpo --config …   # 7B, vLLM colocate

32B uses vLLM server mode: ``trl vllm-serve`` on its own node, training on the others (srpo.cluster).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from srpo import config as srpo_config
from srpo import generation, paths, training
from srpo.configs.base import stage_name

log = logging.getLogger(__package__)

STAGE = "grpo_rl"


def load_prompts(args, run_dir, stage_dir):
    """RL prompts in TRL's format: ``prompt`` (conversational, image placeholders), ``images``, and the
    grading columns the reward functions read (``answer``, ``options``, ``answer_type``, ``precision``).
    Rows with an image that does not decode or an empty question or gold answer go to ``quarantine.jsonl``
    (``training.screen_rows``). Returns (dataset, number of rows quarantined)."""
    from srpo import formats

    if stage_name(args.dataset):
        from srpo.data import load_split

        dataset = load_split(run_dir, args.dataset_split)
    else:
        from srpo.data import load_folder

        dataset = load_folder(args.dataset, f"RL dataset {args.dataset!r}")
    needed = {"question", "images", "answer", "options", "answer_type", "precision"}
    missing = needed - set(dataset.column_names)
    if missing:
        raise ValueError(f"RL dataset {args.dataset!r} lacks columns {sorted(missing)}")
    if args.max_prompts > 0:
        dataset = dataset.select(range(min(args.max_prompts, len(dataset))))
    dataset, quarantined = training.screen_rows(
        dataset, stage_dir, what=f"RL dataset {args.dataset!r}", required_text=("question", "answer")
    )

    def to_prompt(question, images):
        return {"prompt": formats.build_messages(question, len(images), args.prompt, args.prompt_placement)}

    dataset = dataset.map(to_prompt, input_columns=["question", "images"])
    return dataset.select_columns(["id", "prompt", "images", *sorted(needed - {"question", "images"})]), quarantined


class CompletionLog:
    """Appends sampled completions with their grades to ``completions.jsonl`` every ``every`` steps.

    A run resumed from a checkpoint re-does the steps after it; those steps are already in the log and are
    not written again (``srpo.jsonl.JsonlWriter`` keyed by step and sample)."""

    def __init__(self, path, every: int, keep: int = 4):
        self.path, self.every, self.keep = path, every, keep
        self._writer = None

    def __call__(self, step, prompts, completions, grades):
        if not self.every or step % self.every:
            return
        if self._writer is None:  # opened on first use: only the main process writes
            from srpo.jsonl import JsonlWriter

            self._writer = JsonlWriter(self.path, key=lambda r: (r["step"], r["sample"]))
        pairs = list(zip(completions, grades, strict=True))[: self.keep]
        self._writer.append(
            [
                {"step": step, "sample": i, "completion": text, **_jsonable(grade)}
                for i, (text, grade) in enumerate(pairs)
            ]
        )


def main(cfg: srpo_config.StageConfig) -> dict:
    from trl import get_peft_config

    from srpo import rewards
    from srpo.grpo_trainer import SRPOGRPOTrainer

    args, grpo_args, model_args = cfg.args, cfg.trl, cfg.model
    start, stage_dir = time.time(), cfg.stage_dir
    model_path, processor, model, frozen = training.setup(cfg)
    dataset, quarantined = load_prompts(args, cfg.run.run_dir, stage_dir)
    count = rewards.token_counter(processor.tokenizer)
    reward_funcs = rewards.make_reward_funcs(
        count,
        variant=args.reward,
        alpha=args.reward_alpha,
        effectiveness=args.reward_effectiveness,
        length=args.reward_length,
    )
    before = training.held_out_check(model, processor, args, args.prompt, grpo_args.seed)

    with generation.trl_colocate_engine(grpo_args, args):  # vLLM gets the trainer's pixel budget
        trainer = training.resumable(SRPOGRPOTrainer)(
            model=model,
            reward_funcs=reward_funcs,
            args=grpo_args,
            train_dataset=dataset,
            processing_class=processor,
            peft_config=get_peft_config(model_args),
            accuracy_filter=(args.accuracy_filter_min, args.accuracy_filter_max) if args.accuracy_filter else None,
            filter_metric=args.accuracy_filter_metric,
            filter_mode=args.accuracy_filter_mode,
            max_refills=args.accuracy_filter_max_refills,
            on_completions=CompletionLog(stage_dir / "completions.jsonl", args.completions_every),
        )
    generation.use_vllm_reload_on_cpu(trainer)  # a no-op on GPUs and without vLLM
    train_result, resume_from = training.train(
        trainer, cfg.run.run_dir, args.resume, Path(cfg.source).read_text(), run_logs=[stage_dir / "completions.jsonl"]
    )
    final = training.save_final(trainer, processor, stage_dir)
    history = training.log_history(trainer, stage_dir)
    after = training.held_out_check(trainer.model, processor, args, args.prompt, grpo_args.seed)

    summary = {
        "model": model_args.model_name_or_path,
        "model_path": model_path,
        "final_model": str(final),
        "reward": {
            "variant": args.reward,
            "alpha": args.reward_alpha,
            "effectiveness": args.reward_effectiveness,
            "length": args.reward_length,
            "functions": [f.__name__ for f in reward_funcs],
        },
        "accuracy_filter": [args.accuracy_filter_min, args.accuracy_filter_max] if args.accuracy_filter else None,
        "accuracy_filter_mode": args.accuracy_filter_mode if args.accuracy_filter else None,
        "prompts": len(dataset),
        "quarantined": quarantined,
        "resumed_from": resume_from,
        "steps": trainer.state.global_step,
        "train_seconds": round(train_result.metrics.get("train_runtime", 0.0), 1),
        "curves": curves(history),
        "parameters": {**training.parameter_counts(trainer.model), "frozen_vision": frozen},
        "held_out": {"before": before, "after": after, "n": args.eval_samples, "prompt": args.prompt},
        "seconds": round(time.time() - start, 1),
    }
    if training.is_main_process():
        paths.write_summary(cfg.run.run_dir, STAGE, summary)
    return summary


CURVE_KEYS = (
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "completions/mean_length",
    "entropy",
    "srpo/first_acc",
    "srpo/final_acc",
    "srpo/fix_rate",
    "srpo/break_rate",
    "srpo/unchanged",
    "srpo/well_formed",
    "srpo/reflection_tokens",
    "srpo/filter_kept",
)


def curves(history: list[dict]) -> dict:
    """Per-step series of the reward, each reward component and the reflection metrics."""
    keys = list(CURVE_KEYS) + sorted(
        {k for h in history for k in h if k.startswith("rewards/") and k.endswith("/mean")}
    )
    return {k: [(h["step"], h[k]) for h in history if k in h] for k in keys}


def _jsonable(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, str | int | float | bool | type(None))}


def cli(argv=None) -> None:
    from srpo.cluster import log_rank
    from srpo.rehearsal import skip_server_weight_sync_without_cuda

    cfg, _ = srpo_config.parse_entry_point(
        STAGE, argv, prog="python -m srpo.grpo", description=__doc__.splitlines()[0]
    )
    skip_server_weight_sync_without_cuda(cfg.trl)  # a CPU rehearsal of the 32b server mode only
    log_rank()  # one line per rank in the stage log: the ranks of every node met (srpo.cluster.slurm_env)
    main(cfg)


if __name__ == "__main__":
    cli()
