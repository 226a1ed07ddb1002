//! SLOWLOG GET / LEN / RESET / HELP, and the per-command accounting that feeds it and INFO
//! `commandstats` / `errorstats`.
//!
//! The session times every command it runs (with `crate::clock::instant`), then calls
//! [`record`]: the command's counters (calls, microseconds, failed calls) go up, an error reply
//! counts in the error statistics by its code (`ERR`, `WRONGTYPE` …), and a command at least
//! `slowlog-log-slower-than` microseconds long enters the slow log. Rejected commands (unknown,
//! wrong arity, NOAUTH …) only count as `rejected_calls` and as errors, as in Redis.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::parse_i64;
use flotilla_storage::{CommandSpec, Flags, Handler};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::ServerFn;
use crate::session::Session;

/// Arguments kept per slow log entry; the last one says how many more there were.
const ENTRY_ARGS_MAX: usize = 32;
/// Bytes kept per argument in a slow log entry.
const ENTRY_ARG_BYTES_MAX: usize = 128;
/// Distinct error codes tracked in `errorstats` (Redis stops adding new ones past this).
const ERROR_CODES_MAX: usize = 128;

pub struct SlowEntry {
    pub id: u64,
    pub unix_s: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    next_id: u64,
    /// Newest first.
    entries: VecDeque<SlowEntry>,
}

impl SlowLog {
    pub fn push(&mut self, mut entry: SlowEntry, max_len: usize) {
        entry.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }
}

/// Counters of one command (or subcommand), as INFO commandstats prints them.
#[derive(Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

/// Per-command counters, allocated once for every entry of the command table so that the
/// hot path only does atomic adds. Found by name with the keyspace table's fixed foldhash:
/// std's SipHash of the name on every command was ~1.5% of a single node's CPU at SET -P 16.
pub struct CommandStats {
    by_name: HashMap<&'static str, Counters, flotilla_storage::value::FixedHasher>,
    errors: Mutex<BTreeMap<String, u64>>,
    pub total_error_replies: AtomicU64,
}

impl CommandStats {
    fn new() -> CommandStats {
        let mut by_name = HashMap::with_hasher(flotilla_storage::value::FixedHasher::default());
        for spec in super::all() {
            by_name.insert(spec.name, Counters::default());
            for sub in spec.subcommands {
                by_name.insert(sub.name, Counters::default());
            }
        }
        CommandStats {
            by_name,
            errors: Mutex::new(BTreeMap::new()),
            total_error_replies: AtomicU64::new(0),
        }
    }

    pub fn counters(&self, spec: &CommandSpec) -> Option<&Counters> {
        self.by_name.get(spec.name)
    }

