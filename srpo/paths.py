"""The run-directory contract.

A run lives in ``runs/<profile>/<run_name>/`` and each stage writes ``<run_dir>/<stage>/``:

* ``config.yaml``       the resolved config (recipe + overrides), written before the stage runs;
                        the stage's entry point reads this file, not the recipe;
* ``config_full.json``  every field of every config dataclass, for people;
* ``summary.json``      written last: the stage finished when it parses and names the stage;
* ``.lock``             while a run of the stage is in progress (``StageLock``: host and pid of the holder).

A stage refuses to start when a stage it reads from has no ``summary.json``, and the message names the
notebook to run first. Relative run directories are relative to the project root, so a notebook opened in
``notebooks/`` and a SLURM job started in the repository agree on where a run lives.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

log = logging.getLogger(__package__)

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


FINAL = "final"  # <run_dir>/<stage>/final/: the trained model and processor of a training stage


def final_dir(run_dir: str | os.PathLike, stage: str) -> Path:
    """The model a training stage leaves in a run: ``<run_dir>/<stage>/final``."""
    return stage_dir(run_dir, stage) / FINAL


def resolve_model(name: str, run_dir: str | os.PathLike, *, must_exist: bool = True) -> str:
    """The folder (or Hub id) a model source in a config stands for; the one resolver every stage uses.

    ``stage:X`` -> ``<run_dir>/X/final`` (with ``must_exist``: ``StageNotReady`` naming the notebook to run
    when stage X has not finished, ``FileNotFoundError`` when it finished without a model there);
    ``tiny://...`` -> the cached tiny model (``srpo.tiny.resolve_model``, built once); anything else (a Hub id
    or a folder) unchanged."""
    from srpo.configs.base import stage_name

    stage = stage_name(name)
    if stage is None:
        from srpo.tiny import resolve_model as resolve_tiny

        return resolve_tiny(name)
    path = final_dir(run_dir, stage)
    if must_exist and not (path / "config.json").exists():
        require_done(run_dir, [stage], for_stage=f"loading {name}")
        raise FileNotFoundError(f"{name}: the stage finished but left no model at {path} (no config.json)")
    return str(path)


class SummaryUnreadable(StageNotReady):
    """A ``summary.json`` exists but does not parse, or names another stage."""


def _load_summary(path: Path, stage: str) -> dict:
    try:
        summary = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"is not valid JSON ({exc})"
    else:
        if isinstance(summary, dict) and summary.get("stage") == stage:
            return summary
        problem = f"does not name the stage '{stage}' (its \"stage\" is {summary.get('stage') if isinstance(summary, dict) else None!r})"
    raise SummaryUnreadable(
        f"{path} {problem}: the stage did not finish cleanly or the file was edited. Re-run the stage "
        f"(notebook or python -m srpo stage {stage} with the same run_dir) to rewrite it."
    )


def is_done(run_dir: str | os.PathLike, stage: str) -> bool:
    """True when ``summary.json`` exists, parses and names ``stage`` (a torn or foreign file is not done)."""
    path = stage_dir(run_dir, stage) / SUMMARY
    if not path.exists():
        return False
    try:
        _load_summary(path, stage)
    except SummaryUnreadable:
        return False
    return True


def read_summary(run_dir: str | os.PathLike, stage: str) -> dict:
    """The stage's summary. Raises ``StageNotReady`` (no file) or ``SummaryUnreadable`` (naming the file)."""
    path = stage_dir(run_dir, stage) / SUMMARY
    if not path.exists():
        raise StageNotReady(_not_ready_message(run_dir, stage, None))
    return _load_summary(path, stage)


def summary_stamp(run_dir: str | os.PathLike, stage: str) -> tuple | None:
    """Identity of the current ``summary.json`` (inode, mtime), to tell whether a run rewrote it."""
    path = stage_dir(run_dir, stage) / SUMMARY
    return (path.stat().st_ino, path.stat().st_mtime_ns) if path.exists() else None


