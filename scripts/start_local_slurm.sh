#!/usr/bin/env bash
# start_local_slurm.sh - throwaway single-host SLURM 22.05 cluster (Debian 12, root, no systemd).
# Used by tests/test_slurm.py (SLURM_FAKE_NODES=4 SLURM_FAKE_GPUS=8: the slurm/*.sh scripts sized for 8 and
# 32 H100 run unchanged). Background and pitfalls: slurm/README.md, "Testing the scripts".
#
# Usage:  start_local_slurm.sh [start|stop|status|restart|install]   (default: start)
#         install: only apt-get install the packages (exit 1 if that is impossible here)
#         start_local_slurm.sh wait JOBID   poll every 0.5 s; exit with the job's exit code
#                                           (sbatch --wait polls at 2, 10, 42, 74... s)
#
# Knobs (environment variables):
#   SLURM_LOCAL_DIR    state/spool/log/pid directory           (default /tmp/slurm-local/run)
#   SLURM_FAKE_NODES   0 = one node named after this host (real CPUs/RAM);
#                      N>=1 = N fake nodes n1..nN, one slurmd each (multiple-slurmd) (default 0)
#   SLURM_FAKE_GPUS    GPUs advertised per node as Gres=gpu:K, backed by mknod'ed
#                      char devices (no real GPU; CUDA_VISIBLE_DEVICES is set) (default 0)
#   SLURM_NODE_CPUS    CPUs advertised per node. Default: real count for the real node,
#                      256 for fake nodes. Larger than real is allowed (config_overrides).
#   SLURM_NODE_MEM_MB  RealMemory advertised per node (default: real, 2000000 for fake nodes)
#   SLURM_ACCOUNTING=1 also run MariaDB + slurmdbd so that sacct works (+~12 s install,
#                      ~3 s start). Default 0: no sacct; use scontrol/squeue/jobcomp.txt.
#   SLURM_NO_INSTALL=1 do not apt-get install missing packages
#
# Idempotent: "start" on a running cluster whose config is unchanged just prints status.
# With a changed config it restarts (state is wiped; it is a throwaway cluster).
# "stop" = scontrol shutdown (+ kill by PID from pid files as a fallback) + stop munged
# if this script started it.
set -euo pipefail

ACTION=${1:-start}
D=${SLURM_LOCAL_DIR:-/tmp/slurm-local/run}
FAKE_NODES=${SLURM_FAKE_NODES:-0}
FAKE_GPUS=${SLURM_FAKE_GPUS:-0}
ACCT=${SLURM_ACCOUNTING:-0}
CONF=/etc/slurm/slurm.conf        # default path: every client finds it without SLURM_CONF
GRES_CONF=/etc/slurm/gres.conf
T=timeout

log() { echo "[local-slurm] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_pkgs() {
  local pkgs="" 
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v sbatch >/dev/null && command -v munged >/dev/null ||
    pkgs="slurm-wlm slurmctld slurmd slurm-client munge"
  if [ "$ACCT" = 1 ]; then
    command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null ||
      pkgs="$pkgs slurmdbd mariadb-server"
  fi
  [ -z "$pkgs" ] && return 0
  [ "${SLURM_NO_INSTALL:-0}" = 1 ] && die "missing packages ($pkgs) and SLURM_NO_INSTALL=1"
  log "installing $pkgs (apt)"
  export DEBIAN_FRONTEND=noninteractive
  $T 300 apt-get update -qq
  # --no-install-recommends: 9 packages instead of ~43 (no hdf5/rrd/ipmi/rocm plugins).
  # Debian's policy-rc.d here (exit 101) keeps the postinst scripts from starting services.
  $T 300 apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
}

dbd_up() { $T 2 bash -c '</dev/tcp/127.0.0.1/6819' 2>/dev/null; }

start_dbd() {   # MariaDB (via its SysV script; no systemd) + slurmdbd, fresh empty database
  if ! $T 10 mysqladmin ping >/dev/null 2>&1; then
    $T 120 /etc/init.d/mariadb start >/dev/null   # start path only; its stop path uses killall
    echo started-by-script > "$D/mariadb.ours"
  fi
  $T 30 mysql -u root -e "DROP DATABASE IF EXISTS slurm_acct_db; CREATE DATABASE slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
DebugLevel=info
LogFile=$D/log/slurmdbd.log
PidFile=$D/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 /etc/slurm/slurmdbd.conf
  /usr/sbin/slurmdbd                      # daemonizes
  for _ in $(seq 150); do dbd_up && return 0; sleep 0.2; done
  tail -20 "$D/log/slurmdbd.log" >&2; die "slurmdbd did not come up"
}

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    install -d -o munge -g munge -m 0700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  if $T 10 munge -n 2>/dev/null | $T 10 unmunge >/dev/null 2>&1; then
    log "munged already running"; return 0
  fi
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged          # daemonizes; pid in /run/munge/munged.pid
  echo started-by-script > "$D/munged.ours"
  for _ in $(seq 50); do
    $T 5 munge -n 2>/dev/null | $T 5 unmunge >/dev/null 2>&1 && return 0; sleep 0.1
  done
  die "munged did not come up"
}

