"""Shared pieces of the compatibility runners: cache location, server
lifecycle (Flotilla and the redis-server reference), baseline file, tables.

Third-party suites are fetched at run time into the cache directory, which
lives outside the git checkout by default (~/.cache/flotilla-compat, or
$FLOTILLA_COMPAT_CACHE).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
BASELINE_PATH = os.path.join(HERE, "baseline.json")
DEFAULT_SERVER = os.path.join(REPO_ROOT, "target", "release", "flotilla")


def log(msg):
    """Progress line with a UTC timestamp, flushed at once (CI reads it live)."""
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", flush=True)


def cache_dir():
    path = os.environ.get("FLOTILLA_COMPAT_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "flotilla-compat"
    )
    os.makedirs(path, exist_ok=True)
    return path


def free_port():
    """A TCP port that is free right now on 127.0.0.1 (and whose +10000 peer
    port is free too, since Flotilla may bind one)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair found")


def _send_command(port, *args, timeout=2.0):
    """Send one RESP command and return the first reply line (or None)."""
    payload = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        payload += b"$%d\r\n%s\r\n" % (len(b), b)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(payload)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    except OSError:
        return None


class ServerExitedAtStart(RuntimeError):
    """The server process ended before it answered (for one, it could not bind its port)."""


class Server:
    """One server process on a free port with its own temporary directory.

    kind is "flotilla" (launched as `PATH --port P --dir DIR [extra args]`,
    the project's launch contract) or "redis" (Debian's redis-server with
    persistence off).
    """

    def __init__(self, kind, path=None, extra_args=(), label=None):
        self.kind = kind
        self.path = path
        self.extra_args = list(extra_args)
        self.label = label or kind
        self.proc = None
        self.port = None
        self.tmpdir = None
        self.logfile = None

    def start(self, ready_timeout=30.0, attempts=3):
        # free_port's port is free when it answers, but in Linux's ephemeral range an outgoing
        # connection can take it before the server binds it; the server then exits at start,
        # and another port is tried.
        for attempt in range(attempts):
            try:
                return self._start_once(ready_timeout)
            except ServerExitedAtStart:
                if attempt == attempts - 1:
                    raise
                log(f"{self.label} exited at start on port {self.port}; trying another port")

    def _start_once(self, ready_timeout):
        self.launch(free_port())
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = (f"{self.label} exited with code {self.proc.returncode} at start:\n"
                       + self.log_tail())
                self.stop()
                raise ServerExitedAtStart(msg)
            if _send_command(self.port, "PING", timeout=1.0) == "+PONG":
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.label} did not answer PING within {ready_timeout}s")

    def launch(self, port):
        """Starts the process on `port` with a fresh data directory, without waiting for it."""
        self.port = port
        self.tmpdir = tempfile.mkdtemp(prefix=f"compat-{self.kind}-")
        data_dir = os.path.join(self.tmpdir, "data")
        os.makedirs(data_dir)
        if self.kind == "redis":
            cmd = [
                self.path or "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", data_dir,
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
            ]
        else:
            cmd = [self.path, "--port", str(self.port), "--dir", data_dir]
        cmd += self.extra_args
        self.logfile = os.path.join(self.tmpdir, "server.log")
        with open(self.logfile, "wb") as out:
            # Own session so the whole process group can be killed at stop.
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_note(self):
        """How a run notes that the server died."""
        return f"server exited ({self.proc.returncode})"

    def log_tail(self, lines=20):
        try:
            with open(self.logfile, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """SHUTDOWN NOSAVE first (the launch contract), then SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _send_command(self.port, "SHUTDOWN", "NOSAVE", timeout=2.0)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class FlotillaCluster:
    """A Flotilla cluster of `size` nodes on free ports, each with its own data directory,
    ready when every node's CLUSTER INFO says cluster_state:ok (the launch contract). `port`
    is the first node's; a cluster client finds the others from it."""

    def __init__(self, path, size=3, extra_args=(), label="flotilla-cluster"):
        self.path = path
        self.size = size
        self.extra_args = list(extra_args)
        self.label = label
        self.nodes = []
        self.port = None

    def start(self, ready_timeout=60.0):
        ports = []
        while len(ports) < self.size:
            port = free_port()
            if port not in ports:
                ports.append(port)
        members = ",".join(f"{i + 1}=127.0.0.1:{port}" for i, port in enumerate(ports))
        for i, port in enumerate(ports):
            node = Server("flotilla", self.path, [
                "--node-id", str(i + 1), "--initial-cluster", members, *self.extra_args,
            ], label=f"{self.label} node {i + 1}")
            node.launch(port)
            self.nodes.append(node)
        self.port = ports[0]
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                tails = "\n".join(n.log_tail() for n in self.nodes)
                self.stop()
                raise RuntimeError(f"{self.label}: a node exited at start:\n{tails}")
            if all(_cluster_state_ok(n.port) for n in self.nodes):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.label}: not cluster_state:ok within {ready_timeout}s")

    def alive(self):
        return bool(self.nodes) and all(n.alive() for n in self.nodes)

    def log_tail(self, lines=20):
        return "\n".join(f"--- {n.label}\n{n.log_tail(lines)}" for n in self.nodes)

    def exit_note(self):
        return "a node exited"

    def stop(self):
        for node in self.nodes:
            node.stop()


