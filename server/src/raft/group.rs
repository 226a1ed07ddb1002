//! One Raft group as the node uses it: the openraft handle, the shard's state, and the
//! proposer that turns many clients' commands into few log entries.
//!
//! The proposer takes every proposal queued since its last turn (up to `BATCH_OPS_MAX` ops),
//! stamps the batch with the leader's clock and hands it to openraft as one entry; it does
//! not wait for the commit before building the next batch, so several entries are in flight
//! while the disk and the followers catch up; only while this node's own fsync runs does it
//! hold them (an entry appended then would wait for the next fsync anyway), so that they
//! become one entry. With followers and many ops outstanding it also holds them while an
//! entry it proposed awaits its commit, unless enough ops to fill an entry are waiting
//! (`HOLD_OUTSTANDING_OPS`, `GATHER_OPS`). Entries are handed over in queue order, so a
//! connection's pipelined writes are applied in the order it sent them.
//!
//! Reads are coalesced the same way: a reader queues for the next read barrier, and the
//! barrier task runs one barrier for every reader queued when it starts.

use flotilla_protocol::Reply;
use flotilla_storage::{Entry, Op};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::ClientWriteError;
use openraft::alias::InstantOf;
use openraft::impls::ProgressResponder;
use openraft::Instant;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::log::SyncGate;
use super::machine::MachineStore;
use super::network::CommitsSent;
use super::{NodeId, Raft, Request, TypeConfig};
use crate::clock::Clock;

/// Most times the proposer yields to let more proposals arrive before it builds an entry.
const YIELDS_MAX: usize = 4;

/// Most ops in one entry.
pub const BATCH_OPS_MAX: usize = 4096;

/// Ops that make an entry worth proposing while an earlier one awaits its commit. With
/// followers, fewer are held until that commit (or until this many have gathered), so that
/// they share one entry: each entry costs a leader and its followers an append, an fsync and
/// an RPC, ~75 µs of CPU over 3 nodes here. At 50 clients -P 1 an entry held ~10 ops without
/// the hold and ~30 with it, and 3 nodes spent 17% less CPU per SET (29.6 → 24.6 µs) for ~6%
/// more SET/s (40.9k → 44.6k; medians of 4 alternating runs of
/// `bench/harness/cpu_per_request.sh BIN set 200000 1`).
/// Entries of more ops go out at once: at -P 16 (~370 ops an entry) holding every entry
/// until the previous commit cost 2-7% of the SET/s. A node alone does not hold (its commit
/// is its own fsync, which `SyncGate` already waits out; holding cost it 17% of its SET/s
/// at -P 1).
const GATHER_OPS: usize = 64;

/// Ops outstanding (in entries not yet committed, and queued) from which the proposer holds
/// at all. Below, the clients are few and mostly waiting for their replies: holding only
/// delays them, and the CPU has time to spare anyway. Held whatever the load, 3 nodes served
/// 8 clients at -P 1 10.3-11.2k SET/s (p50 0.70-0.74 ms) against 12.9-13.4k (0.55-0.56 ms)
/// without the hold; with this floor, 13.9-14.4k (0.51-0.53 ms), and at 32 clients
/// 37.0-37.6k against 33.2-35.2k without the hold (2 alternating rounds of
/// `CLIENTS=N bench/harness/cpu_per_request.sh BIN set 40000 1`).
const HOLD_OUTSTANDING_OPS: usize = 32;

/// Most entries in flight (proposed, not yet committed) beyond which even a full entry waits.
const COMMIT_WINDOW: usize = 8;

/// Longest the proposer holds proposals for an uncommitted entry. The hold costs latency
/// where a commit takes long (a distant follower, a slow disk: the held entry could have been
/// on its way), so it is short: tokio's timer ends it at its next millisecond tick. Deadlines
/// of 250 and 500 µs (rounded up the same way) gathered as much as an unbounded hold at -P 1
/// here (44.0-46.0k SET/s and 24.5-25.7 µs per SET against 39.2-46.5k and 23.5-28.3 µs),
/// where a commit takes about a millisecond.
const HOLD_MAX: Duration = Duration::from_micros(250);

/// Longest the clients of an entry this leader proposed wait for a majority to hold it before
/// they are told its outcome is unknown (below the forwarding timeout, so that a write a
/// follower forwarded gets this answer rather than the transport's).
const COMMIT_WAIT_MS: u64 = 8_000;

