#!/bin/bash
# Stage 02, reflection generation (paper §3.1): first attempts with vLLM, teacher reflections via API.
# One node x 8 H100 (vLLM engines for the first attempts); export the teacher/judge API keys first.
#   sbatch slurm/reflect.sh [--profile 7b] [--run-name main] [--overrides "..."]   (from the repository root)
#   bash slurm/reflect.sh --help | --dry-run
#SBATCH --job-name=srpo-reflect
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --exclusive
#SBATCH --mem=0
#SBATCH --time=24:00:00
#SBATCH --output=logs/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@600
# 600 s before the time limit the stage is asked to checkpoint (up to 480 s), then the job requeues.
export SRPO_STOP_GRACE_S=${SRPO_STOP_GRACE_S:-480}
# sbatch runs a spooled copy of this file: find the repository via $SRPO_HOME, this file, or the submit dir.
for d in "${SRPO_HOME:-}" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "${SLURM_SUBMIT_DIR:-$PWD}"; do
  [ -n "$d" ] && [ -f "$d/slurm/run_notebook.sh" ] && exec bash "$d/slurm/run_notebook.sh" 02_reflection_generation 7b "$0" "$@"
done
echo "error: cannot find slurm/run_notebook.sh: submit from the repository root or set SRPO_HOME" >&2
exit 2