def write_summary(run_dir: str | os.PathLike, stage: str, summary: dict) -> Path:
    """Write ``summary.json`` atomically (it marks the stage as finished), with ``"stage": stage`` first.
    NaN/inf become null."""
    path = stage_dir(run_dir, stage) / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.tmp-{os.getpid()}")
    body = {"stage": stage, **{k: v for k, v in summary.items() if k != "stage"}}
    tmp.write_text(json.dumps(_finite(body), indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def replace_dir(new: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Put the complete folder ``new`` at ``final``, replacing what was there only once ``new`` is complete.

    The old folder is renamed aside first and deleted after the swap, so at every moment ``final`` is
    either the old complete folder or the new one (a kill in between leaves ``<final>.old`` to clean up)."""
    new, final = Path(new), Path(final)
    old = final.with_name(f"{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


LOCK = ".lock"
LOCK_ENV = "SRPO_STAGE_LOCK"  # "<lock path>=<token>": the lock a parent process holds for its children


class StageBusy(RuntimeError):
    """Another live process holds the stage folder's lock."""


class StageLock:
    """One run per stage folder: ``<stage_dir>/.lock`` holds the host, pid and a token of the holder.

    ``acquire`` refuses (``StageBusy``, naming the holder) while the holder lives; a lock left by a dead
    process on this host (kill -9, OOM) is taken over. A lock from another host cannot be checked and is
    refused with the command to clear it, unless it was written by an earlier attempt of the same SLURM job (a
    requeue after a hard kill, on another node). A process started by the holder (``srpo.launch`` starting the
    entry point, with ``SRPO_STAGE_LOCK`` in its environment) shares the lock instead of taking it.
    Use as a context manager, or ``acquire()`` / ``release()`` (release only removes our own lock)."""

    def __init__(self, run_dir: str | os.PathLike, stage: str):
        self.stage = stage
        self.path = stage_dir(run_dir, stage) / LOCK
        self.token: str | None = None
        self.owned = False

    def env(self) -> dict:
        """The environment entry that lets child processes share this lock."""
        return {LOCK_ENV: f"{self.path}={self.token}"} if self.token else {}

    def acquire(self) -> StageLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        inherited_path, _, inherited_token = os.environ.get(LOCK_ENV, "").rpartition("=")
        holder = self._holder()
        if holder and inherited_path == str(self.path) and holder.get("token") == inherited_token:
            self.token = inherited_token  # our parent holds it for us
            return self
        token = uuid.uuid4().hex
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": token,
            "since": time.strftime("%FT%T%z"),
            "slurm_job": os.environ.get("SLURM_JOB_ID"),
        }
        for _ in range(3):
            tmp = self.path.with_name(f"{LOCK}.{token}")
            tmp.write_text(json.dumps(record))
            try:
                os.link(tmp, self.path)  # atomic: fails if a lock exists
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._alive(holder):
                    raise StageBusy(self._busy_message(holder)) from None
                self._take_over(holder)
                continue
            finally:
                tmp.unlink(missing_ok=True)
            self.token, self.owned = token, True
            return self
        raise StageBusy(f"could not take the lock {self.path}; another run keeps taking it")

    def release(self) -> None:
        if self.owned and (self._holder() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)
        self.owned = False

    def __enter__(self) -> StageLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # torn (the holder died while writing it): treat as stale
            return {}
        return holder if isinstance(holder, dict) else {}

    @staticmethod
    def _alive(holder: dict) -> bool:
        if not holder:
            return False
        if holder.get("host") != socket.gethostname():
            # another host's processes cannot be checked; but SLURM runs one attempt of a job at a time, so a
            # lock from this very job (a requeued job after a hard kill) belongs to a dead attempt
            job = os.environ.get("SLURM_JOB_ID")
            return not (job and holder.get("slurm_job") == job)
        try:
            pid = int(holder["pid"])
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, KeyError, ValueError, TypeError):
            return True
        try:  # a killed process whose parent has not reaped it yet is a zombie: dead for our purpose
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    def _take_over(self, holder: dict | None) -> None:
        if holder is not None:
            who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "an unreadable lock"
            log.warning(f"{self.path}: taking over a stale lock ({who} is gone)")
        if self._holder() == holder:  # still the stale one (not a lock another process just took)
            self.path.unlink(missing_ok=True)

    def _busy_message(self, holder: dict) -> str:
        where = f"pid {holder.get('pid')} on host {holder.get('host')} (since {holder.get('since')})"
        fix = (
            f"wait for it to finish or stop it; if that process is gone (another host cannot be checked from here), "
            f"delete {self.path}"
        )
        return f"stage '{self.stage}' in {self.path.parent} is already being run by {where}: {fix}."


def clear_summary(run_dir: str | os.PathLike, stage: str) -> None:
    """Mark a stage as not finished (before it re-runs)."""
    (stage_dir(run_dir, stage) / SUMMARY).unlink(missing_ok=True)


def require_done(run_dir: str | os.PathLike, stages, for_stage: str) -> None:
    """Raise ``StageNotReady`` naming the notebook to run first if any of ``stages`` has not finished."""
    for stage in stages:
        path = stage_dir(run_dir, stage) / SUMMARY
        if not path.exists():
            raise StageNotReady(_not_ready_message(run_dir, stage, for_stage))
        _load_summary(path, stage)  # SummaryUnreadable names the file and the fix


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
