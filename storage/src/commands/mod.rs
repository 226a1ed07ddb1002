//! Keyspace command families, one file each. Every family file lists its commands in a `//!`
//! header, then parse/apply functions, then its tests, and ends with its table entries
//! (`pub const COMMANDS: &[CommandSpec]`).

use std::sync::OnceLock;

use crate::name_index::NameIndex;
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
pub use crate::name_index::NAME_LEN_MAX;

fn table() -> &'static NameIndex {
    static TABLE: OnceLock<NameIndex> = OnceLock::new();
    TABLE.get_or_init(|| NameIndex::new(all()))
}

/// Finds a keyspace command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    table().get(name)
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
