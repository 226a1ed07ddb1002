//! CLIENT TRACKING over the wire: RESP3 invalidation pushes on the tracking connection, RESP2
//! redirection to a `__redis__:invalidate` subscriber, BCAST prefixes, OPTIN / OPTOUT, NOLOOP,
//! flushes, expiry, the table limit, and what CLIENT / INFO report.

use std::time::Duration;

use crate::support::{info_field, Node, Value};

const QUIET: Duration = Duration::from_millis(300);

fn hello3(client: &mut crate::support::Client) {
    let reply = client.query("HELLO 3");
    assert!(matches!(reply, Value::Map(_)), "{reply:?}");
}

fn invalidate(keys: &[&str]) -> Value {
    Value::Push(vec![
        Value::bulk("invalidate"),
        Value::Array(keys.iter().map(|k| Value::bulk(k)).collect()),
    ])
}

/// Default mode in RESP3: a key read once is invalidated once, after the reply of the
/// command that changed it (also when the tracking client changes it itself), and not again
/// until read again; keys only written are not tracked.
#[test]
fn resp3_default_mode_invalidates_read_keys_once() {
    let node = Node::start(&[]);
    let mut tracker = node.client();
    let mut writer = node.client();
    hello3(&mut tracker);
    tracker.call("CLIENT TRACKING on", b"+OK\r\n");
    writer.call("SET a 1", b"+OK\r\n");
    writer.call("SET b 1", b"+OK\r\n");
    tracker.call("GET a", b"$1\r\n1\r\n");
    writer.call("INCR b", b":2\r\n");
    writer.call("INCR a", b":2\r\n");
    assert_eq!(tracker.read(), invalidate(&["a"]));
    writer.call("INCR a", b":3\r\n");
    assert!(tracker.nothing_more(QUIET), "a key is invalidated once per read");
    // MGET remembers every key; a DEL of two of them invalidates each.
    tracker.send("MGET a b c");
    assert!(matches!(tracker.read(), Value::Array(_)));
    writer.call("DEL a c", b":1\r\n");
    assert_eq!(tracker.read(), invalidate(&["a"]));
    // c did not exist, so DEL did not change it; a SET does.
    writer.call("SET c 1", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["c"]));
    // The tracking client's own write: the reply first, then the invalidation.
    tracker.call("HSET h f 1", b":1\r\n");
    tracker.call("HGET h f", b"$1\r\n1\r\n");
    tracker.call("HDEL h f", b":1\r\n");
    assert_eq!(tracker.read(), invalidate(&["h"]));
    // Inside a transaction the invalidation follows EXEC's reply.
    tracker.call("GET t", b"_\r\n");
    tracker.call("MULTI", b"+OK\r\n");
    tracker.call("SET t 1", b"+QUEUED\r\n");
    tracker.call("EXEC", b"*1\r\n+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["t"]));
    // Expiry deletes invalidate too.
    tracker.call("SET e v PX 50", b"+OK\r\n");
    tracker.call("GET e", b"$1\r\nv\r\n");
    assert_eq!(tracker.read(), invalidate(&["e"]));
    tracker.call("CLIENT TRACKING off", b"+OK\r\n");
    tracker.call("GET a", b"_\r\n");
    writer.call("SET a 9", b"+OK\r\n");
    assert!(tracker.nothing_more(QUIET), "no invalidation after tracking is off");
}

/// RESP2 redirection: the invalidations go to a connection subscribed to
/// `__redis__:invalidate` as messages whose payload is the array of keys, or a null for a
/// flush; a RESP2 client without a redirect gets nothing.
#[test]
fn resp2_redirect_and_flush() {
    let node = Node::start(&[]);
    let mut redirect = node.client();
    let mut tracker = node.client();
    let mut writer = node.client();
    let id = redirect.query("CLIENT ID").text();
    redirect.call(
        "SUBSCRIBE __redis__:invalidate",
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    );
    tracker.call("CLIENT TRACKING on REDIRECT 999999", b"-ERR The client ID you want redirect to does not exist\r\n");
    tracker.call(&format!("CLIENT TRACKING on REDIRECT {id}"), b"+OK\r\n");
    tracker.call("CLIENT GETREDIR", format!(":{id}\r\n").as_bytes());
    tracker.call("GET k", b"$-1\r\n");
    writer.call("SET k 1", b"+OK\r\n");
    redirect.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n");
    tracker.call("GET k", b"$1\r\n1\r\n");
    writer.call("FLUSHALL", b"+OK\r\n");
    redirect.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");
    assert!(redirect.nothing_more(QUIET), "one null for a flush of every database");
    // The table was emptied by the flush.
    writer.call("SET k 2", b"+OK\r\n");
    assert!(redirect.nothing_more(QUIET));
    let info = writer.query("INFO").text();
    assert_eq!(info_field(&info, "tracking_clients").as_deref(), Some("1"));
    assert_eq!(info_field(&info, "tracking_total_keys").as_deref(), Some("0"));
    let list = writer.query("CLIENT LIST").text();
    let line = list.lines().find(|l| l.contains(" flags=t ")).expect("the tracking client is listed");
    assert!(line.contains(&format!(" redir={id} ")), "{line}");
    // Without a redirect a RESP2 connection has no way to receive them.
    let mut plain = node.client();
    plain.call("CLIENT TRACKING on", b"+OK\r\n");
    plain.call("GET k", b"$1\r\n2\r\n");
    writer.call("SET k 3", b"+OK\r\n");
    assert!(plain.nothing_more(QUIET));
    plain.call("PING", b"+PONG\r\n");
}

