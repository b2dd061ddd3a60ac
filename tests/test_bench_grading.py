"""Benchmark-side grading: malformed rows quarantined, letters as option texts, and the agreement with the
benchmarks' official verdicts (``scripts/bench_agreement.py``) on a small set here and on the real replies in
``../shared/external/`` when present."""

import importlib.util
import json
from pathlib import Path

import pytest

from srpo import bench
from srpo.bench import mmmu_pro
from srpo.bench.base import Benchmark, BenchmarkError, parse_option_list

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / ".." / "shared" / "external"
_spec = importlib.util.spec_from_file_location("bench_agreement", ROOT / "scripts" / "bench_agreement.py")
agreement = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agreement)


def mmmu_row(rid: str, options, answer: str) -> dict:
    return {
        "id": rid,
        "question": "Which? <image 1>",
        "options": str(options),
        "explanation": "",
        "image_1": None,
        "img_type": "['Tables']",
        "answer": answer,
        "topic_difficulty": "Easy",
        "subject": "Accounting",
    }


def test_a_nested_option_list_is_quarantined_and_the_split_runs():
    rows = [
        mmmu_row("ok_1", ["1", "2", "3"], "B"),
        mmmu_row("bad_2", [["A", "B", "Not enough information"]], "B"),
        mmmu_row("ok_3", ["x", "y"], "A"),
    ]
    fake = Benchmark(
        name="fake",
        title="Fake",
        hub_id=None,
        splits={"test": (None, "test")},
        default_splits=("test",),
        breakdowns=(),
        to_record=mmmu_pro.to_record,
        load_rows=lambda split, limit=None: rows,
    )
    records = fake.records("test")
    assert [r["id"] for r in records] == ["ok_1", "ok_3"]
    assert len(records.quarantined) == 1 and "nested list" in records.quarantined[0]["reason"]
    with pytest.raises(BenchmarkError, match="nested list"):
        parse_option_list([["A", "B"]], row_id="bad")


def test_option_texts_that_are_letters_never_stand_for_the_gold():
    """2.1% of MMMU-Pro rows: options ['D', 'C', 'A', 'B'] with gold letter A means the FIRST option."""
    row = mmmu_row("letters", ["D", "C", "A", "B"], "A")
    assert bench.score_response("mmmu_pro:standard10", row, "Answer: A")["final_correct"]
    assert not bench.score_response("mmmu_pro:standard10", row, "Answer: C")["final_correct"]
    assert bench.score_response("mmmu_pro:standard10", row, "The first option.\nAnswer: (A)")["final_correct"]


def write_external(folder: Path) -> None:
    lines = [
        ("mmmu_pro:vision", mmmu_row("v1", ["1", "2", "3"], "B"), "Answer: B", True),  # both right
        ("mmmu_pro:vision", mmmu_row("v2", ["1", "2", "3"], "B"), "I cannot tell.", True),  # random-letter credit
        ("mmmu_pro:vision", mmmu_row("v3", ["1", "2", "3"], "B"), "Answer: C", False),  # both wrong
        ("mmmu_pro:vision", mmmu_row("v4", [["1", "2"]], "B"), "Answer: B", True),  # malformed: quarantined
    ]
    with (folder / "mmmu_pro_vision_fake.jsonl").open("w") as f:
        for benchmark, row, response, correct in lines:
            f.write(
                json.dumps(
                    {
                        "benchmark": benchmark,
                        "model": "fake",
                        "id": row["id"],
                        "row": row,
                        "response": response,
                        "official": {"correct": correct},
                    }
                )
                + "\n"
            )


def test_agreement_counts_confusion_no_answer_and_writes_disagreements(tmp_path, capsys):
    data, out = tmp_path / "external", tmp_path / "out" / "dis.jsonl"
    data.mkdir()
    write_external(data)
    results = agreement.run(data, None, "default", out)
    s = results[("mmmu_pro:vision", "fake")]
    assert results["causes"] == {
        "mmmu_pro:vision": {"official: a letter from a non-answer (random fallback, the word I)": 1}
    }
    assert (s["n"], s["official"], s["ours"], s["agree"], s["quarantined"]) == (3, 2, 1, 2, 1)
    assert (s["both right"], s["official only"], s["ours only"], s["both wrong"]) == (1, 1, 0, 1)
    assert s["no_answer"] == 1 and s["rules"] == {"whole": 1}
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert {d["id"] for d in written} == {"v2", "v4"} and "quarantined" in written[-1]
    assert agreement.main(["--data", str(data), "--out", str(out), "--check-floors"]) == 1  # 66.7% < 98%
    assert "| mmmu_pro:vision | fake | 3 |" in capsys.readouterr().out


