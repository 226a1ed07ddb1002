//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
//! SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN.
//!
//! Sets keep insertion order (with `swap_remove` on removal), so replies list members in an
//! order that depends only on the operation history; Redis leaves that order unspecified.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::parse_i64;
use crate::commands::hashes::{
    distinct_positions, parse_cursor, parse_random_count, parse_scan_options, scan_reply,
    RANDOM_REPLY_LEN_MAX,
};
use crate::ctx::{class, Ctx};
use crate::errors;
use crate::glob;
use crate::scan;
use crate::table::{keys_after_numkeys, CommandSpec, Flags, Handler, KeyFlags};
use crate::value::{stored, SetValue, Value};

/// The set at `key` for reading: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
pub fn get_set<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c SetValue>, Reply> {
    match ctx.db_ref().get(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::Set(set)) => Ok(Some(set)),
        Some(_) => Err(Reply::error(errors::WRONGTYPE)),
    }
}

/// The set at `key` for a write that will change it, created empty if absent. Callers check
/// the type first (with `get_set`) so that a wrong type never reaches here.
fn set_for_write<'c>(ctx: &'c mut Ctx, key: &Bytes) -> &'c mut SetValue {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    if db.get_mut(key, now_ms).is_none() {
        db.insert(stored(key), Value::new_set());
    }
    match db.get_mut(key, now_ms) {
        Some(Value::Set(set)) => set,
        _ => unreachable!("type checked before writing"),
    }
}


fn new_set() -> SetValue {
    SetValue::new()
}

