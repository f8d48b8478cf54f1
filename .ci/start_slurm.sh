#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine: munged, slurmctld and slurmd on the
# local hostname, no cgroups, no accounting storage. Needs root and Debian's `slurm-wlm`
# and `munge` packages. Used by tests/test_slurm.py; also a way to try the README's
# "Running on a cluster" commands on one machine.
#
#   .ci/start_slurm.sh [DIR]      # DIR defaults to /tmp/implicit-bias-slurm
#   sinfo; snakemake --workflow-profile profiles/slurm ...   # see the README
#   .ci/stop_slurm.sh [DIR]
#
# Everything (configuration, munge key and socket, state, logs, pid files) lives under DIR,
# and a system munge, if any, is left alone. One link is made outside DIR:
# /run/slurm/conf/slurm.conf -> DIR/slurm.conf, where SLURM's commands look for the
# configuration on a node whose slurmd runs "configless". The executor plugin starts each job
# with an `srun` whose environment it clears of SLURM_* variables (SLURM_CONF included), so
# that srun must find the configuration by itself. Hence the script refuses to run where
# SLURM is already configured (/etc/slurm/slurm.conf or /run/slurm/conf exists).
# Ports: SLURMCTLD_PORT and SLURMD_PORT (default 6817, 6818).
set -euo pipefail

DIR=$(realpath -m "${1:-/tmp/implicit-bias-slurm}")
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
HOST=$(hostname -s)

for exe in munged slurmctld slurmd sinfo; do
    command -v "$exe" >/dev/null || { echo "start_slurm: $exe not found" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "start_slurm: needs root" >&2; exit 2; }
RUN_CONF=/run/slurm/conf
for conf in /etc/slurm/slurm.conf "$RUN_CONF"; do
    if [ -e "$conf" ] && [ "$(realpath -m "$conf")" != "$DIR/slurm.conf" ] \
        && [ "$(realpath -m "$conf/slurm.conf")" != "$DIR/slurm.conf" ]; then
        echo "start_slurm: SLURM is already configured on this machine ($conf); not starting another" >&2
        exit 2
    fi
done

mkdir -p "$DIR"/{munge,state,spool,log}
chmod 0700 "$DIR/munge"

# A private munge daemon with its own key and socket (slurm.conf's AuthInfo points to it).
if [ ! -s "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$DIR/munge/munge.key"
fi
munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed" --force

# The node as slurmd sees it (so the topology matches and the node is not drained), with
# RealMemory at half the machine: jobs may not claim memory the system and the head node need.
NODE=$(slurmd -C | head -n 1)
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE")
NODE=$(sed "s/RealMemory=[0-9]*/RealMemory=$((MEM / 2))/; s/^NodeName=[^ ]*/NodeName=$HOST/" <<<"$NODE")

cat >"$DIR/slurm.conf" <<EOF
# Single-node test cluster written by .ci/start_slurm.sh.
ClusterName=implicitbias
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers, CI runners): plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
# No accounting storage (no slurmdbd): sacct has nothing to say, so job states come from
# squeue, which keeps finished jobs for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
$NODE State=UNKNOWN
# Two partitions on the one node, so that a job's partition shows which setting chose it.
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF

export SLURM_CONF="$DIR/slurm.conf"
mkdir -p "$RUN_CONF"
ln -sfn "$SLURM_CONF" "$RUN_CONF/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# Wait until the node takes jobs.
for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -p debug -o %t 2>/dev/null || true)
    if [ "$state" = idle ]; then
        echo "start_slurm: node $HOST idle; partitions debug (default) and batch; configuration $SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "start_slurm: node $HOST not idle after 60 s (state: ${state:-none})" >&2
scontrol show node "$HOST" >&2 || true
tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
exit 1
