#!/bin/sh
# make test-cluster (issue 17.8): examples/slurm/eval.sh and examples/slurm/parallel.sh run for real.
# A one-node Slurm cluster on localhost (munged, slurmctld, slurmd with a generated slurm.conf in a
# temporary folder, on ports of their own; stopped by pid at the end, also on failure) runs the
# array job on models/fashion.xai; one task is cancelled midway and resubmitted; the shards are
# merged and compared byte for byte with a single unsharded run.  The same for the GNU parallel
# script, killed midway and rerun.  Installs slurm-wlm, munge and parallel with apt-get when they
# are missing; skips, saying why, when it cannot start the cluster.
cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL test_aopc_cluster: $*"; }
check() { what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
keep=
skip() { keep=1; echo "test_aopc_cluster: SKIPPED: $*"; echo "0 passed, 0 failed"; exit 0; }

need="slurmctld slurmd sbatch squeue scancel sinfo munged parallel"
missing=
for c in $need; do command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing="$missing $c"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test_aopc_cluster: installing slurm-wlm, munge and parallel (missing:$missing)"
        (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge parallel) >/dev/null 2>&1 ||
            skip "apt-get install slurm-wlm munge parallel failed"
    else
        skip "missing$missing, and installing needs root and apt-get"
    fi
fi
PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" = 0 ] || skip "slurmd runs jobs as their user only when started as root; run as root"
[ -x bin/aopc ] && [ -x bin/aopc-merge ] || { echo "build bin/aopc and bin/aopc-merge first (make test-cluster does)"; exit 1; }

T=$(mktemp -d /tmp/xai_cluster.XXXXXX)
chmod 755 "$T"
pids=
stop() {
    for f in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munged.pid"; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    sleep 1
    for f in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munged.pid"; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    [ -n "$pids" ] && kill $pids 2>/dev/null
    if [ "$failed" = 0 ] && [ -z "$keep" ]; then rm -rf "$T"; else echo "test_aopc_cluster: logs kept in $T"; fi
}
trap stop EXIT
trap 'exit 1' INT TERM HUP

# munge: its own key, socket and files
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$T/munge.key"
mkdir -p "$T/munge" && chmod 711 "$T/munge"
munged --key-file="$T/munge.key" --socket="$T/munge/socket" --pid-file="$T/munged.pid" --log-file="$T/munged.log" \
    --seed-file="$T/munge.seed" --force >/dev/null 2>&1 || skip "munged does not start (see $T/munged.log)"

host=$(hostname -s)
cpus=$(nproc)
# the memory slurmd finds, less a margin (eval.sh asks for --mem-per-cpu)
memory=$(( $(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo) - 256 ))
mkdir -p "$T/state" "$T/spool"
cat > "$T/slurm.conf" <<CONF
ClusterName=xaitest
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$T/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=2
MinJobAge=3600
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
slurmctld -c >/dev/null 2>&1 || skip "slurmctld does not start (see $T/slurmctld.log)"
slurmd >/dev/null 2>&1 || skip "slurmd does not start (see $T/slurmd.log)"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
    i=$((i + 1))
    [ $i -gt 60 ] && skip "the node did not come up in 60 s (see $T/slurmctld.log, $T/slurmd.log)"
    sleep 1
done
echo "test_aopc_cluster: a one-node cluster on $host is up ($cpus CPUs)"

# the evaluation: 12 test pictures (sorted, so the merged curves.tsv is the single run's byte for
# byte), 3 shards, settings that take a few seconds a shard: full passes (--no-incremental, the same
# numbers), so that a task is still running when the test cancels it after its first image
ls examples/images/fashion-test/*.pgm | LC_ALL=C sort | head -n 12 > "$T/list.txt"
export MODEL=models/fashion.xai LIST="$T/list.txt" METHODS=lrp-eps:0.01,sensitivity-l2,random SHARDS=3
export AOPC_FLAGS="--steps 16 --region 3 --repeats 6 --no-incremental"
OMP_NUM_THREADS=1 bin/aopc "$MODEL" --list "$LIST" --methods "$METHODS" $AOPC_FLAGS --out "$T/single" >"$T/single.log" 2>&1
check "the single run" test -s "$T/single/summary.tsv"

same() { # same folder a b: the results a user reads are identical bytes
    for f in summary.tsv aopc_curves.tsv aopc.svg curves.tsv; do cmp -s "$1/$f" "$2/$f" || { echo "  $1/$f differs from $2/$f"; return 1; }; done
}
wait_job() { # wait_job ID: until it has left the queue (120 s at most)
    [ -n "$1" ] || return 1
    j=0
    while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do j=$((j + 1)); [ $j -gt 240 ] && return 1; sleep 0.5; done
}
rows() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

# Slurm: the array job, task 1 cancelled once it has written its first image, resubmitted
export OUT="$T/slurm" XAI_HOME="$repo"
job=$(sbatch --parsable --array=0-2 --cpus-per-task=1 --output="$T/slurm-%A_%a.out" examples/slurm/eval.sh 2>"$T/sbatch.err")
check "sbatch accepts examples/slurm/eval.sh ($(cat "$T/sbatch.err"))" test -n "$job"
per=$((3 * 6 * 17))   # rows of one image: runs x repeats x (steps + 1)
i=0
while [ "$(rows "$OUT/shard1/curves.tsv")" -le "$per" ] && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
scancel "${job}_1"
wait_job "$job"
done1=$(( ($(rows "$OUT/shard1/curves.tsv") - 1) / per ))
echo "test_aopc_cluster: task 1 cancelled with $done1 of 4 images written"
check "task 1 was cancelled midway ($done1 of 4 images)" test "$done1" -ge 1 -a "$done1" -lt 4
bin/aopc-merge "$OUT"/shard0 "$OUT"/shard1 "$OUT"/shard2 --out "$OUT/all" >"$T/merge1.log" 2>&1
check "aopc-merge refuses the cancelled shard" grep -q "unfinished" "$T/merge1.log"
job2=$(sbatch --parsable --array=1 --cpus-per-task=1 --output="$T/slurm-%A_%a.out" examples/slurm/eval.sh)
wait_job "$job2"
check "the resubmitted task resumed" grep -q "already done" "$T/slurm-${job2}_1.out"
bin/aopc-merge "$OUT"/shard0 "$OUT"/shard1 "$OUT"/shard2 --out "$OUT/all" >"$T/merge2.log" 2>&1
check "aopc-merge of the Slurm shards" test -s "$OUT/all/summary.tsv"
check "Slurm shards merged = the single run, byte for byte" same "$OUT/all" "$T/single"

# GNU parallel: killed once a shard has an image, then the same command again
export OUT="$T/parallel"
(cd /; exec setsid "$repo/examples/slurm/parallel.sh") >"$T/parallel1.log" 2>&1 &
ppid=$!
pids=$ppid
i=0
while [ "$(rows "$OUT/shard0/curves.tsv")" -le "$per" ] && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
# GNU parallel gives each job a process group of its own: the whole session goes
kill -9 $(ps -o pid= -s "$ppid") 2>/dev/null
wait "$ppid" 2>/dev/null
pids=
killed0=$(( ($(rows "$OUT/shard0/curves.tsv") - 1) / per ))
echo "test_aopc_cluster: parallel.sh killed with $killed0 of 4 images of shard 0 written"
check "the parallel run was killed midway, before its merge" test ! -e "$OUT/all/summary.tsv" -a "$killed0" -lt 4
(cd /; "$repo/examples/slurm/parallel.sh") >"$T/parallel2.log" 2>&1
check "examples/slurm/parallel.sh rerun completes" test -s "$OUT/all/summary.tsv"
check "parallel shards merged = the single run, byte for byte" same "$OUT/all" "$T/single"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
