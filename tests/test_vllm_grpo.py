"""GRPO with real vLLM rollouts on the CPU (vllm-cpu 0.31.0 in ``.venv-vllm``): colocate mode through
``python -m srpo.grpo`` with the 7b recipe's vLLM settings, and server mode against ``trl vllm-serve`` on
loopback.

Both start from the Hub stand-in ``tiny://hub`` (instruct weights, a processor with the Hub's pixel limits),
as the "+GRPO" baseline arm does from Qwen2.5-VL-7B-Instruct: the trainer caps images at the recipe's budget
(1,568 px: 2 image tokens per 56x28 image) while the checkpoint's processor would give vLLM 6, so a run only
works if vLLM gets the trainer's budget.

What the CPU cannot test: server mode's weight sync. TRL pushes weights to ``trl vllm-serve`` through vLLM's
NCCL weight-transfer engine, which needs CUDA; here ``VLLMClient.init_communicator`` /
``update_named_params`` are stubbed, so the server keeps the initial weights and only step 1's log-probs
can be compared.
Colocate's weight sync runs for real (vLLM's in-place reload, ``srpo.generation.use_vllm_reload_on_cpu``) and
its result is checked: the log-probs after the reload match the trainer's; that later updates reach the
engine is not separately measured (a 2-step tiny run's update is too small to show in the log-probs).
The cluster's server/trainer split over SLURM nodes is not used (one extra engine start would cost more
than the split proves); the server runs on 127.0.0.1."""

import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

pytest.importorskip("vllm", reason="vLLM tests run in .venv-vllm (make venv-vllm)")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from srpo import config, paths  # noqa: E402
from srpo.launch import prepare_stage, run_stage  # noqa: E402
from srpo.tiny import resolve_model  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

LOGP_DIFF = "sampling/sampling_logp_difference/mean"  # TRL: |vLLM logprob - trainer logprob| per token
# The "+GRPO" baseline arm from a Hub checkpoint, a few small steps.
HUB_ARM = (
    "--model_name_or_path tiny://hub --prompt single_pass --reward grpo_baseline --accuracy_filter false "
    "--max_steps 2 --num_generations 4 --per_device_train_batch_size 8 --max_completion_length 48 "
    "--logging_steps 1 --eval_samples 0 --save_steps 1000 --vllm_max_model_length 1024"
)


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    from srpo.data.__main__ import main as curate

    run_dir = tmp_path_factory.mktemp("vllm_grpo") / "run"
    cfg, _ = prepare_stage("data_curation", "tiny-cpu", run_dir, "--sft_pool_size 8 --rl_train_size 16")
    curate(cfg)
    return run_dir


def recipe_vllm_overrides(profile: str) -> str:
    """The vLLM settings of a cluster recipe, as overrides for the tiny profile."""
    keys = ("use_vllm", "vllm_mode", "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size")
    return " ".join(f"--{k} {str(config.recipe_value(profile, 'grpo_rl', k)).lower()}" for k in keys)


def language_model_moved(before_dir: str, after_dir: str) -> bool:
    before = load_file(os.path.join(before_dir, "model.safetensors"))
    after = load_file(os.path.join(after_dir, "model.safetensors"))
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    return bool(moved) and not any("visual" in k for k in moved)


def logp_diffs(run_dir) -> list[float]:
    history = json.loads((paths.stage_dir(run_dir, "grpo_rl") / "log_history.json").read_text())
    return [h[LOGP_DIFF] for h in history if LOGP_DIFF in h]


def test_grpo_colocate_from_a_hub_checkpoint_with_the_7b_vllm_settings(curated):
    overrides = f"{recipe_vllm_overrides('7b')} --vllm_enforce_eager true {HUB_ARM}"
    assert "--vllm_mode colocate" in overrides
    summary = run_stage("grpo_rl", "tiny-cpu", curated, overrides, echo=False)
    assert summary["steps"] == 2
    assert len(summary["curves"]["rewards/accuracy/mean"]) == 2
    assert language_model_moved(resolve_model("tiny://hub"), summary["final_model"])
    diffs = logp_diffs(curated)
    # vLLM's log-probs match the trainer's: same prompt tokens (images included) and the weights loaded into
    # the engine before each step (vLLM's reload on CPU, srpo.generation.use_vllm_reload_on_cpu). vLLM runs in
    # bfloat16 here, the trainer in float32: ~1e-3 nats/token. With TRL's pre-expanded image tokens sent as is,
    # or without the trainer's pixel budget, this was ~0.66 (another prompt) or a crash.
    assert len(diffs) == 2 and max(diffs) < 0.01, diffs


@pytest.fixture
def vllm_server(tmp_path):
    """``trl vllm-serve`` with the project's server command (srpo.cluster.plan), on a free loopback port."""
    from srpo.cluster.plan import LaunchPlan, vllm_server_for

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = config.load("grpo_rl", "tiny-cpu", tmp_path / "plan", f"--use_vllm true --vllm_mode server {HUB_ARM}")
    plan = LaunchPlan(
        train_nodes=("127.0.0.1",),
        procs_per_node=1,
        master_addr="127.0.0.1",
        master_port=0,
        server_nodes=("127.0.0.1",),
        server_port=port,
        in_slurm=False,
    )
    cmd = vllm_server_for(cfg, plan) + ["--dtype", "float32"]  # the trainer's dtype: step 1 compares exactly
    assert "--enforce_eager" in cmd and any(a.startswith("--mm-processor-kwargs=") for a in cmd)
    log = open(tmp_path / "vllm_serve.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 400
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"trl vllm-serve exited: {(tmp_path / 'vllm_serve.log').read_text()[-3000:]}")
            try:
                if urllib.request.urlopen(f"{url}/health", timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError("trl vllm-serve did not become healthy in 400 s")
            time.sleep(3)
        yield url
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


def test_grpo_server_mode_against_trl_vllm_serve(curated, vllm_server, monkeypatch):
    """Generation, image features and log-probs through the server; NCCL weight sync stubbed (needs CUDA)."""
    from trl.generation import vllm_client

    from srpo.grpo import main

    monkeypatch.setattr(vllm_client.VLLMClient, "init_communicator", lambda self, device=0: None)
    monkeypatch.setattr(
        vllm_client.VLLMClient, "update_named_params", lambda self, metadata, params: [None for _ in params]
    )
    monkeypatch.setattr(vllm_client.VLLMClient, "close_communicator", lambda self: None)
    run_dir = curated.parent / "server_run"
    paths.stage_dir(run_dir, "data_curation").parent.mkdir(parents=True, exist_ok=True)
    os.symlink(paths.stage_dir(curated, "data_curation"), paths.stage_dir(run_dir, "data_curation"))
    overrides = f"--use_vllm true --vllm_mode server --vllm_server_base_url {vllm_server} {HUB_ARM}"
    cfg, _ = prepare_stage("grpo_rl", "tiny-cpu", run_dir, overrides)
    summary = main(cfg)
    assert summary["steps"] == 2
    assert language_model_moved(resolve_model("tiny://hub"), summary["final_model"])
    diffs = logp_diffs(run_dir)
    # Step 1: the server holds the trainer's weights, both in float32, and the prompts agree token for token
    # (image tokens included): the log-probs agree. Later steps are not compared: without weight sync the
    # server keeps the initial weights.
    assert len(diffs) == 2 and diffs[0] < 1e-3, diffs
