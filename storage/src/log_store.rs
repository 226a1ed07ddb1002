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
//!
//! fjall checks its own journal and segment checksums, but its journal recovery stops at the
//! first batch it cannot parse and cuts the journal there *without an error* (meant for a torn
//! tail; a flipped byte in the middle of a journal also ends the replay there). So the store
//! keeps, beside the database, a small "durable mark" file: for each group, the range of log
//! indexes that a completed sync made durable. `verify` checks at start-up that every one of
//! them is still present; a log that came back shorter is reported as corruption.
//!
//! Durable mark file (`log-durable`): two slots of `MARK_SLOT_LEN` bytes, written alternately,
//! so that a write torn by a power cut leaves the other slot intact. A slot is
//! crc32 (u32 LE) ‖ sequence (u64 LE) ‖ count (u32 LE) ‖ count × (group u32 LE, from u64 LE,
//! next u64 LE); the valid slot with the higher sequence is the mark. Entries `from..next` of
//! the group must be present. After the groups, a vote section: crc32 (u32 LE) of the rest ‖
//! count (u32 LE) ‖ count × (group u32 LE, term u64 LE), or all zeros when no vote is recorded
//! (as in files written before the section existed): the term of the last vote each group
//! made durable. A vote lost to a cut journal would let the node vote twice in one term, so
//! the server refuses a stored vote older than its group's term here (`durable_vote_term`).

use fjall::compaction::Leveled;
use fjall::config::CompressionPolicy;
use fjall::{AbstractTree, CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    /// fjall found its own files damaged (a block or journal checksum, a bad format), or
    /// records a completed sync made durable are missing.
    Damaged(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io(text) => write!(f, "log store I/O error: {text}"),
            LogError::Corrupt { group, what } => write!(f, "corrupt record in group {group}: {what}"),
            LogError::Damaged(what) => write!(f, "log store is corrupt: {what}"),
        }
    }
}

impl std::error::Error for LogError {}

impl From<fjall::Error> for LogError {
    fn from(error: fjall::Error) -> Self {
        use fjall::{Error as Fjall, LsmError as Lsm};
        match &error {
            Fjall::JournalRecovery(_)
            | Fjall::InvalidTag(_)
            | Fjall::InvalidTrailer
            | Fjall::Decompress(_)
            | Fjall::Storage(
                Lsm::ChecksumMismatch { .. }
                | Lsm::InvalidHeader(_)
                | Lsm::InvalidTag(_)
                | Lsm::InvalidTrailer
                | Lsm::Decompress(_)
                | Lsm::Unrecoverable,
            )
            | Fjall::Unrecoverable => LogError::Damaged(format!("fjall reports {error}")),
            _ => LogError::Io(error.to_string()),
        }
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
/// Tables in the log's first level before fjall merges them (its default is 4). The log's keys
/// only grow, so its tables never overlap and merging them buys nothing: a purge drops whole
/// tables instead (`purge_upto`). With the default, the merges were 6-10% of every node's CPU
/// at SET -P 16. fjall stores the setting with the keyspace when it creates it.
const LOG_L0_TABLES: u8 = u8::MAX;

#[derive(Clone)]
pub struct LogStore {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
    mark: Arc<DurableMark>,
    journal: Arc<ActiveJournal>,
    /// Held shared by every write to fjall and exclusively while the journal's unwritten
    /// blocks ahead are filled (`JournalFile::fill_ahead`), so a fill never meets a write.
    writes: Arc<RwLock<()>>,
    /// Bytes handed to fjall's journal so far, estimated (see `JournalFile::fill_ahead`).
    written_estimate: Arc<AtomicU64>,
}

/// The journal file fjall appends to, opened by the store itself so that `sync` can fsync it
/// without holding fjall's journal lock. fjall's own `persist(SyncData)` keeps that lock for
/// the whole fsync, and every write batch (each Raft append) needs it, so an append waited
/// for the previous sync to reach the disk (3 nodes, SET -P 16: 0.2-0.5 µs less CPU per SET
/// summed over the nodes without that wait). The bytes written reach the file under the lock
/// (`persist(Buffer)`); the fsync of the same file through another descriptor then makes
/// them durable as well. A journal fjall seals (rotates away from) is fsynced by fjall as it
/// seals it, so only the newest one (`<n>.jnl`, the highest `n`) needs this.
///
/// fjall makes each new journal a 64 MiB sparse file and appends into it, so every append
/// lands in blocks the file system has yet to allocate, and each fdatasync also allocates
/// them and writes the allocation out. The store fills the blocks ahead of fjall's appends
/// with zeros (`fill_ahead`), which read back exactly as the hole did; an fdatasync of appends
/// into them writes the data without allocating (25 KB appends, each fdatasynced, on this
/// project's machine: 0.27 -> 0.19 ms at the median).
struct ActiveJournal {
    dir: std::path::PathBuf,
    file: Mutex<Option<JournalFile>>,
}

struct JournalFile {
    number: u64,
    file: File,
    /// Its size when opened. The store fills only within it and never changes the file's
    /// size: fjall writes a journal it recovered (cut to its last record) in append mode, so
    /// zeros past the end would come before its next records and end a replay there.
    len: u64,
    /// Everything below is allocated: fjall's appends or zeros. None until first looked at.
    filled_to: Option<u64>,
    /// Where fjall appended when the file was first looked at, and the store's write
    /// estimate then: with the estimate now, where fjall appends now, roughly.
    start: u64,
    start_estimate: u64,
}

/// The journal's blocks are filled this far ahead of fjall's appends (estimated), a piece at
/// a time, so that the next fdatasync, which writes the piece out too, is not held up long.
const FILL_AHEAD_BYTES: u64 = 2 << 20;
const FILL_PIECE_BYTES: u64 = 1 << 20;

impl ActiveJournal {
    /// Fills the newest journal ahead of fjall's appends (`JournalFile::fill_ahead`) and
    /// fsyncs it. Call after `persist(Buffer)`: a journal that became newest after it was
    /// sealed by fjall with an fsync, so the data flushed then is covered either way.
    fn fill_and_sync(&self, db: &Database, writes: &RwLock<()>, estimate: u64) -> Result<()> {
        let mut current =
            self.current().map_err(|e| LogError::Io(format!("opening the log journal: {e}")))?;
        let journal = current.as_mut().expect("opened");
        journal.fill_ahead(db, writes, estimate)?;
        journal.file.sync_data().map_err(|e| LogError::Io(format!("fsync of the log journal: {e}")))
    }

    fn current(&self) -> std::io::Result<std::sync::MutexGuard<'_, Option<JournalFile>>> {
        let mut current = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stale = match &*current {
            Some(journal) => self.dir.join(format!("{}.jnl", journal.number + 1)).exists(),
            None => true,
        };
        if stale {
            let (number, file) = self.open_newest()?;
            let len = file.metadata()?.len();
            *current = Some(JournalFile { number, file, len, filled_to: None, start: 0, start_estimate: 0 });
        }
        Ok(current)
    }

    fn open_newest(&self) -> std::io::Result<(u64, File)> {
        let mut newest = None;
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let number = name.to_str().and_then(|name| name.strip_suffix(".jnl")).and_then(|n| n.parse::<u64>().ok());
            if let Some(number) = number {
                newest = newest.max(Some(number));
            }
        }
        let number = newest.ok_or_else(|| std::io::Error::other("no journal file in the log directory"))?;
        let file = std::fs::OpenOptions::new().read(true).write(true).open(self.dir.join(format!("{number}.jnl")))?;
        Ok((number, file))
    }
}

