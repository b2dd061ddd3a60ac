"""Collect the arms' results into one table (both modes): each arm's run directory holds a finished
benchmarks stage (and, for trained arms, a GRPO stage). Seeds are averaged; the spread is reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

from srpo import paths
from srpo.configs.base import parse_pairs
from srpo.stats import mean_interval

METRICS = ("first_acc", "final_acc", "fix_rate", "break_rate", "unchanged_rate", "structure_rate")
_SEED_RE = re.compile(r"^(?P<arm>.+?)(?:[-_/]s(?:eed)?(?P<seed>\d+))?$")


def arm_runs_in(run_dir) -> dict[tuple[str, int], Path]:
    """Run mode: ``<run_dir>/ablations/arms/<arm>/seed<s>/`` -> {(arm, seed): path}."""
    root = paths.stage_dir(run_dir, "ablations") / "arms"
    found = {}
    for path in sorted(root.glob("*/seed*")):
        if paths.is_done(path, "benchmarks"):
            found[(path.parent.name, int(path.name.removeprefix("seed")))] = path
    return found


def arm_runs_named(entries: list[str], profile: str, run_name: str) -> dict[tuple[str, int], Path]:
    """Aggregate mode: ``arm=run_dir`` entries, or else the sibling runs made by ``slurm/ablation_arms.sh``:
    ``runs/<profile>/<run_name>-ablation-<arm>-s<seed>/``."""
    found = {}
    if entries:
        for name, path in parse_pairs(entries, "arm_run_dirs (arm=run_dir)").items():
            m = _SEED_RE.match(name)
            found[(m["arm"], int(m["seed"] or 0))] = paths.resolve_run_dir(path)
        return found
    prefix = f"{run_name}-ablation-"
    for path in sorted((paths.project_root() / "runs" / profile).glob(prefix + "*")):
        m = _SEED_RE.match(path.name.removeprefix(prefix).replace("-s", "/s"))
        found[(m["arm"], int(m["seed"] or 0))] = path
    return found


def arm_results(arm: str, seed: int, run_dir: Path) -> dict:
    """One arm/seed: its greedy and sampled synthetic-test metrics, and its GRPO budget if it trained."""
    bench = paths.read_summary(run_dir, "benchmarks")
    out = {"arm": arm, "seed": seed, "run_dir": str(run_dir), "benchmarks": {}}
    for row in bench["results"]:
        if row["model"] != arm:
            continue
        out["benchmarks"].setdefault(row["label"], {})[row["mode"]] = {
            **{k: row.get(k) for k in (*METRICS, "n", "scorer")}
        }
    if paths.is_done(run_dir, "grpo_rl"):
        grpo = paths.read_summary(run_dir, "grpo_rl")
        out["grpo"] = {"steps": grpo["steps"], "seconds": grpo.get("train_seconds"), "reward": grpo["reward"]}
    return out


def aggregate(results: list[dict]) -> list[dict]:
    """Mean over seeds per (arm, benchmark, mode), with the 95% t-interval's half-width (``<metric>_ci``, None
    for one seed) and the value of each seed (``<metric>_by_seed``, for paired comparisons): the report's rows."""
    groups: dict[tuple, list] = {}
    for res in results:
        for label, modes in res["benchmarks"].items():
            for mode, metrics in modes.items():
                groups.setdefault((res["arm"], label, mode), []).append((res, metrics))
    rows = []
    for (arm, label, mode), items in groups.items():
        row = {
            "arm": arm,
            "benchmark": label,
            "mode": mode,
            "seeds": len(items),
            "n": items[0][1].get("n"),
            "scorer": items[0][1].get("scorer"),
            "grpo_steps": items[0][0].get("grpo", {}).get("steps"),
        }
        row["seed_list"] = sorted(res["seed"] for res, _ in items)
        for metric in METRICS:
            by_seed = {res["seed"]: m[metric] for res, m in items if m.get(metric) is not None}
            interval = mean_interval(list(by_seed.values())) if by_seed else None
            row[metric] = interval.mean if interval else None
            row[f"{metric}_ci"] = interval.half_width if interval else None
            row[f"{metric}_by_seed"] = by_seed
        rows.append(row)
    return rows


def save_results(results: list[dict], rows: list[dict], out_dir: Path) -> None:
    (out_dir / "arm_results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "table.json").write_text(json.dumps(rows, indent=1))
