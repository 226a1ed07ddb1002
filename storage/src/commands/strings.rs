//! String commands: GET, SET, GETEX, GETDEL, GETSET, MGET, MSET, MSETNX, SETNX, SETEX, PSETEX,
//! INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE, LCS.
//!
//! Semantics, replies, error texts and keyspace notifications are Redis 7.2's. Relative
//! expiries (EX, PX) become absolute from the entry's time; INCRBYFLOAT computes in x87 long
//! double precision (see `long_double`) so its results print exactly as Redis prints them.
//! The helpers at the top are shared with the bitmap family, which works on the same values.

pub(crate) mod long_double;

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{is, parse_i64};
use crate::commands::keys::STRING_FLOOR_RAW;
use crate::ctx::{class, Ctx};
use crate::errors;
use crate::table::{CommandSpec, Flags, Handler, KeyFlags};
use crate::value::{CompactBytes, Value};

use long_double::LongDouble;

/// Largest string value, in bytes (Redis's default `proto-max-bulk-len`).
pub const STRING_LEN_MAX: u64 = 512 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The string at `key`: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
pub fn get_string<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c CompactBytes>, Reply> {
    match ctx.db_ref().get(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::Str(bytes)) => Ok(Some(bytes)),
        Some(_) => Err(Reply::error(errors::WRONGTYPE)),
    }
}

/// Removes `key` if it has expired, as Redis's write lookup does before a command decides
/// anything (the `expired` event comes before the command's own events, as in Redis).
/// Returns whether the key exists afterwards.
pub fn expire_if_needed(ctx: &mut Ctx, key: &[u8]) -> bool {
    let now_ms = ctx.now_ms;
    // `expire_at(key, 0)` sees the key whatever its expiry.
    match ctx.db_ref().expire_at(key, 0) {
        None => false,
        Some(Some(at)) if at <= now_ms => {
            ctx.db().remove(key, now_ms);
            ctx.flush_expired();
            false
        }
        Some(_) => true,
    }
}

/// True when a string of `len + extra` bytes would exceed the size limit.
pub fn too_long(len: u64, extra: u64) -> bool {
    len.checked_add(extra).is_none_or(|total| total > STRING_LEN_MAX)
}

/// Runs `change` on the string at `key` (which must exist and be a string), in place: a
/// boxed string becomes a `Vec` and back without copying, and when it grows, jemalloc's
/// geometric size classes let most reallocations stay in place (APPEND stays amortized
/// linear). Stamps the key as changed.
pub fn modify_string<R>(ctx: &mut Ctx, key: &[u8], change: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let now_ms = ctx.now_ms;
    let Some(Value::Str(bytes)) = ctx.db().get_mut(key, now_ms) else {
        panic!("modify_string on a missing or non-string key");
    };
    let mut buffer = match std::mem::take(bytes) {
        CompactBytes::Heap(boxed) => boxed.into_vec(),
        inline => inline.to_vec(),
    };
    let result = change(&mut buffer);
    *bytes = CompactBytes::from(buffer);
    // Redis unshares the string first (`dbUnshareStringValue`), which makes it raw.
    ctx.db().raise_encoding_floor(key, STRING_FLOOR_RAW);
    result
}

/// Stores a new string under `key`, which does not exist: emits `new` as Redis does when a
/// key is added.
pub fn add_string(ctx: &mut Ctx, key: &Bytes, value: CompactBytes) {
    ctx.db().insert(key, Value::Str(value));
    ctx.notify(class::NEW, "new", key);
}

/// Replaces the value of an existing string key, keeping its TTL (Redis's dbReplaceValue).
/// The new value is a new object, so a raw string's floor goes.
fn replace_string(ctx: &mut Ctx, key: &[u8], value: CompactBytes) {
    let now_ms = ctx.now_ms;
    if let Some(slot) = ctx.db().get_mut(key, now_ms) {
        *slot = Value::Str(value);
        ctx.db().reset_encoding_floor(key);
    }
}

fn bulk_or_nil(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

// ---------------------------------------------------------------------------------------------
// SET family: option parsing and expiry arithmetic

#[derive(Clone, Copy, PartialEq)]
enum ExpireUnit {
    /// EX: relative seconds.
    Seconds,
    /// PX: relative milliseconds.
    Milliseconds,
    /// EXAT: absolute unix seconds.
    UnixSeconds,
    /// PXAT: absolute unix milliseconds.
    UnixMilliseconds,
}

#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a Bytes)>,
}

#[derive(Clone, Copy, PartialEq)]
enum OptionsFor {
    Set,
    GetEx,
}

