//! openraft's state machine over a shard's `StateMachine`.
//!
//! Applying an entry runs its ops and hands each client its replies through openraft's
//! responder; the events the entry produced (keyspace notifications, keys blocked clients
//! wait on) go to the node's event sink after the shard lock is released.
//!
//! Snapshots are the shard's serialized state (`flotilla_storage::snapshot`) in one file per
//! group (`flotilla_storage::snapshot_file`: written to a temp file, fsynced, renamed), so a
//! restart loads the snapshot and replays only the log after it. A snapshot is taken when the
//! entries applied since the last one (in encoded bytes) reach the size of the last snapshot's
//! image (at least `SNAPSHOT_MIN_LOG_BYTES`), like Redis's auto-aof-rewrite-percentage 100,
//! and on a clean shutdown. A build encodes the state at its start a chunk at a time, with
//! the shard lock released between chunks (`build_blocking`).

use flotilla_storage::log_store::{meta, LogStore};
use flotilla_storage::snapshot_file::{SnapshotDir, SnapshotFile, SnapshotWriter};
use flotilla_storage::{Event, StateMachine};
use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::async_runtime::WatchReceiver;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use parking_lot::Mutex;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use super::{GroupId, Response, TypeConfig, SNAPSHOT_MIN_LOG_BYTES};

/// Where the events of applied entries go: the node, which exists only after its store.
pub trait EventSink: Send + Sync {
    /// Whether anything on the node would act on keyspace events now (see `EventSwitch` in
    /// the storage crate); read before each entry is applied.
    fn wants_keyspace_events(&self) -> bool;
    fn publish(&self, events: &[Event]);
}

pub struct Shard {
    pub machine: StateMachine,
    pub last_applied: Option<LogIdOf<TypeConfig>>,
    pub membership: StoredMembershipOf<TypeConfig>,
    /// Bytes of entries applied since the last snapshot, and the size of that snapshot's
    /// image: the policy's inputs. Sizes, not counts: counting ops against keys snapshotted
    /// a million-element list every 100,000 LPUSHes (a quarter of the CPU at LPUSH -P 16).
    log_bytes_since_snapshot: u64,
    image_bytes_at_snapshot: u64,
    /// Snapshots installed so far: a build that sees it change was overtaken by an install
    /// (which replaced the state it was encoding) and gives up.
    installs: u64,
}

impl Shard {
    fn snapshot_taken(&mut self, image_bytes: usize) {
        self.log_bytes_since_snapshot = 0;
        self.image_bytes_at_snapshot = image_bytes as u64;
    }
}

