"""The public bug reports of answer graders (tests 15 cases given with their right values), each through every
entry point that grades: the grader, the reward, the benchmark scorer, stage 02's correctness check and the
data adapters. ``CASES`` is a copy of the shared case file; when ``../shared/cases/`` is present its cases run
too, so that cases added there are checked without a copy. Each kind also has variants of our own below."""

import json
from pathlib import Path

import pytest

from srpo import bench, rewards
from srpo.bench.scoring import score_record
from srpo.data import filters
from srpo.data.sources import get_source
from srpo.data.sources.base import typed_answer
from srpo.grading import grade_answer
from srpo.reflection.attempts import grade_attempt

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "cases" / "grading_public_reports.json"

# why the formatter is off here: each case keeps the one-key-per-line layout of the shared JSON it mirrors
# fmt: off
CASES = [
 {
  "id": "mv26",
  "source": "huggingface/Math-Verify#26",
  "kind": "same line in general form vs slope form: the y= side is stripped on one side only, so an equation is compared with a bare expression",
  "function": "srpo.grading.grade_answer",
  "prediction": "2x+4y-3=0",
  "gold": "y = -\\frac{1}{2}x + \\frac{3}{4}",
  "options": None,
  "answer_type": "expression",
  "precision": None,
  "expected": True
 },
 {
  "id": "mv14c",
  "source": "huggingface/Math-Verify#14",
  "kind": "absolute tolerance 1e-12: two tiny values a factor 2 apart are equal",
  "function": "srpo.grading.grade_answer",
  "prediction": "\\frac{1}{2^{98}}",
  "gold": "\\frac{1}{2^{99}}",
  "options": None,
  "answer_type": "expression",
  "precision": None,
  "expected": False
 },
 {
  "id": "mv14g",
  "source": "huggingface/Math-Verify#14",
  "kind": "absolute tolerance 1e-12 on plain numbers (no answer_type)",
  "function": "srpo.grading.grade_answer",
  "prediction": "3.2 \\times 10^{-19}",
  "gold": "1.6 \\times 10^{-19}",
  "options": None,
  "answer_type": None,
  "precision": None,
  "expected": False
 },
 {
  "id": "mv69a",
  "source": "huggingface/Math-Verify#69",
  "kind": "pi written as plain text is read as the product p*i",
  "function": "srpo.grading.grade_answer",
  "prediction": "pi/2",
  "gold": "\\dfrac{\\pi}{2}",
  "options": None,
  "answer_type": "expression",
  "precision": None,
  "expected": True,
  "note": "lenient expectation: plain-text pi inside \\boxed{}"
 },
 {
  "id": "vlmek1591a",
  "source": "open-compass/VLMEvalKit#1591",
  "kind": "letter after a literal $ (echo of an 'Answer: $LETTER' template) is not read",
  "function": "srpo.grading.grade_answer",
  "prediction": "Answer: $B",
  "gold": "B",
  "options": [
   "0.5",
   "1",
   "1.5",
   "2",
   "2.5",
   "3",
   "3.5",
   "4",
   "4.5",
   "5"
  ],
  "answer_type": "multiple_choice",
  "precision": None,
  "expected": True
 },
 {
  "id": "vlmek1591b",
  "source": "open-compass/VLMEvalKit#1591",
  "kind": "same, through the MMMU-Pro scorer (no tags)",
  "function": "srpo.bench.score_response",
  "benchmark": "mmmu_pro:standard10",
  "row": {
   "id": "validation_Physics_9",
   "question": "What is the ratio? <image 1>",
   "options": "['0.5', '1', '1.5', '2', '2.5', '3', '3.5', '4', '4.5', '5']",
   "explanation": "",
   "image_1": None,
   "image_2": None,
   "image_3": None,
   "image_4": None,
   "image_5": None,
   "image_6": None,
   "image_7": None,
   "img_type": "['Diagrams']",
   "answer": "B",
   "topic_difficulty": "Medium",
   "subject": "Physics"
  },
  "response": "The ratio is 1.\nAnswer: $B",
  "field": "final_correct",
  "expected": True
 },
 {
  "id": "ins2216a",
  "source": "UKGovernmentBEIS/inspect_ai#2216 + jundot/omlx#3668",
  "kind": "the pronoun 'I' after 'Answer:' is read as option I (A-J options)",
  "function": "srpo.grading.grade_answer",
  "prediction": "Answer: I don't know",
  "gold": "I",
  "options": [
   "0.5",
   "1",
   "1.5",
   "2",
   "2.5",
   "3",
   "3.5",
   "4",
   "4.5",
   "5"
  ],
  "answer_type": "multiple_choice",
  "precision": None,
  "expected": False
 },
 {
  "id": "omlx3668",
  "source": "jundot/omlx#3668",
  "kind": "a stated 'the answer is X' inside an answer block is ignored by the reward (the benchmark scorer honours it)",
  "function": "srpo.rewards.score_completion",
  "completion": "<think>step one</think><answer>I think the answer is B</answer><reflection>check the steps</reflection><think>step two</think><answer>I think the answer is B</answer>",
  "gold": "B",
  "variant": "paper",
  "options": [
   "0.5",
   "1",
   "1.5",
   "2",
   "2.5",
   "3",
   "3.5",
   "4",
   "4.5",
   "5"
  ],
  "answer_type": "multiple_choice",
  "precision": None,
  "count_tokens": "whitespace",
  "field": "first_correct",
  "expected": True
 },
 {
  "id": "nemo1526",
  "source": "NVIDIA-NeMo/Skills#1526",
  "kind": "a \\boxed{} intermediate expression overrides the explicit final 'Answer: D'",
  "function": "srpo.bench.score_response",
  "benchmark": "mmmu_pro:standard10",
  "row": {
   "id": "validation_Physics_9",
   "question": "What is the ratio? <image 1>",
   "options": "['0.5', '1', '1.5', '2', '2.5', '3', '3.5', '4', '4.5', '5']",
   "explanation": "",
   "image_1": None,
   "image_2": None,
   "image_3": None,
   "image_4": None,
   "image_5": None,
   "image_6": None,
   "image_7": None,
   "img_type": "['Diagrams']",
   "answer": "D",
   "topic_difficulty": "Medium",
   "subject": "Physics"
  },
  "response": "The energy gap satisfies $\\boxed{\\Delta E \\gg k T}$, so only the ground state matters and the ratio is 2.\n**Answer: D**",
  "field": "final_correct",
  "expected": True
 },
 {
  "id": "lme4039a",
  "source": "EleutherAI/lm-evaluation-harness#4039",
  "kind": "bare digit tuple gold '0,1' fused into the integer '01' by the thousands-separator rule",
  "function": "srpo.data.sources.base.typed_answer",
  "answer": "0,1",
  "options": [],
  "expected_not": [
   "01",
   "integer",
   None
  ]
 },
 {
  "id": "lme4039b",
  "source": "EleutherAI/lm-evaluation-harness#4039",
  "kind": "same through the MATH adapter: a model answering '1' is rewarded, the right '0, 1' is not",
  "function": "srpo.data.sources.get_source('math').to_records",
  "row": {
   "problem": "List all solutions of x^2 = x.",
   "solution": "So $x \\in \\boxed{0,1}$."
  },
  "then": "grade_answer(pred, rec['answer'], answer_type=rec['answer_type'])",
  "expected": {
   "answer_not": "01",
   "grade('1')": False,
   "grade('0, 1')": True
  }
 },
 {
  "id": "vlt_geoqa_a",
  "source": "UCSC-VLAA/VL-Thinking README.md (GeoQA170K example)",
  "kind": "option texts written with the unicode radical '√{3}' (GeoQA style): an answer by value cannot be matched to its option",
  "function": "srpo.grading.grade_answer",
  "prediction": "\\frac{\\sqrt{3}}{3}",
  "gold": "C",
  "options": [
   "\\frac{1}{2}",
   "2",
   "\\frac{√{3}}{3}",
   "√{3}"
  ],
  "answer_type": "multiple_choice",
  "precision": None,
  "expected": True
 },
 {
  "id": "vlt_geoqa_c",
  "source": "UCSC-VLAA/VL-Thinking README.md (GeoQA170K example)",
  "kind": "unicode radical in a free-form gold",
  "function": "srpo.grading.grade_answer",
  "prediction": "2\\sqrt{3}",
  "gold": "2√{3}",
  "options": None,
  "answer_type": "expression",
  "precision": None,
  "expected": True
 },
 {
  "id": "sgrpo19",
  "source": "lsdefine/simple_GRPO#19",
  "kind": "a chat end-of-turn marker after the last block zeroes the format reward",
  "function": "srpo.rewards.score_completion",
  "completion": "<think>step one</think><answer>\\boxed{4}</answer><reflection>check the steps</reflection><think>step two</think><answer>\\boxed{4}</answer><|im_end|>",
  "gold": "4",
  "variant": "paper",
  "options": None,
  "answer_type": None,
  "precision": None,
  "count_tokens": "whitespace",
  "field": "format",
  "expected": 0.5,
  "note": "only when completions are decoded with special tokens (TRL's default skips them)"
 },
 {
  "id": "vlt_clevr",
  "source": "UCSC-VLAA/VL-Thinking README.md (CLEVR-Math example)",
  "kind": "final answer given as a sentence after a bold 'Answer:' label (no tags, no box)",
  "function": "srpo.bench.score_response",
  "benchmark": "mathvista",
  "row": {
   "pid": "900",
   "question": "How many?",
   "image": "x.jpg",
   "decoded_image": None,
   "choices": None,
   "unit": None,
   "precision": None,
   "answer": "3",
   "question_type": "free_form",
   "answer_type": "integer",
   "metadata": {
    "category": "math-targeted-vqa",
    "task": "x",
    "skills": []
   },
   "query": "How many?"
  },
  "response": "Removing the sphere leaves the three cylinders.\n\n**Answer:** There are 3 objects remaining.",
  "field": "final_correct",
  "expected": True,
  "note": "lenient expectation: untagged base-model reply"
 }
]
# fmt: on


