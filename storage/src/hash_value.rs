//! `HashValue`: the fields of a hash, packed into one byte buffer while the hash is small, as
//! Redis keeps a small hash in a listpack.
//!
//! A map with a `Bytes` handle and a heap allocation per field and per value took ~1.5 KB for
//! a hash of ten short fields, six times Redis's ~270 B. Packed, the same hash is its bytes
//! and a length byte per string. Lookups scan the buffer, which for at most
//! `PACKED_FIELDS_MAX` short pairs costs about what hashing the field would.
//!
//! Order is part of the replicated state (HGETALL, HSCAN cursors and HRANDFIELD's seeded
//! picks read it), so both forms keep the same one: insertion order, with a removal moving
//! the last pair into the hole (`IndexMap::swap_remove`). A hash can then change form at any
//! moment, on one replica and not another (a restore packs what fits), without any
//! replica's order changing. A hash that outgrows the packed form becomes a table for good.

use bytes::Bytes;
use indexmap::IndexMap;

use crate::value::FixedHasher;

/// Most pairs a packed hash holds (Redis's default `hash-max-listpack-entries`).
pub const PACKED_FIELDS_MAX: usize = 128;
/// Longest field or value a packed hash holds (Redis's default `hash-max-listpack-value`);
/// it also keeps every length in one byte.
pub const PACKED_LEN_MAX: usize = 64;

type Table = IndexMap<Bytes, Bytes, FixedHasher>;

#[derive(Clone)]
pub struct HashValue {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Pairs in order, each `field len u8 ‖ field ‖ value len u8 ‖ value`.
    Packed { bytes: Vec<u8>, len: u32 },
    Table(Box<Table>),
}

/// One pair of a packed buffer: where it starts and ends, and its field and value.
struct PackedPair<'a> {
    start: usize,
    end: usize,
    field: &'a [u8],
    value: &'a [u8],
}

/// The pair that starts at `at` in a packed buffer.
fn pair_at(bytes: &[u8], at: usize) -> PackedPair<'_> {
    let field_len = bytes[at] as usize;
    let field_start = at + 1;
    let value_at = field_start + field_len;
    let value_len = bytes[value_at] as usize;
    let value_start = value_at + 1;
    PackedPair {
        start: at,
        end: value_start + value_len,
        field: &bytes[field_start..value_at],
        value: &bytes[value_start..value_start + value_len],
    }
}

fn packed_pairs(bytes: &[u8]) -> impl Iterator<Item = PackedPair<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        (at < bytes.len()).then(|| {
            let pair = pair_at(bytes, at);
            at = pair.end;
            pair
        })
    })
}

fn put_pair(bytes: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    bytes.reserve_exact(2 + field.len() + value.len());
    bytes.push(field.len() as u8);
    bytes.extend_from_slice(field);
    bytes.push(value.len() as u8);
    bytes.extend_from_slice(value);
}

/// Removes the entry at `hole` from a packed buffer as `swap_remove` does: the last entry,
/// which starts at `last_start(bytes)`, moves into its place (`SetValue` removes so too).
pub(crate) fn swap_remove_packed(bytes: &mut Vec<u8>, hole: std::ops::Range<usize>, last_start: impl FnOnce(&[u8]) -> usize) {
    if hole.end == bytes.len() {
        bytes.truncate(hole.start);
        return;
    }
    let last_start = last_start(bytes);
    let last = bytes[last_start..].to_vec();
    bytes.truncate(last_start);
    bytes.splice(hole, last);
}

fn fits_packed(field: &[u8], value: &[u8]) -> bool {
    field.len() <= PACKED_LEN_MAX && value.len() <= PACKED_LEN_MAX
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue { repr: Repr::Packed { bytes: Vec::new(), len: 0 } }
    }
}

