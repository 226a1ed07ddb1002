//! The per-shard state machine: applies log entries deterministically and runs reads.
//!
//! An entry is `{leader time ms, ops}`. Applying the same entries in the same order gives the
//! same keyspace and the same replies on every replica: commands see only the entry's time,
//! its log index and a random source seeded from that index.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::acl::ScriptUser;
use crate::commands;
use crate::ctx::{class, Ctx, Event};
use crate::db::{Keyspace, DATABASES};
use crate::errors;
use crate::table::{CommandSpec, Flags, Handler};

/// A key watched by WATCH: the version (index of last change, 0 = absent) seen at WATCH time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Watch {
    pub db: u32,
    pub key: Bytes,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// One command (name and arguments) against database `db`. A follower decodes the
    /// arguments as slices of the frame they arrived in (see shared_bytes.rs).
    Command {
        db: u32,
        #[serde(deserialize_with = "crate::shared_bytes::args")]
        args: Vec<Bytes>,
    },
    /// MULTI … EXEC: aborts with a null reply if a watched key changed, else runs every
    /// command atomically and replies with the array of their replies.
    Exec {
        watched: Vec<Watch>,
        commands: Vec<(u32, Vec<Bytes>)>,
    },
    /// Deletes the listed keys that have expired by the entry's time (proposed by the leader).
    ExpireKeys { db: u32, keys: Vec<Bytes> },
    /// CONFIG SET of replicated parameters (`ReplicatedSettings`), (name, value) pairs: all
    /// are set or, if one is refused, none. Replies OK or CONFIG SET's error. Added after the
    /// other variants, so logs written before it still decode.
    ConfigSet { pairs: Vec<(Bytes, Bytes)> },
    /// `op` (a script's or function's command, or an EXEC holding one) sent by a restricted
    /// ACL user: the commands its scripts run are checked against `user` (see acl.rs).
    /// Added last, so logs written before it still decode.
    AsUser { user: Box<crate::acl::ScriptUser>, op: Box<Op> },
    /// `op` (a script's command, or an EXEC holding one) proposed while the node was over
    /// `maxmemory`: a script's first command that may grow memory, if it has written nothing
    /// yet, fails with OOM (Redis's `scriptVerifyOOM`), unless the script declares allow-oom.
    /// The proposer decides (memory is node-local), so every replica refuses alike.
    OverMemory { op: Box<Op> },
}

/// Who runs a script and in what node state, as the ops around it carry them (`AsUser`,
/// `OverMemory`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub user: Option<&'a ScriptUser>,
    pub over_memory: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The leader's wall clock when it built the entry, unix ms.
    pub time_ms: u64,
    pub ops: Vec<Op>,
}

impl Entry {
    /// A close upper estimate of the entry's postcard encoding, so that an encoder can size
    /// its buffer once: growing it by doubling re-copied large entries several times (a few
    /// percent of a write's CPU in profiles).
    pub fn encoded_len_hint(&self) -> usize {
        fn args_len(args: &[Bytes]) -> usize {
            5 + args.iter().map(|arg| 5 + arg.len()).sum::<usize>()
        }
        fn op_len(op: &Op) -> usize {
            6 + match op {
                Op::Command { args, .. } => args_len(args),
                Op::Exec { watched, commands } => {
                    5 + watched.iter().map(|w| 20 + w.key.len()).sum::<usize>()
                        + 5
                        + commands.iter().map(|(_, args)| 5 + args_len(args)).sum::<usize>()
                }
                Op::ExpireKeys { keys, .. } => args_len(keys),
                Op::ConfigSet { pairs } => {
                    5 + pairs.iter().map(|(name, value)| 10 + name.len() + value.len()).sum::<usize>()
                }
                Op::AsUser { user, op } => user.encoded_len_hint() + op_len(op),
                Op::OverMemory { op } => op_len(op),
            }
        }
        let ops: usize = self.ops.iter().map(op_len).sum();
        15 + ops
    }
}

/// Ops whose keys are prefetched together when an entry is applied (see `prefetch`): enough
/// for their cache misses to overlap, few enough that the lines stay cached until used.
const PREFETCH_OPS: usize = 32;