/// Parses SET's or GETEX's options with Redis's exact acceptance rules: an option that
/// conflicts with one already given is a syntax error, as is an unknown word.
fn parse_string_options(args: &[Bytes], command: OptionsFor) -> Result<StringOptions<'_>, Reply> {
    let mut options = StringOptions::default();
    let set = command == OptionsFor::Set;
    let mut j = if set { 3 } else { 2 };
    while j < args.len() {
        let option = &args[j];
        let next = args.get(j + 1);
        let has_expire = options.expire.is_some();
        let expire_unit = options.expire.map(|(unit, _)| unit);
        if set && is(option, "nx") && !options.xx {
            options.nx = true;
        } else if set && is(option, "xx") && !options.nx {
            options.xx = true;
        } else if set && is(option, "get") {
            options.get = true;
        } else if set && is(option, "keepttl") && !options.persist && !has_expire {
            options.keep_ttl = true;
        } else if !set && is(option, "persist") && !has_expire && !options.keep_ttl {
            options.persist = true;
        } else if let (Some(unit), Some(value)) = (expire_keyword(option), next) {
            // The same keyword may repeat (the last value wins); a different one conflicts.
            if options.keep_ttl || options.persist || expire_unit.is_some_and(|given| given != unit) {
                return Err(Reply::error(errors::SYNTAX));
            }
            options.expire = Some((unit, value));
            j += 1;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(options)
}

fn expire_keyword(option: &[u8]) -> Option<ExpireUnit> {
    if is(option, "ex") {
        Some(ExpireUnit::Seconds)
    } else if is(option, "px") {
        Some(ExpireUnit::Milliseconds)
    } else if is(option, "exat") {
        Some(ExpireUnit::UnixSeconds)
    } else if is(option, "pxat") {
        Some(ExpireUnit::UnixMilliseconds)
    } else {
        None
    }
}

/// The absolute expiry (unix ms) an EX/PX/EXAT/PXAT argument means at the entry's time, with
/// Redis's checks: positive, and no overflow once converted and added.
fn expire_at_ms(ctx: &Ctx, unit: ExpireUnit, value: &[u8], command: &str) -> Result<u64, Reply> {
    let amount = parse_i64(value).ok_or(Reply::error(errors::NOT_INTEGER))?;
    let seconds = matches!(unit, ExpireUnit::Seconds | ExpireUnit::UnixSeconds);
    if amount <= 0 || (seconds && amount > i64::MAX / 1000) {
        return Err(errors::invalid_expire(command));
    }
    let mut at = if seconds { amount * 1000 } else { amount };
    if matches!(unit, ExpireUnit::Seconds | ExpireUnit::Milliseconds) {
        at = at
            .checked_add(ctx.now_ms as i64)
            .ok_or_else(|| errors::invalid_expire(command))?;
    }
    Ok(at as u64)
}

/// What SET, SETNX, SETEX and PSETEX share (Redis's setGenericCommand). `expire` is already
/// absolute. Replies `ok` / `aborted` unless GET was asked for.
struct SetRequest<'a> {
    key: &'a Bytes,
    value: &'a Bytes,
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    expire: Option<u64>,
    ok: Reply,
    aborted: Reply,
}

fn set_generic(ctx: &mut Ctx, request: SetRequest) -> Reply {
    let key = request.key;
    let found = expire_if_needed(ctx, key);
    let old = if request.get {
        match get_string(ctx, key) {
            Ok(old) => Some(old.map(CompactBytes::to_bytes)),
            Err(reply) => return reply,
        }
    } else {
        None
    };
    if (request.nx && found) || (request.xx && !found) {
        return match old {
            Some(old) => bulk_or_nil(old),
            None => request.aborted,
        };
    }
    // The map stores its own copy of the key; the events share the argument (they live only
    // until the entry's apply is done), so no copy of the key is made for them.
    let value = Value::Str(CompactBytes::new(request.value));
    if !found {
        ctx.notify(class::NEW, "new", key);
    }
    let now_ms = ctx.now_ms;
    match request.expire {
        Some(at) => ctx.db().insert_with_expiry(key, value, Some(at)),
        None if request.keep_ttl => ctx.db().insert_keep_ttl(key, value, now_ms),
        None => ctx.db().insert(key, value),
    }
    ctx.notify(class::STRING, "set", key);
    if request.expire.is_some() {
        ctx.notify(class::GENERIC, "expire", key);
    }
    match old {
        Some(old) => bulk_or_nil(old),
        None => request.ok,
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_string(ctx, &args[1]) {
        Ok(value) => bulk_or_nil(value.map(CompactBytes::to_bytes)),
        Err(reply) => reply,
    }
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms-ts | KEEPTTL]
fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let options = match parse_string_options(args, OptionsFor::Set) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let expire = match options.expire {
        Some((unit, value)) => match expire_at_ms(ctx, unit, value, "set") {
            Ok(at) => Some(at),
            Err(reply) => return reply,
        },
        None => None,
    };
    set_generic(
        ctx,
        SetRequest {
            key: &args[1],
            value: &args[2],
            nx: options.nx,
            xx: options.xx,
            get: options.get,
            keep_ttl: options.keep_ttl,
            expire,
            ok: Reply::ok(),
            aborted: Reply::Nil,
        },
    )
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_generic(
        ctx,
        SetRequest {
            key: &args[1],
            value: &args[2],
            nx: true,
            xx: false,
            get: false,
            keep_ttl: false,
            expire: None,
            ok: Reply::Int(1),
            aborted: Reply::Int(0),
        },
    )
}

