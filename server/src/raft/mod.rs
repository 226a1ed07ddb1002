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
///
/// It is encoded once: on the wire and in the log a request is a byte string holding the
/// entry's postcard encoding, made the first time it is needed and kept beside the entry, so
/// the leader's log append and its AppendEntries to every follower share one encoding, and a
/// follower appends the bytes it received instead of encoding the entry again (perf: the
/// leader encoded every entry three times, 4-5% of its CPU, and a follower once more, ~3%).
#[derive(Clone)]
pub struct Request(std::sync::Arc<Shared>);

struct Shared {
    entry: Entry,
    encoded: std::sync::OnceLock<bytes::Bytes>,
}

impl Request {
    pub fn new(entry: Entry) -> Request {
        Request(std::sync::Arc::new(Shared { entry, encoded: std::sync::OnceLock::new() }))
    }

    pub fn entry(&self) -> &Entry {
        &self.0.entry
    }

    /// The entry's encoding (made on first use).
    pub fn encoded(&self) -> &bytes::Bytes {
        self.0.encoded.get_or_init(|| {
            let buf = Vec::with_capacity(self.0.entry.encoded_len_hint());
            bytes::Bytes::from(postcard::to_extend(&self.0.entry, buf).expect("an entry encodes"))
        })
    }

    /// Bytes the request takes encoded (exact once encoded, else an estimate).
    pub fn encoded_len_hint(&self) -> usize {
        5 + match self.0.encoded.get() {
            Some(bytes) => bytes.len(),
            None => self.0.entry.encoded_len_hint(),
        }
    }
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        self.0.entry == other.0.entry
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Request").field(&self.0.entry).finish()
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry(t={}, ops={})", self.0.entry.time_ms, self.0.entry.ops.len())
    }
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.encoded())
    }
}

impl<'de> Deserialize<'de> for Request {
    /// The received bytes are kept as the encoding; when they are a slice of a frame decoded
    /// with `shared_bytes::decode_sharing`, so are the entry's arguments (no copies).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = flotilla_storage::shared_bytes::byte_string(deserializer)?;
        let entry: Entry =
            flotilla_storage::shared_bytes::decode_sharing(&encoded, |bytes| postcard::from_bytes(bytes))
                .map_err(serde::de::Error::custom)?;
        let request = Request::new(entry);
        let _ = request.0.encoded.set(encoded);
        Ok(request)
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
/// How long a leader that no quorum has answered for a lease (`ELECTION_TIMEOUT_MS_MAX`) stops
/// heartbeating, and then heartbeats again, in turn (openraft's quorum-loss probe). A leader
/// cut off one way, hearing nothing but still heard, would otherwise keep its followers from
/// ever standing for election, and no write could commit anywhere until the cut healed; quiet,
/// it lets them campaign after their 1.1-1.4 s of silence (see above). 2 s leaves a loaded
/// machine time to finish that election inside the quiet period.
pub const QUORUM_LOSS_QUIET_MS: u64 = 2000;
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
        quorum_loss_probe_interval: Some(QUORUM_LOSS_QUIET_MS),
        // A follower whose election timer fires first asks the others whether they would vote
        // for it (Pre-Vote) and raises its term only if a majority would. Without it, a
        // follower cut off for a few seconds came back at a higher term and deposed the leader
        // the others had kept following: an election, and a pause in writes, for nothing.
        enable_pre_vote: Some(true),
        ..Default::default()
    };
    std::sync::Arc::new(config.validate().expect("valid raft config"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use flotilla_storage::Op;

    fn request() -> Request {
        Request::new(Entry {
            time_ms: 42,
            ops: vec![Op::Command { db: 2, args: vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from(vec![9u8; 100])] }],
        })
    }

    fn inside(frame: &[u8], part: &[u8]) -> bool {
        let start = frame.as_ptr() as usize;
        (start..=start + frame.len() - part.len()).contains(&(part.as_ptr() as usize))
    }

    /// A request is encoded once: every later serialization reuses those bytes, and a decoded
    /// request keeps (a slice of the frame as) its encoding and shares its arguments with it.
    #[test]
    fn a_request_is_encoded_once_and_decoded_as_slices_of_its_frame() {
        let original = request();
        let first = postcard::to_allocvec(&original).unwrap();
        let cached = original.encoded().as_ptr();
        assert_eq!(postcard::to_allocvec(&original).unwrap(), first);
        assert_eq!(original.encoded().as_ptr(), cached, "the encoding was made again");

        let frame = Bytes::from(first);
        let decoded: Request =
            flotilla_storage::shared_bytes::decode_sharing(&frame, |bytes| postcard::from_bytes(bytes).unwrap());
        assert_eq!(decoded, original);
        assert!(inside(&frame, decoded.encoded()), "the received encoding was copied");
        let Op::Command { args, .. } = &decoded.entry().ops[0] else { panic!("a command") };
        assert!(args.iter().all(|arg| inside(&frame, arg)), "an argument was copied");
        // Re-encoding the decoded request gives the bytes it arrived as.
        assert_eq!(postcard::to_allocvec(&decoded).unwrap(), frame.to_vec());
    }
}