impl JournalFile {
    /// Fills the journal's unallocated blocks ahead of fjall's appends with zeros when fjall
    /// comes near the filled part. Only holes are written, with every write to fjall held off
    /// (`writes`) and fjall's buffer emptied first: a hole is then a range nobody has written
    /// or is about to, and zeros there change nothing a reader of the file sees. A wrong
    /// estimate of fjall's position costs only speed (appends into holes, as without this).
    fn fill_ahead(&mut self, db: &Database, writes: &RwLock<()>, estimate: u64) -> Result<()> {
        let io = |what: &str, error: std::io::Error| LogError::Io(format!("{what} of the log journal: {error}"));
        if let Some(filled_to) = self.filled_to {
            let appending_at = self.start + estimate.saturating_sub(self.start_estimate);
            if filled_to >= self.len || filled_to >= appending_at + FILL_AHEAD_BYTES {
                return Ok(());
            }
        }
        let _no_writes = writes.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        db.persist(PersistMode::Buffer)?;
        let size = self.file.metadata().map_err(|e| io("reading the size", e))?.len();
        let len = self.len.min(size);
        let from = self.filled_to.unwrap_or(0);
        // SEEK_HOLE finds the end of the file when it has no hole after `from`.
        let hole = if from >= len {
            len
        } else {
            seek(&self.file, from, libc::SEEK_HOLE).map_err(|e| io("finding a hole", e))?
        };
        if self.filled_to.is_none() {
            // Nothing filled yet: the first hole is where fjall appends.
            self.start = hole;
            self.start_estimate = estimate;
        }
        let end = (hole + FILL_PIECE_BYTES).min(len);
        if hole >= end {
            self.filled_to = Some(len);
            return Ok(());
        }
        // A hole runs up to the next data (or the end of the file).
        let data = seek(&self.file, hole, libc::SEEK_DATA).unwrap_or(len);
        let end = end.min(data.max(hole));
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let mut at = hole;
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], at).map_err(|e| io("filling", e))?;
            at += n as u64;
        }
        self.filled_to = Some(end);
        Ok(())
    }
}

/// `lseek` with `SEEK_HOLE` or `SEEK_DATA`: the next hole, or data, at or after `offset`.
fn seek(file: &File, offset: u64, whence: libc::c_int) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: lseek on a descriptor this File owns; it moves only this descriptor's offset,
    // which nothing else uses (writes here are positioned).
    let at = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, whence) };
    if at < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(at as u64)
    }
}

/// What fjall's journal adds to each record's payload (key, checksum, headers), roughly: it
/// only steers when `fill_ahead` fills.
const JOURNAL_ITEM_OVERHEAD: usize = 40;