/// A chunk of a snapshot build: keys encoded per hold of the shard lock (and at most this
/// many bytes, for long values). ~0.3 µs a key: a chunk holds the lock for about 1-2 ms.
const SNAPSHOT_CHUNK_KEYS: usize = 4096;
const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// Snapshots written by this process (INFO persistence, LASTSAVE).
#[derive(Debug, Default)]
pub struct Saves {
    pub count: std::sync::atomic::AtomicU64,
    /// Unix seconds of the last one (0: none yet).
    pub last_unix_s: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct MachineStore {
    pub shard: Arc<Mutex<Shard>>,
    pub saves: Arc<Saves>,
    store: LogStore,
    pub snapshots: SnapshotDir,
    pub group: GroupId,
    events: Arc<dyn EventSink>,
    /// Signalled when the snapshot policy wants a snapshot (see `run_snapshot_policy`).
    snapshot_wanted: Arc<Notify>,
    /// The snapshot transfer this follower is receiving, if any (see `network.rs`).
    pub incoming: Arc<tokio::sync::Mutex<Option<super::network::Incoming>>>,
    /// Held while the snapshot file is replaced, by a build or an install, so that a build
    /// overtaken by an install never writes its older image over the installed one.
    snapshot_file: Arc<Mutex<()>>,
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

impl MachineStore {
    /// Opens the group's state: the last snapshot if there is one, else empty.
    pub fn open(
        store: LogStore,
        snapshots: SnapshotDir,
        group: GroupId,
        events: Arc<dyn EventSink>,
    ) -> io::Result<MachineStore> {
        let mut shard = Shard {
            machine: StateMachine::new(),
            last_applied: None,
            membership: StoredMembershipOf::<TypeConfig>::default(),
            log_bytes_since_snapshot: 0,
            image_bytes_at_snapshot: 0,
            installs: 0,
        };
        let started = crate::clock::instant();
        let from_file = match snapshots.current(group)? {
            Some(mut file) => Some(file.read_verified()?),
            None => None,
        };
        // Data dirs from before snapshot files kept the snapshot in the log store.
        let from_log_store = match from_file {
            Some(_) => None,
            None => match (
                store.get_meta(group, meta::SNAPSHOT_META, b"")?,
                store.get_meta(group, meta::SNAPSHOT, b"")?,
            ) {
                (Some(meta_bytes), Some(image)) => Some((meta_bytes, image)),
                _ => None,
            },
        };
        let loaded = match (&from_file, &from_log_store) {
            (Some(verified), _) => Some((verified.meta(), verified.image())),
            (None, Some((meta_bytes, image))) => Some((&meta_bytes[..], &image[..])),
            (None, None) => None,
        };
        let read_ms = started.elapsed().as_millis();
        if let Some((meta_bytes, image)) = loaded {
            let snapshot_meta: SnapshotMetaOf<TypeConfig> = decode(meta_bytes)?;
            shard.machine = StateMachine::restore(image).map_err(invalid)?;
            shard.last_applied = snapshot_meta.last_log_id;
            shard.membership = snapshot_meta.last_membership.clone();
            shard.snapshot_taken(image.len());
            tracing::info!(
                group,
                bytes = image.len(),
                read_ms,
                total_ms = started.elapsed().as_millis() as u64,
                "snapshot loaded"
            );
        }
        Ok(MachineStore {
            shard: Arc::new(Mutex::new(shard)),
            saves: Arc::default(),
            store,
            snapshots,
            group,
            events,
            snapshot_wanted: Arc::new(Notify::new()),
            incoming: Arc::default(),
            snapshot_file: Arc::default(),
        })
    }

    /// Seals the written snapshot file and makes it durable and current; then drops a snapshot
    /// left in the log store by an older version.
    fn save_snapshot(&self, writer: SnapshotWriter) -> io::Result<SnapshotFile> {
        let file = writer.commit()?;
        use std::sync::atomic::Ordering;
        self.saves.count.fetch_add(1, Ordering::Relaxed);
        self.saves
            .last_unix_s
            .store(crate::clock::unix_seconds(), Ordering::Relaxed);
        if self.store.get_meta(self.group, meta::SNAPSHOT_META, b"")?.is_some() {
            self.store.delete_meta(self.group, meta::SNAPSHOT_META, b"")?;
            self.store.delete_meta(self.group, meta::SNAPSHOT, b"")?;
        }
        Ok(file)
    }

    /// Locks the shard from code that runs on the runtime. Building a snapshot held the lock
    /// for a while (about 0.2 µs per key; now a chunk at a time, a few ms at most, but a
    /// FLUSHALL during a build still encodes the rest at once); a task that waited for it on a runtime worker
    /// would take the worker with it, and with every worker so taken the Raft core sends no
    /// heartbeats and the followers depose a healthy leader (seen at 4M keys: two elections
    /// during one fill). So a contended lock is waited for in `block_in_place`, which hands
    /// the worker's other tasks to another thread first.
    /// Most locks are held for microseconds (a batch of reads, one entry's apply), so a
    /// contended lock is first waited for in place, briefly: `block_in_place` for every
    /// contended read cost the leader ~15% of its CPU at GET -P 16 (perf).
    pub fn lock_shard(&self) -> parking_lot::MutexGuard<'_, Shard> {
        if let Some(guard) = self.shard.try_lock() {
            return guard;
        }
        match self.shard.try_lock_for(SHARD_LOCK_WAIT_IN_PLACE) {
            Some(guard) => guard,
            None => off_workers(|| self.shard.lock()),
        }
    }
}

/// How long a runtime worker waits for a contended shard lock before it hands its other
/// tasks to another thread and waits on (far below the heartbeat interval).
const SHARD_LOCK_WAIT_IN_PLACE: std::time::Duration = std::time::Duration::from_micros(500);

/// Runs blocking `work` without holding up the runtime: on a worker of the multi-threaded
/// runtime the worker's other tasks move to another thread first (`block_in_place`);
/// elsewhere (a blocking thread, a single-threaded test runtime) it simply runs.
pub(crate) fn off_workers<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(io::Error::other)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(invalid)
}

/// Asks openraft for a snapshot whenever the policy wants one. openraft's own policy (every
/// `SNAPSHOT_EVERY_ENTRIES` entries) stays as a backstop for many small entries.
pub fn run_snapshot_policy(raft: super::Raft, store: &MachineStore) {
    let wanted = store.snapshot_wanted.clone();
    tokio::spawn(async move {
        loop {
            wanted.notified().await;
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
        }
    });
}

/// Takes a snapshot of everything applied so far and waits for it to be durable, so the next
/// start loads it instead of replaying the log (called on a clean shutdown).
pub async fn snapshot_before_exit(raft: &super::Raft, store: &MachineStore, timeout: Duration) {
    let started = crate::clock::instant();
    match snapshot_and_wait(raft, store, timeout).await {
        Ok(false) => {}
        Ok(true) => tracing::info!(ms = started.elapsed().as_millis() as u64, "snapshot taken before exit"),
        Err(error) => tracing::warn!(%error, "no snapshot before exit; the next start replays the log"),
    }
}

