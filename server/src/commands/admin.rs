//! Server administration: INFO, CONFIG, COMMAND, CLIENT, CLUSTER (standalone: disabled),
//! SHUTDOWN, TIME, LASTSAVE.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::{is, parse_i64};
use flotilla_storage::db::ReplicatedSettings;
use flotilla_storage::{CommandSpec, Flags, Handler, KeyFlags, KeySearch, Op};
use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::connection::REDIS_VERSION;
use super::ServerFn;
use crate::errors;
use crate::session::{ReplyMode, Session};

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

// ---------------------------------------------------------------- INFO

/// Sections INFO prints by default, in Redis's order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    "flotilla_raft",
];

/// Every section, in the order Redis prints them (`INFO all`).
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "flotilla_raft",
];

fn info(session: &mut Session, args: &[Bytes]) -> Reply {
    let requested: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = requested.iter().any(|s| s == "all" || s == "everything");
    let default = requested.is_empty() || requested.iter().any(|s| s == "default");
    let sections: Vec<&str> = ALL_SECTIONS
        .iter()
        .copied()
        .filter(|section| {
            all || (default && DEFAULT_SECTIONS.contains(section)) || requested.iter().any(|r| r == section)
        })
        .collect();
    let mut text = String::new();
    for section in sections {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        info_section(session, section, &mut text);
    }
    Reply::Verbatim("txt", Bytes::from(text))
}

fn info_section(session: &Session, section: &str, out: &mut String) {
    let node = &session.node;
    let stats = &node.stats;
    match section {
        "server" => {
            let _ = write!(
                out,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
                 redis_build_id:0\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\n\
                 multiplexing_api:epoll\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\n\
                 server_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\n\
                 executable:flotilla\r\nconfig_file:\r\nflotilla_version:{}\r\n",
                if node.cluster_enabled() { "cluster" } else { "standalone" },
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                node.run_id,
                node.args.port,
                node.clock.now_us(),
                node.uptime_s(),
                node.uptime_s() / 86400,
                env!("CARGO_PKG_VERSION"),
            );
        }
        "clients" => {
            let clients = node.clients.list();
            let pubsub = clients
                .iter()
                .filter(|c| {
                    c.subscriptions.load(Ordering::Relaxed) + c.psubscriptions.load(Ordering::Relaxed) > 0
                })
                .count();
            let _ = write!(
                out,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\n\
                 tracking_clients:{}\r\npubsub_clients:{}\r\nclients_in_timeout_table:0\r\n",
                clients.len(),
                node.settings.read().maxclients,
                node.blocking.blocked_clients() + node.pause.held_clients(),
                node.tracking.tracking_clients(),
                pubsub,
            );
        }
        "memory" => {
            // used_memory is what the allocator hands out (as Redis counts it); the RSS adds
            // allocator slack, code, stacks and pages not yet returned to the OS.
            let rss = resident_bytes();
            let allocator = crate::allocator::stats();
            let used = allocator.allocated_bytes;
            let peak = crate::allocator::peak_allocated_bytes();
            let fragmentation = if used > 0 { rss as f64 / used as f64 } else { 0.0 };
            // The script cache and the function libraries are replicated state: this node's
            // copy of the shard's.
            let (scripts, functions, libraries) = node.with_machine(|m| {
                let keyspace = &m.keyspace;
                (keyspace.scripts.len(), keyspace.libraries.function_count(), keyspace.libraries.len())
            });
            let _ = write!(
                out,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
                 used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
                 allocator_resident:{}\r\nnumber_of_cached_scripts:{scripts}\r\n\
                 number_of_functions:{functions}\r\nnumber_of_libraries:{libraries}\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n\
                 maxmemory_policy:noeviction\r\nmem_fragmentation_ratio:{fragmentation:.2}\r\nmem_allocator:{}\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                allocator.resident_bytes,
                crate::allocator::NAME,
            );
        }
        "persistence" => info_persistence(node, out),
        "stats" => {
            let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
            let (tracking_keys, tracking_items, tracking_prefixes) = node.tracking.totals();
            let _ = write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 instantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n\
                 rejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\n\
                 keyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_error_replies:{}\r\n\
                 tracking_total_keys:{tracking_keys}\r\ntracking_total_items:{tracking_items}\r\n\
                 tracking_total_prefixes:{tracking_prefixes}\r\n",
                load(&stats.connections_received),
                load(&stats.commands_processed),
                load(&stats.net_input_bytes),
                load(&stats.net_output_bytes),
                load(&stats.rejected_connections),
                load(&stats.expired_keys),
                load(&stats.keyspace_hits),
                load(&stats.keyspace_misses),
                node.pubsub.channel_count(),
                node.pubsub.numpat(),
                super::slowlog::total_error_replies(),
            );
        }
        "replication" => super::replication::info_replication(node, out),
        "cpu" => {
            let (user, system) = cpu_seconds();
            let _ = write!(
                out,
                "# CPU\r\nused_cpu_sys:{system:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\n\
                 used_cpu_user_children:0.000000\r\n"
            );
        }
        "modules" => out.push_str("# Modules\r\n"),
        "errorstats" => super::slowlog::info_errorstats(out),
        "commandstats" => super::slowlog::info_commandstats(out),
        "cluster" => {
            let _ = write!(out, "# Cluster\r\ncluster_enabled:{}\r\n", u8::from(node.cluster_enabled()));
        }
        "flotilla_raft" => node.raft_info(out),
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            let counts: Vec<(usize, usize, usize)> = node.with_machine(|m| {
                m.keyspace
                    .dbs
                    .iter()
                    .enumerate()
                    .map(|(i, db)| (i, db.len(), db.expires_len()))
                    .collect()
            });
            for (db, keys, expires) in counts {
                if keys > 0 {
                    let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => {}
    }
}

/// `# Persistence`: the Raft log is the append-only file (always on; `--fsync` is its
/// appendfsync) and a snapshot is the RDB save; changes are log entries since the snapshot.
fn info_persistence(node: &crate::node::Node, out: &mut String) {
    use openraft::async_runtime::WatchReceiver;
    let (applied, snapshot) = {
        let metrics = node.group.raft.metrics();
        let metrics = metrics.borrow_watched();
        let index =
            |id: Option<&openraft::alias::LogIdOf<crate::raft::TypeConfig>>| id.map_or(0, |id| id.index());
        (
            index(metrics.last_applied.as_ref()),
            index(metrics.snapshot.as_ref()),
        )
    };
    let _ = write!(
        out,
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\n\
         rdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\n\
         rdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\nrdb_saves:{}\r\n\
         aof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n\
         aof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\n\
         aof_rewrites:0\r\naof_last_write_status:ok\r\naof_fsync:{}\r\n",
        applied.saturating_sub(snapshot),
        last_save_unix_s(node),
        node.group.store.saves.count.load(Ordering::Relaxed),
        node.args.fsync.as_str(),
    );
}

/// When the last snapshot was written (the start of this process if none was since).
fn last_save_unix_s(node: &crate::node::Node) -> u64 {
    match node.group.store.saves.last_unix_s.load(Ordering::Relaxed) {
        0 => node.started_unix_s,
        saved => saved,
    }
}

/// Resident set size of this process, from /proc (0 where unavailable).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

fn human_bytes(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.2}{}", units[unit])
    }
}

