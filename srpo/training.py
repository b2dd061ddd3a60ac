"""Pieces the two training stages share (cold-start SFT and GRPO): model resolution and loading, freezing
the vision tower, resuming, saving, the held-out check and a compact view of the trainer's log."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from srpo import paths

FINAL = "final"  # <run_dir>/<stage>/final/ holds the trained model and processor


def setup(cfg):
    """The start both training stages share: threads, seed, output folders (checkpoints and TensorBoard in
    the stage folder), then the model to train with its processor and the vision side frozen (paper §4).

    Returns (model_path, processor, model, number of frozen parameters)."""
    from transformers import set_seed

    args, trl_args, model_args = cfg.args, cfg.trl, cfg.model
    set_threads(cfg.launch.torch_threads)
    set_seed(trl_args.seed)
    trl_args.output_dir = str(cfg.stage_dir / "checkpoints")
    set_tensorboard_dir(cfg.stage_dir)
    model_path = resolve_model_path(model_args.model_name_or_path, cfg.run.run_dir)
    processor = load_processor(model_path, args.image_min_pixels, args.image_max_pixels)
    model = load_model(model_path, model_args)
    frozen = freeze_vision(model) if args.freeze_vision else 0
    return model_path, processor, model, frozen


def resolve_model_path(name: str, run_dir) -> str:
    """``stage:<stage>`` -> that stage's final checkpoint in this run; ``tiny://…`` -> the cached tiny model;
    anything else (a Hub id or a folder) unchanged."""
    if name.startswith("stage:"):
        stage = name.removeprefix("stage:")
        path = paths.stage_dir(run_dir, stage) / FINAL
        if not (path / "config.json").exists():
            paths.require_done(run_dir, [stage], for_stage=f"loading {name}")
            raise FileNotFoundError(f"{name}: stage finished but has no model at {path}")
        return str(path)
    from srpo.tiny import resolve_model

    return resolve_model(name)


def model_input_stages(name: str) -> list[str]:
    return [name.removeprefix("stage:")] if name.startswith("stage:") else []


def set_tensorboard_dir(stage_dir: Path) -> None:
    """TensorBoard event files go to ``<stage_dir>/tensorboard`` (transformers 5 reads the directory from
    ``TENSORBOARD_LOGGING_DIR``; TrainingArguments no longer has ``logging_dir``)."""
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(stage_dir) / "tensorboard")


def set_threads(n: int) -> None:
    if n > 0:
        import torch

        torch.set_num_threads(n)


def load_processor(path: str, min_pixels: int, max_pixels: int):
    """The checkpoint's processor with the image pixel budget set (the paper caps images at 262,144 px)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(path)
    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    processor.image_processor.size = size
    return processor


def load_model(path: str, model_args):
    """Load with the Auto class exactly as for Qwen/Qwen2.5-VL-7B-Instruct; dtype/attention from ModelConfig."""
    import torch
    from transformers import AutoModelForImageTextToText

    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else "auto"
    dtype = getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype
    kwargs = {"dtype": dtype}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    return AutoModelForImageTextToText.from_pretrained(path, **kwargs)


def freeze_vision(model) -> int:
    """Freeze the vision tower and the merger (paper §4: "vision tower and projector frozen").

    Returns the number of frozen parameters."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".visual." in f".{name}":
            param.requires_grad_(False)
            frozen += _numel(param)
    if frozen == 0:
        raise ValueError("freeze_vision: found no parameters under 'visual' in this model")
    return frozen


def parameter_counts(model) -> dict:
    total = sum(_numel(p) for p in model.parameters())
    trainable = sum(_numel(p) for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def _numel(param) -> int:
    """Elements of a parameter; under ZeRO-3 the local tensor is an empty shard and DeepSpeed keeps the size."""
    return getattr(param, "ds_numel", None) or param.numel()


def last_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-*`` folder that finished saving (has trainer_state.json), or None."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    done = [p for p in out.glob("checkpoint-*") if (p / "trainer_state.json").exists() and p.name[11:].isdigit()]
    return str(max(done, key=lambda p: int(p.name[11:]))) if done else None


def checkpoints_for(output_dir: str, config_text: str) -> None:
    """Keep checkpoints only if they were written under this resolved config; otherwise move them aside
    (``checkpoints.stale-<time>``), so a re-run with other settings never resumes someone else's run."""
    out = Path(output_dir)
    marker = out / "srpo_config.yaml"
    if any(out.glob("checkpoint-*")) and (not marker.exists() or marker.read_text() != config_text):
        stale = out.with_name(f"{out.name}.stale-{int(time.time())}")
        out.rename(stale)
        print(
            f"[srpo] the config changed since the checkpoints in {out} were written: moved them to {stale}", flush=True
        )
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(config_text)


