//! Blocked clients (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP,
//! XREAD and XREADGROUP with BLOCK):
//! waiting for a key to become servable; and clients blocked in WAIT / WAITAOF, which only
//! need counting and CLIENT UNBLOCK.
//!
//! In the state machine a blocking command is its non-blocking form and replies nil when it
//! finds nothing. A blocking command (outside MULTI) is queued here as a waiter on its keys the
//! moment its connection reads it, so waiters queue in the order their commands arrived, as
//! in Redis. Its first run is not proposed by the session: one serving task runs every
//! blocking command, first runs and serves alike, in the order the work was queued. Were first
//! runs proposed by each connection, a later client could take an element before an earlier
//! one had even blocked (the order of proposals is the order tasks happen to run).
//!
//! When an applied entry touches a waited key (a `Ready` event from a push, any notification
//! naming the key such as `rename_to`, or a whole database changing), the first waiter on that
//! key whose type now matches gets its command proposed again as its own entry: replicas never
//! need to know who waits. A served command can make another key ready (BLMOVE pushes); those
//! keys are served right after the current one, in order and as part of the same work (so
//! before any command that arrived meanwhile), as Redis does. The waiter replies nil at
//! its timeout, or when CLIENT UNBLOCK asks.
//!
//! Events arrive from the apply task, which must not wait on a proposal of its own: serving
//! runs in a spawned task. Other commands hold back until the work queued before them is done
//! ([`Arrival::settled`]), so a client that pushes and then pops (or reads) sees the blocked
//! clients served first, as in Redis where they are served before the next command runs; and
//! a push that arrives after a blocking command finds it already blocked. The other way round,
//! a blocking command's first run waits for the writes that arrived before it, and for the
//! clients those writes make servable: it cannot take an element from a client blocked earlier.
//!
//! All of this happens on the shard's leader, so that clients blocked on any node are served
//! in one order, the order their waits reached the leader. A node that does not lead keeps its
//! blocked client's state (timeout, CLIENT UNBLOCK, disconnect, `blocked_clients`) and queues
//! the wait on the leader (`BLOCK_WAIT`), where it is a waiter like a local one but for who
//! runs the command: when it is its turn (first run or serve), the leader asks the client's
//! node (`BLOCK_SERVE`), which proposes the command itself (through the leader, as any write)
//! and answers whether the client was served. The node that delivers the element is the one
//! that proposed the pop, so a cancel racing with a serve is decided there (a pop already
//! proposed wins), and a leader that steps down or dies never leaves a pop of unknown fate
//! behind: the client's node only queues the wait again on the new leader (its proposal, if one
//! is in flight, ends as any forwarded write: the reply, or `-UNCERTAIN`). A node checks every
//! `REHOME_PERIOD_MS` whether it still leads: if not, its own waiters move to the new leader and
//! the waits of other nodes are dropped (those nodes queue them again).

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::{CommandSpec, Event, Op};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::{oneshot, Notify};
use tokio::time::{Duration, Instant};

use crate::clients::ClientHandle;
use crate::node::{Node, DATA_GROUP};
use crate::raft::network::{self, kind};
use crate::raft::transport::{HandlerFuture, PendingReply};
use crate::raft::NodeId;
use crate::session::Session;

/// The error a waiter gets from `CLIENT UNBLOCK id ERROR`.
pub const UNBLOCKED_ERROR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
/// Most first runs proposed together as one entry.
const FIRST_RUNS_MAX: usize = 256;
/// How often a node checks that it still leads the waiters queued on it.
pub const REHOME_PERIOD_MS: u64 = 50;
/// Pause before a wait is queued again (no leader known, or the leader refused it).
const REQUEUE_RETRY_MS: u64 = 20;
/// How often a forwarded wait checks that its leader is still the leader.
const LEADER_POLL_MS: u64 = 100;
/// Time the leader allows the client's node to run a waiter's command; past it the
/// registration is dropped (the client's node queues it again; its pop, if any, goes on).
const SERVE_TIMEOUT_MS: u64 = 2000;
/// Time allowed for withdrawing a registration (best effort: a stale one is refused when the
/// leader asks to serve it).
const CANCEL_TIMEOUT_MS: u64 = 1000;

/// A pending blocked command; the connection awaits it and sends its reply.
pub struct Wait {
    pub future: Pin<Box<dyn Future<Output = Reply> + Send>>,
    /// Log index of the entry that ran the command, once it ran (for WAIT); None for waits
    /// that write nothing.
    pub written: Option<Arc<AtomicU64>>,
}

/// The registry of waiters of one node.
#[derive(Default)]
pub struct Blocking {
    state: Mutex<State>,
    /// The node, for the serving task (set by the first waiter).
    node: OnceLock<Weak<Node>>,
    /// Signalled whenever queued work is done.
    settled: Notify,
    /// Signalled when a write ends while the serving task waits for writes.
    writes_done: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    waiters: HashMap<u64, Waiter>,
    /// Waiter ids per (database, key), first arrived first.
    queues: HashMap<(usize, Bytes), VecDeque<u64>>,
    /// What the serving task has to do, in order.
    work: VecDeque<Work>,
    /// A task is doing the queued work; new work only queues.
    draining: bool,
    /// Work items queued so far and done so far: a command waits for those queued before it.
    queued: u64,
    done: u64,
    /// Clients blocked in WAIT / WAITAOF, by client id: the sender ends the wait (true: with
    /// the UNBLOCKED error, false: as at its timeout).
    others: HashMap<u64, oneshot::Sender<bool>>,
    /// Writes that sessions are running, by arrival ticket, and the next ticket.
    writes: BTreeSet<u64>,
    next_write: u64,
    /// The serving task waits for writes to end.
    awaiting_writes: bool,
}

enum Work {
    /// The first run of a newly arrived blocking command.
    Run(u64),
    /// A key that may now serve its waiters.
    Key(usize, Bytes),
}

/// Where a waiter is queued and who runs its command.
enum Route {
    /// A client of this node, queued here (this node leads the shard).
    Here,
    /// A client of this node, queued on the shard's leader, which says when to run it. The
    /// task that keeps it queued there ends when this is dropped.
    Leader { _ended: oneshot::Sender<()> },
    /// A wait queued here by node `from` for its waiter `wait_id` (registration `attempt`);
    /// `from` runs the command when asked.
    Peer { from: NodeId, wait_id: u64, attempt: u64 },
}

struct Waiter {
    /// The blocked client (None for a wait queued by another node).
    client: Option<Arc<ClientHandle>>,
    route: Route,
    /// Registrations on a leader so far: the leader names the one it serves, and an older one
    /// is refused.
    attempt: u64,
    /// The leader asked to serve it while its command was running: run it again after.
    serve_again: bool,
    db: usize,
    args: Vec<Bytes>,
    keys: Vec<Bytes>,
    /// The value type that can serve it (`list`, `zset`).
    value_type: &'static str,
    /// The reply for timeout or CLIENT UNBLOCK (nil of the command's shape).
    nil: Reply,
    sender: oneshot::Sender<Reply>,
    /// Its command has not run yet: it is not blocked (not counted, not unblockable).
    fresh: bool,
    /// Its command is being proposed: a timeout now must wait for the outcome.
    running: bool,
    /// Set when a timeout or CLIENT UNBLOCK arrived while running (or before the first run):
    /// the reply to send if the command still found nothing.
    cancelled: Option<Reply>,
    /// Log index of the entry that last ran its command.
    written: Arc<AtomicU64>,
    /// Writes with a smaller ticket arrived before it: its first run waits for them.
    writes_before: u64,
}

