//! The node's durable log: one fjall database holds the Raft logs and votes of every group on
//! this node, so one fsync commits the appends of all groups (group commit). Snapshots are
//! files (`snapshot_file.rs`).
//!
//! The store deals in bytes: it does not know Raft's types. Every record carries a crc32 of
//! its payload; a record whose checksum does not match is reported as corruption, never
//! returned as data.
//!
//! Byte layout (this module owns it):
//! - keyspace `log`:  key = group (u32 BE) ‖ index (u64 BE)     value = crc32 (u32 LE) ‖ payload
//! - keyspace `meta`: key = group (u32 BE) ‖ kind (u8) ‖ name     value = crc32 (u32 LE) ‖ payload
//!
//! Big-endian indexes make a group's entries contiguous and ordered in the LSM tree.

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::fmt;
use std::ops::RangeBounds;
use std::path::Path;

pub type GroupId = u32;

/// Kinds of per-group metadata records.
pub mod meta {
    pub const VOTE: u8 = 1;
    pub const COMMITTED: u8 = 2;
    pub const PURGED: u8 = 3;
    /// Snapshots as data dirs from before snapshot files kept them: read once, then deleted.
    pub const SNAPSHOT: u8 = 4;
    pub const SNAPSHOT_META: u8 = 5;
}

#[derive(Debug)]
pub enum LogError {
    Io(String),
    /// A record's checksum does not match its payload.
    Corrupt { group: GroupId, what: String },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io(text) => write!(f, "log store I/O error: {text}"),
            LogError::Corrupt { group, what } => write!(f, "corrupt record in group {group}: {what}"),
        }
    }
}

impl std::error::Error for LogError {}

impl From<fjall::Error> for LogError {
    fn from(error: fjall::Error) -> Self {
        LogError::Io(error.to_string())
    }
}

impl From<LogError> for std::io::Error {
    fn from(error: LogError) -> Self {
        std::io::Error::other(error.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LogError>;

/// The log is written once, read back by lagging followers and at start-up, and purged behind
/// snapshots: it needs no large memtable or cache (fjall's defaults, 64 MiB and 32 MiB, were
/// resident memory beside the keyspace).
const LOG_MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
const LOG_CACHE_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct LogStore {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
}

fn log_key(group: GroupId, index: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&group.to_be_bytes());
    key[4..].copy_from_slice(&index.to_be_bytes());
    key
}

fn meta_key(group: GroupId, kind: u8, name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + name.len());
    key.extend_from_slice(&group.to_be_bytes());
    key.push(kind);
    key.extend_from_slice(name);
    key
}

fn seal(payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(payload.len() + 4);
    value.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    value.extend_from_slice(payload);
    value
}

fn unseal(group: GroupId, what: impl Fn() -> String, value: &[u8]) -> Result<Vec<u8>> {
    if value.len() < 4 {
        return Err(LogError::Corrupt { group, what: format!("{} is truncated", what()) });
    }
    let (crc, payload) = value.split_at(4);
    let expected = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if crc32fast::hash(payload) != expected {
        return Err(LogError::Corrupt { group, what: format!("{} fails its checksum", what()) });
    }
    Ok(payload.to_vec())
}

impl LogStore {
    pub fn open(dir: &Path) -> Result<LogStore> {
        let db = Database::builder(dir.join("log"))
            .manual_journal_persist(true)
            .cache_size(LOG_CACHE_BYTES)
            .open()?;
        let log = db.keyspace("log", || {
            KeyspaceCreateOptions::default().max_memtable_size(LOG_MEMTABLE_BYTES)
        })?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
        Ok(LogStore { db, log, meta })
    }

    /// Writes entries `(index, payload)` of `group`, visible to readers at once; durable after
    /// the next `sync`.
    pub fn append(&self, group: GroupId, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        let mut batch = self.db.batch();
        for (index, payload) in entries {
            batch.insert(&self.log, log_key(group, *index).to_vec(), seal(payload));
        }
        batch.commit()?;
        Ok(())
    }

    /// Makes every write so far durable (one fsync for all groups).
    pub fn sync(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    /// Hands written data to the operating system without waiting for the disk.
    pub fn flush_buffers(&self) -> Result<()> {
        self.db.persist(PersistMode::Buffer)?;
        Ok(())
    }

    /// Entries of `group` with indexes in `range`, in order, checksums verified.
    pub fn entries(&self, group: GroupId, range: impl RangeBounds<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Some(i),
            Bound::Excluded(&0) => return Ok(Vec::new()),
            Bound::Excluded(&i) => Some(i - 1),
            Bound::Unbounded => None,
        };
        if end.is_some_and(|end| end < start) {
            return Ok(Vec::new());
        }
        let low = log_key(group, start);
        let high = log_key(group, end.unwrap_or(u64::MAX));
        let mut out = Vec::new();
        for item in self.log.range(low..=high) {
            let (key, value) = item.into_inner()?;
            let index = u64::from_be_bytes(key[4..12].try_into().expect("12-byte key"));
            out.push((index, unseal(group, || format!("log entry {index}"), &value)?));
        }
        Ok(out)
    }

