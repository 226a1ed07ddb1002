//! A node started from the real binary on a free port with its own data directory, and a raw
//! RESP client that asserts exact reply bytes.

// Deadlines for replies and start-up need the clock; the ban is for the server's own code.
#![allow(clippy::disallowed_methods)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a reply may take before a test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Node {
    pub port: u16,
    pub child: Child,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flotilla-session-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Node {
    /// Starts a node on a free port. A port probed free may be taken by another test's node
    /// before this one binds it, so the node is only accepted once it reports its own pid.
    pub fn start(extra_args: &[&str]) -> Node {
        for _ in 0..10 {
            if let Some(node) = Node::try_start(extra_args) {
                return node;
            }
        }
        panic!("could not start a node");
    }

    fn try_start(extra_args: &[&str]) -> Option<Node> {
        let dir = temp_dir();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            // These tests are about sessions, not durability: no fsync per write.
            .arg("--fsync")
            .arg("no")
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start flotilla");
        let mut node = Node { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        let password = extra_args
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra_args.get(i + 1));
        loop {
            if node.child.try_wait().expect("try_wait").is_some() {
                return None; // could not bind: the port was taken meanwhile
            }
            assert!(Instant::now() < deadline, "node did not start");
            if TcpStream::connect(("127.0.0.1", port)).is_err() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let mut client = node.client();
            if let Some(password) = password {
                client.call(&format!("AUTH {password}"), b"+OK\r\n");
            }
            client.send("INFO server");
            let header = client.read_line();
            if !header.starts_with('$') {
                // Refused (maxclients while the probe connection is still counted): retry.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let len: usize = header[1..].parse().expect("bulk length");
            let info = String::from_utf8_lossy(&client.read_exact_len(len + 2)).into_owned();
            let own = format!("process_id:{}\r\n", node.child.id());
            return info.contains(&own).then_some(node);
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Client {
    pub stream: TcpStream,
    buffer: Vec<u8>,
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

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command (space-separated words) without reading the reply.
    pub fn send(&mut self, command: &str) {
        let words: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
        self.send_raw(&request(&words));
    }

    /// Sends a command given as separate arguments (which may contain spaces).
    pub fn send_args(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_raw(&request(&args));
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

    /// Sends a command and asserts its exact reply.
    pub fn call(&mut self, command: &str, expected: &[u8]) {
        self.send(command);
        self.expect(expected);
    }

    pub fn read_exact_len(&mut self, len: usize) -> Vec<u8> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while self.buffer.len() < len {
            assert!(Instant::now() < deadline, "timed out waiting for a reply");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "connection closed; had {:?}",
                    String::from_utf8_lossy(&self.buffer)
                ),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
        self.buffer.drain(..len).collect()
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    pub fn read_line(&mut self) -> String {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            assert!(Instant::now() < deadline, "timed out waiting for a line");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
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

    /// True when the server closes the connection within `limit` (nothing else arrives).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.stream.set_read_timeout(Some(limit)).expect("timeout");
        let mut chunk = [0u8; 1024];
        let closed = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        self.stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        closed
    }
}
