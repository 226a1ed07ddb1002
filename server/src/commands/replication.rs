//! Replication as clients see it: INFO replication, ROLE and WAIT, read from the shard's Raft
//! metrics. Offsets are Raft log indexes (one per entry, not bytes as in Redis).
//!
//! Every node presents `role:master`: every node takes writes (a follower forwards them to the
//! leader) and serves linearizable reads, which is what a client library means by "master"
//! (StackExchange.Redis refuses to send writes to a node it believes is a replica). The Raft
//! picture is given beside it: the leader lists its followers as `slaveN` lines, and every
//! node reports its Raft role and the leader's client address in `flotilla_*` fields.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::parse_i64;
use flotilla_storage::{CommandSpec, Flags, Handler};
use openraft::async_runtime::WatchReceiver;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::ServerFn;
use crate::blocking::Wait;
use crate::errors;
use crate::node::{Node, DATA_GROUP};
use crate::raft::network::{self, kind};
use crate::raft::NodeId;
use crate::session::Session;

/// A follower that has not answered the leader for this long is not listed as connected
/// (twice the longest election timeout: heartbeats go out every 100 ms).
pub const REPLICA_TIMEOUT_MS: u64 = 2 * crate::raft::ELECTION_TIMEOUT_MS_MAX;
/// How often a waiting leader re-checks that it still leads.
const LEADER_RECHECK_MS: u64 = 100;
/// Longest a forwarded WAIT holds the leader before the follower asks again.
const FORWARDED_WAIT_MS_MAX: u64 = 1000;
/// Pause while no leader is known.
const NO_LEADER_RETRY_MS: u64 = 20;
/// Time allowed for a forwarded WAIT's answer beyond the time it may wait.
const FORWARD_SLACK_MS: u64 = 2000;

/// WAIT asked on a follower: how many followers hold the entry at `index`; the leader waits
/// up to `wait_ms` for `wanted` of them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WaitRequest {
    pub index: u64,
    pub wanted: i64,
    pub wait_ms: u64,
}

/// A follower as its leader sees it.
struct Follower {
    id: NodeId,
    host: String,
    port: u16,
    /// Last log index the follower is known to hold.
    matched: Option<u64>,
    /// Time since the follower last acknowledged the leader.
    last_ack: Option<Duration>,
}

impl Follower {
    fn connected(&self) -> bool {
        self.last_ack
            .is_some_and(|since| since < Duration::from_millis(REPLICA_TIMEOUT_MS))
    }
}

/// This node's view of its shard's replication.
struct Status {
    raft_role: &'static str,
    leader: Option<NodeId>,
    /// The leader's client address.
    leader_address: Option<(String, u16)>,
    last_log: u64,
    applied: u64,
    /// The other members, when this node leads.
    followers: Option<Vec<Follower>>,
}

type Metrics = openraft::RaftMetrics<crate::raft::TypeConfig>;

/// A member's client address (the membership records `HOST:PORT@PEERPORT`, see
/// `config::Member::address`).
fn client_address(metrics: &Metrics, id: NodeId) -> Option<(String, u16)> {
    let (_, node) = metrics
        .membership_config
        .membership()
        .nodes()
        .find(|(member, _)| **member == id)?;
    let member = crate::config::Member::parse(id, &node.addr)?;
    Some((member.host, member.port))
}

fn other_members(metrics: &Metrics, me: NodeId) -> Vec<NodeId> {
    metrics
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| *id != me)
        .collect()
}

fn status(node: &Node) -> Status {
    let metrics = node.group.raft.metrics().borrow_watched().clone();
    let raft_role = crate::raft::role_name(&metrics);
    let followers = metrics.replication.as_ref().map(|replication| {
        let heartbeat = metrics.heartbeat.as_ref();
        other_members(&metrics, node.me)
            .into_iter()
            .map(|id| {
                let (host, port) = client_address(&metrics, id).unwrap_or_default();
                Follower {
                    id,
                    host,
                    port,
                    matched: replication
                        .get(&id)
                        .cloned()
                        .flatten()
                        .map(|log_id| log_id.index()),
                    last_ack: heartbeat
                        .and_then(|acks| acks.get(&id).cloned().flatten())
                        .map(|stamp| openraft::Instant::elapsed(&*stamp)),
                }
            })
            .collect()
    });
    Status {
        raft_role,
        leader: metrics.current_leader,
        leader_address: metrics.current_leader.and_then(|id| client_address(&metrics, id)),
        last_log: metrics.last_log_index.unwrap_or(0),
        applied: metrics.last_applied.as_ref().map_or(0, |id| id.index()),
        followers,
    }
}

