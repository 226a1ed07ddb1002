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

/// Declares a set of named bits: a `Copy` newtype over an integer, one associated constant
/// per flag, `union` / `contains` (const, so combinations can be named constants) and
/// `names()`. A flag declared `=> "name"` is reported under that name, in declaration order;
/// one without a name is internal and never reported.
macro_rules! bitset {
    (
        $(#[$meta:meta])*
        pub struct $set:ident($bits:ty);
        $($(#[$flag_meta:meta])* $flag:ident = $value:expr $(=> $text:literal)?;)*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $set(pub $bits);

        impl $set {
            $($(#[$flag_meta])* pub const $flag: $set = $set($value);)*

            const NAMES: &'static [($set, &'static str)] = &[$($(($set::$flag, $text),)?)*];

            pub const fn union(self, other: $set) -> $set {
                $set(self.0 | other.0)
            }

            pub const fn contains(self, other: $set) -> bool {
                self.0 & other.0 == other.0
            }

            /// The names of the flags set, in the order Redis reports them.
            pub fn names(self) -> Vec<&'static str> {
                Self::NAMES
                    .iter()
                    .filter(|(flag, _)| self.contains(*flag))
                    .map(|(_, name)| *name)
                    .collect()
            }
        }

        impl std::ops::BitOr for $set {
            type Output = $set;
            fn bitor(self, other: $set) -> $set {
                self.union(other)
            }
        }
    };
}

bitset! {
    /// Command flags, as COMMAND reports them (declared in COMMAND's order).
    pub struct Flags(u32);
    NONE = 0;
    WRITE = 1 => "write";
    READONLY = 1 << 1 => "readonly";
    DENYOOM = 1 << 2 => "denyoom";
    ADMIN = 1 << 3 => "admin";
    PUBSUB = 1 << 4 => "pubsub";
    NOSCRIPT = 1 << 5 => "noscript";
    BLOCKING = 1 << 6 => "blocking";
    LOADING = 1 << 7 => "loading";
    STALE = 1 << 8 => "stale";
    SKIP_MONITOR = 1 << 12 => "skip_monitor";
    SKIP_SLOWLOG = 1 << 13 => "skip_slowlog";
    FAST = 1 << 9 => "fast";
    NO_AUTH = 1 << 10 => "no_auth";
    MAY_REPLICATE = 1 << 11 => "may_replicate";
    NO_MULTI = 1 << 14 => "no_multi";
    ALLOW_BUSY = 1 << 15 => "allow_busy";
    MOVABLE_KEYS = 1 << 16 => "movablekeys";
    /// Needs the wall clock or a random choice on apply (documentation only: the entry's time
    /// and the log-index seed make it deterministic).
    NONDETERMINISTIC_OUTPUT = 1 << 17;
    /// Looks at its keys without counting as an access (Redis's `LOOKUP_NOTOUCH`: TYPE,
    /// EXISTS, the TTL family, OBJECT): the state machine leaves their access words alone.
    /// Internal, not reported by COMMAND.
    NO_TOUCH = 1 << 18;
}

bitset! {
    /// Key-spec flags (Redis's `CMD_KEY_*`): what a command does with one of its keys, as
    /// COMMAND INFO's key specs and COMMAND GETKEYSANDFLAGS report them (declared in Redis's
    /// order).
    pub struct KeyFlags(u16);
    /// Read only.
    RO = 1 => "RO";
    /// Read and write.
    RW = 1 << 1 => "RW";
    /// Overwrite: the old value is not read.
    OW = 1 << 2 => "OW";
    /// Removes the key.
    RM = 1 << 3 => "RM";
    /// Returns, copies or uses the value's data.
    ACCESS = 1 << 4 => "access";
    UPDATE = 1 << 5 => "update";
    INSERT = 1 << 6 => "insert";
    DELETE = 1 << 7 => "delete";
    /// A name in the key's slot that is not a key (shard channels).
    NOT_KEY = 1 << 8 => "not_key";
    INCOMPLETE = 1 << 9 => "incomplete";
    /// The flags depend on the arguments (SET … GET, BITFIELD's operations).
    VARIABLE_FLAGS = 1 << 10 => "variable_flags";
}

impl KeyFlags {
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
}

/// Where a key spec's keys are, as COMMAND INFO reports it (Redis's begin_search /
/// find_keys pairs, in the forms the table can state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySearch {
    /// Keys from argument `index`; `last_key` relative to it when >= 0, from the end when
    /// negative; every `step`th.
    Range { index: i32, last_key: i32, step: i32 },
    /// `numkeys key [key …]`: the count at argument `index`, the keys after it (Redis's
    /// begin_search `index` with find_keys `keynum`: keynumidx 0, firstkey 1, keystep 1).
    Keynum { index: i32 },
    /// The one argument after the first `keyword` (any case) found scanning forward from
    /// argument `start_from` (Redis's begin_search `keyword` with find_keys `range` 0 1 0:
    /// GEORADIUS's `STORE key`).
    Keyword { keyword: &'static str, start_from: i32 },
    /// Found by the command's key finder (movable keys), or not at all (SORT's BY/GET
    /// patterns name keys Redis does not declare).
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
    /// Key specs stated outright, for the commands whose specs neither the key range nor the
    /// numkeys form derives (a key after a keyword, keys Redis reports `unknown`). COMMAND
    /// INFO reports exactly these; when none is `Unknown` they also find the keys (spec by
    /// spec, as Redis's `getKeysUsingKeySpecs`) and no key finder is needed.
    pub declared_key_specs: &'static [(KeyFlags, KeySearch)],
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
            declared_key_specs: &[],
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
    pub fn for_each_key(&self, args: &[Bytes], mut f: impl FnMut(usize)) {
        match self.key_finder {
            Some(finder) => finder(args).into_iter().for_each(f),
            None if self.searches_declared_keys() => {
                self.keys_by_declared_specs(args).into_iter().for_each(|(position, _)| f(position))
            }
            None => self.key_range(args).for_each(f),
        }
    }

    /// True when the declared key specs find the keys: there are some, none is `Unknown`,
    /// and no key finder overrides them.
    fn searches_declared_keys(&self) -> bool {
        self.key_finder.is_none()
            && !self.declared_key_specs.is_empty()
            && self.declared_key_specs.iter().all(|(_, search)| *search != KeySearch::Unknown)
    }

    /// The keys the declared specs find in `args`, each with its spec's flags, in spec order.
    /// A spec whose keyword is absent finds nothing; one that would reach past the arguments
    /// (a syntax error the command reports) finds nothing either.
    fn keys_by_declared_specs(&self, args: &[Bytes]) -> Vec<(usize, KeyFlags)> {
        let argc = args.len();
        let mut keys = Vec::new();
        for (flags, search) in self.declared_key_specs {
            let (first, last, step) = match *search {
                KeySearch::Range { index, last_key, step } => {
                    let first = index as usize;
                    let last = if last_key >= 0 {
                        first + last_key as usize
                    } else {
                        (argc as i32 + last_key).max(0) as usize
                    };
                    (first, last, step.max(1) as usize)
                }
                KeySearch::Keynum { index } => {
                    let index = index as usize;
                    let Some(count) = args.get(index).and_then(|n| std::str::from_utf8(n).ok()) else {
                        continue;
                    };
                    let Ok(count) = count.parse::<usize>() else { continue };
                    if count == 0 {
                        continue;
                    }
                    (index + 1, index + count, 1)
                }
                KeySearch::Keyword { keyword, start_from } => {
                    // Scans up to the argument before the last: a keyword needs its key after it.
                    let found = (start_from.max(1) as usize..argc.saturating_sub(1))
                        .find(|&position| args[position].eq_ignore_ascii_case(keyword.as_bytes()));
                    let Some(position) = found else { continue };
                    (position + 1, position + 1, 1)
                }
                KeySearch::Unknown => continue,
            };
            if first >= argc || last >= argc || last < first {
                continue;
            }
            keys.extend((first..=last).step_by(step).map(|position| (position, *flags)));
        }
        keys
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
        if self.searches_declared_keys() {
            return self.keys_by_declared_specs(args);
        }
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
    /// for the numkeys forms and `Unknown` otherwise. Declared specs replace all of that.
    pub fn key_specs(&self) -> Vec<(KeyFlags, KeySearch)> {
        if !self.declared_key_specs.is_empty() {
            return self.declared_key_specs.to_vec();
        }
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
        let mut positions = Vec::new();
        self.for_each_key(args, |position| positions.push(position));
        positions
    }

    /// True when the keys' positions depend on the arguments (COMMAND's `movablekeys`): the
    /// flag, a key finder, or a key spec that is not a fixed index and range (Redis derives
    /// it from the key specs the same way).
    pub fn movable_keys(&self) -> bool {
        self.flags.contains(Flags::MOVABLE_KEYS)
            || self.key_finder.is_some()
            || self.key_specs().iter().any(|(_, search)| !matches!(search, KeySearch::Range { .. }))
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

    /// Declared key specs: COMMAND INFO reports them as stated (Redis 7.2's SORT and
    /// GEORADIUS), they find the keys when all are known, and a key finder still finds SORT's
    /// STORE key, which its spec leaves `unknown`.
    #[test]
    fn declared_key_specs_are_reported_and_searched() {
        let range_at_1 = KeySearch::Range { index: 1, last_key: 0, step: 1 };
        let sort = spec("sort");
        assert_eq!(
            sort.key_specs(),
            vec![
                (KeyFlags::RO_ACCESS, range_at_1),
                (KeyFlags::RO_ACCESS, KeySearch::Unknown),
                (KeyFlags::OW_UPDATE, KeySearch::Unknown),
            ]
        );
        assert_eq!(
            sort.keys_and_flags(&args(&["SORT", "k", "BY", "w_*", "STORE", "dst"])),
            vec![(1, KeyFlags::RO_ACCESS), (5, KeyFlags::OW_UPDATE)]
        );
        let sort_ro = spec("sort_ro");
        assert_eq!(sort_ro.key_specs().len(), 2);
        assert_eq!(sort_ro.key_positions(&args(&["SORT_RO", "k", "GET", "#"])), vec![1]);
        assert!(sort_ro.movable_keys() && !spec("get").movable_keys());
        let georadius = spec("georadius");
        assert_eq!(
            georadius.key_specs(),
            vec![
                (KeyFlags::RO_ACCESS, range_at_1),
                (KeyFlags::OW_UPDATE, KeySearch::Keyword { keyword: "STORE", start_from: 6 }),
                (KeyFlags::OW_UPDATE, KeySearch::Keyword { keyword: "STOREDIST", start_from: 6 }),
            ]
        );
        let store_args = args(&["GEORADIUS", "k", "15", "37", "200", "km", "STOREDIST", "d"]);
        assert_eq!(georadius.key_positions(&store_args), vec![1, 7]);
        let mut touched = Vec::new();
        georadius.for_each_key(&store_args, |position| touched.push(position));
        assert_eq!(touched, vec![1, 7]);
        // The keyword is looked for only from start_from, and never as the last argument.
        let bymember = spec("georadiusbymember");
        assert_eq!(bymember.key_positions(&args(&["GEORADIUSBYMEMBER", "k", "STORE", "1", "km"])), vec![1]);
        assert_eq!(bymember.key_positions(&args(&["GEORADIUSBYMEMBER", "k", "m", "1", "km", "STORE"])), vec![1]);
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

    /// Names come in the declared (Redis's) order, not bit order, and internal flags have none.
    #[test]
    fn flag_names_follow_the_declared_order() {
        let flags = Flags::FAST | Flags::SKIP_MONITOR | Flags::WRITE | Flags::NO_TOUCH;
        assert_eq!(flags.names(), ["write", "skip_monitor", "fast"]);
        assert!(flags.contains(Flags::NO_TOUCH) && !flags.contains(Flags::READONLY));
        assert_eq!(Flags::NONE.names(), Vec::<&str>::new());
        assert_eq!((KeyFlags::VARIABLE_FLAGS | KeyFlags::RO).names(), ["RO", "variable_flags"]);
    }
}