    /// Counts one error reply under its code (the text up to the first space).
    pub fn count_error(&self, text: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let code = text.split(' ').next().unwrap_or("ERR");
        let mut errors = self.errors.lock();
        if let Some(count) = errors.get_mut(code) {
            *count += 1;
        } else if errors.len() < ERROR_CODES_MAX {
            errors.insert(code.to_string(), 1);
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for counters in self.by_name.values() {
            counters.calls.store(0, Ordering::Relaxed);
            counters.usec.store(0, Ordering::Relaxed);
            counters.rejected_calls.store(0, Ordering::Relaxed);
            counters.failed_calls.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
        self.total_error_replies.store(0, Ordering::Relaxed);
    }
}

/// The node-wide command statistics (they describe this process, like Redis's).
pub fn stats() -> &'static CommandStats {
    static STATS: OnceLock<CommandStats> = OnceLock::new();
    STATS.get_or_init(CommandStats::new)
}

/// Error replies anywhere in `reply` (EXEC's array carries its commands' errors).
fn count_errors(reply: &Reply) -> bool {
    match reply {
        Reply::Error(text) => {
            stats().count_error(text);
            true
        }
        _ => false,
    }
}

/// A command that was refused before it ran (unknown, arity, NOAUTH, not allowed here).
pub fn record_rejected(spec: Option<&CommandSpec>, reply: &Reply) {
    if let Some(counters) = spec.and_then(|spec| stats().counters(spec)) {
        counters.rejected_calls.fetch_add(1, Ordering::Relaxed);
    }
    count_errors(reply);
}

/// A command that ran: counters, error statistics and the slow log.
/// Counts the commands the scripts of an applied entry ran in INFO commandstats, as Redis
/// counts a script's calls (their time is the script's), and the calls that failed or were
/// refused in `failed_calls` / `rejected_calls` and errorstats.
pub fn script_calls(events: &[flotilla_storage::Event]) {
    for event in events {
        if let flotilla_storage::Event::ScriptCallError { name, rejected, error, counted } = event {
            if let Some(counters) = stats().by_name.get(name) {
                let counter = if *rejected { &counters.rejected_calls } else { &counters.failed_calls };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            if *counted {
                stats().count_error(error);
            }
            continue;
        }
        let flotilla_storage::Event::ScriptCommand { args, .. } = event else {
            continue;
        };
        let Some(spec) = super::lookup(&args[0]) else {
            continue;
        };
        let spec = flotilla_storage::machine::check(spec, args).unwrap_or(spec);
        if let Some(counters) = stats().counters(spec) {
            counters.calls.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub fn record(session: &Session, spec: &CommandSpec, args: &[Bytes], reply: &Reply, duration_us: u64) {
    if let Some(counters) = stats().counters(spec) {
        counters.calls.fetch_add(1, Ordering::Relaxed);
        counters.usec.fetch_add(duration_us, Ordering::Relaxed);
        if count_errors(reply) {
            counters.failed_calls.fetch_add(1, Ordering::Relaxed);
        }
    }
    if spec.flags.contains(Flags::SKIP_SLOWLOG) {
        return;
    }
    let slower_than_us = session.node.live.slowlog_slower_than_us.load(Ordering::Relaxed);
    if slower_than_us < 0 || (duration_us as i64) < slower_than_us {
        return;
    }
    let max_len = session.node.live.slowlog_max_len.load(Ordering::Relaxed) as usize;
    let entry = SlowEntry {
        id: 0,
        unix_s: session.node.clock.now_ms() / 1000,
        duration_us,
        args: entry_args(spec, args),
        peer: session.client.addr.to_string(),
        name: session.client.name.lock().clone().unwrap_or_default(),
    };
    session.node.slowlog.lock().push(entry, max_len);
}

/// The arguments as the slow log keeps them: secrets redacted, at most 32, each at most 128
/// bytes.
fn entry_args(spec: &CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    let args = super::monitor::redacted(spec, args);
    let kept = args.len().min(ENTRY_ARGS_MAX);
    let mut out = Vec::with_capacity(kept);
    for (position, arg) in args.iter().take(kept).enumerate() {
        if kept != args.len() && position == kept - 1 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - kept + 1
            )));
        } else if arg.len() > ENTRY_ARG_BYTES_MAX {
            let mut trimmed = arg[..ENTRY_ARG_BYTES_MAX].to_vec();
            trimmed.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - ENTRY_ARG_BYTES_MAX).as_bytes(),
            );
            out.push(Bytes::from(trimmed));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// INFO `commandstats`, in command-name order.
pub fn info_commandstats(out: &mut String) {
    out.push_str("# Commandstats\r\n");
    let mut names: Vec<(&&'static str, &Counters)> = stats()
        .by_name
        .iter()
        .filter(|(_, c)| {
            c.calls.load(Ordering::Relaxed)
                + c.rejected_calls.load(Ordering::Relaxed)
                + c.failed_calls.load(Ordering::Relaxed)
                > 0
        })
        .collect();
    names.sort_by_key(|(name, _)| **name);
    for (name, counters) in names {
        let calls = counters.calls.load(Ordering::Relaxed);
        let usec = counters.usec.load(Ordering::Relaxed);
        let per_call = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            counters.rejected_calls.load(Ordering::Relaxed),
            counters.failed_calls.load(Ordering::Relaxed),
        );
    }
}

/// INFO `errorstats`.
pub fn info_errorstats(out: &mut String) {
    out.push_str("# Errorstats\r\n");
    for (code, count) in stats().errors.lock().iter() {
        let _ = write!(out, "errorstat_{code}:count={count}\r\n");
    }
}

pub fn total_error_replies() -> u64 {
    stats().total_error_replies.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------- SLOWLOG

fn slowlog_get(session: &mut Session, args: &[Bytes]) -> Reply {
    let log = session.node.slowlog.lock();
    let mut count = 10usize;
    if let Some(arg) = args.get(2) {
        match parse_i64(arg) {
            Some(-1) => count = log.entries.len(),
            Some(n) if n >= 0 => count = n as usize,
            _ => return Reply::error("ERR count should be greater than or equal to -1"),
        }
    }
    let entries = log
        .entries
        .iter()
        .take(count)
        .map(|entry| {
            Reply::Array(vec![
                Reply::Int(entry.id as i64),
                Reply::Int(entry.unix_s as i64),
                Reply::Int(entry.duration_us as i64),
                Reply::Array(entry.args.iter().cloned().map(Reply::Bulk).collect()),
                Reply::Bulk(Bytes::from(entry.peer.clone())),
                Reply::Bulk(entry.name.clone()),
            ])
        })
        .collect();
    Reply::Array(entries)
}

fn slowlog_len(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(session.node.slowlog.lock().entries.len() as i64)
}

fn slowlog_reset(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.node.slowlog.lock().entries.clear();
    Reply::ok()
}

fn slowlog_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::Simple((*line).into())).collect())
}