def words(text: str) -> int:
    return len(text.split())


def run(case: dict):
    """The value the case's function returns for its inputs (the function named in the case)."""
    fn = case["function"]
    kind = {k: case.get(k) for k in ("options", "answer_type", "precision")}
    if fn == "srpo.grading.grade_answer":
        return grade_answer(case["prediction"], case["gold"], **kind)
    if fn == "srpo.bench.score_response":
        return bench.score_response(case["benchmark"], case["row"], case["response"])[case["field"]]
    if fn == "srpo.rewards.score_completion":
        return rewards.score_completion(
            case["completion"], case["gold"], variant=case["variant"], count_tokens=words, **kind
        )[case["field"]]
    if fn == "srpo.data.sources.base.typed_answer":
        return typed_answer(case["answer"], case["options"])
    if fn == "srpo.data.sources.get_source('math').to_records":
        (rec,) = get_source("math").to_records(case["row"])
        grade = lambda pred: grade_answer(pred, rec["answer"], answer_type=rec["answer_type"])  # noqa: E731
        return {"answer": rec["answer"], "grade('1')": grade("1"), "grade('0, 1')": grade("0, 1")}
    raise AssertionError(f"case {case['id']}: unknown function {fn}")


def check(case: dict) -> None:
    got = run(case)
    if "expected_not" in case:  # typed_answer: the gold is neither fused ("01") nor typed integer, nor dropped
        answer, answer_type, _ = got
        assert answer not in case["expected_not"] and answer_type not in case["expected_not"], got
    elif isinstance(case["expected"], dict) and "answer_not" in case["expected"]:
        assert got["answer"] != case["expected"]["answer_not"], got
        assert {k: v for k, v in got.items() if k != "answer"} == {
            k: v for k, v in case["expected"].items() if k != "answer_not"
        }
    else:
        assert got == case["expected"], (case["id"], got)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_public_case(case):
    check(case)


