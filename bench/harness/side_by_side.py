#!/usr/bin/env python3
"""Side-by-side load harness: Flotilla against redis-server on the same machine.

Starts both servers, runs redis-benchmark against each in alternation (so slow drifts in
machine load hit both sides alike), takes per-row medians over the rounds, measures memory
per key after a deterministic fill, and writes a markdown section into docs/BENCHMARKS.md
between its own markers, leaving the rest of the file alone.

Only the Python standard library is used; redis-server, redis-cli and redis-benchmark come
from Debian's redis-server / redis-tools packages (installed with apt-get when missing).
See bench/harness/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FLOTILLA = ROOT / "target" / "release" / "flotilla"
DEFAULT_DOCS = ROOT / "docs" / "BENCHMARKS.md"

ALL_TESTS = ["SET", "GET", "INCR", "LPUSH", "MSET"]
# MSET writes 10 keys per request, so it runs several times slower per request than the
# single-key tests; a smaller share keeps each run a few seconds long.
TEST_WEIGHT = {"MSET": 0.25}
# One representative command per test, sent before the benchmark: redis-benchmark counts an
# error reply as a served request, so an unimplemented command would look very fast.
PROBES = {
    "SET": ["SET", "harness:probe:s", "x"],
    "GET": ["GET", "harness:probe:s"],
    "INCR": ["INCR", "harness:probe:n"],
    "LPUSH": ["LPUSH", "harness:probe:l", "x"],
    "MSET": ["MSET", "harness:probe:a", "1", "harness:probe:b", "2"],
}
PROBE_KEYS = ["harness:probe:s", "harness:probe:n", "harness:probe:l",
              "harness:probe:a", "harness:probe:b"]


def log(msg: str = "") -> None:
    print(msg, flush=True)


def fmt_int(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return str(n)


# --------------------------------------------------------------------------------------------
# Tools and machine facts
# --------------------------------------------------------------------------------------------

def ensure_redis_tools(allow_install: bool) -> None:
    missing = [t for t in ("redis-server", "redis-cli", "redis-benchmark") if not shutil.which(t)]
    if not missing:
        return
    if not allow_install:
        sys.exit(f"missing {', '.join(missing)}; install Debian's redis-server and redis-tools")
    log(f"# installing redis-server redis-tools (missing: {', '.join(missing)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "redis-server", "redis-tools"],
                   check=True, env=env)
    # Debian's package may start a system instance on 6379; we never use that port by default,
    # so it is left as the package set it up.


def first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001 - informational only
        return f"unknown ({e.__class__.__name__})"


def machine_facts() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    nproc = first_line(["nproc"])
    return {
        "nproc": nproc,
        "cpu_model": model,
        "mem_total": fmt_bytes(mem_kb * 1024) if mem_kb else "unknown",
        "kernel": platform.release(),
        "redis_server": first_line(["redis-server", "--version"]),
        "redis_benchmark": first_line(["redis-benchmark", "--version"]),
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def git_describe() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "-uno"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if not rev:
            return "no commit"
        return rev + (" (with uncommitted changes)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------

class Server:
    """One server process we started; talked to through redis-cli."""

    def __init__(self, side: str, label: str, argv: list[str], port: int, workdir: Path,
                 datadir: Path | None):
        self.side = side          # "flotilla" or "redis": which column it fills
        self.label = label        # what the reports call it
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.datadir = datadir
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.logpath = workdir / f"{side}-{port}.log"

    def start(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.datadir:
            self.datadir.mkdir(parents=True, exist_ok=True)
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir,
                                     start_new_session=True)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} at start\n"
                                   + self.log_tail())
            if self.ping():
                self.pid = self._resolve_pid()
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.label} did not answer PING within {timeout}s\n" + self.log_tail())

    def _resolve_pid(self) -> int:
        # A wrapper script should exec the server; if it did not, INFO's process_id (when
        # reported) names the real process whose memory we must read.
        assert self.proc is not None
        pid = self.proc.pid
        try:
            reported = int(self.info("server").get("process_id", "0"))
        except ValueError:
            reported = 0
        if reported and reported != pid and Path(f"/proc/{reported}").exists():
            return reported
        return pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args: str, timeout: float = 30) -> tuple[int, str]:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).strip()

    def ping(self) -> bool:
        try:
            rc, out = self.cli("PING", timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return rc == 0 and out == "PONG"

    def info(self, section: str) -> dict[str, str]:
        try:
            rc, out = self.cli("INFO", section)
        except subprocess.TimeoutExpired:
            return {}
        fields = {}
        if rc == 0:
            for line in out.splitlines():
                if ":" in line and not line.startswith("#"):
                    k, v = line.split(":", 1)
                    fields[k.strip()] = v.strip()
        return fields

    def used_memory(self) -> int | None:
        v = self.info("memory").get("used_memory")
        try:
            return int(v) if v is not None else None
        except ValueError:
            return None

    def dbsize(self) -> int | None:
        try:
            rc, out = self.cli("DBSIZE")
            return int(out) if rc == 0 else None
        except (ValueError, subprocess.TimeoutExpired):
            return None

    def rss_bytes(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return None

    def log_tail(self, n: int = 20) -> str:
        try:
            lines = self.logpath.read_text(errors="replace").splitlines()[-n:]
            return "\n".join(f"    | {line}" for line in lines)
        except OSError:
            return "    | (no log)"

    def stop(self) -> None:
        if not self.alive():
            return
        # Flotilla's documented stop is SHUTDOWN; NOSAVE is Redis-only, so ask the redis
        # side for it and fall back to plain SHUTDOWN.
        try:
            if self.side == "redis":
                self.cli("SHUTDOWN", "NOSAVE", timeout=10)
            else:
                self.cli("SHUTDOWN", timeout=10)
        except subprocess.TimeoutExpired:
            pass
        assert self.proc is not None
        try:
            self.proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            pass
        # Started in its own session: its process group holds only what we launched.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=10)
                return
            except (subprocess.TimeoutExpired, ProcessLookupError):
                continue


def make_servers(args, workdir: Path, tag: str) -> list[Server]:
    fport = args.flotilla_port or free_port()
    rport = args.redis_port or free_port()
    while rport == fport:
        rport = free_port()
    fdir = workdir / f"flotilla-data-{tag}"
    rdir = workdir / f"redis-data-{tag}"
    fargv = [str(args.flotilla), "--port", str(fport), "--dir", str(fdir)] + args.flotilla_arg
    rargv = ["redis-server", "--save", "", "--appendonly", "no", "--port", str(rport),
             "--bind", "127.0.0.1", "--dir", str(rdir)]
    return [Server("flotilla", args.name, fargv, fport, workdir, fdir),
            Server("redis", "redis", rargv, rport, workdir, rdir)]


def shown(argv: list[str]) -> str:
    return shlex.join(argv)


def shown_template(s: Server) -> str:
    """Launch command with the run-specific port and data dir replaced by placeholders."""
    argv = ["PORT" if a == str(s.port) else a for a in s.argv]
    if s.datadir:
        argv = ["DIR" if a == str(s.datadir) else a for a in argv]
    return shlex.join(argv)


# --------------------------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------------------------

def requests_for(args, test: str, pipeline: int) -> int:
    n = args.requests if pipeline <= 1 else args.requests * args.pipeline_scale
    return max(1000, int(n * TEST_WEIGHT.get(test, 1.0)))


def bench_argv(server: Server, args, test: str, pipeline: int, n: int) -> list[str]:
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-c", str(args.clients),
            "-n", str(n), "-P", str(pipeline), "-r", str(args.keyspace), "-d", str(args.data_size),
            "-t", test.lower(), "--csv"]


def parse_csv(text: str) -> dict | None:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return None
    header = rows[0]
    for row in rows[1:]:
        if len(row) == len(header) and row[0] != "test":
            rec = dict(zip(header, row))
            try:
                return {"rps": float(rec["rps"]),
                        "avg_ms": float(rec.get("avg_latency_ms", "nan")),
                        "p50_ms": float(rec.get("p50_latency_ms", "nan")),
                        "p99_ms": float(rec.get("p99_latency_ms", "nan"))}
            except (KeyError, ValueError):
                return None
    return None


def probe(server: Server, tests: list[str]) -> dict[str, str]:
    """Return {test: error text} for tests whose command the server rejects."""
    bad = {}
    for t in tests:
        rc, out = server.cli(*PROBES[t])
        if rc != 0 or out.startswith(("ERR", "WRONGTYPE", "(error)")) \
                or "unknown command" in out.lower():
            bad[t] = out.splitlines()[0] if out else f"redis-cli exit {rc}"
    server.cli("DEL", *PROBE_KEYS)
    return bad


def run_throughput(args, servers: list[Server]) -> dict:
    results: dict[str, dict] = {}  # "TEST|P" -> {side: [run dicts]}
    errors: dict[str, dict[str, str]] = {}
    for s in servers:
        errors[s.side] = probe(s, args.tests)
        for t, e in errors[s.side].items():
            log(f"! {s.label}: {t} probe failed: {e} (row will be marked, run skipped)")
    total = args.rounds * len(args.pipeline_values) * len(args.tests) * len(servers)
    done = 0
    t0 = time.monotonic()
    for rnd in range(1, args.rounds + 1):
        order = servers if (args.order == "fr" or rnd % 2 == 1) else list(reversed(servers))
        for p in args.pipeline_values:
            for test in args.tests:
                key = f"{test}|{p}"
                row = results.setdefault(key, {"flotilla": [], "redis": []})
                n = requests_for(args, test, p)
                for s in order:
                    done += 1
                    prefix = f"[{done:3d}/{total}] round {rnd}/{args.rounds} -P {p:<2} {test:<5} {s.label:<9}"
                    if test in errors[s.side]:
                        log(f"{prefix} skipped ({errors[s.side][test]})")
                        continue
                    if not s.alive():
                        raise RuntimeError(f"{s.label} is no longer running\n" + s.log_tail())
                    argv = bench_argv(s, args, test, p, n)
                    start = time.monotonic()
                    try:
                        r = subprocess.run(argv, capture_output=True, text=True,
                                           timeout=args.run_timeout)
                        out, err = r.stdout, r.stderr
                    except subprocess.TimeoutExpired:
                        log(f"{prefix} TIMEOUT after {args.run_timeout}s")
                        continue
                    secs = time.monotonic() - start
                    rec = parse_csv(out)
                    if rec is None:
                        log(f"{prefix} no result (exit {r.returncode}): {(err or out).strip()[:200]}")
                        continue
                    rec.update(round=rnd, seconds=round(secs, 2), n=n, load=loadavg())
                    row[s.side].append(rec)
                    warn = ""
                    if "Error" in err or "ERR" in err:
                        warn = "  stderr: " + err.strip().splitlines()[0][:120]
                    log(f"{prefix} {rec['rps']:>12,.0f} rps  p50 {rec['p50_ms']:.3f} ms  "
                        f"({n:,} req in {secs:.1f}s){warn}")
                    if not s.ping():
                        raise RuntimeError(f"{s.label} stopped answering PING after {test}\n"
                                           + s.log_tail())
        log(f"# round {rnd} done, {time.monotonic() - t0:.0f}s elapsed, load {loadavg()}")
    return {"rows": results, "errors": errors}


def summarize(args, tp: dict) -> list[dict]:
    out = []
    for p in args.pipeline_values:
        for test in args.tests:
            row = tp["rows"].get(f"{test}|{p}", {"flotilla": [], "redis": []})
            r = {"test": test, "pipeline": p}
            for side in ("flotilla", "redis"):
                runs = row[side]
                rps = [x["rps"] for x in runs]
                r[side] = {
                    "runs": len(runs),
                    "rps_median": statistics.median(rps) if rps else None,
                    "rps_min": min(rps) if rps else None,
                    "rps_max": max(rps) if rps else None,
                    "p50_median": statistics.median(x["p50_ms"] for x in runs) if runs else None,
                    "all_rps": rps,
                    "error": tp["errors"].get(side, {}).get(test),
                }
            f, rd = r["flotilla"]["rps_median"], r["redis"]["rps_median"]
            r["ratio"] = (f / rd) if (f and rd) else None
            # Ratio of the two runs made back to back in each round: drift in machine load
            # between rounds cancels out of it.
            by_round = {x["round"]: x["rps"] for x in row["redis"]}
            paired = [x["rps"] / by_round[x["round"]] for x in row["flotilla"]
                      if by_round.get(x["round"])]
            r["paired_ratio"] = statistics.median(paired) if paired else None
            out.append(r)
    return out


# --------------------------------------------------------------------------------------------
# Memory per key
# --------------------------------------------------------------------------------------------

def write_fill_file(path: Path, keys: int, value_size: int) -> None:
    """RESP for SET key:%012d <value_size bytes> for 0..keys-1 (deterministic)."""
    with open(path, "wb") as f:
        buf = []
        for i in range(keys):
            k = b"key:%012d" % i
            v = (b"v%0*d" % (value_size - 1, i))[:value_size]
            buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
            if len(buf) >= 10000:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))


def fill_argv(server: Server) -> list[str]:
    return ["redis-cli", "-h", "127.0.0.1", "-p", str(server.port), "--pipe"]


def measure_restart(args, s: Server) -> dict:
    """Stop the filled server and start it on the same data; time until all keys are back.

    Redis runs without automatic persistence, so its side first writes an RDB with SAVE and
    loads that: the comparison is Flotilla's recovery against Redis's snapshot load.
    """
    out: dict = {}
    try:
        if s.side == "redis":
            t = time.monotonic()
            rc, msg = s.cli("SAVE", timeout=args.fill_timeout)
            out["save_seconds"] = round(time.monotonic() - t, 2)
            if rc != 0 or msg != "OK":
                return {"restart_error": f"SAVE: {msg}"}
        s.stop()
        t = time.monotonic()
        s.start(args.startup_timeout)
        out["restart_ping_seconds"] = round(time.monotonic() - t, 2)
        deadline = t + args.startup_timeout
        db = s.dbsize()
        # None means DBSIZE is rejected: nothing to wait for. A count that stays put for a few
        # seconds means the server came back with what it has (e.g. nothing, without persistence).
        last, since = db, time.monotonic()
        while db is not None and db != args.keys and time.monotonic() < deadline and s.alive() \
                and time.monotonic() - since < args.restart_stall:
            time.sleep(0.05)
            db = s.dbsize()
            if db != last:
                last, since = db, time.monotonic()
        out["restart_seconds"] = round(time.monotonic() - t, 2) if db == args.keys else None
        out["restart_dbsize"] = db
        if s.datadir and s.datadir.exists():
            out["data_dir_bytes_after_restart"] = dir_size(s.datadir)
        log(f"# restart: {s.label} answers PING after {out['restart_ping_seconds']}s, "
            f"DBSIZE {db} after {time.monotonic() - t:.2f}s")
    except Exception as e:  # noqa: BLE001
        out["restart_error"] = str(e).splitlines()[0]
        log(f"! restart of {s.label} failed: {out['restart_error']}")
    return out


def measure_memory(args, workdir: Path) -> dict:
    fill = workdir / "fill.resp"
    log(f"# memory: writing fill file ({args.keys:,} x SET key:%012d <{args.data_size} bytes>)")
    write_fill_file(fill, args.keys, args.data_size)
    res = {"keys": args.keys, "value_size": args.data_size, "sides": {}}
    # Fresh servers, one at a time, so the fill of one does not compete with the other and
    # the throughput runs' leftovers are not counted.
    servers = make_servers(args, workdir, "mem")
    res["commands"] = {s.side: shown_template(s) for s in servers}
    res["fill_command"] = shown(fill_argv(servers[0])).replace(str(servers[0].port), "PORT") \
        + " < fill.resp"
    for s in servers:
        log(f"# memory: starting {s.label}: {shown(s.argv)}")
        try:
            s.start(args.startup_timeout)
            time.sleep(args.settle)
            rss0, um0, db0 = s.rss_bytes(), s.used_memory(), s.dbsize()
            log(f"# memory: {s.label} before fill: RSS {fmt_bytes(rss0)}, used_memory "
                f"{fmt_bytes(um0)}, DBSIZE {db0}")
            t = time.monotonic()
            with open(fill, "rb") as fin:
                r = subprocess.run(fill_argv(s), stdin=fin, capture_output=True, text=True,
                                   timeout=args.fill_timeout)
            fill_secs = time.monotonic() - t
            summary = (r.stdout + r.stderr).strip().splitlines()
            summary = summary[-1] if summary else f"exit {r.returncode}"
            time.sleep(args.settle)
            rss1, um1, db1 = s.rss_bytes(), s.used_memory(), s.dbsize()
            mem_info = s.info("memory")
            ddir = dir_size(s.datadir) if s.datadir and s.datadir.exists() else None
            side = {
                "pid": s.pid, "rss_before": rss0, "rss_after": rss1,
                "used_memory_before": um0, "used_memory_after": um1,
                "dbsize_before": db0, "dbsize": db1, "fill_seconds": round(fill_secs, 2),
                "fill_summary": summary, "data_dir_bytes": ddir,
                # A server that fills used_memory with its RSS says nothing about its keyspace.
                "used_memory_is_rss": um1 is not None
                and mem_info.get("used_memory_rss") == str(um1),
            }
            side["rss_per_key"] = (rss1 - rss0) / args.keys if rss0 and rss1 else None
            side["used_memory_per_key"] = (um1 - um0) / args.keys \
                if (um0 is not None and um1 is not None and um1 > 0) else None
            res["sides"][s.side] = side
            if not args.skip_restart:
                side.update(measure_restart(args, s))
            log(f"# memory: {s.label} after fill ({fill_secs:.1f}s, {summary}): RSS {fmt_bytes(rss1)}, "
                f"used_memory {fmt_bytes(um1)}, DBSIZE {db1}; RSS/key "
                f"{side['rss_per_key'] or 0:.1f} B, used_memory/key "
                + (f"{side['used_memory_per_key']:.1f} B" if side["used_memory_per_key"] else "n/a"))
        except Exception as e:  # noqa: BLE001 - keep the other side's figures
            log(f"! memory on {s.label} failed: {e}")
            res["sides"][s.side] = {"error": str(e).splitlines()[0]}
        finally:
            s.stop()
    fill.unlink(missing_ok=True)
    return res


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def md_report(args, facts: dict, meta: dict, rows: list[dict] | None, mem: dict | None) -> str:
    name = args.name
    L = []
    L.append(f"## {args.title}")
    L.append("")
    L.append(f"Written by `bench/harness/side_by_side.py` on {meta['date']}. "
             "The machine is shared and noisy (identical servers differ by up to ~15% from run to "
             "run), so the sides alternate run by run and each figure is the median over the rounds.")
    L.append("")
    L.append(f"- Machine: {facts['nproc']} CPUs ({facts['cpu_model']}), {facts['mem_total']} RAM, "
             f"Linux {facts['kernel']}; load average {meta['load_start']} at start, "
             f"{meta['load_end']} at end")
    L.append(f"- {name}: `{meta['flotilla_version']}`, {meta['build']}")
    L.append(f"- Redis: {facts['redis_server']}; {facts['redis_benchmark']}")
    L.append(f"- Harness: `{meta['harness_cmd']}`")
    L.append(f"- {name}: `{meta['commands']['flotilla']}`")
    L.append(f"- Redis: `{meta['commands']['redis']}`")
    try:
        busy = float(meta["load_start"].split()[0]) > float(facts["nproc"])
    except (ValueError, IndexError):
        busy = False
    if busy:
        L.append(f"- The load average was above the CPU count: other work shared the CPUs, so the "
                 "absolute figures are well below this machine's quiet ones; read the ratios.")
    if rows is not None:
        L.append(f"- Each run: `{meta['bench_cmd']}` "
                 f"with N = {meta['n_desc']}; {args.rounds} round(s), order "
                 f"{'flotilla, redis every time' if args.order == 'fr' else 'flotilla/redis first in turn'}")
        L.append("")
        L.append("Ratio is of the medians; paired is the median over rounds of the ratio of the two "
                 "back-to-back runs.")
        L.append("")
        L.append(f"| test | -P | {name} rps (median) | Redis rps (median) | ratio {name}/Redis "
                 f"| paired | {name} p50 ms | Redis p50 ms | {name} min–max | Redis min–max |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            f, rd = r["flotilla"], r["redis"]

            def cell(x):
                if x["error"]:
                    return "error"
                return fmt_int(x["rps_median"])

            def span(x):
                if not x["all_rps"]:
                    return "n/a"
                return f"{x['rps_min']:,.0f}–{x['rps_max']:,.0f}"

            def p50(x):
                return "n/a" if x["p50_median"] is None else f"{x['p50_median']:.3f}"
            ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
            paired = "n/a" if r["paired_ratio"] is None else f"{r['paired_ratio']:.2f}"
            L.append(f"| {r['test']} | {r['pipeline']} | {cell(f)} | {cell(rd)} | **{ratio}** | {paired} | "
                     f"{p50(f)} | {p50(rd)} | {span(f)} | {span(rd)} |")
        errs = {(r["test"], side): r[side]["error"] for r in rows
                for side in ("flotilla", "redis") if r[side]["error"]}
        if errs:
            L.append("")
        for (test, side), e in errs.items():
            L.append(f"- {name if side == 'flotilla' else 'Redis'} rejected {test}, so it was not "
                     f"timed: `{e}`")
    if mem is not None:
        L.append("")
        L.append(f"### Memory per key ({mem['keys']:,} keys, {mem['value_size']}-byte values)")
        L.append("")
        L.append(f"Fresh servers, filled one at a time with `{mem['fill_command']}` "
                 f"(SET key:%012d <{mem['value_size']} bytes> for 0..{mem['keys'] - 1:,}). "
                 "RSS is read from /proc/PID/status (VmRSS) before and after the fill; "
                 "used_memory from INFO memory.")
        L.append("")
        L.append(f"| | {name} | Redis | ratio |")
        L.append("|---|---:|---:|---:|")
        fs, rs = mem["sides"].get("flotilla", {}), mem["sides"].get("redis", {})

        def g(d, k):
            return d.get(k) if isinstance(d, dict) else None

        def ratio(a, b):
            return f"{a / b:.2f}" if (a and b) else ""

        restored = all(g(d, "restart_dbsize") == mem["keys"] for d in (fs, rs))

        def row(label, key, fmt):
            a, b = g(fs, key), g(rs, key)
            # Restart times only compare when both sides came back with every key.
            r = ratio(a, b) if (restored or not label.startswith("restart")) else ""
            L.append(f"| {label} | {fmt(a)} | {fmt(b)} | {r} |")

        perkey = (lambda x: "n/a" if x is None else f"{x:,.1f} B")
        row("DBSIZE after fill", "dbsize", lambda x: "n/a" if x is None else f"{x:,}")
        row("RSS delta per key", "rss_per_key", perkey)
        row("used_memory delta per key", "used_memory_per_key", perkey)
        row("RSS before fill", "rss_before", fmt_bytes)
        row("RSS after fill", "rss_after", fmt_bytes)
        row("used_memory after fill", "used_memory_after", fmt_bytes)
        row("fill time (redis-cli --pipe)", "fill_seconds",
            lambda x: "n/a" if x is None else f"{x:.2f} s")
        row("data dir size after fill", "data_dir_bytes", fmt_bytes)
        if not args.skip_restart:
            secs = (lambda x: "n/a" if x is None else f"{x:.2f} s")
            row("restart: until PING answers", "restart_ping_seconds", secs)
            row(f"restart: until DBSIZE = {mem['keys']:,}", "restart_seconds", secs)
            row("DBSIZE after restart", "restart_dbsize", lambda x: "n/a" if x is None else f"{x:,}")
            row("Redis SAVE before restart", "save_seconds", secs)
            row("data dir size after restart", "data_dir_bytes_after_restart", fmt_bytes)
        for side, d in (("flotilla", fs), ("redis", rs)):
            who = name if side == "flotilla" else "Redis"
            if isinstance(d, dict) and d.get("error"):
                L.append("")
                L.append(f"- {who} memory run failed: `{d['error']}`")
            if isinstance(d, dict) and d.get("restart_error"):
                L.append("")
                L.append(f"- {who} restart failed: `{d['restart_error']}`")
        for side, d in (("flotilla", fs), ("redis", rs)):
            if isinstance(d, dict) and "restart_dbsize" in d and d["restart_dbsize"] != mem["keys"]:
                L.append("")
                L.append(f"- {name if side == 'flotilla' else 'Redis'} came back with DBSIZE "
                         f"{d['restart_dbsize']} instead of {mem['keys']:,}: it did not keep the keys "
                         "across the restart.")
        if not args.skip_restart:
            L.append("")
            L.append("- Restart: the filled server is stopped with SHUTDOWN and started again on the "
                     "same data dir; Redis (run without automatic persistence) first writes an RDB "
                     "with SAVE and loads it. Timed from launch.")
        if isinstance(fs, dict) and fs.get("used_memory_is_rss"):
            L.append("")
            L.append(f"- {name}'s INFO memory reports used_memory equal to used_memory_rss (the "
                     "process RSS), so its used_memory row is RSS read at a slightly different "
                     "moment, not a keyspace estimate; RSS is the common measure.")
        elif isinstance(fs, dict) and fs.get("used_memory_per_key") is None and not fs.get("error"):
            L.append("")
            L.append(f"- {name}'s INFO memory does not report used_memory (or reports 0); RSS is "
                     "the common measure.")
    L.append("")
    return "\n".join(L)


def write_section(path: Path, section: str, body: str) -> None:
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    i, j = text.find(begin), text.find(end)
    if i != -1 and j != -1 and j > i:
        text = text[:i] + block + text[j + len(end):].lstrip("\n")
        if not text.endswith("\n"):
            text += "\n"
    else:
        if not text.endswith("\n\n"):
            text = text.rstrip("\n") + "\n\n"
        text += block
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--flotilla", type=Path, default=DEFAULT_FLOTILLA,
                    help="server binary started as: BIN --port P --dir DIR")
    ap.add_argument("--flotilla-arg", action="append", default=[],
                    help="extra argument for the Flotilla command line (repeatable)")
    ap.add_argument("--name", default="Flotilla", help="what the report calls the first side")
    ap.add_argument("--built-from", help="how the report describes the binary, e.g. 'commit abc1234' "
                    "when --flotilla is a copy (default: the checkout's commit)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per row (default 3, quick 1)")
    ap.add_argument("--requests", type=int, default=None,
                    help="requests per run at -P 1 (default 300000, quick 20000); MSET runs a quarter")
    ap.add_argument("--pipeline-scale", type=int, default=5,
                    help="runs with -P > 1 send this many times --requests")
    ap.add_argument("--tests", default=",".join(ALL_TESTS),
                    help="comma-separated subset of " + ",".join(ALL_TESTS))
    ap.add_argument("--pipeline-values", default="1,16", help="comma-separated -P values")
    ap.add_argument("--clients", type=int, default=50, help="redis-benchmark -c")
    ap.add_argument("--keyspace", type=int, default=1_000_000, help="redis-benchmark -r")
    ap.add_argument("--data-size", type=int, default=32, help="redis-benchmark -d and fill value size")
    ap.add_argument("--keys", type=int, default=None,
                    help="keys for the memory fill (default 1000000, quick 100000)")
    ap.add_argument("--order", choices=["fr", "swap"], default="fr",
                    help="fr: flotilla then redis for every row; swap: who goes first alternates by round")
    ap.add_argument("--skip-memory", action="store_true", help="skip the memory-per-key fill")
    ap.add_argument("--skip-throughput", action="store_true", help="only measure memory")
    ap.add_argument("--skip-restart", action="store_true",
                    help="skip the restart-time measurement that follows the memory fill")
    ap.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    ap.add_argument("--flotilla-port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--redis-port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--startup-timeout", type=float, default=60.0,
                    help="seconds to wait for PING at start, and for all keys after a restart")
    ap.add_argument("--run-timeout", type=float, default=600.0, help="seconds per redis-benchmark run")
    ap.add_argument("--fill-timeout", type=float, default=1200.0)
    ap.add_argument("--restart-stall", type=float, default=5.0,
                    help="after a restart, stop waiting once DBSIZE has not moved for this long")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before reading memory")
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown file to update")
    ap.add_argument("--section", default="side-by-side",
                    help="marker name: the file section between <!-- NAME:begin/end --> is replaced")
    ap.add_argument("--title", default="Side by side with Redis (redis-benchmark)")
    ap.add_argument("--no-write", action="store_true", help="print the table but do not touch --docs")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="only rewrite the report of an earlier run from its --json file")
    ap.add_argument("--workdir", type=Path, help="where data dirs and logs go (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--no-install", action="store_true", help="never run apt-get")
    a = ap.parse_args(argv)
    a.tests = [t.strip().upper() for t in a.tests.split(",") if t.strip()]
    for t in a.tests:
        if t not in ALL_TESTS:
            ap.error(f"unknown test {t}; choose from {','.join(ALL_TESTS)}")
    a.pipeline_values = [int(p) for p in a.pipeline_values.split(",") if p.strip()]
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    if a.requests is None:
        a.requests = 20_000 if a.quick else 300_000
    if a.keys is None:
        a.keys = 100_000 if a.quick else 1_000_000
    a.flotilla = a.flotilla.resolve() if a.flotilla.exists() else a.flotilla
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args)
    ensure_redis_tools(not args.no_install)
    if not (args.flotilla.exists() and os.access(args.flotilla, os.X_OK)):
        sys.exit(f"{args.flotilla} is not an executable; run `cargo build --release` or pass --flotilla")
    facts = machine_facts()
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": loadavg(),
        "build": (args.built_from if args.built_from
                  else f"built from commit {git_describe()}" if args.flotilla == DEFAULT_FLOTILLA.resolve()
                  else f"binary `{args.flotilla}`"),
        "flotilla_version": first_line([str(args.flotilla), "--version"]),
        "harness_cmd": "python3 bench/harness/side_by_side.py " + shlex.join(
            (sys.argv[1:] if argv is None else argv)),
    }
    log(f"# machine: {facts['nproc']} CPUs, {facts['cpu_model']}, {facts['mem_total']}; "
        f"load {meta['load_start']}")
    log(f"# {args.name}: {args.flotilla} ({meta['flotilla_version']}), {meta['build']}")
    log(f"# {facts['redis_server']}")

    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="flotilla-bench-")) if own_workdir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"# work dir {workdir}")
    rows = mem = None
    started: list[Server] = []
    try:
        if not args.skip_throughput:
            servers = make_servers(args, workdir, "tp")
            meta["commands"] = {s.side: shown_template(s) for s in servers}
            for s in servers:
                log(f"# starting {s.label}: {shown(s.argv)}")
                s.start(args.startup_timeout)
                started.append(s)
                log(f"#   {s.label} answers PING on port {s.port} (pid {s.pid})")
            sample = bench_argv(servers[0], args, "TEST", args.pipeline_values[0], 0)
            sample[sample.index("-p") + 1] = "PORT"
            sample[sample.index("-n") + 1] = "N"
            sample[sample.index("-P") + 1] = "{" + ",".join(map(str, args.pipeline_values)) + "}"
            sample[sample.index("-t") + 1] = "{" + ",".join(t.lower() for t in args.tests) + "}"
            meta["bench_cmd"] = " ".join(sample)
            parts = [f"{args.requests:,} at -P 1"] if 1 in args.pipeline_values else []
            if any(p > 1 for p in args.pipeline_values):
                parts.append(f"{args.requests * args.pipeline_scale:,} at -P > 1")
            meta["n_desc"] = " and ".join(parts) + (" (MSET: a quarter)" if "MSET" in args.tests else "")
            tp = run_throughput(args, servers)
            rows = summarize(args, tp)
            for s in servers:
                s.stop()
            started.clear()
        if not args.skip_memory:
            mem = measure_memory(args, workdir)
            meta.setdefault("commands", mem["commands"])
    except KeyboardInterrupt:
        log("! interrupted")
        return 130
    except RuntimeError as e:
        log(f"! {e}")
        return 1
    finally:
        for s in started:
            s.stop()
        if own_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    meta["load_end"] = loadavg()
    report = md_report(args, facts, meta, rows, mem)
    log("")
    log(report)
    if args.json:
        args.json.write_text(json.dumps({"facts": facts, "meta": meta, "rows": rows, "memory": mem},
                                        indent=2))
    if not args.no_write:
        write_section(args.docs, args.section, report)
        log(f"# wrote section '{args.section}' of {args.docs}")
    return 0


def render(args) -> int:
    """Write the report of an earlier run from its --json file, without measuring again."""
    data = json.loads(args.render.read_text())
    meta = data["meta"]
    # The recorded harness command line gives the options that shaped that run's report.
    old = parse_args(shlex.split(meta["harness_cmd"])[2:])
    report = md_report(old, data["facts"], meta, data["rows"], data["memory"])
    log(report)
    if not args.no_write:
        write_section(args.docs, old.section, report)
        log(f"# wrote section '{old.section}' of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