/// Takes a snapshot of everything applied so far and waits until it is durable (SAVE, and a
/// clean shutdown). Ok(false) when the newest snapshot already covers every applied entry.
///
/// openraft ignores a trigger while a snapshot is being built, and the snapshot in progress
/// may stop short of what this caller applied (SAVE right after a write, during a snapshot
/// the policy started): so each time a snapshot lands that still falls short, trigger again.
pub async fn snapshot_and_wait(raft: &super::Raft, store: &MachineStore, timeout: Duration) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let metrics = raft.metrics().borrow_watched().clone();
    // What this node has applied, from the state itself: openraft's metrics learn of an apply
    // after the write's reply may have gone out, and SAVE must cover every acknowledged write.
    let Some(applied) = store.lock_shard().last_applied else {
        return Ok(false);
    };
    if metrics.snapshot.as_ref() >= Some(&applied) {
        return Ok(false);
    }
    let mut snapshot = metrics.snapshot;
    while snapshot.as_ref() < Some(&applied) {
        raft.trigger().snapshot().await.map_err(|error| error.to_string())?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let seen = snapshot;
        let landed = raft
            .wait(Some(left))
            .metrics(|m| m.snapshot != seen, "a new snapshot")
            .await
            .map_err(|error| error.to_string())?;
        snapshot = landed.snapshot;
    }
    Ok(true)
}

impl RaftSnapshotBuilder<TypeConfig> for MachineStore {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotFile>, io::Error> {
        let started = crate::clock::instant();
        // Encoding takes the lock (a chunk at a time) and writing blocks on the disk: off the
        // runtime's workers.
        let built = off_workers(|| {
            let built = self.build_blocking(started);
            crate::allocator::purge_freed_pages();
            built
        });
        let (file, snapshot_meta) = built?;
        Ok(SnapshotOf::<TypeConfig, SnapshotFile> {
            meta: snapshot_meta,
            snapshot: file,
        })
    }
}

impl MachineStore {
    /// Builds the snapshot of the state as it is now, at index S: the meta names S, and the
    /// image is encoded a chunk at a time, the shard lock released between chunks so that
    /// entries after S apply and reads run meanwhile (the image stays the state at S: see
    /// storage/src/snapshot.rs `Building`).
    fn build_blocking(
        &self,
        started: std::time::Instant,
    ) -> Result<(SnapshotFile, SnapshotMetaOf<TypeConfig>), io::Error> {
        let (snapshot_meta, installs) = {
            let mut shard = self.shard.lock();
            let snapshot_meta = SnapshotMetaOf::<TypeConfig> {
                last_log_id: shard.last_applied,
                last_membership: shard.membership.clone(),
            };
            shard.machine.begin_snapshot();
            // Entries from here on are the log the next snapshot must cover.
            shard.log_bytes_since_snapshot = 0;
            (snapshot_meta, shard.installs)
        };
        // The image goes to the file piece by piece as it fills (outside the lock), so it is
        // never held whole: joining a 57 MB image of 1M keys in fresh memory cost about as
        // much CPU as encoding it.
        let mut writer = match self.snapshots.begin_write(self.group, &encode(&snapshot_meta)?) {
            Ok(writer) => writer,
            Err(error) => {
                self.shard.lock().machine.abandon_snapshot();
                return Err(error);
            }
        };
        let mut pieces = Vec::new();
        let mut chunks = 0u64;
        let mut longest = Duration::ZERO;
        let mut locked = Duration::ZERO;
        let complete = loop {
            let mut shard = self.shard.lock();
            if shard.installs != installs {
                // An install replaced the state (and the snapshot in progress with it).
                break false;
            }
            let chunk_started = crate::clock::instant();
            let built = shard.machine.snapshot_step(SNAPSHOT_CHUNK_KEYS, SNAPSHOT_CHUNK_BYTES, &mut pieces);
            let held = chunk_started.elapsed();
            // Fair: a waiting apply or read gets the lock before the next chunk does.
            parking_lot::MutexGuard::unlock_fair(shard);
            chunks += 1;
            longest = longest.max(held);
            locked += held;
            // The pieces filled in this chunk, and once the last chunk is in, the rest.
            let write = || -> io::Result<bool> {
                for piece in &pieces {
                    writer.write(piece)?;
                }
                match built {
                    Some(built) => writer.write(&built.finish()).map(|()| true),
                    None => Ok(false),
                }
            };
            match write() {
                Ok(true) => {
                    self.shard.lock().image_bytes_at_snapshot = writer.image_len();
                    break true;
                }
                Ok(false) => {}
                Err(error) => {
                    let mut shard = self.shard.lock();
                    if shard.installs == installs {
                        shard.machine.abandon_snapshot();
                    }
                    return Err(error);
                }
            }
        };
        let written = {
            let _file = off_workers(|| self.snapshot_file.lock());
            let overtaken = self.shard.lock().installs != installs;
            if complete && !overtaken {
                let bytes = writer.image_len();
                Some((self.save_snapshot(writer)?, bytes))
            } else {
                None
            }
        };
        let Some((file, bytes)) = written else {
            tracing::info!(group = self.group, "snapshot build overtaken by an install; the installed one stands");
            let mut file = self
                .snapshots
                .current(self.group)?
                .ok_or_else(|| io::Error::other("a snapshot was installed, yet there is no snapshot file"))?;
            let installed_meta = decode(&file.read_meta()?)?;
            return Ok((file, installed_meta));
        };
        tracing::info!(
            group = self.group,
            bytes,
            chunks,
            locked_ms = longest.as_secs_f64() * 1000.0,
            locked_total_ms = locked.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "snapshot built"
        );
        Ok((file, snapshot_meta))
    }
}

