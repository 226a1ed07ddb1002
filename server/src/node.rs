//! The node: everything the connections share. Holds the shard's Raft group and the write
//! path (a write becomes an entry `{leader time, ops}` proposed to the group's leader and
//! replied to once applied), the read path (linearizable: lease or read-index on the leader),
//! the pub/sub hub, the client registry, run-time settings and statistics.
//!
//! A node that does not lead the shard forwards writes to the leader over the peer transport
//! and relays the replies. It serves reads itself, after asking the leader for a read index
//! (Raft's follower read, see `read_many`). While there is no leader (an election), a proposal
//! that certainly did not execute is retried for up to `LEADER_WAIT_MS`; one whose fate is
//! unknown is answered `-UNCERTAIN`, never a false "not done".

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::acl::ScriptUser;
use flotilla_storage::log_store::LogStore;
use flotilla_storage::{Event, Op, ReadStats, StateMachine};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::clients::Clients;
use crate::clock::Clock;
use crate::config::Args;
use crate::pubsub::PubSub;
use crate::raft::group::{serve_in_rounds, Applied, Group, ProposeError, Refused};
use crate::raft::machine::MachineStore;
use crate::raft::network::{self, kind, NetworkFactory};
use crate::raft::transport::{Handler, Transport, TransportError};
use crate::raft::{GroupId, NodeId};
use crate::settings::Settings;

/// Keys the active expiry cycle deletes per database per tick, at most.
pub const ACTIVE_EXPIRE_KEYS_MAX: usize = 500;
/// Period of the active expiry cycle.
pub const ACTIVE_EXPIRE_PERIOD_MS: u64 = 100;
/// How long a request waits for a shard leader (an election) before it is refused.
pub const LEADER_WAIT_MS: u64 = 5000;
/// Pause between attempts while waiting for a leader.
const LEADER_RETRY_MS: u64 = 20;
/// Time allowed for a forwarded request to come back.
const FORWARD_TIMEOUT_MS: u64 = 10_000;
/// Longest a READONLY read on a follower waits for the entries it holds to be applied
/// (`Node::apply_received`).
const RECEIVED_APPLY_WAIT_MS: u64 = 5;
/// A PUBLISH sent on to another member (nobody waits for the answer).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the leader to answer READ_INDEX. It answers within its lease wait (at
/// most `ELECTION_TIMEOUT_MS_MAX` when no quorum answers its heartbeats); a leader that does
/// not answer by then is paused or cut off, and the read asks again (the next leader, once
/// elected) rather than waiting out `FORWARD_TIMEOUT_MS`.
const READ_INDEX_TIMEOUT_MS: u64 = 1000;
/// The one data shard's group (group 0 is reserved for cluster metadata).
pub const DATA_GROUP: GroupId = 1;

pub const TRYAGAIN_NO_LEADER: &str = "TRYAGAIN no leader for this shard yet, try again";

#[derive(Debug, Default)]
pub struct Stats {
    pub commands_processed: AtomicU64,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub pubsub_messages: AtomicU64,
}

/// The node as the state machine's event sink. The node exists only after its state machine,
/// so it is reached through a cell filled once it does; until then every event is wanted.
struct NodeEvents(Arc<OnceLock<Weak<Node>>>);

impl crate::raft::machine::EventSink for NodeEvents {
    fn wants_keyspace_events(&self) -> bool {
        self.0.get().and_then(Weak::upgrade).is_none_or(|node| node.wants_keyspace_events())
    }

    fn publish(&self, events: &[Event]) {
        if let Some(node) = self.0.get().and_then(Weak::upgrade) {
            node.publish_events(events);
        }
    }
}

pub struct Node {
    pub args: Args,
    pub me: NodeId,
    pub settings: RwLock<Settings>,
    /// The settings every command reads, without the lock.
    pub live: Arc<crate::settings::Live>,
    pub clock: Arc<Clock>,
    pub group: Arc<Group>,
    /// The data group's log (for its tail cache's size in INFO).
    pub log: crate::raft::log::GroupLog,
    pub transport: Arc<Transport>,
    pub pubsub: PubSub,
    pub monitors: crate::commands::monitor::Monitors,
    pub slowlog: Mutex<crate::commands::slowlog::SlowLog>,
    /// Held from the end of an apply until its keyspace notifications are published.
    notify_order: Mutex<()>,
    pub clients: Clients,
    pub stats: Stats,
    pub started: std::time::Instant,
    pub started_unix_s: u64,
    pub run_id: String,
    /// The members: as the Raft membership this node holds records them once it holds one
    /// (`membership::follow_membership`), before that as `--initial-cluster` lists them (this
    /// node alone without it).
    pub members: RwLock<Vec<crate::config::Member>>,
    /// The members `--initial-cluster` lists: their addresses win over recorded ones.
    pub initial_members: Vec<crate::config::Member>,
    /// Whether the node presents the Redis Cluster protocol (commands/cluster.rs): fixed at
    /// start, except on a node that neither `--cluster-enabled` nor `--initial-cluster`
    /// decides (one that joins, or a member started on its data without them), which takes
    /// the presentation of the other members (`membership::follow_presentation`).
    cluster_enabled: AtomicBool,
    /// Whether the node listens for peers and follows the membership (`open_to_peers`): from
    /// the start on a cluster member, from the first CLUSTER JOIN on a node started alone.
    in_cluster: AtomicBool,
    /// Held while the node opens to peers, so two JOINs at once bind the peer port once.
    opening: tokio::sync::Mutex<()>,
    /// Members' `--announce-ip`, this node's own and those the others sent (`client_host`).
    announced: RwLock<HashMap<NodeId, String>>,
    pub shutting_down: AtomicBool,
    pub shutdown: Notify,
    /// Clients waiting in BLPOP and the other blocking commands.
    pub blocking: crate::blocking::Blocking,
    /// CLIENT PAUSE: this node's clients' commands wait while it is in force.
    pub pause: crate::pause::Pause,
    /// ACL users and the ACL LOG (node-local, as Redis's).
    pub acl: crate::acl::Acl,
    /// CLIENT TRACKING's table (node-local, as Redis's).
    pub tracking: crate::tracking::Tracking,
    /// Readers on this node (not the leader) waiting for the next READ_INDEX round.
    read_indexes: mpsc::UnboundedSender<oneshot::Sender<ReadIndexed>>,
    /// Writes to forward to the leader, sent together (`run_forwarder`).
    forwards: mpsc::UnboundedSender<Forward>,
}