// ---------------------------------------------------------------- CONFIG

fn config_get(session: &mut Session, args: &[Bytes]) -> Reply {
    let settings = session.node.settings.read();
    let mut pairs = Vec::new();
    for pattern in &args[2..] {
        let local = session.node.with_machine(|m| {
            let mut parameters = m.keyspace.settings.parameters();
            parameters.extend(m.keyspace.replicated_settings.parameters());
            parameters
        });
        for (name, value) in local
            .into_iter()
            .filter(|(name, _)| flotilla_storage::glob::matches(pattern, name.as_bytes(), true))
            .chain(settings.get(pattern))
        {
            if !pairs.iter().any(|(n, _): &(&str, String)| *n == name) {
                pairs.push((name, value));
            }
        }
    }
    Reply::Map(
        pairs
            .into_iter()
            .map(|(name, value)| (bulk(name), bulk(value)))
            .collect(),
    )
}

/// CONFIG SET (async: see `commands::ASYNC_SERVER_COMMANDS`). Parameters that shape
/// replicated state (`ReplicatedSettings`: the stream node size) are checked here, then
/// proposed together as one `Op::ConfigSet`, so every replica, and every replay of the log,
/// changes them at the same point between writes; the others are this node's own and set
/// at once, first (a refusal among them proposes nothing).
pub async fn config_set(session: &mut Session, args: &[Bytes]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return flotilla_storage::errors::wrong_arity("config|set");
    }
    let mut replicated = Vec::new();
    let mut checked = ReplicatedSettings::default();
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]);
        if ReplicatedSettings::holds(&name) {
            if let Err(reason) = checked.set(&name, &String::from_utf8_lossy(&pair[1])) {
                return Reply::error_owned(flotilla_storage::errors::config_set_failed(&name, &reason));
            }
            replicated.push((pair[0].clone(), pair[1].clone()));
        }
    }
    if let Err(reply) = config_set_local(session, args) {
        return reply;
    }
    // A lower `tracking-table-max-keys` takes effect at once.
    let max_keys = session.node.live.tracking_table_max_keys.load(Ordering::Relaxed) as usize;
    session.node.tracking.enforce_limit(&session.node, max_keys);
    if replicated.is_empty() {
        return Reply::ok();
    }
    let (mut replies, index) = session
        .node
        .propose_indexed(vec![Op::ConfigSet { pairs: replicated }])
        .await;
    session.wrote_at(index);
    if let Some(index) = index {
        // Applied on the leader; this node's CONFIG GET (and READONLY reads) should see it
        // once it is applied here too.
        session.node.applied_here(index, CONFIG_APPLIED_WAIT).await;
    }
    replies.pop().expect("one reply per op")
}

/// How long CONFIG SET waits for its entry to be applied on this node after the leader
/// applied it (a follower normally trails by a heartbeat).
const CONFIG_APPLIED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// CONFIG SET of the node-local parameters in `args` (replicated ones are skipped). All or
/// nothing, as Redis: a parameter named twice is refused, and a failure puts back the values
/// of the parameters set before it.
fn config_set_local(session: &mut Session, args: &[Bytes]) -> Result<(), Reply> {
    let mut seen: Vec<String> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(Reply::error_owned(flotilla_storage::errors::config_set_failed(
                &String::from_utf8_lossy(&pair[0]),
                "duplicate parameter",
            )));
        }
        seen.push(name);
    }
    let mut settings = session.node.settings.write();
    let previous: Vec<(String, String)> = args[2..]
        .chunks(2)
        .filter_map(|pair| {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            settings
                .get(name.as_bytes())
                .into_iter()
                .find(|(found, _)| *found == name)
                .map(|(found, value)| (found.to_string(), value))
        })
        .collect();
    let result = config_set_pairs(session, &mut settings, args);
    if result.is_err() {
        for (name, value) in previous.iter().rev() {
            if settings.set(name, value).is_ok() && name == "requirepass" {
                session.node.acl.set_default_password(value);
            }
        }
    }
    result
}

fn config_set_pairs(
    session: &Session,
    settings: &mut crate::settings::Settings,
    args: &[Bytes],
) -> Result<(), Reply> {
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_string();
        let value = String::from_utf8_lossy(&pair[1]).to_string();
        if ReplicatedSettings::holds(&name) {
            continue;
        }
        let local = session
            .node
            .with_machine(|m| m.keyspace.settings.set(&name, &value));
        if let Some(result) = local {
            if let Err(reason) = result {
                return Err(Reply::error_owned(flotilla_storage::errors::config_set_failed(&name, &reason)));
            }
            continue;
        }
        if let Err(reason) = settings.set(&name, &value) {
            if reason.starts_with("Unknown option") {
                return Err(Reply::error_owned(format!("ERR {reason}")));
            }
            return Err(Reply::error_owned(flotilla_storage::errors::config_set_failed(&name, &reason)));
        }
        if name.eq_ignore_ascii_case("requirepass") {
            // As Redis: the default user's only password, or `nopass` when empty.
            session.node.acl.set_default_password(&value);
        }
    }
    Ok(())
}

fn config_resetstat(session: &mut Session, _args: &[Bytes]) -> Reply {
    let stats = &session.node.stats;
    for counter in [
        &stats.commands_processed,
        &stats.connections_received,
        &stats.rejected_connections,
        &stats.expired_keys,
        &stats.keyspace_hits,
        &stats.keyspace_misses,
        &stats.net_input_bytes,
        &stats.net_output_bytes,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
    super::slowlog::stats().reset();
    Reply::ok()
}

fn config_rewrite(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::error("ERR The server is running without a config file")
}

fn config_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    help_reply(&[
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file (refused: the server runs without one).",
        "HELP",
        "    Prints this help.",
    ])
}

// ---------------------------------------------------------------- COMMAND

fn command_spec_reply(spec: &CommandSpec) -> Reply {
    let mut flags: Vec<Reply> = spec
        .flags
        .names()
        .into_iter()
        .map(|f| Reply::Simple(f.into()))
        .collect();
    if spec.movable_keys() && !flags.iter().any(|f| *f == Reply::simple("movablekeys")) {
        flags.push(Reply::simple("movablekeys"));
    }
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Int(spec.arity as i64),
        Reply::Set(flags),
        Reply::Int(spec.first_key as i64),
        Reply::Int(spec.last_key as i64),
        Reply::Int(spec.step as i64),
        Reply::Set(
            spec.acl
                .iter()
                .map(|c| Reply::Simple(format!("@{c}").into()))
                .collect(),
        ),
        Reply::Set(Vec::new()),
        Reply::Set(spec.key_specs().into_iter().map(key_spec_reply).collect()),
        Reply::Array(spec.subcommands.iter().map(command_spec_reply).collect()),
    ])
}

fn key_flags_reply(flags: KeyFlags) -> Reply {
    Reply::Set(flags.names().into_iter().map(|f| Reply::Simple(f.into())).collect())
}

