"""``python -m srpo.cluster plan|check``: show a stage's launch on a (real or simulated) allocation, or run
the distributed cluster check.

    python -m srpo.cluster plan --stage 04_grpo_rl --profile 32b --script slurm/grpo_32b.sh   # dry run
    python -m srpo.cluster check --stage grpo_rl --profile 32b                              # inside a job
"""

from __future__ import annotations

import argparse
import logging
import sys

from srpo.cluster.plan import LaunchError, build_launch, local_command, shell_text, uses_cluster
from srpo.cluster.slurm_env import Allocation, read_sbatch_header, simulated_allocation

log = logging.getLogger(__package__)


def allocation_env(alloc: Allocation) -> dict[str, str]:
    """The SLURM variables a job on ``alloc`` would see (for planning a dry run)."""
    env = {"SLURM_JOB_ID": str(alloc.job_id), "SLURM_JOB_NODELIST": ",".join(alloc.nodes)}
    if alloc.gpus_per_node:
        env["SLURM_GPUS_ON_NODE"] = str(alloc.gpus_per_node)
    return env


def stage_key(name: str) -> str:
    """``04_grpo_rl`` or ``grpo_rl`` -> ``grpo_rl``."""
    from srpo.stages import NOTEBOOK_TO_STAGE, get_stage

    return NOTEBOOK_TO_STAGE.get(name) or get_stage(name).key


def load_for_plan(stage: str, profile: str, run_dir, overrides: str):
    """The stage's config; on a machine without GPUs (a login node) TRL refuses bf16 recipes, so parse
    those with ``--use_cpu true``, which changes nothing about the launch."""
    from srpo import config as srpo_config

    try:
        return srpo_config.load(stage, profile, run_dir, overrides), ""
    except srpo_config.ConfigError as exc:
        if "bf16" not in str(exc):
            raise
        cfg = srpo_config.load(stage, profile, run_dir, f"{overrides} --use_cpu true".strip())
        return cfg, " (parsed with --use_cpu true: no GPU on this machine)"


def describe(stage: str, profile: str, run_dir: str | None, overrides: str, script: str | None) -> str:
    """A readable dry run: the allocation, the split of nodes, and the exact commands."""
    import os

    from srpo.stages import get_stage

    cfg, note = load_for_plan(stage, profile, run_dir, overrides)
    module = get_stage(stage).module
    config_path = cfg.stage_dir / "config.yaml"
    real = Allocation.from_env()
    if real is not None:
        alloc, where, env = real, f"this job ({real.job_id})", dict(os.environ)
    else:
        alloc = simulated_allocation(read_sbatch_header(script) if script else {})
        where, env = f"simulated from {script or 'a one-node job'}", allocation_env(alloc)
    lines = [f"stage {stage} (python -m {module}), profile {profile}, launcher {cfg.launch.launcher}{note}"]
    if not uses_cluster(cfg.launch, env):
        return "\n".join(
            [*lines, "one process on the batch node:", _indent(shell_text(local_command(module, config_path)))]
        )
    launch = build_launch(cfg, module, ["--config", str(config_path)], env)
    plan = launch.plan
    lines += [
        f"allocation ({where}): {alloc.num_nodes} node(s) {','.join(alloc.nodes)}, {alloc.gpus_per_node} GPU(s) per node",
        f"training: {plan.num_machines} node(s) {','.join(plan.train_nodes)} x {plan.procs_per_node} process(es) "
        f"= world size {plan.world_size}, rendezvous {plan.master_addr}:{plan.master_port}, "
        f"accelerate config {cfg.launch.accelerate_config or '(none: plain DDP)'}",
    ]
    if launch.server:
        lines += [
            f"vLLM server: {','.join(plan.server_nodes)} port {plan.server_port} "
            f"(written into config.yaml: {launch.config_updates})",
            "server command:",
            _indent(shell_text(launch.server)),
        ]
    lines += ["training command (srun: one task per node; bash puts the node's rank after --machine_rank):"]
    lines.append(_indent(shell_text(launch.train)))
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def fit_command(args) -> int:
    """``plan --size``: every GPU stage of the size; ``fit --stage``: one stage. Exit 2 when a plan cannot fit."""
    import os

    from srpo.cluster import fit

    gpu = args.gpu_gib or float(os.environ.get("SRPO_GPU_GIB") or fit.H100_GIB)
    assume = fit.Assumptions(gpu_gib=gpu)
    if args.command == "plan":
        profile = args.profile if args.profile != "tiny-cpu" else args.size
        jobs = [(stage, None) for stage in fit.GPU_STAGES]
        size = args.size
    else:
        profile, size = args.profile, None
        jobs = [(stage_key(args.stage), args.script)]
    problems = []
    for stage, script in jobs:
        lines, found = fit.check_stage(stage, profile, args.run_dir, args.overrides, script, size, assume)
        print("\n".join(lines), flush=True)
        problems += found
    if problems:
        print("error: this plan cannot fit; change the settings named below before sbatch:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    log.info(f"fit check passed ({fit.__name__}: estimates, see its docstring)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srpo.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit_parser = sub.add_parser("fit", help="refuse a stage whose plan cannot fit the GPUs (sbatch scripts run it)")
    fit_parser.add_argument("--stage", required=True, help="stage key or notebook name")
    fit_parser.add_argument("--profile", default="7b")
    fit_parser.add_argument("--run-dir", default=None)
    fit_parser.add_argument("--overrides", default="")
    fit_parser.add_argument("--script", default=None, help="size the allocation from this sbatch script")
    for p in (fit_parser,):
        p.add_argument("--gpu-gib", type=float, default=None, help="GPU memory in GiB (default: H100 80GB, 79.6)")
    for name, text in (("plan", "print the launch of a stage (dry run)"), ("check", "run the cluster check")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--stage", default="grpo_rl", help="stage key or notebook name, e.g. grpo_rl or 04_grpo_rl")
        p.add_argument("--gpu-gib", type=float, default=None, help="GPU memory in GiB for --size (default 79.6)")
        p.add_argument("--profile", default="tiny-cpu", help="tiny-cpu | 7b | 32b")
        p.add_argument("--run-dir", default=None, help="run directory (default runs/<profile>/dev)")
        p.add_argument("--overrides", default="", help="recipe overrides, e.g. '--vllm_server_nodes 0'")
        if name == "plan":
            p.add_argument("--script", default=None, help="size the simulated allocation from this sbatch script")
            p.add_argument(
                "--size",
                default=None,
                choices=["7b", "32b"],
                help="instead of one stage's launch: the per-GPU memory of every GPU stage of this size",
            )
        else:
            p.add_argument("--steps", type=int, default=0, help="resumable steps to run (preemption check)")
            p.add_argument("--step-seconds", type=float, default=0.5)
    args = parser.parse_args(argv)
    try:
        stage = stage_key(args.stage)
        if args.command == "fit" or (args.command == "plan" and args.size):
            return fit_command(args)
        if args.command == "plan":
            print(describe(stage, args.profile, args.run_dir, args.overrides, args.script))
        else:
            from srpo.cluster.check import run

            summary = run(stage, args.profile, args.run_dir, args.overrides, args.steps, args.step_seconds)
            log.info(f"cluster check ok: world size {summary['world_size']} over {sorted(set(summary['nodes']))}")
    except (LaunchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
