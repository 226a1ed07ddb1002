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
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::{GroupId, TypeConfig};
use crate::config::Fsync;

fn encode<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(io::Error::other)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Makes appends durable, for all groups of the node.
pub struct Syncer {
    mode: Fsync,
    queue: Option<mpsc::Sender<IOFlushed<TypeConfig>>>,
}

impl Syncer {
    pub fn start(store: LogStore, mode: Fsync) -> Arc<Syncer> {
        let queue = match mode {
            Fsync::Always => {
                let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
                let store = store.clone();
                std::thread::Builder::new()
                    .name("flotilla-fsync".into())
                    .spawn(move || {
                        while let Ok(first) = rx.recv() {
                            let mut waiting = vec![first];
                            while let Ok(more) = rx.try_recv() {
                                waiting.push(more);
                            }
                            let result = store.sync().map_err(io::Error::from);
                            for callback in waiting {
                                let outcome = match &result {
                                    Ok(()) => Ok(()),
                                    Err(error) => Err(io::Error::other(error.to_string())),
                                };
                                callback.io_completed(outcome);
                            }
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
        Arc::new(Syncer { mode, queue })
    }

    fn after_write(&self, callback: IOFlushed<TypeConfig>) {
        match (&self.queue, self.mode) {
            (Some(queue), Fsync::Always) => {
                if let Err(mpsc::SendError(callback)) = queue.send(callback) {
                    callback.io_completed(Err(io::Error::other("fsync thread stopped")));
                }
            }
            _ => callback.io_completed(Ok(())),
        }
    }
}

#[derive(Clone)]
pub struct GroupLog {
    store: LogStore,
    group: GroupId,
    syncer: Arc<Syncer>,
}

impl GroupLog {
    pub fn new(store: LogStore, group: GroupId, syncer: Arc<Syncer>) -> Self {
        GroupLog { store, group, syncer }
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
        self.store
            .entries(self.group, range)?
            .iter()
            .map(|(_, bytes)| decode(bytes))
            .collect()
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        match self.store.get_meta(self.group, meta::VOTE, b"")? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

impl RaftLogStorage<TypeConfig> for GroupLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let purged = self.purged()?;
        let last = match self.store.last(self.group)? {
            Some((_, bytes)) => Some(decode::<EntryOf<TypeConfig>>(&bytes)?.log_id()),
            None => purged.clone(),
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
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
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
        for entry in entries {
            records.push((entry.index(), encode(&entry)?));
        }
        self.store.append(self.group, &records)?;
        self.syncer.after_write(callback);
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> Result<(), io::Error> {
        self.store
            .truncate_after(self.group, last_log_id.map(|id| id.index()))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        self.store
            .put_meta(self.group, meta::PURGED, b"", &encode(&log_id)?)?;
        self.store.purge_upto(self.group, log_id.index())?;
        Ok(())
    }
}