    /// The last entry of `group`, if any.
    pub fn last(&self, group: GroupId) -> Result<Option<(u64, Vec<u8>)>> {
        let low = log_key(group, 0);
        let high = log_key(group, u64::MAX);
        match self.log.range(low..=high).next_back() {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item.into_inner()?;
                let index = u64::from_be_bytes(key[4..12].try_into().expect("12-byte key"));
                Ok(Some((index, unseal(group, || format!("log entry {index}"), &value)?)))
            }
        }
    }

    /// Deletes entries of `group` with index > `index`.
    pub fn truncate_after(&self, group: GroupId, index: Option<u64>) -> Result<()> {
        let from = index.map_or(0, |i| i + 1);
        self.delete_range(group, from, u64::MAX)
    }

    /// Deletes entries of `group` with index ≤ `index`.
    pub fn purge_upto(&self, group: GroupId, index: u64) -> Result<()> {
        self.delete_range(group, 0, index)
    }

    fn delete_range(&self, group: GroupId, from: u64, to: u64) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let mut batch = self.db.batch();
        for item in self.log.range(log_key(group, from)..=log_key(group, to)) {
            let key = item.key()?;
            batch.remove(&self.log, key);
        }
        batch.commit()?;
        Ok(())
    }

    pub fn put_meta(&self, group: GroupId, kind: u8, name: &[u8], payload: &[u8]) -> Result<()> {
        self.meta.insert(meta_key(group, kind, name), seal(payload))?;
        Ok(())
    }

    pub fn get_meta(&self, group: GroupId, kind: u8, name: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.meta.get(meta_key(group, kind, name))? {
            None => Ok(None),
            Some(value) => Ok(Some(unseal(group, || format!("metadata record {kind}"), &value)?)),
        }
    }

    pub fn delete_meta(&self, group: GroupId, kind: u8, name: &[u8]) -> Result<()> {
        self.meta.remove(meta_key(group, kind, name))?;
        Ok(())
    }

    /// Reads every record and checks its checksum: run at start-up so that corruption is
    /// reported before anything is applied. Returns the number of records checked.
    pub fn verify(&self) -> Result<u64> {
        let mut checked = 0;
        for item in self.log.iter() {
            let (key, value) = item.into_inner()?;
            let group = u32::from_be_bytes(key[..4].try_into().expect("12-byte key"));
            let index = u64::from_be_bytes(key[4..12].try_into().expect("12-byte key"));
            unseal(group, || format!("log entry {index}"), &value)?;
            checked += 1;
        }
        for item in self.meta.iter() {
            let (key, value) = item.into_inner()?;
            let group = u32::from_be_bytes(key[..4].try_into().expect("meta key"));
            unseal(group, || format!("metadata record {}", key[4]), &value)?;
            checked += 1;
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("flotilla-logstore-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn groups_are_separate_and_ordered() {
        let dir = temp_dir("groups");
        let store = LogStore::open(&dir).unwrap();
        store.append(1, &[(1, b"a".to_vec()), (2, b"b".to_vec()), (300, b"c".to_vec())]).unwrap();
        store.append(2, &[(1, b"x".to_vec())]).unwrap();
        store.sync().unwrap();
        let got = store.entries(1, ..).unwrap();
        assert_eq!(got.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 2, 300]);
        assert_eq!(store.entries(1, 2..300).unwrap(), vec![(2, b"b".to_vec())]);
        assert_eq!(store.last(2).unwrap(), Some((1, b"x".to_vec())));
        store.truncate_after(1, Some(1)).unwrap();
        assert_eq!(store.last(1).unwrap().unwrap().0, 1);
        store.purge_upto(1, 1).unwrap();
        assert!(store.entries(1, ..).unwrap().is_empty());
        assert_eq!(store.entries(2, ..).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_survive_reopen_and_verify() {
        let dir = temp_dir("reopen");
        {
            let store = LogStore::open(&dir).unwrap();
            store.append(7, &[(5, b"five".to_vec())]).unwrap();
            store.put_meta(7, meta::VOTE, b"", b"vote").unwrap();
            store.sync().unwrap();
        }
        let store = LogStore::open(&dir).unwrap();
        assert_eq!(store.verify().unwrap(), 2);
        assert_eq!(store.get_meta(7, meta::VOTE, b"").unwrap(), Some(b"vote".to_vec()));
        assert_eq!(store.entries(7, 5..=5).unwrap(), vec![(5, b"five".to_vec())]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_checksum_is_reported_not_returned() {
        let dir = temp_dir("corrupt");
        let store = LogStore::open(&dir).unwrap();
        let mut bad = seal(b"payload");
        bad[5] ^= 0xFF;
        store.log.insert(log_key(3, 1).to_vec(), bad).unwrap();
        assert!(matches!(store.entries(3, ..), Err(LogError::Corrupt { group: 3, .. })));
        assert!(matches!(store.verify(), Err(LogError::Corrupt { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
