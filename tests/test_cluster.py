"""srpo.cluster without a cluster: SLURM variables, launch plans, command lines, preemption, the vLLM-server
supervisor, the accelerate/DeepSpeed configs and the slurm/ scripts' --help and --dry-run. The same code on a
real (local) SLURM cluster: tests/test_slurm.py."""

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from srpo import config
from srpo.cluster import log_rank, plan, preemption, supervise
from srpo.cluster.slurm_env import (
    Allocation,
    SlurmEnvError,
    expand_counts,
    expand_hostlist,
    read_sbatch_header,
    simulated_allocation,
)
from srpo.configs.base import LaunchArgs

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "slurm"
# The sbatch scripts of the stages; pipeline.sh and ablation_arms.sh run on a login node and submit them.
LOGIN_SCRIPTS = ("pipeline.sh", "ablation_arms.sh")
# run_notebook.sh is the body the stage scripts share; env.sh (sourced) picks the Python environment.
STAGE_SCRIPTS = sorted(p for p in SLURM.glob("*.sh") if p.name not in ("run_notebook.sh", "env.sh", *LOGIN_SCRIPTS))
JOB_32B = {
    "SLURM_JOB_ID": "4711",
    "SLURM_JOB_NODELIST": "gpu-a[01-03,07]",
    "SLURM_GPUS_ON_NODE": "8",
    "SLURM_JOB_CPUS_PER_NODE": "96(x3),64",
}


# ------------------------------------------------------------------------------------------- node lists


@pytest.mark.parametrize(
    ("hostlist", "nodes"),
    [
        ("n[1-4]", ["n1", "n2", "n3", "n4"]),
        ("gpu-a[01-03,07]", ["gpu-a01", "gpu-a02", "gpu-a03", "gpu-a07"]),
        ("gpu-a01", ["gpu-a01"]),
        ("n[1-2],login,x[9-11]", ["n1", "n2", "login", "x9", "x10", "x11"]),
        ("y[098-101]", ["y098", "y099", "y100", "y101"]),
        ("r[1-2]n[01-02]", ["r1n01", "r1n02", "r2n01", "r2n02"]),
        ("a[1-2]-b[3,5]", ["a1-b3", "a1-b5", "a2-b3", "a2-b5"]),
    ],
)
def test_expand_hostlist(hostlist, nodes):
    assert expand_hostlist(hostlist) == nodes


@pytest.mark.parametrize("bad", ["n[3-1]", "n[1-2", "n1-2]", "n[a-b]", "n[1-]", ""])
def test_bad_hostlist_names_the_list(bad):
    with pytest.raises(SlurmEnvError, match="hostlist"):
        expand_hostlist(bad)


def test_expand_counts():
    assert expand_counts("96(x3),64") == [96, 96, 96, 64]
    assert expand_counts("8") == [8]
    with pytest.raises(SlurmEnvError, match="96x3"):
        expand_counts("96x3")


def test_allocation_from_env():
    alloc = Allocation.from_env(JOB_32B)
    assert alloc.job_id == 4711 and alloc.nodes == ("gpu-a01", "gpu-a02", "gpu-a03", "gpu-a07")
    assert alloc.gpus_per_node == 8 and alloc.cpus_per_node == (96, 96, 96, 64)
    assert Allocation.from_env({}) is None  # outside SLURM
    typed = Allocation.from_env({"SLURM_JOB_ID": "1", "SLURM_JOB_NODELIST": "n1", "SLURM_GPUS_PER_NODE": "h100:4"})
    assert typed.gpus_per_node == 4 and typed.cpus_per_node == ()
    no_gpu = Allocation.from_env({"SLURM_JOB_ID": "1", "SLURM_NODELIST": "n1"})  # set -u safe: no GPU variable
    assert no_gpu.gpus_per_node == 0


# ------------------------------------------------------------------------------------------ launch plans


def test_32b_grpo_split_three_training_nodes_and_a_server_node():
    launch = LaunchArgs(launcher="accelerate", gpus_per_node=8, vllm_server_nodes=1)
    p = plan.plan_launch(launch, Allocation.from_env(JOB_32B), JOB_32B)
    assert p.train_nodes == ("gpu-a01", "gpu-a02", "gpu-a03") and p.server_nodes == ("gpu-a07",)
    assert (p.num_machines, p.world_size, p.master_addr) == (3, 24, "gpu-a01")
    assert (p.master_port, p.server_port) == (29500 + 711, 8000 + 711)  # per-job ports
    assert p.cpus_per_node == 64  # the smallest node decides srun's --cpus-per-task


