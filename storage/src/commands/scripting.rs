//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and the SCRIPT container (LOAD, EXISTS,
//! FLUSH, KILL, HELP). The engine is `crate::lua`.
//!
//! The script cache is replicated state (`Keyspace::scripts`, sha → body): EVAL and SCRIPT
//! LOAD add to it and SCRIPT FLUSH empties it as log entries, and snapshots carry it, so
//! EVALSHA finds a script on every node, after a failover and after a restart. EVAL_RO and
//! EVALSHA_RO run on the read path: they may not write and do not cache (a read changes no
//! replicated state). FLUSHALL leaves the cache alone, as in Redis.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{is, parse_i64};
use crate::ctx::Ctx;
use crate::errors;
use crate::lua::{self, Access, Program, Script};
use crate::sha1::sha1_hex;
use crate::table::{keys_after_numkeys, CommandSpec, Flags, Handler, KeyFlags};

/// `numkeys key … arg …` after the script: (keys, args).
pub(crate) fn split_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Reply> {
    let Some(numkeys) = parse_i64(&args[2]) else {
        return Err(Reply::error(errors::NOT_INTEGER));
    };
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let rest = &args[3..];
    if numkeys as u64 > rest.len() as u64 {
        return Err(Reply::error("ERR Number of keys can't be greater than number of args"));
    }
    Ok(rest.split_at(numkeys as usize))
}

fn run(ctx: &mut Ctx, body: &[u8], sha: &str, args: &[Bytes], access: Access) -> Result<Reply, Reply> {
    let (keys, argv) = split_keys(args)?;
    lua::run(ctx, &Script { body, sha, keys, argv, access, program: Program::Eval, allow_oom: false })
}

fn eval_generic(ctx: &mut Ctx, args: &[Bytes], access: Access) -> Reply {
    let body = args[1].clone();
    let sha = sha1_hex(&body);
    match run(ctx, &body, &sha, args, access) {
        Ok(reply) => {
            // A script that compiled is cached, even when it failed while running (Redis
            // caches it before running it); the read path caches nothing.
            if access == Access::ReadWrite {
                ctx.keyspace.scripts.insert(sha, body);
            }
            reply
        }
        Err(reply) => reply,
    }
}

fn evalsha_generic(ctx: &mut Ctx, args: &[Bytes], access: Access) -> Reply {
    let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some(body) = ctx.keyspace.scripts.get(&sha).cloned() else {
        return Reply::error(lua::NO_SCRIPT);
    };
    run(ctx, &body, &sha, args, access).unwrap_or_else(|reply| reply)
}

fn eval(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, Access::ReadWrite)
}

fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, Access::ReadOnly)
}

fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    evalsha_generic(ctx, args, Access::ReadWrite)
}

fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    evalsha_generic(ctx, args, Access::ReadOnly)
}

/// SCRIPT LOAD script: compiles it (a script that does not compile is not cached) and
/// replies its SHA-1.
fn script_load(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let body = args[2].clone();
    if let Err(reply) = lua::compile_check(&body) {
        return reply;
    }
    let sha = sha1_hex(&body);
    let reply = Reply::Bulk(Bytes::from(sha.clone()));
    ctx.keyspace.scripts.insert(sha, body);
    reply
}

fn script_exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let scripts = &ctx.keyspace.scripts;
    Reply::Array(
        args[2..]
            .iter()
            .map(|sha| Reply::Int(scripts.contains_key(&String::from_utf8_lossy(sha).to_ascii_lowercase()) as i64))
            .collect(),
    )
}

fn script_flush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mode_ok = match args.get(2) {
        None => true,
        Some(mode) => args.len() == 3 && (is(mode, "ASYNC") || is(mode, "SYNC")),
    };
    if !mode_ok {
        return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    ctx.keyspace.scripts.clear();
    Reply::ok()
}

