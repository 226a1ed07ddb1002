//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, RESET, READONLY, READWRITE.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::{is, parse_i64};
use flotilla_storage::{CommandSpec, Flags, Handler, DATABASES};
use std::sync::atomic::Ordering;

use super::ServerFn;
use crate::errors;
use crate::session::{ReplyMode, Session};

/// The Redis version we present; clients choose code paths from it (see DESIGN.md).
pub const REDIS_VERSION: &str = "7.2.4";

fn ping(session: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        return flotilla_storage::errors::wrong_arity("ping");
    }
    if session.is_subscribed() && !session.resp3 {
        let payload = args.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"pong")),
            Reply::Bulk(payload),
        ]);
    }
    match args.get(1) {
        Some(payload) => Reply::Bulk(payload.clone()),
        None => Reply::simple("PONG"),
    }
}

fn echo(_session: &mut Session, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

fn quit(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.closing = true;
    session.reply_mode = ReplyMode::On;
    Reply::ok()
}

fn select(session: &mut Session, args: &[Bytes]) -> Reply {
    let Some(db) = parse_i64(&args[1]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    if db < 0 || db >= DATABASES as i64 {
        return Reply::error(errors::DB_INDEX_OUT_OF_RANGE);
    }
    session.db = db as usize;
    session.client.db.store(db as usize, Ordering::Relaxed);
    Reply::ok()
}

/// Authenticates the connection as `user` if it exists, is enabled and accepts the
/// password; a refusal goes to the ACL LOG (its object is the command as sent, as Redis's).
fn check_password(session: &mut Session, command: &Bytes, user: &[u8], password: &[u8]) -> bool {
    let name = String::from_utf8_lossy(user);
    match session.node.acl.user(&name).filter(|u| u.accepts(password)) {
        Some(user) => {
            session.login(user);
            true
        }
        None => {
            session.acl_log("auth", String::from_utf8_lossy(command).into_owned(), name.into_owned());
            false
        }
    }
}

fn auth(session: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error(errors::SYNTAX);
    }
    let default_nopass = session.node.acl.user("default").is_some_and(|u| u.nopass);
    if args.len() == 2 && default_nopass {
        return Reply::error(errors::AUTH_NOT_CONFIGURED);
    }
    let (user, password) = if args.len() == 3 {
        (&args[1][..], &args[2][..])
    } else {
        (&b"default"[..], &args[1][..])
    };
    if check_password(session, &args[0], user, password) {
        Reply::ok()
    } else {
        Reply::error(errors::WRONGPASS)
    }
}

fn hello(session: &mut Session, args: &[Bytes]) -> Reply {
    let mut protocol = if session.resp3 { 3 } else { 2 };
    let mut position = 1;
    if let Some(version) = args.get(1) {
        match parse_i64(version) {
            Some(v @ (2 | 3)) => protocol = v,
            Some(_) => return Reply::error(errors::NOPROTO),
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
        }
        position = 2;
    }
    let mut name = None;
    while position < args.len() {
        let remaining = args.len() - position - 1;
        if is(&args[position], "AUTH") && remaining >= 2 {
            if !check_password(session, &args[0], &args[position + 1], &args[position + 2]) {
                return Reply::error(errors::WRONGPASS);
            }
            position += 3;
        } else if is(&args[position], "SETNAME") && remaining >= 1 {
            if let Err(reply) = crate::commands::admin::validate_client_name(&args[position + 1]) {
                return reply;
            }
            name = Some(args[position + 1].clone());
            position += 2;
        } else {
            return Reply::error_owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[position])
            ));
        }
    }
    if !session.authenticated {
        return Reply::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = name {
        *session.client.name.lock() = (!name.is_empty()).then_some(name);
    }
    session.resp3 = protocol == 3;
    session.client.resp.store(protocol as u8, Ordering::Relaxed);
    let text = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    Reply::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(REDIS_VERSION)),
        (text("proto"), Reply::Int(protocol)),
        (text("id"), Reply::Int(session.client.id as i64)),
        (text("mode"), text(if session.node.cluster_enabled() { "cluster" } else { "standalone" })),
        (text("role"), text("master")),
        (text("modules"), Reply::Array(Vec::new())),
    ])
}

