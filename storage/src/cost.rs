//! Which commands may run long, and how the node runs those.
//!
//! A node serves everything on one runtime worker thread, Raft heartbeats included. A command
//! that works through a big value (HGETALL of millions of fields, SUNIONSTORE of big sets),
//! a big keyspace (KEYS, FLUSHALL) or a script may hold that thread for long enough to cost
//! the node its leadership. Such a command goes through the node's long runner
//! (`set_long_runner`), which first hands the worker's other tasks to another thread. That
//! hand-off costs ~15 µs, about what an LRANGE of 100 elements costs, so the estimate must not
//! send the common commands through it: it is made only for the commands listed in
//! `work_kind`, and from what the command will actually touch (LRANGE's range, not its list).

use bytes::Bytes;

use crate::db::Keyspace;
use crate::table::{CommandSpec, Flags};

/// Work (elements of the values a command goes through, keys of a keyspace it scans, its own
/// arguments) past which a command may run long enough to matter: ~50k elements are a few
/// milliseconds to a few tens of them (an LRANGE of 1M elements took ~0.2 s).
pub const LONG_WORK: usize = 50_000;

/// How the node runs a command that may run long (`set_long_runner`).
pub type LongRunner = fn(&mut dyn FnMut());

static LONG_RUNNER: std::sync::OnceLock<LongRunner> = std::sync::OnceLock::new();

/// Sets, once per process, how commands that may run long (`may_run_long`) are run: the
/// server hands its runtime worker's other tasks (Raft heartbeats among them) to another
/// thread first. Without one they simply run. The state machine stays free of I/O: this only
/// decides on which thread the same computation happens.
pub fn set_long_runner(runner: LongRunner) {
    let _ = LONG_RUNNER.set(runner);
}

/// Runs `work` through the long runner, if one is set.
pub(crate) fn run_long<R>(work: impl FnOnce() -> R) -> R {
    let Some(runner) = LONG_RUNNER.get() else {
        return work();
    };
    let mut work = Some(work);
    let mut result = None;
    runner(&mut || result = Some((work.take().expect("run once"))()));
    result.expect("the long runner runs the work")
}

/// What a command's work grows with, beyond its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkKind {
    /// Every element of the values of the keys it names (reads them whole, copies them,
    /// combines them, or frees them).
    Values,
    /// The index range `args[at]`..=`args[at + 1]` of the value of the key `args[at - 1]`
    /// (LRANGE, ZRANGE by rank), or, for a sorted set's score or lex range (`BYSCORE`,
    /// `BYLEX`), as `RangeLimit`.
    Range { at: usize },
    /// `LIMIT offset count` (or `COUNT count`) if given, else the whole values.
    RangeLimit,
    /// The database's keys (KEYS, FLUSHDB).
    Database,
    /// Every database's keys (FLUSHALL).
    AllDatabases,
    /// A script: unbounded.
    Script,
}

/// The commands whose work may grow past their arguments. Any other command is bounded by its
/// arguments or is `O(log n)` in its data (Redis's `fast` ones), or by a COUNT it is given
/// (SCAN, SRANDMEMBER …), or is cheap for Flotilla's structures where Redis's are not (LINDEX
/// and LSET on a deque).
fn work_kind(spec: &CommandSpec) -> Option<WorkKind> {
    if spec.group == "scripting" && !spec.name.contains('|') {
        return Some(WorkKind::Script);
    }
    Some(match spec.name {
        "del" | "unlink" | "copy" | "dump" | "sort" | "sort_ro" | "hgetall" | "hkeys" | "hvals" | "smembers"
        | "sinter" | "sinterstore" | "sintercard" | "sunion" | "sunionstore" | "sdiff" | "sdiffstore" | "lrem"
        | "linsert" | "lpos" | "ltrim" | "zunion" | "zinter" | "zdiff" | "zunionstore" | "zinterstore"
        | "zdiffstore" | "zintercard" | "zremrangebyrank" | "zremrangebyscore" | "zremrangebylex" | "getrange"
        | "setrange" | "bitcount" | "bitpos" | "bitop" | "lcs" | "georadius" | "georadius_ro"
        | "georadiusbymember" | "georadiusbymember_ro" | "geosearch" | "geosearchstore" | "xinfo|stream" => {
            WorkKind::Values
        }
        "lrange" | "zrange" | "zrevrange" => WorkKind::Range { at: 2 },
        "zrangestore" => WorkKind::Range { at: 3 },
        "zrangebyscore" | "zrevrangebyscore" | "zrangebylex" | "zrevrangebylex" | "xrange" | "xrevrange" => {
            WorkKind::RangeLimit
        }
        "keys" | "flushdb" => WorkKind::Database,
        "flushall" => WorkKind::AllDatabases,
        _ => return None,
    })
}

