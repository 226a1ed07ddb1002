//! The keyspace: 16 numbered databases, each a map from key to value with its expiry time and
//! the log index of its last change.
//!
//! Expiry is decided by the time the caller passes in (the entry's leader time on the write
//! path, the leader's clock on the read path): an expired key is invisible from that moment,
//! and is removed when a write touches it or when the leader proposes its deletion
//! (`expired_keys` tells the leader which keys are due). The database never reads a clock.
//!
//! WATCH versions: every key carries the log index of its last change, and an absent key has
//! version 0. FLUSHDB/FLUSHALL need nothing more: a watched key that existed is now absent
//! (its version drops to 0) and a watched key that was absent stays 0, which is exactly Redis
//! 7's rule (a flush touches only the watched keys it removes). SWAPDB cannot afford to
//! restamp every key, so each database has an `epoch`, the index of the last SWAPDB that
//! replaced its contents, and a present key's version is `max(own version, epoch)`: after a
//! swap every key present in either database reads as changed, and a key absent from both
//! still reads 0 (not touched, as in Redis). WATCH records `version()` and EXEC compares it;
//! no other API is needed. Snapshots must persist `epoch` with the database.
//!
//! The key map is a `KeyMap` (insertion order, fixed hasher) so that iteration order is a
//! function of the operation history; SCAN walks it from the end, which with `swap_remove`
//! guarantees that every key present for the whole scan is returned at least once.
//!
//! Each key also has an access word (OBJECT IDLETIME / FREQ, see access.rs), kept by the key
//! map beside its entry. It is node-local: not compared, not in snapshots. New keys get the
//! word of `access`, the clock the state machine sets before each command.

use bytes::Bytes;
use std::collections::{BTreeSet, HashMap};

use crate::access::{self, AccessClock};
use crate::compact::CompactBytes;
use crate::keymap::KeyMap;
use crate::value::{FixedHasher, Value};

pub const DATABASES: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub value: Value,
    /// Log index of the last change (WATCH compares it), with `HAS_TTL` set when the key has
    /// an entry in `Db::expire_at`: keys without a TTL never look there and carry no expiry
    /// field of their own (each key's entry is 8 bytes smaller; see docs/BENCHMARKS.md).
    /// Bits 61-62 hold the value's encoding floor (see `encoding_floor`).
    version_and_ttl_flag: u64,
}

/// The top bit of `Slot::version_and_ttl_flag`; log indexes never reach it.
const HAS_TTL: u64 = 1 << 63;
/// Bits 61-62: the encoding floor, the most general encoding Redis would have converted this
/// value to so far (0 = none). Redis never converts back (a hash that became a hashtable
/// stays one when it shrinks; a string made raw by APPEND stays raw), so OBJECT ENCODING
/// reports the larger of this and what the content alone would give. Two bits cost no
/// memory per key; log indexes never reach them either.
const FLOOR_SHIFT: u32 = 61;
const FLOOR_MASK: u64 = 0b11 << FLOOR_SHIFT;
/// The largest encoding floor a slot can hold.
pub const ENCODING_FLOOR_MAX: u8 = 3;

impl Slot {
    fn new(value: Value, version: u64) -> Slot {
        assert!(version < 1 << FLOOR_SHIFT, "log index {version} overflows the version field");
        Slot { value, version_and_ttl_flag: version }
    }

    pub fn version(&self) -> u64 {
        self.version_and_ttl_flag & !(HAS_TTL | FLOOR_MASK)
    }

    fn set_version(&mut self, version: u64) {
        assert!(version < 1 << FLOOR_SHIFT, "log index {version} overflows the version field");
        self.version_and_ttl_flag = version | (self.version_and_ttl_flag & (HAS_TTL | FLOOR_MASK));
    }

    fn has_ttl(&self) -> bool {
        self.version_and_ttl_flag & HAS_TTL != 0
    }

    fn set_has_ttl(&mut self, has_ttl: bool) {
        self.version_and_ttl_flag = (self.version_and_ttl_flag & !HAS_TTL) | if has_ttl { HAS_TTL } else { 0 };
    }

    /// The encoding floor (see `FLOOR_SHIFT`): what it means depends on the value's type.
    pub fn encoding_floor(&self) -> u8 {
        ((self.version_and_ttl_flag & FLOOR_MASK) >> FLOOR_SHIFT) as u8
    }

    fn set_encoding_floor(&mut self, floor: u8) {
        assert!(floor <= ENCODING_FLOOR_MAX);
        self.version_and_ttl_flag = (self.version_and_ttl_flag & !FLOOR_MASK) | (floor as u64) << FLOOR_SHIFT;
    }

