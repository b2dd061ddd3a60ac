"""The notebook's instant demo: a handful of raw rows, in their datasets' real layouts, through the real
adapters and filters, including the rows a curation pipeline must catch (a corrupt image, a missing answer,
a duplicate, an unparseable gold). Runs in about a second, with no Hub access."""

from __future__ import annotations

import io

from srpo.data.filters import Deduplicator, FilterSettings, apply_filters
from srpo.data.sources import RowRejected, get_source


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def bar_chart(values, size=(96, 64)):
    """A tiny bar chart drawn with PIL (a stand-in for a ChartQA image)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    width = size[0] // (2 * len(values) + 1)
    for i, v in enumerate(values):
        x = (2 * i + 1) * width
        draw.rectangle((x, size[1] - 4 - v * 4, x + width, size[1] - 4), fill=(60, 90, 200))
    return img


def demo_rows() -> list[tuple[str, dict]]:
    """(source, raw row) pairs; the last ones are meant to be rejected."""
    from srpo.tiny import sevenseg

    problems = sevenseg.make_problems(3, seed=42)
    chart = png_bytes(bar_chart([3, 7, 5]))
    return [
        *[("synthetic", {"problem": p}) for p in problems],
        (
            "chartqa",
            {
                "image": {"bytes": chart, "path": None},
                "query": "What is the tallest bar's value?",
                "label": ["7"],
                "human_or_machine": 0,
            },
        ),
        (
            "math",
            {
                "problem": "Compute $\\frac{1}{2}+\\frac{1}{3}$.",
                "solution": "... $\\boxed{\\frac{5}{6}}$",
                "level": "Level 1",
                "type": "Prealgebra",
            },
        ),
        ("synthetic", {"problem": problems[0]}),  # the same problem again: a duplicate
        (
            "chartqa",
            {
                "image": {"bytes": chart[:40], "path": None},
                "query": "Which bar is shortest?",
                "label": ["1"],
                "human_or_machine": 1,
            },
        ),  # truncated PNG
        (
            "chartqa",
            {
                "image": {"bytes": chart, "path": None},
                "query": "What is the unit?",
                "label": [],
                "human_or_machine": 0,
            },
        ),  # no gold answer
        (
            "scienceqa",
            {"image": None, "question": "Which is a mammal?", "choices": ["cat", "trout"], "answer": 0, "hint": ""},
        ),  # text-only question
        (
            "math",
            {
                "problem": "Simplify.",
                "solution": "so the result is $\\boxed{x^{}}$",
                "level": "Level 1",
                "type": "Algebra",
            },
        ),  # a gold math-verify cannot read
    ]


def filter_demo(settings: FilterSettings | None = None):
    """A table with one line per record (or rejected row): source, id, gold, type, verdict, detail."""
    import pandas as pd

    settings, dedup, stats, lines = settings or FilterSettings(), Deduplicator(), {}, []
    for i, (name, row) in enumerate(demo_rows()):
        spec = get_source(name)
        try:
            records = spec.to_records(row)
        except RowRejected as exc:
            lines.append(
                {
                    "source": name,
                    "id": f"{name}-row{i}",
                    "answer": "",
                    "answer_type": "",
                    "verdict": exc.reason,
                    "detail": exc.detail,
                }
            )
            continue
        for rec in records:
            try:
                key = apply_filters(rec, settings, None, dedup, stats)
                dedup.add(key, rec["id"])
                verdict, detail = "accepted", ""
            except RowRejected as exc:
                verdict, detail = exc.reason, exc.detail
            lines.append(
                {
                    "source": name,
                    "id": rec["id"],
                    "answer": rec["answer"],
                    "answer_type": rec["answer_type"],
                    "verdict": verdict,
                    "detail": detail,
                }
            )
    return pd.DataFrame(lines)
