//! Sorted-set commands: ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT,
//! ZLEXCOUNT, ZRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE,
//! ZRANGESTORE, ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX, ZPOPMIN, ZPOPMAX, ZMPOP,
//! ZRANDMEMBER, ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, ZINTERCARD, ZSCAN,
//! BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! Semantics, argument checks and their order, error texts and reply shapes follow Redis 7.2's
//! t_zset.c. The blocking forms behave here like their non-blocking forms (they pop, or reply
//! a null array); the server does the waiting and retries when a key is signalled ready, so
//! every command that gives a sorted set new members calls `ctx.signal_ready`.
//!
//! Writes first work out what will change on a shared borrow and only then take the key for
//! writing: a command that changes nothing leaves the key's WATCH version alone, as Redis does.

use std::collections::HashMap;

use bytes::Bytes;
use flotilla_protocol::Reply;
use indexmap::IndexMap;

use crate::args::{is, is_c_space, parse_i64, parse_timeout_ms, strtod_prefix};
use crate::commands::hashes::RANDOM_REPLY_LEN_MAX;
use crate::ctx::{class, Ctx};
use crate::errors::{self, zset as zerr};
use crate::glob;
use crate::scan;
use crate::table::{keys_after_numkeys, CommandSpec, Flags, Handler, KeyFlags, KeyspaceFn};
use crate::value::{stored, FixedHasher, SetValue, Value};
use crate::zset::{CompactLimits, LexBound, LexRange, Member, NodeId, ScoreRange, ZSet};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// A score argument as Redis's `getDoubleFromObject` reads it: the whole argument, no
/// leading or trailing space, no NaN, no overflow to infinity or underflow to zero.
fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || is_c_space(arg[0]) {
        return None;
    }
    let (value, consumed, range_error) = strtod_prefix(arg);
    (consumed == arg.len() && !range_error && !value.is_nan()).then_some(value)
}

/// One end of a score range, as `zslParseRange` reads it: plain `strtod` over the whole text
/// (so an empty text is 0 and an overflow is ±inf), `(` for exclusive.
fn parse_range_item(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    let (value, consumed, _) = strtod_prefix(text);
    (consumed == text.len() && !value.is_nan()).then_some((value, exclusive))
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (parse_range_item(min), parse_range_item(max)) {
        (Some((min, min_exclusive)), Some((max, max_exclusive))) => Ok(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        }),
        _ => Err(Reply::error(zerr::MIN_MAX_NOT_FLOAT)),
    }
}

fn parse_lex_item(arg: &[u8]) -> Option<LexBound> {
    match arg.first()? {
        b'+' if arg.len() == 1 => Some(LexBound::PositiveInfinity),
        b'-' if arg.len() == 1 => Some(LexBound::NegativeInfinity),
        b'(' => Some(LexBound::Exclusive(Bytes::copy_from_slice(&arg[1..]))),
        b'[' => Some(LexBound::Inclusive(Bytes::copy_from_slice(&arg[1..]))),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
    match (parse_lex_item(min), parse_lex_item(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(Reply::error(zerr::MIN_MAX_NOT_LEX)),
    }
}

fn parse_integer(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or(Reply::error(errors::NOT_INTEGER))
}

/// An integer in `min..=max`; `message` replaces both the not-an-integer and the range error
/// (Redis's getRangeLongFromObjectOrReply with a message).
fn parse_bounded(arg: &[u8], min: i64, max: i64, message: &'static str) -> Result<i64, Reply> {
    match parse_i64(arg) {
        Some(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(Reply::error(message)),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The sorted set at `key`: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
pub(crate) fn read_zset<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c ZSet>, Reply> {
    match ctx.db_ref().get(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::ZSet(zset)) => Ok(Some(zset)),
        Some(_) => Err(Reply::error(errors::WRONGTYPE)),
    }
}

/// The sorted set at `key` for writing (stamps the key as changed), creating it with
/// `create` if absent. Callers have already checked the type.
fn zset_for_update<'c>(ctx: &'c mut Ctx, key: &Bytes, create: impl FnOnce() -> ZSet) -> &'c mut ZSet {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    if db.get_mut(key, now_ms).is_none() {
        db.insert(stored(key), Value::ZSet(Box::new(create())));
    }
    match db.get_mut(key, now_ms) {
        Some(Value::ZSet(zset)) => zset,
        _ => unreachable!("type checked before the write"),
    }
}

/// The node's `zset-max-listpack-*` limits (they decide the encoding OBJECT reports).
pub(crate) fn limits(ctx: &Ctx) -> CompactLimits {
    let encoding = &ctx.keyspace.settings.encoding;
    CompactLimits {
        entries: encoding.zset_max_listpack_entries,
        value: encoding.zset_max_listpack_value,
    }
}

/// Deletes `key` if its sorted set became empty, with Redis's `del` notification.
fn remove_if_empty(ctx: &mut Ctx, key: &Bytes) -> bool {
    let now_ms = ctx.now_ms;
    let empty = matches!(ctx.db_ref().get(key, now_ms), Some(Value::ZSet(zset)) if zset.is_empty());
    if empty {
        ctx.db().remove(key, now_ms);
        ctx.notify(class::GENERIC, "del", key);
    }
    empty
}

/// Stores the result of a *STORE command at `destination` (replacing whatever was there and
/// its TTL), or deletes `destination` when the result is empty. Replies with the size.
pub(crate) fn store_result(ctx: &mut Ctx, destination: &Bytes, result: ZSet, event: &'static str) -> Reply {
    let now_ms = ctx.now_ms;
    let size = result.len();
    if size > 0 {
        // Remove first so an expired key is reported as such before it is replaced.
        ctx.db().get_mut(destination, now_ms);
        ctx.db().insert(stored(destination), Value::ZSet(Box::new(result)));
        ctx.notify(class::ZSET, event, destination);
        ctx.signal_ready(destination);
    } else if ctx.db().remove(destination, now_ms).is_some() {
        ctx.notify(class::GENERIC, "del", destination);
    }
    Reply::Int(size as i64)
}

/// Member/score pairs for WITHSCORES-style replies: a flat array in RESP2, and in RESP3 an
/// array of [member, score] pairs as Redis 7 sends them (a map would lose the order).
fn pairs(items: Vec<(Bytes, f64)>) -> Reply {
    Reply::Pairs(
        items
            .into_iter()
            .map(|(member, score)| (Reply::Bulk(member), Reply::Double(score)))
            .collect(),
    )
}

/// Always-flat [member, score, member, score …] (ZPOPMIN without a count, in both protocols).
fn flat_pairs(items: Vec<(Bytes, f64)>) -> Reply {
    let mut flat = Vec::with_capacity(items.len() * 2);
    for (member, score) in items {
        flat.push(Reply::Bulk(member));
        flat.push(Reply::Double(score));
    }
    Reply::Array(flat)
}

/// Always-nested [member, score] pairs (ZMPOP's reply in both protocols).
fn nested_pairs(items: Vec<(Bytes, f64)>) -> Reply {
    Reply::Array(
        items
            .into_iter()
            .map(|(member, score)| Reply::Array(vec![Reply::Bulk(member), Reply::Double(score)]))
            .collect(),
    )
}

fn members_or_pairs(items: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if withscores {
        pairs(items)
    } else {
        Reply::Array(items.into_iter().map(|(member, _)| Reply::Bulk(member)).collect())
    }
}

fn entry_owned(zset: &ZSet, node: NodeId) -> (Bytes, f64) {
    let (member, score) = zset.entry(node);
    (member.to_bytes(), score)
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, false)
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, true)
}

/// ZADD and ZINCRBY (which is ZADD with INCR preset, and parses options the same way).
pub(crate) fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], mut incr: bool) -> Reply {
    let key = &args[1];
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut first = 2;
    while first < args.len() {
        let option = &args[first];
        if is(option, "nx") {
            nx = true;
        } else if is(option, "xx") {
            xx = true;
        } else if is(option, "ch") {
            ch = true;
        } else if is(option, "incr") {
            incr = true;
        } else if is(option, "gt") {
            gt = true;
        } else if is(option, "lt") {
            lt = true;
        } else {
            break;
        }
        first += 1;
    }
    let remaining = args.len() - first;
    if remaining % 2 == 1 || remaining == 0 {
        return Reply::error(errors::SYNTAX);
    }
    let elements = remaining / 2;
    if nx && xx {
        return Reply::error(zerr::XX_AND_NX);
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Reply::error(zerr::GT_LT_NX);
    }
    if incr && elements > 1 {
        return Reply::error(zerr::INCR_SINGLE_PAIR);
    }
    // Every score is parsed before anything changes: the command applies fully or not at all.
    let mut scores = Vec::with_capacity(elements);
    for pair in 0..elements {
        match parse_score(&args[first + 2 * pair]) {
            Some(score) => scores.push(score),
            None => return Reply::error(errors::NOT_FLOAT),
        }
    }

    // Plan the changes against the current set (and the earlier pairs of this command).
    let existing = match read_zset(ctx, key) {
        Ok(existing) => existing,
        Err(reply) => return reply,
    };
    if existing.is_none() && xx {
        return if incr { Reply::Nil } else { Reply::Int(0) };
    }
    let mut planned: HashMap<&[u8], f64> = HashMap::new();
    let mut changes: Vec<(&Bytes, f64)> = Vec::new();
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    for (pair, &score) in scores.iter().enumerate() {
        let member = &args[first + 2 * pair + 1];
        let current = planned
            .get(&member[..])
            .copied()
            .or_else(|| existing.and_then(|zset| zset.score(member)));
        match current {
            Some(current) => {
                if nx {
                    continue;
                }
                let mut new_score = score;
                if incr {
                    new_score += current;
                    if new_score.is_nan() {
                        return Reply::error(zerr::NAN_RESULT);
                    }
                }
                if (lt && new_score >= current) || (gt && new_score <= current) {
                    continue;
                }
                processed += 1;
                last_score = new_score;
                if new_score != current {
                    updated += 1;
                    planned.insert(member, new_score);
                    changes.push((member, new_score));
                }
            }
            None => {
                if xx {
                    continue;
                }
                processed += 1;
                added += 1;
                last_score = score;
                planned.insert(member, score);
                changes.push((member, score));
            }
        }
    }

    if !changes.is_empty() {
        let limits = limits(ctx);
        let first_len = args[first + 1].len();
        let zset = zset_for_update(ctx, key, || ZSet::with_hint(elements, first_len, limits));
        zset.expect_members(elements, limits);
        for (member, score) in changes {
            zset.insert_within(stored(member), score, limits);
        }
        ctx.notify(class::ZSET, if incr { "zincr" } else { "zadd" }, key);
        if added > 0 {
            ctx.signal_ready(key);
        }
    }
    if incr {
        if processed > 0 {
            Reply::Double(last_score)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if ch { added + updated } else { added })
    }
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let present = match read_zset(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => false,
        Ok(Some(zset)) => args[2..].iter().any(|member| zset.contains(member)),
    };
    if !present {
        return Reply::Int(0);
    }
    let zset = zset_for_update(ctx, key, ZSet::new);
    let mut deleted = 0;
    for member in &args[2..] {
        if zset.remove(member).is_some() {
            deleted += 1;
        }
        if zset.is_empty() {
            break;
        }
    }
    ctx.notify(class::ZSET, "zrem", key);
    remove_if_empty(ctx, key);
    Reply::Int(deleted)
}