def _shared_cases() -> list:
    return json.loads(SHARED.read_text()) if SHARED.exists() else []


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/cases/ is not present (only in the development checkout)")
@pytest.mark.parametrize("case", _shared_cases(), ids=[c["id"] for c in _shared_cases()])
def test_shared_case_file(case):
    check(case)


# ------------------------------------------------------------------------------ every entry point that grades
def five(first: str, final: str) -> str:
    return (
        f"<think>a b</think><answer>{first}</answer><reflection>check</reflection>"
        f"<think>c d</think><answer>{final}</answer>"
    )


GRADE_CASES = [c for c in CASES if c["function"] == "srpo.grading.grade_answer"]


@pytest.mark.parametrize("case", GRADE_CASES, ids=[c["id"] for c in GRADE_CASES])
def test_grade_cases_hold_through_reward_benchmark_and_stage_02(case):
    pred, record = (
        case["prediction"],
        {
            "id": case["id"],
            "answer": case["gold"],
            "options": case["options"] or [],
            "answer_type": case["answer_type"],
            "precision": case["precision"],
        },
    )
    kind = {k: record[k] for k in ("options", "answer_type", "precision")}
    reward = rewards.score_completion(five(pred, pred), case["gold"], count_tokens=words, **kind)
    assert reward["first_correct"] is reward["final_correct"] is case["expected"]
    for reply in (five(pred, pred), f"Some working first.\n\nThe final answer is {pred}", pred):
        scored = score_record(record, reply)
        assert scored["final_correct"] is case["expected"], reply
    assert grade_attempt(record, f"<think>work</think><answer>{pred}</answer>")["correct"] is case["expected"]


