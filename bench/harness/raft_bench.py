#!/usr/bin/env python3
"""Raft benchmarks: a 3-node Flotilla cluster against Redis and etcd, failover and restart.

One run measures, side by side on this machine:

1. a 3-node cluster (`--fsync always`) under redis-benchmark SET/GET (-c 50 -P 16) through
   the leader and through a follower, against one `redis-server --save '' --appendonly no`;
2. the same cluster against a 3-member etcd cluster (Debian's etcd-server), puts/s at the
   same client concurrency;
3. failover: kill -9 of the leader, time until a SET through a survivor succeeds;
4. restart of a single node holding 1M keys, against redis-server reloading its AOF;
5. a single node `--fsync always` against `redis-server --appendonly yes --appendfsync always`.

It writes its markdown section into docs/BENCHMARKS.md between `<!-- raft:begin -->` and
`<!-- raft:end -->`. Standard library only; helpers come from side_by_side.py.
See bench/harness/README.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import side_by_side as sbs  # noqa: E402
from side_by_side import Server, free_port, loadavg, log, parse_csv, shown  # noqa: E402

ROOT = sbs.ROOT


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if (a and b) else None


def f_ratio(x):
    return "n/a" if x is None else f"{x:.2f}"


def f_secs(x):
    return "n/a" if x is None else f"{x:.2f} s"


# --------------------------------------------------------------------------------------------
# A tiny RESP client (failover polling needs per-attempt timeouts redis-cli cannot give)
# --------------------------------------------------------------------------------------------

def resp_cmd(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command on a fresh connection; return the first reply line (raises on failure)."""
    payload = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        line = buf.split(b"\r\n", 1)[0]
        if line.startswith(b"$") and line != b"$-1":
            n = int(line[1:])
            rest = buf.split(b"\r\n", 1)[1]
            while len(rest) < n + 2:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("closed")
                rest += chunk
            return rest[:n]
        return line


# --------------------------------------------------------------------------------------------
# Flotilla cluster
# --------------------------------------------------------------------------------------------

class Cluster:
    def __init__(self, binary: Path, workdir: Path, tag: str, size: int = 3, extra=(),
                 fsync: str = "always"):
        self.binary = binary
        self.fsync = fsync
        ports = []
        while len(ports) < size:
            p = free_port()
            # The peer port is the client port + 10000: both must be free.
            if p + 10000 < 65536 and p not in ports and _port_free(p + 10000):
                ports.append(p)
        self.ports = ports
        self.initial = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
        self.nodes: dict[int, Server] = {}
        for i, p in enumerate(ports):
            nid = i + 1
            d = workdir / f"{tag}-node{nid}"
            # Standalone presentation: the follower rows and the failover probes write through
            # followers, which forward to the leader (under the cluster protocol they would get
            # -MOVED instead); the leader's own work is the same either way.
            argv = [str(binary), "--port", str(p), "--dir", str(d), "--fsync", fsync,
                    "--node-id", str(nid), "--initial-cluster", self.initial,
                    "--cluster-enabled", "no", *extra]
            self.nodes[nid] = Server("flotilla", f"node{nid}", argv, p, workdir, d)

    def start(self, timeout: float) -> None:
        for s in self.nodes.values():
            _launch(s)
        for s in self.nodes.values():
            _wait_ping(s, timeout)
        self.wait_leader(timeout)

    def raft_info(self, nid: int) -> dict[str, str]:
        s = self.nodes[nid]
        try:
            rc, out = s.cli("INFO", "flotilla_raft", timeout=3)
        except subprocess.TimeoutExpired:
            return {}
        for line in out.splitlines():
            if line.startswith("group1:"):
                return dict(kv.split("=", 1) for kv in line[len("group1:"):].split(",") if "=" in kv)
        return {}

    def leader(self, among=None) -> int | None:
        for nid in (among or self.nodes):
            if not self.nodes[nid].alive():
                continue
            info = self.raft_info(nid)
            if info.get("role") == "leader":
                return nid
        return None

    def wait_leader(self, timeout: float, among=None) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nid = self.leader(among)
            if nid is not None:
                # Every live node must know it too, so forwarding works from anywhere.
                live = [n for n in self.nodes if self.nodes[n].alive()]
                if all(self.raft_info(n).get("leader") == str(nid) for n in live):
                    return nid
            time.sleep(0.05)
        raise RuntimeError("no leader elected within %.0fs" % timeout)

    def stop(self) -> None:
        for s in self.nodes.values():
            s.stop()

    def template(self) -> str:
        s = self.nodes[1]
        argv = [str(self.binary), "--port", "P1", "--dir", "DIR1", "--fsync", self.fsync,
                "--node-id", "1", "--initial-cluster", "1=127.0.0.1:P1,2=127.0.0.1:P2,3=127.0.0.1:P3",
                "--cluster-enabled", "no"]
        del s
        return shown(argv) + "   (and likewise nodes 2, 3)"


