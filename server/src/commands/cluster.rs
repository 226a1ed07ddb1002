//! The Redis Cluster protocol as a cluster-aware client sees it (`--cluster-enabled yes`, the
//! default with more than one member): CLUSTER INFO / MYID / MYSHARDID / KEYSLOT / SLOTS /
//! SHARDS / NODES / LINKS / COUNTKEYSINSLOT / GETKEYSINSLOT / HELP, the membership changes
//! JOIN and FORGET (`membership.rs`), and the routing such a client relies on (`redirect`):
//! `-MOVED slot host:port` for a key whose shard this node does not lead, `-CROSSSLOT` for a
//! command whose keys hash to different slots.
//!
//! Today the keyspace is one data shard holding all 16384 slots, replicated on every member;
//! its Raft leader is the shard's master. CLUSTER SLOTS lists the leader first and the other
//! members after it, as a master's replicas; CLUSTER NODES marks every node `master` and
//! gives the leader the slots (a node may lead one shard and follow another once there are
//! several, which one line per node cannot say otherwise). Node ids are the SHA-1 of the
//! member's `--node-id`, so every node names every member the same.
//!
//! Without the cluster protocol every CLUSTER subcommand answers as a standalone Redis does,
//! and a node forwards what it does not lead.

use bytes::Bytes;
use openraft::async_runtime::WatchReceiver;
use flotilla_protocol::Reply;
use flotilla_storage::{CommandSpec, Flags, Handler};
use std::fmt::Write;
use std::time::Duration;

use super::ServerFn;
use crate::errors;
use crate::node::Node;
use crate::raft::NodeId;
use crate::session::Session;

/// Hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;
const LAST_SLOT: i64 = SLOTS as i64 - 1;

pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// The slot of `key`: CRC16 (XMODEM) of its hash tag (the part between the first `{` and the
/// next `}`, when not empty) or else of the whole key, modulo 16384, as Redis Cluster hashes.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) % SLOTS
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The one slot all keys of the command hash to: None without keys, `Err(CROSSSLOT)` when they
/// hash to more than one.
pub fn command_slot(spec: &CommandSpec, args: &[Bytes]) -> Result<Option<u16>, Reply> {
    let mut slot = None;
    let mut crossed = false;
    spec.for_each_key(args, |at| {
        let this = key_slot(&args[at]);
        match slot {
            None => slot = Some(this),
            Some(first) => crossed |= first != this,
        }
    });
    if crossed {
        return Err(Reply::error(CROSSSLOT));
    }
    Ok(slot)
}

/// Whether a command's keys hash to more than one slot (the pipelined batch path leaves such
/// a command to `redirect`). A command with one key hashes nothing.
pub fn crosses_slots(spec: &CommandSpec, args: &[Bytes]) -> bool {
    let mut first: Option<(&[u8], Option<u16>)> = None;
    let mut crossed = false;
    spec.for_each_key(args, |at| match &mut first {
        None => first = Some((&args[at], None)),
        Some((key, slot)) => {
            let first_slot = *slot.get_or_insert_with(|| key_slot(key));
            crossed |= key_slot(&args[at]) != first_slot;
        }
    });
    crossed
}

/// What a client must hear instead of running the command here, under the cluster protocol:
/// `-CROSSSLOT`, or `-MOVED` when another node leads the key's shard. A READONLY connection's
/// reads are served here (from this node's applied state, as a Redis replica serves them). With
/// no leader known the command goes on as without the protocol (it waits for one, then
/// `-TRYAGAIN`): a MOVED must name where to go.
pub fn redirect(session: &Session, spec: &CommandSpec, args: &[Bytes]) -> Option<Reply> {
    let node = &session.node;
    if !node.cluster_enabled() || spec.flags.contains(Flags::PUBSUB) {
        return None;
    }
    if let Some(refusal) = single_database_only(spec, args) {
        return Some(refusal);
    }
    let slot = match command_slot(spec, args) {
        Ok(Some(slot)) => slot,
        Ok(None) => return None,
        Err(crossslot) => return Some(crossslot),
    };
    let read = !spec.is_write() && spec.flags.contains(Flags::READONLY);
    moved(session, slot, read)
}

