//! Raft under the state machine: every shard is an openraft group. This module declares the
//! type configuration; `log` adapts the node's fjall log store, `machine` the shard state
//! machine, `network` the peer transport, and `group` ties one group together with its
//! proposer (the batching of client commands into entries).

use flotilla_protocol::Reply;
use flotilla_storage::Entry;
use serde::{Deserialize, Serialize};
use std::fmt;

pub mod group;
pub mod log;
pub mod machine;
pub mod network;
pub mod transport;

/// A log entry's application data: the leader-stamped entry of client ops. Shared, not
/// copied: the same entry is appended to the log, kept in the log's tail cache, replicated to
/// every follower and applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request(pub std::sync::Arc<Entry>);

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry(t={}, ops={})", self.0.time_ms, self.0.ops.len())
    }
}

/// What applying a request produced: one reply per op.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response(pub Vec<Reply>);

openraft::declare_raft_types!(
    /// Flotilla's Raft types: node ids are u64, entries carry `Request`.
    pub TypeConfig:
        D = Request,
        R = Response,
);

pub type Raft = openraft::Raft<TypeConfig, machine::MachineStore>;
pub type NodeId = u64;
pub type GroupId = u32;

/// Raft timing: heartbeats every 100 ms. openraft holds every follower to the leader's lease
/// (`ELECTION_TIMEOUT_MS_MAX`) after the last heartbeat and then waits a random election
/// timeout (min..max) more, so a follower campaigns after 1.1–1.4 s of silence: eleven
/// missed heartbeats, which a loaded machine does not miss by accident, yet a dead leader is
/// replaced in about 1.3 s.
pub const HEARTBEAT_INTERVAL_MS: u64 = 100;
pub const ELECTION_TIMEOUT_MS_MIN: u64 = 400;
pub const ELECTION_TIMEOUT_MS_MAX: u64 = 700;
/// Entries applied since the last snapshot that trigger a new one (openraft's own policy, a
/// backstop: the size policy in `machine.rs` does not count entries without ops). Not lower:
/// at 50 clients -P 1 an entry holds ~7 ops, and 20,000 entries snapshotted a single
/// million-element list every 140,000 LPUSHes.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 200_000;
/// The least log (bytes of applied entries, as encoded) between two snapshots taken by the
/// size policy (see `raft/machine.rs`): 64 MiB, as Redis's auto-aof-rewrite-min-size. With
/// 8 MiB, a keyspace growing from empty was snapshotted every 8 MiB of writes, and the builds
/// took 7-11% of every node's CPU at SET -P 16 (perf, 3 nodes, 900k SETs over 1M keys).
pub const SNAPSHOT_MIN_LOG_BYTES: u64 = 64 << 20;

/// A node's Raft role in one group, as INFO reports it.
pub fn role_name(metrics: &openraft::RaftMetrics<TypeConfig>) -> &'static str {
    if metrics.state.is_leader() {
        "leader"
    } else if metrics.state.is_follower() {
        "follower"
    } else if metrics.state.is_candidate() {
        "candidate"
    } else {
        "learner"
    }
}

pub fn config() -> std::sync::Arc<openraft::Config> {
    let config = openraft::Config {
        cluster_name: "flotilla".into(),
        heartbeat_interval: HEARTBEAT_INTERVAL_MS,
        election_timeout_min: ELECTION_TIMEOUT_MS_MIN,
        election_timeout_max: ELECTION_TIMEOUT_MS_MAX,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_ENTRIES),
        max_in_snapshot_log_to_keep: 1000,
        // A node whose data directory was wiped rejoins with an empty log; the leader must
        // rebuild it (log or snapshot) instead of treating the shorter log as a fatal error.
        allow_log_reversion: Some(true),
        // Send new entries to followers as soon as they are written locally, not after the
        // local fsync: the leader's and the followers' fsyncs then overlap instead of adding
        // up. Commit still counts the leader only once its own fsync completed.
        broadcast_submitted_on_append: Some(true),
        ..Default::default()
    };
    std::sync::Arc::new(config.validate().expect("valid raft config"))
}
