"""The fit check before sbatch (srpo.cluster.fit): per-GPU memory from the real architectures, refusals that
name the setting to change, sequence budgets, and the 7b/32b recipes' update schedule and vLLM server."""

import subprocess
import sys

import pytest

from srpo import config
from srpo.cluster import fit
from srpo.cluster.plan import plan_launch, vllm_serve_command
from srpo.cluster.slurm_env import read_sbatch_header, simulated_allocation
from srpo.paths import project_root

JOB_32B = {"SLURM_JOB_ID": "4711", "SLURM_JOB_NODELIST": "n[1-4]", "SLURM_GPUS_ON_NODE": "8"}


def test_parameter_counts_match_the_published_sizes():
    assert fit.param_counts(fit.load_arch("7b"))["total"] / 1e9 == pytest.approx(8.29, abs=0.01)  # model card
    assert fit.param_counts(fit.load_arch("32b"))["total"] / 1e9 == pytest.approx(33.5, abs=0.1)
    assert fit.kv_bytes_per_token(fit.load_arch("32b")) == 256 * 1024  # 64 layers x 8 KV heads x 128 x 2 x 2 B
    assert "huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct" in fit.load_arch("7b")["_source"]


def test_model_states_agree_with_easyr1s_hardware_table():
    """EasyR1 (hiyouga/EasyR1 README) trains 7B with fp32 states on 8 x 40 GB and 32B on 16 x 80 GB: the
    model states alone (16 B per parameter, fully sharded) must fit those budgets with room to spare."""
    for size, ranks, budget_gb in (("7b", 8, 40), ("32b", 16, 80)):
        total = fit.param_counts(fit.load_arch(size))["total"]
        per_gpu_gib = 16 * total / ranks / fit.GIB
        assert per_gpu_gib < 0.5 * budget_gb * 1e9 / fit.GIB, (size, per_gpu_gib)


def grpo_32b(tmp_path, overrides=""):
    cfg = config.load("grpo_rl", "32b", tmp_path / "run", f"--use_cpu true {overrides}".strip())
    alloc = simulated_allocation(read_sbatch_header(project_root() / "slurm" / "grpo_32b.sh"))
    return cfg, plan_launch(cfg.launch, alloc, JOB_32B)


def test_yesterdays_32b_server_settings_are_refused(tmp_path):
    cfg, plan = grpo_32b(tmp_path)
    # what `trl vllm-serve` got before: TP 1, no max_model_len (the model's 128K), vLLM's default 0.9
    cfg.trl.vllm_tensor_parallel_size, cfg.trl.vllm_max_model_length, cfg.trl.vllm_gpu_memory_utilization = (
        1,
        None,
        0.9,
    )
    estimates, problems = fit.stage_estimates(cfg, "32b", plan)
    assert problems and "vLLM refuses to start" in problems[0] and "vllm_max_model_length" in problems[0]
    assert not estimates[0].fits


def test_the_32b_recipe_fits_and_its_server_gets_the_settings(tmp_path):
    cfg, plan = grpo_32b(tmp_path)
    estimates, problems = fit.stage_estimates(cfg, "32b", plan)
    assert problems == [] and all(e.fits for e in estimates)
    serve = vllm_serve_command(
        plan,
        "m",
        cfg.trl.vllm_tensor_parallel_size,
        cfg.trl.vllm_max_model_length,
        cfg.trl.vllm_gpu_memory_utilization,
    )
    assert (
        serve[serve.index("--tensor_parallel_size") + 1] == "2"
        and serve[serve.index("--data_parallel_size") + 1] == "4"
    )
    assert serve[serve.index("--max_model_len") + 1] == "4096"
    assert serve[serve.index("--gpu_memory_utilization") + 1] == "0.9"


def test_a_training_rank_that_cannot_fit_names_the_setting(tmp_path):
    cfg, plan = grpo_32b(tmp_path, "--per_device_train_batch_size 16")
    _, problems = fit.stage_estimates(cfg, "32b", plan)
    assert any("per_device_train_batch_size" in p for p in problems)


def test_sequence_budget_must_hold_the_image_tokens(tmp_path):
    """An SFT whose prompts' image tokens outgrow max_length dies at step 1 ("image features and image tokens
    do not match"): refused up front."""
    cfg = config.load(
        "cold_start_sft", "7b", tmp_path / "run", "--use_cpu true --max_length 1024 --image_max_pixels 1003520"
    )
    alloc = simulated_allocation(read_sbatch_header(project_root() / "slurm" / "sft_7b.sh"))
    _, problems = fit.stage_estimates(cfg, "7b", plan_launch(cfg.launch, alloc, {}))
    assert len(problems) == 1 and "max_length" in problems[0] and "1282" in problems[0]
    assert fit.image_tokens(262_144) == 334 + 2


@pytest.mark.parametrize("size", ["7b", "32b"])
def test_cli_plan_prints_per_gpu_memory(size):
    done = subprocess.run(
        [sys.executable, "-m", "srpo.cluster", "plan", "--size", size], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "GRPO training rank" in done.stdout and "GiB per GPU" in done.stdout and "fit check passed" in done.stdout


def test_cli_fit_refuses_with_exit_2():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "srpo.cluster",
            "fit",
            "--stage",
            "04_grpo_rl",
            "--profile",
            "32b",
            "--overrides",
            "--vllm_tensor_parallel_size 1 --vllm_max_model_length 128000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "vllm_max_model_length" in done.stderr and "cannot fit" in done.stderr


@pytest.mark.parametrize(("size", "gpus", "prompts"), [("7b", 8, 128), ("32b", 24, 120)])
def test_the_update_schedule_follows_the_release(size, gpus, prompts):
    """The released OpenRLHF scripts count train_batch_size in responses: a rollout of `prompts` x 8 completions
    gives 8 optimizer updates, and "500 steps" are 500 rollouts."""
    values = config.read_yaml_mapping(config.recipe_path(size, "grpo_rl"))
    per_update = gpus * values["per_device_train_batch_size"] * values["gradient_accumulation_steps"]
    rollout = gpus * values["per_device_train_batch_size"] * values["steps_per_generation"]
    assert rollout == prompts * values["num_generations"] and rollout // per_update == 8 and rollout % per_update == 0
    assert values["max_steps"] == 500 * 8
