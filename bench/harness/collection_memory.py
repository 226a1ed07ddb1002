#!/usr/bin/env python3
"""Memory of small and large collections: Flotilla builds against redis-server.

Each server is started fresh, one at a time, and filled through one pipelined connection:

- hash10:  100,000 hashes of 10 fields (`f00`..`f09` -> `value00000`..)
- hash100: 10,000 hashes of 100 fields
- set10:   100,000 sets of 10 members (`member0000`..)
- zset10:  100,000 sorted sets of 10 members with scores 0..9
- list10:  100,000 lists of 10 elements (`item000000`..)
- biglist: one list of 1,000,000 elements of 32 bytes, pushed at the head

For each it prints `MEMORY USAGE` of one key (the value's own footprint, as the server
estimates it) and the growth of `used_memory` per key over the fill (which also counts what
the server holds besides the keys: for Flotilla, its Raft log's buffers). Flotilla runs with
`--fsync no`; the figures do not depend on it.

    python3 bench/harness/collection_memory.py target/release/flotilla redis
    python3 bench/harness/collection_memory.py /tmp/old-flotilla target/release/flotilla redis
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PORT = 23600

WORKLOADS = [
    ("hash10", 100_000, lambda k: [b"HSET", b"h:%d" % k] + [x for j in range(10) for x in (b"f%02d" % j, b"value%05d" % j)]),
    ("hash100", 10_000, lambda k: [b"HSET", b"H:%d" % k] + [x for j in range(100) for x in (b"field%03d" % j, b"value%05d" % j)]),
    ("set10", 100_000, lambda k: [b"SADD", b"s:%d" % k] + [b"member%04d" % j for j in range(10)]),
    ("zset10", 100_000, lambda k: [b"ZADD", b"z:%d" % k] + [x for j in range(10) for x in (b"%d" % j, b"member%04d" % j)]),
    ("list10", 100_000, lambda k: [b"RPUSH", b"l:%d" % k] + [b"item%06d" % j for j in range(10)]),
    ("biglist", 1, None),
]


def resp(command):
    out = bytearray(b"*%d\r\n" % len(command))
    for arg in command:
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return bytes(out)


def call(port, *command):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(resp([c if isinstance(c, bytes) else c.encode() for c in command]))
        data = b""
        while not data.endswith(b"\r\n"):
            data += s.recv(65536)
    return data.decode(errors="replace")


def used_memory(port):
    for line in call(port, "INFO", "memory").split("\r\n"):
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO memory")


def memory_usage(port, key):
    reply = call(port, "MEMORY", "USAGE", key, "SAMPLES", "0")
    return int(reply.strip().lstrip(":"))


def fill(port, commands):
    """Sends `commands` pipelined and waits for as many replies."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        expected = 0
        received = b""
        batch = bytearray()
        for command in commands:
            batch += resp(command)
            expected += 1
            if len(batch) > 1 << 20:
                s.sendall(batch)
                batch = bytearray()
        s.sendall(batch)
        while received.count(b"\r\n") < expected:
            received += s.recv(1 << 20)
        if b"-ERR" in received or b"-WRONG" in received:
            raise RuntimeError("the server answered an error during the fill")


def biglist_commands():
    element = b"x" * 32
    for _ in range(1_000_000 // 100):
        yield [b"LPUSH", b"biglist"] + [element] * 100


def measure(name, argv):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                call(PORT, "PING")
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for workload, keys, make in WORKLOADS:
            before = used_memory(PORT)
            if make is None:
                fill(PORT, biglist_commands())
                sample = "biglist"
            else:
                fill(PORT, (make(k) for k in range(keys)))
                sample = {"hash10": "h:1", "hash100": "H:1", "set10": "s:1", "zset10": "z:1", "list10": "l:1"}[workload]
            time.sleep(0.3)
            growth = (used_memory(PORT) - before) / keys
            results[workload] = (memory_usage(PORT, sample), growth)
            print(f"  {name} {workload}: MEMORY USAGE {results[workload][0]:,} B, used_memory +{growth:,.0f} B per key", flush=True)
        return results
    finally:
        proc.terminate()
        proc.wait()


def main():
    sides = sys.argv[1:] or ["target/release/flotilla", "redis"]
    table = {}
    for side in sides:
        work = tempfile.mkdtemp(prefix="collection-memory-")
        try:
            if side == "redis":
                argv = ["redis-server", "--port", str(PORT), "--save", "", "--appendonly", "no", "--dir", work]
            else:
                argv = [side, "--port", str(PORT), "--dir", os.path.join(work, "data"), "--fsync", "no"]
            table[side] = measure(side, argv)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("| workload | " + " | ".join(f"{side}: MEMORY USAGE of a key | used_memory per key" for side in sides) + " |")
    print("|---|" + "---:|---:|" * len(sides))
    for workload, _, _ in WORKLOADS:
        cells = []
        for side in sides:
            usage, growth = table[side][workload]
            cells += [f"{usage:,} B", f"{growth:,.0f} B"]
        print(f"| {workload} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
