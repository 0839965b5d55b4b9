#!/usr/bin/env bash
# A real single-node Slurm (with accounting) for the Slurm-marked tests, on a Debian machine
# where we are root and there is no systemd (the CI machine).
#
#   bash tests/slurm/cluster.sh install   # apt-get slurm-wlm munge slurmdbd mariadb-server
#   bash tests/slurm/cluster.sh start     # configs, then munged, mariadbd, slurmdbd, slurmctld, slurmd
#   bash tests/slurm/cluster.sh status    # exit 0 when every daemon is up and the node is idle
#   bash tests/slurm/cluster.sh stop      # stop, by pid, the daemons `start` started
#
# Every command is idempotent. `start` on a running cluster does nothing; `stop` stops only
# daemons this script started (it records them) and waits for each pid to exit.
# Settings and their reasons: /work/shared/slurm/NOTES.md (measured on a machine like this).
set -euo pipefail

RUN_DIR=/run/mlp-repro-slurm          # our bookkeeping: which daemons we started, mariadbd pid
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
CLUSTER=mlprepro
DBD_PORT=6819
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stop runs it backwards

log() { printf '[cluster.sh %s] %s\n' "$(date +%T)" "$*"; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local start; start=$(now)
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) >= deadline )); then die "$what not ready after ${limit}s"; fi
    sleep 0.2
  done
  log "$what ready ($(since "$start") s)"
}

pid_file() {
  case $1 in
    munged) echo /run/munge/munged.pid ;;
    mariadbd) echo /run/mysqld/mysqld.pid ;;
    slurmdbd) echo /run/slurmdbd.pid ;;
    slurmctld) echo /run/slurmctld.pid ;;
    slurmd) echo /run/slurmd.pid ;;
  esac
}

