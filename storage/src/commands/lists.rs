//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LINDEX, LSET, LRANGE, LTRIM,
//! LREM, LINSERT, LPOS, LMOVE, RPOPLPUSH, LMPOP, and the blocking BLPOP, BRPOP, BLMOVE,
//! BRPOPLPUSH, BLMPOP.
//!
//! In the state machine a blocking command is its non-blocking form: it pops when it can and
//! otherwise replies nil, which is what Redis replies to a client that may not block. Waiting is
//! the server's business: a session that gets that nil outside MULTI waits on the keys (the
//! source only, for BLMOVE and BRPOPLPUSH) and runs the command again when an applied entry
//! signals one of them ready. Every push, insert or move into a list signals its key ready.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{self, parse_i64, parse_timeout_ms};
use crate::ctx::{class, Ctx};
use crate::errors;
use crate::table::{keys_after_numkeys, CommandSpec, Flags, Handler, KeyFlags};
use crate::value::{stored, ListValue, Value};

type List = ListValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` / `RIGHT`, case-insensitively.
    fn parse(arg: &[u8]) -> Option<End> {
        if args::is(arg, "left") {
            Some(End::Left)
        } else if args::is(arg, "right") {
            Some(End::Right)
        } else {
            None
        }
    }

    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }

    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }

    fn push(self, list: &mut List, element: &[u8]) {
        match self {
            End::Left => list.push_front(element),
            End::Right => list.push_back(element),
        }
    }
}

// --- lookups ---

/// The list at `key` for reading: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
fn list_ref<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c List>, Reply> {
    match ctx.db_ref().get(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::List(list)) => Ok(Some(list)),
        Some(_) => Err(Reply::error(errors::WRONGTYPE)),
    }
}

/// True if `key` holds a list, false if it is absent, `Err(WRONGTYPE)` for another type.
fn is_list(ctx: &Ctx, key: &[u8]) -> Result<bool, Reply> {
    list_ref(ctx, key).map(|list| list.is_some())
}

/// The list at `key`, which the caller has checked exists; stamps the key as changed.
fn list_mut<'c>(ctx: &'c mut Ctx, key: &[u8]) -> &'c mut List {
    let now_ms = ctx.now_ms;
    match ctx.db().get_mut(key, now_ms) {
        Some(Value::List(list)) => list,
        _ => unreachable!("the key was checked to hold a list"),
    }
}

/// The list at `key`, created empty if absent (the caller has checked the type).
fn list_or_create<'c>(ctx: &'c mut Ctx, key: &Bytes) -> &'c mut List {
    let now_ms = ctx.now_ms;
    // get_mut also clears an expired key of that name (and reports it expired).
    if ctx.db().get_mut(key, now_ms).is_none() {
        ctx.db().insert(stored(key), Value::List(Box::default()));
    }
    list_mut(ctx, key)
}


/// Pops up to `count` elements from `end` of the list at `key` (which exists), in pop order,
/// with Redis's notifications; deletes the key when it empties.
fn pop_elements(ctx: &mut Ctx, key: &Bytes, end: End, count: usize) -> Vec<Bytes> {
    let list = list_mut(ctx, key);
    let taken = count.min(list.len());
    let popped: Vec<Bytes> = match end {
        End::Left => (0..taken).map_while(|_| list.pop_front()).collect(),
        End::Right => (0..taken).map_while(|_| list.pop_back()).collect(),
    };
    ctx.notify(class::LIST, end.pop_event(), key);
    ctx.delete_if_empty(key);
    popped
}

/// Redis's inclusive index range over a list of `len`: negative indexes count from the end;
/// None when the range is empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// A list index (negative from the end) as a position, if inside the list.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

fn bulks(items: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

// --- argument parsing ---

/// `numkeys key [key …] LEFT|RIGHT [COUNT count]` starting at `numkeys_at`: the keys' range
/// in `args`, the end to pop from and the count (1 when not given).
fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<(std::ops::Range<usize>, End, usize), Reply> {
    let numkeys = match parse_i64(&args[numkeys_at]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(Reply::error(errors::NUMKEYS_NOT_POSITIVE)),
    };
    let end_at = (numkeys_at as u64).saturating_add(numkeys).saturating_add(1);
    if end_at >= args.len() as u64 {
        return Err(Reply::error(errors::SYNTAX));
    }
    let end_at = end_at as usize;
    let end = End::parse(&args[end_at]).ok_or(Reply::error(errors::SYNTAX))?;
    let mut count = None;
    let mut at = end_at + 1;
    while at < args.len() {
        if count.is_none() && args::is(&args[at], "count") && at + 1 < args.len() {
            match parse_i64(&args[at + 1]) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(Reply::error(errors::COUNT_NOT_POSITIVE)),
            }
            at += 2;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
    }
    Ok((numkeys_at + 1..end_at, end, count.unwrap_or(1)))
}

// --- pushes ---

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_if_exists: bool) -> Reply {
    let key = &args[1];
    match is_list(ctx, key) {
        Err(reply) => return reply,
        Ok(false) if only_if_exists => return Reply::Int(0),
        Ok(_) => {}
    }
    let list = list_or_create(ctx, key);
    for element in &args[2..] {
        end.push(list, element);
    }
    let len = list.len() as i64;
    ctx.notify(class::LIST, end.push_event(), key);
    ctx.signal_ready(key);
    Reply::Int(len)
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Right, true)
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let after = if args::is(&args[2], "after") {
        true
    } else if args::is(&args[2], "before") {
        false
    } else {
        return Reply::error(errors::SYNTAX);
    };
    let key = &args[1];
    let pivot = match list_ref(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => return Reply::Int(0),
        Ok(Some(list)) => list.iter().position(|element| element == &args[3][..]),
    };
    let Some(pivot) = pivot else {
        return Reply::Int(-1);
    };
    let list = list_mut(ctx, key);
    list.insert(pivot + usize::from(after), &args[4]);
    let len = list.len() as i64;
    ctx.notify(class::LIST, "linsert", key);
    ctx.signal_ready(key);
    Reply::Int(len)
}

// --- pops ---

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    if args.len() > 3 {
        return errors::wrong_arity(&String::from_utf8_lossy(&args[0]));
    }
    let count = match args.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Reply::error(errors::NOT_POSITIVE),
        },
    };
    let key = &args[1];
    match is_list(ctx, key) {
        Err(reply) => return reply,
        Ok(false) if count.is_some() => return Reply::NilArray,
        Ok(false) => return Reply::Nil,
        Ok(true) => {}
    }
    match count {
        Some(0) => Reply::Array(Vec::new()),
        Some(count) => bulks(pop_elements(ctx, key, end, count)),
        None => Reply::Bulk(pop_elements(ctx, key, end, 1).remove(0)),
    }
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, End::Right)
}

/// Pops up to `count` from the first non-empty list among `keys`: `[key, [elements]]`, or a
/// nil array when every key is absent.
fn mpop(ctx: &mut Ctx, keys: &[Bytes], end: End, count: usize) -> Reply {
    for key in keys {
        match is_list(ctx, key) {
            Err(reply) => return reply,
            Ok(false) => continue,
            Ok(true) => {
                let popped = pop_elements(ctx, key, end, count);
                return Reply::Array(vec![Reply::Bulk(key.clone()), bulks(popped)]);
            }
        }
    }
    Reply::NilArray
}

fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_mpop(args, 1) {
        Ok((keys, end, count)) => mpop(ctx, &args[keys], end, count),
        Err(reply) => reply,
    }
}

// --- moves ---

/// Pops from `from` of `source` and pushes onto `to` of `destination` (possibly the same
/// list): the element, or nil when the source is absent.
fn move_generic(ctx: &mut Ctx, source: &Bytes, destination: &Bytes, from: End, to: End) -> Reply {
    match is_list(ctx, source) {
        Err(reply) => return reply,
        Ok(false) => return Reply::Nil,
        Ok(true) => {}
    }
    if let Err(reply) = is_list(ctx, destination) {
        return reply;
    }
    let list = list_mut(ctx, source);
    let element = match from {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
    .expect("lists are never kept empty");
    // Redis reports the push before the pop.
    to.push(list_or_create(ctx, destination), &element);
    ctx.notify(class::LIST, to.push_event(), destination);
    ctx.signal_ready(destination);
    ctx.notify(class::LIST, from.pop_event(), source);
    ctx.delete_if_empty(source);
    Reply::Bulk(element)
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(from), Some(to)) = (End::parse(&args[3]), End::parse(&args[4])) else {
        return Reply::error(errors::SYNTAX);
    };
    move_generic(ctx, &args[1], &args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    move_generic(ctx, &args[1], &args[2], End::Right, End::Left)
}

// --- blocking forms (nil when nothing to pop; the server does the waiting) ---

fn bpop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    if let Err(reply) = parse_timeout_ms(&args[args.len() - 1], ctx.now_ms) {
        return reply;
    }
    for key in &args[1..args.len() - 1] {
        match is_list(ctx, key) {
            Err(reply) => return reply,
            Ok(false) => continue,
            Ok(true) => {
                let element = pop_elements(ctx, key, end, 1).remove(0);
                return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(element)]);
            }
        }
    }
    Reply::NilArray
}

fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop_generic(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop_generic(ctx, args, End::Right)
}

fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(from), Some(to)) = (End::parse(&args[3]), End::parse(&args[4])) else {
        return Reply::error(errors::SYNTAX);
    };
    if let Err(reply) = parse_timeout_ms(&args[5], ctx.now_ms) {
        return reply;
    }
    move_generic(ctx, &args[1], &args[2], from, to)
}

fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(reply) = parse_timeout_ms(&args[3], ctx.now_ms) {
        return reply;
    }
    move_generic(ctx, &args[1], &args[2], End::Right, End::Left)
}

fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (keys, end, count) = match parse_mpop(args, 2) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    if let Err(reply) = parse_timeout_ms(&args[1], ctx.now_ms) {
        return reply;
    }
    mpop(ctx, &args[keys], end, count)
}

// --- reads ---

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match list_ref(ctx, &args[1]) {
        Ok(list) => Reply::Int(list.map_or(0, |list| list.len() as i64)),
        Err(reply) => reply,
    }
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let list = match list_ref(ctx, &args[1]) {
        Ok(Some(list)) => list,
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    let Some(index) = parse_i64(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    match position(index, list.len()) {
        Some(at) => Reply::Bulk(Bytes::copy_from_slice(list.get(at).expect("inside the list"))),
        None => Reply::Nil,
    }
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let list = match list_ref(ctx, &args[1]) {
        Ok(Some(list)) => list,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(reply) => return reply,
    };
    match clamp_range(start, end, list.len()) {
        Some((start, end)) => bulks(list.iter_from(start).take(end - start + 1).map(Bytes::copy_from_slice)),
        None => Reply::Array(Vec::new()),
    }
}

/// LPOS options: which match to start from (negative: from the tail), how many to return
/// (None: a single index reply), how many elements to scan (0: all).
struct LposOptions {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn parse_lpos(args: &[Bytes]) -> Result<LposOptions, Reply> {
    let mut options = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut at = 3;
    while at < args.len() {
        let has_value = at + 1 < args.len();
        let option = &args[at];
        if args::is(option, "rank") && has_value {
            options.rank = match parse_i64(&args[at + 1]) {
                None => return Err(Reply::error(errors::NOT_INTEGER)),
                Some(i64::MIN) => return Err(Reply::error(errors::LPOS_RANK_RANGE)),
                Some(0) => return Err(Reply::error(errors::LPOS_RANK_ZERO)),
                Some(rank) => rank,
            };
        } else if args::is(option, "count") && has_value {
            options.count = match parse_i64(&args[at + 1]) {
                Some(count) if count >= 0 => Some(count as usize),
                _ => return Err(Reply::error(errors::LPOS_COUNT_NEGATIVE)),
            };
        } else if args::is(option, "maxlen") && has_value {
            options.maxlen = match parse_i64(&args[at + 1]) {
                Some(maxlen) if maxlen >= 0 => maxlen as usize,
                _ => return Err(Reply::error(errors::LPOS_MAXLEN_NEGATIVE)),
            };
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        at += 2;
    }
    Ok(options)
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let options = match parse_lpos(args) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let list = match list_ref(ctx, &args[1]) {
        Ok(Some(list)) => list,
        Ok(None) if options.count.is_some() => return Reply::Array(Vec::new()),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    let element = &args[2];
    let from_tail = options.rank < 0;
    let skip = options.rank.unsigned_abs() - 1;
    let scan = if options.maxlen == 0 {
        list.len()
    } else {
        options.maxlen.min(list.len())
    };
    let len = list.len();
    let matching = |(_, candidate): &(usize, &[u8])| *candidate == &element[..];
    let forward = (!from_tail).then(|| list.iter().take(scan).enumerate().filter(matching).map(|(at, _)| at));
    let backward =
        from_tail.then(|| list.iter().rev().take(scan).enumerate().filter(matching).map(move |(step, _)| len - 1 - step));
    let mut matches = forward
        .into_iter()
        .flatten()
        .chain(backward.into_iter().flatten())
        .skip(skip.min(usize::MAX as u64) as usize);
    match options.count {
        None => matches.next().map_or(Reply::Nil, |at| Reply::Int(at as i64)),
        Some(count) => {
            let limit = if count == 0 { usize::MAX } else { count };
            Reply::Array(matches.take(limit).map(|at| Reply::Int(at as i64)).collect())
        }
    }
}

// --- in-place changes ---

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let len = match list_ref(ctx, key) {
        Ok(Some(list)) => list.len(),
        Ok(None) => return Reply::error(errors::NO_SUCH_KEY),
        Err(reply) => return reply,
    };
    let Some(index) = parse_i64(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let Some(at) = position(index, len) else {
        return Reply::error(errors::INDEX_OUT_OF_RANGE);
    };
    list_mut(ctx, key).set(at, &args[3]);
    ctx.notify(class::LIST, "lset", key);
    Reply::ok()
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let key = &args[1];
    match is_list(ctx, key) {
        Err(reply) => return reply,
        Ok(false) => return Reply::ok(),
        Ok(true) => {}
    }
    let list = list_mut(ctx, key);
    match clamp_range(start, end, list.len()) {
        Some((start, end)) => list.trim(start, end),
        None => list.clear(),
    }
    ctx.notify(class::LIST, "ltrim", key);
    ctx.delete_if_empty(key);
    Reply::ok()
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(count) = parse_i64(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let key = &args[1];
    let element = &args[3];
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs().min(usize::MAX as u64) as usize
    };
    // Positions to remove, ascending.
    let mut doomed: Vec<usize> = match list_ref(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => return Reply::Int(0),
        Ok(Some(list)) => {
            let len = list.len();
            let matching = |(_, candidate): &(usize, &[u8])| *candidate == &element[..];
            if count < 0 {
                list.iter().rev().enumerate().filter(matching).take(limit).map(|(step, _)| len - 1 - step).collect()
            } else {
                list.iter().enumerate().filter(matching).take(limit).map(|(at, _)| at).collect()
            }
        }
    };
    if doomed.is_empty() {
        return Reply::Int(0);
    }
    doomed.sort_unstable();
    let list = list_mut(ctx, key);
    let mut at = 0;
    let mut next = 0;
    list.retain(|_| {
        let keep = doomed.get(next) != Some(&at);
        if !keep {
            next += 1;
        }
        at += 1;
        keep
    });
    ctx.notify(class::LIST, "lrem", key);
    ctx.delete_if_empty(key);
    Reply::Int(doomed.len() as i64)
}

const LIST_WRITE_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const LIST_BLOCKING: Flags = Flags::WRITE.union(Flags::BLOCKING);

fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 1)
}

fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: LIST_WRITE_FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "fast"],
        group: "list",
        summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        syntax: "key element [element ...]",
        key_flags: &[KeyFlags::RW_INSERT],
        ..CommandSpec::base("lpush", -3, Handler::Keyspace(lpush))
    },
    CommandSpec {
        flags: LIST_WRITE_FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "fast"],
        group: "list",
        summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        syntax: "key element [element ...]",
        key_flags: &[KeyFlags::RW_INSERT],
        ..CommandSpec::base("rpush", -3, Handler::Keyspace(rpush))
    },
    CommandSpec {
        flags: LIST_WRITE_FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "fast"],
        group: "list",
        since: "2.2.0",
        summary: "Prepends one or more elements to a list only when the list exists.",
        syntax: "key element [element ...]",
        key_flags: &[KeyFlags::RW_INSERT],
        ..CommandSpec::base("lpushx", -3, Handler::Keyspace(lpushx))
    },
    CommandSpec {
        flags: LIST_WRITE_FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "fast"],
        group: "list",
        since: "2.2.0",
        summary: "Appends one or more elements to a list only when the list exists.",
        syntax: "key element [element ...]",
        key_flags: &[KeyFlags::RW_INSERT],
        ..CommandSpec::base("rpushx", -3, Handler::Keyspace(rpushx))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::FAST),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "fast"],
        group: "list",
        summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        syntax: "key [count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..CommandSpec::base("lpop", -2, Handler::Keyspace(lpop))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::FAST),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "fast"],
        group: "list",
        summary: "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        syntax: "key [count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..CommandSpec::base("rpop", -2, Handler::Keyspace(rpop))
    },
    CommandSpec {
        flags: Flags::READONLY.union(Flags::FAST),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["read", "list", "fast"],
        group: "list",
        summary: "Returns the length of a list.",
        syntax: "key",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("llen", 2, Handler::Keyspace(llen))
    },
    CommandSpec {
        flags: Flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["read", "list", "slow"],
        group: "list",
        summary: "Returns an element from a list by its index.",
        syntax: "key index",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("lindex", 3, Handler::Keyspace(lindex))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        summary: "Sets the value of an element in a list by its index.",
        syntax: "key index element",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..CommandSpec::base("lset", 4, Handler::Keyspace(lset))
    },
    CommandSpec {
        flags: Flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["read", "list", "slow"],
        group: "list",
        summary: "Returns a range of elements from a list.",
        syntax: "key start stop",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("lrange", 4, Handler::Keyspace(lrange))
    },
    CommandSpec {
        flags: Flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        syntax: "key start stop",
        key_flags: &[KeyFlags::RW_DELETE],
        ..CommandSpec::base("ltrim", 4, Handler::Keyspace(ltrim))
    },
    CommandSpec {
        flags: Flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        summary: "Removes elements from a list. Deletes the list if the last element was removed.",
        syntax: "key count element",
        key_flags: &[KeyFlags::RW_DELETE],
        ..CommandSpec::base("lrem", 4, Handler::Keyspace(lrem))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        since: "2.2.0",
        summary: "Inserts an element before or after another element in a list.",
        syntax: "key <BEFORE | AFTER> pivot element",
        key_flags: &[KeyFlags::RW_INSERT],
        ..CommandSpec::base("linsert", 5, Handler::Keyspace(linsert))
    },
    CommandSpec {
        flags: Flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: &["read", "list", "slow"],
        group: "list",
        since: "6.0.6",
        summary: "Returns the index of matching elements in a list.",
        syntax: "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("lpos", -3, Handler::Keyspace(lpos))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        since: "6.2.0",
        summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        syntax: "source destination <LEFT | RIGHT> <LEFT | RIGHT>",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE, KeyFlags::RW_INSERT],
        ..CommandSpec::base("lmove", 5, Handler::Keyspace(lmove))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        since: "1.2.0",
        summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        syntax: "source destination",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE, KeyFlags::RW_INSERT],
        ..CommandSpec::base("rpoplpush", 3, Handler::Keyspace(rpoplpush))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::MOVABLE_KEYS),
        key_finder: Some(lmpop_keys),
        numkeys_index: 1,
        acl: &["write", "list", "slow"],
        group: "list",
        since: "7.0.0",
        summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        syntax: "numkeys key [key ...] <LEFT | RIGHT> [COUNT count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..CommandSpec::base("lmpop", -4, Handler::Keyspace(lmpop))
    },
    CommandSpec {
        flags: LIST_BLOCKING,
        first_key: 1,
        last_key: -2,
        step: 1,
        acl: &["write", "list", "slow", "blocking"],
        group: "list",
        since: "2.0.0",
        summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        syntax: "key [key ...] timeout",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..CommandSpec::base("blpop", -3, Handler::Keyspace(blpop))
    },
    CommandSpec {
        flags: LIST_BLOCKING,
        first_key: 1,
        last_key: -2,
        step: 1,
        acl: &["write", "list", "slow", "blocking"],
        group: "list",
        since: "2.0.0",
        summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        syntax: "key [key ...] timeout",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..CommandSpec::base("brpop", -3, Handler::Keyspace(brpop))
    },
    CommandSpec {
        flags: LIST_BLOCKING.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["write", "list", "slow", "blocking"],
        group: "list",
        since: "6.2.0",
        summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        syntax: "source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE, KeyFlags::RW_INSERT],
        ..CommandSpec::base("blmove", 6, Handler::Keyspace(blmove))
    },
    CommandSpec {
        flags: LIST_BLOCKING.union(Flags::DENYOOM),
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: &["write", "list", "slow", "blocking"],
        group: "list",
        since: "2.2.0",
        summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        syntax: "source destination timeout",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE, KeyFlags::RW_INSERT],
        ..CommandSpec::base("brpoplpush", 4, Handler::Keyspace(brpoplpush))
    },
    CommandSpec {
        flags: LIST_BLOCKING.union(Flags::MOVABLE_KEYS),
        key_finder: Some(blmpop_keys),
        numkeys_index: 2,
        acl: &["write", "list", "slow", "blocking"],
        group: "list",
        since: "7.0.0",
        summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        syntax: "timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..CommandSpec::base("blmpop", -5, Handler::Keyspace(blmpop))
    },
];

#[cfg(test)]
mod tests {
    use crate::ctx::Event;
    use crate::testing::{run, Harness};

    fn notifications(harness: &mut Harness) -> Vec<String> {
        harness
            .events
            .drain(..)
            .filter_map(|event| match event {
                Event::Notify { event, key, .. } => {
                    Some(format!("{event}:{}", String::from_utf8_lossy(&key)))
                }
                Event::Ready { key, .. } => Some(format!("ready:{}", String::from_utf8_lossy(&key))),
                Event::DbChanged { .. }
                | Event::ScriptCommand { .. }
                | Event::ScriptRead { .. }
                | Event::ScriptCallError { .. }
                | Event::ScriptAclDenied { .. } => None,
            })
            .collect()
    }

    #[test]
    fn push_pop_and_length() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["RPUSH", "l", "a", "b", "c"]), ":3");
        assert_eq!(run(&mut t, &["LPUSH", "l", "x", "y"]), ":5");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$y, $x, $a, $b, $c]");
        assert_eq!(run(&mut t, &["LLEN", "l"]), ":5");
        assert_eq!(run(&mut t, &["LPOP", "l"]), "$y");
        assert_eq!(run(&mut t, &["RPOP", "l"]), "$c");
        assert_eq!(run(&mut t, &["RPOP", "l", "2"]), "[$b, $a]");
        assert_eq!(run(&mut t, &["LPOP", "l", "0"]), "[]");
        assert_eq!(run(&mut t, &["LPOP", "l", "5"]), "[$x]");
        assert_eq!(run(&mut t, &["EXISTS", "l"]), ":0");
        assert_eq!(run(&mut t, &["LPOP", "l"]), "nil");
        assert_eq!(run(&mut t, &["LPOP", "l", "3"]), "nil");
        assert_eq!(run(&mut t, &["LLEN", "l"]), ":0");
    }

    #[test]
    fn pop_argument_errors() {
        let mut t = Harness::new();
        assert_eq!(
            run(&mut t, &["LPOP", "l", "1", "2"]),
            "-ERR wrong number of arguments for 'lpop' command"
        );
        assert_eq!(
            run(&mut t, &["RPOP", "l", "-1"]),
            "-ERR value is out of range, must be positive"
        );
        assert_eq!(
            run(&mut t, &["RPOP", "l", "x"]),
            "-ERR value is out of range, must be positive"
        );
    }

    #[test]
    fn pushx_only_on_existing_lists() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["LPUSHX", "l", "a"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "l"]), ":0");
        run(&mut t, &["RPUSH", "l", "b"]);
        assert_eq!(run(&mut t, &["LPUSHX", "l", "a"]), ":2");
        assert_eq!(run(&mut t, &["RPUSHX", "l", "c", "d"]), ":4");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$a, $b, $c, $d]");
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut t = Harness::new();
        run(&mut t, &["SET", "s", "v"]);
        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        for command in [
            &["LPUSH", "s", "a"][..],
            &["RPUSHX", "s", "a"],
            &["LPOP", "s"],
            &["LLEN", "s"],
            &["LINDEX", "s", "0"],
            &["LSET", "s", "0", "a"],
            &["LRANGE", "s", "0", "1"],
            &["LTRIM", "s", "0", "1"],
            &["LREM", "s", "0", "a"],
            &["LINSERT", "s", "BEFORE", "a", "b"],
            &["LPOS", "s", "a"],
            &["LMOVE", "s", "d", "LEFT", "LEFT"],
            &["RPOPLPUSH", "s", "d"],
            &["LMPOP", "1", "s", "LEFT"],
            &["BLPOP", "missing", "s", "0"],
            &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"],
        ] {
            assert_eq!(run(&mut t, command), wrongtype, "{command:?}");
        }
    }

    #[test]
    fn lindex_and_lset() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "a", "b", "c"]);
        assert_eq!(run(&mut t, &["LINDEX", "l", "0"]), "$a");
        assert_eq!(run(&mut t, &["LINDEX", "l", "-1"]), "$c");
        assert_eq!(run(&mut t, &["LINDEX", "l", "3"]), "nil");
        assert_eq!(run(&mut t, &["LINDEX", "l", "-4"]), "nil");
        assert_eq!(
            run(&mut t, &["LINDEX", "l", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["LINDEX", "missing", "x"]), "nil");
        assert_eq!(run(&mut t, &["LSET", "l", "-1", "z"]), "+OK");
        assert_eq!(run(&mut t, &["LSET", "l", "3", "z"]), "-ERR index out of range");
        assert_eq!(run(&mut t, &["LSET", "missing", "0", "z"]), "-ERR no such key");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$a, $b, $z]");
    }

    #[test]
    fn lrange_and_ltrim_ranges() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "1", "2", "3", "4", "5"]);
        assert_eq!(run(&mut t, &["LRANGE", "l", "1", "-2"]), "[$2, $3, $4]");
        assert_eq!(run(&mut t, &["LRANGE", "l", "-2", "-3"]), "[]");
        assert_eq!(
            run(&mut t, &["LRANGE", "l", "-100", "100"]),
            "[$1, $2, $3, $4, $5]"
        );
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-10"]), "[]");
        assert_eq!(run(&mut t, &["LRANGE", "missing", "0", "-1"]), "[]");
        assert_eq!(
            run(&mut t, &["LRANGE", "l", "a", "1"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["LTRIM", "l", "1", "-2"]), "+OK");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$2, $3, $4]");
        assert_eq!(run(&mut t, &["LTRIM", "l", "0", "-10"]), "+OK");
        assert_eq!(run(&mut t, &["EXISTS", "l"]), ":0");
        assert_eq!(run(&mut t, &["LTRIM", "missing", "0", "1"]), "+OK");
    }

    #[test]
    fn lrem_from_both_ends() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(run(&mut t, &["LREM", "l", "-2", "a"]), ":2");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$a, $b, $c]");
        assert_eq!(run(&mut t, &["LREM", "l", "1", "x"]), ":0");
        run(&mut t, &["RPUSH", "l", "a"]);
        assert_eq!(run(&mut t, &["LREM", "l", "1", "a"]), ":1");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$b, $c, $a]");
        assert_eq!(run(&mut t, &["LREM", "l", "0", "b"]), ":1");
        assert_eq!(
            run(&mut t, &["LREM", "l", "x", "b"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["LREM", "missing", "0", "b"]), ":0");
    }

    #[test]
    fn linsert_around_a_pivot() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "a", "c"]);
        assert_eq!(run(&mut t, &["LINSERT", "l", "before", "c", "b"]), ":3");
        assert_eq!(run(&mut t, &["LINSERT", "l", "AFTER", "c", "d"]), ":4");
        assert_eq!(run(&mut t, &["LINSERT", "l", "AFTER", "zz", "d"]), ":-1");
        assert_eq!(run(&mut t, &["LINSERT", "missing", "AFTER", "zz", "d"]), ":0");
        assert_eq!(
            run(&mut t, &["LINSERT", "l", "middle", "c", "d"]),
            "-ERR syntax error"
        );
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$a, $b, $c, $d]");
    }

    #[test]
    fn lpos_options() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(run(&mut t, &["LPOS", "l", "c"]), ":2");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "RANK", "2"]), ":6");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "RANK", "-1"]), ":7");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "RANK", "-2"]), ":6");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "RANK", "9"]), "nil");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "COUNT", "0"]), "[:2, :6, :7]");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "COUNT", "2"]), "[:2, :6]");
        assert_eq!(
            run(&mut t, &["LPOS", "l", "c", "COUNT", "0", "RANK", "-2"]),
            "[:6, :2]"
        );
        assert_eq!(
            run(&mut t, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]),
            "[:2, :6]"
        );
        assert_eq!(run(&mut t, &["LPOS", "l", "x"]), "nil");
        assert_eq!(run(&mut t, &["LPOS", "l", "x", "COUNT", "1"]), "[]");
        assert_eq!(run(&mut t, &["LPOS", "missing", "x"]), "nil");
        assert_eq!(run(&mut t, &["LPOS", "missing", "x", "COUNT", "0"]), "[]");
        assert_eq!(
            run(&mut t, &["LPOS", "l", "c", "RANK", "0"]),
            "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
        );
        assert_eq!(
            run(&mut t, &["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            run(&mut t, &["LPOS", "l", "c", "COUNT", "-1"]),
            "-ERR COUNT can't be negative"
        );
        assert_eq!(
            run(&mut t, &["LPOS", "l", "c", "MAXLEN", "-1"]),
            "-ERR MAXLEN can't be negative"
        );
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "RANK"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["LPOS", "l", "c", "FOO", "1"]), "-ERR syntax error");
    }

    #[test]
    fn lmove_between_and_within_lists() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "src", "a", "b", "c"]);
        assert_eq!(run(&mut t, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), "$a");
        assert_eq!(run(&mut t, &["RPOPLPUSH", "src", "dst"]), "$c");
        assert_eq!(run(&mut t, &["LRANGE", "dst", "0", "-1"]), "[$c, $a]");
        assert_eq!(run(&mut t, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]), "$c");
        assert_eq!(run(&mut t, &["LRANGE", "dst", "0", "-1"]), "[$a, $c]");
        assert_eq!(run(&mut t, &["RPOPLPUSH", "src", "src"]), "$b");
        assert_eq!(run(&mut t, &["LRANGE", "src", "0", "-1"]), "[$b]");
        assert_eq!(run(&mut t, &["LMOVE", "src", "dst", "LEFT", "LEFT"]), "$b");
        assert_eq!(run(&mut t, &["EXISTS", "src"]), ":0");
        assert_eq!(run(&mut t, &["LMOVE", "src", "dst", "LEFT", "LEFT"]), "nil");
        assert_eq!(
            run(&mut t, &["LMOVE", "src", "dst", "UP", "LEFT"]),
            "-ERR syntax error"
        );
        run(&mut t, &["SET", "str", "x"]);
        assert_eq!(
            run(&mut t, &["LMOVE", "dst", "str", "LEFT", "LEFT"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(run(&mut t, &["LRANGE", "dst", "0", "-1"]), "[$b, $a, $c]");
    }

    #[test]
    fn lmpop_pops_from_the_first_non_empty_list() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "b", "1", "2", "3"]);
        assert_eq!(run(&mut t, &["LMPOP", "2", "a", "b", "LEFT"]), "[$b, [$1]]");
        assert_eq!(
            run(&mut t, &["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "5"]),
            "[$b, [$3, $2]]"
        );
        assert_eq!(run(&mut t, &["LMPOP", "2", "a", "b", "RIGHT"]), "nil");
        assert_eq!(
            run(&mut t, &["LMPOP", "0", "a", "LEFT"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(
            run(&mut t, &["LMPOP", "x", "a", "LEFT"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(run(&mut t, &["LMPOP", "5", "a", "LEFT"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["LMPOP", "1", "a", "UP"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["LMPOP", "1", "a", "LEFT", "COUNT", "0"]),
            "-ERR count should be greater than 0"
        );
        assert_eq!(
            run(&mut t, &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["LMPOP", "1", "a", "LEFT", "COUNT"]),
            "-ERR syntax error"
        );
    }

    #[test]
    fn blocking_forms_pop_or_reply_nil() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["BLPOP", "a", "b", "0"]), "nil");
        assert_eq!(run(&mut t, &["BLMOVE", "a", "b", "LEFT", "LEFT", "1.5"]), "nil");
        assert_eq!(run(&mut t, &["BRPOPLPUSH", "a", "b", "0"]), "nil");
        assert_eq!(run(&mut t, &["BLMPOP", "0", "2", "a", "b", "LEFT"]), "nil");
        run(&mut t, &["RPUSH", "b", "1", "2", "3", "4"]);
        assert_eq!(run(&mut t, &["BLPOP", "a", "b", "0"]), "[$b, $1]");
        assert_eq!(run(&mut t, &["BRPOP", "a", "b", "0"]), "[$b, $4]");
        assert_eq!(run(&mut t, &["BRPOPLPUSH", "b", "a", "0"]), "$3");
        assert_eq!(run(&mut t, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]), "$3");
        assert_eq!(
            run(&mut t, &["BLMPOP", "0.5", "2", "a", "b", "RIGHT", "COUNT", "9"]),
            "[$b, [$3, $2]]"
        );
    }

    #[test]
    fn blocking_timeout_errors() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["BLPOP", "a", "-1"]), "-ERR timeout is negative");
        assert_eq!(
            run(&mut t, &["BLPOP", "a", "x"]),
            "-ERR timeout is not a float or out of range"
        );
        assert_eq!(
            run(&mut t, &["BRPOP", "a", "0x7FFFFFFFFFFFFF"]),
            "-ERR timeout is out of range"
        );
        assert_eq!(
            run(&mut t, &["BRPOP", "a", "inf"]),
            "-ERR timeout is out of range"
        );
        assert_eq!(
            run(&mut t, &["BLMOVE", "a", "b", "LEFT", "LEFT", "nan"]),
            "-ERR timeout is not a float or out of range"
        );
        assert_eq!(
            run(&mut t, &["BLMOVE", "a", "b", "UP", "LEFT", "-1"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["BRPOPLPUSH", "a", "b", "-0.5"]),
            "-ERR timeout is negative"
        );
        assert_eq!(
            run(&mut t, &["BLMPOP", "-1", "1", "a", "LEFT"]),
            "-ERR timeout is negative"
        );
        assert_eq!(
            run(&mut t, &["BLMPOP", "-1", "0", "a", "LEFT"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(run(&mut t, &["BLPOP", "a", "0.0001"]), "nil");
    }

    #[test]
    fn notifications_and_ready_signals() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "a", "b"]);
        assert_eq!(notifications(&mut t), ["rpush:l", "ready:l"]);
        run(&mut t, &["LINSERT", "l", "BEFORE", "a", "z"]);
        assert_eq!(notifications(&mut t), ["linsert:l", "ready:l"]);
        run(&mut t, &["LMOVE", "l", "m", "LEFT", "RIGHT"]);
        assert_eq!(notifications(&mut t), ["rpush:m", "ready:m", "lpop:l"]);
        run(&mut t, &["LPOP", "m"]);
        assert_eq!(notifications(&mut t), ["lpop:m", "del:m"]);
        run(&mut t, &["LSET", "l", "0", "q"]);
        run(&mut t, &["LTRIM", "l", "0", "0"]);
        run(&mut t, &["LREM", "l", "0", "q"]);
        assert_eq!(notifications(&mut t), ["lset:l", "ltrim:l", "lrem:l", "del:l"]);
        run(&mut t, &["LREM", "l", "0", "q"]);
        assert!(notifications(&mut t).is_empty());
    }

    #[test]
    fn expired_lists_are_gone() {
        let mut t = Harness::new();
        run(&mut t, &["RPUSH", "l", "a"]);
        let now_ms = t.now_ms;
        t.machine.keyspace.dbs[0].set_expire_at(b"l", Some(now_ms + 1000), now_ms);
        t.now_ms += 1000;
        assert_eq!(run(&mut t, &["LLEN", "l"]), ":0");
        assert_eq!(run(&mut t, &["LPUSHX", "l", "b"]), ":0");
        assert_eq!(run(&mut t, &["RPUSH", "l", "b"]), ":1");
        assert_eq!(run(&mut t, &["LRANGE", "l", "0", "-1"]), "[$b]");
    }
}