/// One client's write waiting to be forwarded: its encoded ops, and where its outcome goes.
struct Forward {
    target: NodeId,
    ops: Bytes,
    outcome: oneshot::Sender<ForwardedWrite>,
}

/// Most proposals in one FORWARD_BATCH frame.
const FORWARD_BATCH_MAX: usize = 256;

/// Sends the writes this node forwards to the leader: every one queued by the time it runs
/// (it yields once first, so the connections that are ready queue theirs) goes in one
/// FORWARD_BATCH frame, and the leader proposes them together. A frame per client batch was a
/// task, a pending reply and a handler call per client on both nodes.
async fn run_forwarder(transport: Arc<Transport>, mut queue: mpsc::UnboundedReceiver<Forward>) {
    while let Some(first) = queue.recv().await {
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < FORWARD_BATCH_MAX {
            match queue.try_recv() {
                Ok(forward) => batch.push(forward),
                Err(_) => break,
            }
        }
        // Nearly always one target (the leader); a leadership change may split a batch.
        while !batch.is_empty() {
            let target = batch[0].target;
            let (to_target, rest): (Vec<Forward>, Vec<Forward>) = batch.into_iter().partition(|f| f.target == target);
            batch = rest;
            let mut payload = Vec::with_capacity(to_target.iter().map(|f| 4 + f.ops.len()).sum());
            for forward in &to_target {
                payload.extend_from_slice(&(forward.ops.len() as u32).to_be_bytes());
                payload.extend_from_slice(&forward.ops);
            }
            let sent = transport.send(
                target,
                kind::FORWARD_BATCH,
                DATA_GROUP,
                Bytes::from(payload),
                Duration::from_millis(FORWARD_TIMEOUT_MS),
            );
            tokio::spawn(async move {
                let reply = match sent {
                    Ok(pending) => pending.await,
                    Err(error) => Err(error),
                };
                let results: Result<Vec<ForwardedWrite>, ProposeError> = match reply {
                    Ok(bytes) => network::decode::<Vec<ForwardedWrite>>(&bytes).map_err(ProposeError::Uncertain),
                    // Not sent: as certain as "not leader".
                    Err(TransportError::Unreachable(_)) => Err(ProposeError::NotLeader(None)),
                    Err(error) => Err(ProposeError::Uncertain(error.to_string())),
                };
                match results {
                    Ok(results) if results.len() == to_target.len() => {
                        for (forward, result) in to_target.into_iter().zip(results) {
                            let _ = forward.outcome.send(result);
                        }
                    }
                    Ok(results) => {
                        let why = format!("the leader answered {} of {} forwarded writes", results.len(), to_target.len());
                        for forward in to_target {
                            let _ = forward.outcome.send(Err(ProposeError::Uncertain(why.clone())));
                        }
                    }
                    Err(error) => {
                        for forward in to_target {
                            let _ = forward.outcome.send(Err(error.clone()));
                        }
                    }
                }
            });
        }
    }
}

/// The leader's answer to READ_INDEX: the Raft log index a follower must have applied before
/// it serves the reads, and the leader's clock when it answered (after confirming it leads).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadIndex {
    pub index: u64,
    pub now_ms: u64,
}

/// What READ_INDEX answers: the read index, or why there is none (not the leader).
type ReadIndexed = Result<ReadIndex, ProposeError>;

/// A forwarded read: database and the commands to run, in order.
type ReadRequest = (u32, Vec<Vec<Bytes>>);

/// What a script's op (or an EXEC holding one) carries for its scripts: the restricted
/// user's permissions, the node over `maxmemory` (see flotilla_storage::machine::Op).
#[derive(Default)]
pub struct ScriptCaller {
    pub user: Option<Box<ScriptUser>>,
    pub over_memory: bool,
}

impl ScriptCaller {
    /// Nothing to carry: the op goes as it is.
    pub fn is_plain(&self) -> bool {
        self.user.is_none() && !self.over_memory
    }

    pub fn wrap(self, mut op: Op) -> Op {
        if self.over_memory {
            op = Op::OverMemory { op: Box::new(op) };
        }
        if let Some(user) = self.user {
            op = Op::AsUser { user, op: Box::new(op) };
        }
        op
    }
}
/// What a forwarded request answers: replies, or why nothing ran.
type Forwarded = Result<Vec<Reply>, ProposeError>;
/// What a forwarded write answers: replies and the entry's log index, or why nothing ran.
type ForwardedWrite = Result<Applied, ProposeError>;

/// The ops of a proposal, after it: in the entry that carried them when this node proposed
/// them (from the position given), or as sent when they were forwarded or refused. Empty when
/// a local proposal's outcome is unknown (its ops went into an entry nothing reports on).
pub enum ProposedOps {
    InEntry(crate::raft::Request, usize),
    Kept(Vec<Op>),
}

impl ProposedOps {
    /// The arguments of the `n`-th op, when it is a command still at hand.
    pub fn args(&self, n: usize) -> Option<&[Bytes]> {
        let op = match self {
            ProposedOps::InEntry(request, first) => request.entry().ops.get(first + n)?,
            ProposedOps::Kept(ops) => ops.get(n)?,
        };
        match op {
            Op::Command { args, .. } => Some(args),
            _ => None,
        }
    }
}

