//! The Lua engine behind EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD: Lua 5.1 (as
//! Redis embeds) through `mlua`, built from source.
//!
//! Scripts run inside the state machine, when their entry is applied, on every replica, so a
//! script must compute the same thing everywhere:
//! - every run gets a fresh Lua state with only the base, table, string and math libraries
//!   and `cmsgpack` (no os, io, package/require, dofile, loadfile; binary chunks refused), so
//!   nothing of one run, nor of the node, leaks into the next;
//! - `math.random` is Redis's: a 48-bit LCG (`lrand48`), seeded at the start of every run from
//!   the entry's random source, so runs differ (as in Redis 7, which no longer reseeds with 0)
//!   yet every replica draws the same numbers; `math.randomseed` reseeds it;
//! - `redis.call('TIME')` and every time-based command see the entry's time (`ctx.now_ms`);
//! - a run is bounded by an instruction budget (`SCRIPT_INSTRUCTIONS_MAX`, with every
//!   `redis.call` charged `CALL_INSTRUCTIONS`) and a memory limit: a script that never ends is
//!   stopped at the same instruction on every replica with `SCRIPT_BUDGET_ERROR`, where Redis
//!   would let it run and offer SCRIPT KILL. The budget cannot be caught by `pcall`.
//!
//! What stays non-deterministic, as in Redis: `tostring` of a table or function prints its
//! address, and `pairs` over a table keyed by tables or functions walks it in address order.
//!
//! Writes are applied as the script makes them and are not rolled back if it fails later, as
//! in Redis; the whole script is one op in one entry, so no other command runs in between.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;
use flotilla_protocol::{format_double, Reply};
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::commands;
use crate::ctx::{Ctx, Event};
use crate::db::{Keyspace, DATABASES};
use crate::machine::check;
use crate::functions::{FunctionFlags, FunctionInfo};
use crate::acl::ScriptUser;
use crate::table::{CommandSpec, Flags, Handler};

/// Lua VM instructions one run may execute (about a quarter of a second of pure Lua on our
/// machines), counted every `HOOK_INSTRUCTIONS`.
pub const SCRIPT_INSTRUCTIONS_MAX: u64 = 50_000_000;
const HOOK_INSTRUCTIONS: u32 = 10_000;
/// What one `redis.call` costs against the instruction budget: a SET from a script takes
/// about as long as 500 Lua instructions, so a script of nothing but calls (at most 100,000
/// of them) is stopped after about as long as a pure Lua one.
const CALL_INSTRUCTIONS: u64 = 500;
/// Memory the Lua state of one run may allocate.
pub const SCRIPT_MEMORY_BYTES_MAX: usize = 256 << 20;
/// Nesting of tables converted to a reply (Redis fails the same way on deeper ones).
const REPLY_DEPTH_MAX: usize = 128;

pub const SCRIPT_BUDGET_ERROR: &str =
    "ERR Script exceeded the instruction budget (a script runs on every replica and must end; see SCRIPT HELP)";
pub const SCRIPT_MEMORY_ERROR: &str = "ERR Script exceeded the memory limit of its Lua state";
pub const NO_SCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// How a script may touch the keyspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// EVAL_RO / EVALSHA_RO, or a `#!lua flags=no-writes` script.
    ReadOnly,
}

/// Flags from a `#!lua flags=…` first line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    pub shebang: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
}

/// Reads a `#!lua [flags=a,b]` first line. Returns the flags and the length of the line
/// (without its newline: the body is compiled from there, so line numbers are kept).
pub fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), Reply> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), 0));
    }
    let end = body.iter().position(|&byte| byte == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|part| !part.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        return Err(Reply::error_owned(format!("ERR Unexpected engine in script shebang: {engine}")));
    }
    let mut flags = ScriptFlags { shebang: true, ..ScriptFlags::default() };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(Reply::error_owned(format!("ERR Unknown lua shebang option: {part}")));
        };
        for flag in list.split(',').filter(|flag| !flag.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                _ => return Err(Reply::error_owned(format!("ERR Unexpected flag in script shebang: {flag}"))),
            }
        }
    }
    Ok((flags, end))
}

/// Compiles `body` without running it (SCRIPT LOAD): the compile error, as Redis words it.
pub fn compile_check(body: &[u8]) -> Result<(), Reply> {
    let (_, skip) = parse_shebang(body)?;
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).expect("a bare Lua state");
    load_user_chunk(&lua, &body[skip..], Program::Eval).map(|_| ())
}

fn load_user_chunk(lua: &Lua, body: &[u8], program: Program) -> Result<mlua::Function, Reply> {
    lua.load(body)
        .set_name(program.chunk_name())
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
        .map_err(|error| {
            let message = match error {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            };
            let prefix = match program {
                Program::Eval => "ERR Error compiling script (new function)",
                _ => "ERR Error compiling function",
            };
            Reply::error_owned(format!("{prefix}: {}", sanitize(&message)))
        })
}

/// What a run executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program<'a> {
    /// EVAL / EVALSHA: the body is a script (with an optional `#!lua flags=` line).
    Eval,
    /// FCALL: the body is a library's code (from its shebang's newline); it runs with the
    /// load-time API, then the named function it registered is called with KEYS and ARGV.
    Function(&'a str),
    /// FUNCTION LOAD: runs a library's code and collects what it registers.
    Load,
}

impl Program<'_> {
    fn chunk_name(self) -> &'static str {
        match self {
            Program::Eval => "@user_script",
            _ => "@user_function",
        }
    }

    fn mode(self) -> &'static str {
        match self {
            Program::Eval => "eval",
            Program::Function(_) => "function",
            Program::Load => "load",
        }
    }
}

/// Lua VM instructions FUNCTION LOAD lets a library's code run before it gives up with
/// Redis's "FUNCTION LOAD timeout" (Redis allows 500 ms of wall clock; a count is the same on
/// every replica).
pub const LOAD_INSTRUCTIONS_MAX: u64 = 10_000_000;

/// Runs a library's code (`code` is the whole payload, shebang included) and returns the
/// functions it registered, or FUNCTION LOAD's error reply.
pub fn load_library(ctx: &mut Ctx, code: &[u8]) -> Result<Vec<FunctionInfo>, Reply> {
    let start = code.iter().position(|&byte| byte == b'\n').unwrap_or(code.len());
    let script = Script { body: &code[start..], sha: "", keys: &[], argv: &[], access: Access::ReadOnly, program: Program::Load, allow_oom: false };
    let mut registered = Vec::new();
    execute(ctx, &script, Access::ReadOnly, &code[start..], |outcome, exceeded, _| match outcome {
        _ if exceeded => Err(Reply::error("ERR Error registering functions: ERR FUNCTION LOAD timeout")),
        Err(error) if is_memory_error(&error) => Err(Reply::error(SCRIPT_MEMORY_ERROR)),
        Err(error) => Err(Reply::error_owned(format!(
            "ERR Error registering functions: ERR {}",
            sanitize(&error.to_string())
        ))),
        Ok((true, Value::Table(list))) => {
            for entry in list.sequence_values::<Table>() {
                let entry = entry.map_err(|error| Reply::error_owned(format!("ERR {error}")))?;
                let name: String = entry.raw_get("name").unwrap_or_default();
                let description: Option<mlua::LuaString> = entry.raw_get("description").unwrap_or(None);
                let flags: i64 = entry.raw_get("flags").unwrap_or(0);
                registered.push(FunctionInfo {
                    name,
                    description: description.map(|text| Bytes::copy_from_slice(&text.as_bytes())),
                    flags: FunctionFlags(flags as u8),
                });
            }
            Ok(())
        }
        Ok((true, _)) => Err(Reply::error("ERR No functions registered")),
        Ok((false, error)) => {
            let text = match script_error(&error, "") {
                Reply::Error(text) => text.to_string(),
                _ => "ERR unknown error".to_string(),
            };
            if text == SCRIPT_MEMORY_ERROR {
                return Err(Reply::error(SCRIPT_MEMORY_ERROR));
            }
            Err(Reply::error_owned(format!("ERR Error registering functions: {}", error_message(&error).unwrap_or(text))))
        }
    })??;
    Ok(registered)
}

/// The `err` text of an error table, without the source and line Redis adds to run errors.
fn error_message(error: &Value) -> Option<String> {
    match error {
        Value::Table(table) => match table.raw_get::<Value>("err") {
            Ok(Value::String(text)) => Some(sanitize(&text.to_string_lossy())),
            _ => None,
        },
        _ => None,
    }
}

/// One script run: what it is and what it may do.
pub struct Script<'a> {
    pub body: &'a [u8],
    /// The body's SHA-1 (hex), named in runtime errors.
    pub sha: &'a str,
    pub keys: &'a [Bytes],
    pub argv: &'a [Bytes],
    pub access: Access,
    pub program: Program<'a>,
    /// A function flagged allow-oom (a script's own `#!lua flags=allow-oom` is read here).
    pub allow_oom: bool,
}

