#!/usr/bin/env bash
# Sourced by run_notebook.sh, pipeline.sh and ablation_arms.sh (needs SRPO_HOME): the one place that picks the
# Python environment. SRPO_CONDA_ENV (a conda env name) wins; else SRPO_VENV (default <repo>/.venv).
activate_env() {
  if [ -n "${SRPO_CONDA_ENV:-}" ]; then
    command -v conda >/dev/null || { echo "error: SRPO_CONDA_ENV=$SRPO_CONDA_ENV but no conda on PATH" >&2; return 1; }
    # shellcheck disable=SC1091
    source "$(conda info --base)/etc/profile.d/conda.sh" && conda activate "$SRPO_CONDA_ENV"
  else
    local venv=${SRPO_VENV:-$SRPO_HOME/.venv}
    [ -f "$venv/bin/activate" ] || {
      echo "error: no Python environment at $venv (make env, or set SRPO_VENV / SRPO_CONDA_ENV)" >&2; return 1; }
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
  fi
}

# The login-node scripts (pipeline.sh, ablation_arms.sh): run from the repository root, they need logs/ for the
# jobs' #SBATCH --output=logs/... (slurmd cannot start a job whose log folder is missing) and set PY to the
# Python the jobs use (SRPO_PYTHON names one directly).
prepare_submit() {
  mkdir -p logs
  PY=${SRPO_PYTHON:-}
  if [ -z "$PY" ]; then
    activate_env || return 1
    PY=python
  fi
}