impl Node {
    /// Opens the node's storage, starts its Raft group and peer transport. The peer listener
    /// must already be bound (`peer_listener`) when the cluster has more than one member.
    pub async fn start(
        args: Args,
        peer_listener: Option<tokio::net::TcpListener>,
    ) -> Result<Arc<Node>, String> {
        let members = args.members()?;
        let args_listed_members = !args.initial_cluster.trim().is_empty();
        let me = args.node_id;
        let clock = Arc::new(Clock::with_skew(args.clock_skew_ms));
        let started_unix_s = clock.now_ms() / 1000;
        let run_id = make_run_id(clock.now_us(), std::process::id());

        let log_store =
            LogStore::open(&args.dir).map_err(|e| format!("cannot open {}: {e}", args.dir.display()))?;
        let checked = log_store
            .verify()
            .map_err(|e| format!("refusing to start: {e} (data dir {})", args.dir.display()))?;
        tracing::info!(records = checked, "log store verified");
        claim_data_dir(&args.dir, me)?;
        let alone = !args.clustered();
        let syncer = crate::raft::log::Syncer::start(log_store.clone(), args.fsync, alone);

        let peers: HashMap<NodeId, SocketAddr> = members
            .iter()
            .filter_map(|m| resolve(&m.host, m.peer_port).map(|address| (m.id, address)))
            .collect();
        let transport = Transport::new(me, &peers);
        if args.join.is_some() {
            transport.accept_unknown_peers(true);
        }

        // Scripts' ACL checks know the server's commands too (TIME, PING …).
        flotilla_storage::acl::set_command_lookup(crate::commands::lookup);
        // The state machine reports applied events to the node, which exists only later.
        let node_cell: Arc<OnceLock<Weak<Node>>> = Arc::new(OnceLock::new());
        let sink_cell = node_cell.clone();
        let sink = Arc::new(NodeEvents(sink_cell));
        let snapshots = flotilla_storage::snapshot_file::SnapshotDir::open(&args.dir)
            .map_err(|e| format!("cannot open the snapshot directory: {e}"))?;
        let machine = MachineStore::open(log_store.clone(), snapshots, DATA_GROUP, sink)
            .map_err(|e| format!("cannot load snapshot: {e}"))?;
        let sync_gate = syncer.gate();
        let log = crate::raft::log::GroupLog::new(log_store.clone(), DATA_GROUP, syncer);
        let group_log = log.clone();
        let commits_sent = Arc::new(crate::raft::network::CommitsSent::default());
        let factory = NetworkFactory {
            transport: transport.clone(),
            group: DATA_GROUP,
            commits_sent: commits_sent.clone(),
        };
        let raft = crate::raft::Raft::new(me, crate::raft::config(), factory, log, machine.clone())
            .await
            .map_err(|e| format!("cannot start raft: {e}"))?;
        crate::raft::machine::run_snapshot_policy(raft.clone(), &machine);
        crate::raft::log::run_tail_release(raft.clone(), group_log.clone());
        let group = Group::new(raft.clone(), machine, clock.clone(), sync_gate, commits_sent);
        let (read_indexes, waiting) = mpsc::unbounded_channel();
        {
            let (transport, group) = (transport.clone(), group.clone());
            tokio::spawn(serve_in_rounds(waiting, move || {
                let (transport, group) = (transport.clone(), group.clone());
                async move { ask_read_index(&transport, &group, me).await }
            }));
        }

        let (forwards, to_forward) = mpsc::unbounded_channel();
        tokio::spawn(run_forwarder(transport.clone(), to_forward));

        let settings = Settings::from_args(&args);
        let acl = crate::acl::Acl::new(settings.requirepass.as_deref());
        let cluster_enabled = args.cluster_enabled(members.len());
        let announced: HashMap<NodeId, String> = args.announce_ip.iter().map(|ip| (me, ip.clone())).collect();
        let node = Arc::new(Node {
            live: settings.live.clone(),
            settings: RwLock::new(settings),
            args,
            me,
            clock,
            group,
            log: group_log,
            transport: transport.clone(),
            pubsub: PubSub::default(),
            monitors: Default::default(),
            slowlog: Default::default(),
            notify_order: Mutex::new(()),
            clients: Clients::default(),
            stats: Stats::default(),
            started: crate::clock::instant(),
            started_unix_s,
            run_id,
            members: RwLock::new(members.clone()),
            initial_members: if args_listed_members { members.clone() } else { Vec::new() },
            cluster_enabled: AtomicBool::new(cluster_enabled),
            in_cluster: AtomicBool::new(false),
            opening: tokio::sync::Mutex::new(()),
            announced: RwLock::new(announced),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            blocking: crate::blocking::Blocking::default(),
            pause: crate::pause::Pause::default(),
            acl,
            tracking: Default::default(),
            read_indexes,
            forwards,
        });
        let _ = node_cell.set(Arc::downgrade(&node));

        if node.args.clustered() {
            node.open_to_peers(peer_listener).await?;
        } else {
            // A node started alone on the data of a cluster it belongs to (it grew from a
            // single node, say) takes its place in it again, as an etcd member restarted on
            // its data does; one whose data holds other members only was removed from it.
            let ids: Vec<NodeId> = raft
                .with_raft_state(|state| {
                    let effective = state.membership_state.effective();
                    effective.membership().nodes().map(|(id, _)| *id).collect()
                })
                .await
                .map_err(|e| e.to_string())?;
            if ids.len() > 1 || ids.iter().any(|&id| id != me) {
                if !ids.contains(&me) {
                    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                    return Err(format!(
                        "the data in {} belongs to a cluster of nodes {}, which no longer counts \
                         node {me}: start this node with an empty --dir and --join",
                        node.args.dir.display(),
                        ids.join(", ")
                    ));
                }
                node.open_to_peers(None).await?;
            }
        }

        // The lowest id of a pristine cluster proposes the initial membership.
        let pristine = !raft.is_initialized().await.map_err(|e| e.to_string())?;
        let lowest = members.iter().map(|m| m.id).min() == Some(me);
        // Nothing but the other members tells this node's presentation: it follows theirs.
        let password = node.settings.read().requirepass.clone();
        if node.args.cluster_enabled.is_none() && !args_listed_members && node.in_cluster() {
            let first = node.args.join.clone();
            tokio::spawn(crate::membership::follow_presentation(Arc::downgrade(&node), first, password.clone()));
        }
        if let Some(target) = node.args.join.clone() {
            let joining = node.args.joining_as()?;
            tokio::spawn(crate::membership::join(Arc::downgrade(&node), target, joining, password));
        } else if pristine && lowest {
            let voters: BTreeMap<NodeId, openraft::BasicNode> =
                members.iter().map(|m| (m.id, openraft::BasicNode::new(m.address()))).collect();
            if let Err(error) = raft.initialize(voters).await {
                tracing::warn!(%error, "cluster initialization");
            }
        }
        Ok(node)
    }

    /// Whether the node presents the Redis Cluster protocol (see the field).
    pub fn cluster_enabled(&self) -> bool {
        self.cluster_enabled.load(Ordering::Relaxed)
    }

