#!/usr/bin/env bash
# Submit the whole pipeline, notebooks 01 -> 06, as a chain of SLURM jobs: each job starts only after the
# previous one succeeded (--dependency=afterok), and a failure cancels the rest (--kill-on-invalid-dep).
#
#   slurm/pipeline.sh --size 7b                     # 01 data, 02 reflect, 03 sft_7b, 04 grpo_7b, 05 bench_7b, 06 ablations
#   slurm/pipeline.sh --size 32b --from 03 --run-name main
#   slurm/pipeline.sh --size 7b --dry-run           # print the sbatch commands only
#   slurm/pipeline.sh --size 32b --rehearse         # the 32b recipes on the tiny model (srpo.rehearsal), e.g. on
#                                                   # the local CPU cluster of the tests
set -euo pipefail

SRPO_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=7b PROFILE="" RUN_NAME=main FROM=1 TO=6 DRY_RUN=0 AFTER="" REHEARSE=0
declare -A OVERRIDES=()
KEYS=(data_curation reflection_generation cold_start_sft grpo_rl benchmarks ablations)

usage() {
  cat <<EOF
Usage: slurm/pipeline.sh [--size 7b|32b] [options]

Submits slurm/data.sh, reflect.sh, sft_<size>.sh, grpo_<size>.sh, bench_<size>.sh and ablations.sh as
one dependency chain, all writing into the same run directory runs/<profile>/<run-name>/.

Options:
  --size 7b|32b             which stage scripts (hardware) to use (default: 7b)
  --profile P               recipe profile for every stage (default: the size; tiny-cpu for a smoke test)
  --run-name N              run directory runs/<profile>/N (default: main)
  --from NN / --to NN       first / last notebook number, e.g. --from 03 (default: 01 .. 06)
  --after JOBID             make the first job wait for JOBID too (e.g. a running stage)
  --override STAGE='...'    recipe overrides for one stage, e.g. grpo_rl='--max_steps 20' (repeatable)
  --dry-run                 print the sbatch commands, submit nothing
  --rehearse                the size's recipes with the tiny model and the scale divided (srpo.rehearsal prints
                            the rule); the jobs inherit SRPO_REHEARSAL; run directory runs/<size>/rehearsal
  -h, --help                this text

Partition, account, QOS: export SBATCH_PARTITION / SBATCH_ACCOUNT / SBATCH_QOS; they apply to every job.
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE=${2:?}; shift 2 ;;
    --profile) PROFILE=${2:?}; shift 2 ;;
    --run-name) RUN_NAME=${2:?}; shift 2 ;;
    --from) FROM=$((10#${2:?})); shift 2 ;;
    --to) TO=$((10#${2:?})); shift 2 ;;
    --after) AFTER=${2:?}; shift 2 ;;
    --override)
      key=${2%%=*}
      [[ " ${KEYS[*]} " == *" $key "* && $2 == *=* ]] || { echo "error: --override needs STAGE='--flag value' with STAGE one of ${KEYS[*]}" >&2; exit 2; }
      OVERRIDES[$key]="${OVERRIDES[$key]:-} ${2#*=}"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --rehearse) REHEARSE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $SIZE == 7b || $SIZE == 32b ]] || { echo "error: --size must be 7b or 32b, got '$SIZE'" >&2; exit 2; }
((1 <= FROM && FROM <= TO && TO <= 6)) || { echo "error: need 01 <= --from <= --to <= 06" >&2; exit 2; }
PROFILE=${PROFILE:-$SIZE}
SCRIPTS=(data.sh reflect.sh "sft_$SIZE.sh" "grpo_$SIZE.sh" "bench_$SIZE.sh" ablations.sh)

