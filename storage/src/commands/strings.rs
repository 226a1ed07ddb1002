//! String commands: GET, SET (more to come: GETEX, GETDEL, GETSET, MGET, MSET, MSETNX, SETNX,
//! SETEX, PSETEX, INCR/DECR family, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE, LCS).

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::ctx::{class, Ctx};
use crate::errors;
use crate::table::{CommandSpec, Flags, Handler};
use crate::value::{stored, Value};

/// The string at `key`: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
pub fn get_string<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c Bytes>, Reply> {
    match ctx.db_ref().get(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::Str(bytes)) => Ok(Some(bytes)),
        Some(_) => Err(Reply::error(errors::WRONGTYPE)),
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_string(ctx, &args[1]) {
        Ok(Some(value)) => Reply::Bulk(value.clone()),
        Ok(None) => Reply::Nil,
        Err(reply) => reply,
    }
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() != 3 {
        return Reply::error(errors::SYNTAX);
    }
    let key = stored(&args[1]);
    ctx.db().insert(key.clone(), Value::Str(stored(&args[2])));
    ctx.notify(class::STRING, "set", &key);
    Reply::ok()
}

const STRING_READ: Flags = Flags::READONLY.union(Flags::FAST);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: STRING_READ,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["read", "string", "fast"],
        group: "string",
        summary: "Returns the string value of a key.",
        syntax: "key",
        ..CommandSpec::base("get", 2, Handler::Keyspace(get))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "string", "slow"],
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        syntax: "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]",
        ..CommandSpec::base("set", -3, Handler::Keyspace(set))
    },
];

#[cfg(test)]
mod tests {
    use crate::testing::run;

    #[test]
    fn set_then_get() {
        let mut t = crate::testing::Harness::new();
        assert_eq!(run(&mut t, &["SET", "k", "v"]), "+OK");
        assert_eq!(run(&mut t, &["GET", "k"]), "$v");
        assert_eq!(run(&mut t, &["GET", "missing"]), "nil");
    }
}
