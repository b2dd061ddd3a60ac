"""Node agent: ``srun`` starts ``python -m srpo.cluster.node -- <command>`` once per node; it puts the node's
rank (``SLURM_PROCID`` of this one-task-per-node step) where the command says ``{node_rank}`` and becomes
that command. This replaces the usual ``srun bash -c '... --machine_rank $SLURM_PROCID'`` (multi-node launch is a
known pain point of peer projects), and keeps torch out of the agent so it starts in milliseconds."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from srpo.cluster.plan import NODE_RANK


def node_rank(env: Mapping[str, str]) -> int:
    """This node's rank within the step: ``SLURM_PROCID`` (one task per node), or 0 outside srun."""
    value = env.get("SLURM_PROCID", "0")
    if not value.isdigit():
        raise ValueError(f"SLURM_PROCID={value!r} is not a task number")
    return int(value)


def fill_node_rank(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` with every ``{node_rank}`` replaced by this node's rank.

    >>> fill_node_rank(["accelerate", "--machine_rank", "{node_rank}"], {"SLURM_PROCID": "2"})
    ['accelerate', '--machine_rank', '2']
    """
    rank = str(node_rank(env))
    return [a.replace(NODE_RANK, rank) for a in argv]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise SystemExit("usage: python -m srpo.cluster.node -- COMMAND ... ({node_rank} is filled in)")
    env = os.environ
    command = fill_node_rank(argv, env)
    node = env.get("SLURMD_NODENAME") or os.uname().nodename
    print(f"[srpo.cluster] node {node}: node rank {node_rank(env)} of {env.get('SLURM_NTASKS', '1')}", flush=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
