"""Tables, figures and the sample browser of notebook 02 (the stage itself never imports this module)."""

from __future__ import annotations

import base64
import html
import io
import json

from srpo import paths
from srpo.data import load_split
from srpo.jsonl import read_jsonl
from srpo.reflection.sft_set import STAGE, load_sft_set


def load_results(run_dir) -> dict:
    """Everything the stage left: summary, attempts and teacher rows by id (this run's selection only: the
    files may also hold results of earlier runs with another selection), the SFT set and the pool."""
    stage = paths.stage_dir(run_dir, STAGE)
    selection = stage / "selection.json"  # absent when stage 02 took the released set (no attempts, no teacher)
    selected = set(json.loads(selection.read_text())["ids"]) if selection.exists() else set()
    return {
        "summary": paths.read_summary(run_dir, STAGE),
        "attempts": {r["id"]: r for r in read_jsonl(stage / "attempts.jsonl")},
        "teacher": {r["id"]: r for r in read_jsonl(stage / "teacher.jsonl") if r["id"] in selected},
        "sft": load_sft_set(run_dir),
        "pool": load_split(run_dir, "sft_pool"),
    }


def source_note(summary: dict) -> str:
    """One Markdown paragraph saying where the first attempts came from, with the numbers."""
    if summary.get("attempt_source") == "released":
        return (
            f"**The authors' released SFT set is used as is** ({summary['sft']['rows']} samples): no first "
            "attempts, judge or teacher ran, so the attempt and teacher sections below are empty."
        )
    att, sel = summary["attempts"], summary["selection"]
    by = sel["by_attempt_source"]
    policy = att.get("policy")
    parts = [f"**Attempt source: `{summary['attempt_source']}`.**"]
    if policy:
        parts.append(
            f"The policy (`{summary['policy_model']}`) made {policy['attempts']} attempts: "
            f"{policy['correct']} correct, {policy['wrong']} wrong, {policy['unparseable']} without a "
            f"think/answer pair (accuracy {policy['accuracy']:.1%})."
        )
    gen = by.get("generator")
    if gen:
        parts.append(
            f"The synthetic generator supplied {gen['correct']} correct and {gen['wrong']} flawed attempts "
            f"of the {sel['selected']} selected, where the policy's own were too few."
        )
    elif policy:
        parts.append("Every selected attempt is the policy's own.")
    short = {k: v for k, v in sel["shortfall"].items() if v > 0}
    if short:
        parts.append(f"Shortfall against the target: {short}.")
    return " ".join(parts)


