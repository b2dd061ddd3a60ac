"""What a SLURM allocation looks like from inside a job: node lists, GPUs and CPUs per node, the job id.

SLURM hands a job its nodes in the compressed hostlist form (``SLURM_JOB_NODELIST=gpu-a[01-03,07]``) and its
CPUs as ``SLURM_JOB_CPUS_PER_NODE=96(x3),48``. These are parsed here in Python (the same answers as
``scontrol show hostnames``) so that the launch plan is computed, and tested, in one place instead of in bash.

``log_rank`` is the other side: what one rank of a launched stage sees (torchrun's ``RANK``/``WORLD_SIZE``, the
node SLURM put it on), one line per rank as the stage starts.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path

log = logging.getLogger(__package__)


class SlurmEnvError(ValueError):
    """A SLURM variable or ``#SBATCH`` line that cannot be read."""


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets: ``"a[1,3],b"`` -> ``["a[1,3]", "b"]``."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise SlurmEnvError(f"unbalanced ']' in hostlist {text!r}")
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise SlurmEnvError(f"unbalanced '[' in hostlist {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def expand_range(spec: str, hostlist: str) -> list[str]:
    """``"01-03,07"`` -> ``["01", "02", "03", "07"]``; the width of the lower bound sets the zero padding."""
    out = []
    for item in spec.split(","):
        lo, sep, hi = item.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise SlurmEnvError(f"invalid range {item!r} in hostlist {hostlist!r}")
        if not sep:
            out.append(lo)
            continue
        if int(hi) < int(lo):
            raise SlurmEnvError(f"invalid range {item!r} in hostlist {hostlist!r}: end before start")
        out.extend(str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1))
    return out


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a SLURM hostlist into node names, in SLURM's order.

    >>> expand_hostlist("n[1-4]")
    ['n1', 'n2', 'n3', 'n4']
    >>> expand_hostlist("gpu-a[01-03,07],login")
    ['gpu-a01', 'gpu-a02', 'gpu-a03', 'gpu-a07', 'login']
    >>> expand_hostlist("r[1-2]n[1-2]")
    ['r1n1', 'r1n2', 'r2n1', 'r2n2']
    """
    nodes: list[str] = []
    for expr in split_top_level(hostlist):
        pieces = re.split(r"(\[[^\]]*\])", expr)  # literal text and [ranges], alternating
        choices = [expand_range(p[1:-1], hostlist) if p.startswith("[") else [p] for p in pieces if p]
        if any("[" in c or "]" in c for options in choices for c in options):
            raise SlurmEnvError(f"cannot read hostlist {hostlist!r}")
        nodes.extend("".join(combo) for combo in product(*choices))
    if not nodes:
        raise SlurmEnvError(f"empty hostlist {hostlist!r}")
    return nodes


def expand_counts(spec: str) -> list[int]:
    """``SLURM_JOB_CPUS_PER_NODE``/``SLURM_TASKS_PER_NODE`` form: ``"96(x3),48"`` -> ``[96, 96, 96, 48]``.

    >>> expand_counts("96(x3),48")
    [96, 96, 96, 48]
    """
    out = []
    for item in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", item)
        if not match:
            raise SlurmEnvError(f"cannot read per-node counts {spec!r}")
        out.extend([int(match.group(1))] * int(match.group(2) or 1))
    return out


@dataclass(frozen=True)
class Allocation:
    """The nodes of a SLURM job and what each node holds."""

    job_id: int
    nodes: tuple[str, ...]
    gpus_per_node: int = 0  # 0 = the job asked for no GPUs
    cpus_per_node: tuple[int, ...] = ()  # empty = unknown (dry run)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Allocation | None:
        """The allocation of the job we run in, or None outside SLURM."""
        env = os.environ if env is None else env
        nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        job_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
        if not nodelist or not job_id:
            return None
        nodes = tuple(expand_hostlist(nodelist))
        cpus = env.get("SLURM_JOB_CPUS_PER_NODE")
        return cls(
            job_id=int(job_id),
            nodes=nodes,
            gpus_per_node=gpus_on_node(env),
            cpus_per_node=tuple(expand_counts(cpus)) if cpus else (),
        )


def gpus_on_node(env: Mapping[str, str]) -> int:
    """GPUs this job holds per node: ``SLURM_GPUS_ON_NODE``, else ``SLURM_GPUS_PER_NODE`` (``h100:8`` or
    ``8``), else 0. Unset when the job asked for no GPUs, so never assume it exists."""
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"):
        value = env.get(key, "").strip()
        if value:
            match = re.fullmatch(r"(?:[\w-]+:)?(\d+)", value)
            if not match:
                raise SlurmEnvError(f"cannot read {key}={value!r}")
            return int(match.group(1))
    return 0


# ---------------------------------------------------------------- the #SBATCH header of a script (dry runs)

_SIZE_KEYS = {"nodes": ("--nodes", "-N"), "gres": ("--gres",), "gpus_per_node": ("--gpus-per-node",)}


def read_sbatch_header(path: str | os.PathLike) -> dict[str, str]:
    """The ``#SBATCH`` options of a batch script as ``{"--nodes": "4", ...}`` (long and short forms kept as
    written). Only the leading comment block counts, as for sbatch itself."""
    options: dict[str, str] = {}
    for line in Path(path).read_text().splitlines()[1:]:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break  # sbatch stops reading directives at the first command
        if not stripped.startswith("#SBATCH"):
            continue
        tokens = stripped[len("#SBATCH") :].split("#")[0].split()
        for i, token in enumerate(tokens):
            if not token.startswith("-"):
                continue  # the value of the option before it ("-N 4", "--nodes 4")
            key, sep, value = token.partition("=")
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            options[key] = value if sep else ("" if following.startswith("-") else following)
    return options


def simulated_allocation(header: Mapping[str, str], job_id: int = 12345, prefix: str = "node") -> Allocation:
    """A made-up allocation with the size a script's header asks for, so a dry run shows real commands."""

    def first(name: str) -> str | None:
        return next((header[k] for k in _SIZE_KEYS[name] if k in header), None)

    nodes = int(first("nodes") or 1)
    gpus = 0
    gres = first("gres")
    if gres and gres != "none":
        gpu = next((g for g in gres.split(",") if g.startswith("gpu")), None)
        gpus = int(gpu.rsplit(":", 1)[1]) if gpu and ":" in gpu else (1 if gpu else 0)
    if first("gpus_per_node"):
        gpus = gpus_on_node({"SLURM_GPUS_PER_NODE": first("gpus_per_node")})
    width = max(2, len(str(nodes)))
    return Allocation(
        job_id=job_id, nodes=tuple(f"{prefix}{i:0{width}d}" for i in range(1, nodes + 1)), gpus_per_node=gpus
    )