/// One key spec as COMMAND INFO shows it: flags, begin_search and find_keys maps.
fn key_spec_reply((flags, search): (KeyFlags, KeySearch)) -> Reply {
    let int = |n: i32| Reply::Int(n as i64);
    let at_index = |index: i32| search_part("index", vec![("index", int(index))]);
    let range = |last_key: i32, step: i32| {
        search_part("range", vec![("lastkey", int(last_key)), ("keystep", int(step)), ("limit", int(0))])
    };
    let (begin_search, find_keys) = match search {
        KeySearch::Range { index, last_key, step } => (at_index(index), range(last_key, step)),
        KeySearch::Keynum { index } => (
            at_index(index),
            search_part("keynum", vec![("keynumidx", int(0)), ("firstkey", int(1)), ("keystep", int(1))]),
        ),
        KeySearch::Keyword { keyword, start_from } => (
            search_part("keyword", vec![("keyword", bulk(keyword)), ("startfrom", int(start_from))]),
            range(0, 1),
        ),
        KeySearch::Unknown => (search_part("unknown", Vec::new()), search_part("unknown", Vec::new())),
    };
    Reply::Map(vec![
        (bulk("flags"), key_flags_reply(flags)),
        (bulk("begin_search"), begin_search),
        (bulk("find_keys"), find_keys),
    ])
}

/// One half of a key spec: `{type: kind, spec: {name: value, ...}}`.
fn search_part(kind: &str, spec: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(vec![
        (bulk("type"), bulk(kind)),
        (bulk("spec"), Reply::Map(spec.into_iter().map(|(name, value)| (bulk(name), value)).collect())),
    ])
}

/// COMMAND alone: every command's description.
fn command(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(super::all().into_iter().map(command_spec_reply).collect())
}

fn command_count(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(super::all().len() as i64)
}

fn command_list_all(_session: &mut Session, args: &[Bytes]) -> Reply {
    command_list(&super::all(), args)
}

fn command_info(_session: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(super::all().into_iter().map(command_spec_reply).collect());
    }
    Reply::Array(
        args[2..]
            .iter()
            .map(|name| super::lookup(name).map_or(Reply::NilArray, command_spec_reply))
            .collect(),
    )
}

fn command_docs_of(_session: &mut Session, args: &[Bytes]) -> Reply {
    let specs: Vec<&CommandSpec> = if args.len() == 2 {
        super::all()
    } else {
        args[2..].iter().filter_map(|name| super::lookup(name)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|spec| (bulk(spec.name), command_docs(spec)))
            .collect(),
    )
}

fn command_getkeys(_session: &mut Session, args: &[Bytes]) -> Reply {
    getkeys(args, false)
}

fn command_getkeysandflags(_session: &mut Session, args: &[Bytes]) -> Reply {
    getkeys(args, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS command [arg …]: the keys the table finds in the given
/// command, each with its key-spec flags in the second form.
fn getkeys(args: &[Bytes], with_flags: bool) -> Reply {
    let target = &args[2..];
    let Some(spec) = super::lookup(&target[0]) else {
        return Reply::error("ERR Invalid command specified");
    };
    let spec = match flotilla_storage::machine::check(spec, target) {
        Ok(spec) => spec,
        Err(_) => return Reply::error("ERR Invalid number of arguments specified for command"),
    };
    let keys = spec.keys_and_flags(target);
    if keys.is_empty() {
        // Scripts may be given no keys (Redis's `no-mandatory-keys`).
        if super::monitor::shown_before_running(spec) {
            return Reply::Array(Vec::new());
        }
        return Reply::error("ERR The command has no key arguments");
    }
    Reply::Array(
        keys.into_iter()
            .filter_map(|(position, flags)| {
                let key = Reply::Bulk(target.get(position)?.clone());
                Some(if with_flags { Reply::Array(vec![key, key_flags_reply(flags)]) } else { key })
            })
            .collect(),
    )
}

fn command_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    help_reply(&[
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all commands.",
        "COUNT",
        "    Return the total number of commands in this server.",
        "LIST [FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]",
        "    Return a list of all commands (and subcommands) in this server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple commands (all without names).",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple commands (all without names).",
        "GETKEYS <full-command>",
        "    Return the keys from a full command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full command.",
        "HELP",
        "    Prints this help.",
    ])
}

pub(crate) fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::Simple((*line).into())).collect())
}