/// Scripts run inside an entry's apply and always end (the instruction budget), so there is
/// never one to kill.
fn script_kill(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

fn script_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script (none ever is: scripts run while a log",
        "    entry is applied, and one that runs past its instruction budget is stopped).",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::simple(line)).collect())
}

fn eval_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

/// EVAL and EVALSHA are proposed as log entries (flagged write, though a script may only
/// read); EVAL_RO and EVALSHA_RO go through the read path.
const EVAL_FLAGS: Flags = Flags::WRITE
    .union(Flags::NOSCRIPT)
    .union(Flags::STALE)
    .union(Flags::MAY_REPLICATE)
    .union(Flags::MOVABLE_KEYS);
const EVAL_RO_FLAGS: Flags = Flags::READONLY
    .union(Flags::NOSCRIPT)
    .union(Flags::STALE)
    .union(Flags::MOVABLE_KEYS);

const SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: Flags::READONLY.union(Flags::NOSCRIPT),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "2.6.0",
        summary: "Determines whether server-side Lua scripts exist in the script cache.",
        syntax: "sha1 [sha1 ...]",
        ..CommandSpec::base("script|exists", -3, Handler::Keyspace(script_exists))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::NOSCRIPT),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "2.6.0",
        summary: "Removes all server-side Lua scripts from the script cache.",
        syntax: "[ASYNC | SYNC]",
        ..CommandSpec::base("script|flush", -2, Handler::Keyspace(script_flush))
    },
    CommandSpec {
        flags: Flags::READONLY.union(Flags::NOSCRIPT).union(Flags::ALLOW_BUSY),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "2.6.0",
        summary: "Terminates a server-side Lua script during execution.",
        ..CommandSpec::base("script|kill", 2, Handler::Keyspace(script_kill))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::NOSCRIPT).union(Flags::STALE),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "2.6.0",
        summary: "Loads a server-side Lua script to the script cache.",
        syntax: "script",
        ..CommandSpec::base("script|load", 3, Handler::Keyspace(script_load))
    },
    CommandSpec {
        flags: Flags::READONLY.union(Flags::LOADING).union(Flags::STALE),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "5.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("script|help", 2, Handler::Keyspace(script_help))
    },
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: EVAL_FLAGS,
        key_finder: Some(eval_keys),
        numkeys_index: 2,
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "2.6.0",
        summary: "Executes a server-side Lua script.",
        syntax: "script numkeys [key [key ...]] [arg [arg ...]]",
        ..CommandSpec::base("eval", -3, Handler::Keyspace(eval))
    },
    CommandSpec {
        flags: EVAL_FLAGS,
        key_finder: Some(eval_keys),
        numkeys_index: 2,
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "2.6.0",
        summary: "Executes a server-side Lua script by SHA1 digest.",
        syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]",
        ..CommandSpec::base("evalsha", -3, Handler::Keyspace(evalsha))
    },
    CommandSpec {
        flags: EVAL_RO_FLAGS,
        key_finder: Some(eval_keys),
        numkeys_index: 2,
        key_flags: &[KeyFlags::RO_ACCESS],
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Executes a read-only server-side Lua script.",
        syntax: "script numkeys [key [key ...]] [arg [arg ...]]",
        ..CommandSpec::base("eval_ro", -3, Handler::Keyspace(eval_ro))
    },
    CommandSpec {
        flags: EVAL_RO_FLAGS,
        key_finder: Some(eval_keys),
        numkeys_index: 2,
        key_flags: &[KeyFlags::RO_ACCESS],
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Executes a read-only server-side Lua script by SHA1 digest.",
        syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]",
        ..CommandSpec::base("evalsha_ro", -3, Handler::Keyspace(evalsha_ro))
    },
    CommandSpec {
        acl: &["slow"],
        group: "scripting",
        since: "2.6.0",
        summary: "A container for Lua scripts management commands.",
        subcommands: SCRIPT_SUBCOMMANDS,
        ..CommandSpec::base("script", -2, Handler::Container)
    },
];