/// What a blocking command waits on: its keys (without repeats), its timeout in milliseconds
/// (0: forever), the type that can serve it and its nil reply. None for commands that cannot
/// wait (a bad timeout: running it replies the error).
fn wait_target(
    spec: &CommandSpec,
    args: &[Bytes],
    now_ms: u64,
) -> Option<(Vec<Bytes>, u64, &'static str, Reply)> {
    if spec.name == "xread" || spec.name == "xreadgroup" {
        let (keys, timeout_ms) = flotilla_storage::commands::streams::blocking_target(args, now_ms)?;
        return Some((keys, timeout_ms, "stream", Reply::NilArray));
    }
    let (value_type, timeout_at) = match spec.name {
        "blpop" | "brpop" | "blmove" | "brpoplpush" => ("list", args.len() - 1),
        "blmpop" => ("list", 1),
        "bzpopmin" | "bzpopmax" => ("zset", args.len() - 1),
        "bzmpop" => ("zset", 1),
        _ => return None,
    };
    // BLMOVE and BRPOPLPUSH wait on their source only, and reply a plain nil.
    let (positions, nil) = match spec.name {
        "blmove" | "brpoplpush" => (vec![1], Reply::Nil),
        _ => (spec.key_positions(args), Reply::NilArray),
    };
    let mut keys: Vec<Bytes> = Vec::with_capacity(positions.len());
    for position in positions {
        let key = args.get(position)?;
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let timeout_ms = flotilla_storage::args::parse_timeout_ms(&args[timeout_at], now_ms).ok()?;
    Some((keys, timeout_ms, value_type, nil))
}

/// Called when a blocking command arrives outside MULTI: queues it as a waiter whose first run
/// the serving task does; the connection awaits its reply. None if the command cannot wait
/// (the session runs it as any write).
pub fn block(session: &mut Session, spec: &CommandSpec, args: Vec<Bytes>) -> Option<Wait> {
    let node = session.node.clone();
    let (keys, timeout_ms, value_type, nil) = wait_target(spec, &args, node.clock.now_ms())?;
    let (sender, mut receiver) = oneshot::channel();
    let written = Arc::new(AtomicU64::new(0));
    let _ = node.blocking.node.set(Arc::downgrade(&node));
    let waiter = Waiter {
        client: Some(session.client.clone()),
        route: Route::Here,
        attempt: 0,
        serve_again: false,
        db: session.db,
        args,
        keys,
        value_type,
        nil: nil.clone(),
        sender,
        fresh: true,
        running: false,
        cancelled: None,
        written: written.clone(),
        writes_before: 0,
    };
    let id = if leads(&node) {
        node.blocking.register(waiter)
    } else {
        node.blocking.register_forwarded(&node, waiter)
    };
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    // Made before the future so that dropping it unpolled also cancels the wait.
    let mut guard = CancelOnDrop {
        node: node.clone(),
        id: Some(id),
    };
    let future = async move {
        let outcome = match deadline {
            None => (&mut receiver).await,
            Some(deadline) => match tokio::time::timeout_at(deadline, &mut receiver).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => {
                    node.blocking.cancel(id, None);
                    (&mut receiver).await
                }
            },
        };
        guard.disarm();
        outcome.unwrap_or(nil)
    };
    Some(Wait {
        future: Box::pin(future),
        written: Some(written),
    })
}

/// Blocks the connection in WAIT or WAITAOF until `waiting` answers: a blocked client for
/// INFO `blocked_clients` and CLIENT LIST, ended early by CLIENT UNBLOCK with the UNBLOCKED
/// error, or with `on_timeout`'s reply (what the command answers at its timeout) as Redis does.
pub fn unblockable(
    session: &Session,
    waiting: impl Future<Output = Reply> + Send + 'static,
    on_timeout: impl Future<Output = Reply> + Send + 'static,
) -> Wait {
    let node = session.node.clone();
    let client = session.client.clone();
    let (sender, receiver) = oneshot::channel();
    node.blocking.state.lock().others.insert(client.id, sender);
    client.blocked.store(true, Ordering::Relaxed);
    let guard = OtherWaitGuard { node, client };
    let future = async move {
        let _guard = guard;
        tokio::select! {
            reply = waiting => reply,
            Ok(error) = receiver => {
                if error {
                    Reply::error(UNBLOCKED_ERROR)
                } else {
                    on_timeout.await
                }
            }
        }
    };
    Wait {
        future: Box::pin(future),
        written: None,
    }
}

/// Ends a WAIT / WAITAOF registration however its wait ends (also a dropped connection).
struct OtherWaitGuard {
    node: Arc<Node>,
    client: Arc<ClientHandle>,
}

impl Drop for OtherWaitGuard {
    fn drop(&mut self) {
        self.node.blocking.state.lock().others.remove(&self.client.id);
        self.client.blocked.store(false, Ordering::Relaxed);
    }
}

/// `CLIENT UNBLOCK client-id [TIMEOUT | ERROR]`: 1 if the client was blocked and is now
/// released (with its timeout reply, or the UNBLOCKED error), else 0.
pub fn client_unblock(session: &mut Session, args: &[Bytes]) -> Reply {
    let error = match args.get(3) {
        None => false,
        Some(reason) if reason.eq_ignore_ascii_case(b"timeout") => false,
        Some(reason) if reason.eq_ignore_ascii_case(b"error") => true,
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    if args.len() > 4 {
        return Reply::error(flotilla_storage::errors::SYNTAX);
    }
    let Some(id) = flotilla_storage::args::parse_i64(&args[2]) else {
        return Reply::error(flotilla_storage::errors::NOT_INTEGER);
    };
    Reply::Int(i64::from(session.node.blocking.unblock(id as u64, error)))
}

/// Removes the waiter when the connection stops awaiting it (client gone).
struct CancelOnDrop {
    node: Arc<Node>,
    id: Option<u64>,
}

impl CancelOnDrop {
    /// The wait ended normally: nothing to cancel.
    fn disarm(&mut self) {
        self.id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.node.blocking.cancel(id, None);
        }
    }
}

impl Blocking {
    /// Number of blocked clients (INFO `blocked_clients`): waiters whose command ran and
    /// found nothing, and clients in WAIT / WAITAOF.
    pub fn blocked_clients(&self) -> usize {
        let state = self.state.lock();
        let blocked = |waiter: &&Waiter| waiter.client.is_some() && !waiter.fresh;
        state.waiters.values().filter(blocked).count() + state.others.len()
    }