/// COMMAND LIST [FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]: the
/// names of all commands and, as Redis 7 lists them, of all subcommands (`config|get`).
/// No command comes from a module; categories and patterns match without regard to case.
fn command_list(specs: &[&'static CommandSpec], args: &[Bytes]) -> Reply {
    enum Filter<'a> {
        All,
        Module,
        Category(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = match args.len() {
        2 => Filter::All,
        5 if is(&args[2], "FILTERBY") => {
            if is(&args[3], "MODULE") {
                Filter::Module
            } else if is(&args[3], "ACLCAT") {
                Filter::Category(&args[4])
            } else if is(&args[3], "PATTERN") {
                Filter::Pattern(&args[4])
            } else {
                return Reply::error(errors::SYNTAX);
            }
        }
        _ => return Reply::error(errors::SYNTAX),
    };
    let listed = |spec: &CommandSpec| match filter {
        Filter::All => true,
        Filter::Module => false,
        Filter::Category(wanted) => spec.acl.iter().any(|c| c.as_bytes().eq_ignore_ascii_case(wanted)),
        Filter::Pattern(pattern) => flotilla_storage::glob::matches(pattern, spec.name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for spec in specs {
        for spec in std::iter::once(*spec).chain(spec.subcommands.iter()) {
            if listed(spec) {
                names.push(bulk(spec.name));
            }
        }
    }
    Reply::Array(names)
}

fn command_docs(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (bulk("group"), bulk(spec.group)),
    ];
    if !spec.syntax.is_empty() {
        fields.push((bulk("arguments"), crate::docs::arguments(spec.syntax)));
    }
    if !spec.subcommands.is_empty() {
        fields.push((
            bulk("subcommands"),
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (bulk(s.name), command_docs(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

// ---------------------------------------------------------------- CLIENT

fn client_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    help_reply(&[
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID <client-id>, TYPE <NORMAL|MASTER|REPLICA|PUBSUB>,",
        "    USER <username>, ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO).",
        "LIST [options ...]",
        "    Return information about client connections. Options: TYPE <NORMAL|MASTER|REPLICA|PUBSUB>,",
        "    ID <client-id> [client-id ...].",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "NO-TOUCH (ON|OFF)",
        "    Will not touch LRU/LFU stats when this mode is on.",
        "HELP",
        "    Prints this help.",
    ])
}

/// Client names may not contain spaces, newlines or special characters.
pub fn validate_client_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn client_id(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(session.client.id as i64)
}

fn client_setname(session: &mut Session, args: &[Bytes]) -> Reply {
    if let Err(reply) = validate_client_name(&args[2]) {
        return reply;
    }
    *session.client.name.lock() = (!args[2].is_empty()).then(|| args[2].clone());
    Reply::ok()
}

fn client_getname(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.client.name.lock().clone().map_or(Reply::Nil, Reply::Bulk)
}

fn client_setinfo(session: &mut Session, args: &[Bytes]) -> Reply {
    let value = &args[3];
    if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Reply::error_owned(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&args[2]).to_ascii_lowercase()
        ));
    }
    let slot = if is(&args[2], "LIB-NAME") {
        &session.client.lib_name
    } else if is(&args[2], "LIB-VER") {
        &session.client.lib_ver
    } else {
        return Reply::error_owned(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(&args[2])
        ));
    };
    *slot.lock() = (!value.is_empty()).then(|| value.clone());
    Reply::ok()
}

fn client_list(session: &mut Session, args: &[Bytes]) -> Reply {
    let clients = session.node.clients.list();
    let mut ids: Option<Vec<u64>> = None;
    let mut position = 2;
    while position < args.len() {
        if is(&args[position], "TYPE") && position + 1 < args.len() {
            position += 2;
        } else if is(&args[position], "ID") {
            let mut wanted = Vec::new();
            for id in &args[position + 1..] {
                match parse_i64(id).filter(|id| *id > 0) {
                    Some(id) => wanted.push(id as u64),
                    None => return Reply::error("ERR Invalid client ID"),
                }
            }
            ids = Some(wanted);
            position = args.len();
        } else {
            return Reply::error(errors::SYNTAX);
        }
    }
    let mut text = String::new();
    for client in clients
        .iter()
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
    {
        if client.id == session.client.id {
            text.push_str(&client.describe_running(request_bytes(args)));
        } else {
            text.push_str(&client.describe());
        }
        text.push('\n');
    }
    Reply::Verbatim("txt", Bytes::from(text))
}

fn client_info(session: &mut Session, args: &[Bytes]) -> Reply {
    let line = session.client.describe_running(request_bytes(args));
    Reply::Verbatim("txt", Bytes::from(format!("{line}\n")))
}

/// The size of `args` as a RESP multibulk request (what the query buffer held for it).
fn request_bytes(args: &[Bytes]) -> usize {
    let header = |n: usize| n.to_string().len() + 3;
    header(args.len()) + args.iter().map(|arg| header(arg.len()) + arg.len() + 2).sum::<usize>()
}

/// CLIENT KILL addr:port (old form: OK or "No such client", may kill the caller) or
/// CLIENT KILL [ID id] [TYPE normal|master|replica|slave|pubsub] [USER name] [ADDR addr]
/// [LADDR addr] [SKIPME yes|no] [MAXAGE seconds] (new form: the number killed).
fn client_kill(session: &mut Session, args: &[Bytes]) -> Reply {
    #[derive(PartialEq)]
    enum Type {
        Normal,
        Replica,
        Master,
        Pubsub,
    }
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let (mut id, mut kind, mut addr, mut laddr, mut max_age_s) = (None, None, None, None, None);
    let mut user: Option<String> = None;
    let mut skip_me = true;
    if args.len() == 3 {
        addr = Some(text(&args[2]));
        skip_me = false;
    } else {
        let mut position = 2;
        while position < args.len() {
            let Some(value) = args.get(position + 1) else {
                return Reply::error(errors::SYNTAX);
            };
            let option = &args[position];
            if is(option, "ID") {
                match parse_i64(value).filter(|id| *id > 0) {
                    Some(wanted) => id = Some(wanted as u64),
                    None => return Reply::error("ERR client-id should be greater than 0"),
                }
            } else if is(option, "TYPE") {
                kind = Some(match text(value).to_ascii_lowercase().as_str() {
                    "normal" => Type::Normal,
                    "slave" | "replica" => Type::Replica,
                    "master" => Type::Master,
                    "pubsub" => Type::Pubsub,
                    _ => return Reply::error_owned(format!("ERR Unknown client type '{}'", text(value))),
                });
            } else if is(option, "ADDR") {
                addr = Some(text(value));
            } else if is(option, "LADDR") {
                laddr = Some(text(value));
            } else if is(option, "USER") {
                if session.node.acl.user(&text(value)).is_none() {
                    return Reply::error_owned(format!("ERR No such user '{}'", text(value)));
                }
                user = Some(text(value));
            } else if is(option, "SKIPME") {
                if is(value, "yes") {
                    skip_me = true;
                } else if is(value, "no") {
                    skip_me = false;
                } else {
                    return Reply::error(errors::SYNTAX);
                }
            } else if is(option, "MAXAGE") {
                match parse_i64(value) {
                    Some(age) => max_age_s = Some(age),
                    None => return Reply::error(errors::NOT_INTEGER),
                }
            } else {
                return Reply::error(errors::SYNTAX);
            }
            position += 2;
        }
    }
    let mut killed = 0;
    for client in session.node.clients.list() {
        let client_type = if client.is_monitor.load(Ordering::Relaxed) || !client.is_subscribed() {
            Type::Normal
        } else {
            Type::Pubsub
        };
        let matched = addr.as_ref().is_none_or(|a| client.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| client.local_addr.to_string() == *a)
            && kind.as_ref().is_none_or(|k| *k == client_type)
            && id.is_none_or(|id| client.id == id)
            && user.as_ref().is_none_or(|u| *client.user() == **u)
            && max_age_s.is_none_or(|age| client.age_s() as i64 >= age)
            && !(skip_me && client.id == session.client.id);
        if matched {
            // The caller's own connection closes after this reply is written.
            client.close();
            killed += 1;
        }
    }
    if args.len() == 3 {
        if killed == 0 {
            Reply::error("ERR No such client")
        } else {
            Reply::ok()
        }
    } else {
        Reply::Int(killed)
    }
}

fn client_reply(session: &mut Session, args: &[Bytes]) -> Reply {
    if is(&args[2], "ON") {
        session.replies_on();
        Reply::ok()
    } else if is(&args[2], "OFF") {
        session.reply_mode = ReplyMode::Off;
        Reply::ok()
    } else if is(&args[2], "SKIP") {
        session.reply_mode = ReplyMode::Skip;
        // The skip applies to the next command, not to this one.
        Reply::ok()
    } else {
        Reply::error(errors::SYNTAX)
    }
}

fn client_no_evict(session: &mut Session, args: &[Bytes]) -> Reply {
    let on = if is(&args[2], "ON") {
        true
    } else if is(&args[2], "OFF") {
        false
    } else {
        return Reply::error(errors::SYNTAX);
    };
    session.client.no_evict.store(on, Ordering::Relaxed);
    Reply::ok()
}

/// CLIENT NO-TOUCH ON | OFF (Redis 7.2): with ON, the client's reads other than TOUCH do not
/// count as accesses to their keys (OBJECT IDLETIME / FREQ). Its writes still do: they are
/// applied on every replica from the log, which does not carry the client's mode.
fn client_no_touch(session: &mut Session, args: &[Bytes]) -> Reply {
    let on = if is(&args[2], "ON") {
        true
    } else if is(&args[2], "OFF") {
        false
    } else {
        return Reply::error(errors::SYNTAX);
    };
    session.client.no_touch.store(on, Ordering::Relaxed);
    Reply::ok()
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
fn client_tracking(session: &mut Session, args: &[Bytes]) -> Reply {
    let node = session.node.clone();
    let options = match crate::tracking::parse(&args[2..], |id| node.clients.get(id).is_some()) {
        Ok(options) => options,
        Err(text) => return Reply::error_owned(text),
    };
    if options.on {
        let current = session.client.tracking.lock().clone();
        if let Err(text) = crate::tracking::check_enable(&current, &options) {
            return Reply::error_owned(text);
        }
        node.tracking.enable(&session.client, &options);
    } else {
        node.tracking.disable(&session.client);
    }
    Reply::ok()
}

/// CLIENT CACHING YES|NO: whether the next command's keys are remembered (OPTIN / OPTOUT).
fn client_caching(session: &mut Session, args: &[Bytes]) -> Reply {
    let mut mode = session.client.tracking.lock();
    if !mode.on {
        return Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        );
    }
    if is(&args[2], "YES") {
        if !mode.optin {
            return Reply::error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
        }
    } else if is(&args[2], "NO") {
        if !mode.optout {
            return Reply::error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
        }
    } else {
        return Reply::error(errors::SYNTAX);
    }
    mode.caching = true;
    Reply::ok()
}

fn client_getredir(session: &mut Session, _args: &[Bytes]) -> Reply {
    let mode = session.client.tracking.lock();
    Reply::Int(if mode.on { mode.redirect as i64 } else { -1 })
}

fn client_trackinginfo(session: &mut Session, _args: &[Bytes]) -> Reply {
    let mode = session.client.tracking.lock().clone();
    let mut flags = vec![if mode.on { "on" } else { "off" }];
    if mode.bcast {
        flags.push("bcast");
    }
    if mode.optin {
        flags.push("optin");
        if mode.caching {
            flags.push("caching-yes");
        }
    }
    if mode.optout {
        flags.push("optout");
        if mode.caching {
            flags.push("caching-no");
        }
    }
    if mode.noloop {
        flags.push("noloop");
    }
    if mode.broken_redirect {
        flags.push("broken_redirect");
    }
    let bulk = |text: &'static str| Reply::Bulk(Bytes::from_static(text.as_bytes()));
    Reply::Map(vec![
        (bulk("flags"), Reply::Set(flags.into_iter().map(bulk).collect())),
        (bulk("redirect"), Reply::Int(if mode.on { mode.redirect as i64 } else { -1 })),
        (bulk("prefixes"), Reply::Array(mode.prefixes.into_iter().map(Reply::Bulk).collect())),
    ])
}

/// CLIENT PAUSE timeout [WRITE | ALL]: postpones this node's clients' commands (all of them,
/// or those that write or may replicate) for `timeout` milliseconds; see `crate::pause`.
fn client_pause(session: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.",
        );
    }
    let all = match args.get(3) {
        None => true,
        Some(mode) if is(mode, "WRITE") => false,
        Some(mode) if is(mode, "ALL") => true,
        Some(_) => return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let timeout = match crate::pause::parse_timeout_ms(&args[2]) {
        Ok(timeout) => timeout,
        Err(reason) => return Reply::error_owned(format!("ERR {reason}")),
    };
    let now = crate::clock::instant();
    let Some(until) = now.checked_add(timeout) else {
        return Reply::error("ERR timeout is out of range");
    };
    session.node.pause.pause(until, all, now);
    Reply::ok()
}

/// CLIENT UNPAUSE: lifts a CLIENT PAUSE; the postponed commands run.
fn client_unpause(session: &mut Session, _args: &[Bytes]) -> Reply {
    session.node.pause.unpause();
    Reply::ok()
}

// ---------------------------------------------------------------- misc

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]. On success Redis sends no reply: the
/// connection closes as the server exits.
fn shutdown(session: &mut Session, args: &[Bytes]) -> Reply {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for arg in &args[1..] {
        if is(arg, "NOSAVE") {
            nosave = true;
        } else if is(arg, "SAVE") {
            save = true;
        } else if is(arg, "NOW") || is(arg, "FORCE") {
            other = true;
        } else if is(arg, "ABORT") {
            abort = true;
        } else {
            return Reply::error(errors::SYNTAX);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Reply::error(errors::SYNTAX);
    }
    if abort {
        return Reply::error(errors::NO_SHUTDOWN_IN_PROGRESS);
    }
    session.node.shutting_down.store(true, Ordering::Release);
    session.node.shutdown.notify_waiters();
    session.closing = true;
    Reply::Raw(Bytes::new())
}

/// DEBUG: only the subcommands Flotilla can answer truthfully. The rest (RELOAD, OBJECT,
/// SLEEP, SET-ACTIVE-EXPIRE …) inspect or steer Redis internals Flotilla does not have.
fn debug(_session: &mut Session, args: &[Bytes]) -> Reply {
    let sub = &args[1];
    if is(sub, "LOG") && args.len() == 3 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
        return Reply::ok();
    }
    if is(sub, "ERROR") && args.len() == 3 {
        return debug_error(&args[2]);
    }
    if is(sub, "HELP") && args.len() == 2 {
        return Reply::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ERROR <string>",
                "    Returns a Redis protocol error with <string> as message. Useful for clients",
                "    unit tests to simulate Redis errors.",
                "LOG <message>",
                "    Writes the message to the server log.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|line| Reply::Simple((*line).into()))
            .collect(),
        );
    }
    Reply::error_owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// DEBUG ERROR <string>: the string itself as an error reply (no `ERR ` added), with CR and
/// LF turned into spaces, as Redis does; clients' tests use it to fake server errors.
fn debug_error(text: &[u8]) -> Reply {
    let text: String = String::from_utf8_lossy(text)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    Reply::error_owned(text)
}

/// MEMORY USAGE key [SAMPLES count]: the bytes the key and its value take, from the layout
/// of the types that hold them (`flotilla_storage::memory`); SAMPLES is accepted and the whole
/// value measured. Nil when the key does not exist.
fn memory_usage(session: &mut Session, args: &[Bytes]) -> Reply {
    match args.get(3) {
        None => {}
        Some(option) if !(is(option, "SAMPLES") && args.len() == 5) => return Reply::error(errors::SYNTAX),
        Some(_) if parse_i64(&args[4]).is_none_or(|count| count < 0) => return Reply::error(errors::NOT_INTEGER),
        Some(_) => {}
    }
    let now_ms = session.node.clock.now_ms();
    let db = session.db;
    let key = &args[2];
    let size = session.node.with_machine(|machine| {
        let database = &machine.keyspace.dbs[db];
        let value = database.get(key, now_ms)?;
        let has_ttl = matches!(database.expire_at(key, now_ms), Some(Some(_)));
        Some(flotilla_storage::memory::key_usage(key, value, has_ttl))
    });
    size.map_or(Reply::Nil, |bytes| Reply::Int(bytes as i64))
}

fn memory_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(
        [
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Estimates the bytes a key and its value take.",
            "HELP",
            "    Prints this help.",
        ]
        .iter()
        .map(|line| Reply::Simple((*line).into()))
        .collect(),
    )
}

/// MEMORY STATS: Redis's map of memory figures, from what this process measures. Allocation
/// figures are jemalloc's (as Redis's); the overheads are the key maps' and expiry tables'
/// sizes and the Raft log's tail cache, which stands where Redis's replication backlog does.
/// What Flotilla has no counterpart for (replica output buffers, cluster bus links, Lua and
/// function caches, the AOF buffer: the log is written straight to the log store) is 0.
fn memory_stats(session: &mut Session, _args: &[Bytes]) -> Reply {
    let allocator = crate::allocator::stats();
    let total = allocator.allocated_bytes;
    let peak = crate::allocator::peak_allocated_bytes().max(total);
    let startup = crate::allocator::startup_allocated_bytes();
    let rss = resident_bytes();
    let backlog = session.node.log.tail_cache_bytes() as u64;
    let dbs: Vec<(usize, usize, usize, usize)> = session.node.with_machine(|m| {
        m.keyspace
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, db)| !db.is_empty())
            .map(|(i, db)| {
                let (main, expires) = db.overhead_bytes();
                (i, db.len(), main, expires)
            })
            .collect()
    });
    let keys: u64 = dbs.iter().map(|db| db.1 as u64).sum();
    let overhead = startup + backlog + dbs.iter().map(|db| (db.2 + db.3) as u64).sum::<u64>();
    let net = total.saturating_sub(startup).max(1);
    let dataset = total.saturating_sub(overhead);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let int = |n: u64| Reply::Int(n as i64);
    let signed = |a: u64, b: u64| Reply::Int(a as i64 - b as i64);
    let mut fields = vec![
        ("peak.allocated", int(peak)),
        ("total.allocated", int(total)),
        ("startup.allocated", int(startup)),
        ("replication.backlog", int(backlog)),
        ("clients.slaves", int(0)),
        ("clients.normal", int(0)),
        ("cluster.links", int(0)),
        ("aof.buffer", int(0)),
        ("lua.caches", int(0)),
        ("functions.caches", int(0)),
    ];
    let mut map: Vec<(Reply, Reply)> = fields.drain(..).map(|(k, v)| (bulk(k), v)).collect();
    for (db, _, main, expires) in &dbs {
        map.push((
            bulk(format!("db.{db}")),
            Reply::Map(vec![
                (bulk("overhead.hashtable.main"), int(*main as u64)),
                (bulk("overhead.hashtable.expires"), int(*expires as u64)),
                (bulk("overhead.hashtable.slot-to-keys"), int(0)),
            ]),
        ));
    }
    let rest = [
        ("overhead.total", int(overhead)),
        ("keys.count", int(keys)),
        ("keys.bytes-per-key", int(net.checked_div(keys).unwrap_or(0))),
        ("dataset.bytes", int(dataset)),
        ("dataset.percentage", Reply::Double(ratio(dataset * 100, net))),
        ("peak.percentage", Reply::Double(ratio(total * 100, peak))),
        ("allocator.allocated", int(allocator.allocated_bytes)),
        ("allocator.active", int(allocator.active_bytes)),
        ("allocator.resident", int(allocator.resident_bytes)),
        ("allocator-fragmentation.ratio", Reply::Double(ratio(allocator.active_bytes, allocator.allocated_bytes))),
        ("allocator-fragmentation.bytes", signed(allocator.active_bytes, allocator.allocated_bytes)),
        ("allocator-rss.ratio", Reply::Double(ratio(allocator.resident_bytes, allocator.active_bytes))),
        ("allocator-rss.bytes", signed(allocator.resident_bytes, allocator.active_bytes)),
        ("rss-overhead.ratio", Reply::Double(ratio(rss, allocator.resident_bytes))),
        ("rss-overhead.bytes", signed(rss, allocator.resident_bytes)),
        ("fragmentation", Reply::Double(ratio(rss, total))),
        ("fragmentation.bytes", signed(rss, total)),
    ];
    map.extend(rest.into_iter().map(|(k, v)| (bulk(k), v)));
    Reply::Map(map)
}

