//! What the integration test crates (`session`, `clients`, `cluster`) share: real `flotilla`
//! processes on loopback ports probed free, each with its own temp data directory — one
//! standalone node, or a cluster whose nodes a test kills, pauses (SIGSTOP), resumes,
//! restarts and wipes — and a raw RESP client that writes bytes and reads either exact bytes
//! or whole RESP2/RESP3 values (with the bytes each one took). Also: INFO field lookup,
//! polling with a deadline, a seeded byte generator and the lookup of Redis's own tools.
//!
//! Each crate includes it as `#[path = "../support/mod.rs"] mod support;` (Cargo builds no
//! test of its own from a folder without `main.rs`).

// Each crate uses only part of the module.
#![allow(dead_code)]
// Tests need the clock for deadlines, and `Bytes64` seeds from it. The ban in clippy.toml
// keeps the server deterministic (it reads time only in clock.rs); like clock.rs there, this
// module is the one place the tests read it (`now()`).
#![allow(clippy::disallowed_methods)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a reply may take before a test fails (and a fallible read gives up).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a node may take to accept connections after it was spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Tries at starting a standalone node on a port probed free (another test may take it first).
const START_ATTEMPTS_MAX: usize = 10;

/// The tests' clock, for deadlines and elapsed times.
pub fn now() -> Instant {
    Instant::now()
}

/// How often the pause watcher looks at the clock.
const PAUSE_WATCH_TICK: Duration = Duration::from_millis(50);
/// A stretch without a look at the clock longer than this counts as a pause.
const PAUSE_MIN: Duration = Duration::from_secs(1);

/// The time this test process has spent paused: stretches longer than `PAUSE_MIN` in which none
/// of its threads ran, not even a watcher thread that looks at the clock every
/// `PAUSE_WATCH_TICK`. The shared machine the tests run on stops whole process trees (SIGSTOP)
/// for minutes while something else is measured; a deadline that counted such a pause would
/// fail a test the moment it resumed, before its nodes had a chance to run (see `Deadline`).
pub fn paused_total() -> Duration {
    struct Watch {
        last_look: Instant,
        paused: Duration,
    }
    static WATCH: std::sync::Mutex<Option<Watch>> = std::sync::Mutex::new(None);
    static WATCHER: std::sync::Once = std::sync::Once::new();
    WATCHER.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(PAUSE_WATCH_TICK);
            paused_total();
        });
    });
    // Every caller looks too: the first to run after a pause (the watcher or a test thread
    // checking its deadline) finds the gap since the last look and counts it.
    let mut watch = WATCH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    let watch = watch.get_or_insert(Watch {
        last_look: now,
        paused: Duration::ZERO,
    });
    let gap = now.saturating_duration_since(watch.last_look);
    if gap > PAUSE_MIN {
        watch.paused += gap - PAUSE_WATCH_TICK;
    }
    watch.last_look = now;
    watch.paused
}

/// A deadline `limit` from now that moves back by any time this process spends paused
/// meanwhile (`paused_total`): a test waits `limit` of the time it was actually running.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
    paused_at_start: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        let paused_at_start = paused_total();
        Deadline {
            end: Instant::now() + limit,
            paused_at_start,
        }
    }

    pub fn passed(&self) -> bool {
        let paused = paused_total() - self.paused_at_start;
        Instant::now() >= self.end + paused
    }
}