    /// CLIENT UNBLOCK: ends the client's wait with its timeout reply (or the UNBLOCKED
    /// error); false if the client is not blocked.
    pub fn unblock(&self, client_id: u64, error: bool) -> bool {
        let id = {
            let mut state = self.state.lock();
            if let Some(sender) = state.others.remove(&client_id) {
                return sender.send(error).is_ok();
            }
            state
                .waiters
                .iter()
                .find(|(_, waiter)| {
                    waiter.client.as_ref().is_some_and(|client| client.id == client_id) && !waiter.fresh
                })
                .map(|(id, _)| *id)
        };
        match id {
            Some(id) => {
                self.cancel(id, error.then(|| Reply::error(UNBLOCKED_ERROR)));
                true
            }
            None => false,
        }
    }

    /// Whether a client waits on some key here, so that applied entries must report what they
    /// change (`Node::wants_keyspace_events`). Called with the shard locked: it never waits for
    /// the waiters' lock, and says yes while another thread holds it.
    pub fn may_want_events(&self) -> bool {
        self.state.try_lock().is_none_or(|state| !state.queues.is_empty())
    }

    /// Observes the events of an applied entry: queues the waited keys they touch and serves
    /// them (unless the serving task is already running).
    pub fn on_events(&self, _node: &Node, events: &[Event]) {
        let mut keys = Vec::new();
        {
            let state = self.state.lock();
            if state.queues.is_empty() {
                return;
            }
            for event in events {
                match event {
                    Event::Ready { db, key } | Event::Notify { db, key, .. } => {
                        if state.queues.contains_key(&(*db, key.clone())) {
                            keys.push(Work::Key(*db, key.clone()));
                        }
                    }
                    Event::ScriptCommand { .. }
                    | Event::ScriptRead { .. }
                    | Event::ScriptCallError { .. }
                    | Event::ScriptAclDenied { .. } => {}
                    Event::DbChanged { db } => {
                        let mut touched: Vec<(usize, Bytes)> =
                            state.queues.keys().filter(|(at, _)| at == db).cloned().collect();
                        touched.sort();
                        keys.extend(touched.into_iter().map(|(db, key)| Work::Key(db, key)));
                    }
                }
            }
        }
        if !keys.is_empty() {
            self.signal(keys);
        }
    }

    /// Queues a newly arrived waiter behind every waiter already on its keys, and its first
    /// run behind the work already queued.
    fn register(&self, mut waiter: Waiter) -> u64 {
        let id = {
            let mut state = self.state.lock();
            waiter.writes_before = state.next_write;
            state.next_id += 1;
            let id = state.next_id;
            for key in &waiter.keys {
                state
                    .queues
                    .entry((waiter.db, key.clone()))
                    .or_default()
                    .push_back(id);
            }
            state.waiters.insert(id, waiter);
            id
        };
        self.signal([Work::Run(id)]);
        id
    }

    /// Ends a wait with `reply` (None: the waiter's nil). A waiter whose command is running,
    /// or has not run yet here, gets the reply only if the command then finds nothing. (One
    /// queued on the leader that has not run yet ends at once: nothing ran for it, and its
    /// first run may be long in coming while there is no leader.)
    fn cancel(&self, id: u64, reply: Option<Reply>) {
        let mut state = self.state.lock();
        let Some(waiter) = state.waiters.get_mut(&id) else {
            return;
        };
        let reply = reply.unwrap_or_else(|| waiter.nil.clone());
        if waiter.running || (waiter.fresh && matches!(waiter.route, Route::Here)) {
            waiter.cancelled = Some(reply);
            return;
        }
        let waiter = state.remove(id);
        let _ = waiter.sender.send(reply);
    }