/// What `redis.call` needs from the command that runs the script.
struct CallState<'c> {
    keyspace: &'c mut Keyspace,
    events: &'c mut Vec<Event>,
    db: usize,
    now_ms: u64,
    index: u64,
    seed: u64,
    calls: u64,
    access: Access,
    /// The keys the script was given, reported once when it first runs a read-only command.
    declared_keys: &'c [Bytes],
    read_reported: bool,
    /// The restricted ACL user the script runs for (None: nothing is checked).
    user: Option<&'c ScriptUser>,
    /// Proposed over `maxmemory`, without allow-oom: the first command that may grow memory
    /// fails with OOM unless the script already wrote (`wrote`).
    over_memory: bool,
    wrote: bool,
}

/// Runs a script or a function against the keyspace of `ctx`. `Err` is a compile error (the
/// script is then not cached); `Ok` is the script's reply, an error reply included.
pub fn run(ctx: &mut Ctx, script: &Script) -> Result<Reply, Reply> {
    let (access, body, allow_oom) = match script.program {
        Program::Eval => {
            let (flags, skip) = parse_shebang(script.body)?;
            let access = if flags.no_writes { Access::ReadOnly } else { script.access };
            (access, &script.body[skip..], flags.allow_oom)
        }
        _ => (script.access, script.body, script.allow_oom),
    };
    // The script's own Ctx: allow-oom lifts the check for this run only.
    ctx.over_memory = ctx.over_memory && !allow_oom;
    let first_event = ctx.events.len();
    let reply = execute(ctx, script, access, body, |outcome, exceeded, resp3| match outcome {
        _ if exceeded => Reply::error(SCRIPT_BUDGET_ERROR),
        Err(mlua::Error::MemoryError(_)) => Reply::error(SCRIPT_MEMORY_ERROR),
        Err(error) if is_memory_error(&error) => Reply::error(SCRIPT_MEMORY_ERROR),
        Err(error) => Reply::error_owned(format!("ERR Error running script {}, {}", script.sha, sanitize(&error.to_string()))),
        Ok((true, value)) => lua_to_reply(&value, resp3, 0),
        Ok((false, error)) => script_error(&error, script.sha),
    })?;
    // An error reply that repeats the last failed call's error (raised by redis.call, or
    // returned from redis.pcall) is that error: it is counted once, as the reply.
    if let Reply::Error(text) = &reply {
        let last = ctx.events[first_event..].iter_mut().rev().find_map(|event| match event {
            Event::ScriptCallError { error, counted, .. } if *counted => Some((error, counted)),
            _ => None,
        });
        if let Some((error, counted)) = last {
            if text.starts_with(error.as_str()) {
                *counted = false;
            }
        }
    }
    Ok(reply)
}

/// Sets up a fresh Lua state for `script`, runs `body` in it and hands the outcome (with
/// whether the instruction budget ran out, and the RESP version the script chose) to `finish`.
fn execute<R>(
    ctx: &mut Ctx,
    script: &Script,
    access: Access,
    body: &[u8],
    finish: impl FnOnce(mlua::Result<(bool, Value)>, bool, bool) -> R,
) -> Result<R, Reply> {
    let budget = match script.program {
        Program::Load => LOAD_INSTRUCTIONS_MAX,
        _ => SCRIPT_INSTRUCTIONS_MAX,
    };
    // SAFETY: the debug library is loaded only for the error handler of the prelude, which
    // keeps it in a local; it is removed from the globals before the script runs.
    let lua = unsafe {
        Lua::unsafe_new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG, LuaOptions::default())
    };
    lua.set_memory_limit(SCRIPT_MEMORY_BYTES_MAX).expect("the vendored Lua has a memory limit");
    crate::lua_msgpack::install(&lua).expect("a fresh Lua state takes the cmsgpack table");
    let wrap: mlua::Function = lua
        .load(crate::lua_bit::WRAP)
        .set_name("=flotilla_library")
        .call(())
        .expect("the library glue compiles");
    crate::lua_bit::install(&lua, &wrap).expect("a fresh Lua state takes the bit table");
    crate::lua_cjson::install(&lua, &wrap).expect("a fresh Lua state takes the cjson table");
    crate::lua_struct::install(&lua, &wrap).expect("a fresh Lua state takes the struct table");
    let function = load_user_chunk(&lua, body, script.program)?;
    let spent = Rc::new(Cell::new(0u64));
    let hook_spent = spent.clone();
    lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS), move |_, _| {
        hook_spent.set(hook_spent.get() + u64::from(HOOK_INSTRUCTIONS));
        if hook_spent.get() > budget {
            return Err(mlua::Error::RuntimeError(SCRIPT_BUDGET_ERROR.into()));
        }
        Ok(VmState::Continue)
    })
    .expect("hooks are available in Lua 5.1");
    let resp3 = Rc::new(Cell::new(false));
    let pending: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let seed = ctx.random_u64();
    let state = RefCell::new(CallState {
        keyspace: &mut *ctx.keyspace,
        events: &mut *ctx.events,
        db: ctx.db,
        now_ms: ctx.now_ms,
        index: ctx.index,
        seed,
        calls: 0,
        access,
        declared_keys: script.keys,
        read_reported: false,
        user: ctx.user,
        over_memory: ctx.over_memory,
        wrote: false,
    });
    let shared = &Shared { state: &state, spent: &spent, pending: &pending, resp3: &resp3 };
    let outcome = lua.scope(|scope| {
        // redis.call and redis.pcall are Rust functions, so the script's frame stays on the
        // stack under them (a Lua wrapper called as `return redis.call(…)` would be a tail
        // call, and the error could no longer name the script's line). redis.call raises a
        // Lua error and leaves Redis's error text in `pending` for the handler.
        let call_raising = scope.create_function(move |lua, args: MultiValue| redis_call(lua, args, true, shared))?;
        let call_protected = scope.create_function(move |lua, args: MultiValue| redis_call(lua, args, false, shared))?;
        let acl_check = scope.create_function(move |_, args: MultiValue| acl_check_cmd(args, shared))?;
        let take_call_error = {
            let pending = pending.clone();
            lua.create_function(move |_, ()| Ok(pending.borrow_mut().take()))?
        };
        let budget_spent = {
            let spent = spent.clone();
            lua.create_function(move |_, ()| Ok(spent.get() > budget))?
        };
        let setresp_raw = {
            let resp3 = resp3.clone();
            lua.create_function(move |_, version: i64| {
                resp3.set(version == 3);
                Ok(())
            })?
        };
        let sha1hex = lua.create_function(|_, text: mlua::LuaString| Ok(crate::sha1::sha1_hex(&text.as_bytes())))?;
        // From the run's seed (the log index and op position), never a fixed value.
        let random = Rc::new(Cell::new(lrand48_seed((seed ^ (seed >> 32)) as i32)));
        let next_random = {
            let random = random.clone();
            lua.create_function(move |_, ()| {
                let (next, value) = lrand48_next(random.get());
                random.set(next);
                Ok(f64::from(value % LRAND48_MAX) / f64::from(LRAND48_MAX))
            })?
        };
        let seed_random = lua.create_function(move |_, seed: i64| {
            random.set(lrand48_seed(seed as i32));
            Ok(())
        })?;
        let keys = lua.create_sequence_from(script.keys.iter().map(|key| lua.create_string(key)).collect::<mlua::Result<Vec<_>>>()?)?;
        let argv = lua.create_sequence_from(script.argv.iter().map(|arg| lua.create_string(arg)).collect::<mlua::Result<Vec<_>>>()?)?;
        let function_name = match script.program {
            Program::Function(name) => Some(name),
            _ => None,
        };
        let runner: mlua::Function = lua.load(PRELUDE).set_name("=flotilla_prelude").call((
            call_raising,
            call_protected,
            take_call_error,
            budget_spent,
            setresp_raw,
            sha1hex,
            next_random,
            seed_random,
            keys,
            argv,
            script.program.mode(),
            function_name,
            script.program.chunk_name(),
            acl_check,
        ))?;
        runner.call::<(bool, Value)>(function)
    });
    let exceeded = spent.get() > budget;
    let resp3 = resp3.get();
    Ok(finish(outcome, exceeded, resp3))
}

fn is_memory_error(error: &mlua::Error) -> bool {
    match error {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        _ => error.to_string().contains("not enough memory"),
    }
}

/// An error the script raised, after the prelude's handler made it `{err=…, source=…,
/// line=…}`: Redis's `<error> script: <sha>, on @user_script:<line>.`
fn script_error(error: &Value, sha: &str) -> Reply {
    let table = match error {
        Value::Table(table) => table,
        // Lua 5.1 raises "not enough memory" without calling the error handler.
        Value::String(text) if text.to_string_lossy().contains("not enough memory") => {
            return Reply::error(SCRIPT_MEMORY_ERROR)
        }
        Value::Error(error) if is_memory_error(error) => return Reply::error(SCRIPT_MEMORY_ERROR),
        Value::String(text) => {
            let text = sanitize(&text.to_string_lossy());
            return Reply::error_owned(format!("ERR Error running script {sha}, {text}"));
        }
        _ => return Reply::error_owned(format!("ERR Error running script {sha}, execution failure")),
    };
    let text = match table.raw_get::<Value>("err") {
        Ok(Value::String(text)) => sanitize(&text.to_string_lossy()),
        _ => "ERR unknown error".to_string(),
    };
    if text.starts_with("ERR Script exceeded the memory limit") || text.contains("not enough memory") {
        return Reply::error(SCRIPT_MEMORY_ERROR);
    }
    let source = table.raw_get::<Option<String>>("source").ok().flatten();
    let line = table.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(source), Some(line)) => Reply::error_owned(format!("{text} script: {sha}, on {source}:{line}.")),
        _ => Reply::error_owned(text),
    }
}