    /// Makes the node present the Redis Cluster protocol (`true`) or a standalone Redis.
    pub fn present_as_cluster(&self, cluster: bool) {
        self.cluster_enabled.store(cluster, Ordering::Relaxed);
    }

    /// Whether the node listens for peers and follows the cluster's membership: a cluster
    /// member, or a node started alone that a member has joined since.
    pub fn in_cluster(&self) -> bool {
        self.in_cluster.load(Ordering::Acquire)
    }

    /// Makes this node a cluster member in its workings: it serves its peers on `listener`
    /// (bound here when None, on the peer port the membership records for it, else
    /// `--peer-port` or PORT+10000), follows the membership, hands every append to the fsync
    /// thread, re-homes blocked clients when the leader changes and announces its
    /// `--announce-ip`. Once only; a node started alone does it at the first CLUSTER JOIN it
    /// is asked, or at start when its data records it with other members.
    pub async fn open_to_peers(self: &Arc<Self>, listener: Option<tokio::net::TcpListener>) -> Result<(), String> {
        let _opening = self.opening.lock().await;
        if self.in_cluster() {
            return Ok(());
        }
        let listener = match listener {
            Some(listener) => listener,
            None => {
                let me = self.me;
                let recorded = self
                    .group
                    .raft
                    .with_raft_state(move |state| state.membership_state.effective().membership().get_node(&me).cloned())
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|node| crate::config::Member::parse(self.me, &node.addr));
                let peer_port = match (recorded, self.args.peer_port) {
                    (Some(me), Some(given)) if given != me.peer_port => {
                        return Err(format!(
                            "--peer-port {given} disagrees with this node's recorded address {}",
                            me.address()
                        ))
                    }
                    (Some(me), _) => me.peer_port,
                    (None, _) => self.args.own_peer_port()?,
                };
                let address = format!("{}:{peer_port}", self.args.bind);
                tokio::net::TcpListener::bind(&address)
                    .await
                    .map_err(|e| format!("cannot listen for peers on {address}: {e}"))?
            }
        };
        let handler_node = Arc::downgrade(self);
        let handler: Handler = Arc::new(move |from, rpc_kind, group, payload| {
            let node = handler_node.clone();
            if rpc_kind == kind::ANNOUNCE {
                if let (Some(node), Ok(host)) = (node.upgrade(), String::from_utf8(payload.to_vec())) {
                    node.announced.write().insert(from, host);
                }
                return Box::pin(async { Ok(Vec::new()) });
            }
            if rpc_kind == kind::PUBLISH {
                // Delivered now, so one sender's messages reach subscribers in order.
                let delivered = match node.upgrade() {
                    Some(node) => node.publish_from_peer(&payload),
                    None => Err("node stopped".to_string()),
                };
                return Box::pin(async move { delivered.map(|()| Vec::new()) });
            }
            if rpc_kind == kind::MEMBERS {
                if let Some(node) = node.upgrade() {
                    node.take_member_hints(&payload);
                }
                return Box::pin(async { Ok(Vec::new()) });
            }
            if rpc_kind == kind::MEMBERSHIP {
                return Box::pin(async move {
                    let node = node.upgrade().ok_or("node stopped")?;
                    crate::membership::serve_relayed(&node, &payload).await
                });
            }
            if rpc_kind == kind::BLOCK_WAIT && group == DATA_GROUP {
                // Queued now, before the next request from that node is handled.
                return match node.upgrade() {
                    Some(node) => node.blocking.register_peer(&node, from, &payload),
                    None => Box::pin(async { Err("node stopped".to_string()) }),
                };
            }
            Box::pin(async move {
                let node = node.upgrade().ok_or("node stopped")?;
                node.serve_peer(from, rpc_kind, group, payload).await
            })
        });
        self.log.syncer().join_cluster();
        // The leader keeps several AppendEntries in flight to each follower
        // (`Network::stream_append`); they must reach this node's Raft core in order.
        self.transport.serve_in_order(kind::APPEND_ENTRIES);
        self.transport.start(listener, handler);
        self.in_cluster.store(true, Ordering::Release);

