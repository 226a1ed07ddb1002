//! Replication and fault tests: real three- and five-node clusters on loopback, with nodes
//! killed (-9), paused (SIGSTOP), restarted and wiped while clients write. The invariant
//! checked everywhere: every write acknowledged with +OK is readable afterwards with its value,
//! and a write answered `-UNCERTAIN` (or cut off with the connection) is either there whole or
//! not at all.

mod bank;
mod blocking;
mod corruption;
mod follower_reads;
mod linearizability;
mod membership;
mod partitions;
mod presentation;
mod pubsub;
mod snapshots;
#[path = "../support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{info_field, now, wait_until, Client, Cluster, Deadline, Value};

/// What one writer saw: acknowledged (key → value) and unknown outcomes (key → value tried).
#[derive(Default)]
struct Outcomes {
    acked: HashMap<String, String>,
    unknown: HashMap<String, String>,
    refused: usize,
}

/// Starts `count` writers (`writer`, prefixes w0, w1 …), each writing through `ports` until
/// `stop`.
fn spawn_writers(ports: &[u16], count: usize, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Outcomes>> {
    (0..count)
        .map(|w| {
            let (ports, stop) = (ports.to_vec(), stop.clone());
            std::thread::spawn(move || writer(ports, format!("w{w}"), stop))
        })
        .collect()
}

/// Writes pipelined batches of SETs (fresh key per write) to the given ports until `stop`,
/// moving to the next port whenever its connection fails.
fn writer(ports: Vec<u16>, prefix: String, stop: Arc<AtomicBool>) -> Outcomes {
    const BATCH: usize = 16;
    let mut outcomes = Outcomes::default();
    let mut next = 0usize;
    let mut port_index = 0usize;
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(connection) = client.as_mut() else {
            client = Client::try_connect(ports[port_index % ports.len()]).ok();
            if client.is_none() {
                port_index += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        };
        let batch: Vec<(String, String)> = (0..BATCH)
            .map(|i| (format!("{prefix}:{}", next + i), format!("v{}", next + i)))
            .collect();
        next += BATCH;
        let mut sent = 0;
        for (key, value) in &batch {
            if connection.try_send_args(&["SET", key, value]).is_err() {
                break;
            }
            sent += 1;
        }
        let mut broken = sent < batch.len();
        for (i, (key, value)) in batch.iter().enumerate() {
            if broken || i >= sent {
                outcomes.unknown.insert(key.clone(), value.clone());
                continue;
            }
            match connection.try_read() {
                Ok(Value::Simple(s)) if s == "OK" => {
                    outcomes.acked.insert(key.clone(), value.clone());
                }
                Ok(Value::Error(e)) if e.starts_with("UNCERTAIN") => {
                    outcomes.unknown.insert(key.clone(), value.clone());
                }
                Ok(Value::Error(e)) if e.starts_with("TRYAGAIN") => outcomes.refused += 1,
                Ok(other) => panic!("unexpected reply to SET: {other:?}"),
                Err(_) => {
                    broken = true;
                    outcomes.unknown.insert(key.clone(), value.clone());
                }
            }
        }
        if broken {
            client = None;
            port_index += 1;
        }
    }
    outcomes
}

/// GET that retries while the cluster answers TRYAGAIN (no leader yet: nothing ran).
fn get(reader: &mut Client, key: &str) -> Value {
    for _ in 0..20 {
        match reader.try_call(&["GET", key]).expect("GET") {
            Value::Error(e) if e.starts_with("TRYAGAIN") => std::thread::sleep(Duration::from_millis(200)),
            other => return other,
        }
    }
    panic!("no leader for GET {key}");
}

/// Runs a command, retrying for up to 20 s while the shard has no leader (TRYAGAIN: nothing
/// ran), and returns its reply.
fn call_while_leaderless(client: &mut Client, command: &[&str]) -> Value {
    let deadline = Deadline::after(Duration::from_secs(20));
    loop {
        match client.try_call(command).expect("reply") {
            Value::Error(e) if e.starts_with("TRYAGAIN") && !deadline.passed() => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The cluster tests run one at a time: each starts several processes, and running them side
/// by side on a small machine starves heartbeats into needless elections.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn check_outcomes(cluster: &Cluster, all: &[Outcomes]) {
    let port = cluster.nodes[cluster.wait_for_leader(Duration::from_secs(20))].port;
    let mut reader = Client::try_connect(port).expect("connect");
    let mut acked = 0;
    for outcomes in all {
        for (key, value) in &outcomes.acked {
            let got = get(&mut reader, key);
            assert_eq!(
                got,
                Value::Bulk(value.clone().into_bytes()),
                "acknowledged write of {key} lost"
            );
            acked += 1;
        }
        for (key, value) in &outcomes.unknown {
            let got = get(&mut reader, key);
            assert!(
                got == Value::NilBulk || got == Value::Bulk(value.clone().into_bytes()),
                "write of {key} with unknown outcome is neither absent nor whole: {got:?}"
            );
        }
    }
    assert!(acked > 0, "no write was acknowledged at all");
}

#[test]
fn t01_writes_replicate_and_any_node_serves_them() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut client = node.client();
        assert_eq!(
            client.try_call(&["SET", &format!("k{i}"), &format!("v{i}")]).unwrap(),
            Value::Simple("OK".into())
        );
    }
    for node in &cluster.nodes {
        let mut client = node.client();
        for i in 0..3 {
            assert_eq!(
                client.try_call(&["GET", &format!("k{i}")]).unwrap().text(),
                format!("v{i}")
            );
        }
        assert!(
            client
                .try_call(&["INCR", "counter"])
                .unwrap()
                .text()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
    assert_eq!(
        cluster.nodes[0]
            .client()
            .try_call(&["GET", "counter"])
            .unwrap()
            .text(),
        "3"
    );
    // Every replica applied the same entries.
    let deadline = Deadline::after(Duration::from_secs(5));
    loop {
        let applied: Vec<Option<String>> = cluster.nodes.iter().map(|n| n.raft_field("applied")).collect();
        if applied.iter().all(|a| a.is_some() && *a == applied[0]) {
            break;
        }
        assert!(
            !deadline.passed(),
            "replicas did not converge: {applied:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Entries applied everywhere and held by every follower leave the log's tail cache.
    for node in &cluster.nodes {
        wait_until(Duration::from_secs(5), "tail cache released", || {
            node.raft_field("log_cache_bytes").as_deref() == Some("0")
        });
    }
}

#[test]
fn t02_kill_leader_during_pipelined_writes_loses_no_acknowledged_write() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            // Each writer starts on a different node; the leader gets some of them.
            let mut order = ports.clone();
            order.rotate_left(w % ports.len());
            let stop = stop.clone();
            std::thread::spawn(move || writer(order, format!("w{w}"), stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    cluster.nodes[leader].kill();
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcomes> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let new_leader = cluster.wait_for_leader(Duration::from_secs(10));
    assert_ne!(new_leader, leader);
    check_outcomes(&cluster, &outcomes);
    // The old leader comes back, catches up, and agrees.
    cluster.restart(leader);
    let mut client = cluster.nodes[leader].client();
    for outcomes in &outcomes {
        for (key, value) in outcomes.acked.iter().take(50) {
            assert_eq!(client.try_call(&["GET", key]).unwrap().text(), *value);
        }
    }
}

/// A node alone syncs the entries of clients that wait for each reply on its runtime worker
/// and hands those of pipelines to its fsync thread (raft/log.rs `Syncer::after_write`); with
/// pipelining writers and a writer of one SET at a time the two paths alternate. Killed -9
/// mid-stream and restarted, it holds every acknowledged write.
#[test]
fn t22_a_single_node_killed_during_lone_and_pipelined_writes_keeps_every_acknowledged_one() {
    let _serial = serial();
    let mut cluster = Cluster::start(1);
    let port = cluster.nodes[0].port;
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&[port], 3, &stop);
    let big = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // One SET (of 20 KiB) at a time.
            let mut outcomes = Outcomes::default();
            let Ok(mut client) = Client::try_connect(port) else { return outcomes };
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (key, value) = (format!("big:{i}"), format!("{i}:{}", "x".repeat(20 * 1024)));
                match client.try_call(&["SET", &key, &value]) {
                    Ok(Value::Simple(ok)) if ok == "OK" => {
                        outcomes.acked.insert(key, value);
                    }
                    Ok(other) => panic!("unexpected reply to SET: {other:?}"),
                    Err(_) => {
                        outcomes.unknown.insert(key, value);
                        break;
                    }
                }
            }
            outcomes
        })
    };
    std::thread::sleep(Duration::from_millis(1000));
    cluster.nodes[0].kill();
    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Outcomes> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let big = big.join().unwrap();
    assert!(!big.acked.is_empty(), "no big write was acknowledged");
    outcomes.push(big);
    cluster.restart(0);
    check_outcomes(&cluster, &outcomes);
}

/// With `--fsync no` an acknowledged write is still handed to the operating system before
/// its reply (as Redis writes its AOF before replying under `appendfsync no`): a node killed
/// -9 mid-stream and restarted holds every acknowledged write (it lost the last ones, still
/// in the store's buffer, before `Syncer::after_write` flushed it).
#[test]
fn t68_fsync_no_loses_no_acknowledged_write_when_only_the_process_dies() {
    let _serial = serial();
    let node = support::Node::start(&[]); // --fsync no
    let port = node.port;
    let mut cluster = Cluster { nodes: vec![node] };
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&[port], 3, &stop);
    std::thread::sleep(Duration::from_millis(700));
    cluster.nodes[0].kill();
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcomes> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(outcomes.iter().all(|o| !o.acked.is_empty()), "every writer had writes acknowledged");
    cluster.restart(0);
    check_outcomes(&cluster, &outcomes);
}

