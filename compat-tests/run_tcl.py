#!/usr/bin/env python3
"""Runs units of the Redis 7.0 TCL test suite (from Debian's `redis` source
package, fetched into the cache at run time) against Flotilla in external-
server mode, and the same units against Debian's redis-server as reference.

Every unit gets a fresh server: the suite changes server configuration in
external mode (e.g. proto-max-bulk-len) and a crash must not spill into the
next unit. See compat-tests/README.md.
"""

import argparse
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compat_common as cc  # noqa: E402

DEFAULT_UNITS = [
    "type/string", "type/incr", "type/hash", "type/list", "type/set",
    "type/zset", "keyspace", "expire", "multi", "pubsub", "protocol",
    "info-command", "type/stream", "type/stream-cgroups", "scripting", "functions",
    "tracking", "introspection", "introspection-2",
]

# Tags of tests that need features Flotilla does not claim (README.md says why).
DENY_TAGS = [
    "needs:debug",            # DEBUG / OBJECT internals (encodings, reload, sleep, digests)
    "needs:repl",             # attaches to the Redis replication stream with SYNC
    "needs:save",             # SAVE / RDB files
    "needs:config-maxmemory",  # maxmemory limits and eviction policies
    "needs:pfdebug",          # PFDEBUG (HyperLogLog internals)
    "needs:latency",          # LATENCY monitor
    "needs:local-process",    # inspects the server process on this host
]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STATUS = re.compile(r"^\[(ok|err|exception|skip|ignore|TIMEOUT)\]:?\s?(.*)$")


def deb_src_ready():
    out = subprocess.run(["apt-cache", "showsrc", "redis"], capture_output=True, text=True)
    return out.returncode == 0 and "Package: redis" in out.stdout


def add_deb_src():
    """Add deb-src entries mirroring the machine's deb entries, then update."""
    if os.geteuid() != 0:
        sys.exit("no deb-src entry for `redis`; run as root once, or add a deb-src "
                 "line to /etc/apt/sources.list.d yourself and run apt-get update")
    target = "/etc/apt/sources.list.d/flotilla-deb-src.sources"
    stanzas = []
    for path in glob.glob("/etc/apt/sources.list.d/*.sources"):
        if path == target:
            continue
        with open(path) as f:
            for stanza in f.read().split("\n\n"):
                lines = stanza.strip().splitlines()
                types = [l for l in lines if l.lower().startswith("types:")]
                uris = [l for l in lines if l.lower().startswith("uris:")]
                if types and "deb" in types[0].split()[1:] and any(
                        "debian" in u for u in uris):
                    new = ["Types: deb-src" if l.lower().startswith("types:") else l
                           for l in lines if not l.lstrip().startswith("#")]
                    stanzas.append("\n".join(new))
    legacy = []
    for path in ["/etc/apt/sources.list"] + glob.glob("/etc/apt/sources.list.d/*.list"):
        if os.path.isfile(path):
            with open(path) as f:
                for line in f:
                    if line.startswith("deb ") and "debian" in line:
                        legacy.append("deb-src " + line[4:].strip())
    if stanzas:
        with open(target, "w") as f:
            f.write("\n\n".join(stanzas) + "\n")
    elif legacy:
        with open(target.replace(".sources", ".list"), "w") as f:
            f.write("\n".join(legacy) + "\n")
    else:
        sys.exit("could not find Debian apt sources to derive a deb-src entry from")
    cc.log("added deb-src entries; apt-get update")
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)