/// SETEX key seconds value / PSETEX key milliseconds value.
fn setex_generic(ctx: &mut Ctx, args: &[Bytes], unit: ExpireUnit, command: &str) -> Reply {
    let expire = match expire_at_ms(ctx, unit, &args[2], command) {
        Ok(at) => at,
        Err(reply) => return reply,
    };
    set_generic(
        ctx,
        SetRequest {
            key: &args[1],
            value: &args[3],
            nx: false,
            xx: false,
            get: false,
            keep_ttl: false,
            expire: Some(expire),
            ok: Reply::ok(),
            aborted: Reply::Nil,
        },
    )
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setex_generic(ctx, args, ExpireUnit::Seconds, "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setex_generic(ctx, args, ExpireUnit::Milliseconds, "psetex")
}

/// GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]
fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let options = match parse_string_options(args, OptionsFor::GetEx) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let key = &args[1];
    expire_if_needed(ctx, key);
    let value = match get_string(ctx, key) {
        Ok(Some(value)) => value.to_bytes(),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    // The expiry is validated only once the key is known to hold a string.
    let expire = match options.expire {
        Some((unit, amount)) => match expire_at_ms(ctx, unit, amount, "getex") {
            Ok(at) => Some((unit, at)),
            Err(reply) => return reply,
        },
        None => None,
    };
    let now_ms = ctx.now_ms;
    match expire {
        Some((ExpireUnit::UnixSeconds | ExpireUnit::UnixMilliseconds, at)) if at <= now_ms => {
            // An absolute time already past deletes the key.
            ctx.db().remove(key, now_ms);
            ctx.notify(class::GENERIC, "del", key);
        }
        Some((_, at)) => {
            ctx.db().set_expire_at(key, Some(at), now_ms);
            ctx.notify(class::GENERIC, "expire", key);
        }
        None if options.persist && ctx.db_ref().expire_at(key, now_ms).flatten().is_some() => {
            ctx.db().set_expire_at(key, None, now_ms);
            ctx.notify(class::GENERIC, "persist", key);
        }
        None => {}
    }
    Reply::Bulk(value)
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    expire_if_needed(ctx, key);
    let value = match get_string(ctx, key) {
        Ok(Some(value)) => value.to_bytes(),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    ctx.db().remove(key, now_ms);
    ctx.notify(class::GENERIC, "del", key);
    Reply::Bulk(value)
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_generic(
        ctx,
        SetRequest {
            key: &args[1],
            value: &args[2],
            nx: false,
            xx: false,
            get: true,
            keep_ttl: false,
            expire: None,
            ok: Reply::ok(),
            aborted: Reply::Nil,
        },
    )
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Array(
        args[1..]
            .iter()
            .map(|key| match ctx.db_ref().get(key, ctx.now_ms) {
                Some(Value::Str(value)) => Reply::Bulk(value.to_bytes()),
                _ => Reply::Nil,
            })
            .collect(),
    )
}

/// MSET / MSETNX: `key value` pairs; MSETNX sets nothing if any key exists.
fn mset_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    if args.len().is_multiple_of(2) {
        return errors::wrong_arity(if nx { "msetnx" } else { "mset" });
    }
    if nx {
        for pair in args[1..].chunks(2) {
            if expire_if_needed(ctx, &pair[0]) {
                return Reply::Int(0);
            }
        }
    }
    for pair in args[1..].chunks(2) {
        let key = &pair[0];
        if !expire_if_needed(ctx, key) {
            ctx.notify(class::NEW, "new", key);
        }
        ctx.db().insert(key, Value::Str(CompactBytes::new(&pair[1])));
        ctx.notify(class::STRING, "set", key);
    }
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    mset_generic(ctx, args, false)
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    mset_generic(ctx, args, true)
}

/// INCR, DECR, INCRBY, DECRBY: adds `increment` to the integer at `key` (0 if absent).
fn incr_by(ctx: &mut Ctx, key: &Bytes, increment: i64) -> Reply {
    expire_if_needed(ctx, key);
    let current = match get_string(ctx, key) {
        Ok(None) => None,
        Ok(Some(value)) => match parse_i64(value) {
            Some(value) => Some(value),
            None => return Reply::error(errors::NOT_INTEGER),
        },
        Err(reply) => return reply,
    };
    let Some(value) = current.unwrap_or(0).checked_add(increment) else {
        return Reply::error(errors::OVERFLOW);
    };
    let text = crate::args::bytes_of_i64(value);
    if current.is_some() {
        replace_string(ctx, key, CompactBytes::new(&text));
    } else {
        add_string(ctx, key, CompactBytes::new(&text));
    }
    ctx.notify(class::STRING, "incrby", key);
    Reply::Int(value)
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Some(increment) => incr_by(ctx, &args[1], increment),
        None => Reply::error(errors::NOT_INTEGER),
    }
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Some(i64::MIN) => Reply::error(errors::DECREMENT_OVERFLOW),
        Some(decrement) => incr_by(ctx, &args[1], -decrement),
        None => Reply::error(errors::NOT_INTEGER),
    }
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    expire_if_needed(ctx, key);
    let (exists, current) = match get_string(ctx, key) {
        Ok(None) => (false, Some(LongDouble::ZERO)),
        Ok(Some(value)) => (true, LongDouble::parse(value)),
        Err(reply) => return reply,
    };
    let (Some(current), Some(increment)) = (current, LongDouble::parse(&args[2])) else {
        return Reply::error(errors::NOT_FLOAT);
    };
    let Some(sum) = current.checked_add(increment) else {
        return Reply::error(errors::NAN_OR_INFINITY);
    };
    let text = Bytes::from(sum.to_human_string());
    if exists {
        replace_string(ctx, key, CompactBytes::new(&text));
    } else {
        add_string(ctx, key, CompactBytes::new(&text));
    }
    ctx.notify(class::STRING, "incrbyfloat", key);
    Reply::Bulk(text)
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, suffix) = (&args[1], &args[2]);
    expire_if_needed(ctx, key);
    let total = match get_string(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => {
            add_string(ctx, key, CompactBytes::new(suffix));
            suffix.len()
        }
        Ok(Some(value)) => {
            if too_long(value.len() as u64, suffix.len() as u64) {
                return Reply::error(errors::STRING_TOO_LONG);
            }
            modify_string(ctx, key, |buffer| {
                buffer.extend_from_slice(suffix);
                buffer.len()
            })
        }
    };
    ctx.notify(class::STRING, "append", key);
    Reply::Int(total as i64)
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_string(ctx, &args[1]) {
        Ok(value) => Reply::Int(value.map_or(0, |v| v.len() as i64)),
        Err(reply) => reply,
    }
}

/// GETRANGE / SUBSTR key start end: inclusive, negative indexes count from the end.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(mut start), Some(mut end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let value = match get_string(ctx, &args[1]) {
        Ok(Some(value)) => value,
        Ok(None) => return Reply::Bulk(Bytes::new()),
        Err(reply) => return reply,
    };
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if len == 0 || start > end {
        return Reply::Bulk(Bytes::new());
    }
    Reply::Bulk(Bytes::copy_from_slice(&value[start as usize..=end as usize]))
}

