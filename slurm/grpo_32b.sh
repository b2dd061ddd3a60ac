#!/bin/bash
# Stage 04, GRPO with the SRPO reward (paper §3.2, §4.1), Qwen2.5-VL-32B.
# 4 nodes x 8 H100: 3 training nodes (24 ranks, ZeRO-3) + 1 node running `trl vllm-serve` (paper: 45.1 h).
#   sbatch slurm/grpo_32b.sh [--profile 32b] [--run-name main] [--overrides "..."]   (from the repository root)
#   bash slurm/grpo_32b.sh --help | --dry-run
#SBATCH --job-name=srpo-grpo-32b
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --exclusive
#SBATCH --mem=0
#SBATCH --time=48:00:00
#SBATCH --output=logs/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@900
# 900 s before the time limit the stage is asked to checkpoint (up to 780 s), then the job requeues.
export SRPO_STOP_GRACE_S=${SRPO_STOP_GRACE_S:-780}
# sbatch runs a spooled copy of this file: find the repository via $SRPO_HOME, this file, or the submit dir.
for d in "${SRPO_HOME:-}" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "${SLURM_SUBMIT_DIR:-$PWD}"; do
  [ -n "$d" ] && [ -f "$d/slurm/run_notebook.sh" ] && exec bash "$d/slurm/run_notebook.sh" 04_grpo_rl 32b "$0" "$@"
done
echo "error: cannot find slurm/run_notebook.sh: submit from the repository root or set SRPO_HOME" >&2
exit 2
