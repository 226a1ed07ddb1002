//! Generic key commands: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, COPY, MOVE, DUMP,
//! RESTORE, EXPIRE,
//! PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, KEYS, SCAN,
//! RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TOUCH and the OBJECT container (ENCODING,
//! FREQ, IDLETIME, REFCOUNT, HELP), SORT and SORT_RO.
//!
//! Semantics and error texts are Redis 7.2's. Expiry decisions use the entry's time only:
//! relative TTLs become absolute on apply, and an expiry time at or before that time deletes
//! the key (with a `del` notification, as Redis does). Commands that reach another database
//! (COPY … DB, MOVE, SWAPDB, FLUSHALL) stamp that database's changes with the entry's index so
//! WATCH sees them; whole-database changes are announced with `Event::DbChanged`.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{is, parse_i64};
use crate::ctx::{class, Ctx, Event};
use crate::db::{EncodingLimits, DATABASES};
use crate::errors;
use crate::glob;
use crate::scan;
use crate::table::{CommandSpec, Flags, Handler, KeyFlags, KeySearch};
use crate::value::{stored, Value};

// --- shared helpers ---

/// Redis's `getIntFromObjectOrReply`: an integer that fits a C `int`. `message` replaces
/// both the not-an-integer and the out-of-range error when given (SWAPDB does that).
fn parse_int(arg: &[u8], message: Option<&'static str>) -> Result<i64, Reply> {
    let Some(value) = parse_i64(arg) else {
        return Err(Reply::error(message.unwrap_or(errors::NOT_INTEGER)));
    };
    if value < i32::MIN as i64 || value > i32::MAX as i64 {
        return Err(Reply::error(message.unwrap_or(errors::INT_OUT_OF_RANGE)));
    }
    Ok(value)
}

/// A database number given as an argument: an integer, then in `0..DATABASES`.
fn parse_db_index(arg: &[u8], message: Option<&'static str>) -> Result<usize, Reply> {
    let index = parse_int(arg, message)?;
    if index < 0 || index >= DATABASES as i64 {
        return Err(Reply::error(errors::DB_INDEX_OUT_OF_RANGE));
    }
    Ok(index as usize)
}

/// Pushes a generic keyspace notification for any database (MOVE and COPY reach others).
fn notify_in(ctx: &mut Ctx, db: usize, event: &'static str, key: &Bytes) {
    ctx.notify_in(db, class::GENERIC, event, key);
}

/// The `new` event Redis emits whenever a key is added (RENAME, COPY and MOVE add theirs
/// after removing any key of that name, so it is always new).
fn notify_new(ctx: &mut Ctx, db: usize, key: &Bytes) {
    ctx.notify_in(db, class::NEW, "new", key);
}

/// A key was created with a value that blocked clients may wait for (Redis's dbAdd signals
/// every new key; only lists and sorted sets have blocking readers here).
fn signal_if_blocking_type(ctx: &mut Ctx, db: usize, key: &Bytes, value: &Value) {
    if matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_)) {
        ctx.signal_ready_in(db, key);
    }
}

// --- DEL, UNLINK, EXISTS, TYPE, TOUCH ---

/// DEL and UNLINK (there is no lazy freeing to choose: both delete at once).
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let mut removed = 0;
    for key in &args[1..] {
        if ctx.db().remove(key, now_ms).is_some() {
            removed += 1;
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Reply::Int(removed)
}

/// EXISTS and TOUCH: how many of the keys exist (a key named twice counts twice).
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    Reply::Int(
        args[1..]
            .iter()
            .filter(|key| ctx.db_ref().contains(key, now_ms))
            .count() as i64,
    )
}

fn type_(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.db_ref().get(&args[1], ctx.now_ms) {
        Some(value) => Reply::simple(value.type_name()),
        None => Reply::simple("none"),
    }
}

// --- RENAME, RENAMENX, COPY, MOVE ---

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, true)
}

/// Moves the value and its TTL to the new name; the target's own TTL is dropped with it.
fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let now_ms = ctx.now_ms;
    let (source, target) = (&args[1], &args[2]);
    let db = ctx.db();
    db.expire_if_needed(source, now_ms);
    let Some(expire_at_ms) = db.expire_at(source, now_ms) else {
        return Reply::error(errors::NO_SUCH_KEY);
    };
    if source == target {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    db.expire_if_needed(target, now_ms);
    if nx && db.contains(target, now_ms) {
        return Reply::Int(0);
    }
    let floor = db.encoding_floor(source, now_ms);
    // The value keeps its access time or counter, as Redis moves the object itself.
    let access = db.access_word(source, now_ms);
    let value = db.remove(source, now_ms).expect("source checked live above");
    db.remove(target, now_ms);
    let target_key = stored(target);
    let ready = matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
    db.insert_with_expiry(target_key.clone(), value, expire_at_ms);
    db.raise_encoding_floor(&target_key, floor);
    if let Some(word) = access {
        db.set_access_word(&target_key, word);
    }
    ctx.notify(class::NEW, "new", &target_key);
    ctx.notify(class::GENERIC, "rename_from", source);
    ctx.notify(class::GENERIC, "rename_to", &target_key);
    if ready {
        ctx.signal_ready(&target_key);
    }
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let source_db = ctx.db;
    let mut target_db = ctx.db;
    let mut replace = false;
    let mut position = 3;
    while position < args.len() {
        let additional = args.len() - position - 1;
        if is(&args[position], "replace") {
            replace = true;
        } else if is(&args[position], "db") && additional >= 1 {
            target_db = match parse_db_index(&args[position + 1], None) {
                Ok(index) => index,
                Err(reply) => return reply,
            };
            position += 1;
        } else {
            return Reply::error(errors::SYNTAX);
        }
        position += 1;
    }
    if ctx.keyspace.settings.cluster_enabled && (source_db != 0 || target_db != 0) {
        return Reply::error(errors::COPY_DB_IN_CLUSTER);
    }
    let (source, target) = (&args[1], &args[2]);
    if source_db == target_db && source == target {
        return Reply::error(errors::SAME_OBJECT);
    }
    let db = ctx.db();
    db.expire_if_needed(source, now_ms);
    let Some(slot) = db.get_slot(source, now_ms) else {
        return Reply::Int(0);
    };
    let (value, floor) = (slot.value.clone(), slot.encoding_floor());
    let expire_at_ms = db.expire_at(source, now_ms).flatten();

    let index = ctx.index;
    let destination = &mut ctx.keyspace.dbs[target_db];
    destination.set_change_index(index);
    destination.expire_if_needed(target, now_ms);
    if destination.contains(target, now_ms) {
        if !replace {
            return Reply::Int(0);
        }
        destination.remove(target, now_ms);
    }
    let target_key = stored(target);
    signal_if_blocking_type(ctx, target_db, &target_key, &value);
    // Redis duplicates the value in its current encoding.
    ctx.keyspace.dbs[target_db].insert_with_expiry(target_key.clone(), value, expire_at_ms);
    ctx.keyspace.dbs[target_db].raise_encoding_floor(&target_key, floor);
    notify_new(ctx, target_db, &target_key);
    notify_in(ctx, target_db, "copy_to", &target_key);
    Reply::Int(1)
}

/// MOVE key db: only when the key is absent from the target database.
fn move_(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.keyspace.settings.cluster_enabled {
        return Reply::error(errors::MOVE_IN_CLUSTER);
    }
    let now_ms = ctx.now_ms;
    let source_db = ctx.db;
    let target_db = match parse_db_index(&args[2], None) {
        Ok(index) => index,
        Err(reply) => return reply,
    };
    if target_db == source_db {
        return Reply::error(errors::SAME_OBJECT);
    }
    let key = &args[1];
    let db = ctx.db();
    db.expire_if_needed(key, now_ms);
    let Some(expire_at_ms) = db.expire_at(key, now_ms) else {
        return Reply::Int(0);
    };
    let index = ctx.index;
    let destination = &mut ctx.keyspace.dbs[target_db];
    destination.set_change_index(index);
    destination.expire_if_needed(key, now_ms);
    if destination.contains(key, now_ms) {
        return Reply::Int(0);
    }
    let floor = ctx.db_ref().encoding_floor(key, now_ms);
    let access = ctx.db_ref().access_word(key, now_ms);
    let value = ctx.db().remove(key, now_ms).expect("key checked live above");
    let stored_key = stored(key);
    signal_if_blocking_type(ctx, target_db, &stored_key, &value);
    ctx.keyspace.dbs[target_db].insert_with_expiry(stored_key.clone(), value, expire_at_ms);
    ctx.keyspace.dbs[target_db].raise_encoding_floor(&stored_key, floor);
    if let Some(word) = access {
        // The value keeps its access time or counter, as Redis moves the object itself.
        ctx.keyspace.dbs[target_db].set_access_word(&stored_key, word);
    }
    notify_new(ctx, target_db, &stored_key);
    notify_in(ctx, source_db, "move_from", &stored_key);
    notify_in(ctx, target_db, "move_to", &stored_key);
    Reply::Int(1)
}

// --- DUMP, RESTORE ---

/// DUMP key: the value in Redis's RDB serialization (see rdb.rs), nil if absent.
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.db_ref().get(&args[1], ctx.now_ms) {
        Some(value) => Reply::Bulk(Bytes::from(crate::rdb::dump(value))),
        None => Reply::Nil,
    }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]:
/// checks in Redis's order (options, existing key, TTL, payload). A relative TTL counts from
/// the entry's time. IDLETIME sets the key's access time under an LRU policy and FREQ its
/// counter under an LFU one; each is ignored under the other policy, as in Redis.
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut replace, mut absolute_ttl) = (false, false);
    let (mut idle_time, mut frequency) = (None, None);
    let mut position = 4;
    while position < args.len() {
        let additional = args.len() - position - 1;
        let option = &args[position];
        if is(option, "replace") {
            replace = true;
        } else if is(option, "absttl") {
            absolute_ttl = true;
        } else if is(option, "idletime") && additional >= 1 && frequency.is_none() {
            idle_time = match parse_i64(&args[position + 1]) {
                Some(seconds) if seconds >= 0 => Some(seconds as u64),
                Some(_) => return Reply::error(errors::RESTORE_IDLETIME),
                None => return Reply::error(errors::NOT_INTEGER),
            };
            position += 1;
        } else if is(option, "freq") && additional >= 1 && idle_time.is_none() {
            frequency = match parse_i64(&args[position + 1]) {
                Some(counter @ 0..=255) => Some(counter as u8),
                Some(_) => return Reply::error(errors::RESTORE_FREQ),
                None => return Reply::error(errors::NOT_INTEGER),
            };
            position += 1;
        } else {
            return Reply::error(errors::SYNTAX);
        }
        position += 1;
    }
    let now_ms = ctx.now_ms;
    let key = &args[1];
    ctx.db().expire_if_needed(key, now_ms);
    let existed = ctx.db_ref().contains(key, now_ms);
    if existed && !replace {
        return Reply::error(errors::BUSYKEY);
    }
    let ttl_ms = match parse_i64(&args[2]) {
        Some(ttl) if ttl >= 0 => ttl as u64,
        Some(_) => return Reply::error(errors::RESTORE_TTL_NEGATIVE),
        None => return Reply::error(errors::NOT_INTEGER),
    };
    let value = match crate::rdb::restore(&args[3], crate::commands::zsets::limits(ctx)) {
        Ok(value) => value,
        Err(crate::rdb::PayloadError::VersionOrChecksum) => return Reply::error(errors::DUMP_PAYLOAD),
        Err(crate::rdb::PayloadError::BadData) => return Reply::error(errors::BAD_DATA_FORMAT),
    };
    if existed {
        ctx.db().remove(key, now_ms);
    }
    let expire_at_ms = match ttl_ms {
        0 => None,
        ttl if absolute_ttl => Some(ttl),
        ttl => Some(now_ms.saturating_add(ttl)),
    };
    let stored_key = stored(key);
    if expire_at_ms.is_some_and(|at| at <= now_ms) {
        // Already expired: nothing is created, and a replaced key is simply deleted.
        if existed {
            ctx.notify(class::GENERIC, "del", &stored_key);
        }
        return Reply::ok();
    }
    let db = ctx.db;
    signal_if_blocking_type(ctx, db, &stored_key, &value);
    ctx.db().insert_with_expiry(stored_key.clone(), value, expire_at_ms);
    let clock = ctx.db_ref().access_clock();
    let word = match (idle_time, frequency) {
        (Some(seconds), _) => clock.with_idle(seconds),
        (_, Some(counter)) => clock.with_frequency(counter),
        _ => None,
    };
    if let Some(word) = word {
        ctx.db_ref().set_access_word(&stored_key, word);
    }
    notify_new(ctx, db, &stored_key);
    ctx.notify(class::GENERIC, "restore", &stored_key);
    Reply::ok()
}

