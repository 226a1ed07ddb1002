//! openraft's log storage over the node's shared fjall log store.
//!
//! Appends are written at once (visible to readers) and made durable by the node's syncer:
//! with `--fsync always` one fsync covers every append queued by every group since the last
//! one (group commit), and openraft learns an append is durable only after it. `everysec`
//! acknowledges at once and syncs once a second; `no` leaves syncing to the OS.

use flotilla_storage::log_store::{meta, LogStore};
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::{GroupId, TypeConfig};
use crate::config::Fsync;

fn encode<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(io::Error::other)
}

/// Encodes into a buffer of `capacity` bytes (grown if the hint was short).
fn encode_sized<T: serde::Serialize>(value: &T, capacity: usize) -> io::Result<Vec<u8>> {
    postcard::to_extend(value, Vec::with_capacity(capacity)).map_err(io::Error::other)
}

/// Estimated encoded size of a log entry: its log id and payload tag, and the client entry.
pub fn entry_len_hint(entry: &EntryOf<TypeConfig>) -> usize {
    32 + match &entry.payload {
        openraft::EntryPayload::Normal(request) => request.encoded_len_hint(),
        _ => 256,
    }
}

/// A log entry read back. Its record's checksum held (the store verifies it), so bytes that do
/// not decode were written in another format, not damaged: the error says so.
fn decode_entry(group: GroupId, index: u64, bytes: &[u8]) -> io::Result<EntryOf<TypeConfig>> {
    decode(bytes).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "log entry {index} of group {group} is intact but does not decode ({error}): it was \
                 written by a Flotilla with another entry format (it changed in stop 14, when \
                 entries became encoded once); start this version on an empty data directory"
            ),
        )
    })
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Makes appends durable, for all groups of the node.
pub struct Syncer {
    mode: Fsync,
    queue: Option<mpsc::Sender<IOFlushed<TypeConfig>>>,
    gate: Arc<SyncGate>,
    /// Whether a shallow entry's append is synced in place (see `after_write`): a node alone.
    /// Cleared for good when the node opens to peers (`Syncer::join_cluster`).
    sync_shallow_in_place: std::sync::atomic::AtomicBool,
    /// Appends handed to the fsync thread whose callbacks it has not called yet. One is
    /// synced in place only when this is 0, so openraft hears of appends in their order.
    handed: Arc<std::sync::atomic::AtomicUsize>,
    store: LogStore,
}

/// Whether the fsync thread is syncing now, and a wake-up when it finishes (`--fsync always`).
#[derive(Default)]
pub struct SyncGate {
    busy: std::sync::atomic::AtomicBool,
    done: tokio::sync::Notify,
    /// Set by the proposer for the entry it hands to openraft next: its ops came about one per
    /// proposal, from clients that each wait for their reply (`Syncer::after_write`).
    shallow: std::sync::atomic::AtomicBool,
}

