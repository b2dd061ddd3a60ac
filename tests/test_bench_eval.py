"""evaluate(): backends, the resumable cache, the LLM judge option, in-process models; the stage end to end."""

import json
import shutil

import pytest

from srpo import config, paths
from srpo.bench import evaluate
from srpo.bench.judge import LLMJudge
from srpo.generation import Generation, GenerationSettings

GREEDY = GenerationSettings(max_new_tokens=8, batch_size=4)
RIGHT = "<think>a</think><answer>\\boxed{{{gold}}}</answer><reflection>ok</reflection><think>b</think><answer>\\boxed{{{gold}}}</answer>"


class ScriptedBackend:
    """Answers from a script (id -> text, default: the right answer); counts what it was asked to generate."""

    def __init__(self, items, script=None):
        self.gold = {it["id"]: it["answer"] for it in items}
        self.script, self.asked = script or {}, []

    def generate(self, requests, settings):
        self.asked += [r.id for r in requests]
        return [
            Generation(r.id, s, self.script.get(r.id, RIGHT.format(gold=self.gold[r.id])), 12, "stop")
            for r in requests
            for s in range(settings.n)
        ]


@pytest.fixture
def items():
    from srpo.bench import BENCHMARKS

    return BENCHMARKS["synthetic"].records(limit=12)


def test_metrics_records_and_breakdowns_from_a_scripted_backend(items):
    wrong_first = "<think>a</think><answer>\\boxed{99}</answer><reflection>r</reflection><think>b</think><answer>\\boxed{%s}</answer>"
    script = {items[0]["id"]: wrong_first % items[0]["answer"], items[1]["id"]: "no answer"}
    result = evaluate("scripted", "synthetic", settings=GREEDY, items=items, backend=ScriptedBackend(items, script))
    m = result["metrics"]
    assert (m["n"], m["n_first_wrong"], m["n_fixed"], m["fix_rate"]) == (12, 1, 1, 1.0)
    assert m["final_acc"] == pytest.approx(11 / 12) and m["structure_rate"] == pytest.approx(11 / 12)
    assert result["scorer"] == "rule" and set(result["metrics_by_scorer"]) == {"rule"}
    assert set(result["breakdowns"]["rule"]) == {"qtype", "difficulty_band"}
    rec = result["records"][0]
    assert {
        "id",
        "sample",
        "response",
        "first_answer",
        "final_answer",
        "first_correct",
        "final_correct",
        "num_tokens",
        "groups",
    } <= set(rec)


def test_cache_resumes_an_interrupted_evaluation(items, tmp_path):
    cache = tmp_path / "cache.jsonl"
    first = ScriptedBackend(items)
    evaluate("m", "synthetic", settings=GREEDY, items=items[:5], backend=first, cache_path=cache)
    with open(cache, "a") as f:
        f.write('{"key": "torn')  # a kill in the middle of a write
    again = ScriptedBackend(items)
    result = evaluate("m", "synthetic", settings=GREEDY, items=items, backend=again, cache_path=cache)
    assert first.asked == [it["id"] for it in items[:5]] and again.asked == [it["id"] for it in items[5:]]
    assert result["metrics"]["n"] == 12
    third = ScriptedBackend(items)
    evaluate("m", "synthetic", settings=GREEDY, items=items, backend=third, cache_path=cache)
    assert third.asked == []
    other_prompt = ScriptedBackend(items)  # another prompt (or model, or temperature) misses the cache
    evaluate(
        "m",
        "synthetic",
        settings=GREEDY,
        items=items[:2],
        backend=other_prompt,
        cache_path=cache,
        prompt="single_pass",
    )
    assert len(other_prompt.asked) == 2
    assert all(json.loads(line)["key"] for line in cache.read_text().splitlines() if '"torn' not in line)


def test_sampled_runs_cache_each_sample(items, tmp_path):
    sampled = GenerationSettings(max_new_tokens=8, temperature=1.0, n=3, batch_size=4)
    result = evaluate(
        "m",
        "synthetic",
        settings=sampled,
        items=items[:4],
        backend=ScriptedBackend(items),
        cache_path=tmp_path / "c.jsonl",
    )
    assert [r["sample"] for r in result["records"][:3]] == [0, 1, 2] and result["metrics"]["n"] == 12
    assert result["metrics"]["n_prompts"] == 4


def judge_settings(server, model: str, **kw):
    from srpo.reflection.client import ApiSettings

    return ApiSettings(model=model, base_url=server.base_url, api_key_env="", json_mode=False, backoff_s=0.01, **kw)


def verdict_server():
    """A loopback OpenAI server judging 'correct' when candidate and gold contain each other."""
    from openai_fake_server import FakeOpenAIServer, Reply, user_text

    def handler(request):
        text = user_text(request)
        gold = text.split("Reference answer: ")[1].split("\n")[0]
        candidate = text.split("Candidate answer: ")[1]
        return Reply.text("correct" if gold in candidate or candidate in gold else "incorrect")

    return FakeOpenAIServer(handler)


