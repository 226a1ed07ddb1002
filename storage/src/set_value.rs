//! `SetValue`: the members of a set, packed into one byte buffer while the set is small, as
//! Redis 7.2 keeps a small set in a listpack (or an intset).
//!
//! An `IndexSet<Bytes>` took a handle, a hash and a heap allocation per member: ~1.1 KB for
//! ten short members against Redis 7.2's ~200 B. Packed, a member is its bytes and a length
//! byte. Lookups scan the buffer, which for at most `PACKED_MEMBERS_MAX` short members costs
//! about what hashing the member would.
//!
//! As for hashes (`hash_value.rs`), both forms keep one order, which replies, SSCAN cursors
//! and the seeded picks of SPOP and SRANDMEMBER read: insertion order, with a removal moving
//! the last member into the hole (`IndexSet::swap_remove`). A set may then change form on one
//! replica and not another without any replica's order changing.

use bytes::Bytes;
use indexmap::IndexSet;

use crate::hash_value::swap_remove_packed;
use crate::value::FixedHasher;

/// Most members a packed set holds (Redis 7.2's default `set-max-listpack-entries`).
pub const PACKED_MEMBERS_MAX: usize = 128;
/// Longest member a packed set holds (Redis 7.2's default `set-max-listpack-value`); it also
/// keeps every length in one byte.
pub const PACKED_LEN_MAX: usize = 64;

type Table = IndexSet<Bytes, FixedHasher>;

#[derive(Clone)]
pub struct SetValue {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Members in order, each `len u8 ‖ member`.
    Packed { bytes: Vec<u8>, len: u32 },
    Table(Box<Table>),
}

/// The members of a packed buffer with where each starts and ends.
fn packed_members(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        (at < bytes.len()).then(|| {
            let start = at;
            let end = start + 1 + bytes[start] as usize;
            at = end;
            (start, end, &bytes[start + 1..end])
        })
    })
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue { repr: Repr::Packed { bytes: Vec::new(), len: 0 } }
    }
}

impl SetValue {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set about to receive `len` members (a restore, a *STORE result): a table at
    /// once when they could not all be packed.
    pub fn with_capacity(len: usize) -> Self {
        if len > PACKED_MEMBERS_MAX {
            SetValue { repr: Repr::Table(Box::new(Table::with_capacity_and_hasher(len, FixedHasher::default()))) }
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

    /// Whether the members are packed in one buffer.
    #[cfg(test)]
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed { .. })
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Packed { bytes, .. } => packed_members(bytes).any(|(_, _, candidate)| candidate == member),
            Repr::Table(table) => table.contains(member),
        }
    }

    /// Adds `member` last; true if it was not there.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if let Repr::Packed { bytes, len } = &mut self.repr {
            if packed_members(bytes).any(|(_, _, candidate)| candidate == member) {
                return false;
            }
            if member.len() <= PACKED_LEN_MAX && (*len as usize) < PACKED_MEMBERS_MAX {
                bytes.reserve_exact(1 + member.len());
                bytes.push(member.len() as u8);
                bytes.extend_from_slice(member);
                *len += 1;
                return true;
            }
            self.unpack();
        }
        let Repr::Table(table) = &mut self.repr else { unreachable!("unpacked above") };
        table.insert(Bytes::copy_from_slice(member))
    }

    /// Removes `member`, moving the last member into its place. True if it was there.
    pub fn swap_remove(&mut self, member: &[u8]) -> bool {
        let position = match &mut self.repr {
            Repr::Packed { bytes, .. } => packed_members(bytes).position(|(_, _, candidate)| candidate == member),
            Repr::Table(table) => return table.swap_remove(member),
        };
        position.is_some_and(|position| self.swap_remove_index(position).is_some())
    }

    /// Removes the member at `position`, moving the last member into its place.
    pub fn swap_remove_index(&mut self, position: usize) -> Option<Bytes> {
        match &mut self.repr {
            Repr::Packed { bytes, len } => {
                let (start, end, member) = packed_members(bytes).nth(position)?;
                let member = Bytes::copy_from_slice(member);
                swap_remove_packed(bytes, start..end, |bytes| packed_members(bytes).last().expect("a member follows").0);
                *len -= 1;
                Some(member)
            }
            Repr::Table(table) => table.swap_remove_index(position),
        }
    }

    /// The member at `position` in the set's order.
    pub fn get_index(&self, position: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed { bytes, .. } => packed_members(bytes).nth(position).map(|(_, _, member)| member),
            Repr::Table(table) => table.get_index(position).map(|member| &member[..]),
        }
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let (packed, table) = match &self.repr {
            Repr::Packed { bytes, .. } => (Some(packed_members(bytes).map(|(_, _, member)| member)), None),
            Repr::Table(table) => (None, Some(table.iter().map(|member| &member[..]))),
        };
        packed.into_iter().flatten().chain(table.into_iter().flatten())
    }

    /// Heap bytes held beyond the `SetValue` itself, as MEMORY USAGE estimates them.
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::{allocation_size, table_bytes};
        use std::mem::size_of;
        match &self.repr {
            Repr::Packed { bytes, .. } => allocation_size(bytes.capacity()),
            Repr::Table(table) => {
                // IndexSet: entries (hash, member) in a Vec, positions in a table.
                let entry = size_of::<u64>() + size_of::<Bytes>();
                allocation_size(size_of::<Table>())
                    + allocation_size(table.capacity() * entry)
                    + table_bytes(table.capacity(), size_of::<usize>())
                    + table.iter().map(|member| allocation_size(member.len())).sum::<usize>()
            }
        }
    }

    /// Turns a packed set into a table, keeping the order.
    fn unpack(&mut self) {
        if let Repr::Packed { bytes, len } = &self.repr {
            let mut table = Table::with_capacity_and_hasher(*len as usize + 1, FixedHasher::default());
            table.extend(packed_members(bytes).map(|(_, _, member)| Bytes::copy_from_slice(member)));
            self.repr = Repr::Table(Box::new(table));
        }
    }
}