/// Whether running `args` may take long: over `LONG_WORK` arguments, a script, or one of the
/// commands `work_kind` lists with more than `LONG_WORK` elements to go through. A fast
/// command costs one flag test, most others a name match; only the listed ones look at data.
pub(crate) fn may_run_long(spec: &CommandSpec, keyspace: &Keyspace, db: usize, args: &[Bytes], now_ms: u64) -> bool {
    if args.len() > LONG_WORK {
        return true;
    }
    if spec.flags.contains(Flags::FAST) {
        return false;
    }
    let Some(kind) = work_kind(spec) else {
        return false;
    };
    let database = &keyspace.dbs[db];
    let size = |key: &Bytes| database.get(key, now_ms).map_or(0, |value| value.work_units());
    let values = || {
        let mut work = 0usize;
        spec.for_each_key(args, |position| work = work.saturating_add(size(&args[position])));
        work
    };
    let work = match kind {
        WorkKind::Script => return true,
        WorkKind::AllDatabases => keyspace.dbs.iter().map(|database| database.len()).sum(),
        WorkKind::Database => database.len(),
        WorkKind::Values => values(),
        WorkKind::Range { at } if !has_keyword(args.get(at..).unwrap_or_default(), &[b"BYSCORE", b"BYLEX"]) => {
            match (args.get(at - 1), args.get(at), args.get(at + 1)) {
                (Some(key), Some(start), Some(stop)) => index_range_len(size(key), start, stop),
                _ => 0,
            }
        }
        WorkKind::Range { .. } | WorkKind::RangeLimit => limit(args).unwrap_or_else(values),
    };
    work > LONG_WORK
}

fn has_keyword(args: &[Bytes], keywords: &[&[u8]]) -> bool {
    args.iter().any(|arg| keywords.iter().any(|keyword| arg.eq_ignore_ascii_case(keyword)))
}

/// The elements `start..=stop` (Redis's index rules: negative counts from the end) covers in
/// a value of `len` elements; an argument that is no integer leaves it to the command's error.
fn index_range_len(len: usize, start: &[u8], stop: &[u8]) -> usize {
    let parse = |arg: &[u8]| std::str::from_utf8(arg).ok()?.parse::<i64>().ok();
    let (Some(start), Some(stop)) = (parse(start), parse(stop)) else {
        return 0;
    };
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    (stop - start + 1).max(0) as usize
}

/// `offset + count` of a `LIMIT offset count`, or the count of a `COUNT count`, if the
/// arguments give one that bounds the reply (a negative count does not).
fn limit(args: &[Bytes]) -> Option<usize> {
    let number = |arg: Option<&Bytes>| std::str::from_utf8(arg?).ok()?.parse::<i64>().ok();
    let position = args.iter().position(|arg| arg.eq_ignore_ascii_case(b"LIMIT") || arg.eq_ignore_ascii_case(b"COUNT"))?;
    let (offset, count) = if args[position].eq_ignore_ascii_case(b"LIMIT") {
        (number(args.get(position + 1))?, number(args.get(position + 2))?)
    } else {
        (0, number(args.get(position + 1))?)
    };
    (offset >= 0 && count >= 0).then(|| offset.saturating_add(count) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges_follow_redis_index_rules() {
        assert_eq!(index_range_len(1000, b"0", b"99"), 100);
        assert_eq!(index_range_len(1000, b"0", b"-1"), 1000);
        assert_eq!(index_range_len(1000, b"-10", b"-1"), 10);
        assert_eq!(index_range_len(1000, b"-5000", b"5000"), 1000);
        assert_eq!(index_range_len(1000, b"990", b"5000"), 10);
        assert_eq!(index_range_len(1000, b"5", b"2"), 0);
        assert_eq!(index_range_len(0, b"0", b"-1"), 0);
        assert_eq!(index_range_len(1000, b"x", b"-1"), 0);
    }

    #[test]
    fn limits_bound_only_when_given_and_not_negative() {
        let args = |parts: &[&str]| -> Vec<Bytes> { parts.iter().map(|part| Bytes::from(part.to_string())).collect() };
        assert_eq!(limit(&args(&["zrangebyscore", "z", "0", "1", "LIMIT", "10", "20"])), Some(30));
        assert_eq!(limit(&args(&["zrangebyscore", "z", "0", "1", "limit", "0", "-1"])), None);
        assert_eq!(limit(&args(&["xrange", "s", "-", "+", "COUNT", "5"])), Some(5));
        assert_eq!(limit(&args(&["xrange", "s", "-", "+"])), None);
    }
}
