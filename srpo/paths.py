"""The run-directory contract.

A run lives in ``runs/<profile>/<run_name>/`` and each stage writes ``<run_dir>/<stage>/``:

* ``config.yaml``       the resolved config (recipe + overrides), written before the stage runs;
                        the stage's entry point reads this file, not the recipe;
* ``config_full.json``  every field of every config dataclass, for people;
* ``summary.json``      written last: its presence means the stage finished.

A stage refuses to start when a stage it reads from has no ``summary.json``, and the message names the
notebook to run first. Relative run directories are relative to the project root, so a notebook opened in
``notebooks/`` and a SLURM job started in the repository agree on where a run lives.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

SUMMARY = "summary.json"


class StageNotReady(RuntimeError):
    """An input stage of the requested stage has not finished."""


def project_root() -> Path:
    """``$SRPO_HOME`` or the repository that holds this package."""
    return Path(os.environ.get("SRPO_HOME") or Path(__file__).resolve().parents[1])


def cache_dir() -> Path:
    """Built tiny models and other derived artefacts: ``$SRPO_CACHE`` or ``<root>/.cache``."""
    return Path(os.environ.get("SRPO_CACHE") or project_root() / ".cache")


def resolve_run_dir(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir).expanduser()
    return path if path.is_absolute() else project_root() / path


def default_run_dir(profile: str, run_name: str = "dev") -> Path:
    return project_root() / "runs" / profile / run_name


def stage_dir(run_dir: str | os.PathLike, stage: str) -> Path:
    return resolve_run_dir(run_dir) / stage


def is_done(run_dir: str | os.PathLike, stage: str) -> bool:
    return (stage_dir(run_dir, stage) / SUMMARY).exists()


def read_summary(run_dir: str | os.PathLike, stage: str) -> dict:
    path = stage_dir(run_dir, stage) / SUMMARY
    if not path.exists():
        raise StageNotReady(_not_ready_message(run_dir, stage, None))
    return json.loads(path.read_text())


def write_summary(run_dir: str | os.PathLike, stage: str, summary: dict) -> Path:
    """Write ``summary.json`` atomically (it marks the stage as finished). NaN/inf become null."""
    path = stage_dir(run_dir, stage) / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_finite(summary), indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def clear_summary(run_dir: str | os.PathLike, stage: str) -> None:
    """Mark a stage as not finished (before it re-runs)."""
    (stage_dir(run_dir, stage) / SUMMARY).unlink(missing_ok=True)


def require_done(run_dir: str | os.PathLike, stages, for_stage: str) -> None:
    """Raise ``StageNotReady`` naming the notebook to run first if any of ``stages`` has not finished."""
    for stage in stages:
        if not is_done(run_dir, stage):
            raise StageNotReady(_not_ready_message(run_dir, stage, for_stage))


def _not_ready_message(run_dir, stage: str, for_stage: str | None) -> str:
    from srpo.stages import STAGES

    notebook = STAGES[stage].notebook if stage in STAGES else stage
    who = f"{for_stage} needs" if for_stage else "missing"
    return (
        f"{who} the finished '{stage}' stage, but {stage_dir(run_dir, stage) / SUMMARY} does not exist. "
        f"Run notebooks/{notebook}.ipynb first with the same run_dir "
        f"(or: python -m srpo run --stages {notebook[:2]} ...)."
    )


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
