"""The SFT pool (paper §3.1: 100K questions drawn from Mulberry-SFT, MathV360K and LLaVA-CoT-100K).

All three ship raw JSON next to an image archive; images are file paths into the unpacked archive
(``image_root/<source>/``). Only the question, the image and the gold answer are used: the policy writes its
own first attempt in stage 02. The source's own chain of thought is kept in ``metadata.source_cot`` for
people reading the data.

* Mulberry-SFT (``HuanjinYao/Mulberry-SFT``): LLaMA-Factory ``sharegpt`` layout, ``messages`` (user /
  assistant) + ``images`` (paths), per the Mulberry README's dataset_info entry. The gold answer is the
  reasoning's final "The final answer is: ..." line. The card itself was not readable from here.
* LLaVA-CoT-100k (``Xkev/LLaVA-CoT-100k``): ``train.jsonl`` with ``id``, ``image`` (path), ``conversations``
  (``from`` human / gpt); the gold answer is the ``<CONCLUSION>`` block (card checked; images in
  ``image.zip.part-*``).
* MathV360K (``Zhiqiang007/MathV360K``): ``train_samples_all_tuning.json`` in the LLaVA layout ``id``,
  ``image``, ``conversations``; the gpt turn is the answer, often "Answer: ..." (layout checked on a mirror's
  card, steven16/MathV360K; images in ``data_images.zip``).
"""

from __future__ import annotations

import re

from srpo.data.sources.base import (
    RowRejected,
    SourceSpec,
    first_turn,
    gold_from_text,
    images_of,
    record,
    require,
    row_id,
    split_options,
)

_CONCLUSION = re.compile(r"<CONCLUSION>(.*?)</CONCLUSION>", re.DOTALL | re.IGNORECASE)


def _chat_record(spec: SourceSpec, row: dict, messages, images, gold_of) -> list[dict]:
    _, user, assistant = first_turn(messages)
    if user is None or assistant is None:
        raise RowRejected("malformed_chat", "no user turn followed by an assistant turn")
    stem, options = split_options(user)
    return [
        record(
            spec, row_id(spec, row, "id"), images_of(images), stem, gold_of(assistant), options, source_cot=assistant
        )
    ]


def mulberry_sft(row: dict, spec: SourceSpec) -> list[dict]:
    return _chat_record(spec, row, require(row, "messages", spec), require(row, "images", spec), gold_from_text)


def llava_cot(row: dict, spec: SourceSpec) -> list[dict]:
    def conclusion(text: str) -> str:
        found = _CONCLUSION.findall(text or "")
        if not found:
            raise RowRejected("missing_answer", "no <CONCLUSION> block in the gpt turn")
        return found[-1].strip()

    return _chat_record(spec, row, require(row, "conversations", spec), require(row, "image", spec), conclusion)


def mathv360k(row: dict, spec: SourceSpec) -> list[dict]:
    return _chat_record(spec, row, require(row, "conversations", spec), require(row, "image", spec), gold_from_text)


SPECS = [
    SourceSpec(
        "mulberry_sft",
        "HuanjinYao/Mulberry-SFT",
        "train",
        ("messages", "images"),
        mulberry_sft,
        family="sft",
        file_format="json",
        images="paths",
        verified=False,
        paper="§3.1 (Mulberry-SFT, 260K)",
        note="layout from the Mulberry README's LLaMA-Factory entry; final-answer phrase assumed",
    ),
    SourceSpec(
        "llava_cot_100k",
        "Xkev/LLaVA-CoT-100k",
        "train",
        ("image", "conversations"),
        llava_cot,
        family="sft",
        data_files="train.jsonl",
        file_format="json",
        images="paths",
        paper="§3.1 (LLaVA-CoT-100K)",
    ),
    SourceSpec(
        "mathv360k",
        "Zhiqiang007/MathV360K",
        "train",
        ("image", "conversations"),
        mathv360k,
        family="sft",
        data_files="train_samples_all_tuning.json",
        file_format="json",
        images="paths",
        verified=False,
        paper="§3.1 (MathV360K)",
        note="columns checked on the steven16/MathV360K mirror card, not on Zhiqiang007's",
    ),
]
