#!/usr/bin/env bash
# A real one-node Slurm cluster on localhost, for the test suite and for a workstation.
#
#   slurm/local-cluster.sh start    install (if missing), configure and start munged, slurmctld, slurmd
#   slurm/local-cluster.sh stop     stop exactly the daemons this script started
#   slurm/local-cluster.sh status   daemons, sinfo and squeue; exit 0 when up, 1 when not
#
# Environment:
#   RB_SLURM_DIR           state, spool, logs, pid files and the private munge socket
#                          (default /var/lib/resnext-bench-slurm)
#   SLURM_CONF             the slurm.conf to write; Slurm's own client tools honour the same
#                          variable (default /etc/slurm/slurm.conf, where Debian's tools look)
#   RB_SLURM_REPLACE_CONF  set to 1 to back up and replace a slurm.conf this script did not write
#   RB_SLURM_WAIT_S        how long start waits for the node to become idle (default 30)
#
# Exit status: 0 success, 1 failure, 2 bad usage.
set -euo pipefail

readonly PROG="local-cluster.sh"
readonly RB_DIR="${RB_SLURM_DIR:-/var/lib/resnext-bench-slurm}"
readonly CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
readonly WAIT_S="${RB_SLURM_WAIT_S:-30}"
readonly MARKER="# Written by resnext-bench slurm/local-cluster.sh; safe to overwrite by it."
readonly RUN_DIR="$RB_DIR/run"
readonly LOG_DIR="$RB_DIR/log"
readonly MUNGE_DIR="$RB_DIR/munge"
readonly MUNGE_KEY="$MUNGE_DIR/munge.key"
readonly MUNGE_SOCKET="$MUNGE_DIR/munge.socket"
# Stop order matters: slurmd and slurmctld still need munge while they shut down.
readonly STOP_ORDER=(slurmd slurmctld munged)
readonly PACKAGES=(slurm-wlm munge)
# sinfo states in which the node accepts work.
readonly READY_STATES="idle mixed mix allocated alloc completing"

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*"; }
usage() { echo "usage: $PROG start|stop|status" >&2; exit 2; }

pid_file() { echo "$RUN_DIR/$1.pid"; }