# ------------------------------------------------------------------------------ more cases of each kind
@pytest.mark.parametrize(
    "pred,gold,answer_type,expected",
    [
        # relative, not absolute, tolerance for tiny magnitudes
        ("6.63 \\times 10^{-34}", "6.626 \\times 10^{-34}", None, False),
        ("1.6e-19", "1.6 \\times 10^{-19}", None, True),
        ("3.2 \\times 10^{-19}", "1.6 \\times 10^{-19}", "float", False),
        ("2^{-99}", "\\frac{1}{2^{99}}", "expression", True),
        ("0.000001", "0.000002", None, False),
        # the same line, relation or value in two forms
        ("x + y = 1", "y = 1 - x", "expression", True),
        ("2y = 4x + 2", "y = 2x + 1", "expression", True),
        ("y = 2x - 1", "y = 2x + 1", "expression", False),
        ("x = 5", "5", "expression", True),
        # unicode radical and plain-text pi
        ("\\frac{\\sqrt{2}}{2}", "√{2}/2", "expression", True),
        ("√2", "\\sqrt{2}", None, True),
        ("3√{3}", "\\sqrt{27}", "expression", True),
        ("2pi", "2\\pi", "expression", True),
        ("pi r^2", "\\pi r^2", "expression", True),
        ("pi/3", "\\frac{\\pi}{2}", "expression", False),
        # math-verify's verdicts, not a fast evaluator's
        ("\\sqrt{x^2}", "x", "expression", False),
        ("\\ln(x^2)", "2\\ln x", "expression", False),
    ],
)
def test_value_kinds(pred, gold, answer_type, expected):
    assert grade_answer(pred, gold, answer_type=answer_type) is expected


TEN = [str(x / 2) for x in range(1, 11)]


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("Answer: I don't know", "I", False),  # the pronoun I
        ("Answer: I think it is 2", "I", False),
        ("Answer: A lot of work gives 2", "A", False),
        ("Answer: I", "I", True),
        ("The answer is (I).", "I", True),
        ("Answer: $C$", "C", True),  # a letter wrapped in $
        ("Answer: $C", "C", True),
        ("Answer: $\\boxed{C}$", "C", True),
    ],
)
def test_letter_kinds(pred, gold, expected):
    assert grade_answer(pred, gold, options=TEN, answer_type="multiple_choice") is expected


def test_options_that_are_letters_are_never_read_as_the_gold():
    """MMMU-Pro/MathVision rows whose option texts are letters: the gold letter names a position."""
    options = ["D", "C", "A", "B"]
    assert grade_answer("A", "A", options=options, answer_type="multiple_choice")
    assert not grade_answer("C", "A", options=options, answer_type="multiple_choice")


@pytest.mark.parametrize(
    "reply,gold,expected",
    [
        ("The sum is $\\boxed{x + 1}$, so the ratio is 2.\nAnswer: C", "C", True),  # final Answer beats a box
        ("Answer: C\nWait, that is wrong: \\boxed{D}", "D", True),  # ... and a later box beats an Answer
        ("**Answer:** The answer is 2.5 metres.", "E", True),  # sentence after a bold label: option value
        ("**Final Answer:** (B) 1", "B", True),
        ("**Answer:** 3 and 4 both fit", "E", False),  # two numbers: no answer is read from the sentence
    ],
)
def test_untagged_replies(reply, gold, expected):
    record = {"id": "x", "answer": gold, "options": TEN, "answer_type": "multiple_choice", "precision": None}
    assert score_record(record, reply)["final_correct"] is expected


@pytest.mark.parametrize(
    "block", ["I think the answer is B", "Answer: B", "\\boxed{B}", "B", "(B) 1", "The final answer is $\\boxed{B}$."]
)
def test_reward_and_benchmark_read_every_block_alike(block):
    record = {"id": "x", "answer": "B", "options": TEN, "answer_type": "multiple_choice", "precision": None}
    reward = rewards.score_completion(
        five(block, block), "B", count_tokens=words, options=TEN, answer_type="multiple_choice"
    )
    scored = score_record(record, five(block, block))
    assert reward["first_correct"] is scored["first_correct"] is True
    assert reward["final_correct"] is scored["final_correct"] is True
    assert grade_attempt(record, f"<think>work</think><answer>{block}</answer>")["correct"] is True  # stage 02