// --- EXPIRE family, TTL family, PERSIST ---

/// The NX / XX / GT / LT options of the EXPIRE family.
#[derive(Default)]
struct ExpireOptions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_options(args: &[Bytes]) -> Result<ExpireOptions, Reply> {
    let mut options = ExpireOptions::default();
    for arg in args {
        if is(arg, "nx") {
            options.nx = true;
        } else if is(arg, "xx") {
            options.xx = true;
        } else if is(arg, "gt") {
            options.gt = true;
        } else if is(arg, "lt") {
            options.lt = true;
        } else {
            return Err(errors::unsupported_option(arg));
        }
    }
    if options.nx && (options.xx || options.gt || options.lt) {
        return Err(Reply::error(errors::EXPIRE_NX_AND_OTHERS));
    }
    if options.gt && options.lt {
        return Err(Reply::error(errors::EXPIRE_GT_AND_LT));
    }
    Ok(options)
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms as i64;
    expire_generic(ctx, args, "expire", now_ms, true)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms as i64;
    expire_generic(ctx, args, "pexpire", now_ms, false)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, "expireat", 0, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, "pexpireat", 0, false)
}

/// `base_ms` is the entry's time for relative forms and 0 for absolute ones. Options are
/// checked before the time, and overflow before the key, in Redis's order.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], name: &str, base_ms: i64, seconds: bool) -> Reply {
    let options = match parse_expire_options(&args[3..]) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let Some(mut when) = parse_i64(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return errors::invalid_expire(name);
        }
        when *= 1000;
    }
    if when > i64::MAX - base_ms {
        return errors::invalid_expire(name);
    }
    when += base_ms;

    let now_ms = ctx.now_ms;
    let key = &args[1];
    let db = ctx.db();
    db.expire_if_needed(key, now_ms);
    let Some(current) = db.expire_at(key, now_ms) else {
        return Reply::Int(0);
    };
    let current = current.map(|at| at as i64);
    let refused = (options.nx && current.is_some())
        || (options.xx && current.is_none())
        || (options.gt && current.is_none_or(|at| when <= at))
        || (options.lt && current.is_some_and(|at| when >= at));
    if refused {
        return Reply::Int(0);
    }
    if when <= now_ms as i64 {
        db.remove(key, now_ms);
        ctx.notify(class::GENERIC, "del", key);
    } else {
        db.set_expire_at(key, Some(when as u64), now_ms);
        ctx.notify(class::GENERIC, "expire", key);
    }
    Reply::Int(1)
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, true)
}

/// -2: no key; -1: no TTL; otherwise the remaining (or absolute) time. Seconds are rounded
/// to the nearest, as Redis does (EXPIRETIME included).
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], milliseconds: bool, absolute: bool) -> Reply {
    let now_ms = ctx.now_ms;
    let Some(expire_at_ms) = ctx.db_ref().expire_at(&args[1], now_ms) else {
        return Reply::Int(-2);
    };
    let Some(expire_at_ms) = expire_at_ms else {
        return Reply::Int(-1);
    };
    let time_ms = if absolute {
        expire_at_ms
    } else {
        expire_at_ms.saturating_sub(now_ms)
    };
    let time_ms = i64::try_from(time_ms).unwrap_or(i64::MAX);
    Reply::Int(if milliseconds {
        time_ms
    } else {
        time_ms.saturating_add(500) / 1000
    })
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let key = &args[1];
    let db = ctx.db();
    db.expire_if_needed(key, now_ms);
    match db.expire_at(key, now_ms) {
        Some(Some(_)) => {
            db.set_expire_at(key, None, now_ms);
            ctx.notify(class::GENERIC, "persist", key);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

// --- KEYS, SCAN, RANDOMKEY, DBSIZE ---

fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let pattern = &args[1];
    let all = &pattern[..] == b"*";
    let matched = ctx
        .db_ref()
        .keys(ctx.now_ms)
        .filter(|key| all || glob::matches(pattern, key, false))
        .map(|key| Reply::Bulk(key.to_bytes()))
        .collect();
    Reply::Array(matched)
}

/// A SCAN cursor as Redis's `strtoul` reads it: optional sign (a negative value wraps),
/// decimal digits, nothing else; no leading space; the empty string is 0.
pub fn parse_cursor(arg: &[u8]) -> Option<u64> {
    if arg.first().is_some_and(|&c| c.is_ascii_whitespace() || c == 0x0b) {
        return None;
    }
    if arg.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((digit - b'0') as u64)?;
    }
    Some(if negative { value.wrapping_neg() } else { value })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
fn scan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Reply::error(errors::INVALID_CURSOR);
    };
    let mut count: usize = 10;
    let mut pattern: Option<&Bytes> = None;
    let mut type_name: Option<&Bytes> = None;
    let mut position = 2;
    while position < args.len() {
        let remaining = args.len() - position;
        if is(&args[position], "count") && remaining >= 2 {
            let Some(value) = parse_i64(&args[position + 1]) else {
                return Reply::error(errors::NOT_INTEGER);
            };
            if value < 1 {
                return Reply::error(errors::SYNTAX);
            }
            count = usize::try_from(value).unwrap_or(usize::MAX);
        } else if is(&args[position], "match") && remaining >= 2 {
            let text = &args[position + 1];
            pattern = (&text[..] != b"*").then_some(text);
        } else if is(&args[position], "type") && remaining >= 2 {
            type_name = Some(&args[position + 1]);
        } else {
            return Reply::error(errors::SYNTAX);
        }
        position += 2;
    }
    let now_ms = ctx.now_ms;
    let db = ctx.db_ref();
    let (range, next) = scan::page(db.len(), cursor, count);
    let mut found = Vec::new();
    for position in range.rev() {
        let Some((key, slot)) = db.get_index(position) else {
            continue;
        };
        if db.get_slot(key, now_ms).is_none() {
            continue;
        }
        if pattern.is_some_and(|pattern| !glob::matches(pattern, key, false)) {
            continue;
        }
        if type_name.is_some_and(|name| !is(name, slot.value.type_name())) {
            continue;
        }
        found.push(Reply::Bulk(key.to_bytes()));
    }
    Reply::Array(vec![Reply::bulk_string(next.to_string()), Reply::Array(found)])
}

/// A few random picks skip expired keys cheaply; if all of them hit expired keys, choose
/// among the live keys directly so the answer never depends on luck.
fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    const PICKS_MAX: usize = 16;
    let now_ms = ctx.now_ms;
    let len = ctx.db_ref().len();
    if len == 0 {
        return Reply::Nil;
    }
    for _ in 0..PICKS_MAX {
        let position = ctx.random_below(len);
        let db = ctx.db_ref();
        if let Some((key, _)) = db.get_index(position) {
            if db.contains(key, now_ms) {
                return Reply::Bulk(key.to_bytes());
            }
        }
    }
    let live = ctx.db_ref().keys(now_ms).count();
    if live == 0 {
        return Reply::Nil;
    }
    let choice = ctx.random_below(live);
    match ctx.db_ref().keys(now_ms).nth(choice) {
        Some(key) => Reply::Bulk(key.to_bytes()),
        None => Reply::Nil,
    }
}

/// Counts keys not yet removed, expired or not, as Redis's DBSIZE does.
fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.db_ref().len() as i64)
}

// --- FLUSHDB, FLUSHALL, SWAPDB ---

/// The optional ASYNC / SYNC argument: both flush at once here.
fn check_flush_args(args: &[Bytes]) -> Result<(), Reply> {
    match args.len() {
        1 => Ok(()),
        2 if is(&args[1], "sync") || is(&args[1], "async") => Ok(()),
        _ => Err(Reply::error(errors::SYNTAX)),
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(reply) = check_flush_args(args) {
        return reply;
    }
    let db = ctx.db;
    ctx.db().clear();
    ctx.events.push(Event::DbChanged { db });
    Reply::ok()
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(reply) = check_flush_args(args) {
        return reply;
    }
    for db in 0..ctx.keyspace.dbs.len() {
        ctx.keyspace.dbs[db].clear();
        ctx.events.push(Event::DbChanged { db });
    }
    Reply::ok()
}

fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.keyspace.settings.cluster_enabled {
        return Reply::error(errors::SWAPDB_IN_CLUSTER);
    }
    let first = match parse_int(&args[1], Some(errors::INVALID_FIRST_DB_INDEX)) {
        Ok(index) => index,
        Err(reply) => return reply,
    };
    let second = match parse_int(&args[2], Some(errors::INVALID_SECOND_DB_INDEX)) {
        Ok(index) => index,
        Err(reply) => return reply,
    };
    let in_range = |index: i64| (0..DATABASES as i64).contains(&index);
    if !in_range(first) || !in_range(second) {
        return Reply::error(errors::DB_INDEX_OUT_OF_RANGE);
    }
    let (first, second) = (first as usize, second as usize);
    if first != second {
        ctx.keyspace.swap_dbs(first, second, ctx.index);
        ctx.events.push(Event::DbChanged { db: first });
        ctx.events.push(Event::DbChanged { db: second });
    }
    Reply::ok()
}

// --- SORT, SORT_RO ---

/// A parsed SORT request (options in any order, the last ASC/DESC wins, as Redis).
struct SortRequest<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    by: Option<&'a Bytes>,
    /// BY names a constant (no `*`): nothing to sort, the collection keeps its own order.
    dont_sort: bool,
    gets: Vec<&'a Bytes>,
    store: Option<&'a Bytes>,
}

fn parse_sort<'a>(
    args: &'a [Bytes],
    readonly: bool,
    cluster_enabled: bool,
) -> Result<SortRequest<'a>, Reply> {
    let mut request = SortRequest {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut position = 2;
    while position < args.len() {
        let left = args.len() - position - 1;
        let arg = &args[position];
        if is(arg, "asc") {
            request.desc = false;
        } else if is(arg, "desc") {
            request.desc = true;
        } else if is(arg, "alpha") {
            request.alpha = true;
        } else if is(arg, "limit") && left >= 2 {
            let (Some(start), Some(count)) = (parse_i64(&args[position + 1]), parse_i64(&args[position + 2]))
            else {
                return Err(Reply::error(errors::NOT_INTEGER));
            };
            request.limit_start = start;
            request.limit_count = count;
            position += 2;
        } else if !readonly && is(arg, "store") && left >= 1 {
            request.store = Some(&args[position + 1]);
            position += 1;
        } else if is(arg, "by") && left >= 1 {
            let pattern = &args[position + 1];
            request.by = Some(pattern);
            if !pattern.contains(&b'*') {
                request.dont_sort = true;
            } else if cluster_enabled {
                return Err(Reply::error(errors::SORT_BY_IN_CLUSTER));
            }
            position += 1;
        } else if is(arg, "get") && left >= 1 {
            if cluster_enabled {
                return Err(Reply::error(errors::SORT_GET_IN_CLUSTER));
            }
            request.gets.push(&args[position + 1]);
            position += 1;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        position += 1;
    }
    Ok(request)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is
/// replaced by the element and the result names a string key, or with `->field` after the
/// star a hash field. No star, a missing key or the wrong type give None.
fn lookup_by_pattern(ctx: &Ctx, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(element.clone());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|pair| pair == b"->")
        .filter(|&at| at + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    match (ctx.db_ref().get(&key, ctx.now_ms)?, field) {
        (Value::Str(text), None) => Some(text.to_bytes()),
        (Value::Hash(hash), Some(field)) => hash.get(field).map(Bytes::copy_from_slice),
        _ => None,
    }
}

/// A sort weight as C's `strtod` reads it, rejecting what Redis rejects: trailing garbage,
/// NaN and out-of-range values. The empty string reads as 0, as in Redis.
fn sort_weight(text: &[u8]) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text
        .iter()
        .position(|&c| !(c.is_ascii_whitespace() || c == 0x0b))
        .unwrap_or(text.len());
    let number = std::str::from_utf8(&text[start..]).ok()?;
    let value: f64 = number.parse().ok()?;
    let lower = number.to_ascii_lowercase();
    if value.is_nan() || (value.is_infinite() && !lower.contains("inf")) {
        return None;
    }
    let mantissa = lower.split('e').next().unwrap_or("");
    if value == 0.0 && mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
        return None;
    }
    Some(value)
}

/// One element being sorted, with its weight (numeric) or comparison value (ALPHA BY).
struct SortItem {
    element: Bytes,
    score: f64,
    compare: Option<Bytes>,
}