/// A Redis Cluster has database 0 only: SELECT of another, MOVE, SWAPDB and COPY … DB are
/// refused with Redis Cluster's errors.
fn single_database_only(spec: &CommandSpec, args: &[Bytes]) -> Option<Reply> {
    match spec.name {
        "select" if args[1].as_ref() != b"0" => Some(Reply::error("ERR SELECT is not allowed in cluster mode")),
        "move" => Some(Reply::error("ERR MOVE is not allowed in cluster mode")),
        "swapdb" => Some(Reply::error("ERR SWAPDB is not allowed in cluster mode")),
        "copy" if args[3..].iter().any(|arg| arg.eq_ignore_ascii_case(b"db")) => {
            Some(Reply::error("ERR Copying to another database is not allowed in cluster mode"))
        }
        _ => None,
    }
}

/// The check of `redirect` for EXEC: the queued commands' keys must all hash to one slot, and
/// this node must lead its shard.
pub fn redirect_transaction(session: &Session, queued: &[(u32, Vec<Bytes>)]) -> Option<Reply> {
    if !session.node.cluster_enabled() {
        return None;
    }
    let mut slot = None;
    let mut read = true;
    for (_, args) in queued {
        let Some(spec) = super::lookup(&args[0]) else { continue };
        if spec.flags.contains(Flags::PUBSUB) {
            continue;
        }
        read &= !spec.is_write() && spec.flags.contains(Flags::READONLY);
        match command_slot(spec, args) {
            Err(crossslot) => return Some(crossslot),
            Ok(None) => {}
            Ok(Some(this)) if slot.is_some_and(|first| first != this) => return Some(Reply::error(CROSSSLOT)),
            Ok(Some(this)) => slot = Some(this),
        }
    }
    moved(session, slot?, read)
}

fn moved(session: &Session, slot: u16, read: bool) -> Option<Reply> {
    let node = &session.node;
    let leader = node.group.leader()?;
    if leader == node.me || (read && session.readonly) {
        return None;
    }
    let port = node.members.read().iter().find(|m| m.id == leader)?.port;
    let host = node.client_host(leader)?;
    Some(Reply::error_owned(format!("MOVED {slot} {host}:{port}")))
}

/// The 40-hex-digit name of member `id` in CLUSTER replies.
pub fn node_name(id: NodeId) -> String {
    flotilla_storage::sha1::sha1_hex(format!("flotilla-node-{id}").as_bytes())
}

fn shard_name() -> String {
    flotilla_storage::sha1::sha1_hex(b"flotilla-shard-1")
}

/// A member as CLUSTER SLOTS / SHARDS / NODES describe it.
struct Member {
    id: NodeId,
    host: String,
    port: u16,
    peer_port: u16,
    offset: u64,
    healthy: bool,
}

/// The shard's members as clients should see them: the leader first (None when no leader is
/// known), then the others in id order; with each, the last index it holds and whether it is
/// reachable, as far as this node knows.
fn shard_members(node: &Node) -> (Option<NodeId>, Vec<Member>) {
    let metrics = node.group.raft.metrics().borrow_watched().clone();
    let leader = metrics.current_leader;
    let links = super::replication::follower_links(node);
    let applied = metrics.last_applied.as_ref().map_or(0, |id| id.index());
    let mut members: Vec<Member> = node
        .members()
        .iter()
        .map(|m| {
            let link = links.as_ref().and_then(|links| links.iter().find(|(id, _, _)| *id == m.id));
            let (offset, healthy) = match link {
                Some(&(_, matched, connected)) => (matched, connected),
                None if m.id == node.me => (applied, true),
                None => (0, true),
            };
            let host = node.client_host(m.id).unwrap_or_else(|| m.host.clone());
            Member { id: m.id, host, port: m.port, peer_port: m.peer_port, offset, healthy }
        })
        .collect();
    members.sort_by_key(|m| (Some(m.id) != leader, m.id));
    (leader, members)
}

fn enabled(session: &Session) -> Result<&Node, Reply> {
    if session.node.cluster_enabled() {
        Ok(&session.node)
    } else {
        Err(Reply::error(errors::CLUSTER_DISABLED))
    }
}

