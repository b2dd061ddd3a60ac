"""MathVerse testmini (``AI4Math/MathVerse``, 3,940 rows = 788 problems x 5 versions; paper Table 1).

Row quirks handled here:

* ``question_type`` is ``multi-choice`` or ``free-form`` (hyphens, unlike MathVista's underscores);
* multiple-choice golds are letters, and the options exist only inside the question text (``Choices:
  A:... B:...``) or, in the vision-heavy versions, only in the image: options are read from the text when
  they are there, so an answer by option text can be graded, and are empty otherwise;
* the prompt text is ``query_cot`` (what the released SRPO eval sends), falling back to ``question``.

Breakdowns: ``problem_version`` (Text Dominant, Text Lite, Vision Intensive, Vision Dominant, Vision Only:
the paper's per-version table), ``subject`` and ``question_type``.
"""

from __future__ import annotations

import re

from srpo.bench.base import Benchmark, BenchmarkError, check_gold_letter, infer_answer_type, make_record

VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
_CHOICE_LINE = re.compile(r"^\s*(?:\(([A-H])\)|([A-H])\s*[:.)])\s*(.+?)\s*$")


def inline_choices(text: str) -> list[str]:
    """Option texts listed after ``Choices:`` as ``A:...`` / ``(A) ...`` / ``A. ...`` lines, in order from A.

    >>> inline_choices("Find x.\\nChoices:\\nA:2\\nB:4.5\\nC:6")
    ['2', '4.5', '6']
    >>> inline_choices("Choices:\\n(A) 1 cm\\n(B) 2 cm")
    ['1 cm', '2 cm']
    >>> inline_choices("Find x.")
    []
    """
    _, sep, tail = (text or "").partition("Choices:")
    if not sep:
        return []
    options = []
    for line in tail.splitlines():
        m = _CHOICE_LINE.match(line)
        if not m:
            if options and line.strip():
                break
            continue
        if (m.group(1) or m.group(2)) != "ABCDEFGH"[len(options)]:
            break
        options.append(m.group(3))
    return options


def to_record(row: dict, split: str = "testmini") -> dict:
    sid = str(row["sample_index"])
    meta = row.get("metadata") or {}
    qtype = row.get("question_type")
    if qtype not in ("multi-choice", "free-form"):
        raise BenchmarkError(f"MathVerse row {sid!r}: question_type {qtype!r} is not 'multi-choice' or 'free-form'")
    gold = str(row["answer"]).strip()
    if qtype == "multi-choice":
        options = inline_choices(row.get("question") or "")
        answer = check_gold_letter(gold, len(options) or 8, row_id=sid)
        answer_type = "multiple_choice"
    else:
        options, answer, answer_type = [], gold, infer_answer_type(gold)
    return make_record(
        id=sid,
        source=f"mathverse:{split}",
        images=[row.get("image")],
        question=row.get("query_cot") or row.get("question") or "",
        options=options,
        answer=answer,
        answer_type=answer_type,
        metadata={
            "problem_version": row.get("problem_version"),
            "problem_index": str(row.get("problem_index")),
            "subject": meta.get("subject"),
            "subfield": meta.get("subfield"),
            "question_type": qtype,
        },
    )


BENCHMARK = Benchmark(
    name="mathverse",
    title="MathVerse",
    hub_id="AI4Math/MathVerse",
    splits={"testmini": ("testmini", "testmini")},
    default_splits=("testmini",),
    breakdowns=("problem_version", "subject", "question_type"),
    to_record=to_record,
)
