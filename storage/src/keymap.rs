//! `KeyMap`: the insertion-ordered map from key to slot that holds a database's keys.
//!
//! It behaves as `IndexMap` does for everything the keyspace relies on (see the determinism
//! rules in docs/ARCHITECTURE.md): entries sit in a `Vec` in insertion order, a replaced
//! value keeps its position, and `swap_remove` moves the last entry into the hole. It exists
//! because the keyspace is the one map with millions of entries, where IndexMap's general
//! layout cost memory per key:
//! - IndexMap stores each entry's 8-byte hash; here the hash is recomputed from the key when
//!   the index table grows (foldhash over a short key is cheap);
//! - its index table holds `usize` positions; here `u32` (a shard holds fewer than 2^32 keys);
//! - it grows its entry `Vec` to the index table's capacity (up to 1.75x the keys); here the
//!   `Vec` grows on its own (doubling), so at most 2x and usually far less is allocated.
//!
//! Beside the entries it keeps each key's access word (OBJECT IDLETIME / FREQ, see access.rs)
//! in a parallel `Vec`, moved in step by `swap_remove`: 4 bytes per key where a field in the
//! entry would pad it by 8. The words are node-local and take no part in equality.

use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::access::AccessWords;
use crate::compact::CompactBytes;
use crate::value::FixedHasher;

#[derive(Clone)]
pub struct KeyMap<V> {
    entries: Vec<(CompactBytes, V)>,
    /// Positions in `entries`, hashed by their key.
    indices: HashTable<u32>,
    /// The access word of `entries[i]` at `access[i]`.
    access: AccessWords,
    hasher: FixedHasher,
    /// The position the last lookup found. A command looks its key up several times (the
    /// touch, the expiry check, the write), and a repeat then costs one key comparison instead
    /// of a hash and a probe. Never wrong, only stale: it is used only if the entry at that
    /// position holds the key looked up, and keys are unique.
    last_found: LastFound,
}

#[derive(Default)]
struct LastFound(AtomicU32);

impl Clone for LastFound {
    fn clone(&self) -> Self {
        LastFound(AtomicU32::new(self.0.load(Ordering::Relaxed)))
    }
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            entries: Vec::new(),
            indices: HashTable::new(),
            access: AccessWords::default(),
            hasher: FixedHasher::default(),
            last_found: LastFound::default(),
        }
    }
}