// ---------------------------------------------------------------------------------------------
// ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT
// ---------------------------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_zset(ctx, &args[1]) {
        Ok(zset) => Reply::Int(zset.map_or(0, |zset| zset.len() as i64)),
        Err(reply) => reply,
    }
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_zset(ctx, &args[1]) {
        Ok(zset) => match zset.and_then(|zset| zset.score(&args[2])) {
            Some(score) => Reply::Double(score),
            None => Reply::Nil,
        },
        Err(reply) => reply,
    }
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_zset(ctx, &args[1]) {
        Ok(zset) => Reply::Array(
            args[2..]
                .iter()
                .map(|member| match zset.and_then(|zset| zset.score(member)) {
                    Some(score) => Reply::Double(score),
                    None => Reply::Nil,
                })
                .collect(),
        ),
        Err(reply) => reply,
    }
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrank_generic(ctx, args, true)
}

fn zrank_generic(ctx: &mut Ctx, args: &[Bytes], reverse: bool) -> Reply {
    if args.len() > 4 {
        return errors::wrong_arity(if reverse { "zrevrank" } else { "zrank" });
    }
    let withscore = match args.get(3) {
        None => false,
        Some(option) if is(option, "withscore") => true,
        Some(_) => return Reply::error(errors::SYNTAX),
    };
    let missing = || if withscore { Reply::NilArray } else { Reply::Nil };
    let zset = match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => zset,
        Ok(None) => return missing(),
        Err(reply) => return reply,
    };
    match zset.rank(&args[2]) {
        Some((rank, score)) => {
            let rank = if reverse { zset.len() - 1 - rank } else { rank } as i64;
            if withscore {
                Reply::Array(vec![Reply::Int(rank), Reply::Double(score)])
            } else {
                Reply::Int(rank)
            }
        }
        None => missing(),
    }
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let range = match parse_score_range(&args[2], &args[3]) {
        Ok(range) => range,
        Err(reply) => return reply,
    };
    match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => Reply::Int(count_between(
            zset,
            zset.first_in_score_range(&range),
            zset.last_in_score_range(&range),
        )),
        Ok(None) => Reply::Int(0),
        Err(reply) => reply,
    }
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let range = match parse_lex_range(&args[2], &args[3]) {
        Ok(range) => range,
        Err(reply) => return reply,
    };
    match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => Reply::Int(count_between(
            zset,
            zset.first_in_lex_range(&range),
            zset.last_in_lex_range(&range),
        )),
        Ok(None) => Reply::Int(0),
        Err(reply) => reply,
    }
}

/// Members from `first` to `last` inclusive, by rank (as Redis counts on its skiplist).
fn count_between(zset: &ZSet, first: Option<NodeId>, last: Option<NodeId>) -> i64 {
    match (first, last) {
        (Some(first), Some(last)) => {
            let (first, last) = (zset.rank_of_node(first), zset.rank_of_node(last));
            (last + 1).saturating_sub(first) as i64
        }
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANGE family and ZRANGESTORE
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

enum ParsedRange {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 1, None, RangeType::Auto, Direction::Auto)
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 2, Some(&args[1]), RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 1, None, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Direction::Reverse)
}

/// ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX] forms, which fix the range
/// type and direction. `source` is the position of the source key.
fn zrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    source: usize,
    destination: Option<&Bytes>,
    mut range_type: RangeType,
    mut direction: Direction,
) -> Reply {
    let store = destination.is_some();
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut at = source + 3;
    while at < args.len() {
        let left = args.len() - at - 1;
        let option = &args[at];
        if !store && is(option, "withscores") {
            withscores = true;
        } else if is(option, "limit") && left >= 2 {
            offset = match parse_integer(&args[at + 1]) {
                Ok(value) => value,
                Err(reply) => return reply,
            };
            limit = match parse_integer(&args[at + 2]) {
                Ok(value) => value,
                Err(reply) => return reply,
            };
            at += 2;
        } else if direction == Direction::Auto && is(option, "rev") {
            direction = Direction::Reverse;
        } else if range_type == RangeType::Auto && is(option, "bylex") {
            range_type = RangeType::Lex;
        } else if range_type == RangeType::Auto && is(option, "byscore") {
            range_type = RangeType::Score;
        } else {
            return Reply::error(errors::SYNTAX);
        }
        at += 1;
    }
    if direction == Direction::Auto {
        direction = Direction::Forward;
    }
    if range_type == RangeType::Auto {
        range_type = RangeType::Rank;
    }
    if limit != -1 && range_type == RangeType::Rank {
        return Reply::error(zerr::LIMIT_NEEDS_BY);
    }
    if withscores && range_type == RangeType::Lex {
        return Reply::error(zerr::WITHSCORES_BYLEX);
    }
    let reverse = direction == Direction::Reverse;
    // By score and by lex, a reversed range is given as max then min.
    let (min, max) = if reverse && range_type != RangeType::Rank {
        (&args[source + 2], &args[source + 1])
    } else {
        (&args[source + 1], &args[source + 2])
    };
    let range = match range_type {
        RangeType::Score => match parse_score_range(min, max) {
            Ok(range) => ParsedRange::Score(range),
            Err(reply) => return reply,
        },
        RangeType::Lex => match parse_lex_range(min, max) {
            Ok(range) => ParsedRange::Lex(range),
            Err(reply) => return reply,
        },
        _ => match (parse_integer(min), parse_integer(max)) {
            (Ok(start), Ok(end)) => ParsedRange::Rank(start, end),
            (Err(reply), _) | (_, Err(reply)) => return reply,
        },
    };

    let items = match read_zset(ctx, &args[source]) {
        Ok(Some(zset)) => match &range {
            ParsedRange::Rank(start, end) => range_by_rank(zset, *start, *end, reverse),
            ParsedRange::Score(range) => range_by_score(zset, range, offset, limit, reverse),
            ParsedRange::Lex(range) => range_by_lex(zset, range, offset, limit, reverse),
        },
        Ok(None) => Vec::new(),
        Err(reply) => return reply,
    };
    match destination {
        Some(destination) => {
            // As Redis: sized by the rank range, unknown (so general) by score or lex.
            let hint = match range {
                ParsedRange::Rank(..) => items.len(),
                _ => usize::MAX,
            };
            let limits = limits(ctx);
            let mut result = ZSet::with_hint(hint, 0, limits);
            for (member, score) in items {
                result.insert_within(member, score, limits);
            }
            store_result(ctx, destination, result, "zrangestore")
        }
        None => members_or_pairs(items, withscores),
    }
}

/// Normalizes Redis-style `start`/`end` ranks (negative counts from the end) against `len`;
/// None when the range is empty.
fn normalize_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn range_by_rank(zset: &ZSet, start: i64, end: i64, reverse: bool) -> Vec<(Bytes, f64)> {
    let Some((start, end)) = normalize_ranks(start, end, zset.len()) else {
        return Vec::new();
    };
    let count = end - start + 1;
    let first_rank = if reverse { zset.len() - 1 - start } else { start };
    let mut node = zset.node_at_rank(first_rank);
    let mut items = Vec::with_capacity(count);
    while let Some(current) = node {
        if items.len() == count {
            break;
        }
        items.push(entry_owned(zset, current));
        node = if reverse { zset.prev(current) } else { zset.next(current) };
    }
    items
}

/// Skips `offset` nodes from `node` in the walk's direction (Redis walks them one by one; a
/// negative offset walks off the end).
fn skip(zset: &ZSet, node: Option<NodeId>, offset: i64, reverse: bool) -> Option<NodeId> {
    let node = node?;
    if offset == 0 {
        return Some(node);
    }
    if offset < 0 {
        return None;
    }
    let rank = zset.rank_of_node(node) as i64;
    let target = if reverse { rank - offset } else { rank + offset };
    if target < 0 {
        return None;
    }
    zset.node_at_rank(target as usize)
}

/// Walks from `start` in the given direction while `inside` holds, up to `limit` members
/// (negative: no limit).
fn walk(
    zset: &ZSet,
    start: Option<NodeId>,
    mut limit: i64,
    reverse: bool,
    inside: impl Fn(&[u8], f64) -> bool,
) -> Vec<(Bytes, f64)> {
    let mut items = Vec::new();
    let mut node = start;
    while let Some(current) = node {
        if limit == 0 {
            break;
        }
        let (member, score) = zset.entry(current);
        if !inside(&member, score) {
            break;
        }
        items.push((member.to_bytes(), score));
        limit -= 1;
        node = if reverse { zset.prev(current) } else { zset.next(current) };
    }
    items
}

fn range_by_score(zset: &ZSet, range: &ScoreRange, offset: i64, limit: i64, reverse: bool) -> Vec<(Bytes, f64)> {
    if offset > 0 && offset >= zset.len() as i64 {
        return Vec::new();
    }
    let start = if reverse {
        zset.last_in_score_range(range)
    } else {
        zset.first_in_score_range(range)
    };
    let start = skip(zset, start, offset, reverse);
    walk(zset, start, limit, reverse, |_, score| {
        if reverse {
            range.gte_min(score)
        } else {
            range.lte_max(score)
        }
    })
}