def test_split_nodes_edge_cases():
    assert plan.split_nodes(("n1",), 0) == (("n1",), ())
    with pytest.raises(plan.LaunchError, match="no training node"):
        plan.split_nodes(("n1",), 1)


def test_plan_on_one_node_and_outside_slurm():
    one = {"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n1", "SLURM_GPUS_ON_NODE": "8"}
    p = plan.plan_launch(LaunchArgs(launcher="accelerate"), Allocation.from_env(one), one)
    assert (p.world_size, p.master_addr, p.in_slurm) == (8, "n1", True)  # gpus_per_node 0 = the job's GPUs
    local = plan.plan_launch(LaunchArgs(launcher="accelerate", gpus_per_node=2), None, {"MASTER_PORT": "1234"})
    assert (local.in_slurm, local.world_size, local.master_port) == (False, 2, 1234)
    cpu = plan.plan_launch(
        LaunchArgs(launcher="auto"), Allocation.from_env({"SLURM_JOB_ID": "3", "SLURM_JOB_NODELIST": "c[1-4]"})
    )
    assert cpu.world_size == 4  # no GPUs: one process per node
    with pytest.raises(plan.LaunchError, match="SLURM allocation"):
        plan.plan_launch(LaunchArgs(launcher="accelerate", vllm_server_nodes=1), None, {})


def test_launch_args_validation():
    with pytest.raises(ValueError, match="launcher"):
        LaunchArgs(launcher="torchrun")
    with pytest.raises(ValueError, match="vllm_server_nodes"):
        LaunchArgs(vllm_server_nodes=2)
    with pytest.raises(ValueError, match="accelerate .yaml"):
        LaunchArgs(launcher="accelerate", accelerate_config="recipes/accelerate/ds_zero3.json")


def test_command_lines():
    p = plan.plan_launch(
        LaunchArgs(launcher="accelerate", gpus_per_node=8, vllm_server_nodes=1), Allocation.from_env(JOB_32B), JOB_32B
    )
    cmd = plan.node_command(p, "/x/zero3.yaml", ["srpo.grpo", "--config", "c.yaml"])
    assert cmd[:2] == ["bash", "-c"] and len(cmd) == 3  # srun -> bash -> (exec) accelerate: no agent between
    script = shlex.split(cmd[2])
    assert script[0] == "exec" and script[1].endswith("/accelerate") and script[2] == "launch"
    assert '--machine_rank "$SLURM_PROCID"' in cmd[2]  # the one word the node's bash expands
    assert script[script.index("--machine_rank") + 1] == "$SLURM_PROCID"
    assert script[script.index("--num_processes") + 1] == "24" and script[script.index("--num_machines") + 1] == "3"
    assert script[script.index("--main_process_ip") + 1] == "gpu-a01" and "--cpu" not in script
    assert script[-4:] == ["-m", "srpo.grpo", "--config", "c.yaml"]  # the stage itself, no rank trampoline
    srun = plan.srun_command(p.train_nodes, ["x"], p.cpus_per_node)
    assert "--nodelist=gpu-a01,gpu-a02,gpu-a03" in srun and "--ntasks-per-node=1" in srun
    assert "--ntasks=3" in srun and "--kill-on-bad-exit=1" in srun and "--cpus-per-task=64" in srun
    serve = plan.vllm_serve_command(p, "/runs/x/cold_start_sft/final", tensor_parallel_size=2)
    assert serve[1:3] == ["vllm-serve", "--model"] and serve[serve.index("--data_parallel_size") + 1] == "4"
    assert serve[serve.index("--port") + 1] == str(p.server_port)
    with pytest.raises(plan.LaunchError, match="does not divide"):
        plan.vllm_serve_command(p, "m", tensor_parallel_size=3)
    no_config = plan.accelerate_command(p, "", ["m"])
    assert "--multi_gpu" in no_config  # plain DDP over torchrun (gloo on CPU), never --cpu


