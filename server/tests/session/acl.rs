//! ACL users over the wire: AUTH as a user, NOPERM refusals for commands, keys and channels
//! (also while queueing a MULTI), ACL LOG entries, CONFIG SET requirepass as the default
//! user's password, and ACL DELUSER closing the user's connections.

use std::time::Duration;

use crate::support::{Client, Node, Value};

#[test]
fn users_are_refused_what_their_rules_do_not_allow() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    admin.call("ACL SETUSER app on >pw +get +set +multi +exec ~cache:* &news", b"+OK\r\n");
    admin.call(
        "ACL LIST",
        b"*2\r\n$135\r\nuser app on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~cache:* resetchannels &news -@all +get +set +multi +exec\r\n$34\r\nuser default on nopass ~* &* +@all\r\n",
    );
    admin.call("ACL LOG RESET", b"+OK\r\n");
    // Users are listed in name order.

    let mut app = node.client();
    app.call("AUTH app wrong", b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    app.call("AUTH app pw", b"+OK\r\n");
    app.call("SET cache:1 v", b"+OK\r\n");
    app.call("GET cache:1", b"$1\r\nv\r\n");
    app.call("GET other", b"-NOPERM No permissions to access a key\r\n");
    app.call("HSET cache:1 f v", b"-NOPERM User app has no permissions to run the 'hset' command\r\n");
    app.call("PUBLISH news x", b"-NOPERM User app has no permissions to run the 'publish' command\r\n");
    app.call("MULTI", b"+OK\r\n");
    app.call("GET other", b"-NOPERM No permissions to access a key\r\n");
    app.call("EXEC", b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    admin.call("ACL DRYRUN app get x", b"$36\r\nNo permissions to access the 'x' key\r\n");
    admin.call("ACL DRYRUN app get cache:2", b"+OK\r\n");

    // Newest first; the first GET other (top level) and the one in MULTI are two entries.
    let log = admin.query("ACL LOG");
    let Value::Array(entries) = log else { panic!("{log:?}") };
    let summary: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|entry| {
            let field = |name: &str| log_field(entry, name);
            (field("reason"), field("context"), field("object"), field("username"))
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
    assert_eq!(
        summary,
        vec![
            row("key", "multi", "other", "app"),
            row("command", "toplevel", "publish", "app"),
            row("command", "toplevel", "hset", "app"),
            row("key", "toplevel", "other", "app"),
            row("auth", "toplevel", "AUTH", "app"),
        ]
    );
    admin.call("CLIENT KILL USER nobody", b"-ERR No such user 'nobody'\r\n");
    admin.call("ACL DELUSER app default", b"-ERR The 'default' user cannot be removed\r\n");
    admin.call("ACL DELUSER app ghost", b":1\r\n");
    assert!(app.closed_within(Duration::from_secs(5)));
    admin.call("ACL GETUSER app", b"$-1\r\n");
}

#[test]
fn requirepass_is_the_default_users_password() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("CONFIG SET requirepass secret", b"+OK\r\n");
    let mut other = node.client();
    other.call("GET k", b"-NOAUTH Authentication required.\r\n");
    other.call("AUTH default secret", b"+OK\r\n");
    other.call("ACL WHOAMI", b"$7\r\ndefault\r\n");
    client.call("ACL SETUSER bob on nopass +acl|whoami", b"+OK\r\n");
    other.call("AUTH bob anything", b"+OK\r\n");
    other.call("ACL WHOAMI", b"$3\r\nbob\r\n");
    other.call("GET k", b"-NOPERM User bob has no permissions to run the 'get' command\r\n");
    // RESET goes back to the default user, which needs its password again.
    other.call("RESET", b"+RESET\r\n");
    other.call("GET k", b"-NOAUTH Authentication required.\r\n");
    client.send_args(&["CONFIG", "SET", "requirepass", ""]);
    client.expect(b"+OK\r\n");
    let mut third = node.client();
    third.call("GET k", b"$-1\r\n");
}

fn run(client: &mut Client, args: &[&str]) -> Value {
    client.send_args(args);
    client.read()
}

fn expect(client: &mut Client, args: &[&str], reply: &[u8]) {
    client.send_args(args);
    client.expect(reply);
}

/// The commands a restricted user's scripts and functions run are checked against the
/// user's rules, with Redis 7.0's errors and ACL LOG entries of context `lua`;
/// `redis.acl_check_cmd` answers for that user; the default user is not restricted.
#[test]
fn scripts_run_only_what_their_user_may_run() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    admin.call("ACL SETUSER bob on >pw +@scripting +set +get +multi +exec ~x*", b"+OK\r\n");
    admin.call("ACL LOG RESET", b"+OK\r\n");
    let mut bob = node.client();
    bob.call("AUTH bob pw", b"+OK\r\n");
    expect(&mut bob, &["EVAL", "return redis.call('set', KEYS[1], 1)", "1", "xa"], b"+OK\r\n");
    let error = run(&mut bob, &["EVAL", "return redis.call('incr', KEYS[1])", "1", "xa"]).text();
    assert!(
        error.starts_with("ERR The user executing the script can't run this command or subcommand script: "),
        "{error}"
    );
    // Keys the script did not declare are checked too.
    let error = run(&mut bob, &["EVAL", "return redis.pcall('set', 'yy', 1)", "0"]).text();
    assert_eq!(
        error,
        "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
    );
    expect(&mut bob, &["EVAL", "return redis.acl_check_cmd('set', 'xx', 1)", "1", "xx"], b":1\r\n");
    expect(&mut bob, &["EVAL", "return redis.acl_check_cmd('hset', 'xx', 'f', 1)", "1", "xx"], b"$-1\r\n");
    expect(&mut bob, &["EVAL", "return redis.acl_check_cmd('set', 'yy', 1)", "0"], b"$-1\r\n");
    let error = run(&mut bob, &["EVAL", "return redis.acl_check_cmd('invalid-cmd', 'arg')", "0"]).text();
    assert!(error.starts_with("ERR Invalid command passed to redis.acl_check_cmd()"), "{error}");
    // TIME is checked too; EVAL_RO on the read path and EVAL inside MULTI alike.
    let error = run(&mut bob, &["EVAL", "return redis.call('time')", "0"]).text();
    assert!(error.starts_with("ERR The user executing the script can't run this command"), "{error}");
    let error = run(&mut bob, &["EVAL_RO", "return redis.call('get', 'yy')", "0"]).text();
    assert!(error.contains("can't access at least one of the keys"), "{error}");
    bob.call("MULTI", b"+OK\r\n");
    expect(&mut bob, &["EVAL", "return redis.pcall('del', 'xa')", "0"], b"+QUEUED\r\n");
    let reply = bob.query("EXEC");
    assert!(format!("{reply:?}").contains("can't run this command or subcommand"), "{reply:?}");
    bob.call("GET xa", b"$1\r\n1\r\n");
    // Functions too.
    let code = "#!lua name=lib\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";
    assert_eq!(run(&mut admin, &["FUNCTION", "LOAD", code]), Value::bulk("lib"));
    let error = bob.query("FCALL bump 1 xa").text();
    assert!(error.starts_with("ERR The user executing the script can't run this command"), "{error}");
    // The default user may run everything from a script.
    expect(&mut admin, &["EVAL", "return redis.call('incr', 'xa')", "0"], b":2\r\n");
    expect(&mut admin, &["EVAL", "return redis.acl_check_cmd('hset', 'yy', 'f', 1)", "0"], b":1\r\n");

    let log = admin.query("ACL LOG");
    let Value::Array(entries) = log else { panic!("{log:?}") };
    let summary: Vec<(String, String, String, String, bool)> = entries
        .iter()
        .map(|entry| {
            let field = |name: &str| log_field(entry, name);
            let info = field("client-info");
            (field("reason"), field("context"), field("object"), field("username"), info.contains("user=bob"))
        })
        .collect();
    let row = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string(), "bob".to_string(), true);
    // Newest first; a repeated refusal counts in its earlier entry, which moves to the front.
    assert_eq!(
        summary,
        vec![
            row("command", "lua", "incr"),
            row("command", "lua", "del"),
            row("key", "lua", "yy"),
            row("command", "lua", "time"),
        ]
    );
}

/// One field of an ACL LOG entry, as text ("" when absent).
fn log_field(entry: &Value, name: &str) -> String {
    entry
        .pairs()
        .into_iter()
        .find(|(k, _)| k.text() == name)
        .map(|(_, v)| v.text())
        .unwrap_or_default()
}