@pytest.mark.parametrize("marker", ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<|im_end|>\n<|endoftext|>"])
def test_end_of_turn_marker_keeps_the_format_reward(marker):
    completion = five("\\boxed{4}", "\\boxed{4}") + marker
    assert rewards.score_completion(completion, "4", count_tokens=words)["format"] == 0.5
    stray = five("\\boxed{4}", "\\boxed{4}") + marker + " and more text"
    assert rewards.score_completion(stray, "4", count_tokens=words)["format"] == 0.0


@pytest.mark.parametrize(
    "gold,expected",
    [
        ("0,1", ("0,1", "expression")),
        ("1, 2, 3", ("1, 2, 3", "expression")),
        ("1,000", ("1000", "integer")),
        ("-12,345", ("-12345", "integer")),
    ],
)
def test_digit_tuples_are_not_fused_by_the_adapters(gold, expected):
    assert typed_answer(gold, [])[:2] == expected
    (rec,) = get_source("math").to_records({"problem": "p", "solution": f"So $\\boxed{{{gold}}}$."})
    assert (rec["answer"], rec["answer_type"]) == expected
    filters.check_gold(rec)  # the data filter accepts the gold: it grades equal to itself


@pytest.mark.parametrize(
    "reply,gold,options,expected",
    [
        ("Therefore, the length of AB is 3.0.", "C", ["1", "2", "3", "6"], True),  # a value in a sentence
        ("So the answer is C (Adult spider population would decrease).", "C", ["a", "b", "c d", "e f"], True),
        ("所以，∠A的度数为27°，选项为(C)。", "C", ["36°", "44°", "27°", "54°"], True),
        ("The answer is (D) 120°.", "D", ["98°", "100°", "104°", "108°"], False),  # the letter contradicts its value
        ("The answer is (A),(B),(C).", "A", ["A", "B", "C", "D"], False),  # several letters name no one option
        ("Without a diagram I cannot answer.", "A", ["A", "B", "C", "D"], False),  # the article "a" is no option
        ("So the answer is (A) \\sqrt{2}-1", "A", ["$\\sqrt{2}-1$", "$\\sqrt{3}-1$"], True),
    ],
)
def test_options_read_from_prose(reply, gold, options, expected):
    record = {"id": "x", "answer": gold, "options": options, "answer_type": "multiple_choice", "precision": None}
    assert score_record(record, reply)["final_correct"] is expected


def test_sentence_answers_in_free_form_benchmarks():
    row = {**CASES[-1]["row"], "answer": "12"}
    assert bench.score_response("mathvista", row, "**Answer:** The answer is 12 cm.")["final_correct"]
    assert not bench.score_response("mathvista", row, "**Answer:** 12 or 13")["final_correct"]
    assert bench.score_response("mathvista", row, "There are 12 items sold below 5 units.")["final_correct"]
    assert bench.score_response("mathvista", row, "So, the perimeter is 2(4 + 2) = 12.")["final_correct"]
    assert bench.score_response("mathvista", row, "The total is **12 cm**.\n\nIs there anything else?")[
        "final_correct"
    ]


# Variants of the cases' kinds found by a new user (not in the shared file): each whole kind, not one instance.
TEN = ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]


@pytest.mark.parametrize(
    "prediction, gold, expected",
    [
        ("I.e. the ratio is 2, so D.", "I", False),  # an abbreviation is not option I
        ("E.g. the ratio is 2", "E", False),
        ("A.k.a. option 2", "A", False),
        ("Answer: E.g. the ratio is 2", "E", False),
        ("Answer: J. K. Rowling", "J", False),  # initials are not option J
        ("Answer: \\$B", "B", True),  # an escaped dollar before the letter
        ("Answer: (b)", "B", True),  # a lowercase letter in parentheses after the label
        ("Answer: C. The ratio is 1.5", "C", True),  # a real label followed by a sentence still counts
    ],
)
def test_letter_variants_of_the_cases_kinds(prediction, gold, expected):
    assert grade_answer(prediction, gold, options=TEN, answer_type="multiple_choice") is expected


@pytest.mark.parametrize("marker", ["<|end|>", "<|eot|>", "<eos>", "<｜end▁of▁sentence｜>", "</s>", "<|im_end|>\n"])
def test_any_end_of_turn_marker_keeps_the_format_reward(marker):
    from srpo.rewards import score_completion

    blocks = "<think>a</think><answer>\\boxed{4}</answer><reflection>b</reflection><think>c</think><answer>\\boxed{4}</answer>"
    score = score_completion(blocks + marker, "4", count_tokens=lambda t: len(t.split()), variant="paper")
    assert score["format"] == 0.5
    assert score_completion(blocks + " and more", "4", count_tokens=lambda t: len(t.split()))["format"] == 0.0