fn cluster_info(session: &mut Session, _args: &[Bytes]) -> Reply {
    let node = match enabled(session) {
        Ok(node) => node,
        Err(reply) => return reply,
    };
    let metrics = node.group.raft.metrics().borrow_watched().clone();
    // A leader that hears no quorum (cut off from the majority) serves nothing: the cluster is
    // down as this node sees it, as on the minority side of a partitioned Redis Cluster.
    let lease = Duration::from_millis(node.group.raft.config().election_timeout_max);
    let leader = metrics
        .current_leader
        .filter(|&leader| leader != node.me || crate::raft::group::hears_quorum(&metrics, lease));
    let served = if leader.is_some() { SLOTS } else { 0 };
    let term = metrics.current_term;
    let mut out = String::new();
    let _ = write!(
        out,
        "cluster_state:{}\r\ncluster_slots_assigned:{SLOTS}\r\ncluster_slots_ok:{served}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{}\r\ncluster_current_epoch:{term}\r\ncluster_my_epoch:{}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        if leader.is_some() { "ok" } else { "fail" },
        SLOTS - served,
        node.members.read().len(),
        u8::from(leader.is_some()),
        if leader == Some(node.me) { term } else { 0 },
    );
    Reply::Verbatim("txt", Bytes::from(out))
}

fn cluster_myid(session: &mut Session, _args: &[Bytes]) -> Reply {
    match enabled(session) {
        Ok(node) => Reply::bulk_string(node_name(node.me)),
        Err(reply) => reply,
    }
}

fn cluster_myshardid(session: &mut Session, _args: &[Bytes]) -> Reply {
    match enabled(session) {
        Ok(_) => Reply::bulk_string(shard_name()),
        Err(reply) => reply,
    }
}

fn cluster_keyslot(session: &mut Session, args: &[Bytes]) -> Reply {
    match enabled(session) {
        Ok(_) => Reply::Int(key_slot(&args[2]) as i64),
        Err(reply) => reply,
    }
}

/// The slot argument of COUNTKEYSINSLOT / GETKEYSINSLOT, under the cluster protocol, with
/// Redis's error texts.
fn slot_argument(session: &Session, arg: &[u8]) -> Result<u16, Reply> {
    enabled(session)?;
    let slot = flotilla_storage::args::parse_i64(arg).ok_or_else(|| Reply::error("ERR Invalid slot"))?;
    if !(0..=LAST_SLOT).contains(&slot) {
        return Err(Reply::error("ERR Invalid slot"));
    }
    Ok(slot as u16)
}

/// COUNTKEYSINSLOT slot: counts the keys of database 0 in the slot. Redis keeps an index of
/// keys by slot for this; here it is a pass over the keyspace (redis-cli --cluster asks it
/// when it moves slots, which Flotilla does not need).
fn cluster_countkeysinslot(session: &mut Session, args: &[Bytes]) -> Reply {
    let slot = match slot_argument(session, &args[2]) {
        Ok(slot) => slot,
        Err(reply) => return reply,
    };
    let mut count = 0;
    for_each_local_key(&session.node, |key| count += i64::from(key_slot(key) == slot));
    Reply::Int(count)
}

/// GETKEYSINSLOT slot count: up to `count` keys of database 0 in the slot (a pass over the
/// keyspace, as COUNTKEYSINSLOT).
fn cluster_getkeysinslot(session: &mut Session, args: &[Bytes]) -> Reply {
    let slot = match slot_argument(session, &args[2]) {
        Ok(slot) => slot,
        Err(reply) => return reply,
    };
    let count = match flotilla_storage::args::parse_i64(&args[3]) {
        Some(count) if count >= 0 => count as usize,
        _ => return Reply::error("ERR Invalid number of keys"),
    };
    let mut keys = Vec::new();
    for_each_local_key(&session.node, |key| {
        if keys.len() < count && key_slot(key) == slot {
            keys.push(Reply::bulk_copy(key));
        }
    });
    Reply::Array(keys)
}

/// Calls `f` with every key of database 0 in this node's applied state.
fn for_each_local_key(node: &Node, mut f: impl FnMut(&[u8])) {
    let keys = vec![Bytes::from_static(b"keys"), Bytes::from_static(b"*")];
    for reply in node.read_local(0, &[keys], false) {
        if let Reply::Array(keys) = reply {
            for key in keys {
                if let Reply::Bulk(key) = key {
                    f(&key);
                }
            }
        }
    }
}

fn cluster_slots(session: &mut Session, _args: &[Bytes]) -> Reply {
    let node = match enabled(session) {
        Ok(node) => node,
        Err(reply) => return reply,
    };
    let (leader, members) = shard_members(node);
    if leader.is_none() {
        return Reply::Array(Vec::new());
    }
    let mut range = vec![Reply::Int(0), Reply::Int(LAST_SLOT)];
    range.extend(members.iter().map(|m| {
        Reply::Array(vec![
            Reply::bulk_string(m.host.clone()),
            Reply::Int(m.port as i64),
            Reply::bulk_string(node_name(m.id)),
            Reply::Map(Vec::new()),
        ])
    }));
    Reply::Array(vec![Reply::Array(range)])
}