    /// Version and encoding floor, as a snapshot stores them in one word.
    fn version_and_floor(&self) -> u64 {
        self.version_and_ttl_flag & !HAS_TTL
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Db {
    /// Keys are `CompactBytes`: short keys sit inline in the map's entry (see compact.rs).
    /// Insertion-ordered with swap removal, as an `IndexMap` but smaller (see keymap.rs).
    map: KeyMap<Slot>,
    /// Absolute expiry (unix ms) of every key with a TTL: a side table, as Redis's `expires`
    /// dict, so that keys without a TTL pay nothing for it. Only looked up, never iterated.
    expire_at: HashMap<CompactBytes, u64, FixedHasher>,
    /// (expire_at_ms, key) for every key with a TTL, earliest first.
    expires: BTreeSet<(u64, CompactBytes)>,
    /// Index stamped on keys changed by the command being applied.
    change_index: u64,
    /// Keys removed because they were found expired during a write; drained into events.
    expired_removed: Vec<Bytes>,
    /// Log index of the last SWAPDB that gave this database its contents (see the module
    /// comment): the floor of every present key's WATCH version.
    epoch: u64,
    /// Hashes and sets written by the command being applied: once it finishes, their
    /// encoding floor is raised to what their content now needs (`settle_encoding_floors`).
    touched: Vec<CompactBytes>,
    /// The node's access clock and policy for access words (node-local, always equal).
    access: AccessClock,
    /// The snapshot being encoded a chunk at a time, if any: which positions it has encoded
    /// and the pre-images of slots changed since it started (see `ImageInProgress`).
    image: ImageState,
}

/// A database's part in a chunked snapshot (snapshot.rs `Building`). The image holds the
/// slots at positions `0..len` as they were when the snapshot started; `cursor` walks them
/// up, a chunk at a time, and between chunks commands change the database. Before a change
/// to the slot at an unvisited position (`cursor..len`) that position's pre-image, the bytes
/// the image holds for it, is encoded and kept: so a visit finds either a kept pre-image or
/// the slot exactly as it was at the start, and the image is the one encoded at the start,
/// byte for byte, in the same order (see docs/ARCHITECTURE.md "Snapshots").
#[derive(Debug, Clone)]
pub(crate) struct ImageInProgress {
    /// The database's number when the snapshot started: SWAPDB moves the contents, and this
    /// travels with them.
    pub(crate) number: usize,
    /// Keys at the start: the image holds positions `0..len`.
    pub(crate) len: usize,
    /// Positions below it are in the image.
    pub(crate) cursor: usize,
    /// Position → its pre-image. One allocation each: a single growing buffer would copy
    /// itself, megabytes at a time, under the lock of the write that outgrew it.
    saved: HashMap<u32, Vec<u8>, FixedHasher>,
}

/// A chunked snapshot's state in a `Db`: node-local bookkeeping, equal whatever it holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageState(Option<Box<ImageInProgress>>);

impl PartialEq for ImageState {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Db {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the log index that subsequent changes are stamped with.
    pub fn set_change_index(&mut self, index: u64) {
        self.change_index = index;
    }

    /// Number of keys, including expired ones not yet removed (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// (key map, expiry tables) bytes beside the keys' and values' own blocks, as MEMORY
    /// STATS reports a database's `overhead.hashtable.main` / `.expires`. The expiry index
    /// counts its entries, not its B-tree nodes' slack.
    pub fn overhead_bytes(&self) -> (usize, usize) {
        let expiry_entry = std::mem::size_of::<(CompactBytes, u64)>();
        let expires = crate::memory::table_bytes(self.expire_at.capacity(), expiry_entry)
            + self.expires.len() * expiry_entry;
        (self.map.table_bytes(), expires)
    }

    /// The expiry of the key stored in `slot`, if it has a TTL.
    fn ttl_of(&self, key: &[u8], slot: &Slot) -> Option<u64> {
        if !slot.has_ttl() {
            return None;
        }
        Some(*self.expire_at.get(key).expect("a key flagged with a TTL has an expiry"))
    }

    fn is_expired(&self, key: &[u8], slot: &Slot, now_ms: u64) -> bool {
        self.ttl_of(key, slot).is_some_and(|at| at <= now_ms)
    }

    /// Forgets the TTL of `key` (not its slot's flag): returns the expiry it had.
    fn take_ttl(&mut self, key: &CompactBytes) -> Option<u64> {
        let at = self.expire_at.remove(key.as_slice())?;
        self.expires.remove(&(at, key.clone()));
        Some(at)
    }

    fn put_ttl(&mut self, key: &CompactBytes, at: u64) {
        self.expire_at.insert(key.clone(), at);
        self.expires.insert((at, key.clone()));
    }

    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.get_slot(key, now_ms).map(|slot| &slot.value)
    }

    /// Warms the cache for a batch of lookups of `keys` about to run (see `KeyMap::prefetch`):
    /// the keys' entries, access words and, for a string kept off the entry or a collection,
    /// the value's heap block.
    pub fn prefetch(&self, keys: &[&[u8]]) {
        self.map.prefetch(keys, |slot| match &slot.value {
            Value::Str(CompactBytes::Heap(bytes)) => Some(bytes.as_ptr()),
            Value::Str(CompactBytes::Inline { .. }) => None,
            Value::List(list) => Some((&**list as *const crate::value::ListValue).cast()),
            Value::Hash(hash) => Some((&**hash as *const crate::value::HashValue).cast()),
            Value::Set(set) => Some((&**set as *const crate::value::SetValue).cast()),
            Value::ZSet(zset) => Some((&**zset as *const crate::zset::ZSet).cast()),
            Value::Stream(stream) => Some((&**stream as *const crate::stream::Stream).cast()),
        });
    }

    pub fn get_slot(&self, key: &[u8], now_ms: u64) -> Option<&Slot> {
        let slot = self.map.get(key)?;
        (!self.is_expired(key, slot, now_ms)).then_some(slot)
    }

    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get_slot(key, now_ms).is_some()
    }

    /// Mutable access for a write: removes the key if it has expired, and stamps it as
    /// changed by the current entry.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        self.remove_if_expired(key, now_ms);
        self.before_change(key);
        let index = self.change_index;
        let slot = self.map.get_mut(key)?;
        slot.set_version(index);
        if tracks_encoding(&slot.value) {
            record_touched(&mut self.touched, CompactBytes::new(key));
        }
        Some(&mut slot.value)
    }

