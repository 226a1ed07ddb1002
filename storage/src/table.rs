//! The command table as data: one `CommandSpec` per command (name, arity, flags, key
//! positions, ACL categories, documentation). It drives dispatch, the arity error, COMMAND /
//! COMMAND DOCS replies and slot routing.
//!
//! Keyspace commands (executed by the state machine) are declared at the end of each family
//! file in `commands/`; connection and server commands are declared by the server crate with
//! `Handler::Server` and dispatched there.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::ctx::Ctx;

/// A keyspace command: parses its arguments (`args[0]` is the command name) and applies them.
pub type KeyspaceFn = fn(&mut Ctx, &[Bytes]) -> Reply;
/// Finds key positions for commands whose keys are not a simple range (e.g. `numkeys` forms).
pub type KeyFinder = fn(&[Bytes]) -> Vec<usize>;

#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs in the state machine against the keyspace.
    Keyspace(KeyspaceFn),
    /// Runs in the server (session, pub/sub, configuration …).
    Server,
    /// A container (CONFIG, CLIENT, OBJECT …) whose subcommands carry the handlers.
    Container,
}

/// Command flags, as COMMAND reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const WRITE: Flags = Flags(1);
    pub const READONLY: Flags = Flags(1 << 1);
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    pub const BLOCKING: Flags = Flags(1 << 6);
    pub const LOADING: Flags = Flags(1 << 7);
    pub const STALE: Flags = Flags(1 << 8);
    pub const FAST: Flags = Flags(1 << 9);
    pub const NO_AUTH: Flags = Flags(1 << 10);
    pub const MAY_REPLICATE: Flags = Flags(1 << 11);
    pub const SKIP_MONITOR: Flags = Flags(1 << 12);
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 13);
    pub const NO_MULTI: Flags = Flags(1 << 14);
    pub const ALLOW_BUSY: Flags = Flags(1 << 15);
    pub const MOVABLE_KEYS: Flags = Flags(1 << 16);
    /// Needs the wall clock or a random choice on apply (documentation only: the entry's time
    /// and the log-index seed make it deterministic).
    pub const NONDETERMINISTIC_OUTPUT: Flags = Flags(1 << 17);
    /// Looks at its keys without counting as an access (Redis's `LOOKUP_NOTOUCH`: TYPE,
    /// EXISTS, the TTL family, OBJECT): the state machine leaves their access words alone.
    /// Internal, not reported by COMMAND.
    pub const NO_TOUCH: Flags = Flags(1 << 18);

    const NAMES: &'static [(Flags, &'static str)] = &[
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::PUBSUB, "pubsub"),
        (Flags::NOSCRIPT, "noscript"),
        (Flags::BLOCKING, "blocking"),
        (Flags::LOADING, "loading"),
        (Flags::STALE, "stale"),
        (Flags::SKIP_MONITOR, "skip_monitor"),
        (Flags::SKIP_SLOWLOG, "skip_slowlog"),
        (Flags::FAST, "fast"),
        (Flags::NO_AUTH, "no_auth"),
        (Flags::MAY_REPLICATE, "may_replicate"),
        (Flags::NO_MULTI, "no_multi"),
        (Flags::ALLOW_BUSY, "allow_busy"),
        (Flags::MOVABLE_KEYS, "movablekeys"),
    ];

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Flag names in COMMAND's order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        self.union(other)
    }
}

/// Key-spec flags (Redis's `CMD_KEY_*`): what a command does with one of its keys, as COMMAND
/// INFO's key specs and COMMAND GETKEYSANDFLAGS report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFlags(pub u16);