node_names() {
  if [ "$FAKE_NODES" -ge 1 ]; then seq -f 'n%g' 1 "$FAKE_NODES"; else hostname -s; fi
}

write_conf() {   # writes to $1 (slurm.conf) and $2 (gres.conf)
  local H; H=$(hostname -s)
  local real cpus mem nodeline
  real=$(slurmd -C | head -1)
  local rcpus rmem
  rcpus=$(sed -E 's/.* CPUs=([0-9]+).*/\1/' <<<"$real")
  rmem=$(sed -E 's/.* RealMemory=([0-9]+).*/\1/' <<<"$real")
  if [ "$FAKE_NODES" -ge 1 ]; then
    cpus=${SLURM_NODE_CPUS:-256}; mem=${SLURM_NODE_MEM_MB:-2000000}
    nodeline="NodeName=n[1-$FAKE_NODES] NodeHostname=$H NodeAddr=127.0.0.1 Port=[17001-$((17000+FAKE_NODES))] CPUs=$cpus RealMemory=$mem"
  else
    cpus=${SLURM_NODE_CPUS:-$rcpus}; mem=${SLURM_NODE_MEM_MB:-$rmem}
    nodeline="NodeName=$H NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem"
  fi
  [ "$FAKE_GPUS" -gt 0 ] && nodeline+=" Gres=gpu:$FAKE_GPUS"
  cat > "$1" <<EOF
# generated by start_local_slurm.sh - throwaway test cluster
ClusterName=localci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
MailProg=/bin/true
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# start batch jobs at once (default waits up to 3 s after submit): job turnaround ~1 s
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
# reject (instead of leaving PENDING forever) jobs larger than any node/partition
EnforcePartLimits=ALL
# trust the CPUs/RealMemory/Gres written here instead of the hardware (fake big nodes)
SlurmdParameters=config_overrides
GresTypes=gpu
# keep finished jobs visible to scontrol for 1h (no slurmdbd -> no sacct)
MinJobAge=3600
KillWait=5
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
$(if [ "$ACCT" = 1 ]; then
  printf 'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nJobAcctGatherType=jobacct_gather/linux\n'
else
  printf 'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none\n'
fi)
# one line per finished job incl. JobState and ExitCode (poor man's sacct)
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
$nodeline State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [ "$FAKE_GPUS" -gt 0 ]; then
    local nn="$H"; [ "$FAKE_NODES" -ge 1 ] && nn="n[1-$FAKE_NODES]"
    echo "NodeName=$nn Name=gpu File=$D/fakegpu/nvidia[0-$((FAKE_GPUS-1))]" > "$2"
  else
    : > "$2"
  fi
}

ensure_hosts() {
  local n
  for n in $(hostname -s) $([ "$FAKE_NODES" -ge 1 ] && node_names); do
    getent hosts "$n" >/dev/null || { echo "127.0.0.1 $n" >> /etc/hosts; log "added $n to /etc/hosts"; }
  done
}

# poll one job to its end; return its exit code (1 for TIMEOUT/CANCELLED/NODE_FAIL/...)
wait_job() {
  local id=$1 line state ec
  while :; do
    line=$($T 10 scontrol show job -o "$id" 2>/dev/null) || { log "job $id not found"; return 1; }
    state=$(grep -o 'JobState=[A-Z_]*' <<<"$line" | cut -d= -f2 || true)
    case "$state" in
      PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|SIGNALING|STAGE_OUT) sleep 0.5 ;;
      COMPLETED) return 0 ;;
      *) ec=$(grep -o ' ExitCode=[0-9]*:[0-9]*' <<<"$line" | cut -d= -f2 || true)
         log "job $id ended $state ExitCode=$ec"
         [ "${ec%%:*}" != 0 ] && return "${ec%%:*}"; return 1 ;;
    esac
  done
}

