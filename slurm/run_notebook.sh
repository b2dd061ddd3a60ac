#!/usr/bin/env bash
# The body every slurm/<stage>_<size>.sh script runs: activate the environment, execute ONE notebook with
# papermill into the run directory, and turn SLURM's time-limit warning into checkpoint + requeue.
#
#   slurm/run_notebook.sh NOTEBOOK DEFAULT_PROFILE SCRIPT [options]      (called by the stage scripts)
#
# NOTEBOOK is a stem under notebooks/ (04_grpo_rl) or a path to an .ipynb; SCRIPT is the calling script
# (its #SBATCH header sizes the dry run). Options: see usage() below, or `bash slurm/grpo_32b.sh --help`.
set -euo pipefail

NOTEBOOK=${1:?usage: run_notebook.sh NOTEBOOK DEFAULT_PROFILE SCRIPT [options]}
PROFILE=${SRPO_PROFILE:-${2:?missing DEFAULT_PROFILE}}
SCRIPT=${3:?missing SCRIPT}
shift 3
# the repository: $SRPO_HOME, else this file's parent, else (sbatch runs a spooled copy) the submit directory
for d in "${SRPO_HOME:-}" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "${SLURM_SUBMIT_DIR:-$PWD}"; do
  [ -n "$d" ] && [ -f "$d/slurm/run_notebook.sh" ] && { SRPO_HOME=$(cd "$d" && pwd); break; }
done
[ -f "${SRPO_HOME:-}/slurm/run_notebook.sh" ] || { echo "error: cannot find the repository (set SRPO_HOME)" >&2; exit 2; }
RUN_NAME=${SRPO_RUN_NAME:-main}
RUN_DIR=${SRPO_RUN_DIR:-}
OVERRIDES=${SRPO_OVERRIDES:-}
DRY_RUN=0

usage() {
  local name; name=$(basename "$SCRIPT")
  cat <<EOF
Usage: sbatch slurm/$name [options]        (submit from the repository root)
       bash slurm/$name --dry-run [options] (print what the job would run, submit nothing)

Runs notebooks/${NOTEBOOK%.ipynb}.ipynb headless with papermill inside the SLURM job; the stage's training
ranks are started across the job's nodes by srpo.cluster (srun + bash -c 'exec accelerate launch'), not by
this script.

Options (environment variable in brackets):
  --profile P       recipe profile: tiny-cpu | 7b | 32b   [SRPO_PROFILE]  (default: $PROFILE)
  --run-name N      run directory runs/<profile>/N        [SRPO_RUN_NAME] (default: main)
  --run-dir DIR     run directory, instead of --run-name  [SRPO_RUN_DIR]
  --overrides "..." recipe overrides, e.g. "--max_steps 20 --learning_rate 1e-6"  [SRPO_OVERRIDES]
  --dry-run         print the environment, the papermill command and the stage's launch plan, then exit
  -h, --help        this text

Environment: SRPO_VENV (default <repo>/.venv) or SRPO_CONDA_ENV (a conda env name) selects the Python
environment; SRPO_SITE_SETUP: a file sourced first (module load, NCCL_* settings); SRPO_STOP_GRACE_S:
seconds the stage gets to checkpoint after the time-limit signal; SRPO_MIN_RUNTIME_S (120): a signal
sooner after the start is ignored (a --time shorter than the --signal lead); SRPO_GPU_GIB (79.6, an H100
80GB) and SRPO_FIT_CHECK=0: the fit check the job runs first (python -m srpo.cluster fit). See slurm/README.md.
Resize with sbatch's own flags, which override the #SBATCH lines: --nodes, --gres=gpu:N, --time, --partition.

Outputs: job log logs/<job-name>-<job-id>.out; executed notebook <run_dir>/notebooks/; stage outputs,
config and logs in <run_dir>/<stage>/. A requeued job (time limit, preemption) re-runs into the same run
directory and the stage resumes from its last checkpoint.
EOF
}

