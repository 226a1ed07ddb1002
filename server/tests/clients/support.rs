//! A node started from the real binary on a free port with its own data directory; a client
//! that writes raw bytes and reads whole RESP2/RESP3 values (with the bytes each one took, so
//! tests can assert both shape and exact encoding); helpers to find and run redis-cli and
//! redis-benchmark.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a reply may take before a test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Node {
    pub port: u16,
    child: Child,
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
        "flotilla-clients-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Node {
    pub fn start() -> Node {
        let dir = temp_dir();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start flotilla");
        let node = Node { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        // Listening is not enough: the node answers once its Raft group has a leader.
        loop {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                let mut client = Client::from_stream(stream);
                client.send(&[b"SET", b"__ready", b"1"]);
                if client.read() == Value::Simple("OK".into()) {
                    client.send(&[b"DEL", b"__ready"]);
                    client.read();
                    break;
                }
            }
            assert!(Instant::now() < deadline, "node did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
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
    /// The text of a bulk, simple or verbatim string.
    pub fn text(&self) -> String {
        match self {
            Value::Simple(s) => s.clone(),
            Value::Bulk(b) | Value::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a string: {other:?}"),
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

/// Encodes a command given as space-separated words.
pub fn words(command: &str) -> Vec<u8> {
    let words: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
    request(&words)
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::from_stream(TcpStream::connect(("127.0.0.1", port)).expect("connect"))
    }

    fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Writes bytes in one `write_all` (one batch, as a pipelining client does).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&request(args));
    }

    /// Sends a command of space-separated words and reads its reply.
    pub fn call(&mut self, command: &str) -> Value {
        self.send_raw(&words(command));
        self.read()
    }

    /// Reads one whole value.
    pub fn read(&mut self) -> Value {
        self.read_with_bytes().0
    }

    /// Reads one whole value and the exact bytes it was made of.
    pub fn read_with_bytes(&mut self) -> (Value, Vec<u8>) {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Some((value, used)) = parse(&self.buffer) {
                let bytes: Vec<u8> = self.buffer.drain(..used).collect();
                return (value, bytes);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for a reply; have {:?}",
                String::from_utf8_lossy(&self.buffer)
            );
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "connection closed; have {:?}",
                    String::from_utf8_lossy(&self.buffer)
                ),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// True when nothing more arrives within `quiet` (no extra reply was sent).
    pub fn nothing_more(&mut self, quiet: Duration) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(quiet)).expect("timeout");
        let mut chunk = [0u8; 1024];
        let nothing = match self.stream.read(&mut chunk) {
            Ok(0) => true,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                false
            }
            Err(_) => true,
        };
        self.stream.set_read_timeout(Some(REPLY_TIMEOUT)).expect("timeout");
        nothing
    }
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