/// A free client port whose peer port (the client port + 10000, the default) is free too,
/// both below Linux's ephemeral range (32768-60999). A port probed free in that range could be
/// taken by some client's outgoing connection (the tests open many) before the node binds it,
/// and a node that cannot bind its ports exits at start (a 5-node partition test, which is
/// never retried, failed so). Drawn at random, never twice in one test process.
pub fn free_port() -> u16 {
    const FIRST: u64 = 12_000;
    const COUNT: u64 = 10_000; // client ports 12000-21999, peer ports 22000-31999
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    static DRAWS: AtomicUsize = AtomicUsize::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    let mut state = (seed ^ (DRAWS.fetch_add(1, Ordering::Relaxed) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).max(1);
    loop {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let port = (FIRST + state.wrapping_mul(0x2545_F491_4F6C_DD1D) % COUNT) as u16;
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
}

/// A fresh, empty directory under the system's temp dir, unique within this test process.
pub fn temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flotilla-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A field (`name:value` line) of an INFO reply.
pub fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .map(str::to_string)
}

/// Polls `condition` every 100 ms until it holds, failing with `what` after `limit` (not counting
/// time this process spent paused, see `Deadline`).
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Deadline::after(limit);
    while !condition() {
        assert!(!deadline.passed(), "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `flotilla` process (running or not) with its port, data directory and arguments, so
/// it can be stopped and started again on the same data. Dropping it kills the process and
/// removes the directory.
pub struct Node {
    /// The Raft node id (1 for a standalone node).
    pub id: u64,
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    /// Where a cluster node's log goes (`--log info`), for a failing test to show (see
    /// `Cluster`'s drop); removed with the node. None: no log (unless `FLOTILLA_TEST_LOGS`).
    log: Option<PathBuf>,
}

impl Node {
    /// Starts a standalone node on a free port, with `--fsync no` (these tests are not about
    /// durability) and `extra_args`. A port probed free may be taken by another test's node
    /// before this one binds it, so the node is only accepted once it reports its own pid.
    pub fn start(extra_args: &[&str]) -> Node {
        let password = extra_args
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra_args.get(i + 1).copied());
        for _ in 0..START_ATTEMPTS_MAX {
            let port = free_port();
            let dir = temp_dir();
            let args = launch_args(port, &dir, &[&["--fsync", "no"], extra_args]);
            let mut node = Node { id: 1, port, dir, args, child: None, log: None };
            node.launch();
            if node.answers_as_itself(password) {
                return node;
            }
        }
        panic!("could not start a node");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// Spawns the process. `FLOTILLA_TEST_LOGS=dir` keeps each node's log there (for
    /// debugging a failure).
    fn launch(&mut self) {
        assert!(self.child.is_none(), "node {} is running", self.id);
        let kept = std::env::var("FLOTILLA_TEST_LOGS")
            .ok()
            .filter(|dir| !dir.is_empty())
            .map(|dir| PathBuf::from(dir).join(format!("node-{}-{}.log", self.port, self.id)));
        let log = kept.or_else(|| self.log.clone());
        let stderr = match &log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file");
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla"));
        command.args(&self.args);
        if log.is_some() {
            command.args(["--log", "info"]).env("NO_COLOR", "1");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start flotilla");
        self.child = Some(child);
    }

    /// Whether the process has exited (reaped, but the node counts as running until killed).
    fn has_exited(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        child.try_wait().expect("try_wait").is_some()
    }

    /// Whether the server answering on the port is this process (INFO server names its pid);
    /// false once the process has exited (it could not bind: the port was taken meanwhile).
    fn answers_as_itself(&mut self, password: Option<&str>) -> bool {
        let deadline = Deadline::after(START_TIMEOUT);
        loop {
            if self.has_exited() {
                return false;
            }
            assert!(!deadline.passed(), "node {} did not start", self.id);
            let Ok(mut client) = Client::try_connect(self.port) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            if let Some(password) = password {
                client.call(&format!("AUTH {password}"), b"+OK\r\n");
            }
            client.send("INFO server");
            let header = client.read_line();
            if !header.starts_with('$') {
                // Refused (maxclients while the last probe is still counted): retry.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let len: usize = header[1..].parse().expect("bulk length");
            let info = String::from_utf8_lossy(&client.read_exact_len(len + 2)).into_owned();
            let own = format!("process_id:{}\r\n", self.pid());
            return info.contains(&own);
        }
    }

    /// Adds start-up flags for the node's next `spawn` (after `kill`).
    pub fn add_args(&mut self, extra: &[&str]) {
        self.args.extend(extra.iter().map(|arg| arg.to_string()));
    }

    /// A cluster member `id` (not started) on client port `port`, with a fresh data directory,
    /// its log beside it, and `how` (how it finds the cluster) and `extra` flags.
    fn member(id: u64, port: u16, how: &[&str], extra: &[&str]) -> Node {
        let dir = temp_dir();
        let args = launch_args(port, &dir, &[&["--node-id", &id.to_string()], how, extra]);
        Node { id, port, log: Some(dir.with_extension("log")), dir, args, child: None }
    }

    /// Removes a start-up flag and its value for the node's next `spawn`.
    pub fn remove_arg(&mut self, flag: &str) {
        if let Some(at) = self.args.iter().position(|arg| arg == flag) {
            self.args.drain(at..(at + 2).min(self.args.len()));
        }
    }

    /// Starts the (stopped) node again on its port and data; returns once it listens.
    pub fn spawn(&mut self) {
        self.launch();
        let deadline = Deadline::after(START_TIMEOUT);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if self.has_exited() {
                let log = self.log.as_ref().and_then(|log| std::fs::read_to_string(log).ok()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                panic!("node {} exited at start (port {}): {:?}", self.id, self.port, tail);
            }
            assert!(!deadline.passed(), "node {} did not start listening", self.id);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the node expecting it to refuse to start: waits (up to `limit`) for it to exit
    /// and returns its exit code and what it wrote to stderr.
    pub fn start_expecting_exit(&mut self, limit: Duration) -> (Option<i32>, String) {
        assert!(self.child.is_none(), "node {} is running", self.id);
        let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flotilla");
        let deadline = Deadline::after(limit);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if deadline.passed() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {} kept running on a damaged data directory", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut stderr)
            .expect("stderr");
        (status.code(), stderr)
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Deadline::after(limit);
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(!deadline.passed(), "node {} did not exit", self.id);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the node has logged so far (empty for a node without a log file).
    pub fn log_text(&self) -> String {
        self.log.as_ref().and_then(|path| std::fs::read_to_string(path).ok()).unwrap_or_default()
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends signal `name` (`STOP`, `CONT`, `TERM` …) with kill(1). After `STOP`, returns once
    /// the process is stopped.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        if name == "STOP" {
            self.wait_until_stopped();
        }
    }

    /// `kill` returns once the signal is sent; a thread busy in the kernel (an fsync) stops
    /// only when it leaves it. Waits until every thread of the process is stopped, so the
    /// test's next step cannot race the stop.
    fn wait_until_stopped(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let tasks = format!("/proc/{}/task", self.pid());
        loop {
            let all_stopped = std::fs::read_dir(&tasks)
                .map(|threads| {
                    threads.flatten().all(|thread| {
                        std::fs::read_to_string(thread.path().join("stat"))
                            .ok()
                            .and_then(|stat| stat.rsplit(')').next().map(|rest| rest.trim_start().starts_with('T')))
                            .unwrap_or(true)
                    })
                })
                .unwrap_or(true);
            if all_stopped {
                return;
            }
            assert!(Instant::now() < deadline, "node {} did not stop", self.id);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A field of this node's `INFO flotilla_raft` group line (`role`, `leader`, `applied` …).
    pub fn raft_field(&self, field: &str) -> Option<String> {
        let mut client = Client::try_connect(self.port).ok()?;
        let info = client.try_call(&["INFO", "flotilla_raft"]).ok()?.text();
        let line = info.lines().find(|l| l.starts_with("group1:"))?;
        line["group1:".len()..]
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{field}=")).map(str::to_string))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(log) = &self.log {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// A node's command line: its client port and data directory, then `flags`.
fn launch_args(port: u16, dir: &Path, flags: &[&[&str]]) -> Vec<String> {
    let mut args = vec!["--port".to_string(), port.to_string(), "--dir".into(), dir.display().to_string()];
    args.extend(flags.iter().flat_map(|flags| flags.iter()).map(|flag| flag.to_string()));
    args
}

/// Real nodes on loopback forming one Raft cluster (`--initial-cluster`), each with its own
/// data directory, started with the durability defaults.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `size` nodes and waits until they agree on a leader.
    pub fn start(size: usize) -> Cluster {
        let ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        Cluster::start_on(&ports, |_, to| ports[to] + 10000)
    }

    /// Starts nodes on the client ports `ports` (each listening for peers on its port +
    /// 10000), where node `from` reaches node `to`'s peer port at `peer_route(from, to)`
    /// (indexes into `ports`): a test can put a proxy between each pair and cut it.
    ///
    /// The nodes present a standalone Redis (`--cluster-enabled no`): every node serves every
    /// command, forwarding what it does not lead, which is what most of these tests drive.
    /// `start_presenting_cluster` starts nodes with the Redis Cluster protocol on (the default).
    pub fn start_on(ports: &[u16], peer_route: impl Fn(usize, usize) -> u16) -> Cluster {
        Cluster::start_with(ports, peer_route, &["--cluster-enabled", "no"])
    }

    /// Starts `size` nodes at their defaults, the Redis Cluster protocol on (`-MOVED` …).
    pub fn start_presenting_cluster(size: usize) -> Cluster {
        let ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        Cluster::start_with(&ports, |_, to| ports[to] + 10000, &[])
    }

    fn start_with(ports: &[u16], peer_route: impl Fn(usize, usize) -> u16, extra: &[&str]) -> Cluster {
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let initial = ports
                .iter()
                .enumerate()
                .map(|(j, port)| match peer_route(i, j) {
                    peer if i == j || peer == port + 10000 => format!("{}=127.0.0.1:{port}", j + 1),
                    peer => format!("{}=127.0.0.1:{port}@{peer}", j + 1),
                })
                .collect::<Vec<_>>()
                .join(",");
            nodes.push(Node::member(i as u64 + 1, *port, &["--initial-cluster", &initial], extra));
        }
        for node in &mut nodes {
            node.spawn();
        }
        let cluster = Cluster { nodes };
        cluster.wait_for_leader(START_TIMEOUT);
        cluster
    }

    /// Index (into `nodes`) of the node every running node agrees leads, once they agree.
    pub fn wait_for_leader(&self, limit: Duration) -> usize {
        let deadline = Deadline::after(limit);
        loop {
            let running: Vec<&Node> = self.nodes.iter().filter(|n| n.is_running()).collect();
            let leaders: Vec<Option<String>> = running.iter().map(|n| n.raft_field("leader")).collect();
            if let Some(Some(leader)) = leaders.first() {
                if leader != "-1" && leaders.iter().all(|l| l.as_deref() == Some(leader.as_str())) {
                    let id: u64 = leader.parse().expect("leader id");
                    if let Some(index) = self.nodes.iter().position(|n| n.id == id && n.is_running()) {
                        if self.nodes[index].raft_field("role").as_deref() == Some("leader") {
                            return index;
                        }
                    }
                }
            }
            assert!(!deadline.passed(), "no agreed leader: {leaders:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&mut self, index: usize) {
        self.nodes[index].spawn();
    }

    /// Starts a new node that joins the cluster through node `through` (`--join`), with the
    /// next unused id and `extra` flags; returns its index once it listens. (The peer port,
    /// client port + 10000, is not probed: a clash shows as a node that never joins.)
    pub fn join(&mut self, through: usize, extra: &[&str]) -> usize {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        let through = format!("127.0.0.1:{}", self.nodes[through].port);
        self.nodes.push(Node::member(id, free_port(), &["--join", &through], extra));
        let index = self.nodes.len() - 1;
        self.nodes[index].spawn();
        index
    }

    /// Kills node `index` and removes its data directory.
    pub fn wipe(&mut self, index: usize) {
        self.nodes[index].kill();
        let _ = std::fs::remove_dir_all(&self.nodes[index].dir);
    }

    pub fn any_running_port(&self, except: Option<usize>) -> u16 {
        self.nodes
            .iter()
            .enumerate()
            .find(|(i, n)| n.is_running() && Some(*i) != except)
            .map(|(_, n)| n.port)
            .expect("a running node")
    }
}

/// Lines of each node's log a failing cluster test prints.
const FAILURE_LOG_LINES: usize = 60;

impl Drop for Cluster {
    /// A test failing with a cluster up prints the end of each node's log (Raft's elections
    /// and votes are logged at info) and how long this process was paused, before the nodes
    /// and their logs go.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        eprintln!("this test process spent {:?} paused (stopped or not scheduled)", paused_total());
        for node in &self.nodes {
            let Some(text) = node.log.as_ref().and_then(|log| std::fs::read_to_string(log).ok()) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(FAILURE_LOG_LINES)..];
            eprintln!("--- node {} (port {}), last {} lines of its log:", node.id, node.port, tail.len());
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

/// One RESP2 or RESP3 value as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NilBulk,
    /// `*-1`
    NilArray,
    /// RESP3 `_`
    Null,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Push(Vec<Value>),
    Double(String),
    Bool(bool),
    BigNumber(String),
    Verbatim(String, Vec<u8>),
}

impl Value {
    /// The text of a string, error or number; `(nil)` for a null; an aggregate as debug text.
    pub fn text(&self) -> String {
        match self {
            Value::Simple(s) | Value::Error(s) | Value::Double(s) | Value::BigNumber(s) => s.clone(),
            Value::Bulk(b) | Value::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            Value::Int(i) => i.to_string(),
            Value::NilBulk | Value::NilArray | Value::Null => "(nil)".into(),
            other => format!("{other:?}"),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    pub fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    /// Key/value pairs of a RESP3 map or of a RESP2 flat array of even length.
    pub fn pairs(&self) -> Vec<(Value, Value)> {
        match self {
            Value::Map(pairs) => pairs.clone(),
            Value::Array(items) if items.len() % 2 == 0 => {
                items.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect()
            }
            other => panic!("not a map: {other:?}"),
        }
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encodes a command given as space-separated words.
pub fn words(command: &str) -> Vec<u8> {
    let words: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
    request(&words)
}

/// Encodes a command given as separate arguments (which may contain spaces).
pub fn args(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    request(&args)
}

/// A blocking connection that writes raw bytes and reads replies from a buffer. Methods
/// named `try_*` report I/O failures (for tests where nodes die); the others panic on them.
pub struct Client {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).expect("connect")
    }

    pub fn try_connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buffer: Vec::new(),
        })
    }

    /// Writes bytes in one `write_all` (one batch, as a pipelining client does).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command (space-separated words) without reading the reply.
    pub fn send(&mut self, command: &str) {
        self.send_raw(&words(command));
    }

    /// Sends a command given as separate arguments (which may contain spaces).
    pub fn send_args(&mut self, command: &[&str]) {
        self.send_raw(&args(command));
    }

    pub fn try_send_args(&mut self, command: &[&str]) -> std::io::Result<()> {
        self.stream.write_all(&args(command))
    }

    /// Reads exactly `expected.len()` bytes and asserts they are `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.read_exact_len(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply bytes differ"
        );
    }

    /// Sends a command (space-separated words) and asserts its exact reply bytes.
    pub fn call(&mut self, command: &str, expected: &[u8]) {
        self.send(command);
        self.expect(expected);
    }

    /// Sends a command (space-separated words) and reads its reply as a value.
    pub fn query(&mut self, command: &str) -> Value {
        self.send(command);
        self.read()
    }

    /// Sends a command given as separate arguments and reads its reply as a value.
    pub fn try_call(&mut self, command: &[&str]) -> std::io::Result<Value> {
        self.try_send_args(command)?;
        self.try_read()
    }

    /// Appends what the socket has to the buffer (waiting up to the read timeout).
    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(std::io::Error::new(ErrorKind::UnexpectedEof, "connection closed")),
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends a command and reads its reply, giving up (TimedOut) after `limit`. The connection
    /// is of no further use after a failure: a late reply may still arrive on it.
    pub fn try_call_within(&mut self, command: &[&str], limit: Duration) -> std::io::Result<Value> {
        let mut replies = self.try_pipeline_within(&[command], limit)?;
        Ok(replies.pop().expect("one reply per command"))
    }

    /// Sends `commands` in one write and reads their replies, giving up (TimedOut) after
    /// `limit` in all; as `try_call_within`, the connection is of no use after a failure.
    pub fn try_pipeline_within(&mut self, commands: &[&[&str]], limit: Duration) -> std::io::Result<Vec<Value>> {
        let bytes: Vec<u8> = commands.iter().flat_map(|command| args(command)).collect();
        self.stream.write_all(&bytes)?;
        self.stream.set_read_timeout(Some(limit.min(REPLY_TIMEOUT)))?;
        let deadline = Deadline::after(limit);
        let mut replies = Vec::new();
        for _ in commands {
            let left = deadline.end.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            match self.try_read_until_within(left, take_value) {
                Ok((value, _)) => replies.push(value),
                Err(error) => {
                    self.stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
                    return Err(error);
                }
            }
        }
        self.stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(replies)
    }

    /// Fills the buffer until `ready` finds what it needs in it, within `REPLY_TIMEOUT` (of time
    /// this process was not paused).
    fn try_read_until<T>(&mut self, ready: impl FnMut(&mut Vec<u8>) -> Option<T>) -> std::io::Result<T> {
        self.try_read_until_within(REPLY_TIMEOUT, ready)
    }

    fn try_read_until_within<T>(
        &mut self,
        limit: Duration,
        mut ready: impl FnMut(&mut Vec<u8>) -> Option<T>,
    ) -> std::io::Result<T> {
        let deadline = Deadline::after(limit);
        loop {
            if let Some(found) = ready(&mut self.buffer) {
                return Ok(found);
            }
            if deadline.passed() {
                return Err(std::io::Error::new(ErrorKind::TimedOut, "timed out waiting for a reply"));
            }
            match self.fill() {
                // The socket's own timeout counts a pause of this process (see `Deadline`).
                Err(e)
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                        && !deadline.passed() => {}
                other => other?,
            }
        }
    }

    /// `try_read_until`, panicking with what arrived so far when it fails.
    fn read_until<T>(&mut self, ready: impl FnMut(&mut Vec<u8>) -> Option<T>) -> T {
        match self.try_read_until(ready) {
            Ok(found) => found,
            Err(e) => panic!("{e}; have {:?}", String::from_utf8_lossy(&self.buffer)),
        }
    }

    pub fn read_exact_len(&mut self, len: usize) -> Vec<u8> {
        self.read_until(|buffer| (buffer.len() >= len).then(|| buffer.drain(..len).collect()))
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    pub fn read_line(&mut self) -> String {
        self.read_until(|buffer| {
            let end = buffer.windows(2).position(|w| w == b"\r\n")?;
            let line: Vec<u8> = buffer.drain(..end + 2).collect();
            Some(String::from_utf8_lossy(&line[..end]).into_owned())
        })
    }

    /// Reads one whole value and the exact bytes it was made of.
    pub fn try_read_with_bytes(&mut self) -> std::io::Result<(Value, Vec<u8>)> {
        self.try_read_until(take_value)
    }

    pub fn read_with_bytes(&mut self) -> (Value, Vec<u8>) {
        self.read_until(take_value)
    }

    /// Reads one whole value.
    pub fn try_read(&mut self) -> std::io::Result<Value> {
        Ok(self.try_read_with_bytes()?.0)
    }

    pub fn read(&mut self) -> Value {
        self.read_with_bytes().0
    }

    /// Sends a command whose reply is one bulk string and returns its text.
    pub fn bulk(&mut self, command: &str) -> String {
        self.send(command);
        let header = self.read_line();
        let len: usize = header
            .strip_prefix('$')
            .or_else(|| header.strip_prefix('='))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a bulk reply: {header}"));
        let body = self.read_exact_len(len + 2);
        String::from_utf8_lossy(&body[..len]).into_owned()
    }

    /// True when the server closes the connection within `limit` (whatever else arrives
    /// meanwhile is kept for the next read).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.stream.set_read_timeout(Some(limit)).expect("timeout");
        let closed = loop {
            match self.fill() {
                Ok(()) => {}
                Err(e) => break matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset),
            }
        };
        self.stream.set_read_timeout(Some(REPLY_TIMEOUT)).expect("timeout");
        closed
    }

    /// True when nothing more arrives within `quiet` (no extra reply was sent).
    pub fn nothing_more(&mut self, quiet: Duration) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(quiet)).expect("timeout");
        let nothing = match self.fill() {
            Ok(()) => self.buffer.is_empty(),
            Err(_) => true,
        };
        self.stream.set_read_timeout(Some(REPLY_TIMEOUT)).expect("timeout");
        nothing
    }
}

/// Takes one whole value off the front of `buffer`, with its bytes.
fn take_value(buffer: &mut Vec<u8>) -> Option<(Value, Vec<u8>)> {
    let (value, used) = parse(buffer)?;
    Some((value, buffer.drain(..used).collect()))
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 line")
}

fn number(bytes: &[u8]) -> i64 {
    text(bytes).parse().unwrap_or_else(|_| panic!("bad length {:?}", text(bytes)))
}

/// Parses one value from the front of `buf`: the value and the bytes it used, or None when
/// more bytes are needed. Panics on bytes that are not RESP.
pub fn parse(buf: &[u8]) -> Option<(Value, usize)> {
    let kind = *buf.first()?;
    let (head, mut used) = line(&buf[1..])?;
    used += 1;
    let aggregate = |count: usize, used: &mut usize| -> Option<Vec<Value>> {
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let (item, n) = parse(&buf[*used..])?;
            *used += n;
            items.push(item);
        }
        Some(items)
    };
    let value = match kind {
        b'+' => Value::Simple(text(head)),
        b'-' => Value::Error(text(head)),
        b':' => Value::Int(number(head)),
        b',' => Value::Double(text(head)),
        b'(' => Value::BigNumber(text(head)),
        b'#' => Value::Bool(head == b"t"),
        b'_' => Value::Null,
        b'$' | b'=' => {
            let len = number(head);
            if len < 0 {
                Value::NilBulk
            } else {
                let len = len as usize;
                if buf.len() < used + len + 2 {
                    return None;
                }
                let body = buf[used..used + len].to_vec();
                assert_eq!(&buf[used + len..used + len + 2], b"\r\n", "bulk not CRLF-terminated");
                used += len + 2;
                if kind == b'=' {
                    Value::Verbatim(text(&body[..3]), body[4..].to_vec())
                } else {
                    Value::Bulk(body)
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let count = number(head);
            if count < 0 {
                Value::NilArray
            } else {
                let items = aggregate(count as usize, &mut used)?;
                match kind {
                    b'*' => Value::Array(items),
                    b'~' => Value::Set(items),
                    _ => Value::Push(items),
                }
            }
        }
        b'%' => {
            let count = number(head) as usize;
            let items = aggregate(2 * count, &mut used)?;
            Value::Map(items.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect())
        }
        other => panic!("not RESP: type byte {:?} in {:?}", other as char, String::from_utf8_lossy(buf)),
    };
    Some((value, used))
}

/// A deterministic byte generator for test data (xorshift64*), seeded per test so a failure
/// can be reproduced from the printed seed.
pub struct Bytes64(u64);

impl Bytes64 {
    pub fn seeded() -> Bytes64 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        println!("random seed {seed}");
        Bytes64(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The path of a Redis tool (`redis-cli`, `redis-benchmark`) when installed, else None after
/// printing why the caller skips.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        println!("skipped: {name} is not installed");
    }
    found
}
