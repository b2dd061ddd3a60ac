"""Benchmarks: each loader on fixtures in its real Hub schema, the quirks of each, and deterministic scoring."""

import datasets
import pytest
from bench_fixtures import (
    FIXTURES,
    fixture_dataset,
    mathverse_rows,
    mathvision_rows,
    mathvista_rows,
    mmmu_standard_rows,
)

from srpo.bench import BENCHMARKS, BenchmarkError, expand, resolve, score_response, to_record
from srpo.bench.base import local_copy, parse_option_list
from srpo.bench.metrics import breakdowns, compute_metrics

FIVE = "<think>a</think><answer>{first}</answer><reflection>r</reflection><think>b</think><answer>{final}</answer>"


def five(first, final):
    return FIVE.format(first=first, final=final)


def by_id(rows, key="id"):
    return {str(r[key]): r for r in rows}


# ---------------------------------------------------------------------------------------------- loading
@pytest.mark.parametrize(("name", "split"), sorted(FIXTURES))
def test_hub_loader_asks_for_the_right_dataset_and_converts_every_row(name, split, monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return fixture_dataset(bench.name, bench_split)

    bench, bench_split = resolve(f"{name}:{split}")
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    records = bench.records(split, limit=2)
    config, hub_split = bench.splits[split]
    assert calls == [(bench.hub_id, config, hub_split)]
    assert len(records) == 2
    for r in records:
        assert set(r) == {
            "id",
            "source",
            "images",
            "question",
            "options",
            "answer",
            "answer_type",
            "precision",
            "metadata",
        }
        assert r["source"] == f"{name}:{split}" and r["images"] and all(i.mode == "RGB" for i in r["images"])
        assert all(k in r["metadata"] for k in bench.breakdowns)


def test_local_copy_is_used_before_the_hub(tmp_path, monkeypatch):
    fixture_dataset("mmmu_pro", "vision").save_to_disk(str(local_copy(tmp_path, "mmmu_pro", "vision")))
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("went to the Hub"))
    records = BENCHMARKS["mmmu_pro"].records("vision", data_root=str(tmp_path))
    assert [r["id"] for r in records] == ["validation_Physics_1", "validation_Music_3"]