def test_each_node_runs_accelerate_with_its_rank_and_every_word_quoted(tmp_path, monkeypatch):
    """The bash script srun starts on each node, run here with a stand-in for accelerate that prints its argv:
    --machine_rank is that node's SLURM_PROCID and paths with spaces and quotes arrive unchanged; the dry-run
    text of the same command (plan.shell_text, multi-line) runs to the same argv."""
    fake = tmp_path / "fake accelerate"
    fake.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\"\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(plan, "bin_path", lambda name: str(fake))
    p = plan.plan_launch(LaunchArgs(launcher="accelerate", gpus_per_node=8), Allocation.from_env(JOB_32B), JOB_32B)
    config_path = str(tmp_path / "it's a run" / "config.yaml")
    cmd = plan.node_command(p, "/x/zero3.yaml", ["srpo.grpo", "--config", config_path])
    env = {**os.environ, "SLURM_PROCID": "2"}
    expected = plan.accelerate_command(p, "/x/zero3.yaml", ["srpo.grpo", "--config", config_path], machine_rank=2)
    for argv in (cmd, ["bash", "-c", plan.shell_text(cmd, width=40)]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        assert json.loads(done.stdout) == expected[1:], plan.shell_text(cmd, width=40)
    srun = plan.srun_command(p.train_nodes, cmd, p.cpus_per_node)
    text = plan.shell_text(srun)
    assert text.startswith("srun --nodes=4") and "\n  bash -c 'exec " in text and '"$SLURM_PROCID"' in text
    assert text.count(" \\\n") >= 3  # readable: one option group per line


def test_log_rank(capsys):
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "SLURMD_NODENAME": "n2", "MASTER_ADDR": "n1"}
    assert log_rank(env) == "rank 1/4 local_rank 0 node n2 rendezvous n1:-"
    line = capsys.readouterr().out.strip()
    assert line == "[srpo.cluster] rank 1/4 local_rank 0 node n2 rendezvous n1:-"  # what check.RANK_LINE reads
    from srpo.cluster.check import RANK_LINE

    assert RANK_LINE.fullmatch(line.rsplit(" rendezvous", 1)[0]).groups() == ("1", "4", "0", "n2")


# ------------------------------------------------------------------- stage configs -> launches (recipes)


def grpo_32b_server_cfg(tmp_path):
    overrides = (
        "--use_cpu true --launcher accelerate --accelerate_config recipes/accelerate/zero3.yaml "
        "--gpus_per_node 8 --vllm_server_nodes 1 --use_vllm true --vllm_mode server "
        "--vllm_tensor_parallel_size 2 --model_name_or_path stage:cold_start_sft"
    )
    return config.load("grpo_rl", "32b", tmp_path / "run", overrides)


def test_build_launch_for_32b_grpo_in_server_mode(tmp_path):
    cfg = grpo_32b_server_cfg(tmp_path)
    launch = plan.build_launch(cfg, "srpo.grpo", ["--config", "c.yaml"], JOB_32B)
    assert launch.server[0] == "srun" and "--nodelist=gpu-a07" in launch.server
    assert launch.server[launch.server.index("--model") + 1] == str(tmp_path / "run" / "cold_start_sft" / "final")
    assert "--nodelist=gpu-a01,gpu-a02,gpu-a03" in launch.train and launch.train[-3:-1] == ["bash", "-c"]
    accelerate = shlex.split(launch.train[-1])
    assert accelerate[accelerate.index("--config_file") + 1] == str(ROOT / "recipes/accelerate/zero3.yaml")
    assert accelerate[-4:] == ["-m", "srpo.grpo", "--config", "c.yaml"]
    assert launch.config_updates == {"vllm_server_host": "gpu-a07", "vllm_server_port": 8711}


def test_server_nodes_need_server_mode_and_configs_must_exist(tmp_path):
    colocate = config.load("grpo_rl", "32b", tmp_path, "--use_cpu true --vllm_server_nodes 1 --vllm_mode colocate")
    with pytest.raises(plan.LaunchError, match="vllm_mode: server"):
        plan.build_launch(colocate, "srpo.grpo", [], JOB_32B)
    missing = config.load(
        "grpo_rl", "32b", tmp_path, "--use_cpu true --launcher accelerate --accelerate_config x.yaml"
    )
    with pytest.raises(plan.LaunchError, match=r"x\.yaml.*does not exist"):
        plan.build_launch(missing, "srpo.grpo", [], JOB_32B)


