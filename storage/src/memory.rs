//! MEMORY USAGE: the bytes a key and its value hold in this process, from the layout of the
//! types that store them (`KeyMap` entry, `Value`, `IndexMap`/`IndexSet`, `VecDeque`, the sorted
//! set's dict and skiplist arena), each heap block rounded up to jemalloc's size class as the
//! allocator hands it out. Capacity counts, not length: a list that grew and shrank still holds
//! its buffer, as Redis's estimate counts allocations too. Hashing tables are counted at their
//! load factor. It is an estimate in the same sense as Redis's (`objectComputeSize`): the
//! bookkeeping of the allocator itself and the spare capacity of the key map are left out.

use std::mem::size_of;

use crate::compact::{CompactBytes, INLINE_LEN_MAX};
use crate::value::Value;

/// Bytes jemalloc hands out for a request of `size` (its default size classes on 64-bit
/// systems: 8, then steps of 16 up to 128, then four classes per doubling).
pub fn allocation_size(size: usize) -> usize {
    const QUANTUM: usize = 16;
    const SMALL_MAX: usize = 128;
    match size {
        0 => 0,
        1..=8 => 8,
        9..=SMALL_MAX => size.div_ceil(QUANTUM) * QUANTUM,
        _ => {
            let doubling = usize::BITS - 1 - (size - 1).leading_zeros();
            let step = 1usize << (doubling - 2);
            size.div_ceil(step) * step
        }
    }
}

/// Heap bytes of a `CompactBytes` (none while inline).
fn compact_heap(text: &CompactBytes) -> usize {
    if text.len() <= INLINE_LEN_MAX {
        0
    } else {
        allocation_size(text.len())
    }
}

/// Bytes of a hashbrown table with room for `capacity` items of `item` bytes: buckets are a
/// power of two at most 7/8 full, each with one control byte.
pub fn table_bytes(capacity: usize, item: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8).div_ceil(7).next_power_of_two().max(4);
    allocation_size(buckets * (item + 1))
}

/// Bytes one key costs: its entry in the key map (key, slot, its index and its access word),
/// its heap parts, and with a TTL its two entries in the expiry tables (each holding a copy of
/// the key).
pub fn key_usage(key: &[u8], value: &Value, has_ttl: bool) -> usize {
    const KEY_MAP_ENTRY: usize = size_of::<CompactBytes>() + size_of::<crate::db::Slot>() + size_of::<u32>();
    const KEY_MAP_INDEX: usize = size_of::<u32>() + 1;
    const EXPIRY_ENTRIES: usize = (size_of::<CompactBytes>() + size_of::<u64>()) * 2 + 2;
    let key = CompactBytes::new(key);
    let mut total = KEY_MAP_ENTRY + KEY_MAP_INDEX + compact_heap(&key) + value_heap(value);
    if has_ttl {
        total += EXPIRY_ENTRIES + 2 * compact_heap(&key);
    }
    total
}

/// Heap bytes a value owns beyond its 24-byte `Value` in the key map.
pub fn value_heap(value: &Value) -> usize {
    match value {
        Value::Str(text) => compact_heap(text),
        Value::List(list) => allocation_size(size_of_val(&**list)) + list.heap_bytes(),
        Value::Hash(hash) => allocation_size(size_of_val(&**hash)) + hash.heap_bytes(),
        Value::Set(set) => allocation_size(size_of_val(&**set)) + set.heap_bytes(),
        Value::ZSet(zset) => allocation_size(size_of_val(&**zset)) + zset.heap_bytes(),
        Value::Stream(stream) => allocation_size(size_of_val(&**stream)) + stream.heap_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::HashValue;
    use bytes::Bytes;

    #[test]
    fn allocation_sizes_follow_jemalloc_classes() {
        let classes: Vec<usize> = [1, 8, 9, 17, 128, 129, 160, 161, 257, 1025, 33_000, 100_000]
            .iter()
            .map(|&size| allocation_size(size))
            .collect();
        assert_eq!(classes, [8, 8, 16, 32, 128, 160, 160, 192, 320, 1280, 40_960, 114_688]);
    }

    /// The estimate grows with what the value holds, counts long keys and TTLs, and stays
    /// within the bounds Redis's suite checks (a 33,000-byte string under 42,000 bytes).
    #[test]
    fn usage_follows_the_value() {
        let short = Value::Str(CompactBytes::new(b"v"));
        let small = key_usage(b"k", &short, false);
        assert_eq!(small, 24 + 32 + 4 + 5, "inline key and value: the key map entry (with its access word) only");
        assert_eq!(key_usage(&[b'k'; 40], &short, false), small + 48);
        assert!(key_usage(b"k", &short, true) > small);
        let big = Value::Str(CompactBytes::new(&vec![b'a'; 33_000]));
        let usage = key_usage(b"k", &big, false);
        assert!((33_000..42_000).contains(&usage), "{usage}");

        let mut fields = HashValue::new();
        fields.insert(b"f", b"v");
        let one = key_usage(b"h", &Value::Hash(Box::new(fields.clone())), false);
        for i in 0..100 {
            fields.insert(format!("field:{i}").as_bytes(), "x".repeat(100).as_bytes());
        }
        let hundred = key_usage(b"h", &Value::Hash(Box::new(fields)), false);
        assert!(hundred > one + 100 * 128, "{one} {hundred}");

        let list = Value::List(Box::new((0..10).map(|i| Bytes::from(i.to_string())).collect()));
        // Packed: 3 bytes an element (a length either side), not a handle and a block each.
        let usage = key_usage(b"l", &list, false);
        assert!((small + 10 * 3..small + 10 * (32 + 8)).contains(&usage), "{usage}");
        let mut zset = crate::value::ZSet::new();
        zset.insert(Bytes::from("m"), 1.0);
        let one = key_usage(b"z", &Value::ZSet(Box::new(zset.clone())), false);
        zset.insert(Bytes::from("n".repeat(1000)), 2.0);
        assert!(key_usage(b"z", &Value::ZSet(Box::new(zset)), false) > one + 1000);
    }
}