const MARK_FILE: &str = "log-durable";
const MARK_SLOT_LEN: usize = 4096;
const MARK_HEADER_LEN: usize = 16;
const MARK_GROUP_LEN: usize = 20;
const MARK_VOTES_HEADER_LEN: usize = 8;
const MARK_VOTE_LEN: usize = 12;
/// Groups one mark slot can describe (each with its log range and its vote).
pub const MARK_GROUPS_MAX: usize =
    (MARK_SLOT_LEN - MARK_HEADER_LEN - MARK_VOTES_HEADER_LEN) / (MARK_GROUP_LEN + MARK_VOTE_LEN);

/// The log indexes `from..next` of a group that must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Required {
    from: u64,
    next: u64,
}

impl Required {
    fn is_empty(&self) -> bool {
        self.from >= self.next
    }
}

/// What the mark file says and what the store has written since.
struct MarkState {
    file: File,
    sequence: u64,
    /// Per group: the range as written so far (not necessarily durable yet).
    written: BTreeMap<GroupId, Required>,
    /// Per group: the lowest point truncated to since the running sync took its snapshot.
    truncated_since_snapshot: BTreeMap<GroupId, u64>,
    /// The mark as last written to the file.
    durable: BTreeMap<GroupId, Required>,
    /// Per group: the term of the last vote made durable.
    votes: BTreeMap<GroupId, u64>,
}

struct DurableMark {
    state: Mutex<MarkState>,
    /// Held for a whole sync, so that each sync's snapshot and mark pair up.
    sync_order: Mutex<()>,
}

/// A decoded durable-mark slot: its sequence, each group's required log state, and each
/// group's recorded vote term.
type DecodedMark = (u64, BTreeMap<GroupId, Required>, BTreeMap<GroupId, u64>);

impl MarkState {
    fn encode(&self) -> Vec<u8> {
        let groups: Vec<_> = self.durable.iter().filter(|(_, r)| !r.is_empty()).collect();
        assert!(groups.len() <= MARK_GROUPS_MAX, "too many groups for the durable mark");
        let mut body = Vec::with_capacity(MARK_SLOT_LEN);
        body.extend_from_slice(&self.sequence.to_le_bytes());
        body.extend_from_slice(&(groups.len() as u32).to_le_bytes());
        for (group, required) in groups {
            body.extend_from_slice(&group.to_le_bytes());
            body.extend_from_slice(&required.from.to_le_bytes());
            body.extend_from_slice(&required.next.to_le_bytes());
        }
        let mut slot = crc32fast::hash(&body).to_le_bytes().to_vec();
        slot.extend_from_slice(&body);
        assert!(self.votes.len() <= MARK_GROUPS_MAX, "too many groups for the durable mark");
        if !self.votes.is_empty() {
            let mut votes = (self.votes.len() as u32).to_le_bytes().to_vec();
            for (group, term) in &self.votes {
                votes.extend_from_slice(&group.to_le_bytes());
                votes.extend_from_slice(&term.to_le_bytes());
            }
            slot.extend_from_slice(&crc32fast::hash(&votes).to_le_bytes());
            slot.extend_from_slice(&votes);
        }
        slot.resize(MARK_SLOT_LEN, 0);
        slot
    }

    /// Writes `durable` into the slot after the current one. No fsync: the mark is written
    /// after the fsync of the data it describes, so it never claims more than is durable; a
    /// power cut may lose it, which only leaves the older, weaker mark.
    fn write(&mut self) -> Result<()> {
        self.sequence += 1;
        let offset = (self.sequence % 2) * MARK_SLOT_LEN as u64;
        self.file
            .write_all_at(&self.encode(), offset)
            .map_err(|e| LogError::Io(format!("writing the durable mark: {e}")))
    }

    fn decode(slot: &[u8]) -> Option<DecodedMark> {
        let crc = u32::from_le_bytes(slot[..4].try_into().ok()?);
        let sequence = u64::from_le_bytes(slot[4..12].try_into().ok()?);
        let count = u32::from_le_bytes(slot[12..16].try_into().ok()?) as usize;
        if count > MARK_GROUPS_MAX {
            return None;
        }
        let body = &slot[4..MARK_HEADER_LEN + count * MARK_GROUP_LEN];
        if crc32fast::hash(body) != crc {
            return None;
        }
        let mut groups = BTreeMap::new();
        for record in slot[MARK_HEADER_LEN..].chunks_exact(MARK_GROUP_LEN).take(count) {
            let group = u32::from_le_bytes(record[..4].try_into().ok()?);
            let from = u64::from_le_bytes(record[4..12].try_into().ok()?);
            let next = u64::from_le_bytes(record[12..20].try_into().ok()?);
            groups.insert(group, Required { from, next });
        }
        let votes = Self::decode_votes(&slot[MARK_HEADER_LEN + count * MARK_GROUP_LEN..])?;
        Some((sequence, groups, votes))
    }

