#!/usr/bin/env bash
# CPU time each Flotilla process spends per request, the load-robust measure of the write path
# (requests/s on this shared 2-core machine swing with whatever else runs; CPU per request
# barely does). Starts a fresh 3-node cluster (or one node), runs redis-benchmark against the
# leader, and reads utime+stime of every node from /proc/PID/stat before and after.
#
#   bench/harness/cpu_per_request.sh BINARY [TEST] [REQUESTS] [PIPELINE] [FSYNC] [NODES]
#   defaults: set 200000 16 always 3; FILL=FILE pre-fills the leader (see below);
#   VIA=follower sends the load to a follower instead of the leader; CLUSTER_ENABLED=yes runs
#   the nodes with the Redis Cluster protocol on (default no: a follower forwards)
#
# Alternate two binaries over a few rounds and compare medians, e.g.
#   for r in 1 2 3; do for b in old new; do bench/harness/cpu_per_request.sh /tmp/$b; done; done
set -euo pipefail
BIN=${1:?usage: cpu_per_request.sh BINARY [TEST] [REQUESTS] [PIPELINE] [FSYNC] [NODES]}
TEST=${2:-set}; N=${3:-200000}; P=${4:-16}; FSYNC=${5:-always}; NODES=${6:-3}
WORK=$(mktemp -d /tmp/cpu-per-request.XXXX)
# Client ports 12000-19999 and peer ports (+10000) below 32768: inside Linux's ephemeral range
# (32768-60999) a port may be taken by some client's outgoing connection, and a node that
# cannot bind its peer port exits at start.
BASE=$((12000 + RANDOM % 8000))
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cluster=()
for i in $(seq 1 "$NODES"); do cluster+=("$i=127.0.0.1:$((BASE + i - 1))"); done
for i in $(seq 1 "$NODES"); do
  args=(--port $((BASE + i - 1)) --dir "$WORK/node$i" --fsync "$FSYNC")
  # Standalone presentation (forwarding) unless CLUSTER_ENABLED=yes, so VIA=follower measures
  # the forwarded path.
  if [ "$NODES" -gt 1 ]; then
    args+=(--node-id "$i" --initial-cluster "$(IFS=,; echo "${cluster[*]}")" --cluster-enabled "${CLUSTER_ENABLED:-no}")
  fi
  "$BIN" "${args[@]}" >"$WORK/node$i.log" 2>&1 &
  PIDS+=($!)
done

leader=""
for _ in $(seq 1 150); do
  for i in $(seq 1 "$NODES"); do
    if redis-cli -p $((BASE + i - 1)) INFO flotilla_raft 2>/dev/null | grep -q 'role=leader'; then leader=$i; fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "no leader elected" >&2; exit 1; }
port=$((BASE + leader - 1))
# VIA=follower: the clients talk to a follower, which forwards every write to the leader.
if [ "${VIA:-leader}" = follower ]; then port=$((BASE + leader % NODES)); fi
bench() { redis-benchmark -p "$port" -t "$TEST" -n "$1" -P "$P" -c ${CLIENTS:-50} -r 1000000 -d 32 -q 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -1; }
# FILL=FILE: pipe a RESP file (e.g. SETs of key:%012d, the keys redis-benchmark -r draws) into
# the leader first, so the run overwrites an existing keyspace as a long-lived server does.
if [ -n "${FILL:-}" ]; then redis-cli -p "$port" --pipe < "$FILL" >/dev/null; fi
bench 20000 >/dev/null   # warm-up: connections, first allocations

term_before=$(redis-cli -p "$port" INFO flotilla_raft | grep -o 'term=[0-9]*' | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -a before
for i in $(seq 0 $((NODES - 1))); do before[i]=$(ticks "${PIDS[i]}"); done
idle() { awk '/^cpu /{print $5 + $6}' /proc/stat; }
idle_before=$(idle); start_ns=$(date +%s%N)
result=$(bench "$N")
idle_pct=$(awk -v i=$(( $(idle) - idle_before )) -v ns=$(( $(date +%s%N) - start_ns )) -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" 'BEGIN{printf "%.0f", 100 * i / hz / (ns / 1e9) / cpus}')
hz=$(getconf CLK_TCK)
# The term before and after the run: if they differ, an election happened during it.
term=$(redis-cli -p "$port" INFO flotilla_raft | grep -o 'term=[0-9]*' | head -1)
line="leader=node$leader via=${VIA:-leader} $term_before..${term#term=} $result"
total=0
for i in $(seq 0 $((NODES - 1))); do
  us=$(( ($(ticks "${PIDS[i]}") - before[i]) * 1000000 / hz ))
  total=$((total + us))
  line+=" node$((i + 1))_us_per_req=$(awk -v u="$us" -v n="$N" 'BEGIN{printf "%.2f", u/n}')"
done
line+=" total_us_per_req=$(awk -v u="$total" -v n="$N" 'BEGIN{printf "%.2f", u/n}') idle=${idle_pct}% load=$(cut -d' ' -f1 /proc/loadavg)"
echo "$line"
