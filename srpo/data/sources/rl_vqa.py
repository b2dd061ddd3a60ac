"""RL sources with short, checkable answers: ScienceQA, GeoQA, ChartQA, DVQA, AI2D (paper §4.1).

* ScienceQA (``derek-thomas/ScienceQA``, train): ``image`` (None for text-only questions), ``question``,
  ``choices``, ``answer`` (index), ``hint``, plus subject/grade/skill (card checked). Only questions with an
  image are used: the RL mix is multimodal. The hint is context and is kept in the question.
* GeoQA (``leonardPKU/GEOQA_R1V_Train_8K``, train, the R1-V release of GeoQA): ``image``, ``problem``,
  ``solution`` (the answer, possibly inside ``<answer>`` tags). The card lists no features from here:
  columns assumed from R1-V's loaders.
* ChartQA (``HuggingFaceM4/ChartQA``, train): ``image``, ``query``, ``label`` (list of strings; the first is
  the gold), ``human_or_machine`` (card checked).
* DVQA and AI2D from ``HuggingFaceM4/the_cauldron`` (configs ``dvqa`` and ``ai2d``, train): ``images``
  (list), ``texts`` (list of ``{user, assistant, source}`` turns; card checked). Every turn is one record.
  AI2D's train questions exist on the Hub only here (lmms-lab/ai2d is the 3,088-question test split, which
  would leak into evaluation). The wording of the turns ("Answer: B", options as "A. ..." lines) is
  assumed from the_cauldron's conventions.
"""

from __future__ import annotations

from srpo.data.sources.base import (
    RowRejected,
    SourceSpec,
    gold_from_text,
    images_of,
    record,
    require,
    row_id,
    split_options,
)


def scienceqa(row: dict, spec: SourceSpec) -> list[dict]:
    images = images_of(require(row, "image", spec))
    if not images:
        raise RowRejected("no_image", "text-only ScienceQA question; the RL mix keeps image questions")
    choices = list(require(row, "choices", spec) or [])
    index = require(row, "answer", spec)
    if index is None or not 0 <= int(index) < len(choices):
        raise RowRejected("missing_answer", f"answer index {index!r} outside {len(choices)} choices")
    hint = (row.get("hint") or "").strip()
    question = (f"Context: {hint}\n" if hint else "") + require(row, "question", spec)
    meta = {k: row.get(k) for k in ("subject", "topic", "category", "skill", "grade")}
    return [record(spec, row_id(spec, row, "id"), images, question, chr(65 + int(index)), choices, **meta)]


def geoqa(row: dict, spec: SourceSpec) -> list[dict]:
    stem, options = split_options(require(row, "problem", spec))
    gold = gold_from_text(require(row, "solution", spec) or "")
    return [record(spec, row_id(spec, row, "id"), images_of(require(row, "image", spec)), stem, gold, options)]


def chartqa(row: dict, spec: SourceSpec) -> list[dict]:
    labels = require(row, "label", spec) or []
    labels = [labels] if isinstance(labels, str) else list(labels)
    gold = labels[0] if labels else None
    meta = {"human_or_machine": row.get("human_or_machine"), "all_labels": labels[1:]}
    return [
        record(
            spec,
            row_id(spec, row, "id"),
            images_of(require(row, "image", spec)),
            require(row, "query", spec),
            gold,
            **meta,
        )
    ]


def cauldron(row: dict, spec: SourceSpec) -> list[dict]:
    images = images_of(require(row, "images", spec))
    base = row_id(spec, row)
    out = []
    for i, turn in enumerate(require(row, "texts", spec) or []):
        stem, options = split_options(turn.get("user") or "")
        for tail in ("Answer with the option's letter from the given choices directly.", "Answer with the letter."):
            stem = stem.replace(tail, "").strip()
        out.append(
            record(
                spec,
                f"{base}-{i}",
                images,
                stem,
                gold_from_text(turn.get("assistant") or ""),
                options,
                cauldron_source=turn.get("source"),
            )
        )
    return out


SPECS = [
    SourceSpec(
        "scienceqa",
        "derek-thomas/ScienceQA",
        "train",
        ("image", "question", "choices", "answer"),
        scienceqa,
        family="rl",
        paper="§4.1 RL sources",
    ),
    SourceSpec(
        "geoqa",
        "leonardPKU/GEOQA_R1V_Train_8K",
        "train",
        ("image", "problem", "solution"),
        geoqa,
        family="rl",
        verified=False,
        paper="§4.1 RL sources",
        note="columns assumed (image, problem, solution) from R1-V",
    ),
    SourceSpec(
        "chartqa",
        "HuggingFaceM4/ChartQA",
        "train",
        ("image", "query", "label"),
        chartqa,
        family="rl",
        paper="§4.1 RL sources",
    ),
    SourceSpec(
        "dvqa",
        "HuggingFaceM4/the_cauldron",
        "train",
        ("images", "texts"),
        cauldron,
        family="rl",
        configs=("dvqa",),
        paper="§4.1 RL sources",
        note="turn wording assumed",
    ),
    SourceSpec(
        "ai2d",
        "HuggingFaceM4/the_cauldron",
        "train",
        ("images", "texts"),
        cauldron,
        family="rl",
        configs=("ai2d",),
        paper="§4.1 RL sources",
        note="turn wording (A. ... options, 'Answer: B') assumed",
    ),
]
