#!/bin/sh
# Stand-in for the flotilla binary while it does not exist yet: takes Flotilla's launch
# arguments (--port P --dir DIR) and runs a second redis-server instead, so a harness run
# compares Redis with Redis. The ratios then show the machine's noise level.
port=6380
dir=.
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --version) redis-server --version; exit 0 ;;
        *) shift ;;
    esac
done
mkdir -p "$dir"
# exec so the harness reads this process's memory, not a shell's.
exec redis-server --save '' --appendonly no --port "$port" --bind 127.0.0.1 --dir "$dir"