/// SETRANGE key offset value: overwrites from `offset`, zero-padding as needed.
fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, patch) = (&args[1], &args[3]);
    let Some(offset) = parse_i64(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    if offset < 0 {
        return Reply::error(errors::OFFSET_OUT_OF_RANGE);
    }
    let offset = offset as u64;
    expire_if_needed(ctx, key);
    match get_string(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => {
            if patch.is_empty() {
                return Reply::Int(0);
            }
            if too_long(offset, patch.len() as u64) {
                return Reply::error(errors::STRING_TOO_LONG);
            }
            let mut value = vec![0u8; offset as usize + patch.len()];
            value[offset as usize..].copy_from_slice(patch);
            add_string(ctx, key, CompactBytes::from(value));
            // Redis builds the new string in place: raw, whatever its length.
            ctx.db().raise_encoding_floor(key, STRING_FLOOR_RAW);
        }
        Ok(Some(value)) => {
            if patch.is_empty() {
                return Reply::Int(value.len() as i64);
            }
            if too_long(offset, patch.len() as u64) {
                return Reply::error(errors::STRING_TOO_LONG);
            }
            let offset = offset as usize;
            modify_string(ctx, key, |buffer| {
                let end = offset + patch.len();
                if buffer.len() < end {
                    buffer.resize(end, 0);
                }
                buffer[offset..end].copy_from_slice(patch);
            });
        }
    }
    ctx.notify(class::STRING, "setrange", key);
    let len = get_string(ctx, key).ok().flatten().map_or(0, |value| value.len());
    Reply::Int(len as i64)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (a, b) = match (get_string(ctx, &args[1]), get_string(ctx, &args[2])) {
        (Ok(a), Ok(b)) => (
            a.map(CompactBytes::to_bytes).unwrap_or_default(),
            b.map(CompactBytes::to_bytes).unwrap_or_default(),
        ),
        _ => return Reply::error(errors::LCS_WRONG_TYPE),
    };
    let (mut want_len, mut want_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: u64 = 0;
    let mut j = 3;
    while j < args.len() {
        let option = &args[j];
        if is(option, "idx") {
            want_idx = true;
        } else if is(option, "len") {
            want_len = true;
        } else if is(option, "withmatchlen") {
            with_match_len = true;
        } else if is(option, "minmatchlen") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]) {
                Some(len) => min_match_len = len.max(0) as u64,
                None => return Reply::error(errors::NOT_INTEGER),
            }
            j += 1;
        } else {
            return Reply::error(errors::SYNTAX);
        }
        j += 1;
    }
    if want_len && want_idx {
        return Reply::error(errors::LCS_LEN_AND_IDX);
    }
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Reply::error(errors::LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > STRING_LEN_MAX {
        return Reply::error(errors::LCS_TOO_MUCH_MEMORY);
    }
    // table[i][j]: length of the LCS of a[..i] and b[..j].
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if want_len {
        return Reply::Int(total as i64);
    }
    // Walk back from the end, collecting the common string and the matching ranges (Redis
    // emits ranges from the end of the strings towards their start).
    let mut common = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    let (mut i, mut j) = (alen, blen);
    // (a_start, a_end, b_start, b_end) of the range being extended, if any.
    let mut range: Option<(usize, usize, usize, usize)> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[idx - 1] = a[i - 1];
            match range {
                None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, a_end, b_start, b_end)) => {
                    if a_start == i && b_start == j {
                        range = Some((a_start - 1, a_end, b_start - 1, b_end));
                    } else {
                        emit = true;
                    }
                }
            }
            if let Some((a_start, _, b_start, _)) = range {
                if a_start == 0 || b_start == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if range.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                let match_len = (a_end - a_start + 1) as u64;
                if min_match_len == 0 || match_len >= min_match_len {
                    let mut entry = vec![
                        Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                        Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                    ];
                    if with_match_len {
                        entry.push(Reply::Int(match_len as i64));
                    }
                    matches.push(Reply::Array(entry));
                }
            }
        }
    }
    if want_idx {
        return Reply::Map(vec![
            (Reply::bulk_copy(b"matches"), Reply::Array(matches)),
            (Reply::bulk_copy(b"len"), Reply::Int(total as i64)),
        ]);
    }
    Reply::Bulk(Bytes::from(common))
}

const STRING_READ: Flags = Flags::READONLY.union(Flags::FAST);
const STRING_WRITE: Flags = Flags::WRITE.union(Flags::DENYOOM);
const STRING_WRITE_FAST: Flags = STRING_WRITE.union(Flags::FAST);