impl HashValue {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty hash about to receive `len` pairs (a restore): a table at once when they
    /// could not all be packed.
    pub fn with_capacity(len: usize) -> Self {
        if len > PACKED_FIELDS_MAX {
            HashValue { repr: Repr::Table(Box::new(Table::with_capacity_and_hasher(len, FixedHasher::default()))) }
        } else {
            Self::default()
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed { len, .. } => *len as usize,
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the pairs are packed in one buffer.
    #[cfg(test)]
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed { .. })
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed { bytes, .. } => packed_pairs(bytes).find(|pair| pair.field == field).map(|pair| pair.value),
            Repr::Table(table) => table.get(field).map(|value| &value[..]),
        }
    }

    pub fn contains_key(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`: a new field goes last, an existing one keeps its place.
    /// True if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Packed { bytes, len } = &mut self.repr {
            let existing = packed_pairs(bytes).find(|pair| pair.field == field).map(|pair| (pair.start, pair.end));
            let fits = fits_packed(field, value);
            match existing {
                Some((start, end)) if fits => {
                    let mut pair = Vec::with_capacity(2 + field.len() + value.len());
                    put_pair(&mut pair, field, value);
                    bytes.splice(start..end, pair);
                    return false;
                }
                None if fits && (*len as usize) < PACKED_FIELDS_MAX => {
                    put_pair(bytes, field, value);
                    *len += 1;
                    return true;
                }
                _ => self.unpack(),
            }
        }
        let Repr::Table(table) = &mut self.repr else { unreachable!("unpacked above") };
        table.insert(Bytes::copy_from_slice(field), Bytes::copy_from_slice(value)).is_none()
    }

    /// Removes `field`, moving the last pair into its place. True if it was there.
    pub fn swap_remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed { bytes, len } => {
                let Some((start, end)) = packed_pairs(bytes).find(|pair| pair.field == field).map(|pair| (pair.start, pair.end))
                else {
                    return false;
                };
                swap_remove_packed(bytes, start..end, |bytes| packed_pairs(bytes).last().expect("a pair follows").start);
                *len -= 1;
                true
            }
            Repr::Table(table) => table.swap_remove(field).is_some(),
        }
    }

    /// The pair at `position` in the hash's order.
    pub fn get_index(&self, position: usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Packed { bytes, .. } => packed_pairs(bytes).nth(position).map(|pair| (pair.field, pair.value)),
            Repr::Table(table) => table.get_index(position).map(|(field, value)| (&field[..], &value[..])),
        }
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (packed, table) = match &self.repr {
            Repr::Packed { bytes, .. } => (Some(packed_pairs(bytes).map(|pair| (pair.field, pair.value))), None),
            Repr::Table(table) => (None, Some(table.iter().map(|(field, value)| (&field[..], &value[..])))),
        };
        packed.into_iter().flatten().chain(table.into_iter().flatten())
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(field, _)| field)
    }

    pub fn values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(_, value)| value)
    }

    /// Heap bytes held beyond the `HashValue` itself, as MEMORY USAGE estimates them.
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::{allocation_size, table_bytes};
        use std::mem::size_of;
        match &self.repr {
            Repr::Packed { bytes, .. } => allocation_size(bytes.capacity()),
            Repr::Table(table) => {
                // IndexMap: entries (hash, key, value) in a Vec, positions in a table.
                let entry = size_of::<u64>() + 2 * size_of::<Bytes>();
                allocation_size(size_of::<Table>())
                    + allocation_size(table.capacity() * entry)
                    + table_bytes(table.capacity(), size_of::<usize>())
                    + table.iter().map(|(field, value)| allocation_size(field.len()) + allocation_size(value.len())).sum::<usize>()
            }
        }
    }

    /// Turns a packed hash into a table, keeping the order.
    fn unpack(&mut self) {
        if let Repr::Packed { bytes, len } = &self.repr {
            let mut table = Table::with_capacity_and_hasher(*len as usize + 1, FixedHasher::default());
            for pair in packed_pairs(bytes) {
                table.insert(Bytes::copy_from_slice(pair.field), Bytes::copy_from_slice(pair.value));
            }
            self.repr = Repr::Table(Box::new(table));
        }
    }
}

/// Equal when they hold the same pairs, in whatever order (as `IndexMap`'s equality).
impl PartialEq for HashValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(field, value)| other.get(field) == Some(value))
    }
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(field, value)| (Bytes::copy_from_slice(field), Bytes::copy_from_slice(value))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of the same pairs, built by the same operations: the reference for order.
    fn reference(ops: &[(bool, &[u8], &[u8])]) -> Table {
        let mut table = Table::default();
        for (insert, field, value) in ops {
            if *insert {
                table.insert(Bytes::copy_from_slice(field), Bytes::copy_from_slice(value));
            } else {
                table.swap_remove(*field);
            }
        }
        table
    }

    fn pairs(hash: &HashValue) -> Vec<(Vec<u8>, Vec<u8>)> {
        hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    fn table_pairs(table: &Table) -> Vec<(Vec<u8>, Vec<u8>)> {
        table.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn packed_keeps_the_order_of_a_table_through_inserts_replaces_and_removals() {
        let ops: Vec<(bool, &[u8], &[u8])> = vec![
            (true, b"a", b"1"),
            (true, b"b", b"2"),
            (true, b"c", b"3"),
            (true, b"d", b"4"),
            (true, b"b", b"two, now longer"),
            (false, b"a", b""),
            (true, b"e", b""),
            (false, b"e", b""),
            (false, b"zz", b""),
            (true, b"", b"empty field"),
            (false, b"c", b""),
        ];
        let mut hash = HashValue::new();
        for (insert, field, value) in &ops {
            if *insert {
                hash.insert(field, value);
            } else {
                hash.swap_remove(field);
            }
        }
        assert!(hash.is_packed());
        let table = reference(&ops);
        assert_eq!(pairs(&hash), table_pairs(&table));
        assert_eq!(hash.len(), table.len());
        for position in 0..table.len() {
            let (field, value) = table.get_index(position).unwrap();
            assert_eq!(hash.get_index(position), Some((&field[..], &value[..])));
        }
        assert_eq!(hash.get_index(table.len()), None);
        assert_eq!(hash.get(b"b"), Some(&b"two, now longer"[..]));
        assert_eq!(hash.get(b""), Some(&b"empty field"[..]));
        assert!(!hash.contains_key(b"a"));
    }

    #[test]
    fn insert_and_remove_report_what_changed() {
        let mut hash = HashValue::new();
        assert!(hash.insert(b"f", b"1"));
        assert!(!hash.insert(b"f", b"2"));
        assert_eq!(hash.get(b"f"), Some(&b"2"[..]));
        assert!(hash.swap_remove(b"f"));
        assert!(!hash.swap_remove(b"f"));
        assert!(hash.is_empty());
    }

    #[test]
    fn a_hash_past_the_limits_becomes_a_table_in_the_same_order() {
        // Too many fields.
        let mut many = HashValue::new();
        let mut table = Table::default();
        for i in 0..=PACKED_FIELDS_MAX + 1 {
            let field = format!("field:{i}");
            assert_eq!(many.is_packed(), many.len() <= PACKED_FIELDS_MAX, "{i}");
            many.insert(field.as_bytes(), b"v");
            table.insert(Bytes::from(field), Bytes::from_static(b"v"));
            if i == 5 {
                many.swap_remove(b"field:1");
                table.swap_remove(&b"field:1"[..]);
            }
        }
        assert!(!many.is_packed());
        assert_eq!(pairs(&many), table_pairs(&table));

        // A long value, new or replacing, and a long field.
        for (field, value) in [(&b"f"[..], &[b'x'; PACKED_LEN_MAX + 1][..]), (&[b'k'; PACKED_LEN_MAX + 1][..], &b"v"[..])] {
            let mut hash = HashValue::new();
            hash.insert(b"first", b"1");
            hash.insert(b"f", b"short");
            assert!(hash.is_packed());
            hash.insert(field, value);
            assert!(!hash.is_packed());
            assert_eq!(hash.get(field), Some(value));
            assert_eq!(hash.get_index(0), Some((&b"first"[..], &b"1"[..])));
        }
        let mut edge = HashValue::new();
        edge.insert(&[b'k'; PACKED_LEN_MAX], &[b'v'; PACKED_LEN_MAX]);
        assert!(edge.is_packed(), "the limits are inclusive");
    }

    #[test]
    fn equality_ignores_the_form_and_the_order() {
        let mut packed = HashValue::new();
        packed.insert(b"a", b"1");
        packed.insert(b"b", b"2");
        let mut table = HashValue::with_capacity(PACKED_FIELDS_MAX + 1);
        table.insert(b"b", b"2");
        table.insert(b"a", b"1");
        assert!(packed.is_packed() && !table.is_packed());
        assert_eq!(packed, table);
        table.insert(b"a", b"other");
        assert_ne!(packed, table);
    }

    #[test]
    fn a_packed_hash_is_its_bytes() {
        let mut hash = HashValue::new();
        for i in 0..10 {
            hash.insert(format!("f{i:02}").as_bytes(), format!("value{i:05}").as_bytes());
        }
        // 10 pairs of 3 + 10 bytes and two length bytes each, in one allocation.
        assert_eq!(hash.heap_bytes(), crate::memory::allocation_size(150));
    }
}