def _port_free(p: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False


def _launch(s: Server) -> None:
    s.workdir.mkdir(parents=True, exist_ok=True)
    if s.datadir:
        s.datadir.mkdir(parents=True, exist_ok=True)
    logf = open(s.logpath, "ab")
    s.proc = subprocess.Popen(s.argv, stdout=logf, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=s.workdir, start_new_session=True)
    logf.close()
    s.pid = s.proc.pid


def _wait_ping(s: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if s.proc.poll() is not None:
            raise RuntimeError(f"{s.label} exited with {s.proc.returncode}\n" + s.log_tail())
        if s.ping():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{s.label} did not answer PING within {timeout}s\n" + s.log_tail())


def kill9(s: Server) -> None:
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# redis-benchmark runs
# --------------------------------------------------------------------------------------------

def bench(port: int, test: str, pipeline: int, n: int, clients: int, timeout: float) -> dict | None:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(n),
            "-P", str(pipeline), "-r", "1000000", "-d", "32", "-t", test.lower(), "--csv"]
    t = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    rec = parse_csv(r.stdout)
    if rec:
        rec["seconds"] = round(time.monotonic() - t, 2)
        rec["load"] = loadavg()
    else:
        log(f"!   redis-benchmark exit {r.returncode}: {(r.stderr or r.stdout).strip()[-200:]}")
    return rec


BENCH_TEMPLATE = "redis-benchmark -h 127.0.0.1 -p PORT -c 50 -n N -P {p} -r 1000000 -d 32 -t {t} --csv"


def alternate(rows: list[tuple[str, str, int]], targets: dict[str, int], rounds: int, n_for,
              clients: int, timeout: float, title: str) -> dict:
    """rows: (row name, test, -P); targets: side name -> port. Sides alternate, order rotates by round."""
    runs: dict[str, dict[str, list]] = {r[0]: {t: [] for t in targets} for r in rows}
    names = list(targets)
    total = rounds * len(rows) * len(names)
    k = 0
    for rnd in range(1, rounds + 1):
        shift = (rnd - 1) % len(names)
        order = names[shift:] + names[:shift]
        for (row, test, p) in rows:
            for side in order:
                k += 1
                n = n_for(test, p)
                rec = bench(targets[side], test, p, n, clients, timeout)
                pre = f"[{title} {k:3d}/{total}] round {rnd} {row:<12} {side:<18}"
                if rec is None:
                    log(f"{pre} no result")
                    continue
                rec["round"] = rnd
                runs[row][side].append(rec)
                log(f"{pre} {rec['rps']:>10,.0f} rps  p50 {rec['p50_ms']:.3f} ms  ({n:,} req, "
                    f"{rec['seconds']}s, load {rec['load'].split()[0]})")
    return runs


def summarize(runs: dict, base: str) -> dict:
    out = {}
    for row, sides in runs.items():
        o = {}
        for side, rs in sides.items():
            rps = [r["rps"] for r in rs]
            o[side] = {"median": med(rps), "all": rps, "p50": med([r["p50_ms"] for r in rs])}
        for side, rs in sides.items():
            if side == base:
                continue
            by_round = {r["round"]: r["rps"] for r in sides[base]}
            paired = [r["rps"] / by_round[r["round"]] for r in rs if by_round.get(r["round"])]
            o[side]["ratio"] = ratio(o[side]["median"], o[base]["median"])
            o[side]["paired"] = med(paired)
        out[row] = o
    return out


# --------------------------------------------------------------------------------------------
# Part 1: cluster vs redis (no persistence)
# --------------------------------------------------------------------------------------------

def part_cluster_vs_redis(args, wd: Path, res: dict) -> None:
    log(f"# part 1: 3-node cluster (--fsync {args.cluster_fsync}) vs redis-server --save '' --appendonly no")
    cl = Cluster(args.flotilla, wd, "p1", fsync=args.cluster_fsync)
    rport = free_port()
    redis = Server("redis", "redis", ["redis-server", "--save", "", "--appendonly", "no", "--port",
                                      str(rport), "--bind", "127.0.0.1", "--dir", str(wd / "p1-redis")],
                   rport, wd, wd / "p1-redis")
    try:
        cl.start(args.startup_timeout)
        redis.start(args.startup_timeout)
        leader = cl.wait_leader(args.startup_timeout)
        follower = min(n for n in cl.nodes if n != leader)
        log(f"#   leader node{leader} (port {cl.nodes[leader].port}), follower node{follower}")
        res["p1_commands"] = {"flotilla": cl.template(), "redis": sbs.shown_template(redis)}
        targets = {"redis": rport, f"flotilla leader": cl.nodes[leader].port,
                   f"flotilla follower": cl.nodes[follower].port}
        if "1" in args.parts:
            rows = [("SET -P 16", "SET", 16), ("GET -P 16", "GET", 16)]
            runs = alternate(rows, targets, args.rounds, lambda t, p: args.requests_p16, 50,
                             args.run_timeout, "p1")
            # Under heavy machine load a missed heartbeat can move the leadership mid-run; then
            # the "leader" column measured a follower from that point on.
            after = cl.leader()
            terms = {n: cl.raft_info(n).get("term") for n in cl.nodes}
            log(f"#   leader after part 1: node{after}; terms {terms}")
            res["p1"] = {"runs": runs, "summary": summarize(runs, "redis"),
                         "leader": leader, "follower": follower, "n": args.requests_p16,
                         "leader_after": after, "terms_after": terms}
            leader = after or leader
        # Same cluster, one row more for the etcd comparison: no pipelining, 50 clients.
        if not args.skip_etcd:
            part_etcd(args, wd, res, cl, leader)
    finally:
        cl.stop()
        redis.stop()


# --------------------------------------------------------------------------------------------
# Part 2: etcd
# --------------------------------------------------------------------------------------------

def ensure_etcd(allow_install: bool) -> str | None:
    if shutil.which("etcd") and shutil.which("etcdctl"):
        return None
    if not allow_install:
        return "etcd/etcdctl not installed (--no-install)"
    log("# installing etcd-server etcd-client with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "etcd-server", "etcd-client"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, capture_output=True)
        r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "etcd-server", "etcd-client"],
                           capture_output=True, text=True, env=env)
    if r.returncode != 0 or not shutil.which("etcd"):
        return "apt-get install etcd-server etcd-client failed: " + (r.stderr.strip()[-200:] or "?")
    return None


