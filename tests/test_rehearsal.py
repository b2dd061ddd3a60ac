"""The CPU rehearsal of the 7b/32b recipes (srpo.rehearsal): one printed rule, overrides every stage parses,
data with the cluster mix's shapes, and (slow) the whole 7b and 32b pipelines on the tiny model."""

import json
import os
import subprocess
import sys

import pytest

from srpo import config, rehearsal
from srpo.cluster.__main__ import load_for_plan
from srpo.paths import project_root


@pytest.mark.parametrize("profile", ["7b", "32b"])
def test_every_stage_parses_the_rule_and_keeps_the_update_schedule(profile, tmp_path, monkeypatch):
    monkeypatch.setenv(rehearsal.ENV, json.dumps(rehearsal.overrides(profile, tmp_path / "data")))
    for stage in ("data_curation", "reflection_generation", "cold_start_sft", "grpo_rl", "benchmarks", "ablations"):
        cfg, _ = load_for_plan(stage, profile, tmp_path / "run", "")
        if stage == "grpo_rl":
            trl, cluster = cfg.trl, config.read_yaml_mapping(config.recipe_path(profile, "grpo_rl"))
            assert trl.use_cpu and trl.max_steps == 8 and trl.max_completion_length == 16
            # kept: accumulation, steps_per_generation (8 updates per rollout), generations, filter, launcher
            assert trl.gradient_accumulation_steps == cluster["gradient_accumulation_steps"]
            assert trl.steps_per_generation == cluster["steps_per_generation"]
            assert trl.steps_per_generation // trl.gradient_accumulation_steps == 8
            assert trl.num_generations == cluster["num_generations"]
            rollout = rehearsal.REHEARSAL_PROCESSES * trl.per_device_train_batch_size * trl.steps_per_generation
            assert rollout % trl.num_generations == 0
            assert cfg.args.accuracy_filter_metric == "reward" and cfg.launch.launcher == "accelerate"
            assert cfg.args.accuracy_filter_mode == "refill" and cfg.args.accuracy_filter_max_refills == 1
            assert cfg.launch.accelerate_config == cluster["accelerate_config"]
        if stage == "cold_start_sft":
            assert cfg.model.model_name_or_path == "tiny://hub" and cfg.args.image_max_pixels == 262_144
        if stage == "reflection_generation":
            assert cfg.args.layout == "paper"  # the cluster's SFT layout, kept
    text = rehearsal.describe(profile)
    assert all(f"{c.stage}.{c.key}:" in text for c in rehearsal.RULE) and "kept as on the cluster" in text


def test_outside_a_rehearsal_nothing_changes(monkeypatch):
    monkeypatch.delenv(rehearsal.ENV, raising=False)
    assert rehearsal.with_rehearsal("grpo_rl", "--max_steps 3") == "--max_steps 3"
    monkeypatch.setenv(rehearsal.ENV, json.dumps({"grpo_rl": "--max_steps 8 --use_cpu true"}))
    assert rehearsal.with_rehearsal("grpo_rl", "--max_steps 3") == "--max_steps 8 --use_cpu true --max_steps 3"
    assert rehearsal.with_rehearsal("benchmarks", None) is None
    with pytest.raises(ValueError, match="cluster profiles"):
        rehearsal.overrides("tiny-cpu", "/x")


def test_server_weight_sync_is_skipped_only_in_a_cpu_rehearsal_in_server_mode(monkeypatch):
    """srpo.grpo's entry point patches TRL's weight sync (NCCL, CUDA only) in exactly one case: a rehearsal, vLLM
    importable, no CUDA, and a GRPO config in server mode. The patch itself needs TRL's vLLM client: the vLLM
    rehearsal test (tests/test_vllm_rehearsal.py, 32b) runs it end to end."""
    from types import SimpleNamespace

    import torch

    applied = []
    monkeypatch.setattr(rehearsal, "skip_server_weight_sync", lambda: applied.append(True))
    monkeypatch.setattr(rehearsal, "vllm_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(rehearsal.ENV, "{}")
    server = SimpleNamespace(use_vllm=True, vllm_mode="server")
    assert rehearsal.skip_server_weight_sync_without_cuda(server) and applied == [True]
    for trl_cfg in (SimpleNamespace(use_vllm=True, vllm_mode="colocate"), SimpleNamespace(use_vllm=False), None):
        assert not rehearsal.skip_server_weight_sync_without_cuda(trl_cfg)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert not rehearsal.skip_server_weight_sync_without_cuda(server)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(rehearsal.ENV)
    assert not rehearsal.skip_server_weight_sync_without_cuda(server)
    assert applied == [True]


def test_local_copies_have_the_cluster_mix_shapes(tmp_path):
    from PIL import Image

    folder = rehearsal.write_local_copies(tmp_path, n_sft=10, n_rl=20)
    rl = [json.loads(line) for line in (folder / "rl" / "train.jsonl").read_text().splitlines()]
    counts = [sum(p["type"] == "image" for p in json.loads(r["message"])[0]["content"]) for r in rl]
    assert {0, 1, 2} <= set(counts)  # text-only, one image, two images
    sizes = {Image.open(p).size for p in (folder / "rl" / "images").glob("*.png")}
    assert min(w * h for w, h in sizes) < 3136 * 2 and max(w * h for w, h in sizes) > 262_144  # both caps act
    sft = json.loads((folder / "sft" / "sft_train_shuffle_updated.json").read_text())
    assert any(len(r["images"]) == 2 for r in sft) and all(r["messages"][-1]["role"] == "assistant" for r in sft)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["7b", "32b"])
