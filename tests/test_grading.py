"""Answer grading in the four benchmarks' conventions (paper §4), and math-verify kept bounded."""

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
import yaml

from srpo import grading
from srpo.grading import extract_final_answer, grade_answer
from srpo.grading.choices import parse_options
from srpo.grading.equiv import WORKER, too_costly, with_deadline

CASES_FILE = Path(__file__).parent / "fixtures" / "grading_cases.yaml"
CASES = [(bench, case) for bench, cases in yaml.safe_load(CASES_FILE.read_text()).items() for case in cases]


def grade(case: dict) -> bool:
    return grade_answer(
        case["pred"],
        case["gold"],
        options=case.get("options"),
        answer_type=case.get("type"),
        precision=case.get("precision"),
    )


def test_case_file_covers_the_four_benchmarks():
    by_bench = {}
    for bench, case in CASES:
        by_bench.setdefault(bench, []).append(case["expect"])
    assert len(CASES) >= 150
    for bench in ("mathvista", "mathverse", "mathvision", "mmmu_pro"):
        assert len(by_bench[bench]) >= 25 and True in by_bench[bench] and False in by_bench[bench], bench


@pytest.mark.parametrize("bench,case", CASES, ids=[f"{b}-{i}" for i, (b, _) in enumerate(CASES)])
def test_labelled_case(bench, case):
    assert grade(case) is case["expect"], case


def test_same_verdicts_in_a_thread():
    """math-verify cannot use its signal timeouts outside the main thread; ours must not care."""
    grading.clear_caches()
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(lambda bc: grade(bc[1]), CASES))
    assert verdicts == [case["expect"] for _, case in CASES]


@pytest.mark.timeout(300)  # a hang fails here instead of blocking the suite; not a speed target
def test_math_verify_from_a_thread_uses_the_helper_process():
    """Outside the main thread the deadline cannot use signals: the helper process applies it instead."""
    grading.clear_caches()
    pairs = [("\\sin^2 x + \\cos^2 x", "1", True), ("\\log_2 8", "3", True), ("\\sin(x)^{99}", "\\cos(x)^{99}", False)]
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(lambda p: grade_answer(p[0], p[1], answer_type="expression"), pairs))
    assert verdicts == [expected for _, _, expected in pairs]
    assert WORKER._proc is not None and WORKER._proc.poll() is None
    WORKER.stop()
    assert WORKER.call("nonsense", 1) is None and WORKER.call("equal", "\\sqrt{4}", "2") is True


def _grade_in_child(args):
    return grade_answer(*args, answer_type="expression")


def test_grading_in_a_worker_process():
    with get_context("fork").Pool(1) as pool:
        assert pool.map(_grade_in_child, [("\\sqrt{12}", "2\\sqrt{3}"), ("(x-1)^2", "x^2+2x+1")]) == [True, False]


@pytest.mark.timeout(60)  # a hang fails here instead of blocking the suite; not a speed target
@pytest.mark.parametrize(
    "pred",
    [
        "10^{10^{10}}",
        "9^{9^{9}}",
        "100000!",
        "(x+1)^{10000}",
        "2^{2^{2^{2^{2}}}}",
        "\\int_0^1 x dx",
        "1" * 5000,
        "10**10**10",
        "\\frac{1}{0}",
        "0^0",
    ],
)
def test_costly_predictions_return(pred):
    for answer_type in ("expression", "integer", "float", None):
        assert grade_answer(pred, "10", answer_type=answer_type) is False
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(grade_answer, pred, "10", answer_type="expression").result() is False


def test_cost_screen():
    assert too_costly("10^{10^{10}}") and too_costly("x^{1000}") and too_costly("70!") and too_costly("\\sum_k k")
    assert not too_costly("x^{2}+2^{10}") and not too_costly("5!") and not too_costly("\\frac{\\sqrt{3}}{2}")


def _spin():
    while True:
        pass


def test_deadline_interrupts_and_restores_the_callers_timer():
    fired = []

    def callers_handler(*_):
        fired.append(True)

    previous = signal.signal(signal.SIGVTALRM, callers_handler)
    try:
        signal.setitimer(signal.ITIMER_VIRTUAL, 30.0)
        assert with_deadline(_spin, 0.05) is None  # interrupted after 50 ms of CPU time
        assert with_deadline(lambda: "done", 1.0) == "done"
        remaining, _ = signal.getitimer(signal.ITIMER_VIRTUAL)
        assert 20.0 < remaining <= 30.0 and not fired  # the caller's timer runs on, its handler is back
        assert signal.getsignal(signal.SIGVTALRM) is callers_handler
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def test_deadline_outside_the_main_thread_just_runs():
    result = []
    thread = threading.Thread(target=lambda: result.append(with_deadline(lambda: 7, 0.01)))
    thread.start()
    thread.join()
    assert result == [7]