fn members_reply<'a>(members: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Set(members.map(|member| Reply::Bulk(Bytes::copy_from_slice(member))).collect())
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    match get_set(ctx, key) {
        Err(reply) => return reply,
        // Nothing new: leave the key untouched (WATCH must not see a change).
        Ok(Some(set)) if args[2..].iter().all(|member| set.contains(member)) => return Reply::Int(0),
        Ok(_) => {}
    }
    let set = set_for_write(ctx, key);
    let mut added = 0;
    for member in &args[2..] {
        if set.insert(member) {
            added += 1;
        }
    }
    if added > 0 {
        ctx.notify(class::SET, "sadd", key);
    }
    Reply::Int(added)
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    match get_set(ctx, key) {
        Err(reply) => return reply,
        Ok(Some(set)) if args[2..].iter().any(|member| set.contains(member)) => {}
        Ok(_) => return Reply::Int(0),
    }
    let set = set_for_write(ctx, key);
    let removed = args[2..].iter().filter(|member| set.swap_remove(member)).count();
    ctx.notify(class::SET, "srem", key);
    ctx.delete_if_empty(key);
    Reply::Int(removed as i64)
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_set(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some(set)) => members_reply(set.iter()),
    }
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_set(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(set) => Reply::Int(set.is_some_and(|set| set.contains(&args[2])) as i64),
    }
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_set(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(set) => Reply::Array(
            args[2..]
                .iter()
                .map(|member| Reply::Int(set.is_some_and(|set| set.contains(member)) as i64))
                .collect(),
        ),
    }
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_set(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(set) => Reply::Int(set.map_or(0, |set| set.len() as i64)),
    }
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    if args.len() > 3 {
        return Reply::error(errors::SYNTAX);
    }
    let count = if args.len() == 3 {
        match parse_i64(&args[2]) {
            Some(count) if count >= 0 => Some(count as u64),
            _ => return Reply::error(errors::NOT_POSITIVE),
        }
    } else {
        None
    };
    let len = match get_set(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => {
            return match count {
                None => Reply::Nil,
                Some(_) => Reply::Set(Vec::new()),
            }
        }
        Ok(Some(set)) => set.len(),
    };
    let Some(count) = count else {
        let position = ctx.random_below(len);
        let member = set_for_write(ctx, key).swap_remove_index(position).unwrap();
        ctx.notify(class::SET, "spop", key);
        ctx.delete_if_empty(key);
        return Reply::Bulk(member);
    };
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    ctx.notify(class::SET, "spop", key);
    if count >= len as u64 {
        let now_ms = ctx.now_ms;
        let Some(Value::Set(set)) = ctx.db().remove(key, now_ms) else {
            unreachable!("type checked above")
        };
        ctx.notify(class::GENERIC, "del", key);
        return members_reply(set.iter());
    }
    let positions = distinct_positions(ctx, len, count as usize);
    let set = set_for_write(ctx, key);
    let members: Vec<Bytes> = positions
        .into_iter()
        .map(|position| Bytes::copy_from_slice(set.get_index(position).unwrap()))
        .collect();
    for member in &members {
        set.swap_remove(member);
    }
    members_reply(members.iter().map(|member| &member[..]))
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    if args.len() > 3 {
        return Reply::error(errors::SYNTAX);
    }
    if args.len() == 2 {
        let len = match get_set(ctx, key) {
            Err(reply) => return reply,
            Ok(None) => return Reply::Nil,
            Ok(Some(set)) => set.len(),
        };
        let position = ctx.random_below(len);
        let Ok(Some(set)) = get_set(ctx, key) else {
            unreachable!()
        };
        return Reply::Bulk(Bytes::copy_from_slice(set.get_index(position).unwrap()));
    }
    let count = match parse_random_count(&args[2]) {
        Ok(count) => count,
        Err(reply) => return reply,
    };
    let len = match get_set(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(set)) => set.len(),
    };
    if count == 0 {
        return Reply::Array(Vec::new());
    }
    let positions: Vec<usize> = if count < 0 {
        let picks = count.unsigned_abs();
        if picks > RANDOM_REPLY_LEN_MAX {
            return Reply::error(errors::RANDOM_REPLY_TOO_LARGE);
        }
        (0..picks).map(|_| ctx.random_below(len)).collect()
    } else if count as u64 >= len as u64 {
        (0..len).collect()
    } else {
        distinct_positions(ctx, len, count as usize)
    };
    let Ok(Some(set)) = get_set(ctx, key) else {
        unreachable!()
    };
    Reply::Array(
        positions
            .into_iter()
            .map(|position| Reply::Bulk(Bytes::copy_from_slice(set.get_index(position).unwrap())))
            .collect(),
    )
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (source, destination, member) = (&args[1], &args[2], &args[3]);
    // A missing source answers 0 before the destination's type is looked at (as Redis).
    let in_source = match get_set(ctx, source) {
        Err(reply) => return reply,
        Ok(None) => return Reply::Int(0),
        Ok(Some(set)) => set.contains(member),
    };
    if let Err(reply) = get_set(ctx, destination) {
        return reply;
    }
    if source == destination || !in_source {
        return Reply::Int(in_source as i64);
    }
    set_for_write(ctx, source).swap_remove(member);
    ctx.notify(class::SET, "srem", source);
    ctx.delete_if_empty(source);
    let in_destination = get_set(ctx, destination)
        .ok()
        .flatten()
        .is_some_and(|set| set.contains(member));
    if !in_destination {
        set_for_write(ctx, destination).insert(member);
        ctx.notify(class::SET, "sadd", destination);
    }
    Reply::Int(1)
}

/// Looks up every key as a set (a missing key is `None`), failing on the first wrong type.
fn lookup_sets<'c>(ctx: &'c Ctx, keys: &[Bytes]) -> Result<Vec<Option<&'c SetValue>>, Reply> {
    keys.iter().map(|key| get_set(ctx, key)).collect()
}

/// The intersection of `keys`, stopping once `limit` members are found (0: no limit).
fn intersection(ctx: &Ctx, keys: &[Bytes], limit: usize) -> Result<Vec<Bytes>, Reply> {
    let sets = lookup_sets(ctx, keys)?;
    let Some(mut sets) = sets.into_iter().collect::<Option<Vec<_>>>() else {
        // A missing key is an empty set: the intersection is empty.
        return Ok(Vec::new());
    };
    // Walking the smallest set makes the intersection cheapest.
    sets.sort_by_key(|set| set.len());
    let mut result = Vec::new();
    for member in sets[0].iter() {
        if sets[1..].iter().all(|set| set.contains(member)) {
            result.push(Bytes::copy_from_slice(member));
            if limit != 0 && result.len() >= limit {
                break;
            }
        }
    }
    Ok(result)
}

fn union(ctx: &Ctx, keys: &[Bytes]) -> Result<SetValue, Reply> {
    let sets = lookup_sets(ctx, keys)?;
    let mut result = new_set();
    for set in sets.into_iter().flatten() {
        result.extend(set.iter());
    }
    Ok(result)
}