/// Writes through a follower from many clients at once are forwarded to the leader together
/// (`Node::forward`, FORWARD_BATCH): every one is applied once, each client's in the order it
/// sent them, and each client gets its own replies.
#[test]
fn t23_many_clients_writing_through_a_follower_each_keep_their_order() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let port = cluster.nodes[(leader + 1) % 3].port;
    const CLIENTS: usize = 20;
    const ROUNDS: usize = 25;
    const PIPELINE: usize = 8;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::try_connect(port).expect("connect");
                for round in 0..ROUNDS {
                    let mut pipeline = Vec::new();
                    for i in 0..PIPELINE {
                        let n = (round * PIPELINE + i).to_string();
                        pipeline.extend(support::args(&["RPUSH", &format!("list:{c}"), &n]));
                    }
                    client.send_raw(&pipeline);
                    for i in 0..PIPELINE {
                        let expected = (round * PIPELINE + i + 1) as i64;
                        assert_eq!(client.read(), Value::Int(expected), "client {c}");
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    let mut reader = cluster.nodes[leader].client();
    for c in 0..CLIENTS {
        let reply = reader.try_call(&["LRANGE", &format!("list:{c}"), "0", "-1"]).unwrap();
        let expected: Vec<Value> = (0..ROUNDS * PIPELINE).map(|n| Value::bulk(&n.to_string())).collect();
        assert_eq!(reply, Value::Array(expected), "client {c}");
    }
}

#[test]
fn t03_paused_leader_never_serves_a_stale_read() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let mut old = cluster.nodes[leader].client();
    assert_eq!(
        old.try_call(&["SET", "fact", "before"]).unwrap(),
        Value::Simple("OK".into())
    );
    cluster.nodes[leader].signal("STOP");
    // After the election timeout another node takes over and accepts a new value.
    let other = (leader + 1) % 3;
    let deadline = Deadline::after(Duration::from_secs(20));
    while cluster.nodes[other].raft_field("leader") == Some(cluster.nodes[leader].id.to_string()) {
        assert!(
            !deadline.passed(),
            "no new leader while the old one is paused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = cluster.nodes[other].client();
    assert_eq!(
        client.try_call(&["SET", "fact", "after"]).unwrap(),
        Value::Simple("OK".into())
    );
    cluster.nodes[leader].signal("CONT");
    // The old leader resumes believing it leads; a read through it must still see "after".
    for _ in 0..20 {
        let got = old.try_call(&["GET", "fact"]).unwrap();
        assert_eq!(got.text(), "after", "stale read from a deposed leader");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn t04_rolling_restart_and_a_wiped_node_keep_every_write() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = stop.clone();
            let mut order = ports.clone();
            order.rotate_left(w);
            std::thread::spawn(move || writer(order, format!("r{w}"), stop))
        })
        .collect();
    for index in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        cluster.nodes[index].kill();
        std::thread::sleep(Duration::from_millis(300));
        cluster.restart(index);
        cluster.wait_for_leader(Duration::from_secs(20));
    }
    // A node that lost its disk rejoins empty and is rebuilt from the others.
    let victim = (cluster.wait_for_leader(Duration::from_secs(10)) + 1) % 3;
    cluster.wipe(victim);
    std::thread::sleep(Duration::from_millis(300));
    cluster.restart(victim);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcomes> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    check_outcomes(&cluster, &outcomes);
    // The rebuilt node's state machine catches up with the leader's.
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let deadline = Deadline::after(Duration::from_secs(20));
    loop {
        let target = cluster.nodes[leader].raft_field("applied");
        if cluster.nodes[victim].raft_field("applied") == target && target.is_some() {
            break;
        }
        assert!(!deadline.passed(), "wiped node did not catch up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn t05_five_nodes_survive_two_failures() {
    let _serial = serial();
    let mut cluster = Cluster::start(5);
    let mut client = cluster.nodes[0].client();
    assert_eq!(
        client.try_call(&["SET", "a", "1"]).unwrap(),
        Value::Simple("OK".into())
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let second = (leader + 1) % 5;
    cluster.nodes[leader].kill();
    cluster.nodes[second].kill();
    let port = cluster.any_running_port(None);
    let mut client = Client::try_connect(port).unwrap();
    assert_eq!(
        client.try_call(&["SET", "b", "2"]).unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(client.try_call(&["GET", "a"]).unwrap().text(), "1");
    cluster.wait_for_leader(Duration::from_secs(10));
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        assert_eq!(node.client().try_call(&["GET", "b"]).unwrap().text(), "2");
    }
}

/// Asks until `check` accepts the INFO replication text of `port` (heartbeats and acks
/// arrive every 100 ms), failing after `limit`.
fn wait_for_replication_info(port: u16, limit: Duration, check: impl Fn(&str) -> bool) -> String {
    let deadline = Deadline::after(limit);
    loop {
        let info = Client::try_connect(port)
            .and_then(|mut c| c.try_call(&["INFO", "replication"]))
            .map(|v| v.text())
            .unwrap_or_default();
        if check(&info) {
            return info;
        }
        assert!(
            !deadline.passed(),
            "INFO replication never matched: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until INFO clients on `port` reports `count` blocked clients.
fn wait_for_blocked_clients(port: u16, count: usize) {
    let deadline = Deadline::after(Duration::from_secs(5));
    loop {
        let info = Client::try_connect(port)
            .and_then(|mut c| c.try_call(&["INFO", "clients"]))
            .map(|v| v.text())
            .unwrap_or_default();
        if info_field(&info, "blocked_clients") == Some(count.to_string()) {
            return;
        }
        assert!(!deadline.passed(), "never {count} blocked clients: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn t06_wait_role_and_info_replication_tell_the_truth() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let leader_port = cluster.nodes[leader].port;

    // On the leader: both followers hold the write, and are listed with their client ports.
    let mut client = cluster.nodes[leader].client();
    assert_eq!(
        client.try_call(&["SET", "w1", "v"]).unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(client.try_call(&["WAIT", "2", "5000"]).unwrap(), Value::Int(2));
    // The harness runs --fsync always: an acknowledged entry is on each disk that has it.
    assert_eq!(
        client.try_call(&["WAITAOF", "1", "2", "5000"]).unwrap(),
        Value::Array(vec![Value::Int(1), Value::Int(2)])
    );
    let info = wait_for_replication_info(leader_port, Duration::from_secs(5), |info| {
        info_field(info, "connected_slaves").as_deref() == Some("2")
    });
    assert_eq!(info_field(&info, "role").as_deref(), Some("master"));
    assert_eq!(info_field(&info, "flotilla_raft_role").as_deref(), Some("leader"));
    for follower in &followers {
        let port = format!("port={},", cluster.nodes[*follower].port);
        assert!(
            info.lines()
                .any(|l| l.starts_with("slave") && l.contains(&port) && l.contains("state=online")),
            "follower {follower} not listed: {info}"
        );
    }
    match client.try_call(&["ROLE"]).unwrap() {
        Value::Array(items) => {
            assert_eq!(items[0], Value::Bulk(b"master".to_vec()));
            assert!(matches!(items[1], Value::Int(offset) if offset > 0), "{items:?}");
            assert!(
                matches!(&items[2], Value::Array(replicas) if replicas.len() == 2),
                "{items:?}"
            );
        }
        other => panic!("ROLE: {other:?}"),
    }

    // On a follower: presented as a master that names the leader; WAIT is answered for the
    // write it forwarded.
    let follower_port = cluster.nodes[followers[0]].port;
    let info = wait_for_replication_info(follower_port, Duration::from_secs(5), |info| {
        info_field(info, "flotilla_leader_link_status").as_deref() == Some("up")
    });
    assert_eq!(info_field(&info, "role").as_deref(), Some("master"));
    assert_eq!(info_field(&info, "connected_slaves").as_deref(), Some("0"));
    assert_eq!(
        info_field(&info, "flotilla_raft_role").as_deref(),
        Some("follower")
    );
    assert_eq!(
        info_field(&info, "flotilla_leader_port"),
        Some(leader_port.to_string())
    );
    match cluster.nodes[followers[0]].client().try_call(&["ROLE"]).unwrap() {
        Value::Array(items) => {
            assert_eq!(items[0], Value::Bulk(b"master".to_vec()));
            assert_eq!(items[2], Value::Array(Vec::new()));
        }
        other => panic!("ROLE: {other:?}"),
    }
    let mut via_follower = Client::try_connect(follower_port).unwrap();
    assert_eq!(
        via_follower.try_call(&["SET", "w2", "v"]).unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(via_follower.try_call(&["WAIT", "2", "5000"]).unwrap(), Value::Int(2));

    // One follower paused: only the other one gets new writes; WAIT gives up at its timeout.
    cluster.nodes[followers[1]].signal("STOP");
    assert_eq!(
        client.try_call(&["SET", "w3", "v"]).unwrap(),
        Value::Simple("OK".into())
    );
    let started = now();
    assert_eq!(client.try_call(&["WAIT", "2", "500"]).unwrap(), Value::Int(1));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "WAIT returned before its timeout"
    );
    assert_eq!(client.try_call(&["WAIT", "1", "0"]).unwrap(), Value::Int(1));
    assert_eq!(
        via_follower.try_call(&["SET", "w4", "v"]).unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(via_follower.try_call(&["WAIT", "2", "500"]).unwrap(), Value::Int(1));
    assert_eq!(
        via_follower.try_call(&["WAITAOF", "1", "2", "300"]).unwrap(),
        Value::Array(vec![Value::Int(1), Value::Int(1)])
    );
    wait_for_replication_info(leader_port, Duration::from_secs(10), |info| {
        info_field(info, "connected_slaves").as_deref() == Some("1")
    });

    // A client blocked in WAIT / WAITAOF is a blocked client: INFO counts it and CLIENT
    // UNBLOCK ends it, with what the command answers at its timeout (the followers holding
    // the write so far) or with the UNBLOCKED error, as Redis does.
    let unblock = |waiter: &mut Client, port: u16, command: &[&str], reason: &str| {
        let id = waiter.try_call(&["CLIENT", "ID"]).unwrap().text();
        assert_eq!(waiter.try_call(&["SET", "w5", "v"]).unwrap(), Value::Simple("OK".into()));
        waiter.try_send_args(command).unwrap();
        wait_for_blocked_clients(port, 1);
        let mut admin = Client::try_connect(port).unwrap();
        assert_eq!(admin.try_call(&["CLIENT", "UNBLOCK", &id, reason]).unwrap(), Value::Int(1));
        let reply = waiter.try_read().unwrap();
        wait_for_blocked_clients(port, 0);
        assert_eq!(admin.try_call(&["CLIENT", "UNBLOCK", &id, reason]).unwrap(), Value::Int(0));
        reply
    };
    let mut waiter = cluster.nodes[leader].client();
    assert_eq!(unblock(&mut waiter, leader_port, &["WAIT", "2", "0"], "TIMEOUT"), Value::Int(1));
    assert_eq!(
        unblock(&mut waiter, leader_port, &["WAITAOF", "1", "2", "0"], "TIMEOUT"),
        Value::Array(vec![Value::Int(1), Value::Int(1)])
    );
    assert_eq!(
        unblock(&mut waiter, leader_port, &["WAIT", "2", "0"], "ERROR"),
        Value::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    // On a follower the client blocks there (the leader answers its WAIT).
    let mut waiter = Client::try_connect(follower_port).unwrap();
    assert_eq!(
        unblock(&mut waiter, follower_port, &["WAITAOF", "0", "2", "0"], "ERROR"),
        Value::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    assert_eq!(unblock(&mut waiter, follower_port, &["WAIT", "2", "0"], "TIMEOUT"), Value::Int(1));
    // The connection goes on as usual.
    assert_eq!(waiter.try_call(&["GET", "w5"]).unwrap(), Value::Bulk(b"v".to_vec()));

    // Resumed, it catches up: a WAIT without timeout returns once it does.
    cluster.nodes[followers[1]].signal("CONT");
    assert_eq!(client.try_call(&["WAIT", "2", "0"]).unwrap(), Value::Int(2));
    assert_eq!(via_follower.try_call(&["WAIT", "2", "0"]).unwrap(), Value::Int(2));
}

#[test]
fn t07_readonly_reads_a_follower_locally_and_readwrite_restores_linearizable_reads() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let follower = (leader + 1) % 3;
    let third = (leader + 2) % 3;
    let mut writer = cluster.nodes[leader].client();
    assert_eq!(writer.try_call(&["SET", "fact", "v1"]).unwrap(), Value::Simple("OK".into()));
    // The follower has applied everything the leader applied.
    let deadline = Deadline::after(Duration::from_secs(5));
    let leader_applied: u64 = cluster.nodes[leader].raft_field("applied").unwrap().parse().unwrap();
    while cluster.nodes[follower].raft_field("applied").unwrap().parse::<u64>().unwrap() < leader_applied {
        assert!(!deadline.passed(), "follower did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut replica = cluster.nodes[follower].client();
    assert_eq!(replica.try_call(&["READONLY"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(replica.try_call(&["GET", "fact"]).unwrap().text(), "v1");
    // Writes on a READONLY connection still go through the leader.
    assert_eq!(replica.try_call(&["SET", "from-replica", "w"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(writer.try_call(&["GET", "from-replica"]).unwrap().text(), "w");

    // With the two other nodes paused no leader can exist, so no linearizable read could be
    // answered: the READONLY connection is served from the follower's own state.
    cluster.nodes[leader].signal("STOP");
    cluster.nodes[third].signal("STOP");
    let local = replica.try_call(&["GET", "fact"]);
    let pipelined = replica
        .try_send_args(&["GET", "fact"])
        .and_then(|_| replica.try_send_args(&["EXISTS", "fact"]))
        .and_then(|_| Ok((replica.try_read()?, replica.try_read()?)));
    cluster.nodes[leader].signal("CONT");
    cluster.nodes[third].signal("CONT");
    assert_eq!(local.unwrap().text(), "v1");
    let (get, exists) = pipelined.unwrap();
    assert_eq!((get.text(), exists), ("v1".to_string(), Value::Int(1)));

    // READWRITE: reads on the follower are linearizable again, so each one sees the increment
    // the leader acknowledged just before, however far the follower's own state lags.
    assert_eq!(replica.try_call(&["READWRITE"]).unwrap(), Value::Simple("OK".into()));
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let follower_port = cluster.nodes[(leader + 1) % 3].port;
    let mut writer = cluster.nodes[leader].client();
    let mut plain = Client::try_connect(follower_port).unwrap();
    for expected in 1..=200 {
        assert_eq!(writer.try_call(&["INCR", "counter"]).unwrap(), Value::Int(expected));
        assert_eq!(
            plain.try_call(&["GET", "counter"]).unwrap().text(),
            expected.to_string(),
            "stale read on a follower's plain connection"
        );
    }
    assert_eq!(replica.try_call(&["GET", "counter"]).unwrap().text(), "200");
}

/// The script cache is replicated state: a script loaded through one node runs by its SHA-1
/// on every node, after the leader is killed, and on the old leader once it restarts (from
/// its log or a snapshot).
#[test]
fn t08_evalsha_after_script_load_works_on_every_node_and_after_failover() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let follower = (leader + 1) % 3;
    let script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    let sha = cluster.nodes[follower].client().try_call(&["SCRIPT", "LOAD", script]).unwrap().text();
    assert_eq!(sha.len(), 40, "{sha}");
    let mut total = 0;
    for node in &cluster.nodes {
        total += 2;
        let reply = node.client().try_call(&["EVALSHA", &sha, "1", "counter", "2"]).unwrap();
        assert_eq!(reply, Value::Int(total));
    }
    cluster.nodes[leader].kill();
    let new_leader = cluster.wait_for_leader(Duration::from_secs(10));
    assert_ne!(new_leader, leader);
    for index in [new_leader, 3 - leader - new_leader] {
        total += 2;
        let reply = cluster.nodes[index].client().try_call(&["EVALSHA", &sha, "1", "counter", "2"]).unwrap();
        assert_eq!(reply, Value::Int(total));
    }
    cluster.restart(leader);
    let port = cluster.nodes[leader].port;
    wait_until(Duration::from_secs(10), "the old leader answers", || {
        Client::try_connect(port).is_ok_and(|mut client| {
            matches!(client.try_call(&["EVALSHA", &sha, "1", "counter", "0"]), Ok(Value::Int(_)))
        })
    });
    let mut client = cluster.nodes[leader].client();
    assert_eq!(client.try_call(&["EVALSHA", &sha, "1", "counter", "2"]).unwrap(), Value::Int(total + 2));
    assert_eq!(client.try_call(&["SCRIPT", "EXISTS", &sha]).unwrap(), Value::Array(vec![Value::Int(1)]));
}

/// A node runs one worker thread by default, and a command that runs long leaves it first:
/// while a script reads a big list over and over for seconds (EVAL_RO on the leader alone,
/// then EVAL, applied on every node), the leader answers PING at once and keeps its
/// leadership in the same term. Without that, the script would hold the only worker, and
/// with it the PINGs and the Raft heartbeats, for its whole run.
#[test]
fn t21_a_long_script_holds_up_neither_other_clients_nor_heartbeats() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let term = cluster.nodes[leader].raft_field("term").expect("term");
    let mut client = cluster.nodes[leader].client();
    let mut fill = Vec::new();
    for chunk in 0..20 {
        let mut command = vec!["RPUSH".to_string(), "big".to_string()];
        command.extend((0..10_000).map(|i| format!("element:{chunk}:{i}")));
        let command: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        fill.extend(support::request(&command));
    }
    client.send_raw(&fill);
    for chunk in 1..=20 {
        assert_eq!(client.read(), Value::Int(chunk * 10_000));
    }
    let script = "for i = 1, tonumber(ARGV[1]) do redis.call('lrange', KEYS[1], 0, -1) end return 1";
    for eval in ["EVAL_RO", "EVAL"] {
        // As many reads of the list as take about two seconds here.
        let started = now();
        assert_eq!(client.try_call(&[eval, script, "1", "big", "1"]).unwrap(), Value::Int(1));
        let rounds = (2.0 / started.elapsed().as_secs_f64()).ceil().clamp(1.0, 500.0) as u64;
        let port = cluster.nodes[leader].port;
        let long = std::thread::spawn(move || {
            let mut client = Client::try_connect(port).expect("connect");
            let started = now();
            let reply = client.try_call(&[eval, script, "1", "big", &rounds.to_string()]).unwrap();
            (reply, started.elapsed())
        });
        let mut pinger = cluster.nodes[leader].client();
        let mut slowest = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(100));
        while !long.is_finished() {
            let sent = now();
            assert_eq!(pinger.try_call(&["PING"]).unwrap(), Value::Simple("PONG".into()));
            slowest = slowest.max(sent.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
        let (reply, ran) = long.join().expect("script client");
        assert_eq!(reply, Value::Int(1), "{eval}");
        assert!(ran >= Duration::from_millis(1200), "{eval} ran only {ran:?}: too short to tell anything");
        assert!(slowest < ran / 4, "{eval} ran {ran:?} and a PING meanwhile took {slowest:?}");
        for node in &cluster.nodes {
            assert_eq!(node.raft_field("term").as_deref(), Some(term.as_str()), "{eval}: an election happened");
            assert_eq!(node.raft_field("leader"), Some(cluster.nodes[leader].id.to_string()), "{eval}");
        }
    }
}

/// Function libraries are replicated state: a library loaded through a follower runs on
/// every node, FCALL_RO refuses a function that may write, FUNCTION DUMP / RESTORE round-trip,
/// and a restarted node still has the libraries (from its log or a snapshot).
#[test]
fn t09_function_libraries_replicate_and_survive_a_restart() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let follower = (leader + 1) % 3;
    let library = "#!lua name=counters\n\
        redis.register_function('bump', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)\n\
        redis.register_function{function_name='peek', callback=function(keys) return redis.call('GET', keys[1]) end, \
        flags={'no-writes'}, description='reads a counter'}";
    let mut client = cluster.nodes[follower].client();
    assert_eq!(client.try_call(&["FUNCTION", "LOAD", library]).unwrap(), Value::bulk("counters"));
    let mut total = 0;
    for node in &cluster.nodes {
        total += 3;
        let mut client = node.client();
        assert_eq!(client.try_call(&["FCALL", "bump", "1", "fn:counter", "3"]).unwrap(), Value::Int(total));
        assert_eq!(client.try_call(&["FCALL_RO", "peek", "1", "fn:counter"]).unwrap().text(), total.to_string());
        assert_eq!(
            client.try_call(&["FCALL_RO", "bump", "1", "fn:counter", "1"]).unwrap(),
            Value::Error("ERR Can not execute a script with write flag using *_ro command.".into())
        );
    }
    let mut client = cluster.nodes[leader].client();
    let Value::Bulk(payload) = client.try_call(&["FUNCTION", "DUMP"]).unwrap() else { panic!("a payload") };
    assert_eq!(client.try_call(&["FUNCTION", "FLUSH"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(
        client.try_call(&["FCALL", "bump", "1", "fn:counter", "1"]).unwrap(),
        Value::Error("ERR Function not found".into())
    );
    client.send_raw(&support::request(&[b"FUNCTION", b"RESTORE", &payload]));
    let restored = client.read();
    assert_eq!(restored, Value::Simple("OK".into()));
    cluster.nodes[follower].kill();
    total += 1;
    assert_eq!(client.try_call(&["FCALL", "bump", "1", "fn:counter", "1"]).unwrap(), Value::Int(total));
    cluster.restart(follower);
    let port = cluster.nodes[follower].port;
    wait_until(Duration::from_secs(10), "the restarted node runs the function", || {
        Client::try_connect(port).is_ok_and(|mut client| {
            matches!(client.try_call(&["FCALL_RO", "peek", "1", "fn:counter"]), Ok(Value::Bulk(_)))
        })
    });
    let mut client = cluster.nodes[follower].client();
    total += 1;
    assert_eq!(client.try_call(&["FCALL", "bump", "1", "fn:counter", "1"]).unwrap(), Value::Int(total));
    let Value::Array(list) = client.try_call(&["FUNCTION", "LIST", "LIBRARYNAME", "count*"]).unwrap() else {
        panic!("a list")
    };
    assert_eq!(list.len(), 1);
}

#[test]
fn t20_a_snapshot_of_several_chunks_rebuilds_a_wiped_node() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let victim = (leader + 1) % 3;
    cluster.wipe(victim);
    let mut client = cluster.nodes[leader].client();
    // One SET per round trip makes one entry each: more than the 1,000 entries kept behind a
    // snapshot, so the log the wiped node would need is purged and only a snapshot can help.
    for i in 0..1100 {
        let value = i.to_string();
        assert_eq!(
            client.try_call(&["SET", &format!("small:{i}"), &value]).unwrap(),
            Value::Simple("OK".into())
        );
    }
    // About 4 MB of values: a snapshot of several 1 MiB chunks.
    let big = |i: usize| format!("{i}:{}", "x".repeat(100_000));
    for i in 0..40 {
        client.try_send_args(&["SET", &format!("big:{i}"), &big(i)]).unwrap();
    }
    for _ in 0..40 {
        assert_eq!(client.try_read().unwrap(), Value::Simple("OK".into()));
    }
    assert_eq!(
        client.try_call(&["BGSAVE"]).unwrap(),
        Value::Simple("Background saving started".into())
    );
    let purged = || {
        cluster.nodes[leader]
            .raft_field("purged")
            .and_then(|p| p.parse::<i64>().ok())
    };
    wait_until(Duration::from_secs(20), "leader snapshot and purge", || {
        purged().is_some_and(|p| p > 0)
    });

    cluster.restart(victim);
    wait_until(Duration::from_secs(30), "wiped node rebuilt from the snapshot", || {
        let leader_applied = cluster.nodes[leader].raft_field("applied");
        cluster.nodes[victim].raft_field("snapshot").is_some_and(|s| s != "-1")
            && cluster.nodes[victim].raft_field("applied") == leader_applied
    });
    let keyspace = cluster.nodes[victim]
        .client()
        .try_call(&["INFO", "keyspace"])
        .unwrap()
        .text();
    assert!(keyspace.contains("db0:keys=1140,"), "{keyspace}");

    // With the old leader gone, the rebuilt node is one of the two that hold the data.
    cluster.nodes[leader].kill();
    cluster.wait_for_leader(Duration::from_secs(20));
    let mut client = cluster.nodes[victim].client();
    for i in [0, 17, 39] {
        let got = client.try_call(&["GET", &format!("big:{i}")]).unwrap();
        assert_eq!(got, Value::Bulk(big(i).into_bytes()));
    }
    assert_eq!(client.try_call(&["GET", "small:1099"]).unwrap().text(), "1099");
}

/// What every running node's READONLY view says of stream `key`: XLEN, and XINFO STREAM's
/// node count and first entry id. Followers may trail the leader for a moment, so this
/// waits (up to 10 s) until all nodes agree; replicas that diverged never would.
fn stream_everywhere(cluster: &Cluster, key: &str) -> Vec<(String, String, String)> {
    let view = || -> Vec<(String, String, String)> {
        cluster
            .nodes
            .iter()
            .filter(|node| node.is_running())
            .map(|node| {
                let mut reader = node.client();
                reader.try_call(&["READONLY"]).unwrap();
                let length = reader.try_call(&["XLEN", key]).unwrap().text();
                let info = reader.try_call(&["XINFO", "STREAM", key]).unwrap().pairs();
                let field = |name: &str| {
                    let value = info.iter().find(|(k, _)| k.text() == name).map(|(_, v)| v.clone());
                    value.unwrap_or_else(|| panic!("XINFO STREAM without {name}"))
                };
                let first = match field("first-entry") {
                    Value::Array(entry) => entry[0].text(),
                    other => panic!("first-entry {other:?}"),
                };
                (length, field("radix-tree-keys").text(), first)
            })
            .collect()
    };
    let deadline = Deadline::after(Duration::from_secs(10));
    let mut views = view();
    while views.iter().any(|v| v != &views[0]) && !deadline.passed() {
        std::thread::sleep(Duration::from_millis(50));
        views = view();
    }
    assert!(views.iter().all(|v| v == &views[0]), "{views:?}");
    views
}

/// The stream node size decides which entries `~` trimming removes, so it is replicated
/// state: CONFIG SET on a follower goes through the log, every node's CONFIG GET shows it,
/// and every replica trims the same entries.
#[test]
fn t10_stream_node_size_is_set_through_the_log() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let follower = (leader + 1) % 3;
    let mut client = cluster.nodes[follower].client();
    let refused = client.try_call(&["CONFIG", "SET", "stream-node-max-entries", "-1"]).unwrap();
    assert!(
        matches!(&refused, Value::Error(text) if text.contains("'stream-node-max-entries'")),
        "{refused:?}"
    );
    let set = client.try_call(&["CONFIG", "SET", "stream-node-max-entries", "10", "stream-node-max-bytes", "0"]);
    assert_eq!(set.unwrap(), Value::Simple("OK".into()));
    // Applied on this follower before the reply: its own CONFIG GET sees the new value.
    let got = client.try_call(&["CONFIG", "GET", "stream-node-max-entries"]).unwrap();
    assert_eq!(got, Value::Array(vec![Value::bulk("stream-node-max-entries"), Value::bulk("10")]));
    wait_until(Duration::from_secs(10), "every node reports the new node size", || {
        let expected = ["stream-node-max-bytes", "0", "stream-node-max-entries", "10"];
        let expected = Value::Array(expected.iter().map(|text| Value::bulk(text)).collect());
        cluster.nodes.iter().all(|node| {
            node.client().try_call(&["CONFIG", "GET", "stream-node-max-*"]).unwrap() == expected
        })
    });
    for i in 0..100 {
        client.try_call(&["XADD", "s", "MAXLEN", "~", "25", "*", "n", &i.to_string()]).unwrap();
    }
    let views = stream_everywhere(&cluster, "s");
    let (length, nodes, _) = &views[0];
    // Nodes of 10 entries: ~25 keeps 25 to 34. With the default (100) nothing is removed.
    let length: u64 = length.parse().unwrap();
    assert!((25..35).contains(&length), "{views:?}");
    assert_eq!(nodes, &length.div_ceil(10).to_string(), "{views:?}");
}

/// A node replays its log after a restart with the node size each entry was applied under,
/// not the one in force at the restart: the stream it rebuilds is the one it acknowledged.
#[test]
fn t11_a_restart_replays_stream_trimming_with_the_logged_node_size() {
    let _serial = serial();
    let mut cluster = Cluster::start(1);
    let mut client = cluster.nodes[0].client();
    let set = client.try_call(&["CONFIG", "SET", "stream-node-max-entries", "4"]).unwrap();
    assert_eq!(set, Value::Simple("OK".into()));
    for i in 0..30 {
        client.try_call(&["XADD", "s", "MAXLEN", "~", "10", "*", "n", &i.to_string()]).unwrap();
    }
    let set = client.try_call(&["CONFIG", "SET", "stream-node-max-entries", "50"]).unwrap();
    assert_eq!(set, Value::Simple("OK".into()));
    for i in 30..35 {
        client.try_call(&["XADD", "s", "MAXLEN", "~", "10", "*", "n", &i.to_string()]).unwrap();
    }
    let before = stream_everywhere(&cluster, "s");
    let range_before = client.try_call(&["XRANGE", "s", "-", "+"]).unwrap();
    cluster.nodes[0].kill();
    cluster.restart(0);
    cluster.wait_for_leader(Duration::from_secs(20));
    let after = stream_everywhere(&cluster, "s");
    assert_eq!(after, before);
    let mut client = cluster.nodes[0].client();
    assert_eq!(client.try_call(&["XRANGE", "s", "-", "+"]).unwrap(), range_before);
    let got = client.try_call(&["CONFIG", "GET", "stream-node-max-entries"]).unwrap();
    assert_eq!(got, Value::Array(vec![Value::bulk("stream-node-max-entries"), Value::bulk("50")]));
}

/// The entries at one node's ACL LOG as (reason, context, object) rows.
fn acl_log(client: &mut Client) -> Vec<(String, String, String)> {
    let Value::Array(entries) = client.try_call(&["ACL", "LOG"]).unwrap() else {
        panic!("ACL LOG is an array")
    };
    entries
        .iter()
        .map(|entry| {
            let pairs = entry.pairs();
            let field = |name: &str| {
                pairs.iter().find(|(k, _)| k.text() == name).map(|(_, v)| v.text()).unwrap_or_default()
            };
            (field("reason"), field("context"), field("object"))
        })
        .collect()
}

/// A restricted user's script sent to a follower carries the user's permissions in its log
/// entry: every replica refuses the same command (the follower's user exists on no other
/// node), the write it did allow is everywhere, and only the follower's ACL LOG records the
/// refusals (its EVAL_RO too, which goes through the log from a follower).
#[test]
fn t14_a_restricted_users_script_is_checked_alike_on_every_replica() {
    let _serial = serial();
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    let follower = (leader + 1) % 3;
    let mut admin = cluster.nodes[follower].client();
    assert_eq!(admin.try_call(&["ACL", "SETUSER", "bob", "on", ">pw", "+@scripting", "+set", "+get", "~x*"]).unwrap(), Value::Simple("OK".into()));
    let mut bob = cluster.nodes[follower].client();
    assert_eq!(bob.try_call(&["AUTH", "bob", "pw"]).unwrap(), Value::Simple("OK".into()));
    let script = "redis.call('set', KEYS[1], 'v'); return redis.pcall('del', KEYS[1])";
    let reply = bob.try_call(&["EVAL", script, "1", "xa"]).unwrap();
    assert_eq!(
        reply.text(),
        "ERR The user executing the script can't run this command or subcommand"
    );
    let reply = bob.try_call(&["EVAL_RO", "return redis.call('get', 'yy')", "0"]).unwrap();
    assert!(reply.text().contains("can't access at least one of the keys"), "{reply:?}");
    for node in &cluster.nodes {
        let mut client = node.client();
        client.try_call(&["READONLY"]).unwrap();
        wait_until(Duration::from_secs(5), "the write is applied", || {
            client.try_call(&["GET", "xa"]).unwrap() == Value::bulk("v")
        });
    }
    let row = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    wait_until(Duration::from_secs(5), "the follower logs both refusals", || acl_log(&mut admin).len() == 2);
    assert_eq!(acl_log(&mut admin), vec![row("key", "lua", "yy"), row("command", "lua", "del")]);
    for index in [leader, 3 - leader - follower] {
        assert_eq!(acl_log(&mut cluster.nodes[index].client()), vec![], "node {index}");
    }
}

/// The harness's deadlines leave out time the test process spent stopped: the machine the
/// tests share pauses whole process trees (SIGSTOP) while something else is measured, and a
/// wait that counted the pause failed as soon as it resumed (t41, before its nodes ran again).
#[test]
fn a_deadline_leaves_out_time_the_test_process_spent_stopped() {
    let _serial = serial();
    let deadline = Deadline::after(Duration::from_secs(1));
    let paused_before = support::paused_total();
    let started = now();
    let pid = std::process::id();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -STOP {pid}; sleep 2; kill -CONT {pid}"))
        .status()
        .expect("sh");
    assert!(status.success());
    assert!(started.elapsed() >= Duration::from_secs(2));
    let paused = support::paused_total() - paused_before;
    assert!(paused >= Duration::from_millis(1500), "paused {paused:?}");
    assert!(!deadline.passed(), "the pause counted against the deadline");
    wait_until(Duration::from_secs(5), "the deadline passes", || deadline.passed());
}

/// A leader stopped cleanly (SIGTERM) hands its leadership to a follower before it exits, so
/// the group does not wait out its lease and an election timeout as after a crash: the node it
/// names leads, one term later, and writes through the other follower go on; nothing
/// acknowledged before the stop is lost.
#[test]
fn t57_a_leader_that_stops_cleanly_hands_its_leadership_over() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let term: u64 = cluster.nodes[leader].raft_field("term").and_then(|t| t.parse().ok()).expect("term");
    let other = (0..3).find(|&i| i != leader).expect("a follower");
    let mut client = cluster.nodes[other].client();
    assert_eq!(client.try_call(&["SET", "before", "1"]).unwrap(), Value::Simple("OK".into()));

    cluster.nodes[leader].signal("TERM");
    assert!(cluster.nodes[leader].wait_exit(Duration::from_secs(30)).success(), "clean exit");
    let log = cluster.nodes[leader].log_text();
    cluster.nodes[leader].kill(); // reaped: no longer counted as running
    let named: u64 = log
        .lines()
        .find(|line| line.contains("handed leadership over"))
        .and_then(|line| line.split("to=").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the stopping leader did not hand over; its log:\n{log}"));
    let new_leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_eq!(cluster.nodes[new_leader].id, named, "the node named leads");
    let new_term: u64 = cluster.nodes[new_leader].raft_field("term").and_then(|t| t.parse().ok()).expect("term");
    assert_eq!(new_term, term + 1, "one campaign, by the node named");

    let survivor = (0..3).find(|&i| i != leader && i != new_leader).expect("the other follower");
    let mut client = cluster.nodes[survivor].client();
    assert_eq!(client.try_call(&["SET", "after", "1"]).unwrap(), Value::Simple("OK".into()));
    assert_eq!(client.try_call(&["GET", "before"]).unwrap(), Value::Bulk(b"1".to_vec()));
}
