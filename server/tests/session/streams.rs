//! Streams over the wire: exact reply bytes of the real binary for XADD / XREADGROUP / XACK,
//! a blocked XREAD woken by another client's XADD, a blocked XREADGROUP timing out and one
//! whose stream is deleted, XREAD's RESP3 map, and DUMP / RESTORE of streams (also of a
//! payload redis-server writes).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{self, request, Client, Node, Value};

/// A consumer group reads new entries into its PEL, XACK clears them; XREAD BLOCK `$` gets
/// only what another client adds after it blocked; timeouts reply a null array; a deleted
/// stream ends a blocked XREADGROUP with Redis's error.
#[test]
fn stream_groups_and_blocking_reads() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let mut reader = node.client();
    client.call("XADD s 1-1 f v", b"$3\r\n1-1\r\n");
    client.call("XGROUP CREATE s g 0", b"+OK\r\n");
    client.call(
        "XREADGROUP GROUP g alice COUNT 1 STREAMS s >",
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
    );
    client.call("XPENDING s g", b"*4\r\n:1\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n");
    client.call("XACK s g 1-1 1-1", b":1\r\n");
    client.call("XPENDING s g", b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n");

    // Blocked on `$`: the entry added before the block is not delivered, the one after is.
    reader.send("XREAD BLOCK 0 STREAMS s $");
    std::thread::sleep(Duration::from_millis(200));
    client.call("XADD s 2-0 a b", b"$3\r\n2-0\r\n");
    reader.expect(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");

    // A group reader gets what the group has not delivered yet at once; blocked on `>`, it is
    // served by the next XADD.
    reader.call(
        "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >",
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    reader.send("XREADGROUP GROUP g bob BLOCK 0 STREAMS s >");
    std::thread::sleep(Duration::from_millis(200));
    client.call("XADD s 3-0 c d", b"$3\r\n3-0\r\n");
    reader.expect(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nc\r\n$1\r\nd\r\n");
    client.call("XINFO CONSUMERS s nog", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n");

    // Timeouts reply a null array.
    reader.call("XREAD BLOCK 50 STREAMS s $", b"*-1\r\n");
    reader.call("XREADGROUP GROUP g bob BLOCK 50 STREAMS s >", b"*-1\r\n");

    // The stream is deleted under a blocked group reader.
    reader.send("XREADGROUP GROUP g bob BLOCK 0 STREAMS s >");
    std::thread::sleep(Duration::from_millis(200));
    client.call("DEL s", b":1\r\n");
    reader.expect(b"-UNBLOCKED the stream key no longer exists\r\n");

    // RESP3: XREAD answers a map.
    client.call("XADD t 1-0 f v", b"$3\r\n1-0\r\n");
    reader.send("HELLO 3");
    while reader.read_line() != "*0" {}
    reader.call("XREAD STREAMS t 0", b"%1\r\n$1\r\nt\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    reader.call("TYPE t", b"+stream\r\n");
}

/// Builds the same stream on any server: entries with differing fields and integer values,
/// a deletion, a group with PEL entries of two consumers, a group with an idle consumer.
fn build_stream(client: &mut Client) {
    for command in [
        "XADD s 1-1 a 1 b hello",
        "XADD s 1-2 a 2 b two",
        "XADD s 2-0 c -5000",
        "XADD s 3-0 a 007 b y",
        "XDEL s 1-2",
        "XGROUP CREATE s g1 0",
        "XREADGROUP GROUP g1 alice COUNT 2 STREAMS s >",
        "XREADGROUP GROUP g1 bob COUNT 1 STREAMS s >",
        "XGROUP CREATE s g2 $ ENTRIESREAD 3",
        "XGROUP CREATECONSUMER s g2 carol",
    ] {
        assert!(!client.query(command).is_error(), "{command}");
    }
}

fn dump(client: &mut Client, key: &str) -> Vec<u8> {
    match client.query(&format!("DUMP {key}")) {
        Value::Bulk(payload) => payload,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(client: &mut Client, key: &str, payload: &[u8]) {
    client.send_raw(&request(&[b"RESTORE", key.as_bytes(), b"0", payload]));
    client.expect(b"+OK\r\n");
}

/// XINFO STREAM FULL without the consumers' active-time (Redis 7.0 has none).
fn full_info(client: &mut Client, key: &str) -> Value {
    fn strip(value: Value) -> Value {
        match value {
            Value::Array(items) => {
                let mut kept = Vec::new();
                let mut items = items.into_iter().peekable();
                while let Some(item) = items.next() {
                    if item == Value::bulk("active-time") && items.peek().is_some_and(|v| matches!(v, Value::Int(_))) {
                        items.next();
                        continue;
                    }
                    kept.push(strip(item));
                }
                Value::Array(kept)
            }
            other => other,
        }
    }
    strip(client.query(&format!("XINFO STREAM {key} FULL")))
}

/// DUMP then RESTORE gives a stream with the same XINFO STREAM FULL, active times included,
/// that goes on alike (the next XADD and a group's read).
#[test]
fn streams_round_trip_through_dump_and_restore() {
    let node = Node::start(&[]);
    let mut client = node.client();
    build_stream(&mut client);
    let payload = dump(&mut client, "s");
    assert_eq!(payload[0], 21, "RDB_TYPE_STREAM_LISTPACKS_3");
    restore(&mut client, "copy", &payload);
    let original = client.query("XINFO STREAM s FULL");
    assert_eq!(client.query("XINFO STREAM copy FULL"), original);
    client.call("XADD s 4-0 z 1", b"$3\r\n4-0\r\n");
    client.call("XADD copy 4-0 z 1", b"$3\r\n4-0\r\n");
    // The entries each group read gives, without the key's name.
    let read = |client: &mut Client, key: &str| match client.query(&format!("XREADGROUP GROUP g2 carol STREAMS {key} >")) {
        Value::Array(streams) => match &streams[0] {
            Value::Array(pair) => pair[1].clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let entries = read(&mut client, "s");
    assert!(matches!(&entries, Value::Array(items) if items.len() == 1), "only 4-0 is new to g2: {entries:?}");
    assert_eq!(read(&mut client, "copy"), entries);
    client.call("RESTORE copy 0 junk REPLACE", b"-ERR DUMP payload version or checksum are wrong\r\n");
}

/// A stream DUMPed by the installed redis-server (Redis 7.0 writes type 19, 7.2 type 21)
/// restores with the XINFO STREAM FULL Redis reports for it.
#[test]
fn streams_restore_from_redis_server() {
    let Some(redis_server) = support::tool("redis-server") else { return };
    struct Server(Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let port = support::free_port();
    let dir = support::temp_dir();
    let _server = Server(
        Command::new(redis_server)
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts"),
    );
    let mut redis = None;
    support::wait_until(Duration::from_secs(10), "redis-server to accept", || {
        redis = Client::try_connect(port).ok();
        redis.is_some()
    });
    let mut redis = redis.expect("connected");
    build_stream(&mut redis);
    let payload = dump(&mut redis, "s");
    assert!([19, 21].contains(&payload[0]), "stream type {}", payload[0]);
    let expected = full_info(&mut redis, "s");

    let node = Node::start(&[]);
    let mut client = node.client();
    restore(&mut client, "s", &payload);
    assert_eq!(full_info(&mut client, "s"), expected);
}

/// Commands sent one after the other on two connections run in the order they were sent, as
/// Redis's event loop runs them: a blocking XREADGROUP sent on one connection and, without
/// waiting for it, a DEL of its stream on another end the read with the deleted-stream error.
/// Run the other way round, the read finds no group. With tokio's LIFO slot the connection
/// read last ran first whenever one poll of the sockets found both ready (9 rounds in 10 of
/// this loop; the Redis suite's "Blocking XREADGROUP: key deleted" failed so under load).
#[test]
fn commands_sent_in_turn_on_two_connections_run_in_that_order() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let mut reader = node.client();
    let rounds = 200;
    let mut in_order = 0;
    for _ in 0..rounds {
        client.call("XGROUP CREATE s g $ MKSTREAM", b"+OK\r\n");
        reader.send("XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
        client.call("DEL s", b":1\r\n");
        let reply = reader.read_line();
        if reply.starts_with("-UNBLOCKED") {
            in_order += 1;
        } else {
            assert!(reply.starts_with("-NOGROUP"), "unexpected reply {reply}");
        }
    }
    assert!(in_order >= rounds * 9 / 10, "the DEL ran first in {} of {rounds} rounds", rounds - in_order);
}