impl SyncGate {
    /// Tells the syncer whether the next entry came from clients that each wait for their
    /// reply (about one op per proposal) rather than from deep pipelines.
    pub fn set_shallow(&self, shallow: bool) {
        self.shallow.store(shallow, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits until no sync is running.
    pub async fn idle(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !self.busy.load(Ordering::Acquire) {
                return;
            }
            done.await;
        }
    }
}

impl Syncer {
    /// Starts the node's syncer. `alone`: the node is the only member, so nothing else is
    /// waiting on it while it syncs (see `after_write`).
    pub fn start(store: LogStore, mode: Fsync, alone: bool) -> Arc<Syncer> {
        let gate = Arc::new(SyncGate::default());
        let handed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let queue = match mode {
            Fsync::Always => {
                let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
                let store = store.clone();
                let gate = gate.clone();
                let handed = handed.clone();
                std::thread::Builder::new()
                    .name("flotilla-fsync".into())
                    .spawn(move || {
                        while let Ok(first) = rx.recv() {
                            let mut waiting = vec![first];
                            while let Ok(more) = rx.try_recv() {
                                waiting.push(more);
                            }
                            gate.busy.store(true, std::sync::atomic::Ordering::Release);
                            let result = store.sync().map_err(io::Error::from);
                            gate.busy.store(false, std::sync::atomic::Ordering::Release);
                            gate.done.notify_waiters();
                            let reported = waiting.len();
                            for callback in waiting {
                                let outcome = match &result {
                                    Ok(()) => Ok(()),
                                    Err(error) => Err(io::Error::other(error.to_string())),
                                };
                                callback.io_completed(outcome);
                            }
                            handed.fetch_sub(reported, std::sync::atomic::Ordering::Release);
                        }
                    })
                    .expect("fsync thread");
                Some(tx)
            }
            Fsync::Everysec => {
                let store = store.clone();
                std::thread::Builder::new()
                    .name("flotilla-fsync".into())
                    .spawn(move || loop {
                        std::thread::sleep(Duration::from_secs(1));
                        if let Err(error) = store.sync() {
                            tracing::error!(%error, "periodic fsync failed");
                        }
                    })
                    .expect("fsync thread");
                None
            }
            Fsync::No => None,
        };
        let sync_shallow_in_place = std::sync::atomic::AtomicBool::new(alone);
        Arc::new(Syncer { mode, queue, gate, sync_shallow_in_place, handed, store })
    }

    /// The node is no longer alone (a member joined it): from now on every append goes to the
    /// fsync thread, as on every cluster member (see `after_write`).
    pub fn join_cluster(&self) {
        self.sync_shallow_in_place.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// The fsync thread's state, for a proposer that holds its next entry while a sync runs.
    pub fn gate(&self) -> Arc<SyncGate> {
        self.gate.clone()
    }

    /// Reports an append to openraft through `callback` once it is durable.
    ///
    /// A node alone syncs the append of a shallow entry (about one op per proposal: clients
    /// that each wait for their reply) right here, on the runtime worker, when the fsync thread
    /// has nothing outstanding: the worker is then held for the fsync, as Redis's event loop is
    /// for its AOF fsync, and the requests that arrive meanwhile are read afterwards in one
    /// round. Handed to the fsync thread, the worker instead went idle and was woken for each
    /// request as it arrived, only for it to wait for the next fsync anyway (single node, SET
    /// -P 1, 50 clients: ~30k wake-ups a second instead of ~2k; in place, 64-74k instead of
    /// 48-54k SET/s). The entries of deep pipelines still go to the thread, so the worker
    /// prepares the next batch while one is synced (in place, SET -P 16 ran ~7% slower); a
    /// cluster member always hands them over, as its worker must go on replicating meanwhile.
    fn after_write(&self, callback: IOFlushed<TypeConfig>) {
        use std::sync::atomic::Ordering;
        match (&self.queue, self.mode) {
            (Some(_), Fsync::Always)
                if self.sync_shallow_in_place.load(Ordering::Relaxed)
                    && self.gate.shallow.load(Ordering::Relaxed)
                    && self.handed.load(Ordering::Acquire) == 0 =>
            {
                let result = self.store.sync().map_err(io::Error::from);
                callback.io_completed(result);
            }
            (Some(queue), Fsync::Always) => {
                self.handed.fetch_add(1, Ordering::AcqRel);
                if let Err(mpsc::SendError(callback)) = queue.send(callback) {
                    self.handed.fetch_sub(1, Ordering::AcqRel);
                    callback.io_completed(Err(io::Error::other("fsync thread stopped")));
                }
            }
            // `everysec` and `no` still hand the append to the operating system before it
            // counts as written, as Redis writes its AOF before replying: a crash of the
            // process alone (kill -9, a panic) then loses nothing, only one of the machine.
            // Left in fjall's buffer, a follower killed so lost entries it had acknowledged.
            _ => callback.io_completed(self.store.flush_buffers().map_err(io::Error::from)),
        }
    }
}

/// Encoded bytes of the newest entries kept in a group's tail cache, at most. An entry held
/// here costs about four times its encoding in memory (the ops, their argument vectors and
/// the connection read buffers their arguments point into), five on a leader, which also keeps
/// the encoding itself (`Request`; a follower's is a slice of the frame its arguments point
/// into already), so this bounds the cache at about 64-80 MiB when a follower stops and the
/// cache cannot be released (see `release_upto`).
const TAIL_CACHE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The newest entries of a group's log, as they were appended. Replication to each follower
/// and the state machine read entries through the log reader; served from here they are
/// shared (`Request` holds its entry in an `Arc`) instead of read back from fjall and decoded
/// once per reader, which profiling showed as a large part of the leader's work.
///
/// Only entries some reader still wants are kept: once an entry is applied here and every
/// follower holds it (`run_tail_release`), it leaves the cache; fjall keeps it until a
/// snapshot purges it, and a reader that wants it later (a follower that fell behind, a new
/// leader) reads it from there.
#[derive(Default)]
struct TailCache {
    /// Consecutive indexes, oldest first, with each entry's encoded size.
    entries: VecDeque<(EntryOf<TypeConfig>, usize)>,
    bytes: usize,
}

impl TailCache {
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(entry, _)| entry.index())
    }

