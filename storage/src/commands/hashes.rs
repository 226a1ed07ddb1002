//! Hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HSTRLEN, HEXISTS, HKEYS, HVALS,
//! HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN.
//!
//! Also the pieces SSCAN and the random-member commands of sets share with this family: scan
//! option parsing and distinct random positions.

use bytes::Bytes;
use flotilla_protocol::Reply;
use std::collections::HashSet;

use crate::args::{self, parse_i64};
// HINCRBYFLOAT adds in x87 long double precision, exactly as INCRBYFLOAT does.
use crate::commands::strings::long_double::LongDouble;
use crate::ctx::{class, Ctx};
use crate::errors;
use crate::glob;
use crate::scan;
use crate::table::{CommandSpec, Flags, Handler, KeyFlags};
use crate::value::{stored, HashValue, Value};

/// Largest number of elements a random-count reply (HRANDFIELD, SRANDMEMBER with a negative
/// count) may hold: the reply is built in memory, so an absurd count must not exhaust it.
pub(crate) const RANDOM_REPLY_LEN_MAX: u64 = 1 << 24;

/// The hash at `key` for reading: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
pub fn get_hash<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c HashValue>, Reply> {
    match ctx.db_ref().get(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::Hash(hash)) => Ok(Some(hash)),
        Some(_) => Err(Reply::error(errors::WRONGTYPE)),
    }
}

/// The hash at `key` for a write that will change it, created empty if absent. Callers check
/// the type first (with `get_hash`) so that a wrong type never reaches here.
fn hash_for_write<'c>(ctx: &'c mut Ctx, key: &Bytes) -> &'c mut HashValue {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    if db.get_mut(key, now_ms).is_none() {
        db.insert(stored(key), Value::new_hash());
    }
    match db.get_mut(key, now_ms) {
        Some(Value::Hash(hash)) => hash,
        _ => unreachable!("type checked before writing"),
    }
}