def test_stage_command_writes_server_host_into_the_resolved_config(tmp_path, monkeypatch):
    from srpo import launch

    cfg = grpo_32b_server_cfg(tmp_path)
    path = config.save_resolved(cfg)
    for key, value in JOB_32B.items():
        monkeypatch.setenv(key, value)
    cmd = launch.stage_command(cfg, path)
    assert cmd[1:3] == ["-m", "srpo.cluster.supervise"]
    saved = json.loads(Path(cmd[3]).read_text())
    assert saved["health_url"] == "http://gpu-a07:8711/health/" and saved["plan"]["world_size"] == 24
    reparsed = config.load_resolved("grpo_rl", path, "--use_cpu true")
    assert (reparsed.trl.vllm_server_host, reparsed.trl.vllm_server_port) == ("gpu-a07", 8711)


def test_auto_launcher_is_one_plain_process_outside_slurm(tmp_path, monkeypatch):
    from srpo import launch

    for key in ("SLURM_JOB_ID", "SLURM_JOBID", "SLURM_JOB_NODELIST", "SLURM_NODELIST"):
        monkeypatch.delenv(key, raising=False)
    cfg = config.load("grpo_rl", "tiny-cpu", tmp_path, "--launcher auto --gpus_per_node 1")
    assert launch.stage_command(cfg, tmp_path / "c.yaml") == [
        sys.executable,
        "-m",
        "srpo.grpo",
        "--config",
        str(tmp_path / "c.yaml"),
    ]
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "n[1-4]")
    inside = launch.stage_command(cfg, tmp_path / "c.yaml")
    assert inside[0] == "srun" and "--nodelist=n1,n2,n3,n4" in inside and inside[-3:-1] == ["bash", "-c"]
    accelerate = shlex.split(inside[-1])
    assert accelerate[accelerate.index("--num_processes") + 1] == "4"


# -------------------------------------------------------------------------------------------- preemption


def test_stop_request_counts_only_when_newer_than_the_process(tmp_path):
    assert not preemption.stop_requested(tmp_path, since=0)
    (tmp_path / preemption.STOP_FILE).write_text("x")
    assert preemption.stop_requested(tmp_path, since=0)
    assert not preemption.stop_requested(tmp_path, since=time.time() + 10)  # a stale request is ignored


def test_stop_on_request_callback_saves_and_stops(tmp_path):
    from transformers import TrainerCallback, TrainerControl

    callback = preemption.StopOnRequest(tmp_path, since=time.time() - 1)
    assert isinstance(callback, TrainerCallback)
    control = callback.on_step_end(None, None, TrainerControl())
    assert not (control.should_save or control.should_training_stop or callback.stopped)
    (tmp_path / "STOP").write_text("time limit")
    control = callback.on_step_end(None, None, TrainerControl())
    assert control.should_save and control.should_training_stop and callback.stopped


def test_batch_script_writes_the_stop_file_the_callback_reads():
    body = (SLURM / "run_notebook.sh").read_text()
    assert f"STOP_FILE=$RUN_DIR/{preemption.STOP_FILE} " in body and "scontrol requeue" in body
    for script in STAGE_SCRIPTS:
        header = read_sbatch_header(script)
        assert "--requeue" in header, script.name
        if "--signal" in header:
            lead = int(re.fullmatch(r"B:USR1@(\d+)", header["--signal"]).group(1))
            grace = int(re.search(r"SRPO_STOP_GRACE_S:-(\d+)", script.read_text()).group(1))
            assert grace + 60 <= lead, f"{script.name}: the requeue must happen before the time limit"


# ---------------------------------------------------------------------------------- vLLM server supervisor


@pytest.fixture
def health_server():
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/health/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health/"
    server.shutdown()


def test_wait_for_health(health_server):
    assert supervise.wait_for_health(health_server, timeout_s=5, interval_s=0.1) < 5
    with pytest.raises(supervise.ServerFailed, match="did not answer"):
        supervise.wait_for_health(health_server.replace("/health/", "/nope/"), timeout_s=0.3, interval_s=0.1)
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(supervise.ServerFailed, match="exited with code 3"):
        supervise.wait_for_health("http://127.0.0.1:9/health/", timeout_s=5, interval_s=0.1, server=dead)