fn sort(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sort_generic(ctx, args, true)
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC | DESC] [ALPHA]
/// [STORE destination], following Redis's sort.c step by step (LIMIT clamping, the direct
/// range read when nothing is sorted, ties broken by the element's bytes).
fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> Reply {
    let mut request = match parse_sort(args, readonly, ctx.keyspace.settings.cluster_enabled) {
        Ok(request) => request,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let empty = Value::List(Default::default());
    let value = match ctx.db_ref().get(&args[1], now_ms) {
        None => &empty,
        Some(value @ (Value::List(_) | Value::Set(_) | Value::ZSet(_))) => value,
        Some(_) => return Reply::error(errors::WRONGTYPE),
    };
    // A set has no order of its own: results that are stored, or handed to a script, are
    // sorted (as Redis does, so that what a script does with them is reproducible).
    if request.dont_sort && matches!(value, Value::Set(_)) && (request.store.is_some() || ctx.from_script) {
        request.dont_sort = false;
        request.alpha = true;
        request.by = None;
    }
    let length = match value {
        Value::List(list) => list.len(),
        Value::Set(set) => set.len(),
        Value::ZSet(zset) => zset.len(),
        _ => unreachable!("checked above"),
    } as i64;

    let mut start = request.limit_start.max(0).min(length);
    let limit_count = request.limit_count.max(-1).min(length);
    let mut end = if limit_count < 0 {
        length - 1
    } else {
        start + limit_count - 1
    };
    if start >= length {
        start = length - 1;
        end = length - 2;
    }
    if end >= length {
        end = length - 1;
    }

    let item = |element: &[u8]| SortItem {
        element: Bytes::copy_from_slice(element),
        score: 0.0,
        compare: None,
    };
    let ranged = request.dont_sort && matches!(value, Value::List(_) | Value::ZSet(_));
    let mut items: Vec<SortItem> = match value {
        Value::List(list) if ranged => {
            let count = if end >= start {
                (end - start + 1) as usize
            } else {
                0
            };
            if request.desc {
                list.iter()
                    .rev()
                    .skip(start as usize)
                    .take(count)
                    .map(item)
                    .collect()
            } else {
                list.iter().skip(start as usize).take(count).map(item).collect()
            }
        }
        Value::ZSet(zset) if ranged => {
            let count = if end >= start {
                (end - start + 1) as usize
            } else {
                0
            };
            if request.desc {
                zset.iter()
                    .rev()
                    .skip(start as usize)
                    .take(count)
                    .map(|(m, _)| item(&m))
                    .collect()
            } else {
                zset.iter()
                    .skip(start as usize)
                    .take(count)
                    .map(|(m, _)| item(&m))
                    .collect()
            }
        }
        Value::List(list) => list.iter().map(item).collect(),
        Value::Set(set) => set.iter().map(item).collect(),
        Value::ZSet(zset) => zset.iter_insertion_order().map(|(m, _)| item(&m)).collect(),
        _ => unreachable!("checked above"),
    };
    if ranged {
        end -= start;
        start = 0;
    }

    if !request.dont_sort {
        let mut conversion_error = false;
        for entry in items.iter_mut() {
            let weight = match request.by {
                Some(pattern) => match lookup_by_pattern(ctx, pattern, &entry.element) {
                    Some(weight) => weight,
                    None => continue,
                },
                None => entry.element.clone(),
            };
            if request.alpha {
                if request.by.is_some() {
                    entry.compare = Some(weight);
                }
            } else {
                match sort_weight(&weight) {
                    Some(score) => entry.score = score,
                    None => conversion_error = true,
                }
            }
        }
        if conversion_error {
            return Reply::error(errors::SORT_NOT_DOUBLE);
        }
        let (alpha, by) = (request.alpha, request.by.is_some());
        items.sort_by(|a, b| {
            let order = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .expect("weights are never NaN")
                    .then_with(|| a.element.cmp(&b.element))
            } else if by {
                a.compare.cmp(&b.compare)
            } else {
                a.element.cmp(&b.element)
            };
            if request.desc {
                order.reverse()
            } else {
                order
            }
        });
    }

    let selected: &[SortItem] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut output: Vec<Option<Bytes>> = Vec::new();
    for entry in selected {
        if request.gets.is_empty() {
            output.push(Some(entry.element.clone()));
        }
        for pattern in &request.gets {
            output.push(lookup_by_pattern(ctx, pattern, &entry.element));
        }
    }

    let Some(store) = request.store else {
        return Reply::Array(
            output
                .into_iter()
                .map(|value| value.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        );
    };
    let count = output.len() as i64;
    let store_key = stored(store);
    if output.is_empty() {
        if ctx.db().remove(&store_key, now_ms).is_some() {
            ctx.notify(class::GENERIC, "del", &store_key);
        }
    } else {
        let list = output.iter().map(|value| value.as_deref().unwrap_or_default()).collect();
        let db = ctx.db();
        db.expire_if_needed(&store_key, now_ms);
        let existed = db.contains(&store_key, now_ms);
        db.insert(store_key.clone(), Value::List(Box::new(list)));
        if !existed {
            ctx.notify(class::NEW, "new", &store_key);
        }
        ctx.signal_ready(&store_key);
        ctx.notify(class::LIST, "sortstore", &store_key);
    }
    Reply::Int(count)
}

/// SORT's keys: the sorted key and the last STORE destination, found the way Redis's
/// `sortGetKeys` scans (patterns name keys too, but Redis does not declare them, and
/// refuses them in cluster mode).
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut store = None;
    let mut position = 2;
    while position < args.len() {
        let arg = &args[position];
        if is(arg, "limit") {
            position += 2;
        } else if is(arg, "get") || is(arg, "by") {
            position += 1;
        } else if is(arg, "store") && position + 1 < args.len() {
            store = Some(position + 1);
        }
        position += 1;
    }
    std::iter::once(1).chain(store).collect()
}

/// SORT's key specs, as Redis 7.2 states them: the sorted key at 1; the keys BY and GET
/// patterns name (derived from the sorted values, so `unknown`); SORT's STORE key, `unknown`
/// too since the keyword may come anywhere (sort_keys finds it for GETKEYS and routing).
const SORT_KEY_SPEC: (KeyFlags, KeySearch) = (KeyFlags::RO_ACCESS, KeySearch::Range { index: 1, last_key: 0, step: 1 });
const SORT_PATTERN_KEY_SPEC: (KeyFlags, KeySearch) = (KeyFlags::RO_ACCESS, KeySearch::Unknown);

// --- OBJECT ---

/// Bytes one element takes in a listpack (encoding, data and back-length), as Redis lays
/// it out: integers in 1–9 bytes, strings with a 1, 2 or 5 byte header.
fn listpack_entry_len(element: &[u8]) -> usize {
    let encoded = match parse_i64(element) {
        Some(value) => match value {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32_768..=32_767 => 3,
            -8_388_608..=8_388_607 => 4,
            -2_147_483_648..=2_147_483_647 => 5,
            _ => 9,
        },
        None if element.len() < 64 => 1 + element.len(),
        None if element.len() < 4096 => 2 + element.len(),
        None => 5 + element.len(),
    };
    encoded + crate::rdb::listpack_backlen_len(encoded)
}

/// A list is a single listpack while it fits the `list-max-listpack-size` limit.
fn list_fits_listpack<'a>(elements: impl Iterator<Item = &'a [u8]>, count: usize, fill: i64) -> bool {
    const HEADER_AND_END_LEN: usize = 7;
    const SIZE_SAFETY_LIMIT: usize = 8192;
    const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    let bytes = HEADER_AND_END_LEN + elements.map(listpack_entry_len).sum::<usize>();
    if fill >= 0 {
        let count_limit = (fill as usize).max(1);
        bytes <= SIZE_SAFETY_LIMIT && count <= count_limit
    } else {
        let level = ((-fill - 1) as usize).min(SIZE_LEVELS.len() - 1);
        bytes <= SIZE_LEVELS[level]
    }
}

/// Whether a string would be stored as an integer object (`tryObjectEncoding`).
fn is_int_encoded(text: &[u8]) -> bool {
    text.len() <= 20 && parse_i64(text).is_some()
}

/// A string's encoding floor once a command changed it in place (Redis's
/// `dbUnshareStringValue`): it stays raw until it is replaced.
pub const STRING_FLOOR_RAW: u8 = 1;

/// How general a hash's or set's encoding must be for its content under `limits`: hash
/// 0 listpack, 1 hashtable; set 0 intset, 1 listpack, 2 hashtable (Redis 7.2's order of
/// conversions). Other types are 0. Bounded by the limits: a value past the entry limit is
/// answered without looking at its elements.
pub fn content_encoding_level(value: &Value, limits: &EncodingLimits) -> u8 {
    match value {
        Value::Hash(hash) => {
            let small = hash.len() <= limits.hash_max_listpack_entries
                && hash.iter().all(|(field, value)| {
                    field.len() <= limits.hash_max_listpack_value
                        && value.len() <= limits.hash_max_listpack_value
                });
            u8::from(!small)
        }
        Value::Set(set) => {
            if set.len() <= limits.set_max_intset_entries && set.iter().all(|m| parse_i64(m).is_some()) {
                0
            } else if set.len() <= limits.set_max_listpack_entries
                && set.iter().all(|m| m.len() <= limits.set_max_listpack_value)
            {
                1
            } else {
                2
            }
        }
        _ => 0,
    }
}

/// Raises the encoding floor of every hash and set the command just wrote to what its content
/// needs now: Redis converts a hash or set on the write that outgrows the compact encoding and
/// never back, so the floor is the most general encoding any state of the value needed.
/// Uses the limits in force when the command ran, as Redis does.
pub fn settle_encoding_floors(keyspace: &mut crate::db::Keyspace) {
    if !crate::db::take_encoding_touched() {
        return;
    }
    let limits = keyspace.settings.encoding;
    let level_of = |value: &Value| content_encoding_level(value, &limits);
    for db in keyspace.dbs.iter_mut() {
        db.settle_encoding_floors(&level_of);
    }
}

/// The encoding Redis would report for `value` under `limits`, given the key's encoding
/// floor (the most general encoding it was converted to before; see `Db::encoding_floor`).
pub fn encoding_name(value: &Value, floor: u8, limits: &EncodingLimits) -> &'static str {
    const EMBSTR_LEN_MAX: usize = 44;
    match value {
        Value::Str(_) if floor >= STRING_FLOOR_RAW => "raw",
        Value::Str(text) if is_int_encoded(text) => "int",
        Value::Str(text) if text.len() <= EMBSTR_LEN_MAX => "embstr",
        Value::Str(_) => "raw",
        // Redis 7.2 converts a quicklist back to a listpack when it shrinks: content decides.
        Value::List(list) => {
            if list_fits_listpack(list.iter(), list.len(), limits.list_max_listpack_size) {
                "listpack"
            } else {
                "quicklist"
            }
        }
        Value::Hash(_) => match content_encoding_level(value, limits).max(floor) {
            0 => "listpack",
            _ => "hashtable",
        },
        Value::Set(_) => match content_encoding_level(value, limits).max(floor) {
            0 => "intset",
            1 => "listpack",
            _ => "hashtable",
        },
        // The sorted set tracks its own (sticky) encoding, as Redis's conversion is one-way.
        Value::ZSet(zset) => zset.encoding(),
        Value::Stream(_) => "stream",
    }
}

fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = ctx.keyspace.settings.encoding;
    match ctx.db_ref().get_slot(&args[2], ctx.now_ms) {
        Some(slot) => Reply::bulk(Bytes::from_static(
            encoding_name(&slot.value, slot.encoding_floor(), &limits).as_bytes(),
        )),
        None => Reply::Nil,
    }
}

/// The key's logarithmic access counter, decayed to now (see access.rs). Redis only counts
/// accesses under an LFU policy and refuses otherwise.
fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(frequency) = ctx.db_ref().frequency(&args[2], ctx.now_ms) else {
        return Reply::Nil;
    };
    if !ctx.keyspace.settings.lfu_policy {
        return Reply::error(errors::LFU_NOT_SELECTED);
    }
    Reply::Int(frequency as i64)
}

/// Seconds since the key was last accessed (see access.rs). Under an LFU policy Redis keeps
/// no access time and refuses, as here.
fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(idle) = ctx.db_ref().idle_seconds(&args[2], ctx.now_ms) else {
        return Reply::Nil;
    };
    if ctx.keyspace.settings.lfu_policy {
        return Reply::error(errors::LFU_SELECTED);
    }
    Reply::Int(idle as i64)
}