    fn push(&mut self, entry: EntryOf<TypeConfig>, size: usize) {
        let follows = match self.entries.back() {
            Some((last, _)) => last.index() + 1 == entry.index(),
            None => true,
        };
        if !follows {
            self.clear();
        }
        self.bytes += size;
        self.entries.push_back((entry, size));
        while self.bytes > TAIL_CACHE_BYTES_MAX && self.entries.len() > 1 {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Removes entries after `last` (all when None).
    fn truncate_after(&mut self, last: Option<u64>) {
        while let Some((entry, size)) = self.entries.back() {
            if last.is_some_and(|last| entry.index() <= last) {
                break;
            }
            self.bytes -= size;
            self.entries.pop_back();
        }
    }

    /// Removes entries up to and including `upto` (purged from the log, or released: applied
    /// and held by every follower).
    fn purge_upto(&mut self, upto: u64) {
        while self.first_index().is_some_and(|first| first <= upto) {
            self.pop_front();
        }
    }

    /// The entries in `[start, end)` if the cache holds all of them.
    fn get(&self, start: u64, end: u64) -> Option<Vec<EntryOf<TypeConfig>>> {
        let first = self.first_index()?;
        let next = first + self.entries.len() as u64;
        if start < first || end > next || start > end {
            return None;
        }
        let from = (start - first) as usize;
        let to = (end - first) as usize;
        Some(self.entries.range(from..to).map(|(entry, _)| entry.clone()).collect())
    }
}

#[derive(Clone)]
pub struct GroupLog {
    store: LogStore,
    group: GroupId,
    syncer: Arc<Syncer>,
    tail: Arc<Mutex<TailCache>>,
    /// When the committed log id was last written (see `save_committed`).
    committed_saved_at: Option<std::time::Instant>,
}

/// The committed log id is written at most this often. openraft only uses it to apply the
/// committed entries at start-up before a leader is heard from; an older one is still true
/// (commits never go back), so a crash costs only applying those entries a little later.
/// Written on every commit, it was a store insert (and a write syscall) per entry: ~1.5% of
/// a single node's CPU at 50 clients -P 1.
const COMMITTED_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

impl GroupLog {
    /// The node's syncer, which this log's appends go through.
    pub fn syncer(&self) -> &Arc<Syncer> {
        &self.syncer
    }

    pub fn new(store: LogStore, group: GroupId, syncer: Arc<Syncer>) -> Self {
        GroupLog {
            store,
            group,
            syncer,
            tail: Arc::default(),
            committed_saved_at: None,
        }
    }

    /// Drops the cached entries up to and including `upto`: no reader needs them from memory
    /// any more.
    pub fn release_upto(&self, upto: u64) {
        self.tail.lock().purge_upto(upto);
    }

    /// Encoded bytes of the entries in the tail cache.
    pub fn tail_cache_bytes(&self) -> usize {
        self.tail.lock().bytes
    }

    fn purged(&self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        match self.store.get_meta(self.group, meta::PURGED, b"")? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for GroupLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&index) => index,
            Bound::Excluded(&index) => index + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&index) => Some(index + 1),
            Bound::Excluded(&index) => Some(index),
            Bound::Unbounded => None,
        };
        if let Some(end) = end {
            if let Some(entries) = self.tail.lock().get(start, end) {
                return Ok(entries);
            }
        }
        let group = self.group;
        self.store
            .entries(group, range)?
            .iter()
            .map(|(index, bytes)| decode_entry(group, *index, bytes))
            .collect()
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        let vote: Option<VoteOf<TypeConfig>> = match self.store.get_meta(self.group, meta::VOTE, b"")? {
            Some(bytes) => Some(decode(&bytes)?),
            None => None,
        };
        // A vote older than one made durable earlier was lost (a journal cut at a damaged
        // byte): acting on it could grant a second vote in a term already voted in.
        if let Some(durable) = self.store.durable_vote_term(self.group) {
            let stored = vote.as_ref().map(|vote| vote.leader_id().term);
            if stored.is_none_or(|term| term < durable) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "log store is corrupt: group {} voted in term {durable}, but its stored vote is {}",
                        self.group,
                        stored.map_or("missing".to_string(), |term| format!("of term {term}")),
                    ),
                ));
            }
        }
        Ok(vote)
    }
}

