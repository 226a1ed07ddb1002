//! Blocked clients (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP):
//! waiting for a key to become servable.
//!
//! In the state machine a blocking command is its non-blocking form and replies nil when it
//! finds nothing. A session that gets that nil outside MULTI registers here as a waiter on the
//! command's keys and awaits its reply. When an applied entry touches a waited key (a `Ready`
//! event from a push, any notification naming the key such as `rename_to`, or a whole database
//! changing), the first waiter on that key whose type now matches gets its command proposed
//! again as its own entry: replicas never need to know who waits. A served command can make
//! another key ready (BLMOVE pushes); those keys are served after the current one, in order,
//! as Redis does. The waiter replies nil at its timeout, or when CLIENT UNBLOCK asks.
//!
//! Events arrive from the apply task, which must not wait on a proposal of its own: serving
//! runs in a spawned task. Until it is done, sessions hold back their next command
//! ([`Blocking::settled`]), so a client that pushes and then pops (or reads) sees the blocked
//! clients served first, as in Redis where they are served before the next command runs.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::{CommandSpec, Event};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::{oneshot, Notify};
use tokio::time::{Duration, Instant};

use crate::clients::ClientHandle;
use crate::node::Node;
use crate::session::Session;

/// The error a waiter gets from `CLIENT UNBLOCK id ERROR`.
pub const UNBLOCKED_ERROR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// A pending blocked command; the connection awaits it and sends its reply.
pub struct Wait {
    pub future: Pin<Box<dyn Future<Output = Reply> + Send>>,
}

/// The registry of waiters of one node.
#[derive(Default)]
pub struct Blocking {
    state: Mutex<State>,
    /// The node, for the serving task (set by the first waiter).
    node: OnceLock<Weak<Node>>,
    /// Signalled when serving ends.
    settled: Notify,
    /// Held by a session from proposing a blocking command until it has registered.
    gate: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    waiters: HashMap<u64, Waiter>,
    /// Waiter ids per (database, key), first blocked first.
    queues: HashMap<(usize, Bytes), VecDeque<u64>>,
    /// Keys to try serving, in the order they became ready.
    ready: VecDeque<(usize, Bytes)>,
    /// A task is serving the ready keys; events only queue theirs.
    draining: bool,
}

struct Waiter {
    client: Arc<ClientHandle>,
    db: usize,
    args: Vec<Bytes>,
    keys: Vec<Bytes>,
    /// The value type that can serve it (`list`, `zset`).
    value_type: &'static str,
    /// The reply for timeout or CLIENT UNBLOCK (nil of the command's shape).
    nil: Reply,
    sender: oneshot::Sender<Reply>,
    /// Its command is being proposed: a timeout now must wait for the outcome.
    serving: bool,
    /// Set when a timeout or CLIENT UNBLOCK arrived while serving: the reply to send if the
    /// command still found nothing.
    cancelled: Option<Reply>,
}