    /// Stores `value` under `key`, dropping any previous TTL (as SET does).
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: Value) {
        self.insert_with_expiry(key, value, None);
    }

    /// Stores `value` under `key` keeping the key's current TTL, if it has a live one.
    pub fn insert_keep_ttl(&mut self, key: impl AsRef<[u8]>, value: Value, now_ms: u64) {
        let key = key.as_ref();
        self.remove_if_expired(key, now_ms);
        let expire = self.expire_at(key, now_ms).flatten();
        self.insert_with_expiry(key, value, expire);
    }

    /// Stores `value` with an absolute expiry (None: no TTL). A replaced live key keeps its
    /// access word under an LFU policy, as Redis's `dbSetValue` keeps the old `lru` field;
    /// otherwise the key reads as new.
    pub fn insert_with_expiry(&mut self, key: impl AsRef<[u8]>, value: Value, expire_at_ms: Option<u64>) {
        let key = CompactBytes::new(key.as_ref());
        self.before_change(&key);
        if tracks_encoding(&value) {
            record_touched(&mut self.touched, key.clone());
        }
        let mut slot = Slot::new(value, self.change_index);
        let old_expiry = self.take_ttl(&key);
        if let Some(at) = expire_at_ms.filter(|at| *at != 0) {
            self.put_ttl(&key, at);
            slot.set_has_ttl(true);
        }
        let keep_access = self.access.lfu && old_expiry.is_none_or(|at| at > self.access.now_ms);
        self.map.insert(key, slot, self.access.fresh(), keep_access);
    }

    /// Removes a live key and returns its value (None if absent or expired).
    pub fn remove(&mut self, key: &[u8], now_ms: u64) -> Option<Value> {
        self.remove_if_expired(key, now_ms);
        self.remove_slot(key).map(|slot| slot.value)
    }

    /// Removes a key whatever its expiry (used when the leader's expiry entry deletes it).
    pub fn remove_slot(&mut self, key: &[u8]) -> Option<Slot> {
        self.before_remove(key);
        let (key, slot) = self.map.swap_remove_entry(key)?;
        if slot.has_ttl() {
            self.take_ttl(&key);
        }
        Some(slot)
    }

    /// The key's absolute expiry: None if the key is absent, Some(None) if it has no TTL.
    pub fn expire_at(&self, key: &[u8], now_ms: u64) -> Option<Option<u64>> {
        self.get_slot(key, now_ms).map(|slot| self.ttl_of(key, slot))
    }

    /// Sets (Some) or clears (None) the TTL of a live key; false if the key is absent.
    pub fn set_expire_at(&mut self, key: &[u8], expire_at_ms: Option<u64>, now_ms: u64) -> bool {
        self.remove_if_expired(key, now_ms);
        let Some((stored_key, _)) = self.map.get_key_value(key) else {
            return false;
        };
        let stored_key = stored_key.clone();
        self.before_change(key);
        self.take_ttl(&stored_key);
        let expire_at_ms = expire_at_ms.filter(|at| *at != 0);
        if let Some(at) = expire_at_ms {
            self.put_ttl(&stored_key, at);
        }
        let index = self.change_index;
        let slot = self.map.get_mut(key).expect("the key was just found");
        slot.set_version(index);
        slot.set_has_ttl(expire_at_ms.is_some());
        true
    }

    /// Version of a key for WATCH: the index of its last change (or of the SWAPDB that brought
    /// it here, if later), 0 when absent.
    pub fn version(&self, key: &[u8], now_ms: u64) -> u64 {
        self.get_slot(key, now_ms)
            .map_or(0, |slot| slot.version().max(self.epoch))
    }

    /// The encoding floor of a live key (0 when absent); see `FLOOR_SHIFT`.
    pub fn encoding_floor(&self, key: &[u8], now_ms: u64) -> u8 {
        self.get_slot(key, now_ms).map_or(0, Slot::encoding_floor)
    }

    /// Raises the encoding floor of a stored key to at least `floor` (a conversion Redis
    /// would have made: APPEND making a string raw, or a key keeping the floor it had under
    /// another name). Not a change of the value: the WATCH version stays.
    pub fn raise_encoding_floor(&mut self, key: &[u8], floor: u8) {
        if self.map.get(key).is_some_and(|slot| floor > slot.encoding_floor()) {
            self.before_change(key);
            let slot = self.map.get_mut(key).expect("the key was just found");
            slot.set_encoding_floor(floor);
        }
    }

    /// Clears the encoding floor of a stored key whose value was replaced in place by a new
    /// object (INCR's result is a fresh integer, never a raw string).
    pub fn reset_encoding_floor(&mut self, key: &[u8]) {
        if self.map.get(key).is_some_and(|slot| slot.encoding_floor() != 0) {
            self.before_change(key);
            let slot = self.map.get_mut(key).expect("the key was just found");
            slot.set_encoding_floor(0);
        }
    }

    /// Raises the floor of every hash and set written since the last call to the level
    /// `level_of` gives for its content now (called when each command finishes, so the
    /// floor records every state a command left the value in).
    pub fn settle_encoding_floors(&mut self, level_of: &impl Fn(&Value) -> u8) {
        if self.touched.is_empty() {
            return;
        }
        for key in std::mem::take(&mut self.touched) {
            let Some(slot) = self.map.get(key.as_slice()) else {
                continue;
            };
            let level = level_of(&slot.value);
            if level > slot.encoding_floor() {
                self.before_change(&key);
                let slot = self.map.get_mut(key.as_slice()).expect("the key was just found");
                slot.set_encoding_floor(level);
            }
        }
    }

    /// Sets the clock and policy that touches and new keys use (see access.rs).
    pub fn set_access_clock(&mut self, clock: AccessClock) {
        self.access = clock;
    }

    pub fn access_clock(&self) -> AccessClock {
        self.access
    }

    /// Records an access to a live `key` (Redis's LRU/LFU update on lookup) by the command
    /// with `seed`, which names the key at argument `position`. True when the key is live.
    pub fn touch(&self, key: &[u8], now_ms: u64, seed: u64, position: usize) -> bool {
        let clock = self.access;
        let mut live = false;
        self.map.update_access(key, |slot, word| {
            live = !self.is_expired(key, slot, now_ms);
            live.then(|| clock.touched(word, access::draw(seed, position, word)))
        });
        live
    }

    /// The access word of a live key.
    pub fn access_word(&self, key: &[u8], now_ms: u64) -> Option<u32> {
        self.get_slot(key, now_ms)?;
        self.map.access(key)
    }

    /// Replaces the access word of a stored key (RENAME and MOVE carry it, RESTORE sets it).
    pub fn set_access_word(&self, key: &[u8], word: u32) {
        self.map.update_access(key, |_, _| Some(word));
    }

    /// OBJECT IDLETIME: seconds since a live key was last accessed.
    pub fn idle_seconds(&self, key: &[u8], now_ms: u64) -> Option<u64> {
        self.access_word(key, now_ms).map(|word| self.access.idle_seconds(word))
    }

    /// OBJECT FREQ: a live key's logarithmic access counter.
    pub fn frequency(&self, key: &[u8], now_ms: u64) -> Option<u8> {
        self.access_word(key, now_ms).map(|word| self.access.frequency(word))
    }

    /// The index of the last SWAPDB that replaced this database's contents (0: never).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Restores the epoch (snapshot loading).
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// True when `key` is stored but has expired by `now_ms` (the leader's expiry entry
    /// removes exactly such keys).
    pub fn is_expired_at(&self, key: &[u8], now_ms: u64) -> bool {
        self.map.get(key).is_some_and(|slot| self.is_expired(key, slot, now_ms))
    }

    /// Removes `key` if it has expired, as Redis's lookup for a write does; the removal is
    /// reported as an `expired` notification when the command finishes. True if removed.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.remove_if_expired(key, now_ms)
    }

    /// Keys whose expiry time is at or before `now_ms`, earliest first, at most `limit`.
    pub fn expired_keys(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        self.expires
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, key)| key.to_bytes())
            .collect()
    }

    /// Takes the keys removed on access because they had expired.
    pub fn take_expired_removed(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.expired_removed)
    }

    /// Whether keys removed on access wait to be taken (checked before taking, after every
    /// op on all sixteen databases: a read, where taking is a write to each).
    pub fn has_expired_removed(&self) -> bool {
        !self.expired_removed.is_empty()
    }

    pub fn clear(&mut self) {
        self.keep_unvisited();
        self.map.clear();
        self.expire_at = HashMap::default();
        self.expires.clear();
    }

    /// Entry by position, for SCAN and RANDOMKEY (position in `0..len()`).
    pub fn get_index(&self, position: usize) -> Option<(&CompactBytes, &Slot)> {
        self.map.get_index(position)
    }

    /// All live keys, in map order.
    pub fn keys(&self, now_ms: u64) -> impl Iterator<Item = &CompactBytes> {
        self.iter(now_ms).map(|(key, _)| key)
    }

    /// All live entries, in map order.
    pub fn iter(&self, now_ms: u64) -> impl Iterator<Item = (&CompactBytes, &Slot)> {
        self.map
            .iter()
            .filter(move |(key, slot)| !self.is_expired(key, slot, now_ms))
    }

    fn remove_if_expired(&mut self, key: &[u8], now_ms: u64) -> bool {
        if !self.is_expired_at(key, now_ms) {
            return false;
        }
        self.before_remove(key);
        let Some((key, _)) = self.map.swap_remove_entry(key) else {
            return false;
        };
        self.take_ttl(&key);
        self.expired_removed.push(key.to_bytes());
        EXPIRED_REMOVED.set(true);
        true
    }
}