const SLOWLOG: Flags = Flags::ADMIN.union(Flags::LOADING).union(Flags::STALE);

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: SLOWLOG,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.2.12",
        summary: "Returns the slow log's entries.",
        syntax: "[count]",
        ..CommandSpec::base("slowlog|get", -2, Handler::Server)
    },
    CommandSpec {
        flags: SLOWLOG,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.2.12",
        summary: "Returns the number of entries in the slow log.",
        ..CommandSpec::base("slowlog|len", 2, Handler::Server)
    },
    CommandSpec {
        flags: SLOWLOG,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.2.12",
        summary: "Clears all entries from the slow log.",
        ..CommandSpec::base("slowlog|reset", 2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow"],
        group: "server",
        since: "6.2.0",
        summary: "Show helpful text about the different subcommands",
        ..CommandSpec::base("slowlog|help", 2, Handler::Server)
    },
];

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    acl: &["slow"],
    group: "server",
    since: "2.2.12",
    summary: "A container for slow log commands.",
    subcommands: SUBCOMMANDS,
    ..CommandSpec::base("slowlog", -2, Handler::Container)
}];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("slowlog|get", slowlog_get),
    ("slowlog|len", slowlog_len),
    ("slowlog|reset", slowlog_reset),
    ("slowlog|help", slowlog_help),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> &'static CommandSpec {
        super::super::lookup(b"sadd").expect("sadd")
    }

    #[test]
    fn long_commands_are_trimmed_as_redis_does() {
        let mut args: Vec<Bytes> = vec![Bytes::from("sadd"), Bytes::from("set")];
        args.extend((3..=33).map(|i| Bytes::from(i.to_string())));
        let kept = entry_args(spec(), &args);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[31], Bytes::from("... (2 more arguments)"));
        assert_eq!(kept[30], Bytes::from("31"));

        let long = Bytes::from(vec![b'A'; 129]);
        let kept = entry_args(spec(), &[Bytes::from("sadd"), Bytes::from("s"), long]);
        let mut expected = vec![b'A'; 128];
        expected.extend_from_slice(b"... (1 more bytes)");
        assert_eq!(kept[2], Bytes::from(expected));
    }

    #[test]
    fn the_log_keeps_the_newest_entries() {
        let mut log = SlowLog::default();
        for i in 0..5 {
            log.push(
                SlowEntry {
                    id: 0,
                    unix_s: i,
                    duration_us: 1,
                    args: Vec::new(),
                    peer: String::new(),
                    name: Bytes::new(),
                },
                3,
            );
        }
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
    }

    #[test]
    fn error_codes_are_counted_by_prefix() {
        let stats = CommandStats::new();
        stats.count_error("ERR unknown command");
        stats.count_error("WRONGTYPE Operation against a key");
        stats.count_error("ERR syntax error");
        let errors = stats.errors.lock();
        assert_eq!(errors.get("ERR"), Some(&2));
        assert_eq!(errors.get("WRONGTYPE"), Some(&1));
        assert_eq!(stats.total_error_replies.load(Ordering::Relaxed), 3);
    }
}
