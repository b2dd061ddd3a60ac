"""Stages 03 and 04 through their entry points (``python -m srpo.sft`` / ``srpo.grpo``) on a small real run:
loss logged, weights changed, the vision tower unchanged, every reward component logged, and resume after a
real kill or a stop request. The accuracy filter is checked on hand-made groups."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from srpo import config, paths
from srpo.cluster.preemption import PREEMPTED_EXIT_CODE, stop_path
from srpo.launch import prepare_stage, run_stage

pytestmark = pytest.mark.slow

SFT_FAST = "--model_name_or_path tiny://random --max_steps 60 --learning_rate 5e-3 --eval_samples 0 --logging_steps 5 --save_steps 1000"
GRPO_FAST = (
    "--max_steps 3 --num_generations 4 --per_device_train_batch_size 8 --max_completion_length 40 "
    "--learning_rate 1e-3 --logging_steps 1 --eval_samples 0 --accuracy_filter false --save_steps 1000"
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Stages 01 and 02 on a few synthetic problems (generator attempts, template teacher), in process."""
    from srpo.data.__main__ import main as curate
    from srpo.reflection.pipeline import main as reflect

    run_dir = tmp_path_factory.mktemp("train") / "run"
    for stage, main, overrides in [
        ("data_curation", curate, "--sft_pool_size 48 --rl_train_size 48"),
        ("reflection_generation", reflect, "--attempt_source generator --target_size 48"),
    ]:
        cfg, _ = prepare_stage(stage, "tiny-cpu", run_dir, overrides)
        main(cfg)
    return run_dir


def weights(folder, prefix=""):
    return {k: v for k, v in load_file(os.path.join(folder, "model.safetensors")).items() if k.startswith(prefix)}


def changed(before: dict, after: dict) -> set:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_sft_entry_point_trains_language_model_only(small_run, tiny_model_path):
    summary = run_stage("cold_start_sft", "tiny-cpu", small_run, SFT_FAST, echo=False)
    assert summary["steps"] == 60 and len(summary["loss_curve"]) >= 10
    losses = [loss for _, loss in summary["loss_curve"]]
    assert losses[-1] < losses[0]  # it learns the format of the reflection set
    before, after = weights(tiny_model_path), weights(summary["final_model"])
    moved = changed(before, after)
    assert any("visual" not in k for k in moved), "the language model must train"
    assert not any("visual" in k for k in moved), "vision tower and merger are frozen (paper §4)"
    assert summary["vision_unchanged"] is True and summary["parameters"]["frozen_vision"] > 0


def test_grpo_entry_point_logs_every_component_and_updates(small_run):
    if not paths.is_done(small_run, "cold_start_sft"):
        run_stage("cold_start_sft", "tiny-cpu", small_run, SFT_FAST, echo=False)
    summary = run_stage("grpo_rl", "tiny-cpu", small_run, GRPO_FAST, echo=False)
    curves = summary["curves"]
    for name in ("format", "accuracy", "effectiveness", "reflection", "length"):
        assert len(curves[f"rewards/{name}/mean"]) == 3, name
    for key in ("srpo/first_acc", "srpo/final_acc", "srpo/well_formed", "reward"):
        assert len(curves[key]) == 3, key
    sft_final = paths.stage_dir(small_run, "cold_start_sft") / "final"
    moved = changed(weights(sft_final), weights(summary["final_model"]))
    assert moved and not any("visual" in k for k in moved)
    assert (paths.stage_dir(small_run, "grpo_rl") / "completions.jsonl").exists()
    assert list((paths.stage_dir(small_run, "grpo_rl") / "tensorboard").rglob("events.out.tfevents*"))


def start_entry_point(stage, module, run_dir, overrides):
    _, resolved = prepare_stage(stage, "tiny-cpu", run_dir, overrides)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", module, "--config", str(resolved)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(predicate, proc, timeout=240):
    deadline = time.time() + timeout
    while not predicate():
        assert proc is None or proc.poll() is None, "the run ended before the event the test waits for"
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def kill_after_checkpoint(stage, module, run_dir, overrides, step):
    """Start the entry point, wait until ``checkpoint-<step>`` has finished saving, then ``kill -9`` it."""
    ckpts = paths.stage_dir(run_dir, stage) / "checkpoints"
    final = paths.stage_dir(run_dir, stage) / "final" / "model.safetensors"
    finished = (paths.read_summary(run_dir, stage), final.read_bytes()) if paths.is_done(run_dir, stage) else None
    proc = start_entry_point(stage, module, run_dir, overrides)
    wait_for(lambda: (ckpts / f"checkpoint-{step}" / "trainer_state.json").exists(), proc)
    proc.send_signal(signal.SIGKILL)  # a real kill: no handler, no cleanup, at whatever step it has reached
    proc.wait()
    # an earlier finished run of the stage (summary and model) stays as it was until a new run completes
    assert ((paths.read_summary(run_dir, stage), final.read_bytes()) if paths.is_done(run_dir, stage) else None) == (
        finished
    )