fn difference(ctx: &Ctx, keys: &[Bytes]) -> Result<SetValue, Reply> {
    let sets = lookup_sets(ctx, keys)?;
    let mut result = new_set();
    let Some(first) = sets[0] else {
        return Ok(result);
    };
    let others: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
    for member in first.iter() {
        if !others.iter().any(|set| set.contains(member)) {
            result.insert(member);
        }
    }
    Ok(result)
}

/// Stores `members` at `destination` (replacing any value and TTL), or deletes it when empty.
fn store(ctx: &mut Ctx, destination: &Bytes, members: SetValue, event: &'static str) -> Reply {
    let now_ms = ctx.now_ms;
    let len = members.len() as i64;
    if members.is_empty() {
        if ctx.db().remove(destination, now_ms).is_some() {
            ctx.notify(class::GENERIC, "del", destination);
        }
        return Reply::Int(0);
    }
    // Members are clones of stored members, never of arguments: no copy needed.
    ctx.db().insert(stored(destination), Value::Set(Box::new(members)));
    ctx.notify(class::SET, event, destination);
    Reply::Int(len)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match intersection(ctx, &args[1..], 0) {
        Ok(members) => members_reply(members.iter().map(|member| &member[..])),
        Err(reply) => reply,
    }
}

fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let numkeys = match parse_i64(&args[1]) {
        Some(numkeys) if numkeys >= 1 => numkeys as u64,
        _ => return Reply::error(errors::SET_NUMKEYS_POSITIVE),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Reply::error(errors::SET_NUMKEYS_TOO_MANY);
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0;
    let mut i = keys_end;
    while i < args.len() {
        if crate::args::is(&args[i], "limit") && i + 1 < args.len() {
            match parse_i64(&args[i + 1]) {
                Some(value) if value >= 0 => limit = value as usize,
                _ => return Reply::error(errors::SET_LIMIT_NEGATIVE),
            }
            i += 2;
        } else {
            return Reply::error(errors::SYNTAX);
        }
    }
    match intersection(ctx, &args[2..keys_end], limit) {
        Ok(members) => Reply::Int(members.len() as i64),
        Err(reply) => reply,
    }
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match intersection(ctx, &args[2..], 0) {
        Ok(members) => {
            let mut set = SetValue::with_capacity(members.len());
            set.extend(members.iter().map(|member| &member[..]));
            store(ctx, &args[1], set, "sinterstore")
        }
        Err(reply) => reply,
    }
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match union(ctx, &args[1..]) {
        Ok(members) => members_reply(members.iter()),
        Err(reply) => reply,
    }
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match union(ctx, &args[2..]) {
        Ok(members) => store(ctx, &args[1], members, "sunionstore"),
        Err(reply) => reply,
    }
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match difference(ctx, &args[1..]) {
        Ok(members) => members_reply(members.iter()),
        Err(reply) => reply,
    }
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match difference(ctx, &args[2..]) {
        Ok(members) => store(ctx, &args[1], members, "sdiffstore"),
        Err(reply) => reply,
    }
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cursor = match parse_cursor(&args[2]) {
        Ok(cursor) => cursor,
        Err(reply) => return reply,
    };
    let set = match get_set(ctx, &args[1]) {
        Err(reply) => return reply,
        Ok(None) => return scan_reply(0, Vec::new()),
        Ok(Some(set)) => set,
    };
    let options = match parse_scan_options(&args[3..]) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let (range, next) = scan::page(set.len(), cursor, options.count);
    // One pass from the page's start: a packed set finds a position by walking to it.
    let items = set
        .iter()
        .skip(range.start)
        .take(range.len())
        .filter(|member| {
            options
                .pattern
                .as_ref()
                .is_none_or(|pattern| glob::matches(pattern, member, false))
        })
        .map(|member| Reply::Bulk(Bytes::copy_from_slice(member)))
        .collect();
    scan_reply(next, items)
}

fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 1)
}

const SET_WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const SET_READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const SET_STORE: Flags = Flags::WRITE.union(Flags::DENYOOM);