class Etcd:
    def __init__(self, wd: Path, size: int = 3):
        self.members = []
        while len(self.members) < size:
            c, p = free_port(), free_port()
            if c != p and all(c not in m and p not in m for m in self.members):
                self.members.append((c, p))
        self.initial = ",".join(f"m{i + 1}=http://127.0.0.1:{p}" for i, (c, p) in enumerate(self.members))
        self.procs: list[subprocess.Popen] = []
        self.wd = wd
        self.argvs = []
        for i, (c, p) in enumerate(self.members):
            self.argvs.append([
                "etcd", "--name", f"m{i + 1}", "--data-dir", str(wd / f"etcd-m{i + 1}"),
                "--listen-client-urls", f"http://127.0.0.1:{c}",
                "--advertise-client-urls", f"http://127.0.0.1:{c}",
                "--listen-peer-urls", f"http://127.0.0.1:{p}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
                "--initial-cluster", self.initial, "--initial-cluster-token", "flotilla-bench",
                "--initial-cluster-state", "new", "--log-level", "warn"])

    def endpoints(self) -> str:
        return ",".join(f"http://127.0.0.1:{c}" for c, _ in self.members)

    def start(self, timeout: float) -> None:
        for i, argv in enumerate(self.argvs):
            logf = open(self.wd / f"etcd-m{i + 1}.log", "ab")
            self.procs.append(subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True))
            logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.leader_port() is not None:
                return
            time.sleep(0.2)
        raise RuntimeError("etcd cluster has no leader")

    def status(self) -> list[dict]:
        try:
            r = subprocess.run(["etcdctl", "--endpoints", self.endpoints(), "endpoint", "status",
                                "-w", "json"], capture_output=True, text=True, timeout=10,
                               env=dict(os.environ, ETCDCTL_API="3"))
            return json.loads(r.stdout) if r.returncode == 0 else []
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            return []

    def leader_port(self) -> int | None:
        for st in self.status():
            h = st.get("Status", {}).get("header", {})
            if h.get("member_id") and h.get("member_id") == st["Status"].get("leader"):
                return int(st["Endpoint"].rsplit(":", 1)[1])
        return None

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _etcd_worker(port: int, threads: int, seconds: float, start_at: float, q) -> None:
    """One process of the put client: `threads` keep-alive HTTP connections, one put in flight each."""
    counts = [0] * threads
    errors = [0] * threads
    lat: list[float] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        n = 0
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        val = base64.b64encode(b"v" * 32).decode()
        while time.time() < end:
            key = base64.b64encode(b"key:%d:%d:%d" % (os.getpid(), i, n % 100000)).decode()
            body = json.dumps({"key": key, "value": val})
            t = time.time()
            try:
                conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    counts[i] += 1
                    mine.append(time.time() - t)
                else:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            n += 1
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    q.put((sum(counts), sum(errors), lat[len(lat) // 2] if lat else None))


def etcd_put_rate(port: int, clients: int, procs: int, seconds: float) -> dict:
    q = multiprocessing.Queue()
    start_at = time.time() + 1.0
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    ps = [multiprocessing.Process(target=_etcd_worker, args=(port, n, seconds, start_at, q))
          for n in per if n]
    for p in ps:
        p.start()
    got = [q.get(timeout=seconds + 60) for _ in ps]
    for p in ps:
        p.join()
    ok = sum(g[0] for g in got)
    return {"rps": ok / seconds, "errors": sum(g[1] for g in got),
            "p50_ms": 1000 * med([g[2] for g in got if g[2] is not None] or [None]) if any(g[2] for g in got) else None}


def part_etcd(args, wd: Path, res: dict, cl: Cluster, leader: int) -> None:
    log("# part 2: same cluster vs a 3-member etcd cluster, 50 clients")
    err = ensure_etcd(not args.no_install)
    if err:
        log(f"! etcd: {err}")
        res["p2"] = {"error": err}
        return
    version = sbs.first_line(["etcd", "--version"])
    et = Etcd(wd)
    try:
        et.start(args.startup_timeout)
        eport = et.leader_port()
        log(f"#   {version}; etcd leader client port {eport}")
        # Reference for the put client's own ceiling: it can only show etcd as fast as it can go.
        fl_rows = []
        et_rows = []
        for rnd in range(1, args.rounds + 1):
            sides = ["etcd", "flotilla"] if rnd % 2 else ["flotilla", "etcd"]
            for side in sides:
                if side == "etcd":
                    r = etcd_put_rate(eport, 50, args.etcd_procs, args.etcd_seconds)
                    r["round"] = rnd
                    et_rows.append(r)
                    log(f"[p2] round {rnd} etcd put (leader)      {r['rps']:>10,.0f} puts/s  "
                        f"errors {r['errors']}  p50 {r['p50_ms'] or 0:.2f} ms")
                else:
                    leader = cl.leader() or leader
                    for p in (1, 16):
                        r = bench(cl.nodes[leader].port, "SET", p,
                                  args.requests_p1 if p == 1 else args.requests_p16, 50,
                                  args.run_timeout)
                        if r:
                            r["round"] = rnd
                            r["pipeline"] = p
                            r["node"] = leader
                            fl_rows.append(r)
                            log(f"[p2] round {rnd} flotilla SET -P {p:<2} (leader) {r['rps']:>10,.0f} rps")
        res["p2"] = {
            "version": version,
            "etcd_cmd": shown(et.argvs[0]).replace(str(wd), "WORK") + "   (and likewise m2, m3)",
            "client": f"stdlib Python HTTP/JSON client (POST /v3/kv/put, gRPC gateway): "
                      f"{args.etcd_procs} processes, 50 keep-alive connections in all, one put in "
                      f"flight each, {args.etcd_seconds:.0f} s per run, against the leader",
            "etcd": et_rows, "flotilla": fl_rows,
            "etcd_median": med([r["rps"] for r in et_rows]),
            "flotilla_p1_median": med([r["rps"] for r in fl_rows if r["pipeline"] == 1]),
            "flotilla_p16_median": med([r["rps"] for r in fl_rows if r["pipeline"] == 16]),
        }
    except Exception as e:  # noqa: BLE001 - keep the other parts
        log(f"! etcd part failed: {e}")
        res["p2"] = {"error": str(e).splitlines()[0]}
    finally:
        et.stop()


# --------------------------------------------------------------------------------------------
# Part 3: failover
# --------------------------------------------------------------------------------------------

def probe_write(port: int, i: int, limit: float) -> float | None:
    """One failover probe: SET on a new connection; when it was answered +OK, or None."""
    try:
        r = resp_cmd(port, "SET", "failover:probe", str(i), timeout=max(0.5, limit))
    except (OSError, ValueError):
        return None
    return time.monotonic() if r == b"+OK" else None


def longest_write_gap(port: int, t0: float, stopped, limit: float, interval: float = 0.01) -> tuple[float | None, int]:
    """Start a SET attempt every `interval` s (each on its own connection) from now on; call
    `stopped()` at t0, then go on until 1 s after the first +OK that completes once the stopped
    node has exited. Returns the longest time between two consecutive +OK completions from the
    last one before t0 on (what clients of the stopped leader's shard went without), and how
    many attempts were made."""
    completions = []
    lock = threading.Lock()
    attempts = 0

    def attempt(i: int) -> None:
        t = probe_write(port, i, limit)
        if t is not None:
            with lock:
                completions.append(t)

    start = time.monotonic()
    signalled = exited_at = None
    while time.monotonic() - start < limit:
        now = time.monotonic()
        if signalled is None and now >= t0:
            signalled = now
            exited = stopped()
        if signalled is not None and exited_at is None and exited():
            exited_at = time.monotonic()
        if exited_at is not None:
            with lock:
                after = [c for c in completions if c > exited_at]
            if after and time.monotonic() > after[0] + 1.0:
                break
        threading.Thread(target=attempt, args=(attempts,), daemon=True).start()
        attempts += 1
        time.sleep(interval)
    with lock:
        done = sorted(completions)
    before = [c for c in done if c < signalled]
    window = ([before[-1]] if before else []) + [c for c in done if c >= signalled]
    if len(window) < 2:
        return None, attempts
    return max(b - a for a, b in zip(window, window[1:])), attempts


def first_write_after(port: int, t0: float, limit: float, interval: float = 0.01) -> tuple[float | None, int]:
    """Start a SET attempt every `interval` s (each on its own connection); seconds from t0 to the
    first +OK reply, and how many attempts were made."""
    done = threading.Event()
    first = []
    lock = threading.Lock()
    attempts = 0

    def attempt(i: int) -> None:
        t = probe_write(port, i, limit)
        if t is not None:
            with lock:
                if not first:
                    first.append(t - t0)
                    done.set()

    threads = []
    while not done.is_set() and time.monotonic() - t0 < limit:
        th = threading.Thread(target=attempt, args=(attempts,), daemon=True)
        th.start()
        threads.append(th)
        attempts += 1
        done.wait(interval)
    done.wait(0.5)
    return (first[0] if first else None), attempts


def part_failover(args, wd: Path, res: dict) -> None:
    how = args.failover_signal
    log(f"# part 3: failover, {args.failover_trials} trials, leader stopped by SIG{how}")
    cl = Cluster(args.flotilla, wd, "p3")
    samples = []
    detail = []
    try:
        cl.start(args.startup_timeout)
        for trial in range(1, args.failover_trials + 1):
            leader = cl.wait_leader(args.startup_timeout)
            # Some committed traffic first, so the kill lands on a cluster that is in use.
            resp_cmd(cl.nodes[leader].port, "SET", "failover:warm", str(trial))
            survivor = min(n for n in cl.nodes if n != leader)
            if how == "KILL":
                t0 = time.monotonic()
                kill9(cl.nodes[leader])
                secs, attempts = first_write_after(cl.nodes[survivor].port, t0, args.failover_limit)
            else:
                # A write may still succeed through the old leader after the signal, so the
                # measure is the longest stretch without a successful write around the stop.
                proc = cl.nodes[leader].proc

                def stopped():
                    os.kill(proc.pid, getattr(signal, "SIG" + how))
                    return lambda: proc.poll() is not None

                secs, attempts = longest_write_gap(cl.nodes[survivor].port, time.monotonic() + 0.3, stopped,
                                                   args.failover_limit)
                proc.wait(timeout=120)
            new_leader = cl.leader([n for n in cl.nodes if n != leader])
            log(f"[p3] trial {trial}: SIG{how} to leader node{leader}, first SET through node{survivor} "
                f"after {f_secs(secs)} ({attempts} attempts); new leader node{new_leader}")
            samples.append(secs)
            detail.append({"trial": trial, "killed": leader, "signal": how, "via": survivor, "seconds": secs,
                           "attempts": attempts, "new_leader": new_leader})
            # Bring the killed node back on its data dir and let it catch up before the next kill.
            s = cl.nodes[leader]
            _launch(s)
            _wait_ping(s, args.startup_timeout)
            cl.wait_leader(args.startup_timeout)
            time.sleep(args.failover_settle)
        res["p3"] = {"samples": samples, "median": med(samples), "detail": detail,
                     "command": cl.template(), "interval_ms": 10}
    except Exception as e:  # noqa: BLE001
        log(f"! failover part failed: {e}")
        res["p3"] = {"samples": samples, "median": med(samples), "detail": detail,
                     "error": str(e).splitlines()[0], "command": cl.template(), "interval_ms": 10}
    finally:
        cl.stop()


# --------------------------------------------------------------------------------------------
# Part 4: restart with 1M keys
# --------------------------------------------------------------------------------------------

def restart_flotilla(s: Server, key: str, want: bytes, timeout: float) -> dict:
    s.cli("SHUTDOWN", timeout=60)
    s.proc.wait(timeout=60)
    t = time.monotonic()
    _launch(s)
    ping = None
    deadline = t + timeout
    while time.monotonic() < deadline:
        if s.proc.poll() is not None:
            raise RuntimeError("flotilla exited on restart\n" + s.log_tail())
        try:
            r = resp_cmd(s.port, "GET", key, timeout=5)
            if ping is None:
                ping = time.monotonic() - t
            if r == want:
                return {"ping": ping, "ready": time.monotonic() - t, "dbsize": s.dbsize()}
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return {"ping": ping, "ready": None, "dbsize": s.dbsize()}


def restart_redis(s: Server, keys: int, timeout: float) -> dict:
    s.cli("SHUTDOWN", timeout=120)
    s.proc.wait(timeout=120)
    t = time.monotonic()
    _launch(s)
    ping = None
    deadline = t + timeout
    while time.monotonic() < deadline:
        try:
            r = resp_cmd(s.port, "PING", timeout=5)
            if r == b"+PONG":
                if ping is None:
                    ping = time.monotonic() - t
                if int(resp_cmd(s.port, "DBSIZE", timeout=5)[1:]) == keys:
                    return {"ping": ping, "ready": time.monotonic() - t, "dbsize": keys}
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return {"ping": ping, "ready": None, "dbsize": s.dbsize()}


def split_fill(fill: Path, parts: int) -> list[Path]:
    """Cut the fill file into `parts` files of whole commands (each SET is 7 lines)."""
    if parts <= 1:
        return [fill]
    lines = fill.read_bytes().split(b"\r\n")[:-1]
    cmds = [b"\r\n".join(lines[i:i + 7]) + b"\r\n" for i in range(0, len(lines), 7)]
    out = []
    for k in range(parts):
        p = fill.with_suffix(f".{k}.resp")
        p.write_bytes(b"".join(cmds[k::parts]))
        out.append(p)
    return out


def parallel_fill(s: Server, fills: list[Path], timeout: float) -> str:
    """One `redis-cli --pipe` per fill file, all at once."""
    procs = []
    for f in fills:
        fin = open(f, "rb")
        procs.append((subprocess.Popen(sbs.fill_argv(s), stdin=fin, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True), fin))
    last = []
    for p, fin in procs:
        out, _ = p.communicate(timeout=timeout)
        fin.close()
        last.append(out.strip().splitlines()[-1] if out.strip() else f"exit {p.returncode}")
    return "; ".join(sorted(set(last)))[:200]


def part_restart(args, wd: Path, res: dict) -> None:
    log(f"# part 4: restart with {args.keys:,} keys")
    fill = wd / "fill.resp"
    sbs.write_fill_file(fill, args.keys, 32)
    fills = split_fill(fill, args.fill_connections)
    key = "key:%012d" % (args.keys - 1)
    want = (b"v%0*d" % (31, args.keys - 1))[:32]
    fport, rport = free_port(), free_port()
    fl = Server("flotilla", "flotilla", [str(args.flotilla), "--port", str(fport), "--dir",
                                          str(wd / "p4-flotilla"), "--fsync", args.restart_fsync],
                fport, wd, wd / "p4-flotilla")
    rd = Server("redis", "redis", ["redis-server", "--save", "", "--appendonly", "yes", "--port",
                                   str(rport), "--bind", "127.0.0.1", "--dir", str(wd / "p4-redis")],
                rport, wd, wd / "p4-redis")
    out = {"keys": args.keys, "key": key,
           "commands": {"flotilla": sbs.shown_template(fl), "redis": sbs.shown_template(rd)},
           "fill": "redis-cli -h 127.0.0.1 -p PORT --pipe < fill.resp"}
    for s in (fl, rd):
        side = {}
        try:
            s.start(args.startup_timeout)
            t = time.monotonic()
            summary = parallel_fill(s, fills, args.fill_timeout)
            side["fill_seconds"] = round(time.monotonic() - t, 2)
            side["dbsize"] = s.dbsize()
            log(f"[p4] {s.label}: filled in {side['fill_seconds']}s, DBSIZE {side['dbsize']} "
                f"({summary})")
            trials = []
            for i in range(args.restart_trials):
                if s.side == "flotilla":
                    tr = restart_flotilla(s, key, want, args.fill_timeout)
                else:
                    tr = restart_redis(s, args.keys, args.fill_timeout)
                trials.append(tr)
                log(f"[p4] {s.label} restart {i + 1}: first reply after {f_secs(tr['ping'])}, "
                    f"ready after {f_secs(tr['ready'])}, DBSIZE {tr['dbsize']}")
            side["trials"] = trials
            side["ready_median"] = med([t["ready"] for t in trials])
            side["ping_median"] = med([t["ping"] for t in trials])
            side["data_dir_bytes"] = sbs.dir_size(s.datadir)
        except Exception as e:  # noqa: BLE001
            log(f"! restart part on {s.label} failed: {e}")
            side["error"] = str(e).splitlines()[0]
        finally:
            s.stop()
        out[s.side] = side
    for f in [fill, *fills]:
        f.unlink(missing_ok=True)
    out["fill_connections"] = args.fill_connections
    out["fsync"] = args.restart_fsync
    res["p4"] = out


# --------------------------------------------------------------------------------------------
# Part 5: single node fsync always vs redis appendfsync always
# --------------------------------------------------------------------------------------------

def part_fsync(args, wd: Path, res: dict) -> None:
    log("# part 5: single node --fsync always vs redis-server --appendonly yes --appendfsync always")
    fport, rport = free_port(), free_port()
    fl = Server("flotilla", "flotilla", [str(args.flotilla), "--port", str(fport), "--dir",
                                          str(wd / "p5-flotilla"), "--fsync", "always"],
                fport, wd, wd / "p5-flotilla")
    rd = Server("redis", "redis", ["redis-server", "--save", "", "--appendonly", "yes",
                                   "--appendfsync", "always", "--port", str(rport), "--bind",
                                   "127.0.0.1", "--dir", str(wd / "p5-redis")],
                rport, wd, wd / "p5-redis")
    try:
        fl.start(args.startup_timeout)
        rd.start(args.startup_timeout)
        res["p5_commands"] = {"flotilla": sbs.shown_template(fl), "redis": sbs.shown_template(rd)}
        rows = [("SET -P 1", "SET", 1), ("SET -P 16", "SET", 16)]
        runs = alternate(rows, {"redis": rport, "flotilla": fport}, args.rounds,
                         lambda t, p: args.requests_p1 if p == 1 else args.requests_p16, 50,
                         args.run_timeout, "p5")
        res["p5"] = {"runs": runs, "summary": summarize(runs, "redis")}
    finally:
        fl.stop()
        rd.stop()


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def md_report(args, facts, meta, res) -> str:
    L = ["## Raft: 3-node cluster, etcd, failover, restart, fsync (raft_bench.py)", ""]
    L.append(f"Written by `bench/harness/raft_bench.py` on {meta['date']}. All servers ran on this "
             "one machine over loopback; the sides of each comparison alternate run by run (who "
             "goes first rotates by round) and each figure is the median over the rounds.")
    L.append("")
    L.append(f"- Machine: {facts['nproc']} CPUs ({facts['cpu_model']}), {facts['mem_total']} RAM, "
             f"Linux {facts['kernel']}; load average {meta['load_start']} at start, "
             f"{meta['load_end']} at end")
    L.append(f"- Flotilla: `{meta['flotilla_version']}`, {meta['build']}")
    L.append(f"- Redis: {facts['redis_server']}; {facts['redis_benchmark']}")
    L.append(f"- Harness: `{meta['harness_cmd']}`")
    try:
        if float(meta["load_start"].split()[0]) > float(facts["nproc"]):
            L.append("- The load average was above the CPU count: other engineers' builds and "
                     "tests shared the 2 CPUs with all servers and clients, so absolute figures are "
                     "far below a quiet machine's; ratios are the more telling figure, and even "
                     "those drift by ±15% or more (see the noise sections).")
    except (ValueError, IndexError):
        pass
    L.append("")

    # Summary
    L.append("### Summary against the targets")
    L.append("")
    L.append("| # | measure | Flotilla | reference | ratio / value | target | met |")
    L.append("|---|---|---:|---:|---:|---|---|")
    p1 = res.get("p1", {}).get("summary", {})

    def met(ok):
        return "n/a" if ok is None else ("yes" if ok else "**no**")
    for row, tgt in (("SET -P 16", 0.5), ("GET -P 16", 0.8)):
        r = p1.get(row)
        if not r:
            continue
        for who in ("flotilla leader", "flotilla follower"):
            x = r[who]
            L.append(f"| 1 | {row.split()[0]} -P 16, 3 nodes via the {who.split()[1]} vs Redis without persistence | "
                     f"{sbs.fmt_int(x['median'])} rps | {sbs.fmt_int(r['redis']['median'])} rps | "
                     f"{f_ratio(x['ratio'])} (paired {f_ratio(x['paired'])}) | ≥ {tgt}× | "
                     f"{met(None if x['ratio'] is None else x['ratio'] >= tgt)} |")
    p2 = res.get("p2")
    if p2 is not None:
        if p2.get("error"):
            L.append(f"| 2 | puts/s, 3 nodes vs 3-member etcd | | | etcd not measured: {p2['error']} | ≥ 50× | n/a |")
        else:
            e = p2["etcd_median"]
            for p, k in ((1, "flotilla_p1_median"), (16, "flotilla_p16_median")):
                rr = ratio(p2[k], e)
                L.append(f"| 2 | writes/s, 50 clients, 3 nodes (SET -P {p}) vs 3-member etcd (put) | "
                         f"{sbs.fmt_int(p2[k])} | {sbs.fmt_int(e)} | {f_ratio(rr)} | ≥ 50× | "
                         f"{met(None if rr is None else rr >= 50)} |")
    p3 = res.get("p3")
    if p3 is not None:
        m = p3.get("median")
        L.append(f"| 3 | failover: kill -9 leader → first SET through a survivor, median of "
                 f"{len([s for s in p3['samples'] if s is not None])} | {f_secs(m)} | | | < 1.5 s | "
                 f"{met(None if m is None else m < 1.5)} |")
    p4 = res.get("p4")
    if p4 is not None:
        fm = p4.get("flotilla", {}).get("ready_median")
        rm = p4.get("redis", {}).get("ready_median")
        L.append(f"| 4 | restart with {p4['keys']:,} keys → correct GET (Redis: AOF reload → DBSIZE) | "
                 f"{f_secs(fm)} | {f_secs(rm)} | {f_ratio(ratio(fm, rm))} | < 1.5 s | "
                 f"{met(None if fm is None else fm < 1.5)} |")
    p5 = res.get("p5", {}).get("summary", {})
    for row in ("SET -P 1", "SET -P 16"):
        r = p5.get(row)
        if not r:
            continue
        x = r["flotilla"]
        extra = "" if row == "SET -P 1" else " (extra row)"
        L.append(f"| 5 | {row}, single node fsync always vs Redis appendfsync always{extra} | "
                 f"{sbs.fmt_int(x['median'])} rps | {sbs.fmt_int(r['redis']['median'])} rps | "
                 f"{f_ratio(x['ratio'])} (paired {f_ratio(x['paired'])}) | ≥ 1.0× | "
                 f"{met(None if x['ratio'] is None else x['ratio'] >= 1.0)} |")
    L.append("")
    for note in meta.get("notes") or []:
        L.append(f"- {note}")
    if meta.get("notes"):
        L.append("")

    def tp_table(summary, sides, title_note):
        L.append(f"| row | " + " | ".join(f"{s} rps (median)" for s in sides) + " | "
                 + " | ".join(f"{s}/{sides[0]} (paired)" for s in sides[1:]) + " | "
                 + " | ".join(f"{s} p50 ms" for s in sides) + " | all runs (rps) |")
        L.append("|---|" + "---:|" * (len(sides) * 3 - 1) + "---|")
        for row, r in summary.items():
            allr = "; ".join(f"{s}: " + ", ".join(f"{v:,.0f}" for v in r[s]["all"]) for s in sides)
            L.append(f"| {row} | " + " | ".join(sbs.fmt_int(r[s]["median"]) for s in sides) + " | "
                     + " | ".join(f"{f_ratio(r[s]['ratio'])} ({f_ratio(r[s]['paired'])})" for s in sides[1:])
                     + " | " + " | ".join("n/a" if r[s]["p50"] is None else f"{r[s]['p50']:.3f}" for s in sides)
                     + f" | {allr} |")

    if "p1" in res:
        L.append(f"### 1. Three nodes (fsync {args.cluster_fsync}) against one Redis without persistence")
        L.append("")
        L.append(f"- Flotilla: `{res['p1_commands']['flotilla']}`; leader was node{res['p1']['leader']}, "
                 f"the follower row goes through node{res['p1']['follower']} (which forwards to the leader)")
        L.append(f"- Redis: `{res['p1_commands']['redis']}`")
        L.append(f"- Each run: `{BENCH_TEMPLATE.format(p=16, t='{set,get}').replace(' N ', ' ' + format(res['p1']['n'], ',') + ' ')}`; "
                 f"{args.rounds} rounds")
        L.append("")
        tp_table(res["p1"]["summary"], ["redis", "flotilla leader", "flotilla follower"], "")
        L.append("")
    if p2 is not None:
        L.append("### 2. Three nodes against a 3-member etcd cluster")
        L.append("")
        if p2.get("error"):
            L.append(f"etcd was not measured: {p2['error']}")
        else:
            L.append(f"- etcd: {p2['version']} (Debian etcd-server), `{p2['etcd_cmd']}`")
            L.append(f"- etcd load: {p2['client']}")
            L.append(f"- Flotilla load: `{BENCH_TEMPLATE.format(p='{1,16}', t='set')}` against the "
                     "leader of the cluster of part 1")
            L.append("")
            L.append("| round | etcd puts/s | etcd errors | etcd p50 ms | Flotilla SET -P 1 rps | Flotilla SET -P 16 rps |")
            L.append("|---:|---:|---:|---:|---:|---:|")
            for rnd in sorted({r["round"] for r in p2["etcd"]}):
                e = [r for r in p2["etcd"] if r["round"] == rnd][0]
                f1 = [r["rps"] for r in p2["flotilla"] if r["round"] == rnd and r["pipeline"] == 1]
                f16 = [r["rps"] for r in p2["flotilla"] if r["round"] == rnd and r["pipeline"] == 16]
                L.append(f"| {rnd} | {e['rps']:,.0f} | {e['errors']} | "
                         f"{'n/a' if e['p50_ms'] is None else format(e['p50_ms'], '.2f')} | "
                         f"{sbs.fmt_int(f1[0] if f1 else None)} | {sbs.fmt_int(f16[0] if f16 else None)} |")
            L.append(f"| median | {sbs.fmt_int(p2['etcd_median'])} | | | {sbs.fmt_int(p2['flotilla_p1_median'])} "
                     f"| {sbs.fmt_int(p2['flotilla_p16_median'])} |")
        L.append("")
    if p3 is not None:
        L.append("### 3. Failover")
        L.append("")
        L.append(f"3-node cluster (`{p3['command']}`). Each trial: SIGKILL to the leader, then a "
                 f"SET through the lowest-numbered survivor is started every {p3['interval_ms']} ms, "
                 "each on its own connection; the sample is the time from the kill to the first +OK. "
                 "The killed node is then restarted on its data dir and the cluster settles before "
                 "the next trial.")
        L.append("")
        L.append("| trial | killed leader | SET through | first successful SET after | attempts | new leader |")
        L.append("|---:|---|---|---:|---:|---|")
        for d in p3["detail"]:
            L.append(f"| {d['trial']} | node{d['killed']} | node{d['via']} | {f_secs(d['seconds'])} | "
                     f"{d['attempts']} | node{d['new_leader']} |")
        L.append("")
        L.append(f"Median {f_secs(p3.get('median'))}; samples: "
                 + ", ".join(f_secs(s) for s in p3["samples"]) + ".")
        if p3.get("error"):
            L.append(f"\nThe part stopped early: `{p3['error']}`")
        L.append("")
    if p4 is not None:
        L.append(f"### 4. Restart with {p4['keys']:,} keys (32-byte values)")
        L.append("")
        L.append(f"- Flotilla: `{p4['commands']['flotilla']}` (one node)")
        L.append(f"- Redis: `{p4['commands']['redis']}`")
        conns = p4.get("fill_connections", 1)
        L.append(f"- Fill: `{p4['fill']}` (SET key:%012d <32 bytes>)"
                 + (f", the file cut into {conns} parts fed by {conns} concurrent redis-cli --pipe"
                    if conns > 1 else "") + ". Then SHUTDOWN and start again on "
                 f"the same dir, {args.restart_trials} times. Flotilla is ready when GET {p4['key']} "
                 "returns the right value; Redis when PING answers and DBSIZE is "
                 f"{p4['keys']:,} (it loads its AOF before serving). Timed from launch.")
        L.append("")
        L.append("| | Flotilla | Redis (AOF) |")
        L.append("|---|---:|---:|")
        fs, rs = p4.get("flotilla", {}), p4.get("redis", {})
        L.append(f"| fill time | {f_secs(fs.get('fill_seconds'))} | {f_secs(rs.get('fill_seconds'))} |")
        L.append(f"| DBSIZE after fill | {fs.get('dbsize')} | {rs.get('dbsize')} |")
        L.append(f"| data dir after restarts | {sbs.fmt_bytes(fs.get('data_dir_bytes'))} | "
                 f"{sbs.fmt_bytes(rs.get('data_dir_bytes'))} |")
        L.append(f"| first reply (median) | {f_secs(fs.get('ping_median'))} | {f_secs(rs.get('ping_median'))} |")
        L.append(f"| ready (median) | **{f_secs(fs.get('ready_median'))}** | **{f_secs(rs.get('ready_median'))}** |")
        L.append(f"| ready, each restart | {', '.join(f_secs(t['ready']) for t in fs.get('trials', []))} | "
                 f"{', '.join(f_secs(t['ready']) for t in rs.get('trials', []))} |")
        for who, d in (("Flotilla", fs), ("Redis", rs)):
            if d.get("error"):
                L.append(f"\n- {who} failed: `{d['error']}`")
        L.append("")
    if "p5" in res:
        L.append("### 5. Single node, fsync on every write")
        L.append("")
        L.append(f"- Flotilla: `{res['p5_commands']['flotilla']}`")
        L.append(f"- Redis: `{res['p5_commands']['redis']}`")
        L.append(f"- Each run: `{BENCH_TEMPLATE.format(p='{1,16}', t='set')}` with N = "
                 f"{args.requests_p1:,} at -P 1, {args.requests_p16:,} at -P 16; {args.rounds} rounds")
        L.append("")
        tp_table(res["p5"]["summary"], ["redis", "flotilla"], "")
        L.append("")
    return "\n".join(L)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--flotilla", type=Path, default=sbs.DEFAULT_FLOTILLA)
    ap.add_argument("--built-from", help="how the report describes the binary")
    ap.add_argument("--parts", default="1,2,3,4,5", help="which parts to run (2 runs inside 1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=50_000, help="redis-benchmark -n at -P 1")
    ap.add_argument("--requests-p16", type=int, default=300_000, help="redis-benchmark -n at -P 16")
    ap.add_argument("--etcd-seconds", type=float, default=10.0, help="length of one etcd put run")
    ap.add_argument("--etcd-procs", type=int, default=2, help="processes of the etcd put client")
    ap.add_argument("--failover-trials", type=int, default=5)
    ap.add_argument("--failover-limit", type=float, default=15.0, help="give up a trial after this long")
    ap.add_argument("--failover-settle", type=float, default=1.0)
    ap.add_argument("--failover-signal", choices=["KILL", "TERM"], default="KILL",
                    help="how part 3 stops the leader: KILL (a crash, the target's measure) or TERM "
                         "(a clean stop, which hands leadership over)")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--cluster-fsync", default="always", choices=["always", "everysec", "no"],
                    help="the cluster's --fsync in parts 1-2 (other values only to diagnose)")
    ap.add_argument("--restart-trials", type=int, default=3)
    ap.add_argument("--restart-fsync", default="always", choices=["always", "everysec", "no"],
                    help="Flotilla's --fsync for the restart part (fill and restarts)")
    ap.add_argument("--fill-connections", type=int, default=1,
                    help="split the restart part's fill over this many concurrent redis-cli --pipe")
    ap.add_argument("--startup-timeout", type=float, default=60.0)
    ap.add_argument("--run-timeout", type=float, default=300.0)
    ap.add_argument("--fill-timeout", type=float, default=600.0)
    ap.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    ap.add_argument("--docs", type=Path, default=sbs.DEFAULT_DOCS)
    ap.add_argument("--section", default="raft")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--render", type=Path, metavar="JSON", help="rewrite the report of an earlier --json")
    ap.add_argument("--note", action="append", default=[],
                    help="a line of observations to print under the section's summary (repeatable)")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-install", action="store_true")
    a = ap.parse_args(argv)
    a.parts = {p.strip() for p in a.parts.split(",")}
    a.skip_etcd = "2" not in a.parts
    if a.quick:
        a.rounds, a.requests_p1, a.requests_p16 = 1, 5_000, 20_000
        a.etcd_seconds, a.failover_trials, a.keys, a.restart_trials = 3.0, 2, 50_000, 1
    a.flotilla = a.flotilla.resolve() if a.flotilla.exists() else a.flotilla
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        old = parse_args(shlex.split(data["meta"]["harness_cmd"])[2:])
        if args.note:
            data["meta"]["notes"] = args.note
        report = md_report(old, data["facts"], data["meta"], data["res"])
        log(report)
        if not args.no_write:
            sbs.write_section(args.docs, old.section, report)
        return 0
    sbs.ensure_redis_tools(not args.no_install)
    facts = sbs.machine_facts()
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": loadavg(),
        "build": args.built_from or f"commit {sbs.git_describe()}",
        "flotilla_version": sbs.first_line([str(args.flotilla), "--version"]),
        "harness_cmd": "python3 bench/harness/raft_bench.py " + shlex.join(
            sys.argv[1:] if argv is None else argv),
        "notes": args.note,
    }
    log(f"# machine: {facts['nproc']} CPUs, {facts['cpu_model']}; load {meta['load_start']}")
    log(f"# flotilla: {args.flotilla} ({meta['flotilla_version']}), {meta['build']}")
    own = args.workdir is None
    wd = Path(tempfile.mkdtemp(prefix="flotilla-raft-bench-")) if own else args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    log(f"# work dir {wd}")
    res: dict = {}
    t0 = time.monotonic()
    try:
        for part, fn in (("1", part_cluster_vs_redis), ("3", part_failover), ("4", part_restart),
                         ("5", part_fsync)):
            if part in args.parts or (part == "1" and "2" in args.parts):
                try:
                    fn(args, wd, res)
                except RuntimeError as e:
                    log(f"! part {part} failed: {e}")
                    res.setdefault("errors", {})[part] = str(e).splitlines()[0]
                log(f"# part {part} done, {time.monotonic() - t0:.0f}s elapsed, load {loadavg()}")
                if args.json:
                    args.json.write_text(json.dumps({"facts": facts, "meta": meta, "res": res}, indent=1))
    except KeyboardInterrupt:
        log("! interrupted; writing what was measured")
    finally:
        if own and not args.keep:
            shutil.rmtree(wd, ignore_errors=True)
    meta["load_end"] = loadavg()
    report = md_report(args, facts, meta, res)
    log("")
    log(report)
    if args.json:
        args.json.write_text(json.dumps({"facts": facts, "meta": meta, "res": res}, indent=1))
    if not args.no_write:
        sbs.write_section(args.docs, args.section, report)
        log(f"# wrote section '{args.section}' of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
