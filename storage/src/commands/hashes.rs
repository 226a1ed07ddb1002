//! hashes commands (to be filled in).

use crate::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