/// Field/value pairs for HRANDFIELD WITHVALUES: nested in RESP3, flat in RESP2.
fn pairs(items: Vec<(Bytes, Bytes)>) -> Reply {
    Reply::Pairs(
        items
            .into_iter()
            .map(|(field, value)| (Reply::Bulk(field), Reply::Bulk(value)))
            .collect(),
    )
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let is_hmset = args[0].len() > 1 && args[0][1].eq_ignore_ascii_case(&b'm');
    if args.len() % 2 == 1 {
        return errors::wrong_arity(if is_hmset { "hmset" } else { "hset" });
    }
    let key = &args[1];
    if let Err(reply) = get_hash(ctx, key) {
        return reply;
    }
    let hash = hash_for_write(ctx, key);
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        if hash.insert(&pair[0], &pair[1]) {
            created += 1;
        }
    }
    ctx.notify(class::HASH, "hset", key);
    if is_hmset {
        Reply::ok()
    } else {
        Reply::Int(created)
    }
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    match get_hash(ctx, key) {
        Err(reply) => return reply,
        Ok(Some(hash)) if hash.contains_key(&args[2]) => return Reply::Int(0),
        Ok(_) => {}
    }
    hash_for_write(ctx, key).insert(&args[2], &args[3]);
    ctx.notify(class::HASH, "hset", key);
    Reply::Int(1)
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(hash) => match hash.and_then(|hash| hash.get(&args[2])) {
            Some(value) => Reply::Bulk(Bytes::copy_from_slice(value)),
            None => Reply::Nil,
        },
    }
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(hash) => Reply::Array(
            args[2..]
                .iter()
                .map(|field| match hash.and_then(|hash| hash.get(field)) {
                    Some(value) => Reply::Bulk(Bytes::copy_from_slice(value)),
                    None => Reply::Nil,
                })
                .collect(),
        ),
    }
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let any = match get_hash(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => return Reply::Int(0),
        Ok(Some(hash)) => args[2..].iter().any(|field| hash.contains_key(field)),
    };
    if !any {
        return Reply::Int(0);
    }
    let hash = hash_for_write(ctx, key);
    let mut deleted = 0;
    for field in &args[2..] {
        if hash.swap_remove(field) {
            deleted += 1;
        }
    }
    ctx.notify(class::HASH, "hdel", key);
    ctx.delete_if_empty(key);
    Reply::Int(deleted)
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(hash) => Reply::Int(hash.map_or(0, |hash| hash.len() as i64)),
    }
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(hash) => Reply::Int(
            hash.and_then(|hash| hash.get(&args[2]))
                .map_or(0, |value| value.len() as i64),
        ),
    }
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(hash) => Reply::Int(hash.is_some_and(|hash| hash.contains_key(&args[2])) as i64),
    }
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(hash)) => Reply::Array(hash.keys().map(|field| Reply::Bulk(Bytes::copy_from_slice(field))).collect()),
    }
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(hash)) => Reply::Array(hash.values().map(|value| Reply::Bulk(Bytes::copy_from_slice(value))).collect()),
    }
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_hash(ctx, &args[1]) {
        Err(reply) => reply,
        Ok(None) => Reply::Map(Vec::new()),
        Ok(Some(hash)) => Reply::Map(
            hash.iter()
                .map(|(field, value)| (Reply::Bulk(Bytes::copy_from_slice(field)), Reply::Bulk(Bytes::copy_from_slice(value))))
                .collect(),
        ),
    }
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(increment) = parse_i64(&args[3]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let current = match get_hash(ctx, key) {
        Err(reply) => return reply,
        Ok(hash) => hash.and_then(|hash| hash.get(&args[2])),
    };
    let current = match current {
        None => 0,
        Some(value) => match parse_i64(value) {
            Some(current) => current,
            None => return Reply::error(errors::HASH_NOT_INTEGER),
        },
    };
    let Some(result) = current.checked_add(increment) else {
        return Reply::error(errors::OVERFLOW);
    };
    set_field(ctx, key, &args[2], &args::bytes_of_i64(result));
    ctx.notify(class::HASH, "hincrby", key);
    Reply::Int(result)
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(increment) = LongDouble::parse(&args[3]) else {
        return Reply::error(errors::NOT_FLOAT);
    };
    if matches!(increment, LongDouble::Infinite { .. }) {
        return Reply::error(errors::HASH_INCREMENT_NAN);
    }
    let current = match get_hash(ctx, key) {
        Err(reply) => return reply,
        Ok(hash) => hash.and_then(|hash| hash.get(&args[2])),
    };
    let current = match current {
        None => LongDouble::ZERO,
        Some(value) => match LongDouble::parse(value) {
            Some(current) => current,
            None => return Reply::error(errors::HASH_NOT_FLOAT),
        },
    };
    let Some(result) = current.checked_add(increment) else {
        return Reply::error(errors::HASH_RESULT_NAN);
    };
    let text = Bytes::from(result.to_human_string());
    set_field(ctx, key, &args[2], &text);
    ctx.notify(class::HASH, "hincrbyfloat", key);
    Reply::Bulk(text)
}

/// Sets one field (creating the hash if needed); the type was checked by the caller.
fn set_field(ctx: &mut Ctx, key: &Bytes, field: &Bytes, value: &[u8]) {
    hash_for_write(ctx, key).insert(field, value);
}

/// A random count as HRANDFIELD and SRANDMEMBER parse it: any integer but i64::MIN.
pub(crate) fn parse_random_count(arg: &[u8]) -> Result<i64, Reply> {
    match parse_i64(arg) {
        None => Err(Reply::error(errors::NOT_INTEGER)),
        Some(i64::MIN) => Err(Reply::error(errors::RANDOM_COUNT_RANGE)),
        Some(count) => Ok(count),
    }
}

