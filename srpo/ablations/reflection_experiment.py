"""One experiment where reflection has room to help (README "A task where reflection has room to help").

On the default tiny task the first attempt may read the digits in its think block, so GRPO raises accuracy
through the first answer and the reflection drifts toward a rubber stamp. Here the synthetic task runs in its
``glance`` variant (``synthetic_first_pass: glance``, ``srpo.tiny.sevenseg``): the first attempt answers under a
tight reasoning budget (its think block is only "At a glance."), while the reflection re-reads the image,
writes the reading and the computation, and says whether the first answer survives. Checking is then easier
than producing, so a reflection can fix wrong first answers.

The experiment, in ``runs/tiny-cpu/reflection_experiment/`` by default, through the ordinary stage entry points:

1. stages 01-03 of the tiny profile on the glance variant (data, reflection SFT set, cold-start SFT), once;
2. from that one SFT model, with the same GRPO seeds and budget, two arms (the ablation stage's ``run_arm``):
   ``srpo``, the paper's reflection-aware reward (Eq. 4-8), and ``grpo_outcome``, plain GRPO on the same
   five-block format with the standard outcome reward (format + final-answer accuracy; ``rewards`` variant
   ``outcome``), which never looks at the first answer or the reflection; plus ``sft_only`` for reference;
3. each arm and seed evaluated on the synthetic test set, greedy and sampled at T = 1;
4. ``report.md`` / ``report.json``: every arm's mean over seeds with a 95% t-interval, the paired difference
   SRPO - plain GRPO per seed (same SFT model, same seeds, same test problems) with its 95% t-interval, the
   sampled fix and break rates, and how often the first attempt kept its glance budget.

The paper's central claim tested here (§1, §3.2, Table 3): under reflection-aware RL the reflection fixes more
wrong first answers than under RL that does not reward the reflection.

``python -m srpo.ablations.reflection_experiment [--run-dir DIR] [--seeds 0 1 2] [--scale full|toy]``; ``make
reflection-experiment``. Finished stages and arms are skipped when re-run.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import time
from pathlib import Path

from srpo import paths
from srpo.ablations.arms import ARMS, Arm
from srpo.jsonl import read_jsonl
from srpo.launch import run_stage
from srpo.stats import mean_interval
from srpo.tiny import sevenseg

log = logging.getLogger(__package__)

PROFILE = "tiny-cpu"
DEFAULT_RUN_DIR = Path("runs") / PROFILE / "reflection_experiment"
PLAIN = Arm(
    "grpo_outcome",
    "plain GRPO on the reflection format: format + final-answer accuracy (reward outcome)",
    "sft",
    grpo="--reward outcome",
    paper_row="GRPO",
)
ARM_ORDER = ("sft_only", "grpo_outcome", "srpo")

# Sizes per scale. full: the tiny profile's recipes with the glance variant, bounded to ~25 min on 2 idle cores;
# toy: the same path at sizes that only check it runs (the test).
SCALES = {
    "full": {
        "data_curation": "--sft_pool_size 3000 --rl_train_size 4000",
        "reflection_generation": "",
        "cold_start_sft": "--eval_samples 0",
        "sft_epochs": 3,
        "grpo_max_steps": 200,
        "eval_n": 300,
        "eval_sampled_limit": 200,
        "eval_sampled_n": 2,
    },
    "toy": {
        "data_curation": "--sft_pool_size 24 --rl_train_size 24",
        "reflection_generation": "--target_size 24 --attempt_source generator",
        "cold_start_sft": "--eval_samples 0 --max_steps 4 --logging_steps 2 --save_steps 1000",
        "sft_epochs": 1,
        "grpo_max_steps": 2,
        "eval_n": 6,
        "eval_sampled_limit": 4,
        "eval_sampled_n": 1,
        "grpo_extra": "--num_generations 4 --per_device_train_batch_size 8 --max_completion_length 48",
    },
}
METRICS = (
    "greedy_first",
    "greedy_final",
    "sampled_first",
    "sampled_final",
    "sampled_fix",
    "sampled_break",
    "budget_kept",
)


# ---------------------------------------------------------------------------------------------- statistics
def interval(values: list[float]) -> dict:
    """``srpo.stats.mean_interval`` as the report's ``{"mean", "low", "high", "n"}`` (None where undefined).

    >>> r = interval([0.5, 0.6, 0.7])
    >>> round(r["mean"], 3), round(r["low"], 3), round(r["high"], 3)
    (0.6, 0.352, 0.848)
    """
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"mean": None, "low": None, "high": None, "n": 0}
    i = mean_interval(values)
    return {"mean": i.mean, "low": i.low, "high": i.high, "n": i.n}


def paired_interval(a: dict, b: dict) -> dict:
    """The paired difference ``a[s] - b[s]`` over the seeds both have: mean, 95% t-interval, and the per-seed
    differences (``{"mean", "low", "high", "n", "diffs"}``)."""
    seeds = sorted(s for s in a if s in b and a[s] is not None and b[s] is not None)
    diffs = [a[s] - b[s] for s in seeds]
    return {**interval(diffs), "diffs": dict(zip(seeds, diffs, strict=True))}


def verdict(diff: dict) -> str:
    """What a paired interval supports: ``higher``, ``lower`` or ``unresolved`` (the interval holds 0, or
    there is no interval)."""
    if diff["low"] is None:
        return "unresolved"
    return "higher" if diff["low"] > 0 else "lower" if diff["high"] < 0 else "unresolved"


# ---------------------------------------------------------------------------------------------- running
def ablation_args(scale: dict, seeds: list[int], workers: int):
    from srpo.configs.ablations import AblationArgs

    return AblationArgs(
        arms=list(ARM_ORDER),
        seeds=list(seeds),
        grpo_max_steps=scale["grpo_max_steps"],
        reuse_main_srpo=False,
        sft_per_seed=False,
        workers=workers,
        arm_torch_threads=1,
        eval_n=scale["eval_n"],
        eval_sampled_limit=scale["eval_sampled_limit"],
        eval_sampled_n=scale["eval_sampled_n"],
    )


def arms_to_run(scale: dict) -> dict[str, Arm]:
    extra = scale.get("grpo_extra", "")
    srpo, plain = ARMS["srpo"], PLAIN
    if extra:  # the toy scale's smaller GRPO batches, the same for both arms
        from dataclasses import replace

        srpo, plain = replace(srpo, grpo=f"{srpo.grpo} {extra}".strip()), replace(plain, grpo=f"{plain.grpo} {extra}")
    return {"sft_only": ARMS["sft_only"], "grpo_outcome": plain, "srpo": srpo}


def run_shared_stages(run_dir: Path, scale: dict, torch_threads: int | None = None) -> None:
    """Stages 01-03 on the glance variant, each skipped once finished (``torch_threads``: None = the recipes')."""
    threads = "" if torch_threads is None else f" --torch_threads {torch_threads}"
    for stage, overrides in [
        ("data_curation", "--synthetic_first_pass glance " + scale["data_curation"]),
        ("reflection_generation", scale["reflection_generation"]),
        ("cold_start_sft", f"{scale['cold_start_sft']} --num_train_epochs {scale['sft_epochs']}"),
    ]:
        if paths.is_done(run_dir, stage):
            log.info(f"reflection experiment: {stage}: done before, skipped")
            continue
        start = time.time()
        run_stage(stage, PROFILE, run_dir, overrides + threads, echo=False)
        log.info(f"reflection experiment: {stage}: {time.time() - start:.0f}s")
    check_glance(run_dir)


def check_glance(run_dir: Path) -> None:
    """Refuse a run directory whose stage 01 did not make the glance variant (e.g. an older run reused)."""
    resolved = paths.stage_dir(run_dir, "data_curation") / "config.yaml"
    from srpo import config

    first_pass = config.read_yaml_mapping(resolved).get("synthetic_first_pass", "full")
    if first_pass != "glance":
        raise ValueError(
            f"{run_dir}: stage 01 made the {first_pass!r} task, not the glance variant; "
            "use another --run-dir or delete this one"
        )


def run_arms(run_dir: Path, scale: dict, seeds: list[int], workers: int) -> list[dict]:
    """Every arm x seed (``sft_only`` once), ``workers`` at a time, through ``srpo.ablations.run.run_jobs``."""
    from srpo.ablations.run import run_jobs

    args, arms = ablation_args(scale, seeds, workers), arms_to_run(scale)
    # seed-major: both trained arms of a seed finish together, so a stopped run still leaves paired seeds
    jobs = [(arms["sft_only"], seeds[0])] + [(arms[name], seed) for seed in seeds for name in ARM_ORDER[1:]]
    return run_jobs(jobs, run_dir, PROFILE, args, label="reflection_experiment")


def load_mode(bench_dir: Path, arm: str, mode: str) -> list[dict]:
    """The scored responses of one arm's evaluation in ``mode`` (greedy | sampled)."""
    files = sorted((bench_dir / "records" / arm).glob(f"*__{mode}.jsonl"))
    if not files:
        raise FileNotFoundError(f"no {mode} records of arm {arm!r} under {bench_dir}/records; did stage 05 run?")
    return [row for f in files for row in read_jsonl(f)]


def kept_budget(response: str) -> bool:
    """True when the first think block is exactly the glance budget's ``GLANCE_THINK``."""
    from srpo import formats

    return (formats.parse_completion(response).first_think or "").strip() == sevenseg.GLANCE_THINK


def arm_metrics(bench_dir: Path, arm: str) -> dict:
    """Accuracies, fix/break rates (with their counts) and the share of sampled replies that kept the budget."""
    from srpo.bench.metrics import compute_metrics

    greedy, sampled = load_mode(bench_dir, arm, "greedy"), load_mode(bench_dir, arm, "sampled")
    g, s = compute_metrics(greedy), compute_metrics(sampled)
    return {
        "greedy_first": g["first_acc"],
        "greedy_final": g["final_acc"],
        "sampled_first": s["first_acc"],
        "sampled_final": s["final_acc"],
        "sampled_fix": s["fix_rate"],
        "sampled_break": s["break_rate"],
        "budget_kept": statistics.fmean(kept_budget(r["response"]) for r in sampled) if sampled else None,
        "greedy_fix": g["fix_rate"],
        "greedy_break": g["break_rate"],
        "counts": {k: s[k] for k in ("n", "n_first_wrong", "n_fixed", "n_first_right", "n_broken")},
    }


def collect(run_dir: Path, seeds: list[int]) -> dict:
    """``{arm: {seed: metrics}}`` from every arm's stage-05 records (``sft_only``: its one evaluation)."""
    from srpo.ablations.run import arm_dir

    out = {}
    for arm in ARM_ORDER:
        arm_seeds = seeds if arm != "sft_only" else seeds[:1]
        out[arm] = {s: arm_metrics(paths.stage_dir(arm_dir(run_dir, arm, s), "benchmarks"), arm) for s in arm_seeds}
    return out


def summarize(results: dict) -> dict:
    """Per arm and metric: mean and interval over seeds; per metric: the paired SRPO - plain GRPO difference."""
    per_arm = {
        arm: {m: interval([r[m] for r in by_seed.values()]) for m in METRICS} for arm, by_seed in results.items()
    }
    paired = {
        m: paired_interval(
            {s: r[m] for s, r in results["srpo"].items()}, {s: r[m] for s, r in results["grpo_outcome"].items()}
        )
        for m in METRICS
    }
    return {"per_arm": per_arm, "paired": paired, "claim": verdict(paired["sampled_fix"])}


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _cell(r: dict) -> str:
    if r["mean"] is None:
        return "–"
    return _pct(r["mean"]) + ("" if r["low"] is None else f" [{_pct(r['low'])}, {_pct(r['high'])}]")


CLAIM_SENTENCE = {
    "higher": "holds here: under SRPO's reward the reflection fixes more wrong first answers than under plain "
    "GRPO, and the paired 95% interval over seeds excludes zero.",
    "lower": "does not hold here: under SRPO's reward the reflection fixes FEWER wrong first answers than under "
    "plain GRPO, and the paired 95% interval over seeds excludes zero.",
    "unresolved": "is not settled here: the paired 95% interval of the fix-rate difference over seeds contains "
    "zero (or there are too few seeds for an interval).",
}


def render(summary: dict, results: dict, meta: dict) -> str:
    labels = {
        "sft_only": "reflection SFT only (no RL)",
        "grpo_outcome": "plain GRPO (outcome reward)",
        "srpo": "SRPO (reflection-aware reward)",
    }
    heads = [
        "greedy first",
        "greedy final",
        "sampled first",
        "sampled final",
        "sampled fix",
        "sampled break",
        "first pass kept the budget",
    ]
    lines = [
        "# A task where reflection has room to help: SRPO vs plain GRPO (glance variant)",
        "",
        f"Seeds {meta['seeds']} (GRPO seeds; one shared SFT model of {meta['sft_epochs']} epochs), "
        f"{meta['grpo_max_steps']} GRPO steps per arm, "
        f"{meta['eval_n']} greedy and {meta['eval_sampled_limit']} x {meta['eval_sampled_n']} sampled (T = 1) "
        f"synthetic test problems. Wall {meta['wall_s']:.0f} s, CPU {meta['cpu_s']:.0f} s (this process and its "
        f"children), torch threads per arm 1, {meta['workers']} arms at a time.",
        "",
        "Mean over seeds in % with its 95% t-interval in brackets (`fix`: share of wrong first answers the final "
        "answer fixes; `break`: share of right first answers it breaks; last column: share of sampled replies "
        "whose first think is exactly the glance budget).",
        "",
        "| arm | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for arm in ARM_ORDER:
        lines.append(f"| {labels[arm]} | " + " | ".join(_cell(summary["per_arm"][arm][m]) for m in METRICS) + " |")
    lines += [
        "",
        "Paired difference SRPO − plain GRPO (same SFT model, same seeds, same test problems), points:",
        "",
        "| metric | mean [95% interval] | per seed |",
        "|---|---|---|",
    ]
    for m, head in zip(METRICS, heads, strict=True):
        d = summary["paired"][m]
        per_seed = ", ".join(f"{s}: {100 * v:+.1f}" for s, v in d["diffs"].items())
        mean = "–" if d["mean"] is None else f"{100 * d['mean']:+.1f}"
        interval = "" if d["low"] is None else f" [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
        lines.append(f"| {head} | {mean}{interval} | {per_seed} |")
    lines += [
        "",
        "Sampled fix and break counts per seed:",
        "",
        "| arm | seed | fixed / wrong first | broken / right first |",
        "|---|---|---|---|",
    ]
    for arm in ARM_ORDER:
        for seed, r in results[arm].items():
            c = r["counts"]
            lines.append(
                f"| {arm} | {seed} | {c['n_fixed']} / {c['n_first_wrong']} | {c['n_broken']} / {c['n_first_right']} |"
            )
    lines += [
        "",
        f"**The paper's central claim** (a reflection that fixes more wrong first answers under "
        f"reflection-aware RL than without) {CLAIM_SENTENCE[summary['claim']]}",
        "",
    ]
    return "\n".join(lines)


def write_report(run_dir: Path, seeds: list[int], meta: dict) -> dict:
    results = collect(run_dir, seeds)
    summary = summarize(results)
    report = {"meta": meta, "results": results, **summary}
    (run_dir / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (run_dir / "report.md").write_text(render(summary, results, meta))
    return report


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(
    run_dir: Path,
    seeds: list[int],
    scale_name: str = "full",
    workers: int = 2,
    torch_threads: int | None = None,
    **budget,
) -> dict:
    """The whole experiment into ``run_dir``; returns the report (also written as report.md / report.json).

    ``budget`` overrides the scale's ``sft_epochs``, ``grpo_max_steps``, ``eval_n``, ``eval_sampled_limit`` or ``eval_sampled_n``
    (None: the scale's value). Finished arms are kept as they are: a new budget needs a new ``run_dir``.
    """
    if len(seeds) != len(set(seeds)) or not seeds:
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    unknown = set(budget) - {"sft_epochs", "grpo_max_steps", "eval_n", "eval_sampled_limit", "eval_sampled_n"}
    if unknown:
        raise ValueError(f"unknown budget keys {sorted(unknown)}")
    scale = {**SCALES[scale_name], **{k: v for k, v in budget.items() if v is not None}}
    bad = {k: scale[k] for k in ("sft_epochs", "grpo_max_steps") if scale[k] <= 0}
    bad |= {k: scale[k] for k in ("eval_n", "eval_sampled_limit", "eval_sampled_n") if scale[k] < 0}
    if bad or workers < 1 or (torch_threads is not None and torch_threads < 1):
        raise ValueError(
            f"budget out of range: {bad or ''} workers {workers}, torch threads {torch_threads}; "
            "steps and epochs must be positive, evaluation sizes >= 0, workers and threads >= 1"
        )
    run_dir = Path(run_dir)
    check_same_budget(run_dir, scale)
    start, cpu0 = time.time(), cpu_seconds()
    run_shared_stages(run_dir, scale, torch_threads)
    run_arms(run_dir, scale, seeds, workers)
    meta = {
        "seeds": list(seeds),
        "scale": scale_name,
        "sft_epochs": scale["sft_epochs"],
        "grpo_max_steps": scale["grpo_max_steps"],
        "eval_n": scale["eval_n"],
        "eval_sampled_limit": scale["eval_sampled_limit"],
        "eval_sampled_n": scale["eval_sampled_n"],
        "workers": workers,
        "wall_s": time.time() - start,
        "cpu_s": cpu_seconds() - cpu0,
    }
    report = write_report(run_dir, seeds, meta)
    log.info(
        f"reflection experiment report: {run_dir / 'report.md'} (wall {meta['wall_s']:.0f}s, CPU {meta['cpu_s']:.0f}s)"
    )
    return report


def check_same_budget(run_dir: Path, scale: dict) -> None:
    """Finished stages and arms are reused on a re-run, so a run directory keeps one budget: the first run
    records it (``budget.json``) and a later run with another budget is refused before any work, naming both."""
    keys = ("sft_epochs", "grpo_max_steps", "eval_n", "eval_sampled_limit", "eval_sampled_n")
    wanted = {k: scale[k] for k in keys}
    record = run_dir / "budget.json"
    if record.exists():
        before = json.loads(record.read_text())
        if before != wanted:
            raise ValueError(
                f"{run_dir} was run with budget {before}, now asked for {wanted}: its finished arms "
                "would be reused under the new label. Use another --run-dir (or remove this one)."
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(wanted, indent=1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m srpo.ablations.reflection_experiment", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--workers", type=int, default=2, help="arms trained at once (one torch thread each)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        help="torch threads of stages 01-03 (default: the recipes' 2; 1 on a machine other jobs share)",
    )
    parser.add_argument(
        "--sft-epochs", type=float, help="epochs of the reflection SFT (default: the scale's, 3 at full)"
    )
    parser.add_argument("--grpo-steps", type=int, help="GRPO steps per arm (default: the scale's, 200 at full)")
    parser.add_argument("--eval-n", type=int, help="greedy test problems per arm (default: the scale's)")
    parser.add_argument("--eval-sampled-limit", type=int, help="sampled test problems per arm (default: the scale's)")
    a = parser.parse_args(argv)
    run(
        a.run_dir,
        a.seeds,
        a.scale,
        a.workers,
        torch_threads=a.torch_threads,
        sft_epochs=a.sft_epochs,
        grpo_max_steps=a.grpo_steps,
        eval_n=a.eval_n,
        eval_sampled_limit=a.eval_sampled_limit,
    )


if __name__ == "__main__":
    main()
