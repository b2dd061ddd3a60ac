"""Cluster ablations: one SLURM job chain per arm, then notebook 06 in aggregate mode.

``python -m srpo.ablations submit --profile 7b --run-name main [--arms ...] [--seeds 0 1] [--dry-run]``
(what ``slurm/ablation_arms.sh`` runs). Each trained arm gets its own run directory
``runs/<profile>/<run_name>-ablation-<arm>-s<seed>/`` and the jobs
``[reflect (an arm whose SFT set needs another stage-02 layout)] -> [sft (plain-CoT arm only)] -> grpo ->
bench``, submitted with the production scripts of ``slurm/`` and
``--dependency=afterok``; evaluation-only arms get a bench job. The aggregate job waits for all of them.
Everything an arm reads from the main run (RL prompts, SFT model, CoT SFT set) is passed as a path.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess

from srpo import paths
from srpo.ablations.arms import Arm, link_shared_stage02, needs_own_sft_set, select_arms, sft_set_overrides
from srpo.ablations.run import cot_dataset, sft_base_model


def _script(kind: str, profile: str) -> str:
    size = "32b" if profile == "32b" else "7b"  # tiny-cpu on a cluster uses the 7b-sized scripts
    return f"slurm/{kind}_{size}.sh"


def arm_jobs(arm: Arm, seed: int, profile: str, run_name: str, cot_set: str | None) -> list[dict]:
    """The job chain of one arm: [{"name", "script", "run_name", "overrides"}], each depending on the previous."""
    main = paths.default_run_dir(profile, run_name)
    arm_run = f"{run_name}-ablation-{arm.name}-s{seed}"
    base = sft_base_model(main, profile)
    model = {"base": base, "sft": str(paths.final_dir(main, "cold_start_sft")),
             "cot_sft": str(paths.final_dir(paths.default_run_dir(profile, arm_run), "cold_start_sft"))}[arm.start]  # fmt: skip
    jobs = []
    if needs_own_sft_set(arm, main, profile):  # e.g. the plain-CoT view needs two_pass; 7b/32b make paper
        jobs.append({"name": "reflect", "script": "slurm/reflect.sh", "run_name": arm_run,
                     "overrides": " ".join(f"--{k} {v}" for k, v in sft_set_overrides(arm).items()),
                     "link_from": str(main)})  # fmt: skip
        cot_set = cot_dataset(paths.default_run_dir(profile, arm_run))
    if arm.start == "cot_sft":
        jobs.append({"name": "sft", "script": _script("sft", profile), "run_name": arm_run,
                     "overrides": f"--dataset {cot_set} --model_name_or_path {base} --seed {seed}"})  # fmt: skip
    if arm.trains:
        rl = main / "data_curation" / "rl_train"
        jobs.append({"name": "grpo", "script": _script("grpo", profile), "run_name": arm_run,
                     "overrides": f"--model_name_or_path {model} --dataset {rl} --seed {seed} {arm.grpo}".strip()})  # fmt: skip
        model = "stage:grpo_rl"
    jobs.append({"name": "bench", "script": _script("bench", profile), "run_name": arm_run,
                 "overrides": f"--models {arm.name}={model} --model_prompts {arm.name}={arm.prompt} "
                              f"--paper_models {arm.name}=-"})  # fmt: skip
    return jobs


def sbatch(script: str, run_name: str, profile: str, overrides: str, after: list[str], dry_run: bool) -> str:
    cmd = ["sbatch", "--parsable"]
    if after:
        cmd.append("--dependency=afterok:" + ":".join(after))
    cmd += [script, "--profile", profile, "--run-name", run_name, "--overrides", overrides]
    print("$ " + shlex.join(cmd), flush=True)
    if dry_run:
        return f"<{run_name}:{script.split('/')[-1]}>"
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    return out.split(";")[0]


def submit(profile: str, run_name: str, arms: list[str], seeds: list[int], dry_run: bool = False,
           after: list[str] | None = None) -> list[str]:  # fmt: skip
    """Submit every arm's chain (each after the jobs ``after``, e.g. the pipeline's stage 05) and the aggregate
    job; returns the job ids (placeholders when dry)."""
    selected = select_arms(arms)
    cot_set = cot_dataset(paths.default_run_dir(profile, run_name))
    last_jobs = []
    for arm in selected:
        for seed in seeds if arm.trains else seeds[:1]:
            previous: list[str] = list(after or [])
            for job in arm_jobs(arm, seed, profile, run_name, cot_set):
                if job.get("link_from") and not dry_run:
                    link_shared_stage02(job["link_from"], paths.default_run_dir(profile, job["run_name"]))
                previous = [sbatch(job["script"], job["run_name"], profile, job["overrides"], previous, dry_run)]
            last_jobs += previous
    final = sbatch("slurm/ablations.sh", run_name, profile, "--mode aggregate", last_jobs, dry_run)
    return [*last_jobs, final]


def cli(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m srpo.ablations submit", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="7b")
    parser.add_argument("--run-name", default="main")
    parser.add_argument("--arms", nargs="+", default=["all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--after", nargs="*", default=[], help="job ids the arms wait for (afterok)")
    parser.add_argument("--dry-run", action="store_true", help="print the sbatch commands, submit nothing")
    ns = parser.parse_args(argv)
    submit(ns.profile, ns.run_name, ns.arms, ns.seeds, ns.dry_run, ns.after)
