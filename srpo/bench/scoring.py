"""Rule-based scoring of one response against one record: first answer, final answer, both graded.

SRPO's answer is the LAST ``<answer>`` block; the released eval scripts grade the FIRST
(docs/paper_vs_release.md, row "Eval answer"), so
both are graded and reported. A reply without any answer block still gets a final answer from
``srpo.grading.extract_final_answer`` (a base model may ignore the tags), but no first answer.
Equivalence is ``srpo.grading.grade_answer``; this module only decides WHICH text is graded.

``parsed`` is False when there is no final answer, or, for a multiple-choice question, when the final
answer names no option (neither a letter in a recognised shape nor an option's text). Such replies are
graded wrong and counted; the official MMMU-Pro parser would pick a random letter instead.
"""

from __future__ import annotations

from srpo import formats

SCORER = "rule"


def _grading():
    from srpo import grading  # written beside this package; imported late so a missing grader names itself

    return grading


def answer_text(block: str) -> str | None:
    """The answer an answer block gives: its last ``\\boxed{}``, else what the grader extracts, else its text."""
    boxed = formats.last_boxed(block)
    if boxed is not None:
        return boxed
    return _grading().extract_final_answer(block) or block.strip() or None


def grade(prediction: str | None, record: dict) -> bool:
    if prediction is None or not str(prediction).strip():
        return False
    return bool(_grading().grade_answer(prediction, record["answer"], options=record.get("options") or None,
                                        answer_type=record.get("answer_type"), precision=record.get("precision")))  # fmt: skip


def score_record(record: dict, response: str) -> dict:
    """Grade ``response`` against ``record`` (common schema). Deterministic: no sampling, no model calls."""
    parsed = formats.parse_completion(response or "")
    blocks = [b.content for b in parsed.blocks if b.name == "answer"]
    if blocks:
        first, final = answer_text(blocks[0]), answer_text(blocks[-1])
    else:
        first, final = None, _grading().extract_final_answer(response or "")
    return {
        "first_answer": first,
        "final_answer": final,
        "prediction": final,
        "parsed": is_parsed(final, record),
        "first_correct": None if first is None else grade(first, record),
        "final_correct": grade(final, record),
        "unchanged": None if first is None else _same(first, final),
        "five_block": parsed.is_five_block,
        "n_answers": len(blocks),
        "scorer": SCORER,
    }


def is_parsed(prediction: str | None, record: dict) -> bool:
    if prediction is None or not prediction.strip():
        return False
    if record.get("answer_type") != "multiple_choice":
        return True
    from srpo.choices import match_option, parse_options, predicted_letter
    from srpo.normalize import clean

    pred, options = clean(prediction), parse_options(record.get("options") or None)
    return predicted_letter(pred, options) is not None or match_option(pred, options) is not None


def _same(a: str | None, b: str | None) -> bool:
    return " ".join(str(a).split()) == " ".join(str(b).split())
