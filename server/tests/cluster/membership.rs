//! Membership changes (server/src/membership.rs): a node that joins a running cluster with
//! `--join` is brought up to date (from a snapshot, the log behind it being purged) and votes;
//! `CLUSTER FORGET` removes a member, after which a majority of the new membership serves
//! writes without it; a joined node restarts as a member with its data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{free_port, info_field, wait_until, Client, Cluster, Node, Value};
use crate::{check_outcomes, serial, spawn_writers};

fn ok() -> Value {
    Value::Simple("OK".into())
}

/// The voters node `node` holds (`INFO flotilla_raft`, ids joined by '|'), sorted.
fn voters(node: &Node) -> Vec<u64> {
    let mut ids: Vec<u64> = node
        .raft_field("voters")
        .unwrap_or_default()
        .split('|')
        .filter_map(|id| id.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Whether `node` presents the Redis Cluster protocol (`INFO cluster`), if it answers.
fn presents_cluster(node: &Node) -> Option<bool> {
    let info = node.client().try_call(&["INFO", "cluster"]).ok()?.text();
    info_field(&info, "cluster_enabled").map(|enabled| enabled == "1")
}

fn mset(client: &mut Client, from: usize, to: usize) {
    let mut args: Vec<String> = vec!["MSET".into()];
    for i in from..to {
        args.push(format!("k{i}"));
        args.push(format!("v{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(client.try_call(&args).unwrap(), ok());
}

#[test]
fn t63_a_node_joins_with_the_data_votes_and_a_member_is_forgotten() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let mut writer = cluster.nodes[leader].client();
    mset(&mut writer, 0, 1000);
    // Entries enough that a snapshot purges the log behind it (Raft keeps 1000 entries past
    // one): one write per entry, each awaited.
    for i in 0..1100 {
        assert_eq!(writer.try_call(&["SET", &format!("s{i}"), "x"]).unwrap(), ok());
    }
    // A snapshot, and the log before it purged: the new node must be sent the snapshot.
    assert_eq!(writer.try_call(&["SAVE"]).unwrap(), ok());
    wait_until(Duration::from_secs(10), "the leader's log purged behind its snapshot", || {
        cluster.nodes[leader].raft_field("purged").is_some_and(|purged| purged != "-1")
    });
    mset(&mut writer, 1000, 1200);

    // Joins through a node that does not lead: the change is relayed to the leader.
    let follower = (leader + 1) % 3;
    let joined = cluster.join(follower, &["--cluster-enabled", "no"]);
    let new_id = cluster.nodes[joined].id;
    assert_eq!(new_id, 4);
    wait_until(Duration::from_secs(30), "every node holds the new node as a voter", || {
        cluster.nodes.iter().all(|node| voters(node) == vec![1, 2, 3, 4])
    });
    // The log it needed starts before the leader's: it was sent the snapshot.
    let installed = cluster.nodes[joined].raft_field("snapshot").expect("INFO flotilla_raft");
    assert_ne!(installed, "-1", "the new node holds no snapshot");
    // Its own data: a read there is served from what it applied (after a read index).
    let mut on_new = cluster.nodes[joined].client();
    for i in (0..1200).step_by(7) {
        assert_eq!(on_new.try_call(&["GET", &format!("k{i}")]).unwrap(), Value::bulk(&format!("v{i}")));
    }
    assert_eq!(on_new.try_call(&["DBSIZE"]).unwrap(), Value::Int(2300));

    // Refusals: an id not larger than every member's, an unknown node, this node itself.
    let mut asker = cluster.nodes[leader].client();
    let reply = asker.try_call(&["CLUSTER", "JOIN", "2", "127.0.0.1", "1"]).unwrap();
    assert!(reply.text().contains("is a member already"), "{reply:?}");
    let reply = asker.try_call(&["CLUSTER", "JOIN", "3", "127.0.0.1", "1"]).unwrap();
    assert!(reply.is_error(), "{reply:?}");
    let reply = asker.try_call(&["CLUSTER", "FORGET", "9"]).unwrap();
    assert_eq!(reply, Value::Error("ERR Unknown node 9".into()));
    let leader_id = cluster.nodes[leader].id.to_string();
    let reply = asker.try_call(&["CLUSTER", "FORGET", &leader_id]).unwrap();
    assert_eq!(reply, Value::Error("ERR I tried hard but I can't forget myself...".into()));

    // Forget one of the first members, named by its 40-hex name (the SHA-1 of
    // `flotilla-node-<id>`, as CLUSTER NODES gives it) and asked of the new node; then stop it.
    let forgotten = (leader + 2) % 3;
    let name = flotilla_storage::sha1::sha1_hex(format!("flotilla-node-{}", cluster.nodes[forgotten].id).as_bytes());
    assert_eq!(on_new.try_call(&["CLUSTER", "FORGET", &name]).unwrap(), ok());
    let forgotten_id = cluster.nodes[forgotten].id;
    wait_until(Duration::from_secs(10), "the other members drop it", || {
        [leader, follower, joined].iter().all(|&i| !voters(&cluster.nodes[i]).contains(&forgotten_id))
    });
    cluster.nodes[forgotten].kill();
    // Three voters now: the leader and the new node are a majority without the third.
    let mut expected = vec![cluster.nodes[leader].id, cluster.nodes[follower].id, new_id];
    expected.sort_unstable();
    cluster.nodes[follower].kill();
    let mut writer = cluster.nodes[cluster.wait_for_leader(Duration::from_secs(20))].client();
    assert_eq!(writer.try_call(&["SET", "after", "forget"]).unwrap(), ok());

    // The joined node restarts (its --join still given) as a member, with its data.
    cluster.nodes[joined].kill();
    cluster.restart(follower);
    cluster.restart(joined);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_ne!(cluster.nodes[leader].id, forgotten_id);
    let mut on_new = cluster.nodes[joined].client();
    assert_eq!(on_new.try_call(&["SET", "written", "through-the-new-node"]).unwrap(), ok());
    assert_eq!(on_new.try_call(&["GET", "after"]).unwrap(), Value::bulk("forget"));
    assert_eq!(on_new.try_call(&["GET", "k1199"]).unwrap(), Value::bulk("v1199"));
    assert_eq!(voters(&cluster.nodes[joined]), expected);

    // Started again without --join, it takes its place from what its data records (as an
    // etcd member restarted on its data does) and serves what was written meanwhile.
    cluster.nodes[joined].kill();
    let mut writer = cluster.nodes[cluster.wait_for_leader(Duration::from_secs(20))].client();
    assert_eq!(writer.try_call(&["SET", "while-away", "written"]).unwrap(), ok());
    cluster.nodes[joined].remove_arg("--join");
    cluster.restart(joined);
    let mut on_new = cluster.nodes[joined].client();
    wait_until(Duration::from_secs(30), "the restarted member serves", || {
        on_new.try_call(&["GET", "while-away"]).ok() == Some(Value::bulk("written"))
    });
    assert_eq!(voters(&cluster.nodes[joined]), expected);

    // Started on its data under another id, it refuses: it would vote as that node.
    cluster.nodes[joined].kill();
    cluster.nodes[joined].remove_arg("--node-id");
    cluster.nodes[joined].add_args(&["--node-id", "9"]);
    let (code, stderr) = cluster.nodes[joined].start_expecting_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{stderr}");
    let owner = format!("node {}'s", cluster.nodes[joined].id);
    assert!(stderr.contains(&owner) && stderr.contains("--node-id"), "{stderr}");
}

#[test]
fn t64_a_single_node_knows_only_itself() {
    let node = Node::start(&[]);
    let mut client = node.client();
    assert_eq!(
        client.try_call(&["CLUSTER", "INFO"]).unwrap(),
        Value::Error("ERR This instance has cluster support disabled".into())
    );
    assert_eq!(client.try_call(&["CLUSTER", "FORGET", "2"]).unwrap(), Value::Error("ERR Unknown node 2".into()));
    assert_eq!(
        client.try_call(&["CLUSTER", "FORGET", "1"]).unwrap(),
        Value::Error("ERR I tried hard but I can't forget myself...".into())
    );
}

/// A node started alone, with data and clients, takes two joining nodes without a restart
/// (the second with its own `--peer-port`): it opens to peers at the first CLUSTER JOIN.
/// They get its data; once it is gone the two, a majority of three, elect a leader between
/// them and take writes; and the first node, started again with its first command line (no
/// cluster flag), takes its place from its data and catches up.
#[test]
fn t67_a_node_started_alone_grows_into_a_cluster() {
    let _serial = serial();
    let alone = Node::start(&[]);
    let mut first = alone.client();
    mset(&mut first, 0, 500);
    let mut cluster = Cluster { nodes: vec![alone] };
    // Given no --cluster-enabled, the joining nodes present a standalone Redis as it does.
    let second = cluster.join(0, &[]);
    wait_until(Duration::from_secs(30), "node 2 votes", || voters(&cluster.nodes[0]) == vec![1, 2]);
    // Its clients never noticed: the connection from before goes on, now with a replica.
    assert_eq!(first.try_call(&["SET", "k0", "again"]).unwrap(), ok());
    // The third listens for its peers on a port of its own choosing (the first dials it).
    let peer_port = free_port().to_string();
    let third = cluster.join(0, &["--peer-port", &peer_port]);
    wait_until(Duration::from_secs(30), "every node holds three voters", || {
        cluster.nodes.iter().all(|node| voters(node) == vec![1, 2, 3])
    });
    wait_until(Duration::from_secs(10), "the joined nodes present a standalone Redis", || {
        [second, third].iter().all(|&i| presents_cluster(&cluster.nodes[i]) == Some(false))
    });
    let mut on_third = cluster.nodes[third].client();
    assert_eq!(on_third.try_call(&["DBSIZE"]).unwrap(), Value::Int(500));
    assert_eq!(on_third.try_call(&["GET", "k499"]).unwrap(), Value::bulk("v499"));
    assert_eq!(on_third.try_call(&["GET", "k0"]).unwrap(), Value::bulk("again"));

    // Without the first node, the two that joined are a majority.
    cluster.nodes[0].kill();
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    assert!(leader == second || leader == third, "node {leader} leads");
    let mut writer = cluster.nodes[second].client();
    assert_eq!(writer.try_call(&["SET", "after", "grown"]).unwrap(), ok());
    assert_eq!(on_third.try_call(&["GET", "after"]).unwrap(), Value::bulk("grown"));
    assert_eq!(on_third.try_call(&["DBSIZE"]).unwrap(), Value::Int(501));

    // The first node, started as it first was, rejoins from what its data records.
    cluster.restart(0);
    let mut first = cluster.nodes[0].client();
    wait_until(Duration::from_secs(30), "the first node serves the write it missed", || {
        first.try_call(&["GET", "after"]).ok() == Some(Value::bulk("grown"))
    });
    assert_eq!(first.try_call(&["DBSIZE"]).unwrap(), Value::Int(501));
    assert_eq!(voters(&cluster.nodes[0]), vec![1, 2, 3]);
}

/// Membership changes while clients write: a node joins and then the leader is forgotten and
/// stopped, with pipelined SETs flowing through the other two first members all along. Every
/// acknowledged write survives, on the leader that follows and on the node that joined.
#[test]
fn t65_membership_changes_under_writes_lose_no_acknowledged_write() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let ports = vec![cluster.nodes[a].port, cluster.nodes[b].port];
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&ports, 3, &stop);
    std::thread::sleep(Duration::from_millis(700));

    let joined = cluster.join(a, &["--cluster-enabled", "no"]);
    wait_until(Duration::from_secs(30), "the new node votes", || voters(&cluster.nodes[a]).contains(&4));
    std::thread::sleep(Duration::from_millis(700));

    let leader_id = cluster.nodes[leader].id;
    let mut asker = cluster.nodes[b].client();
    assert_eq!(asker.try_call(&["CLUSTER", "FORGET", &leader_id.to_string()]).unwrap(), ok());
    wait_until(Duration::from_secs(20), "the others drop the old leader", || {
        [a, b, joined].iter().all(|&i| !voters(&cluster.nodes[i]).contains(&leader_id))
    });
    cluster.nodes[leader].kill();
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<_> = writers.into_iter().map(|w| w.join().expect("writer")).collect();

    check_outcomes(&cluster, &outcomes);
    // The new node holds them too (a read there is served from what it applied).
    let mut on_new = cluster.nodes[joined].client();
    for outcomes in &outcomes {
        for (key, value) in &outcomes.acked {
            assert_eq!(on_new.try_call(&["GET", key]).unwrap(), Value::bulk(value), "{key} on the new node");
        }
    }
}

/// A member down while two nodes joined, started again once one of those leads, catches up.
/// Of each pair of nodes the lower id dials, so the leader (a higher id that the member's log
/// does not name) never reaches it by itself; the other members name their members to it
/// (`kind::MEMBERS`), it dials the leader, and the leader's log brings it the membership.
#[test]
fn t69_a_member_behind_the_membership_finds_a_leader_it_never_heard_of() {
    let _serial = serial();
    let mut cluster = Cluster::start(3);
    cluster.wait_for_leader(Duration::from_secs(20));
    cluster.nodes[0].kill();
    let fourth = cluster.join(1, &["--cluster-enabled", "no"]);
    wait_until(Duration::from_secs(30), "node 4 votes", || voters(&cluster.nodes[1]) == vec![1, 2, 3, 4]);
    let fifth = cluster.join(1, &["--cluster-enabled", "no"]);
    wait_until(Duration::from_secs(30), "node 5 votes", || voters(&cluster.nodes[1]) == vec![1, 2, 3, 4, 5]);
    // Until a joined node leads: kill each other leader (three of five remain) and start it again.
    let mut leader = cluster.wait_for_leader(Duration::from_secs(20));
    for _ in 0..20 {
        if leader == fourth || leader == fifth {
            break;
        }
        cluster.nodes[leader].kill();
        let next = cluster.wait_for_leader(Duration::from_secs(20));
        cluster.restart(leader);
        leader = next;
    }
    assert!(leader == fourth || leader == fifth, "no joined node came to lead");
    let mut writer = cluster.nodes[leader].client();
    assert_eq!(writer.try_call(&["SET", "led-by", "a-new-node"]).unwrap(), ok());

    // Node 1's log names nodes 1-3 only.
    cluster.restart(0);
    wait_until(Duration::from_secs(30), "node 1 holds the membership of five", || {
        voters(&cluster.nodes[0]) == vec![1, 2, 3, 4, 5]
    });
    let mut on_first = cluster.nodes[0].client();
    wait_until(Duration::from_secs(10), "node 1 serves the new leader's write", || {
        on_first.try_call(&["GET", "led-by"]).ok() == Some(Value::bulk("a-new-node"))
    });
}

/// A member of a cluster that presents the Redis Cluster protocol, started again on its data
/// without any cluster flag, presents it too once it has asked another member (its flags
/// alone would make it a standalone Redis), and serves as a member.
#[test]
fn t70_a_member_restarted_without_flags_presents_as_the_others_do() {
    let _serial = serial();
    let mut cluster = Cluster::start_presenting_cluster(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let restarted = (leader + 1) % 3;
    cluster.nodes[restarted].kill();
    cluster.nodes[restarted].remove_arg("--initial-cluster");
    cluster.restart(restarted);
    wait_until(Duration::from_secs(20), "the restarted member presents the cluster protocol", || {
        presents_cluster(&cluster.nodes[restarted]) == Some(true)
    });
    let mut client = cluster.nodes[restarted].client();
    wait_until(Duration::from_secs(20), "its cluster state is ok", || {
        client.try_call(&["CLUSTER", "INFO"]).is_ok_and(|info| info.text().contains("cluster_state:ok"))
    });
    assert_eq!(voters(&cluster.nodes[restarted]), vec![1, 2, 3]);
}
