#!/usr/bin/env bash
# The project's test command: the Rust test suite, then the third-party
# compatibility suites against the release binary in --check mode (each
# Flotilla pass count must stay at or above compat-tests/baseline.json).
#
#   COMPAT=0 bash scripts/test.sh            Rust tests only
#   COMPAT_REFERENCE=1 bash scripts/test.sh  also run redis-py against redis-server
#   DOCKER_FAULTS=0 bash scripts/test.sh     without the multi-host fault run (docker/)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "==> [$(date -u +%H:%M:%S)] $*"; }
start=$SECONDS

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace --release"
    cargo nextest run --workspace --release
else
    step "cargo test --workspace --release"
    cargo test --workspace --release
fi
step "Rust tests done ($((SECONDS - start))s)"

if [ "${COMPAT:-1}" = "0" ]; then
    exit 0
fi

step "cargo build --release (the binary the compat suites run)"
cargo build --release

status=0
t=$SECONDS
# The TCL reference run against redis-server is cheap (~1.5 min), so it stays on.
step "Redis TCL suite (compat-tests/run_tcl.py --check)"
python3 compat-tests/run_tcl.py --check || status=1
step "Redis TCL suite done ($((SECONDS - t))s)"

t=$SECONDS
# Faults on nodes that are separate hosts (containers with their own addresses): kill, pause,
# two-way and one-way partitions, a wiped follower, a rolling restart, then two of five nodes killed,
# then the leader's faults again with clients that follow -MOVED; every acknowledged write is
# checked on every node (~3 min). DOCKER_FAULTS=0 skips it.
if [ "${DOCKER_FAULTS:-1}" != "0" ]; then
    if ! docker info >/dev/null 2>&1; then
        step "FAILED: docker is not available for the multi-host fault run (DOCKER_FAULTS=0 skips it)"
        exit 1
    fi
    step "multi-host faults (docker/faults.py)"
    BINARY=target/release/flotilla bash docker/build-image.sh
    python3 docker/faults.py --nodes 3 || status=1
    python3 docker/faults.py --nodes 5 --faults kill-two,one-way-cut || status=1
    python3 docker/faults.py --cluster-protocol --faults kill-leader,pause-leader,partition-leader,one-way-cut || status=1
    # The check of the check: reads of a cut follower's own copy (READONLY) must be found stale.
    if python3 docker/faults.py --readonly-readers --faults follower-cut > /tmp/flotilla-faults-readonly.log 2>&1; then
        step "FAILED: the fault run's stale-read check passed READONLY reads of a cut follower"
        status=1
    elif ! grep -q "stale reads of the counter" /tmp/flotilla-faults-readonly.log; then
        cat /tmp/flotilla-faults-readonly.log
        step "FAILED: the READONLY fault run failed for another reason than stale reads"
        status=1
    else
        step "the stale-read check found the READONLY reads of a cut follower stale, as it must"
    fi
    step "multi-host faults done ($((SECONDS - t))s)"
fi

t=$SECONDS
# Also redis-py's cluster tests against a 3-node cluster (RESP2, ~3.5 min).
py_args=(--check --cluster-protocols 2)
if [ "${COMPAT_REFERENCE:-0}" != "1" ]; then
    py_args+=(--no-redis)
fi
step "redis-py suite (compat-tests/run_redis_py.py ${py_args[*]})"
python3 compat-tests/run_redis_py.py "${py_args[@]}" || status=1
step "redis-py suite done ($((SECONDS - t))s)"

if [ "$status" -ne 0 ]; then
    step "FAILED: a compat pass count fell below compat-tests/baseline.json, or a fault run failed"
    exit 1
fi
step "all tests done ($((SECONDS - start))s)"