# the value after an option; an option name there means the value was forgotten (`--run-dir --dry-run` must not
# take --dry-run as the folder and run for real). Overrides start with -- themselves: only our options are refused.
value_of() {
  local opt=$1; shift
  [ $# -gt 0 ] || { echo "error: $opt needs a value" >&2; exit 2; }
  case $1 in
    --profile|--profile=*|--run-name|--run-name=*|--run-dir|--run-dir=*|--overrides|--overrides=*|--dry-run|-h|--help)
      echo "error: $opt needs a value, got the option '$1' (e.g. $opt VALUE $1)" >&2; exit 2 ;;
    -*) [ "$opt" = --overrides ] || { echo "error: $opt needs a value, got '$1'" >&2; exit 2; } ;;
  esac
}
while [ $# -gt 0 ]; do
  case $1 in
    --profile) value_of "$@"; PROFILE=$2; shift 2 ;;
    --profile=*) PROFILE=${1#*=}; shift ;;
    --run-name) value_of "$@"; RUN_NAME=$2; shift 2 ;;
    --run-name=*) RUN_NAME=${1#*=}; shift ;;
    --run-dir) value_of "$@"; RUN_DIR=$2; shift 2 ;;
    --run-dir=*) RUN_DIR=${1#*=}; shift ;;
    --overrides) value_of "$@"; OVERRIDES=$2; shift 2 ;;
    --overrides=*) OVERRIDES=${1#*=}; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

case $NOTEBOOK in
  *.ipynb) NB_PATH=$NOTEBOOK; [ "${NB_PATH:0:1}" = / ] || NB_PATH=$SRPO_HOME/$NB_PATH ;;
  *) NB_PATH=$SRPO_HOME/notebooks/$NOTEBOOK.ipynb ;;
esac
[ -n "$RUN_DIR" ] || RUN_DIR=runs/$PROFILE/$RUN_NAME
[ "${RUN_DIR:0:1}" = / ] || RUN_DIR=$SRPO_HOME/$RUN_DIR
OUT_NB=$RUN_DIR/notebooks/$(basename "$NB_PATH")
STOP_FILE=$RUN_DIR/STOP            # srpo.cluster.preemption.STOP_FILE: the stage checkpoints and stops
GRACE=${SRPO_STOP_GRACE_S:-240}
MIN_RUNTIME=${SRPO_MIN_RUNTIME_S:-120}  # a stop signal earlier than this is a mis-sized --time/--signal pair

# shellcheck source=slurm/env.sh
source "$SRPO_HOME/slurm/env.sh"  # activate_env: SRPO_CONDA_ENV, else SRPO_VENV (default .venv)

PAPERMILL=(python -m papermill "$NB_PATH" "$OUT_NB" -r profile "$PROFILE" -r run_dir "$RUN_DIR"
           -r overrides "$OVERRIDES" --cwd "$SRPO_HOME/notebooks" --log-output --no-progress-bar)

if [ "$DRY_RUN" = 1 ]; then
  echo "# dry run of $(basename "$SCRIPT"): nothing is submitted or executed"
  echo "cd $SRPO_HOME"
  if [ -n "${SRPO_CONDA_ENV:-}" ]; then echo "conda activate $SRPO_CONDA_ENV"; else echo "source ${SRPO_VENV:-$SRPO_HOME/.venv}/bin/activate"; fi
  printf '%q ' "${PAPERMILL[@]}"; echo
  echo "# on SIGUSR1 (time limit near): write $STOP_FILE, wait up to ${GRACE}s, scontrol requeue \$SLURM_JOB_ID"
  [ -f "$NB_PATH" ] || echo "# warning: $NB_PATH does not exist (yet)"
  if [[ $NOTEBOOK != *.ipynb ]]; then
    activate_env || exit 2  # without it the plan and the fit check below cannot be shown
    echo "# the notebook's stage launch (python -m srpo.cluster plan):"
    cd "$SRPO_HOME" && python -m srpo.cluster plan --stage "$NOTEBOOK" --profile "$PROFILE" --run-dir "$RUN_DIR" \
      --overrides "$OVERRIDES" --script "$SCRIPT" | sed 's/^/#   /'
    echo "# the fit check the job runs first (python -m srpo.cluster fit):"
    python -m srpo.cluster fit --stage "$NOTEBOOK" --profile "$PROFILE" --run-dir "$RUN_DIR" \
      --overrides="$OVERRIDES" --script "$SCRIPT" 2>&1 | sed 's/^/#   /'
  fi
  exit 0