/// MEMORY MALLOC-STATS: jemalloc's own report, as Redis built with jemalloc prints it.
fn memory_malloc_stats(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", Bytes::from(crate::allocator::stats_text()))
}

/// Below this much memory allocated since start-up MEMORY DOCTOR has nothing to judge (Redis's
/// threshold, counted above the ~32 MiB the process holds before any key).
const DOCTOR_ALLOCATED_BYTES_MIN: u64 = 5 << 20;

/// MEMORY DOCTOR: the checks Redis's report makes that apply to Flotilla (peak far above
/// the current use, allocator and RSS fragmentation), in a short text report.
fn memory_doctor(_session: &mut Session, _args: &[Bytes]) -> Reply {
    let allocator = crate::allocator::stats();
    let total = allocator.allocated_bytes;
    let peak = crate::allocator::peak_allocated_bytes().max(total);
    let rss = resident_bytes();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut findings = Vec::new();
    if total.saturating_sub(crate::allocator::startup_allocated_bytes()) < DOCTOR_ALLOCATED_BYTES_MIN {
        return Reply::Verbatim(
            "txt",
            Bytes::from_static(
                b"This instance is empty or uses very little memory: there is nothing for the memory doctor to examine yet.\n",
            ),
        );
    }
    if peak as f64 > total as f64 * 1.5 {
        findings.push(format!(
            " * Peak memory: the peak allocation ({}) is more than 1.5 times the current one ({}); the memory the \
             allocator holds for it may not go back to the system.",
            human_bytes(peak),
            human_bytes(total)
        ));
    }
    let allocator_fragmentation = ratio(allocator.active_bytes, allocator.allocated_bytes);
    if allocator_fragmentation > 1.1 && allocator.active_bytes - allocator.allocated_bytes > 10 << 20 {
        findings.push(format!(
            " * Allocator fragmentation: active pages hold {allocator_fragmentation:.2} times the allocated bytes \
             ({} more); MEMORY PURGE is not offered, restarting the node compacts it.",
            human_bytes(allocator.active_bytes - allocator.allocated_bytes)
        ));
    }
    let fragmentation = ratio(rss, total);
    if fragmentation > 1.4 && rss.saturating_sub(total) > 10 << 20 {
        findings.push(format!(
            " * High RSS overhead: the process's RSS is {fragmentation:.2} times the allocated bytes ({} more).",
            human_bytes(rss - total)
        ));
    }
    let report = if findings.is_empty() {
        "No memory problems found: allocation, fragmentation and peak look normal.\n".to_string()
    } else {
        format!("The memory doctor found:\n\n{}\n", findings.join("\n\n"))
    };
    Reply::Verbatim("txt", Bytes::from(report))
}