/// When this node leads: each other member's id, the last index it is known to hold, and
/// whether it answered lately (CLUSTER NODES and SHARDS report these).
pub fn follower_links(node: &Node) -> Option<Vec<(NodeId, u64, bool)>> {
    let followers = status(node).followers?;
    Some(followers.iter().map(|f| (f.id, f.matched.unwrap_or(0), f.connected())).collect())
}

/// The `# Replication` INFO section.
pub fn info_replication(node: &Node, out: &mut String) {
    let status = status(node);
    let connected: Vec<&Follower> = status
        .followers
        .iter()
        .flatten()
        .filter(|f| f.connected())
        .collect();
    let _ = write!(
        out,
        "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n",
        connected.len()
    );
    for (i, follower) in connected.iter().enumerate() {
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state=online,offset={},lag={}\r\n",
            follower.host,
            follower.port,
            follower.matched.unwrap_or(0),
            follower.last_ack.map_or(0, |since| since.as_secs()),
        );
    }
    let link_up = status.leader.is_some() && matches!(status.raft_role, "leader" | "follower" | "learner");
    let (leader_host, leader_port) = status
        .leader_address
        .map_or((String::new(), String::new()), |(host, port)| {
            (host, port.to_string())
        });
    let _ = write!(
        out,
        "master_failover_state:no-failover\r\nmaster_replid:{}\r\n\
         master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{}\r\n\
         second_repl_offset:-1\r\nrepl_backlog_active:0\r\nflotilla_raft_role:{}\r\n\
         flotilla_leader_id:{}\r\nflotilla_leader_host:{leader_host}\r\nflotilla_leader_port:{leader_port}\r\n\
         flotilla_leader_link_status:{}\r\nflotilla_applied_offset:{}\r\n",
        node.run_id,
        status.last_log,
        status.raft_role,
        status.leader.map_or(-1, |id| id as i64),
        if link_up { "up" } else { "down" },
        status.applied,
    );
}

/// ROLE, in the shape Redis gives a master: `master`, the offset, and the connected
/// followers as [host, port, offset] (the leader's; other nodes list none).
fn role(session: &mut Session, _args: &[Bytes]) -> Reply {
    let status = status(&session.node);
    let followers = status
        .followers
        .iter()
        .flatten()
        .filter(|f| f.connected())
        .map(|f| {
            Reply::Array(vec![
                Reply::Bulk(Bytes::from(f.host.clone())),
                Reply::bulk_int(f.port as i64),
                Reply::bulk_int(f.matched.unwrap_or(0) as i64),
            ])
        })
        .collect();
    Reply::Array(vec![
        Reply::Bulk(Bytes::from_static(b"master")),
        Reply::Int(status.last_log as i64),
        Reply::Array(followers),
    ])
}

// ---------------------------------------------------------------- WAIT

/// How many other members hold the log up to `index`, if this node leads; with the number
/// of other members.
fn holding(node: &Node, index: u64) -> Option<(usize, usize)> {
    let metrics = node.group.raft.metrics().borrow_watched().clone();
    let replication = metrics.replication.as_ref()?;
    let others = other_members(&metrics, node.me);
    let held = others
        .iter()
        .filter(|id| {
            replication
                .get(id)
                .cloned()
                .flatten()
                .is_some_and(|log_id| log_id.index() >= index)
        })
        .count();
    // An entry applied here is committed, so a majority of the voters holds it (under
    // `--fsync always`, on disk: a follower acknowledges an append after its fsync). The
    // replication progress in the metrics is published at the end of the Raft core's turn,
    // possibly after the write's reply went out, so a WAIT right after a write could count
    // fewer followers than certainly hold it.
    let voters = metrics.membership_config.membership().voter_ids().count();
    let committed = node.with_machine(|machine| machine.applied_index()) > index;
    let held = if committed { held.max(voters / 2) } else { held };
    Some((held, others.len()))
}

