"""Cluster check: a distributed smoke test that goes through the stages' own launch path.

Before a 45-hour run on 32 GPUs it is worth one minute to see that every node joins the rendezvous, that
an all-reduce over all ranks (NCCL on GPUs, gloo on CPU) gives the right sum, that the training nodes reach
the vLLM server node's port, and that a STOP request checkpoints and a restart resumes::

    sbatch --nodes=4 --ntasks-per-node=1 --gres=gpu:8 --exclusive --output=logs/%x-%j.out \\
        --wrap ".venv/bin/python -m srpo.cluster check --stage grpo_rl --profile 32b"

The launch plan comes from the stage's recipe (``LaunchArgs``), so the same nodes, process counts,
accelerate config and server split are used as for the stage itself; only the payload differs: ranks run
``python -m srpo.cluster.check probe`` (which logs its rank line first, as the stages do) and the server node
runs ``... check serve`` (a health endpoint in place of ``trl vllm-serve``). Results: ``<run_dir>/cluster_check/summary.json`` and ``logs/check.log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from srpo.cluster import preemption
from srpo.cluster.slurm_env import log_rank

log = logging.getLogger(__package__)

CHECK_DIR = "cluster_check"
RANK_LINE = re.compile(r"\[srpo\.cluster\] rank (\d+)/(\d+) local_rank (\d+) node (\S+)")  # log_rank's line


# --------------------------------------------------------------------------------- the payload on each rank


def _init_distributed():
    import torch
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    backend = "nccl" if use_cuda else "gloo"
    if "RANK" in os.environ:  # started by torchrun (accelerate launch)
        dist.init_process_group(backend)
    else:  # launcher: local - a world of one
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    return torch, dist, ("cuda" if use_cuda else "cpu")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_step(state: Path) -> int:
    return int(state.read_text()) if state.exists() else 0


def probe(args) -> int:
    """All-reduce, node names, optional server reachability, then ``steps`` resumable steps."""
    log_rank()
    torch, dist, device = _init_distributed()
    rank, world = dist.get_rank(), dist.get_world_size()
    total = torch.ones(1, device=device)
    dist.all_reduce(total)
    nodes: list = [None] * world
    dist.all_gather_object(nodes, os.environ.get("SLURMD_NODENAME") or os.uname().nodename)
    out_dir = Path(args.run_dir) / CHECK_DIR
    state = out_dir / "step.txt"  # the "checkpoint": the next step to run
    start = time.time()
    first = _read_step(state)
    server_ok = None
    if args.server_url:
        from srpo.cluster.supervise import ServerFailed, wait_for_health

        try:
            wait_for_health(args.server_url, timeout_s=60, interval_s=1)
            server_ok = True
        except ServerFailed:
            server_ok = False
    step = first
    stopped = False
    while step < args.steps:
        time.sleep(args.step_seconds)
        if preemption.agree(preemption.stop_requested(args.run_dir, start)):
            stopped = True
            break
        step += 1
        if rank == 0:
            state.write_text(str(step))
            log.info(f"cluster check: step {step}/{args.steps}")
    dist.barrier()
    if rank == 0:
        result = {
            "world_size": world,
            "all_reduce": float(total.item()),
            "nodes": nodes,
            "backend": dist.get_backend(),
            "resumed_from_step": first,
            "last_step": step,
            "stopped": stopped,
            "server_reachable": server_ok,
        }
        (out_dir / "result.json").write_text(json.dumps(result, indent=1))
        log.info(f"cluster check: {json.dumps(result)}")
    dist.destroy_process_group()  # without it a rank can abort at exit
    if stopped:
        return preemption.PREEMPTED_EXIT_CODE
    return 0 if total.item() == world and server_ok is not False else 1


def serve(port: int) -> None:
    """A health endpoint on the server node, standing in for ``trl vllm-serve``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200 if self.path.rstrip("/") == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    node = os.environ.get("SLURMD_NODENAME") or os.uname().nodename
    log.info(f"cluster check: health endpoint on {node}:{port}")
    ThreadingHTTPServer(("0.0.0.0", port), Health).serve_forever()


# ------------------------------------------------------------------------------- the orchestrating side


def run(
    stage: str = "grpo_rl",
    profile: str = "tiny-cpu",
    run_dir=None,
    overrides=None,
    steps: int = 0,
    step_seconds: float = 0.5,
    echo: bool = True,
) -> dict:
    """Run the check with the launch plan of ``stage``/``profile``; returns (and writes) its summary."""
    from srpo import config as srpo_config
    from srpo import paths
    from srpo.cluster.plan import uses_cluster
    from srpo.launch import StageFailed, stream_subprocess

    cfg = srpo_config.load(stage, profile, run_dir, overrides)
    out_dir = paths.stage_dir(cfg.run.run_dir, CHECK_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths.clear_summary(cfg.run.run_dir, CHECK_DIR)
    module_args = ["probe", "--run-dir", str(cfg.run_dir), "--steps", str(steps), "--step-seconds", str(step_seconds)]
    if not uses_cluster(cfg.launch):
        cmd, launch = [sys.executable, "-m", "srpo.cluster.check", *module_args], None
    else:
        launch = _check_launch(cfg, module_args)
        cmd = launch.train
        if launch.server:
            plan_path = out_dir / "launch_plan.json"
            plan_path.write_text(json.dumps(launch.as_dict(), indent=1))
            cmd = [sys.executable, "-m", "srpo.cluster.supervise", str(plan_path)]
    log_path = out_dir / "logs" / "check.log"
    rc, _, seconds = stream_subprocess(cmd, log_path, echo=echo)
    if rc != 0:
        raise StageFailed(f"cluster check failed with exit code {rc} after {seconds:.0f}s; log: {log_path}")
    result = json.loads((out_dir / "result.json").read_text())
    ranks = sorted({m.groups() for m in RANK_LINE.finditer(log_path.read_text())}, key=lambda g: int(g[0]))
    summary = {
        **result,
        "stage": stage,
        "profile": profile,
        "seconds": round(seconds, 1),
        "plan": launch.as_dict()["plan"] if launch else "local (one process)",
        "ranks": [{"rank": int(r), "world_size": int(w), "local_rank": int(lr), "node": n} for r, w, lr, n in ranks],
    }
    paths.write_summary(cfg.run.run_dir, CHECK_DIR, summary)
    return summary


def _check_launch(cfg, module_args: list[str]):
    from srpo.cluster.plan import build_launch, health_url, plan_launch
    from srpo.cluster.slurm_env import Allocation

    plan = plan_launch(cfg.launch, Allocation.from_env())
    if not plan.server_nodes:
        return build_launch(cfg, "srpo.cluster.check", module_args)
    server = [sys.executable, "-m", "srpo.cluster.check", "serve", "--port", str(plan.server_port)]
    return build_launch(
        cfg, "srpo.cluster.check", [*module_args, "--server-url", health_url(plan)], server_command=server
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m srpo.cluster.check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe", help="(on each rank) all-reduce, node names, resumable steps")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--step-seconds", type=float, default=0.5)
    p.add_argument("--server-url", default="")
    s = sub.add_parser("serve", help="(on the server node) a /health/ endpoint in place of trl vllm-serve")
    s.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port)
    else:
        sys.exit(probe(args))


if __name__ == "__main__":
    main()
