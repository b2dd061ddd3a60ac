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
    if argv[0] == "srpo.grpo" and _rehearsal_without_cuda() and _server_mode(argv):
        # the CPU rehearsal's server mode: patch TRL's weight sync in this process, then run the module here
        import runpy

        from srpo.rehearsal import skip_server_weight_sync

        skip_server_weight_sync()
        sys.argv = [argv[0], *argv[1:]]
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        return
    os.execv(sys.executable, [sys.executable, "-m", *argv])


def _server_mode(argv: list[str]) -> bool:
    """The GRPO config (``--config PATH``) generates through a ``trl vllm-serve`` server."""
    if "--config" not in argv:
        return False
    from srpo import config

    values = config.read_yaml_mapping(argv[argv.index("--config") + 1])
    return bool(values.get("use_vllm")) and values.get("vllm_mode") == "server"


def _rehearsal_without_cuda() -> bool:
    from srpo.rehearsal import active, vllm_available

    if not (active() and vllm_available()):
        return False
    import torch

    return not torch.cuda.is_available()


if __name__ == "__main__":
    main()