impl RaftLogStorage<TypeConfig> for GroupLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let purged = self.purged()?;
        let last = match self.store.last(self.group)? {
            Some((index, bytes)) => Some(decode_entry(self.group, index, &bytes)?.log_id()),
            None => purged,
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        self.store.put_meta(self.group, meta::VOTE, b"", &encode(vote)?)?;
        // A vote must be durable before it is acted on, whatever the fsync mode.
        self.store.sync()?;
        self.store.record_vote_term(self.group, vote.leader_id().term)?;
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        let now = crate::clock::instant();
        if self.committed_saved_at.is_some_and(|at| now.duration_since(at) < COMMITTED_SAVE_INTERVAL) {
            return Ok(());
        }
        self.committed_saved_at = Some(now);
        self.store
            .put_meta(self.group, meta::COMMITTED, b"", &encode(&committed)?)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        match self.store.get_meta(self.group, meta::COMMITTED, b"")? {
            Some(bytes) => decode(&bytes),
            None => Ok(None),
        }
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + Send,
    {
        let mut records = Vec::new();
        let mut appended = Vec::new();
        for entry in entries {
            let bytes = encode_sized(&entry, entry_len_hint(&entry))?;
            appended.push((entry, bytes.len()));
            records.push((appended.last().expect("pushed").0.index(), bytes));
        }
        self.store.append(self.group, &records)?;
        let mut tail = self.tail.lock();
        for (entry, size) in appended {
            tail.push(entry, size);
        }
        drop(tail);
        self.syncer.after_write(callback);
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        let last = last_log_id.map(|id| id.index());
        self.tail.lock().truncate_after(last);
        self.store.truncate_after(self.group, last)?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        self.store
            .put_meta(self.group, meta::PURGED, b"", &encode(&log_id)?)?;
        self.tail.lock().purge_upto(log_id.index());
        self.store.purge_upto(self.group, log_id.index())?;
        Ok(())
    }
}

/// The newest log index whose entry no reader needs from the tail cache: applied here and, on
/// a leader, held by every node it replicates to (None: keep them all).
fn released_upto(metrics: &openraft::metrics::RaftDataMetrics<TypeConfig>) -> Option<u64> {
    let applied = metrics.last_applied.as_ref()?.index();
    let mut upto = applied;
    if let Some(replication) = &metrics.replication {
        for matched in replication.values() {
            upto = upto.min(matched.as_ref()?.index());
        }
    }
    Some(upto)
}

