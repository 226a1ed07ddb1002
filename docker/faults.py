#!/usr/bin/env python3
"""Fault injection on a Flotilla cluster whose nodes are separate hosts (Docker containers on a
private network), under load, with a check that nothing acknowledged is lost or read stale.

    bash docker/build-image.sh                 # the image, flotilla:dev
    python3 docker/faults.py                   # every fault, 3 nodes
    python3 docker/faults.py --faults partition-leader,one-way-cut --nodes 5
    python3 docker/faults.py --cluster-protocol    # -MOVED followed instead of forwarding

Each node runs in its own container with its own address. Faults:

- kill-leader       docker kill (SIGKILL) of the leader, restarted after the hold time
- pause-leader      docker pause (cgroup freezer) of the leader, resumed after the hold time
- partition-leader  the leader cut off from every other node, both ways (iptables in the
                    leader's network namespace); clients still reach it
- one-way-cut       the leader hears nothing from the other nodes, but they still hear it
- follower-cut      one follower cut off both ways
- wipe-follower     SAVE on the leader (a snapshot, which purges its log), then a follower's
                    container removed with its data and created again empty (same id and
                    address): it is rebuilt from the leader's snapshot
- rolling-restart   every node stopped cleanly (docker restart: SIGTERM, so a leader hands
                    over first) and started again in turn, followers first, the leader last
- kill-two          the leader and a follower killed at once (5 nodes or more; not in the
                    default list)

During every fault, writers SET unique keys through every node (each acknowledged one is
recorded; `-UNCERTAIN`, timeouts and dropped connections are "unknown"; `-TRYAGAIN` and other
definite errors are "not done"), one client INCRs a counter, and readers GET that counter
through every node. At the end, with the faults healed:

- every acknowledged SET is read back with its value through every node (linearizable reads
  through any node when they forward; with --cluster-protocol, each node's own copy once every
  node's DBSIZE agrees),
- every SET answered with a definite error is absent, every unknown one absent or complete,
- no read of the counter returned less than a value acknowledged before the read started
  (a stale read from a deposed leader),
- every node holds the same number of keys (READONLY, its local copy).

Only the project's own containers and the host's side of their network are addressed.
Exit status 0 when every check passed.
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time

IMAGE = "flotilla:dev"
CLIENT_PORT = 6379


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def docker(*args, check=True, capture=True):
    result = subprocess.run(["docker", *args], capture_output=capture, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip() if capture else ""


class RespError(Exception):
    pass


def encode_command(args):
    """One request as a RESP multibulk."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Client:
    """A minimal RESP2 client: one connection, one request at a time."""

    def __init__(self, host, port=CLIENT_PORT, timeout=2.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("rb")

    def close(self):
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass

    def call(self, *args, redirects=3):
        """Sends a command; a `-MOVED slot host:port` (the Redis Cluster protocol) is followed
        on a connection of its own, as a cluster client does, up to `redirects` times."""
        try:
            return self.call_here(*args)
        except RespError as error:
            if not str(error).startswith("MOVED ") or redirects == 0:
                raise
            host, port = str(error).split()[2].rsplit(":", 1)
            other = Client(host, int(port), timeout=self.sock.gettimeout())
            try:
                return other.call(*args, redirects=redirects - 1)
            finally:
                other.close()

    def call_here(self, *args):
        self.sock.sendall(encode_command(args))
        return self._reply()

    def pipeline(self, commands):
        """Sends every command in one write, then reads every reply (an error reply is
        returned as a RespError, not raised)."""
        self.sock.sendall(b"".join(encode_command(args) for args in commands))
        replies = []
        for _ in commands:
            try:
                replies.append(self._reply())
            except RespError as error:
                replies.append(error)
        return replies

    def _reply(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            data = self.reader.read(length + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ConnectionError(f"unexpected reply {line!r}")


class Cluster:
    def __init__(self, nodes, image, hold, cluster_protocol=False):
        self.nodes = nodes
        self.cluster_protocol = cluster_protocol
        self.image = image
        self.hold = hold
        self.prefix = f"flotilla-faults-{os.getpid()}"
        self.network = self.prefix
        self.subnet = None
        self.ips = {}

    def create(self):
        # A private subnet no other network on this host uses.
        for _ in range(20):
            octet = random.randint(100, 250)
            subnet = f"172.30.{octet}.0/24"
            result = subprocess.run(
                ["docker", "network", "create", "--subnet", subnet, self.network],
                capture_output=True, text=True)
            if result.returncode == 0:
                self.subnet = subnet
                break
        else:
            raise RuntimeError("no free subnet for the test network")
        base = self.subnet.rsplit(".", 1)[0]
        self.ips = {i: f"{base}.{10 + i}" for i in range(1, self.nodes + 1)}
        for i in self.ips:
            self.start_node(i)
        log(f"network {self.network} {self.subnet}; nodes "
            + ", ".join(f"{i}={ip}" for i, ip in self.ips.items()))

    def container(self, i):
        return f"{self.prefix}-n{i}"

    def start_node(self, i):
        members = ",".join(f"{j}={ip}:{CLIENT_PORT}" for j, ip in self.ips.items())
        docker("run", "-d", "--name", self.container(i), "--hostname", f"n{i}",
               "--network", self.network, "--ip", self.ips[i], self.image,
               "--port", str(CLIENT_PORT), "--node-id", str(i), "--initial-cluster", members,
               "--cluster-enabled", "yes" if self.cluster_protocol else "no", "--log", "info")

    def destroy(self):
        for i in self.ips:
            docker("rm", "-f", "-v", self.container(i), check=False)
        docker("network", "rm", self.network, check=False)

    def pid(self, i):
        return docker("inspect", "-f", "{{.State.Pid}}", self.container(i))

    def iptables(self, i, *rule):
        """Runs an iptables command inside node i's network namespace (from the host: the
        image has no shell or tools)."""
        subprocess.run(["nsenter", "-t", self.pid(i), "-n", "iptables", *rule], check=True)

    def drop_from(self, i, sources):
        for source in sources:
            self.iptables(i, "-I", "INPUT", "-s", self.ips[source], "-j", "DROP")

    def drop_to(self, i, targets):
        for target in targets:
            self.iptables(i, "-I", "OUTPUT", "-d", self.ips[target], "-j", "DROP")

    def heal(self, i):
        self.iptables(i, "-F", "INPUT")
        self.iptables(i, "-F", "OUTPUT")

    def ask(self, i, *args):
        """One command to node i itself (no redirect followed) on a connection of its own; its
        text, or None when the node does not answer or answers an error."""
        try:
            client = Client(self.ips[i], timeout=1.0)
            try:
                return client.call_here(*args).decode()
            finally:
                client.close()
        except (OSError, RespError, ConnectionError):
            return None

    def raft_field(self, i, name):
        """A field of node i's data group line in INFO flotilla_raft (None when unreachable)."""
        info = self.ask(i, "INFO", "flotilla_raft")
        if info is None:
            return None
        for field in info.replace(":", ",").split(","):
            if field.strip().startswith(name + "="):
                return field.strip().split("=", 1)[1]
        return None

    def role(self, i):
        return self.raft_field(i, "role")

    def cluster_state(self, i):
        """`cluster_state` of node i's CLUSTER INFO (the Redis Cluster protocol only)."""
        info = self.ask(i, "CLUSTER", "INFO")
        if info is None:
            return None
        for line in info.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return None

    def expect_cluster_down_on(self, i):
        """With the cluster protocol on, a leader cut off from the majority must say so in
        CLUSTER INFO (cluster_state:fail) within a few seconds, though it keeps its role."""
        if not self.cluster_protocol:
            return
        deadline = time.time() + 5
        while self.cluster_state(i) != "fail":
            if time.time() > deadline:
                raise RuntimeError(f"node {i}, cut off, still says cluster_state:{self.cluster_state(i)}")
            time.sleep(0.1)
        log(f"  node {i} says cluster_state:fail (role {self.role(i)})")

    def leader(self, exclude=(), timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i in self.ips:
                if i not in exclude and self.role(i) == "leader":
                    return i
            time.sleep(0.1)
        raise RuntimeError("no leader elected")

    def logs(self, i, tail=40):
        return docker("logs", "--tail", str(tail), self.container(i), check=False)


class Load:
    """Writers, a counter and readers running against the cluster until stopped."""

    def __init__(self, cluster, writers=4, readonly_readers=False):
        self.cluster = cluster
        self.readonly_readers = readonly_readers
        self.writers = writers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}        # key -> value
        self.not_done = set()  # keys answered with a definite error
        self.unknown = {}      # key -> value
        self.counter_acks = []  # (monotonic time of the reply, value)
        self.reads = []        # (monotonic time the read was sent, node, value)
        self.threads = []
        self.errors = {}

    def note_error(self, text):
        kind = text.split()[0] if text else "?"
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def start(self):
        nodes = list(self.cluster.ips)
        for w in range(self.writers):
            self.threads.append(threading.Thread(target=self.writer, args=(w, nodes[w % len(nodes)]), daemon=True))
        self.threads.append(threading.Thread(target=self.counter, daemon=True))
        for i in nodes:
            self.threads.append(threading.Thread(target=self.reader, args=(i,), daemon=True))
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def connect(self, i, timeout=2.0):
        try:
            return Client(self.cluster.ips[i], timeout=timeout)
        except OSError:
            time.sleep(0.1)
            return None

    def writer(self, w, first):
        nodes = list(self.cluster.ips)
        node = first
        client = None
        seq = 0
        while not self.stop.is_set():
            if client is None:
                client = self.connect(node)
                if client is None:
                    node = nodes[(nodes.index(node) + 1) % len(nodes)]
                    continue
            key = f"w{w}:{seq}"
            value = f"v{seq}-{random.getrandbits(32):08x}"
            seq += 1
            try:
                reply = client.call("SET", key, value)
                with self.lock:
                    if reply == "OK":
                        self.acked[key] = value
                    else:
                        self.unknown[key] = value
            except RespError as error:
                self.note_error(str(error))
                # -UNCERTAIN: it may have been applied. Anything else is a definite "not done".
                with self.lock:
                    if str(error).startswith("UNCERTAIN"):
                        self.unknown[key] = value
                    else:
                        self.not_done.add(key)
                time.sleep(0.02)
            except (OSError, ConnectionError) as error:
                self.note_error(type(error).__name__)
                with self.lock:
                    self.unknown[key] = value
                client.close()
                client = None
                node = nodes[(nodes.index(node) + 1) % len(nodes)]
        if client:
            client.close()

    def counter(self):
        nodes = list(self.cluster.ips)
        node = nodes[0]
        client = None
        while not self.stop.is_set():
            if client is None:
                client = self.connect(node)
                if client is None:
                    node = nodes[(nodes.index(node) + 1) % len(nodes)]
                    continue
            try:
                value = client.call("INCR", "counter")
                with self.lock:
                    self.counter_acks.append((time.monotonic(), value))
            except RespError:
                time.sleep(0.02)
            except (OSError, ConnectionError):
                client.close()
                client = None
                node = nodes[(nodes.index(node) + 1) % len(nodes)]

    def reader(self, i):
        """Linearizable GETs of the counter through node i only (a deposed leader included);
        with `readonly_readers`, reads of node i's own copy instead (READONLY), which lags."""
        client = None
        while not self.stop.is_set():
            if client is None:
                client = self.connect(i, timeout=1.5)
                if client is None:
                    continue
                if self.readonly_readers:
                    try:
                        client.call("READONLY")
                    except (OSError, ConnectionError, RespError):
                        client.close()
                        client = None
                        continue
            sent = time.monotonic()
            try:
                value = client.call("GET", "counter")
                with self.lock:
                    self.reads.append((sent, i, int(value) if value is not None else 0))
            except RespError:
                time.sleep(0.02)
            except (OSError, ConnectionError):
                client.close()
                client = None
            time.sleep(0.005)


def stale_reads(load):
    """Reads that returned less than a counter value acknowledged before they were sent."""
    acks = sorted(load.counter_acks)
    stale = []
    best = 0
    position = 0
    for sent, node, value in sorted(load.reads):
        while position < len(acks) and acks[position][0] < sent:
            best = max(best, acks[position][1])
            position += 1
        if value < best:
            stale.append((node, value, best))
    return stale


# --- faults: each takes the cluster and returns a function that heals it ---

def others_than(cluster, i):
    return [j for j in cluster.ips if j != i]


def fault_on_leader(cluster, what, act, undo, cut_off=False):
    """Applies `act` to the leader, waits for the others to elect one of themselves, and
    returns the heal (`undo` on the old leader). `cut_off`: the old leader keeps running but
    cannot reach the majority, and must say so (see `expect_cluster_down_on`)."""
    leader = cluster.leader()
    log(f"  {what.format(leader)}")
    act(leader)
    new = cluster.leader(exclude=(leader,))
    log(f"  node {new} leads")
    if cut_off:
        cluster.expect_cluster_down_on(leader)
    return lambda: undo(leader)


def kill_leader(cluster):
    return fault_on_leader(
        cluster, "kill -9 node {} (the leader)",
        lambda leader: docker("kill", "-s", "KILL", cluster.container(leader)),
        lambda leader: docker("start", cluster.container(leader)))


def pause_leader(cluster):
    return fault_on_leader(
        cluster, "pause node {} (the leader)",
        lambda leader: docker("pause", cluster.container(leader)),
        lambda leader: docker("unpause", cluster.container(leader)))


def partition_leader(cluster):
    def cut(leader):
        cluster.drop_from(leader, others_than(cluster, leader))
        cluster.drop_to(leader, others_than(cluster, leader))
    return fault_on_leader(cluster, "cut node {} (the leader) off from the others, both ways",
                           cut, cluster.heal, cut_off=True)


def one_way_cut(cluster):
    return fault_on_leader(
        cluster, "node {} (the leader) hears nothing from the others; they still hear it",
        lambda leader: cluster.drop_from(leader, others_than(cluster, leader)),
        cluster.heal, cut_off=True)


def follower_cut(cluster):
    leader = cluster.leader()
    follower = others_than(cluster, leader)[0]
    others = others_than(cluster, follower)
    log(f"  cut node {follower} (a follower) off from {others}, both ways")
    cluster.drop_from(follower, others)
    cluster.drop_to(follower, others)

    def heal():
        cluster.heal(follower)
    return heal


def wipe_follower(cluster):
    leader = cluster.leader()
    follower = others_than(cluster, leader)[0]
    # A snapshot first, which purges the leader's log: the new node can only be rebuilt from it.
    client = Client(cluster.ips[leader], timeout=30.0)
    try:
        client.call("SAVE")
    finally:
        client.close()
    log(f"  SAVE on node {leader}; remove node {follower} (a follower) with its data")
    docker("rm", "-f", "-v", cluster.container(follower))

    def heal():
        log(f"  node {follower} created again, empty")
        cluster.start_node(follower)
        # It must install a snapshot: the entries before the leader's snapshot are gone.
        deadline = time.time() + 20
        while cluster.raft_field(follower, "snapshot") in (None, "-1"):
            if time.time() > deadline:
                raise RuntimeError(f"node {follower} installed no snapshot within 20 s")
            time.sleep(0.2)
        log(f"  node {follower} installed the snapshot at index {cluster.raft_field(follower, 'snapshot')}")
    return heal


def kill_two(cluster):
    """The leader and a follower killed at once: a 5-node cluster goes on with three."""
    if len(cluster.ips) < 5:
        raise RuntimeError("kill-two needs --nodes 5 or more (a majority must survive)")
    leader = cluster.leader()
    follower = others_than(cluster, leader)[0]
    log(f"  kill -9 nodes {leader} (the leader) and {follower}")
    docker("kill", "-s", "KILL", cluster.container(leader), cluster.container(follower))
    new = cluster.leader(exclude=(leader, follower))
    log(f"  node {new} leads")

    def heal():
        docker("start", cluster.container(leader), cluster.container(follower))
    return heal


def rolling_restart(cluster):
    """Every node stopped cleanly (SIGTERM: a leader hands its leadership over first) and
    started again, one after the other, followers first."""
    leader = cluster.leader()
    order = others_than(cluster, leader) + [leader]
    for i in order:
        log(f"  restart node {i}{' (the leader)' if i == leader else ''}")
        docker("restart", "-t", "20", cluster.container(i))
        deadline = time.time() + 20
        while cluster.role(i) not in ("leader", "follower"):
            if time.time() > deadline:
                raise RuntimeError(f"node {i} did not rejoin within 20 s of its restart")
            time.sleep(0.1)
    return lambda: None


FAULTS = {
    "kill-leader": kill_leader,
    "pause-leader": pause_leader,
    "partition-leader": partition_leader,
    "one-way-cut": one_way_cut,
    "follower-cut": follower_cut,
    "wipe-follower": wipe_follower,
    "rolling-restart": rolling_restart,
    "kill-two": kill_two,
}


def read_values(cluster, i, keys):
    """The values of `keys` as node i serves them: MGET when every node forwards (linearizable
    reads through any node); with the Redis Cluster protocol, GETs pipelined on a READONLY
    connection (node i's own copy: the keys span many slots, which one MGET may not)."""
    client = Client(cluster.ips[i], timeout=10.0)
    values = []
    try:
        if cluster.cluster_protocol:
            client.call("READONLY")
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            if cluster.cluster_protocol:
                values += client.pipeline([("GET", key) for key in chunk])
            else:
                values += client.call("MGET", *chunk)
    finally:
        client.close()
    return [value.decode() if isinstance(value, bytes) else value for value in values]


def verify(cluster, load, problems):
    with load.lock:
        acked = dict(load.acked)
        not_done = set(load.not_done)
        unknown = dict(load.unknown)
    # Every node's own copy converges to the same keys.
    deadline = time.time() + 20
    while True:
        sizes = {}
        for i in cluster.ips:
            client = Client(cluster.ips[i], timeout=5.0)
            try:
                client.call("READONLY")
                sizes[i] = client.call("DBSIZE")
            finally:
                client.close()
        if len(set(sizes.values())) == 1 or time.time() > deadline:
            break
        time.sleep(0.5)
    log(f"  keys on each node (local): {sizes}")
    if len(set(sizes.values())) != 1:
        problems.append(f"nodes hold different numbers of keys: {sizes}")
    keys = sorted(acked)
    for i in cluster.ips:
        values = read_values(cluster, i, keys)
        missing = sum(1 for value in values if value is None)
        wrong = sum(1 for key, value in zip(keys, values) if value is not None and value != acked[key])
        if missing or wrong:
            problems.append(f"node {i}: {missing} acknowledged writes missing, {wrong} with another value")
    first = min(cluster.ips)
    present = [key for key, value in zip(sorted(not_done), read_values(cluster, first, sorted(not_done)))
               if value is not None]
    if present:
        problems.append(f"{len(present)} writes answered with a definite error are present: {present[:5]}")
    unknown_keys = sorted(unknown)
    found = 0
    for key, value in zip(unknown_keys, read_values(cluster, first, unknown_keys)):
        if value is not None:
            found += 1
            if value != unknown[key]:
                problems.append(f"unknown write {key} holds {value!r}, not {unknown[key]!r}")
    log(f"  acknowledged {len(acked)}, unknown {len(unknown)} ({found} applied), "
        f"definite errors {len(not_done)}")
    stale = stale_reads(load)
    by_node = {}
    for node, _, _ in stale:
        by_node[node] = by_node.get(node, 0) + 1
    log(f"  counter: {len(load.counter_acks)} INCRs acknowledged, {len(load.reads)} reads, "
        f"{len(stale)} stale")
    if stale:
        problems.append(f"{len(stale)} stale reads of the counter (node: count {by_node}), e.g. {stale[:3]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--faults", default=None,
                        help="comma-separated, in order (default: all; kill-two only with 5 nodes or more)")
    parser.add_argument("--hold", type=float, default=4.0, help="seconds each fault lasts")
    parser.add_argument("--recover", type=float, default=4.0, help="seconds of load after each heal")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--cluster-protocol", action="store_true",
                        help="nodes present the Redis Cluster protocol (a node that does not lead "
                             "answers -MOVED, which the clients follow) instead of forwarding")
    parser.add_argument("--readonly-readers", action="store_true",
                        help="a check of the check: the readers send READONLY and read their node's "
                             "own copy, which lags behind a cut; the run must then fail with stale reads")
    parser.add_argument("--keep", action="store_true", help="leave the containers and network")
    args = parser.parse_args()
    if args.faults is None:
        faults = [f for f in FAULTS if f != "kill-two" or args.nodes >= 5]
    else:
        faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    for fault in faults:
        if fault not in FAULTS:
            parser.error(f"unknown fault {fault}; known: {', '.join(FAULTS)}")
    if subprocess.run(["docker", "image", "inspect", args.image], capture_output=True).returncode != 0:
        sys.exit(f"no image {args.image}: run bash docker/build-image.sh first")

    cluster = Cluster(args.nodes, args.image, args.hold, cluster_protocol=args.cluster_protocol)
    problems = []
    started = time.time()
    try:
        cluster.create()
        leader = cluster.leader(timeout=30)
        log(f"cluster up, node {leader} leads")
        load = Load(cluster, writers=args.writers, readonly_readers=args.readonly_readers)
        load.start()
        time.sleep(2)
        for fault in faults:
            log(f"fault {fault}")
            heal = FAULTS[fault](cluster)
            time.sleep(args.hold)
            heal()
            log("  healed")
            time.sleep(args.recover)
            cluster.leader(timeout=15)
            if cluster.cluster_protocol:
                states = {i: cluster.cluster_state(i) for i in cluster.ips}
                if any(state != "ok" for state in states.values()):
                    problems.append(f"after {fault} healed, CLUSTER INFO cluster_state: {states}")
        load.finish()
        log(f"errors seen by the writers: {load.errors or 'none'}")
        log("verifying")
        verify(cluster, load, problems)
    except Exception as error:  # a fault that could not be applied or a cluster that never recovered
        problems.append(f"{type(error).__name__}: {error}")
        for i in cluster.ips:
            print(f"--- node {i} log (tail) ---\n{cluster.logs(i)}", file=sys.stderr)
    finally:
        if not args.keep:
            cluster.destroy()
    elapsed = time.time() - started
    if problems:
        log(f"FAILED after {elapsed:.0f}s:")
        for problem in problems:
            log(f"  - {problem}")
        sys.exit(1)
    mode = "the Redis Cluster protocol" if args.cluster_protocol else "forwarding"
    log(f"passed: {', '.join(faults)} on {args.nodes} nodes ({mode}) in {elapsed:.0f}s")


if __name__ == "__main__":
    main()