# Measured on ../shared/external with this grader (README "Grading agreement"). MathVista and MathVision are still
# under the targets in agreement.FLOORS; these guards catch a regression, the xfail below tracks the targets.
# MathVista's 94.0% is below the 94.3% of letter-first alone: reading a reply only up to the made-up follow-up
# question it runs on into (own_part) makes 27 more replies right that the official pipeline marked wrong.
MEASURED = {"mathvista": 0.939, "mathvision": 0.979}


@pytest.fixture(scope="module")
def agreement_by_family(tmp_path_factory):
    if not EXTERNAL.is_dir():
        pytest.skip("../shared/external/ is not present (development checkout only)")
    results = agreement.run(EXTERNAL, None, "default", tmp_path_factory.mktemp("agreement") / "dis.jsonl")
    return agreement.table(results)[1]


@pytest.mark.slow  # about 2.5 CPU-minutes over 31,738 replies
def test_agreement_with_the_official_verdicts_does_not_regress(agreement_by_family):
    assert set(agreement_by_family) == set(agreement.FLOORS)
    floors = {f: min(agreement.FLOORS[f], MEASURED.get(f, 1.0)) for f in agreement.FLOORS}
    under = {f: round(100 * a, 2) for f, a in agreement_by_family.items() if a < floors[f]}
    assert not under, f"agreement under {floors}: {under}"


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="MathVista 94.0% < 95%, MathVision 98.0% < 98.5%: the rest are mostly the "
    "official pipelines' own errors, not copied (README: Grading agreement)",
)
def test_agreement_with_the_official_verdicts_is_above_the_floors(agreement_by_family):
    under = {f: round(100 * a, 2) for f, a in agreement_by_family.items() if a < agreement.FLOORS[f]}
    assert not under, f"agreement under the floors {agreement.FLOORS}: {under}"


def test_two_step_judge_extracts_with_the_project_client_and_compares_with_the_rules():
    """MathVista/MathVerse's official scoring: an LLM extracts, the rules compare; resumable, cost counted."""
    from openai_fake_server import FakeOpenAIServer, Reply, user_text

    from srpo.bench.judge import ExtractThenCompare
    from srpo.bench.scoring import score_record
    from srpo.reflection.client import ApiSettings

    items = [
        {
            "id": "1",
            "question": "How many?",
            "answer": "3",
            "options": [],
            "answer_type": "integer",
            "precision": None,
        },
        {
            "id": "2",
            "question": "Which?",
            "answer": "B",
            "options": ["red", "blue"],
            "answer_type": "multiple_choice",
            "precision": None,
        },
    ]
    replies = {
        "1": "Counting the cylinders and then the spheres, we end up with three of them, not four.",
        "2": "The colour of the car is clearly blue, I would say.",
    }
    records = [{**score_record(it, replies[it["id"]]), "id": it["id"], "response": replies[it["id"]]} for it in items]
    assert [r["final_correct"] for r in records] == [False, True]  # "three ... four": the rules read no number

    def handler(request):
        text = user_text(request)
        return Reply.json({"extraction": "3" if "cylinders" in text else "blue"})

    settings = ApiSettings(
        model="fake-judge",
        base_url="",
        api_key_env="",
        max_tries=2,
        backoff_s=0.01,
        price_input_per_mtok=2.0,
        price_output_per_mtok=8.0,
    )
    with FakeOpenAIServer(handler) as server:
        settings.base_url = server.base_url
        judge = ExtractThenCompare(settings)
        usage = judge.score_records(items, records)
        assert [r["judge2_final_correct"] for r in records] == [True, True]
        assert [r["judge2_extraction"] for r in records] == ["3", "blue"] and not any(
            r["judge2_error"] for r in records
        )
        assert [r["final_correct"] for r in records] == [False, True]  # the rule score is untouched
        assert usage["accepted"] == 2 and usage["estimated_cost_usd"] == round(2 * (100 * 2 + 20 * 8) / 1e6, 4)
        judge.score_records(items, records)  # resumed: every reply is in the store already
        assert len(server.requests) == 2 and judge.name == "judge2:fake-judge"


def test_a_reply_that_states_one_option_with_agreeing_letter_and_text_is_recognised():
    """The cause "official: credits another option than the one the reply states" needs a statement whose letter
    and option text agree ("The answer is (A) 8." with A = 8), never a bare letter or prose."""
    record = {"options": ["8", "10", "15"]}
    assert agreement.states_one_option({"final_answer": "(A) 8", "final_rule": "answer_is"}, record)
    assert agreement.states_one_option(
        {"final_answer": "B (Aubrey)", "final_rule": "label"}, {"options": ["Connor", "Aubrey"]}
    )
    assert not agreement.states_one_option({"final_answer": "(A) 10", "final_rule": "answer_is"}, record)
    assert not agreement.states_one_option({"final_answer": "(B)", "final_rule": "answer_is"}, record)
    assert not agreement.states_one_option({"final_answer": "(A) 8", "final_rule": "last_sentence"}, record)