def _cluster_state_ok(port):
    """Whether CLUSTER INFO on `port` says cluster_state:ok."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
            s.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
            data = b""
            while b"cluster_state:" not in data or not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return b"cluster_state:ok" in data
    except OSError:
        return False


def flotilla_args(args):
    """Extra Flotilla arguments: --fsync (unless 'default') then --server-arg."""
    extra = [] if args.fsync == "default" else ["--fsync", args.fsync]
    return extra + list(args.server_arg)


def resolve_server(path):
    """Absolute path of the Flotilla binary, or exit with a clear message."""
    path = os.path.abspath(path or DEFAULT_SERVER)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit(f"server binary not found or not executable: {path} "
                 "(run `cargo build --release`, or pass --server PATH)")
    return path


def run_group(cmd, cwd, env, wall_timeout, on_line=None, log_path=None, append=False):
    """Run cmd in its own process group, streaming its output lines to
    on_line. The whole group is killed after wall_timeout seconds, or when
    on_line returns the string "abort". Returns (exit code or None, reason)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + wall_timeout
    reason = None
    logf = open(log_path, "ab" if append else "wb") if log_path else None
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = f"wall-clock timeout ({wall_timeout}s)"
                break
            if not sel.select(timeout=min(remaining, 1.0)):
                if proc.poll() is not None:
                    break
                if on_line and on_line(None) == "abort":
                    reason = "aborted: server looks hung"
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            if logf:
                logf.write(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            stop = False
            for raw in lines:
                if on_line and on_line(raw.decode("utf-8", "replace")) == "abort":
                    reason = "aborted: server looks hung"
                    stop = True
                    break
            if stop:
                break
    finally:
        if buf and on_line:
            on_line(buf.decode("utf-8", "replace"))
        sel.close()
        if logf:
            logf.close()
    if proc.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
    else:
        # The leader exited; children it left behind (tclsh test clients)
        # still belong to the group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.stdout.close()
    return proc.returncode, reason


def load_baseline():
    try:
        with open(BASELINE_PATH) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save_baseline(data):
    with open(BASELINE_PATH, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def check_and_update(section, counts, check, update):
    """Compare counts (name -> Flotilla pass count) against the baseline
    section. Returns a list of regression messages. With update, raises the
    floors to the current counts (never lowers them) and writes the file."""
    baseline = load_baseline()
    floors = baseline.setdefault(section, {})
    regressions = []
    for name, got in counts.items():
        floor = floors.get(name, 0)
        if got < floor:
            regressions.append(f"{section} {name}: {got} passed, baseline {floor}")
    if update:
        changed = False
        for name, got in counts.items():
            if got > floors.get(name, 0) or name not in floors:
                floors[name] = max(got, floors.get(name, 0))
                changed = True
        if changed:
            save_baseline(baseline)
            log(f"baseline {section} updated in {os.path.relpath(BASELINE_PATH, REPO_ROOT)}")
    if check:
        if regressions:
            for r in regressions:
                log("REGRESSION " + r)
        else:
            log(f"{section}: every Flotilla count is at or above its baseline")
    return regressions


def print_table(title, headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}", flush=True)
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print(flush=True)


def write_results(name, data):
    """Per-run details (failing test names, logs) go to the cache, not git."""
    out_dir = os.path.join(cache_dir(), "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
    return path
