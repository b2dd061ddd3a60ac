"""MMMU-Pro (``MMMU/MMMU_Pro``: "standard (10 options)" and "vision", 1,730 rows each; docs/paper_vs_release.md).

Row quirks handled here:

* ``options`` is a STRINGIFIED Python list (``"['0.5', '1']"``), parsed with ``ast.literal_eval`` / json,
  never ``eval``; golds are letters A-J;
* the standard setting has up to seven images in ``image_1`` .. ``image_7`` (empty ones are None),
  referred to in the text as ``<image k>``: images are sent in the order of their first reference, then any
  unreferenced ones;
* the vision setting has one screenshot (``image``) holding question and options: the text sent is only
  an instruction, and the options are kept for grading;
* the official parser picks a RANDOM letter when it cannot parse a reply; here an unparsed reply is wrong
  and counted (``parse_fail_rate``).

Breakdown: ``subject`` (30 subjects). The official overall number is the mean of the two settings.
"""

from __future__ import annotations

import re

from srpo.bench.base import Benchmark, BenchmarkError, check_gold_letter, make_record, options_block, parse_option_list

MAX_IMAGES = 7
VISION_INSTRUCTION = "Answer the multiple-choice question shown in the image with the letter of the correct option."
STANDARD_INSTRUCTION = "Answer with the letter of the correct option."
_IMAGE_REF = re.compile(r"<image (\d+)>")


def image_order(text: str, present: list[int]) -> list[int]:
    """Image numbers in order of first reference in ``text``, then the unreferenced ones in ``present``.

    >>> image_order("compare <image 2> with <image 1> and <image 2>", [1, 2, 3])
    [2, 1, 3]
    """
    order = []
    for m in _IMAGE_REF.finditer(text):
        k = int(m.group(1))
        if k in present and k not in order:
            order.append(k)
    return order + [k for k in present if k not in order]


def to_record(row: dict, split: str = "standard (10 options)") -> dict:
    rid = str(row["id"])
    options = parse_option_list(row.get("options"), row_id=rid)
    if not options:
        raise BenchmarkError(f"MMMU-Pro row {rid!r}: column 'options' is empty")
    answer = check_gold_letter(row["answer"], len(options), row_id=rid)
    meta = {"subject": row.get("subject")}
    if split == "vision":
        images, question = [row.get("image")], VISION_INSTRUCTION
    else:
        present = [k for k in range(1, MAX_IMAGES + 1) if row.get(f"image_{k}") is not None]
        text = f"{row['question']}\n{options_block(options, '{letter}. {text}')}"
        images = [row[f"image_{k}"] for k in image_order(text, present)]
        question = f"{text}\n{STANDARD_INSTRUCTION}"
        meta.update(topic_difficulty=row.get("topic_difficulty"), img_type=row.get("img_type"))
    return make_record(
        id=rid,
        source=f"mmmu_pro:{split}",
        images=images,
        question=question,
        options=options,
        answer=answer,
        answer_type="multiple_choice",
        metadata=meta,
    )


BENCHMARK = Benchmark(
    name="mmmu_pro",
    title="MMMU-Pro",
    hub_id="MMMU/MMMU_Pro",
    splits={
        "standard (10 options)": ("standard (10 options)", "test"),
        "vision": ("vision", "test"),
        "standard (4 options)": ("standard (4 options)", "test"),
    },
    default_splits=("standard (10 options)", "vision"),
    breakdowns=("subject",),
    to_record=to_record,
    aliases={"standard10": "standard (10 options)", "standard4": "standard (4 options)"},
)