/// What `redis.call` and `redis.pcall` share with the run.
struct Shared<'s, 'c> {
    state: &'s RefCell<CallState<'c>>,
    spent: &'s Cell<u64>,
    /// The error text of a failed `redis.call`, for the error handler.
    pending: &'s RefCell<Option<String>>,
    resp3: &'s Cell<bool>,
}

fn redis_call(lua: &Lua, args: MultiValue, raise: bool, shared: &Shared) -> mlua::Result<Value> {
    shared.spent.set(shared.spent.get() + CALL_INSTRUCTIONS);
    let reply = match command_args(&args) {
        Ok(argv) => call(&mut shared.state.borrow_mut(), &argv),
        Err(reply) => reply,
    };
    match reply {
        Reply::Error(text) if raise => {
            let text = error_text(&text);
            *shared.pending.borrow_mut() = Some(text.clone());
            Err(mlua::Error::RuntimeError(text))
        }
        reply => reply_to_lua(lua, reply, shared.resp3.get()),
    }
}

/// `redis.acl_check_cmd(command, args…)`: whether the user running the script may run that
/// command with those arguments (Redis 7.0's `luaRedisAclCheckCmdPermissionsCommand`: the
/// command is found as `lookupCommand` finds it, arity unchecked). An unrestricted user may
/// run every command.
fn acl_check_cmd(args: MultiValue, shared: &Shared) -> mlua::Result<bool> {
    let raise = |text: String| {
        *shared.pending.borrow_mut() = Some(text.clone());
        Err(mlua::Error::RuntimeError(text))
    };
    let argv = match command_args(&args) {
        Ok(argv) => argv,
        Err(Reply::Error(text)) => return raise(text.to_string()),
        Err(_) => return raise("ERR unknown error".into()),
    };
    let Some(spec) = crate::acl::resolve_for_check(&argv) else {
        return raise("ERR Invalid command passed to redis.acl_check_cmd()".into());
    };
    let state = shared.state.borrow();
    Ok(state.user.is_none_or(|user| user.check(spec, &argv).is_ok()))
}

/// Checks a command a script is about to run against the restricted user it runs for; the
/// refusal (Redis 7.0's `scriptVerifyACL` text) is also reported for the sender's ACL LOG.
fn acl_refusal(state: &mut CallState, spec: &CommandSpec, args: &[Bytes]) -> Option<Reply> {
    let user = state.user?;
    let denied = user.check(spec, args).err()?;
    let (reason, object) = denied.log_reason(spec, args);
    state.events.push(Event::ScriptAclDenied {
        node: user.node,
        client: user.client,
        user: user.name.clone(),
        reason,
        object,
    });
    Some(Reply::error(crate::acl::script_denied_message(denied)))
}

/// The spec of one of the server commands a script may run (TIME, SELECT, PING, ECHO), for
/// its ACL check.
fn server_spec(args: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = crate::acl::lookup(&args[0])?;
    check(spec, args).ok()
}

/// `redis.call`'s arguments as command arguments: strings, and numbers printed as Redis
/// prints them.
fn command_args(args: &MultiValue) -> Result<Vec<Bytes>, Reply> {
    if args.is_empty() {
        return Err(Reply::error("ERR Please specify at least one argument for this redis lib call"));
    }
    args.iter()
        .map(|arg| match arg {
            Value::String(text) => Ok(Bytes::copy_from_slice(&text.as_bytes())),
            Value::Integer(number) => Ok(Bytes::from(number.to_string())),
            Value::Number(number) => Ok(Bytes::from(format_double(*number))),
            _ => Err(Reply::error("ERR Lua redis lib command arguments must be strings or integers")),
        })
        .collect()
}

/// Runs one command for `redis.call` / `redis.pcall`; a command that ran (not one refused
/// before running) is reported for MONITOR.
fn call(state: &mut CallState, args: &[Bytes]) -> Reply {
    let mut ran = false;
    let mut called = None;
    let reply = run_call(state, args, &mut ran, &mut called);
    if ran {
        state.events.push(Event::ScriptCommand {
            db: state.db,
            args: args.to_vec(),
        });
    }
    if let (Reply::Error(text), Some(name)) = (&reply, called) {
        state.events.push(Event::ScriptCallError {
            name,
            rejected: !ran,
            error: error_text(text),
            counted: true,
        });
    }
    reply
}

/// Runs one command for a script. `called` names the command once it is known: refused
/// (ACL, read-only, OOM, noscript) or run; a refusal before that (unknown command, arity) is
/// the script's error only.
fn run_call(state: &mut CallState, args: &[Bytes], ran: &mut bool, called: &mut Option<&'static str>) -> Reply {
    let name = args[0].to_ascii_lowercase();
    // The server commands a script may use that only need the entry: TIME is the entry's
    // time, never a clock; SELECT changes the script's database.
    *ran = matches!(
        (&name[..], args.len()),
        (b"time", 1) | (b"select", 2) | (b"ping", 1 | 2) | (b"echo", 2)
    );
    if *ran {
        *called = Some(match &name[..] {
            b"time" => "time",
            b"select" => "select",
            b"ping" => "ping",
            _ => "echo",
        });
    }
    if *ran && state.user.is_some() {
        if let Some(refusal) = server_spec(args).and_then(|spec| acl_refusal(state, spec, args)) {
            *ran = false;
            return refusal;
        }
    }
    match &name[..] {
        b"time" if args.len() == 1 => {
            return Reply::Array(vec![
                Reply::Bulk(Bytes::from((state.now_ms / 1000).to_string())),
                Reply::Bulk(Bytes::from((state.now_ms % 1000 * 1000).to_string())),
            ])
        }
        b"select" if args.len() == 2 => {
            return match std::str::from_utf8(&args[1]).ok().and_then(|db| db.parse::<usize>().ok()) {
                Some(db) if db < DATABASES => {
                    state.db = db;
                    Reply::ok()
                }
                Some(_) => Reply::error(crate::errors::DB_INDEX_OUT_OF_RANGE),
                None => Reply::error(crate::errors::NOT_INTEGER),
            };
        }
        b"ping" if args.len() <= 2 => {
            return match args.get(1) {
                Some(message) => Reply::Bulk(message.clone()),
                None => Reply::simple("PONG"),
            }
        }
        b"echo" if args.len() == 2 => return Reply::Bulk(args[1].clone()),
        _ => {}
    }
    let Some(spec) = commands::lookup(&args[0]) else {
        // A server command: one flagged noscript (MULTI, SUBSCRIBE, CLIENT …) is refused as
        // Redis refuses it; the others are not offered to scripts.
        let noscript = crate::acl::lookup(&args[0])
            .and_then(|spec| check(spec, args).ok())
            .filter(|spec| spec.flags.contains(Flags::NOSCRIPT));
        *called = noscript.map(|spec| spec.name);
        return Reply::error(if noscript.is_some() {
            "ERR This Redis command is not allowed from script"
        } else {
            "ERR Unknown Redis command called from script"
        });
    };
    let spec = match check(spec, args) {
        Ok(spec) => spec,
        Err(Reply::Error(text)) if text.starts_with("ERR wrong number of arguments") => {
            return Reply::error("ERR Wrong number of args calling Redis command from script")
        }
        Err(reply) => return reply,
    };
    if spec.flags.contains(Flags::NOSCRIPT) {
        *called = Some(spec.name);
        return Reply::error("ERR This Redis command is not allowed from script");
    }
    let Handler::Keyspace(handler) = spec.handler else {
        return Reply::error("ERR Unknown Redis command called from script");
    };
    *called = Some(spec.name);
    if let Some(refusal) = acl_refusal(state, spec, args) {
        return refusal;
    }
    if spec.is_write() && state.access == Access::ReadOnly {
        return Reply::error("ERR Write commands are not allowed from read-only scripts.");
    }
    if state.over_memory && !state.wrote && spec.flags.contains(Flags::DENYOOM) {
        return Reply::error(crate::errors::OOM);
    }
    if spec.is_write() {
        state.wrote = true;
    }
    state.calls += 1;
    *ran = true;
    let seed = state.seed.wrapping_add(state.calls.wrapping_mul(0x9E37_79B9));
    if !spec.flags.contains(Flags::NO_TOUCH) {
        let database = &state.keyspace.dbs[state.db];
        spec.for_each_key(args, |position| {
            database.touch(&args[position], state.now_ms, seed, position);
        });
    }
    let mut ctx = Ctx::new(state.keyspace, state.db, state.now_ms, state.index, seed, state.events);
    ctx.from_script = true;
    let reply = handler(&mut ctx, args);
    ctx.flush_expired();
    commands::keys::settle_encoding_floors(state.keyspace);
    if spec.flags.contains(Flags::READONLY) && !state.read_reported {
        state.read_reported = true;
        state.events.push(Event::ScriptRead {
            keys: state.declared_keys.to_vec(),
        });
    }
    reply
}

