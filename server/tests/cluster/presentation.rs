//! The Redis Cluster protocol, on by default with more than one member: what a cluster-aware
//! client reads (CLUSTER INFO / SLOTS / SHARDS / NODES / MYID, INFO) and the redirections it
//! follows (`-MOVED` to the leader, `-CROSSSLOT`), through a leader change; and redis-cli -c,
//! a real cluster client, following them.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::serial;
use crate::support::{info_field, wait_until, Client, Cluster, Value};

/// The slot Redis Cluster gives `foo` (CLUSTER KEYSLOT foo on a Redis Cluster).
const FOO_SLOT: i64 = 12182;

/// A node in CLUSTER SLOTS: host, port, id.
type SlotNode = (String, i64, String);

/// CLUSTER SLOTS as (first slot, last slot, nodes).
fn slots(client: &mut Client) -> Vec<(i64, i64, Vec<SlotNode>)> {
    let Value::Array(ranges) = client.try_call(&["CLUSTER", "SLOTS"]).unwrap() else { panic!("CLUSTER SLOTS") };
    ranges
        .into_iter()
        .map(|range| {
            let Value::Array(items) = range else { panic!("a slot range: {range:?}") };
            let node = |item: &Value| {
                let Value::Array(fields) = item else { panic!("a node: {item:?}") };
                let Value::Int(port) = fields[1] else { panic!("a port: {fields:?}") };
                (fields[0].text(), port, fields[2].text())
            };
            let (Value::Int(first), Value::Int(last)) = (&items[0], &items[1]) else { panic!("{items:?}") };
            (*first, *last, items[2..].iter().map(node).collect())
        })
        .collect()
}

