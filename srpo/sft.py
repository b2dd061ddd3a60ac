"""Stage 03, cold-start SFT on the reflection data (paper §3.1 and §4), with TRL's ``SFTTrainer``.

The SFT set of stage 02 is in TRL's prompt/completion + images format, so the loss covers the completion
only (the teacher-forced attempt, its reflection and the answer), on every transformers version. The
vision tower and merger are frozen as in the paper; full fine-tuning by default, LoRA with
``use_peft: true``. A killed run resumes from its last checkpoint.

    python -m srpo.sft --config runs/<profile>/<run>/cold_start_sft/config.yaml          # one process
    accelerate launch --config_file recipes/accelerate/zero3.yaml -m srpo.sft --config …  # 8 GPUs (ZeRO-3)

On the cluster ``srpo.launch.run_stage("cold_start_sft", "7b", run_dir)`` builds the second form.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from srpo import config as srpo_config
from srpo import paths, training
from srpo.configs.base import stage_name

log = logging.getLogger(__package__)

STAGE = "cold_start_sft"


def load_sft_dataset(args, run_dir, stage_dir):
    """The stage-02 SFT set (or a saved dataset folder), reduced to what SFTTrainer needs; rows with an image
    that does not decode or an empty completion go to ``quarantine.jsonl`` (``training.screen_rows``).

    Returns (dataset, number of rows quarantined)."""
    if stage_name(args.dataset):
        from srpo.reflection import load_sft_set

        dataset = load_sft_set(run_dir)
    elif args.dataset.startswith("cot:"):  # the plain-CoT view of an SFT set (ablation arm cot_sft_grpo)
        from srpo.data import load_folder
        from srpo.reflection.sft_set import cot_view

        dataset = cot_view(load_folder(args.dataset.removeprefix("cot:"), f"SFT dataset {args.dataset!r}"))
    else:
        from srpo.data import load_folder

        dataset = load_folder(args.dataset, f"SFT dataset {args.dataset!r}")
    missing = {"prompt", "completion", "images"} - set(dataset.column_names)
    if missing:
        raise ValueError(
            f"SFT dataset {args.dataset!r} lacks columns {sorted(missing)} (needs prompt, completion, images)"
        )
    if args.max_samples > 0:
        dataset = dataset.select(range(min(args.max_samples, len(dataset))))
    dataset, quarantined = training.screen_rows(
        dataset, stage_dir, what=f"SFT dataset {args.dataset!r}", required_text=("prompt", "completion")
    )
    return dataset.select_columns(["prompt", "completion", "images"]), quarantined


def main(cfg: srpo_config.StageConfig) -> dict:
    from trl import SFTTrainer, get_peft_config

    args, sft_args, model_args = cfg.args, cfg.trl, cfg.model
    start, stage_dir = time.time(), cfg.stage_dir
    model_path, processor, model, frozen = training.setup(cfg)
    dataset, quarantined = load_sft_dataset(args, cfg.run.run_dir, stage_dir)
    vision_before = _vision_snapshot(model)

    before = training.held_out_check(model, processor, args, args.eval_base_prompt, sft_args.seed)
    trainer = training.resumable(SFTTrainer)(
        model=model,
        args=sft_args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
    )
    train_result, resume_from = training.train(trainer, cfg.run.run_dir, args.resume, Path(cfg.source).read_text())
    final = training.save_final(trainer, processor, stage_dir)
    history = training.log_history(trainer, stage_dir)
    after = training.held_out_check(trainer.model, processor, args, args.eval_prompt, sft_args.seed)

    summary = {
        "model": model_args.model_name_or_path,
        "model_path": model_path,
        "final_model": str(final),
        "samples": len(dataset),
        "quarantined": quarantined,
        "resumed_from": resume_from,
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "train_seconds": round(train_result.metrics.get("train_runtime", 0.0), 1),
        "train_loss": train_result.metrics.get("train_loss"),
        "loss_curve": [(h["step"], h["loss"]) for h in history if "loss" in h],
        "parameters": {**training.parameter_counts(trainer.model), "frozen_vision": frozen},
        "vision_unchanged": _vision_snapshot(trainer.model) == vision_before if args.freeze_vision else None,
        "held_out": {
            "before": before,
            "after": after,
            "n": args.eval_samples,
            "prompt": args.eval_prompt,
            "before_prompt": args.eval_base_prompt,
        },
        "seconds": round(time.time() - start, 1),
    }
    if training.is_main_process():
        paths.write_summary(cfg.run.run_dir, STAGE, summary)
    return summary


def _vision_snapshot(model) -> float:
    """A cheap fingerprint of the vision weights (sum of |w|), to show they did not move when frozen."""
    import torch

    with torch.no_grad():
        return float(sum(p.detach().float().abs().sum() for n, p in model.named_parameters() if "visual" in n))


def cli(argv=None) -> None:
    from srpo.cluster import log_rank

    cfg, _ = srpo_config.parse_entry_point(STAGE, argv, prog="python -m srpo.sft", description=__doc__.splitlines()[0])
    log_rank()  # one line per rank in the stage log: the ranks of every node met (srpo.cluster.slurm_env)
    main(cfg)


if __name__ == "__main__":
    cli()
