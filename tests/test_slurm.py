"""The slurm/ scripts on a real SLURM cluster started on this machine.

scripts/start_local_slurm.sh installs Debian's slurm-wlm and munge and starts slurmctld plus four slurmd
("nodes" n1..n4, eight fake GPUs each), so the production scripts sized for 8 and 32 H100 run unchanged;
the tiny profile then runs one CPU process per node. What is checked: the ranks of a stage meet across
the four nodes (one ``[srpo.cluster] rank r/w ... node nX`` line each, logged by the stage's entry point or the
check's probe: ``srpo.cluster.log_rank``; srun starts ``bash -c 'exec accelerate launch --machine_rank
"$SLURM_PROCID" ...'`` on each node), the vLLM-server split (three
training nodes reach a server on the fourth), a time-limit signal leads to checkpoint, requeue and resume
into the same run directory, and ``sbatch slurm/grpo_32b.sh --profile tiny-cpu`` completes with its
executed notebook and summary.json. Skipped, with the reason, only where SLURM cannot be installed.
Set SRPO_KEEP_SLURM=1 to leave the cluster running after the tests (faster re-runs while developing).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srpo.cluster.check import RANK_LINE

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "scripts" / "start_local_slurm.sh"
TERMINAL = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
}
# GRPO on the tiny profile, shrunk to a smoke run: random tiny model (so only stage 01 is needed), two steps.
GRPO_SMOKE = (
    "--model_name_or_path tiny://random --max_steps 2 --max_prompts 32 --num_generations 4 "
    "--per_device_train_batch_size 4 --max_completion_length 16 --eval_samples 0 --save_steps 1"
)


def why_no_slurm() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the local cluster script needs Linux"
    if os.geteuid() != 0:
        return "installing and starting munged/slurmctld/slurmd needs root"
    if not (shutil.which("apt-get") or shutil.which("slurmctld")):
        return "no apt-get to install Debian's slurm-wlm, and no SLURM installed"
    return None


def cluster(action: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLURM_FAKE_NODES": "4", "SLURM_FAKE_GPUS": "8"}
    return subprocess.run(["bash", str(CLUSTER), action], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def slurm_cluster():
    why = why_no_slurm()
    if why:
        pytest.skip(f"SLURM cannot be installed here: {why}")
    installed = cluster("install")
    if installed.returncode != 0:
        pytest.skip(f"SLURM cannot be installed here (apt-get failed): {installed.stderr.strip()[-500:]}")
    started = cluster("start", timeout=300)
    assert started.returncode == 0, f"the local SLURM cluster did not start:\n{started.stderr[-3000:]}"
    yield
    if os.environ.get("SRPO_KEEP_SLURM") != "1":
        cluster("stop", timeout=120)


# ------------------------------------------------------------------------------------------------ helpers


def sbatch(*args, env: dict | None = None) -> int:
    """Submit from the repository root (as users do); returns the job id. The time limit stays above the
    scripts' signal lead (--signal=B:USR1@900), or the job would be told to stop at once."""
    done = subprocess.run(
        ["sbatch", "--parsable", "--time=00:30:00", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().split(";")[0])


def job(job_id: int) -> dict:
    out = subprocess.run(["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True, timeout=30)
    return dict(tok.split("=", 1) for tok in out.stdout.split() if "=" in tok)


def wait(job_id: int, log: Path, timeout: float = 300, until=lambda info: info.get("JobState") in TERMINAL) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = job(job_id)
        if until(info):
            return info
        time.sleep(0.5)
    subprocess.run(["scancel", str(job_id)], timeout=30)
    tail = log.read_text()[-3000:] if log.exists() else "(no log)"
    pytest.fail(f"job {job_id} still {job(job_id).get('JobState')} after {timeout:.0f}s; log tail:\n{tail}")


def wait_nodes_idle(timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30)
        states = out.stdout.split()
        if states and all(s.rstrip("*") == "idle" for s in states):
            return
        time.sleep(0.5)
    pytest.fail(f"the nodes did not become idle in {timeout:.0f}s: {states}")


def check_notebook(path: Path, steps: int = 0, step_seconds: float = 0.5) -> Path:
    """A notebook with the stages' parameters that runs the cluster check (srpo.cluster.check) with the
    stage's own launch plan, for slurm/run_notebook.sh (the body of every stage script)."""
    import nbformat

    params = nbformat.v4.new_code_cell(
        f'profile = "tiny-cpu"\nrun_dir = "runs/tiny-cpu/dev"\noverrides = ""\nsteps = {steps}\nstep_seconds = {step_seconds}'
    )
    params.metadata["tags"] = ["parameters"]
    run = nbformat.v4.new_code_cell(
        "from srpo.cluster.check import run\n"
        'summary = run("grpo_rl", profile, run_dir, overrides, steps=steps, step_seconds=step_seconds)'
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# cluster check"), params, run])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def ranks(text: str) -> list[tuple[int, int, str]]:
    return sorted({(int(m.group(1)), int(m.group(2)), m.group(4)) for m in RANK_LINE.finditer(text)})


# -------------------------------------------------------------------------------------------------- tests


def test_hostlists_match_scontrol(slurm_cluster):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from srpo.cluster.slurm_env import expand_hostlist

    @st.composite
    def hostlists(draw):
        exprs = []
        for _ in range(draw(st.integers(1, 3))):
            prefix = draw(st.sampled_from(["n", "gpu-a", "node", "r1n"]))
            ranges = []
            for _ in range(draw(st.integers(1, 3))):
                width = draw(st.integers(1, 3))
                lo = draw(st.integers(0, 10 ** min(width, 2) - 1))
                hi = lo + draw(st.integers(0, 3))
                ranges.append(f"{lo:0{width}d}" + (f"-{hi:0{width}d}" if hi > lo else ""))
            bare = f"{prefix}{draw(st.integers(0, 99))}"
            exprs.append(f"{prefix}[{','.join(ranges)}]" if draw(st.booleans()) else bare)
        return ",".join(exprs)

    @settings(max_examples=40, deadline=None)
    @given(hostlists())
    def check(hostlist):
        out = subprocess.run(["scontrol", "show", "hostnames", hostlist], capture_output=True, text=True, timeout=30)
        assert expand_hostlist(hostlist) == out.stdout.split(), hostlist

    check()


def test_server_split_three_training_nodes_reach_the_server_node(slurm_cluster, tmp_path):
    notebook = check_notebook(tmp_path / "cluster_check.ipynb")
    log, run_dir = tmp_path / "job.out", tmp_path / "run"
    job_id = sbatch(
        "--nodes=4",
        "--ntasks-per-node=1",
        "--gres=gpu:8",
        "--exclusive",
        f"--output={log}",
        "slurm/run_notebook.sh",
        notebook,
        "tiny-cpu",
        "slurm/run_notebook.sh",
        "--run-dir",
        run_dir,
        "--overrides",
        "--vllm_server_nodes 1",
    )
    # a stop signal seconds after the start means --time is shorter than --signal's lead: ignored, no requeue
    deadline = time.time() + 120
    while not (log.exists() and "[srpo] notebook" in log.read_text()):
        assert time.time() < deadline and job(job_id).get("JobState") not in TERMINAL, log.read_text()[-3000:]
        time.sleep(0.3)
    subprocess.run(["scancel", "--signal=USR1", "--batch", str(job_id)], check=True, timeout=30)
    info = wait(job_id, log)
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "0", log.read_text()[-3000:]
    assert "shorter than the --signal lead" in log.read_text() and not (run_dir / "STOP").exists()
    summary = json.loads((run_dir / "cluster_check" / "summary.json").read_text())
    assert summary["plan"]["train_nodes"] == ["n1", "n2", "n3"] and summary["plan"]["server_nodes"] == ["n4"]
    assert summary["world_size"] == 3 and summary["all_reduce"] == 3.0 and summary["server_reachable"] is True
    assert ranks((run_dir / "cluster_check" / "logs" / "check.log").read_text()) == [
        (0, 3, "n1"),
        (1, 3, "n2"),
        (2, 3, "n3"),
    ]
    assert "health endpoint on n4" in (run_dir / "cluster_check" / "logs" / "vllm_serve.log").read_text()
    assert (run_dir / "notebooks" / "cluster_check.ipynb").exists()


def test_time_limit_signal_checkpoints_requeues_and_resumes(slurm_cluster, tmp_path):
    """SIGUSR1 (what `#SBATCH --signal=B:USR1@600` sends before the time limit) -> STOP -> the ranks agree,
    checkpoint and exit -> scontrol requeue -> attempt 2 in the same run dir resumes from the checkpoint."""
    steps = 16
    notebook = check_notebook(tmp_path / "cluster_check.ipynb", steps=steps, step_seconds=0.5)
    # SRPO_MIN_RUNTIME_S=0: here the signal comes seconds after the start, which the script would ignore
    log, run_dir = tmp_path / "job.out", tmp_path / "run"
    job_id = sbatch(
        "--nodes=4",
        "--ntasks-per-node=1",
        "--gres=gpu:8",
        "--exclusive",
        f"--output={log}",
        "--requeue",
        "--open-mode=append",
        "slurm/run_notebook.sh",
        notebook,
        "tiny-cpu",
        "slurm/run_notebook.sh",
        "--run-dir",
        run_dir,
        env={"SRPO_MIN_RUNTIME_S": "0"},
    )
    state = run_dir / "cluster_check" / "step.txt"
    deadline = time.time() + 240
    while not (state.exists() and state.read_text().strip() and int(state.read_text()) >= 2):
        assert time.time() < deadline and job(job_id).get("JobState") not in TERMINAL, log.read_text()[-3000:]
        time.sleep(0.3)
    subprocess.run(["scancel", "--signal=USR1", "--batch", str(job_id)], check=True, timeout=30)
    info = wait(job_id, log, timeout=120, until=lambda i: i.get("Restarts") == "1" or i.get("JobState") in TERMINAL)
    assert info.get("Restarts") == "1", f"not requeued: {info.get('JobState')}\n{log.read_text()[-3000:]}"
    # Skip SLURM's hold of a requeued job, but only once the nodes have cleaned up attempt 1 and a second has
    # passed: slurmd rejects a relaunch whose credential dates from the second attempt 1 was revoked in.
    wait_nodes_idle()
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], timeout=30)
    info = wait(job_id, log, timeout=300)
    text = log.read_text()
    assert info["JobState"] == "COMPLETED", text[-3000:]
    assert "attempt 1 " in text and "attempt 2 " in text and "SIGUSR1" in text and "requeueing job" in text
    result = json.loads((run_dir / "cluster_check" / "summary.json").read_text())
    assert 2 <= result["resumed_from_step"] < steps, result  # attempt 2 started from attempt 1's checkpoint
    assert result["last_step"] == steps and result["stopped"] is False
    assert result["world_size"] == 4 and result["nodes"] == ["n1", "n2", "n3", "n4"]
    assert (run_dir / "STOP").exists()  # the request stays, but attempt 2 ignored it (older than its start)


def test_grpo_32b_tiny_profile_end_to_end(slurm_cluster, tmp_path):
    """`sbatch slurm/grpo_32b.sh --profile tiny-cpu` unchanged: stage 01 first (slurm/data.sh), then GRPO
    as a dependent job; its ranks meet across the four nodes."""
    missing = [
        p for p in ("notebooks/01_data_curation.ipynb", "notebooks/04_grpo_rl.ipynb") if not (ROOT / p).exists()
    ]
    if missing:
        pytest.skip(f"the GRPO stage is not ready: {', '.join(missing)} missing")
    run_dir = tmp_path / "run"
    data_log, grpo_log = tmp_path / "data.out", tmp_path / "grpo.out"
    data = sbatch(f"--output={data_log}", "slurm/data.sh", "--profile", "tiny-cpu", "--run-dir", run_dir)
    grpo = sbatch(
        f"--output={grpo_log}",
        f"--dependency=afterok:{data}",
        "slurm/grpo_32b.sh",
        "--profile",
        "tiny-cpu",
        "--run-dir",
        run_dir,
        "--overrides",
        GRPO_SMOKE,
    )
    assert wait(data, data_log, timeout=300)["JobState"] == "COMPLETED", data_log.read_text()[-3000:]
    info = wait(grpo, grpo_log, timeout=420)
    assert info["JobState"] == "COMPLETED", grpo_log.read_text()[-3000:]
    assert info["NumNodes"] == "4" and info["NodeList"] == "n[1-4]" and "gpu:8" in info.get("TresPerNode", "")
    assert (run_dir / "notebooks" / "04_grpo_rl.ipynb").exists()
    assert (run_dir / "grpo_rl" / "summary.json").exists()
    assert "SIGUSR1" not in grpo_log.read_text()  # no early stop request
    stage_log = (run_dir / "grpo_rl" / "logs" / "stage.log").read_text()
    assert ranks(stage_log) == [(r, 4, f"n{r + 1}") for r in range(4)]


def test_pipeline_32b_rehearsal_chain_cancels_what_a_failed_stage_feeds(slurm_cluster):
    """`slurm/pipeline.sh --size 32b --rehearse`, every job of the 32b chain submitted for real (five stages, the
    ablation arms' chains and the aggregate) with stage 02 made to fail at once (a bad override): 01 runs first
    and completes, 02 starts only after it and fails, and SLURM cancels everything that depends on 02 directly or
    through other jobs (--kill-on-invalid-dep=yes): 03-05, every arm job (they wait for 03, the reused SRPO arm
    for 04 too) and the aggregate; nothing is left pending. A reduced chain: the full one trains on CPU for
    many minutes (python -m srpo run --rehearse runs the same stages without SLURM)."""
    import re
    import shutil

    name = f"chain-{os.getpid()}"
    run_dir = ROOT / "runs" / "32b" / name
    env = {**os.environ, "SRPO_PYTHON": sys.executable}
    env.pop("SRPO_REHEARSAL", None)
    main, arms = {}, []
    try:
        done = subprocess.run(
            [
                "bash",
                "slurm/pipeline.sh",
                "--size",
                "32b",
                "--rehearse",
                "--run-name",
                name,
                "--override",
                "reflection_generation=--layout no_such_layout",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        main = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^0(\d) \w+: job (\d+)", done.stdout, re.M)}
        arms = [int(j) for j in re.findall(r"-> job (\d+)", done.stdout)]
        assert sorted(main) == [1, 2, 3, 4, 5] and len(arms) == 5, done.stdout  # 3 arms (4 jobs) + aggregate
        log = ROOT / "logs"
        first = wait(main[1], log / f"srpo-data-{main[1]}.out", timeout=400)
        assert first["JobState"] == "COMPLETED", (log / f"srpo-data-{main[1]}.out").read_text()[-3000:]
        second = wait(main[2], log / f"srpo-reflect-{main[2]}.out", timeout=300)
        assert second["JobState"] == "FAILED"
        assert second["StartTime"] >= first["EndTime"]  # afterok: 02 started only once 01 had finished
        for job_id in [main[3], main[4], main[5], *arms]:
            info = wait(job_id, log / "none", timeout=120)
            assert info["JobState"] == "CANCELLED" and info.get("Reason") == "DependencyNeverSatisfied", info
            # never started: slurmd creates a job's --output file when it starts the batch script. (Not RunTime:
            # for a job cancelled while pending, SLURM has reported RunTime as now minus the epoch.)
            assert not list(log.glob(f"*-{job_id}.out")), info
            assert info.get("BatchHost") in (None, "", "(null)"), info
    finally:
        if main or arms:
            subprocess.run(["scancel", *map(str, [*main.values(), *arms])], timeout=30)
        shutil.rmtree(run_dir, ignore_errors=True)
        for path in (ROOT / "runs" / "32b").glob(f"{name}-ablation-*"):
            shutil.rmtree(path, ignore_errors=True)
