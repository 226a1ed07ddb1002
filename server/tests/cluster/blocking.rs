//! Blocked clients wait on the shard's leader, whichever node they are connected to: clients
//! blocked on several nodes are served in the one order their waits reached the leader, keep
//! waiting through the loss of the leader, and a remote wait that ends (timeout, CLIENT
//! UNBLOCK, disconnect) leaves the element for others. Each test runs a real three-node
//! cluster, waits until each client shows as blocked on its own node, then writes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{now, Cluster, Deadline, Value};
use crate::{call_while_leaderless as write, serial, wait_for_blocked_clients};

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|item| Value::bulk(item)).collect())
}

#[test]
fn t10_clients_blocked_on_every_node_are_served_in_the_order_they_blocked() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    // A follower's client first, then the leader's, then the other follower's.
    let order = [followers[0], leader, followers[1]];
    let mut waiters = Vec::new();
    for node in order {
        let mut waiter = cluster.nodes[node].client();
        waiter.try_send_args(&["BLPOP", "queue", "0"]).unwrap();
        wait_for_blocked_clients(cluster.nodes[node].port, 1);
        waiters.push(waiter);
    }
    // As Redis: the list is c b a after the push, and the first blocked client pops the head.
    let mut pusher = cluster.nodes[followers[1]].client();
    assert_eq!(pusher.try_call(&["LPUSH", "queue", "a", "b", "c"]).unwrap(), Value::Int(3));
    for (waiter, element) in waiters.iter_mut().zip(["c", "b", "a"]) {
        assert_eq!(waiter.try_read().unwrap(), bulks(&["queue", element]));
    }
    assert_eq!(pusher.try_call(&["LLEN", "queue"]).unwrap(), Value::Int(0));
    for node in order {
        wait_for_blocked_clients(cluster.nodes[node].port, 0);
    }

    // A second round, other commands: two followers' clients on a sorted set, the leader's
    // moving from a list; each served once, in order, and the connections go on.
    let mut first = cluster.nodes[followers[1]].client();
    first.try_send_args(&["BZPOPMIN", "scores", "0"]).unwrap();
    wait_for_blocked_clients(cluster.nodes[followers[1]].port, 1);
    let mut second = cluster.nodes[followers[0]].client();
    second.try_send_args(&["BZPOPMIN", "scores", "0"]).unwrap();
    wait_for_blocked_clients(cluster.nodes[followers[0]].port, 1);
    let mut mover = cluster.nodes[leader].client();
    mover.try_send_args(&["BLMOVE", "from", "to", "LEFT", "RIGHT", "0"]).unwrap();
    wait_for_blocked_clients(cluster.nodes[leader].port, 1);
    assert_eq!(
        pusher.try_call(&["ZADD", "scores", "2", "two", "1", "one"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(first.try_read().unwrap(), bulks(&["scores", "one", "1"]));
    assert_eq!(second.try_read().unwrap(), bulks(&["scores", "two", "2"]));
    assert_eq!(pusher.try_call(&["RPUSH", "from", "moved"]).unwrap(), Value::Int(1));
    assert_eq!(mover.try_read().unwrap(), Value::bulk("moved"));
    assert_eq!(first.try_call(&["LRANGE", "to", "0", "-1"]).unwrap(), bulks(&["moved"]));
}

#[test]
fn t11_a_follower_client_blocked_through_the_loss_of_the_leader_is_served_by_the_next() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let mut waiters = Vec::new();
    for &node in &followers {
        let mut waiter = cluster.nodes[node].client();
        waiter.try_send_args(&["BRPOP", "jobs", "0"]).unwrap();
        wait_for_blocked_clients(cluster.nodes[node].port, 1);
        waiters.push(waiter);
    }
    cluster.nodes[leader].kill();
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    assert_ne!(new_leader, leader);
    for &node in &followers {
        wait_for_blocked_clients(cluster.nodes[node].port, 1);
    }
    let mut pusher = cluster.nodes[followers[0]].client();
    assert_eq!(write(&mut pusher, &["RPUSH", "jobs", "x", "y"]), Value::Int(2));
    // Their order after the failover is whatever order they queued again in; each gets one
    // element, none is lost or given twice.
    let mut got = BTreeSet::new();
    for waiter in &mut waiters {
        match waiter.try_read().unwrap() {
            Value::Array(items) if items.len() == 2 && items[0] == Value::bulk("jobs") => {
                got.insert(items[1].text());
            }
            other => panic!("unexpected reply to BRPOP: {other:?}"),
        }
    }
    assert_eq!(got, BTreeSet::from(["x".to_string(), "y".to_string()]));
    assert_eq!(pusher.try_call(&["LLEN", "jobs"]).unwrap(), Value::Int(0));
    for &node in &followers {
        wait_for_blocked_clients(cluster.nodes[node].port, 0);
    }
    // The old leader comes back as a follower; its clients wait on the new leader.
    cluster.restart(leader);
    let current = cluster.wait_for_leader(Duration::from_secs(20));
    let rejoined = if current == leader { followers[0] } else { leader };
    let mut waiter = cluster.nodes[rejoined].client();
    waiter.try_send_args(&["BLPOP", "later", "0"]).unwrap();
    wait_for_blocked_clients(cluster.nodes[rejoined].port, 1);
    assert_eq!(write(&mut pusher, &["RPUSH", "later", "z"]), Value::Int(1));
    assert_eq!(waiter.try_read().unwrap(), bulks(&["later", "z"]));
}

#[test]
fn t12_a_remote_wait_that_ends_leaves_the_element_in_the_list() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let port = cluster.nodes[follower].port;
    let mut waiter = cluster.nodes[follower].client();
    let id = waiter.try_call(&["CLIENT", "ID"]).unwrap().text();
    let mut admin = cluster.nodes[follower].client();

    // Timeout.
    let started = now();
    assert_eq!(waiter.try_call(&["BLPOP", "k", "0.5"]).unwrap(), Value::NilArray);
    assert!(started.elapsed() >= Duration::from_millis(500), "BLPOP returned before its timeout");
    // CLIENT UNBLOCK, with the timeout's reply and with the error.
    waiter.try_send_args(&["BLMOVE", "k", "dst", "LEFT", "LEFT", "0"]).unwrap();
    wait_for_blocked_clients(port, 1);
    assert_eq!(admin.try_call(&["CLIENT", "UNBLOCK", &id]).unwrap(), Value::Int(1));
    assert_eq!(waiter.try_read().unwrap(), Value::NilBulk);
    waiter.try_send_args(&["BRPOP", "k", "0"]).unwrap();
    wait_for_blocked_clients(port, 1);
    assert_eq!(admin.try_call(&["CLIENT", "UNBLOCK", &id, "ERROR"]).unwrap(), Value::Int(1));
    assert_eq!(
        waiter.try_read().unwrap(),
        Value::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    wait_for_blocked_clients(port, 0);
    assert_eq!(admin.try_call(&["CLIENT", "UNBLOCK", &id]).unwrap(), Value::Int(0));
    // A client that disconnects while blocked.
    let mut gone = cluster.nodes[follower].client();
    gone.try_send_args(&["BLPOP", "k", "0"]).unwrap();
    wait_for_blocked_clients(port, 1);
    drop(gone);
    wait_for_blocked_clients(port, 0);

    // None of those waits takes the element, however long they had been queued on the leader.
    let mut pusher = cluster.nodes[leader].client();
    assert_eq!(pusher.try_call(&["RPUSH", "k", "kept"]).unwrap(), Value::Int(1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pusher.try_call(&["LRANGE", "k", "0", "-1"]).unwrap(), bulks(&["kept"]));
    assert_eq!(pusher.try_call(&["EXISTS", "dst"]).unwrap(), Value::Int(0));
    // The connection goes on, and the next blocking command takes it at once.
    assert_eq!(waiter.try_call(&["BLPOP", "k", "0"]).unwrap(), bulks(&["k", "kept"]));
}

#[test]
fn t13_waits_leave_a_leader_that_was_paused_and_deposed() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let mut on_leader = cluster.nodes[leader].client();
    on_leader.try_send_args(&["BLPOP", "paused", "0"]).unwrap();
    wait_for_blocked_clients(cluster.nodes[leader].port, 1);
    let mut on_follower = cluster.nodes[followers[0]].client();
    on_follower.try_send_args(&["BLPOP", "paused", "0"]).unwrap();
    wait_for_blocked_clients(cluster.nodes[followers[0]].port, 1);

    // The paused leader still holds the follower's wait in its queue, with its link up: the
    // follower queues the wait on the new leader when it learns of it.
    cluster.nodes[leader].signal("STOP");
    let old_id = cluster.nodes[leader].id.to_string();
    let deadline = Deadline::after(Duration::from_secs(20));
    while followers.iter().any(|&node| {
        let known = cluster.nodes[node].raft_field("leader");
        known.is_none() || known.as_deref() == Some(old_id.as_str()) || known.as_deref() == Some("-1")
    }) {
        assert!(!deadline.passed(), "no new leader while the old one is paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut pusher = cluster.nodes[followers[1]].client();
    assert_eq!(write(&mut pusher, &["RPUSH", "paused", "first"]), Value::Int(1));
    assert_eq!(on_follower.try_read().unwrap(), bulks(&["paused", "first"]));

    // Resumed, the old leader learns it was deposed: its own client's wait moves to the new
    // leader and is served there; nothing is served twice.
    cluster.nodes[leader].signal("CONT");
    cluster.wait_for_leader(Duration::from_secs(20));
    wait_for_blocked_clients(cluster.nodes[leader].port, 1);
    assert_eq!(write(&mut pusher, &["RPUSH", "paused", "second", "third"]), Value::Int(2));
    assert_eq!(on_leader.try_read().unwrap(), bulks(&["paused", "second"]));
    assert_eq!(pusher.try_call(&["LRANGE", "paused", "0", "-1"]).unwrap(), bulks(&["third"]));
    assert_eq!(on_follower.try_call(&["LPOP", "paused"]).unwrap(), Value::bulk("third"));
}