def test_supervisor_starts_server_trains_and_stops_server(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve = [sys.executable, "-m", "srpo.cluster.check", "serve", "--port", str(port)]
    marker = tmp_path / "trained"
    train = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ok')"]
    run_plan = {
        "server": serve,
        "train": train,
        "health_url": f"http://127.0.0.1:{port}/health/",
        "plan": {"server_nodes": ["localhost"]},
    }
    assert supervise.run(run_plan, tmp_path / "logs" / "vllm_serve.log", timeout_s=60) == 0
    assert marker.read_text() == "ok"
    assert "health endpoint" in (tmp_path / "logs" / "vllm_serve.log").read_text()
    crashing = {**run_plan, "server": [sys.executable, "-c", "raise SystemExit(5)"]}
    assert supervise.run(crashing, tmp_path / "logs" / "crash.log", timeout_s=60) == 1


# ------------------------------------------------------------------------------- accelerate / DeepSpeed


@pytest.mark.parametrize(("name", "stage", "offload"), [("zero3.yaml", 3, None), ("zero2_offload.yaml", 2, "cpu")])
def test_deepspeed_accelerate_configs(name, stage, offload):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "recipes" / "accelerate" / name))
    assert cfg.distributed_type == "DEEPSPEED"
    assert cfg.deepspeed_config["deepspeed_multinode_launcher"] == "standard"  # torchrun per node, no pdsh/ssh
    ds = json.loads((ROOT / cfg.deepspeed_config["deepspeed_config_file"]).read_text())
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["zero_optimization"].get("offload_optimizer", {}).get("device") == offload
    assert ds["train_micro_batch_size_per_gpu"] == "auto"  # filled from the recipe by the HF Trainer


def test_ddp_config_is_multi_process():
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "recipes" / "accelerate" / "ddp.yaml"))
    assert cfg.distributed_type == "MULTI_GPU" and not cfg.use_cpu  # use_cpu/--cpu runs ONE process


@pytest.mark.parametrize("profile", config.PROFILES)
@pytest.mark.parametrize("stage", ["cold_start_sft", "grpo_rl"])
def test_training_recipes_launch_through_accelerate(profile, stage, tmp_path):
    overrides = "--use_cpu true" if profile != "tiny-cpu" else ""
    cfg = config.load(stage, profile, tmp_path, overrides)
    expected = {"tiny-cpu": "auto", "7b": "accelerate", "32b": "accelerate"}[profile]
    assert cfg.launch.launcher == expected
    assert plan.resolve_accelerate_config(cfg.launch.accelerate_config)  # exists
    if profile == "32b" and stage == "grpo_rl":
        assert cfg.launch.vllm_server_nodes == 1 and cfg.trl.use_vllm and cfg.trl.vllm_mode == "server"


# --------------------------------------------------------------------------------------- slurm/ scripts


