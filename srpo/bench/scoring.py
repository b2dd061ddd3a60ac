"""Rule-based scoring of one response against one record: first answer, final answer, both graded.

SRPO's answer is the LAST ``<answer>`` block; the released eval scripts grade the FIRST, so both are graded
and reported. Which text is the answer is decided by ``srpo.grading.find_answers`` (the same function the
reward uses, so reward and benchmark never read a block differently); a reply without answer blocks (a
base model) still gets a final answer, but no first answer. Equivalence is ``srpo.grading.grade_answer``.

``parsed`` is False when no final answer was found, or, for a multiple-choice question, when it names no
option. Such replies are graded wrong and counted (``parse_fail_rate``: no answer found); the official MMMU-Pro
parser would pick a random letter instead. ``final_rule`` names the extraction rule that decided.
"""

from __future__ import annotations

from srpo import grading
from srpo.formats import parse_completion
from srpo.grading.choices import parse_options
from srpo.grading.normalize import clean

SCORER = "rule"


def grade(prediction: str | None, record: dict) -> bool:
    if prediction is None or not str(prediction).strip():
        return False
    return bool(grading.grade_answer(prediction, record["answer"], options=record.get("options") or None,
                                     answer_type=record.get("answer_type"), precision=record.get("precision")))  # fmt: skip


def score_record(record: dict, response: str) -> dict:
    """Grade ``response`` against ``record`` (common schema). Deterministic: no sampling, no model calls."""
    found = grading.find_answers(response or "")
    first, final = found.first.text, found.final.text
    return {
        "first_answer": first,
        "final_answer": final,
        "prediction": final,
        "final_rule": found.final.rule,
        "parsed": is_parsed(final, record),
        "first_correct": None if first is None else grade(first, record),
        "final_correct": grade(final, record),
        "unchanged": None if first is None else _same(first, final),
        "five_block": parse_completion(response or "").is_five_block,
        "n_answers": found.n_blocks,
        "scorer": SCORER,
    }


def is_parsed(prediction: str | None, record: dict) -> bool:
    if prediction is None or not prediction.strip():
        return False
    if record.get("answer_type") != "multiple_choice":
        return True
    options = parse_options(record.get("options") or None)
    return grading.chosen_letter(clean(prediction), options) is not None


def _same(a: str | None, b: str | None) -> bool:
    return " ".join(str(a).split()) == " ".join(str(b).split())
