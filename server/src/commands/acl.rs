//! ACL: users, their permissions and the log of refusals (the model is in `crate::acl`).

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::{is, parse_i64};
use flotilla_storage::{CommandSpec, Flags, Handler};
use std::io::Read;

use super::ServerFn;
use crate::acl::{denied_message, LogEntry, SelectorRules, User, CATEGORIES};
use crate::session::Session;

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

fn text(arg: &Bytes) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

fn acl_setuser(session: &mut Session, args: &[Bytes]) -> Reply {
    let name = text(&args[2]);
    let rules: Vec<String> = args[3..].iter().map(text).collect();
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    match session.node.acl.modify(&name, &rules) {
        Ok(()) => Reply::ok(),
        Err(error) => Reply::error_owned(error),
    }
}

fn acl_deluser(session: &mut Session, args: &[Bytes]) -> Reply {
    let names: Vec<String> = args[2..].iter().map(text).collect();
    if names.iter().any(|n| n == "default") {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let removed = session.node.acl.remove(&names);
    // As Redis, the connections of a removed user are closed.
    for client in session.node.clients.list() {
        if names.contains(&&*client.user()) {
            client.close();
        }
    }
    Reply::Int(removed as i64)
}

fn describe_selector_map(commands: String, keys: String, channels: String) -> Reply {
    Reply::Map(vec![
        (bulk("commands"), bulk(commands)),
        (bulk("keys"), bulk(keys)),
        (bulk("channels"), bulk(channels)),
    ])
}

fn acl_getuser(session: &mut Session, args: &[Bytes]) -> Reply {
    let Some(user) = session.node.acl.user(&text(&args[2])) else {
        return Reply::Nil;
    };
    getuser_reply(&user)
}

fn getuser_reply(user: &User) -> Reply {
    let root = user.root();
    let selectors = user
        .selectors()
        .iter()
        .map(|s| describe_selector_map(s.describe_commands(), s.describe_keys(), s.describe_channels()))
        .collect();
    Reply::Map(vec![
        (bulk("flags"), Reply::Array(user.flags().into_iter().map(bulk).collect())),
        (
            bulk("passwords"),
            Reply::Array(user.passwords().iter().map(|p| bulk(p.clone())).collect()),
        ),
        (bulk("commands"), bulk(root.describe_commands())),
        (bulk("keys"), bulk(root.describe_keys())),
        (bulk("channels"), bulk(root.describe_channels())),
        (bulk("selectors"), Reply::Array(selectors)),
    ])
}

fn acl_list(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(session.node.acl.users().iter().map(|u| bulk(u.describe())).collect())
}

fn acl_users(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Array(session.node.acl.users().iter().map(|u| bulk(u.name.clone())).collect())
}

fn acl_whoami(session: &mut Session, _args: &[Bytes]) -> Reply {
    bulk(session.client.user().to_string())
}

/// ACL CAT [category]: the categories, or the commands (and subcommands) in one.
fn acl_cat(_session: &mut Session, args: &[Bytes]) -> Reply {
    let Some(wanted) = args.get(2) else {
        return Reply::Array(CATEGORIES.iter().map(|c| bulk(*c)).collect());
    };
    let wanted = text(wanted).to_ascii_lowercase();
    if !CATEGORIES.contains(&wanted.as_str()) {
        return Reply::error_owned(format!("ERR Unknown category '{}'", text(&args[2])));
    }
    Reply::Array(category_commands(&wanted).into_iter().map(bulk).collect())
}

/// The commands in an ACL category, a container's subcommands by their full names.
fn category_commands(category: &str) -> Vec<&'static str> {
    super::all()
        .into_iter()
        .flat_map(|spec| {
            if spec.subcommands.is_empty() {
                std::slice::from_ref(spec)
            } else {
                spec.subcommands
            }
        })
        .filter(|spec| spec.acl.contains(&category))
        .map(|spec| spec.name)
        .collect()
}