    /// Called when a command arrives (outside MULTI), before it runs: its place behind the
    /// blocking work queued so far and, for a write, a ticket that the blocking commands
    /// arriving later wait for. One lock, so that a blocking command either waits for this
    /// write or this write waits for it, never both.
    pub fn arrive(&self, write: bool) -> Arrival<'_> {
        let mut state = self.state.lock();
        let ticket = write.then(|| {
            let ticket = state.next_write;
            state.next_write += 1;
            state.writes.insert(ticket);
            ticket
        });
        Arrival {
            blocking: self,
            ticket,
            work_before: state.queued,
        }
    }

    /// Waits until the writes that arrived before ticket `before` have ended (their entries
    /// applied, so the keys they made ready are queued).
    async fn writes_ended(&self, before: u64) {
        loop {
            let notified = self.writes_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock();
                if state.writes.first().is_none_or(|first| *first >= before) {
                    state.awaiting_writes = false;
                    return;
                }
                state.awaiting_writes = true;
            }
            notified.await;
        }
    }

    /// Queues work, and starts the serving task unless it runs already.
    fn signal(&self, work: impl IntoIterator<Item = Work>) {
        let node = {
            let mut state = self.state.lock();
            let before = state.work.len();
            state.work.extend(work);
            state.queued += (state.work.len() - before) as u64;
            if state.draining || state.work.is_empty() {
                return;
            }
            let Some(node) = self.node.get().and_then(Weak::upgrade) else {
                // Shutting down: nothing will serve it.
                state.work.clear();
                state.done = state.queued;
                return;
            };
            state.draining = true;
            node
        };
        tokio::spawn(async move { node.blocking.drain(&node).await });
    }

    /// Does the queued work in order until none is left.
    async fn drain(&self, node: &Node) {
        loop {
            let next = {
                let mut state = self.state.lock();
                match state.work.pop_front() {
                    None => {
                        state.draining = false;
                        None
                    }
                    Some(Work::Key(db, key)) => Some(Err((db, key))),
                    Some(Work::Run(id)) => {
                        // Consecutive first runs with no write arriving between them go out
                        // together: one entry, applied in order.
                        let before = |state: &State, id: &u64| state.waiters.get(id).map_or(0, |w| w.writes_before);
                        let writes_before = before(&state, &id);
                        let mut ids = vec![id];
                        while ids.len() < FIRST_RUNS_MAX {
                            match state.work.front() {
                                Some(Work::Run(next)) if before(&state, next) == writes_before => {
                                    ids.push(*next);
                                    state.work.pop_front();
                                }
                                _ => break,
                            }
                        }
                        Some(Ok((ids, writes_before)))
                    }
                }
            };
            let count = match next {
                None => {
                    self.settled.notify_waiters();
                    return;
                }
                Some(Ok((ids, writes_before))) => {
                    // Writes that arrived before these commands go first, and so do the
                    // clients they make servable (the keys they made ready were queued behind
                    // these commands: taken out and served now).
                    self.writes_ended(writes_before).await;
                    let keys_served = self.serve_ready_keys(node).await;
                    ids.len() + keys_served + self.first_runs(node, ids).await
                }
                Some(Err((db, key))) => {
                    self.serve_key(node, db, &key).await;
                    // The keys the served clients made ready (BLMOVE, BRPOPLPUSH push), and
                    // those theirs did, are served as part of this work, as Redis serves them
                    // before the next command runs: a client that pushed and then reads sees
                    // the whole chain done, and a blocking command that arrived meanwhile
                    // cannot take an element from a client blocked earlier.
                    let mut count = 1;
                    loop {
                        let chained = self.serve_ready_keys(node).await;
                        if chained == 0 {
                            break count;
                        }
                        count += chained;
                    }
                }
            };
            self.state.lock().done += count as u64;
            self.settled.notify_waiters();
        }
    }

    /// Takes the ready keys out of the queued work and serves them, in order; returns how many.
    async fn serve_ready_keys(&self, node: &Node) -> usize {
        let keys: Vec<(usize, Bytes)> = {
            let mut state = self.state.lock();
            let (keys, rest): (VecDeque<Work>, VecDeque<Work>) =
                state.work.drain(..).partition(|work| matches!(work, Work::Key(..)));
            state.work = rest;
            keys.into_iter()
                .filter_map(|work| match work {
                    Work::Key(db, key) => Some((db, key)),
                    Work::Run(_) => None,
                })
                .collect()
        };
        let count = keys.len();
        for (db, key) in keys {
            self.serve_key(node, db, &key).await;
        }
        count
    }

    /// Runs newly arrived blocking commands, in the order they arrived: each replies now if it
    /// found something (or failed), or stays as a blocked waiter. Those of this node's clients
    /// go out together; one queued by another node runs there, alone, and the keys made ready
    /// meanwhile are served before the next (a client blocked earlier goes first). Returns how
    /// many ready keys it served.
    async fn first_runs(&self, node: &Node, ids: Vec<u64>) -> usize {
        if !leads(node) {
            // Not the leader (any more): `rehome` moves these waits to the one that is.
            return 0;
        }
        self.resolve_last_ids(node, &ids);
        let mut keys_served = 0;
        let mut here = Vec::new();
        let mut ran_any = false;
        for id in ids {
            let route = {
                let state = self.state.lock();
                state.waiters.get(&id).map(|waiter| matches!(waiter.route, Route::Peer { .. }))
            };
            match route {
                None => {}
                Some(false) => here.push(id),
                Some(true) => {
                    if ran_any || !here.is_empty() {
                        self.first_runs_here(node, std::mem::take(&mut here)).await;
                        keys_served += self.serve_ready_keys(node).await;
                    }
                    self.run_for_peer(node, id).await;
                    ran_any = true;
                }
            }
        }
        if !here.is_empty() {
            if ran_any {
                keys_served += self.serve_ready_keys(node).await;
            }
            self.first_runs_here(node, here).await;
        }
        keys_served
    }

    /// First runs of this node's own clients, proposed as one entry.
    async fn first_runs_here(&self, node: &Node, ids: Vec<u64>) {
        let mut running = Vec::with_capacity(ids.len());
        let mut ops = Vec::with_capacity(ids.len());
        {
            let mut state = self.state.lock();
            for id in ids {
                let Some(waiter) = state.waiters.get_mut(&id) else {
                    continue;
                };
                if !matches!(waiter.route, Route::Here) {
                    continue;
                }
                if waiter.sender.is_closed() {
                    // The client left before its command ran: it never runs.
                    state.remove(id);
                    continue;
                }
                waiter.running = true;
                ops.push(Op::Command {
                    db: waiter.db as u32,
                    args: waiter.args.clone(),
                });
                running.push(id);
            }
        }
        if running.is_empty() {
            return;
        }
        let (replies, index) = node.propose_indexed(ops).await;
        let mut state = self.state.lock();
        for (id, reply) in running.into_iter().zip(replies) {
            let waiter = state.ran(id, index);
            waiter.fresh = false;
            let outcome = if matches!(reply, Reply::Nil | Reply::NilArray) {
                match waiter.cancelled.take() {
                    Some(cancelled) => cancelled,
                    None => {
                        // Nothing to take: now it is blocked.
                        if let Some(client) = &waiter.client {
                            client.blocked.store(true, Ordering::Relaxed);
                        }
                        continue;
                    }
                }
            } else {
                reply
            };
            let waiter = state.remove(id);
            let _ = waiter.sender.send(outcome);
        }
    }

    /// The first run of a wait queued by another node: that node runs it.
    async fn run_for_peer(&self, node: &Node, id: u64) {
        let args = {
            let mut state = self.state.lock();
            let Some(waiter) = state.waiters.get_mut(&id) else {
                return;
            };
            if waiter.sender.is_closed() {
                state.remove(id);
                return;
            }
            waiter.running = true;
            waiter.args.clone()
        };
        self.serve_remote(node, id, ServeAction::Run(args)).await;
    }

    /// XREAD's `$` means the stream's last id when the command arrived: resolved now, before
    /// its first run, so that running it again when it is woken returns what came since.
    fn resolve_last_ids(&self, node: &Node, ids: &[u64]) {
        let reads: Vec<(u64, usize, Vec<Bytes>)> = {
            let state = self.state.lock();
            ids.iter()
                .filter_map(|id| state.waiters.get(id).map(|waiter| (*id, waiter)))
                .filter(|(_, waiter)| waiter.args[0].eq_ignore_ascii_case(b"xread"))
                .map(|(id, waiter)| (id, waiter.db, waiter.args.clone()))
                .collect()
        };
        for (id, db, args) in reads {
            let now_ms = node.clock.now_ms();
            let resolved = node.with_machine(|machine| {
                let now_ms = now_ms.max(machine.last_time_ms());
                flotilla_storage::commands::streams::resolve_last_ids(&machine.keyspace.dbs[db], now_ms, &args)
            });
            if let Some(resolved) = resolved {
                if let Some(waiter) = self.state.lock().waiters.get_mut(&id) {
                    waiter.args = resolved;
                }
            }
        }
    }

    /// Serves the waiters of one key in the order they arrived, while the key holds a value
    /// of the type they wait for. A client blocked in XREADGROUP whose stream went away (or
    /// became another type) gets Redis's error instead.
    async fn serve_key(&self, node: &Node, db: usize, key: &Bytes) {
        if !leads(node) {
            return;
        }
        let waiting: Vec<u64> = {
            let state = self.state.lock();
            match state.queues.get(&(db, key.clone())) {
                Some(queue) => queue.iter().copied().collect(),
                None => return,
            }
        };
        for id in waiting {
            let (args, value_type, peer) = {
                let mut state = self.state.lock();
                let Some(waiter) = state.waiters.get_mut(&id) else {
                    continue;
                };
                if waiter.fresh {
                    // It and those behind it have not run yet: their first runs come later.
                    return;
                }
                if waiter.running {
                    continue;
                }
                if waiter.sender.is_closed() {
                    state.remove(id);
                    continue;
                }
                waiter.running = true;
                let peer = matches!(waiter.route, Route::Peer { .. });
                (waiter.args.clone(), waiter.value_type, peer)
            };
            if !holds_type(node, db, key, value_type) {
                let deleted = args[0].eq_ignore_ascii_case(b"xreadgroup");
                let error = || Reply::error(flotilla_storage::errors::stream::DELETED_WHILE_BLOCKED);
                if deleted && peer {
                    self.serve_remote(node, id, ServeAction::Deliver(error())).await;
                    continue;
                }
                let mut state = self.state.lock();
                state.ran(id, None);
                if deleted {
                    let waiter = state.remove(id);
                    let _ = waiter.sender.send(error());
                }
                continue;
            }
            if peer {
                self.serve_remote(node, id, ServeAction::Run(args)).await;
                continue;
            }
            let (reply, index) = node.write_indexed(db, args).await;
            let mut state = self.state.lock();
            let waiter = state.ran(id, index);
            let outcome = if matches!(reply, Reply::Nil | Reply::NilArray) {
                // Still nothing to take for it: it keeps waiting unless it was cancelled.
                match waiter.cancelled.take() {
                    Some(cancelled) => cancelled,
                    None => continue,
                }
            } else {
                reply
            };
            let waiter = state.remove(id);
            let _ = waiter.sender.send(outcome);
        }
    }
}