cd "$SRPO_HOME"   # the jobs' logs/ and run directories are relative to the submit directory
# shellcheck source=slurm/env.sh
source slurm/env.sh
prepare_submit || exit 2  # logs/ for the jobs, PY: the Python the jobs use
ARMS=()
if [ "$REHEARSE" = 1 ]; then
  [ "$PROFILE" = "$SIZE" ] || { echo "error: --rehearse rehearses the $SIZE recipes (no --profile)" >&2; exit 2; }
  [ "$RUN_NAME" != main ] || RUN_NAME=rehearsal
  SRPO_REHEARSAL=$("$PY" -m srpo.rehearsal --profile "$PROFILE" --run-name "$RUN_NAME")
  export SRPO_REHEARSAL   # sbatch passes the environment: every job applies the rule
  # vLLM on CPU (srpo.rehearsal.cpu_vllm_env): KV cache GiB; no per-NUMA-node thread binding (TP 2 on one node)
  export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1} VLLM_CPU_OMP_THREADS_BIND=${VLLM_CPU_OMP_THREADS_BIND:-nobind}
  read -ra REHEARSAL_ARMS <<< "$("$PY" -c "from srpo.rehearsal import RULE; print(*next(c.value for c in RULE if c.key == 'arms'))")"
  ARMS=(--arms "${REHEARSAL_ARMS[@]}")
  [ "$DRY_RUN" = 1 ] && echo "export SRPO_REHEARSAL='$SRPO_REHEARSAL'"
fi
prev=$AFTER
declare -A JOB=()   # stage number -> its job id (a placeholder in a dry run)
for ((i = FROM; i <= TO; i++)); do
  script=slurm/${SCRIPTS[i - 1]} key=${KEYS[i - 1]}
  if ((i == 6)) && [ "$PROFILE" != tiny-cpu ]; then
    # 06 on a cluster: one job chain per ablation arm, then the aggregate job (srpo.ablations.submit; the same as
    # `bash slurm/ablation_arms.sh`). The arms read the main run's 01-03 (RL prompts, SFT set, SFT model): they
    # wait for 03, not for 04/05, and run beside them. The SRPO arm that reuses the main GRPO waits for 04;
    # the aggregate waits for every arm and for 05 (its report shows the main benchmarks).
    sub=(-m srpo.ablations submit --profile "$PROFILE" --run-name "$RUN_NAME" "${ARMS[@]}")
    last_input=${JOB[3]:-${JOB[2]:-${JOB[1]:-$AFTER}}}
    [ -n "$last_input" ] && sub+=(--after "$last_input")
    grpo_job=${JOB[4]:-$last_input}
    [ -n "$grpo_job" ] && sub+=(--after-grpo "$grpo_job")
    [ -n "$prev" ] && sub+=(--after-aggregate "$prev")
    [ -n "${OVERRIDES[grpo_rl]:-}" ] && sub+=(--no-reuse-main-srpo)   # the main GRPO is not the recipe's
    [ "$DRY_RUN" = 1 ] && sub+=(--dry-run)
    "$PY" "${sub[@]}"
    continue
  fi
  cmd=(sbatch --parsable)
  [ -n "$prev" ] && cmd+=(--dependency="afterok:$prev" --kill-on-invalid-dep=yes)
  cmd+=("$script" --profile "$PROFILE" --run-name "$RUN_NAME")
  [ -n "${OVERRIDES[$key]:-}" ] && cmd+=(--overrides "${OVERRIDES[$key]# }")
  if [ "$DRY_RUN" = 1 ]; then
    printf '%q ' "${cmd[@]}"; echo
    prev="<job_of_$(printf '%02d' "$i")>"
  else
    prev=$("${cmd[@]}")
    prev=${prev%%;*}   # --parsable prints "jobid[;cluster]"
    echo "$(printf '%02d' "$i") ${key}: job $prev ($script)"
  fi
  JOB[$i]=$prev
done
[ "$DRY_RUN" = 1 ] || echo "logs: logs/srpo-*-<jobid>.out; outputs: runs/$PROFILE/$RUN_NAME/; queue: squeue --me"