def assert_same_weights(resumed: dict, straight: dict):
    assert resumed.keys() == straight.keys()
    for key in resumed:  # float noise only: the same steps on the same data in the same order
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-4, atol=1e-6, msg=key)


def test_sft_killed_run_resumes_to_the_uninterrupted_weights(small_run):
    """kill -9 after checkpoint-20 of 40, resume, and compare with an uninterrupted run of the same seed: the
    final weights and the loss curve after the resume point must match (the resumed model is the trained one,
    not the base model with a restored optimizer)."""
    overrides = SFT_FAST.replace("--max_steps 60", "--max_steps 40").replace("--save_steps 1000", "--save_steps 10")
    kill_after_checkpoint("cold_start_sft", "srpo.sft", small_run, overrides, 20)
    resumed = run_stage("cold_start_sft", "tiny-cpu", small_run, overrides, echo=False)
    at = int(resumed["resumed_from"].rsplit("-", 1)[1])
    assert at >= 20 and resumed["steps"] == 40
    resumed_weights = weights(resumed["final_model"])
    straight = run_stage("cold_start_sft", "tiny-cpu", small_run, overrides + " --resume false", echo=False)
    assert straight["resumed_from"] is None
    assert_same_weights(resumed_weights, weights(straight["final_model"]))
    after = {s: loss for s, loss in resumed["loss_curve"] if s > at}
    assert after and after == pytest.approx({s: loss for s, loss in straight["loss_curve"] if s > at}, rel=1e-4)