/// LOLWUT [VERSION version]: Redis 7.2's own output, the version line. Redis draws computer
/// art for VERSION 5 and 6 (from random numbers); Flotilla answers every version with the
/// version line, and checks VERSION's argument as Redis does.
fn lolwut(_session: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() >= 3 && is(&args[1], "VERSION") && parse_i64(&args[2]).is_none() {
        return Reply::error(errors::NOT_INTEGER);
    }
    Reply::Verbatim("txt", Bytes::from(format!("Redis ver. {REDIS_VERSION}\n")))
}

// ---------------------------------------------------------------- LATENCY
//
// Redis's latency monitor records events (slow commands, forks, fsyncs …) only above
// `latency-monitor-threshold`, which is 0 (off) by default. Flotilla has no such setting, so,
// like a Redis with the monitor off, it records no events: LATEST and HISTORY are empty and
// RESET resets nothing. (DOCTOR, GRAPH and HISTOGRAM are not offered.)

fn latency_latest(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(Vec::new())
}

fn latency_history(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(Vec::new())
}

/// LATENCY RESET [event ...]: the number of event series reset.
fn latency_reset(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(0)
}

fn latency_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(
        [
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HELP",
            "    Prints this help.",
        ]
        .iter()
        .map(|line| Reply::Simple((*line).into()))
        .collect(),
    )
}