/// Hashes and sets have an encoding floor that follows their content (see
/// `Db::settle_encoding_floors`); a string's is set by the commands that make it raw.
fn tracks_encoding(value: &Value) -> bool {
    matches!(value, Value::Hash(_) | Value::Set(_))
}

/// Node-local configuration that some keyspace commands report against. It is not
/// replicated state and is not in snapshots: the server sets it from CONFIG SET (and sets
/// it again on a keyspace restored from a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSettings {
    /// `hash-max-listpack-entries` … (OBJECT ENCODING).
    pub encoding: EncodingLimits,
    /// `maxmemory-policy` is an LFU one: keys count accesses, OBJECT FREQ answers and OBJECT
    /// IDLETIME refuses (see access.rs).
    pub lfu_policy: bool,
    /// `lfu-log-factor` and `lfu-decay-time` (minutes), with Redis's defaults.
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// `cluster-enabled yes`: MOVE, SWAPDB and COPY … DB refuse, as Redis does.
    pub cluster_enabled: bool,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            encoding: EncodingLimits::default(),
            lfu_policy: false,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            cluster_enabled: false,
        }
    }
}

impl LocalSettings {
    /// The CONFIG parameters held here (old `ziplist` names included), as CONFIG GET shows
    /// them.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let limits = &self.encoding;
        let mut parameters = Vec::new();
        for (names, value) in [
            (
                ["hash-max-listpack-entries", "hash-max-ziplist-entries"],
                limits.hash_max_listpack_entries,
            ),
            (
                ["hash-max-listpack-value", "hash-max-ziplist-value"],
                limits.hash_max_listpack_value,
            ),
            (
                ["zset-max-listpack-entries", "zset-max-ziplist-entries"],
                limits.zset_max_listpack_entries,
            ),
            (
                ["zset-max-listpack-value", "zset-max-ziplist-value"],
                limits.zset_max_listpack_value,
            ),
        ] {
            for name in names {
                parameters.push((name, value.to_string()));
            }
        }
        parameters.push((
            "set-max-intset-entries",
            limits.set_max_intset_entries.to_string(),
        ));
        parameters.push((
            "set-max-listpack-entries",
            limits.set_max_listpack_entries.to_string(),
        ));
        parameters.push((
            "set-max-listpack-value",
            limits.set_max_listpack_value.to_string(),
        ));
        parameters.push((
            "list-max-listpack-size",
            limits.list_max_listpack_size.to_string(),
        ));
        parameters.push(("list-max-ziplist-size", limits.list_max_listpack_size.to_string()));
        parameters.push(("lfu-log-factor", self.lfu_log_factor.to_string()));
        parameters.push(("lfu-decay-time", self.lfu_decay_time.to_string()));
        parameters
    }

    /// CONFIG SET of one parameter: None if it is not held here, Some(Err(reason)) for a value
    /// Redis would refuse (the reason as CONFIG SET words it). `maxmemory-policy` is
    /// recognized for its LFU-ness and reported as not held (its value lives with the
    /// server's other settings).
    pub fn set(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
        let name = name.to_ascii_lowercase();
        if name == "maxmemory-policy" {
            let policy = value.to_ascii_lowercase();
            if policy.ends_with("-lfu") {
                self.lfu_policy = true;
            } else if policy.ends_with("-lru")
                || policy.ends_with("-random")
                || policy == "volatile-ttl"
                || policy == "noeviction"
            {
                self.lfu_policy = false;
            }
            return None;
        }
        if name == "lfu-log-factor" || name == "lfu-decay-time" {
            return Some(match value.parse::<i64>() {
                Ok(number) if (0..=i32::MAX as i64).contains(&number) => {
                    if name == "lfu-log-factor" {
                        self.lfu_log_factor = number as u32;
                    } else {
                        self.lfu_decay_time = number as u32;
                    }
                    Ok(())
                }
                Ok(_) => Err("argument must be between 0 and 2147483647 inclusive".to_string()),
                Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
            });
        }
        let limits = &mut self.encoding;
        let field: &mut usize = match name.as_str() {
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => &mut limits.hash_max_listpack_entries,
            "hash-max-listpack-value" | "hash-max-ziplist-value" => &mut limits.hash_max_listpack_value,
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => &mut limits.zset_max_listpack_entries,
            "zset-max-listpack-value" | "zset-max-ziplist-value" => &mut limits.zset_max_listpack_value,
            "set-max-intset-entries" => &mut limits.set_max_intset_entries,
            "set-max-listpack-entries" => &mut limits.set_max_listpack_entries,
            "set-max-listpack-value" => &mut limits.set_max_listpack_value,
            "list-max-listpack-size" | "list-max-ziplist-size" => {
                return Some(match value.parse::<i32>() {
                    Ok(size) => {
                        limits.list_max_listpack_size = size as i64;
                        Ok(())
                    }
                    Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
                });
            }
            _ => return None,
        };
        Some(match value.parse::<i64>() {
            Ok(number) if number >= 0 => {
                *field = number as usize;
                Ok(())
            }
            Ok(_) => Err("argument must be between 0 and 9223372036854775807 inclusive".to_string()),
            Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
        })
    }
}

