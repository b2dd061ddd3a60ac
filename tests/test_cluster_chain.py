"""The cluster job chain of slurm/pipeline.sh and srpo.ablations.submit: which job waits for which, that a failed
job cancels its dependents (--kill-on-invalid-dep=yes), and that the SRPO arm reuses the main run's GRPO
(reuse_main_srpo) instead of training it again. Dry runs here; tests/test_slurm.py runs the chain on a real
local SLURM cluster."""

import os
import shlex
import subprocess
import sys

from srpo import rehearsal
from srpo.ablations import ARMS, submit
from srpo.paths import project_root


def dry_run(*args) -> list[list[str]]:
    """The sbatch commands slurm/pipeline.sh prints, each as its argument list."""
    env = {**os.environ, "SRPO_PYTHON": sys.executable}
    env.pop(rehearsal.ENV, None)
    done = subprocess.run(
        ["bash", str(project_root() / "slurm" / "pipeline.sh"), *args, "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.removeprefix("$ ") for line in done.stdout.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("sbatch")]


def waits_for(cmd: list[str]) -> list[str]:
    dep = next((a for a in cmd if a.startswith("--dependency=afterok:")), "")
    return dep.removeprefix("--dependency=afterok:").split(":") if dep else []


def run_name(cmd: list[str]) -> str:
    return cmd[cmd.index("--run-name") + 1]


def test_pipeline_chain_dependencies_32b_rehearsal():
    cmds = dry_run("--size", "32b", "--rehearse")
    main, arms = cmds[:5], cmds[5:-1]
    aggregate = cmds[-1]
    assert [c[c.index("--profile") - 1] for c in main] == [
        "slurm/data.sh",
        "slurm/reflect.sh",
        "slurm/sft_32b.sh",
        "slurm/grpo_32b.sh",
        "slurm/bench_32b.sh",
    ]
    for i, cmd in enumerate(cmds):  # every dependent job is cancelled when what it waits for fails
        assert ("--kill-on-invalid-dep=yes" in cmd) == bool(waits_for(cmd)), cmd
        assert bool(waits_for(cmd)) == (i > 0), cmd
    by_arm = {}
    for cmd in arms:
        by_arm.setdefault(run_name(cmd), []).append(cmd)
    assert set(by_arm) == {f"rehearsal-ablation-{a}-s0" for a in ("sft_only", "grpo_no_sft", "srpo")}
    # the arms read 01-03 of the main run: they wait for its SFT job, not for its benchmarks
    assert waits_for(by_arm["rehearsal-ablation-sft_only-s0"][0]) == ["<job_of_03>"]
    assert waits_for(by_arm["rehearsal-ablation-grpo_no_sft-s0"][0]) == ["<job_of_03>"]
    # the SRPO arm IS the main GRPO (reuse_main_srpo): one bench job on it, after the main GRPO job
    srpo = by_arm["rehearsal-ablation-srpo-s0"]
    assert len(srpo) == 1 and srpo[0][srpo[0].index("--profile") - 1] == "slurm/bench_32b.sh"
    assert set(waits_for(srpo[0])) == {"<job_of_03>", "<job_of_04>"} and "srpo=stage:grpo_rl" in srpo[0][-1]
    # the aggregate waits for every arm's last job and for the main benchmarks, whose summary its report reads
    assert "<job_of_05>" in waits_for(aggregate) and len(waits_for(aggregate)) == 1 + len(by_arm)
    assert "--mode aggregate" in aggregate


def test_main_grpo_overrides_turn_the_reuse_off():
    cmds = dry_run("--size", "7b", "--from", "04", "--override", "grpo_rl=--learning_rate 2e-6")
    srpo = [c for c in cmds if run_name(c) == "main-ablation-srpo-s0"]
    assert [c[c.index("--profile") - 1] for c in srpo] == ["slurm/grpo_7b.sh", "slurm/bench_7b.sh"]


def test_reused_srpo_arm_links_the_main_grpo_stage(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(submit.paths, "default_run_dir", lambda profile, name: tmp_path / name)
    monkeypatch.setattr(submit, "sbatch", lambda script, name, profile, overrides, after, dry: f"{name}:{script}")
    (tmp_path / "main" / "grpo_rl").mkdir(parents=True)
    ids = submit.submit("7b", "main", ["srpo"], [0, 1], after=["sft"], after_grpo=["grpo"], after_aggregate=["b"])
    link = tmp_path / "main-ablation-srpo-s0" / "grpo_rl"
    assert link.is_symlink() and link.resolve() == (tmp_path / "main" / "grpo_rl").resolve()
    assert not (tmp_path / "main-ablation-srpo-s1" / "grpo_rl").exists()  # seed 1 trains its own
    assert ids[0] == "main-ablation-srpo-s0:slurm/bench_7b.sh" and ids[1] == "main-ablation-srpo-s1:slurm/bench_7b.sh"
    jobs = submit.arm_jobs(ARMS["srpo"], 0, "7b", "main", None, reuse_main=False)
    assert [j["name"] for j in jobs] == ["grpo", "bench"]