impl<'a> Extend<&'a [u8]> for SetValue {
    fn extend<I: IntoIterator<Item = &'a [u8]>>(&mut self, members: I) {
        for member in members {
            self.insert(member);
        }
    }
}

impl<'a> FromIterator<&'a [u8]> for SetValue {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(members: I) -> Self {
        let mut set = SetValue::new();
        set.extend(members);
        set
    }
}

/// Equal when they hold the same members, in whatever order (as `IndexSet`'s equality).
impl PartialEq for SetValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|member| other.contains(member))
    }
}

impl std::fmt::Debug for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(Bytes::copy_from_slice)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(set: &SetValue) -> Vec<Vec<u8>> {
        set.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn packed_keeps_the_order_of_a_table_through_inserts_and_removals() {
        let mut set = SetValue::new();
        let mut table = Table::default();
        let mut state: u64 = 3;
        let mut step = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for _ in 0..3000 {
            let member = format!("m{}", step() % 40);
            match step() % 4 {
                0 => assert_eq!(set.swap_remove(member.as_bytes()), table.swap_remove(member.as_bytes())),
                1 if !table.is_empty() => {
                    let position = step() % table.len();
                    assert_eq!(set.swap_remove_index(position), table.swap_remove_index(position));
                }
                _ => assert_eq!(set.insert(member.as_bytes()), table.insert(Bytes::from(member))),
            }
            assert!(set.is_packed());
            assert_eq!(members(&set), table.iter().map(|m| m.to_vec()).collect::<Vec<_>>());
            for position in 0..=table.len() {
                assert_eq!(set.get_index(position), table.get_index(position).map(|m| &m[..]));
            }
        }
        assert!(set.contains(set.get_index(0).unwrap()) && !set.contains(b"absent"));
    }

    #[test]
    fn a_set_past_the_limits_becomes_a_table_in_the_same_order() {
        let mut many = SetValue::new();
        for i in 0..=PACKED_MEMBERS_MAX {
            assert!(many.is_packed());
            many.insert(format!("member:{i}").as_bytes());
        }
        assert!(!many.is_packed());
        assert_eq!(many.get_index(0), Some(&b"member:0"[..]));
        assert_eq!(many.get_index(PACKED_MEMBERS_MAX), Some(format!("member:{PACKED_MEMBERS_MAX}").as_bytes()));

        let mut long = SetValue::new();
        long.insert(b"a");
        long.insert(&[b'x'; PACKED_LEN_MAX + 1]);
        assert!(!long.is_packed());
        assert_eq!(members(&long), vec![b"a".to_vec(), vec![b'x'; PACKED_LEN_MAX + 1]]);
        let edge: SetValue = [&[b'x'; PACKED_LEN_MAX][..]].into_iter().collect();
        assert!(edge.is_packed(), "the limits are inclusive");
    }

    #[test]
    fn equality_ignores_the_form_and_the_order() {
        let packed: SetValue = [&b"a"[..], b"b"].into_iter().collect();
        let mut table = SetValue::with_capacity(PACKED_MEMBERS_MAX + 1);
        table.extend([&b"b"[..], b"a"]);
        assert!(packed.is_packed() && !table.is_packed());
        assert_eq!(packed, table);
        table.insert(b"c");
        assert_ne!(packed, table);
    }
}
