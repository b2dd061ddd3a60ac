"""Checkpoint-and-stop on request: the SLURM side of preemption.

The batch scripts ask SLURM for a warning signal before the time limit (``#SBATCH --signal=B:USR1@600``).
``slurm/run_notebook.sh`` traps it, writes ``<run_dir>/STOP`` (the request), gives the stage a grace period
to save a checkpoint and exit, then requeues the job (``scontrol requeue``). The requeued job runs the same
script into the same run directory and the stage resumes from its last checkpoint.

A trainer honours the request with ``StopOnRequest`` (a ``transformers.TrainerCallback``): at the next step
end every rank agrees to stop, the Trainer saves a checkpoint, and the entry point exits with
``PREEMPTED_EXIT_CODE`` without writing ``summary.json`` (the stage is not finished). Anyone can also stop
a run by hand the same way: ``touch <run_dir>/STOP``. Only requests newer than the process count, so a
stale file from the previous attempt never stops the resumed one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STOP_FILE = "STOP"  # slurm/run_notebook.sh writes <run_dir>/STOP; keep the two in step (tests/test_cluster.py)
PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later", i.e. resume


def stop_path(run_dir: str | os.PathLike) -> Path:
    from srpo.paths import resolve_run_dir

    return resolve_run_dir(run_dir) / STOP_FILE


def stop_requested(run_dir: str | os.PathLike, since: float) -> bool:
    """True if ``<run_dir>/STOP`` was written after ``since`` (a ``time.time()``)."""
    path = stop_path(run_dir)
    try:
        return path.stat().st_mtime >= since
    except FileNotFoundError:
        return False


def agree(flag: bool) -> bool:
    """True on every rank if it is true on any rank (all ranks must stop at the same step, or the
    collective checkpoint save of ZeRO-3 hangs). Without torch.distributed: the flag itself."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


class _StopOnRequestMixin:
    """Trainer callback: when ``<run_dir>/STOP`` appears, save a checkpoint at the next step end and stop.

    After ``trainer.train()`` returns, check ``callback.stopped`` and exit with ``PREEMPTED_EXIT_CODE``
    (``raise SystemExit(PREEMPTED_EXIT_CODE)``) instead of finishing the stage."""

    def __init__(self, run_dir: str | os.PathLike, since: float | None = None):
        self.run_dir = run_dir
        self.since = time.time() if since is None else since
        self.stopped = False

    def on_step_end(self, args, state, control, **kwargs):
        if agree(stop_requested(self.run_dir, self.since)):
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        return control


_classes: dict[str, type] = {}


def __getattr__(name: str):
    """``StopOnRequest`` subclasses transformers' ``TrainerCallback``; built on first use so that importing
    this module (the SLURM check, the node agent) does not import transformers."""
    if name != "StopOnRequest":
        raise AttributeError(name)
    if name not in _classes:
        from transformers import TrainerCallback

        _classes[name] = type("StopOnRequest", (_StopOnRequestMixin, TrainerCallback), {"__module__": __name__})
    return _classes[name]
