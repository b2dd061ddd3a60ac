"""Figures and the record browser of notebook 01 (the stage itself never imports this module)."""

from __future__ import annotations

import json
import random
import textwrap

from srpo.data import hub
from srpo.data.sources import SOURCES


def sources_table():
    """The source registry as a table: Hub id, config, split, required columns, whether the card was checked."""
    import pandas as pd

    return pd.DataFrame([hub.describe(name) for name in SOURCES]).set_index("source")


def plot_summary(summary: dict):
    """Three panels: records per source and split, answer types per split, rejection reasons."""
    import matplotlib.pyplot as plt

    splits = summary["splits"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    _stacked(axes[0], {s: r["by_source"] for s, r in splits.items()}, "records per source")
    _stacked(axes[1], {s: r["by_answer_type"] for s, r in splits.items()}, "answer types")
    ax = axes[2]
    reasons = summary.get("rejections") or {}
    if reasons:
        names = sorted(reasons, key=reasons.get)
        ax.barh(names, [reasons[n] for n in names], color="tab:red")
        ax.set_xlabel("rows / records")
    else:
        ax.text(0.5, 0.5, "no rejections\n(every row passed the filters)", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"quarantined: {summary.get('quarantined', 0)}")
    fig.tight_layout()
    return fig


def _stacked(ax, table: dict, title: str) -> None:
    keys = sorted({k for row in table.values() for k in row})
    bottom = [0] * len(table)
    for key in keys:
        values = [row.get(key, 0) for row in table.values()]
        ax.bar(list(table), values, bottom=bottom, label=key)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def sample_grid(ds, n: int = 12, seed: int = 0, cols: int = 4):
    """A grid of ``n`` random records: first image, question, gold answer and type."""
    import matplotlib.pyplot as plt

    picks = random.Random(seed).sample(range(len(ds)), min(n, len(ds)))
    rows = (len(picks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, picks):
        rec = ds[i]
        if rec["images"]:
            ax.imshow(rec["images"][0])
        ax.set_title(caption(rec), fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def caption(rec: dict, width: int = 44) -> str:
    question = textwrap.shorten(rec["question"].replace("\n", " "), 120)
    return "\n".join(textwrap.wrap(question, width)[:3] + [f"gold: {rec['answer']} ({rec['answer_type']})"])


def record_text(rec: dict) -> str:
    meta = rec["metadata"] if isinstance(rec["metadata"], dict) else json.loads(rec["metadata"] or "{}")
    lines = [f"id: {rec['id']}   source: {rec['source']}   images: {len(rec['images'])}", "", rec["question"], ""]
    lines += [f"gold: {rec['answer']}   type: {rec['answer_type']}   precision: {rec['precision']}"]
    lines += [f"options: {rec['options']}"] if rec["options"] else []
    lines += ["", "metadata: " + textwrap.shorten(json.dumps(meta), 400)]
    return "\n".join(lines)


def record_browser(ds):
    """An ipywidgets browser over ``ds`` (a slider over records; image and text). Interactive sessions only."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    out = widgets.Output()
    slider = widgets.IntSlider(0, 0, max(0, len(ds) - 1), description="record", continuous_update=False)

    def show(change=None):
        rec = ds[slider.value]
        with out:
            out.clear_output(wait=True)
            if rec["images"]:
                fig, ax = plt.subplots(figsize=(3, 2))
                ax.imshow(rec["images"][0])
                ax.set_axis_off()
                plt.show()
            print(record_text(rec))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])
