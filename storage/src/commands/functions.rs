//! Redis Functions: FCALL, FCALL_RO and the FUNCTION container (LOAD, DELETE, FLUSH, LIST,
//! DUMP, RESTORE, STATS, KILL, HELP). The registry is `crate::functions`, the engine
//! `crate::lua` (`Program::Load` to register, `Program::Function` to call).
//!
//! The libraries are replicated state: LOAD, DELETE, FLUSH and RESTORE are writes proposed as
//! log entries, so every replica runs the same load and holds the same libraries, and
//! snapshots carry them. LIST, DUMP, STATS and KILL go through the read path. FCALL is
//! proposed like EVAL (flagged write; a `no-writes` function then may not write); FCALL_RO
//! goes through the read path and refuses a function without the `no-writes` flag, as Redis.
//! FLUSHALL leaves the libraries alone, as in Redis.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{is, parse_i64};
use crate::ctx::Ctx;
use crate::functions::{self, FunctionFlags, Libraries, Library};
use crate::lua::{self, Access, Program, Script};
use crate::table::{keys_after_numkeys, CommandSpec, Flags, Handler, KeyFlags};

pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
pub const LIBRARY_NOT_FOUND: &str = "ERR Library not found";
const WRITE_FLAG_ON_RO: &str = "ERR Can not execute a script with write flag using *_ro command.";

fn syntax_error(subcommand: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{subcommand}'. Try FUNCTION HELP."
    ))
}

/// Builds a library from its payload: metadata, name, engine, then its code's registrations.
/// `refuse_loaded` refuses a name already loaded before running any code (LOAD without
/// REPLACE), as Redis does.
fn create_library(ctx: &mut Ctx, code: &Bytes, refuse_loaded: bool) -> Result<Library, Reply> {
    let (engine, name) = functions::parse_metadata(code).map_err(|text| Reply::error_owned(format!("ERR {text}")))?;
    if !functions::valid_name(name.as_bytes()) {
        return Err(Reply::error_owned(format!("ERR {}", functions::INVALID_NAME)));
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(Reply::error_owned(format!("ERR Engine '{engine}' not found")));
    }
    if refuse_loaded && ctx.keyspace.libraries.get(&name).is_some() {
        return Err(Reply::error_owned(format!("ERR Library '{name}' already exists")));
    }
    let functions = lua::load_library(ctx, code)?;
    Ok(Library { name, code: code.clone(), functions })
}

/// FUNCTION LOAD [REPLACE] code
fn function_load(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut replace = false;
    for option in &args[2..args.len() - 1] {
        if is(option, "REPLACE") {
            replace = true;
        } else {
            return Reply::error_owned(format!("ERR Unknown option given: {}", String::from_utf8_lossy(option)));
        }
    }
    let code = &args[args.len() - 1];
    let library = match create_library(ctx, code, !replace) {
        Ok(library) => library,
        Err(reply) => return reply,
    };
    let name = library.name.clone();
    match ctx.keyspace.libraries.join(vec![library], replace, true) {
        Ok(()) => Reply::Bulk(Bytes::from(name)),
        Err(text) => Reply::error_owned(format!("ERR {text}")),
    }
}

fn function_delete(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.keyspace.libraries.remove(&String::from_utf8_lossy(&args[2])) {
        Some(_) => Reply::ok(),
        None => Reply::error(LIBRARY_NOT_FOUND),
    }
}

