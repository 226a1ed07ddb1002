//! FUNCTION and FCALL without Redis functions: Lua scripts (EVAL, EVALSHA, SCRIPT) run in the
//! state machine (`flotilla_storage::commands::scripting`), but libraries are not offered, so
//! there are never any functions, and these commands answer exactly that (FLUSH is `+OK`,
//! LIST is empty, DELETE finds no library, KILL finds nothing running). FUNCTION LOAD is not
//! offered, so clients see an unknown subcommand rather than a pretended success.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::is;
use flotilla_storage::table::keys_after_numkeys;
use flotilla_storage::{CommandSpec, Flags, Handler, KeyFlags};

use super::ServerFn;
use crate::session::Session;

pub const NOT_BUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
pub const LIBRARY_NOT_FOUND: &str = "ERR Library not found";

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::Simple((*line).into())).collect())
}

/// `[ASYNC | SYNC]` of FUNCTION FLUSH / SCRIPT FLUSH.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.get(2) {
        None => true,
        Some(mode) => args.len() == 3 && (is(mode, "ASYNC") || is(mode, "SYNC")),
    }
}

fn function_flush(_session: &mut Session, args: &[Bytes]) -> Reply {
    if !flush_mode_ok(args) {
        return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    Reply::ok()
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: options are checked as Redis checks them,
/// and the list is empty.
fn function_list(_session: &mut Session, args: &[Bytes]) -> Reply {
    let (mut with_code, mut library_name) = (false, false);
    let mut position = 2;
    while position < args.len() {
        let arg = &args[position];
        if !with_code && is(arg, "WITHCODE") {
            with_code = true;
        } else if !library_name && is(arg, "LIBRARYNAME") {
            if position + 1 >= args.len() {
                return Reply::error("ERR library name argument was not given");
            }
            library_name = true;
            position += 1;
        } else {
            return Reply::error_owned(format!("ERR Unknown argument {}", String::from_utf8_lossy(arg)));
        }
        position += 1;
    }
    Reply::Array(Vec::new())
}

fn function_delete(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::error(LIBRARY_NOT_FOUND)
}

fn not_busy(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::error(NOT_BUSY)
}

/// Nothing is running and no engine is registered.
fn function_stats(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Map(vec![
        (Reply::bulk_copy(b"running_script"), Reply::Nil),
        (Reply::bulk_copy(b"engines"), Reply::Map(Vec::new())),
    ])
}

fn function_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    help(&[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DELETE <library-name>",
        "    Deletes a library (this server offers no functions, so there are none).",
        "FLUSH [ASYNC|SYNC]",
        "    Deletes all libraries (there are none).",
        "KILL",
        "    Kills the running function (none ever runs).",
        "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
        "    Lists the libraries (always empty).",
        "STATS",
        "    Reports the running function and the engines (none).",
        "HELP",
        "    Prints this help.",
    ])
}

fn fcall(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::error(FUNCTION_NOT_FOUND)
}

fn fcall_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

const SCRIPTING: Flags = Flags::NOSCRIPT;

const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: Flags::WRITE.union(Flags::NOSCRIPT),
        acl: &["write", "slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Deletes a library and its functions.",
        syntax: "library-name",
        ..CommandSpec::base("function|delete", 3, Handler::Server)
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::NOSCRIPT),
        acl: &["write", "slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Deletes all libraries and functions.",
        syntax: "[ASYNC | SYNC]",
        ..CommandSpec::base("function|flush", -2, Handler::Server)
    },
    CommandSpec {
        flags: SCRIPTING.union(Flags::ALLOW_BUSY),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Terminates a function during execution.",
        ..CommandSpec::base("function|kill", 2, Handler::Server)
    },
    CommandSpec {
        flags: SCRIPTING,
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Returns information about all libraries.",
        syntax: "[LIBRARYNAME library-name-pattern] [WITHCODE]",
        ..CommandSpec::base("function|list", -2, Handler::Server)
    },
    CommandSpec {
        flags: SCRIPTING.union(Flags::ALLOW_BUSY),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Returns information about a function during execution.",
        ..CommandSpec::base("function|stats", 2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("function|help", 2, Handler::Server)
    },
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["slow"],
        group: "scripting",
        since: "7.0.0",
        summary: "A container for function commands.",
        subcommands: FUNCTION_SUBCOMMANDS,
        ..CommandSpec::base("function", -2, Handler::Container)
    },
    CommandSpec {
        flags: SCRIPTING
            .union(Flags::STALE)
            .union(Flags::SKIP_MONITOR)
            .union(Flags::MAY_REPLICATE)
            .union(Flags::MOVABLE_KEYS),
        key_finder: Some(fcall_keys),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Invokes a function.",
        syntax: "function numkeys [key [key ...]] [arg [arg ...]]",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..CommandSpec::base("fcall", -3, Handler::Server)
    },
    CommandSpec {
        flags: SCRIPTING
            .union(Flags::STALE)
            .union(Flags::SKIP_MONITOR)
            .union(Flags::READONLY)
            .union(Flags::MOVABLE_KEYS),
        key_finder: Some(fcall_keys),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Invokes a read-only function.",
        syntax: "function numkeys [key [key ...]] [arg [arg ...]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..CommandSpec::base("fcall_ro", -3, Handler::Server)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("function|delete", function_delete),
    ("function|flush", function_flush),
    ("function|kill", not_busy),
    ("function|list", function_list),
    ("function|stats", function_stats),
    ("function|help", function_help),
    ("fcall", fcall),
    ("fcall_ro", fcall),
];