fn range_by_lex(zset: &ZSet, range: &LexRange, offset: i64, limit: i64, reverse: bool) -> Vec<(Bytes, f64)> {
    let start = if reverse {
        zset.last_in_lex_range(range)
    } else {
        zset.first_in_lex_range(range)
    };
    let start = skip(zset, start, offset, reverse);
    walk(zset, start, limit, reverse, |member, _| {
        if reverse {
            range.gte_min(member)
        } else {
            range.lte_max(member)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX
// ---------------------------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, end) = match (parse_integer(&args[2]), parse_integer(&args[3])) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    zremrange_generic(ctx, args, "zremrangebyrank", |zset| {
        range_by_rank(zset, start, end, false)
    })
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let range = match parse_score_range(&args[2], &args[3]) {
        Ok(range) => range,
        Err(reply) => return reply,
    };
    zremrange_generic(ctx, args, "zremrangebyscore", |zset| {
        walk(zset, zset.first_not_below_score(&range), -1, false, |_, score| {
            range.lte_max(score)
        })
    })
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let range = match parse_lex_range(&args[2], &args[3]) {
        Ok(range) => range,
        Err(reply) => return reply,
    };
    zremrange_generic(ctx, args, "zremrangebylex", |zset| {
        walk(zset, zset.first_not_below_lex(&range), -1, false, |member, _| {
            range.lte_max(member)
        })
    })
}

/// Removes the members `select` picks from the set at `args[1]`.
fn zremrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    event: &'static str,
    select: impl Fn(&ZSet) -> Vec<(Bytes, f64)>,
) -> Reply {
    let key = &args[1];
    let doomed = match read_zset(ctx, key) {
        Ok(Some(zset)) => select(zset),
        Ok(None) => return Reply::Int(0),
        Err(reply) => return reply,
    };
    if doomed.is_empty() {
        return Reply::Int(0);
    }
    let zset = zset_for_update(ctx, key, ZSet::new);
    for (member, _) in &doomed {
        zset.remove(member);
    }
    ctx.notify(class::ZSET, event, key);
    remove_if_empty(ctx, key);
    Reply::Int(doomed.len() as i64)
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP, BZPOPMIN, BZPOPMAX, BZMPOP
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Min,
    Max,
}

/// What a pop replies with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PopReply {
    /// ZPOPMIN key: [member, score].
    Flat,
    /// ZPOPMIN key count: pairs (flat in RESP2, nested in RESP3).
    Pairs,
    /// BZPOPMIN: [key, member, score].
    KeyFlat,
    /// ZMPOP / BZMPOP: [key, [[member, score] …]].
    KeyNested,
}

/// Pops up to `count` members from the first non-empty sorted set among `keys` (Redis's
/// genericZpopCommand): WRONGTYPE stops at the first existing key of another type.
fn pop_generic(ctx: &mut Ctx, keys: &[Bytes], end: End, count: usize, shape: PopReply) -> Reply {
    let nothing = || match shape {
        PopReply::Flat | PopReply::Pairs => Reply::Array(Vec::new()),
        PopReply::KeyFlat | PopReply::KeyNested => Reply::NilArray,
    };
    let mut found = None;
    for key in keys {
        match read_zset(ctx, key) {
            Ok(None) => continue,
            Ok(Some(zset)) if zset.is_empty() => continue,
            Ok(Some(_)) => {
                found = Some(key);
                break;
            }
            Err(reply) => return reply,
        }
    }
    let Some(key) = found else {
        return nothing();
    };
    if count == 0 {
        return Reply::Array(Vec::new());
    }
    let zset = zset_for_update(ctx, key, ZSet::new);
    let mut popped = Vec::with_capacity(count.min(zset.len()));
    while popped.len() < count {
        let node = match end {
            End::Min => zset.first(),
            End::Max => zset.last(),
        };
        let Some(node) = node else { break };
        let (member, score) = entry_owned(zset, node);
        zset.remove(&member);
        popped.push((member, score));
    }
    ctx.notify(
        class::ZSET,
        match end {
            End::Min => "zpopmin",
            End::Max => "zpopmax",
        },
        key,
    );
    remove_if_empty(ctx, key);
    match shape {
        PopReply::Flat => flat_pairs(popped),
        PopReply::Pairs => pairs(popped),
        PopReply::KeyFlat => {
            let mut items = vec![Reply::Bulk(key.clone())];
            for (member, score) in popped {
                items.push(Reply::Bulk(member));
                items.push(Reply::Double(score));
            }
            Reply::Array(items)
        }
        PopReply::KeyNested => Reply::Array(vec![Reply::Bulk(key.clone()), nested_pairs(popped)]),
    }
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop_command(ctx, args, End::Min)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop_command(ctx, args, End::Max)
}

fn zpop_command(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    if args.len() > 3 {
        return Reply::error(errors::SYNTAX);
    }
    match args.get(2) {
        None => pop_generic(ctx, &args[1..2], end, 1, PopReply::Flat),
        Some(count) => match parse_bounded(count, 0, i64::MAX, errors::NOT_POSITIVE) {
            Ok(count) => pop_generic(ctx, &args[1..2], end, count as usize, PopReply::Pairs),
            Err(reply) => reply,
        },
    }
}

fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop_command(ctx, args, End::Min)
}

fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop_command(ctx, args, End::Max)
}

fn bzpop_command(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    if let Err(reply) = parse_timeout_ms(&args[args.len() - 1], ctx.now_ms) {
        return reply;
    }
    pop_generic(ctx, &args[1..args.len() - 1], end, 1, PopReply::KeyFlat)
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zmpop_generic(ctx, args, 1, false)
}

fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zmpop_generic(ctx, args, 2, true)
}

/// ZMPOP numkeys key … MIN|MAX [COUNT count] and BZMPOP timeout numkeys …
fn zmpop_generic(ctx: &mut Ctx, args: &[Bytes], numkeys_at: usize, blocking: bool) -> Reply {
    let numkeys = match parse_bounded(&args[numkeys_at], 1, i64::MAX, zerr::NUMKEYS_NOT_POSITIVE) {
        Ok(numkeys) => numkeys as usize,
        Err(reply) => return reply,
    };
    let where_at = match numkeys_at.checked_add(numkeys).and_then(|at| at.checked_add(1)) {
        Some(at) if at < args.len() => at,
        _ => return Reply::error(errors::SYNTAX),
    };
    let end = if is(&args[where_at], "min") {
        End::Min
    } else if is(&args[where_at], "max") {
        End::Max
    } else {
        return Reply::error(errors::SYNTAX);
    };
    let mut count = None;
    let mut at = where_at + 1;
    while at < args.len() {
        let more = args.len() - 1 - at;
        if count.is_none() && is(&args[at], "count") && more > 0 {
            at += 1;
            match parse_bounded(&args[at], 1, i64::MAX, zerr::COUNT_NOT_POSITIVE) {
                Ok(value) => count = Some(value as usize),
                Err(reply) => return reply,
            }
        } else {
            return Reply::error(errors::SYNTAX);
        }
        at += 1;
    }
    if blocking {
        if let Err(reply) = parse_timeout_ms(&args[1], ctx.now_ms) {
            return reply;
        }
    }
    let keys = &args[numkeys_at + 1..where_at];
    pop_generic(ctx, keys, end, count.unwrap_or(1), PopReply::KeyNested)
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        let zset = match read_zset(ctx, &args[1]) {
            Ok(Some(zset)) => zset,
            Ok(None) => return Reply::Nil,
            Err(reply) => return reply,
        };
        let len = zset.len();
        let position = ctx.random_below(len);
        let zset = match read_zset(ctx, &args[1]) {
            Ok(Some(zset)) => zset,
            _ => unreachable!("read just above"),
        };
        return Reply::Bulk(zset.get_position(position).expect("position below len").0.to_bytes());
    }
    let count = match parse_i64(&args[2]) {
        None => return Reply::error(errors::NOT_INTEGER),
        Some(i64::MIN) => return zerr::out_of_range_between(-i64::MAX, i64::MAX),
        Some(count) => count,
    };
    let withscores = match args.len() {
        3 => false,
        4 if is(&args[3], "withscores") => true,
        _ => return Reply::error(errors::SYNTAX),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Reply::error(zerr::VALUE_OUT_OF_RANGE);
    }
    let size = match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => zset.len(),
        Ok(None) => return Reply::Array(Vec::new()),
        Err(reply) => return reply,
    };
    if count == 0 {
        return Reply::Array(Vec::new());
    }
    let unique = count > 0;
    if !unique && count.unsigned_abs() > RANDOM_REPLY_LEN_MAX {
        return Reply::error(errors::RANDOM_REPLY_TOO_LARGE);
    }
    let wanted = count.unsigned_abs() as usize;
    // Draw positions of the insertion-ordered view first (the random source needs &mut ctx).
    let positions: Vec<usize> = if !unique || wanted == 1 {
        (0..wanted).map(|_| ctx.random_below(size)).collect()
    } else if wanted >= size {
        Vec::new()
    } else if wanted * 3 > size {
        // Many of the members: drop random ones until `wanted` remain.
        let mut kept: Vec<usize> = (0..size).collect();
        while kept.len() > wanted {
            let victim = ctx.random_below(kept.len());
            kept.swap_remove(victim);
        }
        kept
    } else {
        // Few of many: draw until enough distinct ones.
        let mut seen = std::collections::HashSet::with_capacity(wanted);
        let mut picked = Vec::with_capacity(wanted);
        while picked.len() < wanted {
            let position = ctx.random_below(size);
            if seen.insert(position) {
                picked.push(position);
            }
        }
        picked
    };
    let zset = match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => zset,
        _ => unreachable!("read just above"),
    };
    let items: Vec<(Bytes, f64)> = if unique && wanted >= size {
        // The whole set, in the order Redis's set iterator walks it: from the highest.
        zset.iter().rev().map(|(member, score)| (member.to_bytes(), score)).collect()
    } else {
        positions
            .into_iter()
            .map(|position| {
                let (member, score) = zset.get_position(position).expect("position below len");
                (member.to_bytes(), score)
            })
            .collect()
    };
    members_or_pairs(items, withscores)
}

// ---------------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// An input of ZUNION and friends: plain sets count as sorted sets with every score 1.
#[derive(Clone, Copy)]
enum Source<'a> {
    Missing,
    Sorted(&'a ZSet),
    Plain(&'a SetValue),
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Sorted(zset) => zset.len(),
            Source::Plain(set) => set.len(),
        }
    }

    fn find(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Sorted(zset) => zset.score(member),
            Source::Plain(set) => set.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut visit: impl FnMut(&'a [u8], f64) -> bool) {
        match self {
            Source::Missing => {}
            Source::Sorted(zset) => {
                // Highest first, as Redis's zset iterator (it only orders float sums).
                for (member, score) in zset.iter().rev() {
                    if !visit(member.as_slice(), score) {
                        break;
                    }
                }
            }
            Source::Plain(set) => {
                for member in set.iter() {
                    if !visit(member, 1.0) {
                        break;
                    }
                }
            }
        }
    }
}

fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            // inf + -inf: Redis keeps 0 rather than NaN.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// A weighted score; 0 instead of NaN (0 × inf), as Redis.
fn weighted(weight: f64, score: f64) -> f64 {
    let value = weight * score;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, None, 1, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, None, 1, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, None, 1, SetOp::Inter, true)
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, Some(&args[1]), 2, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, Some(&args[1]), 2, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop_generic(ctx, args, Some(&args[1]), 2, SetOp::Diff, false)
}