# ------------------------------------------------------------------------------ one line per rank of a stage


def rank_text(env: Mapping[str, str]) -> str:
    """What ``log_rank`` says for the environment ``env`` of a rank (torchrun sets ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``; srun sets ``SLURMD_NODENAME``).

    >>> rank_text({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "SLURMD_NODENAME": "n4",
    ...            "MASTER_ADDR": "n1", "MASTER_PORT": "29512"})
    'rank 3/4 local_rank 0 node n4 rendezvous n1:29512'
    """
    node = env.get("SLURMD_NODENAME") or os.uname().nodename
    return (
        f"rank {env.get('RANK', '0')}/{env.get('WORLD_SIZE', '1')} "
        f"local_rank {env.get('LOCAL_RANK', '0')} node {node} "
        f"rendezvous {env.get('MASTER_ADDR', '-')}:{env.get('MASTER_PORT', '-')}"
    )


def log_rank(env: Mapping[str, str] | None = None) -> str:
    """Log ``[srpo.cluster] rank R/W local_rank L node N rendezvous A:P`` and return the text after the prefix.

    The stage entry points (``srpo.sft``, ``srpo.grpo``) and the cluster check's probe call it first thing, so
    every rank writes one such line to the stage log. torchrun starts a rank only after the launchers of all
    nodes have met, so ``rank 3/4 ... node n4`` shows that node n4 joined the rendezvous; the cluster check
    (``srpo.cluster.check.RANK_LINE``) and the SLURM tests read these lines. A single process (no torchrun)
    says ``rank 0/1``."""
    text = rank_text(os.environ if env is None else env)
    log.info(text)
    return text
