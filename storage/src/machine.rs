//! The per-shard state machine: applies log entries deterministically and runs reads.
//!
//! An entry is `{leader time ms, ops}`. Applying the same entries in the same order gives the
//! same keyspace and the same replies on every replica: commands see only the entry's time,
//! its log index and a random source seeded from that index.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::commands;
use crate::ctx::{class, Ctx, Event};
use crate::db::{Keyspace, DATABASES};
use crate::errors;
use crate::table::{CommandSpec, Handler};

/// A key watched by WATCH: the version (index of last change, 0 = absent) seen at WATCH time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Watch {
    pub db: u32,
    pub key: Bytes,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// One command (name and arguments) against database `db`.
    Command { db: u32, args: Vec<Bytes> },
    /// MULTI … EXEC: aborts with a null reply if a watched key changed, else runs every
    /// command atomically and replies with the array of their replies.
    Exec {
        watched: Vec<Watch>,
        commands: Vec<(u32, Vec<Bytes>)>,
    },
    /// Deletes the listed keys that have expired by the entry's time (proposed by the leader).
    ExpireKeys { db: u32, keys: Vec<Bytes> },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The leader's wall clock when it built the entry, unix ms.
    pub time_ms: u64,
    pub ops: Vec<Op>,
}

#[derive(Debug, Default)]
pub struct StateMachine {
    pub keyspace: Keyspace,
    applied_index: u64,
    /// Entry times never go backwards, even if a new leader's clock is behind.
    last_time_ms: u64,
    /// Reads served so far: varies the random source of reads (ZRANDMEMBER, HRANDFIELD …)
    /// between calls within the same millisecond. Reads change nothing, so this needs no
    /// agreement between replicas.
    reads: u64,
}

impl StateMachine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Serializes the whole state (see `snapshot.rs`).
    pub fn snapshot(&self) -> Vec<u8> {
        crate::snapshot::encode(&self.keyspace, self.applied_index, self.last_time_ms)
    }

    /// Rebuilds a state machine from a snapshot image.
    pub fn restore(image: &[u8]) -> Result<StateMachine, crate::snapshot::SnapshotError> {
        let (keyspace, applied_index, last_time_ms) = crate::snapshot::decode(image)?;
        Ok(StateMachine { keyspace, applied_index, last_time_ms, reads: 0 })
    }

    /// The time the last applied entry ran at.
    pub fn last_time_ms(&self) -> u64 {
        self.last_time_ms
    }

    /// Applies the entry at log `index`, returning one reply per op.
    pub fn apply(&mut self, index: u64, entry: &Entry, events: &mut Vec<Event>) -> Vec<Reply> {
        assert!(index > self.applied_index, "entries are applied in log order");
        self.applied_index = index;
        self.last_time_ms = self.last_time_ms.max(entry.time_ms);
        let now_ms = self.last_time_ms;
        let mut replies = Vec::with_capacity(entry.ops.len());
        for (position, op) in entry.ops.iter().enumerate() {
            let seed = index.wrapping_mul(1_000_003).wrapping_add(position as u64);
            let reply = match op {
                Op::Command { db, args } => self.run(*db as usize, args, now_ms, index, seed, events),
                Op::Exec { watched, commands } => self.exec(watched, commands, now_ms, index, seed, events),
                Op::ExpireKeys { db, keys } => self.expire_keys(*db as usize, keys, now_ms, events),
            };
            replies.push(reply);
        }
        replies
    }

    /// Records that log entry `index` carried nothing for the keyspace (a Raft blank or
    /// membership entry), so indexes stay in step with the log.
    pub fn skip(&mut self, index: u64) {
        assert!(index > self.applied_index, "entries are applied in log order");
        self.applied_index = index;
    }

    /// Runs a read-only command at `now_ms` without changing state.
    pub fn read(&mut self, db: usize, args: &[Bytes], now_ms: u64, events: &mut Vec<Event>) -> Reply {
        let now_ms = now_ms.max(self.last_time_ms);
        self.reads = self.reads.wrapping_add(1);
        let seed = now_ms ^ self.reads.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.run(db, args, now_ms, self.applied_index, seed, events)
    }

    /// The current version of a key, for WATCH.
    pub fn version(&self, db: usize, key: &[u8], now_ms: u64) -> u64 {
        self.keyspace.dbs[db].version(key, now_ms.max(self.last_time_ms))
    }

    fn run(
        &mut self,
        db: usize,
        args: &[Bytes],
        now_ms: u64,
        index: u64,
        seed: u64,
        events: &mut Vec<Event>,
    ) -> Reply {
        assert!(db < DATABASES);
        let Some(spec) = resolve(args) else {
            return errors::unknown_command(args);
        };
        let spec = match spec {
            Ok(spec) => spec,
            Err(reply) => return reply,
        };
        let Handler::Keyspace(handler) = spec.handler else {
            return errors::unknown_command(args);
        };
        let mut ctx = Ctx::new(&mut self.keyspace, db, now_ms, index, seed, events);
        let reply = handler(&mut ctx, args);
        ctx.flush_expired();
        commands::keys::settle_encoding_floors(&mut self.keyspace);
        reply
    }

    fn exec(
        &mut self,
        watched: &[Watch],
        commands: &[(u32, Vec<Bytes>)],
        now_ms: u64,
        index: u64,
        seed: u64,
        events: &mut Vec<Event>,
    ) -> Reply {
        let changed = watched
            .iter()
            .any(|watch| self.keyspace.dbs[watch.db as usize].version(&watch.key, now_ms) != watch.version);
        if changed {
            return Reply::NilArray;
        }
        let replies = commands
            .iter()
            .enumerate()
            .map(|(position, (db, args))| {
                self.run(
                    *db as usize,
                    args,
                    now_ms,
                    index,
                    seed.wrapping_add(position as u64 * 7919),
                    events,
                )
            })
            .collect();
        Reply::Array(replies)
    }

    fn expire_keys(&mut self, db: usize, keys: &[Bytes], now_ms: u64, events: &mut Vec<Event>) -> Reply {
        let database = &mut self.keyspace.dbs[db];
        let mut removed = 0;
        for key in keys {
            if database.is_expired_at(key, now_ms) {
                database.remove_slot(key);
                events.push(Event::Notify {
                    db,
                    class: class::EXPIRED,
                    event: "expired",
                    key: key.clone(),
                });
                removed += 1;
            }
        }
        Reply::Int(removed)
    }
}

/// Finds the spec that handles `args`: the command, or its subcommand for containers.
/// `Some(Err(reply))` is an arity or unknown-subcommand error.
pub fn resolve(args: &[Bytes]) -> Option<Result<&'static CommandSpec, Reply>> {
    let spec = commands::lookup(args.first()?)?;
    Some(check(spec, args))
}

/// Checks arity and descends into a container's subcommand.
pub fn check(spec: &'static CommandSpec, args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    if !spec.arity_ok(args.len()) {
        return Err(errors::wrong_arity(spec.name));
    }
    if !matches!(spec.handler, Handler::Container) {
        return Ok(spec);
    }
    let sub = &args[1];
    let found = spec.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, name)| sub.eq_ignore_ascii_case(name.as_bytes()))
    });
    match found {
        Some(sub_spec) if sub_spec.arity_ok(args.len()) => Ok(sub_spec),
        Some(sub_spec) => Err(errors::wrong_arity(sub_spec.name)),
        None => Err(errors::unknown_subcommand(spec.name, sub)),
    }
}