fn function_flush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return syntax_error("flush");
    }
    if args.len() == 3 && !is(&args[2], "ASYNC") && !is(&args[2], "SYNC") {
        return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    ctx.keyspace.libraries.clear();
    Reply::ok()
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
fn function_list(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut position = 2;
    while position < args.len() {
        let arg = &args[position];
        if !with_code && is(arg, "WITHCODE") {
            with_code = true;
        } else if pattern.is_none() && is(arg, "LIBRARYNAME") {
            if position + 1 >= args.len() {
                return Reply::error("ERR library name argument was not given");
            }
            position += 1;
            pattern = Some(&args[position]);
        } else {
            let text = String::from_utf8_lossy(arg).replace(['\r', '\n'], " ");
            return Reply::error_owned(format!("ERR Unknown argument {text}"));
        }
        position += 1;
    }
    let bulk = |text: &str| Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()));
    let libraries = ctx
        .keyspace
        .libraries
        .iter()
        .filter(|library| pattern.is_none_or(|pattern| crate::glob::matches(pattern, library.name.as_bytes(), true)))
        .map(|library| {
            let functions = library
                .functions
                .iter()
                .map(|function| {
                    Reply::Map(vec![
                        (bulk("name"), bulk(&function.name)),
                        (bulk("description"), function.description.clone().map_or(Reply::Nil, Reply::Bulk)),
                        (bulk("flags"), Reply::Set(function.flags.names().into_iter().map(Reply::simple).collect())),
                    ])
                })
                .collect();
            let mut fields = vec![
                (bulk("library_name"), bulk(&library.name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((bulk("library_code"), Reply::Bulk(library.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Reply::Array(libraries)
}

fn function_dump(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Bulk(Bytes::from(functions::dump(&ctx.keyspace.libraries)))
}

/// FUNCTION RESTORE payload [FLUSH | APPEND | REPLACE]: all libraries of the payload, or none.
fn function_restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return syntax_error("restore");
    }
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy = match args.get(3) {
        None => Policy::Append,
        Some(arg) if is(arg, "APPEND") => Policy::Append,
        Some(arg) if is(arg, "REPLACE") => Policy::Replace,
        Some(arg) if is(arg, "FLUSH") => Policy::Flush,
        Some(_) => return Reply::error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."),
    };
    let Some(codes) = functions::undump(&args[2]) else {
        return Reply::error(functions::BAD_PAYLOAD);
    };
    let mut incoming = Libraries::default();
    for code in &codes {
        let library = match create_library(ctx, code, false) {
            Ok(library) => library,
            Err(reply) => return reply,
        };
        if let Err(text) = incoming.join(vec![library], false, false) {
            return Reply::error_owned(format!("ERR {text}"));
        }
    }
    let incoming: Vec<Library> = incoming.iter().cloned().collect();
    if policy == Policy::Flush {
        ctx.keyspace.libraries.clear();
    }
    match ctx.keyspace.libraries.join(incoming, policy == Policy::Replace, false) {
        Ok(()) => Reply::ok(),
        Err(text) => Reply::error_owned(format!("ERR {text}")),
    }
}

/// No function is ever running when a command is served: a run is part of one entry's apply.
fn function_stats(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let bulk = |text: &str| Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()));
    let libraries = &ctx.keyspace.libraries;
    Reply::Map(vec![
        (bulk("running_script"), Reply::Nil),
        (
            bulk("engines"),
            Reply::Map(vec![(
                bulk("LUA"),
                Reply::Map(vec![
                    (bulk("libraries_count"), Reply::Int(libraries.len() as i64)),
                    (bulk("functions_count"), Reply::Int(libraries.function_count() as i64)),
                ]),
            )]),
        ),
    ])
}

fn function_kill(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

fn function_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running (none ever is: a function runs",
        "    while a log entry is applied):",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function (none ever is; one that runs past its instruction",
        "    budget is stopped).",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE",
        "    command (the payload is Flotilla's own format, not Redis's).",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::simple(line)).collect())
}

/// FCALL / FCALL_RO function numkeys key … arg …
fn fcall_generic(ctx: &mut Ctx, args: &[Bytes], read_only_command: bool) -> Reply {
    let Some((library, function)) = ctx.keyspace.libraries.function(&args[1]) else {
        return Reply::error(FUNCTION_NOT_FOUND);
    };
    let (code, name, flags) = (library.code.clone(), function.name.clone(), function.flags);
    let numkeys = match parse_i64(&args[2]) {
        Some(numkeys) => numkeys,
        None => return Reply::error("ERR Bad number of keys provided"),
    };
    if numkeys > args.len() as i64 - 3 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Reply::error("ERR Number of keys can't be negative");
    }
    let no_writes = flags.contains(FunctionFlags::NO_WRITES);
    if read_only_command && !no_writes {
        return Reply::error(WRITE_FLAG_ON_RO);
    }
    let access = if read_only_command || no_writes { Access::ReadOnly } else { Access::ReadWrite };
    let (keys, argv) = args[3..].split_at(numkeys as usize);
    let start = code.iter().position(|&byte| byte == b'\n').unwrap_or(code.len());
    let allow_oom = flags.contains(FunctionFlags::ALLOW_OOM);
    let script = Script { body: &code[start..], sha: &name, keys, argv, access, program: Program::Function(&name), allow_oom };
    lua::run(ctx, &script).unwrap_or_else(|reply| reply)
}

fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    fcall_generic(ctx, args, true)
}

fn fcall_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: Flags::WRITE.union(Flags::NOSCRIPT),
        acl: &["write", "slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Deletes a library and its functions.",
        syntax: "library-name",
        ..CommandSpec::base("function|delete", 3, Handler::Keyspace(function_delete))
    },
    CommandSpec {
        flags: Flags::NOSCRIPT,
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Dumps all libraries into a serialized binary payload.",
        ..CommandSpec::base("function|dump", 2, Handler::Keyspace(function_dump))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::NOSCRIPT),
        acl: &["write", "slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Deletes all libraries and functions.",
        syntax: "[ASYNC | SYNC]",
        ..CommandSpec::base("function|flush", -2, Handler::Keyspace(function_flush))
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("function|help", 2, Handler::Keyspace(function_help))
    },
    CommandSpec {
        flags: Flags::NOSCRIPT.union(Flags::ALLOW_BUSY),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Terminates a function during execution.",
        ..CommandSpec::base("function|kill", 2, Handler::Keyspace(function_kill))
    },
    CommandSpec {
        flags: Flags::NOSCRIPT,
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Returns information about all libraries.",
        syntax: "[LIBRARYNAME library-name-pattern] [WITHCODE]",
        ..CommandSpec::base("function|list", -2, Handler::Keyspace(function_list))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::NOSCRIPT),
        acl: &["write", "slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Creates a library.",
        syntax: "[REPLACE] function-code",
        ..CommandSpec::base("function|load", -3, Handler::Keyspace(function_load))
    },
    CommandSpec {
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::NOSCRIPT),
        acl: &["write", "slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Restores all libraries from a payload.",
        syntax: "serialized-value [FLUSH | APPEND | REPLACE]",
        ..CommandSpec::base("function|restore", -3, Handler::Keyspace(function_restore))
    },
    CommandSpec {
        flags: Flags::NOSCRIPT.union(Flags::ALLOW_BUSY),
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Returns information about a function during execution.",
        ..CommandSpec::base("function|stats", 2, Handler::Keyspace(function_stats))
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
    // FCALL is proposed as a log entry (flagged write where Redis says may_replicate, as
    // EVAL); FCALL_RO goes through the read path.
    CommandSpec {
        flags: Flags::WRITE
            .union(Flags::NOSCRIPT)
            .union(Flags::STALE)
            .union(Flags::SKIP_MONITOR)
            .union(Flags::MAY_REPLICATE)
            .union(Flags::MOVABLE_KEYS),
        key_finder: Some(fcall_keys),
        numkeys_index: 2,
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Invokes a function.",
        syntax: "function numkeys [key [key ...]] [arg [arg ...]]",
        ..CommandSpec::base("fcall", -3, Handler::Keyspace(fcall))
    },
    CommandSpec {
        flags: Flags::READONLY
            .union(Flags::NOSCRIPT)
            .union(Flags::STALE)
            .union(Flags::SKIP_MONITOR)
            .union(Flags::MOVABLE_KEYS),
        key_finder: Some(fcall_keys),
        numkeys_index: 2,
        key_flags: &[KeyFlags::RO_ACCESS],
        acl: &["slow", "scripting"],
        group: "scripting",
        since: "7.0.0",
        summary: "Invokes a read-only function.",
        syntax: "function numkeys [key [key ...]] [arg [arg ...]]",
        ..CommandSpec::base("fcall_ro", -3, Handler::Keyspace(fcall_ro))
    },
];

#[cfg(test)]
mod tests {
    use crate::testing::{run, Harness};

    const LIB1: &str = "#!lua name=lib1\n\
        redis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
        redis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, \
        flags={'no-writes', 'allow-stale'}, description='reads'}";

    fn function(h: &mut Harness, parts: &[&str]) -> String {
        let mut args = vec!["FUNCTION"];
        args.extend_from_slice(parts);
        run(h, &args)
    }

    /// Load, call, list, delete: the replies and error texts of Redis 7.0 (checked against
    /// redis-server 7.0.15).
    #[test]
    fn libraries_load_and_functions_run_as_in_redis() {
        let mut h = Harness::new();
        assert_eq!(function(&mut h, &["LOAD", LIB1]), "$lib1");
        assert_eq!(run(&mut h, &["FCALL", "F1", "1", "k", "v"]), "+OK");
        assert_eq!(run(&mut h, &["FCALL_RO", "ro", "1", "k"]), "$v");
        assert_eq!(run(&mut h, &["FCALL", "ro", "1", "k"]), "$v");
        assert_eq!(
            run(&mut h, &["FCALL_RO", "f1", "1", "k", "v"]),
            "-ERR Can not execute a script with write flag using *_ro command."
        );
        assert_eq!(
            function(&mut h, &["LIST"]),
            "[{$library_name: $lib1, $engine: $LUA, $functions: [{$name: $f1, $description: nil, $flags: []}, \
             {$name: $ro, $description: $reads, $flags: [+no-writes, +allow-stale]}]}]"
        );
        assert_eq!(function(&mut h, &["LIST", "LIBRARYNAME", "nope*"]), "[]");
        assert_eq!(function(&mut h, &["LIST", "bad\r\narg"]), "-ERR Unknown argument bad  arg");
        assert_eq!(function(&mut h, &["LIST", "LIBRARYNAME"]), "-ERR library name argument was not given");
        assert_eq!(function(&mut h, &["LOAD", LIB1]), "-ERR Library 'lib1' already exists");
        assert_eq!(function(&mut h, &["LOAD", "REPLACE", LIB1]), "$lib1");
        assert_eq!(function(&mut h, &["LOAD", "foo", LIB1]), "-ERR Unknown option given: foo");
        let other = "#!lua name=lib3\nredis.register_function('f1', function() return 1 end)";
        assert_eq!(function(&mut h, &["LOAD", other]), "-ERR Function f1 already exists");
        assert_eq!(
            function(&mut h, &["STATS"]),
            "{$running_script: nil, $engines: {$LUA: {$libraries_count: :1, $functions_count: :2}}}"
        );
        assert_eq!(run(&mut h, &["FCALL", "nope", "0"]), "-ERR Function not found");
        assert_eq!(run(&mut h, &["FCALL", "f1", "x"]), "-ERR Bad number of keys provided");
        assert_eq!(run(&mut h, &["FCALL", "f1", "2", "k"]), "-ERR Number of keys can't be greater than number of args");
        assert_eq!(run(&mut h, &["FCALL", "f1", "-1"]), "-ERR Number of keys can't be negative");
        assert_eq!(function(&mut h, &["DELETE", "nope"]), "-ERR Library not found");
        assert_eq!(function(&mut h, &["DELETE", "lib1"]), "+OK");
        assert_eq!(run(&mut h, &["FCALL", "f1", "1", "k", "v"]), "-ERR Function not found");
        assert_eq!(function(&mut h, &["KILL"]), "-NOTBUSY No scripts in execution right now.");
        assert_eq!(function(&mut h, &["FLUSH", "bad"]), "-ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        assert_eq!(
            function(&mut h, &["FLUSH", "SYNC", "extra"]),
            "-ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."
        );
    }

    #[test]
    fn load_errors_read_as_redis_words_them() {
        let mut h = Harness::new();
        let cases: &[(&str, &str)] = &[
            ("return 1", "-ERR Missing library metadata"),
            ("#!lua name=x", "-ERR Invalid library metadata"),
            ("#!lua\nreturn 1", "-ERR Library name was not given"),
            ("#!lua name=a name=b\n", "-ERR Invalid metadata value, name argument was given multiple times"),
            ("#!lua name=x foo=bar\n", "-ERR Invalid metadata value given: foo=bar"),
            ("#!bad name=x\n", "-ERR Engine 'bad' not found"),
            ("#!lua name=bad-name\n", "-ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
            ("#!lua name=x\nreturn 1", "-ERR No functions registered"),
            ("#!lua name=x\nlocal x = +", "-ERR Error compiling function: user_function:2: unexpected symbol near '+'"),
            ("#!lua name=x\nredis.register_function()", "-ERR Error registering functions: ERR wrong number of arguments to redis.register_function"),
            ("#!lua name=x\na = 1", "-ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table"),
            ("#!lua name=x\nreturn math.random()", "-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'math'"),
            ("#!lua name=x\nreturn redis.call('ping')", "-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"),
            ("#!lua name=x\nwhile true do end", "-ERR Error registering functions: ERR FUNCTION LOAD timeout"),
            ("#!lua name=x\nredis.register_function('bad name', function() end)", "-ERR Error registering functions: ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
            ("#!lua name=x\nredis.register_function('f', 'x')", "-ERR Error registering functions: ERR second argument to redis.register_function must be a function"),
            ("#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'nope'}}", "-ERR Error registering functions: ERR unknown flag given"),
            ("#!lua name=x\nredis.register_function{function_name='f'}", "-ERR Error registering functions: ERR redis.register_function must get a callback argument"),
            ("#!lua name=x\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)", "-ERR Error registering functions: ERR Function already exists in the library"),
        ];
        for (code, expected) in cases {
            assert_eq!(function(&mut h, &["LOAD", code]), *expected, "{code}");
        }
        assert_eq!(function(&mut h, &["LOAD", "#!lua name=\"quoted\"\nredis.register_function('f', function() return 1 end)"]), "$quoted");
        assert_eq!(h.machine.keyspace.libraries.len(), 1);
    }

    /// The load-time API is not the run-time one, and neither leaks into the other.
    #[test]
    fn a_function_runs_with_the_ordinary_globals() {
        let mut h = Harness::new();
        let code = "#!lua name=lib2\n\
            local lib = redis\n\
            local function helper(a) return a + 1 end\n\
            lib.register_function('f2', function() lib.register_function('x', function() end) end)\n\
            redis.register_function('f3', function() redis.register_function('x', function() end) end)\n\
            redis.register_function('f4', function(keys, args) return {helper(1), #keys, args[1], math.floor(2.5), cjson.encode({1})} end)\n\
            redis.register_function('f5', function() return KEYS end)\n\
            redis.register_function('f6', function() error('boom') end)\n\
            redis.register_function('f7', function() return redis.call('set', 'a', 'b') end)";
        assert_eq!(function(&mut h, &["LOAD", code]), "$lib2");
        assert_eq!(
            run(&mut h, &["FCALL", "f2", "0"]),
            "-ERR redis.register_function can only be called on FUNCTION LOAD command script: f2, on @user_function:4."
        );
        assert_eq!(
            run(&mut h, &["FCALL", "f3", "0"]),
            "-ERR user_function:5: attempt to call field 'register_function' (a nil value) script: f3, on @user_function:5."
        );
        assert_eq!(run(&mut h, &["FCALL", "f4", "1", "k", "x"]), "[:2, :1, $x, :2, $[1]]");
        assert_eq!(
            run(&mut h, &["FCALL", "f5", "0"]),
            "-ERR user_function:7: Script attempted to access nonexistent global variable 'KEYS' script: f5, on @user_function:7."
        );
        assert_eq!(run(&mut h, &["FCALL", "f6", "0"]), "-ERR user_function:8: boom script: f6, on @user_function:8.");
        let Some(text) = run(&mut h, &["FCALL_RO", "f7", "0"]).strip_prefix('-').map(str::to_string) else { panic!() };
        assert_eq!(text, "ERR Can not execute a script with write flag using *_ro command.");
        let no_writes = "#!lua name=lib3\nredis.register_function{function_name='w', callback=function() \
                         return redis.call('set', 'a', 'b') end, flags={'no-writes'}}";
        function(&mut h, &["LOAD", no_writes]);
        let reply = run(&mut h, &["FCALL", "w", "0"]);
        assert!(reply.starts_with("-ERR Write commands are not allowed from read-only scripts."), "{reply}");
        assert_eq!(run(&mut h, &["GET", "a"]), "nil");
    }

    #[test]
    fn dump_and_restore_round_trip_with_their_policies() {
        let mut h = Harness::new();
        function(&mut h, &["LOAD", LIB1]);
        let list = function(&mut h, &["LIST", "WITHCODE"]);
        let payload = match crate::machine::resolve(&[bytes::Bytes::from_static(b"FUNCTION"), bytes::Bytes::from_static(b"DUMP")]) {
            Some(Ok(_)) => crate::functions::dump(&h.machine.keyspace.libraries),
            _ => panic!("FUNCTION DUMP is in the table"),
        };
        let payload = String::from_utf8(payload).expect("library code is text here");
        assert_eq!(run(&mut h, &["FUNCTION", "DUMP"]), format!("${payload}"));
        assert_eq!(function(&mut h, &["RESTORE", &payload]), "-ERR Library lib1 already exists");
        assert_eq!(function(&mut h, &["RESTORE", "bad_payload"]), "-ERR DUMP payload version or checksum are wrong");
        assert_eq!(
            function(&mut h, &["RESTORE", &payload, "NOPE"]),
            "-ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        );
        assert_eq!(
            function(&mut h, &["RESTORE", &payload, "FLUSH", "x"]),
            "-ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."
        );
        assert_eq!(function(&mut h, &["RESTORE", &payload, "REPLACE"]), "+OK");
        assert_eq!(function(&mut h, &["FLUSH"]), "+OK");
        assert_eq!(function(&mut h, &["LIST"]), "[]");
        function(&mut h, &["LOAD", "#!lua name=other\nredis.register_function('f1', function() return 1 end)"]);
        assert_eq!(function(&mut h, &["RESTORE", &payload]), "-ERR Function f1 already exists");
        assert_eq!(function(&mut h, &["RESTORE", &payload, "FLUSH"]), "+OK");
        assert_eq!(function(&mut h, &["LIST", "WITHCODE"]), list);
        assert_eq!(run(&mut h, &["FCALL", "f1", "1", "k", "restored"]), "+OK");
        // FLUSHALL keeps the libraries, as in Redis.
        run(&mut h, &["FLUSHALL"]);
        assert_eq!(run(&mut h, &["FCALL_RO", "ro", "1", "k"]), "nil");
        assert_eq!(h.machine.keyspace.libraries.function_count(), 2);
    }

    /// Two replicas applying the same loads and calls hold the same libraries and keys.
    #[test]
    fn replicas_agree() {
        let mut first = Harness::new();
        let mut second = Harness::new();
        for h in [&mut first, &mut second] {
            function(h, &["LOAD", LIB1]);
            run(h, &["FCALL", "f1", "1", "k", "v"]);
        }
        assert_eq!(first.machine.snapshot(), second.machine.snapshot());
    }
}