def train(trainer, run_dir, resume: bool, config_text: str):
    """``trainer.train()`` from the last finished checkpoint (when ``resume``), honouring a stop request.

    A stop request (``<run_dir>/STOP``, written by the SLURM script before the time limit, or by hand)
    makes the trainer save a checkpoint and return at the next step; the process then exits with
    ``PREEMPTED_EXIT_CODE`` without a summary, and the requeued job resumes from that checkpoint.
    Returns (train output, the checkpoint it resumed from or None)."""
    from srpo.cluster.preemption import PREEMPTED_EXIT_CODE, StopOnRequest

    stop = StopOnRequest(run_dir)
    trainer.add_callback(stop)
    if trainer.accelerator.is_main_process:
        checkpoints_for(trainer.args.output_dir, config_text)
    trainer.accelerator.wait_for_everyone()
    resume_from = last_checkpoint(trainer.args.output_dir) if resume else None
    if resume_from:
        print(f"[srpo] resuming from {resume_from}", flush=True)
    result = trainer.train(resume_from_checkpoint=resume_from)
    if stop.stopped:
        print(
            f"[srpo] stop requested: checkpoint saved in {trainer.args.output_dir}; exiting to be resumed", flush=True
        )
        raise SystemExit(PREEMPTED_EXIT_CODE)
    return result, resume_from


def save_final(trainer, processor, stage_dir: Path) -> Path:
    """Save the trained model and processor to ``<stage_dir>/final`` (merged if LoRA)."""
    final = stage_dir / FINAL
    model = trainer.model
    if hasattr(model, "merge_and_unload"):  # PEFT: ship a plain checkpoint later stages can load as usual
        model = model.merge_and_unload()
        if trainer.accelerator.is_main_process:
            model.save_pretrained(final)
    else:
        trainer.save_model(str(final))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(final)
    return final


def log_history(trainer, stage_dir: Path) -> list[dict]:
    """Write the trainer's per-step log to ``log_history.json`` and return it."""
    history = [h for h in trainer.state.log_history if "step" in h]
    (stage_dir / "log_history.json").write_text(json.dumps(history, indent=0))
    return history


def held_out_check(model, processor, *, n: int, max_new_tokens: int, prompt: str, seed: int) -> dict:
    """Score ``n`` held-out synthetic test problems, greedy and sampled at T=1 (the rollout distribution).

    Greedy numbers alone hide what SFT and RL change: a model that sometimes errs on purpose, or whose
    reflection is a rubber stamp, can look the same under greedy decoding (TINY_LEARNABILITY.md §7)."""
    from srpo.bench import evaluate
    from srpo.generation import GenerationSettings

    was_training = model.training
    out = {}
    for mode, temperature in (("greedy", 0.0), ("sampled", 1.0)):
        settings = GenerationSettings(
            max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, batch_size=100
        )
        start = time.time()
        result = evaluate((model, processor), "synthetic", settings=settings, prompt=prompt, limit=n)
        out[mode] = {**result["metrics"], "seconds": round(time.time() - start, 1)}
        keep = ("id", "response", "first_answer", "final_answer", "first_correct", "final_correct")
        out[f"{mode}_examples"] = [{k: r.get(k) for k in keep} for r in result["records"][:4]]
    model.train(was_training)
    return out


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
