"""``python -m srpo.ablations --config <run_dir>/ablations/config.yaml`` (the stage's entry point), and
``python -m srpo.ablations submit --profile 7b --run-name main`` (one SLURM job chain per arm)."""

from __future__ import annotations

import sys
import time

from srpo import config as srpo_config
from srpo import paths
from srpo.ablations import collect, notes, report

STAGE = "ablations"


def main(cfg) -> dict:
    args, run_dir, out = cfg.args, cfg.run.run_dir, cfg.stage_dir
    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    if args.mode == "run":
        from srpo.ablations.run import run_arms

        run_arms(cfg)
        found = collect.arm_runs_in(run_dir)
    else:
        found = collect.arm_runs_named(args.arm_run_dirs, cfg.run.profile, paths.resolve_run_dir(run_dir).name)
    if not found:
        raise RuntimeError(f"no finished arm runs found for {run_dir} (mode {args.mode})")
    results = [collect.arm_results(arm, seed, path) for (arm, seed), path in sorted(found.items())]
    rows = collect.aggregate(results)
    collect.save_results(results, rows, out)
    figure = plot_arms(rows, out)
    bench = paths.read_summary(run_dir, "benchmarks") if paths.is_done(run_dir, "benchmarks") else None
    path = report.write_report(
        out,
        profile=cfg.run.profile,
        rows=rows,
        results=results,
        bench_summary=bench,
        figure=figure,
        notes=notes.arm_notes(rows),
    )
    summary = {
        "mode": args.mode,
        "arms": sorted({r["arm"] for r in results}),
        "seeds": sorted({r["seed"] for r in results}),
        "table": report.arm_table(rows),
        "released_reward_check": report.released_reward_check(rows),
        "notes": notes.arm_notes(rows),
        "report": str(path),
        "seconds": round(time.time() - start, 1),
    }
    paths.write_summary(run_dir, STAGE, summary)
    return summary


def plot_arms(rows: list[dict], out) -> str | None:
    """Final- and first-answer accuracy per arm, greedy and sampled; saved as figures/arms.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = report.arm_table(rows)
    if not table:
        return None
    by = {(r["arm"], r["mode"]): r for r in rows if r["benchmark"] == "synthetic:test"}
    arms = [t["arm"] for t in table]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(arms)), 3.6))
    for i, (mode, metric, style) in enumerate(
        [("greedy", "final_acc", "C0"), ("sampled", "final_acc", "C1"), ("sampled", "first_acc", "C2")]
    ):
        values = [100 * (by.get((a, mode), {}).get(metric) or 0) for a in arms]
        ax.bar([x + 0.27 * (i - 1) for x in range(len(arms))], values, 0.27, color=style, label=f"{mode} {metric}")
    ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right")
    ax.set(ylabel="accuracy (%)", title="Ablation arms on the synthetic test set")
    ax.legend(fontsize=8)
    fig.tight_layout()
    (out / "figures").mkdir(exist_ok=True)
    fig.savefig(out / "figures" / "arms.png", dpi=110)
    plt.close(fig)
    return "figures/arms.png"


def cli(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["submit"]:
        from srpo.ablations.submit import cli as submit_cli

        return submit_cli(argv[1:])
    cfg, _ = srpo_config.parse_entry_point(
        STAGE, argv, prog="python -m srpo.ablations", description="Stage 06: ablations and the paper-vs-ours report"
    )
    main(cfg)


if __name__ == "__main__":
    cli()
