"""The authors' released data (docs/paper_vs_release.md, row "Data sizes"): the shortest path to reproducing the paper.

* ``srpo_sft_released`` — ``SRPOMLLMs/srpo-sft-data``, the reflection SFT set itself. The release trains on it
  with LLaMA-Factory as a ``sharegpt`` dataset with columns ``messages`` (roles system / user / assistant) and
  ``images`` (file paths), per the ``sft_train_reflection`` entry of the release's
  ``srpo_sft/LLaMA-Factory/data/dataset_info.json``. The assistant turn is the full SFT target
  (``<think>CoT</think><answer>A1</answer><reflection>F</reflection><answer>GT</answer>``, App. B.4). We keep
  that text verbatim in ``metadata.released_target`` so stage 02 can use it instead of generating
  ("source: released"), and take the gold answer from the LAST answer block (the ground truth).
* ``srpo_rl_released`` — ``bruce360568/SRPO_RL_datasets``, the ~37K RL prompts. The release reads them with
  OpenRLHF (``--input_key message``, label key ``answer``) in the MM-Eureka layout: ``id``, ``message`` (a
  JSON string of chat messages whose user content holds ``{"type": "image", "image": "file:///..."}`` and
  ``{"type": "text", "text": ...}`` parts) and ``answer``.

Not verified from here: neither dataset card could be read (no Hub access, and neither card is in the
search index). The column layouts above come from the authors' training code; the file names inside the
repositories and how images are shipped (we assume an archive unpacked under ``image_root/<source>/``)
are assumptions to check on first use.
"""

from __future__ import annotations

import json
import re

from srpo import formats
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
from srpo.grading import block_answer, find_answers

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def srpo_sft_released(row: dict, spec: SourceSpec) -> list[dict]:
    messages = require(row, "messages", spec)
    system, user, target = first_turn(messages)
    if user is None or target is None:
        raise RowRejected("malformed_chat", "no user turn followed by an assistant turn")
    answers = _ANSWER_BLOCK.findall(target)
    if not answers:
        raise RowRejected("missing_answer", "the released target has no <answer> block")
    parsed = formats.parse_completion(target)
    stem, options = split_options(user)
    gold = block_answer(answers[-1]).text or ""
    return [
        record(
            spec,
            row_id(spec, row, "id"),
            images_of(require(row, "images", spec)),
            stem,
            gold,
            options,
            released_target=target,
            released_system=system,
            released_first_answer=find_answers(target).first.text,
            released_reflection=parsed.reflection,
        )
    ]


def srpo_rl_released(row: dict, spec: SourceSpec) -> list[dict]:
    raw = require(row, "message", spec)
    try:
        messages = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise RowRejected("malformed_chat", f"message is not JSON: {exc}") from None
    texts, images = [], []
    for m in messages:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            if part.get("type") == "image":
                images.extend(images_of(part.get("image")))
            elif part.get("type") == "text":
                texts.append(part.get("text") or "")
    stem, options = split_options("\n".join(texts))
    answer = require(row, "answer", spec)
    return [record(spec, row_id(spec, row, "id"), images, stem, gold_from_text(answer or ""), options)]


SPECS = [
    SourceSpec(
        "srpo_sft_released",
        "SRPOMLLMs/srpo-sft-data",
        "train",
        ("messages", "images"),
        srpo_sft_released,
        family="released",
        file_format="json",
        images="paths",
        verified=False,
        paper="§3.1, App. B.4",
        note="layout from the release's LLaMA-Factory dataset_info.json (sharegpt: messages + images)",
    ),
    SourceSpec(
        "srpo_rl_released",
        "bruce360568/SRPO_RL_datasets",
        "train",
        ("message", "answer"),
        srpo_rl_released,
        family="released",
        file_format="json",
        images="paths",
        verified=False,
        paper="§4.1 (~37K prompts)",
        note="layout from the release's OpenRLHF scripts (--input_key message, MM-Eureka jsonl)",
    ),
]