def ensure_suite(refresh=False):
    """Path of the unpacked redis source tree in the cache (fetched if absent)."""
    root = os.path.join(cc.cache_dir(), "redis-tcl")
    os.makedirs(root, exist_ok=True)
    trees = sorted(d for d in glob.glob(os.path.join(root, "redis-7.0*"))
                   if os.path.isfile(os.path.join(d, "tests", "test_helper.tcl")))
    if trees and not refresh:
        return trees[-1]
    if shutil.which("dpkg-source") is None:
        sys.exit("dpkg-source missing: apt-get install -y dpkg-dev")
    if not deb_src_ready():
        add_deb_src()
        if not deb_src_ready():
            subprocess.run(["apt-get", "update", "-q"], check=True,
                           stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="fetch-", dir=root)
    cc.log("fetching the Redis test suite: apt-get source redis")
    subprocess.run(["apt-get", "source", "-q", "redis"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    got = [d for d in glob.glob(os.path.join(work, "redis-*")) if os.path.isdir(d)]
    if len(got) != 1:
        sys.exit(f"apt-get source redis produced {got}")
    name = os.path.basename(got[0])
    if not name.startswith("redis-7.0"):
        sys.exit(f"expected the Redis 7.0 source (Debian 12), got {name}")
    dest = os.path.join(root, name)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(got[0], dest)
    shutil.rmtree(work, ignore_errors=True)
    cc.log(f"suite cached at {dest}")
    return dest


def relax_harness(tests_dir):
    """The external-mode harness runs FUNCTION FLUSH before every test block.
    In the private copy that call may fail without ending the unit (a leftover
    from before Flotilla offered functions; it answers FUNCTION FLUSH now)."""
    path = os.path.join(tests_dir, "support", "server.tcl")
    with open(path) as f:
        text = f.read()
    old = "    r function flush\n"
    if old not in text:
        cc.log("warning: FUNCTION FLUSH call not found in the harness; left as is")
        return
    with open(path, "w") as f:
        f.write(text.replace(old, "    catch {r function flush}\n", 1))


class UnitResult:
    def __init__(self):
        self.ok = 0
        self.err = 0
        self.exception = 0
        self.skipped = 0   # [skip] and [ignore]
        self.timeout = False
        self.failed_names = []
        self.note = ""
        self.seconds = 0.0

    @property
    def failed(self):
        return self.err + self.exception + (1 if self.timeout else 0)

    def as_dict(self):
        return {"passed": self.ok, "failed": self.failed, "err": self.err,
                "exception": self.exception, "skipped": self.skipped,
                "timeout": self.timeout, "note": self.note,
                "seconds": round(self.seconds, 1), "failed_tests": self.failed_names}


def harness_port_taken(log_path):
    """Whether the unit never ran because the Tcl harness could not listen on its port."""
    try:
        with open(log_path, errors="replace") as f:
            return "couldn't open socket: address already in use" in f.read()
    except OSError:
        return False


def run_unit(workdir, unit, port, args, log_path):
    res = UnitResult()
    tclsh = shutil.which("tclsh") or sys.exit("tclsh missing: apt-get install -y tcl")
    cmd = [
        tclsh, "tests/test_helper.tcl",
        "--host", "127.0.0.1", "--port", str(port),
        "--single", f"unit/{unit}",
        "--clients", "1",
        # --durable: an unexpected error reply fails that test instead of
        # aborting the rest of the unit.
        "--durable",
        # Idle timeout inside the harness: no test progress for this long ends
        # the unit (a hung reply would otherwise block forever).
        "--timeout", str(args.idle_timeout),
        # The harness listens for its test clients just below --baseport and may start
        # servers on the 8000 ports above it: keep all of that under Linux's ephemeral range
        # (32768 and up), where a port it found free can be taken by some outgoing
        # connection before it binds it ("couldn't open socket: address already in use").
        "--baseport", str(random.randint(20000, 24000)),
        "--tags", " ".join("-" + t for t in DENY_TAGS),
    ]
    env = dict(os.environ, TERM="dumb")

    def on_line(line):
        if line is None:
            return None
        m = STATUS.match(ANSI.sub("", line).strip())
        if not m:
            return None
        kind, rest = m.groups()
        if kind == "ok":
            res.ok += 1
        elif kind == "err":
            res.err += 1
            res.failed_names.append(rest)
        elif kind == "exception":
            res.exception += 1
            res.failed_names.append("EXCEPTION: " + rest)
            res.note = "exception: " + rest.replace("Executing test client: ", "")[:60]
        elif kind in ("skip", "ignore"):
            res.skipped += 1
        elif kind == "TIMEOUT":
            res.timeout = True
            res.note = f"no progress for {args.idle_timeout}s"
        return None

    start = time.monotonic()
    rc, reason = cc.run_group(cmd, workdir, env, args.unit_timeout, on_line, log_path)
    res.seconds = time.monotonic() - start
    if reason:
        res.timeout = True
        res.note = reason
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", help="comma-separated units (default: all %d)" % len(DEFAULT_UNITS))
    ap.add_argument("--no-redis", action="store_true", help="skip the redis-server reference run")
    ap.add_argument("--server", help="Flotilla binary (default target/release/flotilla)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for the Flotilla command line (repeatable)")
    ap.add_argument("--fsync", default="everysec",
                    help="Flotilla's --fsync mode for the run (default everysec, Redis's "
                         "appendfsync default; 'default' passes no --fsync flag)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a unit's Flotilla pass count is below baseline.json")
    ap.add_argument("--update-baseline", action="store_true",
                    help="raise baseline.json floors to the current counts (never lowers)")
    ap.add_argument("--unit-timeout", type=int, default=300,
                    help="wall-clock seconds per unit and server (default 300)")
    ap.add_argument("--idle-timeout", type=int, default=120,
                    help="seconds without test progress before the harness gives up a unit")
    ap.add_argument("--show-failures", action="store_true",
                    help="list the failing Flotilla tests of each unit")
    ap.add_argument("--refresh", action="store_true", help="fetch the suite again")
    ap.add_argument("--strict-harness", action="store_true",
                    help="run the harness unmodified (FUNCTION FLUSH must succeed)")
    args = ap.parse_args()

    units = [u.strip() for u in args.units.split(",")] if args.units else DEFAULT_UNITS
    server_path = cc.resolve_server(args.server)
    t0 = time.monotonic()
    tree = ensure_suite(args.refresh)
    for u in units:
        if not os.path.isfile(os.path.join(tree, "tests", "unit", u + ".tcl")):
            sys.exit(f"unknown unit {u}")

    # A private copy of tests/ so concurrent runs never share tests/tmp.
    run_dir = tempfile.mkdtemp(prefix="tcl-run-", dir=cc.cache_dir())
    shutil.copytree(os.path.join(tree, "tests"), os.path.join(run_dir, "tests"))
    if not args.strict_harness:
        relax_harness(os.path.join(run_dir, "tests"))
    logs_dir = os.path.join(cc.cache_dir(), "results", "tcl-logs")
    os.makedirs(logs_dir, exist_ok=True)
    cc.log(f"suite {os.path.basename(tree)}; server {server_path}; logs in {logs_dir}")

    targets = [("flotilla", server_path)]
    if not args.no_redis:
        targets.append(("redis", shutil.which("redis-server")
                        or sys.exit("redis-server missing (or pass --no-redis)")))
    results = {t: {} for t, _ in targets}
    try:
        for unit in units:
            for target, path in targets:
                extra = cc.flotilla_args(args) if target == "flotilla" else []
                srv = cc.Server(target, path, extra)
                log_path = os.path.join(logs_dir, f"{target}-{unit.replace('/', '_')}.log")
                try:
                    srv.start()
                except RuntimeError as e:
                    r = UnitResult()
                    r.note = "server did not start"
                    results[target][unit] = r
                    cc.log(f"{target:8} {unit:14} server did not start: {e}")
                    continue
                try:
                    r = run_unit(run_dir, unit, srv.port, args, log_path)
                    if r.ok == 0 and r.failed == 0 and harness_port_taken(log_path):
                        cc.log(f"{target} {unit}: the harness's own port was taken; running it again")
                        r = run_unit(run_dir, unit, srv.port, args, log_path)
                    if not srv.alive():
                        r.note = (r.note + "; " if r.note else "") + \
                            f"server exited ({srv.proc.returncode})"
                        cc.log(f"{target} server died during {unit}; log tail:\n{srv.log_tail()}")
                finally:
                    srv.stop()
                results[target][unit] = r
                cc.log(f"{target:8} {unit:14} {r.ok:4} passed {r.failed:4} failed "
                       f"{r.skipped:3} skipped  {r.seconds:6.1f}s {r.note}")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)

    baseline = cc.load_baseline().get("redis-tcl", {})
    headers = ["unit", "flotilla ok", "flotilla fail", "redis ok", "redis fail",
               "skipped", "baseline", "secs f/r", "note"]
    rows = []
    tot = [0, 0, 0, 0]
    for unit in units:
        f = results["flotilla"][unit]
        r = results.get("redis", {}).get(unit)
        secs = f"{f.seconds:.0f}/{r.seconds:.0f}" if r else f"{f.seconds:.0f}/-"
        rows.append([unit, f.ok, f.failed, r.ok if r else "-", r.failed if r else "-",
                     f.skipped, baseline.get(unit, 0), secs, f.note])
        tot[0] += f.ok
        tot[1] += f.failed
        if r:
            tot[2] += r.ok
            tot[3] += r.failed
    rows.append(["TOTAL", tot[0], tot[1], tot[2] if len(targets) > 1 else "-",
                 tot[3] if len(targets) > 1 else "-", "", sum(baseline.get(u, 0) for u in units), "", ""])
    cc.print_table("Redis 7.0 TCL suite (external mode), tests passed/failed per unit",
                   headers, rows)
    if args.show_failures:
        for unit in units:
            names = results["flotilla"][unit].failed_names
            if names:
                print(f"flotilla failures in {unit}:")
                for n in names:
                    print("   ", n)
    path = cc.write_results("tcl.json", {
        t: {u: res.as_dict() for u, res in per.items()} for t, per in results.items()})
    cc.log(f"details in {path}; took {time.monotonic() - t0:.0f}s")

    counts = {u: results["flotilla"][u].ok for u in units}
    regressions = cc.check_and_update("redis-tcl", counts, args.check, args.update_baseline)
    if args.check and regressions:
        sys.exit(1)


if __name__ == "__main__":
    main()