# Print the pid recorded for daemon $1 when that pid is alive and still is that daemon;
# the name check keeps a recycled pid from being mistaken for (or killed as) ours.
live_pid() {
    local name=$1 file pid comm
    file=$(pid_file "$name")
    [[ -s $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid && -r /proc/$pid/comm ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$name" ]] || return 1
    echo "$pid"
}

# Print pids of processes named $1 that this script did not start.
foreign_pids() {
    local name=$1 ours comm_file pid
    ours=$(live_pid "$name" || true)
    for comm_file in /proc/[0-9]*/comm; do
        [[ $(cat "$comm_file" 2>/dev/null) == "$name" ]] || continue
        pid=${comm_file#/proc/}
        pid=${pid%/comm}
        [[ $pid == "$ours" ]] || echo "$pid"
    done
}

node_name() { hostname -s; }

# The node's sinfo state, or nothing when the controller does not answer.
node_state() {
    timeout 10 sinfo -h -n "$(node_name)" -o %T 2>/dev/null | head -n 1 || true
}

node_ready() {
    local state
    state=$(node_state)
    [[ -n $state && " $READY_STATES " == *" $state "* ]]
}

all_daemons_live() {
    local name
    for name in "${STOP_ORDER[@]}"; do
        live_pid "$name" >/dev/null || return 1
    done
}

require_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 must run as root (it installs packages and runs slurmd as root)"
}

install_packages() {
    local missing=0 bin
    for bin in slurmctld slurmd munged sinfo sbatch scontrol; do
        command -v "$bin" >/dev/null || missing=1
    done
    ((missing)) || return 0
    note "installing ${PACKAGES[*]} with apt-get"
    apt-get update -q >/dev/null || die "apt-get update failed"
    # Recommends pull in a mail server and docs that a test cluster does not need.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null \
        || die "apt-get install ${PACKAGES[*]} failed"
    for bin in slurmctld slurmd munged sinfo sbatch scontrol; do
        command -v "$bin" >/dev/null || die "$bin is still missing after installing ${PACKAGES[*]}"
    done
}

make_dirs() {
    # munged refuses sockets, keys and logs in directories that others can write to.
    install -d -m 0755 "$RB_DIR" "$RUN_DIR" "$LOG_DIR" "$RB_DIR/state" "$RB_DIR/spool"
    # Clients must reach the socket, so the directory is world-searchable; the key stays 0400.
    install -d -m 0755 "$MUNGE_DIR"
}

make_munge_key() {
    [[ -s $MUNGE_KEY ]] && return 0
    # A private key and socket keep this cluster independent of any system-wide munged.
    (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_KEY")
    note "created munge key $MUNGE_KEY"
}

total_mem_mb() { awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo; }

# Slurm drains a node that reports less memory than configured, so leave a margin
# (5%, at least 512 MB) for the kernel and for measurement noise.
real_memory_mb() {
    local total margin
    total=$(total_mem_mb)
    margin=$((total / 20))
    ((margin >= 512)) || margin=512
    ((total - margin > 0)) || die "too little memory (${total} MB) for a Slurm node"
    echo $((total - margin))
}

render_conf() {
    local host cpus mem def_mem
    host=$(node_name)
    cpus=$(nproc)
    mem=$(real_memory_mb)
    # Without a default, a job that asks for no memory gets the whole node and jobs serialise.
    def_mem=$((mem / cpus))
    ((def_mem <= 2048)) || def_mem=2048
    cat <<EOF
$MARKER
# Regenerated by 'local-cluster.sh start'; edit the script, not this file.
ClusterName=resnextbench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$RB_DIR/state
SlurmdSpoolDir=$RB_DIR/spool
SlurmctldPidFile=$(pid_file slurmctld)
SlurmdPidFile=$(pid_file slurmd)
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
SwitchType=switch/none
# linuxproc and task/none need no cgroup setup, which containers and workstations often lack.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
# No slurmdbd: sacct has nothing to read, and tools that use it must fall back to squeue.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
JobRequeue=1
MaxArraySize=1001
MaxJobCount=20000
# A node that restarts with a valid configuration takes work again without an operator.
ReturnToService=2
# The node's hardware layout may differ from nproc (SMT, cpusets); trust this file instead.
SlurmdParameters=config_overrides
# Preempted jobs have checkpointed before SIGTERM arrives; do not hold the node for 30 s.
KillWait=10
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# Back up a slurm.conf this script did not write only when asked; never clobber one silently.
guard_foreign_conf() {
    [[ -e $CONF ]] || return 0
    head -n 1 "$CONF" | grep -qxF "$MARKER" && return 0
    if [[ ${RB_SLURM_REPLACE_CONF:-0} == 1 ]]; then
        local backup
        backup="$CONF.bak.$(date +%Y%m%d%H%M%S)"
        cp -p "$CONF" "$backup"
        note "backed up foreign $CONF to $backup"
        return 0
    fi
    die "$CONF was not written by this script; set RB_SLURM_REPLACE_CONF=1 to back it up and replace it, or point SLURM_CONF elsewhere"
}

write_conf() {
    local new
    new=$(render_conf)
    if [[ -e $CONF ]] && [[ $(cat "$CONF") == "$new" ]]; then
        return 0
    fi
    guard_foreign_conf
    # Running daemons would keep the old configuration while clients read the new one.
    local name
    for name in slurmctld slurmd; do
        if live_pid "$name" >/dev/null; then
            die "$name is running with a configuration other than $CONF; run '$PROG stop' first"
        fi
    done
    install -d -m 0755 "$(dirname "$CONF")"
    printf '%s\n' "$new" >"$CONF.tmp.$$"
    chmod 0644 "$CONF.tmp.$$"
    mv -f "$CONF.tmp.$$" "$CONF"
    note "wrote $CONF"
}

refuse_foreign_daemons() {
    local name pids
    # Two controllers or two slurmd on one host fight over the same ports.
    for name in slurmctld slurmd; do
        pids=$(foreign_pids "$name" | tr '\n' ' ')
        [[ -z ${pids// /} ]] || die "$name (pid ${pids% }) is running but is not the one recorded in $RUN_DIR (a system service or another cluster); stop it first"
    done
}

# Wait until daemon $1 has written its pid file and is alive.
wait_for_pid() {
    local name=$1 i
    for ((i = 0; i < 100; i++)); do
        live_pid "$name" >/dev/null && return 0
        sleep 0.1
    done
    die "$name did not start; see $LOG_DIR/$name.log"
}

start_munged() {
    live_pid munged >/dev/null && return 0
    rm -f "$(pid_file munged)"
    munged --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$(pid_file munged)" \
        --log-file="$LOG_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
        || die "munged failed to start; see $LOG_DIR/munged.log"
    wait_for_pid munged
}

start_slurm_daemon() {
    local name=$1
    live_pid "$name" >/dev/null && return 0
    rm -f "$(pid_file "$name")"
    "$name" -f "$CONF" || die "$name failed to start; see $LOG_DIR/$name.log"
    wait_for_pid "$name"
}

# A node drained by an earlier run (e.g. a killed slurmd) stays drained across restarts.
resume_if_drained() {
    local state=$1
    case $state in
        drain* | down) timeout 10 scontrol update nodename="$(node_name)" state=resume >/dev/null 2>&1 || true ;;
    esac
}

wait_until_idle() {
    local deadline state="" resumed=0
    deadline=$((SECONDS + WAIT_S))
    while ((SECONDS < deadline)); do
        node_ready && return 0
        state=$(node_state)
        if ((!resumed)) && [[ $state == drain* || $state == down ]]; then
            resume_if_drained "$state"
            resumed=1
        fi
        sleep 0.5
    done
    die "node $(node_name) not idle after ${WAIT_S}s (state: ${state:-no answer}); see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log"
}

cmd_start() {
    if all_daemons_live && node_ready; then
        note "cluster already up: node $(node_name) is $(node_state) (conf $CONF, dir $RB_DIR)"
        return 0
    fi
    require_root start
    local began=$SECONDS
    install_packages
    make_dirs
    make_munge_key
    refuse_foreign_daemons
    write_conf
    start_munged
    start_slurm_daemon slurmctld
    start_slurm_daemon slurmd
    wait_until_idle
    note "cluster up in $((SECONDS - began))s: node $(node_name) is $(node_state), partition debug (conf $CONF, dir $RB_DIR)"
}

# Send SIGTERM and wait for exit; SIGKILL only after a grace period, so stop always ends.
stop_daemon() {
    local name=$1 pid i
    pid=$(live_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        [[ -d /proc/$pid ]] || break
        sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
        note "$name (pid $pid) ignored SIGTERM for 20s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            [[ -d /proc/$pid ]] || break
            sleep 0.1
        done
    fi
    [[ ! -d /proc/$pid ]] || die "$name (pid $pid) did not exit"
    rm -f "$(pid_file "$name")"
    note "stopped $name (pid $pid)"
}

cmd_stop() {
    local name any=0
    for name in "${STOP_ORDER[@]}"; do
        live_pid "$name" >/dev/null && any=1
    done
    if ((!any)); then
        # Pid files of daemons that died on their own would only confuse the next status.
        for name in "${STOP_ORDER[@]}"; do
            rm -f "$(pid_file "$name")" 2>/dev/null || true
        done
        note "cluster not running (no live daemons recorded in $RUN_DIR)"
        return 0
    fi
    require_root stop
    for name in "${STOP_ORDER[@]}"; do
        stop_daemon "$name"
    done
    note "cluster stopped"
}

cmd_status() {
    local name pid up=1
    for name in munged slurmctld slurmd; do
        if pid=$(live_pid "$name"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            up=0
        fi
    done
    if command -v sinfo >/dev/null && live_pid slurmctld >/dev/null; then
        timeout 10 sinfo || up=0
        timeout 10 squeue || true
    fi
    if ((up)) && node_ready; then
        note "cluster up"
        return 0
    fi
    note "cluster not up"
    return 1
}

main() {
    [[ $# -eq 1 ]] || usage
    case $1 in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        -h | --help) echo "usage: $PROG start|stop|status"; exit 0 ;;
        *) usage ;;
    esac
}

main "$@"