ctld_up() { $T 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

status() {
  if pid_alive "$D/slurmctld.pid" && ctld_up; then
    sinfo -N -o '%N %T %c %m %G' ; return 0
  fi
  log "not running"; return 1
}

stop() {
  local f p
  if pid_alive "$D/slurmctld.pid" && ctld_up; then
    # cancel leftover jobs so no slurmstepd/job processes outlive the cluster
    if [ -n "$($T 10 squeue -h -o %i 2>/dev/null)" ]; then
      $T 10 scancel --user=root >/dev/null 2>&1 || true
      for _ in $(seq 50); do [ -z "$($T 10 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    $T 30 scontrol shutdown >/dev/null 2>&1 || true   # asks slurmctld and every slurmd to exit
  fi
  # scontrol shutdown occasionally leaves a slurmd running (seen once in ~8 tries):
  # wait 3 s, then SIGTERM, then SIGKILL - always by the PID from our own pid files
  for f in "$D"/slurmctld.pid "$D"/slurmd-*.pid; do
    [ -e "$f" ] || continue
    p=$(cat "$f" 2>/dev/null || true)
    if [ -n "$p" ]; then
      for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && { log "SIGTERM pid $p ($f)"; kill "$p" 2>/dev/null || true; }
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && { log "SIGKILL pid $p ($f)"; kill -9 "$p" 2>/dev/null || true; }
    fi
    rm -f "$f"
  done
  if pid_alive "$D/slurmdbd.pid"; then
    p=$(cat "$D/slurmdbd.pid"); kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    rm -f "$D/slurmdbd.pid"
  fi
  if [ -e "$D/mariadb.ours" ] && pid_alive /run/mysqld/mysqld.pid; then
    p=$(cat /run/mysqld/mysqld.pid)
    $T 60 mysqladmin shutdown >/dev/null 2>&1 || kill "$p" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$D/mariadb.ours"
  if [ -e "$D/munged.ours" ] && pid_alive /run/munge/munged.pid; then
    p=$(cat /run/munge/munged.pid)
    kill "$p" || true            # munged needs ~1-2 s to exit after SIGTERM
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$D/munged.ours"
  log "stopped"
}

start() {
  install_pkgs
  mkdir -p "$D"/{state,log}
  local newconf newgres
  newconf=$(mktemp); newgres=$(mktemp)
  write_conf "$newconf" "$newgres"
  if pid_alive "$D/slurmctld.pid" && ctld_up && cmp -s "$newconf" "$CONF" &&
     cmp -s "$newgres" "$GRES_CONF"; then
    local want up
    want=$(node_names | wc -l)
    up=$(sinfo -h -N -t idle,mix,alloc,comp -o '%N' 2>/dev/null | sort -u | wc -l)
    if [ "$up" -ge "$want" ]; then
      log "already running with the same config"; rm -f "$newconf" "$newgres"; status; return 0
    fi
  fi
  stop >/dev/null 2>&1 || true
  rm -rf "$D/state" "$D/spool" "$D/fakegpu"; mkdir -p "$D"/{state,spool,log}
  install -m 0644 "$newconf" "$CONF"; install -m 0644 "$newgres" "$GRES_CONF"
  rm -f "$newconf" "$newgres"
  local n
  for n in $(node_names); do mkdir -p "$D/spool/$n"; done
  if [ "$FAKE_GPUS" -gt 0 ]; then   # GPUs need real char devices; clone /dev/null's numbers
    mkdir -p "$D/fakegpu"
    for i in $(seq 0 $((FAKE_GPUS-1))); do mknod "$D/fakegpu/nvidia$i" c 1 3; done
  fi
  ensure_hosts
  start_munge
  [ "$ACCT" = 1 ] && start_dbd
  /usr/sbin/slurmctld                     # daemonizes
  for _ in $(seq 100); do ctld_up && break; sleep 0.2; done
  ctld_up || { tail -20 "$D/log/slurmctld.log" >&2; die "slurmctld did not come up"; }
  if [ "$FAKE_NODES" -ge 1 ]; then
    for n in $(node_names); do /usr/sbin/slurmd -N "$n"; done
  else
    /usr/sbin/slurmd
  fi
  local want up
  want=$(node_names | wc -l)
  for _ in $(seq 150); do
    up=$(sinfo -h -N -t idle -o '%N' 2>/dev/null | sort -u | wc -l)
    [ "$up" -ge "$want" ] && break; sleep 0.2
  done
  if [ "$up" -lt "$want" ]; then
    sinfo -N -o '%N %T %E' >&2; tail -20 "$D"/log/slurmd-*.log >&2; die "nodes not idle"
  fi
  # smoke test: one batch job end to end (munge -> slurmctld -> slurmd -> slurmstepd).
  # Also absorbs the ~3 s during which a fresh slurmctld does not yet schedule batch jobs.
  local id
  id=$($T 30 sbatch --parsable --job-name=smoke --output=/dev/null --wrap true) ||
    die "smoke sbatch failed"
  $T 60 bash -c "$(declare -f wait_job log); T=timeout; wait_job $id" || die "smoke job $id failed"
  log "cluster up: $want node(s)"
  status
}

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  install) install_pkgs ;;
  wait) wait_job "${2:?usage: $0 wait JOBID}" ;;
  *) die "usage: $0 [start|stop|status|restart|install|wait JOBID]" ;;
esac
