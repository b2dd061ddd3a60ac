"""Figures and the response browser of the benchmarks stage.

``plot_accuracy``: first vs final accuracy per model, one panel per benchmark (and decoding mode);
``plot_reflection``: fix rate vs break rate, the two halves of what a reflection does;
``response_browser``: an ipywidgets viewer of every response with its grading (interactive notebooks only).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from srpo.bench.report import KINDS, load_records


def _rule_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["scorer"] == "rule" and r.get("first_acc") is not None]


def _panels(rows):
    return list(dict.fromkeys((r["label"], r["mode"]) for r in rows))


def _bars(rows, metrics: tuple[tuple[str, str], ...], title: str, ylabel: str):
    import matplotlib.pyplot as plt
    import numpy as np

    rows = _rule_rows(rows)
    panels = _panels(rows)
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(3.6 * max(len(panels), 1), 3.2), squeeze=False)
    for ax, (label, mode) in zip(axes[0], panels, strict=False):
        sel = [r for r in rows if (r["label"], r["mode"]) == (label, mode)]
        x, width = np.arange(len(sel)), 0.8 / len(metrics)
        for i, (key, name) in enumerate(metrics):
            vals = [100 * (r.get(key) or 0.0) for r in sel]
            ax.bar(x + (i - (len(metrics) - 1) / 2) * width, vals, width, label=name)
        ax.set_xticks(x, [r["model"] for r in sel])
        ax.set_title(f"{label} ({mode})", fontsize=9)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy(rows: list[dict]):
    """First-answer vs final-answer accuracy (%), rule-based scorer."""
    return _bars(
        rows,
        (("first_acc", "first answer"), ("final_acc", "final answer")),
        "Accuracy of the first and the final answer (rule-based scorer)",
        "accuracy (%)",
    )


def plot_reflection(rows: list[dict]):
    """Fix rate P(final right | first wrong) vs break rate P(final wrong | first right), in %."""
    return _bars(
        rows,
        (("fix_rate", "fix rate"), ("break_rate", "break rate"), ("unchanged_rate", "unchanged")),
        "What the reflection did (rule-based scorer)",
        "rate (%)",
    )


def save_figures(rows: list[dict], folder: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, make in (("accuracy", plot_accuracy), ("reflection", plot_reflection)):
        fig = make(rows)
        files[f"figure_{name}"] = str(folder / f"{name}.png")
        fig.savefig(files[f"figure_{name}"], dpi=110)
        plt.close(fig)
    return files


# ---------------------------------------------------------------------------------------------- browser
_TAG = re.compile(r"(&lt;/?(?:think|answer|reflection)&gt;)")  # tags after html.escape


def render_response(record: dict) -> str:
    """HTML of one graded response: the tags highlighted, the verdicts on top."""

    def mark(ok):
        return "n/a" if ok is None else ("right" if ok else "wrong")

    head = (
        f"<b>{html.escape(str(record['id']))}</b> sample {record['sample']} &middot; gold "
        f"<code>{html.escape(str(record['gold']))}</code> &middot; first <code>"
        f"{html.escape(str(record['first_answer']))}</code> ({mark(record['first_correct'])}) &middot; final "
        f"<code>{html.escape(str(record['final_answer']))}</code> ({mark(record['final_correct'])}) &middot; "
        f"five-block {record['five_block']} &middot; {record['num_tokens']} tokens"
    )
    body = _TAG.sub(r'<b style="color:#a33">\1</b>', html.escape(record["response"] or ""))
    question = html.escape(record.get("question") or "")
    return f"<div>{head}</div><pre style='white-space:pre-wrap'>{question}</pre><pre style='white-space:pre-wrap'>{body}</pre>"


def response_browser(run_dir, models: list[str], labels: list[str], modes=("greedy", "sampled")):
    """Dropdowns (model, benchmark, mode, kind) and a slider over the matching responses."""
    import ipywidgets as w

    model = w.Dropdown(options=models, description="model")
    label = w.Dropdown(options=labels, description="benchmark")
    mode = w.Dropdown(options=list(modes), description="mode")
    kind = w.Dropdown(options=list(KINDS), description="show")
    index = w.IntSlider(min=0, max=0, description="#")
    view = w.HTML()
    state = {"records": []}

    def reload(_=None):
        try:
            recs = load_records(run_dir, model.value, label.value, mode.value)
        except FileNotFoundError as exc:
            recs, view.value = [], html.escape(str(exc))
        state["records"] = [r for r in recs if KINDS[kind.value](r)]
        index.max, index.value = max(len(state["records"]) - 1, 0), 0
        show()

    def show(_=None):
        recs = state["records"]
        view.value = render_response(recs[index.value]) if recs else view.value or "no responses of this kind"

    for widget in (model, label, mode, kind):
        widget.observe(reload, names="value")
    index.observe(show, names="value")
    reload()
    return w.VBox([w.HBox([model, label]), w.HBox([mode, kind]), index, view])