def test_grpo_killed_run_resumes_to_the_uninterrupted_weights(small_run):
    """The same for GRPO (sampling included: the RNG state is restored with the weights), plus the completion
    log: every logged step once, no line torn by the kill."""
    if not paths.is_done(small_run, "cold_start_sft"):
        run_stage("cold_start_sft", "tiny-cpu", small_run, SFT_FAST, echo=False)
    overrides = (
        GRPO_FAST.replace("--max_steps 3", "--max_steps 6").replace("--save_steps 1000", "--save_steps 2")
        + " --completions_every 1"
    )
    kill_after_checkpoint("grpo_rl", "srpo.grpo", small_run, overrides, 2)
    resumed = run_stage("grpo_rl", "tiny-cpu", small_run, overrides, echo=False)
    assert int(resumed["resumed_from"].rsplit("-", 1)[1]) >= 2 and resumed["steps"] == 6
    log = paths.stage_dir(small_run, "grpo_rl") / "completions.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]  # a torn line would not parse
    steps = [r["step"] for r in rows]
    assert sorted(set(steps)) == list(range(6)) and all(steps.count(s) == steps.count(0) for s in set(steps))
    resumed_weights = weights(resumed["final_model"])
    straight = run_stage("grpo_rl", "tiny-cpu", small_run, overrides + " --resume false", echo=False)
    assert straight["resumed_from"] is None
    assert_same_weights(resumed_weights, weights(straight["final_model"]))
    assert dict(resumed["curves"]["reward"]) == pytest.approx(dict(straight["curves"]["reward"]), rel=1e-4)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (torchrun starts its ranks in sessions of their own, so a
    process-group kill misses them), then wait until none of them runs."""
    procs, tree = _processes(), {pid}
    while grown := {p for p, (parent, _) in procs.items() if parent in tree} - tree:
        tree |= grown
    for p in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    wait_for(lambda: not any(_processes().get(p, (0, "Z"))[1] != "Z" for p in tree), None, timeout=60)


ZERO3 = (
    "--model_name_or_path tiny://random --max_steps 8 --learning_rate 5e-3 --eval_samples 0 --logging_steps 1 "
    "--save_steps 4 --per_device_train_batch_size 8 --launcher accelerate "
    "--accelerate_config recipes/accelerate/zero3.yaml --gpus_per_node 2"
)


def test_sft_zero3_killed_run_resumes_to_the_uninterrupted_weights(small_run, monkeypatch):
    """The DeepSpeed path: ZeRO-3 over gloo on 2 CPU processes (accelerate launch, as on the cluster). The
    whole process group is killed after checkpoint-4 of 8; the resumed run must end where an uninterrupted one
    does. (Before, ZeRO-3 SFT did not start at all: the frozen vision tower counted 0 parameters under ZeRO-3.)"""
    from srpo.launch import stage_command

    if "TORCH_EXTENSIONS_DIR" not in os.environ:  # DeepSpeed JIT-builds one op once per directory (~30 s)
        monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(paths.cache_dir() / "torch_extensions"))
    ckpts = paths.stage_dir(small_run, "cold_start_sft") / "checkpoints"
    cfg, resolved = prepare_stage("cold_start_sft", "tiny-cpu", small_run, ZERO3)
    proc = subprocess.Popen(
        stage_command(cfg, resolved),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=paths.project_root(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (ckpts / "checkpoint-4" / "trainer_state.json").exists(), proc, timeout=400)
    finally:
        kill_tree(proc.pid)  # launcher and both ranks, no cleanup
        proc.wait()
    resumed = run_stage("cold_start_sft", "tiny-cpu", small_run, ZERO3, echo=False)
    at = int(resumed["resumed_from"].rsplit("-", 1)[1])
    assert 4 <= at < 8 and resumed["steps"] == 8
    assert (Path(resumed["resumed_from"]) / f"global_step{at}").is_dir()  # a DeepSpeed checkpoint was resumed
    resumed_weights = weights(resumed["final_model"])
    straight = run_stage("cold_start_sft", "tiny-cpu", small_run, ZERO3 + " --resume false", echo=False)
    assert straight["resumed_from"] is None
    assert_same_weights(resumed_weights, weights(straight["final_model"]))
    assert dict(resumed["loss_curve"]) == pytest.approx(dict(straight["loss_curve"]), rel=1e-4)


def test_grpo_stop_request_checkpoints_and_resumes(small_run):
    if not paths.is_done(small_run, "cold_start_sft"):
        run_stage("cold_start_sft", "tiny-cpu", small_run, SFT_FAST, echo=False)
    overrides = GRPO_FAST.replace("--max_steps 3", "--max_steps 60").replace("--save_steps 1000", "--save_steps 500")
    ckpts = paths.stage_dir(small_run, "grpo_rl") / "checkpoints"
    proc = start_entry_point("grpo_rl", "srpo.grpo", small_run, overrides)
    marker = ckpts / "srpo_config.yaml"  # written just before training starts, with this run's settings

    def started():
        return marker.exists() and "max_steps: 60" in marker.read_text()

    finished = paths.read_summary(small_run, "grpo_rl") if paths.is_done(small_run, "grpo_rl") else None
    wait_for(started, proc)
    stop_path(small_run).touch()  # what slurm/run_notebook.sh does before the time limit
    assert proc.wait(timeout=240) == PREEMPTED_EXIT_CODE
    stopped_at = max(int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*"))
    assert 0 < stopped_at < 60  # and a finished earlier run is still the finished one (no summary of its own)
    assert (paths.read_summary(small_run, "grpo_rl") if paths.is_done(small_run, "grpo_rl") else None) == finished
    summary = run_stage(
        "grpo_rl", "tiny-cpu", small_run, overrides.replace("--max_steps 60", "--max_steps 4"), echo=False
    )
    assert summary["resumed_from"] is None  # other settings: the old checkpoints were moved aside, not resumed
    proc = start_entry_point("grpo_rl", "srpo.grpo", small_run, overrides)
    wait_for(started, proc)
    stop_path(small_run).touch()
    assert proc.wait(timeout=240) == PREEMPTED_EXIT_CODE
    stopped_at = max(int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*"))
    summary = run_stage("grpo_rl", "tiny-cpu", small_run, overrides, echo=False)  # same settings: resumes
    assert summary["resumed_from"].endswith(f"checkpoint-{stopped_at}") and summary["steps"] == 60


def test_recipes_resolve_the_paper_hyperparameters():
    sft = config.load("cold_start_sft", "7b", overrides="--use_cpu true")
    assert (sft.trl.learning_rate, sft.trl.num_train_epochs, sft.trl.max_length) == (1e-5, 1, 4096)
    assert sft.args.image_max_pixels == 262_144 and sft.args.freeze_vision
    grpo = config.load("grpo_rl", "7b", overrides="--use_cpu true")
    assert (grpo.trl.num_generations, grpo.trl.temperature, grpo.trl.learning_rate, grpo.trl.epsilon) == (
        8,
        1.0,
        1e-6,
        0.2,
    )
    assert grpo.trl.beta == 0.0 and grpo.trl.max_completion_length == 2048 and grpo.trl.use_vllm
    per_step = grpo.trl.per_device_train_batch_size * grpo.trl.steps_per_generation * 8 // grpo.trl.num_generations
    assert per_step == 128  # 128 prompts x 8 completions per rollout on 8 GPUs (the release)
