//! Keyspace command families, one file each. Every family file lists its commands in a `//!`
//! header, then parse/apply functions, then its tests, and ends with its table entries
//! (`pub const COMMANDS: &[CommandSpec]`).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::table::CommandSpec;

pub mod bitmaps;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod scripting;
pub mod sets;
pub mod streams;
pub mod strings;
pub mod zsets;

/// Every keyspace family's table, in one list.
pub const FAMILIES: &[&[CommandSpec]] = &[
    strings::COMMANDS,
    bitmaps::COMMANDS,
    keys::COMMANDS,
    hashes::COMMANDS,
    lists::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    hyperloglog::COMMANDS,
    geo::COMMANDS,
    streams::COMMANDS,
    scripting::COMMANDS,
    functions::COMMANDS,
];

/// Longest command name (the server's commands too); longer names cannot be commands.
pub const NAME_LEN_MAX: usize = 32;

/// Name → spec. foldhash rather than SipHash: every command is looked up here (several times
/// on its way: dispatch, prefetch, apply), and names come from clients only as lookups.
type Table = HashMap<&'static [u8], &'static CommandSpec, crate::value::FixedHasher>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = Table::default();
        for family in FAMILIES {
            for spec in family.iter() {
                assert!(spec.name.len() <= NAME_LEN_MAX);
                let previous = map.insert(spec.name.as_bytes(), spec);
                assert!(previous.is_none(), "command {} declared twice", spec.name);
            }
        }
        map
    })
}

/// Finds a keyspace command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    with_lowercase_name(name, |lower| table().get(lower).copied())
}

/// Runs `find` on `name` in lower case (command names are case-insensitive), without
/// allocating; None for a name longer than any command's.
pub fn with_lowercase_name<T>(name: &[u8], find: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
    if name.len() > NAME_LEN_MAX {
        return None;
    }
    let mut lower = [0u8; NAME_LEN_MAX];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    find(lower)
}

/// All keyspace command specs.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    FAMILIES.iter().flat_map(|family| family.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Flags, Handler};

    #[test]
    fn every_entry_is_well_formed() {
        for spec in all() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase(), "{}", spec.name);
            assert!(spec.arity != 0, "{}", spec.name);
            assert!(
                spec.flags.contains(Flags::WRITE) != spec.flags.contains(Flags::READONLY)
                    || matches!(spec.handler, Handler::Container),
                "{} must be exactly one of write/readonly",
                spec.name
            );
            assert!(
                !matches!(spec.handler, Handler::Server),
                "{} is a keyspace family entry",
                spec.name
            );
            if matches!(spec.handler, Handler::Container) {
                assert!(!spec.subcommands.is_empty(), "{}", spec.name);
            }
            assert!(!spec.summary.is_empty(), "{} needs a summary", spec.name);
        }
    }
}