/// `count` distinct positions in `0..len` in random order (`count <= len`).
pub(crate) fn distinct_positions(ctx: &mut Ctx, len: usize, count: usize) -> Vec<usize> {
    debug_assert!(count <= len);
    if count.saturating_mul(3) > len {
        // Dense pick: a partial Fisher-Yates shuffle of all positions.
        let mut positions: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + ctx.random_below(len - i);
            positions.swap(i, j);
        }
        positions.truncate(count);
        positions
    } else {
        // Sparse pick: draw until enough distinct positions (expected < 1.5 draws each).
        let mut seen = HashSet::with_capacity(count);
        let mut positions = Vec::with_capacity(count);
        while positions.len() < count {
            let position = ctx.random_below(len);
            if seen.insert(position) {
                positions.push(position);
            }
        }
        positions
    }
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        let len = match get_hash(ctx, &args[1]) {
            Err(reply) => return reply,
            Ok(None) => return Reply::Nil,
            Ok(Some(hash)) => hash.len(),
        };
        // The random draw needs `ctx` mutably, so the hash is looked up again after it.
        let position = ctx.random_below(len);
        let Ok(Some(hash)) = get_hash(ctx, &args[1]) else {
            unreachable!("looked up above")
        };
        return Reply::Bulk(Bytes::copy_from_slice(hash.get_index(position).unwrap().0));
    }
    let count = match parse_random_count(&args[2]) {
        Ok(count) => count,
        Err(reply) => return reply,
    };
    let with_values = match args.len() {
        3 => false,
        4 if args::is(&args[3], "withvalues") => true,
        _ => return Reply::error(errors::SYNTAX),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Reply::error(errors::HASH_RANDOM_RANGE);
    }
    let len = match get_hash(ctx, &args[1]) {
        Err(reply) => return reply,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(hash)) => hash.len(),
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
    let Ok(Some(hash)) = get_hash(ctx, &args[1]) else {
        unreachable!()
    };
    let entry = |position: usize| {
        let (field, value) = hash.get_index(position).unwrap();
        (Bytes::copy_from_slice(field), Bytes::copy_from_slice(value))
    };
    if with_values {
        pairs(positions.into_iter().map(entry).collect())
    } else {
        Reply::Array(
            positions
                .into_iter()
                .map(|position| Reply::Bulk(entry(position).0))
                .collect(),
        )
    }
}

/// The options of HSCAN, SSCAN (and ZSCAN): `[MATCH pattern] [COUNT count]`.
pub(crate) struct ScanOptions {
    pub pattern: Option<Bytes>,
    pub count: usize,
}

/// Parses a cursor as Redis does with `strtoul`: optional sign then decimal digits, a negative
/// value wrapping around (`-1` is 2^64-1), the empty string being 0; anything else, or a value
/// beyond 64 bits, is "invalid cursor".
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::error(errors::INVALID_CURSOR_SCAN);
    if arg.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for &digit in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add((digit - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if negative { value.wrapping_neg() } else { value })
}

/// Parses the options after `key cursor` (`options` starts at the first option).
pub(crate) fn parse_scan_options(options: &[Bytes]) -> Result<ScanOptions, Reply> {
    let mut parsed = ScanOptions {
        pattern: None,
        count: 10,
    };
    let mut i = 0;
    while i < options.len() {
        let more = options.len() - i >= 2;
        if more && args::is(&options[i], "count") {
            let Some(count) = parse_i64(&options[i + 1]) else {
                return Err(Reply::error(errors::NOT_INTEGER));
            };
            if count < 1 {
                return Err(Reply::error(errors::SYNTAX));
            }
            parsed.count = usize::try_from(count).unwrap_or(usize::MAX);
        } else if more && args::is(&options[i], "match") {
            let pattern = &options[i + 1];
            // "*" matches everything: no filtering needed.
            parsed.pattern = (&pattern[..] != b"*").then(|| pattern.clone());
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        i += 2;
    }
    Ok(parsed)
}

/// The reply of a collection scan: `[cursor, [items…]]`, the cursor as unsigned decimal.
pub(crate) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    let cursor = Bytes::copy_from_slice(itoa::Buffer::new().format(cursor).as_bytes());
    Reply::Array(vec![Reply::Bulk(cursor), Reply::Array(items)])
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cursor = match parse_cursor(&args[2]) {
        Ok(cursor) => cursor,
        Err(reply) => return reply,
    };
    let hash = match get_hash(ctx, &args[1]) {
        Err(reply) => return reply,
        Ok(None) => return scan_reply(0, Vec::new()),
        Ok(Some(hash)) => hash,
    };
    let options = match parse_scan_options(&args[3..]) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let (range, next) = scan::page(hash.len(), cursor, options.count);
    let mut items = Vec::new();
    // One pass from the page's start: a packed hash finds a position by walking to it.
    for (field, value) in hash.iter().skip(range.start).take(range.len()) {
        if let Some(pattern) = &options.pattern {
            if !glob::matches(pattern, field, false) {
                continue;
            }
        }
        items.push(Reply::Bulk(Bytes::copy_from_slice(field)));
        items.push(Reply::Bulk(Bytes::copy_from_slice(value)));
    }
    scan_reply(next, items)
}

