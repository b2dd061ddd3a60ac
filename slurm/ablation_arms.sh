#!/bin/bash
# Stage 06 on the cluster: one job chain per ablation arm ([SFT] -> GRPO -> benchmarks, each with the
# production scripts of slurm/), then notebook 06 in aggregate mode once all of them finished.
# Run it from a login node (it is not an sbatch script); slurm/pipeline.sh calls the same code for 06.
set -euo pipefail
usage() {
  cat <<'USAGE'
Usage: bash slurm/ablation_arms.sh [--profile 7b] [--run-name main] [--arms A B ...] [--seeds 0 1 ...]
                                   [--after JOBID ...] [--dry-run]
Submits one job chain per ablation arm of srpo.ablations.ARMS (default: all) into
runs/<profile>/<run-name>-ablation-<arm>-s<seed>/, each training from the main run's SFT model and RL
prompts, then notebook 06 in aggregate mode. --after: job ids the arms wait for (e.g. the main run's 03).
--dry-run prints the sbatch commands and submits nothing.
USAGE
}
args=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --profile|--run-name) args+=("$1" "$2"); shift 2 ;;
    --arms|--seeds|--after) args+=("$1"); shift; while (($#)) && [[ "$1" != --* ]]; do args+=("$1"); shift; done ;;
    --dry-run) args+=("$1"); shift ;;
    *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRPO_HOME=$PWD
# shellcheck source=slurm/env.sh
source slurm/env.sh
prepare_submit || exit 2  # logs/ for the jobs, PY: the Python the jobs use
exec "$PY" -m srpo.ablations submit "${args[@]}"