/// A command's place among the blocking work (see [`Blocking::arrive`]); a write's ticket
/// ends when this is dropped.
pub struct Arrival<'a> {
    blocking: &'a Blocking,
    ticket: Option<u64>,
    work_before: u64,
}

impl Arrival<'_> {
    /// Waits until the blocking work queued before the command arrived is done: it must not
    /// overtake blocking commands that arrived before it, nor the clients the previous
    /// commands made servable. (Only earlier work: a stream of new work cannot starve it.)
    pub async fn settled(&self) {
        let blocking = self.blocking;
        if blocking.state.lock().done >= self.work_before {
            return;
        }
        loop {
            let notified = blocking.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if blocking.state.lock().done >= self.work_before {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            let wake = {
                let mut state = self.blocking.state.lock();
                state.writes.remove(&ticket);
                state.awaiting_writes
            };
            if wake {
                self.blocking.writes_done.notify_waiters();
            }
        }
    }
}

/// A wait queued on the leader by the client's node (`BLOCK_WAIT`): its waiter id there, the
/// registration, and what the leader needs to queue and serve it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct WaitRequest {
    wait_id: u64,
    attempt: u64,
    db: u32,
    args: Vec<Bytes>,
    keys: Vec<Bytes>,
    value_type: String,
    nil: Reply,
}

/// The leader's turn for a waiter of the receiving node (`BLOCK_SERVE`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ServeRequest {
    wait_id: u64,
    attempt: u64,
    action: ServeAction,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub enum ServeAction {
    /// Run the command (these arguments: XREAD's `$` resolved by the leader).
    Run(Vec<Bytes>),
    /// End the wait with this reply (XREADGROUP whose stream went away).
    Deliver(Reply),
}

/// What became of a waiter the leader asked to serve.
#[derive(serde::Serialize, serde::Deserialize)]
pub enum ServeAnswer {
    /// The client got its reply: the wait is over.
    Done,
    /// Its command found nothing: it keeps its place.
    Waiting,
    /// No such wait (any more), or not this registration of it: drop it.
    Gone,
}

/// The client's node withdraws registration `attempt` of its waiter `wait_id` (`BLOCK_CANCEL`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CancelRequest {
    wait_id: u64,
    attempt: u64,
}

/// What `send_wait` did.
enum Queued {
    /// Sent to `leader` as registration `attempt`: the reply comes when it ends there.
    Sent(NodeId, u64, PendingReply),
    /// This node leads now: the waiter is queued here.
    Adopted,
    /// The wait is over.
    Gone,
    /// No leader to send it to now.
    Later,
}

/// The static name of a value type a peer sent.
fn value_type_named(name: &str) -> Option<&'static str> {
    ["list", "zset", "stream"].into_iter().find(|known| *known == name)
}

impl Blocking {
    /// Registers a waiter of this node's client whose wait is queued on the shard's leader,
    /// and queues it there; a task keeps it queued (on the next leader too) until it ends.
    fn register_forwarded(&self, node: &Arc<Node>, mut waiter: Waiter) -> u64 {
        let (ended, ended_receiver) = oneshot::channel();
        waiter.route = Route::Leader { _ended: ended };
        let id = {
            let mut state = self.state.lock();
            state.next_id += 1;
            let id = state.next_id;
            state.waiters.insert(id, waiter);
            id
        };
        // Sent now, from the connection's task: a write this client's node forwards after
        // it reaches the leader after it.
        let sent = self.send_wait(node, id);
        tokio::spawn(forward_wait(node.clone(), id, ended_receiver, sent));
        id
    }

    /// Queues a forwarded waiter on the leader as a new registration (or here, if this node
    /// leads now).
    fn send_wait(&self, node: &Node, id: u64) -> Queued {
        let (leader, request) = {
            let mut state = self.state.lock();
            let leader = node.group.leader();
            let next_write = state.next_write;
            let Some(waiter) = state.waiters.get_mut(&id) else {
                return Queued::Gone;
            };
            if !matches!(waiter.route, Route::Leader { .. }) {
                return Queued::Gone;
            }
            match leader {
                None => return Queued::Later,
                Some(leader) if leader == node.me => {
                    if waiter.running {
                        return Queued::Later;
                    }
                    // Queued behind the waiters already here; its command runs again first
                    // (it may be servable now).
                    waiter.route = Route::Here;
                    waiter.writes_before = next_write;
                    let (db, keys) = (waiter.db, waiter.keys.clone());
                    for key in keys {
                        state.queues.entry((db, key)).or_default().push_back(id);
                    }
                    drop(state);
                    self.signal([Work::Run(id)]);
                    return Queued::Adopted;
                }
                Some(leader) => {
                    waiter.attempt += 1;
                    let request = WaitRequest {
                        wait_id: id,
                        attempt: waiter.attempt,
                        db: waiter.db as u32,
                        args: waiter.args.clone(),
                        keys: waiter.keys.clone(),
                        value_type: waiter.value_type.to_string(),
                        nil: waiter.nil.clone(),
                    };
                    (leader, request)
                }
            }
        };
        match node.transport.send(leader, kind::BLOCK_WAIT, DATA_GROUP, network::encode(&request), Duration::MAX) {
            Ok(reply) => Queued::Sent(leader, request.attempt, reply),
            Err(_) => Queued::Later,
        }
    }

