"""Stages 03 and 04 through their entry points (``python -m srpo.sft`` / ``srpo.grpo``) on a small real run:
loss logged, weights changed, the vision tower unchanged, every reward component logged, and resume after a
real kill or a stop request. The accuracy filter is checked on hand-made groups."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from srpo import config, paths
from srpo.cluster.preemption import PREEMPTED_EXIT_CODE, stop_path
from srpo.launch import prepare_stage, run_stage

pytestmark = pytest.mark.slow

SFT_FAST = "--model_name_or_path tiny://random --max_steps 60 --learning_rate 5e-3 --eval_samples 0 --logging_steps 5 --save_steps 1000"
GRPO_FAST = ("--max_steps 3 --num_generations 4 --per_device_train_batch_size 8 --max_completion_length 40 "
             "--learning_rate 1e-3 --logging_steps 1 --eval_samples 0 --accuracy_filter false --save_steps 1000")  # fmt: skip


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
    return subprocess.Popen([sys.executable, "-m", module, "--config", str(resolved)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def wait_for(predicate, proc, timeout=240):
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, "the run ended before the event the test waits for"
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_sft_killed_run_resumes_from_its_checkpoint(small_run):
    overrides = SFT_FAST.replace("--max_steps 60", "--max_steps 40").replace("--save_steps 1000", "--save_steps 10")
    ckpts = paths.stage_dir(small_run, "cold_start_sft") / "checkpoints"
    proc = start_entry_point("cold_start_sft", "srpo.sft", small_run, overrides)
    wait_for(lambda: (ckpts / "checkpoint-20" / "trainer_state.json").exists(), proc)
    proc.send_signal(signal.SIGKILL)  # a real kill: no handler, no cleanup
    proc.wait()
    assert not paths.is_done(small_run, "cold_start_sft")
    summary = run_stage("cold_start_sft", "tiny-cpu", small_run, overrides, echo=False)
    assert summary["resumed_from"] is not None and int(summary["resumed_from"].rsplit("-", 1)[1]) >= 20
    assert summary["steps"] == 40


def test_grpo_stop_request_checkpoints_and_resumes(small_run):
    if not paths.is_done(small_run, "cold_start_sft"):
        run_stage("cold_start_sft", "tiny-cpu", small_run, SFT_FAST, echo=False)
    overrides = GRPO_FAST.replace("--max_steps 3", "--max_steps 60").replace("--save_steps 1000", "--save_steps 500")
    ckpts = paths.stage_dir(small_run, "grpo_rl") / "checkpoints"
    proc = start_entry_point("grpo_rl", "srpo.grpo", small_run, overrides)
    marker = ckpts / "srpo_config.yaml"  # written just before training starts, with this run's settings

    def started():
        return marker.exists() and "max_steps: 60" in marker.read_text()

    wait_for(started, proc)
    stop_path(small_run).touch()  # what slurm/run_notebook.sh does before the time limit
    assert proc.wait(timeout=240) == PREEMPTED_EXIT_CODE
    stopped_at = max(int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*"))
    assert 0 < stopped_at < 60 and not paths.is_done(small_run, "grpo_rl")
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