def plot_mix(summary: dict):
    """Left: attempts per source (correct / wrong / unparseable). Right: the selected set by source and class."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    att = summary["attempts"]
    for i, key in enumerate(("correct", "wrong", "unparseable")):
        bottom = [sum(att[s][k] for k in ("correct", "wrong", "unparseable")[:i]) for s in att]
        left.bar(
            list(att),
            [att[s][key] for s in att],
            bottom=bottom,
            label=key,
            color=("tab:green", "tab:red", "tab:gray")[i],
        )
    left.set_title("first attempts")
    left.legend(fontsize=8)
    sel = summary["selection"]
    by = sel["by_attempt_source"]
    classes = ("correct", "wrong")
    bottom = [0, 0]
    for source, counts in by.items():
        values = [counts[c] for c in classes]
        right.bar(classes, values, bottom=bottom, label=source)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    targets = (sel["target_correct"], sel["target_wrong"])
    right.scatter(classes, targets, marker="_", s=900, color="black", label="target", zorder=3)
    right.set_title(f"selected for the teacher: {sel['selected']} ({sel['correct_share'] or 0:.0%} correct)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_reflection_lengths(results: dict):
    """Histogram of accepted reflection lengths (words), split by whether the first attempt was right."""
    import matplotlib.pyplot as plt

    lengths = {True: [], False: []}
    for key, row in results["teacher"].items():
        if row["status"] == "accepted" and key in results["attempts"]:
            lengths[results["attempts"][key]["correct"]].append(len(row["output"]["reflection"].split()))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = range(0, max([1, *lengths[True], *lengths[False]]) + 2)
    for correct, color in ((False, "tab:red"), (True, "tab:green")):
        ax.hist(
            lengths[correct],
            bins=bins,
            alpha=0.6,
            color=color,
            label=f"{'correct' if correct else 'wrong'} first attempt (n={len(lengths[correct])})",
        )
    ax.set_xlabel("reflection length (words)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def diagnosis_table(results: dict):
    """Synthetic samples only: what the generator says each selected first attempt got wrong, by whether the
    grader called its answer correct. A misread can still land on the right answer (a "larger" question, or
    digits that happen to give the same sum): correct by the grader, yet the reflection has a mistake to name."""
    import pandas as pd

    from srpo import formats
    from srpo.tiny import sevenseg

    sft = results["sft"].select_columns(["id", "first_correct", "source"])
    counts: dict = {}
    for row in sft:
        attempt = results["attempts"].get(row["id"])
        if row["source"] != "synthetic" or attempt is None:
            continue
        problem = sevenseg.Problem.from_record({"id": row["id"], **_problem_meta(results, attempt)})
        flaw = sevenseg.diagnose(problem, formats.think(attempt["think"]) + formats.answer(attempt["answer"]))["flaw"]
        key = ("correct" if row["first_correct"] else "wrong", flaw)
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return pd.DataFrame()
    table = pd.Series(counts).unstack(fill_value=0)
    table.index.name, table.columns.name = "first answer", "flaw in the reasoning"
    return table


def _problem_meta(results: dict, attempt: dict) -> dict:
    meta = results.setdefault("_meta", {})
    if not meta:
        light = results["pool"].select_columns(["id", "metadata"])
        meta.update({r["id"]: r["metadata"] for r in light})
    return {"metadata": meta[attempt["problem_id"]], "images": [None]}


def rejection_table(summary: dict):
    """Rejected samples and failed tries per reason, for the teacher and (if on) the judge."""
    import pandas as pd

    rows = []
    for who in ("teacher", "judge"):
        part = summary.get(who) or {}
        for reason, n in (part.get("rejection_reasons") or {}).items():
            rows.append({"step": who, "kind": "rejected sample", "reason": reason, "count": n})
        for reason, n in (part.get("failed_tries_by_reason") or {}).items():
            rows.append({"step": who, "kind": "failed try (retried)", "reason": reason, "count": n})
    if (summary.get("judge") or {}).get("enabled"):
        rows.append(
            {
                "step": "judge",
                "kind": "dropped by verdict",
                "reason": "low quality",
                "count": summary["judge"]["dropped"],
            }
        )
    return pd.DataFrame(rows, columns=["step", "kind", "reason", "count"])


# ---------------------------------------------------------------------------------------------- examples
def _image_tag(image, width: int = 224) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="width:{width}px;image-rendering:pixelated">'


def sample_html(results: dict, index: int) -> str:
    """One SFT sample as HTML: image, question, and the assistant target block by block."""
    from srpo import formats

    row = results["sft"][index]
    question = row["prompt"][-1]["content"][-1]["text"]
    target = row["completion"][0]["content"][0]["text"]
    blocks = formats.parse_completion(target).blocks
    colors = {"think": "#eef", "answer": "#efe", "reflection": "#ffe9c9"}
    body = "".join(
        f'<div style="background:{colors[b.name]};padding:3px;margin:2px 0"><b>{b.name}</b>: '
        f"{html.escape(b.content)}</div>"
        for b in blocks
    )
    verdict = "correct" if row["first_correct"] else "wrong"
    source = results["attempts"].get(row["id"], {}).get("attempt_source", "?")
    return (
        f"<div><b>{html.escape(row['id'])}</b> · first attempt <b>{verdict}</b> ({source}) · gold "
        f"{html.escape(row['answer'])}<br>{''.join(_image_tag(im) for im in row['images'])}"
        f"<p>{html.escape(question)}</p>{body}</div>"
    )


def side_by_side(results: dict, seed: int = 0):
    """A reflection on a correct first attempt next to one on a wrong first attempt (an HTML table)."""
    import random

    from IPython.display import HTML

    flags = results["sft"]["first_correct"]
    rng = random.Random(seed)
    picks = [rng.choice([i for i, f in enumerate(flags) if f == want] or [None]) for want in (True, False)]
    cells = "".join(
        f'<td style="vertical-align:top;width:50%">{"none" if i is None else sample_html(results, i)}</td>'
        for i in picks
    )
    return HTML(f"<table><tr><th>correct first attempt</th><th>wrong first attempt</th></tr><tr>{cells}</tr></table>")


def browser(results: dict):
    """ipywidgets: a slider over the SFT set, optionally only correct or only wrong first attempts."""
    import ipywidgets as widgets

    flags = results["sft"]["first_correct"]
    choice = widgets.ToggleButtons(options=["all", "correct", "wrong"], description="first attempt")
    slider = widgets.IntSlider(min=0, max=max(len(flags) - 1, 0), description="sample")
    out = widgets.HTML()

    def indices():
        want = {"all": None, "correct": True, "wrong": False}[choice.value]
        return [i for i, f in enumerate(flags) if want is None or f == want]

    def show(_=None):
        idx = indices()
        slider.max = max(len(idx) - 1, 0)
        teacher = results["teacher"].get(results["sft"][idx[slider.value]]["id"], {}) if idx else {}
        extra = f"<pre>{html.escape(json.dumps(teacher.get('failures', [])))}</pre>" if teacher.get("failures") else ""
        out.value = (sample_html(results, idx[slider.value]) + extra) if idx else "no samples"

    choice.observe(show, "value")
    slider.observe(show, "value")
    show()
    return widgets.VBox([choice, slider, out])
