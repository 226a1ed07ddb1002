//! Case-insensitive lookup of command specs by name, for the hot path: every command is
//! looked up several times on its way (batching, dispatch, prefetch, apply).
//!
//! Names are bucketed by length and first letter; a bucket holds one to a few specs, compared
//! with `eq_ignore_ascii_case` in place. The general map it replaced copied the name, folded
//! it to lower case and hashed it on every lookup; perf put those lookups at ~5% of a single
//! node's CPU at LPUSH -P 16 (`bench/benches/lookup.rs` compares the two).

use crate::table::CommandSpec;

/// Longest command name that can be indexed; longer names are never commands.
pub const NAME_LEN_MAX: usize = 32;

const LETTERS: usize = 26;

pub struct NameIndex {
    /// `buckets[len * LETTERS + first letter]`.
    buckets: Vec<Vec<&'static CommandSpec>>,
}

impl NameIndex {
    /// Indexes `specs` by their (lower-case) names. Panics on a name indexed twice or one that
    /// does not start with a letter, both mistakes in a command table.
    pub fn new(specs: impl IntoIterator<Item = &'static CommandSpec>) -> NameIndex {
        let mut index = NameIndex { buckets: vec![Vec::new(); (NAME_LEN_MAX + 1) * LETTERS] };
        for spec in specs {
            let name = spec.name.as_bytes();
            assert!(name.len() <= NAME_LEN_MAX, "command name {} too long", spec.name);
            assert!(index.get(name).is_none(), "command {} declared twice", spec.name);
            let slot = Self::slot(name).unwrap_or_else(|| panic!("command name {} must start with a letter", spec.name));
            index.buckets[slot].push(spec);
        }
        index
    }

    fn slot(name: &[u8]) -> Option<usize> {
        let first = name.first()?.to_ascii_lowercase();
        if name.len() > NAME_LEN_MAX || !first.is_ascii_lowercase() {
            return None;
        }
        Some(name.len() * LETTERS + usize::from(first - b'a'))
    }

    /// The spec named `name`, in any case.
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let bucket = &self.buckets[Self::slot(name)?];
        bucket.iter().copied().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Every indexed spec (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.buckets.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_command_in_any_case_and_nothing_else() {
        let index = NameIndex::new(crate::commands::all());
        for spec in crate::commands::all() {
            let upper = spec.name.to_ascii_uppercase();
            assert!(std::ptr::eq(index.get(spec.name.as_bytes()).unwrap(), spec));
            assert!(std::ptr::eq(index.get(upper.as_bytes()).unwrap(), spec));
        }
        assert_eq!(index.iter().count(), crate::commands::all().count());
        for name in [&b""[..], b"sett", b"se", b"1set", b"\xffget", b"get\0", &[b'g'; 40]] {
            assert!(index.get(name).is_none(), "{name:?}");
        }
        assert!(std::ptr::eq(index.get(b"GeT").unwrap(), index.get(b"get").unwrap()));
    }
}