/// A one-key string command (the key at position 1).
const fn one_key(name: &'static str, arity: i32, handler: crate::table::KeyspaceFn) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "string",
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

/// SET's key flags for COMMAND GETKEYSANDFLAGS: with GET it reads the old value, otherwise
/// it overwrites without reading (Redis's `setGetKeys`).
fn set_key_flags(args: &[Bytes]) -> KeyFlags {
    if args.iter().skip(3).any(|arg| is(arg, "GET")) {
        KeyFlags::RW_ACCESS_UPDATE
    } else {
        KeyFlags::OW_UPDATE
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: STRING_READ,
        acl: &["read", "string", "fast"],
        summary: "Returns the string value of a key.",
        syntax: "key",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("get", 2, get)
    },
    CommandSpec {
        flags: STRING_WRITE,
        acl: &["write", "string", "slow"],
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        syntax: "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE_VARIABLE],
        key_flags_finder: Some(set_key_flags),
        ..one_key("set", -3, set)
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::FAST),
        acl: &["write", "string", "fast"],
        since: "6.2.0",
        summary: "Returns the string value of a key after setting its expiration time.",
        syntax: "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("getex", -2, getex)
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::FAST),
        acl: &["write", "string", "fast"],
        since: "6.2.0",
        summary: "Returns the string value of a key after deleting the key.",
        syntax: "key",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..one_key("getdel", 2, getdel)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        summary: "Returns the previous string value of a key after setting it to a new value.",
        syntax: "key value",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("getset", 3, getset)
    },
    CommandSpec {
        flags: STRING_READ,
        last_key: -1,
        acl: &["read", "string", "fast"],
        summary: "Atomically returns the string values of one or more keys.",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("mget", -2, mget)
    },
    CommandSpec {
        flags: STRING_WRITE,
        last_key: -1,
        step: 2,
        acl: &["write", "string", "slow"],
        since: "1.0.1",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        syntax: "key value [key value ...]",
        key_flags: &[KeyFlags::OW_UPDATE],
        ..one_key("mset", -3, mset)
    },
    CommandSpec {
        flags: STRING_WRITE,
        last_key: -1,
        step: 2,
        acl: &["write", "string", "slow"],
        since: "1.0.1",
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        syntax: "key value [key value ...]",
        key_flags: &[KeyFlags::OW_INSERT],
        ..one_key("msetnx", -3, msetnx)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        summary: "Set the string value of a key only when the key doesn't exist.",
        syntax: "key value",
        key_flags: &[KeyFlags::OW_INSERT],
        ..one_key("setnx", 3, setnx)
    },
    CommandSpec {
        flags: STRING_WRITE,
        acl: &["write", "string", "slow"],
        since: "2.0.0",
        summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        syntax: "key seconds value",
        key_flags: &[KeyFlags::OW_UPDATE],
        ..one_key("setex", 4, setex)
    },
    CommandSpec {
        flags: STRING_WRITE,
        acl: &["write", "string", "slow"],
        since: "2.6.0",
        summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        syntax: "key milliseconds value",
        key_flags: &[KeyFlags::OW_UPDATE],
        ..one_key("psetex", 4, psetex)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        syntax: "key",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("incr", 2, incr)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        syntax: "key",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("decr", 2, decr)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        syntax: "key increment",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("incrby", 3, incrby)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        syntax: "key decrement",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("decrby", 3, decrby)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        since: "2.6.0",
        summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        syntax: "key increment",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("incrbyfloat", 3, incrbyfloat)
    },
    CommandSpec {
        flags: STRING_WRITE_FAST,
        acl: &["write", "string", "fast"],
        since: "2.0.0",
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        syntax: "key value",
        key_flags: &[KeyFlags::RW_INSERT],
        ..one_key("append", 3, append)
    },
    CommandSpec {
        flags: STRING_READ,
        acl: &["read", "string", "fast"],
        since: "2.2.0",
        summary: "Returns the length of a string value.",
        syntax: "key",
        key_flags: &[KeyFlags::RO],
        ..one_key("strlen", 2, strlen)
    },
    CommandSpec {
        flags: Flags::READONLY,
        acl: &["read", "string", "slow"],
        since: "2.4.0",
        summary: "Returns a substring of the string stored at a key.",
        syntax: "key start end",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("getrange", 4, getrange)
    },
    CommandSpec {
        flags: Flags::READONLY,
        acl: &["read", "string", "slow"],
        summary: "Returns a substring from a string value.",
        syntax: "key start end",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("substr", 4, getrange)
    },
    CommandSpec {
        flags: STRING_WRITE,
        acl: &["write", "string", "slow"],
        since: "2.2.0",
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        syntax: "key offset value",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..one_key("setrange", 4, setrange)
    },
    CommandSpec {
        flags: Flags::READONLY,
        last_key: 2,
        acl: &["read", "string", "slow"],
        since: "7.0.0",
        summary: "Finds the longest common substring.",
        syntax: "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("lcs", -3, lcs)
    },
];

#[cfg(test)]
mod tests {
    use crate::testing::{run, Harness};

