"""The launch plan of a stage on a SLURM allocation, and the command lines that carry it out.

A stage with ``launcher: accelerate`` (or ``auto`` inside a job) runs as::

    srun --nodes=N --ntasks=N --ntasks-per-node=1 --nodelist=<training nodes> --kill-on-bad-exit=1 ...
        bash -c 'exec accelerate launch --config_file <recipes/accelerate/*.yaml>
            --num_machines N --num_processes N*G --machine_rank "$SLURM_PROCID"
            --main_process_ip <first training node> --main_process_port <per-job port>
            -m <stage module> --config <run_dir>/<stage>/config.yaml'

``srun`` starts one task per node; each node's bash fills ``--machine_rank`` from ``SLURM_PROCID`` (the task's
number in this one-task-per-node step) and becomes ``accelerate launch`` (torchrun), which starts one rank per
GPU and meets the other nodes at the rendezvous. Every other word of the bash script is quoted
(``shlex.quote``), so paths with spaces or quotes pass through unchanged. The stage's entry point logs one line
per rank (``srpo.cluster.slurm_env.log_rank``) before it does anything else. For GRPO in vLLM server mode (32B)
the last node of the allocation runs ``trl vllm-serve`` instead and the others train;
``srpo.cluster.supervise`` starts the server, waits for it, trains, then stops it.

Everything here is pure (a mapping of environment variables in, argv lists out) except ``stage_command``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from srpo.cluster.slurm_env import Allocation, SlurmEnvError

MASTER_PORT_BASE = 29500  # torch.distributed's usual port, offset per job (fake nodes share one host)
SERVER_PORT_BASE = 8000  # `trl vllm-serve`'s default port, offset per job
PORT_SPAN = 1000
MACHINE_RANK = '"$SLURM_PROCID"'  # the one unquoted word of a node's bash script: that node's rank


class LaunchError(RuntimeError):
    """A launch that cannot work on this allocation (too few nodes, no SLURM where one is needed...)."""


@dataclass(frozen=True)
class LaunchPlan:
    """Which nodes train, which serve, how many processes, and where the ranks meet."""

    train_nodes: tuple[str, ...]
    procs_per_node: int
    master_addr: str
    master_port: int
    server_nodes: tuple[str, ...] = ()
    server_port: int = SERVER_PORT_BASE
    cpus_per_node: int | None = None
    in_slurm: bool = True

    @property
    def num_machines(self) -> int:
        return len(self.train_nodes)

    @property
    def world_size(self) -> int:
        return self.num_machines * self.procs_per_node


def job_ports(job_id: int | None, env: Mapping[str, str]) -> tuple[int, int]:
    """(rendezvous port, vLLM server port): fixed offsets from the job id so that two jobs sharing a host
    (or the fake nodes of the test cluster) never collide; ``MASTER_PORT``/``SRPO_VLLM_PORT`` override."""
    offset = (job_id or 0) % PORT_SPAN
    master = int(env.get("MASTER_PORT") or MASTER_PORT_BASE + offset)
    server = int(env.get("SRPO_VLLM_PORT") or SERVER_PORT_BASE + offset)
    return master, server


def split_nodes(nodes: tuple[str, ...], server_nodes: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training nodes, vLLM server nodes): the server takes the LAST ``server_nodes`` nodes, so rank 0 and
    the rendezvous stay on the first node, where the batch script (and the notebook) run.

    >>> split_nodes(("n1", "n2", "n3", "n4"), 1)
    (('n1', 'n2', 'n3'), ('n4',))
    """
    if server_nodes < 0:
        raise LaunchError(f"vllm_server_nodes must be >= 0, got {server_nodes}")
    if server_nodes and len(nodes) <= server_nodes:
        raise LaunchError(
            f"vllm_server_nodes={server_nodes} leaves no training node in an allocation of {len(nodes)} "
            f"node(s) ({','.join(nodes)}); ask for more nodes (sbatch --nodes) or set --vllm_server_nodes 0"
        )
    cut = len(nodes) - server_nodes
    return tuple(nodes[:cut]), tuple(nodes[cut:])


def procs_per_node(gpus_per_node: int, alloc: Allocation | None, env: Mapping[str, str] | None = None) -> int:
    """``gpus_per_node`` from the recipe, or (0) the GPUs SLURM gave the job per node (outside SLURM: the
    GPUs this machine shows), or 1 process (CPU)."""
    if gpus_per_node > 0:
        return gpus_per_node
    return max(1, alloc.gpus_per_node if alloc else visible_gpus(os.environ if env is None else env))


