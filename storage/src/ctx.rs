//! What a command sees while it runs: the keyspace, the selected database, the entry's leader
//! time and log index, a deterministic random source, and the sink for events (keyspace
//! notifications, keys that blocked clients wait on).

use bytes::Bytes;

use crate::db::{Db, Keyspace};

/// Keyspace notification classes, as the letters of `notify-keyspace-events`.
pub mod class {
    pub const GENERIC: u8 = b'g';
    pub const STRING: u8 = b'$';
    pub const LIST: u8 = b'l';
    pub const SET: u8 = b's';
    pub const HASH: u8 = b'h';
    pub const ZSET: u8 = b'z';
    pub const STREAM: u8 = b't';
    pub const EXPIRED: u8 = b'x';
    pub const EVICTED: u8 = b'e';
    pub const KEY_MISS: u8 = b'm';
    pub const NEW: u8 = b'n';
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A keyspace notification (`__keyspace@db__:key` / `__keyevent@db__:event`).
    Notify {
        db: usize,
        class: u8,
        event: &'static str,
        key: Bytes,
    },
    /// A list or sorted set gained elements: clients blocked on it may now be served.
    Ready { db: usize, key: Bytes },
    /// A whole database changed at once (FLUSHDB, FLUSHALL, SWAPDB, SELECT-crossing MOVE).
    DbChanged { db: usize },
    /// A script ran a command (`redis.call` / `redis.pcall`), for MONITOR's `[db lua]` lines:
    /// the database selected after it ran, and its arguments.
    ScriptCommand { db: usize, args: Vec<Bytes> },
    /// A script (or function) ran its first read-only command; `keys` are the keys it was
    /// given. CLIENT TRACKING remembers them for the client that sent it, as Redis does.
    ScriptRead { keys: Vec<Bytes> },
    /// A restricted user's script ran a command its ACL refuses (or `redis.call` was refused
    /// for it): the node that sent it (`node`, its `client`) adds an ACL LOG entry with
    /// context `lua`, as Redis does. `reason` is `command`, `key` or `channel`.
    /// A command a script called failed with `error`: refused before it ran (`rejected`: ACL,
    /// read-only script, OOM …) or ran and answered an error. INFO commandstats counts it in
    /// `rejected_calls` / `failed_calls` of `name`, errorstats under its code unless
    /// `counted` is false: the script's own error reply repeats it and is counted instead
    /// (Redis counts such an error once).
    ScriptCallError {
        name: &'static str,
        rejected: bool,
        error: String,
        counted: bool,
    },
    ScriptAclDenied {
        node: u64,
        client: u64,
        user: String,
        reason: &'static str,
        object: Bytes,
    },
}

pub struct Ctx<'a> {
    pub keyspace: &'a mut Keyspace,
    /// Selected database.
    pub db: usize,
    /// The entry's leader time (write path) or the leader's clock (read path), unix ms.
    pub now_ms: u64,
    /// Log index of the entry being applied (0 on the read path).
    pub index: u64,
    pub events: &'a mut Vec<Event>,
    /// The command was called by a Lua script (`redis.call`), as Redis's CLIENT_SCRIPT.
    pub from_script: bool,
    /// The restricted ACL user the script runs for (None: unrestricted, nothing is checked).
    pub user: Option<&'a crate::acl::ScriptUser>,
    /// The script was proposed while the node was over `maxmemory` (`Op::OverMemory`).
    pub over_memory: bool,
    rng_state: u64,
}

impl<'a> Ctx<'a> {
    /// `seed` makes random choices deterministic: the log index and position on the write path.
    pub fn new(
        keyspace: &'a mut Keyspace,
        db: usize,
        now_ms: u64,
        index: u64,
        seed: u64,
        events: &'a mut Vec<Event>,
    ) -> Self {
        keyspace.dbs[db].set_change_index(index);
        Ctx {
            keyspace,
            db,
            now_ms,
            index,
            events,
            from_script: false,
            user: None,
            over_memory: false,
            rng_state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn db(&mut self) -> &mut Db {
        &mut self.keyspace.dbs[self.db]
    }

    pub fn db_ref(&self) -> &Db {
        &self.keyspace.dbs[self.db]
    }

    /// Emits a keyspace notification for `key` in the selected database.
    pub fn notify(&mut self, class: u8, event: &'static str, key: &Bytes) {
        self.notify_in(self.db, class, event, key);
    }

    /// Emits a keyspace notification for `key` in database `db` (MOVE and COPY reach others),
    /// unless the node has events off (`EventSwitch`).
    pub fn notify_in(&mut self, db: usize, class: u8, event: &'static str, key: &Bytes) {
        if !self.keyspace.keyspace_events.0 {
            return;
        }
        self.events.push(Event::Notify {
            db,
            class,
            event,
            key: key.clone(),
        });
    }

    /// Deletes `key` if its aggregate (list, hash, set, sorted set) became empty, with Redis's
    /// `del` notification: Redis never keeps an empty aggregate.
    pub fn delete_if_empty(&mut self, key: &Bytes) {
        let now_ms = self.now_ms;
        if matches!(self.db_ref().get(key, now_ms), Some(value) if value.is_empty_aggregate()) {
            self.db().remove(key, now_ms);
            self.notify(class::GENERIC, "del", key);
        }
    }

    /// Tells blocked clients that `key` in the selected database may now serve them.
    pub fn signal_ready(&mut self, key: &Bytes) {
        self.signal_ready_in(self.db, key);
    }

    /// Tells blocked clients that `key` in database `db` may now serve them, unless the node
    /// has events off (`EventSwitch`).
    pub fn signal_ready_in(&mut self, db: usize, key: &Bytes) {
        if !self.keyspace.keyspace_events.0 {
            return;
        }
        self.events.push(Event::Ready { db, key: key.clone() });
    }

    /// Next value of a deterministic generator (splitmix64) seeded from the entry.
    pub fn random_u64(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A deterministic random number in `0..bound` (`bound` > 0).
    pub fn random_below(&mut self, bound: usize) -> usize {
        assert!(bound > 0);
        (self.random_u64() % bound as u64) as usize
    }

    /// Moves keys found expired during this command into `expired` notifications.
    pub(crate) fn flush_expired(&mut self) {
        if !crate::db::take_expired_removed_flag() {
            return;
        }
        for db in 0..self.keyspace.dbs.len() {
            if !self.keyspace.dbs[db].has_expired_removed() {
                continue;
            }
            for key in self.keyspace.dbs[db].take_expired_removed() {
                self.notify_in(db, class::EXPIRED, "expired", &key);
            }
        }
    }
}