/// Redis shares the objects for integers 0..9999 and reports them with `INT_MAX`.
fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    const SHARED_INTEGERS: i64 = 10_000;
    match ctx.db_ref().get(&args[2], ctx.now_ms) {
        Some(Value::Str(text))
            if is_int_encoded(text) && parse_i64(text).is_some_and(|v| (0..SHARED_INTEGERS).contains(&v)) =>
        {
            Reply::Int(i32::MAX as i64)
        }
        Some(_) => Reply::Int(1),
        None => Reply::Nil,
    }
}

fn object_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::simple(line)).collect())
}

const KEY_READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const KEY_WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
/// Reads that only look at their keys (Redis's `LOOKUP_NOTOUCH`): not an access.
const KEY_READ_NO_TOUCH: Flags = KEY_READ_FAST.union(Flags::NO_TOUCH);

/// One key at position 1.
const fn one_key(spec: CommandSpec) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: 1,
        step: 1,
        ..spec
    }
}

/// Two keys at positions 1 and 2 (source, destination).
const fn two_keys(spec: CommandSpec) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: 2,
        step: 1,
        ..spec
    }
}

/// Every argument after the name is a key.
const fn all_keys(spec: CommandSpec) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: -1,
        step: 1,
        ..spec
    }
}

/// OBJECT subcommands take their key at position 2 and do not count as an access.
const fn object_sub(spec: CommandSpec) -> CommandSpec {
    CommandSpec {
        flags: Flags::READONLY.union(Flags::NO_TOUCH),
        first_key: 2,
        last_key: 2,
        step: 1,
        acl: &["keyspace", "read", "slow"],
        syntax: "key",
        ..spec
    }
}

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    object_sub(CommandSpec {
        since: "2.2.3",
        summary: "Returns the internal encoding of a Redis object.",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("object|encoding", 3, Handler::Keyspace(object_encoding))
    }),
    object_sub(CommandSpec {
        since: "4.0.0",
        summary: "Returns the logarithmic access frequency counter of a Redis object.",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("object|freq", 3, Handler::Keyspace(object_freq))
    }),
    CommandSpec {
        flags: Flags::READONLY.union(Flags::LOADING).union(Flags::STALE),
        acl: &["keyspace", "slow"],
        since: "6.2.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("object|help", 2, Handler::Keyspace(object_help))
    },
    object_sub(CommandSpec {
        since: "2.2.3",
        summary: "Returns the time since the last access to a Redis object.",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("object|idletime", 3, Handler::Keyspace(object_idletime))
    }),
    object_sub(CommandSpec {
        since: "2.2.3",
        summary: "Returns the reference count of a value of a key.",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("object|refcount", 3, Handler::Keyspace(object_refcount))
    }),
];

