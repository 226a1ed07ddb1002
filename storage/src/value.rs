//! The value types a key can hold.
//!
//! Hashes and sets are insertion-ordered (`HashValue`, `SetValue`) with a fixed hasher: their
//! iteration order depends only on the history of operations, never on a random seed, so every
//! replica (and a replica restored from a snapshot serialized in that order) sees the same
//! order, and random picks (SPOP, SRANDMEMBER) seeded from the log index agree everywhere.

use bytes::Bytes;

pub use crate::compact::CompactBytes;

pub use crate::stream::Stream;
pub use crate::zset::ZSet;

/// Fixed-seed hasher: deterministic across processes and replicas.
pub type FixedHasher = foldhash::fast::FixedState;
pub use crate::hash_value::HashValue;
pub use crate::list_value::ListValue;
pub use crate::set_value::SetValue;

/// A `Value` is 24 bytes: a string is a `CompactBytes` (inline up to 22 bytes, else one boxed
/// slice) and the aggregates are boxed, because every key's entry in the map holds one
/// `Value` inline and most keys hold short strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(CompactBytes),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

impl Value {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    pub fn new_hash() -> Value {
        Value::Hash(Box::default())
    }

    pub fn new_set() -> Value {
        Value::Set(Box::default())
    }

    /// A rough measure of what a command scanning the whole value does: its elements, or a
    /// string's bytes / 64 (BITCOUNT, GETRANGE, LCS read strings a word at a time or so).
    pub fn work_units(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.as_slice().len() / 64,
            Value::List(list) => list.len(),
            Value::Hash(hash) => hash.len(),
            Value::Set(set) => set.len(),
            Value::ZSet(zset) => zset.len(),
            Value::Stream(stream) => stream.len(),
        }
    }

    /// True for an aggregate that has become empty (Redis deletes such keys).
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(list) => list.is_empty(),
            Value::Hash(hash) => hash.is_empty(),
            Value::Set(set) => set.is_empty(),
            Value::ZSet(zset) => zset.is_empty(),
            // Redis keeps an empty stream (its ids and groups are state).
            Value::Stream(_) => false,
        }
    }
}

/// Copies an argument before it is stored: arguments are slices of a connection's read buffer,
/// and keeping one alive would pin the whole buffer in memory.
pub fn stored(arg: &Bytes) -> Bytes {
    Bytes::copy_from_slice(arg)
}