/// Key lookups of reads: found live (hits) or not (misses).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    pub hits: u64,
    pub misses: u64,
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
    /// The node's access clock (see access.rs): the largest entry or read time seen here.
    /// Node-local, like the access words it stamps.
    access_ms: u64,
    /// Keys that reads (`read_as`) found live and did not find since `take_read_stats`, as
    /// Redis's keyspace_hits / keyspace_misses count its read lookups. Node-local.
    read_stats: ReadStats,
    /// Set while `read_as` runs a command: only reads count hits and misses (a write's lookups
    /// are not reads, as in Redis).
    counting_reads: bool,
    /// Whether a read that misses a key makes a `keymiss` event (node-local: the server sets
    /// it from `notify-keyspace-events`; without subscribers of class `m`, misses publish
    /// nothing).
    pub notify_key_misses: bool,
    /// The snapshot being encoded a chunk at a time, if any (`begin_snapshot`).
    building: Option<Box<crate::snapshot::Building>>,
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
        Ok(StateMachine {
            keyspace,
            applied_index,
            last_time_ms,
            access_ms: last_time_ms,
            ..Self::default()
        })
    }

    /// Starts a snapshot of the state as it is now, to be encoded by `snapshot_step` a chunk
    /// at a time while entries keep being applied in between; the image is the one
    /// `snapshot` would give now (see snapshot.rs `Building`). A snapshot still in progress
    /// is dropped. Returns the index the image will be of.
    pub fn begin_snapshot(&mut self) -> u64 {
        self.begin_snapshot_in_pieces(crate::snapshot::PIECE_BYTES)
    }

    /// `begin_snapshot`, with the image cut into pieces of about `piece_bytes` (tests use
    /// small pieces).
    pub fn begin_snapshot_in_pieces(&mut self, piece_bytes: usize) -> u64 {
        self.abandon_snapshot();
        let building =
            crate::snapshot::Building::begin(&mut self.keyspace, self.applied_index, self.last_time_ms, piece_bytes);
        self.building = Some(Box::new(building));
        self.applied_index
    }

    /// Drops the snapshot in progress, if any (its image is not wanted any more).
    pub fn abandon_snapshot(&mut self) {
        if let Some(building) = self.building.take() {
            building.abandon(&mut self.keyspace);
        }
    }

    /// Encodes the next `keys` keys (fewer once `bytes` bytes are written) of the snapshot in
    /// progress. `pieces` carries image pieces out: on entry it holds buffers of pieces the
    /// caller took before and has written (they are reused), on return the pieces filled since
    /// (in order; the image starts with them). Once every key is in, returns the snapshot,
    /// detached from the state: its `finish` (the rest of the image, sealed) needs no lock.
    pub fn snapshot_step(
        &mut self,
        keys: usize,
        bytes: usize,
        pieces: &mut Vec<Vec<u8>>,
    ) -> Option<Box<crate::snapshot::Building>> {
        let building = self.building.as_mut().expect("a snapshot in progress");
        building.reuse(pieces.drain(..));
        let done = building.step(&mut self.keyspace, keys, bytes);
        building.take_pieces(pieces);
        if !done {
            return None;
        }
        self.building.take()
    }

    /// Completes the snapshot in progress at once: its image, or None if none is in progress.
    pub fn finish_snapshot(&mut self) -> Option<Vec<u8>> {
        self.building.as_ref()?;
        let mut pieces = Vec::new();
        let building = self.snapshot_step(usize::MAX, usize::MAX, &mut pieces)?;
        let mut image = pieces.concat();
        image.extend_from_slice(&building.finish());
        Some(image)
    }

    /// Whether a snapshot is in progress.
    pub fn building_snapshot(&self) -> bool {
        self.building.is_some()
    }

    /// The time the last applied entry ran at.
    pub fn last_time_ms(&self) -> u64 {
        self.last_time_ms
    }

    /// Turns the keyspace events of the commands run from now on on or off (see `EventSwitch`).
    pub fn set_keyspace_events(&mut self, on: bool) {
        self.keyspace.keyspace_events = crate::db::EventSwitch(on);
    }

    /// Applies the entry at log `index`, returning one reply per op.
    pub fn apply(&mut self, index: u64, entry: &Entry, events: &mut Vec<Event>) -> Vec<Reply> {
        assert!(index > self.applied_index, "entries are applied in log order");
        self.applied_index = index;
        self.last_time_ms = self.last_time_ms.max(entry.time_ms);
        let now_ms = self.last_time_ms;
        let mut replies = Vec::with_capacity(entry.ops.len());
        for (position, op) in entry.ops.iter().enumerate() {
            if position % PREFETCH_OPS == 0 && entry.ops.len() > 1 {
                let window = &entry.ops[position..entry.ops.len().min(position + PREFETCH_OPS)];
                self.prefetch(window.iter().filter_map(|op| match op {
                    Op::Command { db, args } => Some((*db as usize, &args[..])),
                    _ => None,
                }));
            }
            let seed = index.wrapping_mul(1_000_003).wrapping_add(position as u64);
            let reply = self.apply_op(op, Caller::default(), now_ms, index, seed, events);
            replies.push(reply);
        }
        replies
    }

    fn apply_op(
        &mut self,
        op: &Op,
        caller: Caller,
        now_ms: u64,
        index: u64,
        seed: u64,
        events: &mut Vec<Event>,
    ) -> Reply {
        match op {
            Op::Command { db, args } => self.run(*db as usize, args, now_ms, index, seed, true, caller, events),
            Op::Exec { watched, commands } => self.exec(watched, commands, now_ms, index, seed, caller, events),
            Op::ExpireKeys { db, keys } => self.expire_keys(*db as usize, keys, now_ms, events),
            Op::ConfigSet { pairs } => self.config_set(pairs),
            Op::AsUser { user, op } => {
                let caller = Caller { user: Some(user), ..caller };
                self.apply_op(op, caller, now_ms, index, seed, events)
            }
            Op::OverMemory { op } => {
                let caller = Caller { over_memory: true, ..caller };
                self.apply_op(op, caller, now_ms, index, seed, events)
            }
        }
    }

    /// Records that log entry `index` carried nothing for the keyspace (a Raft blank or
    /// membership entry), so indexes stay in step with the log.
    /// Warms the CPU cache for the keys `commands` (db, args) name, before they run as a
    /// batch: their lookups' cache misses then overlap instead of running one after another
    /// (see `KeyMap::prefetch`). Perf put a third of a follower's CPU at SET -P 16 over 1M
    /// keys in the first lookup of each op's key.
    pub fn prefetch<'a>(&self, commands: impl IntoIterator<Item = (usize, &'a [Bytes])>) {
        let mut keys: Vec<(usize, &[u8])> = Vec::with_capacity(PREFETCH_OPS);
        for (db, args) in commands {
            if let (true, Some(Ok(spec))) = (db < DATABASES, resolve(args)) {
                spec.for_each_key(args, |position| keys.push((db, &args[position])));
            }
        }
        let mut seen = 0u32;
        // Sized once: collected from a filter, it grew (and was copied) several times a window.
        let mut batch: Vec<&[u8]> = Vec::with_capacity(keys.len());
        for &(db, _) in &keys {
            if seen & (1 << db) == 0 {
                seen |= 1 << db;
                batch.clear();
                batch.extend(keys.iter().filter(|(of, _)| *of == db).map(|(_, key)| *key));
                self.keyspace.dbs[db].prefetch(&batch);
            }
        }
    }

    pub fn skip(&mut self, index: u64) {
        assert!(index > self.applied_index, "entries are applied in log order");
        self.applied_index = index;
    }

    /// Runs a read-only command at `now_ms` without changing replicated state. It touches
    /// the keys it names (their node-local access words) unless `touch` is false (CLIENT
    /// NO-TOUCH).
    pub fn read(&mut self, db: usize, args: &[Bytes], now_ms: u64, touch: bool, events: &mut Vec<Event>) -> Reply {
        self.read_as(db, args, now_ms, touch, None, events)
    }

    /// `read`, for a restricted ACL user: the commands a script runs are checked against
    /// `user` (see acl.rs).
    pub fn read_as(
        &mut self,
        db: usize,
        args: &[Bytes],
        now_ms: u64,
        touch: bool,
        user: Option<&ScriptUser>,
        events: &mut Vec<Event>,
    ) -> Reply {
        let now_ms = now_ms.max(self.last_time_ms);
        self.reads = self.reads.wrapping_add(1);
        let seed = now_ms ^ self.reads.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.counting_reads = true;
        let reply = self.run(db, args, now_ms, self.applied_index, seed, touch, Caller { user, over_memory: false }, events);
        self.counting_reads = false;
        reply
    }

    /// The hits and misses of the reads since the last call (INFO stats adds them up).
    pub fn take_read_stats(&mut self) -> ReadStats {
        std::mem::take(&mut self.read_stats)
    }

    /// The current version of a key, for WATCH.
    pub fn version(&self, db: usize, key: &[u8], now_ms: u64) -> u64 {
        self.keyspace.dbs[db].version(key, now_ms.max(self.last_time_ms))
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        db: usize,
        args: &[Bytes],
        now_ms: u64,
        index: u64,
        seed: u64,
        touch: bool,
        caller: Caller,
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
        // Access tracking (access.rs): the keys the command names count as accessed before it
        // runs, as Redis's lookups touch them; keys it creates start fresh.
        self.access_ms = self.access_ms.max(now_ms);
        self.keyspace.set_access_clock(self.access_ms);
        // CLIENT NO-TOUCH spares every read but TOUCH itself, as in Redis.
        let touching = (touch || spec.name == "touch") && !spec.flags.contains(Flags::NO_TOUCH);
        let counting = self.counting_reads;
        let notify_key_misses = self.notify_key_misses;
        if touching || counting {
            let database = &self.keyspace.dbs[db];
            let stats = &mut self.read_stats;
            spec.for_each_key(args, |position| {
                let key = &args[position];
                // The touch is the lookup: counting costs nothing more.
                let live = if touching {
                    database.touch(key, now_ms, seed, position)
                } else {
                    database.get_slot(key, now_ms).is_some()
                };
                if !counting {
                    return;
                }
                if live {
                    stats.hits += 1;
                } else {
                    stats.misses += 1;
                }
                if !live && notify_key_misses {
                    // Redis's `keymiss` notification (class `m`, never part of `A`).
                    events.push(Event::Notify { db, class: class::KEY_MISS, event: "keymiss", key: key.clone() });
                }
            });
        }
        let long = crate::cost::may_run_long(spec, &self.keyspace, db, args, now_ms);
        let mut ctx = Ctx::new(&mut self.keyspace, db, now_ms, index, seed, events);
        ctx.user = caller.user;
        ctx.over_memory = caller.over_memory;
        let reply = if long { crate::cost::run_long(|| handler(&mut ctx, args)) } else { handler(&mut ctx, args) };
        ctx.flush_expired();
        commands::keys::settle_encoding_floors(&mut self.keyspace);
        reply
    }

    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        watched: &[Watch],
        commands: &[(u32, Vec<Bytes>)],
        now_ms: u64,
        index: u64,
        seed: u64,
        caller: Caller,
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
                    true,
                    caller,
                    events,
                )
            })
            .collect();
        Reply::Array(replies)
    }

    /// Applies `Op::ConfigSet`. The server checked the values before proposing; a refusal
    /// here (a value no replica accepts) still changes nothing, on every replica alike.
    fn config_set(&mut self, pairs: &[(Bytes, Bytes)]) -> Reply {
        let text: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| {
                (String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned())
            })
            .collect();
        let settings = &mut self.keyspace.replicated_settings;
        match settings.set_all(text.iter().map(|(name, value)| (name.as_str(), value.as_str()))) {
            Ok(()) => Reply::ok(),
            Err((name, reason)) => Reply::error_owned(errors::config_set_failed(&name, &reason)),
        }
    }

    fn expire_keys(&mut self, db: usize, keys: &[Bytes], now_ms: u64, events: &mut Vec<Event>) -> Reply {
        let notify = self.keyspace.keyspace_events.0;
        let database = &mut self.keyspace.dbs[db];
        let mut removed = 0;
        for key in keys {
            if database.is_expired_at(key, now_ms) {
                database.remove_slot(key);
                if notify {
                    events.push(Event::Notify {
                        db,
                        class: class::EXPIRED,
                        event: "expired",
                        key: key.clone(),
                    });
                }
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
    // A container needs its subcommand; a command with its own handler and subcommands
    // (COMMAND) runs itself when called alone, as Redis's `lookupCommand`.
    if spec.subcommands.is_empty() || (args.len() < 2 && !matches!(spec.handler, Handler::Container)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(parts: &[&[u8]]) -> Vec<Bytes> {
        parts.iter().map(|part| Bytes::copy_from_slice(part)).collect()
    }

    #[test]
    fn encoded_len_hint_covers_the_encoding() {
        let big = vec![7u8; 100_000];
        let entries = [
            Entry { time_ms: 0, ops: vec![] },
            Entry {
                time_ms: u64::MAX,
                ops: vec![Op::Command { db: 15, args: args(&[b"SET", b"key", &big]) }],
            },
            Entry {
                time_ms: 1_700_000_000_000,
                ops: (0..1000)
                    .map(|i| Op::Command {
                        db: 0,
                        args: args(&[b"SET", format!("key:{i}").as_bytes(), b"v"]),
                    })
                    .chain([
                        Op::Exec {
                            watched: vec![Watch { db: 3, key: Bytes::from_static(b"w"), version: u64::MAX }],
                            commands: vec![(u32::MAX, args(&[b"INCR", b"n"])), (1, args(&[]))],
                        },
                        Op::ExpireKeys { db: 2, keys: args(&[b"a", b"", &big[..300]]) },
                        Op::ConfigSet {
                            pairs: vec![(Bytes::from_static(b"stream-node-max-bytes"), Bytes::from(big[..500].to_vec()))],
                        },
                        Op::AsUser {
                            user: Box::new(crate::acl::ScriptUser {
                                name: "bob".into(),
                                node: u64::MAX,
                                client: u64::MAX,
                                selectors: vec![crate::acl::Selector {
                                    rules: vec![crate::acl::Rule::Command { allow: true, name: "config|get".into() }],
                                    keys: vec![crate::acl::KeyPattern { read: true, write: false, pattern: big[..200].to_vec() }],
                                    channels: vec![big[..100].to_vec()],
                                    ..crate::acl::Selector::default()
                                }],
                            }),
                            op: Box::new(Op::OverMemory {
                                op: Box::new(Op::Command { db: 1, args: args(&[b"EVAL", &big[..400], b"0"]) }),
                            }),
                        },
                    ])
                    .collect(),
            },
        ];
        for entry in entries {
            let encoded = postcard::to_allocvec(&entry).unwrap();
            let hint = entry.encoded_len_hint();
            assert!(hint >= encoded.len(), "hint {hint} < encoded {}", encoded.len());
            // Close: a few bytes per op and argument over, not a multiple.
            let slack = 16 + 64 * entry.ops.len();
            assert!(hint <= encoded.len() + slack, "hint {hint} far above {}", encoded.len());
        }
    }

    /// CONFIG SET of the stream node size is applied from the log: all pairs or none, and
    /// XADD ~ trims by the value in force when it runs, so two machines that apply the same
    /// entries hold the same stream.
    #[test]
    fn config_set_is_applied_in_log_order_and_shapes_trimming() {
        use crate::testing::{run, Harness};
        let mut h = Harness::new();
        let refused = h.config_set(&[("stream-node-max-entries", "5"), ("stream-node-max-bytes", "-1")]);
        assert_eq!(
            refused,
            Reply::error("ERR CONFIG SET failed (possibly related to argument 'stream-node-max-bytes') - argument must be between 0 and 9223372036854775807 inclusive")
        );
        let unknown = h.config_set(&[("maxmemory", "1")]);
        assert!(matches!(&unknown, Reply::Error(text) if text.contains("'maxmemory'")), "{unknown:?}");
        assert_eq!(h.machine.keyspace.replicated_settings, crate::db::ReplicatedSettings::default());
        assert_eq!(h.config_set(&[("Stream-Node-Max-Entries", "5")]), Reply::ok());
        assert_eq!(h.machine.keyspace.replicated_settings.stream_node.max_entries, 5);
        // Nodes of 5 entries: 23 entries, ~ 12 removes whole nodes while 12 or more stay,
        // keeping 13 (entries 11..23: nodes 11-15, 16-20, 21-23). With the default (100 per
        // node) nothing would go.
        for i in 1..=23 {
            run(&mut h, &["XADD", "s", &format!("{i}-0"), "f", "v"]);
        }
        assert_eq!(h.command(&[b"XTRIM", b"s", b"MAXLEN", b"~", b"12"]), Reply::Int(10));
        assert_eq!(h.command(&[b"XLEN", b"s"]), Reply::Int(13));
        assert_eq!(h.config_set(&[("stream-node-max-entries", "100")]), Reply::ok());
        for i in 1..=23 {
            run(&mut h, &["XADD", "t", &format!("{i}-0"), "f", "v"]);
        }
        assert_eq!(h.command(&[b"XTRIM", b"t", b"MAXLEN", b"~", b"12"]), Reply::Int(0));
    }

    thread_local! {
        /// Commands this thread ran through the long runner (`set_long_runner`).
        static RUN_LONG: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn counting_long_runner(work: &mut dyn FnMut()) {
        RUN_LONG.with(|count| count.set(count.get() + 1));
        work();
    }

    /// Commands that go through big data, keyless ones over a big keyspace, scripts and
    /// commands of very many arguments go through the long runner (cost.rs); fast commands,
    /// SET and the like, a short range of a big list, and slow commands over small data run
    /// in place. The runner runs the command itself: its reply is the command's.
    #[test]
    fn commands_that_may_run_long_go_through_the_long_runner() {
        use crate::cost::{set_long_runner, LONG_WORK};
        set_long_runner(counting_long_runner);
        let mut machine = StateMachine::new();
        let apply = |machine: &mut StateMachine, command: Vec<Bytes>| -> (Reply, usize) {
            let index = machine.applied_index() + 1;
            let before = RUN_LONG.with(|count| count.get());
            let entry = Entry { time_ms: 1_000, ops: vec![Op::Command { db: 0, args: command }] };
            let reply = machine.apply(index, &entry, &mut Vec::new()).pop().unwrap();
            (reply, RUN_LONG.with(|count| count.get()) - before)
        };
        let many = |head: &[&[u8]], count: usize| -> Vec<Bytes> {
            let mut command = args(head);
            command.extend((0..count).map(|i| Bytes::from(format!("m{i}"))));
            command
        };
        // RPUSH is fast, but over LONG_WORK arguments it goes through the runner.
        assert_eq!(apply(&mut machine, many(&[b"RPUSH", b"big"], LONG_WORK + 1)), (Reply::Int(LONG_WORK as i64 + 1), 1));
        assert_eq!(apply(&mut machine, many(&[b"RPUSH", b"small"], 10)), (Reply::Int(10), 0));
        assert_eq!(apply(&mut machine, args(&[b"LLEN", b"big"])).1, 0);
        let (reply, long) = apply(&mut machine, args(&[b"LRANGE", b"big", b"0", b"-1"]));
        assert!(matches!(&reply, Reply::Array(items) if items.len() == LONG_WORK + 1), "{reply:?}");
        assert_eq!(long, 1);
        assert_eq!(apply(&mut machine, args(&[b"LRANGE", b"small", b"0", b"-1"])).1, 0);
        // What LRANGE goes through is its range, not its list.
        assert_eq!(apply(&mut machine, args(&[b"LRANGE", b"big", b"-100", b"-1"])).1, 0);
        // LMOVE (like BLPOP) takes one element of a big list: not long.
        assert_eq!(apply(&mut machine, args(&[b"LMOVE", b"big", b"small", b"LEFT", b"LEFT"])), (Reply::Bulk(Bytes::from_static(b"m0")), 0));
        assert_eq!(apply(&mut machine, args(&[b"RPUSH", b"big", b"m0"])).1, 0);
        // The work of every key counts: two sets of 30,000 together are over.
        assert_eq!(apply(&mut machine, many(&[b"SADD", b"s1"], 30_000)).1, 0);
        assert_eq!(apply(&mut machine, many(&[b"SADD", b"s2"], 30_000)).1, 0);
        assert_eq!(apply(&mut machine, args(&[b"SUNIONSTORE", b"u", b"s1"])).1, 0);
        assert_eq!(apply(&mut machine, args(&[b"SUNIONSTORE", b"u", b"s1", b"s2"])), (Reply::Int(30_000), 1));
        // SET is bounded by its arguments: it is not weighed, whatever it replaces.
        assert_eq!(apply(&mut machine, args(&[b"SET", b"u", b"v"])), (Reply::ok(), 0));
        assert_eq!(apply(&mut machine, args(&[b"EVAL", b"return 1", b"0"])), (Reply::Int(1), 1));
        // Keyless: the database's keys are the work (another database's are not).
        assert_eq!(apply(&mut machine, args(&[b"KEYS", b"s*"])).1, 0);
        let fill = |db: u32| -> Vec<Op> {
            (0..LONG_WORK).map(|i| Op::Command { db, args: args(&[b"SET", format!("k{i}").as_bytes(), b"v"]) }).collect()
        };
        machine.apply(machine.applied_index() + 1, &Entry { time_ms: 1_000, ops: fill(1) }, &mut Vec::new());
        assert_eq!(apply(&mut machine, args(&[b"KEYS", b"s*"])).1, 0);
        machine.apply(machine.applied_index() + 1, &Entry { time_ms: 1_000, ops: fill(0) }, &mut Vec::new());
        let (reply, long) = apply(&mut machine, args(&[b"KEYS", b"s*"]));
        assert!(matches!(&reply, Reply::Array(items) if items.len() == 3), "{reply:?}");
        assert_eq!(long, 1);
    }

    /// Events off (`set_keyspace_events(false)`) change what is reported, never what is done:
    /// two machines applying the same entries, one with events off, reply alike and end equal,
    /// and the one with them off reports no `Notify` or `Ready` (but still reports the rest).
    #[test]
    fn keyspace_events_off_change_no_state_and_report_no_keyspace_events() {
        let commands: &[&[&[u8]]] = &[
            &[b"SET", b"a", b"1", b"PX", b"5"],
            &[b"SET", b"b", b"2"],
            &[b"RPUSH", b"list", b"x", b"y"],
            &[b"LPOP", b"list"],
            &[b"INCR", b"counter"],
            &[b"HSET", b"h", b"f", b"v"],
            &[b"INCR", b"a"],
            &[b"COPY", b"b", b"c", b"DB", b"1"],
            &[b"EVAL", b"return redis.call('SET', KEYS[1], 'z')", b"1", b"s"],
            &[b"FLUSHDB"],
            &[b"ZADD", b"z", b"1", b"m"],
        ];
        let mut on = StateMachine::new();
        let mut off = StateMachine::new();
        off.set_keyspace_events(false);
        let (mut events_on, mut events_off) = (Vec::new(), Vec::new());
        for (i, command) in commands.iter().enumerate() {
            let entry = Entry {
                time_ms: 1_000 + 10 * i as u64,
                ops: vec![Op::Command { db: 0, args: args(command) }],
            };
            let index = i as u64 + 1;
            assert_eq!(
                on.apply(index, &entry, &mut events_on),
                off.apply(index, &entry, &mut events_off),
                "{command:?}"
            );
        }
        assert_eq!(on.keyspace, off.keyspace);
        let keyspace_event = |event: &Event| matches!(event, Event::Notify { .. } | Event::Ready { .. });
        assert!(events_on.iter().any(|event| matches!(event, Event::Notify { event: "expired", .. })));
        assert!(events_on.iter().any(|event| matches!(event, Event::Ready { .. })));
        assert!(!events_off.iter().any(keyspace_event), "{events_off:?}");
        let others = |events: &[Event]| events.iter().filter(|event| !keyspace_event(event)).count();
        assert!(others(&events_off) >= 2, "a script's command and FLUSHDB: {events_off:?}");
        assert_eq!(others(&events_on), others(&events_off));
    }
}