fn time(session: &mut Session, _args: &[Bytes]) -> Reply {
    let now_us = session.node.clock.now_us();
    Reply::Array(vec![
        Reply::bulk_int((now_us / 1_000_000) as i64),
        Reply::bulk_int((now_us % 1_000_000) as i64),
    ])
}

/// BGSAVE [SCHEDULE]: takes a Raft snapshot of the shard in the background (the log behind it
/// is then truncated); INFO flotilla_raft shows it when done.
fn bgsave(session: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() > 2 || args.get(1).is_some_and(|arg| !is(arg, "SCHEDULE")) {
        return Reply::error(errors::SYNTAX);
    }
    let raft = session.node.group.raft.clone();
    tokio::spawn(async move {
        if let Err(error) = raft.trigger().snapshot().await {
            tracing::warn!(%error, "BGSAVE");
        }
    });
    Reply::Simple("Background saving started".into())
}

/// SAVE: Redis writes its RDB file before replying; here the save is a Raft snapshot of the
/// shard, as for BGSAVE, and the reply waits until it is on disk (`+OK` at once when the
/// newest snapshot already covers everything applied).
pub async fn save(session: &mut Session) -> Reply {
    const SAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
    let group = session.node.group.clone();
    match crate::raft::machine::snapshot_and_wait(&group.raft, &group.store, SAVE_TIMEOUT).await {
        Ok(_) => Reply::ok(),
        Err(error) => {
            tracing::warn!(%error, "SAVE");
            Reply::error_owned(format!("ERR {error}"))
        }
    }
}

fn lastsave(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(last_save_unix_s(&session.node) as i64)
}