def test_model_output_is_never_evaluated(tmp_path):
    target = tmp_path / "pwned"
    for pred in (f"open({str(target)!r}, 'w')", f"__import__('pathlib').Path({str(target)!r}).touch()"):
        for answer_type in (None, "expression", "integer"):
            assert grade_answer(pred, "1", answer_type=answer_type) is False
    assert not target.exists()


def test_unparseable_gold_never_correct():
    for gold in ("", "   ", "\\frac{", "}{", "???", None):
        for pred in ("", "5", "\\frac{", "A", "anything"):
            if gold is not None and gold.strip() and pred == gold:
                continue  # a verbatim copy of a non-empty gold is the one match allowed
            assert grade_answer(pred, gold) is False, (pred, gold)


def test_bad_grading_fields_name_the_problem():
    with pytest.raises(ValueError, match="answer_type"):
        grade_answer("1", "1", answer_type="number")
    with pytest.raises(ValueError, match="precision"):
        grade_answer("1", "1", answer_type="float", precision=1.5)
    with pytest.raises(ValueError, match="options"):
        grade_answer("A", "A", options="not a list")
    assert grade_answer("1.0", "1", answer_type="float", precision=float("nan"))  # pandas' missing value


def test_options_parsing():
    assert parse_options(None) == () and parse_options("") == ()
    assert parse_options('["a", "b"]') == ("a", "b") and parse_options("['$6', \"it's\"]") == ("$6", "it's")
    assert parse_options(("x", 1)) == ("x", "1")
    with pytest.raises(ValueError, match="not a list"):
        parse_options("__import__('os')")


def test_large_integers_are_exact():
    assert grade_answer("12345678901234567", "12345678901234567", answer_type="integer")
    assert not grade_answer("12345678901234568", "12345678901234567", answer_type="integer")


@pytest.mark.parametrize(
    "text,expected,rule",
    [
        (
            "<think>a</think><answer>3</answer><reflection>r</reflection><think>b</think><answer>4</answer>",
            "4",
            "tag:whole",
        ),
        ("<think>a</think><answer>\\boxed{3}</answer>", "3", "tag:box"),
        ("<answer>I think the answer is B</answer>", "B", "tag:answer_is"),
        ("Let me think. So the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}", "box"),
        ("The area is 12. Final answer: 12", "12", "label"),
        ("I believe the answer is (B).\nThanks", "(B)", "answer_is"),
        ("The answer is 60.\n\n\\boxed{60}", "60", "box"),
        ("The sum is $\\boxed{x+1}$ here.\n**Answer: D**", "D", "label"),
        ("**Answer:** There are 3 objects.", "There are 3 objects", "label"),
        ("Answer:\n\nB", "B", "label"),
        ("B", "B", "whole"),
        ("<answer>5", "5", "whole"),
        ("A long reply that never commits,\nrambling on and on.\nSo it is 7 m.", "So it is 7 m.", "last_sentence"),
        (
            "The dots form 3 groups. There are 4 in each.\n\nI hope this helps!</s>",
            "There are 4 in each.",
            "last_sentence",
        ),
        ("答案:D", "D", "label"),
        ("Thus the answer is\n\\[\n\\text{Answer: C}\n\\]", "C", "label"),
        ("The correct answer is:\n\\[ \\text{Answer: D} \\]", "D", "label"),
        ("", None, "none"),
        (None, None, "none"),
    ],
)
def test_find_answers_records_the_rule(text, expected, rule):
    found = grading.find_answers(text).final
    assert (found.text, found.rule) == (expected, rule)
    assert extract_final_answer(text) == expected


def test_no_fast_path_changes_math_verifys_verdict():
    """The former fast evaluator called these equal; math-verify (and so the grader) does not."""
    for pred, gold in [("\\sqrt{x^2}", "x"), ("\\ln(x^2)", "2\\ln x")]:
        assert grade_answer(pred, gold, answer_type="expression") is False
    for pred, gold in [("(x+1)^2", "x^2+2x+1"), ("2\\sqrt{3}", "\\sqrt{12}"), ("\\sin^2(x)+\\cos^2(x)", "1")]:
        assert grade_answer(pred, gold, answer_type="expression") is True
