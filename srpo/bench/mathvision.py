"""MathVision (``MathLLMs/MathVision``: test 3,040, testmini 304; paper Table 1).

Row quirks handled here:

* ``options`` holds real option texts, the placeholder list ``["A", "B", "C", "D", "E"]`` (the options are
  drawn in the image), or nothing; golds of multiple-choice rows are letters A-E. Placeholder options are
  kept as the letters themselves (so the grader knows the valid range) and are not written into the
  question; real texts are appended as ``(A) ...`` lines, as the released eval script does;
* a row with no options but a single-letter gold is multiple choice with its options in the image;
* free-form golds carry no type: integer / float / expression is inferred from the gold.

Breakdowns: ``subject`` (16 subjects) and ``level`` (1-5).
"""

from __future__ import annotations

from srpo.bench.base import Benchmark, check_gold_letter, infer_answer_type, make_record, option_letter, options_block


def is_placeholder(options: list[str]) -> bool:
    """True when the options are just their own letters (A, B, C, ...)."""
    labels = [o.strip().strip("()") for o in options]
    return bool(options) and labels == [option_letter(i) for i in range(len(options))]


def to_record(row: dict, split: str = "test") -> dict:
    rid = str(row["id"])
    options = [str(o) for o in (row.get("options") or [])]
    gold = str(row["answer"]).strip()
    question = row["question"]
    if options:
        if not is_placeholder(options):
            question = f"{question}\n{options_block(options)}"
        else:
            options = [option_letter(i) for i in range(len(options))]
        answer, answer_type = check_gold_letter(gold, len(options), row_id=rid), "multiple_choice"
    elif len(gold) == 1 and gold.upper() in "ABCDE":
        options, answer, answer_type = list("ABCDE"), gold.upper(), "multiple_choice"
    else:
        answer, answer_type = gold, infer_answer_type(gold)
    return make_record(
        id=rid,
        source=f"mathvision:{split}",
        images=[row.get("decoded_image")],
        question=question,
        options=options,
        answer=answer,
        answer_type=answer_type,
        metadata={"subject": row.get("subject"), "level": row.get("level")},
    )


BENCHMARK = Benchmark(
    name="mathvision",
    title="MathVision",
    hub_id="MathLLMs/MathVision",
    splits={"test": (None, "test"), "testmini": (None, "testmini")},
    default_splits=("test", "testmini"),
    breakdowns=("subject", "level"),
    to_record=to_record,
)