    /// `BLOCK_WAIT` on the leader: queues another node's waiter like a local one, before the
    /// next request from that node is handled. The reply is sent when the registration ends
    /// (served, withdrawn, dropped); a node that does not lead answers at once.
    pub fn register_peer(&self, node: &Arc<Node>, from: NodeId, payload: &[u8]) -> HandlerFuture {
        let request: WaitRequest = match network::decode(payload) {
            Ok(request) => request,
            Err(error) => return Box::pin(async move { Err(error) }),
        };
        let Some(value_type) = value_type_named(&request.value_type) else {
            return Box::pin(async { Err("unknown value type".to_string()) });
        };
        if !leads(node) {
            return Box::pin(async { Ok(Vec::new()) });
        }
        let _ = self.node.set(Arc::downgrade(node));
        {
            // A registration again of the same waiter replaces the earlier one.
            let mut state = self.state.lock();
            let earlier: Vec<u64> = state
                .waiters
                .iter()
                .filter(|(_, waiter)| {
                    !waiter.running
                        && matches!(waiter.route, Route::Peer { from: at, wait_id, .. } if at == from && wait_id == request.wait_id)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in earlier {
                state.remove(id);
            }
        }
        let (sender, receiver) = oneshot::channel();
        self.register(Waiter {
            client: None,
            route: Route::Peer {
                from,
                wait_id: request.wait_id,
                attempt: request.attempt,
            },
            attempt: request.attempt,
            serve_again: false,
            db: request.db as usize,
            args: request.args,
            keys: request.keys,
            value_type,
            nil: request.nil,
            sender,
            fresh: true,
            running: false,
            cancelled: None,
            written: Arc::new(AtomicU64::new(0)),
            writes_before: 0,
        });
        Box::pin(async move {
            let _ = receiver.await;
            Ok(Vec::new())
        })
    }

    /// `BLOCK_CANCEL` on the leader: drops the registration (one being served ends when its
    /// node answers).
    pub fn cancel_peer(&self, from: NodeId, request: CancelRequest) {
        let mut state = self.state.lock();
        let found = state.waiters.iter().find_map(|(id, waiter)| {
            matches!(waiter.route, Route::Peer { from: at, wait_id, attempt }
                if at == from && wait_id == request.wait_id && attempt == request.attempt)
            .then_some(*id)
        });
        let Some(id) = found else {
            return;
        };
        let waiter = state.waiters.get_mut(&id).expect("found");
        if waiter.running {
            waiter.cancelled = Some(Reply::Nil);
        } else {
            state.remove(id);
        }
    }

    /// On the leader: asks the node of a queued wait (marked running) to serve it, and keeps
    /// it queued only if that node says it still waits.
    async fn serve_remote(&self, node: &Node, id: u64, action: ServeAction) {
        let (from, request) = {
            let state = self.state.lock();
            let waiter = state.waiters.get(&id).expect("a running waiter stays");
            let Route::Peer { from, wait_id, attempt } = waiter.route else {
                unreachable!("served remotely: a peer's wait");
            };
            (from, ServeRequest { wait_id, attempt, action })
        };
        let answer = match node
            .transport
            .call(from, kind::BLOCK_SERVE, DATA_GROUP, network::encode(&request), Duration::from_millis(SERVE_TIMEOUT_MS))
            .await
        {
            Ok(bytes) => network::decode(&bytes).unwrap_or(ServeAnswer::Gone),
            // Unanswered: the node queues it again if its client still waits.
            Err(_) => ServeAnswer::Gone,
        };
        let mut state = self.state.lock();
        let waiter = state.ran(id, None);
        match answer {
            ServeAnswer::Waiting if waiter.cancelled.is_none() => waiter.fresh = false,
            _ => {
                state.remove(id);
            }
        }
    }

    /// `BLOCK_SERVE` on the client's node: runs the waiter's command (proposed through the
    /// leader as any write) and delivers what it finds. The one place a forwarded waiter's
    /// command runs, so a cancel racing with it is decided here: a pop already proposed wins.
    pub async fn serve_for_leader(&self, node: &Node, request: ServeRequest) -> ServeAnswer {
        let id = request.wait_id;
        let (db, mut args) = {
            let mut state = self.state.lock();
            let Some(waiter) = state.waiters.get_mut(&id) else {
                return ServeAnswer::Gone;
            };
            if !matches!(waiter.route, Route::Leader { .. }) || waiter.attempt != request.attempt {
                return ServeAnswer::Gone;
            }
            if waiter.sender.is_closed() {
                state.remove(id);
                return ServeAnswer::Gone;
            }
            if waiter.running {
                // Asked by a new leader while the last run is in flight: one run at a time,
                // and one more after it.
                waiter.serve_again = true;
                return ServeAnswer::Waiting;
            }
            match request.action {
                ServeAction::Deliver(reply) => {
                    let waiter = state.remove(id);
                    let _ = waiter.sender.send(reply);
                    return ServeAnswer::Done;
                }
                ServeAction::Run(args) => {
                    waiter.args = args;
                    waiter.running = true;
                    (waiter.db, waiter.args.clone())
                }
            }
        };
        loop {
            let (reply, index) = node.write_indexed(db, args).await;
            let mut state = self.state.lock();
            let waiter = state.ran(id, index);
            let outcome = if matches!(reply, Reply::Nil | Reply::NilArray) {
                waiter.fresh = false;
                match waiter.cancelled.take() {
                    Some(cancelled) => cancelled,
                    None if waiter.serve_again => {
                        waiter.serve_again = false;
                        waiter.running = true;
                        args = waiter.args.clone();
                        continue;
                    }
                    None => {
                        if let Some(client) = &waiter.client {
                            client.blocked.store(true, Ordering::Relaxed);
                        }
                        return ServeAnswer::Waiting;
                    }
                }
            } else {
                reply
            };
            let waiter = state.remove(id);
            let _ = waiter.sender.send(outcome);
            return ServeAnswer::Done;
        }
    }

    /// Called every `REHOME_PERIOD_MS`: on a node that no longer leads, its own waiters move
    /// to the leader (in the order they arrived) and the waits other nodes queued here are
    /// dropped (they queue them again). Waiters whose command is running move on a later call.
    pub fn rehome(&self, node: &Arc<Node>) {
        if leads(node) {
            return;
        }
        let mut moved = Vec::new();
        {
            let mut state = self.state.lock();
            if state.waiters.is_empty() {
                return;
            }
            let mut ids: Vec<u64> = state
                .waiters
                .iter()
                .filter(|(_, waiter)| !waiter.running && !matches!(waiter.route, Route::Leader { .. }))
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            for id in ids {
                let waiter = state.waiters.get_mut(&id).expect("listed");
                if matches!(waiter.route, Route::Peer { .. }) {
                    state.remove(id);
                    continue;
                }
                if let Some(cancelled) = waiter.cancelled.take() {
                    // Timed out (or unblocked) before its first run: nothing ran for it.
                    let waiter = state.remove(id);
                    let _ = waiter.sender.send(cancelled);
                    continue;
                }
                let (ended, ended_receiver) = oneshot::channel();
                waiter.route = Route::Leader { _ended: ended };
                state.unqueue(id);
                moved.push((id, ended_receiver));
            }
        }
        for (id, ended) in moved {
            let sent = self.send_wait(node, id);
            tokio::spawn(forward_wait(node.clone(), id, ended, sent));
        }
    }
}

/// Keeps a forwarded waiter queued on the shard's leader until its wait ends (`ended`: the
/// waiter was dropped): queues it again when the leader ends the registration (stepped down,
/// link lost) or another node becomes leader, and withdraws it when the client stops waiting.
async fn forward_wait(node: Arc<Node>, id: u64, mut ended: oneshot::Receiver<()>, mut sent: Queued) {
    loop {
        let (leader, attempt, reply) = match sent {
            Queued::Sent(leader, attempt, reply) => (leader, attempt, reply),
            Queued::Adopted | Queued::Gone => return,
            Queued::Later => {
                tokio::select! {
                    _ = &mut ended => return,
                    _ = tokio::time::sleep(Duration::from_millis(REQUEUE_RETRY_MS)) => {}
                }
                sent = node.blocking.send_wait(&node, id);
                continue;
            }
        };
        let moved = tokio::select! {
            _ = &mut ended => {
                withdraw(&node, leader, id, attempt);
                return;
            }
            _ = reply => false,
            _ = leader_moved(&node, leader) => true,
        };
        if moved {
            withdraw(&node, leader, id, attempt);
        } else {
            // Ended by the leader: not at once again (it may not lead yet or any more).
            tokio::select! {
                _ = &mut ended => return,
                _ = tokio::time::sleep(Duration::from_millis(REQUEUE_RETRY_MS)) => {}
            }
        }
        sent = node.blocking.send_wait(&node, id);
    }
}

/// Resolves once this node knows of a leader other than `leader`.
async fn leader_moved(node: &Node, leader: NodeId) {
    loop {
        tokio::time::sleep(Duration::from_millis(LEADER_POLL_MS)).await;
        if node.group.leader().is_some_and(|now| now != leader) {
            return;
        }
    }
}

/// Withdraws registration `attempt` of waiter `id` from `leader`, without waiting. If it is
/// lost, the leader drops the registration when it next asks to serve it.
fn withdraw(node: &Arc<Node>, leader: NodeId, id: u64, attempt: u64) {
    let request = CancelRequest { wait_id: id, attempt };
    let node = node.clone();
    tokio::spawn(async move {
        let _ = node
            .transport
            .call(leader, kind::BLOCK_CANCEL, DATA_GROUP, network::encode(&request), Duration::from_millis(CANCEL_TIMEOUT_MS))
            .await;
    });
}

/// Moves waits to the leader when this node stops leading (see `Blocking::rehome`).
pub async fn rehome_loop(node: Weak<Node>) {
    let mut tick = tokio::time::interval(Duration::from_millis(REHOME_PERIOD_MS));
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        node.blocking.rehome(&node);
    }
}

impl State {
    /// The waiter whose command has just run: no longer running, and the log index of the
    /// entry the command was written in (if it got one) kept for WAIT.
    fn ran(&mut self, id: u64, index: Option<u64>) -> &mut Waiter {
        let waiter = self.waiters.get_mut(&id).expect("a running waiter stays");
        waiter.running = false;
        if let Some(index) = index {
            waiter.written.store(index, Ordering::Relaxed);
        }
        waiter
    }

