#!/bin/bash
# Stage 01, data curation (paper §3.1, §4.1): download, filter and split the source datasets.
# One node, CPUs only (no GPU); Hub downloads need network access from the node.
#   sbatch slurm/data.sh [--profile 7b] [--run-name main] [--overrides "..."]   (from the repository root)
#   bash slurm/data.sh --help | --dry-run
#SBATCH --job-name=srpo-data
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --mem=64G
#SBATCH --time=06:00:00
#SBATCH --output=logs/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
# sbatch runs a spooled copy of this file: find the repository via $SRPO_HOME, this file, or the submit dir.
for d in "${SRPO_HOME:-}" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "${SLURM_SUBMIT_DIR:-$PWD}"; do
  [ -n "$d" ] && [ -f "$d/slurm/run_notebook.sh" ] && exec bash "$d/slurm/run_notebook.sh" 01_data_curation 7b "$0" "$@"
done
echo "error: cannot find slurm/run_notebook.sh: submit from the repository root or set SRPO_HOME" >&2
exit 2
