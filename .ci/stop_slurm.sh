#!/usr/bin/env bash
# Stop the cluster that .ci/start_slurm.sh started under DIR: cancel its jobs, then end
# slurmd, slurmctld and munged by the process ids in their pid files, and remove the
# configuration link it made.
#
#   .ci/stop_slurm.sh [DIR]       # DIR defaults to /tmp/implicit-bias-slurm
set -uo pipefail

DIR=$(realpath -m "${1:-/tmp/implicit-bias-slurm}")
[ -f "$DIR/slurm.conf" ] && SLURM_CONF="$DIR/slurm.conf" scancel --full --user=root 2>/dev/null

for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
done
# The configuration link start_slurm.sh made, if it is still ours.
if [ "$(readlink /run/slurm/conf/slurm.conf 2>/dev/null)" = "$DIR/slurm.conf" ]; then
    rm -f /run/slurm/conf/slurm.conf
    rmdir /run/slurm/conf /run/slurm 2>/dev/null
fi
exit 0