    fn remove(&mut self, id: u64) -> Waiter {
        self.unqueue(id);
        let waiter = self.waiters.remove(&id).expect("waiter registered");
        if let Some(client) = &waiter.client {
            client.blocked.store(false, Ordering::Relaxed);
        }
        waiter
    }

    /// Takes a waiter out of the queues of its keys (it stays registered).
    fn unqueue(&mut self, id: u64) {
        let Some(waiter) = self.waiters.get(&id) else {
            return;
        };
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = self.queues.get_mut(&slot) {
                queue.retain(|other| *other != id);
                if queue.is_empty() {
                    self.queues.remove(&slot);
                }
            }
        }
    }
}

/// True when this node queues and serves the waits itself: it leads the shard (or is alone).
fn leads(node: &Node) -> bool {
    !node.transport.has_peers() || node.group.leader() == Some(node.me)
}

/// True if `key` in `db` holds a live value of `value_type` now.
fn holds_type(node: &Node, db: usize, key: &[u8], value_type: &str) -> bool {
    let now_ms = node.clock.now_ms();
    node.with_machine(|machine| {
        let now_ms = now_ms.max(machine.last_time_ms());
        machine.keyspace.dbs[db]
            .get(key, now_ms)
            .is_some_and(|value| value.type_name() == value_type)
    })
}

#[cfg(test)]
mod tests {
    //! Sessions over an in-memory node: blocked commands get served by later writes in the
    //! order they blocked, time out, and leave no waiter behind.

    use super::*;
    use crate::config::Args;
    use crate::session::Outcome;
    use clap::Parser;