const HASH_WRITE: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const HASH_READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);

#[allow(clippy::too_many_arguments)]
const fn hash_spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    acl: &'static [&'static str],
    since: &'static str,
    summary: &'static str,
    syntax: &'static str,
    handler: crate::table::KeyspaceFn,
) -> CommandSpec {
    CommandSpec {
        flags,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl,
        group: "hash",
        since,
        summary,
        syntax,
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

const WRITE_FAST: &[&str] = &["write", "hash", "fast"];
const READ_FAST: &[&str] = &["read", "hash", "fast"];
const READ_SLOW: &[&str] = &["read", "hash", "slow"];

pub const COMMANDS: &[CommandSpec] = &[
    hash_spec(
        "hset",
        -4,
        HASH_WRITE,
        WRITE_FAST,
        "2.0.0",
        "Creates or modifies the value of a field in a hash.",
        "key field value [field value ...]",
        hset,
    ).with_key_flags(&[KeyFlags::RW_UPDATE]),
    hash_spec(
        "hsetnx",
        4,
        HASH_WRITE,
        WRITE_FAST,
        "2.0.0",
        "Sets the value of a field in a hash only when the field doesn't exist.",
        "key field value",
        hsetnx,
    ).with_key_flags(&[KeyFlags::RW_INSERT]),
    hash_spec(
        "hmset",
        -4,
        HASH_WRITE,
        WRITE_FAST,
        "2.0.0",
        "Sets the values of multiple fields.",
        "key field value [field value ...]",
        hset,
    ).with_key_flags(&[KeyFlags::RW_UPDATE]),
    hash_spec(
        "hget",
        3,
        HASH_READ_FAST,
        READ_FAST,
        "2.0.0",
        "Returns the value of a field in a hash.",
        "key field",
        hget,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    hash_spec(
        "hmget",
        -3,
        HASH_READ_FAST,
        READ_FAST,
        "2.0.0",
        "Returns the values of all fields in a hash.",
        "key field [field ...]",
        hmget,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    hash_spec(
        "hdel",
        -3,
        Flags::WRITE.union(Flags::FAST),
        WRITE_FAST,
        "2.0.0",
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        "key field [field ...]",
        hdel,
    ).with_key_flags(&[KeyFlags::RW_DELETE]),
    hash_spec(
        "hlen",
        2,
        HASH_READ_FAST,
        READ_FAST,
        "2.0.0",
        "Returns the number of fields in a hash.",
        "key",
        hlen,
    ).with_key_flags(&[KeyFlags::RO]),
    hash_spec(
        "hstrlen",
        3,
        HASH_READ_FAST,
        READ_FAST,
        "3.2.0",
        "Returns the length of the value of a field.",
        "key field",
        hstrlen,
    ).with_key_flags(&[KeyFlags::RO]),
    hash_spec(
        "hexists",
        3,
        HASH_READ_FAST,
        READ_FAST,
        "2.0.0",
        "Determines whether a field exists in a hash.",
        "key field",
        hexists,
    ).with_key_flags(&[KeyFlags::RO]),
    hash_spec(
        "hkeys",
        2,
        Flags::READONLY,
        READ_SLOW,
        "2.0.0",
        "Returns all fields in a hash.",
        "key",
        hkeys,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    hash_spec(
        "hvals",
        2,
        Flags::READONLY,
        READ_SLOW,
        "2.0.0",
        "Returns all values in a hash.",
        "key",
        hvals,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    hash_spec(
        "hgetall",
        2,
        Flags::READONLY,
        READ_SLOW,
        "2.0.0",
        "Returns all fields and values in a hash.",
        "key",
        hgetall,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    hash_spec(
        "hincrby",
        4,
        HASH_WRITE,
        WRITE_FAST,
        "2.0.0",
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        "key field increment",
        hincrby,
    ).with_key_flags(&[KeyFlags::RW_ACCESS_UPDATE]),
    hash_spec(
        "hincrbyfloat",
        4,
        HASH_WRITE,
        WRITE_FAST,
        "2.6.0",
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        "key field increment",
        hincrbyfloat,
    ).with_key_flags(&[KeyFlags::RW_ACCESS_UPDATE]),
    hash_spec(
        "hrandfield",
        -2,
        Flags::READONLY.union(Flags::NONDETERMINISTIC_OUTPUT),
        READ_SLOW,
        "6.2.0",
        "Returns one or more random fields from a hash.",
        "key [count [WITHVALUES]]",
        hrandfield,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
    hash_spec(
        "hscan",
        -3,
        Flags::READONLY.union(Flags::NONDETERMINISTIC_OUTPUT),
        READ_SLOW,
        "2.8.0",
        "Iterates over fields and values of a hash.",
        "key cursor [MATCH pattern] [COUNT count]",
        hscan,
    ).with_key_flags(&[KeyFlags::RO_ACCESS]),
];

#[cfg(test)]
mod tests {
    use crate::ctx::class;
    use crate::testing::{run, Harness};

    #[test]
    fn hset_hget_hmset_and_counts() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["HSET", "h", "a", "1", "b", "2"]), ":2");
        assert_eq!(run(&mut t, &["HSET", "h", "a", "10", "c", "3"]), ":1");
        assert_eq!(run(&mut t, &["HGET", "h", "a"]), "$10");
        assert_eq!(run(&mut t, &["HGET", "h", "zz"]), "nil");
        assert_eq!(run(&mut t, &["HGET", "nokey", "a"]), "nil");
        assert_eq!(run(&mut t, &["HMSET", "h", "d", "4"]), "+OK");
        assert_eq!(run(&mut t, &["HLEN", "h"]), ":4");
        assert_eq!(run(&mut t, &["HLEN", "nokey"]), ":0");
        assert_eq!(
            run(&mut t, &["HSET", "h", "a"]),
            "-ERR wrong number of arguments for 'hset' command"
        );
        assert_eq!(
            run(&mut t, &["HSET", "h", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'hset' command"
        );
        assert_eq!(
            run(&mut t, &["hmset", "h", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'hmset' command"
        );
        assert_eq!(
            run(&mut t, &["HGETALL", "h"]),
            "{$a: $10, $b: $2, $c: $3, $d: $4}"
        );
        assert_eq!(run(&mut t, &["HKEYS", "h"]), "[$a, $b, $c, $d]");
        assert_eq!(run(&mut t, &["HVALS", "h"]), "[$10, $2, $3, $4]");
        assert_eq!(run(&mut t, &["HGETALL", "nokey"]), "{}");
        assert_eq!(run(&mut t, &["HKEYS", "nokey"]), "[]");
        assert_eq!(run(&mut t, &["HMGET", "h", "a", "x", "d"]), "[$10, nil, $4]");
        assert_eq!(run(&mut t, &["HMGET", "nokey", "a", "b"]), "[nil, nil]");
        assert_eq!(run(&mut t, &["HSTRLEN", "h", "a"]), ":2");
        assert_eq!(run(&mut t, &["HSTRLEN", "h", "x"]), ":0");
        assert_eq!(run(&mut t, &["HEXISTS", "h", "a"]), ":1");
        assert_eq!(run(&mut t, &["HEXISTS", "h", "x"]), ":0");
        assert_eq!(run(&mut t, &["HEXISTS", "nokey", "x"]), ":0");
    }

    #[test]
    fn hsetnx_only_sets_missing_fields() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["HSETNX", "h", "a", "1"]), ":1");
        assert_eq!(run(&mut t, &["HSETNX", "h", "a", "2"]), ":0");
        assert_eq!(run(&mut t, &["HGET", "h", "a"]), "$1");
        assert_eq!(t.take_notifications(), vec![(class::HASH, "hset", "h".to_string())]);
    }

    #[test]
    fn no_op_writes_leave_the_watch_version() {
        let mut t = Harness::new();
        run(&mut t, &["HSET", "h", "a", "1"]);
        let before = t.machine.version(0, b"h", t.now_ms);
        run(&mut t, &["HDEL", "h", "zz"]);
        run(&mut t, &["HSETNX", "h", "a", "2"]);
        run(&mut t, &["HINCRBY", "h", "a", "x"]);
        assert_eq!(t.machine.version(0, b"h", t.now_ms), before);
        run(&mut t, &["HINCRBY", "h", "a", "1"]);
        assert_ne!(t.machine.version(0, b"h", t.now_ms), before);
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut t = Harness::new();
        run(&mut t, &["SET", "s", "x"]);
        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        for command in [
            &["HSET", "s", "a", "1"][..],
            &["HSETNX", "s", "a", "1"],
            &["HMSET", "s", "a", "1"],
            &["HGET", "s", "a"],
            &["HMGET", "s", "a"],
            &["HDEL", "s", "a"],
            &["HLEN", "s"],
            &["HSTRLEN", "s", "a"],
            &["HEXISTS", "s", "a"],
            &["HKEYS", "s"],
            &["HVALS", "s"],
            &["HGETALL", "s"],
            &["HINCRBY", "s", "a", "1"],
            &["HINCRBYFLOAT", "s", "a", "1"],
            &["HRANDFIELD", "s"],
            &["HRANDFIELD", "s", "2"],
            &["HSCAN", "s", "0"],
        ] {
            assert_eq!(run(&mut t, command), wrongtype, "{command:?}");
        }
        assert_eq!(run(&mut t, &["GET", "s"]), "$x");
    }

    #[test]
    fn hdel_deletes_the_key_when_empty() {
        let mut t = Harness::new();
        run(&mut t, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        t.events.clear();
        assert_eq!(run(&mut t, &["HDEL", "h", "x"]), ":0");
        assert_eq!(run(&mut t, &["HDEL", "nokey", "x"]), ":0");
        assert_eq!(t.take_notifications(), vec![]);
        assert_eq!(run(&mut t, &["HDEL", "h", "a", "a", "x"]), ":1");
        assert_eq!(run(&mut t, &["HDEL", "h", "b", "c", "d"]), ":2");
        assert_eq!(run(&mut t, &["EXISTS", "h"]), ":0");
        assert_eq!(
            t.take_notifications(),
            vec![
                (class::HASH, "hdel", "h".to_string()),
                (class::HASH, "hdel", "h".to_string()),
                (class::GENERIC, "del", "h".to_string()),
            ]
        );
    }

    #[test]
    fn hincrby_semantics() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["HINCRBY", "h", "n", "5"]), ":5");
        assert_eq!(run(&mut t, &["HINCRBY", "h", "n", "-7"]), ":-2");
        assert_eq!(run(&mut t, &["HGET", "h", "n"]), "$-2");
        assert_eq!(
            run(&mut t, &["HINCRBY", "h", "n", "x"]),
            "-ERR value is not an integer or out of range"
        );
        run(&mut t, &["HSET", "h", "s", " 1", "big", "9223372036854775807"]);
        assert_eq!(
            run(&mut t, &["HINCRBY", "h", "s", "1"]),
            "-ERR hash value is not an integer"
        );
        assert_eq!(
            run(&mut t, &["HINCRBY", "h", "big", "1"]),
            "-ERR increment or decrement would overflow"
        );
        assert_eq!(
            run(&mut t, &["HINCRBY", "h", "big", "-1"]),
            ":9223372036854775806"
        );
        // The increment is parsed before the key's type is checked.
        run(&mut t, &["SET", "str", "1"]);
        assert_eq!(
            run(&mut t, &["HINCRBY", "str", "f", "x"]),
            "-ERR value is not an integer or out of range"
        );
        t.events.clear();
        run(&mut t, &["HINCRBY", "h", "n", "1"]);
        assert_eq!(t.take_notifications(), vec![(class::HASH, "hincrby", "h".to_string())]);
    }

    #[test]
    fn hincrbyfloat_semantics() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["HINCRBYFLOAT", "h", "f", "10.5"]), "$10.5");
        assert_eq!(run(&mut t, &["HINCRBYFLOAT", "h", "f", "0.1"]), "$10.6");
        run(&mut t, &["HSET", "h", "g", "1.23"]);
        assert_eq!(run(&mut t, &["HINCRBYFLOAT", "h", "g", "0.77"]), "$2");
        assert_eq!(run(&mut t, &["HINCRBYFLOAT", "h", "g", "-0.1"]), "$1.9");
        assert_eq!(
            run(&mut t, &["HINCRBYFLOAT", "h", "g", "1e3"]),
            "$1001.90000000000000002"
        );
        // Long double precision: f64 would give 3.3000000000000003.
        run(&mut t, &["HSET", "h", "x", "1.1"]);
        assert_eq!(run(&mut t, &["HINCRBYFLOAT", "h", "x", "2.2"]), "$3.3");
        assert_eq!(run(&mut t, &["HINCRBYFLOAT", "h", "hex", "0x10"]), "$16");
        assert_eq!(
            run(&mut t, &["HINCRBYFLOAT", "h", "g", "abc"]),
            "-ERR value is not a valid float"
        );
        assert_eq!(
            run(&mut t, &["HINCRBYFLOAT", "new", "f", "+inf"]),
            "-ERR value is NaN or Infinity"
        );
        assert_eq!(run(&mut t, &["EXISTS", "new"]), ":0");
        run(
            &mut t,
            &["HSET", "h", "bad", "1 ", "nul", "1\u{0}2", "huge", "1.1e4932"],
        );
        assert_eq!(
            run(&mut t, &["HINCRBYFLOAT", "h", "bad", "1"]),
            "-ERR hash value is not a float"
        );
        assert_eq!(
            run(&mut t, &["HINCRBYFLOAT", "h", "nul", "1"]),
            "-ERR hash value is not a float"
        );
        assert_eq!(
            run(&mut t, &["HINCRBYFLOAT", "h", "huge", "1e4932"]),
            "-ERR increment would produce NaN or Infinity"
        );
        t.events.clear();
        run(&mut t, &["HINCRBYFLOAT", "h", "f", "1"]);
        assert_eq!(
            t.take_notifications(),
            vec![(class::HASH, "hincrbyfloat", "h".to_string())]
        );
    }

    #[test]
    fn hash_on_expired_key_starts_fresh() {
        let mut t = Harness::new();
        run(&mut t, &["HSET", "h", "a", "1"]);
        let now = t.now_ms;
        t.machine.keyspace.dbs[0].set_expire_at(b"h", Some(now + 1000), now);
        t.now_ms += 1000;
        assert_eq!(run(&mut t, &["HGET", "h", "a"]), "nil");
        assert_eq!(run(&mut t, &["HSET", "h", "b", "2"]), ":1");
        assert_eq!(run(&mut t, &["HGETALL", "h"]), "{$b: $2}");
    }

    #[test]
    fn hrandfield_shapes_and_errors() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["HRANDFIELD", "nokey"]), "nil");
        assert_eq!(run(&mut t, &["HRANDFIELD", "nokey", "3"]), "[]");
        run(&mut t, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let one = run(&mut t, &["HRANDFIELD", "h"]);
        assert!(["$a", "$b", "$c"].contains(&one.as_str()), "{one}");
        assert_eq!(run(&mut t, &["HRANDFIELD", "h", "0"]), "[]");
        assert_eq!(run(&mut t, &["HRANDFIELD", "h", "5"]), "[$a, $b, $c]");
        assert_eq!(
            run(&mut t, &["HRANDFIELD", "h", "5", "WITHVALUES"]),
            "[$a, $1, $b, $2, $c, $3]"
        );
        let two = run(&mut t, &["HRANDFIELD", "h", "2"]);
        assert_eq!(two.matches('$').count(), 2);
        let many = run(&mut t, &["HRANDFIELD", "h", "-10", "withvalues"]);
        assert_eq!(many.matches('$').count(), 20);
        assert_eq!(
            run(&mut t, &["HRANDFIELD", "h", "1", "bogus"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["HRANDFIELD", "h", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            run(&mut t, &["HRANDFIELD", "h", "-9223372036854770000", "withvalues"]),
            "-ERR value is out of range"
        );
        assert_eq!(
            run(&mut t, &["HRANDFIELD", "h", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
    }

    #[test]
    fn hrandfield_positive_count_is_distinct() {
        let mut t = Harness::new();
        for i in 0..100 {
            run(&mut t, &["HSET", "h", &format!("f{i}"), "v"]);
        }
        for count in ["5", "50", "99"] {
            let reply = run(&mut t, &["HRANDFIELD", "h", count]);
            let items: Vec<&str> = reply.trim_matches(['[', ']']).split(", ").collect();
            let distinct: std::collections::HashSet<_> = items.iter().collect();
            assert_eq!(items.len(), count.parse::<usize>().unwrap());
            assert_eq!(distinct.len(), items.len());
        }
    }

    #[test]
    fn hscan_pages_and_filters() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["HSCAN", "nokey", "0"]), "[$0, []]");
        for i in 0..25 {
            run(&mut t, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let reply = t.command(&[b"HSCAN", b"h", cursor.as_bytes(), b"COUNT", b"7"]);
            let flotilla_protocol::Reply::Array(parts) = reply else {
                panic!()
            };
            let flotilla_protocol::Reply::Bulk(next) = &parts[0] else {
                panic!()
            };
            let flotilla_protocol::Reply::Array(items) = &parts[1] else {
                panic!()
            };
            for pair in items.chunks(2) {
                let (flotilla_protocol::Reply::Bulk(f), flotilla_protocol::Reply::Bulk(v)) =
                    (&pair[0], &pair[1])
                else {
                    panic!()
                };
                assert_eq!(&f[1..], &v[1..]);
                seen.insert(f.clone());
            }
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 25);
        assert_eq!(
            run(&mut t, &["HSCAN", "h", "0", "MATCH", "f1*", "COUNT", "100"]),
            "[$0, [$f1, $v1, $f10, $v10, $f11, $v11, $f12, $v12, $f13, $v13, $f14, $v14, $f15, $v15, $f16, $v16, $f17, $v17, $f18, $v18, $f19, $v19]]"
        );
        assert_eq!(run(&mut t, &["HSCAN", "h", "x"]), "-ERR invalid cursor");
        assert_eq!(run(&mut t, &["HSCAN", "h", "-"]), "-ERR invalid cursor");
        assert_eq!(run(&mut t, &["HSCAN", "h", " 0"]), "-ERR invalid cursor");
        assert_eq!(
            run(&mut t, &["HSCAN", "h", "18446744073709551616"]),
            "-ERR invalid cursor"
        );
        assert_eq!(super::parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(super::parse_cursor(b"+7"), Ok(7));
        assert_eq!(super::parse_cursor(b""), Ok(0));
        assert_eq!(
            run(&mut t, &["HSCAN", "h", "0", "COUNT", "0"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["HSCAN", "h", "0", "COUNT", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["HSCAN", "h", "0", "MATCH"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["HSCAN", "h", "0", "NOVALUES"]), "-ERR syntax error");
    }
}
