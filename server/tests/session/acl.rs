//! ACL users over the wire: AUTH as a user, NOPERM refusals for commands, keys and channels
//! (also while queueing a MULTI), ACL LOG entries, CONFIG SET requirepass as the default
//! user's password, and ACL DELUSER closing the user's connections.

use std::time::Duration;

use crate::support::{Node, Value};

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
            let field = |name: &str| {
                entry
                    .pairs()
                    .into_iter()
                    .find(|(k, _)| k.text() == name)
                    .map(|(_, v)| v.text())
                    .unwrap_or_default()
            };
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
