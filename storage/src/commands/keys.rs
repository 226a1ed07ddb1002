//! Generic key commands: DEL, EXISTS (more to come: UNLINK, TYPE, RENAME, RENAMENX, COPY,
//! EXPIRE family, TTL family, PERSIST, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB,
//! MOVE, TOUCH, OBJECT).

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::ctx::{class, Ctx};
use crate::table::{CommandSpec, Flags, Handler};

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut removed = 0;
    for key in &args[1..] {
        let now_ms = ctx.now_ms;
        if ctx.db().remove(key, now_ms).is_some() {
            removed += 1;
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Reply::Int(removed)
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    Reply::Int(
        args[1..]
            .iter()
            .filter(|key| ctx.db_ref().contains(key, now_ms))
            .count() as i64,
    )
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: Flags::WRITE,
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["keyspace", "write", "slow"],
        summary: "Deletes one or more keys.",
        syntax: "key [key ...]",
        ..CommandSpec::base("del", -2, Handler::Keyspace(del))
    },
    CommandSpec {
        flags: Flags::READONLY.union(Flags::FAST),
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["keyspace", "read", "fast"],
        since: "1.0.0",
        summary: "Determines whether one or more keys exist.",
        syntax: "key [key ...]",
        ..CommandSpec::base("exists", -2, Handler::Keyspace(exists))
    },
];
