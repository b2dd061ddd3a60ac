"""Rank trampoline: ``accelerate launch ... -m srpo.cluster.rank <module> <args>`` prints one line per rank
(rank, world size, node, rendezvous address) and then becomes ``python -m <module> <args>``.

torchrun starts a worker only after the launchers of all nodes have met, so a line ``rank 3/4 ... node n4``
in the stage log shows that node n4 joined the rendezvous; the SLURM tests look for exactly these lines."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def rank_line(env: Mapping[str, str]) -> str:
    """
    >>> rank_line({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "SLURMD_NODENAME": "n4",
    ...            "MASTER_ADDR": "n1", "MASTER_PORT": "29512"})
    '[srpo.cluster] rank 3/4 local_rank 0 node n4 rendezvous n1:29512'
    """
    node = env.get("SLURMD_NODENAME") or os.uname().nodename
    return (
        f"[srpo.cluster] rank {env.get('RANK', '0')}/{env.get('WORLD_SIZE', '1')} "
        f"local_rank {env.get('LOCAL_RANK', '0')} node {node} "
        f"rendezvous {env.get('MASTER_ADDR', '-')}:{env.get('MASTER_PORT', '-')}"
    )


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: python -m srpo.cluster.rank MODULE [ARGS...]")
    print(rank_line(os.environ), flush=True)
    os.execv(sys.executable, [sys.executable, "-m", *argv])


if __name__ == "__main__":
    main()