def test_offline_hub_failure_names_dataset_and_split(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(BenchmarkError, match=r"MathLLMs/MathVision.*'testmini'.*mathvision:testmini.*prefetch"):
        BENCHMARKS["mathvision"].records("testmini")


def test_specs_expand_to_the_paper_splits_and_bad_names_fail():
    labels = [f"{b.name}:{s}" for b, s in expand(["mathvista", "mathverse", "mathvision", "mmmu_pro", "synthetic"])]
    assert labels == [
        "mathvista:testmini",
        "mathverse:testmini",
        "mathvision:test",
        "mathvision:testmini",
        "mmmu_pro:standard (10 options)",
        "mmmu_pro:vision",
        "synthetic:test",
    ]
    assert resolve("mmmu_pro:standard10")[1] == "standard (10 options)"
    with pytest.raises(BenchmarkError, match="unknown benchmark 'mathvistaa'"):
        resolve("mathvistaa")
    with pytest.raises(BenchmarkError, match="no split 'test'.*testmini"):
        resolve("mathverse:test")


# ---------------------------------------------------------------------------------------------- MathVista
def test_mathvista_option_text_gold_becomes_a_letter_and_both_answers_grade():
    row = by_id(mathvista_rows(), "pid")["1"]
    record = to_record("mathvista", row)
    assert (record["answer"], record["answer_type"], record["options"][1]) == ("B", "multiple_choice", "equal to")
    assert record["question"].startswith("Hint:")  # the row's `query`, as the released eval sends it
    assert score_response("mathvista", row, five("A", "B"))["final_correct"]
    assert score_response("mathvista", row, "<answer>equal to</answer>")["final_correct"]
    assert not score_response("mathvista", row, "<answer>\\boxed{C}</answer>")["final_correct"]


def test_mathvista_float_is_rounded_to_the_rows_precision():
    row = by_id(mathvista_rows(), "pid")["2"]
    assert to_record("mathvista", row)["precision"] == 2
    assert score_response("mathvista", row, "<answer>\\boxed{1.449}</answer>")["final_correct"]
    assert not score_response("mathvista", row, "<answer>\\boxed{1.44}</answer>")["final_correct"]


def test_mathvista_gold_missing_from_choices_names_the_row():
    row = {**by_id(mathvista_rows(), "pid")["1"], "answer": "twice as large"}
    with pytest.raises(BenchmarkError, match=r"MathVista row '1'.*'twice as large'"):
        to_record("mathvista", row)


# ---------------------------------------------------------------------------------------------- MathVerse
def test_mathverse_hyphenated_types_and_inline_choices():
    rows = by_id(mathverse_rows(), "sample_index")
    text_dominant, vision_only, free = (to_record("mathverse", rows[k]) for k in ("1", "5", "6"))
    assert text_dominant["options"] == ["30°", "45°", "60°", "90°"] and text_dominant["answer"] == "C"
    assert vision_only["options"] == [] and vision_only["answer_type"] == "multiple_choice"
    assert (free["answer_type"], free["answer"]) == ("expression", "\\frac{5}{2}")
    assert score_response("mathverse", rows["1"], "<answer>\\boxed{60°}</answer>")["final_correct"]  # option text
    assert score_response("mathverse", rows["5"], "<answer>(C)</answer>")["final_correct"]
    assert score_response("mathverse", rows["6"], "<answer>\\boxed{2.5}</answer>")["final_correct"]


def test_mathverse_underscore_question_type_is_rejected():
    row = {**mathverse_rows()[0], "question_type": "multi_choice"}
    with pytest.raises(BenchmarkError, match=r"MathVerse row '1'.*'multi_choice'"):
        to_record("mathverse", row)


# ---------------------------------------------------------------------------------------------- MathVision
def test_mathvision_placeholder_real_and_missing_options():
    rows = by_id(mathvision_rows())
    placeholder, real, in_image, free = (to_record("mathvision:test", rows[k]) for k in ("1", "2", "3", "4"))
    assert placeholder["options"] == list("ABCDE") and "(A)" not in placeholder["question"]
    assert "(D) 12" in real["question"] and real["answer"] == "D"
    assert (in_image["answer_type"], in_image["answer"]) == ("multiple_choice", "B")
    assert free["answer_type"] == "expression"
    assert score_response("mathvision:test", rows["1"], "<answer>\\boxed{D}</answer>")["final_correct"]
    assert score_response("mathvision:test", rows["2"], "<answer>\\boxed{12}</answer>")["final_correct"]  # text
    assert score_response("mathvision:test", rows["4"], "<answer>\\boxed{2\\sqrt{3}}</answer>")["final_correct"]
    assert to_record("mathvision:test", rows["5"])["answer_type"] == "integer"


# ---------------------------------------------------------------------------------------------- MMMU-Pro
def test_mmmu_pro_stringified_options_seven_images_and_reference_order():
    physics, art = (to_record("mmmu_pro:standard10", r) for r in mmmu_standard_rows())
    assert len(physics["options"]) == 10 and physics["answer"] == "D"
    assert [i.getpixel((0, 0))[0] for i in physics["images"]] == [2, 1]  # <image 2> is referenced first
    assert len(art["images"]) == 7 and art["options"][6] == "Monet's"
    assert [i.getpixel((0, 0))[0] for i in art["images"]][:2] == [70, 10]  # question's <image 7>, then options'
    assert score_response("mmmu_pro:standard10", mmmu_standard_rows()[1], "<answer>\\boxed{G}</answer>")[
        "final_correct"
    ]


def test_mmmu_pro_vision_sends_an_instruction_and_keeps_options_for_grading():
    row = fixture_dataset("mmmu_pro", "vision")[0]
    record = to_record("mmmu_pro:vision", row)
    assert len(record["images"]) == 1 and "shown in the image" in record["question"] and len(record["options"]) == 4
    assert score_response("mmmu_pro:vision", row, "<answer>\\boxed{2}</answer>")["final_correct"]  # option text


def test_mmmu_pro_options_are_never_evaluated_and_unparsed_replies_are_wrong():
    with pytest.raises(BenchmarkError, match="not a list literal"):
        parse_option_list("__import__('os').system('echo pwned')", row_id="x")
    assert parse_option_list('["a", "b"]', row_id="x") == ["a", "b"]
    row = mmmu_standard_rows()[0]
    with pytest.raises(BenchmarkError, match=r"validation_Physics_1.*'K'"):
        to_record("mmmu_pro:standard10", {**row, "answer": "K"})
    for reply in ("I am not sure, it could be anything.", "A long reply that never commits to any option. " * 5):
        unparsed = score_response("mmmu_pro:standard10", row, reply)
        assert not unparsed["parsed"] and unparsed["final_correct"] is False  # no random letter


# ---------------------------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_and_prefix_stable():
    bench = BENCHMARKS["synthetic"]
    a, b = bench.records(limit=12), bench.records(limit=40)[:12]
    assert [r["id"] for r in a] == [r["id"] for r in b] and [r["answer"] for r in a] == [r["answer"] for r in b]
    assert {r["metadata"]["qtype"] for r in a} == {"sum", "average", "larger", "difference"}
    assert {r["metadata"]["difficulty_band"] for r in bench.records(limit=60)} == {"low", "mid", "high"}


# ---------------------------------------------------------------------------------------------- scoring
def test_first_and_final_answers_are_both_graded():
    row = mathvista_rows()[2]  # gold 12
    fixed = score_response("mathvista", row, five("\\boxed{11}", "\\boxed{12}"))
    assert (fixed["first_correct"], fixed["final_correct"], fixed["five_block"], fixed["unchanged"]) == (
        False,
        True,
        True,
        False,
    )
    broken = score_response("mathvista", row, five("\\boxed{12}", "\\boxed{13}"))
    assert (broken["first_correct"], broken["final_correct"]) == (True, False)
    no_tags = score_response("mathvista", row, "So the total is \\boxed{12}.")
    assert no_tags["first_correct"] is None and no_tags["final_correct"] and no_tags["parsed"]


def test_scoring_is_deterministic():
    rows = [("mathvista", r) for r in mathvista_rows()] + [("mathvision:test", r) for r in mathvision_rows()]
    replies = [
        five("\\boxed{B}", "\\boxed{12}"),
        "<answer>1.45</answer>",
        "the answer is (D)",
        "",
        "<answer></answer>",
    ]
    first = [score_response(b, r, t) for b, r in rows for t in replies]
    assert first == [score_response(b, r, t) for b, r in rows for t in replies]


# ---------------------------------------------------------------------------------------------- metrics
def _rec(i, first, final, unchanged=None, parsed=True, groups=None):
    return {
        "id": str(i),
        "first_correct": first,
        "final_correct": final,
        "parsed": parsed,
        "five_block": True,
        "unchanged": unchanged,
        "num_tokens": 10,
        "gen_s": 0.5,
        "finish_reason": "stop",
        "groups": groups or {},
    }


def test_fix_and_break_rates_condition_on_the_first_answer():
    recs = [
        _rec(0, False, True, False),
        _rec(1, False, False, True),
        _rec(2, True, True, True),
        _rec(3, True, False, False),
        _rec(4, None, False, parsed=False),
    ]
    m = compute_metrics(recs)
    assert (m["final_acc"], m["first_acc"], m["fix_rate"], m["break_rate"]) == (0.4, 0.4, 0.5, 0.5)
    assert (m["unchanged_rate"], m["parse_fail_rate"], m["n_first_answer"]) == (0.5, 0.2, 4)
    assert m["tokens_per_s"] == 20.0 and m["wall_s"] == 2.5
    assert compute_metrics([_rec(0, True, True, True)])["fix_rate"] is None  # no wrong first answer: undefined


def test_breakdowns_handle_multi_label_keys():
    recs = [_rec(0, True, True, groups={"skills": ["a", "b"]}), _rec(1, False, False, groups={"skills": ["b"]})]
    parts = breakdowns(recs, ["skills", "absent"])
    assert parts["skills"]["a"]["n"] == 1 and parts["skills"]["b"]["final_acc"] == 0.5 and "absent" not in parts