/// ACL GENPASS [bits]: random hex from the OS (node-local, not state-machine input).
fn acl_genpass(_session: &mut Session, args: &[Bytes]) -> Reply {
    let bits = match args.get(2) {
        None => 256,
        Some(arg) => match parse_i64(arg) {
            Some(bits) if (1..=4096).contains(&bits) => bits as usize,
            Some(_) => {
                return Reply::error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
            }
            None => return Reply::error(flotilla_storage::errors::NOT_INTEGER),
        },
    };
    let chars = bits.div_ceil(4);
    let mut random = vec![0u8; chars.div_ceil(2)];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .is_err()
    {
        return Reply::error("ERR Failed to read from the system's random source");
    }
    let mut hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    bulk(hex)
}

/// ACL LOG [count | RESET].
fn acl_log(session: &mut Session, args: &[Bytes]) -> Reply {
    let mut count = 10;
    if let Some(arg) = args.get(2) {
        if is(arg, "RESET") {
            session.node.acl.log_reset();
            return Reply::ok();
        }
        match parse_i64(arg) {
            Some(n) => count = n.max(0) as usize,
            None => return Reply::error(flotilla_storage::errors::NOT_INTEGER),
        }
    }
    let now_ms = session.node.clock.now_ms();
    let entries = session
        .node
        .acl
        .log_entries(count)
        .into_iter()
        .map(|e| {
            Reply::Map(vec![
                (bulk("count"), Reply::Int(e.count as i64)),
                (bulk("reason"), bulk(e.reason)),
                (bulk("context"), bulk(e.context)),
                (bulk("object"), bulk(e.object)),
                (bulk("username"), bulk(e.username)),
                (
                    bulk("age-seconds"),
                    Reply::Double(now_ms.saturating_sub(e.created_ms) as f64 / 1000.0),
                ),
                (bulk("client-info"), bulk(e.client_info)),
                (bulk("entry-id"), Reply::Int(e.id as i64)),
                (bulk("timestamp-created"), Reply::Int(e.created_ms as i64)),
                (bulk("timestamp-last-updated"), Reply::Int(e.updated_ms as i64)),
            ])
        })
        .collect();
    Reply::Array(entries)
}

/// ACL DRYRUN user command [arg …]: would the user be allowed to run it.
fn acl_dryrun(session: &mut Session, args: &[Bytes]) -> Reply {
    let name = text(&args[2]);
    let Some(user) = session.node.acl.user(&name) else {
        return Reply::error_owned(format!("ERR User '{name}' not found"));
    };
    let command = &args[3..];
    let Some(spec) = super::lookup(&command[0]) else {
        return Reply::error_owned(format!("ERR Command '{}' not found", text(&command[0])));
    };
    let spec = match flotilla_storage::machine::check(spec, command) {
        Ok(spec) => spec,
        Err(reply) => return reply,
    };
    match user.check(spec, command) {
        Ok(()) => Reply::ok(),
        Err(denied) => bulk(denied_message(denied, &user.name, spec, command, true)),
    }
}

/// ACL LOG entries (context `lua`) for the commands restricted users' scripts were refused,
/// on the node whose client sent the script (every node applies the entry and sees the
/// event; only that one records it, as only the Redis server that ran it would).
pub fn script_denials(node: &crate::node::Node, events: &[flotilla_storage::Event]) {
    for event in events {
        let flotilla_storage::Event::ScriptAclDenied { node: origin, client, user, reason, object } = event else {
            continue;
        };
        if *origin != node.me {
            continue;
        }
        let now_ms = node.clock.now_ms();
        let client_info = node.clients.get(*client).map(|c| c.describe()).unwrap_or_default();
        node.acl.log(LogEntry {
            id: 0,
            count: 1,
            reason,
            context: "lua",
            object: text(object),
            username: user.clone(),
            client_info,
            created_ms: now_ms,
            updated_ms: now_ms,
        });
    }
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn acl_load(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::error(NO_ACL_FILE)
}

fn acl_save(_session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::error(NO_ACL_FILE)
}

fn acl_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    super::admin::help_reply(&[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file (not configured here).",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file (not configured here).",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ])
}

const ADMIN: Flags = Flags::ADMIN
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);
const PLAIN: Flags = Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE);
const ADMIN_ACL: &[&str] = &["admin", "slow", "dangerous"];

