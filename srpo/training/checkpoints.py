"""Checkpoints of the two training stages: exact resume (weights under the names ``save_pretrained`` wrote),
the training loop's start/stop/resume logic, saving the final model whole, and the trainer's log history."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from srpo import paths, progress

log = logging.getLogger(__package__)

FINAL = paths.FINAL  # <run_dir>/<stage>/final/ holds the trained model and processor


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
        log.warning(f"the config changed since the checkpoints in {out} were written: moved them to {stale}")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(config_text)


class CheckpointMismatch(RuntimeError):
    """A checkpoint's weights do not match the model being trained (missing or unexpected keys)."""


class ExactResume:
    """Trainer mixin: resuming loads the checkpoint's weights under the names ``save_pretrained`` wrote.

    transformers 5 saves Qwen2.5-VL with its legacy key names (``model.layers.*``, ``visual.*``: the
    reverse of the model's conversion mapping), but ``Trainer._load_from_checkpoint`` loads that file with
    a plain non-strict ``load_state_dict``: every parameter is "missing", a warning is logged and training
    goes on from the starting weights, with the optimizer, scheduler, RNG and step counter restored.
    This loads the file with the model's own mapping and raises ``CheckpointMismatch`` on any missing or
    unexpected key. PEFT adapters, FSDP and DeepSpeed checkpoints keep the Trainer's own path (DeepSpeed
    restores its own module state, strictly, under the in-memory names)."""

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        model = self.model if model is None else model
        files = weight_files(resume_from_checkpoint)
        if self.is_fsdp_enabled or hasattr(model, "peft_config") or not files:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_checkpoint_weights(model, resume_from_checkpoint)
        log.info(f"restored {len(model.state_dict())} weights from {resume_from_checkpoint}")


def resumable(trainer_cls: type) -> type:
    """``trainer_cls`` with ``ExactResume`` in front (SFTTrainer, SRPOGRPOTrainer)."""
    return type(trainer_cls.__name__, (ExactResume, trainer_cls), {"__doc__": trainer_cls.__doc__})


def weight_files(folder) -> list[Path]:
    """The full-model weight files of a checkpoint folder (one file or the shards of an index); [] if none."""
    folder = Path(folder)
    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            return [folder / s for s in shards]
    return []


def saved_names(model) -> dict[str, list[str]]:
    """Key in a file written by ``model.save_pretrained`` -> the model's ``state_dict`` names it loads into.

    Saving reverts the model's conversion mapping (transformers ``revert_weight_conversion``); reverting the
    model's own state dict and matching tensors by storage inverts exactly what saving did. Tied weights
    (``lm_head`` = ``embed_tokens``) share storage, so their one saved key fills both names."""
    from transformers.core_model_loading import revert_weight_conversion

    state = model.state_dict()
    by_storage: dict[tuple, list[str]] = {}
    for name, tensor in state.items():
        by_storage.setdefault(_storage_id(tensor), []).append(name)
    out = {}
    for key, tensor in revert_weight_conversion(model, dict(state)).items():
        names = by_storage.get(_storage_id(tensor))
        if not names:
            raise CheckpointMismatch(
                f"saving {type(model).__name__} transforms '{key}' (not a plain renaming); resume cannot invert it"
            )
        out[key] = names
    return out


def _storage_id(tensor) -> tuple:
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()))


def load_checkpoint_weights(model, folder) -> None:
    """Load a checkpoint's full-model weights into ``model`` strictly.

    Raises ``CheckpointMismatch`` naming the folder and the keys when any model weight is missing from the
    files or any saved key belongs to no model weight."""
    import torch
    from safetensors.torch import load_file

    saved: dict = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            saved.update(load_file(str(path), device="cpu"))
        else:
            saved.update(torch.load(path, map_location="cpu", weights_only=True))
    names = saved_names(model)
    state = {name: tensor for key, tensor in saved.items() for name in names.get(key, [])}
    unexpected = sorted(set(saved) - set(names))
    missing = sorted(set(model.state_dict()) - set(state))
    if missing or unexpected:
        raise CheckpointMismatch(
            f"cannot resume from {folder}: {len(missing)} model weights missing from it {missing[:4]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:4]}. It was written by another model or version; "
            f"move the checkpoints folder aside (or set resume: false) to start this stage afresh."
        )
    model.load_state_dict(state, strict=True)


def train(trainer, run_dir, resume: bool, config_text: str, run_logs=()):
    """``trainer.train()`` from the last finished checkpoint (when ``resume``), honouring a stop request.

    ``run_logs`` are files the run appends to while it trains (GRPO's completion log): kept when it resumes,
    moved aside (``<name>.stale-<time>``) when it starts from step 0, so a new run never mixes in old rows.

    A stop request (``<run_dir>/STOP``, written by the SLURM script before the time limit, or by hand)
    makes the trainer save a checkpoint and return at the next step; the process then exits with
    ``PREEMPTED_EXIT_CODE`` without a summary, and the requeued job resumes from that checkpoint.
    Returns (train output, the checkpoint it resumed from or None)."""
    from srpo.cluster.preemption import PREEMPTED_EXIT_CODE, StopOnRequest

    stop = StopOnRequest(run_dir)
    trainer.add_callback(stop)
    progress.install(trainer, Path(trainer.args.output_dir).parent.name)  # one line per log step, no raw dicts
    if trainer.accelerator.is_main_process:
        checkpoints_for(trainer.args.output_dir, config_text)
    trainer.accelerator.wait_for_everyone()
    resume_from = last_checkpoint(trainer.args.output_dir) if resume else None
    if resume_from:
        log.info(f"resuming from {resume_from}")
    elif trainer.accelerator.is_main_process:
        for run_log in map(Path, run_logs):
            if run_log.exists():
                run_log.rename(run_log.with_name(f"{run_log.name}.stale-{int(time.time())}"))
    result = trainer.train(resume_from_checkpoint=resume_from)
    if stop.stopped:
        log.info(f"stop requested: checkpoint saved in {trainer.args.output_dir}; exiting to be resumed")
        raise SystemExit(PREEMPTED_EXIT_CODE)
    return result, resume_from


def save_final(trainer, processor, stage_dir: Path) -> Path:
    """Save the trained model and processor to ``<stage_dir>/final`` (merged if LoRA).

    Written to ``final.new`` first and swapped in whole (``paths.replace_dir``): the model of an earlier
    finished run is replaced only by a complete one."""
    import shutil

    final, staging = stage_dir / FINAL, stage_dir / f"{FINAL}.new"
    main = trainer.accelerator.is_main_process
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    model = trainer.model
    if hasattr(model, "merge_and_unload"):  # PEFT: ship a plain checkpoint later stages can load as usual
        model = model.merge_and_unload()
        if main:
            model.save_pretrained(staging)
    else:
        trainer.save_model(str(staging))  # every rank: ZeRO-3 gathers the shards
    if main:
        processor.save_pretrained(staging)
        paths.replace_dir(staging, final)
    trainer.accelerator.wait_for_everyone()
    return final


def log_history(trainer, stage_dir: Path) -> list[dict]:
    """Write the trainer's per-step log to ``log_history.json`` and return it."""
    history = [h for h in trainer.state.log_history if "step" in h]
    (stage_dir / "log_history.json").write_text(json.dumps(history, indent=0))
    return history
