"""Real vLLM (vllm-cpu 0.31.0 in ``.venv-vllm``, ``make venv-vllm``) on the tiny Qwen2.5-VL: our vLLM backend
against the transformers backend, stage 02's policy attempts and stage 05's benchmarks through vLLM.

Every engine starts eager (``enforce_eager``: no Inductor compile on CPU) with a 1 GiB KV cache
(``VLLM_CPU_KVCACHE_SPACE``); each start costs ~30-50 s of process spawning on 2 cores. The checkpoint is the
Hub stand-in ``tiny://hub`` (the ``tiny://instruct`` weights with a processor that has the Hub's limits,
3,136 to 12,845,056 px), so the image pixel budget must reach vLLM for the prompts to match: a 56x28 image
is 2 image tokens under the tiny recipes' budget (1,568 px) and 6 under the checkpoint's own processor.
Skipped where vllm is not importable (the CPU venv)."""

import json
import os

import pytest

pytest.importorskip("vllm", reason="vLLM tests run in .venv-vllm (make venv-vllm)")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; on CPU the KV cache size comes from here

from srpo import formats, paths  # noqa: E402
from srpo.generation import GenerationRequest, GenerationSettings, make_backend  # noqa: E402
from srpo.launch import prepare_stage, run_stage  # noqa: E402
from srpo.tiny import resolve_model, sevenseg  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

TINY_BUDGET = dict(min_pixels=1568, max_pixels=1568)  # recipes/tiny-cpu: image_*_pixels, attempt_*_pixels


@pytest.fixture(scope="module")
def hub_path():
    return resolve_model("tiny://hub")


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Stage 01 on a few synthetic problems (in process)."""
    from srpo.data.__main__ import main as curate

    run_dir = tmp_path_factory.mktemp("vllm_gen") / "run"
    cfg, _ = prepare_stage("data_curation", "tiny-cpu", run_dir, "--sft_pool_size 16 --rl_train_size 8")
    curate(cfg)
    return run_dir


def image_token_count(ids: list[int], path: str) -> int:
    from transformers import AutoConfig

    return ids.count(AutoConfig.from_pretrained(path).image_token_id)


def test_vllm_backend_gives_the_hf_backends_prompt_ids_and_greedy_text(hub_path):
    problems = sevenseg.make_problems(4, seed=3)
    requests = [
        GenerationRequest(p.id, formats.build_messages(p.question, 1, "single_pass"), [p.image]) for p in problems
    ]
    settings = GenerationSettings(max_new_tokens=48, temperature=0.0, **TINY_BUDGET)
    hf = make_backend("hf", hub_path, dtype="float32").generate(requests, settings)
    vllm = make_backend(
        "vllm", hub_path, max_model_len=1024, max_images_per_prompt=1, enforce_eager=True, dtype="float32"
    ).generate(requests, settings)
    assert [g.id for g in vllm] == [g.id for g in hf] == [p.id for p in problems]
    for h, v in zip(hf, vllm, strict=True):
        assert image_token_count(v.prompt_ids, hub_path) == 2  # the budget, not the checkpoint's 6
        assert v.prompt_ids == h.prompt_ids
        assert (v.text, v.num_tokens, v.finish_reason) == (h.text, h.num_tokens, h.finish_reason)
    assert any("<answer>" in g.text for g in vllm)  # the warmed-up model answers: the texts are not trivial


def test_stage_02_policy_attempts_through_vllm(curated):
    overrides = (
        "--attempt_backend vllm --attempt_source mixed --max_problems 16 --target_size 8 "
        "--attempt_chunk_size 16 --attempt_max_model_len 1024"
    )
    summary = run_stage("reflection_generation", "tiny-cpu", curated, overrides, echo=False)
    rows = [
        json.loads(line)
        for line in (paths.stage_dir(curated, "reflection_generation") / "attempts.jsonl").read_text().splitlines()
        if line.strip()
    ]
    policy = [r for r in rows if r.get("attempt_source") == "policy"]
    assert len(policy) == 16 and all(r["text"] and r["num_tokens"] > 0 for r in policy)
    # graded like any attempt; the warmed-up model answers in the format and is right about 2/3 of the time
    assert sum(r["parseable"] for r in policy) >= 8 and any(r["correct"] for r in policy)
    assert summary["policy_model"] == "tiny://instruct" and summary["sft"]["rows"] == 8  # the stage finished


def test_stage_05_benchmarks_through_vllm_apply_one_budget_to_every_model(tmp_path, hub_path):
    """A Hub checkpoint and our own (capped) checkpoint, benchmarked together: both see the recipe's budget,
    through vLLM and through the transformers backend alike (same prompt lengths item by item)."""
    models = (
        "--models base=tiny://instruct hub=tiny://hub --model_prompts base=single_pass hub=single_pass "
        "--paper_models base=Qwen2.5-VL-7B hub=Qwen2.5-VL-7B"
    )
    common = f"{models} --synthetic_n 6 --max_new_tokens 24 --sampled_n 0"
    prompt_tokens = {}
    for backend in ("vllm", "hf"):
        run_dir = tmp_path / backend
        run_stage("benchmarks", "tiny-cpu", run_dir, f"{common} --backend {backend}", echo=False)
        out = paths.stage_dir(run_dir, "benchmarks") / "records"
        for model in ("base", "hub"):
            records = [json.loads(x) for x in (out / model / "synthetic__test__greedy.jsonl").read_text().splitlines()]
            assert len(records) == 6 and all(r["response"] for r in records)
            prompt_tokens[backend, model] = [r["prompt_tokens"] for r in records]
    assert len(set(map(tuple, prompt_tokens.values()))) == 1, prompt_tokens
    # one image of 2 tokens under the budget (not the 6 of the Hub processor): check against the processor
    from transformers import AutoProcessor

    from srpo.bench.prompts import messages_for
    from srpo.bench.registry import get_benchmark

    item = get_benchmark("synthetic").records("test", limit=1)[0]
    proc = AutoProcessor.from_pretrained(resolve_model("tiny://instruct"))
    text = proc.apply_chat_template(
        messages_for(item["question"], 1, "single_pass", "system"), add_generation_prompt=True, tokenize=False
    )
    ids = proc(text=[text], images=item["images"], **TINY_BUDGET)["input_ids"][0]
    assert prompt_tokens["vllm", "hub"][0] == len(ids)