def test_rehearsal_runs_all_six_stages(profile, tmp_path):
    """The whole pipeline of the cluster recipes on CPU (a few minutes each)."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("recipes", "notebooks", "srpo", "slurm"):
        (home / name).symlink_to(project_root() / name)
    from srpo.paths import cache_dir

    env = {**os.environ, "SRPO_HOME": str(home), "SRPO_CACHE": str(cache_dir())}  # the built tiny models
    env.pop(rehearsal.ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "srpo", "run", "--profile", profile, "--rehearse"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    run = home / "runs" / profile / "rehearsal"
    for stage in ("data_curation", "reflection_generation", "cold_start_sft", "grpo_rl", "benchmarks", "ablations"):
        assert (run / stage / "summary.json").exists(), stage
    assert "[rehearsal] the" in done.stdout and "kept as on the cluster" in done.stdout
    assert "vLLM is not importable" in done.stdout or rehearsal.vllm_available()
    grpo = json.loads((run / "grpo_rl" / "summary.json").read_text())
    assert grpo["steps"] == 8
    bench = json.loads((run / "benchmarks" / "summary.json").read_text())
    assert bench["models"]["sft"]["prompt"] == config.recipe_value(profile, "reflection_generation", "sft_prompt")


def test_pipeline_rehearse_exports_the_rule_to_every_job():
    """slurm/pipeline.sh --rehearse: the jobs inherit SRPO_REHEARSAL (sbatch passes the environment), the run is
    runs/<size>/rehearsal, and the ablation arms start from the tiny stand-in, not the Hub checkpoint."""
    env = {**os.environ, "SRPO_PYTHON": sys.executable}
    env.pop(rehearsal.ENV, None)
    done = subprocess.run(
        ["bash", str(project_root() / "slurm" / "pipeline.sh"), "--size", "32b", "--rehearse", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    exported = next(line for line in done.stdout.splitlines() if line.startswith("export SRPO_REHEARSAL="))
    rule = json.loads(exported.split("=", 1)[1].strip("'"))
    assert "--use_cpu true" in rule["grpo_rl"] and "--run-name rehearsal" in done.stdout
    assert "Qwen/Qwen2.5-VL-32B-Instruct" not in done.stdout and "--model_name_or_path tiny://hub" in done.stdout
    assert "kept as on the cluster" in done.stderr


def test_32b_server_split_runs_on_loopback_only_in_a_rehearsal(tmp_path):
    """Outside SLURM the 32b GRPO's server node is refused, except in a rehearsal: there `trl vllm-serve` runs on
    this machine (the recipe's TP 2; data-parallel replicas = the node's 2 ranks / TP) beside the trainer."""
    from srpo.cluster.plan import LaunchError, build_launch

    cfg, _ = load_for_plan("grpo_rl", "32b", tmp_path / "run", "--use_cpu true --gpus_per_node 2")
    with pytest.raises(LaunchError, match="needs a SLURM allocation"):
        build_launch(cfg, "srpo.grpo", ["--config", "x.yaml"], env={})
    launch = build_launch(cfg, "srpo.grpo", ["--config", "x.yaml"], env={rehearsal.ENV: "{}"})
    server = launch.server
    assert launch.plan.server_nodes == ("127.0.0.1",) and launch.plan.world_size == 2
    assert server[1] == "vllm-serve" and server[server.index("--tensor_parallel_size") + 1] == "2"
    assert server[server.index("--data_parallel_size") + 1] == "1" and "srun" not in launch.train
    assert launch.config_updates["vllm_server_host"] == "127.0.0.1"