# The pid of a running daemon, from its pid file, only if that process is really it.
daemon_pid() {
  local file pid; file=$(pid_file "$1")
  [[ -s $file ]] || return 1
  pid=$(tr -dc '0-9' < "$file")
  [[ -n $pid && -d /proc/$pid ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] || return 1
  echo "$pid"
}

running() { daemon_pid "$1" >/dev/null; }
mark_started() { mkdir -p "$RUN_DIR"; touch "$RUN_DIR/started.$1"; }

# ---------------------------------------------------------------------------------------------
cmd_install() {
  local tools=(slurmctld slurmd slurmdbd sbatch srun sacct munged mariadbd)
  local missing=()
  for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if (( ${#missing[@]} == 0 )); then
    log "already installed ($(slurmd -V), $(mariadbd --version | awk '{print $3}'))"
    return 0
  fi
  local start; start=$(now)
  log "installing (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: 30 packages instead of ~60 (hdf5, rrd, ipmi plugins are not needed).
  apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurm-client munge slurmdbd mariadb-server >/dev/null
  log "installed in $(since "$start") s: $(slurmd -V)"
}

write_configs() {
  local host node
  host=$(hostname -s)
  # The real node line (CPUs, sockets, cores, threads, memory), not hard-coded values.
  node=$(slurmd -C | grep '^NodeName=' | sed -e "s/^NodeName=[^ ]*//" -e 's/UpTime=.*//')
  [[ -n $node ]] || die "slurmd -C printed no NodeName line"
  mkdir -p "$CONF_DIR" "$LOG_DIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  chown slurm:slurm "$LOG_DIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: a single-node test cluster (see its header).
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
# Short credential lifetime: a requeued job restarts ~10 s later instead of ~120 s.
AuthInfo=cred_expire=10
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$(pid_file slurmctld)
SlurmdPidFile=$(pid_file slurmd)
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# proctrack/cgroup (the default) cannot launch jobs here: "cgroup namespace 'freezer' not mounted".
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# Cores are the consumable resource, so two 1-CPU array tasks run side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
KillWait=5
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
# Accounting: submitit reads job states with sacct (without it a cancelled job's result hangs).
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
NodeName=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  local pass_file="$CONF_DIR/.slurmdbd-storage-pass" pass
  if [[ ! -s $pass_file ]]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pass_file"
    chmod 600 "$pass_file"
  fi
  pass=$(cat "$pass_file")
  cat > "$CONF_DIR/slurmdbd.conf" <<EOF
# Written by tests/slurm/cluster.sh.
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=slurm
PidFile=$(pid_file slurmdbd)
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
EOF
  # slurmdbd refuses a config readable by others or not owned by SlurmUser.
  chown slurm:slurm "$CONF_DIR/slurmdbd.conf"
  chmod 600 "$CONF_DIR/slurmdbd.conf"
}

munge_ok() { munge -n | unmunge; }
mysql_ok() { mysqladmin --protocol=socket ping; }
dbd_ok() { (exec 3<>"/dev/tcp/127.0.0.1/$DBD_PORT") 2>/dev/null; }
ctld_ok() { scontrol ping | grep -q 'is UP'; }
node_idle() { [[ $(sinfo -h -o %t | head -n1) == idle ]]; }

start_munged() {
  if running munged; then log "munged already running"; return; fi
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  mark_started munged
  wait_for 20 munged munge_ok
}

start_mariadbd() {
  if running mariadbd; then log "mariadbd already running"; return; fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  setsid mariadbd --user=mysql >>"$LOG_DIR/mariadbd.log" 2>&1 < /dev/null &
  mark_started mariadbd
  wait_for 60 mariadbd mysql_ok
  wait_for 10 "mariadbd pid file" running mariadbd
}

start_slurmdbd() {
  if running slurmdbd; then log "slurmdbd already running"; return; fi
  local pass; pass=$(cat "$CONF_DIR/.slurmdbd-storage-pass")
  mysql --protocol=socket -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  rm -f "$(pid_file slurmdbd)"
  slurmdbd
  mark_started slurmdbd
  wait_for 60 "slurmdbd (port $DBD_PORT)" dbd_ok
}

start_slurmctld() {
  if running slurmctld; then log "slurmctld already running"; return; fi
  rm -f "$(pid_file slurmctld)"
  slurmctld
  mark_started slurmctld
  # Start slurmd only once the controller answers; otherwise the node can show idle* for ~30 s.
  wait_for 60 slurmctld ctld_ok
}

start_slurmd() {
  if running slurmd; then log "slurmd already running"; return; fi
  slurmd
  mark_started slurmd
  wait_for 30 "slurmd process" running slurmd
  local host; host=$(hostname -s)
  # A node drained by an earlier failure stays drained across restarts.
  if sinfo -h -o %t | grep -Eq 'drain|down'; then
    scontrol update NodeName="$host" State=RESUME || true
  fi
  wait_for 60 "node $host idle" node_idle
}

cmd_start() {
  local start; start=$(now)
  if cmd_status >/dev/null 2>&1; then log "cluster already up"; return 0; fi
  command -v slurmctld >/dev/null || die "Slurm is not installed; run: $0 install"
  if ! running slurmctld; then write_configs; fi
  start_munged
  start_mariadbd
  start_slurmdbd
  start_slurmctld
  start_slurmd
  log "cluster up in $(since "$start") s: $(sinfo -h -o '%P %D %c CPUs %m MB %t' | head -n1)"
}

# stop_daemon NAME: TERM the recorded pid and wait until it is gone (KILL after 60 s).
stop_daemon() {
  local name=$1 pid start
  if [[ ! -e $RUN_DIR/started.$name ]]; then
    running "$name" && log "$name was not started by this script; leaving it running"
    return 0
  fi
  if pid=$(daemon_pid "$name"); then
    start=$(now)
    kill -TERM "$pid"
    local deadline=$(( $(date +%s) + 60 ))
    while [[ -d /proc/$pid ]]; do
      if (( $(date +%s) >= deadline )); then
        log "$name ($pid) ignored TERM for 60 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      sleep 0.2
    done
    log "stopped $name (pid $pid, $(since "$start") s)"
  fi
  rm -f "$RUN_DIR/started.$name"
  # slurmctld and slurmdbd leave stale pid files, which break a later `apt-get purge`.
  case $name in slurmctld | slurmdbd) rm -f "$(pid_file "$name")" ;; esac
}

cmd_stop() {
  local start; start=$(now)
  for (( i=${#DAEMONS[@]} - 1; i >= 0; i-- )); do stop_daemon "${DAEMONS[$i]}"; done
  log "stopped in $(since "$start") s"
}

cmd_status() {
  local ok=0
  for name in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: down"; ok=1; fi
  done
  if (( ok == 0 )) && ctld_ok && node_idle_or_busy; then
    sinfo -h -o 'partition %P: %D node(s), %c CPUs, %m MB, %t'
  else
    ok=1
  fi
  return $ok
}

node_idle_or_busy() { sinfo -h -o %t | head -n1 | grep -Eq '^(idle|mix|alloc)$'; }

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
