#!/bin/bash
# Restart timing of two Flotilla binaries on their own filled data dirs, alternating trials:
# each trial stops the node with SHUTDOWN, launches it, and polls GET KEY until it returns
# WANT (wall time); CPU is utime+stime of the process at that moment (from /proc).
#
# usage: restart_ab.sh ROUNDS BIN_A DIR_A PORT_A BIN_B DIR_B PORT_B
# The dirs must already hold the data (fill each node with `redis-cli -p PORT --pipe <
# fill.resp`, e.g. from side_by_side.write_fill_file(path, 1000000, 32)).
set -u
ROUNDS=$1
KEY=${KEY:-key:000000999999}
WANT=${WANT:-v0000000000000000000000000999999}
one() { # BIN DIR PORT
  redis-cli -p "$3" SHUTDOWN >/dev/null 2>&1
  while redis-cli -p "$3" PING >/dev/null 2>&1; do sleep 0.05; done
  sleep 0.5
  local t0 t1 pid cpu
  t0=$(date +%s.%N)
  "$1" --port "$3" --dir "$2" --fsync everysec --log info >> "$2.log" 2>&1 &
  pid=$!
  while [ "$(redis-cli -p "$3" GET "$KEY" 2>/dev/null)" != "$WANT" ]; do sleep 0.01; done
  t1=$(date +%s.%N)
  cpu=$(awk '{print ($14+$15)/100}' "/proc/$pid/stat")
  echo "$2 wall $(echo "$t1 - $t0" | bc) cpu $cpu load $(cut -d' ' -f1 /proc/loadavg)"
  redis-cli -p "$3" SHUTDOWN >/dev/null 2>&1
}
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then one "$2" "$3" "$4"; one "$5" "$6" "$7"
  else one "$5" "$6" "$7"; one "$2" "$3" "$4"; fi
done