const ADMIN: Flags = Flags::ADMIN
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.0.0",
        summary: "Returns the effective values of configuration parameters.",
        syntax: "parameter [parameter ...]",
        ..CommandSpec::base("config|get", -3, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.0.0",
        summary: "Sets configuration parameters in-flight.",
        syntax: "parameter value [parameter value ...]",
        ..CommandSpec::base("config|set", -4, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.0.0",
        summary: "Resets the server's statistics.",
        ..CommandSpec::base("config|resetstat", 2, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.8.0",
        summary: "Persists the effective configuration to file.",
        ..CommandSpec::base("config|rewrite", 2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow"],
        group: "server",
        since: "5.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("config|help", 2, Handler::Server)
    },
];

const CLIENT: Flags = Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE);

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "5.0.0",
        summary: "Returns the unique client ID of the connection.",
        ..CommandSpec::base("client|id", 2, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "2.6.9",
        summary: "Sets the connection name.",
        syntax: "connection-name",
        ..CommandSpec::base("client|setname", 3, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "2.6.9",
        summary: "Returns the name of the connection.",
        ..CommandSpec::base("client|getname", 2, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "7.2.0",
        summary: "Sets information specific to the client or connection.",
        syntax: "<LIB-NAME libname | LIB-VER libver>",
        ..CommandSpec::base("client|setinfo", 4, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous", "connection"],
        group: "connection",
        since: "2.4.0",
        summary: "Lists open connections.",
        syntax: "[TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]",
        ..CommandSpec::base("client|list", -2, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "6.2.0",
        summary: "Returns information about the connection.",
        ..CommandSpec::base("client|info", 2, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous", "connection"],
        group: "connection",
        since: "2.4.0",
        summary: "Terminates open connections.",
        syntax: "<ip:port | <[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>]> [[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>] ...]>",
        ..CommandSpec::base("client|kill", -3, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "3.2.0",
        summary: "Instructs the server whether to reply to commands.",
        syntax: "<ON | OFF | SKIP>",
        ..CommandSpec::base("client|reply", 3, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous", "connection"],
        group: "connection",
        since: "7.0.0",
        summary: "Sets the client eviction mode of the connection.",
        syntax: "<ON | OFF>",
        ..CommandSpec::base("client|no-evict", 3, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "7.2.0",
        summary: "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        syntax: "<ON | OFF>",
        ..CommandSpec::base("client|no-touch", 3, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous", "connection"],
        group: "connection",
        since: "5.0.0",
        summary: "Unblocks a client blocked by a blocking command from a different connection.",
        syntax: "client-id [TIMEOUT | ERROR]",
        ..CommandSpec::base("client|unblock", -3, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous", "connection"],
        group: "connection",
        since: "3.0.0",
        summary: "Suspends commands processing.",
        syntax: "timeout [WRITE | ALL]",
        ..CommandSpec::base("client|pause", -3, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous", "connection"],
        group: "connection",
        since: "6.2.0",
        summary: "Resumes processing commands from paused clients.",
        ..CommandSpec::base("client|unpause", 2, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "6.0.0",
        summary: "Controls server-assisted client-side caching for the connection.",
        syntax: "<ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]",
        ..CommandSpec::base("client|tracking", -3, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "6.0.0",
        summary: "Instructs the server whether to track the keys in the next request.",
        syntax: "<YES | NO>",
        ..CommandSpec::base("client|caching", 3, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "6.0.0",
        summary: "Returns the client ID to which the connection's tracking notifications are redirected.",
        ..CommandSpec::base("client|getredir", 2, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "6.2.0",
        summary: "Returns information about server-assisted client-side caching for the connection.",
        ..CommandSpec::base("client|trackinginfo", 2, Handler::Server)
    },
    CommandSpec {
        flags: CLIENT,
        acl: &["slow", "connection"],
        group: "connection",
        since: "5.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("client|help", 2, Handler::Server)
    },
];

const COMMAND_SUB: Flags = Flags::LOADING.union(Flags::STALE);

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "2.8.13",
        summary: "Returns a count of commands.",
        ..CommandSpec::base("command|count", 2, Handler::Server)
    },
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "7.0.0",
        summary: "Returns documentary information about one, multiple or all commands.",
        syntax: "[command-name [command-name ...]]",
        ..CommandSpec::base("command|docs", -2, Handler::Server)
    },
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "2.8.13",
        summary: "Extracts the key names from an arbitrary command.",
        syntax: "command [arg [arg ...]]",
        ..CommandSpec::base("command|getkeys", -3, Handler::Server)
    },
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "7.0.0",
        summary: "Extracts the key names and access flags for an arbitrary command.",
        syntax: "command [arg [arg ...]]",
        ..CommandSpec::base("command|getkeysandflags", -3, Handler::Server)
    },
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "5.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("command|help", 2, Handler::Server)
    },
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "2.8.13",
        summary: "Returns information about one, multiple or all commands.",
        syntax: "[command-name [command-name ...]]",
        ..CommandSpec::base("command|info", -2, Handler::Server)
    },
    CommandSpec {
        flags: COMMAND_SUB,
        acl: &["slow", "connection"],
        group: "server",
        since: "7.0.0",
        summary: "Returns a list of command names.",
        syntax: "[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]",
        ..CommandSpec::base("command|list", -2, Handler::Server)
    },
];

const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: Flags::READONLY,
        first_key: 2,
        last_key: 2,
        step: 1,
        acl: &["read", "slow"],
        group: "server",
        since: "4.0.0",
        summary: "Estimates the memory usage of a key.",
        syntax: "key [SAMPLES count]",
        key_flags: &[KeyFlags::RO],
        ..CommandSpec::base("memory|usage", -3, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow"],
        group: "server",
        since: "4.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("memory|help", 2, Handler::Server)
    },
    CommandSpec {
        acl: &["slow"],
        group: "server",
        since: "4.0.0",
        summary: "Outputs a memory problems report.",
        ..CommandSpec::base("memory|doctor", 2, Handler::Server)
    },
    CommandSpec {
        acl: &["slow"],
        group: "server",
        since: "4.0.0",
        summary: "Returns the allocator statistics.",
        ..CommandSpec::base("memory|malloc-stats", 2, Handler::Server)
    },
    CommandSpec {
        acl: &["slow"],
        group: "server",
        since: "4.0.0",
        summary: "Returns details about memory usage.",
        ..CommandSpec::base("memory|stats", 2, Handler::Server)
    },
];

const LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.8.13",
        summary: "Returns the latest latency samples for all events.",
        ..CommandSpec::base("latency|latest", 2, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.8.13",
        summary: "Returns timestamp-latency samples for an event.",
        syntax: "event",
        ..CommandSpec::base("latency|history", 3, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "2.8.13",
        summary: "Resets the latency data for one or more events.",
        syntax: "[event [event ...]]",
        ..CommandSpec::base("latency|reset", -2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow"],
        group: "server",
        since: "2.8.13",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("latency|help", 2, Handler::Server)
    },
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["slow"],
        group: "server",
        since: "2.8.13",
        summary: "A container for latency diagnostics commands.",
        subcommands: LATENCY_SUBCOMMANDS,
        ..CommandSpec::base("latency", -2, Handler::Container)
    },
    CommandSpec {
        acl: &["slow"],
        group: "server",
        since: "4.0.0",
        summary: "A container for memory diagnostics commands.",
        subcommands: MEMORY_SUBCOMMANDS,
        ..CommandSpec::base("memory", -2, Handler::Container)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow", "dangerous"],
        group: "server",
        summary: "Returns information and statistics about the server.",
        syntax: "[section [section ...]]",
        ..CommandSpec::base("info", -1, Handler::Server)
    },
    CommandSpec {
        acl: &["slow"],
        group: "server",
        since: "2.0.0",
        summary: "A container for server configuration commands.",
        subcommands: CONFIG_SUBCOMMANDS,
        ..CommandSpec::base("config", -2, Handler::Container)
    },
    CommandSpec {
        acl: &["slow"],
        group: "connection",
        since: "2.4.0",
        summary: "A container for client connection commands.",
        subcommands: CLIENT_SUBCOMMANDS,
        ..CommandSpec::base("client", -2, Handler::Container)
    },
    // COMMAND alone runs its own handler; with an argument the subcommand's (as in Redis,
    // `machine::check` resolves subcommands of any command that has them).
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow", "connection"],
        group: "server",
        since: "2.8.13",
        summary: "Returns detailed information about all commands.",
        subcommands: COMMAND_SUBCOMMANDS,
        ..CommandSpec::base("command", -1, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN.union(Flags::NO_MULTI),
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        syntax: "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]",
        ..CommandSpec::base("shutdown", -1, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        summary: "A container for debugging commands.",
        syntax: "subcommand [argument [argument ...]]",
        ..CommandSpec::base("debug", -2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::READONLY.union(Flags::FAST),
        acl: &["read", "fast"],
        group: "server",
        since: "5.0.0",
        summary: "Displays computer art and the Redis version",
        syntax: "[VERSION version]",
        ..CommandSpec::base("lolwut", -1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE).union(Flags::FAST),
        acl: &["fast"],
        group: "server",
        since: "2.6.0",
        summary: "Returns the server time.",
        ..CommandSpec::base("time", 1, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE).union(Flags::FAST),
        acl: &["fast", "admin", "dangerous"],
        group: "server",
        summary: "Returns the Unix timestamp of the last successful save to disk.",
        ..CommandSpec::base("lastsave", 1, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN.union(Flags::NO_MULTI),
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "1.0.0",
        summary: "Synchronously saves the database(s) to disk.",
        ..CommandSpec::base("save", 1, Handler::Server)
    },
    CommandSpec {
        flags: ADMIN,
        acl: &["admin", "slow", "dangerous"],
        group: "server",
        since: "1.0.0",
        summary: "Asynchronously saves the database(s) to disk.",
        syntax: "[SCHEDULE]",
        ..CommandSpec::base("bgsave", -1, Handler::Server)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("info", info),
    ("config|get", config_get),
    ("config|resetstat", config_resetstat),
    ("config|rewrite", config_rewrite),
    ("config|help", config_help),
    ("client|id", client_id),
    ("client|setname", client_setname),
    ("client|getname", client_getname),
    ("client|setinfo", client_setinfo),
    ("client|list", client_list),
    ("client|info", client_info),
    ("client|kill", client_kill),
    ("client|reply", client_reply),
    ("client|no-evict", client_no_evict),
    ("client|no-touch", client_no_touch),
    ("client|unblock", crate::blocking::client_unblock),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
    ("client|help", client_help),
    ("client|tracking", client_tracking),
    ("client|caching", client_caching),
    ("client|getredir", client_getredir),
    ("client|trackinginfo", client_trackinginfo),
    ("command", command),
    ("command|count", command_count),
    ("command|docs", command_docs_of),
    ("command|getkeys", command_getkeys),
    ("command|getkeysandflags", command_getkeysandflags),
    ("command|help", command_help),
    ("command|info", command_info),
    ("command|list", command_list_all),
    ("shutdown", shutdown),
    ("debug", debug),
    ("memory|usage", memory_usage),
    ("memory|help", memory_help),
    ("memory|doctor", memory_doctor),
    ("memory|malloc-stats", memory_malloc_stats),
    ("memory|stats", memory_stats),
    ("latency|latest", latency_latest),
    ("latency|history", latency_history),
    ("latency|reset", latency_reset),
    ("latency|help", latency_help),
    ("lolwut", lolwut),
    ("time", time),
    ("lastsave", lastsave),
    ("bgsave", bgsave),
];