/// A redirect target that disconnected: a RESP3 tracking client is told with a
/// `tracking-redir-broken` push, and TRACKINGINFO shows it.
#[test]
fn broken_redirect_is_reported() {
    let node = Node::start(&[]);
    let mut tracker = node.client();
    let mut writer = node.client();
    let id = {
        let mut target = node.client();
        let id = target.query("CLIENT ID").text();
        hello3(&mut tracker);
        tracker.call(&format!("CLIENT TRACKING on REDIRECT {id}"), b"+OK\r\n");
        tracker.call("GET k", b"_\r\n");
        target.call("QUIT", b"+OK\r\n");
        id
    };
    // The target's disconnect is seen by the server a little after QUIT's reply.
    crate::support::wait_until(Duration::from_secs(5), "the target is gone", || {
        !writer.query("CLIENT LIST").text().contains(&format!("id={id} "))
    });
    writer.call("SET k 1", b"+OK\r\n");
    assert_eq!(
        tracker.read(),
        Value::Push(vec![Value::bulk("tracking-redir-broken"), Value::Int(id.parse().unwrap())])
    );
    let info = tracker.query("CLIENT TRACKINGINFO");
    assert_eq!(
        info,
        Value::Map(vec![
            (Value::bulk("flags"), Value::Set(vec![Value::bulk("on"), Value::bulk("broken_redirect")])),
            (Value::bulk("redirect"), Value::Int(id.parse().unwrap())),
            (Value::bulk("prefixes"), Value::Array(vec![])),
        ])
    );
}

/// BCAST: every change under a prefix, batched per applied entry (one message per prefix),
/// NOLOOP leaving out the client's own writes; prefix errors as Redis gives them.
#[test]
fn bcast_prefixes_and_noloop() {
    let node = Node::start(&[]);
    let mut tracker = node.client();
    let mut writer = node.client();
    hello3(&mut tracker);
    tracker.call(
        "CLIENT TRACKING on BCAST PREFIX FOOBAR PREFIX FOO",
        b"-ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap.\r\n",
    );
    tracker.call("CLIENT TRACKING on PREFIX a:", b"-ERR PREFIX option requires BCAST mode to be enabled\r\n");
    tracker.call("CLIENT TRACKING on BCAST OPTIN", b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n");
    tracker.call("CLIENT TRACKING on BCAST PREFIX a: PREFIX b: NOLOOP", b"+OK\r\n");
    tracker.call(
        "CLIENT TRACKING on BCAST PREFIX a",
        b"-ERR Prefix 'a' overlaps with an existing prefix 'a:'. Prefixes for a single client must not overlap.\r\n",
    );
    writer.call("MSET a:1 x a:2 y c:1 z", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["a:1", "a:2"]));
    writer.call("MULTI", b"+OK\r\n");
    writer.call("INCR b:1", b"+QUEUED\r\n");
    writer.call("INCR a:3", b"+QUEUED\r\n");
    writer.call("EXEC", b"*2\r\n:1\r\n:1\r\n");
    let mut got = vec![tracker.read(), tracker.read()];
    got.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(got, vec![invalidate(&["a:3"]), invalidate(&["b:1"])]);
    // NOLOOP: the client's own write is not reported, the next one by another client is.
    tracker.call("SET a:own 1", b"+OK\r\n");
    writer.call("SET a:other 1", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["a:other"]));
    let info = tracker.query("CLIENT TRACKINGINFO");
    let pairs = info.pairs();
    assert_eq!(pairs[0].1, Value::Set(vec![Value::bulk("on"), Value::bulk("bcast"), Value::bulk("noloop")]));
    assert_eq!(pairs[2].1, Value::Array(vec![Value::bulk("a:"), Value::bulk("b:")]));
    let info = writer.query("INFO stats").text();
    assert_eq!(info_field(&info, "tracking_total_prefixes").as_deref(), Some("2"));
    tracker.call(
        "CLIENT TRACKING on",
        b"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
    );
}