/// Releases the group's cached entries as they are applied and replicated, so that the cache
/// holds only entries in flight instead of the newest `TAIL_CACHE_BYTES_MAX` of the log
/// (which, after a bulk load, was most of the memory beside the keyspace).
pub fn run_tail_release(raft: super::Raft, log: GroupLog) {
    use openraft::async_runtime::WatchReceiver;
    tokio::spawn(async move {
        let mut metrics = raft.data_metrics();
        loop {
            let upto = released_upto(&metrics.borrow_and_update());
            if let Some(upto) = upto {
                log.release_upto(upto);
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::alias::LeaderIdOf;
    use openraft::vote::RaftLeaderIdExt;

    fn blank(index: u64) -> EntryOf<TypeConfig> {
        let leader = <LeaderIdOf<TypeConfig> as RaftLeaderIdExt>::new_committed(1, 1);
        EntryOf::<TypeConfig>::new_blank(openraft::LogId::new(leader, index))
    }

    /// A fresh store in a temp directory named after `name`, and group 1's log over it.
    fn open_group_log(name: &str) -> (std::path::PathBuf, LogStore, GroupLog) {
        let dir = std::env::temp_dir().join(format!("flotilla-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = LogStore::open(&dir).unwrap();
        let syncer = Syncer::start(store.clone(), Fsync::No, true);
        let log = GroupLog::new(store.clone(), 1, syncer);
        (dir, store, log)
    }

    fn indexes(entries: Option<Vec<EntryOf<TypeConfig>>>) -> Option<Vec<u64>> {
        entries.map(|entries| entries.iter().map(|entry| entry.index()).collect())
    }

    /// The proposer's hold: `idle` returns at once when no sync runs, and otherwise only when
    /// the running sync ends.
    #[tokio::test]
    async fn sync_gate_idle_waits_for_the_running_sync() {
        use std::sync::atomic::Ordering;
        let gate = Arc::new(SyncGate::default());
        gate.idle().await;
        gate.busy.store(true, Ordering::Release);
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.idle().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "returned while a sync was running");
        gate.busy.store(false, Ordering::Release);
        gate.done.notify_waiters();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken").expect("no panic");
    }

    /// An intact record in another entry format is reported as such at start-up (openraft
    /// reads the log state first), not as a bare decode error.
    #[tokio::test]
    async fn an_entry_in_another_format_is_named_at_start() {
        let (dir, store, mut log) = open_group_log("entry-format");
        // A blank entry's encoding cut short: checksummed by the store, yet undecodable.
        let mut bytes = encode(&blank(3)).unwrap();
        bytes.truncate(bytes.len() - 1);
        store.append(1, &[(3, bytes)]).unwrap();
        let error = log.get_log_state().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("log entry 3 of group 1 is intact but does not decode"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_vote_older_than_the_durable_mark_is_refused() {
        let (dir, store, mut log) = open_group_log("vote-mark");
        assert_eq!(log.read_vote().await.unwrap(), None);
        let vote = VoteOf::<TypeConfig>::new(5, 2);
        log.save_vote(&vote).await.unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        assert_eq!(store.durable_vote_term(1), Some(5));
        // The record of term 5 lost, an older one left (what a journal cut can do).
        let older = VoteOf::<TypeConfig>::new(3, 1);
        store.put_meta(1, meta::VOTE, b"", &encode(&older).unwrap()).unwrap();
        let error = log.read_vote().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("voted in term 5"), "{error}");
        // A later vote is fine again.
        let newer = VoteOf::<TypeConfig>::new(6, 3);
        log.save_vote(&newer).await.unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(newer));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tail_cache_serves_only_ranges_it_holds_whole() {
        let mut tail = TailCache::default();
        for index in 5..10 {
            tail.push(blank(index), 10);
        }
        assert_eq!(indexes(tail.get(5, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(indexes(tail.get(7, 8)), Some(vec![7]));
        assert_eq!(indexes(tail.get(8, 8)), Some(vec![]));
        assert_eq!(indexes(tail.get(4, 8)), None, "starts before the cache");
        assert_eq!(indexes(tail.get(6, 11)), None, "ends after the cache");
    }

    #[test]
    fn tail_cache_follows_truncation_purge_and_gaps() {
        let mut tail = TailCache::default();
        for index in 1..=6 {
            tail.push(blank(index), 10);
        }
        tail.truncate_after(Some(4));
        assert_eq!(indexes(tail.get(1, 5)), Some(vec![1, 2, 3, 4]));
        assert_eq!(indexes(tail.get(1, 6)), None);
        assert_eq!(tail.bytes, 40);
        tail.purge_upto(2);
        assert_eq!(indexes(tail.get(3, 5)), Some(vec![3, 4]));
        assert_eq!(indexes(tail.get(2, 5)), None);
        // An entry that does not follow the last one (a snapshot moved the log) starts over.
        tail.push(blank(100), 10);
        assert_eq!(indexes(tail.get(100, 101)), Some(vec![100]));
        assert_eq!(indexes(tail.get(3, 5)), None);
        assert_eq!(tail.bytes, 10);
        tail.truncate_after(None);
        assert_eq!(tail.first_index(), None);
        assert_eq!(tail.bytes, 0);
    }

    #[test]
    fn entries_are_released_once_applied_and_held_by_every_follower() {
        use openraft::metrics::RaftDataMetrics;
        use std::collections::BTreeMap;
        let log_id = |index| blank(index).log_id();
        let mut metrics = RaftDataMetrics::<TypeConfig>::default();
        assert_eq!(released_upto(&metrics), None, "nothing applied");
        metrics.last_applied = Some(log_id(9));
        assert_eq!(released_upto(&metrics), Some(9), "not a leader: applied is enough");
        metrics.replication = Some(BTreeMap::from([(1, Some(log_id(12))), (2, Some(log_id(7)))]));
        assert_eq!(released_upto(&metrics), Some(7), "the slowest follower holds 7");
        metrics.replication = Some(BTreeMap::from([(1, Some(log_id(12))), (2, Some(log_id(11)))]));
        assert_eq!(released_upto(&metrics), Some(9), "applied trails the followers");
        metrics.replication = Some(BTreeMap::from([(1, Some(log_id(12))), (2, None)]));
        assert_eq!(released_upto(&metrics), None, "a follower holds nothing yet");
    }

    #[tokio::test]
    async fn released_entries_leave_the_cache_and_are_read_from_the_store() {
        let dir = std::env::temp_dir().join(format!("flotilla-tail-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = LogStore::open(&dir).unwrap();
        let syncer = Syncer::start(store.clone(), Fsync::No, true);
        let mut log = GroupLog::new(store, 1, syncer);
        log.append((0..6).map(blank), IOFlushed::noop()).await.unwrap();
        assert!(log.tail_cache_bytes() > 0);
        assert_eq!(indexes(log.tail.lock().get(0, 6)), Some(vec![0, 1, 2, 3, 4, 5]));
        log.release_upto(3);
        assert_eq!(log.tail.lock().first_index(), Some(4));
        assert_eq!(indexes(Some(log.try_get_log_entries(0..6).await.unwrap())), Some(vec![0, 1, 2, 3, 4, 5]));
        log.release_upto(5);
        assert_eq!(log.tail_cache_bytes(), 0);
        assert_eq!(log.tail.lock().first_index(), None);
        assert_eq!(indexes(Some(log.try_get_log_entries(2..=4).await.unwrap())), Some(vec![2, 3, 4]));
        // Appending goes on after the released entries.
        log.append([blank(6)], IOFlushed::noop()).await.unwrap();
        assert_eq!(indexes(log.tail.lock().get(6, 7)), Some(vec![6]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tail_cache_evicts_oldest_beyond_its_budget() {
        let mut tail = TailCache::default();
        let big = TAIL_CACHE_BYTES_MAX / 4;
        for index in 1..=6 {
            tail.push(blank(index), big);
        }
        assert_eq!(tail.first_index(), Some(3));
        assert!(tail.bytes <= TAIL_CACHE_BYTES_MAX);
        assert_eq!(indexes(tail.get(3, 7)), Some(vec![3, 4, 5, 6]));
    }
}