impl KeyFlags {
    /// Read only.
    pub const RO: KeyFlags = KeyFlags(1);
    /// Read and write.
    pub const RW: KeyFlags = KeyFlags(1 << 1);
    /// Overwrite: the old value is not read.
    pub const OW: KeyFlags = KeyFlags(1 << 2);
    /// Removes the key.
    pub const RM: KeyFlags = KeyFlags(1 << 3);
    /// Returns, copies or uses the value's data.
    pub const ACCESS: KeyFlags = KeyFlags(1 << 4);
    pub const UPDATE: KeyFlags = KeyFlags(1 << 5);
    pub const INSERT: KeyFlags = KeyFlags(1 << 6);
    pub const DELETE: KeyFlags = KeyFlags(1 << 7);
    /// A name in the key's slot that is not a key (shard channels).
    pub const NOT_KEY: KeyFlags = KeyFlags(1 << 8);
    pub const INCOMPLETE: KeyFlags = KeyFlags(1 << 9);
    /// The flags depend on the arguments (SET … GET, BITFIELD's operations).
    pub const VARIABLE_FLAGS: KeyFlags = KeyFlags(1 << 10);

    // The combinations the table uses, named so each entry stays one line.
    pub const RO_ACCESS: KeyFlags = KeyFlags::RO.union(KeyFlags::ACCESS);
    pub const RW_ACCESS: KeyFlags = KeyFlags::RW.union(KeyFlags::ACCESS);
    pub const RW_ACCESS_INSERT: KeyFlags = KeyFlags::RW_ACCESS.union(KeyFlags::INSERT);
    pub const RW_ACCESS_DELETE: KeyFlags = KeyFlags::RW.union(KeyFlags::ACCESS).union(KeyFlags::DELETE);
    pub const RW_ACCESS_UPDATE: KeyFlags = KeyFlags::RW.union(KeyFlags::ACCESS).union(KeyFlags::UPDATE);
    pub const RW_ACCESS_UPDATE_VARIABLE: KeyFlags = KeyFlags::RW_ACCESS_UPDATE.union(KeyFlags::VARIABLE_FLAGS);
    pub const RW_INSERT: KeyFlags = KeyFlags::RW.union(KeyFlags::INSERT);
    pub const RW_UPDATE: KeyFlags = KeyFlags::RW.union(KeyFlags::UPDATE);
    pub const RW_DELETE: KeyFlags = KeyFlags::RW.union(KeyFlags::DELETE);
    pub const OW_UPDATE: KeyFlags = KeyFlags::OW.union(KeyFlags::UPDATE);
    pub const OW_INSERT: KeyFlags = KeyFlags::OW.union(KeyFlags::INSERT);
    pub const RM_DELETE: KeyFlags = KeyFlags::RM.union(KeyFlags::DELETE);

