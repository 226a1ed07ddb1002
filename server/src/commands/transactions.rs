//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC becomes one log entry (`Op::Exec`) carrying the queued keyspace commands and the
//! versions WATCH observed, so the state machine aborts or applies the whole transaction
//! deterministically (also across a failover). Queued server commands (PING, SELECT …) run
//! in the session after the entry, at their positions in the reply.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::parse_i64;
use flotilla_storage::{CommandSpec, Flags, Handler, KeyFlags, Op, Watch, DATABASES};
use std::sync::atomic::Ordering;

use super::ServerFn;
use crate::errors;
use crate::session::Session;

fn multi(session: &mut Session, _args: &[Bytes]) -> Reply {
    if session.multi.is_some() {
        return Reply::error(errors::MULTI_NESTED);
    }
    session.multi = Some(Vec::new());
    session.multi_failed = false;
    session.client.in_multi.store(true, Ordering::Relaxed);
    Reply::ok()
}

fn discard(session: &mut Session, _args: &[Bytes]) -> Reply {
    if session.multi.is_none() {
        return Reply::error(errors::DISCARD_WITHOUT_MULTI);
    }
    session.end_multi();
    Reply::ok()
}

fn watch(session: &mut Session, args: &[Bytes]) -> Reply {
    if session.multi.is_some() {
        return Reply::error(errors::WATCH_IN_MULTI);
    }
    let now_ms = session.node.clock.now_ms();
    let db = session.db;
    for key in &args[1..] {
        let version = session
            .node
            .with_machine(|machine| machine.version(db, key, now_ms));
        session.watched.push(Watch {
            db: db as u32,
            key: key.clone(),
            version,
        });
    }
    Reply::ok()
}

fn unwatch(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.watched.clear();
    Reply::ok()
}

/// A queued command's place in the transaction.
enum Step {
    Keyspace,
    Server,
}

/// EXEC awaits its log entry, so the session's async dispatch calls it directly (see
/// `commands::ASYNC_SERVER_COMMANDS`).
pub async fn exec(session: &mut Session, _args: &[Bytes]) -> Reply {
    let Some(queued) = session.multi.take() else {
        return Reply::error(errors::EXEC_WITHOUT_MULTI);
    };
    if session.multi_failed {
        session.end_multi();
        return Reply::error(errors::EXECABORT);
    }
    let watched = std::mem::take(&mut session.watched);
    session.end_multi();
    // SELECT inside the transaction changes the database of the commands after it.
    let mut db = session.db as u32;
    let mut commands = Vec::new();
    let mut steps = Vec::new();
    for (_, args) in queued {
        let spec = super::lookup(&args[0]).expect("queued commands were looked up");
        let spec = flotilla_storage::machine::check(spec, &args).expect("checked when queued");
        if let Handler::Keyspace(_) = spec.handler {
            commands.push((db, args.clone()));
            steps.push((Step::Keyspace, (spec, args)));
        } else {
            if spec.name == "select" {
                if let Some(index) = parse_i64(&args[1]).filter(|i| (0..DATABASES as i64).contains(i)) {
                    db = index as u32;
                }
            }
            steps.push((Step::Server, (spec, args)));
        }
    }
    // CLIENT TRACKING: the transaction's reads are remembered, its writes marked, before
    // the entry is proposed.
    let mut tracked = Vec::new();
    if session.client.tracking_on.load(Ordering::Relaxed) {
        for (step, (spec, args)) in &steps {
            if let Step::Keyspace = step {
                tracked.push(session.track(spec, args));
            }
        }
    }
    let keyspace_reply = if commands.is_empty() && watched.is_empty() {
        Reply::Array(Vec::new())
    } else {
        // A restricted ACL user's scripts are checked against its permissions in the entry.
        let scripts = steps
            .iter()
            .any(|(step, (spec, _))| matches!(step, Step::Keyspace) && flotilla_storage::acl::runs_script(spec));
        // A restricted ACL user's scripts are checked against its permissions in the entry, and
        // scripts proposed over maxmemory may not grow memory before they write.
        let caller = crate::node::ScriptCaller {
            user: scripts.then(|| session.script_user()).flatten(),
            over_memory: scripts && session.over_maxmemory(),
        };
        let op = caller.wrap(Op::Exec { watched, commands });
        let (mut replies, index) = session.node.propose_indexed(vec![op]).await;
        session.wrote_at(index);
        replies.pop().expect("one reply")
    };
    for tracked in &tracked {
        session.tracked(tracked);
    }
    let Reply::Array(keyspace_replies) = keyspace_reply else {
        return keyspace_reply; // aborted: a watched key changed
    };
    let mut keyspace_replies = keyspace_replies.into_iter();
    let mut replies = Vec::with_capacity(steps.len());
    session.in_exec = true;
    for (step, (spec, args)) in steps {
        let reply = match step {
            Step::Keyspace => keyspace_replies.next().expect("one reply per queued command"),
            Step::Server if spec.name == "wait" => super::replication::wait_at_once(session, &args).await,
            Step::Server if spec.name == "config|set" => super::admin::config_set(session, &args).await,
            Step::Server if spec.name == "waitaof" => {
                super::replication::waitaof_at_once(session, &args).await
            }
            Step::Server => {
                let handler = super::server_handler(spec.name).expect("server command");
                handler(session, &args)
            }
        };
        session.record_in_exec(spec, &args, &reply);
        replies.push(reply);
    }
    session.in_exec = false;
    // A pub/sub confirmation inside EXEC is part of EXEC's reply, not a push of its own.
    session.pushing = false;
    Reply::Array(replies)
}

const TX: Flags = Flags::NOSCRIPT
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::ALLOW_BUSY);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: TX,
        acl: &["fast", "transaction"],
        group: "transactions",
        since: "1.2.0",
        summary: "Starts a transaction.",
        ..CommandSpec::base("multi", 1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::SKIP_SLOWLOG),
        acl: &["slow", "transaction"],
        group: "transactions",
        since: "1.2.0",
        summary: "Executes all commands in a transaction.",
        ..CommandSpec::base("exec", 1, Handler::Server)
    },
    CommandSpec {
        flags: TX,
        acl: &["fast", "transaction"],
        group: "transactions",
        since: "2.0.0",
        summary: "Discards a transaction.",
        ..CommandSpec::base("discard", 1, Handler::Server)
    },
    CommandSpec {
        flags: TX,
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["fast", "transaction"],
        group: "transactions",
        since: "2.2.0",
        summary: "Monitors changes to keys to determine the execution of a transaction.",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("watch", -2, Handler::Server)
    },
    CommandSpec {
        flags: TX,
        acl: &["fast", "transaction"],
        group: "transactions",
        since: "2.2.0",
        summary: "Forgets about watched keys of a transaction.",
        ..CommandSpec::base("unwatch", 1, Handler::Server)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("multi", multi),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];
