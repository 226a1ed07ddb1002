//! A cluster of real `flotilla` processes on loopback (free ports, a temp dir per node) that a
//! test can kill, pause, resume, restart and wipe, and a small blocking RESP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A reply, as the tests need it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

impl Value {
    pub fn text(&self) -> String {
        match self {
            Value::Status(s) | Value::Error(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Value::Bulk(None) | Value::Array(None) => "(nil)".into(),
            Value::Array(Some(items)) => format!("{items:?}"),
        }
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    pub fn send(&mut self, args: &[&str]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        self.writer.write_all(&out)
    }

    pub fn read(&mut self) -> std::io::Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1);
        Ok(match kind {
            "+" => Value::Status(rest.into()),
            "-" => Value::Error(rest.into()),
            ":" => Value::Int(rest.parse().expect("integer")),
            "$" => {
                let len: i64 = rest.parse().expect("bulk length");
                if len < 0 {
                    Value::Bulk(None)
                } else {
                    let mut body = vec![0u8; len as usize + 2];
                    self.reader.read_exact(&mut body)?;
                    body.truncate(len as usize);
                    Value::Bulk(Some(body))
                }
            }
            "*" => {
                let len: i64 = rest.parse().expect("array length");
                if len < 0 {
                    Value::Array(None)
                } else {
                    Value::Array(Some((0..len).map(|_| self.read()).collect::<Result<_, _>>()?))
                }
            }
            other => panic!("unexpected reply type {other:?} in {line:?}"),
        })
    }

    pub fn call(&mut self, args: &[&str]) -> std::io::Result<Value> {
        self.send(args)?;
        self.read()
    }

    /// A command with binary arguments (a FUNCTION DUMP payload).
    pub fn call_bytes(&mut self, args: &[&[u8]]) -> std::io::Result<Value> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)?;
        self.read()
    }
}

pub struct Node {
    pub id: u64,
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }

    fn spawn(&mut self) {
        // FLOTILLA_TEST_LOGS=dir keeps each node's log there (for debugging a failure).
        let stderr = match std::env::var("FLOTILLA_TEST_LOGS") {
            Ok(dir) => {
                let path = PathBuf::from(dir).join(format!("node-{}-{}.log", self.port, self.id));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file");
                Stdio::from(file)
            }
            Err(_) => Stdio::null(),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla"));
        command.args(&self.args);
        if std::env::var("FLOTILLA_TEST_LOGS").is_ok() {
            command.args(["--log", "info"]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start flotilla");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "node {} did not start listening",
                self.id
            );
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
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
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

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

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
        let mut client = Client::connect(self.port).ok()?;
        let info = client.call(&["INFO", "flotilla_raft"]).ok()?.text();
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
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
}

fn free_port() -> u16 {
    // The peer port is the client port + 10000: probe until both are free.
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    pub fn start(size: usize) -> Cluster {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let run = COUNTER.fetch_add(1, Ordering::Relaxed);
        let ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}=127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let dir =
                std::env::temp_dir().join(format!("flotilla-cluster-{}-{run}-{}", std::process::id(), i + 1));
            let _ = std::fs::remove_dir_all(&dir);
            let args = vec![
                "--port".into(),
                port.to_string(),
                "--dir".into(),
                dir.display().to_string(),
                "--node-id".into(),
                (i + 1).to_string(),
                "--initial-cluster".into(),
                initial.clone(),
            ];
            nodes.push(Node {
                id: i as u64 + 1,
                port: *port,
                dir,
                child: None,
                args,
            });
        }
        for node in &mut nodes {
            node.spawn();
        }
        let cluster = Cluster { nodes };
        cluster.wait_for_leader(Duration::from_secs(20));
        cluster
    }

    /// Index (into `nodes`) of the node every running node agrees leads, once they agree.
    pub fn wait_for_leader(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
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
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&mut self, index: usize) {
        self.nodes[index].spawn();
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
