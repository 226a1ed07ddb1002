//! StackExchange.Redis as the server sees it: the connect handshake written as one batch
//! (3.x and 2.x, RESP2 and RESP3), read back reply by reply in order with the shapes the
//! client checks, and the LockTake / LockExtend / LockRelease sequences it uses against a
//! server that reports redis_version 7.2 (see /work/shared/CLIENTS.md).

use std::time::Duration;

use crate::support::{request, words, Bytes64, Client, Node, Value};

/// The client versions and protocols whose handshake differs.
#[derive(Clone, Copy, Debug)]
enum Handshake {
    /// SE.Redis 3.x, protocol=resp3: `HELLO 3` first.
    V3Resp3,
    /// SE.Redis 3.x, protocol=resp2: `HELLO 2` first.
    V3Resp2,
    /// SE.Redis 2.x, RESP2: no HELLO, `slave-read-only`.
    V2Resp2,
    /// SE.Redis 2.x, RESP3: `HELLO 3 SETNAME name`.
    V2Resp3,
}

impl Handshake {
    fn resp3(self) -> bool {
        matches!(self, Handshake::V3Resp3 | Handshake::V2Resp3)
    }
}

const CLIENT_NAME: &str = "flotilla-test(SE.Redis-v3.1.31)";

/// The batch the client writes on connect, each command with what its reply must look like.
fn batch(handshake: Handshake, echo: &[u8]) -> (Vec<u8>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut push = |bytes: Vec<u8>, name: &'static str| {
        out.extend_from_slice(&bytes);
        names.push(name);
    };
    match handshake {
        Handshake::V3Resp3 => push(words("HELLO 3"), "hello"),
        Handshake::V3Resp2 => push(words("HELLO 2"), "hello"),
        Handshake::V2Resp3 => push(words(&format!("HELLO 3 SETNAME {CLIENT_NAME}")), "hello"),
        Handshake::V2Resp2 => {}
    }
    push(words(&format!("CLIENT SETNAME {CLIENT_NAME}")), "ok");
    push(words("CLIENT SETINFO lib-name SE.Redis"), "ok");
    push(words("CLIENT SETINFO lib-ver 3.1.31.12345"), "ok");
    push(words("CLIENT ID"), "client id");
    let read_only = match handshake {
        Handshake::V2Resp2 | Handshake::V2Resp3 => "CONFIG GET slave-read-only",
        _ => "CONFIG GET replica-read-only",
    };
    push(words(read_only), "config read-only");
    push(words("CONFIG GET databases"), "config databases");
    push(words("SENTINEL MASTERS"), "error");
    push(words("INFO replication"), "info replication");
    push(words("INFO server"), "info server");
    push(words("CLUSTER NODES"), "error");
    push(words("GET __Booksleeve_TieBreak"), "nil");
    push(request(&[b"ECHO", echo]), "echo");
    (out, names)
}

/// 16 random bytes that certainly contain CR, LF (also as a CRLF pair) and NUL.
fn echo_payload() -> Vec<u8> {
    let mut random = Bytes64::seeded();
    let mut payload = random.bytes(16);
    let at = (random.next() % 12) as usize;
    payload[at] = b'\r';
    payload[at + 1] = b'\n';
    payload[(at + 3) % 16] = 0;
    payload[(at + 5) % 16] = b'\r';
    payload
}

fn info_fields(value: &Value, resp3: bool) -> Vec<(String, String)> {
    match value {
        Value::Verbatim(format, _) => {
            assert!(resp3, "verbatim string in RESP2");
            assert_eq!(format, "txt");
        }
        Value::Bulk(_) => assert!(!resp3, "INFO is a verbatim string in RESP3, as in Redis"),
        other => panic!("INFO reply {other:?}"),
    }
    value
        .text()
        .split("\r\n")
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once(':').unwrap_or_else(|| panic!("INFO line {line:?}"));
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("INFO has no {name}"))
}

