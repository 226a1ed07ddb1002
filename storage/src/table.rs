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
            acl: &[],
            group: "generic",
            since: "1.0.0",
            summary: "",
            syntax: "",
            handler,
            subcommands: &[],
        }
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
