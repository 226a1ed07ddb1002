//! `CompactBytes`: an owned byte string of 24 bytes that keeps up to 22 bytes inline.
//!
//! Keys are the most numerous objects of the keyspace and most are short (`user:1234`,
//! `key:000000000042`). Stored as `Bytes` each took a 32-byte handle plus a heap allocation;
//! inline they take 24 bytes and no allocation. Longer strings are one exact-size boxed slice
//! (16 bytes of handle, no capacity word, no reference count). The type has one spare tag
//! value range, so an enum around it (`Value`) needs no tag byte of its own.
//!
//! It hashes, compares and orders exactly as the `[u8]` it holds, so maps keyed by it are
//! looked up with a plain `&[u8]`.

use bytes::Bytes;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest string kept inline.
pub const INLINE_LEN_MAX: usize = 22;

#[derive(Clone)]
pub enum CompactBytes {
    Inline { len: u8, data: [u8; INLINE_LEN_MAX] },
    Heap(Box<[u8]>),
}

impl CompactBytes {
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_LEN_MAX {
            let mut data = [0u8; INLINE_LEN_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            CompactBytes::Inline { len: bytes.len() as u8, data }
        } else {
            CompactBytes::Heap(bytes.into())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, data } => &data[..*len as usize],
            CompactBytes::Heap(boxed) => boxed,
        }
    }

    /// A `Bytes` copy, for replies.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_slice())
    }

    /// Heap bytes owned beyond the 24-byte handle (0 when inline).
    pub fn heap_len(&self) -> usize {
        match self {
            CompactBytes::Inline { .. } => 0,
            CompactBytes::Heap(boxed) => boxed.len(),
        }
    }
}

impl Default for CompactBytes {
    fn default() -> Self {
        CompactBytes::Inline { len: 0, data: [0; INLINE_LEN_MAX] }
    }
}

impl From<&[u8]> for CompactBytes {
    fn from(bytes: &[u8]) -> Self {
        CompactBytes::new(bytes)
    }
}

impl From<&Bytes> for CompactBytes {
    fn from(bytes: &Bytes) -> Self {
        CompactBytes::new(bytes)
    }
}

impl From<Vec<u8>> for CompactBytes {
    fn from(bytes: Vec<u8>) -> Self {
        if bytes.len() <= INLINE_LEN_MAX {
            CompactBytes::new(&bytes)
        } else {
            CompactBytes::Heap(bytes.into_boxed_slice())
        }
    }
}

impl Deref for CompactBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for CompactBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for CompactBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for CompactBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for CompactBytes {}

impl PartialEq<[u8]> for CompactBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialOrd for CompactBytes {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CompactBytes {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for CompactBytes {
    // Must hash as `[u8]` does, so that `&[u8]` lookups find the entry.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes::copy_from_slice(self.as_slice()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn short_strings_are_inline_and_long_ones_boxed() {
        let short = CompactBytes::new(b"key:000000000042");
        assert!(matches!(short, CompactBytes::Inline { .. }));
        assert_eq!(short.heap_len(), 0);
        assert_eq!(&short[..], b"key:000000000042");
        let edge = CompactBytes::new(&[7u8; INLINE_LEN_MAX]);
        assert!(matches!(edge, CompactBytes::Inline { .. }));
        let long = CompactBytes::new(&[7u8; INLINE_LEN_MAX + 1]);
        assert_eq!(long.heap_len(), INLINE_LEN_MAX + 1);
        assert_eq!(long.len(), INLINE_LEN_MAX + 1);
        assert_eq!(CompactBytes::from(vec![1u8, 2]), CompactBytes::new(&[1, 2]));
        assert_eq!(CompactBytes::from(vec![9u8; 40]).as_slice(), &[9u8; 40][..]);
        assert!(CompactBytes::default().is_empty());
    }

    #[test]
    fn hashes_and_orders_as_the_slice_it_holds() {
        let hasher = foldhash::fast::FixedState::default();
        for text in [&b""[..], b"a", b"key:000000000042", &[3u8; 100]] {
            let compact = CompactBytes::new(text);
            assert_eq!(hasher.hash_one(&compact), hasher.hash_one(text));
        }
        let mut sorted = [CompactBytes::new(b"b"), CompactBytes::new(&[b'a'; 30]), CompactBytes::new(b"a")];
        sorted.sort();
        assert_eq!(sorted[0].as_slice(), b"a");
        assert_eq!(sorted[2].as_slice(), b"b");
    }

    #[test]
    fn is_24_bytes_with_a_niche_to_spare() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        assert_eq!(std::mem::size_of::<Option<CompactBytes>>(), 24);
    }
}