/// Runs the handshake on a fresh connection and checks every reply; returns the client.
fn handshake(node: &Node, handshake: Handshake) -> Client {
    let echo = echo_payload();
    let (bytes, expected) = batch(handshake, &echo);
    let mut client = node.client();
    client.send_raw(&bytes);
    let resp3 = handshake.resp3();
    let mut hello_id = None;
    for name in expected {
        let (reply, raw) = client.read_with_bytes();
        let context = format!("{handshake:?}: reply to {name}: {reply:?}");
        match name {
            "hello" => {
                let expected_head: &[u8] = if resp3 { b"%7\r\n" } else { b"*14\r\n" };
                assert!(raw.starts_with(expected_head), "{context}");
                let pairs = reply.pairs();
                let keys: Vec<String> = pairs.iter().map(|(k, _)| k.text()).collect();
                assert_eq!(keys, ["server", "version", "proto", "id", "mode", "role", "modules"], "{context}");
                assert_eq!(pairs[1].1, Value::bulk("7.2.4"), "{context}");
                assert_eq!(pairs[2].1, Value::Int(if resp3 { 3 } else { 2 }), "{context}");
                let Value::Int(id) = pairs[3].1 else {
                    panic!("{context}: id is not an integer")
                };
                hello_id = Some(id);
                assert_eq!(pairs[4].1, Value::bulk("standalone"), "{context}");
                assert_eq!(pairs[5].1, Value::bulk("master"), "{context}");
                assert_eq!(pairs[6].1, Value::Array(Vec::new()), "{context}");
            }
            "ok" => assert_eq!(raw, b"+OK\r\n", "{context}"),
            "client id" => {
                let Value::Int(id) = reply else {
                    panic!("{context}")
                };
                assert!(id > 0, "{context}");
                if let Some(hello_id) = hello_id {
                    assert_eq!(id, hello_id, "{context}");
                }
            }
            "config read-only" | "config databases" => {
                // RESP3 right after HELLO 3: the map form, already.
                assert_eq!(matches!(reply, Value::Map(_)), resp3, "{context}");
                let pairs = reply.pairs();
                assert_eq!(pairs.len(), 1, "{context}");
                let (parameter, value) = (pairs[0].0.text(), pairs[0].1.text());
                if name == "config databases" {
                    assert_eq!(parameter, "databases", "{context}");
                    assert_eq!(value, "16", "{context}");
                } else {
                    assert!(parameter == "replica-read-only" || parameter == "slave-read-only", "{context}");
                    assert_eq!(value, "yes", "{context}");
                }
            }
            "error" => assert!(reply.is_error(), "{context}"),
            "info replication" => {
                let fields = info_fields(&reply, resp3);
                assert_eq!(field(&fields, "role"), "master", "{context}");
            }
            "info server" => {
                let fields = info_fields(&reply, resp3);
                assert_eq!(field(&fields, "redis_version"), "7.2.4", "{context}");
                assert_eq!(field(&fields, "redis_mode"), "standalone", "{context}");
                let run_id = field(&fields, "run_id");
                assert_eq!(run_id.len(), 40, "{context}");
                assert!(run_id.bytes().all(|b| b.is_ascii_hexdigit()), "{context}");
                // Sections other than the one asked for are not included.
                assert!(fields.iter().all(|(k, _)| k != "role"), "{context}");
            }
            "nil" => assert_eq!(raw, if resp3 { &b"_\r\n"[..] } else { &b"$-1\r\n"[..] }, "{context}"),
            "echo" => {
                let mut expected = b"$16\r\n".to_vec();
                expected.extend_from_slice(&echo);
                expected.extend_from_slice(b"\r\n");
                assert_eq!(raw, expected, "{context}");
            }
            other => unreachable!("{other}"),
        }
    }
    assert!(client.nothing_more(Duration::from_millis(200)), "{handshake:?}: an extra reply");
    // After the batch: INFO replication again, and PING as keep-alive (a simple string).
    let fields = info_fields(&client.query("INFO replication"), resp3);
    assert_eq!(field(&fields, "role"), "master");
    let (_, raw) = {
        client.send_raw(&words("PING"));
        client.read_with_bytes()
    };
    assert_eq!(raw, b"+PONG\r\n");
    client
}

/// Every handshake variant gets one reply per command, in order, with the right shapes.
#[test]
fn handshake_batches() {
    let node = Node::start(&[]);
    for variant in [
        Handshake::V3Resp3,
        Handshake::V3Resp2,
        Handshake::V2Resp2,
        Handshake::V2Resp3,
    ] {
        let mut client = handshake(&node, variant);
        let list = client.query("CLIENT LIST").text();
        assert!(list.contains(&format!("name={CLIENT_NAME}")), "{list}");
    }
}

/// The RESP2 subscription connection: CLIENT SETNAME / SETINFO / ID and ECHO, then SUBSCRIBE
/// to the master-changed channel in one batch.
#[test]
fn subscription_connection_resp2() {
    let node = Node::start(&[]);
    let echo = echo_payload();
    let mut client = node.client();
    let mut batch = words(&format!("CLIENT SETNAME {CLIENT_NAME}"));
    batch.extend(words("CLIENT SETINFO lib-name SE.Redis"));
    batch.extend(words("CLIENT SETINFO lib-ver 2.13.17"));
    batch.extend(words("CLIENT ID"));
    batch.extend(request(&[b"ECHO", &echo]));
    batch.extend(words("SUBSCRIBE __Booksleeve_MasterChanged"));
    client.send_raw(&batch);
    for _ in 0..3 {
        assert_eq!(client.read_with_bytes().1, b"+OK\r\n");
    }
    assert!(matches!(client.read(), Value::Int(id) if id > 0));
    assert_eq!(client.read(), Value::Bulk(echo));
    assert_eq!(
        client.read_with_bytes().1,
        b"*3\r\n$9\r\nsubscribe\r\n$26\r\n__Booksleeve_MasterChanged\r\n:1\r\n"
    );
    assert!(client.nothing_more(Duration::from_millis(200)));
    // Keep-alive while subscribed in RESP2.
    assert_eq!(client.query("PING"), Value::Array(vec![Value::bulk("pong"), Value::bulk("")]));
}

