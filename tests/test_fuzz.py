"""Adversarial strings against the parser, the grader and the reward: no exception, no hang, sane values.

Hypothesis runs derandomised and without its example database, so CI sees the same examples every time.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srpo import rewards
from srpo.formats import FIVE_BLOCKS, last_boxed, parse_completion
from srpo.grading import extract_final_answer, find_answers, grade_answer
from srpo.rewards import score_completion

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
PIECES = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<reflection>",
    "</reflection>",
    "<think",
    "answer>",
    "\\boxed{",
    "\\boxed",
    "{",
    "}",
    "\\frac{",
    "\\sqrt",
    "^",
    "^{",
    "10",
    "9",
    "x",
    "=",
    "(",
    ")",
    "[",
    "]",
    ",",
    "!",
    "A",
    "(B)",
    "Answer: ",
    "$",
    "\\text{",
    "%",
    "°",
    "−",
    " ",
    "\n",
    "é",
    "🙂",
    "\x00",
    "\u202e",
]
adversarial = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
GOLDS = st.sampled_from(
    [
        "4",
        "-3",
        "4.5",
        "A",
        "J",
        "8/11",
        "\\frac{1}{2}",
        "2\\sqrt{3}",
        "y = 2x + 1",
        "(2, 3)",
        "yes",
        "",
        "\\frac{",
        "x > 2",
    ]
)
TYPES = st.sampled_from([None, "multiple_choice", "integer", "float", "expression", "text"])
OPTIONS = st.sampled_from([None, [], ["1", "2", "3"], "['$6', '$7']", ["A", "B", "C", "D", "E"]])


@FUZZ
@given(adversarial)
def test_parser(text):
    parsed = parse_completion(text)
    names = tuple(b.name for b in parsed.blocks)
    assert not parsed.is_five_block or names == FIVE_BLOCKS
    assert not parsed.is_single_pass or names == ("think", "answer")
    assert not (parsed.is_five_block and parsed.is_single_pass)
    assert all(isinstance(a, str) for a in parsed.answers)
    boxed = last_boxed(text)
    assert boxed is None or boxed in text


@FUZZ
@given(adversarial, GOLDS, TYPES, OPTIONS, st.sampled_from([None, 0, 1, 2]))
def test_grader(prediction, gold, answer_type, options, precision):
    verdict = grade_answer(prediction, gold, options=options, answer_type=answer_type, precision=precision)
    assert verdict in (True, False)
    answer = extract_final_answer(prediction)
    assert answer is None or isinstance(answer, str)


@FUZZ
@given(adversarial)
def test_extraction(reply):
    found = find_answers(reply)
    for answer in (found.first, found.final):
        assert (answer.text is None) == (answer.rule == "none") and isinstance(answer.rule, str)


BOUNDS = {"paper": (-0.25, 1.6), "released": (0.0, 1.6), "grpo_baseline": (0.0, 1.5)}


@FUZZ
@given(adversarial, GOLDS, st.sampled_from(list(BOUNDS)), TYPES, OPTIONS)
def test_reward(completion, gold, variant, answer_type, options):
    s = score_completion(completion, gold, count_tokens=len, variant=variant, answer_type=answer_type, options=options)
    low, high = BOUNDS[variant]
    assert low - 1e-9 <= s["total"] <= high + 1e-9
    assert s["total"] == pytest.approx(sum(s[k] for k in rewards.COMPONENTS))
    assert s["format"] in (0.0, 0.5) and s["well_formed"] in (True, False)


MEGABYTE = 1 << 20
HUGE = [
    "<think>" * (MEGABYTE // 7),
    "{" * MEGABYTE + "\\boxed{1",
    "\\boxed{" * (MEGABYTE // 7) + "}" * 1000,
    "<think>" + "x" * MEGABYTE + "</think><answer>\\boxed{" + "9^" * 5000 + "9}</answer>",
    ("<think>a</think><answer>1</answer>" * (MEGABYTE // 34)),
    "<answer>" + "(" * MEGABYTE + "</answer>",
    "Answer: " + "A " * (MEGABYTE // 2),
    "🙂" * (MEGABYTE // 4),
]


@pytest.mark.timeout(120)  # a hang fails here instead of blocking the suite; not a speed target
@pytest.mark.parametrize("text", HUGE, ids=[f"huge{i}" for i in range(len(HUGE))])
def test_megabyte_inputs(text):
    parse_completion(text)
    extract_final_answer(text)
    for answer_type in (None, "expression", "integer", "multiple_choice"):
        assert grade_answer(text, "1", answer_type=answer_type, options=["1", "2"]) in (True, False)
    for variant in BOUNDS:
        s = score_completion(text, "1", count_tokens=len, variant=variant)
        assert BOUNDS[variant][0] <= s["total"] <= BOUNDS[variant][1]