/// What a blocking command waits on: its keys (without repeats), its timeout in milliseconds
/// (0: forever) and the type that can serve it. None for commands that cannot wait.
fn wait_target(spec: &CommandSpec, args: &[Bytes], now_ms: u64) -> Option<(Vec<Bytes>, u64, &'static str)> {
    let (value_type, timeout_at) = match spec.name {
        "blpop" | "brpop" | "blmove" | "brpoplpush" => ("list", args.len() - 1),
        "blmpop" => ("list", 1),
        "bzpopmin" | "bzpopmax" => ("zset", args.len() - 1),
        "bzmpop" => ("zset", 1),
        _ => return None,
    };
    // BLMOVE and BRPOPLPUSH wait on their source only.
    let positions = match spec.name {
        "blmove" | "brpoplpush" => vec![1],
        _ => spec.key_positions(args),
    };
    let mut keys: Vec<Bytes> = Vec::with_capacity(positions.len());
    for position in positions {
        let key = args.get(position)?;
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let timeout_ms = flotilla_storage::commands::lists::parse_timeout_ms(&args[timeout_at], now_ms).ok()?;
    Some((keys, timeout_ms, value_type))
}

/// Called when a blocking command found nothing to pop (`reply` is its nil reply) outside
/// MULTI: registers the session as a waiter, or replies at once if the command cannot wait.
pub fn block(
    session: &mut Session,
    spec: &CommandSpec,
    args: Vec<Bytes>,
    reply: Reply,
) -> Result<Reply, Wait> {
    let node = session.node.clone();
    let Some((keys, timeout_ms, value_type)) = wait_target(spec, &args, node.clock.now_ms()) else {
        return Ok(reply);
    };
    let (sender, mut receiver) = oneshot::channel();
    let db = session.db;
    let _ = node.blocking.node.set(Arc::downgrade(&node));
    let id = node.blocking.register(Waiter {
        client: session.client.clone(),
        db,
        args,
        keys: keys.clone(),
        value_type,
        nil: reply.clone(),
        sender,
        serving: false,
        cancelled: None,
    });
    // A push applied between our nil reply and the registration found no waiter to wake:
    // look at the keys once more now that we are registered.
    node.blocking.signal(keys.into_iter().map(|key| (db, key)));
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
        outcome.unwrap_or(reply)
    };
    Err(Wait {
        future: Box::pin(future),
    })
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
    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.state.lock().waiters.len()
    }

    /// CLIENT UNBLOCK: ends the client's wait with its nil reply (or the UNBLOCKED error);
    /// false if the client is not blocked.
    pub fn unblock(&self, client_id: u64, error: bool) -> bool {
        let id = {
            let state = self.state.lock();
            state
                .waiters
                .iter()
                .find(|(_, waiter)| waiter.client.id == client_id)
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

    /// Observes the events of an applied entry: queues the waited keys they touch and serves
    /// them (unless another call up the stack is already serving).
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
                            keys.push((*db, key.clone()));
                        }
                    }
                    Event::DbChanged { db } => {
                        let mut touched: Vec<(usize, Bytes)> =
                            state.queues.keys().filter(|(at, _)| at == db).cloned().collect();
                        touched.sort();
                        keys.extend(touched);
                    }
                }
            }
        }
        if !keys.is_empty() {
            self.signal(keys);
        }
    }

    fn register(&self, waiter: Waiter) -> u64 {
        let mut state = self.state.lock();
        state.next_id += 1;
        let id = state.next_id;
        for key in &waiter.keys {
            state
                .queues
                .entry((waiter.db, key.clone()))
                .or_default()
                .push_back(id);
        }
        waiter.client.blocked.store(true, Ordering::Relaxed);
        state.waiters.insert(id, waiter);
        id
    }

    /// Ends a wait with `reply` (None: the waiter's nil). A waiter being served finishes its
    /// proposal first, and gets the reply only if the command still found nothing.
    fn cancel(&self, id: u64, reply: Option<Reply>) {
        let mut state = self.state.lock();
        let Some(waiter) = state.waiters.get_mut(&id) else {
            return;
        };
        let reply = reply.unwrap_or_else(|| waiter.nil.clone());
        if waiter.serving {
            waiter.cancelled = Some(reply);
            return;
        }
        let waiter = state.remove(id);
        let _ = waiter.sender.send(reply);
    }

    /// Taken around a blocking command's first run and its registration, so that waiters
    /// queue in the order their commands were applied (the order Redis would block them in).
    pub async fn gate(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.gate.lock().await
    }

    /// Waits until no blocked client is being served: a command must not overtake the
    /// clients the previous commands made servable.
    pub async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.state.lock().draining {
                return;
            }
            notified.await;
        }
    }

    /// Queues keys that may now serve waiters, and starts serving them unless a task
    /// already is.
    fn signal(&self, keys: impl IntoIterator<Item = (usize, Bytes)>) {
        let node = {
            let mut state = self.state.lock();
            state.ready.extend(keys);
            if state.draining || state.ready.is_empty() {
                return;
            }
            let Some(node) = self.node.get().and_then(Weak::upgrade) else {
                state.ready.clear();
                return;
            };
            state.draining = true;
            node
        };
        tokio::spawn(async move { node.blocking.drain(&node).await });
    }

    /// Serves ready keys in order until none is left.
    async fn drain(&self, node: &Node) {
        loop {
            let next = {
                let mut state = self.state.lock();
                let next = state.ready.pop_front();
                if next.is_none() {
                    state.draining = false;
                }
                next
            };
            let Some((db, key)) = next else {
                self.settled.notify_waiters();
                return;
            };
            self.serve_key(node, db, &key).await;
        }
    }

    /// Serves the waiters of one key in the order they blocked, while the key holds a value
    /// of the type they wait for.
    async fn serve_key(&self, node: &Node, db: usize, key: &Bytes) {
        let waiting: Vec<u64> = {
            let state = self.state.lock();
            match state.queues.get(&(db, key.clone())) {
                Some(queue) => queue.iter().copied().collect(),
                None => return,
            }
        };
        for id in waiting {
            let (args, value_type) = {
                let mut state = self.state.lock();
                let Some(waiter) = state.waiters.get_mut(&id) else {
                    continue;
                };
                if waiter.serving {
                    continue;
                }
                if waiter.sender.is_closed() {
                    state.remove(id);
                    continue;
                }
                waiter.serving = true;
                (waiter.args.clone(), waiter.value_type)
            };
            if !holds_type(node, db, key, value_type) {
                self.state
                    .lock()
                    .waiters
                    .get_mut(&id)
                    .expect("a serving waiter stays")
                    .serving = false;
                return;
            }
            let reply = node.write(db, args).await;
            let mut state = self.state.lock();
            let waiter = state.waiters.get_mut(&id).expect("a serving waiter stays");
            waiter.serving = false;
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

impl State {
    fn remove(&mut self, id: u64) -> Waiter {
        let waiter = self.waiters.remove(&id).expect("waiter registered");
        waiter.client.blocked.store(false, Ordering::Relaxed);
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = self.queues.get_mut(&slot) {
                queue.retain(|other| *other != id);
                if queue.is_empty() {
                    self.queues.remove(&slot);
                }
            }
        }
        waiter
    }
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