    /// The vote section (`rest` starts right after the groups): None if damaged.
    fn decode_votes(rest: &[u8]) -> Option<BTreeMap<GroupId, u64>> {
        let mut votes = BTreeMap::new();
        let crc = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
        let count = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?) as usize;
        if crc == 0 && count == 0 {
            return Some(votes);
        }
        if count > MARK_GROUPS_MAX {
            return None;
        }
        let body = rest.get(4..MARK_VOTES_HEADER_LEN + count * MARK_VOTE_LEN)?;
        if crc32fast::hash(body) != crc {
            return None;
        }
        for record in body[4..].chunks_exact(MARK_VOTE_LEN) {
            let group = u32::from_le_bytes(record[..4].try_into().ok()?);
            let term = u64::from_le_bytes(record[4..12].try_into().ok()?);
            votes.insert(group, term);
        }
        Some(votes)
    }
}

impl DurableMark {
    fn open(dir: &Path) -> Result<DurableMark> {
        let path = dir.join(MARK_FILE);
        let io = |e: std::io::Error| LogError::Io(format!("{}: {e}", path.display()));
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut state = MarkState {
            file,
            sequence: 0,
            written: BTreeMap::new(),
            truncated_since_snapshot: BTreeMap::new(),
            durable: BTreeMap::new(),
            votes: BTreeMap::new(),
        };
        if existed {
            let mut bytes = vec![0u8; 2 * MARK_SLOT_LEN];
            state.file.read_exact_at(&mut bytes, 0).map_err(io)?;
            let best = bytes
                .chunks_exact(MARK_SLOT_LEN)
                .filter_map(MarkState::decode)
                .max_by_key(|(sequence, _, _)| *sequence);
            let Some((sequence, groups, votes)) = best else {
                return Err(LogError::Damaged(format!("{} has no valid slot", path.display())));
            };
            state.sequence = sequence;
            state.written = groups.clone();
            state.durable = groups;
            state.votes = votes;
        } else {
            // Both slots valid before the first real write, so that a torn write always
            // leaves one; then the file's directory entry is made durable.
            state.file.write_all_at(&state.encode(), 0).map_err(io)?;
            state.file.write_all_at(&state.encode(), MARK_SLOT_LEN as u64).map_err(io)?;
            state.file.sync_all().map_err(io)?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(DurableMark {
            state: Mutex::new(state),
            sync_order: Mutex::new(()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MarkState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Entries `first..=last` of `group` were written (appended after its last entry, or,
    /// after a gap such as a snapshot install, starting a new run).
    fn appended(&self, group: GroupId, first: u64, last: u64) {
        let mut state = self.state();
        let required = state.written.entry(group).or_insert(Required { from: first, next: first });
        if required.is_empty() || first > required.next {
            required.from = first;
        }
        required.next = last + 1;
    }

    /// Entries of `group` from `from` on are about to be deleted. The lowered mark is made
    /// durable first, so the mark never demands entries a durable truncation removed.
    fn truncating(&self, group: GroupId, from: u64) -> Result<()> {
        let mut state = self.state();
        if let Some(required) = state.written.get_mut(&group) {
            required.next = required.next.min(from);
        }
        let low = state.truncated_since_snapshot.entry(group).or_insert(from);
        *low = (*low).min(from);
        let lowered = match state.durable.get_mut(&group) {
            Some(required) if required.next > from => {
                required.next = from;
                true
            }
            _ => false,
        };
        if lowered {
            state.write()?;
            state
                .file
                .sync_data()
                .map_err(|e| LogError::Io(format!("syncing the durable mark: {e}")))?;
        }
        Ok(())
    }

    /// Entries of `group` up to `upto` are about to be purged: no longer required.
    /// The raised mark is made durable at once: a purge drops log tables for good straight
    /// after, and a mark that still demanded their entries would refuse the next start.
    fn purging(&self, group: GroupId, upto: u64) -> Result<()> {
        let state = &mut *self.state();
        for map in [&mut state.written, &mut state.durable] {
            if let Some(required) = map.get_mut(&group) {
                required.from = required.from.max(upto.saturating_add(1));
            }
        }
        state.write()?;
        state
            .file
            .sync_data()
            .map_err(|e| LogError::Io(format!("syncing the durable mark: {e}")))
    }

    fn begin_sync(&self) -> BTreeMap<GroupId, Required> {
        let mut state = self.state();
        state.truncated_since_snapshot.clear();
        state.written.clone()
    }

    /// After a successful fsync: everything in `snapshot` is durable, except what was
    /// truncated since the snapshot was taken.
    fn finish_sync(&self, snapshot: BTreeMap<GroupId, Required>) -> Result<()> {
        let mut state = self.state();
        let mut changed = false;
        for (group, mut required) in snapshot {
            if let Some(low) = state.truncated_since_snapshot.get(&group) {
                required.next = required.next.min(*low);
            }
            if let Some(current) = state.written.get(&group) {
                // A purge since the snapshot only lowers what is required.
                required.from = required.from.max(current.from);
            }
            if state.durable.get(&group) != Some(&required) {
                state.durable.insert(group, required);
                changed = true;
            }
        }
        if changed {
            state.write()?;
        }
        Ok(())
    }

    /// A vote of `term` by `group` is durable: recorded in the mark (and synced, as votes are
    /// rare and the mark must not lag behind them).
    fn voted(&self, group: GroupId, term: u64) -> Result<()> {
        let mut state = self.state();
        if state.votes.get(&group).is_some_and(|known| *known >= term) {
            return Ok(());
        }
        state.votes.insert(group, term);
        state.write()?;
        state
            .file
            .sync_data()
            .map_err(|e| LogError::Io(format!("syncing the durable mark: {e}")))
    }

    fn vote_term(&self, group: GroupId) -> Option<u64> {
        self.state().votes.get(&group).copied()
    }

    fn required(&self) -> BTreeMap<GroupId, Required> {
        self.state().durable.clone()
    }
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
        // No compression: log records are written once, read back rarely and soon purged,
        // and profiling showed lz4 on the append path of every entry.
        let db = Database::builder(dir.join("log"))
            .manual_journal_persist(true)
            .journal_compression(CompressionType::None)
            .cache_size(LOG_CACHE_BYTES)
            // One background worker: with two, fjall 3.1's worker 0 hands every compaction
            // request back to the queue for worker 1 and takes it again at once, spinning a
            // CPU for as long as worker 1 compacts (perf, 3 nodes at -P 16: 7% of all CPU in
            // `worker_tick` and flume's send). The log needs little compaction anyway.
            .worker_threads(1)
            .open()?;
        let log = db.keyspace("log", || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(LOG_MEMTABLE_BYTES)
                .data_block_compression_policy(CompressionPolicy::disabled())
                .compaction_strategy(Arc::new(Leveled::default().with_l0_threshold(LOG_L0_TABLES)))
        })?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
        let mark = Arc::new(DurableMark::open(dir)?);
        let journal = Arc::new(ActiveJournal { dir: dir.join("log"), file: Mutex::new(None) });
        Ok(LogStore {
            db,
            log,
            meta,
            mark,
            journal,
            writes: Arc::default(),
            written_estimate: Arc::default(),
        })
    }

    /// Writes entries `(index, payload)` of `group`, visible to readers at once; durable after
    /// the next `sync`.
    /// Entries must have consecutive indexes.
    pub fn append(&self, group: GroupId, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        let mut batch = self.db.batch();
        let mut bytes = 0;
        for (index, payload) in entries {
            bytes += payload.len() + JOURNAL_ITEM_OVERHEAD;
            batch.insert(&self.log, log_key(group, *index).to_vec(), seal(payload));
        }
        {
            let _writing = self.writing();
            batch.commit()?;
        }
        self.written_estimate.fetch_add(bytes as u64, Ordering::Relaxed);
        if let (Some((first, _)), Some((last, _))) = (entries.first(), entries.last()) {
            self.mark.appended(group, *first, *last);
        }
        Ok(())
    }

    /// Makes every write so far durable (one fsync for all groups), then records in the
    /// durable mark which entries that covers.
    pub fn sync(&self) -> Result<()> {
        let _order = self
            .mark
            .sync_order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let snapshot = self.mark.begin_sync();
        self.flush_buffers()?;
        self.journal.fill_and_sync(&self.db, &self.writes, self.written_estimate.load(Ordering::Relaxed))?;
        self.mark.finish_sync(snapshot)
    }

    /// Records that `group`'s vote of `term` is durable (call after the sync that made it so).
    pub fn record_vote_term(&self, group: GroupId, term: u64) -> Result<()> {
        self.mark.voted(group, term)
    }

    /// The term of the last vote of `group` that was made durable, as the durable mark
    /// remembers it: a stored vote of a lower term (or none) means the vote record was lost.
    pub fn durable_vote_term(&self, group: GroupId) -> Option<u64> {
        self.mark.vote_term(group)
    }

    /// Holds off `JournalFile::fill_ahead` for as long as the guard lives: every write to
    /// fjall takes it.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands written data to the operating system without waiting for the disk.
    pub fn flush_buffers(&self) -> Result<()> {
        let _writing = self.writing();
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
        self.mark.truncating(group, from)?;
        self.delete_range(group, from, u64::MAX)
    }

    /// Deletes entries of `group` with index ≤ `index`, without reading them: a tombstone per
    /// index, then the tables that hold nothing newer are dropped whole instead of being
    /// merged with the tombstones. The tombstones are still needed: fjall replays its journal
    /// from the newest record its remaining tables hold, so without them the entries of a
    /// dropped table that the journal still holds would come back at a restart.
    ///
    /// A dropped table is gone at once, durably, so first everything that says its entries
    /// may go is made durable: the caller's record of the purge (in the journal, by this
    /// sync) and the durable mark.
    pub fn purge_upto(&self, group: GroupId, index: u64) -> Result<()> {
        self.sync()?;
        self.mark.purging(group, index)?;
        let first = match self.log.range(log_key(group, 0)..=log_key(group, index)).next() {
            Some(item) => {
                let key = item.key()?;
                u64::from_be_bytes(key[4..12].try_into().expect("12-byte key"))
            }
            None => return Ok(()),
        };
        let mut batch = self.db.batch();
        for purged in first..=index {
            batch.remove(&self.log, log_key(group, purged).to_vec());
        }
        {
            let _writing = self.writing();
            batch.commit()?;
        }
        self.log.tree.drop_range(log_key(group, 0)..=log_key(group, index)).map_err(fjall::Error::from)?;
        Ok(())
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
        let _writing = self.writing();
        batch.commit()?;
        Ok(())
    }

    /// Writes every memtable out to segment files and waits (tests and tools: it lets them
    /// reach the on-disk segment format without writing 64 MiB).
    pub fn flush_memtables(&self) -> Result<()> {
        self.log.rotate_memtable_and_wait()?;
        self.meta.rotate_memtable_and_wait()?;
        Ok(())
    }

    pub fn put_meta(&self, group: GroupId, kind: u8, name: &[u8], payload: &[u8]) -> Result<()> {
        let _writing = self.writing();
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
        let _writing = self.writing();
        self.meta.remove(meta_key(group, kind, name))?;
        Ok(())
    }

    /// Reads every record and checks its checksum, and checks that every entry the durable
    /// mark lists is present: run at start-up so that corruption is reported before anything
    /// is applied. Returns the number of records checked.
    pub fn verify(&self) -> Result<u64> {
        let required = self.mark.required();
        let mut present: BTreeMap<GroupId, u64> = BTreeMap::new();
        // Per group, the last contiguous run of entries: from now on all of it is required.
        let mut runs: BTreeMap<GroupId, Required> = BTreeMap::new();
        let mut checked = 0;
        for item in self.log.iter() {
            let (key, value) = item.into_inner()?;
            let group = u32::from_be_bytes(key[..4].try_into().expect("12-byte key"));
            let index = u64::from_be_bytes(key[4..12].try_into().expect("12-byte key"));
            unseal(group, || format!("log entry {index}"), &value)?;
            if required.get(&group).is_some_and(|r| (r.from..r.next).contains(&index)) {
                *present.entry(group).or_default() += 1;
            }
            let run = runs.entry(group).or_insert(Required { from: index, next: index });
            if run.next != index {
                run.from = index;
            }
            run.next = index + 1;
            checked += 1;
        }
        for (group, range) in &required {
            let found = present.get(group).copied().unwrap_or(0);
            let expected = range.next.saturating_sub(range.from);
            if found != expected {
                return Err(LogError::Damaged(format!(
                    "group {group}: {} of the log entries {}..{} that were synced are missing \
                     (the journal was cut short, e.g. at a damaged byte)",
                    expected - found,
                    range.from,
                    range.next
                )));
            }
        }
        self.mark.state().written.extend(runs);
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
    fn purge_drops_whole_tables_and_nothing_purged_comes_back() {
        let dir = temp_dir("purge-tables");
        let store = LogStore::open(&dir).unwrap();
        let entries = |range: std::ops::RangeInclusive<u64>| -> Vec<(u64, Vec<u8>)> {
            range.map(|i| (i, format!("entry {i}").into_bytes())).collect()
        };
        store.append(1, &entries(1..=100)).unwrap();
        store.sync().unwrap();
        store.flush_memtables().unwrap();
        store.append(1, &entries(101..=200)).unwrap();
        store.sync().unwrap();
        store.flush_memtables().unwrap();
        store.append(1, &entries(201..=250)).unwrap();
        store.sync().unwrap();
        assert_eq!(store.log.table_count(), 2, "two flushes, two tables, not merged");
        // 1..=100 fill a table of their own; 101..=150 share one with 151..=200; 201..=250
        // are still in the memtable. fjall's journal still holds all of them.
        store.purge_upto(1, 150).unwrap();
        assert_eq!(store.log.table_count(), 1, "the table of 1..=100 was dropped whole");
        assert_eq!(store.entries(1, ..).unwrap(), entries(151..=250));
        store.purge_upto(1, 220).unwrap();
        assert_eq!(store.log.table_count(), 0);
        assert_eq!(store.entries(1, ..).unwrap(), entries(221..=250));
        // A restart replays the journal: the dropped entries must stay purged, and the
        // durable mark must not demand them (nothing was synced since the purge).
        drop(store);
        let store = LogStore::open(&dir).unwrap();
        store.verify().expect("the mark demands no purged entry");
        assert_eq!(store.entries(1, ..).unwrap(), entries(221..=250));
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
    fn sync_follows_the_journal_fjall_writes_to() {
        let dir = temp_dir("active-journal");
        let store = LogStore::open(&dir).unwrap();
        let synced = |store: &LogStore| store.journal.file.lock().unwrap().as_ref().map(|journal| journal.number);
        store.append(1, &[(1, b"one".to_vec())]).unwrap();
        store.sync().unwrap();
        let first = synced(&store).expect("a journal synced");
        assert_eq!(journal(&dir), dir.join("log").join(format!("{first}.jnl")));
        // fjall seals a journal past 64 MB when it next flushes a memtable, and writes on in
        // a new one: the next sync must fsync the new file (what was written after the seal
        // is only there).
        let chunk = vec![7u8; 1 << 20];
        let mut index = 1;
        while journal(&dir) == dir.join("log").join(format!("{first}.jnl")) {
            assert!(index < 200, "fjall never started a new journal");
            for _ in 0..8 {
                index += 1;
                store.append(1, &[(index, chunk.clone())]).unwrap();
            }
            store.flush_memtables().unwrap();
        }
        index += 1;
        store.append(1, &[(index, b"last".to_vec())]).unwrap();
        store.sync().unwrap();
        let second = synced(&store).unwrap();
        assert!(second > first, "still syncing journal {first} after fjall moved on");
        assert_eq!(journal(&dir), dir.join("log").join(format!("{second}.jnl")));
        drop(store);
        let entries = reopen(&dir).unwrap();
        assert_eq!(entries.len() as u64, index);
        assert_eq!(entries.last().unwrap(), &(index, b"last".to_vec()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Syncs fill the journal's blocks ahead of fjall's appends with zeros, staying ahead as
    /// it appends, and the store reads back the same after a reopen. After the reopen fjall
    /// appends to the journal it recovered (cut to its last record) in append mode: nothing is
    /// filled there, and everything appended then reads back too.
    #[test]
    fn syncs_fill_the_journal_ahead_of_the_appends_and_the_log_reads_back_the_same() {
        let dir = temp_dir("fill-ahead");
        let chunk = |index: u64| vec![(index % 251) as u8 | 1; 10_000];
        let mut index = 0;
        for run in 0..2 {
            let store = LogStore::open(&dir).unwrap();
            for _ in 0..300 {
                index += 1;
                store.append(1, &[(index, chunk(index))]).unwrap();
                store.sync().unwrap();
            }
            // fjall's records do not end in zeros, so the last non-zero byte is about where it
            // appends now.
            let path = journal(&dir);
            let bytes = std::fs::read(&path).unwrap();
            let appended = written_len(&bytes) as u64;
            let hole = seek(&File::open(&path).unwrap(), 0, libc::SEEK_HOLE).unwrap();
            if run == 0 {
                assert!(
                    hole >= appended + FILL_AHEAD_BYTES / 2,
                    "the first hole is at {hole}, fjall appends at {appended}"
                );
            } else {
                assert_eq!(bytes.len() as u64, appended, "zeros after the recovered journal's end");
            }
            drop(store);
            let entries = reopen(&dir).unwrap();
            assert_eq!(entries.len() as u64, index, "run {run}");
            assert!(entries.iter().all(|(i, payload)| *payload == chunk(*i)), "run {run}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    const ENTRIES: u64 = 20;

    fn payload(index: u64) -> Vec<u8> {
        format!("payload-{index:04}-of-the-log").into_bytes()
    }

    /// A store with entries 1..=ENTRIES of group 1, each appended and synced on its own.
    fn synced_store(dir: &Path) -> LogStore {
        let store = LogStore::open(dir).unwrap();
        for index in 1..=ENTRIES {
            store.append(1, &[(index, payload(index))]).unwrap();
            store.sync().unwrap();
        }
        store
    }

    fn journal(dir: &Path) -> std::path::PathBuf {
        std::fs::read_dir(dir.join("log"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
            .max()
            .expect("a journal file")
    }

    /// fjall preallocates journals with zeros: the bytes written are those before the zeros.
    fn written_len(bytes: &[u8]) -> usize {
        bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count()
    }

    /// Opens and verifies; Ok(entries of group 1) or the error text.
    fn reopen(dir: &Path) -> std::result::Result<Vec<(u64, Vec<u8>)>, String> {
        let store = LogStore::open(dir).map_err(|e| e.to_string())?;
        store.verify().map_err(|e| e.to_string())?;
        store.entries(1, ..).map_err(|e| e.to_string())
    }

    #[test]
    fn a_byte_flipped_anywhere_in_the_journal_is_detected_or_harmless() {
        let dir = temp_dir("journal-flips");
        drop(synced_store(&dir));
        let path = journal(&dir);
        let mut pristine = std::fs::read(&path).unwrap();
        // Only the written bytes, not the preallocated zeros: 64 MiB per trial is slow.
        pristine.truncate(written_len(&pristine));
        let mark = std::fs::read(dir.join(MARK_FILE)).unwrap();
        let expected: Vec<_> = (1..=ENTRIES).map(|i| (i, payload(i))).collect();
        let (mut refused, mut cut_short_caught) = (0, 0);
        // Every third byte keeps the test short; each kind of field is still hit many times.
        for position in (0..pristine.len()).step_by(3) {
            let mut bytes = pristine.clone();
            bytes[position] ^= 0x04;
            std::fs::write(&path, &bytes).unwrap();
            std::fs::write(dir.join(MARK_FILE), &mark).unwrap();
            match reopen(&dir) {
                Ok(entries) => assert_eq!(
                    entries, expected,
                    "a flip at byte {position} changed or lost entries without an error"
                ),
                Err(error) => {
                    assert!(error.contains("corrupt"), "flip at {position}: {error}");
                    refused += 1;
                    cut_short_caught += usize::from(error.contains("synced are missing"));
                }
            }
        }
        assert!(refused > 0);
        // fjall silently ends its replay at some of these flips; the durable mark caught them.
        assert!(cut_short_caught > 0, "no flip made fjall cut the journal short");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_unsynced_tail_is_dropped_and_the_synced_log_is_kept() {
        let dir = temp_dir("torn-tail");
        {
            let store = synced_store(&dir);
            // Written and handed to the OS, never synced: not acknowledged under fsync always.
            store.append(1, &[(ENTRIES + 1, payload(ENTRIES + 1))]).unwrap();
            store.flush_buffers().unwrap();
        }
        let path = journal(&dir);
        let bytes = std::fs::read(&path).unwrap();
        let end = written_len(&bytes);
        // Tear the last batch: its last 10 bytes never reached the disk.
        std::fs::write(&path, &bytes[..end - 10]).unwrap();
        let entries = reopen(&dir).expect("a torn unsynced tail is not an error");
        assert_eq!(entries, (1..=ENTRIES).map(|i| (i, payload(i))).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_synced_entry_missing_from_the_end_is_reported() {
        let dir = temp_dir("cut-synced");
        drop(synced_store(&dir));
        let path = journal(&dir);
        let bytes = std::fs::read(&path).unwrap();
        // The journal cut inside the last (synced) batch, as fjall does at a damaged byte.
        std::fs::write(&path, &bytes[..written_len(&bytes) - 10]).unwrap();
        let error = reopen(&dir).unwrap_err();
        assert!(error.contains("1 of the log entries 1..21 that were synced are missing"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn truncation_and_purge_lower_what_the_mark_requires() {
        let dir = temp_dir("mark-moves");
        {
            let store = synced_store(&dir);
            store.truncate_after(1, Some(15)).unwrap();
            store.purge_upto(1, 4).unwrap();
            store.sync().unwrap();
            assert_eq!(store.mark.required()[&1], Required { from: 5, next: 16 });
            // A new run after a gap (as after installing a snapshot) starts what is required.
            store.purge_upto(1, 15).unwrap();
            store.append(1, &[(40, payload(40)), (41, payload(41))]).unwrap();
            store.sync().unwrap();
            assert_eq!(store.mark.required()[&1], Required { from: 40, next: 42 });
        }
        let entries = reopen(&dir).unwrap();
        assert_eq!(entries.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![40, 41]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn vote_terms_in_the_mark_survive_reopen() {
        let dir = temp_dir("mark-votes");
        {
            let store = LogStore::open(&dir).unwrap();
            assert_eq!(store.durable_vote_term(1), None);
            store.record_vote_term(1, 4).unwrap();
            store.record_vote_term(2, 9).unwrap();
            store.record_vote_term(1, 3).unwrap(); // never lowered
            store.append(1, &[(1, payload(1))]).unwrap();
            store.sync().unwrap();
        }
        let store = LogStore::open(&dir).unwrap();
        assert_eq!(store.durable_vote_term(1), Some(4));
        assert_eq!(store.durable_vote_term(2), Some(9));
        assert_eq!(store.durable_vote_term(3), None);
    }

    #[test]
    fn a_mark_without_a_vote_section_reads_as_no_votes_and_a_damaged_one_as_invalid() {
        let mut state = MarkState {
            file: tempfile_for_mark("mark-encode"),
            sequence: 7,
            written: BTreeMap::new(),
            truncated_since_snapshot: BTreeMap::new(),
            durable: BTreeMap::from([(1, Required { from: 1, next: 10 })]),
            votes: BTreeMap::new(),
        };
        // No votes: the section is zeros, as in files written before it existed.
        let (sequence, groups, votes) = MarkState::decode(&state.encode()).unwrap();
        assert_eq!((sequence, groups.len(), votes.len()), (7, 1, 0));
        state.votes.insert(1, 12);
        let slot = state.encode();
        let (_, _, votes) = MarkState::decode(&slot).unwrap();
        assert_eq!(votes, BTreeMap::from([(1, 12)]));
        let vote_term_at = MARK_HEADER_LEN + MARK_GROUP_LEN + MARK_VOTES_HEADER_LEN + 4;
        let mut damaged = slot.clone();
        damaged[vote_term_at] ^= 0x01;
        assert!(MarkState::decode(&damaged).is_none());
    }

    fn tempfile_for_mark(name: &str) -> File {
        let dir = temp_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        File::create(dir.join("mark")).unwrap()
    }

    #[test]
    fn a_byte_flipped_in_a_segment_file_is_reported() {
        let dir = temp_dir("segment-flip");
        {
            let store = synced_store(&dir);
            store.flush_memtables().unwrap();
        }
        let segment = segment_files(&dir.join("log"))
            .into_iter()
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .expect("a segment file after the flush");
        let mut bytes = std::fs::read(&segment).unwrap();
        let middle = bytes.len() / 3;
        bytes[middle] ^= 0x04;
        std::fs::write(&segment, &bytes).unwrap();
        let error = reopen(&dir).unwrap_err();
        assert!(error.contains("corrupt"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Files under `keyspaces/*/tables/`.
    fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.parent().is_some_and(|p| p.ends_with("tables")) {
                    found.push(path);
                }
            }
        }
        found
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