/// The lock helpers for redis_version < 8.4, in one protocol.
fn locks(resp3: bool) {
    let node = Node::start(&[]);
    let mut owner = node.client();
    let mut other = node.client();
    if resp3 {
        owner.query("HELLO 3");
        other.query("HELLO 3");
    }
    let nil: &[u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
    let nil_array: &[u8] = if resp3 { b"_\r\n" } else { b"*-1\r\n" };
    let read_raw = |client: &mut Client| client.read_with_bytes().1;

    // LockTake: SET NX with a TTL; +OK for the first taker, null for the next.
    owner.send_raw(&words("SET lock token-a PX 30000 NX"));
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    other.send_raw(&words("SET lock token-b EX 30 NX"));
    assert_eq!(read_raw(&mut other), nil);
    // LockQuery.
    assert_eq!(other.query("GET lock"), Value::bulk("token-a"));

    // LockExtend by the owner: WATCH, GET (awaited), then MULTI / PEXPIRE / EXEC as one batch.
    owner.send_raw(&words("WATCH lock"));
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    assert_eq!(owner.query("GET lock"), Value::bulk("token-a"));
    let mut batch = words("MULTI");
    batch.extend(words("PEXPIRE lock 60000"));
    batch.extend(words("EXEC"));
    owner.send_raw(&batch);
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    assert_eq!(read_raw(&mut owner), b"+QUEUED\r\n");
    assert_eq!(read_raw(&mut owner), b"*1\r\n:1\r\n");
    let Value::Int(ttl_ms) = owner.query("PTTL lock") else {
        panic!("PTTL")
    };
    assert!(ttl_ms > 30_000 && ttl_ms <= 60_000, "extended TTL {ttl_ms}");

    // LockExtend / LockRelease by a non-owner: the value differs, so UNWATCH and give up.
    other.send_raw(&words("WATCH lock"));
    assert_eq!(read_raw(&mut other), b"+OK\r\n");
    assert_eq!(other.query("GET lock"), Value::bulk("token-a"));
    other.send_raw(&words("UNWATCH"));
    assert_eq!(read_raw(&mut other), b"+OK\r\n");
    assert_eq!(other.query("EXISTS lock"), Value::Int(1));

    // A release whose watched key changes in between fails with a null array ...
    owner.send_raw(&words("WATCH lock"));
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    assert_eq!(owner.query("GET lock"), Value::bulk("token-a"));
    other.send_raw(&words("SET lock token-a KEEPTTL"));
    assert_eq!(read_raw(&mut other), b"+OK\r\n");
    let mut batch = words("MULTI");
    batch.extend(words("UNLINK lock"));
    batch.extend(words("EXEC"));
    owner.send_raw(&batch);
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    assert_eq!(read_raw(&mut owner), b"+QUEUED\r\n");
    assert_eq!(read_raw(&mut owner), nil_array);
    assert_eq!(owner.query("GET lock"), Value::bulk("token-a"));

    // ... and EXEC cleared the WATCH, so the retry succeeds: LockRelease deletes the key.
    owner.send_raw(&words("WATCH lock"));
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    assert_eq!(owner.query("GET lock"), Value::bulk("token-a"));
    owner.send_raw(&batch);
    assert_eq!(read_raw(&mut owner), b"+OK\r\n");
    assert_eq!(read_raw(&mut owner), b"+QUEUED\r\n");
    assert_eq!(read_raw(&mut owner), b"*1\r\n:1\r\n");
    owner.send_raw(&words("GET lock"));
    assert_eq!(read_raw(&mut owner), nil);

    // Released: the other client can take it now; EXPIRE on a missing key is 0.
    other.send_raw(&words("SET lock token-b EX 30 NX"));
    assert_eq!(read_raw(&mut other), b"+OK\r\n");
    assert_eq!(owner.query("EXPIRE missing 10"), Value::Int(0));
    assert_eq!(owner.query("DEL missing"), Value::Int(0));
}

#[test]
fn locks_resp2() {
    locks(false);
}

#[test]
fn locks_resp3() {
    locks(true);
}
