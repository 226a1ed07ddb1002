//! openraft's state machine over a shard's `StateMachine`.
//!
//! Applying an entry runs its ops and hands each client its replies through openraft's
//! responder; the events the entry produced (keyspace notifications, keys blocked clients
//! wait on) go to the node's event sink after the shard lock is released. Snapshots are the
//! shard's serialized state (`flotilla_storage::snapshot`), kept in the node's log store so a
//! restart loads the snapshot and replays only the log after it.

use flotilla_storage::log_store::{meta, LogStore};
use flotilla_storage::{Event, StateMachine};
use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use parking_lot::Mutex;
use std::io::{self, Cursor};
use std::sync::Arc;

use super::{GroupId, Response, TypeConfig};

pub type EventSink = Arc<dyn Fn(&[Event]) + Send + Sync>;

pub struct Shard {
    pub machine: StateMachine,
    pub last_applied: Option<LogIdOf<TypeConfig>>,
    pub membership: StoredMembershipOf<TypeConfig>,
}

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
    group: GroupId,
    events: EventSink,
}

impl MachineStore {
    /// Opens the group's state: the last snapshot if there is one, else empty.
    pub fn open(store: LogStore, group: GroupId, events: EventSink) -> io::Result<MachineStore> {
        let mut shard = Shard {
            machine: StateMachine::new(),
            last_applied: None,
            membership: StoredMembershipOf::<TypeConfig>::default(),
        };
        if let (Some(meta_bytes), Some(data)) = (
            store.get_meta(group, meta::SNAPSHOT_META, b"")?,
            store.get_meta(group, meta::SNAPSHOT, b"")?,
        ) {
            let snapshot_meta: SnapshotMetaOf<TypeConfig> = decode(&meta_bytes)?;
            shard.machine =
                StateMachine::restore(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            shard.last_applied = snapshot_meta.last_log_id.clone();
            shard.membership = snapshot_meta.last_membership.clone();
        }
        Ok(MachineStore {
            shard: Arc::new(Mutex::new(shard)),
            saves: Arc::default(),
            store,
            group,
            events,
        })
    }

    fn save_snapshot(&self, snapshot_meta: &SnapshotMetaOf<TypeConfig>, data: &[u8]) -> io::Result<()> {
        self.store.put_meta(self.group, meta::SNAPSHOT, b"", data)?;
        self.store
            .put_meta(self.group, meta::SNAPSHOT_META, b"", &encode(snapshot_meta)?)?;
        self.store.sync()?;
        use std::sync::atomic::Ordering;
        self.saves.count.fetch_add(1, Ordering::Relaxed);
        self.saves
            .last_unix_s
            .store(crate::clock::unix_seconds(), Ordering::Relaxed);
        Ok(())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(io::Error::other)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl RaftSnapshotBuilder<TypeConfig> for MachineStore {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, Cursor<Vec<u8>>>, io::Error> {
        let (data, snapshot_meta) = {
            let shard = self.shard.lock();
            let snapshot_meta = SnapshotMetaOf::<TypeConfig> {
                last_log_id: shard.last_applied.clone(),
                last_membership: shard.membership.clone(),
            };
            (shard.machine.snapshot(), snapshot_meta)
        };
        self.save_snapshot(&snapshot_meta, &data)?;
        Ok(SnapshotOf::<TypeConfig, Cursor<Vec<u8>>> {
            meta: snapshot_meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MachineStore {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let shard = self.shard.lock();
        Ok((shard.last_applied.clone(), shard.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let mut events = Vec::new();
            let response = {
                let mut shard = self.shard.lock();
                // Raft indexes start at 0; the state machine's start at 1 (0 means "absent" to WATCH).
                let index = entry.log_id.index() + 1;
                shard.last_applied = Some(entry.log_id.clone());
                match &entry.payload {
                    EntryPayload::Normal(request) => {
                        Response(shard.machine.apply(index, &request.0, &mut events))
                    }
                    EntryPayload::Blank => {
                        shard.machine.skip(index);
                        Response::default()
                    }
                    EntryPayload::Membership(membership) => {
                        shard.machine.skip(index);
                        shard.membership = StoredMembershipOf::<TypeConfig>::new(
                            Some(entry.log_id.clone()),
                            membership.clone(),
                        );
                        Response::default()
                    }
                }
            };
            if !events.is_empty() {
                (self.events)(&events);
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
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let mut machine =
            StateMachine::restore(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.save_snapshot(snapshot_meta, &data)?;
        let mut shard = self.shard.lock();
        // Node-local settings (CONFIG SET) are not in snapshots: keep this node's.
        machine.keyspace.settings = shard.machine.keyspace.settings;
        shard.machine = machine;
        shard.last_applied = snapshot_meta.last_log_id.clone();
        shard.membership = snapshot_meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Self::SnapshotData>>, io::Error> {
        let (Some(meta_bytes), Some(data)) = (
            self.store.get_meta(self.group, meta::SNAPSHOT_META, b"")?,
            self.store.get_meta(self.group, meta::SNAPSHOT, b"")?,
        ) else {
            return Ok(None);
        };
        Ok(Some(SnapshotOf::<TypeConfig, Cursor<Vec<u8>>> {
            meta: decode(&meta_bytes)?,
            snapshot: Cursor::new(data),
        }))
    }
}