    async fn node() -> Arc<Node> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flotilla-blocking-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let dir = dir.to_str().expect("utf-8 temp dir").to_string();
        Node::start(Args::parse_from(["flotilla", "--dir", &dir]), None)
            .await
            .expect("node starts")
    }

    fn session(node: &Arc<Node>, id: u64) -> Session {
        let (push, _) = tokio::sync::mpsc::unbounded_channel();
        let addr = "127.0.0.1:1".parse().unwrap();
        Session::new(
            node.clone(),
            Arc::new(ClientHandle::new(id, addr, addr, push, Default::default())),
        )
    }

    fn args(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    async fn run(session: &mut Session, text: &str) -> Reply {
        match session.execute(args(text)).await {
            Outcome::Reply(reply) => reply,
            _ => panic!("{text} did not reply at once"),
        }
    }

    async fn block_on(session: &mut Session, text: &str) -> Wait {
        match session.execute(args(text)).await {
            Outcome::Blocked(wait) => wait,
            _ => panic!("{text} did not block"),
        }
    }

    fn bulks(items: &[&str]) -> Reply {
        Reply::Array(
            items
                .iter()
                .map(|item| Reply::bulk_copy(item.as_bytes()))
                .collect(),
        )
    }

    #[tokio::test]
    async fn waiters_are_served_first_blocked_first() {
        let node = node().await;
        let (mut first, mut second, mut writer) = (session(&node, 1), session(&node, 2), session(&node, 3));
        let first_wait = block_on(&mut first, "BLPOP a b 0").await;
        let second_wait = block_on(&mut second, "BRPOP b 0").await;
        // Queued but not yet run: not blocked until their commands found nothing.
        assert_eq!(node.blocking.blocked_clients(), 0);
        node.blocking.arrive(false).settled().await;
        assert_eq!(node.blocking.blocked_clients(), 2);
        assert!(first.client.blocked.load(Ordering::Relaxed));
        assert_eq!(run(&mut writer, "RPUSH b x y").await, Reply::Int(2));
        assert_eq!(first_wait.future.await, bulks(&["b", "x"]));
        assert_eq!(second_wait.future.await, bulks(&["b", "y"]));
        assert_eq!(node.blocking.blocked_clients(), 0);
        assert!(!first.client.blocked.load(Ordering::Relaxed));
        assert_eq!(run(&mut writer, "EXISTS b").await, Reply::Int(0));
    }

    #[tokio::test]
    async fn a_move_wakes_the_waiter_on_its_destination() {
        let node = node().await;
        let (mut mover, mut popper, mut writer) = (session(&node, 1), session(&node, 2), session(&node, 3));
        let pop_wait = block_on(&mut popper, "BLPOP target 0").await;
        let move_wait = block_on(&mut mover, "BLMOVE source target LEFT RIGHT 0").await;
        run(&mut writer, "LPUSH source v").await;
        assert_eq!(move_wait.future.await, Reply::bulk_copy(b"v"));
        assert_eq!(pop_wait.future.await, bulks(&["target", "v"]));
        assert_eq!(run(&mut writer, "EXISTS source target").await, Reply::Int(0));
    }

    #[tokio::test]
    async fn a_key_of_another_type_or_a_deleted_push_does_not_wake() {
        let node = node().await;
        let (mut waiter, mut writer) = (session(&node, 1), session(&node, 2));
        let wait = block_on(&mut waiter, "BLMPOP 0 1 k LEFT COUNT 2").await;
        run(&mut writer, "SET k v").await;
        run(&mut writer, "DEL k").await;
        run(&mut writer, "MULTI").await;
        run(&mut writer, "RPUSH k lost").await;
        run(&mut writer, "DEL k").await;
        run(&mut writer, "EXEC").await;
        assert_eq!(node.blocking.blocked_clients(), 1);
        run(&mut writer, "RPUSH k 1 2 3").await;
        assert_eq!(
            wait.future.await,
            Reply::Array(vec![Reply::bulk_copy(b"k"), bulks(&["1", "2"])])
        );
    }

    #[tokio::test]
    async fn a_failed_serve_replies_the_error_and_the_next_waiter_goes_on() {
        let node = node().await;
        let (mut failing, mut next, mut writer) = (session(&node, 1), session(&node, 2), session(&node, 3));
        run(&mut writer, "SET wrong x").await;
        let failing_wait = block_on(&mut failing, "BRPOPLPUSH src wrong 0").await;
        let next_wait = block_on(&mut next, "BRPOPLPUSH src dst 0").await;
        run(&mut writer, "LPUSH src e").await;
        assert!(matches!(failing_wait.future.await, Reply::Error(text) if text.starts_with("WRONGTYPE")));
        assert_eq!(next_wait.future.await, Reply::bulk_copy(b"e"));
    }

    #[tokio::test]
    async fn timeout_and_unblock_end_the_wait() {
        let node = node().await;
        let (mut waiter, mut admin) = (session(&node, 7), session(&node, 8));
        let wait = block_on(&mut waiter, "BLPOP k 0.01").await;
        assert_eq!(wait.future.await, Reply::NilArray);
        assert_eq!(node.blocking.blocked_clients(), 0);

        let wait = block_on(&mut waiter, "BLMOVE k d LEFT LEFT 0").await;
        assert_eq!(run(&mut admin, "CLIENT UNBLOCK 7").await, Reply::Int(1));
        assert_eq!(wait.future.await, Reply::Nil);
        let wait = block_on(&mut waiter, "BRPOP k 0").await;
        assert_eq!(run(&mut admin, "CLIENT UNBLOCK 7 ERROR").await, Reply::Int(1));
        assert_eq!(wait.future.await, Reply::error(UNBLOCKED_ERROR));
        assert_eq!(run(&mut admin, "CLIENT UNBLOCK 7").await, Reply::Int(0));
        assert_eq!(
            run(&mut admin, "CLIENT UNBLOCK 7 LATER").await,
            Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        );
        assert_eq!(
            run(&mut admin, "CLIENT UNBLOCK x").await,
            Reply::error(flotilla_storage::errors::NOT_INTEGER)
        );
    }

    #[tokio::test]
    async fn a_blocking_command_that_finds_something_replies_through_its_wait() {
        let node = node().await;
        let (mut popper, mut writer) = (session(&node, 1), session(&node, 2));
        run(&mut writer, "RPUSH k a b").await;
        assert_eq!(block_on(&mut popper, "BLPOP k 0").await.future.await, bulks(&["k", "a"]));
        run(&mut writer, "SET s x").await;
        let wait = block_on(&mut popper, "BLPOP s 0").await;
        assert!(matches!(wait.future.await, Reply::Error(text) if text.starts_with("WRONGTYPE")));
        assert_eq!(node.blocking.blocked_clients(), 0);
        // A bad timeout cannot wait: the command runs as any other and replies its error.
        assert_eq!(
            run(&mut popper, "BLPOP k -1").await,
            Reply::error("ERR timeout is negative")
        );
    }

    #[tokio::test]
    async fn a_push_queued_behind_blocking_commands_serves_them_in_arrival_order() {
        let node = node().await;
        let (mut first, mut second, mut writer) = (session(&node, 1), session(&node, 2), session(&node, 3));
        run(&mut writer, "SET wrong x").await;
        // Neither command has run yet when the push arrives: the push still finds them
        // blocked, first arrived first.
        let first_wait = block_on(&mut first, "BRPOPLPUSH src wrong 0").await;
        let second_wait = block_on(&mut second, "BRPOPLPUSH src dst 0").await;
        run(&mut writer, "LPUSH src e").await;
        assert!(matches!(first_wait.future.await, Reply::Error(text) if text.starts_with("WRONGTYPE")));
        assert_eq!(second_wait.future.await, Reply::bulk_copy(b"e"));
    }

    #[tokio::test]
    async fn a_blocking_command_arriving_after_a_push_leaves_the_element_to_an_earlier_waiter() {
        let node = node().await;
        let (mut early, mut late, mut writer) = (session(&node, 1), session(&node, 2), session(&node, 3));
        let early_wait = block_on(&mut early, "BLPOP src 0").await;
        node.blocking.arrive(false).settled().await;
        // The push has arrived (taken its ticket) but is not applied when the late client's
        // command arrives: the late first run must wait for it and for the early client.
        // Polled exactly once, without yielding to the runtime: it takes its ticket and
        // proposes, but the Raft tasks that apply it cannot run before the late command.
        let mut push = Box::pin(writer.execute(args("RPUSH src e")));
        let first_poll = std::future::poll_fn(|cx| std::task::Poll::Ready(push.as_mut().poll(cx))).await;
        assert!(first_poll.is_pending(), "the push cannot be applied without yielding");
        let late_wait = block_on(&mut late, "BLPOP src 0.2").await;
        assert!(matches!(push.await, Outcome::Reply(Reply::Int(1))));
        let early = tokio::time::timeout(Duration::from_secs(5), early_wait.future).await;
        assert_eq!(early.expect("the early client is served"), bulks(&["src", "e"]));
        assert_eq!(late_wait.future.await, Reply::NilArray);
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_the_element_in_place() {
        let node = node().await;
        let (mut gone, mut writer) = (session(&node, 1), session(&node, 2));
        drop(block_on(&mut gone, "BLPOP k 0").await);
        assert_eq!(node.blocking.blocked_clients(), 0);
        run(&mut writer, "RPUSH k kept").await;
        assert_eq!(run(&mut writer, "LLEN k").await, Reply::Int(1));
    }

    #[tokio::test]
    async fn inside_multi_a_blocking_command_replies_nil() {
        let node = node().await;
        let mut client = session(&node, 1);
        run(&mut client, "MULTI").await;
        run(&mut client, "BLPOP k 0").await;
        assert_eq!(
            run(&mut client, "EXEC").await,
            Reply::Array(vec![Reply::NilArray])
        );
        assert_eq!(node.blocking.blocked_clients(), 0);
    }
}