pub const COMMANDS: &[CommandSpec] = &[
    all_keys(CommandSpec {
        flags: Flags::WRITE,
        acl: &["keyspace", "write", "slow"],
        summary: "Deletes one or more keys.",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RM_DELETE],
        ..CommandSpec::base("del", -2, Handler::Keyspace(del))
    }),
    all_keys(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        since: "4.0.0",
        summary: "Asynchronously deletes one or more keys.",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RM_DELETE],
        ..CommandSpec::base("unlink", -2, Handler::Keyspace(del))
    }),
    all_keys(CommandSpec {
        flags: KEY_READ_NO_TOUCH,
        acl: &["keyspace", "read", "fast"],
        summary: "Determines whether one or more keys exist.",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("exists", -2, Handler::Keyspace(exists))
    }),
    all_keys(CommandSpec {
        flags: KEY_READ_FAST,
        acl: &["keyspace", "read", "fast"],
        since: "3.2.1",
        summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("touch", -2, Handler::Keyspace(exists))
    }),
    one_key(CommandSpec {
        flags: KEY_READ_NO_TOUCH,
        acl: &["keyspace", "read", "fast"],
        summary: "Determines the type of value stored at a key.",
        syntax: "key",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("type", 2, Handler::Keyspace(type_))
    }),
    two_keys(CommandSpec {
        flags: Flags::WRITE,
        acl: &["keyspace", "write", "slow"],
        summary: "Renames a key and overwrites the destination.",
        syntax: "key newkey",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE, KeyFlags::OW_UPDATE],
        ..CommandSpec::base("rename", 3, Handler::Keyspace(rename))
    }),
    two_keys(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        summary: "Renames a key only when the target key name doesn't exist.",
        syntax: "key newkey",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE, KeyFlags::OW_INSERT],
        ..CommandSpec::base("renamenx", 3, Handler::Keyspace(renamenx))
    }),
    one_key(CommandSpec {
        flags: Flags::READONLY,
        acl: &["keyspace", "read", "slow"],
        since: "2.6.0",
        summary: "Returns a serialized representation of the value stored at a key.",
        syntax: "key",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("dump", 2, Handler::Keyspace(dump))
    }),
    one_key(CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        acl: &["keyspace", "write", "slow", "dangerous"],
        since: "2.6.0",
        summary: "Creates a key from the serialized representation of a value.",
        syntax: "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        key_flags: &[KeyFlags::OW_UPDATE],
        ..CommandSpec::base("restore", -4, Handler::Keyspace(restore))
    }),
    two_keys(CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        acl: &["keyspace", "write", "slow"],
        since: "6.2.0",
        summary: "Copies the value of a key to a new key.",
        syntax: "source destination [DB destination-db] [REPLACE]",
        key_flags: &[KeyFlags::RO_ACCESS, KeyFlags::OW_UPDATE],
        ..CommandSpec::base("copy", -3, Handler::Keyspace(copy))
    }),
    one_key(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        summary: "Moves a key to another database.",
        syntax: "key db",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..CommandSpec::base("move", 3, Handler::Keyspace(move_))
    }),
    one_key(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        summary: "Sets the expiration time of a key in seconds.",
        syntax: "key seconds [NX | XX | GT | LT]",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..CommandSpec::base("expire", -3, Handler::Keyspace(expire))
    }),
    one_key(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        since: "2.6.0",
        summary: "Sets the expiration time of a key in milliseconds.",
        syntax: "key milliseconds [NX | XX | GT | LT]",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..CommandSpec::base("pexpire", -3, Handler::Keyspace(pexpire))
    }),
    one_key(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        since: "1.2.0",
        summary: "Sets the expiration time of a key to a Unix timestamp.",
        syntax: "key unix-time-seconds [NX | XX | GT | LT]",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..CommandSpec::base("expireat", -3, Handler::Keyspace(expireat))
    }),
    one_key(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        since: "2.6.0",
        summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        syntax: "key unix-time-milliseconds [NX | XX | GT | LT]",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..CommandSpec::base("pexpireat", -3, Handler::Keyspace(pexpireat))
    }),
    one_key(CommandSpec {
        flags: KEY_READ_NO_TOUCH,
        acl: &["keyspace", "read", "fast"],
        summary: "Returns the expiration time in seconds of a key.",
        syntax: "key",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("ttl", 2, Handler::Keyspace(ttl))
    }),
    one_key(CommandSpec {
        flags: KEY_READ_NO_TOUCH,
        acl: &["keyspace", "read", "fast"],
        since: "2.6.0",
        summary: "Returns the expiration time in milliseconds of a key.",
        syntax: "key",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("pttl", 2, Handler::Keyspace(pttl))
    }),
    one_key(CommandSpec {
        flags: KEY_READ_NO_TOUCH,
        acl: &["keyspace", "read", "fast"],
        since: "7.0.0",
        summary: "Returns the expiration time of a key as a Unix timestamp.",
        syntax: "key",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("expiretime", 2, Handler::Keyspace(expiretime))
    }),
    one_key(CommandSpec {
        flags: KEY_READ_NO_TOUCH,
        acl: &["keyspace", "read", "fast"],
        since: "7.0.0",
        summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        syntax: "key",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("pexpiretime", 2, Handler::Keyspace(pexpiretime))
    }),
    one_key(CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast"],
        since: "2.2.0",
        summary: "Removes the expiration time of a key.",
        syntax: "key",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..CommandSpec::base("persist", 2, Handler::Keyspace(persist))
    }),
    CommandSpec {
        flags: Flags::READONLY,
        acl: &["keyspace", "read", "slow", "dangerous"],
        summary: "Returns all key names that match a pattern.",
        syntax: "pattern",
        ..CommandSpec::base("keys", 2, Handler::Keyspace(keys))
    },
    CommandSpec {
        flags: Flags::READONLY,
        acl: &["keyspace", "read", "slow"],
        since: "2.8.0",
        summary: "Iterates over the key names in the database.",
        syntax: "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        ..CommandSpec::base("scan", -2, Handler::Keyspace(scan))
    },
    CommandSpec {
        flags: Flags::READONLY.union(Flags::NONDETERMINISTIC_OUTPUT),
        acl: &["keyspace", "read", "slow"],
        summary: "Returns a random key name from the database.",
        ..CommandSpec::base("randomkey", 1, Handler::Keyspace(randomkey))
    },
    CommandSpec {
        flags: KEY_READ_FAST,
        acl: &["keyspace", "read", "fast"],
        group: "server",
        summary: "Returns the number of keys in the database.",
        ..CommandSpec::base("dbsize", 1, Handler::Keyspace(dbsize))
    },
    CommandSpec {
        flags: Flags::WRITE,
        acl: &["keyspace", "write", "slow", "dangerous"],
        group: "server",
        summary: "Remove all keys from the current database.",
        syntax: "[ASYNC | SYNC]",
        ..CommandSpec::base("flushdb", -1, Handler::Keyspace(flushdb))
    },
    CommandSpec {
        flags: Flags::WRITE,
        acl: &["keyspace", "write", "slow", "dangerous"],
        group: "server",
        summary: "Removes all keys from all databases.",
        syntax: "[ASYNC | SYNC]",
        ..CommandSpec::base("flushall", -1, Handler::Keyspace(flushall))
    },
    CommandSpec {
        flags: KEY_WRITE_FAST,
        acl: &["keyspace", "write", "fast", "dangerous"],
        group: "server",
        since: "4.0.0",
        summary: "Swaps two Redis databases.",
        syntax: "index1 index2",
        ..CommandSpec::base("swapdb", 3, Handler::Keyspace(swapdb))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::MOVABLE_KEYS),
        first_key: 1,
        last_key: 1,
        step: 1,
        key_finder: Some(sort_keys),
        acl: &["write", "set", "sortedset", "list", "slow", "dangerous"],
        summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        syntax: "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]",
        key_flags: &[KeyFlags::RO_ACCESS, KeyFlags::OW_UPDATE],
        declared_key_specs: &[SORT_KEY_SPEC, SORT_PATTERN_KEY_SPEC, (KeyFlags::OW_UPDATE, KeySearch::Unknown)],
        ..CommandSpec::base("sort", -2, Handler::Keyspace(sort))
    },
    one_key(CommandSpec {
        flags: Flags::READONLY,
        acl: &["read", "set", "sortedset", "list", "slow", "dangerous"],
        since: "7.0.0",
        summary: "Returns the sorted elements of a list, a set, or a sorted set.",
        syntax: "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]",
        key_flags: &[KeyFlags::RO_ACCESS],
        declared_key_specs: &[SORT_KEY_SPEC, SORT_PATTERN_KEY_SPEC],
        ..CommandSpec::base("sort_ro", -2, Handler::Keyspace(sort_ro))
    }),
    CommandSpec {
        since: "2.2.3",
        summary: "A container for object introspection commands.",
        subcommands: OBJECT_SUBCOMMANDS,
        ..CommandSpec::base("object", -2, Handler::Container)
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, Harness};

    fn harness() -> Harness {
        Harness::new()
    }

    fn notifications(t: &Harness) -> Vec<(usize, &'static str, String)> {
        t.events
            .iter()
            .filter_map(|event| match event {
                Event::Notify { db, event, key, .. } => {
                    Some((*db, *event, String::from_utf8_lossy(key).into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn del_unlink_exists_touch() {
        let mut t = harness();
        run(&mut t, &["SET", "a", "1"]);
        run(&mut t, &["SET", "b", "1"]);
        assert_eq!(run(&mut t, &["EXISTS", "a", "a", "b", "c"]), ":3");
        assert_eq!(run(&mut t, &["TOUCH", "a", "c"]), ":1");
        assert_eq!(run(&mut t, &["DEL", "a", "c"]), ":1");
        assert_eq!(run(&mut t, &["UNLINK", "b", "b"]), ":1");
        assert_eq!(run(&mut t, &["EXISTS", "a", "b"]), ":0");
        assert_eq!(
            run(&mut t, &["DEL"]),
            "-ERR wrong number of arguments for 'del' command"
        );
        let dels: Vec<_> = notifications(&t).into_iter().filter(|n| n.1 == "del").collect();
        assert_eq!(dels, vec![(0, "del", "a".into()), (0, "del", "b".into())]);
    }

    #[test]
    fn del_of_an_expired_key_counts_zero_and_reports_expired() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["PEXPIRE", "k", "100"]);
        t.now_ms += 100;
        t.events.clear();
        assert_eq!(run(&mut t, &["DEL", "k"]), ":0");
        assert_eq!(notifications(&t), vec![(0, "expired", "k".into())]);
    }

    #[test]
    fn type_is_a_status_reply() {
        let mut t = harness();
        run(&mut t, &["SET", "s", "v"]);
        assert_eq!(run(&mut t, &["TYPE", "s"]), "+string");
        assert_eq!(run(&mut t, &["TYPE", "missing"]), "+none");
    }

    #[test]
    fn rename_moves_value_and_ttl() {
        let mut t = harness();
        run(&mut t, &["SET", "a", "1"]);
        run(&mut t, &["EXPIRE", "a", "100"]);
        run(&mut t, &["SET", "b", "2"]);
        run(&mut t, &["EXPIRE", "b", "50"]);
        t.events.clear();
        assert_eq!(run(&mut t, &["RENAME", "a", "b"]), "+OK");
        assert_eq!(run(&mut t, &["GET", "b"]), "$1");
        assert_eq!(run(&mut t, &["TTL", "b"]), ":100");
        assert_eq!(run(&mut t, &["EXISTS", "a"]), ":0");
        assert_eq!(
            notifications(&t),
            vec![
                (0, "new", "b".into()),
                (0, "rename_from", "a".into()),
                (0, "rename_to", "b".into())
            ]
        );
        // The target's TTL does not survive a rename of a persistent key onto it.
        run(&mut t, &["SET", "c", "3"]);
        assert_eq!(run(&mut t, &["RENAME", "c", "b"]), "+OK");
        assert_eq!(run(&mut t, &["TTL", "b"]), ":-1");
    }

    #[test]
    fn rename_edge_cases() {
        let mut t = harness();
        assert_eq!(run(&mut t, &["RENAME", "nokey", "x"]), "-ERR no such key");
        assert_eq!(run(&mut t, &["RENAMENX", "nokey", "x"]), "-ERR no such key");
        assert_eq!(run(&mut t, &["RENAME", "nokey", "nokey"]), "-ERR no such key");
        run(&mut t, &["SET", "k", "v"]);
        assert_eq!(run(&mut t, &["RENAME", "k", "k"]), "+OK");
        assert_eq!(run(&mut t, &["RENAMENX", "k", "k"]), ":0");
        run(&mut t, &["SET", "other", "o"]);
        assert_eq!(run(&mut t, &["RENAMENX", "k", "other"]), ":0");
        assert_eq!(run(&mut t, &["RENAMENX", "k", "fresh"]), ":1");
        assert_eq!(run(&mut t, &["GET", "fresh"]), "$v");
        assert_eq!(run(&mut t, &["GET", "other"]), "$o");
    }

    #[test]
    fn rename_of_expired_source_is_no_such_key() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["PEXPIRE", "k", "10"]);
        t.now_ms += 10;
        assert_eq!(run(&mut t, &["RENAME", "k", "x"]), "-ERR no such key");
    }

    #[test]
    fn copy_within_and_across_databases() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["EXPIRE", "k", "100"]);
        assert_eq!(
            run(&mut t, &["COPY", "k", "k"]),
            "-ERR source and destination objects are the same"
        );
        assert_eq!(run(&mut t, &["COPY", "k", "c"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "c"]), ":100");
        assert_eq!(run(&mut t, &["COPY", "k", "c"]), ":0");
        run(&mut t, &["SET", "k", "w"]);
        assert_eq!(run(&mut t, &["COPY", "k", "c", "REPLACE"]), ":1");
        assert_eq!(run(&mut t, &["GET", "c"]), "$w");
        assert_eq!(run(&mut t, &["TTL", "c"]), ":-1");
        t.events.clear();
        assert_eq!(run(&mut t, &["COPY", "k", "k", "DB", "3"]), ":1");
        assert_eq!(
            notifications(&t),
            vec![(3, "new", "k".into()), (3, "copy_to", "k".into())]
        );
        assert_eq!(run(&mut t, &["COPY", "missing", "x"]), ":0");
        assert_eq!(
            run(&mut t, &["COPY", "k", "x", "DB", "notanumber"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            run(&mut t, &["COPY", "k", "x", "DB", "16"]),
            "-ERR DB index is out of range"
        );
        assert_eq!(run(&mut t, &["COPY", "k", "x", "DB"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["COPY", "k", "x", "FOO"]), "-ERR syntax error");
        t.db = 3;
        assert_eq!(run(&mut t, &["GET", "k"]), "$w");
    }

    #[test]
    fn copy_is_independent_of_the_source() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["COPY", "k", "c"]);
        run(&mut t, &["SET", "c", "changed"]);
        assert_eq!(run(&mut t, &["GET", "k"]), "$v");
    }

    #[test]
    fn move_between_databases() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["EXPIRE", "k", "100"]);
        assert_eq!(
            run(&mut t, &["MOVE", "k", "0"]),
            "-ERR source and destination objects are the same"
        );
        assert_eq!(
            run(&mut t, &["MOVE", "k", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            run(&mut t, &["MOVE", "k", "4294967296"]),
            "-ERR value is out of range, value must between -2147483648 and 2147483647"
        );
        assert_eq!(run(&mut t, &["MOVE", "k", "16"]), "-ERR DB index is out of range");
        t.events.clear();
        assert_eq!(run(&mut t, &["MOVE", "k", "1"]), ":1");
        assert_eq!(
            notifications(&t),
            vec![
                (1, "new", "k".into()),
                (0, "move_from", "k".into()),
                (1, "move_to", "k".into())
            ]
        );
        assert_eq!(run(&mut t, &["EXISTS", "k"]), ":0");
        assert_eq!(run(&mut t, &["MOVE", "k", "1"]), ":0");
        t.db = 1;
        assert_eq!(run(&mut t, &["TTL", "k"]), ":100");
        t.db = 0;
        run(&mut t, &["SET", "k", "again"]);
        assert_eq!(run(&mut t, &["MOVE", "k", "1"]), ":0");
    }

    #[test]
    fn moving_a_list_wakes_blocked_clients_in_the_target_database() {
        let mut t = harness();
        t.machine.keyspace.dbs[0].insert(
            Bytes::from_static(b"l"),
            Value::List(Box::new(vec![Bytes::from_static(b"x")].into())),
        );
        run(&mut t, &["MOVE", "l", "2"]);
        assert!(t.events.contains(&Event::Ready {
            db: 2,
            key: Bytes::from_static(b"l")
        }));
    }

    #[test]
    fn moved_and_copied_keys_carry_the_entry_index_for_watch() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["COPY", "k", "c", "DB", "5"]);
        assert_eq!(t.machine.keyspace.dbs[5].version(b"c", t.now_ms), t.index);
        run(&mut t, &["MOVE", "k", "6"]);
        assert_eq!(t.machine.keyspace.dbs[6].version(b"k", t.now_ms), t.index);
    }

    #[test]
    fn expire_sets_and_replaces_ttls() {
        let mut t = harness();
        run(&mut t, &["SET", "x", "foobar"]);
        assert_eq!(run(&mut t, &["EXPIRE", "x", "5"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "x"]), ":5");
        assert_eq!(run(&mut t, &["EXPIRE", "x", "10"]), ":1");
        assert_eq!(run(&mut t, &["PTTL", "x"]), ":10000");
        assert_eq!(run(&mut t, &["EXPIRE", "missing", "10"]), ":0");
        let at = (t.now_ms / 1000 + 15).to_string();
        assert_eq!(run(&mut t, &["EXPIREAT", "x", &at]), ":1");
        let expected_ms = (t.now_ms / 1000 + 15) * 1000;
        assert_eq!(run(&mut t, &["PEXPIRETIME", "x"]), format!(":{expected_ms}"));
        assert_eq!(
            run(&mut t, &["EXPIRETIME", "x"]),
            format!(":{}", expected_ms / 1000)
        );
        let at_ms = (t.now_ms + 1500).to_string();
        assert_eq!(run(&mut t, &["PEXPIREAT", "x", &at_ms]), ":1");
        assert_eq!(run(&mut t, &["TTL", "x"]), ":2");
        assert_eq!(run(&mut t, &["PTTL", "x"]), ":1500");
        t.now_ms += 1500;
        assert_eq!(run(&mut t, &["GET", "x"]), "nil");
        assert_eq!(run(&mut t, &["TTL", "x"]), ":-2");
    }

    #[test]
    fn ttl_family_on_missing_and_persistent_keys() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        for command in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
            assert_eq!(run(&mut t, &[command, "k"]), ":-1");
            assert_eq!(run(&mut t, &[command, "missing"]), ":-2");
        }
    }

    #[test]
    fn expire_notifications() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        t.events.clear();
        run(&mut t, &["EXPIRE", "k", "10"]);
        run(&mut t, &["PERSIST", "k"]);
        run(&mut t, &["EXPIRE", "k", "-1"]);
        assert_eq!(
            notifications(&t),
            vec![
                (0, "expire", "k".into()),
                (0, "persist", "k".into()),
                (0, "del", "k".into())
            ]
        );
    }

    #[test]
    fn expire_in_the_past_deletes() {
        let mut t = harness();
        run(&mut t, &["SET", "foo", "bar", "EX", "100"]);
        run(&mut t, &["SET", "foo", "bar"]);
        run(&mut t, &["EXPIRE", "foo", "100"]);
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "-10", "LT"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "foo"]), ":-2");
        run(&mut t, &["SET", "foo", "bar"]);
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "-10", "LT"]), ":1");
        assert_eq!(run(&mut t, &["EXISTS", "foo"]), ":0");
        run(&mut t, &["SET", "foo", "bar"]);
        assert_eq!(run(&mut t, &["PEXPIREAT", "foo", "-9223372036854770000"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "foo"]), ":-2");
        run(&mut t, &["SET", "foo", "bar"]);
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "0"]), ":1");
        assert_eq!(run(&mut t, &["EXISTS", "foo"]), ":0");
    }

    #[test]
    fn expire_overflow_errors() {
        let mut t = harness();
        run(&mut t, &["SET", "foo", "bar"]);
        for big in [
            "9223370399119966",
            "9223372036854776",
            "10000000000000000",
            "18446744073709561",
            "-9223372036854776",
            "-9999999999999999",
        ] {
            assert_eq!(
                run(&mut t, &["EXPIRE", "foo", big]),
                "-ERR invalid expire time in 'expire' command",
                "{big}"
            );
        }
        assert_eq!(run(&mut t, &["TTL", "foo"]), ":-1");
        assert_eq!(
            run(&mut t, &["PEXPIRE", "foo", "9223372036854770000"]),
            "-ERR invalid expire time in 'pexpire' command"
        );
        assert_eq!(run(&mut t, &["PEXPIREAT", "foo", "9223372036854770000"]), ":1");
        assert_eq!(
            run(&mut t, &["EXPIRE", "foo", ""]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            run(&mut t, &["EXPIRE", "foo", "1.5"]),
            "-ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn expire_options() {
        let mut t = harness();
        run(&mut t, &["SET", "foo", "bar"]);
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "100", "XX"]), ":0");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "100", "GT"]), ":0");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "100", "LT"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "foo"]), ":100");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "200", "NX"]), ":0");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "200", "LT"]), ":0");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "50", "LT", "XX"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "foo"]), ":50");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "50", "GT"]), ":0");
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "200", "gt"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "foo"]), ":200");
        run(&mut t, &["PERSIST", "foo"]);
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "200", "NX"]), ":1");
        for (options, error) in [
            (
                &["LT", "GT"][..],
                "-ERR GT and LT options at the same time are not compatible",
            ),
            (
                &["NX", "GT"][..],
                "-ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                &["NX", "LT"][..],
                "-ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                &["NX", "XX"][..],
                "-ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (&["AB"][..], "-ERR Unsupported option AB"),
            (&["XX", "AB"][..], "-ERR Unsupported option AB"),
        ] {
            let mut command = vec!["EXPIRE", "foo", "200"];
            command.extend_from_slice(options);
            assert_eq!(run(&mut t, &command), error);
        }
        // Options are checked before the time argument.
        assert_eq!(
            run(&mut t, &["EXPIRE", "foo", "x", "AB"]),
            "-ERR Unsupported option AB"
        );
        for option in ["NX", "XX", "GT", "LT"] {
            assert_eq!(run(&mut t, &["EXPIRE", "none", "100", option]), ":0");
        }
    }

    #[test]
    fn expire_does_not_resurrect_an_expired_key() {
        let mut t = harness();
        run(&mut t, &["SET", "foo", "bar"]);
        run(&mut t, &["PEXPIRE", "foo", "500"]);
        t.now_ms += 1000;
        assert_eq!(run(&mut t, &["EXPIRE", "foo", "10"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "foo"]), ":0");
    }

    #[test]
    fn ttl_rounds_to_the_nearest_second() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        run(&mut t, &["PEXPIRE", "k", "1499"]);
        assert_eq!(run(&mut t, &["TTL", "k"]), ":1");
        run(&mut t, &["PEXPIRE", "k", "1500"]);
        assert_eq!(run(&mut t, &["TTL", "k"]), ":2");
    }

    #[test]
    fn persist() {
        let mut t = harness();
        run(&mut t, &["SET", "x", "foo"]);
        assert_eq!(run(&mut t, &["PERSIST", "x"]), ":0");
        assert_eq!(run(&mut t, &["PERSIST", "missing"]), ":0");
        run(&mut t, &["EXPIRE", "x", "50"]);
        assert_eq!(run(&mut t, &["PERSIST", "x"]), ":1");
        assert_eq!(run(&mut t, &["TTL", "x"]), ":-1");
        assert_eq!(run(&mut t, &["GET", "x"]), "$foo");
    }

    #[test]
    fn keys_with_patterns_skip_expired_keys() {
        let mut t = harness();
        for key in ["key_x", "key_y", "foo_a", "foo_b"] {
            run(&mut t, &["SET", key, "v"]);
        }
        run(&mut t, &["PEXPIRE", "foo_b", "10"]);
        assert_eq!(run(&mut t, &["KEYS", "foo*"]), "[$foo_a, $foo_b]");
        t.now_ms += 10;
        assert_eq!(run(&mut t, &["KEYS", "foo*"]), "[$foo_a]");
        assert_eq!(run(&mut t, &["KEYS", "*"]), "[$key_x, $key_y, $foo_a]");
        assert_eq!(run(&mut t, &["DBSIZE"]), ":4");
    }

    #[test]
    fn scan_visits_every_key_once_without_changes() {
        let mut t = harness();
        for i in 0..25 {
            run(&mut t, &["SET", &format!("k{i}"), "v"]);
        }
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        loop {
            let reply = t.command(&[b"SCAN", cursor.as_bytes(), b"COUNT", b"7"]);
            let Reply::Array(parts) = reply else { panic!() };
            let (Reply::Bulk(next), Reply::Array(keys)) = (&parts[0], &parts[1]) else {
                panic!()
            };
            for key in keys {
                let Reply::Bulk(key) = key else { panic!() };
                seen.push(String::from_utf8_lossy(key).into_owned());
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        let mut expected: Vec<String> = (0..25).map(|i| format!("k{i}")).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn scan_options_and_errors() {
        let mut t = harness();
        run(&mut t, &["SET", "s1", "v"]);
        t.machine.keyspace.dbs[0].insert(
            Bytes::from_static(b"l1"),
            Value::List(Box::new(vec![Bytes::from_static(b"x")].into())),
        );
        assert_eq!(run(&mut t, &["SCAN", "0", "MATCH", "s*"]), "[$0, [$s1]]");
        assert_eq!(run(&mut t, &["SCAN", "0", "TYPE", "LIST"]), "[$0, [$l1]]");
        assert_eq!(run(&mut t, &["SCAN", "0", "TYPE", "string1"]), "[$0, []]");
        assert_eq!(run(&mut t, &["SCAN", "0", "COUNT", "1"]), "[$1, [$l1]]");
        assert_eq!(run(&mut t, &["SCAN", "0", "COUNT", "0"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["SCAN", "0", "COUNT", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["SCAN", "0", "MATCH"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["SCAN", "0", "FOO", "bar"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["SCAN", "x"]), "-ERR invalid cursor");
        assert_eq!(run(&mut t, &["SCAN", " 1"]), "-ERR invalid cursor");
        assert_eq!(
            run(&mut t, &["SCAN", "18446744073709551616"]),
            "-ERR invalid cursor"
        );
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+"), None);
    }

    #[test]
    fn randomkey_returns_live_keys() {
        let mut t = harness();
        assert_eq!(run(&mut t, &["RANDOMKEY"]), "nil");
        run(&mut t, &["SET", "x", "10"]);
        run(&mut t, &["DEL", "x"]);
        assert_eq!(run(&mut t, &["RANDOMKEY"]), "nil");
        run(&mut t, &["SET", "foo", "x"]);
        run(&mut t, &["SET", "bar", "y"]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            seen.insert(run(&mut t, &["RANDOMKEY"]));
            t.now_ms += 1;
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec!["$bar", "$foo"]);
        run(&mut t, &["PEXPIRE", "foo", "1"]);
        run(&mut t, &["PEXPIRE", "bar", "1"]);
        t.now_ms += 1;
        assert_eq!(run(&mut t, &["RANDOMKEY"]), "nil");
    }

    #[test]
    fn flushdb_and_flushall() {
        let mut t = harness();
        run(&mut t, &["SET", "a", "1"]);
        t.db = 1;
        run(&mut t, &["SET", "b", "1"]);
        assert_eq!(run(&mut t, &["FLUSHDB", "ASYNC"]), "+OK");
        assert_eq!(run(&mut t, &["DBSIZE"]), ":0");
        t.db = 0;
        assert_eq!(run(&mut t, &["DBSIZE"]), ":1");
        assert_eq!(run(&mut t, &["FLUSHDB", "now"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["FLUSHALL", "SYNC", "x"]), "-ERR syntax error");
        t.db = 2;
        assert_eq!(run(&mut t, &["FLUSHALL"]), "+OK");
        t.db = 0;
        assert_eq!(run(&mut t, &["DBSIZE"]), ":0");
        assert!(t.events.contains(&Event::DbChanged { db: 0 }));
    }

    #[test]
    fn flush_touches_only_watched_keys_that_existed() {
        let mut t = harness();
        run(&mut t, &["SET", "a", "1"]);
        let existing = t.machine.version(0, b"a", t.now_ms);
        let absent = t.machine.version(0, b"b", t.now_ms);
        run(&mut t, &["FLUSHDB"]);
        assert_ne!(t.machine.version(0, b"a", t.now_ms), existing);
        assert_eq!(t.machine.version(0, b"b", t.now_ms), absent);
    }

    #[test]
    fn swapdb_exchanges_contents_and_touches_watched_keys() {
        let mut t = harness();
        run(&mut t, &["SET", "a", "in0"]);
        t.db = 1;
        run(&mut t, &["SET", "a", "in1"]);
        run(&mut t, &["SET", "b", "only1"]);
        let before = t.machine.version(1, b"a", t.now_ms);
        t.db = 0;
        assert_eq!(run(&mut t, &["SWAPDB", "0", "1"]), "+OK");
        assert_eq!(run(&mut t, &["GET", "a"]), "$in1");
        assert_eq!(run(&mut t, &["GET", "b"]), "$only1");
        assert_ne!(t.machine.version(1, b"a", t.now_ms), before);
        assert_eq!(t.machine.version(0, b"nowhere", t.now_ms), 0);
        assert!(t.events.contains(&Event::DbChanged { db: 0 }));
        assert!(t.events.contains(&Event::DbChanged { db: 1 }));
        assert_eq!(run(&mut t, &["SWAPDB", "0", "0"]), "+OK");
        assert_eq!(run(&mut t, &["SWAPDB", "x", "0"]), "-ERR invalid first DB index");
        assert_eq!(run(&mut t, &["SWAPDB", "0", "x"]), "-ERR invalid second DB index");
        assert_eq!(
            run(&mut t, &["SWAPDB", "0", "99999999999"]),
            "-ERR invalid second DB index"
        );
        assert_eq!(
            run(&mut t, &["SWAPDB", "0", "16"]),
            "-ERR DB index is out of range"
        );
        assert_eq!(
            run(&mut t, &["SWAPDB", "-1", "0"]),
            "-ERR DB index is out of range"
        );
    }

    #[test]
    fn active_expiry_entry_removes_due_keys() {
        use crate::machine::{Entry, Op};
        let mut t = harness();
        run(&mut t, &["SET", "a", "1"]);
        run(&mut t, &["SET", "b", "1"]);
        run(&mut t, &["PEXPIRE", "a", "100"]);
        t.now_ms += 100;
        let due = t.machine.keyspace.dbs[0].expired_keys(t.now_ms, 10);
        assert_eq!(due, vec![Bytes::from_static(b"a")]);
        t.events.clear();
        t.index += 1;
        let entry = Entry {
            time_ms: t.now_ms,
            ops: vec![Op::ExpireKeys {
                db: 0,
                keys: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            }],
        };
        let replies = t.machine.apply(t.index, &entry, &mut t.events);
        assert_eq!(replies, vec![Reply::Int(1)]);
        assert_eq!(notifications(&t), vec![(0, "expired", "a".into())]);
        assert_eq!(run(&mut t, &["DBSIZE"]), ":1");
    }

    fn push_list(t: &mut Harness, key: &str, items: &[&str]) {
        let list = items
            .iter()
            .map(|i| Bytes::copy_from_slice(i.as_bytes()))
            .collect();
        t.machine.keyspace.dbs[t.db as usize]
            .insert(Bytes::copy_from_slice(key.as_bytes()), Value::List(Box::new(list)));
    }

    #[test]
    fn sort_numeric_alpha_limit_and_desc() {
        let mut t = harness();
        push_list(&mut t, "l", &["3", "1", "10", "2"]);
        assert_eq!(run(&mut t, &["SORT", "l"]), "[$1, $2, $3, $10]");
        assert_eq!(run(&mut t, &["SORT", "l", "DESC"]), "[$10, $3, $2, $1]");
        assert_eq!(run(&mut t, &["SORT", "l", "ALPHA"]), "[$1, $10, $2, $3]");
        assert_eq!(run(&mut t, &["SORT", "l", "LIMIT", "1", "2"]), "[$2, $3]");
        assert_eq!(
            run(&mut t, &["SORT", "l", "LIMIT", "-10", "100"]),
            "[$1, $2, $3, $10]"
        );
        assert_eq!(run(&mut t, &["SORT", "l", "LIMIT", "10", "1"]), "[]");
        assert_eq!(run(&mut t, &["SORT_RO", "l", "LIMIT", "0", "1", "DESC"]), "[$10]");
        assert_eq!(run(&mut t, &["SORT", "missing"]), "[]");
        push_list(&mut t, "bad", &["1", "x"]);
        assert_eq!(
            run(&mut t, &["SORT", "bad"]),
            "-ERR One or more scores can't be converted into double"
        );
        assert_eq!(run(&mut t, &["SORT", "bad", "ALPHA"]), "[$1, $x]");
        run(&mut t, &["SET", "s", "v"]);
        assert_eq!(
            run(&mut t, &["SORT", "s"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            run(&mut t, &["SORT", "l", "LIMIT", "x", "1"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["SORT", "l", "FOO"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["SORT_RO", "l", "STORE", "x"]), "-ERR syntax error");
    }

    #[test]
    fn sort_by_and_get_patterns() {
        let mut t = harness();
        push_list(&mut t, "ids", &["1", "2", "3"]);
        for (id, weight, name) in [("1", "30", "one"), ("2", "10", "two"), ("3", "20", "three")] {
            run(&mut t, &["SET", &format!("w_{id}"), weight]);
            run(&mut t, &["SET", &format!("n_{id}"), name]);
        }
        t.machine.keyspace.dbs[0].insert(Bytes::from_static(b"h_2"), {
            let mut hash = Value::new_hash();
            if let Value::Hash(fields) = &mut hash {
                fields.insert(b"f", b"hv");
            }
            hash
        });
        assert_eq!(run(&mut t, &["SORT", "ids", "BY", "w_*"]), "[$2, $3, $1]");
        assert_eq!(
            run(&mut t, &["SORT", "ids", "BY", "w_*", "GET", "n_*", "GET", "#"]),
            "[$two, $2, $three, $3, $one, $1]"
        );
        assert_eq!(
            run(&mut t, &["SORT", "ids", "BY", "nosort", "DESC"]),
            "[$3, $2, $1]"
        );
        assert_eq!(
            run(&mut t, &["SORT", "ids", "BY", "nosort", "LIMIT", "1", "5"]),
            "[$2, $3]"
        );
        assert_eq!(run(&mut t, &["SORT", "ids", "GET", "h_*->f"]), "[nil, $hv, nil]");
        assert_eq!(run(&mut t, &["SORT", "ids", "GET", "nostar"]), "[nil, nil, nil]");
        assert_eq!(
            run(&mut t, &["SORT", "ids", "BY", "n_*", "ALPHA"]),
            "[$1, $3, $2]"
        );
    }

    #[test]
    fn sort_store_replaces_the_destination() {
        let mut t = harness();
        push_list(&mut t, "l", &["2", "1"]);
        run(&mut t, &["SET", "dst", "old"]);
        run(&mut t, &["EXPIRE", "dst", "100"]);
        t.events.clear();
        assert_eq!(run(&mut t, &["SORT", "l", "STORE", "dst"]), ":2");
        assert_eq!(run(&mut t, &["TYPE", "dst"]), "+list");
        assert_eq!(run(&mut t, &["TTL", "dst"]), ":-1");
        assert_eq!(notifications(&t), vec![(0, "sortstore", "dst".into())]);
        assert_eq!(run(&mut t, &["SORT", "missing", "STORE", "dst"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "dst"]), ":0");
        assert_eq!(
            sort_keys(&[
                Bytes::from_static(b"sort"),
                Bytes::from_static(b"k"),
                Bytes::from_static(b"LIMIT"),
                Bytes::from_static(b"0"),
                Bytes::from_static(b"1"),
                Bytes::from_static(b"STORE"),
                Bytes::from_static(b"d")
            ]),
            vec![1, 6]
        );
        let args: Vec<Bytes> = [
            "sort", "abc", "store", "invalid", "store", "stillbad", "store", "def",
        ]
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
        assert_eq!(sort_keys(&args), vec![1, 7]);
    }

    #[test]
    fn sort_weights_read_like_strtod() {
        assert_eq!(sort_weight(b""), Some(0.0));
        assert_eq!(sort_weight(b" 1.5"), Some(1.5));
        assert_eq!(sort_weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_weight(b"1 "), None);
        assert_eq!(sort_weight(b"nan"), None);
        assert_eq!(sort_weight(b"1e999"), None);
        assert_eq!(sort_weight(b"1e-999"), None);
        assert_eq!(sort_weight(b"0e5"), Some(0.0));
    }

    #[test]
    fn local_settings_change_object_and_database_commands() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        t.machine.keyspace.settings.lfu_policy = true;
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "k"]), ":5");
        assert!(
            run(&mut t, &["OBJECT", "IDLETIME", "k"]).starts_with("-ERR An LFU maxmemory policy is selected")
        );
        t.machine.keyspace.settings.cluster_enabled = true;
        assert_eq!(
            run(&mut t, &["MOVE", "k", "1"]),
            "-ERR MOVE is not allowed in cluster mode"
        );
        assert_eq!(
            run(&mut t, &["SWAPDB", "0", "1"]),
            "-ERR SWAPDB is not allowed in cluster mode"
        );
        assert_eq!(
            run(&mut t, &["COPY", "k", "c", "DB", "1"]),
            "-ERR Copying to another database is not allowed in cluster mode"
        );
        assert_eq!(run(&mut t, &["COPY", "k", "c", "DB", "0"]), ":1");
        t.machine.keyspace.settings.encoding.hash_max_listpack_entries = 0;
        run(&mut t, &["HSET", "h", "f", "v"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "h"]), "$hashtable");
    }

    #[test]
    fn object_encoding_follows_content() {
        let mut t = harness();
        let limits = EncodingLimits::default();
        let text = |s: &str| Value::Str(s.as_bytes().into());
        assert_eq!(encoding_name(&text("12345"), 0, &limits), "int");
        assert_eq!(encoding_name(&text("-12345"), 0, &limits), "int");
        assert_eq!(encoding_name(&text("012"), 0, &limits), "embstr");
        assert_eq!(encoding_name(&text(&"a".repeat(44)), 0, &limits), "embstr");
        assert_eq!(encoding_name(&text(&"a".repeat(45)), 0, &limits), "raw");
        let bytes = |s: String| Bytes::from(s);
        let list = Value::List(Box::new((0..10).map(|i| bytes(i.to_string())).collect()));
        assert_eq!(encoding_name(&list, 0, &limits), "listpack");
        let list = Value::List(Box::new((0..2).map(|_| bytes("x".repeat(5000))).collect()));
        assert_eq!(encoding_name(&list, 0, &limits), "quicklist");
        let mut set = Value::new_set();
        if let Value::Set(members) = &mut set {
            members.insert(b"1");
        }
        assert_eq!(encoding_name(&set, 0, &limits), "intset");
        if let Value::Set(members) = &mut set {
            members.insert(b"a");
        }
        assert_eq!(encoding_name(&set, 0, &limits), "listpack");
        if let Value::Set(members) = &mut set {
            for i in 0..200 {
                members.insert(i.to_string().as_bytes());
            }
        }
        assert_eq!(encoding_name(&set, 0, &limits), "hashtable");
        let mut hash = Value::new_hash();
        if let Value::Hash(fields) = &mut hash {
            fields.insert(b"f", b"v");
        }
        assert_eq!(encoding_name(&hash, 0, &limits), "listpack");
        if let Value::Hash(fields) = &mut hash {
            fields.insert(b"g", "v".repeat(65).as_bytes());
        }
        assert_eq!(encoding_name(&hash, 0, &limits), "hashtable");
        let zero = EncodingLimits {
            hash_max_listpack_entries: 0,
            ..limits
        };
        let mut small = Value::new_hash();
        if let Value::Hash(fields) = &mut small {
            fields.insert(b"f", b"v");
        }
        assert_eq!(encoding_name(&small, 0, &zero), "hashtable");
        let mut zset = crate::value::ZSet::new();
        zset.insert(bytes("m".into()), 1.0);
        assert_eq!(
            encoding_name(&Value::ZSet(Box::new(zset.clone())), 0, &limits),
            "listpack"
        );
        zset.insert(bytes("m".repeat(65)), 1.0);
        assert_eq!(encoding_name(&Value::ZSet(Box::new(zset)), 0, &limits), "skiplist");

        run(&mut t, &["SET", "n", "100"]);
        run(&mut t, &["SET", "s", "hello"]);
        run(&mut t, &["SET", "big", "100000"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "n"]), "$int");
        assert_eq!(run(&mut t, &["object", "encoding", "s"]), "$embstr");
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "missing"]), "nil");
        assert_eq!(run(&mut t, &["OBJECT", "REFCOUNT", "n"]), ":2147483647");
        assert_eq!(run(&mut t, &["OBJECT", "REFCOUNT", "big"]), ":1");
        assert_eq!(run(&mut t, &["OBJECT", "REFCOUNT", "s"]), ":1");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "s"]), ":0");
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "missing"]), "nil");
        assert!(
            run(&mut t, &["OBJECT", "FREQ", "s"]).starts_with("-ERR An LFU maxmemory policy is not selected")
        );
        assert_eq!(
            run(&mut t, &["OBJECT", "ENCODING"]),
            "-ERR wrong number of arguments for 'object|encoding' command"
        );
        assert_eq!(
            run(&mut t, &["OBJECT", "FOO", "s"]),
            "-ERR unknown subcommand 'FOO'. Try OBJECT HELP."
        );
        assert!(run(&mut t, &["OBJECT", "HELP"]).starts_with(
            "[+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:, +ENCODING <key>"
        ));
    }

    /// OBJECT ENCODING follows Redis's conversion history, not only the content: strings
    /// changed in place become raw until replaced, hashes and sets never convert back.
    #[test]
    fn object_encoding_remembers_conversions() {
        let mut t = harness();
        let encoding = |t: &mut Harness, key: &str| run(t, &["OBJECT", "ENCODING", key]);
        run(&mut t, &["SET", "n", "1234"]);
        assert_eq!(encoding(&mut t, "n"), "$int");
        run(&mut t, &["SETRANGE", "n", "0", ""]);
        assert_eq!(encoding(&mut t, "n"), "$int", "nothing set, nothing converted");
        run(&mut t, &["SETRANGE", "n", "0", "2"]);
        assert_eq!(run(&mut t, &["GET", "n"]), "$2234");
        assert_eq!(encoding(&mut t, "n"), "$raw");
        run(&mut t, &["INCR", "n"]);
        assert_eq!(encoding(&mut t, "n"), "$int", "INCR stores a new integer");
        run(&mut t, &["APPEND", "n", "5"]);
        assert_eq!(encoding(&mut t, "n"), "$raw");
        run(&mut t, &["SET", "n", "abc"]);
        assert_eq!(encoding(&mut t, "n"), "$embstr");
        run(&mut t, &["APPEND", "fresh", "abc"]);
        assert_eq!(encoding(&mut t, "fresh"), "$embstr", "APPEND creating a key stores it as SET does");
        run(&mut t, &["SETRANGE", "fresh2", "1", "x"]);
        assert_eq!(encoding(&mut t, "fresh2"), "$raw");
        run(&mut t, &["SET", "bits", "1"]);
        run(&mut t, &["SETBIT", "bits", "2", "1"]);
        assert_eq!(encoding(&mut t, "bits"), "$raw", "SETBIT unshares even when the bit is unchanged");
        run(&mut t, &["BITOP", "NOT", "dest", "bits"]);
        assert_eq!(encoding(&mut t, "dest"), "$raw");
        run(&mut t, &["RENAME", "dest", "moved"]);
        assert_eq!(encoding(&mut t, "moved"), "$raw", "RENAME keeps the object");

        let fields: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
        let mut hset = vec!["HSET", "h"];
        for field in &fields {
            hset.extend([field.as_str(), "v"]);
        }
        run(&mut t, &hset);
        assert_eq!(encoding(&mut t, "h"), "$hashtable");
        let mut hdel = vec!["HDEL", "h"];
        hdel.extend(fields[1..].iter().map(String::as_str));
        assert_eq!(run(&mut t, &hdel), ":199");
        assert_eq!(encoding(&mut t, "h"), "$hashtable", "a hashtable never shrinks back");
        run(&mut t, &["COPY", "h", "h2"]);
        assert_eq!(encoding(&mut t, "h2"), "$hashtable");
        run(&mut t, &["MOVE", "h2", "3"]);
        t.db = 3;
        assert_eq!(encoding(&mut t, "h2"), "$hashtable");
        t.db = 0;
        run(&mut t, &["DEL", "h"]);
        run(&mut t, &["HSET", "h", "f", "v"]);
        assert_eq!(encoding(&mut t, "h"), "$listpack", "a new key starts compact");
        run(&mut t, &["HSET", "h", "long", &"x".repeat(65)]);
        run(&mut t, &["HDEL", "h", "long"]);
        assert_eq!(encoding(&mut t, "h"), "$hashtable", "a long value converted it");

        run(&mut t, &["SADD", "s", "1", "2", "3"]);
        assert_eq!(encoding(&mut t, "s"), "$intset");
        run(&mut t, &["SADD", "s", "a"]);
        assert_eq!(encoding(&mut t, "s"), "$listpack");
        run(&mut t, &["SREM", "s", "a"]);
        assert_eq!(encoding(&mut t, "s"), "$listpack", "Redis 7.2: a listpack set stays one");
        let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        let mut sadd = vec!["SADD", "s"];
        sadd.extend(members.iter().map(String::as_str));
        run(&mut t, &sadd);
        assert_eq!(encoding(&mut t, "s"), "$hashtable");
        run(&mut t, &["SPOP", "s", "200"]);
        assert_eq!(run(&mut t, &["SCARD", "s"]), ":3");
        assert_eq!(encoding(&mut t, "s"), "$hashtable");

        // The floor belongs to the key's state: a snapshot keeps it.
        let restored = crate::machine::StateMachine::restore(&t.machine.snapshot()).unwrap();
        let limits = restored.keyspace.settings.encoding;
        let slot = restored.keyspace.dbs[0].get_slot(b"s", t.now_ms).unwrap();
        assert_eq!(encoding_name(&slot.value, slot.encoding_floor(), &limits), "hashtable");
        let slot = restored.keyspace.dbs[0].get_slot(b"moved", t.now_ms).unwrap();
        assert_eq!(encoding_name(&slot.value, slot.encoding_floor(), &limits), "raw");
        assert_eq!(restored.keyspace.dbs[0].version(b"s", t.now_ms), t.machine.version(0, b"s", t.now_ms));
    }

    /// Reads a command as a CLIENT NO-TOUCH connection does.
    fn read_no_touch(t: &mut Harness, args: &[&str]) -> String {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        let reply = t.machine.read(t.db as usize, &args, t.now_ms, false, &mut t.events);
        crate::testing::render(&reply)
    }

    /// OBJECT IDLETIME grows with the time of the commands; commands naming the key reset it,
    /// except those Redis looks up with LOOKUP_NOTOUCH and reads of a NO-TOUCH client.
    #[test]
    fn object_idletime_tracks_accesses() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":0");
        t.now_ms += 10_500;
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":10");
        for command in [
            vec!["TYPE", "k"],
            vec!["EXISTS", "k"],
            vec!["TTL", "k"],
            vec!["PTTL", "k"],
            vec!["EXPIRETIME", "k"],
            vec!["PEXPIRETIME", "k"],
            vec!["OBJECT", "ENCODING", "k"],
            vec!["OBJECT", "FREQ", "k"],
            vec!["OBJECT", "REFCOUNT", "k"],
        ] {
            run(&mut t, &command);
        }
        assert_eq!(read_no_touch(&mut t, &["GET", "k"]), "$v");
        assert_eq!(read_no_touch(&mut t, &["MGET", "k"]), "[$v]");
        t.now_ms += 2_000;
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":12");
        assert_eq!(run(&mut t, &["GET", "k"]), "$v");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":0");
        // TOUCH touches, even for a NO-TOUCH client; so does a write.
        t.now_ms += 5_000;
        assert_eq!(read_no_touch(&mut t, &["TOUCH", "k", "missing"]), ":1");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":0");
        t.now_ms += 5_000;
        run(&mut t, &["APPEND", "k", "w"]);
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":0");
        // Keys named in any position count (MGET's second key), others stay idle.
        run(&mut t, &["SET", "other", "x"]);
        t.now_ms += 4_000;
        run(&mut t, &["MGET", "missing", "k"]);
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":0");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "other"]), ":4");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "missing"]), "nil");
    }

    /// Under an LFU policy a key's counter starts at 5, grows with accesses (logarithmically),
    /// decays by one per idle minute, and survives an overwrite, as in Redis.
    #[test]
    fn object_freq_counts_accesses_under_lfu() {
        let mut t = harness();
        t.machine.keyspace.settings.lfu_policy = true;
        run(&mut t, &["SET", "k", "v"]);
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "k"]), ":5");
        assert!(run(&mut t, &["OBJECT", "IDLETIME", "k"]).starts_with("-ERR An LFU maxmemory policy is selected"));
        run(&mut t, &["TYPE", "k"]);
        run(&mut t, &["EXISTS", "k"]);
        read_no_touch(&mut t, &["GET", "k"]);
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "k"]), ":5");
        // The first access from the initial value always counts.
        run(&mut t, &["GET", "k"]);
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "k"]), ":6");
        for _ in 0..1000 {
            run(&mut t, &["GET", "k"]);
        }
        let frequency = |t: &mut Harness, key: &str| -> i64 {
            run(t, &["OBJECT", "FREQ", key])[1..].parse().unwrap()
        };
        let counted = frequency(&mut t, "k");
        assert!((15..=25).contains(&counted), "{counted} after 1000 reads");
        // An overwrite keeps the counter (and counts as an access).
        run(&mut t, &["SET", "k", "w"]);
        assert!(frequency(&mut t, "k") >= counted);
        let counted = frequency(&mut t, "k");
        t.now_ms += 3 * 60_000;
        assert_eq!(frequency(&mut t, "k"), counted - 3);
        // OBJECT FREQ does not store the decay; with lfu-decay-time 0 there is none.
        t.machine.keyspace.settings.lfu_decay_time = 0;
        t.now_ms += 60 * 60_000;
        assert_eq!(frequency(&mut t, "k"), counted);
        t.machine.keyspace.settings.lfu_decay_time = 1;
        // A deleted and recreated key starts over.
        run(&mut t, &["DEL", "k"]);
        run(&mut t, &["SET", "k", "v"]);
        assert_eq!(frequency(&mut t, "k"), 5);
        // Back under LRU the counter is not reported and the key reads as fresh.
        t.machine.keyspace.settings.lfu_policy = false;
        assert!(run(&mut t, &["OBJECT", "FREQ", "k"]).starts_with("-ERR An LFU maxmemory policy is not selected"));
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "k"]), ":0");
    }

    /// RESTORE's IDLETIME sets the access time under LRU and FREQ the counter under LFU.
    #[test]
    fn restore_sets_idle_time_or_frequency() {
        let mut t = harness();
        run(&mut t, &["SET", "k", "v"]);
        let dumped = match t.command(&[b"DUMP", b"k"]) {
            Reply::Bulk(bytes) => bytes,
            other => panic!("{other:?}"),
        };
        let restore = |t: &mut Harness, args: &[&[u8]]| {
            let mut command: Vec<&[u8]> = vec![b"RESTORE"];
            command.extend_from_slice(args);
            crate::testing::render(&t.command(&command))
        };
        assert_eq!(restore(&mut t, &[b"r", b"0", &dumped, b"IDLETIME", b"1000"]), "+OK");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "r"]), ":1000");
        assert_eq!(run(&mut t, &["GET", "r"]), "$v");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "r"]), ":0");
        // FREQ is ignored under LRU, IDLETIME under LFU.
        assert_eq!(restore(&mut t, &[b"f", b"0", &dumped, b"FREQ", b"100"]), "+OK");
        assert_eq!(run(&mut t, &["OBJECT", "IDLETIME", "f"]), ":0");
        t.machine.keyspace.settings.lfu_policy = true;
        assert_eq!(restore(&mut t, &[b"f", b"0", &dumped, b"REPLACE", b"FREQ", b"100"]), "+OK");
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "f"]), ":100");
        assert_eq!(restore(&mut t, &[b"i", b"0", &dumped, b"IDLETIME", b"1000"]), "+OK");
        assert_eq!(run(&mut t, &["OBJECT", "FREQ", "i"]), ":5");
        // RENAME and MOVE carry the counter with the value (plus their own access); COPY
        // makes a new object.
        let frequency = |t: &mut Harness, key: &str| -> i64 {
            run(t, &["OBJECT", "FREQ", key])[1..].parse().unwrap()
        };
        run(&mut t, &["RENAME", "f", "g"]);
        assert!((100..=101).contains(&frequency(&mut t, "g")));
        run(&mut t, &["COPY", "g", "c"]);
        assert_eq!(frequency(&mut t, "c"), 5);
        assert_eq!(run(&mut t, &["MOVE", "g", "1"]), ":1");
        t.db = 1;
        assert!((100..=102).contains(&frequency(&mut t, "g")));
    }

    /// Access words are node-local: a replica that served reads equals one that did not.
    #[test]
    fn access_words_stay_out_of_replica_equality() {
        let mut leader = harness();
        let mut follower = harness();
        for t in [&mut leader, &mut follower] {
            run(t, &["SET", "k", "v"]);
            run(t, &["RPUSH", "l", "a"]);
        }
        leader.now_ms += 50_000;
        run(&mut leader, &["GET", "k"]);
        assert_eq!(leader.machine.keyspace, follower.machine.keyspace);
        follower.now_ms += 50_000;
        assert_eq!(run(&mut follower, &["OBJECT", "IDLETIME", "k"]), ":50");
        assert_eq!(run(&mut leader, &["OBJECT", "IDLETIME", "k"]), ":0");
    }

    /// DUMP and RESTORE round-trip every type with its TTL, and RESTORE answers Redis's errors
    /// in Redis's order.
    #[test]
    fn dump_and_restore() {
        let mut t = harness();
        let payload = |t: &mut Harness, key: &str| match t.command(&[b"DUMP", key.as_bytes()]) {
            Reply::Bulk(bytes) => bytes,
            other => panic!("{other:?}"),
        };
        let restore = |t: &mut Harness, args: &[&[u8]]| {
            let mut command: Vec<&[u8]> = vec![b"RESTORE"];
            command.extend_from_slice(args);
            crate::testing::render(&t.command(&command))
        };
        assert_eq!(run(&mut t, &["DUMP", "missing"]), "nil");
        run(&mut t, &["RPUSH", "l", "a", "1", "b"]);
        run(&mut t, &["HSET", "h", "f", "v", "n", "12"]);
        run(&mut t, &["SADD", "s", "1", "x"]);
        run(&mut t, &["ZADD", "z", "1.5", "m", "-inf", "n"]);
        run(&mut t, &["SET", "str", "hello"]);
        for (key, read) in [
            ("l", vec!["LRANGE", "copy", "0", "-1"]),
            ("h", vec!["HGETALL", "copy"]),
            ("s", vec!["SMEMBERS", "copy"]),
            ("z", vec!["ZRANGE", "copy", "0", "-1", "WITHSCORES"]),
            ("str", vec!["GET", "copy"]),
        ] {
            let dumped = payload(&mut t, key);
            assert_eq!(restore(&mut t, &[b"copy", b"0", &dumped]), "+OK");
            let mut original = read.clone();
            original[1] = key;
            assert_eq!(run(&mut t, &read), run(&mut t, &original), "{key}");
            assert_eq!(run(&mut t, &["TTL", "copy"]), ":-1");
            assert_eq!(restore(&mut t, &[b"copy", b"0", &dumped]), "-BUSYKEY Target key name already exists.");
            run(&mut t, &["DEL", "copy"]);
        }

        let dumped = payload(&mut t, "str");
        assert_eq!(restore(&mut t, &[b"r", b"5000", &dumped]), "+OK");
        assert_eq!(run(&mut t, &["PTTL", "r"]), ":5000");
        let at = (t.now_ms + 7000).to_string();
        assert_eq!(restore(&mut t, &[b"r", at.as_bytes(), &dumped, b"REPLACE", b"ABSTTL"]), "+OK");
        assert_eq!(run(&mut t, &["PTTL", "r"]), ":7000");
        // An absolute TTL in the past deletes the replaced key and creates nothing.
        assert_eq!(restore(&mut t, &[b"r", b"1", &dumped, b"ABSTTL", b"REPLACE"]), "+OK");
        assert_eq!(run(&mut t, &["EXISTS", "r"]), ":0");

        assert_eq!(restore(&mut t, &[b"r", b"0", &dumped, b"IDLETIME", b"10", b"FREQ", b"1"]), "-ERR syntax error");
        assert_eq!(restore(&mut t, &[b"r", b"0", &dumped, b"FREQ", b"256"]), "-ERR Invalid FREQ value, must be >= 0 and <= 255");
        assert_eq!(restore(&mut t, &[b"r", b"0", &dumped, b"IDLETIME", b"-1"]), "-ERR Invalid IDLETIME value, must be >= 0");
        assert_eq!(restore(&mut t, &[b"r", b"0", &dumped, b"IDLETIME", b"100"]), "+OK");
        // The existing key is checked before the TTL, and the TTL before the payload.
        assert_eq!(restore(&mut t, &[b"r", b"-1", b"junk"]), "-BUSYKEY Target key name already exists.");
        assert_eq!(restore(&mut t, &[b"new", b"-1", b"junk"]), "-ERR Invalid TTL value, must be >= 0");
        assert_eq!(restore(&mut t, &[b"new", b"x", b"junk"]), "-ERR value is not an integer or out of range");
        assert_eq!(restore(&mut t, &[b"new", b"0", b"junk"]), "-ERR DUMP payload version or checksum are wrong");
        let mut corrupt = dumped.to_vec();
        corrupt[2] ^= 0xFF;
        assert_eq!(restore(&mut t, &[b"new", b"0", &corrupt]), "-ERR DUMP payload version or checksum are wrong");
        assert_eq!(run(&mut t, &["EXISTS", "new"]), ":0");
        assert_eq!(run(&mut t, &["RESTORE", "new", "0"]), "-ERR wrong number of arguments for 'restore' command");
    }

    /// A hash restored under smaller limits reports the general encoding, as Redis converts on
    /// load.
    #[test]
    fn restore_converts_under_the_current_limits() {
        let mut t = harness();
        run(&mut t, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "h"]), "$listpack");
        let Reply::Bulk(dumped) = t.command(&[b"DUMP", b"h"]) else { panic!() };
        t.machine.keyspace.settings.encoding.hash_max_listpack_entries = 2;
        assert_eq!(crate::testing::render(&t.command(&[b"RESTORE", b"k", b"0", &dumped])), "+OK");
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "k"]), "$hashtable");
        assert_eq!(run(&mut t, &["HGET", "k", "c"]), "$3");
    }

    /// The conversion happens under the limits in force when the write ran.
    #[test]
    fn encoding_floor_uses_the_limits_of_the_write() {
        let mut t = harness();
        t.machine.keyspace.settings.encoding.hash_max_listpack_entries = 1;
        run(&mut t, &["HSET", "h", "a", "1", "b", "2"]);
        t.machine.keyspace.settings.encoding.hash_max_listpack_entries = 128;
        run(&mut t, &["HDEL", "h", "b"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "h"]), "$hashtable");
        run(&mut t, &["HSET", "small", "a", "1", "b", "2"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "small"]), "$listpack");
    }
}