impl RaftStateMachine<TypeConfig> for MachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let shard = self.lock_shard();
        Ok((shard.last_applied, shard.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let mut events = Vec::new();
            let mut want_snapshot = false;
            let response = {
                let mut shard = self.lock_shard();
                // Asked under the lock: a client that starts tracking (or blocks) and then
                // reads under this lock is seen by every entry applied after its read.
                let keyspace_events = self.events.wants_keyspace_events();
                shard.machine.set_keyspace_events(keyspace_events);
                if let (true, EntryPayload::Normal(request)) = (keyspace_events, &entry.payload) {
                    // About one event per op (a write's keyspace event): sized once.
                    events.reserve(request.entry().ops.len());
                }
                // Raft indexes start at 0; the state machine's start at 1 (0 means "absent" to WATCH).
                let index = entry.log_id.index() + 1;
                shard.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Normal(request) => {
                        let threshold = shard.image_bytes_at_snapshot.max(SNAPSHOT_MIN_LOG_BYTES);
                        let before = shard.log_bytes_since_snapshot;
                        // The encoding's own length: made at the append (leader) or received.
                        shard.log_bytes_since_snapshot = before + request.encoded_len_hint() as u64;
                        want_snapshot = before < threshold && shard.log_bytes_since_snapshot >= threshold;
                        Response(shard.machine.apply(index, request.entry(), &mut events))
                    }
                    EntryPayload::Blank => {
                        shard.machine.skip(index);
                        Response::default()
                    }
                    EntryPayload::Membership(membership) => {
                        shard.machine.skip(index);
                        shard.membership = StoredMembershipOf::<TypeConfig>::new(
                            Some(entry.log_id),
                            membership.clone(),
                        );
                        Response::default()
                    }
                }
            };
            if want_snapshot {
                self.snapshot_wanted.notify_one();
            }
            if !events.is_empty() {
                self.events.publish(&events);
            }
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        snapshot_meta: &SnapshotMetaOf<TypeConfig>,
        mut snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let started = crate::clock::instant();
        // Reading and decoding an image takes a while (~0.5 s at 1M keys): off the workers.
        let (mut machine, image_bytes) = off_workers(|| {
            let verified = snapshot.read_verified()?;
            let image = verified.image();
            Ok::<_, io::Error>((StateMachine::restore(image).map_err(invalid)?, image.len()))
        })?;
        let file_guard = off_workers(|| self.snapshot_file.lock());
        self.snapshots.install(self.group, &snapshot.path)?;
        let mut shard = self.lock_shard();
        drop(file_guard);
        // Node-local settings (CONFIG SET) are not in snapshots: keep this node's.
        machine.keyspace.settings = shard.machine.keyspace.settings;
        // A snapshot build in progress goes with the state it was encoding: it sees
        // `installs` change and gives up (the installed snapshot is newer).
        shard.installs += 1;
        shard.machine = machine;
        shard.last_applied = snapshot_meta.last_log_id;
        shard.membership = snapshot_meta.last_membership.clone();
        shard.snapshot_taken(image_bytes);
        tracing::info!(
            group = self.group,
            bytes = image_bytes,
            ms = started.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Self::SnapshotData>>, io::Error> {
        match self.snapshots.current(self.group)? {
            Some(mut file) => Ok(Some(SnapshotOf::<TypeConfig, SnapshotFile> {
                meta: decode(&file.read_meta()?)?,
                snapshot: file,
            })),
            None => Ok(None),
        }
    }
}
