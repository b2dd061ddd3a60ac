"""Rule-based scoring of one response against one record: first answer, final answer, both graded.

SRPO's answer is the LAST ``<answer>`` block; the released eval scripts grade the FIRST, so both are graded
and reported. Which text is the answer is decided by ``srpo.grading.find_answers`` (the same function the
reward uses, so reward and benchmark never read a block differently); a reply without answer blocks (a
base model) still gets a final answer, but no first answer. Equivalence is ``srpo.grading.grade_answer``.

``parsed`` is False when no final answer was found, or, for a multiple-choice question, when it names no
option. Such replies are graded wrong and counted (``parse_fail_rate``: no answer found); the official MMMU-Pro
parser would pick a random letter instead. ``final_rule`` names the extraction rule that decided.

A reply without answer blocks to a yes/no item that names neither option but restates the question,
affirmed or negated, answers it (``srpo.grading.yesno``, rule ``restated``).

MathVista records are graded with MathVista's documented letter-first rule (``srpo.grading.conventions``).
``mode="mathvista_nearest"`` adds its nearest-option mapping, for an answer the reply states (a tag, box,
"answer is", "Answer:" or the whole short reply) that names no option and is not a refusal; the default
mode never guesses. Neither mode credits an empty reply.
"""

from __future__ import annotations

from srpo import grading
from srpo.formats import parse_completion, without_end_of_turn
from srpo.grading.choices import parse_options
from srpo.grading.conventions import is_refusal, nearest_option
from srpo.grading.normalize import clean
from srpo.grading.yesno import question_of, restated_yes_no

SCORER = "rule"
MODES = ("default", "mathvista_nearest")
STATED_RULES = ("box", "answer_is", "label", "whole")  # and every tag:* rule: an answer the reply states


def convention_of(record: dict) -> str | None:
    """The grading convention of a record's benchmark: ``"mathvista"`` for MathVista records, else None."""
    return "mathvista" if str(record.get("source") or "").startswith("mathvista") else None


def grade(prediction: str | None, record: dict) -> bool:
    if prediction is None or not str(prediction).strip():
        return False
    return bool(
        grading.grade_answer(
            prediction,
            record["answer"],
            options=record.get("options") or None,
            answer_type=record.get("answer_type"),
            precision=record.get("precision"),
            convention=convention_of(record),
        )
    )


def score_record(record: dict, response: str, mode: str = "default") -> dict:
    """Grade ``response`` against ``record`` (common schema). Deterministic: no sampling, no model calls.
    ``mode``: one of ``MODES`` (module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; choose one of {MODES}")
    found = grading.find_answers(response or "")
    first, final = found.first.text, found.final.text
    rule, final_correct = found.final.rule, grade(final, record)
    parsed = is_parsed(final, record)
    if not parsed and found.n_blocks == 0 and _is_yes_no(record):  # prose restating a yes/no question
        said = restated_yes_no(question_of(record.get("question") or ""), without_end_of_turn(response or ""))
        if said is not None:
            final, rule, parsed, final_correct = said, "restated", True, grade(said, record)
    if mode == "mathvista_nearest" and not parsed and _nearest_applies(final, rule, record):
        letter = nearest_option(final, parse_options(record.get("options") or None))
        if letter is not None:
            rule, final_correct = f"{rule}+nearest", grade(letter, record)
    return {
        "first_answer": first,
        "final_answer": final,
        "prediction": final,
        "final_rule": rule,
        "parsed": parsed,
        "first_correct": None if first is None else grade(first, record),
        "final_correct": final_correct,
        "unchanged": None if first is None else _same(first, final),
        "five_block": parse_completion(response or "").is_five_block,
        "n_answers": found.n_blocks,
        "scorer": SCORER,
    }


def grade_extracted(extraction: str | None, record: dict) -> bool:
    """Grade an answer an LLM extracted (``srpo.bench.judge.ExtractThenCompare``) as MathVista's
    ``calculate_score.py`` does: letter first, and for MathVista an answer naming no option mapped to the
    nearest option, unless it is a refusal; never an empty answer."""
    if extraction is None or not extraction.strip():
        return False
    if not is_parsed(extraction, record) and _nearest_applies(extraction, "whole", record):
        letter = nearest_option(extraction, parse_options(record.get("options") or None))
        return letter is not None and grade(letter, record)
    return grade(extraction, record)


def _is_yes_no(record: dict) -> bool:
    options = parse_options(record.get("options") or None)
    return record.get("answer_type") == "multiple_choice" and sorted(o.strip().lower() for o in options) == [
        "no",
        "yes",
    ]


def _nearest_applies(final: str | None, rule: str, record: dict) -> bool:
    """MathVista's nearest-option mapping applies to a stated answer of a MathVista multiple-choice item that
    is not a refusal."""
    stated = rule.startswith("tag:") or rule in STATED_RULES
    return (
        convention_of(record) == "mathvista"
        and record.get("answer_type") == "multiple_choice"
        and stated
        and bool(final and final.strip())
        and not is_refusal(final)
    )


def is_parsed(prediction: str | None, record: dict) -> bool:
    if prediction is None or not prediction.strip():
        return False
    if record.get("answer_type") != "multiple_choice":
        return True
    options = parse_options(record.get("options") or None)
    return grading.chosen_letter(clean(prediction), options, convention_of(record)) is not None


def _same(a: str | None, b: str | None) -> bool:
    return " ".join(str(a).split()) == " ".join(str(b).split())
