"""MathVista testmini (``AI4Math/MathVista``, 1,000 rows; paper Table 1).

Row quirks handled here:

* multiple-choice golds are the option TEXT (``answer="larger than"``, ``choices=[...]``): the record's
  gold becomes the LETTER of that option, and the options travel with it, so a model may answer with the
  letter or the text;
* ``answer_type`` is integer / float / text / list; floats carry ``precision`` (decimals, stored as a float
  such as ``1.0``) and the prediction is compared after rounding to it;
* the prompt text is the row's ``query`` (hint + question + choices), as the released eval scripts send it.

Breakdowns: ``category`` (math-targeted-vqa / general-vqa), ``task`` and ``skills`` (a row has several).
"""

from __future__ import annotations

from srpo.bench.base import Benchmark, BenchmarkError, make_record, option_letter

ANSWER_TYPES = {"integer": "integer", "float": "float", "text": "text", "list": "expression"}


def gold_letter(answer: str, choices: list[str], *, row_id: str) -> str:
    """The letter of the option whose text is the gold (exact match first, then ignoring case/space)."""
    if answer in choices:
        return option_letter(choices.index(answer))
    folded = [" ".join(c.split()).lower() for c in choices]
    key = " ".join(str(answer).split()).lower()
    if key in folded:
        return option_letter(folded.index(key))
    raise BenchmarkError(f"MathVista row {row_id!r}: answer {answer!r} is not one of the choices {choices}")


def to_record(row: dict, split: str = "testmini") -> dict:
    pid = str(row["pid"])
    meta = row.get("metadata") or {}
    choices = [str(c) for c in (row.get("choices") or [])]
    if row.get("question_type") == "multi_choice":
        if not choices:
            raise BenchmarkError(f"MathVista row {pid!r}: question_type multi_choice but column 'choices' is empty")
        answer, answer_type, precision = gold_letter(str(row["answer"]), choices, row_id=pid), "multiple_choice", None
    else:
        raw_type = row.get("answer_type")
        if raw_type not in ANSWER_TYPES:
            raise BenchmarkError(f"MathVista row {pid!r}: unknown answer_type {raw_type!r}")
        answer, answer_type, choices = str(row["answer"]), ANSWER_TYPES[raw_type], []
        precision = int(row["precision"]) if raw_type == "float" and row.get("precision") is not None else None
    return make_record(
        id=pid,
        source=f"mathvista:{split}",
        images=[row.get("decoded_image")],
        question=row.get("query") or row["question"],
        options=choices,
        answer=answer,
        answer_type=answer_type,
        precision=precision,
        metadata={
            "category": meta.get("category"),
            "task": meta.get("task"),
            "skills": list(meta.get("skills") or []),
            "unit": row.get("unit"),
            "gold_text": str(row["answer"]),
        },
    )


BENCHMARK = Benchmark(
    name="mathvista",
    title="MathVista",
    hub_id="AI4Math/MathVista",
    splits={"testmini": (None, "testmini")},
    default_splits=("testmini",),
    breakdowns=("category", "task", "skills"),
    to_record=to_record,
)