/// Longest a read on the lease fast path waits for this node to apply its commit index before
/// it takes the slow path instead (an apply normally ends within milliseconds).
const LEASE_APPLY_WAIT_MS: u64 = 1000;

/// Why a proposal produced no replies (also the answer of a forwarded one, on the wire).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ProposeError {
    /// This node does not lead the group (the known leader, if any): nothing was executed.
    NotLeader(Option<NodeId>),
    /// The entry may or may not have been committed (leader lost mid-flight).
    Uncertain(String),
}

/// A reader waiting for the next read barrier.
type BarrierWaiter = oneshot::Sender<Result<(), ProposeError>>;

/// One reply per op, and the log index of the entry that carried them.
pub type Applied = (Vec<Reply>, u64);

/// A proposal this node made, applied: its replies, the entry's log index, and the entry that
/// carried its ops (from `first_op` on), so the caller can still read the ops it handed over
/// without having kept a copy of them.
pub struct Proposed {
    pub replies: Vec<Reply>,
    pub index: u64,
    pub entry: Request,
    pub first_op: usize,
}

/// A proposal that produced no replies: why, and, when nothing ran (`NotLeader`), its ops
/// handed back so the caller can retry without having kept a copy (empty otherwise).
#[derive(Debug)]
pub struct Refused {
    pub why: ProposeError,
    pub ops: Vec<Op>,
}

impl Refused {
    fn not_leader(leader: Option<NodeId>, ops: Vec<Op>) -> Refused {
        Refused { why: ProposeError::NotLeader(leader), ops }
    }

    fn uncertain(why: String) -> Refused {
        Refused { why: ProposeError::Uncertain(why), ops: Vec::new() }
    }
}

struct Proposal {
    ops: Vec<Op>,
    reply: oneshot::Sender<Result<Proposed, Refused>>,
}

/// The ops sent to the proposer and not yet taken by it, and a signal for when they reach
/// `GATHER_OPS` (what ends the proposer's hold, see `run_proposer`).
#[derive(Default)]
struct QueuedOps {
    count: std::sync::atomic::AtomicUsize,
    gathered: tokio::sync::Notify,
}

impl QueuedOps {
    fn add(&self, ops: usize) {
        let before = self.count.fetch_add(ops, std::sync::atomic::Ordering::Relaxed);
        if before < GATHER_OPS && before + ops >= GATHER_OPS {
            self.gathered.notify_one();
        }
    }

    fn take(&self, ops: usize) {
        self.count.fetch_sub(ops, std::sync::atomic::Ordering::Relaxed);
    }

    fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What this node's proposer has handed to openraft since it started (INFO flotilla_raft's
/// `proposed_entries` and `proposed_ops`: their ratio is how well writes are batched).
#[derive(Default)]
pub struct ProposedCounts {
    pub entries: std::sync::atomic::AtomicU64,
    pub ops: std::sync::atomic::AtomicU64,
}

pub struct Group {
    pub raft: Raft,
    pub proposed: Arc<ProposedCounts>,
    pub store: MachineStore,
    commits_sent: Arc<CommitsSent>,
    proposals: mpsc::UnboundedSender<Proposal>,
    queued_ops: Arc<QueuedOps>,
    barrier_waiters: mpsc::UnboundedSender<BarrierWaiter>,
    /// Set for good once this node, stopping, hands its leadership over (`hand_over`): the
    /// lease no longer proves anything (the new leader is elected inside it), so the read fast
    /// path is closed. openraft's own reads refuse once its core has the transfer.
    handing_over: std::sync::atomic::AtomicBool,
}

impl Group {
    pub fn new(
        raft: Raft,
        store: MachineStore,
        clock: Arc<Clock>,
        sync_gate: Arc<SyncGate>,
        commits_sent: Arc<CommitsSent>,
    ) -> Arc<Group> {
        let (proposals, queue) = mpsc::unbounded_channel();
        let queued_ops = Arc::new(QueuedOps::default());
        let proposed = Arc::new(ProposedCounts::default());
        tokio::spawn(run_proposer(raft.clone(), clock, queue, queued_ops.clone(), proposed.clone(), sync_gate));
        let (barrier_waiters, waiting) = mpsc::unbounded_channel();
        tokio::spawn(run_read_barriers(raft.clone(), waiting));
        Arc::new(Group {
            raft,
            proposed,
            store,
            commits_sent,
            proposals,
            queued_ops,
            barrier_waiters,
            handing_over: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Proposes `ops` as (part of) one entry; resolves with one reply per op once applied.
    pub async fn propose(&self, ops: Vec<Op>) -> Result<Vec<Reply>, ProposeError> {
        self.propose_indexed(ops).await.map(|(replies, _)| replies)
    }

    /// As `propose`, also giving the entry's log index (what WAIT waits for).
    pub async fn propose_indexed(&self, ops: Vec<Op>) -> Result<Applied, ProposeError> {
        self.propose_or_refuse(ops)
            .await
            .map(|proposed| (proposed.replies, proposed.index))
            .map_err(|refused| refused.why)
    }

    /// As `propose_indexed`, handing the ops back when this node could not propose them.
    pub async fn propose_or_refuse(&self, ops: Vec<Op>) -> Result<Proposed, Refused> {
        let (reply, receiver) = oneshot::channel();
        let count = ops.len();
        self.queued_ops.add(count);
        if let Err(refused) = self.proposals.send(Proposal { ops, reply }) {
            self.queued_ops.take(count);
            return Err(Refused::not_leader(None, refused.0.ops));
        }
        receiver
            .await
            .unwrap_or_else(|_| Err(Refused::uncertain("proposal dropped".into())))
    }

    /// Hands this node's leadership to the follower furthest along, for a clean stop: that
    /// follower campaigns at once (the others stop holding the lease for this node), so the
    /// group has a leader again within a round trip and an fsync or two instead of a failover's
    /// ~1.2 s of silence. Meanwhile openraft refuses new writes here (they are forwarded to the
    /// new leader once it is known). Waits up to `wait` for another node to lead; the node it
    /// named, or None if this node did not lead, leads alone, or no other node took over in time
    /// (then the followers elect one when the lease lapses, as after a crash).
    pub async fn hand_over(&self, wait: Duration) -> Option<NodeId> {
        let (me, target) = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow_watched();
            if !metrics.state.is_leader() || only_voter(&metrics) {
                return None;
            }
            let me = metrics.id;
            let matched = |id: &NodeId| {
                let replication = metrics.replication.as_ref()?;
                replication.get(id)?.as_ref().map(|log_id| log_id.index())
            };
            let voters = metrics.membership_config.membership().voter_ids().filter(|&id| id != me);
            (me, voters.max_by_key(|id| matched(id))?)
        };
        // Before the transfer leaves: no read may lean on the lease from here on.
        self.handing_over.store(true, std::sync::atomic::Ordering::SeqCst);
        self.raft.trigger().transfer_leader(target).await.ok()?;
        self.raft
            .wait(Some(wait))
            .metrics(|m| m.current_leader.is_some_and(|leader| leader != me), "leadership handed over")
            .await
            .ok()
            .map(|_| target)
    }

    /// The leader this node knows of, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// Waits until a read at this point is linearizable: this node leads (holds a valid lease
    /// or confirmed leadership with a quorum) and has applied everything committed before the
    /// call. Concurrent callers share barriers (see `run_read_barriers`).
    pub async fn read_barrier(&self) -> Result<(), ProposeError> {
        if let Some(committed) = self.lease_covers_read() {
            // Applied already unless an apply is under way (writes), which this waits out.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(LEASE_APPLY_WAIT_MS);
            if self.applied_at_least(committed, deadline).await {
                return Ok(());
            }
        }
        let (waiter, outcome) = oneshot::channel();
        if self.barrier_waiters.send(waiter).is_err() {
            return Err(ProposeError::NotLeader(self.leader()));
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(ProposeError::NotLeader(self.leader())))
    }

    /// The read index a follower asks the leader for (`kind::READ_INDEX`): confirms that this
    /// node leads (leader lease, else a read-index heartbeat round, as `linearize`) and returns
    /// the Raft log index a follower must have applied before it serves a read that arrived
    /// before this call. It does not wait for this node's own state machine.
    ///
    /// The index is openraft's read log id (the larger of the commit index when the core
    /// handled the request and this leader's blank entry), not this node's applied index. The
    /// applied index is not enough: apply runs behind commit, and an entry committed but not
    /// yet applied here may already be applied on another follower and seen by a read there;
    /// a read that begins after that one completes must see it too, so it must wait for the
    /// commit index, which covers everything any replica can have applied. (After a full
    /// `ensure_linearizable` the applied index would be at least the read index and so also
    /// correct, but that waits for this node's apply for nothing.)
    pub async fn read_index(&self) -> Result<u64, ProposeError> {
        use openraft::raft::ReadPolicy;
        let linearizer = match self.raft.get_read_linearizer(ReadPolicy::LeaseRead).await {
            Ok(linearizer) => linearizer,
            Err(_) => self
                .raft
                .get_read_linearizer(ReadPolicy::ReadIndex)
                .await
                .map_err(|_| ProposeError::NotLeader(self.leader()))?,
        };
        Ok(linearizer.read_log_id().index())
    }

    /// Waits (until `deadline`) for this node's state machine to have applied the entry at Raft
    /// log index `index`; false when the deadline passed first or the group stopped.
    pub async fn applied_at_least(&self, index: u64, deadline: tokio::time::Instant) -> bool {
        let applied = |metrics: &openraft::RaftMetrics<TypeConfig>| {
            metrics.last_applied.as_ref().is_some_and(|applied| applied.index() >= index)
        };
        if applied(&self.raft.metrics().borrow_watched()) {
            return true;
        }
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.raft
            .wait(Some(wait))
            .applied_index_at_least(Some(index), "follower read")
            .await
            .is_ok()
    }

    /// The read fast path: from openraft's published metrics alone, whether a read of the local
    /// state is linearizable once it has applied the index returned (the commit index the
    /// metrics show; None: take the slow path). All three must hold:
    /// - this node leads (its metrics say so, for term T);
    /// - its state machine has applied an entry of its own leadership (T, this node), hence the
    ///   blank entry a new leader appends first, hence every entry an earlier leader committed
    ///   (and so every write an earlier leader acknowledged);
    /// - openraft's leader lease holds: a quorum acknowledged an RPC this leader sent at
    ///   `last_quorum_acked`, and `now < last_quorum_acked + lease`, the very test openraft's
    ///   LeaseRead makes (lease = election_timeout_max, as openraft sets it). Those followers
    ///   refuse to vote until a lease after they received it, and every quorum contains one,
    ///   so no later leader exists yet; or this node is the only voter.
    ///
    /// Then every write acknowledged before this read was acknowledged by this leader after
    /// being applied here, or by an earlier leader and is applied here: the local state holds
    /// it. Metrics may lag the core, but only towards failing the test: an older ack time or
    /// applied id only shrinks the window, and a leader that stepped down while its metrics
    /// still said "leader" is covered by the lease (a successor needs those followers' votes).
    /// Leadership is transferred only by a node that is stopping (`hand_over`), which lets the
    /// followers vote inside the lease; that node closes this path first.
    ///
    /// Acknowledged writes are not all: followers serve reads too (`Node::read_many`), and a
    /// follower may apply a committed entry, and show it to a read, before this node applies
    /// it; a read here that starts after that one ended must show it as well. So the read also
    /// waits until this node has applied the highest commit index it has sent to any follower
    /// (`CommitsSent`, recorded before each AppendEntries or heartbeat leaves), or the one its
    /// metrics show if higher. A follower applies only up to a commit index it was sent, so this
    /// covers everything a follower can have shown. (The metrics alone did not: the core
    /// publishes them when it ends its turn of messages, possibly after that turn sent the new
    /// commit to the followers.)
    fn lease_covers_read(&self) -> Option<u64> {
        if self.handing_over.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let me = metrics.id;
        if !metrics.state.is_leader() || metrics.current_leader != Some(me) {
            return None;
        }
        let applied_own_entry = metrics.last_applied.as_ref().is_some_and(|applied| {
            let by = applied.committed_leader_id();
            by.term == metrics.current_term && by.node_id == me
        });
        if !applied_own_entry {
            return None;
        }
        let committed = metrics
            .local_committed
            .as_ref()
            .map(|committed| committed.index())
            .max(self.commits_sent.highest())
            .unwrap_or(0);
        if only_voter(&metrics) {
            // With no other node there is no follower read to keep up with.
            let alone = metrics.membership_config.nodes().count() == 1;
            let applied = metrics.last_applied.as_ref().map_or(0, |applied| applied.index());
            return Some(if alone { applied } else { committed });
        }
        let lease = Duration::from_millis(self.raft.config().election_timeout_max);
        quorum_acked_within(&metrics, lease).then_some(committed)
    }
}

/// Whether a leader still hears a quorum: one answered an RPC it sent within twice its lease
/// (`ELECTION_TIMEOUT_MS_MAX`), or it is the only voter. A leader cut off from the majority
/// keeps its role until it hears of a newer term, which it cannot while cut off (a one-way cut
/// lasts as long as the cut); this tells it apart from a leader that serves, for CLUSTER INFO.
/// Twice the lease, not once: fourteen missed heartbeats, which a loaded machine does not miss
/// by accident, so a serving leader's state does not flicker.
pub fn hears_quorum(metrics: &openraft::RaftMetrics<TypeConfig>, lease: Duration) -> bool {
    only_voter(metrics) || quorum_acked_within(metrics, 2 * lease)
}

/// Whether a quorum answered an RPC this leader sent less than `span` ago.
fn quorum_acked_within(metrics: &openraft::RaftMetrics<TypeConfig>, span: Duration) -> bool {
    metrics
        .last_quorum_acked
        .as_ref()
        .is_some_and(|acked| InstantOf::<TypeConfig>::now() < **acked + span)
}

/// Whether this node is the only voter of every configuration in `metrics` (not through
/// `voter_ids()`, which builds a set per call: 1.5% of a single node's CPU at GET -P 1, where
/// the read fast path asks this for every read).
pub fn only_voter(metrics: &openraft::RaftMetrics<TypeConfig>) -> bool {
    let me = metrics.id;
    metrics
        .membership_config
        .get_joint_config()
        .iter()
        .all(|voters| voters.len() == 1 && voters.contains(&me))
}

/// Runs read barriers one at a time, each on behalf of every reader queued before it started.
///
/// A reader never joins a barrier already in flight: that barrier fixed its read index (the
/// commit index when openraft handled it) possibly before the reader arrived, and a write
/// acknowledged in between would then be missing from the reader's result although it
/// completed before the read began. Readers arriving during a barrier stay in the queue and
/// are served by the next one, which starts after they arrived, so its read index covers every
/// write acknowledged before them. Sharing is what makes this cheap: one trip into the Raft
/// core (and, when the lease has lapsed, one heartbeat round) per batch, not per read.
async fn run_read_barriers(raft: Raft, queue: mpsc::UnboundedReceiver<BarrierWaiter>) {
    serve_in_rounds(queue, move || {
        let raft = raft.clone();
        async move { linearize(&raft).await }
    })
    .await
}

/// Runs `round` one at a time, each time on behalf of every waiter queued before that round
/// started, and answers them all with its outcome. A waiter that arrives while a round is in
/// flight is not answered by it but by the next one (see `run_read_barriers` for why a read
/// must never join a round that began before it: the round may have fixed its read index
/// already). Used by the leader's read barriers and by a follower's read-index requests.
pub async fn serve_in_rounds<T, F, Fut>(mut queue: mpsc::UnboundedReceiver<oneshot::Sender<T>>, mut round: F)
where
    T: Clone,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    while let Some(first) = queue.recv().await {
        let mut waiters = vec![first];
        while let Ok(waiter) = queue.try_recv() {
            waiters.push(waiter);
        }
        let outcome = round().await;
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

/// One read barrier: the leader lease when it holds, else a ReadIndex heartbeat round; either
/// way openraft also waits for the state machine to apply up to the read index.
async fn linearize(raft: &Raft) -> Result<(), ProposeError> {
    use openraft::raft::ReadPolicy;
    if raft.ensure_linearizable(ReadPolicy::LeaseRead).await.is_ok()
        || raft.ensure_linearizable(ReadPolicy::ReadIndex).await.is_ok()
    {
        return Ok(());
    }
    Err(ProposeError::NotLeader(
        raft.metrics().borrow_watched().current_leader,
    ))
}

/// The entries a proposer has handed to openraft that are not committed yet (nor failed), and
/// the ops they carry.
#[derive(Clone, Copy, Default)]
struct Uncommitted {
    entries: usize,
    ops: usize,
}

/// Counts an entry (with its ops) out of the proposer's uncommitted ones when dropped: at its
/// commit, or on whichever path ends it otherwise.
struct Settled {
    uncommitted: Arc<tokio::sync::watch::Sender<Uncommitted>>,
    ops: usize,
}

impl Settled {
    fn new(uncommitted: &Arc<tokio::sync::watch::Sender<Uncommitted>>, ops: usize) -> Settled {
        uncommitted.send_modify(|count| {
            count.entries += 1;
            count.ops += ops;
        });
        Settled { uncommitted: uncommitted.clone(), ops }
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        self.uncommitted.send_modify(|count| {
            count.entries -= 1;
            count.ops -= self.ops;
        });
    }
}

async fn run_proposer(
    raft: Raft,
    clock: Arc<Clock>,
    mut queue: mpsc::UnboundedReceiver<Proposal>,
    queued_ops: Arc<QueuedOps>,
    proposed: Arc<ProposedCounts>,
    sync_gate: Arc<SyncGate>,
) {
    // Entries proposed and not yet committed (or failed), and their ops.
    let (uncommitted, mut commits) = tokio::sync::watch::channel(Uncommitted::default());
    let uncommitted = Arc::new(uncommitted);
    while let Some(first) = queue.recv().await {
        queued_ops.take(first.ops.len());
        // With followers and many ops outstanding, let a few proposals gather in the queue
        // while an earlier entry awaits its commit (they stay queued: holding them costs no
        // wake-up per proposal).
        let outstanding = commits.borrow_and_update().ops + first.ops.len() + queued_ops.count();
        if outstanding >= HOLD_OUTSTANDING_OPS && !only_voter(&raft.metrics().borrow_watched()) {
            let hold_until = tokio::time::Instant::now() + HOLD_MAX;
            loop {
                let in_flight = commits.borrow_and_update().entries;
                let enough = first.ops.len() + queued_ops.count() >= GATHER_OPS;
                if in_flight == 0 || (enough && in_flight < COMMIT_WINDOW) {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(hold_until) => break,
                    changed = commits.changed() => if changed.is_err() { break },
                    _ = queued_ops.gathered.notified(), if !enough => {}
                }
            }
        }
        // While this node's fsync runs, an entry appended now waits for the next one anyway:
        // hold the proposals until it ends and make them one entry, not one per wake-up (at
        // 50 clients -P 1 an entry held ~6 ops and openraft's work per entry dominated; held,
        // a single node spent ~5% less CPU per SET for ~3% more SET/s, a cluster 5% less CPU
        // at -P 1 and the same at -P 16). The fsync thread wakes the proposer before it
        // reports the sync to openraft, so the held entry is appended before the replies go.
        sync_gate.idle().await;
        // Let the connections that are ready to run queue their proposals first, so they
        // share this entry instead of each making its own.
        // Keep yielding while more keep arriving (at most a few times).
        let mut queued = queue.len();
        for _ in 0..YIELDS_MAX {
            tokio::task::yield_now().await;
            let now_queued = queue.len();
            if now_queued == queued {
                break;
            }
            queued = now_queued;
        }
        let mut batch = vec![first];
        let mut op_count = batch[0].ops.len();
        while op_count < BATCH_OPS_MAX {
            match queue.try_recv() {
                Ok(proposal) => {
                    queued_ops.take(proposal.ops.len());
                    op_count += proposal.ops.len();
                    batch.push(proposal);
                }
                Err(_) => break,
            }
        }
        if !raft.is_leader() {
            let leader = raft.metrics().borrow_watched().current_leader;
            for proposal in batch {
                let _ = proposal.reply.send(Err(Refused::not_leader(leader, proposal.ops)));
            }
            continue;
        }
        // About one op per proposal: clients that each wait for their reply (see
        // `Syncer::after_write`).
        sync_gate.set_shallow(op_count < 2 * batch.len());
        let mut ops = Vec::with_capacity(op_count);
        let mut shares = Vec::with_capacity(batch.len());
        for proposal in batch {
            shares.push((proposal.ops.len(), proposal.reply));
            ops.extend(proposal.ops);
        }
        let request = Request::new(Entry {
            time_ms: clock.now_ms(),
            ops,
        });
        let (responder, committed, completion) = ProgressResponder::new();
        let settled = Settled::new(&uncommitted, op_count);
        if let Err(fatal) = raft.write(request.clone()).responder(responder).await {
            let why = format!("raft stopped: {fatal}");
            for (_, reply) in shares {
                let _ = reply.send(Err(Refused::uncertain(why.clone())));
            }
            continue;
        }
        proposed.entries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        proposed.ops.fetch_add(op_count as u64, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            // Only the commit is timed: once a majority holds the entry, its apply (a long
            // script, say) takes what it takes. The commit sender is dropped unsent when the
            // entry ends otherwise (refused, leadership lost), and then the completion tells.
            let committed_in_time = tokio::time::timeout(Duration::from_millis(COMMIT_WAIT_MS), committed).await.is_ok();
            drop(settled);
            if !committed_in_time {
                let why = format!("no majority held it within {COMMIT_WAIT_MS} ms; it may still commit");
                for (_, reply) in shares {
                    let _ = reply.send(Err(Refused::uncertain(why.clone())));
                }
                return;
            }
            let outcome = match completion.await {
                Ok(Ok(response)) => Ok((response.data.0, response.log_id.index())),
                Ok(Err(ClientWriteError::ForwardToLeader(forward))) => {
                    Err(ProposeError::NotLeader(forward.leader_id))
                }
                Ok(Err(error)) => Err(ProposeError::Uncertain(error.to_string())),
                Err(_) => Err(ProposeError::Uncertain(
                    "leader changed before the entry was applied".into(),
                )),
            };
            match outcome {
                Ok((replies, index)) => {
                    let mut replies = replies.into_iter();
                    let mut first_op = 0;
                    for (count, reply) in shares {
                        let _ = reply.send(Ok(Proposed {
                            replies: replies.by_ref().take(count).collect(),
                            index,
                            entry: request.clone(),
                            first_op,
                        }));
                        first_op += count;
                    }
                }
                // Refused before it was appended (leadership lost since the check above):
                // each proposal gets a copy of its ops back, a rare path.
                Err(ProposeError::NotLeader(leader)) => {
                    let mut start = 0;
                    for (count, reply) in shares {
                        let ops = request.entry().ops[start..start + count].to_vec();
                        start += count;
                        let _ = reply.send(Err(Refused::not_leader(leader, ops)));
                    }
                }
                Err(ProposeError::Uncertain(why)) => {
                    for (_, reply) in shares {
                        let _ = reply.send(Err(Refused::uncertain(why.clone())));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Mutex;

    /// The proposer's hold ends when the queued ops reach `GATHER_OPS`: the proposal that
    /// crosses the mark signals it (once, even if nobody waits yet), smaller ones do not.
    #[tokio::test]
    async fn queued_ops_signal_when_they_reach_a_batch_worth_proposing() {
        let queued = QueuedOps::default();
        let signalled = |queued: &QueuedOps| {
            let notified = queued.gathered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable()
        };
        queued.add(GATHER_OPS - 1);
        assert_eq!(queued.count(), GATHER_OPS - 1);
        assert!(!signalled(&queued), "signalled below the mark");
        queued.add(1);
        assert!(signalled(&queued), "not signalled at the mark");
        queued.add(10);
        assert!(!signalled(&queued), "signalled again above the mark");
        queued.take(GATHER_OPS + 10);
        assert_eq!(queued.count(), 0);
        queued.add(GATHER_OPS + 5);
        assert!(signalled(&queued), "one proposal crossing the mark signals too");
    }

    /// A waiter queued while a round is in flight is answered by the next round, never by the
    /// one already running; every waiter queued before a round starts shares that round.
    #[tokio::test]
    async fn a_waiter_never_joins_a_round_that_started_before_it() {
        let (queue, waiting) = mpsc::unbounded_channel::<oneshot::Sender<u32>>();
        let (started, mut rounds_started) = mpsc::unbounded_channel::<u32>();
        let (release, released) = mpsc::unbounded_channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let mut count = 0;
        tokio::spawn(serve_in_rounds(waiting, move || {
            count += 1;
            let (round, started, released) = (count, started.clone(), released.clone());
            async move {
                started.send(round).unwrap();
                released.lock().await.recv().await;
                round
            }
        }));
        let waiter = || {
            let (sender, outcome) = oneshot::channel();
            queue.send(sender).unwrap();
            outcome
        };
        let first = waiter();
        assert_eq!(rounds_started.recv().await, Some(1));
        // Round 1 is in flight: these two arrive after it started.
        let second = waiter();
        let third = waiter();
        release.send(()).unwrap();
        assert_eq!(first.await, Ok(1));
        assert_eq!(rounds_started.recv().await, Some(2));
        release.send(()).unwrap();
        assert_eq!(second.await, Ok(2));
        assert_eq!(third.await, Ok(2), "waiters queued before a round share it");
        assert!(rounds_started.try_recv().is_err(), "a round ran with nobody waiting");
    }
}
