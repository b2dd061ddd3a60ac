"""How much each kind of tiny-cpu stage slows down when one other CPU-bound process shares the machine.

    .venv/bin/python scripts/bench_load.py [--run-dir runs/bench_load] [--competitors 1]

Runs short versions of the main job's stage kinds through their real entry points (the recipe's thread
counts and OpenMP settings, as `make main` runs them), first on the idle machine, then beside
``--competitors`` busy-looping processes, and prints the wall time of each and the ratio. On 2 cores with one
competitor a fair share is a ratio of about 1.0 for a 1-thread stage and about 1.5 for a 2-thread one (it
keeps 1 of 2 cores, plus a share of the other); the README ("Time and speed") records the figures. Needs the
cached tiny models (a first `make main` or `make test` builds them) or builds them on the way (~2 min).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srpo import paths  # noqa: E402
from srpo.launch import run_stage  # noqa: E402


def busy_loop() -> None:
    while True:
        pass


def workloads(run: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(name, [(stage, overrides), ...]): the stages of one workload run at once, each in its own folder."""
    sft = str(paths.stage_dir(run, "cold_start_sft") / "final")
    rl = str(paths.stage_dir(run, "data_curation") / "rl_train")
    sft_set = str(paths.stage_dir(run, "reflection_generation") / "sft")
    grpo = f"--model_name_or_path {sft} --dataset {rl} --max_steps 40 --eval_samples 0 --save_strategy no"
    return [
        (
            "SFT, 150 steps (2 threads; notebooks 02's warm-up and 03)",
            [("cold_start_sft", f"--dataset {sft_set} --max_steps 150 --eval_samples 0 --save_strategy no")],
        ),
        ("GRPO, 40 steps (1 thread; notebook 04)", [("grpo_rl", grpo)]),
        (
            "benchmarks, 300 greedy + 200 x 2 sampled (1 thread; notebook 05)",
            [("benchmarks", f"--models m={sft} --model_prompts m=srpo_rl --paper_models m=- --synthetic_n 300")],
        ),
        ("two GRPO arms at once, 40 steps (1 thread each; notebook 06)", [("grpo_rl", grpo), ("grpo_rl", grpo)]),
    ]


def timed(jobs: list[tuple[str, str]], where: Path) -> float:
    shutil.rmtree(where, ignore_errors=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [
            pool.submit(run_stage, stage, "tiny-cpu", where / f"job{i}", overrides, echo=False)
            for i, (stage, overrides) in enumerate(jobs)
        ]:
            future.result()
    return time.perf_counter() - start


def prepare(run: Path) -> None:
    """Stages 01-03 once (short SFT), so the workloads have data and a five-block model to start from."""
    for stage, overrides in (
        ("data_curation", ""),
        ("reflection_generation", ""),
        ("cold_start_sft", "--max_steps 200 --eval_samples 0"),
    ):
        if not paths.is_done(run, stage):
            run_stage(stage, "tiny-cpu", run, overrides, echo=False)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default=str(paths.project_root() / "runs" / "bench_load"))
    parser.add_argument("--competitors", type=int, default=1)
    args = parser.parse_args(argv)
    run = Path(args.run_dir)
    prepare(run)
    from srpo.speed import reference_seconds

    print(f"machine speed: reference computation {reference_seconds():.2f} s (srpo.speed)")
    print(f"| stage kind | idle s | beside {args.competitors} busy process(es) s | ratio |")
    print("|---|---:|---:|---:|")
    for name, jobs in workloads(run):
        idle = timed(jobs, run / "bench")
        competitors = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(args.competitors)]
        for p in competitors:
            p.start()
        try:
            loaded = timed(jobs, run / "bench")
        finally:
            for p in competitors:
                p.terminate()
        print(f"| {name} | {idle:.1f} | {loaded:.1f} | {loaded / idle:.2f} |", flush=True)


if __name__ == "__main__":
    main()
