//! Session behaviour of the real binary over TCP, asserting exact reply bytes: pub/sub in RESP2
//! and RESP3, keyspace notifications, transactions, protocol errors, connection limits,
//! CLIENT REPLY / KILL, MONITOR, SLOWLOG, SHUTDOWN and SIGTERM, READONLY / READWRITE.

mod acl;
mod hll_geo;
mod streams;
mod tracking;
#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;
use support::{Node, Value};

/// Subscribed RESP2 clients get arrays, PING's two-element form, and refusal of other
/// commands; a publisher's message arrives as a `message` array.
#[test]
fn pubsub_resp2() {
    let node = Node::start(&[]);
    let mut subscriber = node.client();
    let mut publisher = node.client();
    subscriber.call(
        "SUBSCRIBE a b",
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    subscriber.call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    subscriber.call("PING hi", b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    subscriber.call(
        "GET k",
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    publisher.call("PUBLISH a hello", b":1\r\n");
    subscriber.expect(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n");
    subscriber.call("PSUBSCRIBE a*", b"*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:3\r\n");
    publisher.call("PUBLISH a x", b":2\r\n");
    subscriber.expect(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n");
    subscriber.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$1\r\nx\r\n");
    publisher.call("PUBSUB NUMSUB a zz", b"*4\r\n$1\r\na\r\n:1\r\n$2\r\nzz\r\n:0\r\n");
    publisher.call("PUBSUB NUMPAT", b":1\r\n");
    publisher.call("PUBSUB CHANNELS", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    subscriber.call(
        "UNSUBSCRIBE",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n",
    );
    subscriber.call("PUNSUBSCRIBE", b"*3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n");
    subscriber.call("PUNSUBSCRIBE", b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
    subscriber.call("PING", b"+PONG\r\n");
}

/// RESP3 subscribers get push frames and may run any command while subscribed.
#[test]
fn pubsub_resp3() {
    let node = Node::start(&[]);
    let mut subscriber = node.client();
    let mut publisher = node.client();
    subscriber.send("HELLO 3");
    assert_eq!(subscriber.read_line(), "%7");
    // The last field is `modules`, an empty array.
    while subscriber.read_line() != "*0" {}
    subscriber.call("SUBSCRIBE ch", b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    subscriber.call("GET missing", b"_\r\n");
    subscriber.call("PING", b"+PONG\r\n");
    publisher.call("PUBLISH ch m", b":1\r\n");
    subscriber.expect(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n");
    // Shard channels are a namespace of their own.
    subscriber.call("SSUBSCRIBE sh", b">3\r\n$10\r\nssubscribe\r\n$2\r\nsh\r\n:1\r\n");
    publisher.call("PUBLISH sh m", b":0\r\n");
    publisher.call("SPUBLISH sh m", b":1\r\n");
    subscriber.expect(b">3\r\n$8\r\nsmessage\r\n$2\r\nsh\r\n$1\r\nm\r\n");
}

/// Subscription notifications are sent even while replies are switched off.
#[test]
fn pubsub_notifications_ignore_client_reply_off() {
    let node = Node::start(&[]);
    let mut subscriber = node.client();
    subscriber.send("CLIENT REPLY OFF");
    subscriber.call("SUBSCRIBE c", b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
}

/// Keyspace and keyevent notifications follow notify-keyspace-events, after the write.
#[test]
fn keyspace_notifications() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    let mut subscriber = node.client();
    admin.call("CONFIG SET notify-keyspace-events KEA", b"+OK\r\n");
    subscriber.call("PSUBSCRIBE *", b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n");
    admin.call("SET foo bar", b"+OK\r\n");
    subscriber.expect(&pmessage("*", "__keyspace@0__:foo", "set"));
    subscriber.expect(&pmessage("*", "__keyevent@0__:set", "foo"));
    admin.call("CONFIG SET notify-keyspace-events Kl", b"+OK\r\n");
    admin.call("SET foo baz", b"+OK\r\n");
    admin.call("LPUSH list a", b":1\r\n");
    subscriber.expect(&pmessage("*", "__keyspace@0__:list", "lpush"));
}

/// A node makes keyspace events only while something on it wants them (`EventSwitch`):
/// notify-keyspace-events, a tracking client, a blocked client. Each of them, started after
/// writes that ran without events, stopped, and started again, sees every change made after it.
#[test]
fn keyspace_events_are_made_whenever_something_wants_them() {
    let node = Node::start(&[]);
    let mut writer = node.client();
    for round in 0..2 {
        writer.call("SET k quiet", b"+OK\r\n");
        writer.call("LPUSH q quiet", b":1\r\n");
        writer.call("DEL q", b":1\r\n");

        let mut subscriber = node.client();
        writer.call("CONFIG SET notify-keyspace-events E$", b"+OK\r\n");
        subscriber.call(
            "SUBSCRIBE __keyevent@0__:set",
            b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:set\r\n:1\r\n",
        );
        writer.call("SET k heard", b"+OK\r\n");
        subscriber.expect(b"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\nk\r\n");
        writer.send_raw(&support::request(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]));
        writer.expect(b"+OK\r\n");
        writer.call("SET k unheard", b"+OK\r\n");
        assert!(subscriber.nothing_more(Duration::from_millis(200)), "round {round}: notified with no flags");

        let mut tracker = node.client();
        assert!(matches!(tracker.query("HELLO 3"), support::Value::Map(_)));
        tracker.call("CLIENT TRACKING on", b"+OK\r\n");
        tracker.call("GET k", b"$7\r\nunheard\r\n");
        writer.call("SET k changed", b"+OK\r\n");
        assert_eq!(
            tracker.read(),
            support::Value::Push(vec![
                support::Value::bulk("invalidate"),
                support::Value::Array(vec![support::Value::bulk("k")]),
            ]),
            "round {round}"
        );
        tracker.call("CLIENT TRACKING off", b"+OK\r\n");

        let mut waiter = node.client();
        waiter.send("BLPOP q 0");
        wait_for_blocked_clients(&mut writer, 1);
        writer.call("RPUSH q job", b":1\r\n");
        waiter.expect(b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n");
    }
}

/// INFO stats counts the keys reads found (keyspace_hits) and did not find (keyspace_misses);
/// writes count neither and CONFIG RESETSTAT zeroes both. A miss is a `keymiss` event for
/// subscribers of class `m`, which `A` does not include.
#[test]
fn keyspace_hits_and_misses_count_read_lookups() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let mut subscriber = node.client();
    let counts = |client: &mut support::Client| {
        let info = client.bulk("INFO stats");
        (info_field(&info, "keyspace_hits"), info_field(&info, "keyspace_misses"))
    };
    client.call("SET a 1", b"+OK\r\n");
    client.call("INCR counter", b":1\r\n");
    client.call("GET a", b"$1\r\n1\r\n");
    client.call("GET nosuch", b"$-1\r\n");
    client.call("MGET a b c", b"*3\r\n$1\r\n1\r\n$-1\r\n$-1\r\n");
    client.call("EXISTS a counter", b":2\r\n");
    assert_eq!(counts(&mut client), ("4".into(), "3".into()));
    client.call("CONFIG RESETSTAT", b"+OK\r\n");
    assert_eq!(counts(&mut client), ("0".into(), "0".into()));

    client.call("CONFIG SET notify-keyspace-events KEA", b"+OK\r\n");
    subscriber.call("PSUBSCRIBE *", b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n");
    client.call("GET nosuch", b"$-1\r\n");
    assert!(subscriber.nothing_more(Duration::from_millis(300)), "A includes keymiss");
    client.call("CONFIG SET notify-keyspace-events Em", b"+OK\r\n");
    client.call("GET a", b"$1\r\n1\r\n");
    client.call("GET missing", b"$-1\r\n");
    subscriber.expect(&pmessage("*", "__keyevent@0__:keymiss", "missing"));
    assert!(subscriber.nothing_more(Duration::from_millis(300)), "a hit published keymiss");
}

fn pmessage(pattern: &str, channel: &str, message: &str) -> Vec<u8> {
    let mut out = b"*4\r\n$8\r\npmessage\r\n".to_vec();
    for part in [pattern, channel, message] {
        out.extend_from_slice(format!("${}\r\n{part}\r\n", part.len()).as_bytes());
    }
    out
}

/// MULTI/EXEC: QUEUED replies, per-command results, queue-time errors abort, WATCH aborts
/// with a null reply, and the misuse errors.
#[test]
fn transactions() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let mut other = node.client();
    client.call("MULTI", b"+OK\r\n");
    client.call("MULTI", b"-ERR MULTI calls can not be nested\r\n");
    client.call("WATCH x", b"-ERR WATCH inside MULTI is not allowed\r\n");
    client.call("SET a 1", b"+QUEUED\r\n");
    client.call("INCR a", b"+QUEUED\r\n");
    client.call("LPUSH a x", b"+QUEUED\r\n");
    client.call("PING", b"+QUEUED\r\n");
    client.call(
        "EXEC",
        b"*4\r\n+OK\r\n:2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n+PONG\r\n",
    );
    client.call("EXEC", b"-ERR EXEC without MULTI\r\n");
    client.call("DISCARD", b"-ERR DISCARD without MULTI\r\n");

    client.call("MULTI", b"+OK\r\n");
    client.call("SET b 1", b"+QUEUED\r\n");
    client.call(
        "NOSUCH x",
        b"-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
    );
    client.call("GET", b"-ERR wrong number of arguments for 'get' command\r\n");
    client.call(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    client.call("EXISTS b", b":0\r\n");

    client.call("MULTI", b"+OK\r\n");
    client.call("SHUTDOWN", b"-ERR Command not allowed inside a transaction\r\n");
    client.call(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );

    client.call("WATCH w", b"+OK\r\n");
    other.call("SET w 1", b"+OK\r\n");
    client.call("MULTI", b"+OK\r\n");
    client.call("SET w 2", b"+QUEUED\r\n");
    client.call("EXEC", b"*-1\r\n");
    client.call("GET w", b"$1\r\n1\r\n");

    // A watched key that expires aborts the transaction too.
    client.call("SET e 1 PX 50", b"+OK\r\n");
    client.call("WATCH e", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(120));
    client.call("MULTI", b"+OK\r\n");
    client.call("PING", b"+QUEUED\r\n");
    client.call("EXEC", b"*-1\r\n");

    // FLUSHALL touches a watched key that existed.
    client.call("SET f 1", b"+OK\r\n");
    client.call("WATCH f", b"+OK\r\n");
    other.call("FLUSHALL", b"+OK\r\n");
    client.call("MULTI", b"+OK\r\n");
    client.call("PING", b"+QUEUED\r\n");
    client.call("EXEC", b"*-1\r\n");

    // EXEC always forgets the watched keys.
    client.call("WATCH g", b"+OK\r\n");
    other.call("SET g 1", b"+OK\r\n");
    client.call("MULTI", b"+OK\r\n");
    client.call("EXEC", b"*-1\r\n");
    client.call("MULTI", b"+OK\r\n");
    client.call("EXEC", b"*0\r\n");
}

/// Malformed requests get Redis's protocol error and the connection is closed; harmless
/// oddities (empty lines, negative counts, inline commands) are served.
#[test]
fn protocol_edge_cases() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.send_raw(b"\r\n*-10\r\n*0\r\nPING\r\nECHO \"a b\"\r\n");
    client.expect(b"+PONG\r\n$3\r\na b\r\n");
    for (input, error) in [
        (&b"*3000000000\r\n"[..], "invalid multibulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "expected '$', got 'f'"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "invalid bulk length"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            "invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            "invalid bulk length",
        ),
        (
            b"set \"\"\"test-key\"\"\" test-value\r\n",
            "unbalanced quotes in request",
        ),
    ] {
        let mut client = node.client();
        client.send_raw(input);
        client.expect(format!("-ERR Protocol error: {error}\r\n").as_bytes());
        assert!(client.closed_within(Duration::from_secs(5)));
    }
}

/// Requests from a client that must still authenticate are held small.
#[test]
fn unauthenticated_request_limits() {
    let node = Node::start(&["--requirepass", "secret"]);
    let mut client = node.client();
    client.call("GET k", b"-NOAUTH Authentication required.\r\n");
    // The header alone is refused (nothing is left unread, so the close is a clean FIN).
    client.send_raw(b"*11\r\n");
    client.expect(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    assert!(client.closed_within(Duration::from_secs(5)));
    let mut client = node.client();
    client.call("AUTH secret", b"+OK\r\n");
    client.send(&["x"; 11].join(" "));
    client.expect(
        b"-ERR unknown command 'x', with args beginning with: 'x' 'x' 'x' 'x' 'x' 'x' 'x' 'x' 'x' 'x' \r\n",
    );
}

/// `maxclients` refuses the connection over the limit with Redis's error and counts it.
#[test]
fn maxclients_refuses_and_counts() {
    let node = Node::start(&["--maxclients", "1"]);
    // The start-up probe may still hold the only slot for a moment.
    let mut first = loop {
        let mut client = node.client();
        client.send("PING");
        if client.read_line() == "+PONG" {
            break client;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut second = node.client();
    second.expect(b"-ERR max number of clients reached\r\n");
    assert!(second.closed_within(Duration::from_secs(5)));
    let info = first.bulk("INFO stats");
    let rejected: u64 = info
        .split("\r\n")
        .find_map(|line| line.strip_prefix("rejected_connections:"))
        .and_then(|n| n.parse().ok())
        .expect("rejected_connections");
    assert!(rejected >= 1, "{info}");
}

/// An idle client is closed after `timeout` seconds; a subscriber is not.
#[test]
fn idle_timeout_spares_subscribers() {
    let node = Node::start(&["--timeout", "1"]);
    let mut idle = node.client();
    let mut subscriber = node.client();
    idle.call("PING", b"+PONG\r\n");
    subscriber.call("SUBSCRIBE c", b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    assert!(idle.closed_within(Duration::from_secs(4)));
    subscriber.call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

/// The idle time counts from the last request: a client that keeps talking outlives the
/// timeout, and one that falls silent is closed; a `timeout` set later applies to a
/// connection already open.
#[test]
fn idle_timeout_counts_from_the_last_request() {
    let node = Node::start(&["--timeout", "2"]);
    let mut busy = node.client();
    let started = support::now();
    while started.elapsed() < Duration::from_millis(3500) {
        busy.call("PING", b"+PONG\r\n");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(busy.closed_within(Duration::from_secs(5)));

    let node = Node::start(&[]);
    let mut admin = node.client();
    let mut quiet = node.client();
    quiet.call("PING", b"+PONG\r\n");
    admin.call("CONFIG SET timeout 1", b"+OK\r\n");
    assert!(quiet.closed_within(Duration::from_secs(4)));
}

/// CLIENT REPLY OFF silences replies until ON; SKIP silences the next command only.
#[test]
fn client_reply_modes() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.send("CLIENT REPLY OFF");
    client.send("SET a 1");
    client.call("CLIENT REPLY ON", b"+OK\r\n");
    client.send("CLIENT REPLY SKIP");
    client.send("GET a");
    client.call("GET a", b"$1\r\n1\r\n");
}

/// CLIENT KILL by id, by address and by type closes the matching connections.
#[test]
fn client_kill_variants() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    let mut victim = node.client();
    victim.send("CLIENT ID");
    let id = victim.read_line();
    let id = id.trim_start_matches(':');
    admin.call(&format!("CLIENT KILL ID {id}"), b":1\r\n");
    assert!(victim.closed_within(Duration::from_secs(5)));

    let mut victim = node.client();
    let address = victim.stream.local_addr().unwrap().to_string();
    victim.call("PING", b"+PONG\r\n");
    admin.call(&format!("CLIENT KILL {address}"), b"+OK\r\n");
    assert!(victim.closed_within(Duration::from_secs(5)));
    admin.call("CLIENT KILL 127.0.0.1:1", b"-ERR No such client\r\n");

    let mut subscriber = node.client();
    subscriber.call("SUBSCRIBE c", b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    admin.call("CLIENT KILL TYPE pubsub", b":1\r\n");
    assert!(subscriber.closed_within(Duration::from_secs(5)));

    admin.call(
        "CLIENT KILL TYPE nosuch",
        b"-ERR Unknown client type 'nosuch'\r\n",
    );
    admin.call("CLIENT KILL ID 0", b"-ERR client-id should be greater than 0\r\n");
    admin.call("CLIENT KILL SKIPME maybe", b"-ERR syntax error\r\n");
    // The old form may kill the caller, which still gets its reply.
    let own = admin.stream.local_addr().unwrap().to_string();
    admin.call(&format!("CLIENT KILL {own}"), b"+OK\r\n");
    assert!(admin.closed_within(Duration::from_secs(5)));
}

/// MONITOR shows each executed command as Redis formats it, MULTI … EXEC in order.
#[test]
fn monitor_lines() {
    let node = Node::start(&[]);
    let mut monitor = node.client();
    let mut client = node.client();
    monitor.call("MONITOR", b"+OK\r\n");
    client.call("set k v", b"+OK\r\n");
    let line = monitor.read_line();
    let (time, rest) = line.split_once(' ').expect("time");
    assert!(time.starts_with('+'), "{line}");
    let (seconds, micros) = time[1..].split_once('.').expect("dot");
    assert!(
        seconds.len() >= 10 && seconds.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    let peer = client.stream.local_addr().unwrap().to_string();
    assert_eq!(rest, format!("[0 {peer}] \"set\" \"k\" \"v\""));

    client.call("multi", b"+OK\r\n");
    client.call("set a \"x", b"+QUEUED\r\n");
    client.call("exec", b"*1\r\n+OK\r\n");
    assert!(monitor.read_line().ends_with("\"multi\""));
    assert!(monitor.read_line().ends_with("\"set\" \"a\" \"\\\"x\""));
    assert!(monitor.read_line().ends_with("\"exec\""));
    client.call("auth x", b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");
    assert!(monitor.read_line().ends_with("\"auth\" \"(redacted)\""));
    // Administrative commands are not shown.
    client.call("CONFIG SET timeout 0", b"+OK\r\n");
    client.call("echo e", b"$1\r\ne\r\n");
    assert!(monitor.read_line().ends_with("\"echo\" \"e\""));
}

/// The commands a script or function runs are shown after the script's own line, as
/// `[db lua]`; a command the script could not run (unknown) is not.
#[test]
fn monitor_shows_script_commands() {
    let node = Node::start(&[]);
    let mut monitor = node.client();
    let mut client = node.client();
    monitor.call("MONITOR", b"+OK\r\n");
    client.send_args(&[
        "EVAL",
        "redis.call('set',KEYS[1],ARGV[1]) redis.pcall('nosuch') redis.call('select','3') return redis.call('get',KEYS[1])",
        "1",
        "foo",
        "bar",
    ]);
    client.expect(b"$-1\r\n");
    assert!(monitor.read_line().contains("\"EVAL\""));
    let line = monitor.read_line();
    assert!(line.ends_with("[0 lua] \"set\" \"foo\" \"bar\""), "{line}");
    assert!(monitor.read_line().ends_with("[3 lua] \"select\" \"3\""));
    assert!(monitor.read_line().ends_with("[3 lua] \"get\" \"foo\""));
    client.send_args(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=lib\nredis.register_function('f', function(keys) return redis.call('incr', keys[1]) end)",
    ]);
    client.expect(b"$3\r\nlib\r\n");
    assert!(monitor.read_line().contains("\"FUNCTION\" \"LOAD\""));
    client.call("FCALL f 1 n", b":1\r\n");
    let line = monitor.read_line();
    assert!(line.contains("\"FCALL\" \"f\" \"1\" \"n\""), "{line}");
    assert!(monitor.read_line().ends_with("[0 lua] \"incr\" \"n\""));
    client.call("PING", b"+PONG\r\n");
    assert!(monitor.read_line().ends_with("\"PING\""));
}

/// SLOWLOG records commands at least slowlog-log-slower-than long, newest first.
#[test]
fn slowlog() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("CONFIG SET slowlog-log-slower-than 0", b"+OK\r\n");
    client.call("SLOWLOG RESET", b"+OK\r\n");
    client.call("CLIENT SETNAME me", b"+OK\r\n");
    client.call("SET k v", b"+OK\r\n");
    client.call("SLOWLOG LEN", b":3\r\n");
    // The newest entry is SLOWLOG LEN itself; SET comes right before it.
    client.send("SLOWLOG GET 2");
    assert_eq!(client.read_line(), "*2");
    assert_eq!(client.read_line(), "*6");
    for _ in 0..3 {
        assert!(client.read_line().starts_with(':'));
    }
    client.expect(b"*2\r\n$7\r\nSLOWLOG\r\n$3\r\nLEN\r\n");
    for _ in 0..4 {
        client.read_line(); // peer and name
    }
    assert_eq!(client.read_line(), "*6");
    assert!(client.read_line().starts_with(':')); // id
    assert!(client.read_line().starts_with(':')); // unix time
    assert!(client.read_line().starts_with(':')); // duration
    client.expect(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    let peer = client.stream.local_addr().unwrap().to_string();
    client.expect(format!("${}\r\n{peer}\r\n$2\r\nme\r\n", peer.len()).as_bytes());
    client.call(
        "SLOWLOG GET -2",
        b"-ERR count should be greater than or equal to -1\r\n",
    );
    client.call("CONFIG SET slowlog-log-slower-than -1", b"+OK\r\n");
    client.call("SLOWLOG RESET", b"+OK\r\n");
    client.call("PING", b"+PONG\r\n");
    client.call("SLOWLOG LEN", b":0\r\n");
}

/// The arguments of the newest `count` slow log entries (SLOWLOG GET's `count`), newest first.
fn slowlog_arguments(client: &mut support::Client, count: &str) -> Vec<Vec<String>> {
    let Value::Array(entries) = client.try_call(&["SLOWLOG", "GET", count]).unwrap() else {
        panic!("SLOWLOG GET answers an array");
    };
    entries
        .iter()
        .map(|entry| match entry {
            Value::Array(fields) => match &fields[3] {
                Value::Array(args) => args.iter().map(Value::text).collect(),
                other => panic!("arguments: {other:?}"),
            },
            other => panic!("entry: {other:?}"),
        })
        .collect()
}

/// Pipelined writes share one proposal and pipelined reads one read barrier; the slow log still
/// records each command with its own arguments (a write's are read back from the entry that
/// carried them).
#[test]
fn slowlog_keeps_the_arguments_of_pipelined_commands() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("CONFIG SET slowlog-log-slower-than 0", b"+OK\r\n");
    client.call("SLOWLOG RESET", b"+OK\r\n");
    let mut pipeline = Vec::new();
    for command in [&["SET", "a", "1"][..], &["RPUSH", "list", "x", "y"], &["SET", "b", "2"]] {
        pipeline.extend_from_slice(&support::args(command));
    }
    for command in [&["GET", "a"][..], &["MGET", "a", "b"]] {
        pipeline.extend_from_slice(&support::args(command));
    }
    client.send_raw(&pipeline);
    for expected in [&b"+OK\r\n"[..], b":2\r\n", b"+OK\r\n", b"$1\r\n1\r\n", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"] {
        client.expect(expected);
    }
    // Newest first.
    let logged = slowlog_arguments(&mut client, "5");
    let expected: Vec<Vec<&str>> = vec![
        vec!["MGET", "a", "b"],
        vec!["GET", "a"],
        vec!["SET", "b", "2"],
        vec!["RPUSH", "list", "x", "y"],
        vec!["SET", "a", "1"],
    ];
    assert_eq!(logged, expected);

    // Several clients' pipelines at once: their proposals may share an entry, each at its own
    // position in it.
    client.call("SLOWLOG RESET", b"+OK\r\n");
    let mut clients: Vec<_> = (0..8).map(|_| node.client()).collect();
    let mut sent = Vec::new();
    for (c, other) in clients.iter_mut().enumerate() {
        let mut pipeline = Vec::new();
        for n in 0..3 {
            let command = vec!["SET".to_string(), format!("key{c}-{n}"), format!("value{c}-{n}")];
            pipeline.extend_from_slice(&support::args(&command.iter().map(String::as_str).collect::<Vec<_>>()));
            sent.push(command);
        }
        other.send_raw(&pipeline);
    }
    for other in &mut clients {
        for _ in 0..3 {
            other.expect(b"+OK\r\n");
        }
    }
    let mut logged: Vec<Vec<String>> = slowlog_arguments(&mut client, "-1")
        .into_iter()
        .filter(|args| args[0] == "SET")
        .collect();
    logged.sort();
    sent.sort();
    assert_eq!(logged, sent);
}

/// INFO commandstats and errorstats count calls, failures and rejections.
#[test]
fn command_and_error_statistics() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("SET k v", b"+OK\r\n");
    client.call(
        "LPUSH k x",
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    client.call("GET", b"-ERR wrong number of arguments for 'get' command\r\n");
    let info = client.bulk("INFO commandstats");
    assert!(info.starts_with("# Commandstats\r\n"), "{info}");
    assert!(info.contains("cmdstat_set:calls=1,usec="), "{info}");
    assert!(info.contains(",rejected_calls=0,failed_calls=1\r\n"), "{info}");
    assert!(
        info.contains("cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"),
        "{info}"
    );
    let info = client.bulk("INFO errorstats");
    assert_eq!(
        info,
        "# Errorstats\r\nerrorstat_ERR:count=1\r\nerrorstat_WRONGTYPE:count=1\r\n"
    );
    let default = client.bulk("INFO");
    assert!(!default.contains("rejected_calls"));
    let all = client.bulk("INFO all");
    assert!(all.contains("rejected_calls"));
}

/// QUIT replies OK and closes; RESET returns the connection to its initial state.
#[test]
fn quit_and_reset() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("SELECT 3", b"+OK\r\n");
    client.call("MULTI", b"+OK\r\n");
    client.call("RESET", b"+RESET\r\n");
    client.call("EXEC", b"-ERR EXEC without MULTI\r\n");
    let info = client.bulk("CLIENT INFO");
    assert!(info.contains(" db=0 "), "{info}");
    client.call("QUIT", b"+OK\r\n");
    assert!(client.closed_within(Duration::from_secs(5)));
}

/// SHUTDOWN closes the connection without a reply and the process exits with status 0.
#[test]
fn shutdown_exits_cleanly() {
    let mut node = Node::start(&[]);
    let mut client = node.client();
    client.call("SHUTDOWN ABORT", b"-ERR No shutdown in progress.\r\n");
    client.send("SHUTDOWN");
    assert!(client.closed_within(Duration::from_secs(5)));
    assert!(node.wait_exit(Duration::from_secs(10)).success());
}

/// SIGTERM and SIGINT stop the node cleanly: exit status 0.
#[test]
fn signals_exit_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut node = Node::start(&[]);
        let mut client = node.client();
        client.call("PING", b"+PONG\r\n");
        node.signal(signal);
        let exit = node.wait_exit(Duration::from_secs(10));
        assert_eq!(exit.code(), Some(0), "after {signal}");
    }
}

/// A subscriber that stops reading is disconnected once its queued output passes the
/// pub/sub class's hard limit; the publisher is unaffected.
#[test]
fn slow_subscriber_is_disconnected() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    admin.send_args(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 100000 0 0"]);
    admin.expect(b"+OK\r\n");
    let value = "normal 0 0 0 slave 268435456 67108864 60 pubsub 100000 0 0";
    admin.call(
        "CONFIG GET client-output-buffer-limit",
        format!(
            "*2\r\n$26\r\nclient-output-buffer-limit\r\n${}\r\n{value}\r\n",
            value.len()
        )
        .as_bytes(),
    );
    let mut subscriber = node.client();
    subscriber.call("SUBSCRIBE c", b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    let payload = "x".repeat(64 * 1024);
    let mut gone = false;
    // Enough to fill the socket buffers of both ends several times over, but bounded.
    for _ in 0..2000 {
        admin.send(&format!("PUBLISH c {payload}"));
        let reply = admin.read_line();
        assert!(reply == ":1" || reply == ":0", "{reply}");
        if reply == ":0" {
            gone = true;
            break;
        }
    }
    assert!(gone, "the slow subscriber was never disconnected");
    admin.call("PING", b"+PONG\r\n");
}

/// A field of an INFO reply, which must be there.
/// Waits until INFO clients, read through `client`, reports `count` blocked clients.
/// Clients served by a push are served with the whole chain their own pushes start, before
/// the pusher's next command runs, as in Redis: two BRPOPLPUSH in a circle move the pushed
/// element round and back, and a read right after the push sees it where it ends. Repeated,
/// since a read that overtook the chain would see it half way only now and then.
#[test]
fn a_push_serves_the_whole_chain_of_blocked_clients_before_the_next_command() {
    let node = Node::start(&[]);
    let mut pusher = node.client();
    for _ in 0..20 {
        let mut first = node.client();
        let mut second = node.client();
        first.send("BRPOPLPUSH list1 list2 0");
        wait_for_blocked_clients(&mut pusher, 1);
        second.send("BRPOPLPUSH list2 list1 0");
        wait_for_blocked_clients(&mut pusher, 2);
        pusher.call("RPUSH list1 foo", b":1\r\n");
        pusher.call("LRANGE list1 0 -1", b"*1\r\n$3\r\nfoo\r\n");
        pusher.call("LRANGE list2 0 -1", b"*0\r\n");
        first.expect(b"$3\r\nfoo\r\n");
        second.expect(b"$3\r\nfoo\r\n");
        pusher.call("DEL list1", b":1\r\n");
    }
}

fn wait_for_blocked_clients(client: &mut support::Client, count: usize) {
    support::wait_until(Duration::from_secs(10), &format!("{count} blocked clients"), || {
        info_field(&client.bulk("INFO clients"), "blocked_clients") == count.to_string()
    });
}

fn info_field(info: &str, name: &str) -> String {
    support::info_field(info, name).unwrap_or_else(|| panic!("no {name} in {info}"))
}

/// INFO flotilla_raft counts what the proposer handed to Raft: 100 SETs pipelined in one write
/// are 100 proposed ops, batched into fewer entries than that.
#[test]
fn info_raft_counts_the_proposed_entries_and_ops() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let proposed = |client: &mut support::Client| -> (u64, u64) {
        let info = client.bulk("INFO flotilla_raft");
        let line = info.lines().find(|l| l.starts_with("group1:")).unwrap_or_else(|| panic!("{info}"));
        let field = |name: &str| -> u64 {
            line.split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .parse()
                .expect("a count")
        };
        (field("proposed_entries"), field("proposed_ops"))
    };
    let (entries_before, ops_before) = proposed(&mut client);
    let pipeline: String = (0..100).map(|i| format!("SET key{i} v\r\n")).collect();
    client.send_raw(pipeline.as_bytes());
    client.expect("+OK\r\n".repeat(100).as_bytes());
    let (entries, ops) = proposed(&mut client);
    assert_eq!(ops - ops_before, 100, "every SET is one proposed op");
    assert!(entries > entries_before, "no entry counted");
    assert!(entries - entries_before < 100, "{} entries for 100 pipelined SETs", entries - entries_before);
    client.call("GET key99", b"$1\r\nv\r\n");
    assert_eq!(proposed(&mut client).1, ops, "a read is proposed");
}

/// A single node: WAIT has no follower to wait for and answers 0 at once (also with timeout
/// 0, which would otherwise block), in MULTI too; ROLE and INFO replication agree; INFO
/// persistence counts the log entries since the last snapshot.
#[test]
fn replication_status_single_node() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("WAIT 0 0", b":0\r\n");
    client.call("SET k v", b"+OK\r\n");
    client.call("WAIT 1 0", b":0\r\n");
    client.call("WAIT 2 50", b":0\r\n");
    client.call("WAIT x 0", b"-ERR value is not an integer or out of range\r\n");
    client.call("WAIT 1 y", b"-ERR timeout is not an integer or out of range\r\n");
    client.call("WAIT 1 -1", b"-ERR timeout is negative\r\n");
    client.call("WAIT 1", b"-ERR wrong number of arguments for 'wait' command\r\n");
    client.call("MULTI", b"+OK\r\n");
    client.call("SET k w", b"+QUEUED\r\n");
    client.call("WAIT 1 0", b"+QUEUED\r\n");
    client.call("EXEC", b"*2\r\n+OK\r\n:0\r\n");
    // The harness runs --fsync no: nothing is known to be on disk, so WAITAOF cannot wait.
    client.call(
        "WAITAOF 1 0 0",
        b"-ERR WAITAOF cannot be used when numlocal or numreplicas is set unless --fsync is always\r\n",
    );
    client.call("WAITAOF 0 0 0", b"*2\r\n:0\r\n:0\r\n");
    client.call("WAITAOF 0 0 -5", b"-ERR timeout is negative\r\n");

    let replication = client.bulk("INFO replication");
    assert_eq!(info_field(&replication, "role"), "master");
    assert_eq!(info_field(&replication, "connected_slaves"), "0");
    assert!(!replication.contains("slave0:"), "{replication}");
    assert_eq!(info_field(&replication, "flotilla_raft_role"), "leader");
    assert_eq!(
        info_field(&replication, "flotilla_leader_port"),
        node.port.to_string()
    );
    assert_eq!(info_field(&replication, "flotilla_leader_link_status"), "up");
    let offset: u64 = info_field(&replication, "master_repl_offset")
        .parse()
        .expect("offset");
    assert!(offset >= 2, "{replication}");

    client.send("ROLE");
    client.expect(b"*3\r\n$6\r\nmaster\r\n:");
    let role_offset: u64 = client.read_line().parse().expect("ROLE offset");
    client.expect(b"*0\r\n");
    assert!(role_offset >= offset, "ROLE {role_offset} behind INFO {offset}");

    let persistence = client.bulk("INFO persistence");
    assert_eq!(info_field(&persistence, "loading"), "0");
    assert_eq!(info_field(&persistence, "aof_enabled"), "1");
    assert_eq!(info_field(&persistence, "aof_last_write_status"), "ok");
    assert_eq!(
        info_field(&persistence, "aof_fsync"),
        "no",
        "the harness runs with --fsync no"
    );
    let changes: u64 = info_field(&persistence, "rdb_changes_since_last_save")
        .parse()
        .expect("changes");
    assert!(changes >= 2, "{persistence}");
    client.send("LASTSAVE");
    client.expect(b":");
    assert_eq!(client.read_line(), info_field(&persistence, "rdb_last_save_time"));
}

#[test]
fn readonly_and_readwrite_switch_a_connection_between_local_and_linearizable_reads() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("READONLY", b"+OK\r\n");
    client.call("READONLY now", b"-ERR wrong number of arguments for 'readonly' command\r\n");
    // Writes still go through the log; on a single node local reads see them at once, alone
    // or pipelined.
    client.call("SET k v", b"+OK\r\n");
    client.call("GET k", b"$1\r\nv\r\n");
    let pipelined = |commands: &[&[&[u8]]]| commands.iter().flat_map(|args| support::request(args)).collect::<Vec<u8>>();
    client.send_raw(&pipelined(&[&[b"GET", b"k"], &[b"EXISTS", b"k"], &[b"GET", b"missing"]]));
    client.expect(b"$1\r\nv\r\n:1\r\n$-1\r\n");
    client.call("READWRITE", b"+OK\r\n");
    client.send_raw(&pipelined(&[&[b"GET", b"k"], &[b"STRLEN", b"k"]]));
    client.expect(b"$1\r\nv\r\n:1\r\n");
    client.call("READONLY", b"+OK\r\n");
    client.call("RESET", b"+RESET\r\n");
    client.call("GET k", b"$1\r\nv\r\n");
}

/// Clients blocked on a key are served in the order their commands arrived, also when they
/// arrive while an earlier write is still being applied (issue 4: the Redis suite's
/// "BRPOPLPUSH with multiple blocked clients" hung). Here the first client's command waits
/// behind a large SET; the second client's and the push arrive meanwhile. The first client
/// must be served first (and fail: its destination holds a string), the second gets the
/// element. Before, the second client's first run raced the serving of the first and could
/// take the element, leaving the first blocked for ever.
#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    admin.call("SET wrong x", b"+OK\r\n");
    let (mut loader, mut pusher) = (node.client(), node.client());
    let (mut first, mut second) = (node.client(), node.client());
    let client_id = |client: &mut support::Client| {
        client.send("CLIENT ID");
        client.read_line().trim_start_matches(':').to_string()
    };
    let (first_id, second_id) = (client_id(&mut first), client_id(&mut second));
    // Arrival is when the server reads the command (CLIENT LIST then names it): wait for
    // it, so that a loaded machine cannot reorder the two sends.
    fn arrived(admin: &mut support::Client, id: &str, command: &str) {
        let deadline = support::Deadline::after(Duration::from_secs(10));
        while !admin.bulk(&format!("CLIENT LIST ID {id}")).contains(&format!(" cmd={command} ")) {
            assert!(!deadline.passed(), "{command} never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let large = "v".repeat(16 << 20);
    for _round in 0..3 {
        // Returns once the server has read most of it: it is about to be proposed.
        loader.send_args(&["SET", "large", &large]);
        std::thread::sleep(Duration::from_millis(2));
        first.send("BRPOPLPUSH src wrong 0");
        arrived(&mut admin, &first_id, "brpoplpush");
        second.send("BLPOP src 0");
        arrived(&mut admin, &second_id, "blpop");
        pusher.call("RPUSH src e1", b":1\r\n");
        first.expect(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
        second.expect(b"*2\r\n$3\r\nsrc\r\n$2\r\ne1\r\n");
        loader.expect(b"+OK\r\n");
        admin.call("EXISTS src", b":0\r\n");
    }
    assert_eq!(info_field(&admin.bulk("INFO clients"), "blocked_clients"), "0");
}

/// SAVE replies only once a snapshot covering the writes before it is on disk (INFO
/// persistence then counts no change since the save and one save more); inside MULTI it is
/// refused and the transaction aborted, as Redis does.
#[test]
fn save_takes_a_snapshot_before_replying_and_is_refused_in_multi() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("SET k v", b"+OK\r\n");
    let saves_of = |client: &mut support::Client| -> (u64, u64) {
        let persistence = client.bulk("INFO persistence");
        let number = |name: &str| info_field(&persistence, name).parse::<u64>().expect(name);
        (number("rdb_saves"), number("rdb_changes_since_last_save"))
    };
    let (saves_before, _) = saves_of(&mut client);
    client.call("SAVE", b"+OK\r\n");
    assert_eq!(saves_of(&mut client), (saves_before + 1, 0));
    client.call("SAVE", b"+OK\r\n");
    assert_eq!(saves_of(&mut client).0, saves_before + 1, "nothing new: no second snapshot");
    client.call("SAVE now", b"-ERR wrong number of arguments for 'save' command\r\n");

    client.call("MULTI", b"+OK\r\n");
    client.call("SET k w", b"+QUEUED\r\n");
    client.call("SAVE", b"-ERR Command not allowed inside a transaction\r\n");
    client.call(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    client.call("GET k", b"$1\r\nv\r\n");
}

/// A SAVE that arrives while another snapshot is being built, after a write that snapshot
/// does not hold, still replies once a snapshot holding its write is durable (openraft
/// ignores a trigger during a build, so SAVE must trigger again when that build lands).
#[test]
fn save_during_a_snapshot_build_waits_for_a_snapshot_with_its_writes() {
    let node = Node::start(&[]);
    let mut loader = node.client();
    // Enough keys that building a snapshot takes a while (tens of milliseconds or more).
    let value = "v".repeat(32);
    for batch in 0..100 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..3000 {
            args.push(format!("key:{batch}:{i}"));
            args.push(value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        loader.send_args(&args);
    }
    for _ in 0..100 {
        loader.expect(b"+OK\r\n");
    }
    let (mut first, mut second) = (node.client(), node.client());
    for round in 0..3 {
        first.send("SAVE");
        std::thread::sleep(Duration::from_millis(5));
        second.call(&format!("SET late {round}"), b"+OK\r\n");
        second.call("SAVE", b"+OK\r\n");
        first.expect(b"+OK\r\n");
        let persistence = second.bulk("INFO persistence");
        assert_eq!(info_field(&persistence, "rdb_changes_since_last_save"), "0", "round {round}");
    }
}

/// MEMORY USAGE measures the value from the layout that holds it: a 33,000-byte string costs
/// at least its bytes and less than Redis's suite allows (42,000 with jemalloc), a TTL adds to
/// it, a missing key is nil and a bad SAMPLES is refused.
#[test]
fn memory_usage_counts_the_value_and_its_ttl() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let big = "A".repeat(33_000);
    client.send_args(&["SET", "big", &big]);
    client.expect(b"+OK\r\n");
    client.send("MEMORY USAGE big");
    client.expect(b":");
    let usage: u64 = client.read_line().parse().expect("usage");
    assert!((33_000..42_000).contains(&usage), "{usage}");
    client.call("SET small v", b"+OK\r\n");
    client.send("MEMORY USAGE small SAMPLES 0");
    client.expect(b":");
    let small: u64 = client.read_line().parse().expect("usage");
    client.call("EXPIRE small 100", b":1\r\n");
    client.send("MEMORY USAGE small");
    client.expect(b":");
    let with_ttl: u64 = client.read_line().parse().expect("usage");
    assert!(small < with_ttl && with_ttl < 200, "{small} {with_ttl}");
    client.call("MEMORY USAGE missing", b"$-1\r\n");
    client.call("MEMORY USAGE small SAMPLES x", b"-ERR value is not an integer or out of range\r\n");
    client.call("MEMORY USAGE small FOO 1", b"-ERR syntax error\r\n");
}

/// Reads an integer reply.
fn int_reply(client: &mut support::Client, command: &str) -> i64 {
    client.send(command);
    let line = client.read_line();
    line.strip_prefix(':').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{command}: {line}"))
}

/// OBJECT IDLETIME follows accesses through a real server: TYPE, EXISTS and TTL leave it, a
/// CLIENT NO-TOUCH connection's reads leave it, TOUCH and GET reset it; under an LFU policy
/// OBJECT FREQ counts accesses instead (Redis's introspection-2 tests, in short).
#[test]
fn object_idletime_and_freq_track_accesses() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("SET foo bar", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(2_100));
    client.call("TYPE foo", b"+string\r\n");
    client.call("EXISTS foo", b":1\r\n");
    client.call("TTL foo", b":-1\r\n");
    assert!(int_reply(&mut client, "OBJECT IDLETIME foo") >= 2);
    client.call("CLIENT NO-TOUCH ON", b"+OK\r\n");
    let listed = client.bulk("CLIENT INFO");
    assert!(listed.contains(" flags=T "), "{listed}");
    client.call("GET foo", b"$3\r\nbar\r\n");
    assert!(int_reply(&mut client, "OBJECT IDLETIME foo") >= 2);
    client.call("TOUCH foo", b":1\r\n");
    assert!(int_reply(&mut client, "OBJECT IDLETIME foo") < 2);
    client.call("CLIENT NO-TOUCH OFF", b"+OK\r\n");
    client.call("CLIENT NO-TOUCH MAYBE", b"-ERR syntax error\r\n");

    client.call("CONFIG SET maxmemory-policy allkeys-lfu", b"+OK\r\n");
    client.call("SET counted 1", b"+OK\r\n");
    assert_eq!(int_reply(&mut client, "OBJECT FREQ counted"), 5);
    client.call("GET counted", b"$1\r\n1\r\n");
    assert_eq!(int_reply(&mut client, "OBJECT FREQ counted"), 6);
    client.send("OBJECT IDLETIME counted");
    assert!(client.read_line().starts_with("-ERR An LFU maxmemory policy is selected"));
    client.call(
        "CONFIG GET lfu-log-factor",
        b"*2\r\n$14\r\nlfu-log-factor\r\n$2\r\n10\r\n",
    );
    client.call("CONFIG SET maxmemory-policy allkeys-lru", b"+OK\r\n");
    client.send("OBJECT FREQ counted");
    assert!(client.read_line().starts_with("-ERR An LFU maxmemory policy is not selected"));
}

/// CLIENT PAUSE WRITE postpones writes (the command has arrived, CLIENT LIST shows it, but has
/// not run; the client counts as blocked) while reads go on; CLIENT UNPAUSE runs it. Bad arguments are refused at once.
#[test]
fn client_pause_postpones_writes_until_unpause() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    let mut writer = node.client();
    admin.call("CLIENT PAUSE x", b"-ERR timeout is not an integer or out of range\r\n");
    admin.call("CLIENT PAUSE -1", b"-ERR timeout is negative\r\n");
    admin.call("CLIENT PAUSE 10 SOME", b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n");
    admin.call(
        "CLIENT PAUSE 10 WRITE x",
        b"-ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.\r\n",
    );
    admin.call("CLIENT UNPAUSE", b"+OK\r\n");

    writer.call("CLIENT SETNAME writer", b"+OK\r\n");
    admin.call("CLIENT PAUSE 3600000 WRITE", b"+OK\r\n");
    writer.send("SET k v");
    let arrived = (0..500).any(|_| {
        let listed = admin.bulk("CLIENT LIST");
        let line = listed.lines().find(|l| l.contains(" name=writer ")).unwrap_or_default().to_string();
        (line.contains(" cmd=set ") && line.contains(" flags=b ")) || {
            std::thread::sleep(Duration::from_millis(10));
            false
        }
    });
    assert!(arrived, "the SET never reached the server, or is not shown blocked");
    // A held client counts as blocked, as Redis's postponed clients do.
    let blocked_clients = |admin: &mut support::Client| {
        let info = admin.bulk("INFO clients");
        info.lines().find_map(|l| l.strip_prefix("blocked_clients:")).unwrap_or_default().to_string()
    };
    assert_eq!(blocked_clients(&mut admin), "1");
    // Reads run during a WRITE pause; the write has not.
    admin.call("GET k", b"$-1\r\n");
    admin.call("CLIENT UNPAUSE", b"+OK\r\n");
    writer.expect(b"+OK\r\n");
    admin.call("GET k", b"$1\r\nv\r\n");
    assert_eq!(blocked_clients(&mut admin), "0");
    let listed = admin.bulk("CLIENT LIST");
    assert!(listed.lines().any(|l| l.contains(" name=writer ") && l.contains(" flags=N ")), "{listed}");

    // A short pause ends by itself.
    admin.call("CLIENT PAUSE 50", b"+OK\r\n");
    writer.call("SET k again", b"+OK\r\n");
    writer.call("GET k", b"$5\r\nagain\r\n");
}

/// DEBUG ERROR replies with the given text as an error (what client test suites use to fake
/// LOADING, READONLY or OOM errors); LOLWUT gives the version line; COMMAND LIST includes
/// subcommands and filters by category and pattern.
#[test]
fn debug_error_lolwut_and_command_list() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.send_args(&["DEBUG", "ERROR", "LOADING fake message"]);
    client.expect(b"-LOADING fake message\r\n");
    client.send_args(&["DEBUG", "ERROR", "two\r\nlines"]);
    client.expect(b"-two  lines\r\n");
    client.call("LOLWUT", b"$17\r\nRedis ver. 7.2.4\n\r\n");
    client.call("LOLWUT VERSION 5 1 2", b"$17\r\nRedis ver. 7.2.4\n\r\n");
    client.call("LOLWUT VERSION x", b"-ERR value is not an integer or out of range\r\n");

    client.call("COMMAND LIST FILTERBY MODULE fakemod", b"*0\r\n");
    client.call("COMMAND LIST FILTERBY PATTERN client|no-*", b"*2\r\n$15\r\nclient|no-evict\r\n$15\r\nclient|no-touch\r\n");
    client.call("COMMAND LIST FILTERBY PATTERN LPUSH*", b"*2\r\n$5\r\nlpush\r\n$6\r\nlpushx\r\n");
    client.call("COMMAND LIST FILTERBY ACLCAT list FILTERBY PATTERN l*", b"-ERR syntax error\r\n");
    client.call("COMMAND LIST FILTERBY COLOR red", b"-ERR syntax error\r\n");
    client.send("COMMAND LIST FILTERBY ACLCAT LIST");
    let header = client.read_line();
    let count: usize = header[1..].parse().expect("array");
    let names: Vec<String> = (0..count)
        .map(|_| {
            client.read_line();
            client.read_line()
        })
        .collect();
    assert!(names.iter().any(|n| n == "lpop") && names.iter().any(|n| n == "blmove"), "{names:?}");
    assert!(!names.iter().any(|n| n == "get"), "{names:?}");
}

/// LATENCY answers as a Redis whose latency monitor is off (Flotilla records no latency
/// events).
#[test]
fn latency_without_events() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("LATENCY LATEST", b"*0\r\n");
    client.call("LATENCY HISTORY command", b"*0\r\n");
    client.call("LATENCY RESET", b":0\r\n");
    client.call("LATENCY RESET command fast-command", b":0\r\n");
    client.call("LATENCY NOPE", b"-ERR unknown subcommand 'NOPE'. Try LATENCY HELP.\r\n");
}

/// INFO memory counts the cached scripts and the function libraries, as Redis 7 does (the
/// TCL suite checks SCRIPT FLUSH by it).
#[test]
fn info_memory_counts_scripts_and_functions() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let counts = |client: &mut support::Client| {
        let info = client.try_call(&["INFO", "memory"]).unwrap().text();
        ["number_of_cached_scripts", "number_of_functions", "number_of_libraries"]
            .map(|name| support::info_field(&info, name).unwrap_or_else(|| panic!("{name} in {info}")))
    };
    assert_eq!(counts(&mut client), ["0", "0", "0"]);
    for i in 0..3 {
        client.try_call(&["SCRIPT", "LOAD", &format!("return {i}")]).unwrap();
    }
    let library = "#!lua name=lib\nredis.register_function('f', function() return 1 end)\n\
                   redis.register_function('g', function() return 2 end)";
    assert_eq!(client.try_call(&["FUNCTION", "LOAD", library]).unwrap(), Value::bulk("lib"));
    assert_eq!(counts(&mut client), ["3", "2", "1"]);
    client.try_call(&["SCRIPT", "FLUSH", "ASYNC"]).unwrap();
    assert_eq!(counts(&mut client), ["0", "2", "1"]);
}

/// Lua scripting end to end: SCRIPT LOAD / EXISTS / FLUSH, EVAL and EVALSHA writing through
/// the log, EVAL_RO on the read path refusing writes, EVAL queued by MULTI, COMMAND GETKEYS,
/// and Redis's exact error texts.
#[test]
fn lua_scripts() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    client.send_args(&["SCRIPT", "LOAD", "return 1"]);
    client.expect(format!("$40\r\n{sha}\r\n").as_bytes());
    client.call(&format!("EVALSHA {sha} 0"), b":1\r\n");
    client.call(&format!("EVALSHA {} 0", sha.to_uppercase()), b":1\r\n");
    client.call(&format!("SCRIPT EXISTS {sha} ffffffffffffffffffffffffffffffffffffffff"), b"*2\r\n:1\r\n:0\r\n");
    client.call(
        "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0",
        b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
    );
    client.send_args(&["EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", "k", "v"]);
    client.expect(b"+OK\r\n");
    client.call("GET k", b"$1\r\nv\r\n");
    client.send_args(&["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "k"]);
    client.expect(b"$1\r\nv\r\n");
    client.send_args(&["EVAL_RO", "return redis.call('DEL', KEYS[1])", "1", "k"]);
    let line = client.read_line();
    assert!(line.starts_with("-ERR Write commands are not allowed from read-only scripts. script: "), "{line}");
    assert!(line.ends_with(", on @user_script:1."), "{line}");
    client.call("GET k", b"$1\r\nv\r\n");
    // The script cached by EVAL runs by its SHA-1.
    client.send_args(&["EVAL", "return {1, 'two', {ok='three'}, false, 5.7}", "0"]);
    client.expect(b"*5\r\n:1\r\n$3\r\ntwo\r\n+three\r\n$-1\r\n:5\r\n");
    let sha_array = flotilla_storage::sha1::sha1_hex(b"return {1, 'two', {ok='three'}, false, 5.7}");
    client.call(&format!("SCRIPT EXISTS {sha_array}"), b"*1\r\n:1\r\n");
    client.send_args(&["EVAL", "return a", "0"]);
    let sha_a = flotilla_storage::sha1::sha1_hex(b"return a");
    client.expect(
        format!("-ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: {sha_a}, on @user_script:1.\r\n")
            .as_bytes(),
    );
    client.send_args(&["EVAL", "return redis.call('nosuch')", "0"]);
    let line = client.read_line();
    assert!(line.starts_with("-ERR Unknown Redis command called from script script: "), "{line}");
    client.send_args(&["EVAL", "return 1", "2", "a"]);
    client.expect(b"-ERR Number of keys can't be greater than number of args\r\n");
    // Inside MULTI, EVAL queues and runs in the EXEC entry.
    client.call("MULTI", b"+OK\r\n");
    client.send_args(&["EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "n", "5"]);
    client.expect(b"+QUEUED\r\n");
    client.call("INCR n", b"+QUEUED\r\n");
    client.call("EXEC", b"*2\r\n:5\r\n:6\r\n");
    client.send_args(&["COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "c"]);
    client.expect(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    // A script that never ends is stopped by its instruction budget.
    client.send_args(&["EVAL", "while true do end", "0"]);
    let line = client.read_line();
    assert!(line.starts_with("-ERR Script exceeded the instruction budget"), "{line}");
    client.call("SCRIPT KILL", b"-NOTBUSY No scripts in execution right now.\r\n");
    client.call("SCRIPT FLUSH", b"+OK\r\n");
    client.call(&format!("SCRIPT EXISTS {sha} {sha_array}"), b"*2\r\n:0\r\n:0\r\n");
    client.call(&format!("EVALSHA {sha} 0"), b"-NOSCRIPT No matching script. Please use EVAL.\r\n");
    // RESP3 types under redis.setresp(3).
    client.send("HELLO 3");
    assert_eq!(client.read_line(), "%7");
    while client.read_line() != "*0" {}
    client.send_args(&["EVAL", "redis.setresp(3); return {map={a=true}}", "0"]);
    client.expect(b"%1\r\n$1\r\na\r\n#t\r\n");
    client.send_args(&["EVAL", "return {double=2.5}", "0"]);
    client.expect(b",2.5\r\n");
}

/// COMMAND GETKEYSANDFLAGS gives each key its key-spec flags from the table (Redis 7.2's
/// replies, also where they depend on the arguments), COMMAND INFO lists the key specs, and
/// COMMAND's own subcommands are subcommands: listed, with their arity errors and HELP.
#[test]
fn command_key_specs_and_subcommands() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call(
        "COMMAND GETKEYSANDFLAGS LMOVE mylist1 mylist2 left left",
        b"*2\r\n*2\r\n$7\r\nmylist1\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$7\r\nmylist2\r\n*2\r\n+RW\r\n+insert\r\n",
    );
    client.call("COMMAND GETKEYSANDFLAGS SET k v", b"*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+OW\r\n+update\r\n");
    client.call(
        "COMMAND GETKEYSANDFLAGS SET k v GET",
        b"*1\r\n*2\r\n$1\r\nk\r\n*3\r\n+RW\r\n+access\r\n+update\r\n",
    );
    client.call("COMMAND GETKEYSANDFLAGS BITFIELD k GET u8 0", b"*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+RO\r\n+access\r\n");
    // Destination first, then the sources found through numkeys.
    client.call(
        "COMMAND GETKEYSANDFLAGS ZUNIONSTORE d 2 a b",
        b"*3\r\n*2\r\n$1\r\nd\r\n*2\r\n+OW\r\n+update\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n\
          *2\r\n$1\r\nb\r\n*2\r\n+RO\r\n+access\r\n",
    );
    client.call("COMMAND GETKEYSANDFLAGS DEL a", b"*1\r\n*2\r\n$1\r\na\r\n*2\r\n+RM\r\n+delete\r\n");
    client.call("COMMAND GETKEYS MSET a 1 b 2", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    client.call("COMMAND GETKEYSANDFLAGS PING", b"-ERR The command has no key arguments\r\n");
    client.call("COMMAND GETKEYSANDFLAGS NOPE a", b"-ERR Invalid command specified\r\n");
    client.call("COMMAND GETKEYSANDFLAGS GET", b"-ERR Invalid number of arguments specified for command\r\n");
    client.call(
        "COMMAND GETKEYSANDFLAGS",
        b"-ERR wrong number of arguments for 'command|getkeysandflags' command\r\n",
    );

    // MSET's one key spec: from argument 1 to the last, every second.
    client.send("HELLO 3");
    while client.read_line() != "*0" {}
    client.call(
        "COMMAND INFO mset",
        b"*1\r\n*10\r\n$4\r\nmset\r\n:-3\r\n~2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n\
          ~3\r\n+@write\r\n+@string\r\n+@slow\r\n~0\r\n\
          ~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+OW\r\n+update\r\n\
          $12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n\
          $9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n\
          $7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n\
          *0\r\n",
    );

    client.call("COMMAND COUNT x", b"-ERR wrong number of arguments for 'command|count' command\r\n");
    client.call("COMMAND NOPE", b"-ERR unknown subcommand 'NOPE'. Try COMMAND HELP.\r\n");
    client.call(
        "COMMAND LIST FILTERBY PATTERN command|*",
        b"*7\r\n$13\r\ncommand|count\r\n$12\r\ncommand|docs\r\n$15\r\ncommand|getkeys\r\n\
          $23\r\ncommand|getkeysandflags\r\n$12\r\ncommand|help\r\n$12\r\ncommand|info\r\n$12\r\ncommand|list\r\n",
    );
    for container in ["COMMAND", "CONFIG", "CLIENT"] {
        client.send(&format!("{container} HELP"));
        let count: usize = client.read_line()[1..].parse().expect("array");
        let lines: Vec<String> = (0..count).map(|_| client.read_line()).collect();
        assert_eq!(
            lines[0],
            format!("+{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(lines[count - 2..], ["+HELP", "+    Prints this help."]);
    }
}

/// SORT's STORE key and GEORADIUS's STORE / STOREDIST keys are keys for COMMAND GETKEYS
/// (SORT's through its key finder, GEORADIUS's through its keyword key specs, both as Redis
/// 7.2), and COMMAND INFO states GEORADIUS's keyword search as Redis 7.2 does.
#[test]
fn sort_and_georadius_store_keys() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("COMMAND GETKEYS SORT k STORE dst", b"*2\r\n$1\r\nk\r\n$3\r\ndst\r\n");
    client.call(
        "COMMAND GETKEYSANDFLAGS SORT k BY w_* STORE dst",
        b"*2\r\n*2\r\n$1\r\nk\r\n*2\r\n+RO\r\n+access\r\n*2\r\n$3\r\ndst\r\n*2\r\n+OW\r\n+update\r\n",
    );
    client.call("COMMAND GETKEYS SORT_RO k BY w_*", b"*1\r\n$1\r\nk\r\n");
    client.call(
        "COMMAND GETKEYS GEORADIUS k 15 37 200 km STORE a STOREDIST b",
        b"*3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    client.call("COMMAND GETKEYS GEORADIUSBYMEMBER k store 200 km", b"*1\r\n$1\r\nk\r\n");
    client.send("COMMAND INFO georadiusbymember sort_ro");
    let (_, bytes) = client.read_with_bytes();
    let text = String::from_utf8(bytes).expect("utf-8");
    let keyword_spec = "$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$7\r\nkeyword\r\n$4\r\nspec\r\n\
        *4\r\n$7\r\nkeyword\r\n$9\r\nSTOREDIST\r\n$9\r\nstartfrom\r\n:5\r\n\
        $9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n";
    assert!(text.contains(keyword_spec), "{text}");
    assert_eq!(text.matches("+movablekeys").count(), 2, "{text}");
    assert_eq!(text.matches("$7\r\nunknown").count(), 2, "sort_ro's pattern spec: {text}");
}

/// MEMORY STATS answers Redis 7.2's map, field by field in its order, with a `db.N` map for
/// each database holding keys; MEMORY MALLOC-STATS is jemalloc's report; MEMORY DOCTOR a text.
#[test]
fn memory_stats_malloc_stats_and_doctor() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("SET foo bar", b"+OK\r\n");
    client.call("SELECT 3", b"+OK\r\n");
    client.call("SET x y", b"+OK\r\n");
    client.call("EXPIRE x 1000", b":1\r\n");
    client.send("HELLO 3");
    while client.read_line() != "*0" {}
    client.send("MEMORY STATS");
    let header = client.read_line();
    let pairs: usize = header.strip_prefix('%').expect("a map").parse().expect("length");
    let mut fields = Vec::new();
    for _ in 0..pairs {
        client.read_line();
        let name = client.read_line();
        let value = client.read_line();
        if value.starts_with('%') {
            let inner: Vec<(String, String)> = (0..3)
                .map(|_| {
                    client.read_line();
                    (client.read_line(), client.read_line())
                })
                .collect();
            fields.push((name, format!("{inner:?}")));
        } else {
            fields.push((name, value));
        }
    }
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "peak.allocated", "total.allocated", "startup.allocated", "replication.backlog", "clients.slaves",
            "clients.normal", "cluster.links", "aof.buffer", "lua.caches", "functions.caches", "db.0", "db.3",
            "overhead.total", "keys.count", "keys.bytes-per-key", "dataset.bytes", "dataset.percentage",
            "peak.percentage", "allocator.allocated", "allocator.active", "allocator.resident",
            "allocator-fragmentation.ratio", "allocator-fragmentation.bytes", "allocator-rss.ratio",
            "allocator-rss.bytes", "rss-overhead.ratio", "rss-overhead.bytes", "fragmentation",
            "fragmentation.bytes",
        ]
    );
    let value = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).expect(name);
    assert_eq!(value("keys.count"), ":2");
    assert!(value("peak.percentage").starts_with(','), "a double");
    let int = |name: &str| value(name)[1..].parse::<i64>().expect(name);
    assert!(int("total.allocated") > 0 && int("peak.allocated") >= int("total.allocated"));
    assert!(int("startup.allocated") > 0 && int("startup.allocated") <= int("peak.allocated"));
    assert!(int("allocator.resident") >= int("allocator.active"));
    // Each database's overheads; only db 3 has a key with a TTL.
    assert!(value("db.0").contains("(\"overhead.hashtable.expires\", \":0\")"), "{}", value("db.0"));
    assert!(!value("db.3").contains("(\"overhead.hashtable.expires\", \":0\")"), "{}", value("db.3"));
    assert!(value("db.3").contains("(\"overhead.hashtable.slot-to-keys\", \":0\")"), "{}", value("db.3"));

    client.send("MEMORY MALLOC-STATS");
    let header = client.read_line();
    let len: usize = header.strip_prefix('=').expect("verbatim").parse().expect("length");
    let body = String::from_utf8(client.read_exact_len(len + 2)).expect("text");
    assert!(body.starts_with("txt:___ Begin jemalloc statistics ___"), "{}", &body[..80]);
    assert!(body.contains("--- End jemalloc statistics ---"));
    client.send("MEMORY DOCTOR");
    assert!(client.read_line().starts_with('='));
    assert!(client.read_line().starts_with("txt:"));
    client.call("MEMORY STATS x", b"-ERR wrong number of arguments for 'memory|stats' command\r\n");
}

/// With one worker thread (`--threads 1`) nothing that waits may hold the only worker: a
/// blocked BLPOP is woken by another client's push, SAVE (whose snapshot build leaves the
/// runtime's worker) replies, and pipelined writes come back in order.
#[test]
fn one_worker_thread_serves_waits_saves_and_pipelines() {
    let node = Node::start(&["--threads", "1"]);
    let mut waiter = node.client();
    let mut pusher = node.client();
    waiter.send("BLPOP queue 0");
    // The push may only be sent once the BLPOP is parked, or it would be a plain pop.
    wait_for_blocked_clients(&mut pusher, 1);
    pusher.call("RPUSH queue job", b":1\r\n");
    waiter.expect(b"*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n");
    let mut pipeline = Vec::new();
    for i in 0..200 {
        pipeline.extend(support::request(&[b"INCR", b"counter"]));
        pipeline.extend(support::request(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
    }
    pusher.send_raw(&pipeline);
    for i in 1..=200 {
        pusher.expect(format!(":{i}\r\n+OK\r\n").as_bytes());
    }
    pusher.call("SAVE", b"+OK\r\n");
    pusher.call("DBSIZE", b":201\r\n");
}

/// CONFIG SET is all or nothing: a parameter named twice is refused, and a failing one puts
/// back those set before it. CLIENT INFO's `qbuf` counts the request being run, as Redis's.
#[test]
fn config_set_is_all_or_nothing() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call(
        "CONFIG SET maxmemory 10000001 maxmemory 10000002",
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter\r\n",
    );
    client.call("CONFIG SET maxmemory 10000002", b"+OK\r\n");
    client.call(
        "CONFIG SET maxmemory 10000001 maxmemory-clients 200%",
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100\r\n",
    );
    client.call("CONFIG GET maxmemory", b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n10000002\r\n");
    client.call("CONFIG SET maxmemory 0", b"+OK\r\n");
    let info = client.query("CLIENT INFO").text();
    // *2\r\n $6\r\nCLIENT\r\n $4\r\nINFO\r\n
    assert!(info.contains(" qbuf=26 "), "{info}");
}

/// The commands a script runs count in INFO commandstats, as Redis counts them; COMMAND
/// GETKEYS of a script given no keys is an empty list.
#[test]
fn script_calls_count_in_commandstats() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("CONFIG RESETSTAT", b"+OK\r\n");
    client.call("SET k v", b"+OK\r\n");
    client.send_args(&["EVAL", "redis.call('set', KEYS[1], 0) redis.call('expire', KEYS[1], 100)", "1", "k"]);
    client.expect(b"$-1\r\n");
    let stats = client.query("INFO commandstats").text();
    let calls = |name: &str| {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {stats}"));
        line.split(',').next().unwrap().rsplit('=').next().unwrap().to_string()
    };
    assert_eq!(calls("eval"), "1");
    assert_eq!(calls("set"), "2");
    assert_eq!(calls("expire"), "1");
    client.call("COMMAND GETKEYS EVAL \"return\" 0", b"*0\r\n");
    client.call("COMMAND GETKEYS PING", b"-ERR The command has no key arguments\r\n");
}

/// Over maxmemory, a script with a shebang or a function runs only if it declares allow-oom
/// or no-writes (Redis 7.0's scriptPrepareForRun); a script without a shebang runs, but its
/// first command that may grow memory fails unless it wrote before (scriptVerifyOOM).
#[test]
fn scripts_with_flags_need_allow_oom_over_maxmemory() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let oom = Value::Error(
        "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into(),
    );
    let code = "#!lua name=lib\nredis.register_function('f', function() return 1 end)\nredis.register_function{function_name='g', callback=function() return 2 end, flags={'no-writes'}}";
    assert_eq!(client.try_call(&["FUNCTION", "LOAD", code]).unwrap(), Value::bulk("lib"));
    let sha = client.try_call(&["SCRIPT", "LOAD", "#!lua\nreturn 3"]).unwrap().text();
    client.call("CONFIG SET maxmemory 1", b"+OK\r\n");
    assert_eq!(client.try_call(&["EVAL", "#!lua\nreturn 1", "0"]).unwrap(), oom);
    assert_eq!(client.try_call(&["EVALSHA", &sha, "0"]).unwrap(), oom);
    assert_eq!(client.try_call(&["FCALL", "f", "0"]).unwrap(), oom);
    assert_eq!(client.try_call(&["FCALL", "g", "0"]).unwrap(), Value::Int(2));
    assert_eq!(client.try_call(&["EVAL", "#!lua flags=allow-oom\nreturn 1", "0"]).unwrap(), Value::Int(1));
    assert_eq!(client.try_call(&["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]).unwrap(), Value::Int(1));
    assert_eq!(client.try_call(&["EVAL", "return 1", "0"]).unwrap(), Value::Int(1));
    // A script without a shebang runs, but may not grow memory before it writes.
    let error = client.try_call(&["EVAL", "return redis.call('set', 'x', 'y')", "1", "x"]).unwrap().text();
    assert!(error.starts_with("OOM command not allowed when used memory > 'maxmemory'. script: "), "{error}");
    let reply = client.try_call(&["EVAL", "return redis.pcall('set', 'x', 'y')", "1", "x"]).unwrap();
    assert_eq!(reply, Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into()));
    assert_eq!(client.try_call(&["EVAL", "return redis.call('get', 'x')", "1", "x"]).unwrap(), Value::NilBulk);
    client.call("MULTI", b"+OK\r\n");
    client.try_call(&["EVAL", "return redis.pcall('set', 'x', 'y')", "1", "x"]).unwrap();
    let reply = client.try_call(&["EXEC"]).unwrap();
    assert_eq!(reply, Value::Array(vec![Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into())]));
    client.call("CONFIG SET maxmemory 0", b"+OK\r\n");
    assert_eq!(client.try_call(&["EVAL", "return redis.call('set', 'x', 'y')", "1", "x"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(client.try_call(&["EVAL", "#!lua\nreturn 1", "0"]).unwrap(), Value::Int(1));
}

/// A server command flagged noscript is refused in a script as Redis refuses it; other server
/// commands are not offered to scripts.
#[test]
fn scripts_are_refused_noscript_server_commands() {
    let node = Node::start(&[]);
    let mut client = node.client();
    for command in ["multi", "subscribe', 'c", "client', 'id"] {
        let script = format!("return redis.pcall('{command}')");
        let reply = client.try_call(&["EVAL", &script, "0"]).unwrap();
        assert_eq!(reply, Value::Error("ERR This Redis command is not allowed from script".into()), "{command}");
    }
    let reply = client.try_call(&["EVAL", "return redis.pcall('info')", "0"]).unwrap();
    assert_eq!(reply, Value::Error("ERR Unknown Redis command called from script".into()));
}

/// INFO commandstats counts the commands a script called that failed or were refused, and
/// errorstats counts their errors once (Redis's "Consistent eval error reporting").
#[test]
fn errors_of_script_calls_count_once() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let stat = |client: &mut support::Client, section: &str, prefix: &str| -> String {
        let info = client.try_call(&["INFO", section]).unwrap().text();
        info.lines().find(|line| line.starts_with(prefix)).unwrap_or("").to_string()
    };
    client.call("CONFIG RESETSTAT", b"+OK\r\n");
    let error = client.try_call(&["EVAL", "return redis.call('select', 99)", "0"]).unwrap().text();
    assert!(error.starts_with("ERR DB index is out of range"), "{error}");
    assert_eq!(stat(&mut client, "errorstats", "errorstat_ERR:"), "errorstat_ERR:count=1");
    assert_eq!(stat(&mut client, "stats", "total_error_replies:"), "total_error_replies:1");
    assert!(stat(&mut client, "commandstats", "cmdstat_select:").contains("calls=1,") && stat(&mut client, "commandstats", "cmdstat_select:").contains("rejected_calls=0,failed_calls=1"));
    assert!(stat(&mut client, "commandstats", "cmdstat_eval:").contains("rejected_calls=0,failed_calls=1"));
    client.call("CONFIG RESETSTAT", b"+OK\r\n");
    let reply = client.try_call(&["EVAL_RO", "local t = redis.pcall('set', 'x', 'y') return 1", "1", "x"]).unwrap();
    assert_eq!(reply, Value::Int(1));
    assert_eq!(stat(&mut client, "errorstats", "errorstat_ERR:"), "errorstat_ERR:count=1");
    let set = stat(&mut client, "commandstats", "cmdstat_set:");
    assert!(set.contains("calls=0,") && set.contains("rejected_calls=1,failed_calls=0"), "{set}");
    assert!(stat(&mut client, "commandstats", "cmdstat_eval_ro:").contains("rejected_calls=0,failed_calls=0"));
}