impl<V> KeyMap<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the map's own tables at their capacity (entries, index, access words), the
    /// keys' and values' separate heap blocks excluded: MEMORY STATS' hashtable overhead.
    pub fn table_bytes(&self) -> usize {
        crate::memory::allocation_size(self.entries.capacity() * std::mem::size_of::<(CompactBytes, V)>())
            + crate::memory::table_bytes(self.indices.capacity(), std::mem::size_of::<u32>())
            + crate::memory::allocation_size(self.access.capacity() * std::mem::size_of::<u32>())
    }

    /// Removes every entry and gives the tables' memory back (FLUSHDB, FLUSHALL), as Redis
    /// frees a flushed database's dict: kept, a 1M-key map's capacity was ~73 MB.
    pub fn clear(&mut self) {
        self.entries = Vec::new();
        self.indices = HashTable::new();
        self.access.clear();
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The position of `key` in map order (`0..len()`).
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        let last = self.last_found.0.load(Ordering::Relaxed) as usize;
        if self.entries.get(last).is_some_and(|(stored, _)| stored.as_slice() == key) {
            return Some(last);
        }
        let found = self.position_hashed(self.hash(key), key);
        if let Some(position) = found {
            self.last_found.0.store(position as u32, Ordering::Relaxed);
        }
        found
    }

    /// `position` for a key whose hash the caller already has.
    fn position_hashed(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.indices
            .find(hash, |&position| entries[position as usize].0.as_slice() == key)
            .map(|&position| position as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.position(key).map(|position| &self.entries[position].1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let position = self.position(key)?;
        Some(&mut self.entries[position].1)
    }

    /// The stored key and its value.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&CompactBytes, &V)> {
        self.position(key).map(|position| {
            let (key, value) = &self.entries[position];
            (key, value)
        })
    }

    /// Inserts or replaces; a replaced value keeps its position. Returns the old value. A new
    /// key gets the access word `access`; a replaced one keeps its word if `keep_access`.
    pub fn insert(&mut self, key: CompactBytes, value: V, access: u32, keep_access: bool) -> Option<V> {
        if let Some(position) = self.position(&key) {
            if !keep_access {
                self.access.set(position, access);
            }
            return Some(std::mem::replace(&mut self.entries[position].1, value));
        }
        let position = u32::try_from(self.entries.len()).expect("fewer than 2^32 keys per database");
        let hash = self.hash(&key);
        let Self { entries, indices, hasher, .. } = self;
        indices.insert_unique(hash, position, |&position| {
            hasher.hash_one(entries[position as usize].0.as_slice())
        });
        entries.push((key, value));
        self.access.push(access);
        self.last_found.0.store(position, Ordering::Relaxed);
        None
    }

    /// Removes `key`; the last entry takes its position.
    pub fn swap_remove_entry(&mut self, key: &[u8]) -> Option<(CompactBytes, V)> {
        let hash = self.hash(key);
        let Self { entries, indices, hasher, .. } = self;
        let found = indices
            .find_entry(hash, |&position| entries[position as usize].0.as_slice() == key)
            .ok()?;
        let (position, _) = found.remove();
        let position = position as usize;
        let last = entries.len() - 1;
        if position != last {
            let moved_hash = hasher.hash_one(entries[last].0.as_slice());
            let moved = indices
                .find_mut(moved_hash, |&index| index as usize == last)
                .expect("every entry is indexed");
            *moved = position as u32;
        }
        self.access.swap_remove(position);
        Some(entries.swap_remove(position))
    }

    /// The access word of `key`.
    pub fn access(&self, key: &[u8]) -> Option<u32> {
        self.position(key).map(|position| self.access.get(position))
    }

    /// Replaces the access word of `key` with what `update` makes of the value and the word
    /// (None: leaves it). Takes `&self`: reads touch keys. False if the key is absent.
    pub fn update_access(&self, key: &[u8], update: impl FnOnce(&V, u32) -> Option<u32>) -> bool {
        let Some(position) = self.position(key) else {
            return false;
        };
        if let Some(word) = update(&self.entries[position].1, self.access.get(position)) {
            self.access.set(position, word);
        }
        true
    }

    /// Brings into the CPU cache what looking up `keys` will read, for a batch of lookups
    /// about to run (an entry's ops, a connection's pipelined reads).
    ///
    /// A lookup in a large map is a chain of dependent cache misses (index control bytes and
    /// slot, entry, access word, the value's heap block), about 1 µs at 1M keys against
    /// ~150 ns when cached. Run one key after another the chains do not overlap; here each
    /// stage is issued for every key before the next stage starts, so the misses of the whole
    /// batch overlap (bench: 1M keys, batches of 180, ~1000 → ~150 ns per lookup).
    /// `value_block` names the heap block of a value worth warming too.
    ///
    /// Prefetches are hints: a wrong address costs a wasted fetch, never a fault, so the
    /// index addresses below follow hashbrown's layout (buckets stored backwards before the
    /// control bytes, probing from `hash & mask`) without depending on it for correctness;
    /// `index_layout_is_as_prefetch_assumes` checks the layout.
    pub fn prefetch(&self, keys: &[&[u8]], value_block: impl Fn(&V) -> Option<*const u8>) {
        const WINDOW: usize = 32;
        let Some(control) = self.control_bytes() else {
            return;
        };
        let mask = self.indices.num_buckets() - 1;
        for keys in keys.chunks(WINDOW) {
            let mut hashes = [0u64; WINDOW];
            for (hash, key) in hashes.iter_mut().zip(keys) {
                *hash = self.hash(key);
                let bucket = *hash as usize & mask;
                prefetch_line(control.wrapping_add(bucket));
                prefetch_line(control.wrapping_sub((bucket + 1) * std::mem::size_of::<u32>()));
            }
            // The first slot whose tag matches is almost always the key's: warm its entry
            // without comparing keys (that would wait for the entry's line).
            for hash in &hashes[..keys.len()] {
                if let Some(&position) = self.indices.find(*hash, |_| true) {
                    prefetch_line(self.entries.as_ptr().wrapping_add(position as usize).cast());
                    prefetch_line(self.access.address(position as usize));
                }
            }
            // The stage-1 hashes again: hashing each key a second time showed in profiles.
            for (hash, key) in hashes.iter().zip(keys) {
                let value = self.position_hashed(*hash, key).map(|position| &self.entries[position].1);
                if let Some(block) = value.and_then(&value_block) {
                    prefetch_line(block);
                }
            }
        }
    }

    /// The start of the index's control bytes (None while the index is empty).
    fn control_bytes(&self) -> Option<*const u8> {
        let occupied = self.indices.iter_buckets().next()?;
        // SAFETY: `occupied` is the index of an occupied bucket.
        let bucket: *const u32 = unsafe { self.indices.get_bucket_unchecked(occupied) };
        Some(bucket.cast::<u8>().wrapping_add((occupied + 1) * std::mem::size_of::<u32>()))
    }

    /// Entry by position (`0..len()`), for SCAN and random picks.
    pub fn get_index(&self, position: usize) -> Option<(&CompactBytes, &V)> {
        self.entries.get(position).map(|(key, value)| (key, value))
    }

    /// Entries in map order.
    pub fn iter(&self) -> impl Iterator<Item = (&CompactBytes, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

/// Equal as maps (same keys, equal values), whatever the order, as `IndexMap`'s equality.
impl<V: PartialEq> PartialEq for KeyMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().all(|(key, value)| other.get(key) == Some(value))
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for KeyMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A hint to fetch the cache line holding `address`; a no-op where there is no such hint.
#[inline(always)]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> CompactBytes {
        CompactBytes::new(text.as_bytes())
    }

    fn order(map: &KeyMap<u32>) -> Vec<(Vec<u8>, u32)> {
        map.iter().map(|(k, v)| (k.to_vec(), *v)).collect()
    }

    /// `prefetch` computes index addresses from hashbrown's layout; a hashbrown that lays its
    /// table out otherwise fails here instead of silently prefetching the wrong lines.
    #[test]
    fn index_layout_is_as_prefetch_assumes() {
        let mut map = KeyMap::default();
        assert!(map.control_bytes().is_none());
        for i in 0..5000u32 {
            map.insert(key(&format!("key:{i}")), i, 0, false);
        }
        let control = map.control_bytes().unwrap();
        for occupied in map.indices.iter_buckets() {
            let bucket: *const u32 = unsafe { map.indices.get_bucket_unchecked(occupied) };
            assert_eq!(bucket.cast::<u8>(), control.wrapping_sub((occupied + 1) * 4));
        }
        // A key's probe starts at its hash masked by the bucket count: the bucket found for
        // a key that has no collisions there is that one or within the probe's first group.
        let mask = map.indices.num_buckets() - 1;
        let near = (0..5000u32)
            .filter(|i| {
                let name = format!("key:{i}");
                let hash = map.hash(name.as_bytes());
                let found = map.indices.find_bucket_index(hash, |&p| map.entries[p as usize].0.as_slice() == name.as_bytes()).unwrap();
                found.wrapping_sub(hash as usize & mask) & mask < 16
            })
            .count();
        assert!(near > 4000, "{near} of 5000 keys found near their probe start");
        // Prefetching is only a hint: any keys, present or not, leave the map as it was.
        let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("key:{}", i * 77).into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).chain([&b"absent"[..]]).collect();
        map.prefetch(&refs, |value| Some((value as *const u32).cast()));
        assert_eq!(map.len(), 5000);
        assert_eq!(map.get(b"key:77"), Some(&77));
    }

    #[test]
    fn a_remembered_position_is_used_only_while_it_holds_the_key() {
        let mut map: KeyMap<u32> = KeyMap::default();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            map.insert(key(name), i as u32, 0, false);
        }
        assert_eq!(map.position(b"b"), Some(1));
        // "b" leaves; "d" moves into its position, which the map still remembers.
        map.swap_remove_entry(b"b");
        assert_eq!(map.position(b"b"), None);
        assert_eq!(map.get(b"d"), Some(&3));
        assert_eq!(map.position(b"d"), Some(1));
        map.swap_remove_entry(b"d");
        assert_eq!(map.position(b"d"), None, "a remembered position past the end is ignored");
        map.clear();
        assert_eq!(map.get(b"a"), None);
        map.insert(key("z"), 9, 0, false);
        assert_eq!(map.get(b"z"), Some(&9));
        assert_eq!(map.get(b"a"), None);
    }

    #[test]
    fn clear_gives_the_memory_back() {
        let mut map = KeyMap::default();
        for i in 0..1000u32 {
            map.insert(key(&format!("key:{i}")), i, 0, false);
        }
        map.clear();
        assert!(map.is_empty());
        assert_eq!(map.entries.capacity(), 0);
        assert_eq!(map.indices.capacity(), 0);
        assert_eq!(map.access.capacity(), 0);
        map.insert(key("again"), 1, 0, false);
        assert_eq!(order(&map), vec![(b"again".to_vec(), 1)]);
    }

    #[test]
    fn keeps_insertion_order_and_swap_removes_as_indexmap() {
        let mut map = KeyMap::default();
        let mut reference: indexmap::IndexMap<Vec<u8>, u32> = indexmap::IndexMap::new();
        // The access word each key should have: set on insert, kept or replaced on overwrite.
        let mut words: std::collections::HashMap<Vec<u8>, u32> = std::collections::HashMap::new();
        // A long key (boxed) among short ones, replacements and removals from every position.
        let names: Vec<String> = (0..200).map(|i| if i % 7 == 0 { format!("{i:040}") } else { i.to_string() }).collect();
        for (step, name) in names.iter().enumerate() {
            assert_eq!(map.insert(key(name), step as u32, 1000 + step as u32, true), reference.insert(name.as_bytes().to_vec(), step as u32));
            words.insert(name.as_bytes().to_vec(), 1000 + step as u32);
        }
        for step in 0..400u32 {
            let name = &names[(step as usize * 37) % names.len()];
            if step % 3 == 0 {
                assert_eq!(
                    map.swap_remove_entry(name.as_bytes()).map(|(k, v)| (k.to_vec(), v)),
                    reference.swap_remove_entry(name.as_bytes())
                );
            } else {
                let keep = step % 2 == 0;
                let existed = reference.contains_key(name.as_bytes());
                assert_eq!(map.insert(key(name), step, 5000 + step, keep), reference.insert(name.as_bytes().to_vec(), step));
                if !(existed && keep) {
                    words.insert(name.as_bytes().to_vec(), 5000 + step);
                }
                if step % 5 == 0 {
                    assert!(map.update_access(name.as_bytes(), |value, _| Some(9000 + *value)));
                    words.insert(name.as_bytes().to_vec(), 9000 + step);
                }
            }
        }
        let expected: Vec<(Vec<u8>, u32)> = reference.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(order(&map), expected);
        assert_eq!(map.len(), reference.len());
        for (position, (k, v)) in reference.iter().enumerate() {
            assert_eq!(map.get(k), Some(v));
            assert_eq!(map.access(k), Some(words[k]), "access word of {:?}", String::from_utf8_lossy(k));
            assert_eq!(map.get_index(position).map(|(k, v)| (k.to_vec(), *v)), Some((k.clone(), *v)));
        }
        assert_eq!(map.get(b"absent"), None);
        assert_eq!(map.access(b"absent"), None);
        assert!(!map.update_access(b"absent", |_, _| Some(1)));
        assert!(map.swap_remove_entry(b"absent").is_none());
    }

    #[test]
    fn equality_ignores_order_and_clear_empties() {
        let mut a = KeyMap::default();
        let mut b = KeyMap::default();
        a.insert(key("x"), 1, 0, false);
        a.insert(key("y"), 2, 0, false);
        b.insert(key("y"), 2, 7, false);
        b.insert(key("x"), 1, 8, false);
        // Access words are node-local: they never make two maps unequal.
        assert_eq!(a, b);
        *b.get_mut(b"x").unwrap() = 3;
        assert_ne!(a, b);
        a.clear();
        assert!(a.is_empty() && a.get(b"x").is_none() && a.access(b"x").is_none());
        a.insert(key("z"), 1, 3, false);
        assert_eq!(a.access(b"z"), Some(3));
    }
}