fn cluster_shards(session: &mut Session, _args: &[Bytes]) -> Reply {
    let node = match enabled(session) {
        Ok(node) => node,
        Err(reply) => return reply,
    };
    let (leader, members) = shard_members(node);
    let key = |text: &'static str| Reply::bulk(Bytes::from_static(text.as_bytes()));
    let nodes = members
        .iter()
        .map(|m| {
            let role = if Some(m.id) == leader { "master" } else { "replica" };
            Reply::Map(vec![
                (key("id"), Reply::bulk_string(node_name(m.id))),
                (key("port"), Reply::Int(m.port as i64)),
                (key("ip"), Reply::bulk_string(m.host.clone())),
                (key("endpoint"), Reply::bulk_string(m.host.clone())),
                (key("role"), key(role)),
                (key("replication-offset"), Reply::Int(m.offset as i64)),
                (key("health"), key(if m.healthy { "online" } else { "failed" })),
            ])
        })
        .collect();
    let slots = if leader.is_some() { vec![Reply::Int(0), Reply::Int(LAST_SLOT)] } else { Vec::new() };
    Reply::Array(vec![Reply::Map(vec![
        (key("slots"), Reply::Array(slots)),
        (key("nodes"), Reply::Array(nodes)),
    ])])
}

fn cluster_nodes(session: &mut Session, _args: &[Bytes]) -> Reply {
    let node = match enabled(session) {
        Ok(node) => node,
        Err(reply) => return reply,
    };
    let (leader, members) = shard_members(node);
    let term = node.group.raft.metrics().borrow_watched().current_term;
    let mut out = String::new();
    for m in &members {
        let mut flags = String::new();
        if m.id == node.me {
            flags.push_str("myself,");
        }
        flags.push_str("master");
        if !m.healthy {
            flags.push_str(",fail?");
        }
        let leads = Some(m.id) == leader;
        let _ = writeln!(
            out,
            "{} {}:{}@{} {flags} - 0 0 {} {}{}",
            node_name(m.id),
            m.host,
            m.port,
            m.peer_port,
            if leads { term } else { 0 },
            if m.healthy { "connected" } else { "disconnected" },
            if leads { " 0-16383" } else { "" },
        );
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

/// CLUSTER LINKS: the node's connections to its peers. One TCP connection per peer carries
/// both directions (requests either way, `raft/transport.rs`), where Redis keeps one link to
/// and one from each peer; it is listed as both, `to` then `from`, so a client that pairs them
/// finds each peer once each way. Frames wait in a bounded queue, not a byte buffer, so the
/// send buffer figures are 0.
fn cluster_links(session: &mut Session, _args: &[Bytes]) -> Reply {
    let node = match enabled(session) {
        Ok(node) => node,
        Err(reply) => return reply,
    };
    let text = |text: &'static str| Reply::bulk(Bytes::from_static(text.as_bytes()));
    let now_ms = node.clock.now_ms();
    let mut links = Vec::new();
    for (id, age) in node.transport.links() {
        let created_ms = now_ms.saturating_sub(age.as_millis() as u64);
        for (direction, events) in [("to", "rw"), ("from", "r")] {
            links.push(Reply::Map(vec![
                (text("direction"), text(direction)),
                (text("node"), Reply::bulk_string(node_name(id))),
                (text("create-time"), Reply::Int(created_ms as i64)),
                (text("events"), text(events)),
                (text("send-buffer-allocated"), Reply::Int(0)),
                (text("send-buffer-used"), Reply::Int(0)),
            ]));
        }
    }
    Reply::Array(links)
}

fn cluster_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "FORGET <node-id>",
        "    Remove a node from the cluster (its 40-hex name or its --node-id).",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "JOIN <node-id> <host> <port> [<peer-port>]",
        "    Add a node to the cluster (what a node started with --join sends).",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "LINKS",
        "    Return information about all network links between this node and its peers.",
        "    Output format is an array where each array element is a map containing attributes of a link",
        "MYID",
        "    Return the node id.",
        "MYSHARDID",
        "    Return the node's shard id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::Simple((*line).into())).collect())
}

/// CLUSTER JOIN node-id host port [peer-port]: adds a node to the cluster (what `--join`
/// sends; see `membership.rs`). CLUSTER FORGET node: removes one, named by its 40-hex name
/// or its `--node-id`. Both are made by the leader, whichever member is asked, and answer
/// once made. They work on every node, also with the cluster protocol off: a node started
/// alone first opens to peers (`Node::open_to_peers`) when asked to take a member.
pub async fn membership(session: &mut Session, name: &str, args: &[Bytes]) -> Reply {
    let node = session.node.clone();
    let change = match name {
        "cluster|join" => match join_request(args) {
            Ok(change) => change,
            Err(reply) => return reply,
        },
        _ => {
            let Some(id) = member_named(&node, &args[2]) else {
                return Reply::error_owned(format!("ERR Unknown node {}", String::from_utf8_lossy(&args[2])));
            };
            if id == node.me {
                return Reply::error("ERR I tried hard but I can't forget myself...");
            }
            crate::membership::Change::Forget { id }
        }
    };
    if matches!(change, crate::membership::Change::Join { .. }) {
        if let Err(why) = node.open_to_peers(None).await {
            return Reply::error_owned(format!("ERR cannot take members: {why}"));
        }
    }
    match node.change_membership(change).await {
        Ok(()) => Reply::ok(),
        Err(why) => Reply::error_owned(why),
    }
}

fn join_request(args: &[Bytes]) -> Result<crate::membership::Change, Reply> {
    if args.len() > 6 {
        return Err(Reply::error(errors::SYNTAX));
    }
    let text = |at: usize| std::str::from_utf8(&args[at]).ok();
    let id = text(2).and_then(|id| id.parse::<NodeId>().ok()).filter(|&id| id > 0);
    let id = id.ok_or_else(|| Reply::error("ERR Invalid node id"))?;
    let invalid = || Reply::error("ERR Invalid node address");
    let port = |at: usize| text(at).and_then(|port| port.parse::<u16>().ok()).filter(|&port| port > 0);
    let host = text(3).filter(|host| !host.is_empty() && !host.contains([' ', '@', ',']));
    let host = host.ok_or_else(invalid)?;
    let client_port = port(4).ok_or_else(invalid)?;
    let peer_port = match args.len() {
        6 => port(5),
        _ => client_port.checked_add(10000),
    };
    let peer_port = peer_port.ok_or_else(invalid)?;
    let member = crate::config::Member { id, host: host.to_string(), port: client_port, peer_port };
    Ok(crate::membership::Change::Join { id, address: member.address() })
}

/// The member `name` designates: its 40-hex name (as CLUSTER NODES gives it) or its id. Looked
/// up in the Raft membership this node holds (the member list follows it a little later).
fn member_named(node: &Node, name: &[u8]) -> Option<NodeId> {
    let membership = node.group.raft.metrics().borrow_watched().membership_config.clone();
    let ids: Vec<NodeId> = membership.membership().nodes().map(|(id, _)| *id).collect();
    let text = std::str::from_utf8(name).ok()?;
    if let Ok(id) = text.parse::<NodeId>() {
        return ids.contains(&id).then_some(id);
    }
    ids.into_iter().find(|&id| node_name(id).eq_ignore_ascii_case(text))
}

/// ASKING: accepted (no slot is ever migrating, so it changes nothing).
fn asking(session: &mut Session, _args: &[Bytes]) -> Reply {
    match enabled(session) {
        Ok(_) => Reply::ok(),
        Err(reply) => reply,
    }
}

const CLUSTER_READ: Flags = Flags::LOADING.union(Flags::STALE);

macro_rules! subcommand {
    ($name:literal, $arity:expr, $summary:literal, $syntax:literal) => {
        CommandSpec {
            flags: CLUSTER_READ,
            acl: &["slow"],
            group: "cluster",
            since: "3.0.0",
            summary: $summary,
            syntax: $syntax,
            ..CommandSpec::base($name, $arity, Handler::Server)
        }
    };
}

/// A subcommand that changes the cluster's membership (Redis's flags for CLUSTER FORGET).
macro_rules! membership_subcommand {
    ($name:literal, $arity:expr, $summary:literal, $syntax:literal) => {
        CommandSpec {
            flags: Flags::ADMIN.union(Flags::NOSCRIPT).union(Flags::STALE).union(Flags::NO_MULTI),
            acl: &["admin", "slow", "dangerous"],
            group: "cluster",
            since: "3.0.0",
            summary: $summary,
            syntax: $syntax,
            ..CommandSpec::base($name, $arity, Handler::Server)
        }
    };
}

const SUBCOMMANDS: &[CommandSpec] = &[
    subcommand!("cluster|info", 2, "Returns information about the state of a node.", ""),
    subcommand!("cluster|myid", 2, "Returns the ID of a node.", ""),
    subcommand!("cluster|myshardid", 2, "Returns the shard ID of a node.", ""),
    subcommand!("cluster|keyslot", 3, "Returns the hash slot for a key.", "key"),
    subcommand!("cluster|countkeysinslot", 3, "Returns the number of keys in a hash slot.", "slot"),
    subcommand!("cluster|getkeysinslot", 4, "Returns the key names in a hash slot.", "slot count"),
    subcommand!("cluster|slots", 2, "Returns the mapping of cluster slots to nodes.", ""),
    subcommand!("cluster|shards", 2, "Returns the mapping of cluster slots to shards.", ""),
    subcommand!("cluster|nodes", 2, "Returns the cluster configuration for a node.", ""),
    subcommand!("cluster|links", 2, "Returns a list of all TCP links to and from peer nodes.", ""),
    subcommand!("cluster|help", 2, "Returns helpful text about the different subcommands.", ""),
    membership_subcommand!("cluster|forget", 3, "Removes a node from the cluster.", "node-id"),
    membership_subcommand!(
        "cluster|join",
        -5,
        "Adds a node to the cluster (Flotilla).",
        "node-id host port [peer-port]"
    ),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["slow"],
        group: "cluster",
        since: "3.0.0",
        summary: "A container for Redis Cluster commands.",
        syntax: "subcommand [arg ...]",
        subcommands: SUBCOMMANDS,
        ..CommandSpec::base("cluster", -2, Handler::Container)
    },
    CommandSpec {
        flags: Flags::FAST,
        acl: &["connection"],
        group: "cluster",
        since: "3.0.0",
        summary: "Signals that a cluster client is following an -ASK redirect.",
        ..CommandSpec::base("asking", 1, Handler::Server)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("cluster|info", cluster_info),
    ("cluster|myid", cluster_myid),
    ("cluster|myshardid", cluster_myshardid),
    ("cluster|keyslot", cluster_keyslot),
    ("cluster|countkeysinslot", cluster_countkeysinslot),
    ("cluster|getkeysinslot", cluster_getkeysinslot),
    ("cluster|slots", cluster_slots),
    ("cluster|shards", cluster_shards),
    ("cluster|nodes", cluster_nodes),
    ("cluster|links", cluster_links),
    ("cluster|help", cluster_help),
    ("asking", asking),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem() {
        // The standard check value of CRC-16/XMODEM.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis_cluster() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
        // A hash tag: only the part inside the first {...} counts.
        assert_eq!(key_slot(b"{foo}bar"), key_slot(b"foo"));
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
        assert_eq!(key_slot(b"x{foo}{bar}"), key_slot(b"foo"));
        // An empty tag, or none closed, leaves the whole key hashed.
        assert_eq!(key_slot(b"{}foo"), crc16(b"{}foo") % SLOTS);
        assert_eq!(key_slot(b"{foo"), crc16(b"{foo") % SLOTS);
        assert!((0..10_000).all(|i| key_slot(format!("key:{i}").as_bytes()) < SLOTS));
    }

    #[test]
    fn multi_key_commands_must_stay_in_one_slot() {
        let spec = super::super::lookup(b"mset").expect("mset");
        let args = |words: &[&str]| words.iter().map(|w| Bytes::from(w.to_string())).collect::<Vec<_>>();
        assert_eq!(command_slot(spec, &args(&["mset", "{a}1", "x", "{a}2", "y"])).ok(), Some(Some(key_slot(b"a"))));
        assert!(crosses_slots(spec, &args(&["mset", "foo", "x", "bar", "y"])));
        assert!(!crosses_slots(spec, &args(&["mset", "{a}1", "x", "{a}2", "y"])));
        assert!(!crosses_slots(spec, &args(&["mset", "foo", "x"])));
        let ping = super::super::lookup(b"ping").expect("ping");
        assert_eq!(command_slot(ping, &args(&["ping"])).ok(), Some(None));
    }

    #[test]
    fn node_names_are_forty_hex_digits_and_distinct() {
        let one = node_name(1);
        assert_eq!(one.len(), 40);
        assert!(one.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(one, node_name(2));
        assert_eq!(one, node_name(1));
    }
}