#[test]
fn t58_a_cluster_presents_the_redis_cluster_protocol_and_moves_with_its_leader() {
    let _serial = serial();
    let mut cluster = Cluster::start_presenting_cluster(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let follower = (leader + 1) % 3;
    let leader_port = cluster.nodes[leader].port;
    let follower_port = cluster.nodes[follower].port;

    // Every node: ready as the launch contract says, and the same picture of the slots.
    let mut ids = BTreeSet::new();
    for node in &cluster.nodes {
        let mut client = node.client();
        wait_until(Duration::from_secs(10), "cluster_state:ok", || {
            client.try_call(&["CLUSTER", "INFO"]).unwrap().text().contains("cluster_state:ok\r\n")
        });
        let info = client.try_call(&["CLUSTER", "INFO"]).unwrap().text();
        assert_eq!(info_field(&info, "cluster_known_nodes").as_deref(), Some("3"), "{info}");
        assert_eq!(info_field(&info, "cluster_slots_ok").as_deref(), Some("16384"), "{info}");
        let server = client.try_call(&["INFO", "server"]).unwrap().text();
        assert_eq!(info_field(&server, "redis_mode").as_deref(), Some("cluster"));
        let section = client.try_call(&["INFO", "cluster"]).unwrap().text();
        assert_eq!(info_field(&section, "cluster_enabled").as_deref(), Some("1"));
        let hello = client.try_call(&["HELLO", "2"]).unwrap();
        let mode = hello.pairs().into_iter().find(|(key, _)| key.text() == "mode").map(|(_, v)| v.text());
        assert_eq!(mode.as_deref(), Some("cluster"), "{hello:?}");
        assert_eq!(client.try_call(&["CLUSTER", "KEYSLOT", "foo"]).unwrap(), Value::Int(FOO_SLOT));
        let myid = client.try_call(&["CLUSTER", "MYID"]).unwrap().text();
        assert_eq!(myid.len(), 40, "{myid}");
        ids.insert(myid.clone());
        let ranges = slots(&mut client);
        assert_eq!(ranges.len(), 1, "one shard: {ranges:?}");
        let (first, last, nodes) = &ranges[0];
        assert_eq!((*first, *last), (0, 16383));
        assert_eq!(nodes.len(), 3, "the leader, then its two followers: {nodes:?}");
        assert_eq!(nodes[0].1, leader_port as i64, "the leader is listed first: {nodes:?}");
        assert!(nodes.iter().any(|(_, port, id)| *port == node.port as i64 && *id == myid));
        let text = client.try_call(&["CLUSTER", "NODES"]).unwrap().text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // As StackExchange.Redis parses it: 8 fields at least, split on single spaces, an
        // `ip:port@cport` address, `connected` as field 8, one `myself` line at the address
        // dialled.
        for line in &lines {
            let fields: Vec<&str> = line.split(' ').collect();
            assert!(fields.len() >= 8, "{line}");
            assert_eq!(fields[0].len(), 40, "{line}");
            assert!(fields[1].contains('@'), "{line}");
            assert_eq!(fields[7], "connected", "{line}");
        }
        let own: Vec<&&str> = lines.iter().filter(|line| line.contains("myself")).collect();
        assert_eq!(own.len(), 1, "{text}");
        assert!(own[0].starts_with(&myid), "{}", own[0]);
        assert!(own[0].contains(&format!(" 127.0.0.1:{}@", node.port)), "{}", own[0]);
        let with_slots: Vec<&&str> = lines.iter().filter(|line| line.ends_with(" 0-16383")).collect();
        assert_eq!(with_slots.len(), 1, "only the leader holds the slots: {text}");
        assert!(with_slots[0].contains(&format!(":{leader_port}@")), "{text}");
    }
    assert_eq!(ids.len(), 3, "three distinct node ids: {ids:?}");

    // Writes and reads at a follower are redirected to the leader; at the leader they run.
    let mut at_follower = cluster.nodes[follower].client();
    let moved = format!("MOVED {FOO_SLOT} 127.0.0.1:{leader_port}");
    assert_eq!(at_follower.try_call(&["SET", "foo", "1"]).unwrap(), Value::Error(moved.clone()));
    assert_eq!(at_follower.try_call(&["GET", "foo"]).unwrap(), Value::Error(moved.clone()));
    let mut at_leader = cluster.nodes[leader].client();
    assert_eq!(at_leader.try_call(&["SET", "foo", "1"]).unwrap(), Value::Simple("OK".into()));
    // Pipelined, the redirections come one per command, in order.
    for _ in 0..4 {
        at_follower.try_send_args(&["SET", "foo", "2"]).unwrap();
    }
    for _ in 0..4 {
        assert_eq!(at_follower.try_read().unwrap(), Value::Error(moved.clone()));
    }
    // A READONLY connection reads at the follower (its applied state); writes still move.
    assert_eq!(at_follower.try_call(&["READONLY"]).unwrap(), Value::Simple("OK".into()));
    wait_until(Duration::from_secs(5), "the follower applies the SET", || {
        at_follower.try_call(&["GET", "foo"]).unwrap() == Value::bulk("1")
    });
    assert_eq!(at_follower.try_call(&["SET", "foo", "3"]).unwrap(), Value::Error(moved.clone()));

    // Keys in one command or one transaction must share a slot (hash tags make them).
    let crossslot = Value::Error("CROSSSLOT Keys in request don't hash to the same slot".into());
    assert_eq!(at_leader.try_call(&["MSET", "foo", "a", "bar", "b"]).unwrap(), crossslot);
    assert_eq!(at_leader.try_call(&["MSET", "{u}1", "a", "{u}2", "b"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(at_leader.try_call(&["MULTI"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(at_leader.try_call(&["SET", "{u}1", "x"]).unwrap(), Value::Simple("QUEUED".into()));
    assert_eq!(at_leader.try_call(&["SET", "foo", "x"]).unwrap(), Value::Simple("QUEUED".into()));
    assert_eq!(at_leader.try_call(&["EXEC"]).unwrap(), crossslot);
    assert_eq!(at_leader.try_call(&["GET", "{u}1"]).unwrap(), Value::bulk("a"), "the transaction ran");
    assert_eq!(at_leader.try_call(&["MULTI"]).unwrap(), Value::Simple("OK".into()), "EXEC ended it");
    assert_eq!(at_leader.try_call(&["DISCARD"]).unwrap(), Value::Simple("OK".into()));

    // Database 0 only, as in Redis Cluster.
    assert_eq!(at_leader.try_call(&["SELECT", "0"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(
        at_leader.try_call(&["SELECT", "1"]).unwrap(),
        Value::Error("ERR SELECT is not allowed in cluster mode".into())
    );
    assert_eq!(
        at_leader.try_call(&["MOVE", "foo", "1"]).unwrap(),
        Value::Error("ERR MOVE is not allowed in cluster mode".into())
    );
    assert_eq!(
        at_leader.try_call(&["COPY", "{u}1", "{u}3", "DB", "1"]).unwrap(),
        Value::Error("ERR Copying to another database is not allowed in cluster mode".into())
    );

    // redis-cli -c follows the redirection from the follower to the leader.
    let cli = |port: u16, args: &[&str]| {
        let output = Command::new("redis-cli")
            .args(["-c", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    assert_eq!(cli(follower_port, &["SET", "foo", "through-cli"]), "OK");
    assert_eq!(at_leader.try_call(&["GET", "foo"]).unwrap(), Value::bulk("through-cli"));

    // The leader goes: the survivors name the new one, in SLOTS and in their redirections.
    cluster.nodes[leader].kill();
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    let new_port = cluster.nodes[new_leader].port;
    let other = (0..3).find(|i| *i != leader && *i != new_leader).unwrap();
    let mut survivor = cluster.nodes[other].client();
    wait_until(Duration::from_secs(10), "SLOTS names the new leader", || {
        slots(&mut survivor).first().is_some_and(|(_, _, nodes)| nodes[0].1 == new_port as i64)
    });
    assert_eq!(
        survivor.try_call(&["SET", "foo", "4"]).unwrap(),
        Value::Error(format!("MOVED {FOO_SLOT} 127.0.0.1:{new_port}"))
    );
    assert_eq!(cli(cluster.nodes[other].port, &["GET", "foo"]), "through-cli");
    assert_eq!(cli(cluster.nodes[other].port, &["SET", "foo", "after"]), "OK");
    let mut at_new = cluster.nodes[new_leader].client();
    assert_eq!(at_new.try_call(&["GET", "foo"]).unwrap(), Value::bulk("after"));
}

#[test]
fn t59_cluster_enabled_no_presents_a_standalone_redis_that_forwards() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let mut at_follower = cluster.nodes[(leader + 1) % 3].client();
    assert_eq!(
        at_follower.try_call(&["CLUSTER", "INFO"]).unwrap(),
        Value::Error("ERR This instance has cluster support disabled".into())
    );
    let section = at_follower.try_call(&["INFO", "cluster"]).unwrap().text();
    assert_eq!(info_field(&section, "cluster_enabled").as_deref(), Some("0"));
    // Forwarded to the leader, and keys of any slots together.
    assert_eq!(at_follower.try_call(&["MSET", "foo", "a", "bar", "b"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(at_follower.try_call(&["GET", "bar"]).unwrap(), Value::bulk("b"));
}

#[test]
fn t62_announce_ip_is_the_address_cluster_clients_are_given() {
    let _serial = serial();
    let mut cluster = Cluster::start_presenting_cluster(3);
    // Each node in turn restarts with an address of its own to announce (as a container
    // published elsewhere would).
    let announced = |i: usize| format!("10.9.8.{}", i + 1);
    for i in 0..3 {
        cluster.nodes[i].kill();
        cluster.nodes[i].add_args(&["--announce-ip", &announced(i)]);
        cluster.restart(i);
        cluster.wait_for_leader(Duration::from_secs(20));
    }
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut client = node.client();
        // Every node gives every member's announced address (the others' once they sent it).
        wait_until(Duration::from_secs(10), "every member's announced address", || {
            let ranges = slots(&mut client);
            ranges.len() == 1
                && ranges[0].2.iter().all(|(host, port, _)| {
                    let at = cluster.nodes.iter().position(|n| n.port as i64 == *port).expect("a member");
                    *host == announced(at)
                })
        });
        let nodes = client.try_call(&["CLUSTER", "NODES"]).unwrap().text();
        assert!(nodes.contains(&format!("{}:{}@", announced(i), node.port)), "{nodes}");
        if i != leader {
            assert_eq!(
                client.try_call(&["SET", "foo", "x"]).unwrap(),
                Value::Error(format!("MOVED {FOO_SLOT} {}:{}", announced(leader), cluster.nodes[leader].port))
            );
        }
    }
}

#[test]
fn t66_cluster_links_lists_each_peer_connection_both_ways() {
    let _serial = serial();
    let mut cluster = Cluster::start_presenting_cluster(3);
    let name = |id: u64| flotilla_storage::sha1::sha1_hex(format!("flotilla-node-{id}").as_bytes());
    // Each link as (direction, node), in order.
    let links = |client: &mut Client| -> Vec<(String, String)> {
        let Value::Array(links) = client.try_call(&["CLUSTER", "LINKS"]).unwrap() else { panic!("CLUSTER LINKS") };
        links
            .iter()
            .map(|link| {
                let fields: std::collections::HashMap<String, Value> =
                    link.pairs().into_iter().map(|(k, v)| (k.text(), v)).collect();
                assert!(matches!(fields["create-time"], Value::Int(ms) if ms > 1_700_000_000_000), "{fields:?}");
                (fields["direction"].text(), fields["node"].text())
            })
            .collect()
    };
    let mut client = cluster.nodes[0].client();
    wait_until(Duration::from_secs(10), "both peers connected", || links(&mut client).len() == 4);
    let expected: Vec<(String, String)> = [2, 3]
        .iter()
        .flat_map(|&id| [("to".to_string(), name(id)), ("from".to_string(), name(id))])
        .collect();
    assert_eq!(links(&mut client), expected);
    // A peer that is down has no link.
    cluster.nodes[2].kill();
    wait_until(Duration::from_secs(10), "the stopped peer's link gone", || links(&mut client).len() == 2);
    assert_eq!(links(&mut client), expected[..2].to_vec());
}