/// OPTIN remembers only after CLIENT CACHING yes, OPTOUT all but after CLIENT CACHING no;
/// the flag lasts one command.
#[test]
fn optin_and_optout() {
    let node = Node::start(&[]);
    let mut tracker = node.client();
    let mut writer = node.client();
    hello3(&mut tracker);
    tracker.call(
        "CLIENT CACHING yes",
        b"-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n",
    );
    tracker.call("CLIENT TRACKING on OPTIN OPTOUT", b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n");
    tracker.call("CLIENT TRACKING on OPTIN", b"+OK\r\n");
    tracker.call(
        "CLIENT CACHING no",
        b"-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n",
    );
    tracker.call("GET a", b"_\r\n");
    tracker.call("CLIENT CACHING yes", b"+OK\r\n");
    tracker.call("GET b", b"_\r\n");
    tracker.call("GET c", b"_\r\n");
    writer.call("MSET a 1 b 1 c 1", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["b"]));
    assert!(tracker.nothing_more(QUIET));
    tracker.call("CLIENT TRACKING off", b"+OK\r\n");
    tracker.call("CLIENT TRACKING on OPTOUT", b"+OK\r\n");
    tracker.call("CLIENT CACHING no", b"+OK\r\n");
    tracker.call("GET a", b"$1\r\n1\r\n");
    tracker.call("GET b", b"$1\r\n1\r\n");
    writer.call("MSET a 2 b 2", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["b"]));
    assert!(tracker.nothing_more(QUIET));
}

/// NOLOOP in default mode: the client's own write does not invalidate its key; another
/// client's does. `tracking-table-max-keys` forgets keys beyond the limit, telling their
/// clients.
#[test]
fn noloop_and_table_limit() {
    let node = Node::start(&[]);
    let mut tracker = node.client();
    let mut writer = node.client();
    hello3(&mut tracker);
    tracker.call("CLIENT TRACKING on NOLOOP", b"+OK\r\n");
    tracker.call("MGET own other", b"*2\r\n_\r\n_\r\n");
    tracker.call("SET own 1", b"+OK\r\n");
    writer.call("SET other 1", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["other"]));
    assert!(tracker.nothing_more(QUIET));
    tracker.call("MGET k1 k2 k3", b"*3\r\n_\r\n_\r\n_\r\n");
    writer.call("CONFIG SET tracking-table-max-keys 1", b"+OK\r\n");
    let mut evicted = [tracker.read(), tracker.read()];
    evicted.sort_by_key(|v| format!("{v:?}"));
    assert!(tracker.nothing_more(QUIET), "one key stays tracked");
    let info = writer.query("INFO stats").text();
    assert_eq!(info_field(&info, "tracking_total_keys").as_deref(), Some("1"));
    writer.call("CONFIG SET tracking-table-max-keys 0", b"+OK\r\n");
}

/// A script's declared keys are remembered only when it runs a read-only command (as in
/// Redis), for EVAL and EVAL_RO alike.
#[test]
fn scripts_are_tracked_when_they_read() {
    let node = Node::start(&[]);
    let mut tracker = node.client();
    let mut writer = node.client();
    hello3(&mut tracker);
    tracker.call("CLIENT TRACKING on", b"+OK\r\n");
    tracker.send_args(&["EVAL", "redis.call('set', 'other', 'x')", "2", "k1", "k2"]);
    tracker.expect(b"_\r\n");
    writer.call("MSET k1 1 k2 1", b"+OK\r\n");
    assert!(tracker.nothing_more(QUIET), "a script that only wrote tracks nothing");
    tracker.send_args(&["EVAL", "redis.call('get', 'other')", "2", "k1", "k2"]);
    tracker.expect(b"_\r\n");
    writer.call("MSET k2 2 k1 2", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["k2"]));
    assert_eq!(tracker.read(), invalidate(&["k1"]));
    tracker.send_args(&["EVAL_RO", "redis.call('ping')", "1", "k1"]);
    tracker.expect(b"_\r\n");
    writer.call("SET k1 3", b"+OK\r\n");
    assert!(tracker.nothing_more(QUIET));
    tracker.send_args(&["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k1"]);
    tracker.expect(b"$1\r\n3\r\n");
    writer.call("SET k1 4", b"+OK\r\n");
    assert_eq!(tracker.read(), invalidate(&["k1"]));
}