    const NAMES: &'static [(KeyFlags, &'static str)] = &[
        (KeyFlags::RO, "RO"),
        (KeyFlags::RW, "RW"),
        (KeyFlags::OW, "OW"),
        (KeyFlags::RM, "RM"),
        (KeyFlags::ACCESS, "access"),
        (KeyFlags::UPDATE, "update"),
        (KeyFlags::INSERT, "insert"),
        (KeyFlags::DELETE, "delete"),
        (KeyFlags::NOT_KEY, "not_key"),
        (KeyFlags::INCOMPLETE, "incomplete"),
        (KeyFlags::VARIABLE_FLAGS, "variable_flags"),
    ];

    pub const fn union(self, other: KeyFlags) -> KeyFlags {
        KeyFlags(self.0 | other.0)
    }

    pub const fn contains(self, other: KeyFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Flag names in Redis's order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// Where a key spec's keys are, as COMMAND INFO reports it (Redis's begin_search /
/// find_keys pairs, in the two forms the table can state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySearch {
    /// Keys from argument `index`; `last_key` relative to it when >= 0, from the end when
    /// negative; every `step`th.
    Range { index: i32, last_key: i32, step: i32 },
    /// `numkeys key [key …]`: the count at argument `index`, the keys after it (Redis's
    /// begin_search `index` with find_keys `keynum`: keynumidx 0, firstkey 1, keystep 1).
    Keynum { index: i32 },
    /// Found by the command's key finder (movable keys).
    Unknown,
}

#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lower-case name (`get`), or `container|sub` for a subcommand (`client|setname`).
    pub name: &'static str,
    /// Redis arity: positive = exact argument count including the name, negative = minimum.
    pub arity: i32,
    pub flags: Flags,
    /// First key position (0: no keys), last (negative counts from the end), step.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Key positions for commands with movable keys.
    pub key_finder: Option<KeyFinder>,
    /// For a key finder of the `numkeys key [key …]` form: the position of numkeys (0: none).
    /// COMMAND INFO then reports the last key spec as a `keynum` search from there, and the
    /// ones before it as single keys at positions 1, 2 … (ZUNIONSTORE's destination).
    pub numkeys_index: i32,
    /// Key-spec flags, Redis's key specs in order: the n-th key found takes the n-th entry,
    /// the last entry covers the remaining keys (`dest key [key …]` is `[OW_UPDATE,
    /// RO_ACCESS]`). Empty: derived from the command's flags (`key_flags_at`).
    pub key_flags: &'static [KeyFlags],
    /// Flags that depend on the arguments (SET … GET), for COMMAND GETKEYSANDFLAGS.
    pub key_flags_finder: Option<fn(&[Bytes]) -> KeyFlags>,
    /// ACL categories without the `@` (`string`, `fast`, `write` …).
    pub acl: &'static [&'static str],
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument syntax after the name, as in Redis docs (`key value [NX | XX]`); drives
    /// COMMAND DOCS and redis-cli hints.
    pub syntax: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A spec with no keys and no flags; families fill in the rest with struct update syntax.
    pub const fn base(name: &'static str, arity: i32, handler: Handler) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags: Flags::NONE,
            first_key: 0,
            last_key: 0,
            step: 0,
            key_finder: None,
            numkeys_index: 0,
            key_flags: &[],
            key_flags_finder: None,
            acl: &[],
            group: "generic",
            since: "1.0.0",
            summary: "",
            syntax: "",
            handler,
            subcommands: &[],
        }
    }

    /// The spec with its key-spec flags set (for tables built by positional helpers).
    pub const fn with_key_flags(self, key_flags: &'static [KeyFlags]) -> CommandSpec {
        CommandSpec { key_flags, ..self }
    }

    pub fn is_write(&self) -> bool {
        self.flags.contains(Flags::WRITE)
    }

    /// True when `argc` (including the name) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// Calls `f` with the position of every key in `args`, as `key_positions` lists them,
    /// without allocating for the common fixed-range specs.
    pub fn for_each_key(&self, args: &[Bytes], f: impl FnMut(usize)) {
        match self.key_finder {
            Some(finder) => finder(args).into_iter().for_each(f),
            None => self.key_range(args).for_each(f),
        }
    }

    /// The key-spec flags of the `n`-th key the command names (0-based), from the table or,
    /// where it declares none, from the command's flags: a write reads and updates its keys,
    /// anything else reads them.
    pub fn key_flags_at(&self, n: usize) -> KeyFlags {
        match self.key_flags.len() {
            0 if self.is_write() => KeyFlags::RW_ACCESS_UPDATE,
            0 => KeyFlags::RO_ACCESS,
            len => self.key_flags[n.min(len - 1)],
        }
    }

    /// The key flags of every key in `args` (which include the command name), in the order
    /// of `key_positions`, with variable flags resolved from the arguments.
    pub fn keys_and_flags(&self, args: &[Bytes]) -> Vec<(usize, KeyFlags)> {
        self.key_positions(args)
            .into_iter()
            .enumerate()
            .map(|(n, position)| {
                let flags = self.key_flags_at(n);
                match self.key_flags_finder {
                    Some(finder) if flags.contains(KeyFlags::VARIABLE_FLAGS) => (position, finder(args)),
                    _ => (position, flags),
                }
            })
            .collect()
    }

    /// The command's key specs as COMMAND INFO lists them: one per `key_flags` entry (one
    /// for a command with keys and no declared flags). With a fixed key range, spec n starts
    /// at the n-th key and the last takes the rest of the range; movable keys are `Keynum`
    /// for the numkeys forms and `Unknown` otherwise.
    pub fn key_specs(&self) -> Vec<(KeyFlags, KeySearch)> {
        if self.first_key <= 0 && self.key_finder.is_none() {
            return Vec::new();
        }
        let count = self.key_flags.len().max(1);
        (0..count)
            .map(|n| {
                let flags = self.key_flags_at(n);
                if self.key_finder.is_some() && self.numkeys_index > 0 {
                    if n + 1 == count {
                        return (flags, KeySearch::Keynum { index: self.numkeys_index });
                    }
                    return (flags, KeySearch::Range { index: n as i32 + 1, last_key: 0, step: 1 });
                }
                if self.key_finder.is_some() {
                    return (flags, KeySearch::Unknown);
                }
                let step = self.step.max(1);
                let index = self.first_key + n as i32 * step;
                let last_key = if n + 1 < count {
                    0
                } else if self.last_key < 0 {
                    self.last_key
                } else {
                    self.last_key - index
                };
                (flags, KeySearch::Range { index, last_key, step })
            })
            .collect()
    }

    /// Positions of the keys in `args` (which include the command name).
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        match self.key_finder {
            Some(finder) => finder(args),
            None => self.key_range(args).collect(),
        }
    }

    /// The positions the spec's fixed key range (first, last, step) names in `args`; none
    /// when it has no keys (`first_key` 0).
    fn key_range(&self, args: &[Bytes]) -> impl Iterator<Item = usize> {
        let len = args.len() as i32;
        let last = if self.first_key <= 0 {
            0
        } else if self.last_key < 0 {
            len + self.last_key
        } else {
            self.last_key.min(len - 1)
        };
        (self.first_key.max(1)..=last)
            .step_by(self.step.max(1) as usize)
            .map(|position| position as usize)
    }
}