def run_script(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    if (Path(sys.prefix) / "bin" / "activate").is_file():  # the scripts' Python: the one running the tests
        full_env.setdefault("SRPO_VENV", sys.prefix)
    for key in ("SRPO_PROFILE", "SRPO_RUN_NAME", "SRPO_RUN_DIR", "SRPO_OVERRIDES", "SLURM_JOB_ID"):
        full_env.pop(key, None)
    return subprocess.run(
        ["bash", *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=300
    )


@pytest.mark.parametrize("option", ["--run-dir", "--run-name", "--profile", "--overrides"])
def test_an_option_without_its_value_is_refused_before_anything_runs(option, tmp_path):
    # `--run-dir --dry-run` once took --dry-run as the folder and ran the notebook for real
    done = run_script(SLURM / "grpo_7b.sh", option, "--dry-run", env={"SRPO_HOME": str(ROOT)})
    assert done.returncode == 2 and f"{option} needs a value" in done.stderr and "--dry-run" in done.stderr
    assert not (ROOT / "--dry-run").exists() and "papermill" not in done.stdout
    done = run_script(SLURM / "grpo_7b.sh", "--run-dir")
    assert done.returncode == 2 and "--run-dir needs a value" in done.stderr


def test_dry_run_fails_when_the_python_environment_is_missing(tmp_path):
    done = run_script(SLURM / "grpo_7b.sh", "--dry-run", env={"SRPO_VENV": str(tmp_path / "none")})
    assert done.returncode == 2 and f"no Python environment at {tmp_path / 'none'}" in done.stderr


def test_login_scripts_use_the_environment_the_jobs_use(tmp_path):
    """pipeline.sh and ablation_arms.sh run Python on the login node from SRPO_VENV / SRPO_CONDA_ENV, like the
    jobs (slurm/env.sh), not from whatever python3 is on PATH."""
    for script in LOGIN_SCRIPTS:
        done = run_script(SLURM / script, "--dry-run", env={"SRPO_VENV": str(tmp_path / "none"), "SRPO_PYTHON": ""})
        assert done.returncode == 2 and f"no Python environment at {tmp_path / 'none'}" in done.stderr, script
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip("the tests do not run from a virtualenv")
    done = run_script(
        SLURM / "pipeline.sh", "--size", "7b", "--dry-run", env={"SRPO_VENV": str(venv), "SRPO_PYTHON": ""}
    )
    assert done.returncode == 0 and "slurm/grpo_7b.sh" in done.stdout, done.stderr


@pytest.mark.parametrize("script", sorted(SLURM.glob("*.sh")), ids=lambda p: p.name)
def test_scripts_parse(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


@pytest.mark.parametrize("script", [*STAGE_SCRIPTS, *(SLURM / n for n in LOGIN_SCRIPTS)], ids=lambda p: p.name)
def test_help_and_unknown_option(script):
    done = run_script(script, "--help")
    assert done.returncode == 0 and "Usage:" in done.stdout and "--dry-run" in done.stdout
    bad = run_script(script, "--bogus")
    assert bad.returncode == 2 and "unknown option '--bogus'" in bad.stderr


@pytest.mark.parametrize(
    ("script", "nodes", "gpus"),
    [
        ("sft_7b.sh", 1, 8),
        ("grpo_7b.sh", 1, 8),
        ("bench_7b.sh", 1, 8),
        ("sft_32b.sh", 4, 8),
        ("grpo_32b.sh", 4, 8),
        ("bench_32b.sh", 1, 8),
        ("data.sh", 1, 0),
        ("reflect.sh", 1, 8),
        ("ablations.sh", 1, 8),
    ],
)
def test_headers_are_sized_for_their_hardware(script, nodes, gpus):
    header = read_sbatch_header(SLURM / script)
    alloc = simulated_allocation(header)
    assert (alloc.num_nodes, alloc.gpus_per_node) == (nodes, gpus)
    assert header["--output"] == "logs/%x-%j.out" and header["--open-mode"] == "append"


def test_sbatch_header_forms(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH -N 2 --gres gpu:h100:4  # two nodes\n#SBATCH --exclusive\necho hi\n#SBATCH --nodes=9\n"
    )
    header = read_sbatch_header(script)
    assert header == {"-N": "2", "--gres": "gpu:h100:4", "--exclusive": ""}  # sbatch stops at the first command
    alloc = simulated_allocation(header)
    assert (alloc.nodes, alloc.gpus_per_node) == (("node01", "node02"), 4)


@pytest.mark.slow
def test_dry_run_of_grpo_32b_prints_papermill_and_the_launch_plan(tmp_path):
    # use_vllm/vllm_mode given here so that this checks the script; the recipe is checked above
    server_mode = "--use_vllm true --vllm_mode server --model_name_or_path stage:cold_start_sft"
    done = run_script(SLURM / "grpo_32b.sh", "--dry-run", "--run-dir", tmp_path / "run", "--overrides", server_mode)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"-m papermill {ROOT}/notebooks/04_grpo_rl.ipynb {tmp_path}/run/notebooks/04_grpo_rl.ipynb" in out
    assert "-r profile 32b" in out and f"-r run_dir {tmp_path}/run" in out and "requeue" in out
    assert "world size 24" in out and "trl vllm-serve" in out and "--nodelist=node04" in out
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_pipeline_dry_run_chains_the_six_stages():
    done = run_script(
        SLURM / "pipeline.sh",
        "--size",
        "32b",
        "--profile",
        "tiny-cpu",
        "--dry-run",
        "--override",
        "grpo_rl=--max_steps 2",
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 6
    scripts = [re.search(r"slurm/(\S+\.sh)", line).group(1) for line in lines]
    assert scripts == ["data.sh", "reflect.sh", "sft_32b.sh", "grpo_32b.sh", "bench_32b.sh", "ablations.sh"]
    assert all("--dependency=afterok:" in line for line in lines[1:]) and "--dependency" not in lines[0]
    assert "--overrides --max_steps\\ 2" in lines[3] and all("--profile tiny-cpu" in line for line in lines)
    assert run_script(SLURM / "pipeline.sh", "--from", "05", "--to", "03", "--dry-run").returncode == 2
