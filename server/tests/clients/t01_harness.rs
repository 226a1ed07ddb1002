//! The commands the Redis TCL suite's own harness sends in external-server mode, answered
//! truthfully: FUNCTION FLUSH and friends with no functions offered, SCRIPT FLUSH / EXISTS, and the encoding parameters a unit's `overrides` set through
//! CONFIG GET / CONFIG SET (which OBJECT ENCODING then reports against).

use crate::support::{Node, Value};

fn error(text: &str) -> Value {
    Value::Error(text.to_string())
}

/// With no functions offered there is nothing to flush, list, delete or kill.
#[test]
fn functions_and_scripts_without_an_engine() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let ok = Value::Simple("OK".into());
    assert_eq!(client.query("FUNCTION FLUSH"), ok);
    assert_eq!(client.query("FUNCTION FLUSH ASYNC"), ok);
    assert_eq!(client.query("function flush sync"), ok);
    assert_eq!(
        client.query("FUNCTION FLUSH LATER"),
        error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    );
    assert_eq!(client.query("FUNCTION LIST"), Value::Array(Vec::new()));
    assert_eq!(client.query("FUNCTION LIST WITHCODE LIBRARYNAME x*"), Value::Array(Vec::new()));
    assert_eq!(
        client.query("FUNCTION LIST LIBRARYNAME"),
        error("ERR library name argument was not given")
    );
    assert_eq!(client.query("FUNCTION LIST BOGUS"), error("ERR Unknown argument BOGUS"));
    assert_eq!(client.query("FUNCTION DELETE mylib"), error("ERR Library not found"));
    assert_eq!(client.query("FUNCTION KILL"), error("NOTBUSY No scripts in execution right now."));
    assert_eq!(
        client.query("FUNCTION STATS"),
        Value::Array(vec![
            Value::bulk("running_script"),
            Value::NilBulk,
            Value::bulk("engines"),
            Value::Array(Vec::new()),
        ])
    );
    assert_eq!(client.query("FCALL myfunc 1 k a"), error("ERR Function not found"));
    assert_eq!(client.query("FCALL_RO myfunc 0"), error("ERR Function not found"));
    assert_eq!(client.query("SCRIPT FLUSH"), ok);
    assert_eq!(client.query("SCRIPT FLUSH SYNC"), ok);
    assert_eq!(
        client.query("SCRIPT EXISTS a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 b"),
        Value::Array(vec![Value::Int(0), Value::Int(0)])
    );
    assert_eq!(client.query("SCRIPT KILL"), error("NOTBUSY No scripts in execution right now."));
    // Loading functions is not offered: an error, never a pretended success. Scripts load
    // when they compile.
    assert!(client.query("FUNCTION LOAD code").is_error());
    assert_eq!(client.query("SCRIPT LOAD return"), Value::bulk("63143b6f8007b98c53ca2149822777b3566f9241"));
    assert!(client.query("SCRIPT LOAD return+").is_error());
    assert!(matches!(client.query("FUNCTION HELP"), Value::Array(lines) if lines.len() > 2));
    // In RESP3, STATS is a map with a null.
    client.query("HELLO 3");
    assert_eq!(
        client.query("FUNCTION STATS"),
        Value::Map(vec![
            (Value::bulk("running_script"), Value::Null),
            (Value::bulk("engines"), Value::Map(Vec::new())),
        ])
    );
    // The harness's per-block preamble, pipelined.
    let mut batch = crate::support::words("SELECT 9");
    batch.extend(crate::support::words("FLUSHALL"));
    batch.extend(crate::support::words("FUNCTION FLUSH"));
    client.send_raw(&batch);
    for _ in 0..3 {
        assert_eq!(client.read(), ok);
    }
}

/// Encoding thresholds read back under both names, and OBJECT ENCODING follows them.
#[test]
fn encoding_parameters() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let ok = Value::Simple("OK".into());
    let get = |client: &mut crate::support::Client, name: &str| {
        let pairs = client.query(&format!("CONFIG GET {name}")).pairs();
        assert_eq!(pairs.len(), 1, "CONFIG GET {name}");
        assert_eq!(pairs[0].0.text(), name);
        pairs[0].1.text()
    };
    assert_eq!(get(&mut client, "set-max-intset-entries"), "512");
    assert_eq!(get(&mut client, "list-max-ziplist-size"), "-2");
    assert_eq!(get(&mut client, "zset-max-ziplist-entries"), "128");
    assert_eq!(get(&mut client, "hash-max-listpack-value"), "64");
    assert_eq!(client.query("CONFIG SET zset-max-ziplist-entries 1"), ok);
    assert_eq!(get(&mut client, "zset-max-listpack-entries"), "1");
    assert_eq!(client.query("CONFIG SET list-max-listpack-size 5 list-compress-depth 2"), ok);
    assert_eq!(get(&mut client, "list-max-ziplist-size"), "5");
    assert_eq!(get(&mut client, "list-compress-depth"), "2");
    assert_eq!(client.query("CONFIG SET hash-max-ziplist-value 100"), ok);
    assert_eq!(get(&mut client, "hash-max-listpack-value"), "100");
    // A glob lists the old names too.
    let names: Vec<String> = client
        .query("CONFIG GET zset-max-*-entries")
        .pairs()
        .into_iter()
        .map(|(name, _)| name.text())
        .collect();
    assert!(names.contains(&"zset-max-listpack-entries".to_string()), "{names:?}");
    assert!(names.contains(&"zset-max-ziplist-entries".to_string()), "{names:?}");
    assert!(client.query("CONFIG SET set-max-intset-entries x").is_error());
    assert!(client.query("CONFIG SET zset-max-listpack-entries -1").is_error());

    // OBJECT ENCODING reports against the new limits.
    client.query("ZADD z 1 a 2 b");
    assert_eq!(client.query("OBJECT ENCODING z"), Value::bulk("skiplist"));
    assert_eq!(client.query("CONFIG SET zset-max-ziplist-entries 128"), ok);
    client.query("ZADD small 1 a");
    assert_eq!(client.query("OBJECT ENCODING small"), Value::bulk("listpack"));
    client.query("SADD s 1 2 3");
    assert_eq!(client.query("OBJECT ENCODING s"), Value::bulk("intset"));
    assert_eq!(client.query("CONFIG SET set-max-intset-entries 2"), ok);
    client.query("SADD s2 1 2 3");
    assert_eq!(client.query("OBJECT ENCODING s2"), Value::bulk("listpack"));
}