fi

[ -f "$NB_PATH" ] || { echo "error: notebook $NB_PATH does not exist" >&2; exit 2; }
if [ -n "${SRPO_SITE_SETUP:-}" ]; then  # site specifics: module load, NCCL_* variables, HF_HOME, proxies
  # shellcheck disable=SC1090
  source "$SRPO_SITE_SETUP"
fi
activate_env
cd "$SRPO_HOME"
export SRPO_HOME PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$SRPO_HOME/.cache/torch_extensions}  # DeepSpeed JIT ops
mkdir -p "$(dirname "$OUT_NB")"

# Before any work: refuse a plan whose memory cannot fit the GPUs, or whose sequence budget cannot hold the
# prompts' image tokens (srpo.cluster.fit; SRPO_GPU_GIB for GPUs other than an H100 80GB, SRPO_FIT_CHECK=0 skips)
if [ "${SRPO_FIT_CHECK:-1}" != 0 ] && [[ $NOTEBOOK != *.ipynb ]]; then
  python -m srpo.cluster fit --stage "$NOTEBOOK" --profile "$PROFILE" --run-dir "$RUN_DIR" \
    --overrides="$OVERRIDES" --script "$SCRIPT" || { echo "[srpo] fit check refused this plan (above)" >&2; exit 2; }
fi

echo "[srpo] $(date +%FT%T) job ${SLURM_JOB_ID:-none} (${SLURM_JOB_NAME:-}) attempt $(( ${SLURM_RESTART_COUNT:-0} + 1 ))" \
     "on ${SLURM_JOB_NODELIST:-$(hostname)}; python $(command -v python)"
echo "[srpo] notebook $NB_PATH -> $OUT_NB"
echo "[srpo] profile $PROFILE, run dir $RUN_DIR, overrides '${OVERRIDES}'"

PAYLOAD='' IGNORED=0
on_time_limit() {  # SIGUSR1 from `#SBATCH --signal=B:USR1@<seconds>`
  if [ "$SECONDS" -lt "$MIN_RUNTIME" ]; then  # --time shorter than the --signal lead: stopping would loop
    echo "[srpo] SIGUSR1 ${SECONDS}s after the start: the time limit (--time) is shorter than the --signal lead;" \
         "not stopping (pass a shorter --signal=B:USR1@<seconds> with short --time)" >&2
    IGNORED=1; return
  fi
  echo "[srpo] $(date +%FT%T) SIGUSR1: time limit near; asking the stage to checkpoint and stop ($STOP_FILE)"
  echo "time limit of job ${SLURM_JOB_ID:-?} at $(date +%FT%T)" > "$STOP_FILE"
  local waited=0
  while [ -n "$PAYLOAD" ] && kill -0 "$PAYLOAD" 2>/dev/null && [ "$waited" -lt "$GRACE" ]; do
    sleep 1; waited=$((waited + 1))
  done
  if [ -n "$PAYLOAD" ] && ! kill -0 "$PAYLOAD" 2>/dev/null && wait "$PAYLOAD"; then
    echo "[srpo] the notebook finished before the time limit; no requeue"; exit 0
  fi
  echo "[srpo] $(date +%FT%T) requeueing job ${SLURM_JOB_ID:-?}: it re-runs into $RUN_DIR and the stage resumes"
  scontrol requeue "${SLURM_JOB_ID:?}" || echo "[srpo] scontrol requeue failed: submit the same command again to resume"
  exit 0
}
trap on_time_limit USR1

"${PAPERMILL[@]}" &
PAYLOAD=$!
set +e
while :; do
  wait "$PAYLOAD"; rc=$?
  if [ "$IGNORED" = 1 ]; then IGNORED=0; continue; fi  # wait was interrupted by an ignored signal
  break
done
set -e
if [ "$rc" = 0 ]; then
  echo "[srpo] $(date +%FT%T) done: executed notebook $OUT_NB"
else
  echo "[srpo] $(date +%FT%T) the notebook failed (exit $rc); executed notebook with the error: $OUT_NB" >&2
fi
exit "$rc"
