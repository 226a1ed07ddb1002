//! Decoding byte strings as slices of the buffer they arrived in, instead of copies.
//!
//! A follower decodes every replicated entry from its AppendEntries frame. With serde's
//! default for `Bytes`, each argument of each op became its own allocation and copy, freed
//! again once the entry was applied: perf put that decode and the frees at about a tenth of
//! a follower's CPU at SET -P 16. `decode_sharing` names the buffer being decoded (the frame,
//! a `Bytes`) for the duration of one decode; the `args` field of `Op::Command` is then
//! decoded through `args`, which slices that buffer (a reference count, no copy) whenever the
//! decoder hands out bytes borrowed from it. The encoding is unchanged (serde's bytes), and
//! bytes from anywhere else are copied as before.
//!
//! A slice keeps the whole frame alive while the op lives: entries are dropped once applied
//! and released from the log's tail cache, and stored values are copied (`value::stored`).

use bytes::Bytes;
use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

thread_local! {
    /// The buffer being decoded on this thread, or null. A raw pointer in a `Cell`, not a
    /// `RefCell<Option<Bytes>>`: a thread-local without a destructor is a plain load, where the
    /// other one checked its registration and borrow for every argument (2-3% of a
    /// follower's CPU at SET -P 16).
    static SOURCE: Cell<*const Bytes> = const { Cell::new(std::ptr::null()) };
}

/// Runs `decode` over `source`'s bytes with `source` named as the buffer that borrowed byte
/// strings may be sliced from.
pub fn decode_sharing<R>(source: &Bytes, decode: impl FnOnce(&[u8]) -> R) -> R {
    /// Restores the outer source (nested decodes) even if `decode` unwinds.
    struct Reset(*const Bytes);
    impl Drop for Reset {
        fn drop(&mut self) {
            SOURCE.set(self.0);
        }
    }
    let _reset = Reset(SOURCE.replace(source));
    decode(source)
}

/// `bytes` as a `Bytes`: a slice of the buffer being decoded if it lies inside it, else a copy.
fn share(bytes: &[u8]) -> Bytes {
    let source = SOURCE.get();
    // SAFETY: a non-null pointer was set by `decode_sharing` from a `&Bytes` that outlives the
    // decode it runs, and is reset before that call returns; `share` is only reached from
    // inside such a decode on this thread.
    match unsafe { source.as_ref() } {
        Some(source) if contains(source, bytes) => source.slice_ref(bytes),
        _ => Bytes::copy_from_slice(bytes),
    }
}

fn contains(source: &[u8], part: &[u8]) -> bool {
    let start = source.as_ptr() as usize;
    let begin = part.as_ptr() as usize;
    begin >= start && begin + part.len() <= start + source.len()
}

struct SharedBytes(Bytes);

impl<'de> serde::Deserialize<'de> for SharedBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = SharedBytes;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<SharedBytes, E> {
                Ok(SharedBytes(share(v)))
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<SharedBytes, E> {
                Ok(SharedBytes(Bytes::copy_from_slice(v)))
            }

            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<SharedBytes, E> {
                Ok(SharedBytes(Bytes::from(v)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SharedBytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(SharedBytes(Bytes::from(bytes)))
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

/// One byte string as a `Bytes`: a slice of the buffer being decoded (see `decode_sharing`)
/// when the decoder lends its bytes, else a copy.
pub fn byte_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    SharedBytes::deserialize(deserializer).map(|SharedBytes(bytes)| bytes)
}

/// `#[serde(deserialize_with = "shared_bytes::args")]` for a `Vec<Bytes>` field.
pub fn args<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Bytes>, D::Error> {
    struct ArgsVisitor;
    impl<'de> Visitor<'de> for ArgsVisitor {
        type Value = Vec<Bytes>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence of byte strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Bytes>, A::Error> {
            let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(SharedBytes(arg)) = seq.next_element()? {
                args.push(arg);
            }
            Ok(args)
        }
    }
    deserializer.deserialize_seq(ArgsVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Entry, Op};

    fn entry() -> Entry {
        Entry {
            time_ms: 1_700_000_000_000,
            ops: vec![
                Op::Command { db: 0, args: vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from(vec![7u8; 300])] },
                Op::ExpireKeys { db: 3, keys: vec![Bytes::from_static(b"gone")] },
                Op::Command { db: 9, args: vec![Bytes::from_static(b"PING")] },
            ],
        }
    }

    #[test]
    fn args_decoded_from_a_named_source_are_slices_of_it() {
        let encoded = Bytes::from(postcard::to_allocvec(&entry()).unwrap());
        let decoded: Entry = decode_sharing(&encoded, |bytes| postcard::from_bytes(bytes).unwrap());
        assert_eq!(decoded, entry(), "the encoding is serde's, unchanged");
        let Op::Command { args, .. } = &decoded.ops[0] else { panic!("a command") };
        for arg in args {
            assert!(contains(&encoded, arg), "argument copied instead of sliced");
        }
        // No source named: the same bytes decode as copies.
        let copied: Entry = postcard::from_bytes(&encoded).unwrap();
        assert_eq!(copied, entry());
        let Op::Command { args, .. } = &copied.ops[0] else { panic!("a command") };
        assert!(!contains(&encoded, &args[2]));
    }

    #[test]
    fn the_source_is_named_only_during_the_decode() {
        let encoded = Bytes::from(postcard::to_allocvec(&entry()).unwrap());
        let inner = Bytes::from(postcard::to_allocvec(&entry()).unwrap());
        let nested: Entry = decode_sharing(&encoded, |_| {
            // A decode of another buffer inside does not slice the outer one.
            decode_sharing(&inner, |bytes| postcard::from_bytes(bytes).unwrap())
        });
        let Op::Command { args, .. } = &nested.ops[0] else { panic!("a command") };
        assert!(contains(&inner, &args[1]));
        assert!(SOURCE.get().is_null(), "source left named after the decode");
    }
}