const WRITE_FAST: &[&str] = &["write", "set", "fast"];
const WRITE_SLOW: &[&str] = &["write", "set", "slow"];
const READ_FAST: &[&str] = &["read", "set", "fast"];
const READ_SLOW: &[&str] = &["read", "set", "slow"];

#[allow(clippy::too_many_arguments)]
const fn set_spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: (i32, i32, i32),
    acl: &'static [&'static str],
    since: &'static str,
    summary: &'static str,
    syntax: &'static str,
    handler: crate::table::KeyspaceFn,
) -> CommandSpec {
    CommandSpec {
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        acl,
        group: "set",
        since,
        summary,
        syntax,
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

const ONE_KEY: (i32, i32, i32) = (1, 1, 1);
const ALL_KEYS: (i32, i32, i32) = (1, -1, 1);

pub const COMMANDS: &[CommandSpec] = &[
    set_spec(
        "sadd",
        -3,
        SET_WRITE_FAST.union(Flags::DENYOOM),
        ONE_KEY,
        WRITE_FAST,
        "1.0.0",
        "Adds one or more members to a set. Creates the key if it doesn't exist.",
        "key member [member ...]",
        sadd,
    ).with_key_flags(&[KeyFlags::RW_INSERT]),
    set_spec(
        "srem",
        -3,
        SET_WRITE_FAST,
        ONE_KEY,
        WRITE_FAST,
        "1.0.0",
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
        "key member [member ...]",
        srem,
    ).with_key_flags(&[KeyFlags::RW_DELETE]),
    set_spec(
        "smembers",
        2,
        Flags::READONLY,
        ONE_KEY,
        READ_SLOW,
        "1.0.0",
        "Returns all members of a set.",
        "key",
        smembers,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    set_spec(
        "sismember",
        3,
        SET_READ_FAST,
        ONE_KEY,
        READ_FAST,
        "1.0.0",
        "Determines whether a member belongs to a set.",
        "key member",
        sismember,
    ).with_key_flags(&[KeyFlags::RO]),
    set_spec(
        "smismember",
        -3,
        SET_READ_FAST,
        ONE_KEY,
        READ_FAST,
        "6.2.0",
        "Determines whether multiple members belong to a set.",
        "key member [member ...]",
        smismember,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    set_spec(
        "scard",
        2,
        SET_READ_FAST,
        ONE_KEY,
        READ_FAST,
        "1.0.0",
        "Returns the number of members in a set.",
        "key",
        scard,
    ).with_key_flags(&[KeyFlags::RO]),
    set_spec(
        "spop",
        -2,
        SET_WRITE_FAST.union(Flags::NONDETERMINISTIC_OUTPUT),
        ONE_KEY,
        WRITE_FAST,
        "1.0.0",
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        "key [count]",
        spop,
    ).with_key_flags(&[KeyFlags::RW_ACCESS_DELETE]),
    set_spec(
        "srandmember",
        -2,
        Flags::READONLY.union(Flags::NONDETERMINISTIC_OUTPUT),
        ONE_KEY,
        READ_SLOW,
        "1.0.0",
        "Get one or multiple random members from a set.",
        "key [count]",
        srandmember,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    set_spec(
        "smove",
        4,
        SET_WRITE_FAST,
        (1, 2, 1),
        WRITE_FAST,
        "1.0.0",
        "Moves a member from one set to another.",
        "source destination member",
        smove,
    ).with_key_flags(&[KeyFlags::RW_ACCESS_DELETE, KeyFlags::RW_INSERT]),
    set_spec(
        "sinter",
        -2,
        Flags::READONLY,
        ALL_KEYS,
        READ_SLOW,
        "1.0.0",
        "Returns the intersect of multiple sets.",
        "key [key ...]",
        sinter,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    CommandSpec {
        flags: Flags::READONLY.union(Flags::MOVABLE_KEYS),
        key_finder: Some(sintercard_keys),
        numkeys_index: 1,
        acl: READ_SLOW,
        group: "set",
        since: "7.0.0",
        summary: "Returns the number of members of the intersect of multiple sets.",
        syntax: "numkeys key [key ...] [LIMIT limit]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("sintercard", -3, Handler::Keyspace(sintercard))
    },
    set_spec(
        "sinterstore",
        -3,
        SET_STORE,
        ALL_KEYS,
        WRITE_SLOW,
        "1.0.0",
        "Stores the intersect of multiple sets in a key.",
        "destination key [key ...]",
        sinterstore,
    ).with_key_flags(&[KeyFlags::RW_UPDATE, KeyFlags::RO_ACCESS]),
    set_spec(
        "sunion",
        -2,
        Flags::READONLY,
        ALL_KEYS,
        READ_SLOW,
        "1.0.0",
        "Returns the union of multiple sets.",
        "key [key ...]",
        sunion,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    set_spec(
        "sunionstore",
        -3,
        SET_STORE,
        ALL_KEYS,
        WRITE_SLOW,
        "1.0.0",
        "Stores the union of multiple sets in a key.",
        "destination key [key ...]",
        sunionstore,
    ).with_key_flags(&[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS]),
    set_spec(
        "sdiff",
        -2,
        Flags::READONLY,
        ALL_KEYS,
        READ_SLOW,
        "1.0.0",
        "Returns the difference of multiple sets.",
        "key [key ...]",
        sdiff,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    set_spec(
        "sdiffstore",
        -3,
        SET_STORE,
        ALL_KEYS,
        WRITE_SLOW,
        "1.0.0",
        "Stores the difference of multiple sets in a key.",
        "destination key [key ...]",
        sdiffstore,
    ).with_key_flags(&[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS]),
    set_spec(
        "sscan",
        -3,
        Flags::READONLY.union(Flags::NONDETERMINISTIC_OUTPUT),
        ONE_KEY,
        READ_SLOW,
        "2.8.0",
        "Iterates over members of a set.",
        "key cursor [MATCH pattern] [COUNT count]",
        sscan,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
];

#[cfg(test)]
mod tests {
    use crate::ctx::class;
    use crate::testing::{run, Harness};

    fn sorted(reply: &str) -> String {
        let inner = reply.trim_start_matches('[').trim_end_matches(']');
        if inner.is_empty() {
            return "[]".into();
        }
        let mut items: Vec<&str> = inner.split(", ").collect();
        items.sort();
        format!("[{}]", items.join(", "))
    }

    const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value";

    #[test]
    fn sadd_srem_membership() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SADD", "s", "a", "b", "a"]), ":2");
        assert_eq!(run(&mut t, &["SADD", "s", "b"]), ":0");
        assert_eq!(run(&mut t, &["SCARD", "s"]), ":2");
        assert_eq!(run(&mut t, &["SCARD", "nokey"]), ":0");
        assert_eq!(run(&mut t, &["SISMEMBER", "s", "a"]), ":1");
        assert_eq!(run(&mut t, &["SISMEMBER", "s", "z"]), ":0");
        assert_eq!(run(&mut t, &["SISMEMBER", "nokey", "z"]), ":0");
        assert_eq!(run(&mut t, &["SMISMEMBER", "s", "a", "z", "b"]), "[:1, :0, :1]");
        assert_eq!(run(&mut t, &["SMISMEMBER", "nokey", "a"]), "[:0]");
        assert_eq!(run(&mut t, &["SMEMBERS", "s"]), "[$a, $b]");
        assert_eq!(run(&mut t, &["SMEMBERS", "nokey"]), "[]");
        t.events.clear();
        assert_eq!(run(&mut t, &["SREM", "s", "z"]), ":0");
        assert_eq!(run(&mut t, &["SREM", "nokey", "z"]), ":0");
        assert_eq!(run(&mut t, &["SREM", "s", "a", "z"]), ":1");
        assert_eq!(run(&mut t, &["SREM", "s", "b"]), ":1");
        assert_eq!(run(&mut t, &["EXISTS", "s"]), ":0");
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::SET, "srem", "s".into()),
                (class::SET, "srem", "s".into()),
                (class::GENERIC, "del", "s".into()),
            ]
        );
        assert_eq!(
            run(&mut t, &["SADD", "s"]),
            "-ERR wrong number of arguments for 'sadd' command"
        );
    }

    #[test]
    fn no_op_writes_leave_the_watch_version() {
        let mut t = Harness::new();
        run(&mut t, &["SADD", "s", "a", "b"]);
        run(&mut t, &["SADD", "d", "x"]);
        let version = |t: &Harness, key: &[u8]| t.machine.version(0, key, t.now_ms);
        let (before_s, before_d) = (version(&t, b"s"), version(&t, b"d"));
        for command in [
            &["SADD", "s", "a", "b"][..],
            &["SREM", "s", "z"],
            &["SMOVE", "s", "d", "z"],
            &["SMOVE", "s", "s", "a"],
            &["SPOP", "s", "0"],
        ] {
            run(&mut t, command);
        }
        assert_eq!((version(&t, b"s"), version(&t, b"d")), (before_s, before_d));
        run(&mut t, &["SADD", "s", "c"]);
        assert_ne!(version(&t, b"s"), before_s);
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut t = Harness::new();
        run(&mut t, &["SET", "str", "x"]);
        run(&mut t, &["SADD", "s", "a"]);
        for command in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "2"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "2"],
            &["SMOVE", "str", "s", "a"],
            &["SMOVE", "s", "str", "a"],
            &["SINTER", "s", "str"],
            &["SINTER", "nokey", "str"],
            &["SINTERCARD", "2", "s", "str"],
            &["SINTERSTORE", "d", "s", "str"],
            &["SUNION", "s", "str"],
            &["SUNIONSTORE", "d", "s", "str"],
            &["SDIFF", "s", "str"],
            &["SDIFF", "nokey", "str"],
            &["SDIFFSTORE", "d", "s", "str"],
            &["SSCAN", "str", "0"],
        ] {
            assert_eq!(run(&mut t, command), WRONGTYPE, "{command:?}");
        }
        // A missing source answers 0 whatever the destination holds.
        assert_eq!(run(&mut t, &["SMOVE", "nokey", "str", "a"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "d"]), ":0");
    }

    #[test]
    fn spop_single_and_counted() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SPOP", "nokey"]), "nil");
        assert_eq!(run(&mut t, &["SPOP", "nokey", "3"]), "[]");
        run(&mut t, &["SADD", "s", "a", "b", "c", "d", "e"]);
        t.events.clear();
        let one = run(&mut t, &["SPOP", "s"]);
        assert!(["$a", "$b", "$c", "$d", "$e"].contains(&one.as_str()));
        assert_eq!(run(&mut t, &["SCARD", "s"]), ":4");
        assert_eq!(run(&mut t, &["SISMEMBER", "s", &one[1..]]), ":0");
        assert_eq!(run(&mut t, &["SPOP", "s", "0"]), "[]");
        let two = run(&mut t, &["SPOP", "s", "2"]);
        assert_eq!(two.matches('$').count(), 2);
        assert_eq!(run(&mut t, &["SCARD", "s"]), ":2");
        let rest = run(&mut t, &["SPOP", "s", "10"]);
        assert_eq!(rest.matches('$').count(), 2);
        assert_eq!(run(&mut t, &["EXISTS", "s"]), ":0");
        let mut all: Vec<String> = [one.clone()]
            .into_iter()
            .chain(two.trim_matches(['[', ']']).split(", ").map(String::from))
            .chain(rest.trim_matches(['[', ']']).split(", ").map(String::from))
            .collect();
        all.sort();
        assert_eq!(all, vec!["$a", "$b", "$c", "$d", "$e"]);
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::SET, "spop", "s".into()),
                (class::SET, "spop", "s".into()),
                (class::SET, "spop", "s".into()),
                (class::GENERIC, "del", "s".into()),
            ]
        );
        assert_eq!(
            run(&mut t, &["SPOP", "s", "-1"]),
            "-ERR value is out of range, must be positive"
        );
        assert_eq!(
            run(&mut t, &["SPOP", "s", "x"]),
            "-ERR value is out of range, must be positive"
        );
        assert_eq!(run(&mut t, &["SPOP", "s", "1", "2"]), "-ERR syntax error");
    }

    #[test]
    fn spop_last_member_deletes_key() {
        let mut t = Harness::new();
        run(&mut t, &["SADD", "s", "only"]);
        t.events.clear();
        assert_eq!(run(&mut t, &["SPOP", "s"]), "$only");
        assert_eq!(run(&mut t, &["EXISTS", "s"]), ":0");
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::SET, "spop", "s".into()),
                (class::GENERIC, "del", "s".into())
            ]
        );
    }

    #[test]
    fn spop_is_deterministic_per_log_index() {
        let replay = || {
            let mut t = Harness::new();
            run(&mut t, &["SADD", "s", "a", "b", "c", "d", "e", "f", "g", "h"]);
            (0..3)
                .map(|_| run(&mut t, &["SPOP", "s", "2"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(replay(), replay());
    }

    #[test]
    fn srandmember_counts() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SRANDMEMBER", "nokey"]), "nil");
        assert_eq!(run(&mut t, &["SRANDMEMBER", "nokey", "2"]), "[]");
        run(&mut t, &["SADD", "s", "a", "b", "c"]);
        assert_eq!(run(&mut t, &["SRANDMEMBER", "s", "0"]), "[]");
        assert_eq!(sorted(&run(&mut t, &["SRANDMEMBER", "s", "5"])), "[$a, $b, $c]");
        let two = run(&mut t, &["SRANDMEMBER", "s", "2"]);
        let items: std::collections::HashSet<&str> = two.trim_matches(['[', ']']).split(", ").collect();
        assert_eq!(items.len(), 2);
        let many = run(&mut t, &["SRANDMEMBER", "s", "-20"]);
        assert_eq!(many.matches('$').count(), 20);
        assert_eq!(run(&mut t, &["SCARD", "s"]), ":3");
        assert_eq!(
            run(&mut t, &["SRANDMEMBER", "s", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            run(&mut t, &["SRANDMEMBER", "s", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["SRANDMEMBER", "s", "1", "2"]), "-ERR syntax error");
    }

    #[test]
    fn smove_cases() {
        let mut t = Harness::new();
        run(&mut t, &["SADD", "src", "a", "b"]);
        run(&mut t, &["SADD", "dst", "b"]);
        t.events.clear();
        assert_eq!(run(&mut t, &["SMOVE", "src", "dst", "z"]), ":0");
        assert_eq!(run(&mut t, &["SMOVE", "src", "src", "a"]), ":1");
        assert_eq!(run(&mut t, &["SMOVE", "src", "src", "z"]), ":0");
        assert_eq!(t.take_notifications(), vec![]);
        assert_eq!(run(&mut t, &["SMOVE", "src", "dst", "a"]), ":1");
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::SET, "srem", "src".into()),
                (class::SET, "sadd", "dst".into())
            ]
        );
        // Already in the destination: removed from the source only.
        assert_eq!(run(&mut t, &["SMOVE", "src", "dst", "b"]), ":1");
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::SET, "srem", "src".into()),
                (class::GENERIC, "del", "src".into())
            ]
        );
        assert_eq!(run(&mut t, &["EXISTS", "src"]), ":0");
        assert_eq!(sorted(&run(&mut t, &["SMEMBERS", "dst"])), "[$a, $b]");
        assert_eq!(run(&mut t, &["SMOVE", "dst", "new", "a"]), ":1");
        assert_eq!(run(&mut t, &["SMEMBERS", "new"]), "[$a]");
    }

    #[test]
    fn algebra() {
        let mut t = Harness::new();
        run(&mut t, &["SADD", "a", "1", "2", "3", "4"]);
        run(&mut t, &["SADD", "b", "2", "3", "5"]);
        run(&mut t, &["SADD", "c", "3", "2", "9"]);
        assert_eq!(sorted(&run(&mut t, &["SINTER", "a", "b", "c"])), "[$2, $3]");
        assert_eq!(run(&mut t, &["SINTER", "a", "nokey"]), "[]");
        assert_eq!(sorted(&run(&mut t, &["SINTER", "a"])), "[$1, $2, $3, $4]");
        assert_eq!(
            sorted(&run(&mut t, &["SUNION", "a", "nokey", "b"])),
            "[$1, $2, $3, $4, $5]"
        );
        assert_eq!(run(&mut t, &["SUNION", "nokey"]), "[]");
        assert_eq!(sorted(&run(&mut t, &["SDIFF", "a", "b", "nokey"])), "[$1, $4]");
        assert_eq!(run(&mut t, &["SDIFF", "a", "a"]), "[]");
        assert_eq!(run(&mut t, &["SDIFF", "nokey", "a"]), "[]");
        assert_eq!(run(&mut t, &["SINTERCARD", "2", "a", "b"]), ":2");
        assert_eq!(run(&mut t, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), ":1");
        assert_eq!(run(&mut t, &["SINTERCARD", "2", "a", "b", "limit", "0"]), ":2");
        assert_eq!(run(&mut t, &["SINTERCARD", "2", "a", "nokey"]), ":0");
        assert_eq!(
            run(&mut t, &["SINTERCARD", "0", "a"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(
            run(&mut t, &["SINTERCARD", "x", "a"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(
            run(&mut t, &["SINTERCARD", "3", "a", "b"]),
            "-ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(
            run(&mut t, &["SINTERCARD", "1", "a", "LIMIT", "-1"]),
            "-ERR LIMIT can't be negative"
        );
        assert_eq!(
            run(&mut t, &["SINTERCARD", "1", "a", "LIMIT"]),
            "-ERR syntax error"
        );
        assert_eq!(run(&mut t, &["SINTERCARD", "1", "a", "b"]), "-ERR syntax error");
    }

    #[test]
    fn store_variants() {
        let mut t = Harness::new();
        run(&mut t, &["SADD", "a", "1", "2", "3"]);
        run(&mut t, &["SADD", "b", "2", "3", "4"]);
        run(&mut t, &["SET", "d", "old"]);
        let now = t.now_ms;
        t.machine.keyspace.dbs[0].set_expire_at(b"d", Some(now + 100_000), now);
        t.events.clear();
        assert_eq!(run(&mut t, &["SINTERSTORE", "d", "a", "b"]), ":2");
        assert_eq!(sorted(&run(&mut t, &["SMEMBERS", "d"])), "[$2, $3]");
        assert_eq!(t.machine.keyspace.dbs[0].expire_at(b"d", t.now_ms), Some(None));
        assert_eq!(run(&mut t, &["SUNIONSTORE", "d", "a", "b"]), ":4");
        assert_eq!(run(&mut t, &["SDIFFSTORE", "d", "a", "b"]), ":1");
        assert_eq!(run(&mut t, &["SMEMBERS", "d"]), "[$1]");
        // The destination may be one of the sources.
        assert_eq!(run(&mut t, &["SUNIONSTORE", "a", "a", "b"]), ":4");
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::SET, "sinterstore", "d".into()),
                (class::SET, "sunionstore", "d".into()),
                (class::SET, "sdiffstore", "d".into()),
                (class::SET, "sunionstore", "a".into()),
            ]
        );
        assert_eq!(run(&mut t, &["SINTERSTORE", "d", "a", "nokey"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "d"]), ":0");
        assert_eq!(t.take_notifications(), vec![(class::GENERIC, "del", "d".into())]);
        assert_eq!(run(&mut t, &["SDIFFSTORE", "d", "nokey"]), ":0");
        assert_eq!(t.take_notifications(), vec![]);
    }

    #[test]
    fn sscan_pages() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SSCAN", "nokey", "0"]), "[$0, []]");
        for i in 0..30 {
            run(&mut t, &["SADD", "s", &i.to_string()]);
        }
        assert_eq!(
            run(&mut t, &["SSCAN", "s", "0", "COUNT", "5"]),
            "[$25, [$25, $26, $27, $28, $29]]"
        );
        assert_eq!(
            run(&mut t, &["SSCAN", "s", "0", "MATCH", "2?", "COUNT", "1000"]),
            "[$0, [$20, $21, $22, $23, $24, $25, $26, $27, $28, $29]]"
        );
        assert_eq!(run(&mut t, &["SSCAN", "s", "abc"]), "-ERR invalid cursor");
        assert_eq!(
            run(&mut t, &["SSCAN", "s", "0", "TYPE", "set"]),
            "-ERR syntax error"
        );
    }

    #[test]
    fn table_key_positions() {
        use bytes::Bytes;
        let args: Vec<Bytes> = ["SINTERCARD", "2", "a", "b", "LIMIT", "1"]
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let spec = crate::commands::lookup(b"sintercard").unwrap();
        assert_eq!(spec.key_positions(&args), vec![2, 3]);
        let spec = crate::commands::lookup(b"smove").unwrap();
        assert_eq!(spec.key_positions(&args[..4]), vec![1, 2]);
    }
}