def visible_gpus(env: Mapping[str, str]) -> int:
    """GPUs of this machine: ``CUDA_VISIBLE_DEVICES`` if set, else what torch sees."""
    if "CUDA_VISIBLE_DEVICES" in env:
        return len([d for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"])
    import torch

    return torch.cuda.device_count()


def plan_launch(launch, alloc: Allocation | None, env: Mapping[str, str] | None = None) -> LaunchPlan:
    """The plan for ``launch`` (a ``LaunchArgs``) on ``alloc`` (None: this machine, no SLURM)."""
    env = os.environ if env is None else env
    if alloc is None:
        local_server = bool(launch.vllm_server_nodes) and bool(env.get("SRPO_REHEARSAL"))
        if launch.vllm_server_nodes and not local_server:
            raise LaunchError("vllm_server_nodes > 0 needs a SLURM allocation of at least 2 nodes (run under sbatch)")
        master, server = job_ports(None, env)
        # a CPU rehearsal (srpo.rehearsal) outside SLURM: the server "node" is this machine, on loopback
        return LaunchPlan(
            train_nodes=("localhost",),
            procs_per_node=procs_per_node(launch.gpus_per_node, None, env),
            master_addr="127.0.0.1",
            master_port=master,
            server_port=server,
            in_slurm=False,
            server_nodes=("127.0.0.1",) if local_server else (),
        )
    train, serve = split_nodes(alloc.nodes, launch.vllm_server_nodes)
    master, server = job_ports(alloc.job_id, env)
    cpus = min(alloc.cpus_per_node) if alloc.cpus_per_node else None
    return LaunchPlan(
        train_nodes=train,
        procs_per_node=procs_per_node(launch.gpus_per_node, alloc),
        master_addr=train[0],
        master_port=master,
        server_nodes=serve,
        server_port=server,
        cpus_per_node=cpus,
    )


# ------------------------------------------------------------------------------------------- command lines


def bin_path(name: str) -> str:
    """A console script of the running environment (venv or conda), so srun steps need no PATH."""
    return str(Path(sys.executable).parent / name)


def accelerate_command(plan: LaunchPlan, accelerate_config: str, target: list[str], machine_rank=0) -> list[str]:
    """``accelerate launch`` for one machine of the plan; ``target`` is what follows ``-m``."""
    cmd = [bin_path("accelerate"), "launch"]
    if accelerate_config:
        cmd += ["--config_file", accelerate_config]
    cmd += [
        "--num_machines",
        str(plan.num_machines),
        "--num_processes",
        str(plan.world_size),
        "--machine_rank",
        str(machine_rank),
        "--main_process_ip",
        plan.master_addr,
        "--main_process_port",
        str(plan.master_port),
    ]
    if plan.world_size > 1 and not accelerate_config:
        cmd.append("--multi_gpu")  # torchrun + gloo on CPU too; never --cpu (it silently runs ONE process)
    return [*cmd, "-m", *target]


def srun_command(nodes: tuple[str, ...], inner: list[str], cpus_per_task: int | None = None) -> list[str]:
    """One task per node on exactly ``nodes``; a failure on any node ends them all. No ``--wait``: rank 0
    often works on (final save, held-out check, summary) long after the other nodes have exited cleanly."""
    cmd = [
        "srun",
        f"--nodes={len(nodes)}",
        f"--ntasks={len(nodes)}",
        "--ntasks-per-node=1",
        f"--nodelist={','.join(nodes)}",
        "--kill-on-bad-exit=1",
    ]
    if cpus_per_task:
        cmd.append(f"--cpus-per-task={cpus_per_task}")
    return [*cmd, *inner]


def node_command(plan: LaunchPlan, accelerate_config: str, target: list[str]) -> list[str]:
    """What srun runs on each training node: bash, which puts the node's rank (``SLURM_PROCID``, one task per
    node) after ``--machine_rank`` and becomes ``accelerate launch`` (``exec``: no process in between)."""
    argv = accelerate_command(plan, accelerate_config, target)
    cut = argv.index("--machine_rank") + 1
    script = f"exec {shlex.join(argv[:cut])} {MACHINE_RANK} {shlex.join(argv[cut + 1 :])}"
    return ["bash", "-c", script]


def shell_text(argv: list[str], width: int = 100) -> str:
    r"""``argv`` as readable shell text (dry runs, logs): lines of about ``width`` characters, broken before an
    option and continued with a backslash. The script of a closing ``bash -c`` is laid out the same way inside
    its quotes (bash reads a backslash-newline there as a continuation too), so the text runs as it reads.

    >>> print(shell_text(["srun", "--nodes=2", "bash", "-c", "exec accelerate launch --machine_rank "
    ...                   '"$SLURM_PROCID" -m srpo.grpo --config \'a b.yaml\''], width=30))
    srun --nodes=2 \
      bash -c 'exec accelerate launch \
        --machine_rank "$SLURM_PROCID" \
        -m srpo.grpo \
        --config '"'"'a b.yaml'"'"''
    """
    if argv[-3:-1] != ["bash", "-c"]:
        return _lines([shlex.quote(w) for w in argv], width, "  ")
    words = [MACHINE_RANK if w == "$SLURM_PROCID" else shlex.quote(w) for w in shlex.split(argv[-1])]
    bash = f"bash -c {shlex.quote(_lines(words, width - 4, '    '))}"
    if len(argv) == 3:
        return bash
    return f"{_lines([shlex.quote(w) for w in argv[:-3]], width, '  ')} \\\n  {bash}"


def _lines(words: list[str], width: int, indent: str) -> str:
    """Shell words joined into lines; a new line starts only at an option (with its value) that would overflow."""
    lines = [words[0]] if words else [""]
    for i, word in enumerate(words[1:], 1):
        value = words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else ""
        if word.startswith("-") and len(lines[-1]) + len(word) + len(value) + 2 > width:
            lines.append(indent + word)
        else:
            lines[-1] += " " + word
    return " \\\n".join(lines)


def vllm_serve_command(
    plan: LaunchPlan,
    model: str,
    tensor_parallel_size: int = 1,
    max_model_len: int | None = None,
    gpu_memory_utilization: float | None = None,
    extra_args=(),
) -> list[str]:
    """``trl vllm-serve`` on the server node: every GPU of the node, as data-parallel replicas of
    ``tensor_parallel_size`` GPUs each, with the recipe's ``vllm_max_model_length`` (without it vLLM sizes
    the KV cache for the model's 128K context) and ``vllm_gpu_memory_utilization``."""
    gpus = plan.procs_per_node
    if tensor_parallel_size < 1 or gpus % tensor_parallel_size:
        raise LaunchError(f"vllm_tensor_parallel_size={tensor_parallel_size} does not divide {gpus} GPUs per node")
    cmd = [
        bin_path("trl"),
        "vllm-serve",
        "--model",
        model,
        "--tensor_parallel_size",
        str(tensor_parallel_size),
        "--data_parallel_size",
        str(gpus // tensor_parallel_size),
        "--host",
        "0.0.0.0",
        "--port",
        str(plan.server_port),
    ]
    if max_model_len:
        cmd += ["--max_model_len", str(max_model_len)]
    if gpu_memory_utilization:
        cmd += ["--gpu_memory_utilization", str(gpu_memory_utilization)]
    return cmd + list(extra_args)


def health_url(plan: LaunchPlan) -> str:
    return f"http://{plan.server_nodes[0]}:{plan.server_port}/health/"


@dataclass
class StageLaunch:
    """Everything a stage launch needs: the training command and, in server mode, the server command."""

    plan: LaunchPlan
    train: list[str]
    server: list[str] = field(default_factory=list)
    config_updates: dict = field(default_factory=dict)  # keys to write into the resolved config first

    def as_dict(self) -> dict:
        plan = {k: getattr(self.plan, k) for k in self.plan.__dataclass_fields__}
        plan.update(world_size=self.plan.world_size, num_machines=self.plan.num_machines)
        out = {"plan": plan, "train": self.train, "server": self.server, "config_updates": self.config_updates}
        if self.server:
            out["health_url"] = health_url(self.plan)
        return out


def uses_cluster(launch, env: Mapping[str, str] | None = None) -> bool:
    """True when the stage goes through accelerate (``auto`` only inside a SLURM job)."""
    if launch.launcher == "auto":
        return Allocation.from_env(env) is not None
    return launch.launcher == "accelerate"


def build_launch(
    cfg,
    module: str,
    module_args: list[str],
    env: Mapping[str, str] | None = None,
    server_command: list[str] | None = None,
) -> StageLaunch:
    """The launch of ``python -m module *module_args`` with ``cfg.launch`` on the allocation described by
    ``env`` (pure). ``server_command`` replaces ``trl vllm-serve`` (the cluster check's stand-in)."""
    env = os.environ if env is None else env
    launch = cfg.launch
    alloc = Allocation.from_env(env)
    plan = plan_launch(launch, alloc, env)
    target = [module, *module_args]
    accelerate_config = resolve_accelerate_config(launch.accelerate_config, cfg.source)
    if not plan.in_slurm:
        train = accelerate_command(plan, accelerate_config, target)
        if not plan.server_nodes:
            return StageLaunch(plan, train)
        server = server_command if server_command is not None else vllm_server_for(cfg, plan)
        return StageLaunch(
            plan, train, server, {"vllm_server_host": plan.server_nodes[0], "vllm_server_port": plan.server_port}
        )
    train = srun_command(plan.train_nodes, node_command(plan, accelerate_config, target), plan.cpus_per_node)
    if not plan.server_nodes:
        return StageLaunch(plan, train)
    if server_command is None:
        server_command = vllm_server_for(cfg, plan)
    server = srun_command(plan.server_nodes, server_command, plan.cpus_per_node)
    updates = {"vllm_server_host": plan.server_nodes[0], "vllm_server_port": plan.server_port}
    return StageLaunch(plan, train, server, updates)


def resolve_accelerate_config(path: str, source: str = "the recipe") -> str:
    """The accelerate config as an absolute path (relative ones are relative to the project root, where
    every stage process runs); a clear error if it does not exist."""
    if not path:
        return ""
    from srpo.paths import project_root

    full = Path(path) if Path(path).is_absolute() else project_root() / path
    if not full.is_file():
        known = sorted(p.name for p in (project_root() / "recipes" / "accelerate").glob("*.yaml"))
        raise LaunchError(f"accelerate_config {path!r} in {source} does not exist (recipes/accelerate/ has {known})")
    return str(full)


def vllm_server_for(cfg, plan: LaunchPlan) -> list[str]:
    """``trl vllm-serve`` for a GRPO config in server mode; a clear error for any other config."""
    trl_cfg = cfg.trl
    if trl_cfg is None or not getattr(trl_cfg, "use_vllm", False) or getattr(trl_cfg, "vllm_mode", "") != "server":
        raise LaunchError(
            f"vllm_server_nodes={cfg.launch.vllm_server_nodes} in {cfg.source} needs a GRPO config with "
            "use_vllm: true and vllm_mode: server"
        )
    from srpo.generation import trl_vllm_serve_args

    return vllm_serve_command(
        plan,
        server_model(cfg),
        trl_cfg.vllm_tensor_parallel_size,
        trl_cfg.vllm_max_model_length,
        trl_cfg.vllm_gpu_memory_utilization,
        trl_vllm_serve_args(cfg.args),
    )


def server_model(cfg) -> str:
    """The weights the vLLM server starts from: the policy's initial checkpoint. ``stage:<stage>`` is that
    stage's ``final/`` folder in this run (the training stages' output contract); ``tiny://…`` the cached tiny
    model's folder; anything else (a Hub id or a folder) is passed as is."""
    name = cfg.model.model_name_or_path if cfg.model is not None else None
    if not name:
        raise LaunchError(f"model_name_or_path is not set in {cfg.source}: the vLLM server needs the policy's weights")
    from srpo import paths

    return paths.resolve_model(name, cfg.run.run_dir, must_exist=False)  # planned before stage X may have run


def local_command(module: str, config_path) -> list[str]:
    return [sys.executable, "-m", module, "--config", str(config_path)]


def stage_command(cfg, module: str, config_path) -> list[str]:
    """The command ``srpo.launch`` runs for a stage whose launcher is not ``local``.

    Side effects (server mode only): the server's host and port are written into the resolved config, so
    ``config.yaml`` is what actually ran, and the two commands go to ``<stage>/launch_plan.json`` for
    ``srpo.cluster.supervise``."""
    if not uses_cluster(cfg.launch):
        return local_command(module, config_path)
    try:
        launch = build_launch(cfg, module, ["--config", str(config_path)])
    except SlurmEnvError as exc:
        raise LaunchError(f"cannot read the SLURM allocation: {exc}") from exc
    if not launch.server:
        return launch.train
    import json

    from srpo import config as srpo_config

    for key, value in launch.config_updates.items():
        setattr(cfg.trl, key, value)
        cfg.values[key] = value
    srpo_config.save_resolved(cfg)
    plan_path = cfg.stage_dir / "launch_plan.json"
    plan_path.write_text(json.dumps(launch.as_dict(), indent=1))
    return [sys.executable, "-m", "srpo.cluster.supervise", str(plan_path)]