/// Redis's zunionInterDiffGenericCommand: inputs are looked up (and type-checked) before the
/// options are parsed, as there.
fn zsetop_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    destination: Option<&Bytes>,
    numkeys_at: usize,
    op: SetOp,
    cardinality_only: bool,
) -> Reply {
    let numkeys = match parse_integer(&args[numkeys_at]) {
        Ok(numkeys) => numkeys,
        Err(reply) => return reply,
    };
    if numkeys < 1 {
        return zerr::at_least_one_key(&String::from_utf8_lossy(&args[0]));
    }
    if numkeys > (args.len() - (numkeys_at + 1)) as i64 {
        return Reply::error(errors::SYNTAX);
    }
    let numkeys = numkeys as usize;
    let now_ms = ctx.now_ms;
    let db = ctx.db_ref();
    let mut sources = Vec::with_capacity(numkeys);
    for key in &args[numkeys_at + 1..numkeys_at + 1 + numkeys] {
        let source = match db.get(key, now_ms) {
            None => Source::Missing,
            Some(Value::ZSet(zset)) => Source::Sorted(zset),
            Some(Value::Set(set)) => Source::Plain(set),
            Some(_) => return Reply::error(errors::WRONGTYPE),
        };
        sources.push((source, 1.0f64));
    }

    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    let mut at = numkeys_at + 1 + numkeys;
    while at < args.len() {
        let remaining = args.len() - at;
        let option = &args[at];
        if op != SetOp::Diff && !cardinality_only && remaining > numkeys && is(option, "weights") {
            at += 1;
            for (_, weight) in sources.iter_mut() {
                match parse_score(&args[at]) {
                    Some(value) => *weight = value,
                    None => return Reply::error(zerr::WEIGHT_NOT_FLOAT),
                }
                at += 1;
            }
        } else if op != SetOp::Diff && !cardinality_only && remaining >= 2 && is(option, "aggregate") {
            let name = &args[at + 1];
            how = if is(name, "sum") {
                Aggregate::Sum
            } else if is(name, "min") {
                Aggregate::Min
            } else if is(name, "max") {
                Aggregate::Max
            } else {
                return Reply::error(errors::SYNTAX);
            };
            at += 2;
        } else if destination.is_none() && !cardinality_only && is(option, "withscores") {
            withscores = true;
            at += 1;
        } else if cardinality_only && remaining >= 2 && is(option, "limit") {
            match parse_bounded(&args[at + 1], 0, i64::MAX, zerr::LIMIT_NEGATIVE) {
                Ok(value) => limit = value,
                Err(reply) => return reply,
            }
            at += 2;
        } else {
            return Reply::error(errors::SYNTAX);
        }
    }

    if op != SetOp::Diff {
        // Smallest input first (a stable sort keeps equal sizes in argument order).
        sources.sort_by_key(|(source, _)| source.len());
    }
    let mut cardinality = 0i64;
    let mut result = ZSet::new();
    match op {
        SetOp::Inter => {
            let (first, first_weight) = sources[0];
            first.for_each(|member, score| {
                let mut total = weighted(first_weight, score);
                for (other, weight) in &sources[1..] {
                    match other.find(member) {
                        Some(value) => aggregate(&mut total, value * weight, how),
                        None => return true,
                    }
                }
                if cardinality_only {
                    cardinality += 1;
                    return limit == 0 || cardinality < limit;
                }
                result.insert(Bytes::copy_from_slice(member), total);
                true
            });
        }
        SetOp::Union => {
            let mut accumulator: IndexMap<&[u8], f64, FixedHasher> = IndexMap::with_hasher(FixedHasher::default());
            for (source, weight) in &sources {
                source.for_each(|member, score| {
                    let value = weighted(*weight, score);
                    match accumulator.get_mut(member) {
                        Some(total) => aggregate(total, value, how),
                        None => {
                            accumulator.insert(member, value);
                        }
                    }
                    true
                });
            }
            for (member, score) in accumulator {
                result.insert(Bytes::copy_from_slice(member), score);
            }
        }
        SetOp::Diff => {
            let (first, _) = sources[0];
            first.for_each(|member, score| {
                if sources[1..].iter().all(|(other, _)| other.find(member).is_none()) {
                    result.insert(Bytes::copy_from_slice(member), score);
                }
                true
            });
        }
    }

    if let Some(destination) = destination {
        result.fit_encoding(limits(ctx));
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        return store_result(ctx, destination, result, event);
    }
    if cardinality_only {
        return Reply::Int(cardinality);
    }
    members_or_pairs(
        result.iter().map(|(member, score)| (member.to_bytes(), score)).collect(),
        withscores,
    )
}

// ---------------------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------------------

fn parse_cursor(arg: &[u8]) -> Option<u64> {
    if arg.first().is_some_and(|byte| is_c_space(*byte)) {
        return None;
    }
    if arg.is_empty() {
        return Some(0);
    }
    std::str::from_utf8(arg).ok()?.parse::<u64>().ok()
}

/// A score as C's `printf("%.17g")` writes it (Redis's ld2string in its "auto" mode, which
/// ZSCAN uses for sets in the general encoding: `1.1` comes out as `1.1000000000000001`).
fn format_g17(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    const PRECISION: i32 = 17;
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, value);
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("exponent digits");
    let trim = |text: String| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = trim(mantissa.to_string());
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (PRECISION - 1 - exponent) as usize;
        trim(format!("{:.*}", decimals, value))
    }
}

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[2]) else {
        return Reply::error(zerr::INVALID_CURSOR);
    };
    let empty = || Reply::Array(vec![Reply::bulk_copy(b"0"), Reply::Array(Vec::new())]);
    let zset = match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => zset,
        Ok(None) => return empty(),
        Err(reply) => return reply,
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut at = 3;
    while at < args.len() {
        let remaining = args.len() - at;
        if is(&args[at], "count") && remaining >= 2 {
            match parse_i64(&args[at + 1]) {
                None => return Reply::error(errors::NOT_INTEGER),
                Some(value) if value < 1 => return Reply::error(errors::SYNTAX),
                Some(value) => count = value.min(usize::MAX as i64) as usize,
            }
            at += 2;
        } else if is(&args[at], "match") && remaining >= 2 {
            let text = &args[at + 1][..];
            pattern = (text != b"*").then_some(text);
            at += 2;
        } else {
            return Reply::error(errors::SYNTAX);
        }
    }
    let mut items = Vec::new();
    let mut emit = |member: Member<'_>, score: String| {
        if pattern.is_none_or(|pattern| glob::matches(pattern, &member, false)) {
            items.push(Reply::Bulk(member.to_bytes()));
            items.push(Reply::bulk_string(score));
        }
    };
    let next = if zset.is_compact() {
        // A small set (Redis's listpack encoding) comes back whole, in order, in one call,
        // with each score's shortest text.
        for (member, score) in zset.iter() {
            emit(member, flotilla_protocol::format_double(score));
        }
        0
    } else {
        // The general encoding pages through its dict and prints scores as %.17g.
        let (positions, next) = scan::page(zset.len(), cursor, count);
        for position in positions.rev() {
            let (member, score) = zset.get_position(position).expect("position below len");
            emit(member, format_g17(score));
        }
        next
    };
    Reply::Array(vec![
        Reply::bulk_string(next.to_string()),
        Reply::Array(items),
    ])
}

// ---------------------------------------------------------------------------------------------
// Key positions for the numkeys forms
// ---------------------------------------------------------------------------------------------

fn keys_numkeys_first(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 1)
}

fn keys_numkeys_second(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

fn keys_destination_then_numkeys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(keys_after_numkeys(args, 2));
    keys
}

// ---------------------------------------------------------------------------------------------
// Command table
// ---------------------------------------------------------------------------------------------

const READ: Flags = Flags::READONLY;
const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const WRITE: Flags = Flags::WRITE;
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_OOM: Flags = Flags::WRITE.union(Flags::DENYOOM);
const WRITE_OOM_FAST: Flags = WRITE_OOM.union(Flags::FAST);
const BLOCKING: Flags = Flags::WRITE.union(Flags::BLOCKING);

const ACL_READ: &[&str] = &["read", "sortedset", "slow"];
const ACL_READ_FAST: &[&str] = &["read", "sortedset", "fast"];
const ACL_WRITE: &[&str] = &["write", "sortedset", "slow"];
const ACL_WRITE_FAST: &[&str] = &["write", "sortedset", "fast"];

