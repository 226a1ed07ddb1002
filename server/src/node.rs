//! The node: everything the connections share. Holds the shard's state machine and the write
//! path (a write becomes an entry `{leader time, ops}` applied in log order), the pub/sub hub,
//! the client registry, run-time settings and statistics.
//!
//! One node, in memory, is one shard whose log is applied as soon as it is appended; the
//! Raft layer replaces `propose` without changing its callers.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::{Entry, Event, Op, StateMachine};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

use crate::clients::Clients;
use crate::clock::Clock;
use crate::config::Args;
use crate::pubsub::PubSub;
use crate::settings::Settings;

/// Keys the active expiry cycle deletes per database per tick, at most.
pub const ACTIVE_EXPIRE_KEYS_MAX: usize = 500;
/// Period of the active expiry cycle.
pub const ACTIVE_EXPIRE_PERIOD_MS: u64 = 100;

#[derive(Debug, Default)]
pub struct Stats {
    pub commands_processed: AtomicU64,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub pubsub_messages: AtomicU64,
}

pub struct Node {
    pub args: Args,
    pub settings: RwLock<Settings>,
    /// The settings every command reads, without the lock.
    pub live: Arc<crate::settings::Live>,
    pub clock: Clock,
    machine: Mutex<StateMachine>,
    pub pubsub: PubSub,
    pub monitors: crate::commands::monitor::Monitors,
    pub slowlog: Mutex<crate::commands::slowlog::SlowLog>,
    /// Held from the end of an apply until its keyspace notifications are published.
    notify_order: Mutex<()>,
    pub clients: Clients,
    pub stats: Stats,
    pub started: std::time::Instant,
    pub started_unix_s: u64,
    pub run_id: String,
    pub shutting_down: AtomicBool,
    pub shutdown: Notify,
    /// Observers of applied events (blocked clients register here).
    pub event_hooks: RwLock<Vec<Box<dyn Fn(&Node, &[Event]) + Send + Sync>>>,
    /// Clients waiting in BLPOP and the other blocking commands.
    pub blocking: crate::blocking::Blocking,
}

impl Node {
    pub fn new(args: Args) -> Arc<Node> {
        let clock = Clock::new();
        let started_unix_s = clock.now_ms() / 1000;
        let run_id = make_run_id(clock.now_us(), std::process::id());
        let settings = Settings::from_args(&args);
        Arc::new(Node {
            live: settings.live.clone(),
            settings: RwLock::new(settings),
            args,
            clock,
            machine: Mutex::new(StateMachine::new()),
            pubsub: PubSub::default(),
            monitors: Default::default(),
            slowlog: Default::default(),
            notify_order: Mutex::new(()),
            clients: Clients::default(),
            stats: Stats::default(),
            started: crate::clock::instant(),
            started_unix_s,
            run_id,
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            event_hooks: RwLock::new(Vec::new()),
            blocking: crate::blocking::Blocking::default(),
        })
    }

    /// Appends `ops` as one entry stamped with the leader's time, applies it, and returns one
    /// reply per op once applied.
    pub fn propose(&self, ops: Vec<Op>) -> Vec<Reply> {
        let mut events = Vec::new();
        let (replies, order) = {
            let mut machine = self.machine.lock();
            let index = machine.applied_index() + 1;
            let entry = Entry {
                time_ms: self.clock.now_ms(),
                ops,
            };
            let replies = machine.apply(index, &entry, &mut events);
            // Taken before the machine is released: notifications leave in apply order.
            let order = (!events.is_empty()).then(|| self.notify_order.lock());
            (replies, order)
        };
        if let Some(order) = order {
            self.publish_events(&events, order);
        }
        replies
    }

    /// Runs one write command as its own entry.
    pub fn write(&self, db: usize, args: Vec<Bytes>) -> Reply {
        self.propose(vec![Op::Command { db: db as u32, args }])
            .pop()
            .expect("one reply per op")
    }

    /// Runs a read-only command against the applied state (a single node is always the
    /// leader of its shard, so this read is linearizable).
    pub fn read(&self, db: usize, args: &[Bytes]) -> Reply {
        let mut events = Vec::new();
        let now_ms = self.clock.now_ms();
        let (reply, order) = {
            let mut machine = self.machine.lock();
            let reply = machine.read(db, args, now_ms, &mut events);
            let order = (!events.is_empty()).then(|| self.notify_order.lock());
            (reply, order)
        };
        if let Some(order) = order {
            self.publish_events(&events, order);
        }
        reply
    }

    /// Runs `f` with the state machine locked (INFO keyspace, WATCH versions, DEBUG).
    pub fn with_machine<R>(&self, f: impl FnOnce(&mut StateMachine) -> R) -> R {
        f(&mut self.machine.lock())
    }

    /// One round of active expiry: proposes deletion of keys whose TTL has passed.
    pub fn expire_cycle(&self) {
        let now_ms = self.clock.now_ms();
        let ops: Vec<Op> = self.with_machine(|machine| {
            machine
                .keyspace
                .dbs
                .iter()
                .enumerate()
                .filter_map(|(db, database)| {
                    let keys = database.expired_keys(now_ms, ACTIVE_EXPIRE_KEYS_MAX);
                    (!keys.is_empty()).then_some(Op::ExpireKeys { db: db as u32, keys })
                })
                .collect()
        });
        if !ops.is_empty() {
            let replies = self.propose(ops);
            let expired: i64 = replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum();
            self.stats
                .expired_keys
                .fetch_add(expired as u64, Ordering::Relaxed);
        }
    }

    /// Publishes keyspace notifications while holding `order` (so they keep apply order),
    /// then runs the event hooks, which may propose entries of their own.
    fn publish_events(&self, events: &[Event], order: parking_lot::MutexGuard<'_, ()>) {
        crate::notify::keyspace_events(self, events);
        drop(order);
        for hook in self.event_hooks.read().iter() {
            hook(self, events);
        }
        self.blocking.on_events(self, events);
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// A 40-hex-digit run id, as Redis reports in INFO.
fn make_run_id(seed_us: u64, pid: u32) -> String {
    let mut state = seed_us ^ ((pid as u64) << 32) ^ 0xA076_1D64_78BD_642F;
    let mut id = String::with_capacity(40);
    while id.len() < 40 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        id.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    id.truncate(40);
    id
}