/// Configuration that shapes replicated state, so it is replicated state itself: CONFIG SET
/// of these parameters is proposed as `Op::ConfigSet` and applied in log order, snapshots
/// carry it, and every replica and every replay of the log uses the value in force at
/// each entry. Today: the stream node size, which decides where XADD starts a node and so
/// which entries `~` trimming removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicatedSettings {
    /// `stream-node-max-bytes` / `stream-node-max-entries`, with Redis's defaults.
    pub stream_node: crate::stream::NodeLimits,
}

impl ReplicatedSettings {
    /// The parameters held here, in the order CONFIG GET and snapshots list them.
    pub const NAMES: &'static [&'static str] = &["stream-node-max-bytes", "stream-node-max-entries"];

    /// Whether CONFIG parameter `name` (any case) is held here.
    pub fn holds(name: &str) -> bool {
        Self::NAMES.iter().any(|held| held.eq_ignore_ascii_case(name))
    }

    /// Every parameter with its value, as CONFIG GET shows them.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("stream-node-max-bytes", self.stream_node.max_bytes.to_string()),
            ("stream-node-max-entries", self.stream_node.max_entries.to_string()),
        ]
    }

    /// Sets one parameter; Err(reason) as CONFIG SET words it, for a value Redis refuses or
    /// a name not held here (the settings are then unchanged).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let field = if name.eq_ignore_ascii_case("stream-node-max-bytes") {
            &mut self.stream_node.max_bytes
        } else if name.eq_ignore_ascii_case("stream-node-max-entries") {
            &mut self.stream_node.max_entries
        } else {
            return Err(format!("Unknown option or number of arguments for CONFIG SET - '{name}'"));
        };
        match value.parse::<i64>() {
            Ok(number) if number >= 0 => {
                *field = number as u64;
                Ok(())
            }
            Ok(_) => Err("argument must be between 0 and 9223372036854775807 inclusive".to_string()),
            Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
        }
    }

    /// Sets every (name, value) pair or, if one is refused, none: Err(name, reason).
    pub fn set_all<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), (String, String)> {
        let mut changed = *self;
        for (name, value) in pairs {
            changed.set(name, value).map_err(|reason| (name.to_string(), reason))?;
        }
        *self = changed;
        Ok(())
    }
}

