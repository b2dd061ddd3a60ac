"""Tables of the benchmarks stage: result rows, breakdowns, the MMMU-Pro overall, the paper side by side.

Every row carries the scorer that produced its numbers (``rule`` or ``judge:<model>``), and the decoding
mode (``greedy``, the paper's setting, or ``sampled``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from srpo.bench import paper

NOTE = (
    "On tiny-cpu the numbers come from the synthetic seven-segment task with a 0.6M-parameter model; the "
    "paper's columns are real benchmarks with 7B/32B models. Compare the direction of the changes (does "
    "reflection training raise final over first accuracy, does it fix more than it breaks), not the values. "
    "A final accuracy that rises while fix_rate stays near 0 means the reflection is a rubber stamp: the gain "
    "came from better first answers, not from reflecting."
)
RATE_METRICS = (  # shares of replies: shown in percent
    "final_acc",
    "first_acc",
    "fix_rate",
    "break_rate",
    "unchanged_rate",
    "structure_rate",
    "parse_fail_rate",
)
TABLE_METRICS = (
    *RATE_METRICS,
    "mean_tokens",
    "tokens_per_s",
    "n",
)
BREAKDOWN_METRICS = (
    "n",
    "final_acc",
    "first_acc",
    "fix_rate",
    "break_rate",
    "structure_rate",
    "parse_fail_rate",
    "mean_tokens",
)
MMMU_PRO_SETTINGS = ("standard (10 options)", "vision")


def result_rows(model: str, mode: str, result: dict) -> list[dict]:
    """One row per scorer of an ``evaluate`` result."""
    base = {
        "model": model,
        "benchmark": result["benchmark"],
        "split": result["split"],
        "label": result["label"],
        "mode": mode,
        "prompt": result["prompt"],
    }
    return [{**base, "scorer": scorer, **metrics} for scorer, metrics in result["metrics_by_scorer"].items()]


def breakdown_rows(model: str, mode: str, result: dict) -> list[dict]:
    rows = []
    for scorer, keys in result["breakdowns"].items():
        for key, values in keys.items():
            for value, m in values.items():
                rows.append(
                    {
                        "model": model,
                        "label": result["label"],
                        "mode": mode,
                        "scorer": scorer,
                        "key": key,
                        "value": value,
                        **{k: m[k] for k in BREAKDOWN_METRICS},
                    }
                )
    return rows


def overall_rows(rows: list[dict]) -> list[dict]:
    """MMMU-Pro overall = mean of the standard (10 options) and vision settings (the official definition)."""
    out = []
    keys = {(r["model"], r["mode"], r["scorer"]) for r in rows if r["benchmark"] == "mmmu_pro"}
    for model, mode, scorer in sorted(keys):
        parts = {
            r["split"]: r
            for r in rows
            if r["benchmark"] == "mmmu_pro" and (r["model"], r["mode"], r["scorer"]) == (model, mode, scorer)
        }
        if not all(s in parts for s in MMMU_PRO_SETTINGS):
            continue
        both = [parts[s] for s in MMMU_PRO_SETTINGS]
        out.append(
            {
                "model": model,
                "benchmark": "mmmu_pro",
                "split": "overall",
                "label": "mmmu_pro:overall",
                "mode": mode,
                "prompt": both[0]["prompt"],
                "scorer": scorer,
                "n": sum(p["n"] for p in both),
                "final_acc": _mean(p["final_acc"] for p in both),
                "first_acc": _mean(p["first_acc"] for p in both),
                "derived": "mean of MMMU-Pro standard (10 options) and vision",
            }
        )
    return out


def _mean(values):
    values = list(values)
    return None if any(v is None for v in values) else sum(values) / len(values)


def paper_comparison(rows: list[dict], paper_models: dict[str, str]) -> list[dict]:
    """Per model: our greedy rule-based final accuracy (%) per benchmark, beside its Table 1 row (%); a judge's
    accuracy, when one ran, in its own columns (``<scorer> <label>``), never in the rule columns."""
    ours = [r for r in rows if r["mode"] == "greedy" and r["scorer"] == "rule"]
    judged = [r for r in rows if r["mode"] == "greedy" and r["scorer"] != "rule"]
    out = []
    for model in dict.fromkeys(r["model"] for r in ours):
        row = {"model": model}
        for r in ours:
            if r["model"] == model and r["final_acc"] is not None:
                row[f"ours {r['label']}"] = round(100 * r["final_acc"], 1)
        for r in judged:
            if r["model"] == model and r["final_acc"] is not None:
                row[f"{r['scorer']} {r['label']}"] = round(100 * r["final_acc"], 1)
        paper_row = paper_models.get(model)
        row["paper row"] = paper_row
        for column in paper.BENCHMARK_COLUMNS:
            row[f"paper {column}"] = paper.table1_value(paper_row, column) if paper_row else None
        out.append(row)
    return out


def format_table(rows: list[dict]) -> str:
    """A compact text table for logs."""
    import pandas as pd

    if not rows:
        return "(no results)"
    df = pd.DataFrame(rows)
    cols = ["model", "label", "mode", "scorer", *[c for c in TABLE_METRICS if c in df]]
    return df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")


# ---------------------------------------------------------------------------------------------- notebook helpers
def stage_dir(run_dir) -> Path:
    from srpo import paths

    return paths.stage_dir(run_dir, "benchmarks")


def results_frame(summary: dict, scorer: str = "rule"):
    """Results as a DataFrame: accuracies and rates in %, one row per model, benchmark and mode."""
    import pandas as pd

    df = pd.DataFrame([r for r in summary["results"] if r["scorer"] == scorer])
    for col in RATE_METRICS:
        if col in df:
            df[col] = (100 * df[col].astype(float)).round(1)
    for col in ("mean_tokens", "tokens_per_s"):
        if col in df:
            df[col] = df[col].astype(float).round(1)
    cols = ["model", "label", "mode", "scorer", *[c for c in TABLE_METRICS if c in df]]
    return df[cols].set_index(["model", "label", "mode"])


def breakdown_frame(summary: dict, label: str, key: str, mode: str = "greedy", scorer: str = "rule"):
    """Final / first accuracy (%) per breakdown value (rows) and model (columns)."""
    import pandas as pd

    rows = [
        r
        for r in summary["breakdowns"]
        if (r["label"], r["key"], r["mode"], r["scorer"]) == (label, key, mode, scorer)
    ]
    if not rows:
        raise KeyError(f"no breakdown {key!r} for {label!r} ({mode}, {scorer}); see summary['breakdowns']")
    df = pd.DataFrame(rows)
    df["final %"] = (100 * df["final_acc"].astype(float)).round(1)
    df["first %"] = (100 * df["first_acc"].astype(float)).round(1)
    return df.pivot_table(index="value", columns="model", values=["first %", "final %"], sort=False)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def records_path(out_dir, model: str, label: str, mode: str) -> Path:
    """``<out_dir>/records/<model>/<benchmark>__<split>__<mode>.jsonl``."""
    return Path(out_dir) / "records" / slug(model) / f"{slug(label.replace(':', '__'))}__{mode}.jsonl"


def load_records(run_dir, model: str, label: str, mode: str = "greedy") -> list[dict]:
    path = records_path(stage_dir(run_dir), model, label, mode)
    if not path.exists():
        raise FileNotFoundError(f"no records for model {model!r}, {label!r}, {mode}: {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


KINDS = {
    "all": lambda r: True,
    "fixed": lambda r: r["first_correct"] is False and r["final_correct"],
    "broken": lambda r: r["first_correct"] is True and not r["final_correct"],
    "wrong": lambda r: not r["final_correct"],
    "parse_fail": lambda r: not r["parsed"],
}


def examples(run_dir, model: str, label: str, mode: str = "greedy", kind: str = "all", k: int = 3):
    """``k`` graded responses of one kind (all, fixed, broken, wrong, parse_fail) as a DataFrame."""
    import pandas as pd

    chosen = [r for r in load_records(run_dir, model, label, mode) if KINDS[kind](r)][:k]
    cols = ["id", "gold", "first_answer", "final_answer", "first_correct", "final_correct", "response"]
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in chosen], columns=cols)


DEMO_ROW = {  # a hand-written row in MathVista's Hub schema (multiple choice: the gold is the option's text)
    "pid": "demo",
    "question_type": "multi_choice",
    "choices": ["3", "4", "5", "6"],
    "answer": "5",
    "query": "Hint: answer with the option's letter.\nHow many bars are taller than 10?\nChoices: (A) 3 (B) 4 (C) 5 (D) 6",
    "question": "How many bars are taller than 10?",
    "decoded_image": None,
    "unit": None,
    "precision": None,
    "answer_type": "integer",
    "metadata": {"category": "demo", "task": "figure question answering", "skills": []},
}
DEMO_REPLIES = {
    "right, kept": (
        "<think>Bars at 12, 15, 11, 18, 14 exceed 10: five.</think><answer>\\boxed{C}</answer>"
        "<reflection>Each of the five bars is above the line at 10.</reflection>"
        "<think>Five bars, option C.</think><answer>\\boxed{C}</answer>"
    ),
    "wrong, fixed": (
        "<think>Bars at 12, 15, 18, 14 exceed 10: four.</think><answer>\\boxed{B}</answer>"
        "<reflection>I skipped the bar at 11, which is also above 10.</reflection>"
        "<think>12, 15, 11, 18, 14: five bars, option C.</think><answer>\\boxed{C}</answer>"
    ),
    "right, broken": (
        "<think>Bars at 12, 15, 11, 18, 14 exceed 10: five.</think><answer>\\boxed{C}</answer>"
        "<reflection>The bar at 11 may be at 10.</reflection>"
        "<think>Four bars, option B.</think><answer>\\boxed{B}</answer>"
    ),
}


def scoring_demo():
    """Three hand-written replies to ``DEMO_ROW`` graded by ``srpo.bench.score_response``, the grader of this
    stage: first and final answer, whether each is right, and what the reflection did (kept, fixed, broke)."""
    import pandas as pd

    from srpo.bench import score_response

    rows = []
    for name, reply in DEMO_REPLIES.items():
        s = score_response("mathvista", DEMO_ROW, reply)
        did = {
            (True, True): "kept a right answer",
            (False, True): "fixed a wrong answer",
            (True, False): "broke a right answer",
            (False, False): "kept a wrong answer",
        }
        rows.append(
            {
                "reply": name,
                "first answer": s["first_answer"],
                "final answer": s["final_answer"],
                "first right": s["first_correct"],
                "final right": s["final_correct"],
                "the reflection": did.get((s["first_correct"], s["final_correct"]), "no answer to grade"),
            }
        )
    return pd.DataFrame(rows).set_index("reply")
