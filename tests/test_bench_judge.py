"""The optional two-step judge of stage 05 (``srpo.bench.judge.ExtractThenCompare``) against the loopback fake
OpenAI server: MathVerse's LLM comparison, MathVista's rules after extraction, the stage's recipe keys, a
resumable store, the cost, and its numbers beside the rule score, never mixed in."""

import pytest
from openai_fake_server import FakeOpenAIServer, Reply, user_text

from srpo.bench import report
from srpo.bench.judge import ExtractThenCompare
from srpo.bench.scoring import grade_extracted, score_record
from srpo.configs.benchmarks import BenchArgs
from srpo.reflection.client import ApiSettings


def item(source, answer, options=(), answer_type="multiple_choice", question="Which one?"):
    return {
        "id": "7",
        "source": source,
        "question": question,
        "options": list(options),
        "answer": answer,
        "answer_type": answer_type,
        "precision": None,
        "images": [],
        "metadata": {},
    }


def scored(it, reply):
    return {**score_record(it, reply), "id": it["id"], "response": reply}


def settings(server, **kw):
    return ApiSettings(model="fake-judge", base_url=server.base_url, api_key_env="", max_tries=2, backoff_s=0.01, **kw)


def test_mathverse_compares_the_extraction_with_an_llm_and_an_empty_extraction_is_wrong_without_a_call():
    """MathVerse's official second step (score_answer_s2.py) is an LLM judgement of consistency, 1 or 0."""

    def handler(request):
        system, text = request["messages"][0]["content"], user_text(request)
        if system.startswith("You compare"):
            return Reply.json({"judgement": 1 if "Model answer: 0.5 m" in text else 0})
        return Reply.json({"extraction": "0.5 m" if "fifty" in text else ""})

    it = item("mathverse:testmini", "50 cm", answer_type="expression", question="How long is AB?")
    records = [scored(it, "AB is fifty centimetres long, which is half a metre."), scored(it, "I cannot tell.")]
    records[1]["id"] = it["id"]
    with FakeOpenAIServer(handler) as server:
        judge = ExtractThenCompare(settings(server))
        judge.score_records([it], records)
        compares = [r for r in server.requests if r["messages"][0]["content"].startswith("You compare")]
    assert [r["judge2_final_correct"] for r in records] == [True, False]
    assert [r["judge2_extraction"] for r in records] == ["0.5 m", ""] and len(compares) == 1
    assert [r["final_correct"] for r in records] == [False, False]  # the rule score is untouched


def test_an_extraction_is_graded_as_mathvistas_calculate_score_does():
    """Letter first, then the nearest option; never a refusal or an empty answer."""
    it = item("mathvista:testmini", "B", ["Solution A", "Solution B"])
    assert grade_extracted("(B) Solution A", it) and grade_extracted("Sol. B", it)
    assert not grade_extracted("", it) and not grade_extracted("The answer cannot be determined.", it)
    assert not grade_extracted("Sol. B", {**it, "source": "mathvision:test"})  # nearest option is MathVista's


def test_the_stage_builds_the_judge_from_the_recipe_keys_resumes_it_and_reports_it_beside_the_rules(tmp_path):
    from srpo.bench.stage import judge_usage, make_judge

    assert make_judge(BenchArgs(), tmp_path) is None  # off by default
    with pytest.raises(ValueError, match="judge_mode must be one of"):
        BenchArgs(judge_model="m", judge_mode="guess")
    its = [
        item("mathvista:testmini", "B", ["yes", "no"], question="Is the bar higher than the line?"),
        {**item("mathvista:testmini", "3", answer_type="integer"), "id": "8"},
    ]
    replies = ["The bar stands clearly below the red line in the chart.", "I count three of them, maybe four."]

    def handler(request):
        text = user_text(request)
        return Reply.json({"extraction": "No" if "below" in text else "3"})

    with FakeOpenAIServer(handler) as server:
        args = BenchArgs(
            judge_model="fake-judge",
            judge_base_url=server.base_url,
            judge_api_key_env="",
            judge_price_input_per_mtok=2.0,
            judge_price_output_per_mtok=8.0,
        )
        for _ in range(2):  # the second run is served by the store on disk
            judge = make_judge(args, tmp_path)
            records = [scored(it, reply) for it, reply in zip(its, replies, strict=True)]
            judge.score_records(its, records)
        usage = judge_usage(judge)
        assert len(server.requests) == 2 and (tmp_path / "judge").is_dir()
    assert judge.name == "judge2:fake-judge" and usage["estimated_cost_usd"] == round(2 * (100 * 2 + 20 * 8) / 1e6, 4)
    assert [r["judge2_final_correct"] for r in records] == [True, True]
    assert [r["final_correct"] for r in records] == [False, False]
    rows = [
        {"model": "base", "label": "mathvista:testmini", "mode": "greedy", "scorer": s, "final_acc": a}
        for s, a in (("rule", 0.0), (judge.name, 1.0))
    ]
    assert report.paper_comparison(rows, {})[0] == {
        "model": "base",
        "ours mathvista:testmini": 0.0,
        "judge2:fake-judge mathvista:testmini": 100.0,
        "paper row": None,
        **{f"paper {c}": None for c in report.paper.BENCHMARK_COLUMNS},
    }