/// The thresholds Redis uses to choose a compact or a general encoding, with Redis's
/// defaults. Values here are always stored the same way; OBJECT ENCODING reports the
/// encoding Redis would use for the content under these limits. The `*-ziplist-*` config
/// aliases map to the same fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `list-max-listpack-size`: negative = byte limit level (-1 = 4 KiB … -5 = 64 KiB),
    /// positive = entry count.
    pub list_max_listpack_size: i64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}

thread_local! {
    /// Whether a database of a keyspace applied on this thread recorded a hash or set write
    /// since the last settle (`take_encoding_touched`). A command applies on one thread from
    /// start to settle, so the settle after each command can skip the sixteen databases when
    /// it wrote none: visiting them per op showed in profiles (3-4% of a follower's CPU at SET).
    static ENCODING_TOUCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

thread_local! {
    /// Whether a database of a keyspace applied on this thread removed an expired key since
    /// the last `take_expired_removed_flag`: only then can `Ctx::flush_expired` find keys to
    /// report. As with `ENCODING_TOUCHED`, a command runs on one thread from start to flush;
    /// looking at all sixteen databases after every op was ~1% of a node's CPU at LPUSH.
    static EXPIRED_REMOVED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True (and reset) when some database removed an expired key on this thread since the last
/// call (see `EXPIRED_REMOVED`).
pub fn take_expired_removed_flag() -> bool {
    EXPIRED_REMOVED.replace(false)
}

/// Notes a hash or set write for the settle after the command (`Db::settle_encoding_floors`)
/// and flags this thread so the settle knows to look. A function of the list, not a `Db`
/// method, so callers holding a slot of the map can call it.
fn record_touched(touched: &mut Vec<CompactBytes>, key: CompactBytes) {
    touched.push(key);
    ENCODING_TOUCHED.set(true);
}

/// True (and reset) when some database recorded a hash or set write on this thread since the
/// last call: only then can `Db::settle_encoding_floors` find anything to do.
pub fn take_encoding_touched() -> bool {
    ENCODING_TOUCHED.replace(false)
}

/// All databases of one shard's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Node-local configuration (see `LocalSettings`).
    pub settings: LocalSettings,
    /// Replicated configuration, in snapshots (see `ReplicatedSettings`).
    pub replicated_settings: ReplicatedSettings,
    /// The Lua script cache, SHA-1 hex (lower case) → body: replicated state, in snapshots
    /// (see commands/scripting.rs). Ordered, so snapshots list it alike everywhere.
    pub scripts: std::collections::BTreeMap<String, bytes::Bytes>,
    /// Redis Functions libraries (FUNCTION LOAD …): replicated state, in snapshots, kept by
    /// FLUSHALL as in Redis (see functions.rs).
    pub libraries: crate::functions::Libraries,
    /// The access clock last given to every database (`now_ms` u64::MAX: none yet): most ops
    /// run at the clock of the op before them, and setting it on all sixteen databases per
    /// op showed in profiles. Node-local, and never part of equality (see `AccessClock`).
    access_clock: AccessClock,
    /// Whether commands report keyspace events (see `EventSwitch`).
    pub keyspace_events: EventSwitch,
}

/// Whether commands report what they changed as events (`Event::Notify`, `Event::Ready`).
/// Node-local, like the access clock: events change no state, and the node turns them off
/// while nothing on it would act on them (no `notify-keyspace-events`, no tracking client,
/// no blocked client), because making and dropping one per write showed in profiles. It is
/// never part of equality.
#[derive(Debug, Clone, Copy)]
pub struct EventSwitch(pub bool);

impl Default for EventSwitch {
    fn default() -> Self {
        EventSwitch(true)
    }
}

impl PartialEq for EventSwitch {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Default for Keyspace {
    fn default() -> Self {
        Self {
            dbs: (0..DATABASES).map(|_| Db::new()).collect(),
            settings: LocalSettings::default(),
            replicated_settings: ReplicatedSettings::default(),
            scripts: std::collections::BTreeMap::new(),
            libraries: crate::functions::Libraries::default(),
            access_clock: AccessClock { now_ms: u64::MAX, ..AccessClock::default() },
            keyspace_events: EventSwitch::default(),
        }
    }
}

impl Keyspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives every database the access clock for a command running at `now_ms` on this node
    /// (which must never decrease), under the policy in `settings`.
    pub fn set_access_clock(&mut self, now_ms: u64) {
        let clock = AccessClock {
            now_ms,
            lfu: self.settings.lfu_policy,
            log_factor: self.settings.lfu_log_factor,
            decay_minutes: self.settings.lfu_decay_time,
        };
        if self.access_clock.same_as(&clock) {
            return;
        }
        self.access_clock = clock;
        for db in &mut self.dbs {
            db.set_access_clock(clock);
        }
    }

    /// SWAPDB: exchanges the contents of two databases. Both get `index` as their epoch so
    /// that every key now present in either reads as changed to WATCH (see the module
    /// comment). Blocked clients and watchers stay with their database number, as in Redis.
    pub fn swap_dbs(&mut self, first: usize, second: usize, index: u64) {
        assert!(first < self.dbs.len() && second < self.dbs.len());
        if first == second {
            return;
        }
        self.dbs.swap(first, second);
        for db in [first, second] {
            self.dbs[db].epoch = index;
            self.dbs[db].change_index = index;
        }
    }
}

/// Snapshot loading: puts a slot back exactly as it was saved (value, expiry, version).
impl Db {
    /// `version` is the word `raw_slots` gave: the log index with the encoding floor above it.
    pub(crate) fn restore_slot(&mut self, key: &[u8], value: Value, expire_at_ms: u64, version: u64) {
        let key = CompactBytes::new(key);
        let mut slot = Slot::new(value, version & !FLOOR_MASK);
        slot.set_encoding_floor(((version & FLOOR_MASK) >> FLOOR_SHIFT) as u8);
        if expire_at_ms != 0 {
            self.put_ttl(&key, expire_at_ms);
            slot.set_has_ttl(true);
        }
        self.map.insert(key, slot, self.access.fresh(), false);
    }

    /// Every slot, expired or not, in map order: (key, value, expire_at_ms or 0, version with
    /// the encoding floor in bits 61-62).
    pub(crate) fn raw_slots(&self) -> impl Iterator<Item = (&CompactBytes, &Value, u64, u64)> {
        self.map
            .iter()
            .map(|(key, slot)| (key, &slot.value, self.ttl_of(key, slot).unwrap_or(0), slot.version_and_floor()))
    }
}

/// Chunked snapshots (see `ImageInProgress`).
impl Db {
    /// Starts this database's part of a snapshot, as database `number`, at its present state.
    pub(crate) fn begin_image(&mut self, number: usize) {
        self.image.0 = Some(Box::new(ImageInProgress {
            number,
            len: self.map.len(),
            cursor: 0,
            saved: HashMap::default(),
        }));
    }

    /// The snapshot this database takes part in: its number and progress.
    pub(crate) fn image(&self) -> Option<&ImageInProgress> {
        self.image.0.as_deref()
    }

    /// Forgets the snapshot in progress (it is done, or abandoned).
    pub(crate) fn end_image(&mut self) {
        self.image.0 = None;
    }

    /// Appends the next unvisited positions to `out`: at most `keys` of them, and none once
    /// `out` has grown by `bytes`. Slots unchanged since the start are encoded as they are,
    /// changed ones from their pre-image. True once every position is in `out`.
    /// `start_index` is the snapshot's index: no unchanged slot can be newer.
    pub(crate) fn image_step(
        &mut self,
        out: &mut impl crate::snapshot::ImageOut,
        keys: usize,
        bytes: usize,
        start_index: u64,
    ) -> bool {
        let image = self.image.0.as_deref_mut().expect("a snapshot in progress");
        let limit = out.written() + bytes;
        let end = image.len.min(image.cursor.saturating_add(keys));
        while image.cursor < end && out.written() < limit {
            let position = image.cursor;
            if let Some(saved) = image.saved.remove(&(position as u32)) {
                out.put_encoded(saved);
            } else {
                let (key, slot) = self.map.get_index(position).expect("an unvisited position left empty has a pre-image");
                assert!(
                    slot.version() <= start_index,
                    "slot changed at {} after the snapshot at {start_index} without a pre-image",
                    slot.version()
                );
                let expire_at_ms = ttl_in(&self.expire_at, key, slot).unwrap_or(0);
                crate::snapshot::encode_slot(out, key, &slot.value, expire_at_ms, slot.version_and_floor());
            }
            out.boundary();
            image.cursor += 1;
        }
        image.cursor == image.len
    }

    /// Keeps the pre-image of the slot of `key` before it changes in place.
    fn before_change(&mut self, key: &[u8]) {
        if self.image.0.is_none() {
            return;
        }
        if let Some(position) = self.map.position(key) {
            self.keep(position);
        }
    }

    /// Keeps what a removal of `key` would lose: its slot's pre-image, and the last slot's,
    /// which `swap_remove` moves down into the hole (below the cursor it would never be
    /// visited; elsewhere its position would hold another slot).
    fn before_remove(&mut self, key: &[u8]) {
        if self.image.0.is_none() {
            return;
        }
        if let Some(position) = self.map.position(key) {
            self.keep(position);
            self.keep(self.map.len() - 1);
        }
    }

    /// Keeps the pre-image of every unvisited position: the contents are about to go as a
    /// whole (FLUSHDB, FLUSHALL), and the snapshot still needs them.
    fn keep_unvisited(&mut self) {
        let Some(image) = self.image.0.as_deref() else {
            return;
        };
        for position in image.cursor..image.len {
            self.keep(position);
        }
    }

    /// Encodes the slot at `position` as its pre-image, unless the position is visited,
    /// outside the image (a key added since the start) or already kept.
    fn keep(&mut self, position: usize) {
        let Some(image) = self.image.0.as_deref_mut() else {
            return;
        };
        if position < image.cursor || position >= image.len || image.saved.contains_key(&(position as u32)) {
            return;
        }
        // An unvisited position in the image that no longer holds a slot was vacated by a
        // removal, which kept its pre-image: so this one holds the slot it held at the start.
        let (key, slot) = self.map.get_index(position).expect("an unkept position in the image holds its slot");
        let mut saved = Vec::new();
        let expire_at_ms = ttl_in(&self.expire_at, key, slot).unwrap_or(0);
        crate::snapshot::encode_slot(&mut saved, key, &slot.value, expire_at_ms, slot.version_and_floor());
        image.saved.insert(position as u32, saved);
    }
}

/// `Db::ttl_of` over the expiry table alone, for code that borrows the rest of the database.
fn ttl_in(expire_at: &HashMap<CompactBytes, u64, FixedHasher>, key: &[u8], slot: &Slot) -> Option<u64> {
    if !slot.has_ttl() {
        return None;
    }
    Some(*expire_at.get(key).expect("a key flagged with a TTL has an expiry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn expired_keys_are_invisible_and_removed_on_write() {
        let mut db = Db::new();
        db.insert_with_expiry(key("a"), Value::Str(b"1"[..].into()), Some(100));
        assert!(db.contains(b"a", 99));
        assert!(!db.contains(b"a", 100));
        assert_eq!(db.expired_keys(100, 10), vec![key("a")]);
        assert!(db.get_mut(b"a", 100).is_none());
        assert_eq!(db.take_expired_removed(), vec![key("a")]);
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
    }

    /// MEMORY STATS' per-database overhead: the key map's tables at their capacity (entry
    /// 56 bytes, index, access word), and the expiry tables only for keys with a TTL.
    #[test]
    fn overhead_follows_the_tables() {
        let mut db = Db::new();
        assert_eq!(db.overhead_bytes(), (0, 0));
        for i in 0..1000 {
            db.insert(key(&format!("k{i}")), Value::Str(b"v"[..].into()));
        }
        let (main, expires) = db.overhead_bytes();
        assert_eq!(expires, 0);
        // At least 56 + 5 + 4 bytes a key; capacity doubles, so at most about twice that.
        assert!((65_000..=140_000).contains(&main), "{main}");
        db.insert_with_expiry(key("t"), Value::Str(b"v"[..].into()), Some(100));
        let (_, expires) = db.overhead_bytes();
        assert!(expires >= 2 * std::mem::size_of::<(CompactBytes, u64)>(), "{expires}");
        db.clear();
        assert_eq!(db.overhead_bytes(), (0, 0));
    }

    #[test]
    fn overwrite_clears_or_keeps_ttl() {
        let mut db = Db::new();
        db.insert_with_expiry(key("a"), Value::Str(b"1"[..].into()), Some(100));
        db.insert_keep_ttl(key("a"), Value::Str(b"2"[..].into()), 50);
        assert_eq!(db.expire_at(b"a", 50), Some(Some(100)));
        db.insert(key("a"), Value::Str(b"3"[..].into()));
        assert_eq!(db.expire_at(b"a", 50), Some(None));
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn swap_marks_present_keys_changed_and_leaves_absent_ones() {
        let mut keyspace = Keyspace::new();
        keyspace.dbs[0].set_change_index(3);
        keyspace.dbs[0].insert(key("a"), Value::Str(b"1"[..].into()));
        keyspace.dbs[1].set_change_index(4);
        keyspace.dbs[1].insert(key("b"), Value::Str(b"2"[..].into()));
        keyspace.swap_dbs(0, 1, 10);
        assert_eq!(keyspace.dbs[0].version(b"b", 0), 10);
        assert_eq!(keyspace.dbs[1].version(b"a", 0), 10);
        assert_eq!(keyspace.dbs[0].version(b"a", 0), 0);
        assert_eq!(keyspace.dbs[0].version(b"missing", 0), 0);
        keyspace.dbs[0].set_change_index(12);
        keyspace.dbs[0].insert(key("b"), Value::Str(b"3"[..].into()));
        assert_eq!(keyspace.dbs[0].version(b"b", 0), 12);
    }

    #[test]
    fn local_settings_follow_config_set() {
        let mut settings = LocalSettings::default();
        assert_eq!(settings.set("hash-max-ziplist-entries", "0"), Some(Ok(())));
        assert_eq!(settings.encoding.hash_max_listpack_entries, 0);
        assert_eq!(settings.set("LIST-MAX-LISTPACK-SIZE", "16"), Some(Ok(())));
        assert_eq!(settings.encoding.list_max_listpack_size, 16);
        assert!(matches!(
            settings.set("set-max-intset-entries", "x"),
            Some(Err(_))
        ));
        assert_eq!(settings.set("maxmemory-policy", "allkeys-lfu"), None);
        assert!(settings.lfu_policy);
        assert_eq!(settings.set("port", "1"), None);
        assert!(settings
            .parameters()
            .contains(&("zset-max-ziplist-entries", "128".to_string())));
    }

    /// Every key's map entry holds a Slot inline: its size is memory per key (docs/BENCHMARKS.md).
    #[test]
    fn slots_stay_compact() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Slot>(), 32);
        // Plus the access word beside the entry (keymap.rs), not in it.
        assert_eq!(std::mem::size_of::<std::sync::atomic::AtomicU32>(), 4);
    }

    #[test]
    fn ttl_lives_in_the_side_table_and_follows_the_key() {
        let mut db = Db::new();
        db.set_change_index(5);
        db.insert_with_expiry(key("a"), Value::Str(b"1"[..].into()), Some(100));
        db.insert(key("b"), Value::Str(b"2"[..].into()));
        assert_eq!(db.expire_at(b"a", 0), Some(Some(100)));
        assert_eq!(db.expire_at(b"b", 0), Some(None));
        assert!(db.set_expire_at(b"b", Some(200), 0));
        assert!(db.set_expire_at(b"a", None, 0));
        assert_eq!(db.expire_at(b"a", 0), Some(None));
        assert_eq!(db.expired_keys(u64::MAX, 10), vec![key("b")]);
        assert_eq!(db.version(b"a", 0), 5);
        let raw: Vec<(Vec<u8>, u64, u64)> =
            db.raw_slots().map(|(k, _, at, version)| (k.to_vec(), at, version)).collect();
        assert_eq!(raw, vec![(b"a".to_vec(), 0, 5), (b"b".to_vec(), 200, 5)]);
        assert!(db.remove(b"b", 0).is_some());
        assert_eq!(db.expires_len(), 0);
        assert!(db.expire_at.is_empty());
    }

    #[test]
    fn versions_follow_the_change_index() {
        let mut db = Db::new();
        db.set_change_index(7);
        db.insert(key("a"), Value::Str(b"1"[..].into()));
        assert_eq!(db.version(b"a", 0), 7);
        db.set_change_index(9);
        db.set_expire_at(b"a", Some(1000), 0);
        assert_eq!(db.version(b"a", 0), 9);
        assert_eq!(db.version(b"missing", 0), 0);
    }
}
