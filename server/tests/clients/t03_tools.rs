//! redis-cli and redis-benchmark as a new user runs them, when they are installed (each test
//! prints a note and passes when the tool is missing): redis-cli's interactive start-up reads
//! COMMAND DOCS for its hints, `--pipe` mass insertion, and redis-benchmark's default tests
//! without a single error reply. COMMAND DOCS itself is checked against Redis 7.2's shape.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{tool, Node, Value};

fn field<'a>(pairs: &'a [(Value, Value)], name: &str) -> Option<&'a Value> {
    pairs
        .iter()
        .find(|(key, _)| *key == Value::bulk(name))
        .map(|(_, value)| value)
}

/// COMMAND DOCS set: Redis 7.2's keys and argument maps (name, type, token, flags, nested
/// arguments for oneof), in RESP3 and in RESP2.
#[test]
fn command_docs_shape() {
    let node = Node::start(&[]);
    let mut client = node.client();
    for resp3 in [false, true] {
        if resp3 {
            client.query("HELLO 3");
        }
        let reply = client.query("COMMAND DOCS set");
        assert_eq!(matches!(reply, Value::Map(_)), resp3);
        let top = reply.pairs();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, Value::bulk("set"));
        let docs = top[0].1.pairs();
        assert!(field(&docs, "summary").map(Value::text).is_some_and(|s| !s.is_empty()));
        assert_eq!(field(&docs, "since"), Some(&Value::bulk("1.0.0")));
        assert_eq!(field(&docs, "group"), Some(&Value::bulk("string")));
        let Some(Value::Array(arguments)) = field(&docs, "arguments") else {
            panic!("no arguments: {docs:?}")
        };
        let names: Vec<String> = arguments
            .iter()
            .map(|a| field(&a.pairs(), "name").expect("name").text())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert_eq!(names[..2], ["key", "value"]);
        let key = arguments[0].pairs();
        assert_eq!(field(&key, "type"), Some(&Value::bulk("key")));
        assert_eq!(field(&key, "key_spec_index"), Some(&Value::Int(0)));
        // [NX | XX]: an optional oneof of pure tokens.
        let condition = arguments[2].pairs();
        assert_eq!(field(&condition, "type"), Some(&Value::bulk("oneof")));
        let optional = Value::Simple("optional".into());
        let flags = field(&condition, "flags").expect("flags");
        if resp3 {
            assert_eq!(flags, &Value::Set(vec![optional.clone()]));
        } else {
            assert_eq!(flags, &Value::Array(vec![optional.clone()]));
        }
        let Some(Value::Array(choices)) = field(&condition, "arguments") else {
            panic!("oneof without arguments")
        };
        let nx = choices[0].pairs();
        assert_eq!(field(&nx, "type"), Some(&Value::bulk("pure-token")));
        assert_eq!(field(&nx, "token"), Some(&Value::bulk("NX")));
        // [EX seconds | ... | EXAT unix-time-seconds ...]: tokens carried by typed arguments.
        let expiration_pairs = arguments[4].pairs();
        let Some(Value::Array(expiration)) = field(&expiration_pairs, "arguments") else {
            panic!("expiration without arguments")
        };
        let ex = expiration[0].pairs();
        assert_eq!(field(&ex, "name"), Some(&Value::bulk("seconds")));
        assert_eq!(field(&ex, "type"), Some(&Value::bulk("integer")));
        assert_eq!(field(&ex, "token"), Some(&Value::bulk("EX")));
        assert_eq!(field(&expiration[2].pairs(), "type"), Some(&Value::bulk("unix-time")));
    }
}

/// redis-cli in interactive mode (stdin not a terminal) loads COMMAND DOCS at start, runs
/// commands and prints help from the docs; it asserts on malformed docs, so a clean exit
/// shows the whole table is readable.
#[test]
fn redis_cli_interactive_with_hints() {
    let Some(cli) = tool("redis-cli") else { return };
    let node = Node::start(&[]);
    let mut child = Command::new(cli)
        .args(["-p", &node.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"SET greeting hello\nGET greeting\nHELP SET\nHELP @scripting\n")
        .expect("write");
    let output = child.wait_with_output().expect("redis-cli output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("Unknown type"), "{stderr}");
    assert!(stdout.contains("OK\nhello\n"), "{stdout}");
    assert!(stdout.contains("[NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds"), "{stdout}");
    assert!(stdout.contains("FUNCTION FLUSH"), "{stdout}");
}

/// `redis-cli --pipe` inserts 100,000 keys and reports no errors.
#[test]
fn redis_cli_pipe_mass_insert() {
    let Some(cli) = tool("redis-cli") else { return };
    let node = Node::start(&[]);
    const KEYS: usize = 100_000;
    let mut input = Vec::new();
    for n in 0..KEYS {
        let key = format!("key:{n:06}");
        let value = format!("value:{n}");
        input.extend(crate::support::request(&[b"SET", key.as_bytes(), value.as_bytes()]));
    }
    let mut child = Command::new(cli)
        .args(["-p", &node.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input).expect("write"));
    let output = child.wait_with_output().expect("redis-cli output");
    writer.join().expect("writer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("errors: 0, replies: {KEYS}")), "{stdout}");
    let mut client = node.client();
    assert_eq!(client.query("DBSIZE"), Value::Int(KEYS as i64));
    assert_eq!(client.query("GET key:099999"), Value::bulk("value:99999"));
}

/// Every default redis-benchmark test completes without an error reply (redis-benchmark exits
/// at the first one). redis-benchmark 7.2 and later also run XADD by default; Flotilla has no
/// streams, so that test is left out by name when the installed tool knows it.
#[test]
fn redis_benchmark_default_tests() {
    let Some(benchmark) = tool("redis-benchmark") else { return };
    let node = Node::start(&[]);
    let default_tests = [
        "ping_inline", "ping_mbulk", "set", "get", "incr", "lpush", "rpush", "lpop", "rpop", "sadd", "hset",
        "spop", "zadd", "zpopmin", "lrange_100", "lrange_300", "lrange_500", "lrange_600", "mset",
    ];
    let output = Command::new(benchmark)
        .args(["-p", &node.port.to_string(), "-q", "-n", "1000", "-c", "20"])
        .args(["-t", &default_tests.join(",")])
        .output()
        .expect("redis-benchmark");
    let stdout = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("rror"), "{stderr}");
    for name in [
        "PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET",
        "SPOP", "ZADD", "ZPOPMIN", "LRANGE_100", "LRANGE_300", "LRANGE_500", "LRANGE_600", "MSET",
    ] {
        let line = format!("\n{name}");
        assert!(
            stdout.lines().any(|l| l.starts_with(name) && l.contains("requests per second")),
            "{line}: no result in {stdout}"
        );
    }
}