const fn sub(name: &'static str, arity: i32, flags: Flags, summary: &'static str, syntax: &'static str) -> CommandSpec {
    CommandSpec {
        flags,
        acl: if flags.contains(Flags::ADMIN) { ADMIN_ACL } else { &["slow"] },
        group: "server",
        since: "6.0.0",
        summary,
        syntax,
        ..CommandSpec::base(name, arity, Handler::Server)
    }
}

const SUBCOMMANDS: &[CommandSpec] = &[
    sub("acl|cat", -2, PLAIN, "Lists the ACL categories, or the commands inside a category.", "[category]"),
    sub("acl|deluser", -3, ADMIN, "Deletes ACL users, and terminates their connections.", "username [username ...]"),
    CommandSpec {
        since: "7.0.0",
        ..sub(
            "acl|dryrun",
            -4,
            ADMIN,
            "Simulates the execution of a command by a user, without executing the command.",
            "username command [arg [arg ...]]",
        )
    },
    sub("acl|genpass", -2, PLAIN, "Generates a pseudorandom, secure password that can be used to identify ACL users.", "[bits]"),
    sub("acl|getuser", 3, ADMIN, "Lists the ACL rules of a user.", "username"),
    sub("acl|help", 2, Flags::LOADING.union(Flags::STALE), "Returns helpful text about the different subcommands.", ""),
    sub("acl|list", 2, ADMIN, "Dumps the effective rules in ACL file format.", ""),
    sub("acl|load", 2, ADMIN, "Reloads the rules from the configured ACL file.", ""),
    sub("acl|log", -2, ADMIN, "Lists recent security events generated due to ACL rejections.", "[count | RESET]"),
    sub("acl|save", 2, ADMIN, "Saves the effective ACL rules in the configured ACL file.", ""),
    sub("acl|setuser", -3, ADMIN, "Creates and modifies an ACL user and its rules.", "username [rule [rule ...]]"),
    sub("acl|users", 2, ADMIN, "Lists all ACL users.", ""),
    sub("acl|whoami", 2, PLAIN, "Returns the authenticated username of the current connection.", ""),
];

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    acl: &["slow"],
    group: "server",
    since: "6.0.0",
    summary: "A container for Access List Control commands.",
    subcommands: SUBCOMMANDS,
    ..CommandSpec::base("acl", -2, Handler::Container)
}];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("acl|cat", acl_cat),
    ("acl|deluser", acl_deluser),
    ("acl|dryrun", acl_dryrun),
    ("acl|genpass", acl_genpass),
    ("acl|getuser", acl_getuser),
    ("acl|help", acl_help),
    ("acl|list", acl_list),
    ("acl|load", acl_load),
    ("acl|log", acl_log),
    ("acl|save", acl_save),
    ("acl|setuser", acl_setuser),
    ("acl|users", acl_users),
    ("acl|whoami", acl_whoami),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getuser_lists_rules_as_redis_7_2_does() {
        let mut user = User::new("u");
        for rule in ["on", ">p", "+@set", "+get", "~cache:*", "&msg:*", "(+set %W~app*)"] {
            user.apply(rule).unwrap();
        }
        let Reply::Map(fields) = getuser_reply(&user) else { panic!("a map") };
        let field = |name: &str| fields.iter().find(|(k, _)| *k == bulk(name)).map(|(_, v)| v.clone());
        assert_eq!(field("flags"), Some(Reply::Array(vec![bulk("on")])));
        assert_eq!(field("commands"), Some(bulk("-@all +@set +get")));
        assert_eq!(field("keys"), Some(bulk("~cache:*")));
        assert_eq!(field("channels"), Some(bulk("&msg:*")));
        assert_eq!(
            field("selectors"),
            Some(Reply::Array(vec![describe_selector_map(
                "-@all +set".into(),
                "%W~app*".into(),
                String::new()
            )]))
        );
    }

    #[test]
    fn cat_lists_subcommands_by_their_full_names() {
        let admin = category_commands("admin");
        assert!(admin.contains(&"acl|setuser"));
        assert!(!admin.contains(&"acl|whoami"));
        assert!(!admin.contains(&"acl"));
        assert!(category_commands("read").contains(&"get"));
        assert!(category_commands("nosuch").is_empty());
    }
}