/// A sorted-set command whose only key is `args[1]`; entries override what differs.
const fn zcmd(name: &'static str, arity: i32, handler: KeyspaceFn) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "sorted-set",
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: WRITE_OOM_FAST,
        acl: ACL_WRITE_FAST,
        since: "1.2.0",
        summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        syntax: "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..zcmd("zadd", -4, zadd)
    },
    CommandSpec {
        flags: WRITE_OOM_FAST,
        acl: ACL_WRITE_FAST,
        since: "1.2.0",
        summary: "Increments the score of a member in a sorted set.",
        syntax: "key increment member",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..zcmd("zincrby", 4, zincrby)
    },
    CommandSpec {
        flags: WRITE_FAST,
        acl: ACL_WRITE_FAST,
        since: "1.2.0",
        summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        syntax: "key member [member ...]",
        key_flags: &[KeyFlags::RW_DELETE],
        ..zcmd("zrem", -3, zrem)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "1.2.0",
        summary: "Returns the number of members in a sorted set.",
        syntax: "key",
        key_flags: &[KeyFlags::RO],
        ..zcmd("zcard", 2, zcard)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "1.2.0",
        summary: "Returns the score of a member in a sorted set.",
        syntax: "key member",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zscore", 3, zscore)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "6.2.0",
        summary: "Returns the score of one or more members in a sorted set.",
        syntax: "key member [member ...]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zmscore", -3, zmscore)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "2.0.0",
        summary: "Returns the index of a member in a sorted set ordered by ascending scores.",
        syntax: "key member [WITHSCORE]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrank", -3, zrank)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "2.0.0",
        summary: "Returns the index of a member in a sorted set ordered by descending scores.",
        syntax: "key member [WITHSCORE]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrevrank", -3, zrevrank)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "2.0.0",
        summary: "Returns the count of members in a sorted set that have scores within a range.",
        syntax: "key min max",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zcount", 4, zcount)
    },
    CommandSpec {
        flags: READ_FAST,
        acl: ACL_READ_FAST,
        since: "2.8.9",
        summary: "Returns the number of members in a sorted set within a lexicographical range.",
        syntax: "key min max",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zlexcount", 4, zlexcount)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "1.2.0",
        summary: "Returns members in a sorted set within a range of indexes.",
        syntax: "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrange", -4, zrange)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "1.0.5",
        summary: "Returns members in a sorted set within a range of scores.",
        syntax: "key min max [WITHSCORES] [LIMIT offset count]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrangebyscore", -4, zrangebyscore)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "2.2.0",
        summary: "Returns members in a sorted set within a range of scores in reverse order.",
        syntax: "key max min [WITHSCORES] [LIMIT offset count]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrevrangebyscore", -4, zrevrangebyscore)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "2.8.9",
        summary: "Returns members in a sorted set within a lexicographical range.",
        syntax: "key min max [LIMIT offset count]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrangebylex", -4, zrangebylex)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "2.8.9",
        summary: "Returns members in a sorted set within a lexicographical range in reverse order.",
        syntax: "key max min [LIMIT offset count]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrevrangebylex", -4, zrevrangebylex)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "1.2.0",
        summary: "Returns members in a sorted set within a range of indexes in reverse order.",
        syntax: "key start stop [WITHSCORES]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrevrange", -4, zrevrange)
    },
    CommandSpec {
        flags: WRITE_OOM,
        first_key: 1,
        last_key: 2,
        acl: ACL_WRITE,
        since: "6.2.0",
        summary: "Stores a range of members from sorted set in a key.",
        syntax: "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]",
        key_flags: &[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS],
        ..zcmd("zrangestore", -5, zrangestore)
    },
    CommandSpec {
        flags: WRITE,
        acl: ACL_WRITE,
        since: "2.0.0",
        summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        syntax: "key start stop",
        key_flags: &[KeyFlags::RW_DELETE],
        ..zcmd("zremrangebyrank", 4, zremrangebyrank)
    },
    CommandSpec {
        flags: WRITE,
        acl: ACL_WRITE,
        since: "1.2.0",
        summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        syntax: "key min max",
        key_flags: &[KeyFlags::RW_DELETE],
        ..zcmd("zremrangebyscore", 4, zremrangebyscore)
    },
    CommandSpec {
        flags: WRITE,
        acl: ACL_WRITE,
        since: "2.8.9",
        summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        syntax: "key min max",
        key_flags: &[KeyFlags::RW_DELETE],
        ..zcmd("zremrangebylex", 4, zremrangebylex)
    },
    CommandSpec {
        flags: WRITE_FAST,
        acl: ACL_WRITE_FAST,
        since: "5.0.0",
        summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        syntax: "key [count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..zcmd("zpopmin", -2, zpopmin)
    },
    CommandSpec {
        flags: WRITE_FAST,
        acl: ACL_WRITE_FAST,
        since: "5.0.0",
        summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        syntax: "key [count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..zcmd("zpopmax", -2, zpopmax)
    },
    CommandSpec {
        flags: WRITE.union(Flags::MOVABLE_KEYS),
        first_key: 0,
        last_key: 0,
        step: 0,
        key_finder: Some(keys_numkeys_first),
        numkeys_index: 1,
        acl: ACL_WRITE,
        since: "7.0.0",
        summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        syntax: "numkeys key [key ...] <MIN | MAX> [COUNT count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..zcmd("zmpop", -4, zmpop)
    },
    CommandSpec {
        flags: BLOCKING.union(Flags::FAST),
        first_key: 1,
        last_key: -2,
        acl: &["write", "sortedset", "fast", "blocking"],
        since: "5.0.0",
        summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        syntax: "key [key ...] timeout",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..zcmd("bzpopmin", -3, bzpopmin)
    },
    CommandSpec {
        flags: BLOCKING.union(Flags::FAST),
        first_key: 1,
        last_key: -2,
        acl: &["write", "sortedset", "fast", "blocking"],
        since: "5.0.0",
        summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped.",
        syntax: "key [key ...] timeout",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..zcmd("bzpopmax", -3, bzpopmax)
    },
    CommandSpec {
        flags: BLOCKING.union(Flags::MOVABLE_KEYS),
        first_key: 0,
        last_key: 0,
        step: 0,
        key_finder: Some(keys_numkeys_second),
        numkeys_index: 2,
        acl: &["write", "sortedset", "slow", "blocking"],
        since: "7.0.0",
        summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        syntax: "timeout numkeys key [key ...] <MIN | MAX> [COUNT count]",
        key_flags: &[KeyFlags::RW_ACCESS_DELETE],
        ..zcmd("bzmpop", -5, bzmpop)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "6.2.0",
        summary: "Returns one or more random members from a sorted set.",
        syntax: "key [count [WITHSCORES]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zrandmember", -2, zrandmember)
    },
    CommandSpec {
        flags: READ.union(Flags::MOVABLE_KEYS),
        first_key: 0,
        last_key: 0,
        step: 0,
        key_finder: Some(keys_numkeys_first),
        numkeys_index: 1,
        acl: ACL_READ,
        since: "6.2.0",
        summary: "Returns the union of multiple sorted sets.",
        syntax: "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zunion", -3, zunion)
    },
    CommandSpec {
        flags: READ.union(Flags::MOVABLE_KEYS),
        first_key: 0,
        last_key: 0,
        step: 0,
        key_finder: Some(keys_numkeys_first),
        numkeys_index: 1,
        acl: ACL_READ,
        since: "6.2.0",
        summary: "Returns the intersect of multiple sorted sets.",
        syntax: "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zinter", -3, zinter)
    },
    CommandSpec {
        flags: READ.union(Flags::MOVABLE_KEYS),
        first_key: 0,
        last_key: 0,
        step: 0,
        key_finder: Some(keys_numkeys_first),
        numkeys_index: 1,
        acl: ACL_READ,
        since: "6.2.0",
        summary: "Returns the difference between multiple sorted sets.",
        syntax: "numkeys key [key ...] [WITHSCORES]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zdiff", -3, zdiff)
    },
    CommandSpec {
        flags: READ.union(Flags::MOVABLE_KEYS),
        first_key: 0,
        last_key: 0,
        step: 0,
        key_finder: Some(keys_numkeys_first),
        numkeys_index: 1,
        acl: ACL_READ,
        since: "7.0.0",
        summary: "Returns the number of members of the intersect of multiple sorted sets.",
        syntax: "numkeys key [key ...] [LIMIT limit]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zintercard", -3, zintercard)
    },
    CommandSpec {
        flags: WRITE_OOM.union(Flags::MOVABLE_KEYS),
        key_finder: Some(keys_destination_then_numkeys),
        numkeys_index: 2,
        acl: ACL_WRITE,
        since: "2.0.0",
        summary: "Stores the union of multiple sorted sets in a key.",
        syntax: "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]",
        key_flags: &[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS],
        ..zcmd("zunionstore", -4, zunionstore)
    },
    CommandSpec {
        flags: WRITE_OOM.union(Flags::MOVABLE_KEYS),
        key_finder: Some(keys_destination_then_numkeys),
        numkeys_index: 2,
        acl: ACL_WRITE,
        since: "2.0.0",
        summary: "Stores the intersect of multiple sorted sets in a key.",
        syntax: "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]",
        key_flags: &[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS],
        ..zcmd("zinterstore", -4, zinterstore)
    },
    CommandSpec {
        flags: WRITE_OOM.union(Flags::MOVABLE_KEYS),
        key_finder: Some(keys_destination_then_numkeys),
        numkeys_index: 2,
        acl: ACL_WRITE,
        since: "6.2.0",
        summary: "Stores the difference of multiple sorted sets in a key.",
        syntax: "destination numkeys key [key ...]",
        key_flags: &[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS],
        ..zcmd("zdiffstore", -4, zdiffstore)
    },
    CommandSpec {
        flags: READ,
        acl: ACL_READ,
        since: "2.8.0",
        summary: "Iterates over members and scores of a sorted set.",
        syntax: "key cursor [MATCH pattern] [COUNT count]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..zcmd("zscan", -3, zscan)
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Event;
    use crate::testing::{run, Harness};

    fn h() -> Harness {
        Harness::new()
    }

    fn zset_events(t: &Harness) -> Vec<String> {
        t.events
            .iter()
            .filter_map(|event| match event {
                Event::Notify { event, key, .. } => Some(format!("{event}:{}", String::from_utf8_lossy(key))),
                Event::Ready { key, .. } => Some(format!("ready:{}", String::from_utf8_lossy(key))),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn strtod_prefix_follows_c() {
        assert_eq!(strtod_prefix(b"1.5"), (1.5, 3, false));
        assert_eq!(strtod_prefix(b"  -2e3x"), (-2000.0, 6, false));
        assert_eq!(strtod_prefix(b"1e"), (1.0, 1, false));
        assert_eq!(strtod_prefix(b".5"), (0.5, 2, false));
        assert_eq!(strtod_prefix(b"abc").1, 0);
        assert_eq!(strtod_prefix(b"-inf").0, f64::NEG_INFINITY);
        assert_eq!(strtod_prefix(b"+Infinity"), (f64::INFINITY, 9, false));
        assert!(strtod_prefix(b"1e999").2);
        assert!(strtod_prefix(b"1e-999").2);
        assert!(!strtod_prefix(b"0e-999").2);
        assert_eq!(strtod_prefix(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod_prefix(b"-0x1.8p1"), (-3.0, 8, false));
        assert_eq!(strtod_prefix(b"0x.8"), (0.5, 4, false));
        assert_eq!(strtod_prefix(b"0x1p"), (1.0, 3, false));
        assert_eq!(strtod_prefix(b"0xg"), (0.0, 1, false));
        assert!(strtod_prefix(b"0x1p99999").2);
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"1e999"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_range_item(b"(1"), Some((1.0, true)));
        assert_eq!(parse_range_item(b""), Some((0.0, false)));
        assert_eq!(parse_range_item(b"1e999"), Some((f64::INFINITY, false)));
        assert_eq!(parse_range_item(b"(nan"), None);
    }

    #[test]
    fn zadd_basics_and_options() {
        let mut t = h();
        assert_eq!(run(&mut t, &["ZADD", "z", "10", "x", "20", "y", "30", "z"]), ":3");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$x, $y, $z]");
        assert_eq!(run(&mut t, &["ZADD", "z", "1", "y"]), ":0");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$y, $x, $z]");
        assert_eq!(run(&mut t, &["ZADD", "z", "CH", "2", "y", "5", "new"]), ":2");
        assert_eq!(run(&mut t, &["ZADD", "z", "XX", "100", "x", "1", "nope"]), ":0");
        assert_eq!(run(&mut t, &["ZSCORE", "z", "x"]), ",100");
        assert_eq!(run(&mut t, &["ZSCORE", "z", "nope"]), "nil");
        assert_eq!(run(&mut t, &["ZADD", "z", "NX", "0", "x", "7", "n2"]), ":1");
        assert_eq!(run(&mut t, &["ZSCORE", "z", "x"]), ",100");
        assert_eq!(run(&mut t, &["ZADD", "z", "GT", "CH", "50", "x", "200", "z"]), ":1");
        assert_eq!(run(&mut t, &["ZADD", "z", "LT", "CH", "50", "x", "300", "z"]), ":1");
        assert_eq!(run(&mut t, &["ZMSCORE", "z", "x", "z", "missing"]), "[,50, ,200, nil]");
        assert_eq!(run(&mut t, &["ZADD", "k", "XX", "1", "a"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "k"]), ":0");
        assert_eq!(run(&mut t, &["ZADD", "z", "1", "a", "2", "a"]), ":1");
        assert_eq!(run(&mut t, &["ZSCORE", "z", "a"]), ",2");
    }

    #[test]
    fn zadd_errors() {
        let mut t = h();
        assert_eq!(run(&mut t, &["ZADD", "z", "nan", "a"]), "-ERR value is not a valid float");
        assert_eq!(run(&mut t, &["ZADD", "z", "", "a"]), "-ERR value is not a valid float");
        assert_eq!(run(&mut t, &["ZADD", "z", "xx", "10", "x", "20"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["ZADD", "z", "xx", "nx", "10", "x"]),
            "-ERR XX and NX options at the same time are not compatible"
        );
        for options in [["gt", "nx"], ["lt", "nx"], ["lt", "gt"]] {
            assert_eq!(
                run(&mut t, &["ZADD", "z", options[0], options[1], "10", "x"]),
                "-ERR GT, LT, and/or NX options at the same time are not compatible"
            );
        }
        assert_eq!(
            run(&mut t, &["ZADD", "z", "INCR", "15", "x", "10", "y"]),
            "-ERR INCR option supports a single increment-element pair"
        );
        assert_eq!(run(&mut t, &["ZADD", "z", "10", "a", "20", "b", "30.bad", "c"]), "-ERR value is not a valid float");
        assert_eq!(run(&mut t, &["EXISTS", "z"]), ":0");
        assert_eq!(run(&mut t, &["ZADD", "z"]), "-ERR wrong number of arguments for 'zadd' command");
        assert_eq!(run(&mut t, &["ZINCRBY", "z", "10", "a", "20"]), "-ERR wrong number of arguments for 'zincrby' command");
        run(&mut t, &["SET", "s", "v"]);
        assert_eq!(run(&mut t, &["ZADD", "s", "1", "a"]), format!("-{}", errors::WRONGTYPE));
    }

    #[test]
    fn zincrby_and_incr() {
        let mut t = h();
        assert_eq!(run(&mut t, &["ZINCRBY", "z", "1", "a"]), ",1");
        assert_eq!(run(&mut t, &["ZINCRBY", "z", "-5.5", "a"]), ",-4.5");
        assert_eq!(run(&mut t, &["ZADD", "z", "INCR", "1", "a"]), ",-3.5");
        assert_eq!(run(&mut t, &["ZADD", "z", "INCR", "LT", "1", "a"]), "nil");
        assert_eq!(run(&mut t, &["ZADD", "z", "INCR", "GT", "1", "a"]), ",-2.5");
        assert_eq!(run(&mut t, &["ZADD", "z", "INCR", "NX", "1", "a"]), "nil");
        assert_eq!(run(&mut t, &["ZADD", "z", "INCR", "XX", "1", "b"]), "nil");
        run(&mut t, &["ZADD", "z", "inf", "i"]);
        assert_eq!(run(&mut t, &["ZINCRBY", "z", "-inf", "i"]), "-ERR resulting score is not a number (NaN)");
        assert_eq!(run(&mut t, &["ZINCRBY", "z", "nan", "i"]), "-ERR value is not a valid float");
        // ZINCRBY reads options like ZADD: an option word where the increment goes is a pair short.
        assert_eq!(run(&mut t, &["ZINCRBY", "z", "nx", "a"]), "-ERR syntax error");
    }

    #[test]
    fn zadd_notifies_and_signals_only_on_change() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "1", "a"]);
        run(&mut t, &["ZADD", "z", "1", "a"]);
        run(&mut t, &["ZADD", "z", "2", "a"]);
        run(&mut t, &["ZINCRBY", "z", "1", "a"]);
        assert_eq!(zset_events(&t), ["zadd:z", "ready:z", "zadd:z", "zincr:z"]);
    }

    #[test]
    fn no_op_writes_keep_the_watch_version() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "1", "a"]);
        let version = t.machine.version(0, b"z", t.now_ms);
        run(&mut t, &["ZADD", "z", "1", "a"]);
        run(&mut t, &["ZADD", "z", "NX", "5", "a"]);
        run(&mut t, &["ZREM", "z", "nope"]);
        run(&mut t, &["ZREMRANGEBYSCORE", "z", "5", "10"]);
        assert_eq!(t.machine.version(0, b"z", t.now_ms), version);
        run(&mut t, &["ZADD", "z", "2", "a"]);
        assert_ne!(t.machine.version(0, b"z", t.now_ms), version);
    }

    #[test]
    fn zrem_and_zcard() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(run(&mut t, &["ZCARD", "z"]), ":3");
        assert_eq!(run(&mut t, &["ZREM", "z", "a", "a", "x"]), ":1");
        assert_eq!(run(&mut t, &["ZREM", "z", "b", "c", "d"]), ":2");
        assert_eq!(run(&mut t, &["EXISTS", "z"]), ":0");
        assert_eq!(run(&mut t, &["ZCARD", "z"]), ":0");
        assert_eq!(run(&mut t, &["ZREM", "z", "a"]), ":0");
        let events = zset_events(&t);
        assert_eq!(&events[events.len() - 3..], ["zrem:z", "zrem:z", "del:z"]);
    }

    #[test]
    fn zrange_by_rank() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$a, $b, $c, $d]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-2"]), "[$a, $b, $c]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "-3", "-1"]), "[$b, $c, $d]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "5", "-1"]), "[]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "-10", "1"]), "[$a, $b]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1", "REV"]), "[$d, $c, $b, $a]");
        assert_eq!(run(&mut t, &["ZREVRANGE", "z", "1", "2", "WITHSCORES"]), "[$c, ,3, $b, ,2]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "0", "withscores"]), "[$a, ,1]");
        assert_eq!(run(&mut t, &["ZRANGE", "missing", "0", "-1"]), "[]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "a", "1"]), "-ERR value is not an integer or out of range");
        assert_eq!(
            run(&mut t, &["ZRANGE", "z", "0", "-1", "LIMIT", "1", "2"]),
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        );
        assert_eq!(run(&mut t, &["ZREVRANGE", "z", "0", "-1", "BYSCORE"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "-1", "REV"]), "-ERR syntax error");
    }

    #[test]
    fn zrange_by_score() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "-inf", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "+inf", "g"]);
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "-inf", "2"]), "[$a, $b, $c]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "3"]), "[$b, $c, $d]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "(0", "(3"]), "[$b, $c]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "3", "+inf"]), "[$d, $e, $f, $g]");
        assert_eq!(run(&mut t, &["ZREVRANGEBYSCORE", "z", "2", "-inf"]), "[$c, $b, $a]");
        assert_eq!(run(&mut t, &["ZREVRANGEBYSCORE", "z", "(3", "(0"]), "[$c, $b]");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "(3", "(0", "BYSCORE", "REV"]), "[$c, $b]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "4", "2"]), "[]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "(2", "(2"]), "[]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "0", "2"]), "[$b, $c]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "2", "3"]), "[$d, $e, $f]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "2", "10"]), "[$d, $e, $f]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "20", "10"]), "[]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "-1", "10"]), "[]");
        assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "1", "-1"]), "[$c, $d, $e, $f]");
        assert_eq!(run(&mut t, &["ZREVRANGEBYSCORE", "z", "10", "0", "LIMIT", "2", "3"]), "[$d, $c, $b]");
        assert_eq!(
            run(&mut t, &["ZRANGEBYSCORE", "z", "0", "3", "WITHSCORES", "LIMIT", "1", "1"]),
            "[$c, ,2]"
        );
        assert_eq!(run(&mut t, &["ZCOUNT", "z", "0", "3"]), ":3");
        assert_eq!(run(&mut t, &["ZCOUNT", "z", "(0", "(3"]), ":2");
        assert_eq!(run(&mut t, &["ZCOUNT", "z", "-inf", "+inf"]), ":7");
        assert_eq!(run(&mut t, &["ZCOUNT", "z", "3", "1"]), ":0");
        for bad in [["str", "1"], ["1", "str"], ["1", "NaN"]] {
            assert_eq!(run(&mut t, &["ZRANGEBYSCORE", "z", bad[0], bad[1]]), "-ERR min or max is not a float");
            assert_eq!(run(&mut t, &["ZCOUNT", "z", bad[0], bad[1]]), "-ERR min or max is not a float");
        }
    }

    #[test]
    fn zrange_by_lex() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "0", "alpha", "0", "bar", "0", "cool", "0", "down", "0", "elephant", "0", "foo"]);
        assert_eq!(run(&mut t, &["ZRANGEBYLEX", "z", "-", "[cool"]), "[$alpha, $bar, $cool]");
        assert_eq!(run(&mut t, &["ZRANGEBYLEX", "z", "[bar", "[down"]), "[$bar, $cool, $down]");
        assert_eq!(run(&mut t, &["ZRANGEBYLEX", "z", "(bar", "(down"]), "[$cool]");
        assert_eq!(run(&mut t, &["ZRANGEBYLEX", "z", "[elephant", "+"]), "[$elephant, $foo]");
        assert_eq!(run(&mut t, &["ZRANGEBYLEX", "z", "+", "-"]), "[]");
        assert_eq!(run(&mut t, &["ZREVRANGEBYLEX", "z", "[cool", "-"]), "[$cool, $bar, $alpha]");
        assert_eq!(run(&mut t, &["ZREVRANGEBYLEX", "z", "+", "(down"]), "[$foo, $elephant]");
        assert_eq!(run(&mut t, &["ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "2"]), "[$bar, $cool]");
        assert_eq!(run(&mut t, &["ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "1", "2"]), "[$elephant, $down]");
        assert_eq!(run(&mut t, &["ZLEXCOUNT", "z", "-", "+"]), ":6");
        assert_eq!(run(&mut t, &["ZLEXCOUNT", "z", "(bar", "[down"]), ":2");
        assert_eq!(run(&mut t, &["ZLEXCOUNT", "z", "[z", "+"]), ":0");
        for bad in [["foo", "bar"], ["[foo", "bar"], ["foo", "[bar"], ["+x", "[bar"], ["-x", "[bar"]] {
            assert_eq!(
                run(&mut t, &["ZRANGEBYLEX", "z", bad[0], bad[1]]),
                "-ERR min or max not valid string range item"
            );
        }
        assert_eq!(
            run(&mut t, &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
            "-ERR syntax error, WITHSCORES not supported in combination with BYLEX"
        );
    }

    #[test]
    fn zrank_and_zrevrank() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "10", "x", "20", "y", "30", "z"]);
        assert_eq!(run(&mut t, &["ZRANK", "z", "x"]), ":0");
        assert_eq!(run(&mut t, &["ZRANK", "z", "z"]), ":2");
        assert_eq!(run(&mut t, &["ZREVRANK", "z", "x"]), ":2");
        assert_eq!(run(&mut t, &["ZRANK", "z", "y", "WITHSCORE"]), "[:1, ,20]");
        assert_eq!(run(&mut t, &["ZREVRANK", "z", "y", "withscore"]), "[:1, ,20]");
        assert_eq!(run(&mut t, &["ZRANK", "z", "foo"]), "nil");
        assert_eq!(run(&mut t, &["ZRANK", "z", "foo", "WITHSCORE"]), "nil");
        assert_eq!(run(&mut t, &["ZRANK", "z", "x", "bad"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["ZRANK", "z", "x", "WITHSCORE", "more"]),
            "-ERR wrong number of arguments for 'zrank' command"
        );
        assert_eq!(run(&mut t, &["ZRANK", "missing", "x", "WITHSCORE"]), "nil");
    }

    #[test]
    fn zrangestore_stores_and_deletes() {
        let mut t = h();
        run(&mut t, &["ZADD", "src", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(run(&mut t, &["ZRANGESTORE", "dst", "src", "0", "-1"]), ":4");
        assert_eq!(run(&mut t, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]), "[$a, ,1, $b, ,2, $c, ,3, $d, ,4]");
        assert_eq!(run(&mut t, &["ZRANGESTORE", "dst", "src", "5", "2", "BYSCORE", "REV", "LIMIT", "0", "2"]), ":2");
        assert_eq!(run(&mut t, &["ZRANGE", "dst", "0", "-1"]), "[$c, $d]");
        assert_eq!(run(&mut t, &["ZRANGESTORE", "dst", "src", "[b", "(d", "BYLEX"]), ":2");
        assert_eq!(run(&mut t, &["ZRANGESTORE", "dst", "src", "0", "-1", "WITHSCORES"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZRANGESTORE", "dst", "missing", "0", "-1"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "dst"]), ":0");
        let events = zset_events(&t);
        assert_eq!(&events[events.len() - 3..], ["zrangestore:dst", "ready:dst", "del:dst"]);
        run(&mut t, &["SET", "str", "v"]);
        assert_eq!(run(&mut t, &["ZRANGESTORE", "dst", "str", "0", "-1"]), format!("-{}", errors::WRONGTYPE));
    }

    #[test]
    fn zremrange_family() {
        let mut t = h();
        let fill = |t: &mut Harness| {
            run(t, &["DEL", "z"]);
            run(t, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]);
        };
        fill(&mut t);
        assert_eq!(run(&mut t, &["ZREMRANGEBYSCORE", "z", "2", "4"]), ":3");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$a, $e]");
        fill(&mut t);
        assert_eq!(run(&mut t, &["ZREMRANGEBYSCORE", "z", "(2", "(4"]), ":1");
        assert_eq!(run(&mut t, &["ZREMRANGEBYSCORE", "z", "4", "2"]), ":0");
        assert_eq!(run(&mut t, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), ":4");
        assert_eq!(run(&mut t, &["EXISTS", "z"]), ":0");
        assert_eq!(run(&mut t, &["ZREMRANGEBYSCORE", "z", "str", "1"]), "-ERR min or max is not a float");
        fill(&mut t);
        assert_eq!(run(&mut t, &["ZREMRANGEBYRANK", "z", "1", "3"]), ":3");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$a, $e]");
        fill(&mut t);
        assert_eq!(run(&mut t, &["ZREMRANGEBYRANK", "z", "-2", "-1"]), ":2");
        assert_eq!(run(&mut t, &["ZREMRANGEBYRANK", "z", "5", "10"]), ":0");
        assert_eq!(run(&mut t, &["ZREMRANGEBYRANK", "z", "0", "-1"]), ":3");
        assert_eq!(run(&mut t, &["EXISTS", "z"]), ":0");
        run(&mut t, &["ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d"]);
        assert_eq!(run(&mut t, &["ZREMRANGEBYLEX", "z", "(a", "[c"]), ":2");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$a, $d]");
        assert_eq!(run(&mut t, &["ZREMRANGEBYLEX", "z", "a", "[c"]), "-ERR min or max not valid string range item");
        let events = zset_events(&t);
        assert!(events.contains(&"zremrangebyscore:z".to_string()));
        assert!(events.contains(&"zremrangebyrank:z".to_string()));
        assert_eq!(events.last().unwrap(), "zremrangebylex:z");
    }

    #[test]
    fn zpop_shapes_and_errors() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(run(&mut t, &["ZPOPMIN", "z"]), "[$a, ,1]");
        assert_eq!(run(&mut t, &["ZPOPMAX", "z"]), "[$c, ,3]");
        assert_eq!(run(&mut t, &["ZPOPMIN", "z", "0"]), "[]");
        assert_eq!(run(&mut t, &["ZPOPMIN", "z", "10"]), "[$b, ,2]");
        assert_eq!(run(&mut t, &["EXISTS", "z"]), ":0");
        assert_eq!(run(&mut t, &["ZPOPMIN", "z"]), "[]");
        assert_eq!(run(&mut t, &["ZPOPMIN", "z", "-1"]), "-ERR value is out of range, must be positive");
        assert_eq!(run(&mut t, &["ZPOPMIN", "z", "1", "2"]), "-ERR syntax error");
        let events = zset_events(&t);
        assert_eq!(&events[events.len() - 2..], ["zpopmin:z", "del:z"]);
        run(&mut t, &["SET", "s", "v"]);
        assert_eq!(run(&mut t, &["ZPOPMIN", "s", "0"]), format!("-{}", errors::WRONGTYPE));
    }

    #[test]
    fn zmpop_and_blocking_forms() {
        let mut t = h();
        run(&mut t, &["ZADD", "z2", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(run(&mut t, &["ZMPOP", "2", "z1", "z2", "MIN"]), "[$z2, [[$a, ,1]]]");
        assert_eq!(run(&mut t, &["ZMPOP", "2", "z1", "z2", "MAX", "COUNT", "10"]), "[$z2, [[$c, ,3], [$b, ,2]]]");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z2", "MIN"]), "nil");
        assert_eq!(run(&mut t, &["ZMPOP", "0", "z", "MIN"]), "-ERR numkeys should be greater than 0");
        assert_eq!(run(&mut t, &["ZMPOP", "a", "z", "MIN"]), "-ERR numkeys should be greater than 0");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z", "bad"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z", "MAX", "MIN"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z", "COUNT"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z", "MAX", "COUNT", "1", "COUNT", "2"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZMPOP", "2", "z", "z2", "bad"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZMPOP", "5", "z", "MIN"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z", "MIN", "COUNT", "0"]), "-ERR count should be greater than 0");
        assert_eq!(run(&mut t, &["ZMPOP", "1", "z"]), "-ERR wrong number of arguments for 'zmpop' command");

        run(&mut t, &["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(run(&mut t, &["BZPOPMIN", "none", "z", "0"]), "[$z, $a, ,1]");
        assert_eq!(run(&mut t, &["BZPOPMAX", "z", "0.5"]), "[$z, $b, ,2]");
        assert_eq!(run(&mut t, &["BZPOPMAX", "z", "0"]), "nil");
        assert_eq!(run(&mut t, &["BZPOPMIN", "z", "-1"]), "-ERR timeout is negative");
        assert_eq!(run(&mut t, &["BZPOPMIN", "z", "abc"]), "-ERR timeout is not a float or out of range");
        assert_eq!(run(&mut t, &["BZPOPMIN", "z", "inf"]), "-ERR timeout is out of range");
        assert_eq!(run(&mut t, &["BZPOPMIN", "z", "9223372036854775"]), "-ERR timeout is out of range");
        run(&mut t, &["ZADD", "z", "1", "a"]);
        assert_eq!(run(&mut t, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "2"]), "[$z, [[$a, ,1]]]");
        assert_eq!(run(&mut t, &["BZMPOP", "0", "1", "z", "MIN"]), "nil");
        assert_eq!(run(&mut t, &["BZMPOP", "-1", "1", "z", "MIN"]), "-ERR timeout is negative");
        assert_eq!(run(&mut t, &["BZMPOP", "-1", "0", "z", "MIN"]), "-ERR numkeys should be greater than 0");
        run(&mut t, &["SET", "s", "v"]);
        assert_eq!(run(&mut t, &["BZPOPMIN", "s", "1"]), format!("-{}", errors::WRONGTYPE));
        assert_eq!(run(&mut t, &["BZMPOP", "1", "2", "none", "s", "min"]), format!("-{}", errors::WRONGTYPE));
    }

    #[test]
    fn blocking_commands_are_flagged() {
        for name in ["bzpopmin", "bzpopmax", "bzmpop"] {
            let spec = crate::commands::lookup(name.as_bytes()).unwrap();
            assert!(spec.flags.contains(Flags::BLOCKING | Flags::WRITE), "{name}");
        }
        let spec = crate::commands::lookup(b"bzmpop").unwrap();
        let args: Vec<Bytes> = ["bzmpop", "0", "2", "a", "b", "min"].iter().map(|a| Bytes::from(*a)).collect();
        assert_eq!(spec.key_positions(&args), vec![3, 4]);
        let spec = crate::commands::lookup(b"zunionstore").unwrap();
        let args: Vec<Bytes> = ["zunionstore", "d", "2", "a", "b", "weights", "1", "2"]
            .iter()
            .map(|a| Bytes::from(*a))
            .collect();
        assert_eq!(spec.key_positions(&args), vec![1, 3, 4]);
    }

    #[test]
    fn zrandmember_counts() {
        let mut t = h();
        assert_eq!(run(&mut t, &["ZRANDMEMBER", "z"]), "nil");
        assert_eq!(run(&mut t, &["ZRANDMEMBER", "z", "5"]), "[]");
        run(&mut t, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]);
        let one = run(&mut t, &["ZRANDMEMBER", "z"]);
        assert!(["$a", "$b", "$c", "$d", "$e"].contains(&one.as_str()), "{one}");
        assert_eq!(run(&mut t, &["ZRANDMEMBER", "z", "0"]), "[]");
        assert_eq!(run(&mut t, &["ZRANDMEMBER", "z", "10"]), "[$e, $d, $c, $b, $a]");
        for count in ["1", "2", "4"] {
            let reply = t.command(&[b"ZRANDMEMBER", b"z", count.as_bytes()]);
            let Reply::Array(items) = reply else { panic!() };
            let mut members: Vec<_> = items.iter().map(crate::testing::render).collect();
            assert_eq!(members.len(), count.parse::<usize>().unwrap());
            members.sort();
            members.dedup();
            assert_eq!(members.len(), count.parse::<usize>().unwrap());
        }
        let Reply::Array(items) = t.command(&[b"ZRANDMEMBER", b"z", b"-20"]) else { panic!() };
        assert_eq!(items.len(), 20);
        let Reply::Pairs(items) = t.command(&[b"ZRANDMEMBER", b"z", b"-3", b"WITHSCORES"]) else { panic!() };
        assert_eq!(items.len(), 3);
        assert_eq!(
            run(&mut t, &["ZRANDMEMBER", "z", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            run(&mut t, &["ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"]),
            "-ERR value is out of range"
        );
        assert_eq!(run(&mut t, &["ZRANDMEMBER", "z", "1", "bad"]), "-ERR syntax error");
        // Reads within one millisecond still draw differently.
        let draws: std::collections::HashSet<String> =
            (0..50).map(|_| run(&mut t, &["ZRANDMEMBER", "z"])).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn zunion_inter_diff() {
        let mut t = h();
        run(&mut t, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
        run(&mut t, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
        let mut set = SetValue::new();
        set.insert(b"x");
        set.insert(b"w");
        t.machine.keyspace.dbs[0].insert(Bytes::from("s"), Value::Set(Box::new(set)));
        // Plain sets take part with score 1 (times their weight).
        assert_eq!(
            run(&mut t, &["ZUNION", "2", "a", "s", "WEIGHTS", "1", "5", "WITHSCORES"]),
            "[$y, ,2, $z, ,3, $w, ,5, $x, ,6]"
        );
        assert_eq!(run(&mut t, &["ZINTER", "2", "s", "b", "WITHSCORES"]), "[$w, ,31]");
        assert_eq!(run(&mut t, &["ZDIFF", "2", "s", "a", "WITHSCORES"]), "[$w, ,1]");
        assert_eq!(
            run(&mut t, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
            "[$x, ,1, $y, ,12, $z, ,23, $w, ,30]"
        );
        assert_eq!(run(&mut t, &["ZINTER", "2", "a", "b"]), "[$y, $z]");
        assert_eq!(
            run(&mut t, &["ZINTER", "2", "a", "b", "WEIGHTS", "2", "3", "WITHSCORES"]),
            "[$y, ,34, $z, ,66]"
        );
        assert_eq!(
            run(&mut t, &["ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"]),
            "[$x, ,1, $y, ,2, $z, ,3, $w, ,30]"
        );
        assert_eq!(
            run(&mut t, &["ZINTER", "2", "a", "b", "AGGREGATE", "max", "WITHSCORES"]),
            "[$y, ,10, $z, ,20]"
        );
        assert_eq!(run(&mut t, &["ZDIFF", "2", "a", "b", "WITHSCORES"]), "[$x, ,1]");
        assert_eq!(run(&mut t, &["ZDIFF", "1", "a"]), "[$x, $y, $z]");
        assert_eq!(run(&mut t, &["ZINTERCARD", "2", "a", "b"]), ":2");
        assert_eq!(run(&mut t, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]), ":1");
        assert_eq!(run(&mut t, &["ZINTERCARD", "2", "a", "b", "LIMIT", "-1"]), "-ERR LIMIT can't be negative");
        assert_eq!(run(&mut t, &["ZINTERCARD", "2", "a", "b", "LIMIT", "a"]), "-ERR LIMIT can't be negative");
        assert_eq!(run(&mut t, &["ZINTERCARD", "1", "a", "a"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZINTERCARD", "1", "a", "WITHSCORES"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZUNION", "0", "a"]), "-ERR at least 1 input key is needed for 'zunion' command");
        assert_eq!(
            run(&mut t, &["ZUNIONSTORE", "d", "0", "a"]),
            "-ERR at least 1 input key is needed for 'zunionstore' command"
        );
        assert_eq!(run(&mut t, &["ZUNION", "3", "a", "b"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZUNION", "x", "a"]), "-ERR value is not an integer or out of range");
        assert_eq!(run(&mut t, &["ZUNION", "2", "a", "b", "WEIGHTS", "1", "nan"]), "-ERR weight value is not a float");
        assert_eq!(run(&mut t, &["ZUNION", "2", "a", "b", "WEIGHTS", "1"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZDIFF", "2", "a", "b", "WEIGHTS", "1", "2"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZUNION", "2", "a", "b", "AGGREGATE", "avg"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"]), "-ERR syntax error");

        assert_eq!(run(&mut t, &["ZUNIONSTORE", "d", "2", "a", "b"]), ":4");
        assert_eq!(run(&mut t, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]), "[$x, ,1, $y, ,12, $z, ,23, $w, ,30]");
        assert_eq!(run(&mut t, &["ZINTERSTORE", "d", "2", "a", "b"]), ":2");
        assert_eq!(run(&mut t, &["ZDIFFSTORE", "d", "2", "a", "a"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "d"]), ":0");
        assert_eq!(run(&mut t, &["ZUNIONSTORE", "d", "1", "missing"]), ":0");
        run(&mut t, &["SET", "str", "v"]);
        assert_eq!(run(&mut t, &["ZUNION", "2", "a", "str"]), format!("-{}", errors::WRONGTYPE));
        // Type errors come before option errors, as in Redis.
        assert_eq!(run(&mut t, &["ZUNION", "1", "str", "bogus"]), format!("-{}", errors::WRONGTYPE));
    }

    #[test]
    fn zunion_infinities_and_nan_weights() {
        let mut t = h();
        run(&mut t, &["ZADD", "a", "inf", "x", "-inf", "y"]);
        run(&mut t, &["ZADD", "b", "-inf", "x", "inf", "y"]);
        assert_eq!(run(&mut t, &["ZUNION", "2", "a", "b", "WITHSCORES"]), "[$x, ,0, $y, ,0]");
        assert_eq!(run(&mut t, &["ZINTER", "2", "a", "b", "WITHSCORES"]), "[$x, ,0, $y, ,0]");
        assert_eq!(
            run(&mut t, &["ZUNION", "2", "a", "b", "WEIGHTS", "0", "0", "WITHSCORES"]),
            "[$x, ,0, $y, ,0]"
        );
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(1.1), "1.1000000000000001");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(-2.5), "-2.5");
        assert_eq!(format_g17(0.0), "0");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(1.5e-5), "1.5e-05");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(123456.789), "123456.789");
        assert_eq!(format_g17(1e-7), "9.9999999999999995e-08");
        assert_eq!(format_g17(0.3), "0.29999999999999999");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_g17(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn zscan_returns_members_and_scores() {
        let mut t = h();
        assert_eq!(run(&mut t, &["ZSCAN", "z", "0"]), "[$0, []]");
        run(&mut t, &["ZADD", "z", "1", "a", "2.5", "b", "3", "c"]);
        assert_eq!(run(&mut t, &["ZSCAN", "z", "0"]), "[$0, [$a, $1, $b, $2.5, $c, $3]]");
        assert_eq!(run(&mut t, &["ZSCAN", "z", "0", "MATCH", "b*"]), "[$0, [$b, $2.5]]");
        assert_eq!(run(&mut t, &["ZSCAN", "z", "0", "COUNT", "0"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["ZSCAN", "z", "x"]), "-ERR invalid cursor");
        // A large set pages through every member.
        let mut args = vec!["ZADD".to_string(), "big".to_string()];
        for i in 0..300 {
            args.push(i.to_string());
            args.push(format!("m{i}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&mut t, &args);
        let mut cursor = "0".to_string();
        let mut seen = 0;
        loop {
            let Reply::Array(reply) = t.command(&[b"ZSCAN", b"big", cursor.as_bytes(), b"COUNT", b"50"]) else {
                panic!()
            };
            let Reply::Bulk(next) = &reply[0] else { panic!() };
            let Reply::Array(items) = &reply[1] else { panic!() };
            seen += items.len() / 2;
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen, 300);
    }

    #[test]
    fn encoding_follows_the_node_limits() {
        let mut t = h();
        t.machine.keyspace.settings.encoding.zset_max_listpack_entries = 1;
        run(&mut t, &["ZADD", "z", "1", "a"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "z"]), "$listpack");
        run(&mut t, &["ZADD", "z", "2", "b"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "z"]), "$skiplist");
        run(&mut t, &["ZREM", "z", "b"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "z"]), "$skiplist");
        // Store results pick their encoding from their content.
        run(&mut t, &["ZUNIONSTORE", "u", "1", "z"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "u"]), "$listpack");
        // ZRANGESTORE by rank is sized by the range; by score it starts general.
        assert_eq!(run(&mut t, &["ZRANGESTORE", "r", "z", "0", "0"]), ":1");
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "r"]), "$listpack");
        assert_eq!(run(&mut t, &["ZRANGESTORE", "r", "z", "-inf", "inf", "BYSCORE"]), ":1");
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "r"]), "$skiplist");
        // A ZADD with more pairs than the limit creates the general encoding at once.
        run(&mut t, &["ZADD", "big", "1", "a", "1", "a"]);
        assert_eq!(run(&mut t, &["OBJECT", "ENCODING", "big"]), "$skiplist");
    }

    #[test]
    fn expired_keys_are_absent() {
        let mut t = h();
        run(&mut t, &["ZADD", "z", "1", "a"]);
        let now_ms = t.now_ms;
        t.machine.keyspace.dbs[0].set_expire_at(b"z", Some(now_ms + 10), now_ms);
        t.now_ms += 10;
        assert_eq!(run(&mut t, &["ZCARD", "z"]), ":0");
        assert_eq!(run(&mut t, &["ZADD", "z", "XX", "1", "a"]), ":0");
        assert_eq!(run(&mut t, &["ZADD", "z", "2", "b"]), ":1");
        assert_eq!(run(&mut t, &["ZRANGE", "z", "0", "-1"]), "[$b]");
    }
}