    #[test]
    fn set_then_get() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SET", "k", "v"]), "+OK");
        assert_eq!(run(&mut t, &["GET", "k"]), "$v");
        assert_eq!(run(&mut t, &["GET", "missing"]), "nil");
        assert_eq!(run(&mut t, &["SET", "k", ""]), "+OK");
        assert_eq!(run(&mut t, &["GET", "k"]), "$");
    }

    #[test]
    fn set_nx_xx_get() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SET", "k", "1", "NX"]), "+OK");
        assert_eq!(run(&mut t, &["SET", "k", "2", "nx"]), "nil");
        assert_eq!(run(&mut t, &["GET", "k"]), "$1");
        assert_eq!(run(&mut t, &["SET", "other", "1", "XX"]), "nil");
        assert_eq!(run(&mut t, &["SET", "k", "2", "XX"]), "+OK");
        assert_eq!(run(&mut t, &["SET", "k", "3", "GET"]), "$2");
        assert_eq!(run(&mut t, &["SET", "new", "3", "GET"]), "nil");
        assert_eq!(run(&mut t, &["SET", "k", "4", "GET", "NX"]), "$3");
        assert_eq!(run(&mut t, &["GET", "k"]), "$3");
        assert_eq!(run(&mut t, &["SET", "nope", "4", "GET", "XX"]), "nil");
        assert_eq!(run(&mut t, &["EXISTS", "nope"]), ":0");
        assert_eq!(run(&mut t, &["SET", "k", "1", "NX", "XX"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["SET", "k", "1", "XX", "NX"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["SET", "k", "1", "NX", "NX"]), "nil");
        assert_eq!(run(&mut t, &["SET", "k", "1", "bogus"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["SET", "k"]),
            "-ERR wrong number of arguments for 'set' command"
        );
    }

    #[test]
    fn set_get_on_wrong_type_is_wrongtype_and_keeps_the_value() {
        let mut t = Harness::new();
        t.machine.keyspace.dbs[0].insert(bytes::Bytes::from_static(b"h"), crate::value::Value::new_hash());
        assert!(run(&mut t, &["SET", "h", "v", "GET"]).starts_with("-WRONGTYPE"));
        assert_eq!(run(&mut t, &["SET", "h", "v"]), "+OK");
        assert_eq!(run(&mut t, &["GET", "h"]), "$v");
    }

    #[test]
    fn set_expiry_options() {
        let mut t = Harness::new();
        let now = t.now_ms;
        assert_eq!(run(&mut t, &["SET", "k", "v", "EX", "10"]), "+OK");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some(now + 10_000))
        );
        assert_eq!(run(&mut t, &["SET", "k", "v", "PX", "1500"]), "+OK");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some(now + 1500))
        );
        let at = (now / 1000 + 100).to_string();
        assert_eq!(run(&mut t, &["SET", "k", "v", "EXAT", &at]), "+OK");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some((now / 1000 + 100) * 1000))
        );
        let at = (now + 5).to_string();
        assert_eq!(run(&mut t, &["SET", "k", "v", "PXAT", &at]), "+OK");
        assert_eq!(run(&mut t, &["SET", "k", "w", "KEEPTTL"]), "+OK");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some(now + 5))
        );
        assert_eq!(run(&mut t, &["SET", "k", "x"]), "+OK");
        assert_eq!(t.machine.keyspace.dbs[0].expire_at(b"k", now), Some(None));
        t.now_ms += 10;
        assert_eq!(run(&mut t, &["SET", "k", "v", "PX", "5"]), "+OK");
        t.now_ms += 5;
        assert_eq!(run(&mut t, &["GET", "k"]), "nil");
    }

    #[test]
    fn set_expiry_errors() {
        let mut t = Harness::new();
        for (option, value) in [
            ("EX", "0"),
            ("EX", "-1"),
            ("PX", "0"),
            ("EXAT", "0"),
            ("PXAT", "-5"),
        ] {
            assert_eq!(
                run(&mut t, &["SET", "k", "v", option, value]),
                "-ERR invalid expire time in 'set' command"
            );
        }
        assert_eq!(
            run(&mut t, &["SET", "k", "v", "EX", "9223372036854775"]),
            "-ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            run(&mut t, &["SET", "k", "v", "PX", "9223372036854775807"]),
            "-ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            run(&mut t, &["SET", "k", "v", "EX", "abc"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["SET", "k", "v", "EX"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["SET", "k", "v", "EX", "10", "PX", "10"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["SET", "k", "v", "EX", "10", "KEEPTTL"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["SET", "k", "v", "KEEPTTL", "EX", "10"]),
            "-ERR syntax error"
        );
        assert_eq!(run(&mut t, &["SET", "k", "v", "PERSIST"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["SET", "k", "v", "EX", "10", "EX", "20"]), "+OK");
        assert_eq!(run(&mut t, &["EXISTS", "k"]), ":1");
        assert_eq!(
            run(&mut t, &["SETEX", "k", "0", "v"]),
            "-ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            run(&mut t, &["PSETEX", "k", "-1", "v"]),
            "-ERR invalid expire time in 'psetex' command"
        );
    }

    #[test]
    fn set_notifications() {
        let mut t = Harness::new();
        run(&mut t, &["SET", "k", "v"]);
        assert_eq!(t.take_notification_texts(), ["new:k", "set:k"]);
        run(&mut t, &["SET", "k", "v", "EX", "5"]);
        assert_eq!(t.take_notification_texts(), ["set:k", "expire:k"]);
        run(&mut t, &["SET", "k", "v", "NX"]);
        assert!(t.take_notification_texts().is_empty());
        t.now_ms += 5000;
        run(&mut t, &["SET", "k", "v"]);
        assert_eq!(t.take_notification_texts(), ["expired:k", "new:k", "set:k"]);
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SETNX", "k", "a"]), ":1");
        assert_eq!(run(&mut t, &["SETNX", "k", "b"]), ":0");
        assert_eq!(run(&mut t, &["GET", "k"]), "$a");
        let now = t.now_ms;
        assert_eq!(run(&mut t, &["SETEX", "k", "10", "b"]), "+OK");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some(now + 10_000))
        );
        assert_eq!(run(&mut t, &["PSETEX", "k", "10", "c"]), "+OK");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some(now + 10))
        );
        assert_eq!(run(&mut t, &["GET", "k"]), "$c");
        t.now_ms += 10;
        assert_eq!(run(&mut t, &["SETNX", "k", "d"]), ":1");
        assert_eq!(run(&mut t, &["GET", "k"]), "$d");
    }

    #[test]
    fn getex_options() {
        let mut t = Harness::new();
        let now = t.now_ms;
        assert_eq!(run(&mut t, &["GETEX", "missing", "EX", "abc"]), "nil");
        run(&mut t, &["SET", "k", "v"]);
        t.take_notification_texts();
        assert_eq!(run(&mut t, &["GETEX", "k"]), "$v");
        assert!(t.take_notification_texts().is_empty());
        assert_eq!(run(&mut t, &["GETEX", "k", "EX", "10"]), "$v");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"k", now),
            Some(Some(now + 10_000))
        );
        assert_eq!(t.take_notification_texts(), ["expire:k"]);
        assert_eq!(run(&mut t, &["GETEX", "k", "PERSIST"]), "$v");
        assert_eq!(t.machine.keyspace.dbs[0].expire_at(b"k", now), Some(None));
        assert_eq!(t.take_notification_texts(), ["persist:k"]);
        assert_eq!(run(&mut t, &["GETEX", "k", "PERSIST"]), "$v");
        assert!(t.take_notification_texts().is_empty());
        assert_eq!(
            run(&mut t, &["GETEX", "k", "EX", "0"]),
            "-ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            run(&mut t, &["GETEX", "k", "PERSIST", "EX", "1"]),
            "-ERR syntax error"
        );
        assert_eq!(run(&mut t, &["GETEX", "k", "NX"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["GETEX", "k", "KEEPTTL"]), "-ERR syntax error");
        let past = (now - 1).to_string();
        assert_eq!(run(&mut t, &["GETEX", "k", "PXAT", &past]), "$v");
        assert_eq!(t.take_notification_texts(), ["del:k"]);
        assert_eq!(run(&mut t, &["EXISTS", "k"]), ":0");
        assert_eq!(
            run(&mut t, &["GETEX"]),
            "-ERR wrong number of arguments for 'getex' command"
        );
    }

    #[test]
    fn getdel_and_getset() {
        let mut t = Harness::new();
        run(&mut t, &["SET", "k", "v", "EX", "100"]);
        t.take_notification_texts();
        assert_eq!(run(&mut t, &["GETDEL", "k"]), "$v");
        assert_eq!(t.take_notification_texts(), ["del:k"]);
        assert_eq!(run(&mut t, &["GETDEL", "k"]), "nil");
        assert_eq!(run(&mut t, &["GETSET", "k", "a"]), "nil");
        assert_eq!(run(&mut t, &["GETSET", "k", "b"]), "$a");
        assert_eq!(run(&mut t, &["GET", "k"]), "$b");
        assert_eq!(t.take_notification_texts(), ["new:k", "set:k", "set:k"]);
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["MSET", "a", "1", "b", "2"]), "+OK");
        assert_eq!(run(&mut t, &["MGET", "a", "x", "b"]), "[$1, nil, $2]");
        assert_eq!(
            run(&mut t, &["MSET", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            run(&mut t, &["MSETNX", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'msetnx' command"
        );
        assert_eq!(run(&mut t, &["MSET", "a", "x", "a", "y"]), "+OK");
        assert_eq!(run(&mut t, &["GET", "a"]), "$y");
        assert_eq!(run(&mut t, &["MSETNX", "c", "1", "a", "2"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "c"]), ":0");
        t.take_notification_texts();
        assert_eq!(run(&mut t, &["MSETNX", "c", "1", "c", "2"]), ":1");
        assert_eq!(run(&mut t, &["GET", "c"]), "$2");
        assert_eq!(t.take_notification_texts(), ["new:c", "set:c", "set:c"]);
    }

    #[test]
    fn incr_family() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["INCR", "n"]), ":1");
        assert_eq!(run(&mut t, &["GET", "n"]), "$1");
        assert_eq!(run(&mut t, &["DECR", "n"]), ":0");
        assert_eq!(run(&mut t, &["DECR", "n"]), ":-1");
        assert_eq!(run(&mut t, &["INCRBY", "n", "17179869184"]), ":17179869183");
        assert_eq!(run(&mut t, &["DECRBY", "n", "17179869184"]), ":-1");
        assert_eq!(run(&mut t, &["DECRBY", "m", "1"]), ":-1");
        run(&mut t, &["SET", "n", " 11"]);
        assert_eq!(
            run(&mut t, &["INCR", "n"]),
            "-ERR value is not an integer or out of range"
        );
        run(&mut t, &["SET", "n", "9223372036854775807"]);
        assert_eq!(
            run(&mut t, &["INCR", "n"]),
            "-ERR increment or decrement would overflow"
        );
        run(&mut t, &["SET", "n", "0"]);
        assert_eq!(
            run(&mut t, &["DECRBY", "n", "-9223372036854775808"]),
            "-ERR decrement would overflow"
        );
        assert_eq!(
            run(&mut t, &["INCRBY", "n", "x"]),
            "-ERR value is not an integer or out of range"
        );
        t.machine.keyspace.dbs[0].insert(bytes::Bytes::from_static(b"h"), crate::value::Value::new_hash());
        assert!(run(&mut t, &["INCR", "h"]).starts_with("-WRONGTYPE"));
        t.take_notification_texts();
        let now = t.now_ms;
        run(&mut t, &["SET", "ttl", "5", "EX", "100"]);
        assert_eq!(run(&mut t, &["INCR", "ttl"]), ":6");
        assert_eq!(
            t.machine.keyspace.dbs[0].expire_at(b"ttl", now),
            Some(Some(now + 100_000))
        );
        assert_eq!(t.take_notification_texts(), ["new:ttl", "set:ttl", "expire:ttl", "incrby:ttl"]);
    }

    #[test]
    fn incrbyfloat_formats_as_redis() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["INCRBYFLOAT", "f", "10.5"]), "$10.5");
        assert_eq!(run(&mut t, &["INCRBYFLOAT", "f", "0.1"]), "$10.6");
        assert_eq!(run(&mut t, &["SET", "f", "1.5"]), "+OK");
        assert_eq!(run(&mut t, &["INCRBYFLOAT", "f", "1.5"]), "$3");
        assert_eq!(run(&mut t, &["GET", "f"]), "$3");
        assert_eq!(run(&mut t, &["INCRBYFLOAT", "f", "5.0e3"]), "$5003");
        assert_eq!(run(&mut t, &["INCRBYFLOAT", "f", "-5003"]), "$0");
        assert_eq!(
            run(&mut t, &["INCRBYFLOAT", "f", "+inf"]),
            "-ERR increment would produce NaN or Infinity"
        );
        assert_eq!(
            run(&mut t, &["INCRBYFLOAT", "f", "x"]),
            "-ERR value is not a valid float"
        );
        run(&mut t, &["SET", "f", " 11"]);
        assert_eq!(
            run(&mut t, &["INCRBYFLOAT", "f", "1"]),
            "-ERR value is not a valid float"
        );
        run(&mut t, &["SET", "f", "1"]);
        run(&mut t, &["SETRANGE", "f", "2", "2"]);
        assert_eq!(
            run(&mut t, &["INCRBYFLOAT", "f", "1"]),
            "-ERR value is not a valid float"
        );
        t.take_notification_texts();
        run(&mut t, &["INCRBYFLOAT", "g", "1"]);
        assert_eq!(t.take_notification_texts(), ["new:g", "incrbyfloat:g"]);
    }

    #[test]
    fn append_and_strlen() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["APPEND", "k", "foo"]), ":3");
        assert_eq!(run(&mut t, &["APPEND", "k", "bar"]), ":6");
        assert_eq!(run(&mut t, &["GET", "k"]), "$foobar");
        assert_eq!(run(&mut t, &["STRLEN", "k"]), ":6");
        assert_eq!(run(&mut t, &["STRLEN", "none"]), ":0");
        assert_eq!(t.take_notification_texts(), ["new:k", "append:k", "append:k"]);
        t.machine.keyspace.dbs[0].insert(bytes::Bytes::from_static(b"h"), crate::value::Value::new_hash());
        assert!(run(&mut t, &["APPEND", "h", "x"]).starts_with("-WRONGTYPE"));
        assert!(run(&mut t, &["STRLEN", "h"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn getrange_and_substr() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["GETRANGE", "k", "0", "-1"]), "$");
        run(&mut t, &["SET", "k", "Hello World"]);
        assert_eq!(run(&mut t, &["GETRANGE", "k", "0", "3"]), "$Hell");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "0", "-1"]), "$Hello World");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "-4", "-1"]), "$orld");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "5", "3"]), "$");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "5", "5000"]), "$ World");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "-5000", "10000"]), "$Hello World");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "-1", "-3"]), "$");
        assert_eq!(run(&mut t, &["GETRANGE", "k", "0", "4294967297"]), "$Hello World");
        assert_eq!(run(&mut t, &["SUBSTR", "k", "0", "0"]), "$H");
        assert_eq!(
            run(&mut t, &["GETRANGE", "k", "a", "1"]),
            "-ERR value is not an integer or out of range"
        );
        run(&mut t, &["SET", "e", ""]);
        assert_eq!(run(&mut t, &["GETRANGE", "e", "0", "-1"]), "$");
    }

    #[test]
    fn setrange() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SETRANGE", "k", "0", ""]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "k"]), ":0");
        assert_eq!(run(&mut t, &["SETRANGE", "k", "1", "foo"]), ":4");
        assert_eq!(run(&mut t, &["GET", "k"]), "$\u{0}foo");
        run(&mut t, &["SET", "k", "foo"]);
        assert_eq!(run(&mut t, &["SETRANGE", "k", "1", "b"]), ":3");
        assert_eq!(run(&mut t, &["GET", "k"]), "$fbo");
        assert_eq!(run(&mut t, &["SETRANGE", "k", "4", "bar"]), ":7");
        assert_eq!(run(&mut t, &["GET", "k"]), "$fbo\u{0}bar");
        assert_eq!(run(&mut t, &["SETRANGE", "k", "0", ""]), ":7");
        assert_eq!(
            run(&mut t, &["SETRANGE", "k", "-1", "x"]),
            "-ERR offset is out of range"
        );
        let limit = (512 * 1024 * 1024 - 4).to_string();
        let too_long = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        assert_eq!(run(&mut t, &["SETRANGE", "k", &limit, "world"]), too_long);
        assert_eq!(run(&mut t, &["SETRANGE", "new", &limit, "world"]), too_long);
        assert_eq!(
            run(&mut t, &["SETRANGE", "k", "9223372036854775807", "A"]),
            too_long
        );
        t.take_notification_texts();
        run(&mut t, &["SETRANGE", "z", "0", "a"]);
        assert_eq!(t.take_notification_texts(), ["new:z", "setrange:z"]);
    }

    #[test]
    fn lcs() {
        let mut t = Harness::new();
        run(&mut t, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
        assert_eq!(run(&mut t, &["LCS", "a", "b"]), "$mytext");
        assert_eq!(run(&mut t, &["LCS", "a", "b", "LEN"]), ":6");
        assert_eq!(
            run(&mut t, &["LCS", "a", "b", "IDX"]),
            "{$matches: [[[:4, :7], [:5, :8]], [[:2, :3], [:0, :1]]], $len: :6}"
        );
        assert_eq!(
            run(
                &mut t,
                &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]
            ),
            "{$matches: [[[:4, :7], [:5, :8], :4]], $len: :6}"
        );
        assert_eq!(
            run(&mut t, &["LCS", "a", "b", "IDX", "LEN"]),
            "-ERR If you want both the length and indexes, please just use IDX."
        );
        assert_eq!(run(&mut t, &["LCS", "a", "b", "FOO"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["LCS", "a", "missing"]), "$");
        t.machine.keyspace.dbs[0].insert(bytes::Bytes::from_static(b"h"), crate::value::Value::new_hash());
        assert_eq!(
            run(&mut t, &["LCS", "a", "h"]),
            "-ERR The specified keys must contain string values"
        );
    }
}