        if let Some(ip) = self.args.announce_ip.clone() {
            tokio::spawn(announce(Arc::downgrade(self), ip));
        }
        tokio::spawn(crate::membership::follow_membership(Arc::downgrade(self)));
        tokio::spawn(tell_members(Arc::downgrade(self)));
        tokio::spawn(crate::blocking::rehome_loop(Arc::downgrade(self)));
        Ok(())
    }

    /// The host clients are given for member `id`: its `--announce-ip` when it has one (and,
    /// for another member, has sent it), else its host in `--initial-cluster`.
    pub fn client_host(&self, id: NodeId) -> Option<String> {
        if let Some(host) = self.announced.read().get(&id) {
            return Some(host.clone());
        }
        self.members.read().iter().find(|m| m.id == id).map(|m| m.host.clone())
    }

    /// The members (see `members`).
    pub fn members(&self) -> Vec<crate::config::Member> {
        self.members.read().clone()
    }

    /// Before a READONLY read on a node that does not lead: waits, at most
    /// `RECEIVED_APPLY_WAIT_MS`, until the entries this node already holds in its log are
    /// applied. A write the leader has acknowledged has usually reached this node by then
    /// (the leader sends each entry to every follower at once) and commits a round trip
    /// later, so a client that writes and then reads here mostly reads its write, as from a
    /// Redis replica that gets the master's stream as the client gets its reply. Without
    /// the wait, a GET right after the SET's reply missed it more than half the time (redis-py's
    /// RedisCluster with random load balancing). Still no promise: a follower the entry has not
    /// reached, or one that is cut off, answers from what it has (after the wait).
    pub async fn apply_received(&self) {
        let (leads, received, applied) = {
            let metrics = openraft::async_runtime::WatchReceiver::borrow_watched(&self.group.raft.metrics()).clone();
            let applied = metrics.last_applied.as_ref().map_or(0, |id| id.index());
            (metrics.state.is_leader(), metrics.last_log_index, applied)
        };
        // A leader applies an acknowledged write before it replies.
        let Some(received) = received.filter(|received| !leads && *received > applied) else {
            return;
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(RECEIVED_APPLY_WAIT_MS);
        self.group.applied_at_least(received, deadline).await;
    }

    /// Sends a PUBLISH (`sharded`: SPUBLISH) a client sent here to every other member, for
    /// its subscribers. Best effort, as Redis Cluster's bus: a member that cannot be reached
    /// now misses the message (Pub/Sub keeps nothing for later).
    pub fn publish_to_peers(&self, sharded: bool, channel: &Bytes, message: &Bytes) {
        if self.members.read().len() < 2 {
            return;
        }
        let payload = network::encode(&(sharded, channel.as_ref(), message.as_ref()));
        self.tell_other_members(kind::PUBLISH, payload, PUBLISH_TIMEOUT);
    }

    /// Queues a request of `rpc_kind` for every other member now (in order behind this node's
    /// earlier ones) without awaiting the answers: what cannot be sent is dropped.
    fn tell_other_members(&self, rpc_kind: u8, payload: Bytes, timeout: Duration) {
        for member in self.members.read().iter().filter(|m| m.id != self.me) {
            let _ = self.transport.send(member.id, rpc_kind, DATA_GROUP, payload.clone(), timeout);
        }
    }

    /// Dials the members another member named that this node's membership lacks, when the
    /// sender's membership is newer. Of each pair the lower id dials: a node restarted on a
    /// log older than the membership entry that added the leader (a higher id) would
    /// otherwise never hear from it, nor catch up. (A node forgotten by the others, whose
    /// membership is older, names no one to them.)
    fn take_member_hints(&self, payload: &[u8]) {
        let Ok((their_membership, named)) = network::decode::<(u64, Vec<(NodeId, String)>)>(payload) else {
            return;
        };
        if their_membership <= self.membership_position() {
            return;
        }
        let known: Vec<NodeId> = self.members.read().iter().map(|m| m.id).collect();
        for (id, address) in named.into_iter().filter(|(id, _)| !known.contains(id)) {
            let member = crate::config::Member::parse(id, &address);
            if let Some(address) = member.and_then(|m| resolve(&m.host, m.peer_port)) {
                self.transport.hint_peer(id, address);
            }
        }
    }

    /// Where the membership this node holds was recorded: its log index + 1 (0: none).
    fn membership_position(&self) -> u64 {
        let metrics = self.group.raft.metrics();
        let metrics = openraft::async_runtime::WatchReceiver::borrow_watched(&metrics);
        metrics.membership_config.log_id().map_or(0, |id| id.index + 1)
    }

    /// Delivers a PUBLISH another member's client sent (`publish_to_peers`).
    fn publish_from_peer(&self, payload: &[u8]) -> Result<(), String> {
        let (sharded, channel, message): (bool, Vec<u8>, Vec<u8>) = network::decode(payload)?;
        let (channel, message) = (Bytes::from(channel), Bytes::from(message));
        if sharded {
            self.pubsub.spublish(&channel, &message);
        } else {
            self.pubsub.publish(&channel, &message);
        }
        Ok(())
    }

    async fn serve_peer(
        &self,
        from: NodeId,
        rpc_kind: u8,
        group: GroupId,
        payload: Bytes,
    ) -> Result<Vec<u8>, String> {
        if group != DATA_GROUP {
            return Err(format!("unknown group {group}"));
        }
        match rpc_kind {
            kind::FORWARD => {
                let ops: Vec<Op> = network::decode(&payload)?;
                let result: ForwardedWrite = self.group.propose_indexed(ops).await;
                Ok(network::encode(&result).to_vec())
            }
            kind::FORWARD_BATCH => {
                let mut proposals = Vec::new();
                let mut rest = payload;
                while rest.len() >= 4 {
                    let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                    if rest.len() < 4 + len {
                        return Err("truncated FORWARD_BATCH".into());
                    }
                    let encoded = rest.slice(4..4 + len);
                    rest = rest.slice(4 + len..);
                    // The ops' arguments are slices of the frame (storage/src/shared_bytes.rs).
                    let ops: Vec<Op> =
                        flotilla_storage::shared_bytes::decode_sharing(&encoded, network::decode)?;
                    proposals.push(ops);
                }
                // Each proposal joins the proposer's queue in order on its first poll, so they
                // share an entry and keep the order they were sent in.
                let results: Vec<ForwardedWrite> =
                    futures::future::join_all(proposals.into_iter().map(|ops| self.group.propose_indexed(ops))).await;
                Ok(network::encode(&results).to_vec())
            }
            kind::FORWARD_READ | kind::FORWARD_READ_NO_TOUCH => {
                let (db, commands): ReadRequest = network::decode(&payload)?;
                let touch = rpc_kind == kind::FORWARD_READ;
                let result: Forwarded = match self.group.read_barrier().await {
                    Ok(()) => Ok(self.read_local(db as usize, &commands, touch)),
                    Err(error) => Err(error),
                };
                Ok(network::encode(&result).to_vec())
            }
            kind::READ_INDEX => {
                // The clock is read after leadership is confirmed: any expiry this node's
                // reads saw before the request came is at or before it.
                let result: ReadIndexed = self
                    .group
                    .read_index()
                    .await
                    .map(|index| ReadIndex { index, now_ms: self.clock.now_ms() });
                Ok(network::encode(&result).to_vec())
            }
            kind::BLOCK_SERVE => {
                let request: crate::blocking::ServeRequest = network::decode(&payload)?;
                Ok(network::encode(&self.blocking.serve_for_leader(self, request).await).to_vec())
            }
            kind::BLOCK_CANCEL => {
                let request: crate::blocking::CancelRequest = network::decode(&payload)?;
                self.blocking.cancel_peer(from, request);
                Ok(Vec::new())
            }
            kind::FORWARD_WAIT => {
                let request: crate::commands::replication::WaitRequest = network::decode(&payload)?;
                Ok(network::encode(&self.serve_forwarded_wait(request).await).to_vec())
            }
            _ => network::serve_rpc(&self.group.raft, &self.group.store, rpc_kind, &payload).await,
        }
    }

    /// Proposes `ops` as (part of) one entry and returns one reply per op once applied, on
    /// this node or, if another node leads, through it; and the log index of the entry (None
    /// when it was refused or its fate is unknown), for WAIT.
    pub async fn propose_indexed(&self, ops: Vec<Op>) -> (Vec<Reply>, Option<u64>) {
        let (replies, index, _) = self.propose_keeping_ops(ops).await;
        (replies, index)
    }

    /// As `propose_indexed`, also giving the ops back to read (for the slow log), without a
    /// copy made in advance.
    pub async fn propose_keeping_ops(&self, mut ops: Vec<Op>) -> (Vec<Reply>, Option<u64>, ProposedOps) {
        let count = ops.len();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(LEADER_WAIT_MS);
        loop {
            let leader = self.group.leader();
            let forward_to = leader.filter(|&id| id != self.me);
            let outcome: ForwardedWrite = if let Some(target) = forward_to {
                let (outcome, forwarded) = oneshot::channel();
                let forward = Forward { target, ops: network::encode(&ops), outcome };
                match self.forwards.send(forward) {
                    // Dropped unanswered (the node is stopping): it may have been sent.
                    Ok(()) => forwarded
                        .await
                        .unwrap_or_else(|_| Err(ProposeError::Uncertain("the forwarder stopped".into()))),
                    // The forwarder is gone: nothing was sent.
                    Err(_) => Err(ProposeError::NotLeader(None)),
                }
            } else {
                // The ops move into the proposal (no copy); a refusal hands them back.
                match self.group.propose_or_refuse(ops).await {
                    Ok(proposed) => {
                        let kept = ProposedOps::InEntry(proposed.entry, proposed.first_op);
                        return (proposed.replies, Some(proposed.index), kept);
                    }
                    Err(Refused { why, ops: back }) => {
                        ops = back;
                        Err(why)
                    }
                }
            };
            match outcome {
                Ok((replies, index)) => return (replies, Some(index), ProposedOps::Kept(ops)),
                Err(ProposeError::Uncertain(why)) => {
                    let error = Reply::error_owned(format!(
                        "UNCERTAIN the write may or may not have been applied: {why}"
                    ));
                    // Forwarded: the ops as sent. Proposed here: none are left (they went into
                    // an entry whose fate is unknown).
                    return (vec![error; count], None, ProposedOps::Kept(ops));
                }
                Err(ProposeError::NotLeader(_)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return (vec![Reply::error(TRYAGAIN_NO_LEADER); count], None, ProposedOps::Kept(ops));
                    }
                    tokio::time::sleep(Duration::from_millis(LEADER_RETRY_MS)).await;
                }
            }
        }
    }

    /// Runs one write command as its own op, giving its reply and the log index of its entry
    /// (see `propose_indexed`).
    pub async fn write_indexed(&self, db: usize, args: Vec<Bytes>) -> (Reply, Option<u64>) {
        let (mut replies, index) = self
            .propose_indexed(vec![Op::Command { db: db as u32, args }])
            .await;
        (replies.pop().expect("one reply per op"), index)
    }

    /// Runs read-only commands linearizably, on this node: on the leader after its read barrier
    /// (lease or read-index check), on another node after `follower_barrier`. `touch`: the
    /// reads count as accesses to their keys (false for a CLIENT NO-TOUCH connection).
    ///
    /// Access times (OBJECT IDLETIME / FREQ) are recorded on the copy of the node that serves
    /// the read, as a Redis replica records its own LRU fields: they are node-local anyway
    /// (applies stamp every replica's copy, and nothing compares them or evicts by them), so a
    /// follower's OBJECT IDLETIME reflects the reads it served and the writes it applied. The
    /// reads' events (a read-only script's MONITOR lines and slow log) stay on this node.
    pub async fn read_many(&self, db: usize, commands: &[Vec<Bytes>], touch: bool) -> Vec<Reply> {
        let count = commands.len();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(LEADER_WAIT_MS);
        loop {
            let outcome = match self.group.leader().filter(|&id| id != self.me) {
                None => self.group.read_barrier().await.map(|()| self.clock.now_ms()),
                Some(_) => self.follower_barrier(deadline).await,
            };
            match outcome {
                Ok(now_ms) => return self.read_at(db, commands, touch, None, now_ms),
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return vec![Reply::error(TRYAGAIN_NO_LEADER); count]
                }
                // A read has no effect: any failure may simply be retried.
                Err(_) => tokio::time::sleep(Duration::from_millis(LEADER_RETRY_MS)).await,
            }
        }
    }

    /// Raft's follower read (etcd's ReadIndex on followers): waits until a read of this node's
    /// applied state is linearizable and gives the time the read runs at. Joins the next
    /// READ_INDEX round (one request in flight per node, shared by every reader queued before
    /// it is sent, never joined once sent: see `serve_in_rounds`), so the leader confirmed its
    /// leadership after this reader arrived and its read index covers every write completed
    /// before. Then waits (until `deadline`) for this node to apply that index.
    ///
    /// The read runs at the leader's clock as it answered (a moment inside the read's span),
    /// not this node's: with this node's clock behind, a key the leader has seen expire would
    /// look live here; ahead, a key would vanish here that the leader (and a read after this
    /// one) still shows. Expiry through a follower is then exactly as through the leader. This
    /// node's clock also observes it (never moving back), so if it leads later its entries are
    /// not stamped before a time its reads have shown.
    async fn follower_barrier(&self, deadline: tokio::time::Instant) -> Result<u64, ProposeError> {
        let (waiter, answer) = oneshot::channel();
        if self.read_indexes.send(waiter).is_err() {
            return Err(ProposeError::NotLeader(None));
        }
        let ReadIndex { index, now_ms } = answer.await.unwrap_or(Err(ProposeError::NotLeader(None)))?;
        if !self.group.applied_at_least(index, deadline).await {
            return Err(ProposeError::NotLeader(None));
        }
        self.clock.observe(now_ms);
        Ok(now_ms)
    }

    /// Runs a script command (EVAL, FCALL … or their `_RO` forms) for a restricted ACL user,
    /// whose permissions check the commands it runs (see flotilla_storage::acl), or proposed
    /// while this node is over `maxmemory` (`over_memory`, see `Op::OverMemory`). A write is
    /// proposed wrapped in `Op::AsUser` / `Op::OverMemory`, so they travel in the entry. A
    /// read runs here when the connection is READONLY or this node leads (after its read
    /// barrier); otherwise it goes through the log too rather than a forwarded read, so that
    /// the node that sent it applies it and records its ACL LOG entries (a forwarded read's
    /// events stay on the leader). Returns the reply and the entry's log index, if it made one.
    pub async fn run_script_as(
        &self,
        db: usize,
        args: Vec<Bytes>,
        write: bool,
        readonly: bool,
        touch: bool,
        caller: ScriptCaller,
    ) -> (Reply, Option<u64>) {
        if !write {
            let local = readonly
                || (self.group.leader() == Some(self.me) && self.group.read_barrier().await.is_ok());
            if local {
                let reply = self.read_local_as(db, std::slice::from_ref(&args), touch, caller.user.as_deref());
                return (reply.into_iter().next().expect("one reply"), None);
            }
        }
        let op = caller.wrap(Op::Command { db: db as u32, args });
        let (mut replies, index) = self.propose_indexed(vec![op]).await;
        (replies.pop().expect("one reply per op"), index)
    }

    /// Runs read-only commands against this node's applied state, without any check
    /// (READONLY connections, and the leader after its read barrier).
    pub fn read_local(&self, db: usize, commands: &[Vec<Bytes>], touch: bool) -> Vec<Reply> {
        self.read_local_as(db, commands, touch, None)
    }

    /// `read_local`, the scripts run checked against a restricted ACL user.
    fn read_local_as(&self, db: usize, commands: &[Vec<Bytes>], touch: bool, user: Option<&ScriptUser>) -> Vec<Reply> {
        self.read_at(db, commands, touch, user, self.clock.now_ms())
    }

    /// `read_local_as` at the time `now_ms` (unix ms; the state machine reads at no time
    /// before its last applied entry's).
    fn read_at(
        &self,
        db: usize,
        commands: &[Vec<Bytes>],
        touch: bool,
        user: Option<&ScriptUser>,
        now_ms: u64,
    ) -> Vec<Reply> {
        let mut events = Vec::new();
        let replies = {
            let mut shard = self.group.store.lock_shard();
            if commands.len() > 1 {
                shard.machine.prefetch(commands.iter().map(|args| (db, &args[..])));
            }
            shard.machine.notify_key_misses = self.live.notify_key_misses.load(Ordering::Relaxed);
            shard.machine.set_keyspace_events(self.wants_keyspace_events());
            let replies: Vec<Reply> = commands
                .iter()
                .map(|args| shard.machine.read_as(db, args, now_ms, touch, user, &mut events))
                .collect();
            let ReadStats { hits, misses } = shard.machine.take_read_stats();
            self.stats.keyspace_hits.fetch_add(hits, Ordering::Relaxed);
            self.stats.keyspace_misses.fetch_add(misses, Ordering::Relaxed);
            replies
        };
        if !events.is_empty() {
            self.publish_events(&events);
        }
        replies
    }

    /// Runs `f` with the state machine locked (INFO keyspace, WATCH versions, DEBUG).
    pub fn with_machine<R>(&self, f: impl FnOnce(&mut StateMachine) -> R) -> R {
        f(&mut self.group.store.lock_shard().machine)
    }

    /// Waits (at most `wait`) until this node's state machine has applied the entry at Raft
    /// log index `index` (as `propose_indexed` gives it): a write acknowledged by the leader is
    /// then visible to this node's local reads.
    pub async fn applied_here(&self, index: u64, wait: Duration) {
        const POLL: Duration = Duration::from_millis(2);
        // Raft indexes start at 0, the state machine's at 1 (see raft/machine.rs).
        let machine_index = index + 1;
        let deadline = tokio::time::Instant::now() + wait;
        while self.with_machine(|machine| machine.applied_index()) < machine_index
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(POLL).await;
        }
    }

    /// One round of active expiry, on the leader: proposes deletion of keys whose TTL passed.
    /// None while this node is paused (CLIENT PAUSE keeps the data set still, as in Redis).
    pub async fn expire_cycle(&self) {
        if !self.group.is_leader() || self.pause.is_paused(crate::clock::instant()) {
            return;
        }
        let now_ms = self.clock.now_ms();
        let ops: Vec<Op> = self.with_machine(|machine| {
            machine
                .keyspace
                .dbs
                .iter()
                .enumerate()
                .filter_map(|(db, database)| {
                    let keys = database.expired_keys(now_ms, ACTIVE_EXPIRE_KEYS_MAX);
                    (!keys.is_empty()).then_some(Op::ExpireKeys { db: db as u32, keys })
                })
                .collect()
        });
        if !ops.is_empty() {
            let replies = self.group.propose(ops).await.unwrap_or_default();
            let expired: i64 = replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum();
            self.stats
                .expired_keys
                .fetch_add(expired as u64, Ordering::Relaxed);
        }
    }

    /// Publishes keyspace notifications under `notify_order` (applies arrive one at a time
    /// from the group's apply task, so they leave in apply order), then runs the event hooks,
    /// which may propose entries of their own.
    fn publish_events(&self, events: &[Event]) {
        let order = self.notify_order.lock();
        crate::commands::monitor::script_commands(self, events);
        crate::commands::slowlog::script_calls(events);
        crate::commands::acl::script_denials(self, events);
        crate::notify::keyspace_events(self, events);
        self.tracking.on_events(self, events);
        drop(order);
        self.blocking.on_events(self, events);
    }

    /// Whether something here acts on keyspace events (`Event::Notify`, `Event::Ready`):
    /// `notify-keyspace-events`, a tracking client, a blocked client. Without one the state
    /// machine makes none (`EventSwitch`). Asked with the shard locked, so a client that
    /// turned tracking on, or blocked, before a read or first run under that lock is seen
    /// by every entry applied after it.
    fn wants_keyspace_events(&self) -> bool {
        self.live.notify_keyspace_events.load(Ordering::Relaxed)
            || self.tracking.tracking_clients() > 0
            || self.blocking.may_want_events()
    }

    /// The `# Flotilla_raft` INFO section: this node's view of each group it serves.
    pub fn raft_info(&self, out: &mut String) {
        use openraft::async_runtime::WatchReceiver;
        use std::fmt::Write;
        let metrics = self.group.raft.metrics().borrow_watched().clone();
        let role = crate::raft::role_name(&metrics);
        let index = |id: Option<&openraft::alias::LogIdOf<crate::raft::TypeConfig>>| {
            id.map_or(-1, |id| id.index() as i64)
        };
        // Milliseconds since a quorum last answered this leader (0 when it is the only voter;
        // -1 on other nodes, or before any quorum answered): over the lease (0.7 s), openraft
        // refuses new writes and the leader soon goes quiet (`raft::QUORUM_LOSS_QUIET_MS`).
        let quorum_acked_ms = if !metrics.state.is_leader() {
            -1
        } else if crate::raft::group::only_voter(&metrics) {
            0
        } else {
            metrics.last_quorum_acked.as_ref().map_or(-1, |acked| {
                use openraft::Instant;
                let now = openraft::alias::InstantOf::<crate::raft::TypeConfig>::now();
                now.saturating_duration_since(**acked).as_millis() as i64
            })
        };
        // Ids joined by '|' (',' separates the fields).
        let membership = metrics.membership_config.membership();
        let voters: Vec<String> = membership.voter_ids().map(|id| id.to_string()).collect();
        let learners: Vec<String> = membership.learner_ids().map(|id| id.to_string()).collect();
        let _ = write!(
            out,
            "# Flotilla_raft\r\nnode_id:{}\r\ngroups:1\r\ngroup{}:role={},term={},leader={},last_log={},commit={},applied={},snapshot={},purged={},log_cache_bytes={},quorum_acked_ms={},voters={},learners={},proposed_entries={},proposed_ops={}\r\n",
            self.me,
            DATA_GROUP,
            role,
            metrics.current_term,
            metrics.current_leader.map_or(-1, |l| l as i64),
            metrics.last_log_index.map_or(-1, |i| i as i64),
            index(metrics.local_committed.as_ref()),
            index(metrics.last_applied.as_ref()),
            index(metrics.snapshot.as_ref()),
            index(metrics.purged.as_ref()),
            self.log.tail_cache_bytes(),
            quorum_acked_ms,
            voters.join("|"),
            learners.join("|"),
            self.group.proposed.entries.load(Ordering::Relaxed),
            self.group.proposed.ops.load(Ordering::Relaxed),
        );
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// One READ_INDEX round: asks the leader this node knows of for a read index.
async fn ask_read_index(transport: &Transport, group: &Group, me: NodeId) -> ReadIndexed {
    let leader = group.leader();
    let Some(target) = leader.filter(|&id| id != me) else {
        return Err(ProposeError::NotLeader(leader));
    };
    match transport
        .call(
            target,
            kind::READ_INDEX,
            DATA_GROUP,
            Bytes::new(),
            Duration::from_millis(READ_INDEX_TIMEOUT_MS),
        )
        .await
    {
        Ok(bytes) => network::decode::<ReadIndexed>(&bytes).unwrap_or(Err(ProposeError::NotLeader(None))),
        Err(_) => Err(ProposeError::NotLeader(None)),
    }
}

pub(crate) fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs().ok()?.next()
}