/// Redis's error texts carry a code; a bare message gets `ERR` (`redis.error_reply("x")`).
fn error_text(text: &str) -> String {
    let text = text.strip_prefix('-').unwrap_or(text).trim_end_matches(['\r', '\n']);
    if text.contains(' ') {
        text.to_string()
    } else {
        format!("ERR {text}")
    }
}

/// Replies are one line: newlines become spaces, as Redis's error and status replies.
fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// A command's reply as `redis.call` returns it, under RESP2 or RESP3 (`redis.setresp`).
fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    let field = |name: &str, value: Value| -> mlua::Result<Value> {
        let table = lua.create_table()?;
        table.raw_set(name, value)?;
        Ok(Value::Table(table))
    };
    let string = |bytes: &[u8]| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(bytes)?)) };
    let sequence = |items: Vec<Reply>| -> mlua::Result<Value> {
        let table = lua.create_table_with_capacity(items.len(), 0)?;
        for (position, item) in items.into_iter().enumerate() {
            table.raw_set(position + 1, reply_to_lua(lua, item, resp3)?)?;
        }
        Ok(Value::Table(table))
    };
    Ok(match reply {
        Reply::Simple(text) => field("ok", string(text.as_bytes())?)?,
        Reply::Error(text) => field("err", string(error_text(&text).as_bytes())?)?,
        Reply::Int(number) => Value::Number(number as f64),
        Reply::Bulk(bytes) => string(&bytes)?,
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => sequence(items)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            field("set", Value::Table(set))?
        }
        Reply::Set(items) => sequence(items)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(reply_to_lua(lua, key, resp3)?, reply_to_lua(lua, value, resp3)?)?;
            }
            field("map", Value::Table(map))?
        }
        Reply::Map(pairs) => sequence(pairs.into_iter().flat_map(|(key, value)| [key, value]).collect())?,
        Reply::PairMap(pairs) if resp3 => reply_to_lua(lua, Reply::Map(pairs), resp3)?,
        Reply::PairMap(pairs) => {
            sequence(pairs.into_iter().map(|(key, value)| Reply::Array(vec![key, value])).collect())?
        }
        Reply::Pairs(pairs) if resp3 => {
            sequence(pairs.into_iter().map(|(key, value)| Reply::Array(vec![key, value])).collect())?
        }
        Reply::Pairs(pairs) => sequence(pairs.into_iter().flat_map(|(key, value)| [key, value]).collect())?,
        Reply::Double(number) if resp3 => field("double", Value::Number(number))?,
        Reply::Double(number) => string(format_double(number).as_bytes())?,
        Reply::HumanDouble(number) if resp3 => field("double", Value::Number(number))?,
        Reply::HumanDouble(number) => string(flotilla_protocol::format_human_double(number).as_bytes())?,
        Reply::Bool(flag) if resp3 => Value::Boolean(flag),
        Reply::Bool(flag) => Value::Number(if flag { 1.0 } else { 0.0 }),
        Reply::Verbatim(format, bytes) if resp3 => {
            let verbatim = lua.create_table()?;
            verbatim.raw_set("format", format)?;
            verbatim.raw_set("string", lua.create_string(&bytes)?)?;
            field("verbatim_string", Value::Table(verbatim))?
        }
        Reply::Verbatim(_, bytes) => string(&bytes)?,
        Reply::BigNumber(text) if resp3 => field("big_number", string(text.as_bytes())?)?,
        Reply::BigNumber(text) => string(text.as_bytes())?,
        Reply::Raw(_) => Value::Boolean(false),
    })
}

/// A script's return value as a reply, by Redis's rules: numbers truncate to integers, true is
/// 1 (RESP3: true), false is nil (RESP3: false), a table with `err` / `ok` is an error /
/// status, with `double` / `map` / `set` / `big_number` / `verbatim_string` the RESP3 type,
/// any other table an array that stops at its first nil.
pub fn lua_to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    match value {
        Value::String(text) => Reply::Bulk(Bytes::copy_from_slice(&text.as_bytes())),
        Value::Boolean(true) if resp3 => Reply::Bool(true),
        Value::Boolean(false) if resp3 => Reply::Bool(false),
        Value::Boolean(true) => Reply::Int(1),
        Value::Integer(number) => Reply::Int(*number),
        Value::Number(number) => Reply::Int(truncate(*number)),
        Value::Table(table) if depth >= REPLY_DEPTH_MAX => {
            let _ = table;
            Reply::error("ERR reached lua stack limit")
        }
        Value::Table(table) => table_to_reply(table, resp3, depth),
        _ => Reply::Nil,
    }
}

/// `(long long)` of a Lua number, as Redis converts: saturating, NaN to the minimum.
fn truncate(number: f64) -> i64 {
    if number.is_nan() {
        i64::MIN
    } else {
        number as i64
    }
}