/// On the leader: waits until `wanted` followers hold `index` or `deadline` passes; None
/// when this node does not (or no longer) lead.
async fn wait_as_leader(node: &Node, index: u64, wanted: i64, deadline: Option<Instant>) -> Option<usize> {
    let mut metrics = node.group.raft.metrics();
    loop {
        let (held, others) = holding(node, index)?;
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        // With no other member, nothing can ever change the answer.
        if held as i64 >= wanted || expired || others == 0 {
            return Some(held);
        }
        let recheck = Instant::now() + Duration::from_millis(LEADER_RECHECK_MS);
        let wake = deadline.map_or(recheck, |d| d.min(recheck));
        tokio::select! {
            _ = metrics.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

impl Node {
    /// Answers a WAIT forwarded by a follower (None: this node does not lead).
    pub async fn serve_forwarded_wait(&self, request: WaitRequest) -> Option<usize> {
        let deadline = Instant::now() + Duration::from_millis(request.wait_ms.min(FORWARDED_WAIT_MS_MAX));
        wait_as_leader(self, request.index, request.wanted, Some(deadline)).await
    }
}

/// How many followers hold the log up to `index`, waiting until `wanted` do or until
/// `deadline` (None: for ever). Asked on a follower, the leader answers.
async fn wait_for_replicas(node: &Node, index: u64, wanted: i64, deadline: Option<Instant>) -> usize {
    let mut last_known = 0;
    loop {
        let now = Instant::now();
        let remaining_ms = deadline.map_or(u64::MAX, |d| d.saturating_duration_since(now).as_millis() as u64);
        let metrics = node.group.raft.metrics().borrow_watched().clone();
        // A node alone has no follower to wait for.
        if other_members(&metrics, node.me).is_empty() {
            return 0;
        }
        match metrics.current_leader {
            Some(leader) if leader == node.me => {
                if let Some(held) = wait_as_leader(node, index, wanted, deadline).await {
                    return held;
                }
            }
            Some(leader) => {
                let wait_ms = remaining_ms.min(FORWARDED_WAIT_MS_MAX);
                let request = WaitRequest {
                    index,
                    wanted,
                    wait_ms,
                };
                let answer = node
                    .transport
                    .call(
                        leader,
                        kind::FORWARD_WAIT,
                        DATA_GROUP,
                        network::encode(&request),
                        Duration::from_millis(wait_ms + FORWARD_SLACK_MS),
                    )
                    .await;
                match answer
                    .ok()
                    .and_then(|bytes| network::decode::<Option<usize>>(&bytes).ok())
                {
                    Some(Some(held)) => {
                        last_known = held;
                        if held as i64 >= wanted {
                            return held;
                        }
                    }
                    _ => tokio::time::sleep(Duration::from_millis(NO_LEADER_RETRY_MS)).await,
                }
            }
            None => tokio::time::sleep(Duration::from_millis(NO_LEADER_RETRY_MS)).await,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return last_known;
        }
    }
}

/// WAIT's arguments: replicas wanted, and the deadline (None: timeout 0, wait for ever).
fn parse_wait(args: &[Bytes]) -> Result<(i64, Option<Instant>), Reply> {
    let wanted = parse_i64(&args[1]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    let timeout_ms =
        parse_i64(&args[2]).ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
    if timeout_ms < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
    Ok((wanted, deadline))
}

/// WAIT numreplicas timeout: how many followers hold the connection's last write. The
/// connection blocks (as in Redis) until enough do or the timeout passes.
pub fn wait(session: &mut Session, args: &[Bytes]) -> Result<Reply, Wait> {
    let (wanted, deadline) = match parse_wait(args) {
        Ok(parsed) => parsed,
        Err(reply) => return Ok(reply),
    };
    let node: Arc<Node> = session.node.clone();
    let index = session.last_write_index;
    let at_timeout = node.clone();
    Err(crate::blocking::unblockable(
        session,
        async move { Reply::Int(wait_for_replicas(&node, index, wanted, deadline).await as i64) },
        // CLIENT UNBLOCK: the followers holding it so far, as at the timeout.
        async move {
            Reply::Int(wait_for_replicas(&at_timeout, index, wanted, Some(Instant::now())).await as i64)
        },
    ))
}

/// WAIT inside MULTI answers at once, as in Redis.
pub async fn wait_at_once(session: &mut Session, args: &[Bytes]) -> Reply {
    match parse_wait(args) {
        Ok((wanted, _)) => {
            let held = wait_for_replicas(
                &session.node,
                session.last_write_index,
                wanted,
                Some(Instant::now()),
            )
            .await;
            Reply::Int(held as i64)
        }
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------- WAITAOF

pub const WAITAOF_NEEDS_FSYNC_ALWAYS: &str =
    "ERR WAITAOF cannot be used when numlocal or numreplicas is set unless --fsync is always";

/// Waits until this node's log is on disk up to `index` (only `--fsync always` syncs each
/// append before openraft counts it flushed) or `deadline`; true when it is.
async fn local_log_durable(node: &Node, index: u64, deadline: Option<Instant>) -> bool {
    let mut progress = node.group.raft.watch_log_progress();
    let flushed = progress.wait_until(|point| {
        point
            .as_ref()
            .and_then(|point| point.last_log_id.as_ref())
            .is_some_and(|log_id| log_id.index() >= index)
    });
    match deadline {
        None => flushed.await.is_ok(),
        Some(deadline) => matches!(tokio::time::timeout_at(deadline, flushed).await, Ok(Ok(_))),
    }
}

/// WAITAOF numlocal numreplicas timeout: [1 if this node's log holds the connection's last
/// write on disk, followers holding it on disk]. Followers acknowledge an entry only once it
/// is on their disk when they run with `--fsync always` (members share their `--fsync`).
async fn waitaof_count(node: &Node, index: u64, args: &[Bytes], at_once: bool) -> Reply {
    let Some(numlocal) = parse_i64(&args[1]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let Some(numreplicas) = parse_i64(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let (_, deadline) = match parse_wait(&args[1..]) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    if node.args.fsync != crate::config::Fsync::Always {
        if numlocal > 0 || numreplicas > 0 {
            return Reply::error(WAITAOF_NEEDS_FSYNC_ALWAYS);
        }
        return Reply::Array(vec![Reply::Int(0), Reply::Int(0)]);
    }
    let deadline = if at_once { Some(Instant::now()) } else { deadline };
    let local_deadline = if numlocal > 0 {
        deadline
    } else {
        Some(Instant::now())
    };
    let (local, replicas) = tokio::join!(
        local_log_durable(node, index, local_deadline),
        wait_for_replicas(node, index, numreplicas, deadline),
    );
    Reply::Array(vec![Reply::Int(local as i64), Reply::Int(replicas as i64)])
}

/// WAITAOF blocks the connection as WAIT does.
pub fn waitaof(session: &mut Session, args: &[Bytes]) -> Result<Reply, Wait> {
    let node: Arc<Node> = session.node.clone();
    let index = session.last_write_index;
    let args = args.to_vec();
    let (at_timeout, timeout_args) = (node.clone(), args.clone());
    Err(crate::blocking::unblockable(
        session,
        async move { waitaof_count(&node, index, &args, false).await },
        // CLIENT UNBLOCK: what is on disk so far, as at the timeout.
        async move { waitaof_count(&at_timeout, index, &timeout_args, true).await },
    ))
}

/// WAITAOF inside MULTI answers at once.
pub async fn waitaof_at_once(session: &mut Session, args: &[Bytes]) -> Reply {
    waitaof_count(&session.node, session.last_write_index, args, true).await
}

/// REPLICAOF / SLAVEOF: `NO ONE` succeeds, since every node already presents itself as a
/// master; following another server is refused, as Flotilla nodes replicate through Raft
/// (a node joins a cluster with `--join`), not through Redis's replication stream.
fn replicaof(_session: &mut Session, args: &[Bytes]) -> Reply {
    replicaof_reply(args)
}

fn replicaof_reply(args: &[Bytes]) -> Reply {
    use flotilla_storage::args::is;
    if is(&args[1], "NO") && is(&args[2], "ONE") {
        return Reply::ok();
    }
    if parse_i64(&args[2]).is_none_or(|port| !(0..=65535).contains(&port)) {
        return Reply::error("ERR Invalid master port");
    }
    Reply::error_owned(format!(
        "ERR {} is not supported: Flotilla nodes replicate through Raft (start a node with --join to add it to a cluster)",
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    ))
}

const REPLICAOF_FLAGS: Flags = Flags::ADMIN.union(Flags::NOSCRIPT).union(Flags::STALE);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: REPLICAOF_FLAGS,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "5.0.0",
        summary: "Configures a server as replica of another, or promotes it to a master.",
        syntax: "<host port | NO ONE>",
        ..CommandSpec::base("replicaof", 3, Handler::Server)
    },
    CommandSpec {
        flags: REPLICAOF_FLAGS,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "1.0.0",
        summary: "Sets a Redis server as a replica of another, or promotes it to being a master.",
        syntax: "<host port | NO ONE>",
        ..CommandSpec::base("slaveof", 3, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE).union(Flags::FAST),
        acl: &["admin", "fast", "dangerous"],
        group: "server",
        since: "2.8.12",
        summary: "Returns the replication role.",
        ..CommandSpec::base("role", 1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT,
        acl: &["slow", "connection"],
        group: "generic",
        since: "3.0.0",
        summary: "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        syntax: "numreplicas timeout",
        ..CommandSpec::base("wait", 3, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT,
        acl: &["slow", "connection"],
        group: "generic",
        since: "7.2.0",
        summary: "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the primary and/or replicas.",
        syntax: "numlocal numreplicas timeout",
        ..CommandSpec::base("waitaof", 4, Handler::Server)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[("role", role), ("replicaof", replicaof), ("slaveof", replicaof)];

#[cfg(test)]
mod tests {
    use super::*;

    fn call(words: &[&str]) -> Reply {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        replicaof_reply(&args)
    }

    #[test]
    fn replicaof_no_one_succeeds_and_following_a_server_is_refused() {
        assert_eq!(call(&["replicaof", "no", "one"]), Reply::ok());
        assert_eq!(call(&["SLAVEOF", "NO", "ONE"]), Reply::ok());
        assert_eq!(call(&["replicaof", "host", "port"]), Reply::error("ERR Invalid master port"));
        let Reply::Error(text) = call(&["replicaof", "127.0.0.1", "6379"]) else { panic!("an error") };
        assert!(text.starts_with("ERR REPLICAOF is not supported"), "{text}");
    }
}
