"""Cluster ablations: one SLURM job chain per arm, then notebook 06 in aggregate mode.

``python -m srpo.ablations submit --profile 7b --run-name main [--arms ...] [--seeds 0 1] [--dry-run]``
(what ``slurm/ablation_arms.sh`` runs). Each trained arm gets its own run directory
``runs/<profile>/<run_name>-ablation-<arm>-s<seed>/`` and the jobs
``[reflect (an arm whose SFT set needs another stage-02 layout)] -> [sft (plain-CoT arm only)] -> grpo ->
bench``, submitted with the production scripts of ``slurm/`` and ``--dependency=afterok`` plus
``--kill-on-invalid-dep=yes`` (a failed job cancels its dependents instead of leaving them pending forever);
evaluation-only arms get a bench job. Everything an arm reads from the main run (RL prompts, SFT model, CoT SFT
set) is passed as a path.

Dependencies on the main run (``slurm/pipeline.sh`` passes its job ids): every arm waits for the main run's
SFT job (``--after``: the last main-run output an arm reads); the SRPO arm, when the recipe reuses the main
run's GRPO (``reuse_main_srpo``, same seed and budget), is a bench job on the main run's GRPO model and waits
for that GRPO job (``--after-grpo``); the aggregate job waits for every arm and for the main run's benchmarks
(``--after-aggregate``), whose summary its report reads. No arm needs the main run's benchmarks.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from pathlib import Path

from srpo import paths
from srpo.ablations.arms import Arm, link_shared_stage02, needs_own_sft_set, select_arms, sft_set_overrides
from srpo.ablations.run import cot_dataset, sft_base_model


def _script(kind: str, profile: str) -> str:
    size = "32b" if profile == "32b" else "7b"  # tiny-cpu on a cluster uses the 7b-sized scripts
    return f"slurm/{kind}_{size}.sh"


def reuses_main_grpo(arm: Arm, seed: int, profile: str) -> bool:
    """True when the arm IS the main run's GRPO (cluster counterpart of ``run._same_budget``, decided at submit
    time from the recipes): the SRPO arm, ``reuse_main_srpo`` on, the arm's seed equal to the main GRPO's seed,
    and the paper's reward (the arm's GRPO job would use the same recipe and budget)."""
    from srpo.rehearsal import recipe_value

    def value(stage, key):
        return str(recipe_value(profile, stage, key)).lower()

    return (
        arm.name == "srpo"
        and value("ablations", "reuse_main_srpo") == "true"
        and value("grpo_rl", "seed") == str(seed)
        and value("grpo_rl", "reward") == "paper"
    )


def arm_jobs(
    arm: Arm, seed: int, profile: str, run_name: str, cot_set: str | None, reuse_main: bool = True
) -> list[dict]:
    """The job chain of one arm: [{"name", "script", "run_name", "overrides"}], each depending on the previous.
    A job with ``after_main_grpo`` waits for the main run's GRPO job too; ``link_grpo_from`` links the main run's
    GRPO stage into the arm's run (the reused SRPO arm)."""
    main = paths.default_run_dir(profile, run_name)
    arm_run = f"{run_name}-ablation-{arm.name}-s{seed}"
    if reuse_main and reuses_main_grpo(arm, seed, profile):
        # the main run's GRPO stage, linked as the arm's own (its summary is the arm's GRPO budget), then evaluated
        return [
            {
                "name": "bench",
                "script": _script("bench", profile),
                "run_name": arm_run,
                "after_main_grpo": True,
                "link_grpo_from": str(main),
                "overrides": f"--models {arm.name}=stage:grpo_rl --model_prompts {arm.name}={arm.prompt} "
                f"--paper_models {arm.name}=-",
            }
        ]
    base = sft_base_model(main, profile)
    model = {
        "base": base,
        "sft": str(paths.final_dir(main, "cold_start_sft")),
        "cot_sft": str(paths.final_dir(paths.default_run_dir(profile, arm_run), "cold_start_sft")),
    }[arm.start]
    jobs = []
    if needs_own_sft_set(arm, main, profile):  # e.g. the plain-CoT view needs two_pass; 7b/32b make paper
        jobs.append(
            {
                "name": "reflect",
                "script": "slurm/reflect.sh",
                "run_name": arm_run,
                "overrides": " ".join(f"--{k} {v}" for k, v in sft_set_overrides(arm).items()),
                "link_from": str(main),
            }
        )
        cot_set = cot_dataset(paths.default_run_dir(profile, arm_run))
    if arm.start == "cot_sft":
        jobs.append(
            {
                "name": "sft",
                "script": _script("sft", profile),
                "run_name": arm_run,
                "overrides": f"--dataset {cot_set} --model_name_or_path {base} --seed {seed}",
            }
        )
    if arm.trains:
        rl = main / "data_curation" / "rl_train"
        jobs.append(
            {
                "name": "grpo",
                "script": _script("grpo", profile),
                "run_name": arm_run,
                "overrides": f"--model_name_or_path {model} --dataset {rl} --seed {seed} {arm.grpo}".strip(),
            }
        )
        model = "stage:grpo_rl"
    jobs.append(
        {
            "name": "bench",
            "script": _script("bench", profile),
            "run_name": arm_run,
            "overrides": f"--models {arm.name}={model} --model_prompts {arm.name}={arm.prompt} "
            f"--paper_models {arm.name}=-",
        }
    )
    return jobs