/// READONLY: this connection's keyspace reads are served from the local node's applied state,
/// without a read barrier, even on a follower (they may be stale). Writes still go to the leader.
fn readonly(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.readonly = true;
    Reply::ok()
}

/// READWRITE: back to linearizable reads.
fn readwrite(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.readonly = false;
    Reply::ok()
}

fn reset(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.end_multi();
    session.readonly = false;
    crate::commands::pubsub::unsubscribe_all(session);
    crate::commands::monitor::stop(session);
    session.node.tracking.disable(&session.client);
    session.client.no_evict.store(false, Ordering::Relaxed);
    session.client.no_touch.store(false, Ordering::Relaxed);
    session.db = 0;
    session.client.db.store(0, Ordering::Relaxed);
    session.resp3 = false;
    session.client.resp.store(2, Ordering::Relaxed);
    session.reply_mode = ReplyMode::On;
    *session.client.name.lock() = None;
    session.login_default();
    Reply::simple("RESET")
}

const CONNECTION: &[&str] = &["fast", "connection"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: Flags::FAST.union(Flags::STALE).union(Flags::LOADING),
        acl: CONNECTION,
        group: "connection",
        summary: "Returns the server's liveliness response.",
        syntax: "[message]",
        ..CommandSpec::base("ping", -1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::FAST.union(Flags::STALE).union(Flags::LOADING),
        acl: CONNECTION,
        group: "connection",
        summary: "Returns the given string.",
        syntax: "message",
        ..CommandSpec::base("echo", 2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::FAST
            .union(Flags::STALE)
            .union(Flags::LOADING)
            .union(Flags::NO_AUTH)
            .union(Flags::ALLOW_BUSY),
        acl: CONNECTION,
        group: "connection",
        summary: "Closes the connection.",
        ..CommandSpec::base("quit", -1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::FAST.union(Flags::STALE).union(Flags::LOADING),
        acl: CONNECTION,
        group: "connection",
        summary: "Changes the selected database.",
        syntax: "index",
        ..CommandSpec::base("select", 2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::FAST)
            .union(Flags::NO_AUTH)
            .union(Flags::ALLOW_BUSY),
        acl: &["fast", "connection"],
        group: "connection",
        since: "1.0.0",
        summary: "Authenticates the connection.",
        syntax: "[username] password",
        ..CommandSpec::base("auth", -2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::FAST)
            .union(Flags::NO_AUTH)
            .union(Flags::ALLOW_BUSY),
        acl: &["fast", "connection"],
        group: "connection",
        since: "6.0.0",
        summary: "Handshakes with the Redis server.",
        syntax: "[protover [AUTH username password] [SETNAME clientname]]",
        ..CommandSpec::base("hello", -1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::NOSCRIPT
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::FAST)
            .union(Flags::NO_AUTH)
            .union(Flags::ALLOW_BUSY),
        acl: &["fast", "connection"],
        group: "connection",
        since: "6.2.0",
        summary: "Resets the connection.",
        ..CommandSpec::base("reset", 1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::FAST.union(Flags::LOADING).union(Flags::STALE),
        acl: CONNECTION,
        group: "cluster",
        since: "3.0.0",
        summary: "Enables read-only queries for a connection to a Redis Cluster replica node.",
        ..CommandSpec::base("readonly", 1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::FAST.union(Flags::LOADING).union(Flags::STALE),
        acl: CONNECTION,
        group: "cluster",
        since: "3.0.0",
        summary: "Enables read-write queries for a connection to a Redis Cluster replica node.",
        ..CommandSpec::base("readwrite", 1, Handler::Server)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("select", select),
    ("auth", auth),
    ("hello", hello),
    ("reset", reset),
    ("readonly", readonly),
    ("readwrite", readwrite),
];