/// The file in a data dir that names the node whose data it is.
const NODE_ID_FILE: &str = "node-id";

/// Checks that the data in `dir` is node `me`'s, recording it on the first start. A node
/// started on another node's data would take that node's place in the cluster's votes (two
/// nodes answering as one: a majority that is not one), so it refuses instead.
fn claim_data_dir(dir: &std::path::Path, me: NodeId) -> Result<(), String> {
    let path = dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<NodeId>() {
            Ok(owner) if owner == me => Ok(()),
            Ok(owner) => Err(format!(
                "the data in {} is node {owner}'s, not node {me}'s: start it with --node-id {owner}",
                dir.display()
            )),
            Err(_) => Err(format!("{} does not hold a node id", path.display())),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let write = || -> std::io::Result<()> {
                let temporary = dir.join(format!("{NODE_ID_FILE}.tmp"));
                let mut file = std::fs::File::create(&temporary)?;
                std::io::Write::write_all(&mut file, format!("{me}\n").as_bytes())?;
                file.sync_all()?;
                std::fs::rename(&temporary, &path)?;
                std::fs::File::open(dir)?.sync_all()
            };
            write().map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// A 40-hex-digit run id, as Redis reports in INFO.
fn make_run_id(seed_us: u64, pid: u32) -> String {
    let mut state = seed_us ^ ((pid as u64) << 32) ^ 0xA076_1D64_78BD_642F;
    let mut id = String::with_capacity(40);
    while id.len() < 40 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        id.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    id.truncate(40);
    id
}

/// How often a node with `--announce-ip` sends it to the other members: once would do, but a
/// member that was down, or restarted and forgot it, learns it again within this.
const ANNOUNCE_PERIOD: Duration = Duration::from_secs(2);

/// Sends this node's `--announce-ip` to every other member, every `ANNOUNCE_PERIOD`, for as
/// long as the node runs.
async fn announce(node: Weak<Node>, ip: String) {
    let payload = Bytes::from(ip.into_bytes());
    loop {
        let Some(node) = node.upgrade() else { return };
        node.tell_other_members(kind::ANNOUNCE, payload.clone(), ANNOUNCE_PERIOD);
        drop(node);
        tokio::time::sleep(ANNOUNCE_PERIOD).await;
    }
}

/// How often a member tells the others its members (`kind::MEMBERS`).
const MEMBERS_PERIOD: Duration = Duration::from_secs(1);

/// Tells every other member this node's members, every `MEMBERS_PERIOD`, so that one whose
/// log is behind learns whom to dial (`Node::take_member_hints`).
async fn tell_members(node: Weak<Node>) {
    loop {
        let Some(strong) = node.upgrade() else { return };
        let members: Vec<(NodeId, String)> = strong.members().iter().map(|m| (m.id, m.address())).collect();
        let told = (strong.membership_position(), members);
        strong.tell_other_members(kind::MEMBERS, network::encode(&told), MEMBERS_PERIOD);
        drop(strong);
        tokio::time::sleep(MEMBERS_PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_serves_only_the_node_that_first_used_it() {
        let dir = std::env::temp_dir().join(format!("flotilla-claim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        claim_data_dir(&dir, 4).expect("the first start records node 4");
        assert_eq!(std::fs::read_to_string(dir.join(NODE_ID_FILE)).unwrap(), "4\n");
        claim_data_dir(&dir, 4).expect("node 4 starts again on its data");
        let refused = claim_data_dir(&dir, 1).unwrap_err();
        assert!(refused.contains("node 4's") && refused.contains("--node-id 4"), "{refused}");
        std::fs::write(dir.join(NODE_ID_FILE), "four").unwrap();
        assert!(claim_data_dir(&dir, 4).unwrap_err().contains("does not hold a node id"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
