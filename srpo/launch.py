"""Run a stage through its entry point, the same way on a laptop, in CI and on a SLURM allocation.

``run_stage`` loads the stage's config, checks that its input stages finished, writes the resolved config
into the run directory, then starts ``python -m <module> --config <run_dir>/<stage>/config.yaml`` as a
subprocess (``launcher: local``) or under ``accelerate launch`` on every node of the allocation
(``launcher: accelerate``: ``srun ... bash -c 'exec accelerate launch ... -m <module> --config ...'``, built by
``srpo.cluster.plan``). Output is streamed to the caller (the notebook cell) and to
``<run_dir>/<stage>/logs/stage.log``.

The notebook kernel never trains: on a GPU node it only orchestrates, and the tiny profile goes through
the very same subprocess path as the 32-GPU run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from srpo import config as srpo_config
from srpo import paths, progress


class StageFailed(RuntimeError):
    """The stage's process exited with a non-zero status."""


def prepare_stage(stage: str, profile: str = "tiny-cpu", run_dir=None, overrides=None):
    """Load and validate the config, check inputs, write the resolved config. Returns (cfg, config_path).

    Refuses (``paths.StageBusy``) while another process runs the stage in this run directory. Nothing in the
    stage folder is touched before every value has been checked."""
    cfg = srpo_config.load(stage, profile, run_dir, overrides)
    with paths.StageLock(cfg.run.run_dir, stage):
        return cfg, _prepare(cfg)


def _prepare(cfg: srpo_config.StageConfig) -> Path:
    paths.require_done(cfg.run.run_dir, cfg.input_stages(), for_stage=cfg.stage)
    # summary.json of a finished run stays until the new run replaces it with its own (a finished stage is
    # replaced only by a complete result; its outputs are swapped in whole: paths.replace_dir)
    return srpo_config.save_resolved(cfg)


def stage_command(cfg: srpo_config.StageConfig, config_path: Path) -> list[str]:
    """The command that runs the stage's entry point under the configured launcher."""
    from srpo.stages import get_stage

    module = get_stage(cfg.stage).module
    if cfg.launch.launcher == "local":
        return [sys.executable, "-m", module, "--config", str(config_path)]
    from srpo import cluster

    return cluster.stage_command(cfg, module, config_path)


def run_stage(stage: str, profile: str = "tiny-cpu", run_dir=None, overrides=None, echo: bool = True) -> dict:
    """Run one stage to completion and return its ``summary.json``.

    Holds the stage folder's lock (``paths.StageLock``) from before the resolved config is written until the
    entry point has exited; the entry point shares it."""
    cfg = srpo_config.load(stage, profile, run_dir, overrides)
    with paths.StageLock(cfg.run.run_dir, stage) as lock:
        config_path = _prepare(cfg)
        before = paths.summary_stamp(cfg.run.run_dir, stage)
        if cfg.launch.launcher != "local":
            build_tiny_models(config_path)
        cmd = stage_command(cfg, config_path)
        log_path = cfg.stage_dir / "logs" / "stage.log"
        rc, tail, seconds = stream_subprocess(cmd, log_path, echo=echo, env=lock.env())
    if rc != 0:
        raise StageFailed(
            f"stage '{stage}' failed with exit code {rc} after {seconds:.0f}s; full log: {log_path}\n" + "".join(tail)
        )
    if paths.summary_stamp(cfg.run.run_dir, stage) == before or not paths.is_done(cfg.run.run_dir, stage):
        raise StageFailed(f"stage '{stage}' exited cleanly but wrote no new summary.json; log: {log_path}")
    return paths.read_summary(cfg.run.run_dir, stage)


def build_tiny_models(config_path: Path) -> None:
    """Build every ``tiny://`` model the resolved config names, here, before ranks start: a missing tiny model
    is built by one process (the warm-up is a training run of its own; each rank of a multi-process launch
    would otherwise start it inside the stage's process group)."""
    from srpo.tiny import resolve_model

    for name in sorted(set(re.findall(r"tiny://\w+", config_path.read_text()))):
        resolve_model(name)


def stream_subprocess(cmd: list[str], log_path: Path, echo: bool = True, env: dict | None = None):
    """Run ``cmd``, copying its output to ``log_path`` (appending) and, if ``echo``, to our stdout.

    Returns (exit code, the last 40 lines, seconds)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "SRPO_HOME": str(paths.project_root()), **(env or {})}
    tail: deque[str] = deque(maxlen=40)
    echo_line = progress.StreamEcho()  # progress lines become a live bar in a Jupyter kernel
    start = time.time()
    with open(log_path, "a", buffering=1) as log:  # line-buffered: the log can be tailed while it runs
        log.write(f"\n$ {shlex.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=paths.project_root(),
            bufsize=1,
        )
        try:
            for line in proc.stdout:
                log.write(line)
                tail.append(line)
                if echo and (not _is_noise(line) or progress.from_tqdm(line)):
                    echo_line(line)
            proc.wait()
        except BaseException:  # a notebook interrupt must not leave an orphaned trainer behind
            proc.terminate()
            proc.wait(timeout=30)
            raise
        finally:
            echo_line.close()
    return proc.returncode, list(tail), time.time() - start


_NOISE = ("it/s]", "s/it]", "Loading weights", "Writing model shards", "Setting accelerator to CPU")


def _is_noise(line: str) -> bool:
    """Progress bars and start-up chatter stay in the log file but not in the notebook."""
    return any(n in line for n in _NOISE)