def test_llm_judge_is_reported_under_its_own_name(items):
    script = {
        items[0]["id"]: "The sum is clearly " + items[0]["answer"] + ", or perhaps 9999, if you look at the digits."
    }
    with verdict_server() as server:
        judge = LLMJudge(judge_settings(server, "fake-judge"))
        result = evaluate(
            "m", "synthetic", settings=GREEDY, items=items[:4], backend=ScriptedBackend(items, script), judge=judge
        )
    assert set(result["metrics_by_scorer"]) == {"rule", "judge:fake-judge"}
    assert result["metrics_by_scorer"]["judge:fake-judge"]["final_acc"] == 1.0  # the judge reads the free text
    assert result["metrics_by_scorer"]["rule"]["final_acc"] == 0.75  # two numbers: the rules read no answer
    assert result["records"][0]["judge_final_correct"] is True and "judge:fake-judge" in result["breakdowns"]
    assert result["metrics_by_scorer"]["judge:fake-judge"]["n_judge_errors"] == 0
    assert result["judge_usage"]["accepted"] == len(server.requests)


def test_failing_judge_calls_count_as_errors_and_are_retried_by_one_loop_only(items):
    """One retry loop: max_tries=3 means 3 HTTP requests per verdict, not 3 x the openai client's own retries."""
    from openai_fake_server import FakeOpenAIServer, Reply

    with FakeOpenAIServer(lambda request: Reply.error(500)) as server:
        judge = LLMJudge(judge_settings(server, "down", max_tries=3))
        result = evaluate(
            "m", "synthetic", settings=GREEDY, items=items[:1], backend=ScriptedBackend(items), judge=judge
        )
        assert len(server.requests) == 3  # first and final answer are the same text: one verdict, three tries
    m = result["metrics_by_scorer"]["judge:down"]
    assert m["final_acc"] == 0.0 and m["n_judge_errors"] == 1 and result["metrics"]["final_acc"] == 1.0


def test_in_process_model_is_restored(tiny_model_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_path)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_path, dtype=torch.float32)
    model.train()
    processor.tokenizer.padding_side = "right"
    threads = torch.get_num_threads()
    result = evaluate((model, processor), "synthetic", settings=GREEDY, limit=3, num_threads=1)
    assert result["metrics"]["n"] == 3 and all(isinstance(r["response"], str) for r in result["records"])
    assert model.training and processor.tokenizer.padding_side == "right" and torch.get_num_threads() == threads


def test_checkpoint_folder_with_the_hf_backend(tiny_model_path, tmp_path):
    result = evaluate(
        tiny_model_path,
        "synthetic",
        settings=GREEDY,
        limit=2,
        cache_path=tmp_path / "c.jsonl",
        prompt="released_single",
        placement="user",
    )
    assert result["metrics"]["n"] == 2 and (tmp_path / "c.jsonl").exists()


# ---------------------------------------------------------------------------------------------- config and stage
def test_recipes_name_their_input_stages_and_bad_values_fail(tmp_path):
    cfg = config.load("benchmarks", "tiny-cpu", tmp_path)
    assert cfg.args.input_stages() == ["cold_start_sft", "grpo_rl"] and cfg.args.prompt_for("base") == "single_pass"
    for overrides, message in [
        ("--benchmarks mathvistaa", "unknown benchmark"),
        ("--prompt srpo", "unknown evaluation prompt"),
        ("--models base", "not NAME=VALUE"),
        ("--models base=a sft=stage:grpo srpo=b", "unknown stage"),
    ]:
        with pytest.raises(config.ConfigError, match=message):
            config.load("benchmarks", "tiny-cpu", tmp_path, overrides=overrides)


def test_stage_refuses_to_start_before_the_checkpoints_exist(tmp_path):
    from srpo.launch import prepare_stage

    with pytest.raises(paths.StageNotReady, match="03_cold_start_sft.ipynb first"):
        prepare_stage("benchmarks", "tiny-cpu", tmp_path)


@pytest.mark.slow
def test_stage_writes_tables_records_figures_and_summary(tiny_model_path, tmp_path):
    from srpo.bench.stage import main

    for stage in ("cold_start_sft", "grpo_rl"):
        shutil.copytree(tiny_model_path, paths.stage_dir(tmp_path, stage) / "final")
        paths.write_summary(tmp_path, stage, {"fake": True})
    overrides = (
        "--models base=tiny://random sft=stage:cold_start_sft srpo=stage:grpo_rl --synthetic_n 6 "
        "--max_new_tokens 8 --sampled_n 2 --sampled_limit 3"
    )
    cfg = config.load("benchmarks", "tiny-cpu", tmp_path, overrides=overrides)
    summary = main(cfg)
    out = paths.stage_dir(tmp_path, "benchmarks")
    assert paths.is_done(tmp_path, "benchmarks")
    assert {(r["model"], r["mode"]) for r in summary["results"]} == {
        (m, d) for m in ("base", "sft", "srpo") for d in ("greedy", "sampled")
    }
    assert all(r["scorer"] == "rule" for r in summary["results"] + summary["breakdowns"])
    for name in (
        "results.csv",
        "results.json",
        "breakdowns.csv",
        "paper_comparison.csv",
        "figures/accuracy.png",
        "records/srpo/synthetic__test__sampled.jsonl",
        "cache/base.jsonl",
    ):
        assert (out / name).exists(), name
    assert summary["paper_comparison"][2]["paper MathVista"] == 75.8  # srpo beside SRPO-7B
    assert len((out / "records/srpo/synthetic__test__sampled.jsonl").read_text().splitlines()) == 6
