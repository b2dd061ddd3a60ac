"""RL sources with multi-step reasoning: MATH, Virgo, R1-OneVision, MMK12, PhyX (paper §4.1).

* MATH (``EleutherAI/hendrycks_math``, one config per subject, train): ``problem``, ``solution`` (gold =
  its last ``\\boxed{}``), ``level``, ``type``. Text only: the record has no image.
* Virgo (``RUC-AIBOX/Virgo-Visual-Long-Thought-Dataset``, train): ``question``, ``answer`` (from the
  LLaVA-OneVision source), ``images`` (paths into the LLaVA-OneVision image dump), ``response``, ``score``
  (card README checked).
* R1-OneVision (``Fancy-MLLM/R1-Onevision``, train): ``id``, ``image`` (base64 text), ``conversations``
  (human / gpt; the gpt turn is a long reasoning that ends in the answer). Not on the card (it has no
  feature list); the layout is what public loaders of this dataset read.
* MMK12 (``FanqingM/MMK12``, train): ``id``, ``subject``, ``image``, ``question``, ``answer``; multiple-choice
  questions carry their options inline as ``A. ...`` lines (columns from public loaders; card not readable).
* PhyX (``Cloudriver/PhyX``): ``question``, ``options`` (text), ``answer``, ``image``, ``description``,
  ``category``, ``subfield``. PhyX is released as a benchmark; which split the authors trained on is not
  stated, so this uses ``test_mini`` and ``--local_sources`` can point at another copy. Do not evaluate on
  PhyX after training on it.
"""

from __future__ import annotations

import ast
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

_OPTION_PREFIX = re.compile(r"^\s*\(?[A-J]\)?\s*[:\.\)]\s*")


def math(row: dict, spec: SourceSpec) -> list[dict]:
    gold = formats.last_boxed(require(row, "solution", spec) or "")
    meta = {"level": row.get("level"), "type": row.get("type")}
    return [record(spec, row_id(spec, row, "id", "unique_id"), [], require(row, "problem", spec), gold, **meta)]


def virgo(row: dict, spec: SourceSpec) -> list[dict]:
    stem, options = split_options(require(row, "question", spec))
    gold = gold_from_text(str(require(row, "answer", spec) or ""))
    return [record(spec, row_id(spec, row, "id"), images_of(require(row, "images", spec)), stem, gold, options)]


def r1_onevision(row: dict, spec: SourceSpec) -> list[dict]:
    _, user, assistant = first_turn(require(row, "conversations", spec))
    if user is None or assistant is None:
        raise RowRejected("malformed_chat", "no human turn followed by a gpt turn")
    stem, options = split_options(user)
    return [
        record(
            spec,
            row_id(spec, row, "id"),
            images_of(require(row, "image", spec)),
            stem,
            gold_from_text(assistant),
            options,
            source_cot=assistant,
        )
    ]


def mmk12(row: dict, spec: SourceSpec) -> list[dict]:
    stem, options = split_options(require(row, "question", spec))
    return [
        record(
            spec,
            row_id(spec, row, "id"),
            images_of(require(row, "image", spec)),
            stem,
            str(require(row, "answer", spec) or ""),
            options,
            subject=row.get("subject"),
        )
    ]


def phyx_options(value) -> list[str]:
    """PhyX options as a list: a list, a printed list ("['A: 1', ...]") or lines ("A: 1\\nB: 2")."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = ast.literal_eval(text)  # literals only, never eval
            except (ValueError, SyntaxError):
                value = text.splitlines()
        else:
            value = text.splitlines()
    return [_OPTION_PREFIX.sub("", str(v)).strip() for v in value if str(v).strip()]


def phyx(row: dict, spec: SourceSpec) -> list[dict]:
    options = phyx_options(row.get("options"))
    meta = {k: row.get(k) for k in ("category", "subfield", "description")}
    question = require(row, "question", spec)
    return [
        record(
            spec,
            row_id(spec, row, "id", "index"),
            images_of(require(row, "image", spec)),
            question,
            str(require(row, "answer", spec) or ""),
            options,
            **meta,
        )
    ]


MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)

SPECS = [
    SourceSpec(
        "math",
        "EleutherAI/hendrycks_math",
        "train",
        ("problem", "solution"),
        math,
        family="rl",
        configs=MATH_SUBJECTS,
        images="none",
        paper="§4.1 RL sources (MATH, text only)",
    ),
    SourceSpec(
        "virgo",
        "RUC-AIBOX/Virgo-Visual-Long-Thought-Dataset",
        "train",
        ("question", "answer", "images"),
        virgo,
        family="rl",
        file_format="json",
        images="paths",
        paper="§4.1 RL sources",
        note="images are paths into the LLaVA-OneVision image dump (image_root/virgo/)",
    ),
    SourceSpec(
        "r1_onevision",
        "Fancy-MLLM/R1-Onevision",
        "train",
        ("image", "conversations"),
        r1_onevision,
        family="rl",
        verified=False,
        paper="§4.1 RL sources",
        note="columns id/image(base64)/conversations from public loaders",
    ),
    SourceSpec(
        "mmk12",
        "FanqingM/MMK12",
        "train",
        ("image", "question", "answer"),
        mmk12,
        family="rl",
        verified=False,
        paper="§4.1 RL sources",
        note="columns from public loaders of MMK12; card not readable from here",
    ),
    SourceSpec(
        "phyx",
        "Cloudriver/PhyX",
        "test_mini",
        ("question", "answer", "image"),
        phyx,
        family="rl",
        verified=False,
        paper="§4.1 RL sources",
        note="split and image encoding not verified",
    ),
]