fn table_to_reply(table: &Table, resp3: bool, depth: usize) -> Reply {
    let get = |name: &str| table.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(text) = get("err") {
        return Reply::error_owned(sanitize(&text.to_string_lossy()));
    }
    if let Value::String(text) = get("ok") {
        return Reply::Simple(sanitize(&text.to_string_lossy()).into());
    }
    match get("double") {
        Value::Number(number) => return Reply::Double(number),
        Value::Integer(number) => return Reply::Double(number as f64),
        _ => {}
    }
    if let Value::String(text) = get("big_number") {
        return Reply::BigNumber(sanitize(&text.to_string_lossy()));
    }
    if let Value::Table(map) = get("map") {
        let mut pairs = Vec::new();
        for pair in map.pairs::<Value, Value>() {
            let Ok((key, value)) = pair else { break };
            pairs.push((lua_to_reply(&key, resp3, depth + 1), lua_to_reply(&value, resp3, depth + 1)));
        }
        return Reply::Map(pairs);
    }
    if let Value::Table(set) = get("set") {
        let mut members = Vec::new();
        for pair in set.pairs::<Value, Value>() {
            let Ok((member, _)) = pair else { break };
            members.push(lua_to_reply(&member, resp3, depth + 1));
        }
        return Reply::Set(members);
    }
    if let Value::Table(verbatim) = get("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (verbatim.raw_get::<Value>("format"), verbatim.raw_get::<Value>("string"))
        {
            let format = match &format.as_bytes()[..] {
                b"mkd" => "mkd",
                _ => "txt",
            };
            return Reply::Verbatim(format, Bytes::copy_from_slice(&text.as_bytes()));
        }
    }
    let mut items = Vec::new();
    for position in 1.. {
        match table.raw_get::<Value>(position) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(item) => items.push(lua_to_reply(&item, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// Redis's `math.random`: the 48-bit linear congruential generator of `lrand48`, reduced as
/// `redis_math_random` reduces it.
const LRAND48_MAX: u32 = i32::MAX as u32;
const LRAND48_MASK: u64 = (1 << 48) - 1;

fn lrand48_seed(seed: i32) -> u64 {
    ((u64::from(seed as u32)) << 16 | 0x330E) & LRAND48_MASK
}

/// The next state and its 31-bit output.
fn lrand48_next(state: u64) -> (u64, u32) {
    let next = state.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & LRAND48_MASK;
    (next, (next >> 17) as u32)
}

/// Lua glue run before the script (its own chunk, `flotilla_prelude`): the `redis` table,
/// Redis's `math.random`, the error handler that adds the script line to errors, `pcall`
/// that cannot catch the instruction budget, and the protection of globals.
const PRELUDE: &str = r#"
local call_raising, call_protected, take_call_error, budget_spent, setresp_raw, sha1hex_raw, next_random, seed_random, keys, argv, mode, function_name, chunk_source, acl_check = ...
local dbg = debug
local rawget, next, setfenv, string_lower, string_find = rawget, next, setfenv, string.lower, string.find
local error, type, select, tostring, tonumber, unpack, floor = error, type, select, tostring, tonumber, unpack, math.floor
local raw_pcall, raw_xpcall, raw_loadstring, raw_setmetatable = pcall, xpcall, loadstring, setmetatable
local coroutine_resume = coroutine.resume

local function error_table(message)
  message = tostring(message)
  if message:sub(1, 1) == '-' then message = message:sub(2) end
  if not message:find(' ', 1, true) then message = 'ERR ' .. message end
  return {err = message}
end

local budget_error = {err = 'ERR budget'}
local function check_budget()
  if budget_spent() then error(budget_error) end
end

redis = {}
redis.call = call_raising
redis.pcall = call_protected
redis.acl_check_cmd = acl_check
redis.error_reply = function(...)
  local message = ...
  if select('#', ...) ~= 1 or type(message) ~= 'string' then
    return error_table('wrong number or type of arguments')
  end
  return error_table(message)
end
redis.status_reply = function(...)
  local message = ...
  if select('#', ...) ~= 1 or type(message) ~= 'string' then
    return error_table('wrong number or type of arguments')
  end
  return {ok = message}
end
redis.sha1hex = function(...)
  local text = ...
  if select('#', ...) ~= 1 then error(error_table('wrong number of arguments')) end
  return sha1hex_raw(tostring(text))
end
redis.log = function(...)
  if select('#', ...) < 2 then error(error_table('redis.log() requires two arguments or more.')) end
  if type((...)) ~= 'number' then error(error_table('First argument must be a number (log level).')) end
end
redis.setresp = function(...)
  local version = ...
  if select('#', ...) ~= 1 then error(error_table('redis.setresp() requires one argument.')) end
  if version ~= 2 and version ~= 3 then error(error_table('RESP version must be 2 or 3.')) end
  setresp_raw(version)
end
redis.set_repl = function(...)
  local flags = ...
  if select('#', ...) ~= 1 then error(error_table('redis.set_repl() requires one argument.')) end
  if type(flags) ~= 'number' or flags < 0 or flags > 3 then
    error(error_table("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."))
  end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = '7.2.4', 0x070204

local function to_int(value, position, name)
  local number = tonumber(value)
  if number == nil then
    error("bad argument #" .. position .. " to '" .. name .. "' (number expected, got " .. type(value) .. ")", 3)
  end
  return number >= 0 and floor(number) or -floor(-number)
end
math.random = function(...)
  local count = select('#', ...)
  local r = next_random()
  if count == 0 then return r end
  if count == 1 then
    local upper = to_int((...), 1, 'random')
    if upper < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * upper) + 1
  end
  if count == 2 then
    local lower, upper = ...
    lower, upper = to_int(lower, 1, 'random'), to_int(upper, 2, 'random')
    if lower > upper then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (upper - lower + 1)) + lower
  end
  error('wrong number of arguments', 2)
end
math.randomseed = function(seed)
  seed_random(to_int(seed, 1, 'randomseed'))
end

-- The instruction budget and the memory limit end the script: pcall, xpcall and
-- coroutine.resume re-raise them instead of returning them.
local function pass(ok, ...)
  check_budget()
  if ok then return ok, ... end
  local err = ...
  if type(err) == 'userdata' then
    local text = take_call_error()
    if text then err = {err = text} end
  end
  return false, err
end
pcall = function(...) return pass(raw_pcall(...)) end
xpcall = function(...) return pass(raw_xpcall(...)) end
coroutine.resume = function(...) return pass(coroutine_resume(...)) end

-- unpack with a huge range (unpack(t, 0, 2147483647)) makes Lua 5.1 overflow its count
-- and crash the process, on every replica at once; refuse it first, as Redis's patched Lua
-- does, with the same message.
-- The arguments go through as given: each one passed on takes a slot of the 8000 Lua lets a
-- C function use, and unpack of 7999 values with one argument fits, as in Redis.
local raw_unpack = unpack
_G.unpack = function(...)
  local list, first, last = ...
  if type(list) ~= 'table' then
    error("bad argument #1 to 'unpack' (table expected, got " .. (list == nil and 'no value' or type(list)) .. ")", 2)
  end
  first = first == nil and 1 or floor(tonumber(first) or error("bad argument #2 to 'unpack' (number expected, got " .. type(first) .. ")", 2))
  last = last == nil and #list or floor(tonumber(last) or error("bad argument #3 to 'unpack' (number expected, got " .. type(last) .. ")", 2))
  if first > last then return end
  if last - first >= 8000 then error('too many results to unpack', 2) end
  return raw_unpack(...)
end

-- No binary chunks, no files.
loadstring = function(text, name)
  if type(text) == 'string' and text:byte(1) == 27 then return nil, 'binary chunks are not allowed' end
  return raw_loadstring(text, name)
end
load = function(reader, name)
  local parts = {}
  while true do
    local part = reader()
    if part == nil or part == '' then break end
    parts[#parts + 1] = part
  end
  return loadstring(table.concat(parts), name)
end
dofile, loadfile, print, debug, gcinfo = nil, nil, nil, nil, nil

if mode == 'eval' then KEYS, ARGV = keys, argv end

-- The libraries' tables are read-only, as in Redis: each global is an empty proxy.
local function readonly(target)
  return raw_setmetatable({}, {
    __index = target,
    __newindex = function() error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  })
end
redis, cjson, bit, struct, cmsgpack = readonly(redis), readonly(cjson), readonly(bit), readonly(struct), readonly(cmsgpack)

-- Globals are read-only, and reading an unknown one is an error, as in Redis.
local globals = _G
raw_setmetatable(globals, {
  __index = function(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
  __newindex = function()
    error('Attempt to modify a readonly table', 2)
  end,
  __metatable = false,
})
-- A script runs in an empty proxy of the globals, so assigning any global, existing ones
-- (`redis = …`, `_G = …`) included, is refused; what getmetatable gives for it and for
-- strings is read-only too (Redis 7's readonly tables).
local readonly_metatable = raw_setmetatable({}, {
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})
local eval_env = raw_setmetatable({}, {
  __index = globals,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = readonly_metatable,
})
rawset(globals, '_G', eval_env)
dbg.getmetatable('').__metatable = readonly_metatable
setmetatable = function(target, metatable)
  if target == globals or target == eval_env then error('Attempt to modify a readonly table', 2) end
  return raw_setmetatable(target, metatable)
end

-- The error handler: an error becomes {err=..., source=..., line=...}, naming the line of
-- the script that raised it.
local function handler(err)
  if err == budget_error or budget_spent() then return budget_error end
  if type(err) == 'userdata' then
    local text = take_call_error()
    if text then err = {err = text} end
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  for level = 2, 64 do
    local info = dbg.getinfo(level, 'Sl')
    if not info then break end
    if info.source == chunk_source then
      err.source, err.line = info.source, info.currentline
      break
    end
  end
  return err
end

-- Redis Functions. A library's code runs with a load-time API only: its globals hold
-- nothing but a `redis` table of register_function, log, the LOG_* levels and the version
-- (anything else is a nonexistent global). The functions it registers run later with the
-- ordinary globals. Both see one environment table whose lookups switch with `loading`,
-- as Redis switches the __index of its globals around a load.
local function readonly_error() error('Attempt to modify a readonly table', 2) end
local loading = false
local registered, registered_list = {}, {}
local flag_bits = {['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4, ['no-cluster'] = 8, ['allow-cross-slot-keys'] = 16}
local function register_error(message) error({err = 'ERR ' .. message}) end
local function is_text(value) return type(value) == 'string' or type(value) == 'number' end
local function read_flags(flags)
  local mask, position = 0, 1
  while true do
    local flag = flags[position]
    if flag == nil then return mask end
    if not is_text(flag) then return nil end
    local bit_value = flag_bits[string_lower(tostring(flag))]
    if not bit_value then return nil end
    if mask % (bit_value * 2) < bit_value then mask = mask + bit_value end
    position = position + 1
  end
end
local function register_function(...)
  if not loading then register_error('redis.register_function can only be called on FUNCTION LOAD command') end
  local count = select('#', ...)
  if count < 1 or count > 2 then register_error('wrong number of arguments to redis.register_function') end
  local name, callback, description, flags = nil, nil, nil, 0
  if count == 1 then
    local named = ...
    if type(named) ~= 'table' then
      register_error('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for key, value in next, named do
      if not is_text(key) then register_error('named argument key given to redis.register_function is not a string') end
      local lower = string_lower(tostring(key))
      if lower == 'function_name' then
        if not is_text(value) then register_error('function_name argument given to redis.register_function must be a string') end
        name = tostring(value)
      elseif lower == 'description' then
        if not is_text(value) then register_error('description argument given to redis.register_function must be a string') end
        description = tostring(value)
      elseif lower == 'callback' then
        if type(value) ~= 'function' then register_error('callback argument given to redis.register_function must be a function') end
        callback = value
      elseif lower == 'flags' then
        if type(value) ~= 'table' then register_error('flags argument to redis.register_function must be a table representing function flags') end
        flags = read_flags(value)
        if not flags then register_error('unknown flag given') end
      else
        register_error('unknown argument given to redis.register_function')
      end
    end
    if name == nil then register_error('redis.register_function must get a function name argument') end
    if callback == nil then register_error('redis.register_function must get a callback argument') end
  else
    local first, second = ...
    if not is_text(first) then register_error('first argument to redis.register_function must be a string') end
    if type(second) ~= 'function' then register_error('second argument to redis.register_function must be a function') end
    name, callback = tostring(first), second
  end
  if name == '' or string_find(name, '[^%w_]') then
    register_error('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  if registered[name] then register_error('Function already exists in the library') end
  registered[name] = callback
  registered_list[#registered_list + 1] = {name = name, description = description, flags = flags}
end
local load_api = {
  register_function = register_function, log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE, LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local load_redis = raw_setmetatable({}, {
  __index = function(_, name)
    local value = load_api[name]
    if value == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end
    return value
  end,
  __newindex = readonly_error,
  __metatable = false,
})
local function_env = raw_setmetatable({}, {
  __index = function(_, name)
    if loading then
      if name == 'redis' then return load_redis end
    else
      local value = rawget(globals, name)
      if value ~= nil then return value end
    end
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
  __newindex = readonly_error,
  __metatable = false,
})
local function run_library(library)
  setfenv(library, function_env)
  loading = true
  library()
  loading = false
  if mode == 'load' then
    if #registered_list == 0 then return nil end
    return registered_list
  end
  local callback = registered[function_name]
  if not callback then error({err = 'ERR Function not found'}) end
  return callback(keys, argv)
end

return function(chunk)
  if mode == 'eval' then return raw_xpcall(setfenv(chunk, eval_env), handler) end
  return raw_xpcall(function() return run_library(chunk) end, handler)
end
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Entry, Op, StateMachine};

    fn command(parts: &[&str]) -> Op {
        Op::Command { db: 0, args: parts.iter().map(|part| Bytes::copy_from_slice(part.as_bytes())).collect() }
    }

    fn apply(machine: &mut StateMachine, index: u64, ops: Vec<Op>) -> Vec<Reply> {
        machine.apply(index, &Entry { time_ms: 1_700_000_000_123, ops }, &mut Vec::new())
    }

    fn eval(machine: &mut StateMachine, index: u64, script: &str, rest: &[&str]) -> Reply {
        let mut parts = vec!["EVAL", script];
        parts.extend_from_slice(rest);
        apply(machine, index, vec![command(&parts)]).pop().unwrap()
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// A user who may run `+@scripting +set +get` on keys `x*` only.
    fn restricted() -> Box<crate::acl::ScriptUser> {
        use crate::acl::{KeyPattern, Rule, Selector};
        let rules = ["scripting"].iter().map(|c| Rule::Category { allow: true, name: c.to_string() });
        let commands = ["set", "get"].iter().map(|c| Rule::Command { allow: true, name: c.to_string() });
        Box::new(crate::acl::ScriptUser {
            name: "bob".into(),
            node: 3,
            client: 42,
            selectors: vec![Selector {
                rules: rules.chain(commands).collect(),
                keys: vec![KeyPattern { read: true, write: true, pattern: b"x*".to_vec() }],
                ..Selector::default()
            }],
        })
    }

    fn eval_as(machine: &mut StateMachine, index: u64, script: &str, rest: &[&str], events: &mut Vec<Event>) -> Reply {
        let mut parts = vec!["EVAL", script];
        parts.extend_from_slice(rest);
        let op = Op::AsUser { user: restricted(), op: Box::new(command(&parts)) };
        machine.apply(index, &Entry { time_ms: 1_700_000_000_123, ops: vec![op] }, events).pop().unwrap()
    }

    /// A restricted user's script runs only what the user may run, with Redis 7.0's errors,
    /// and each refusal is reported for the sender's ACL LOG; an unrestricted one (no user
    /// attached) is not checked.
    #[test]
    fn a_restricted_users_script_is_checked_against_its_permissions() {
        let mut machine = StateMachine::new();
        let mut events = Vec::new();
        assert_eq!(eval_as(&mut machine, 1, "return redis.call('set', 'xa', 1)", &["0"], &mut events), Reply::ok());
        let reply = eval_as(&mut machine, 2, "return redis.call('incr', 'xa')", &["0"], &mut events);
        assert!(
            matches!(&reply, Reply::Error(text) if text.starts_with("ERR The user executing the script can't run this command or subcommand script: ") && text.ends_with(", on @user_script:1.")),
            "{reply:?}"
        );
        let denied: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::ScriptAclDenied { .. })).collect();
        assert_eq!(
            denied,
            vec![&Event::ScriptAclDenied {
                node: 3,
                client: 42,
                user: "bob".into(),
                reason: "command",
                object: Bytes::from_static(b"incr"),
            }]
        );
        let reply = eval_as(&mut machine, 3, "return redis.pcall('set', 'ya', 1)", &["0"], &mut events);
        assert_eq!(
            reply,
            Reply::error("ERR The user executing the script can't access at least one of the keys mentioned in the command arguments")
        );
        assert!(events.iter().any(|e| matches!(e, Event::ScriptAclDenied { reason: "key", object, .. } if object == "ya")));
        // A refused command did not run: ya is still absent, and the same script of an
        // unrestricted user runs it.
        assert_eq!(eval(&mut machine, 4, "return redis.call('exists', 'ya')", &["0"]), Reply::Int(0));
        assert_eq!(eval(&mut machine, 5, "return redis.call('incr', 'xa')", &["0"]), Reply::Int(2));
    }

    /// A script proposed over maxmemory (`Op::OverMemory`) may not run a command that grows
    /// memory before it has written; allow-oom lifts that, reads are never refused.
    #[test]
    fn a_script_proposed_over_maxmemory_may_not_grow_memory_first() {
        let mut machine = StateMachine::new();
        let over = |machine: &mut StateMachine, index, script: &str| {
            let op = Op::OverMemory { op: Box::new(command(&["EVAL", script, "0"])) };
            apply(machine, index, vec![op]).pop().unwrap()
        };
        let oom = "OOM command not allowed when used memory > 'maxmemory'.";
        assert!(matches!(over(&mut machine, 1, "return redis.call('set', 'x', 'y')"), Reply::Error(text) if text.starts_with(oom)));
        assert_eq!(over(&mut machine, 2, "return redis.pcall('set', 'x', 'y')"), Reply::error(oom));
        assert_eq!(over(&mut machine, 3, "return redis.call('get', 'x')"), Reply::Nil);
        // After a write (DEL does not grow memory) the script may not stop halfway.
        assert_eq!(over(&mut machine, 4, "redis.call('del', 'z'); return redis.call('set', 'x', 'y')"), Reply::ok());
        assert_eq!(over(&mut machine, 5, "#!lua flags=allow-oom\nreturn redis.call('set', 'x', 'z')"), Reply::ok());
        assert_eq!(eval(&mut machine, 6, "return redis.call('set', 'x', 'w')", &["0"]), Reply::ok());
    }

    /// A failed call is reported for commandstats (failed or refused) and errorstats, once:
    /// when the script's error reply repeats it, the reply is what counts.
    #[test]
    fn failed_calls_are_reported_once() {
        let mut machine = StateMachine::new();
        let errors = |machine: &mut StateMachine, index, command: &str, script: &str| {
            let mut events = Vec::new();
            let op = command_op(command, script);
            machine.apply(index, &Entry { time_ms: 1, ops: vec![op] }, &mut events);
            events
                .into_iter()
                .filter_map(|event| match event {
                    Event::ScriptCallError { name, rejected, error, counted } => Some((name, rejected, error, counted)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        fn command_op(name: &str, script: &str) -> Op {
            command(&[name, script, "0"])
        }
        let range = "ERR DB index is out of range".to_string();
        assert_eq!(errors(&mut machine, 1, "EVAL", "return redis.call('select', 99)"), vec![("select", false, range.clone(), false)]);
        assert_eq!(errors(&mut machine, 2, "EVAL", "return redis.pcall('select', 99)"), vec![("select", false, range.clone(), false)]);
        assert_eq!(errors(&mut machine, 3, "EVAL", "redis.pcall('select', 99) return 1"), vec![("select", false, range, true)]);
        let read_only = "ERR Write commands are not allowed from read-only scripts.".to_string();
        assert_eq!(errors(&mut machine, 4, "EVAL_RO", "return redis.call('set', 'x', 1)"), vec![("set", true, read_only, false)]);
        // Errors before a command is known (arity, unknown) are the script's alone.
        assert_eq!(errors(&mut machine, 5, "EVAL", "redis.pcall('nosuch') return redis.pcall('get')"), vec![]);
    }

    /// redis.acl_check_cmd answers for the user running the script, without running anything.
    #[test]
    fn acl_check_cmd_answers_for_the_scripts_user() {
        let mut machine = StateMachine::new();
        let mut events = Vec::new();
        let check = |machine: &mut StateMachine, index, script: &str, events: &mut Vec<Event>| {
            eval_as(machine, index, script, &["0"], events)
        };
        assert_eq!(check(&mut machine, 1, "return redis.acl_check_cmd('set', 'xx', 1)", &mut events), Reply::Int(1));
        assert_eq!(check(&mut machine, 2, "return redis.acl_check_cmd('hset', 'xx', 'f', 1)", &mut events), Reply::Nil);
        assert_eq!(check(&mut machine, 3, "return redis.acl_check_cmd('set', 'yy', 1)", &mut events), Reply::Nil);
        let Reply::Error(text) = check(&mut machine, 4, "return redis.acl_check_cmd('invalid-cmd', 'arg')", &mut events) else {
            panic!("an error");
        };
        assert!(text.starts_with("ERR Invalid command passed to redis.acl_check_cmd()"), "{text}");
        assert!(!events.iter().any(|e| matches!(e, Event::ScriptAclDenied { .. })));
        assert_eq!(eval(&mut machine, 5, "return redis.acl_check_cmd('hset', 'yy', 'f', 1)", &["0"]), Reply::Int(1));
        assert!(matches!(
            eval(&mut machine, 6, "return redis.acl_check_cmd()", &["0"]),
            Reply::Error(text) if text.starts_with("ERR Please specify at least one argument for this redis lib call")
        ));
    }

    /// cmsgpack.unpack_one / unpack_limit walk a stream of packed values by offset, -1 at
    /// its end, as lua-cmsgpack does.
    #[test]
    fn cmsgpack_unpacks_a_stream_by_offset() {
        let mut machine = StateMachine::new();
        let script = "local s = cmsgpack.pack('a', 7, {1, 2}) \
                      local o1, a = cmsgpack.unpack_one(s) \
                      local o2, b, c = cmsgpack.unpack_limit(s, 2, o1) \
                      local o3, none = cmsgpack.unpack_limit(s, 1, #s) \
                      return {o1, a, o2, b, c[2], o3, tostring(none)}";
        let reply = eval(&mut machine, 1, script, &["0"]);
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Int(2),
                bulk("a"),
                Reply::Int(-1),
                Reply::Int(7),
                Reply::Int(2),
                Reply::Int(-1),
                bulk("nil"),
            ])
        );
        let reply = eval(&mut machine, 2, "return cmsgpack.unpack_one('a', 5)", &["0"]);
        assert!(matches!(&reply, Reply::Error(text) if text.contains("Start offset 5 greater than input length 1.")), "{reply:?}");
    }

    /// XREAD / XREADGROUP with BLOCK are refused inside a script, as Redis refuses them.
    #[test]
    fn scripts_cannot_ask_xread_to_block() {
        let mut machine = StateMachine::new();
        let reply = eval(&mut machine, 1, "return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')", &["1", "s"]);
        assert_eq!(reply, Reply::error("ERR xread command is not allowed with BLOCK option from scripts"));
        let reply = eval(&mut machine, 2, "return redis.pcall('xread','STREAMS','s','$')", &["1", "s"]);
        assert!(!matches!(reply, Reply::Error(_)), "{reply:?}");
    }

    /// Every command a script ran is reported (for MONITOR), with the database selected after
    /// it; one refused before running (unknown, wrong arity) is not.
    #[test]
    fn commands_a_script_ran_are_reported() {
        let mut machine = StateMachine::new();
        let mut events = Vec::new();
        let script = "redis.call('set', KEYS[1], 'v') redis.pcall('nosuch') redis.pcall('get') \
                      redis.call('select', '2') redis.pcall('incr', KEYS[1]) return 1";
        let op = command(&["EVAL", script, "1", "k"]);
        machine.apply(1, &Entry { time_ms: 1_700_000_000_123, ops: vec![op] }, &mut events);
        let ran: Vec<(usize, Vec<String>)> = events
            .iter()
            .filter_map(|event| match event {
                Event::ScriptCommand { db, args } => Some((
                    *db,
                    args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
                )),
                _ => None,
            })
            .collect();
        let strings = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ran,
            vec![
                (0, strings(&["set", "k", "v"])),
                (2, strings(&["select", "2"])),
                (2, strings(&["incr", "k"])),
            ]
        );
        // It ran no read-only command: nothing for CLIENT TRACKING to remember.
        assert!(!events.iter().any(|event| matches!(event, Event::ScriptRead { .. })));
        let mut events = Vec::new();
        let op = command(&["EVAL", "redis.call('set', 'x', 1) redis.call('get', 'x') redis.call('get', 'y')", "2", "a", "b"]);
        machine.apply(2, &Entry { time_ms: 1_700_000_000_123, ops: vec![op] }, &mut events);
        let reads: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::ScriptRead { .. })).collect();
        assert_eq!(reads, vec![&Event::ScriptRead { keys: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")] }]);
    }

    #[test]
    fn lua_values_become_replies_by_redis_rules() {
        let mut machine = StateMachine::new();
        let cases: &[(&str, Reply)] = &[
            ("return 3.99", Reply::Int(3)),
            ("return -3.99", Reply::Int(-3)),
            ("return 'x'", bulk("x")),
            ("return true", Reply::Int(1)),
            ("return false", Reply::Nil),
            ("return nil", Reply::Nil),
            ("return {1, 2, nil, 4}", Reply::Array(vec![Reply::Int(1), Reply::Int(2)])),
            ("return {ok='fine'}", Reply::Simple("fine".into())),
            ("return {err='MYERR bad'}", Reply::error("MYERR bad")),
            ("return redis.error_reply('My Error')", Reply::error("My Error")),
            ("return redis.error_reply('boom')", Reply::error("ERR boom")),
            ("return redis.status_reply('DONE')", Reply::Simple("DONE".into())),
            ("return {1, {2, 'a'}, true}", Reply::Array(vec![Reply::Int(1), Reply::Array(vec![Reply::Int(2), bulk("a")]), Reply::Int(1)])),
            ("return redis.sha1hex('')", bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")),
            ("return {double=1.5}", Reply::Double(1.5)),
            ("redis.setresp(3); return false", Reply::Bool(false)),
        ];
        for (index, (script, expected)) in cases.iter().enumerate() {
            assert_eq!(&eval(&mut machine, index as u64 + 1, script, &["0"]), expected, "{script}");
        }
    }

    #[test]
    fn command_replies_become_lua_values() {
        let mut machine = StateMachine::new();
        apply(&mut machine, 1, vec![command(&["RPUSH", "list", "a", "b"]), command(&["HSET", "h", "f", "v"])]);
        let cases: &[(&str, Reply)] = &[
            ("return redis.call('GET', 'missing') == false", Reply::Int(1)),
            ("return type(redis.call('LLEN', 'list'))", bulk("number")),
            ("return redis.call('LRANGE', 'list', 0, -1)", Reply::Array(vec![bulk("a"), bulk("b")])),
            ("return redis.call('SET', 'k', 'v').ok", bulk("OK")),
            ("return redis.pcall('INCR', 'list').err", bulk("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("return redis.call('HGETALL', 'h')", Reply::Array(vec![bulk("f"), bulk("v")])),
            ("redis.setresp(3); return redis.call('HGETALL', 'h').map.f", bulk("v")),
            ("redis.setresp(3); return redis.call('GET', 'missing') == nil", Reply::Bool(true)),
            ("return redis.call('TIME')", Reply::Array(vec![bulk("1700000000"), bulk("123000")])),
            ("return redis.call('SET', KEYS[1], ARGV[1] + 1)", Reply::Simple("OK".into())),
        ];
        for (index, (script, expected)) in cases.iter().enumerate() {
            assert_eq!(&eval(&mut machine, index as u64 + 2, script, &["1", "n", "41"]), expected, "{script}");
        }
        assert_eq!(apply(&mut machine, 100, vec![command(&["GET", "n"])]), vec![bulk("42")]);
    }

    #[test]
    fn errors_read_as_redis_words_them() {
        let mut machine = StateMachine::new();
        let sha = crate::sha1::sha1_hex(b"return a");
        assert_eq!(
            eval(&mut machine, 1, "return a", &["0"]),
            Reply::error_owned(format!(
                "ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: {sha}, on @user_script:1."
            ))
        );
        let Reply::Error(text) = eval(&mut machine, 2, "a = 1", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR user_script:1: Attempt to modify a readonly table script:"), "{text}");
        let Reply::Error(text) = eval(&mut machine, 3, "\nreturn redis.call('INCR')", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR Wrong number of args calling Redis command from script script:"), "{text}");
        assert!(text.ends_with("on @user_script:2."), "{text}");
        let Reply::Error(text) = eval(&mut machine, 4, "return redis.call('nosuch')", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR Unknown Redis command called from script"), "{text}");
        let Reply::Error(text) = eval(&mut machine, 5, "return redis.call('EVAL', 'return 1', 0)", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR This Redis command is not allowed from script"), "{text}");
        let Reply::Error(text) = eval(&mut machine, 6, "return +", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR Error compiling script (new function): user_script:1:"), "{text}");
        let Reply::Error(text) = eval(&mut machine, 7, "#!lua flags=no-writes\nreturn redis.call('SET', 'a', 'b')", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR Write commands are not allowed from read-only scripts."), "{text}");
        assert!(text.ends_with("on @user_script:2."), "{text}");
        let Reply::Error(text) = eval(&mut machine, 8, "return redis.call('SET', {}, 'b')", &["0"]) else { panic!() };
        assert!(text.starts_with("ERR Lua redis lib command arguments must be strings or integers"), "{text}");
        assert_eq!(eval(&mut machine, 9, "return 1", &["2", "a"]), Reply::error("ERR Number of keys can't be greater than number of args"));
        assert_eq!(eval(&mut machine, 10, "return 1", &["-1"]), Reply::error("ERR Number of keys can't be negative"));
        assert_eq!(eval(&mut machine, 11, "#!python\nreturn 1", &["0"]), Reply::error("ERR Unexpected engine in script shebang: python"));
    }

    #[test]
    fn writes_before_an_error_stay() {
        let mut machine = StateMachine::new();
        let Reply::Error(_) = eval(&mut machine, 1, "redis.call('SET', 'a', '1'); return redis.call('INCR', 'nope', 'x')", &["0"]) else {
            panic!()
        };
        assert_eq!(apply(&mut machine, 2, vec![command(&["GET", "a"])]), vec![bulk("1")]);
    }

    #[test]
    fn a_script_that_never_ends_is_stopped_everywhere_alike() {
        let mut machine = StateMachine::new();
        assert_eq!(eval(&mut machine, 1, "while true do end", &["0"]), Reply::error(SCRIPT_BUDGET_ERROR));
        // pcall cannot swallow the budget.
        let script = "while true do pcall(function() while true do end end) end";
        assert_eq!(eval(&mut machine, 2, script, &["0"]), Reply::error(SCRIPT_BUDGET_ERROR));
        let script = "local n = 0 while true do n = n + 1 redis.call('SET', 'counter', n) end";
        assert_eq!(eval(&mut machine, 3, script, &["0"]), Reply::error(SCRIPT_BUDGET_ERROR));
        let stopped_at = apply(&mut machine, 4, vec![command(&["GET", "counter"])]);
        let mut other = StateMachine::new();
        eval(&mut other, 1, "while true do end", &["0"]);
        eval(&mut other, 2, "while true do pcall(function() while true do end end) end", &["0"]);
        eval(&mut other, 3, script, &["0"]);
        assert_eq!(apply(&mut other, 4, vec![command(&["GET", "counter"])]), stopped_at);
        // Strings of distinct lengths: Lua 5.1 hashes a long string from ~32 of its bytes, so
        // strings that differ elsewhere all collide and interning them is quadratic (as in
        // Redis, and inside one instruction, where the budget does not look).
        let script = "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000 + i) end";
        assert_eq!(eval(&mut machine, 5, script, &["0"]), Reply::error(SCRIPT_MEMORY_ERROR));
    }

    #[test]
    fn two_machines_compute_the_same() {
        let script = "local out = {} for i = 1, 5 do out[i] = math.random(1000) end \
                      redis.call('SET', KEYS[1], table.concat(out, ',')) \
                      redis.call('SADD', KEYS[2], 'a', 'b', 'c', 'd') \
                      out[6] = redis.call('SPOP', KEYS[2]) \
                      out[7] = redis.call('TIME')[1] \
                      math.randomseed(7) out[8] = math.random() * 1e9 \
                      return out";
        let mut first = StateMachine::new();
        let mut second = StateMachine::new();
        let one = eval(&mut first, 1, script, &["2", "k", "s"]);
        let two = eval(&mut second, 1, script, &["2", "k", "s"]);
        assert_eq!(one, two);
        assert_eq!(first.snapshot(), second.snapshot());
        // Runs from other entries draw other numbers (Redis 7 no longer reseeds with 0), the
        // same on both machines.
        let draw = "local out = {} for i = 1, 5 do out[i] = math.random(1000) end return table.concat(out, ',')";
        let again = eval(&mut first, 2, draw, &["0"]);
        assert_eq!(again, eval(&mut second, 2, draw, &["0"]));
        let Reply::Array(items) = &one else { panic!() };
        let Reply::Bulk(set) = apply(&mut first, 3, vec![command(&["GET", "k"])]).pop().unwrap() else { panic!() };
        assert_ne!(again, Reply::Bulk(set), "a run repeated the sequence of an earlier one");
        assert_eq!(items.len(), 8);
    }

    /// SORT of a set without sorting (BY a constant) hands a script the elements sorted,
    /// as Redis does for scripts; a client gets them in the set's order.
    #[test]
    fn sort_by_a_constant_is_ordered_for_scripts() {
        let mut machine = StateMachine::new();
        apply(&mut machine, 1, vec![command(&["SADD", "s", "b", "aa", "c", "a"])]);
        let sorted = eval(&mut machine, 2, "return redis.call('SORT', KEYS[1], 'BY', '_')", &["1", "s"]);
        assert_eq!(sorted, Reply::Array(["a", "aa", "b", "c"].iter().map(|e| bulk(e)).collect()));
        let plain = apply(&mut machine, 3, vec![command(&["SORT", "s", "BY", "_"])]).pop().unwrap();
        assert_eq!(plain, Reply::Array(["b", "aa", "c", "a"].iter().map(|e| bulk(e)).collect()));
    }

    /// No global can be replaced, nor the metatables a script can reach changed.
    #[test]
    fn globals_and_reachable_metatables_are_read_only() {
        let mut machine = StateMachine::new();
        for (index, script) in [
            "redis = function() return 1 end",
            "_G = {}",
            "_G.redis = 1",
            "local g = getmetatable(_G) g.__index = {}",
            "getmetatable('').__index = function() return 1 end",
            "setmetatable(_G, {})",
            "function f() end",
        ]
        .into_iter()
        .enumerate()
        {
            let reply = eval(&mut machine, index as u64 + 1, script, &["0"]);
            assert!(
                matches!(&reply, Reply::Error(text) if text.contains("Attempt to modify a readonly table")),
                "{script}: {reply:?}"
            );
        }
        // Reading them still works, and so do locals and an unknown global's error.
        let script = "local t = {} t.x = 1 return {redis.call('PING'), _G.KEYS[1], t.x, type(getfenv().redis), string.len('abc')}";
        assert_eq!(
            eval(&mut machine, 20, script, &["1", "k"]),
            Reply::Array(vec![Reply::simple("PONG"), bulk("k"), Reply::Int(1), bulk("table"), Reply::Int(3)])
        );
    }

    #[test]
    fn print_is_gone_and_unpack_fills_the_c_stack_as_redis() {
        let mut machine = StateMachine::new();
        let reply = eval(&mut machine, 1, "print('x')", &["0"]);
        assert!(
            matches!(&reply, Reply::Error(text) if text.contains("Script attempted to access nonexistent global variable 'print'")),
            "{reply:?}"
        );
        let script = "local a = {} for i = 1, 7999 do a[i] = 1 end return redis.call('RPUSH', KEYS[1], unpack(a))";
        assert_eq!(eval(&mut machine, 2, script, &["1", "l"]), Reply::Int(7999));
        let script = "local a = {} for i = 1, 9000 do a[i] = 1 end return #{unpack(a, 1, 8001)}";
        let reply = eval(&mut machine, 3, script, &["0"]);
        assert!(matches!(&reply, Reply::Error(text) if text.contains("too many results to unpack")), "{reply:?}");
        assert_eq!(eval(&mut machine, 4, "return {unpack({1, 2, 3}, 2)}", &["0"]), Reply::Array(vec![Reply::Int(2), Reply::Int(3)]));
    }

    #[test]
    fn cmsgpack_packs_tables_larger_than_the_lua_stack() {
        let mut machine = StateMachine::new();
        let script = "local array, map = {}, {} for i = 1, 100000 do array[i] = i map[tostring(i)] = 'v' .. i end \
                      local a, m = cmsgpack.unpack(cmsgpack.pack(array, map)) return {#a, a[100000], m['99999']}";
        assert_eq!(
            eval(&mut machine, 1, script, &["0"]),
            Reply::Array(vec![Reply::Int(100000), Reply::Int(100000), bulk("v99999")])
        );
    }

    #[test]
    fn cmsgpack_packs_and_unpacks_as_redis() {
        let mut machine = StateMachine::new();
        // msgpack.dumps({"name": "Joe"}), as redis-py's test sends it.
        let script = "local message = cmsgpack.unpack(ARGV[1]) return 'hello ' .. message['name']";
        let mut args = vec![Bytes::from_static(b"EVAL"), Bytes::copy_from_slice(script.as_bytes()), Bytes::from_static(b"0")];
        args.push(Bytes::from_static(b"\x81\xa4name\xa3Joe"));
        let reply = machine.apply(1, &Entry { time_ms: 1, ops: vec![Op::Command { db: 0, args }] }, &mut Vec::new());
        assert_eq!(reply, vec![bulk("hello Joe")]);
        let packed = eval(&mut machine, 2, "return cmsgpack.pack({1, 2.5, 'x', true}, -1, 300, {a = false})", &["0"]);
        let expected: &[u8] = b"\x94\x01\xca\x40\x20\x00\x00\xa1x\xc3\xff\xcd\x01\x2c\x81\xa1a\xc2";
        assert_eq!(packed, Reply::Bulk(Bytes::from_static(expected)));
        let round = eval(&mut machine, 3, "local t = cmsgpack.unpack(cmsgpack.pack({10, {20, 'y'}})) return {t[1], t[2][1], t[2][2]}", &["0"]);
        assert_eq!(round, Reply::Array(vec![Reply::Int(10), Reply::Int(20), bulk("y")]));
    }

    /// A huge unpack range is an error, not a crash of every replica.
    #[test]
    fn unpack_refuses_huge_ranges() {
        let mut machine = StateMachine::new();
        for (index, range) in ["-2, 2147483647", "0, 2147483647", "-2147483648, -2"].iter().enumerate() {
            let script = format!("return {{unpack({{1,2,3}}, {range})}}");
            let Reply::Error(text) = eval(&mut machine, index as u64 + 1, &script, &["0"]) else { panic!("{range}") };
            assert!(text.contains("too many results to unpack"), "{text}");
        }
        let script = "local t = {unpack({1,2,3}, -1, 5)} return {select('#', unpack({1,2,3}, -1, 5)), t[3], t[5]}";
        assert_eq!(eval(&mut machine, 10, script, &["0"]), Reply::Array(vec![Reply::Int(7), Reply::Int(1), Reply::Int(3)]));
        assert_eq!(eval(&mut machine, 11, "return {unpack({1,2,3}, 1, -1)}", &["0"]), Reply::Array(vec![]));
        assert_eq!(eval(&mut machine, 12, "return {unpack({1,2,3})}", &["0"]), Reply::Array(vec![Reply::Int(1), Reply::Int(2), Reply::Int(3)]));
    }

    #[test]
    fn lrand48_is_the_c_library_sequence() {
        // srand48(0); lrand48() x3 on glibc.
        let mut state = lrand48_seed(0);
        let mut out = Vec::new();
        for _ in 0..3 {
            let (next, value) = lrand48_next(state);
            state = next;
            out.push(value);
        }
        assert_eq!(out, vec![366_850_414, 1_610_402_240, 206_956_554]);
    }
}
