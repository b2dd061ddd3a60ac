#!/bin/bash
# Stage 06 on the cluster: one job chain per ablation arm ([SFT] -> GRPO -> benchmarks, each with the
# production scripts of slurm/), then notebook 06 in aggregate mode once all of them finished.
#   bash slurm/ablation_arms.sh [--profile 7b] [--run-name main] [--arms srpo srpo_released ...] [--seeds 0 1] [--dry-run]
# Run it from the repository root on a login node, after the main run's notebooks 01-03 finished
# (the arms train from that run's SFT model and read its RL prompts). Not an sbatch script itself.
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then sed -n '2,6p' "$0"; exit 0; fi
cd "$(dirname "$0")/.."
PY=${SRPO_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
exec "$PY" -m srpo.ablations submit "$@"