def sbatch(script: str, run_name: str, profile: str, overrides: str, after: list[str], dry_run: bool) -> str:
    cmd = ["sbatch", "--parsable"]
    if after:  # a failed dependency cancels this job (else it would pend forever as DependencyNeverSatisfied)
        cmd += ["--dependency=afterok:" + ":".join(after), "--kill-on-invalid-dep=yes"]
    cmd += [script, "--profile", profile, "--run-name", run_name, "--overrides", overrides]
    print("$ " + shlex.join(cmd), flush=True)
    if dry_run:
        return f"<{run_name}/{script.split('/')[-1]}>"  # no ':' (the dependency list's separator)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    job_id = out.split(";")[0]
    print(f"  -> job {job_id}", flush=True)
    return job_id


def link_main_grpo(main_run, arm_run) -> None:
    """``<arm_run>/grpo_rl`` -> ``<main_run>/grpo_rl`` (made at submit time; it resolves once the main GRPO ran)."""
    link, target = Path(arm_run) / "grpo_rl", Path(main_run).resolve() / "grpo_rl"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() and not link.exists():
        os.symlink(target, link, target_is_directory=True)


def submit(
    profile: str,
    run_name: str,
    arms: list[str],
    seeds: list[int],
    dry_run: bool = False,
    after: list[str] | None = None,
    after_grpo: list[str] | None = None,
    after_aggregate: list[str] | None = None,
    reuse_main: bool = True,
) -> list[str]:
    """Submit every arm's chain (each after the jobs ``after``: the main run's SFT job) and the aggregate job
    (after every arm and ``after_aggregate``: the main run's benchmarks job); the reused SRPO arm waits for
    ``after_grpo`` (the main run's GRPO job). Returns the job ids (placeholders when dry)."""
    selected = select_arms(arms)
    cot_set = cot_dataset(paths.default_run_dir(profile, run_name))
    last_jobs = []
    for arm in selected:
        for seed in seeds if arm.trains else seeds[:1]:
            previous: list[str] = list(after or [])
            for job in arm_jobs(arm, seed, profile, run_name, cot_set, reuse_main):
                arm_run = paths.default_run_dir(profile, job["run_name"])
                if job.get("link_from") and not dry_run:
                    link_shared_stage02(job["link_from"], arm_run)
                if job.get("link_grpo_from") and not dry_run:
                    link_main_grpo(job["link_grpo_from"], arm_run)
                waits = [*previous, *(after_grpo or [])] if job.get("after_main_grpo") else previous
                previous = [sbatch(job["script"], job["run_name"], profile, job["overrides"], waits, dry_run)]
            last_jobs += previous
    final = sbatch(
        "slurm/ablations.sh", run_name, profile, "--mode aggregate", [*last_jobs, *(after_aggregate or [])], dry_run
    )
    return [*last_jobs, final]


def cli(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m srpo.ablations submit", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="7b")
    parser.add_argument("--run-name", default="main")
    parser.add_argument("--arms", nargs="+", default=["all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--after", nargs="*", default=[], help="job ids every arm waits for (afterok): the main run's SFT job"
    )
    parser.add_argument(
        "--after-grpo", nargs="*", default=[], help="job ids the reused SRPO arm waits for: the main run's GRPO job"
    )
    parser.add_argument(
        "--after-aggregate",
        nargs="*",
        default=[],
        help="job ids the aggregate job waits for besides the arms: the main run's benchmarks job",
    )
    parser.add_argument(
        "--no-reuse-main-srpo",
        action="store_true",
        help="train the SRPO arm even when reuse_main_srpo holds (e.g. the main GRPO had overrides)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the sbatch commands, submit nothing")
    ns = parser.parse_args(argv)
    submit(
        ns.profile,
        ns.run_name,
        ns.arms,
        ns.seeds,
        ns.dry_run,
        ns.after,
        ns.after_grpo,
        ns.after_aggregate,
        reuse_main=not ns.no_reuse_main_srpo,
    )
