#!/usr/bin/env python3
"""Runs redis-py's own test suite (sdist from PyPI, fetched into the cache at
run time, with its test requirements in a venv there) against Flotilla in
RESP2 and RESP3, and the same against Debian's redis-server as reference.

Only the test files that talk to a standalone server are run; cluster,
sentinel, module, SSL and replica tests are deselected by marker. With
--cluster-protocols, redis-py's cluster tests (and the files above, through its
cluster client) also run against a 3-node Flotilla cluster. See
compat-tests/README.md.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compat_common as cc  # noqa: E402

REDIS_PY_VERSION = "8.1.0"

# Test files that exercise a live standalone server (the rest of the suite is
# mostly mocked unit tests, cluster or sentinel tests).
TEST_FILES = [
    "test_commands.py", "test_pipeline.py", "test_pubsub.py", "test_lock.py",
    "test_scripting.py", "test_function.py", "test_keyspace_notifications.py",
    "test_encoding.py", "test_connection.py", "test_connection_pool.py",
    "test_monitor.py", "test_multiprocessing.py", "test_cache.py", "test_hash.py",
]

MARKERS = ("not onlycluster and not redismod and not ssl and not replica "
           "and not cp_integration and not multidb_integration and not experimental")

# Against a Flotilla cluster (`--cluster-protocols`): redis-py's cluster tests and the files
# above that run under a cluster client (MONITOR, the multiprocessing and client-side cache
# files are left out: they address one node), with the tests marked for clusters.
CLUSTER_TEST_FILES = ["test_cluster.py"] + [
    f for f in TEST_FILES if f not in ("test_monitor.py", "test_multiprocessing.py", "test_cache.py")
]
CLUSTER_MARKERS = ("not onlynoncluster and not redismod and not ssl and not replica "
                   "and not cp_integration and not multidb_integration and not experimental")
CLUSTER_NODES = 3

# Linters, packaging and profiling tools from dev_requirements.txt that the
# tests do not import.
SKIP_REQUIREMENTS = {"ruff", "vulture", "build", "invoke", "click", "pytest-cov",
                     "pytest-profiling"}

CONSTRAINTS = os.path.join(cc.HERE, "redis-py-constraints.txt")

RESULT = re.compile(r"^(tests/\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?:\s|$)")
# `-v` prints a test's node id when it starts; the status follows on the same line.
STARTED = re.compile(r"^(tests/\S+::\S+)")
# pytest's closing line; without it the session died (os._exit from a timeout).
SUMMARY = re.compile(r"^=+ .*\bin [0-9.]+s\b.*=+$")


def ensure_suite(refresh=False):
    """(source tree, venv python) in the cache, created if absent."""
    root = os.path.join(cc.cache_dir(), "redis-py")
    os.makedirs(root, exist_ok=True)
    tree = os.path.join(root, f"redis-{REDIS_PY_VERSION}")
    venv = os.path.join(root, f"venv-{REDIS_PY_VERSION}")
    ready = os.path.join(venv, ".flotilla-ready")
    py = os.path.join(venv, "bin", "python")
    if refresh:
        shutil.rmtree(tree, ignore_errors=True)
        shutil.rmtree(venv, ignore_errors=True)
    with open(CONSTRAINTS) as f:
        pins = f.read()
    try:
        with open(ready) as f:
            installed_pins = f.read()
    except OSError:
        installed_pins = None
    if not os.path.isfile(py):
        # The venv's own pip does the download too, so the system Python
        # needs only the venv module.
        cc.log(f"creating test venv {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    if not os.path.isfile(os.path.join(tree, "tests", "conftest.py")):
        work = tempfile.mkdtemp(prefix="fetch-", dir=root)
        cc.log(f"fetching redis-py {REDIS_PY_VERSION} sdist from PyPI")
        subprocess.run(pip + ["download", "-q", "--no-deps", "--no-binary", ":all:",
                              f"redis=={REDIS_PY_VERSION}", "-d", work], check=True)
        sdist = glob.glob(os.path.join(work, "redis-*.tar.gz"))[0]
        with tarfile.open(sdist) as tf:
            try:
                tf.extractall(work, filter="data")
            except TypeError:  # Python before 3.11.4 has no extraction filters
                tf.extractall(work)
        shutil.rmtree(tree, ignore_errors=True)
        os.rename(os.path.join(work, f"redis-{REDIS_PY_VERSION}"), tree)
        shutil.rmtree(work, ignore_errors=True)
    if installed_pins != pins:
        reqs = []
        with open(os.path.join(tree, "dev_requirements.txt")) as f:
            for line in f:
                line = line.strip()
                name = re.split(r"[<>=~!; \[]", line, maxsplit=1)[0].lower()
                if line and not line.startswith("#") and name not in SKIP_REQUIREMENTS:
                    reqs.append(line)
        req_file = os.path.join(venv, "requirements.txt")
        with open(req_file, "w") as f:
            f.write("\n".join(reqs) + "\n")
        cc.log("installing the suite's test requirements into the venv")
        subprocess.run(pip + ["install", "-q", "-r", req_file, "-c", CONSTRAINTS], check=True)
        with open(ready, "w") as f:
            f.write(pins)
    return tree, py


class Outcome:
    def __init__(self):
        self.status = {}        # nodeid -> final status
        self.note = ""
        self.seconds = 0.0

    def record(self, nodeid, status):
        prev = self.status.get(nodeid)
        # A teardown ERROR after PASSED makes the test a failure.
        if prev in ("FAILED", "ERROR"):
            return
        self.status[nodeid] = status

    def count(self, *kinds):
        return sum(1 for s in self.status.values() if s in kinds)

    @property
    def passed(self):
        return self.count("PASSED", "XPASS")

    @property
    def failed(self):
        return self.count("FAILED", "ERROR")

    @property
    def skipped(self):
        return self.count("SKIPPED", "XFAIL")

    def as_dict(self):
        return {"passed": self.passed, "failed": self.failed, "skipped": self.skipped,
                "note": self.note, "seconds": round(self.seconds, 1),
                "failed_tests": sorted(k for k, v in self.status.items()
                                       if v in ("FAILED", "ERROR"))}


def run_protocol(tree, py, port, protocol, args, log_path, cluster=False):
    """Runs the files under pytest, restarting it past a test that killed the
    whole session (pytest-timeout's thread method, which some redis-py tests
    select, ends the process), so one hung test does not lose the rest.
    cluster: `port` is a node of a cluster, and the cluster files run."""
    names = CLUSTER_TEST_FILES if cluster else TEST_FILES
    files = [os.path.join("tests", f) for f in names]
    if args.asyncio:
        files += [os.path.join("tests", "test_asyncio", f) for f in names
                  if os.path.isfile(os.path.join(tree, "tests", "test_asyncio", f))]
    url = f"redis://127.0.0.1:{port}/0"
    cluster_args = ["--redis-cluster-nodes", str(CLUSTER_NODES)] if cluster else []
    base_cmd = [py, "-m", "pytest", *files,
                "--redis-url", url, "--redis-mod-url", url, *cluster_args,
                "--protocol", str(protocol),
                "-m", CLUSTER_MARKERS if cluster else MARKERS,
                "-o", "addopts=", "-p", "no:cacheprovider",
                f"--timeout={args.test_timeout}",
                "-v", "--tb=no", "--color=no", "-W", "ignore"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = Outcome()
    state = {"last": time.monotonic(), "slow_streak": 0, "current": None}

    def on_line(line):
        now = time.monotonic()
        if line is not None:
            if line.startswith("INTERNALERROR>") and "Error" in line:
                state["internal"] = line[len("INTERNALERROR>"):].strip()
            m = RESULT.match(line)
            if m:
                gap = now - state["last"]
                state["last"] = now
                state["current"] = None
                # Consecutive results that each took the per-test timeout
                # mean the server stopped answering.
                state["slow_streak"] = state["slow_streak"] + 1 \
                    if gap >= args.test_timeout - 1 else 0
                out.record(m.group(1), m.group(2))
                if state["slow_streak"] >= 10:
                    return "abort"
            elif SUMMARY.match(line):
                state["finished"] = True
            else:
                started = STARTED.match(line)
                if started:
                    state["current"] = started.group(1)
            return None
        if now - state["last"] > args.test_timeout + 60:
            return "abort"
        return None

    start = time.monotonic()
    deadline = start + args.protocol_timeout
    restarts = 0
    open(log_path, "wb").close()
    while True:
        cmd = list(base_cmd)
        for nodeid in out.status:
            cmd += ["--deselect", nodeid]
        before = len(out.status)
        state["current"] = None
        state["finished"] = False
        state["last"] = time.monotonic()
        remaining = max(1, int(deadline - time.monotonic()))
        rc, reason = cc.run_group(cmd, tree, env, remaining, on_line, log_path, append=True)
        if reason or (rc in (0, 1, 5) and state["finished"]):
            break
        # The session died inside a test: count that test as failed and go on
        # after it, as long as this pass made progress and time is left.
        if state["current"]:
            out.record(state["current"], "FAILED")
        if len(out.status) == before or time.monotonic() > deadline - 30 or restarts >= 20:
            break
        restarts += 1
        cc.log(f"  pytest exited ({rc}) in {state['current']}; continuing after it")
    out.seconds = time.monotonic() - start
    if reason:
        out.note = reason
    elif rc not in (0, 1, 5) or not state["finished"]:
        out.note = f"pytest exit code {rc}"
        if state.get("internal"):
            out.note += ": " + state["internal"][:80]
    if restarts:
        out.note = (out.note + "; " if out.note else "") + f"{restarts} session restart(s)"
    return out


def run_on(srv, name, tree, py, proto, args, log_path, cluster=False):
    """Starts `srv` (a cc.Server, or a cc.FlotillaCluster with `cluster`), runs the suite
    against it in RESP`proto`, stops it, and returns the Outcome (noted when the server did
    not start or died during the run)."""
    cc.log(f"{name} RESP{proto}: running")
    try:
        srv.start()
    except RuntimeError as e:
        o = Outcome()
        o.note = "server did not start"
        cc.log(f"{name} RESP{proto}: server did not start: {e}")
        return o
    try:
        o = run_protocol(tree, py, srv.port, proto, args, log_path, cluster=cluster)
        if not srv.alive():
            o.note = (o.note + "; " if o.note else "") + srv.exit_note()
            cc.log(f"{name} server died; log tail:\n{srv.log_tail()}")
    finally:
        srv.stop()
    cc.log(f"{name:8} RESP{proto} {o.passed:5} passed {o.failed:5} failed "
           f"{o.skipped:5} skipped  {o.seconds:6.1f}s {o.note}")
    return o


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocols", default="2,3", help="RESP versions to run (default 2,3)")
    ap.add_argument("--cluster-protocols", default="",
                    help="RESP versions to run against a 3-node Flotilla cluster with the "
                         "cluster tests (e.g. 2; default none; no redis-server reference)")
    ap.add_argument("--no-redis", action="store_true", help="skip the redis-server reference run")
    ap.add_argument("--server", help="Flotilla binary (default target/release/flotilla)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for the Flotilla command line (repeatable)")
    ap.add_argument("--fsync", default="everysec",
                    help="Flotilla's --fsync mode for the run (default everysec, Redis's "
                         "appendfsync default; 'default' passes no --fsync flag)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a protocol's Flotilla pass count is below baseline.json")
    ap.add_argument("--update-baseline", action="store_true",
                    help="raise baseline.json floors to the current counts (never lowers)")
    ap.add_argument("--protocol-timeout", type=int, default=600,
                    help="wall-clock seconds per protocol and server (default 600)")
    ap.add_argument("--test-timeout", type=int, default=15,
                    help="pytest-timeout seconds per test (default 15)")
    ap.add_argument("--asyncio", action="store_true",
                    help="also run the asyncio variants of the test files")
    ap.add_argument("--show-failures", action="store_true",
                    help="list the failing Flotilla tests")
    ap.add_argument("--refresh", action="store_true", help="fetch the suite and venv again")
    args = ap.parse_args()

    protocols = [int(p) for p in args.protocols.split(",") if p]
    cluster_protocols = [int(p) for p in args.cluster_protocols.split(",") if p]
    server_path = cc.resolve_server(args.server)
    t0 = time.monotonic()
    tree, py = ensure_suite(args.refresh)
    logs_dir = os.path.join(cc.cache_dir(), "results", "redis-py-logs")
    os.makedirs(logs_dir, exist_ok=True)
    cc.log(f"redis-py {REDIS_PY_VERSION}; server {server_path}; logs in {logs_dir}")

    targets = [("flotilla", server_path)]
    if not args.no_redis:
        targets.append(("redis", shutil.which("redis-server")
                        or sys.exit("redis-server missing (or pass --no-redis)")))
    results = {t: {} for t, _ in targets}
    for proto in protocols:
        for target, path in targets:
            extra = cc.flotilla_args(args) if target == "flotilla" else []
            log_path = os.path.join(logs_dir, f"{target}-resp{proto}.log")
            results[target][proto] = run_on(cc.Server(target, path, extra), target, tree, py,
                                            proto, args, log_path)

    cluster_results = {}
    for proto in cluster_protocols:
        srv = cc.FlotillaCluster(server_path, CLUSTER_NODES, cc.flotilla_args(args))
        log_path = os.path.join(logs_dir, f"flotilla-resp{proto}-cluster.log")
        cluster_results[proto] = run_on(srv, "flotilla cluster", tree, py, proto, args, log_path,
                                        cluster=True)

    baseline = cc.load_baseline().get("redis-py", {})
    headers = ["protocol", "flotilla ok", "flotilla fail", "flotilla skip",
               "redis ok", "redis fail", "redis skip", "baseline", "note"]
    rows = []
    for proto in protocols:
        f = results["flotilla"][proto]
        r = results.get("redis", {}).get(proto)
        rows.append([f"RESP{proto}", f.passed, f.failed, f.skipped,
                     r.passed if r else "-", r.failed if r else "-", r.skipped if r else "-",
                     baseline.get(f"resp{proto}", 0), f.note])
    for proto, f in cluster_results.items():
        rows.append([f"RESP{proto} cluster", f.passed, f.failed, f.skipped, "-", "-", "-",
                     baseline.get(f"resp{proto}-cluster", 0), f.note])
    cc.print_table(f"redis-py {REDIS_PY_VERSION} test suite, standalone (and cluster) tests",
                   headers, rows)
    if args.show_failures:
        for proto in protocols:
            print(f"flotilla failures, RESP{proto}:")
            for n in results["flotilla"][proto].as_dict()["failed_tests"]:
                print("   ", n)
        for proto, o in cluster_results.items():
            print(f"flotilla cluster failures, RESP{proto}:")
            for n in o.as_dict()["failed_tests"]:
                print("   ", n)
    details = {t: {f"resp{p}": o.as_dict() for p, o in per.items()} for t, per in results.items()}
    details["flotilla-cluster"] = {f"resp{p}": o.as_dict() for p, o in cluster_results.items()}
    path = cc.write_results("redis-py.json", details)
    cc.log(f"details in {path}; took {time.monotonic() - t0:.0f}s")

    counts = {f"resp{p}": results["flotilla"][p].passed for p in protocols}
    counts.update({f"resp{p}-cluster": o.passed for p, o in cluster_results.items()})
    regressions = cc.check_and_update("redis-py", counts, args.check, args.update_baseline)
    if args.check and regressions:
        sys.exit(1)


if __name__ == "__main__":
    main()