/// A `KeyFinder` for `numkeys key [key …]` at position `at` (e.g. LMPOP, ZUNION, SINTERCARD).
pub fn keys_after_numkeys(args: &[Bytes], at: usize) -> Vec<usize> {
    let count = args
        .get(at)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    (at + 1..(at + 1 + count).min(args.len())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|part| Bytes::copy_from_slice(part.as_bytes())).collect()
    }

    fn spec(name: &str) -> &'static CommandSpec {
        crate::commands::lookup(name.as_bytes()).expect("in the table")
    }

    /// Every command that names keys has key specs, each with exactly one of RO, RW, OW and
    /// RM (as Redis requires of a key spec).
    #[test]
    fn every_key_spec_has_one_access_kind() {
        for spec in crate::commands::all() {
            for spec in std::iter::once(spec).chain(spec.subcommands.iter()) {
                let specs = spec.key_specs();
                let has_keys = spec.first_key > 0 || spec.key_finder.is_some();
                assert_eq!(!specs.is_empty(), has_keys, "{}", spec.name);
                for (flags, _) in specs {
                    let kinds = [KeyFlags::RO, KeyFlags::RW, KeyFlags::OW, KeyFlags::RM]
                        .iter()
                        .filter(|kind| flags.contains(**kind))
                        .count();
                    assert_eq!(kinds, 1, "{}: {:?}", spec.name, flags.names());
                }
            }
        }
    }

    /// The n-th key takes the n-th declared flags, the last entry the rest; key specs split
    /// the fixed range the same way.
    #[test]
    fn keys_take_their_key_spec_flags() {
        let lmove = spec("lmove");
        assert_eq!(
            lmove.keys_and_flags(&args(&["LMOVE", "a", "b", "LEFT", "LEFT"])),
            vec![(1, KeyFlags::RW_ACCESS_DELETE), (2, KeyFlags::RW_INSERT)]
        );
        assert_eq!(
            lmove.key_specs(),
            vec![
                (KeyFlags::RW_ACCESS_DELETE, KeySearch::Range { index: 1, last_key: 0, step: 1 }),
                (KeyFlags::RW_INSERT, KeySearch::Range { index: 2, last_key: 0, step: 1 }),
            ]
        );
        let sinterstore = spec("sinterstore");
        assert_eq!(
            sinterstore.keys_and_flags(&args(&["SINTERSTORE", "d", "a", "b"])),
            vec![(1, KeyFlags::RW_UPDATE), (2, KeyFlags::RO_ACCESS), (3, KeyFlags::RO_ACCESS)]
        );
        assert_eq!(
            sinterstore.key_specs()[1],
            (KeyFlags::RO_ACCESS, KeySearch::Range { index: 2, last_key: -1, step: 1 })
        );
        assert_eq!(
            spec("mset").key_specs(),
            vec![(KeyFlags::OW_UPDATE, KeySearch::Range { index: 1, last_key: -1, step: 2 })]
        );
        assert_eq!(
            spec("zunionstore").key_specs(),
            vec![
                (KeyFlags::OW_UPDATE, KeySearch::Range { index: 1, last_key: 0, step: 1 }),
                (KeyFlags::RO_ACCESS, KeySearch::Keynum { index: 2 }),
            ]
        );
        assert_eq!(spec("eval").key_specs(), vec![(KeyFlags::RW_ACCESS_UPDATE, KeySearch::Keynum { index: 2 })]);
        assert_eq!(spec("fcall_ro").key_specs(), vec![(KeyFlags::RO_ACCESS, KeySearch::Keynum { index: 2 })]);
        assert_eq!(spec("lmpop").key_specs()[0].1, KeySearch::Keynum { index: 1 });
        assert_eq!(spec("blmpop").key_specs()[0].1, KeySearch::Keynum { index: 2 });
        assert_eq!(spec("sintercard").key_specs()[0].1, KeySearch::Keynum { index: 1 });
        assert_eq!(spec("zunion").key_specs()[0].1, KeySearch::Keynum { index: 1 });
        assert!(spec("dbsize").key_specs().is_empty());
    }

    /// SET and BITFIELD resolve their variable flags from the arguments, as Redis's
    /// `setGetKeys` and `bitfieldGetKeys`.
    #[test]
    fn variable_key_flags_follow_the_arguments() {
        let flags = |parts: &[&str]| {
            let args = args(parts);
            spec(parts[0]).keys_and_flags(&args)[0].1
        };
        assert_eq!(flags(&["set", "k", "v"]), KeyFlags::OW_UPDATE);
        assert_eq!(flags(&["set", "k", "v", "NX", "get"]), KeyFlags::RW_ACCESS_UPDATE);
        assert_eq!(flags(&["bitfield", "k", "GET", "u8", "0", "OVERFLOW", "SAT"]), KeyFlags::RO_ACCESS);
        assert_eq!(flags(&["bitfield", "k", "GET", "u8", "0", "INCRBY", "u8", "0", "1"]), KeyFlags::RW_ACCESS_UPDATE);
        assert_eq!(flags(&["bitfield", "k", "GET", "u8"]), KeyFlags::RW_ACCESS_UPDATE);
        assert_eq!(KeyFlags::RW_ACCESS_DELETE.names(), ["RW", "access", "delete"]);
    }

    /// Without declared flags a write reads and updates its keys, anything else reads them.
    #[test]
    fn default_key_flags_follow_the_command_flags() {
        let write = CommandSpec { flags: Flags::WRITE, first_key: 1, last_key: 1, step: 1, ..CommandSpec::base("w", 2, Handler::Server) };
        let read = CommandSpec { flags: Flags::READONLY, ..write };
        assert_eq!(write.key_flags_at(0), KeyFlags::RW_ACCESS_UPDATE);
        assert_eq!(read.key_flags_at(3), KeyFlags::RO_ACCESS);
        assert_eq!(write.with_key_flags(&[KeyFlags::RM_DELETE]).key_flags_at(0), KeyFlags::RM_DELETE);
    }
}
