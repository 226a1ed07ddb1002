#!/bin/sh
# Stand-in for target/release/flotilla that serves with Debian's redis-server,
# taking the same launch arguments (`--port P --dir DIR`). Used to prove the
# compat runners end to end: `run_tcl.py --server compat-tests/redis-as-flotilla.sh`.
port=6379
dir=.
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        *) shift ;;
    esac
done
exec redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no --daemonize no
