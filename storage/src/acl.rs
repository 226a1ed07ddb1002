//! ACL permissions as the state machine checks them for the commands a script or function
//! runs (`redis.call`, `redis.pcall`, `redis.acl_check_cmd`).
//!
//! Users are node-local (server/src/acl.rs keeps them, with the rules that edit and describe
//! them); the state machine knows none. A restricted user's session attaches its permissions
//! (`ScriptUser`: the root selector and the `(…)` selectors, as data) to the script's op
//! (`Op::AsUser`), so the permissions travel in the Raft entry and every replica, and every
//! replay of the log, decides alike. An unrestricted user attaches nothing and its scripts
//! are not checked.
//!
//! Command rules are kept in the order given (Redis 7.2's `command_rules`): a command is
//! allowed by the last rule that names it, its container or one of its categories, else by
//! the `+@all` / `-@all` base.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use crate::table::{CommandSpec, Flags, KeyFlags};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// `+name` / `-name`: a command, a container (all its subcommands), a subcommand
    /// (`config|get`) or a command's first argument (`select|0`).
    Command { allow: bool, name: String },
    Category { allow: bool, name: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPattern {
    pub read: bool,
    pub write: bool,
    pub pattern: Vec<u8>,
}

/// One set of permissions: the user's root selector or one of its `(…)` selectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Selector {
    /// Started from `+@all` (`allcommands`) rather than `-@all`.
    pub all_commands: bool,
    pub rules: Vec<Rule>,
    pub all_keys: bool,
    pub keys: Vec<KeyPattern>,
    pub all_channels: bool,
    pub channels: Vec<Vec<u8>>,
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    /// The argument at this position is a key the user may not touch.
    Key(usize),
    Channel(usize),
}

impl Denied {
    /// The ACL LOG's reason and object for this refusal of `args`.
    pub fn log_reason(self, spec: &CommandSpec, args: &[Bytes]) -> (&'static str, Bytes) {
        match self {
            Denied::Command => ("command", Bytes::from_static(spec.name.as_bytes())),
            Denied::Key(position) => ("key", args[position].clone()),
            Denied::Channel(position) => ("channel", args[position].clone()),
        }
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    crate::glob::matches(pattern, text, false)
}

impl Selector {
    pub fn allows_command(&self, spec: &CommandSpec, args: &[Bytes]) -> bool {
        let parent = spec.name.split_once('|').map(|(p, _)| p);
        let mut allowed = self.all_commands;
        for rule in &self.rules {
            let (allow, matched) = match rule {
                Rule::Category { allow, name } => (*allow, name == "all" || spec.acl.contains(&name.as_str())),
                Rule::Command { allow, name } => {
                    let matched = name == spec.name
                        || parent == Some(name.as_str())
                        || name.split_once('|').is_some_and(|(cmd, first)| {
                            parent.is_none()
                                && cmd == spec.name
                                && args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(first.as_bytes()))
                        });
                    (*allow, matched)
                }
            };
            if matched {
                allowed = allow;
            }
        }
        allowed
    }

    /// Checks a command against this selector alone.
    pub fn check(&self, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        if !self.allows_command(spec, args) {
            return Err(Denied::Command);
        }
        if !self.all_keys {
            for (position, flags) in spec.keys_and_flags(args) {
                let Some(key) = args.get(position) else { continue };
                // Redis's rule: access needs read permission, insert/update/delete write; a
                // key spec that says neither needs both.
                let read = flags.contains(KeyFlags::ACCESS);
                let write = flags.contains(KeyFlags::INSERT)
                    || flags.contains(KeyFlags::UPDATE)
                    || flags.contains(KeyFlags::DELETE);
                let (read, write) = if read || write { (read, write) } else { (true, true) };
                let ok = self
                    .keys
                    .iter()
                    .any(|p| (!read || p.read) && (!write || p.write) && glob(&p.pattern, key));
                if !ok {
                    return Err(Denied::Key(position));
                }
            }
        }
        if !self.all_channels {
            let (first, patterns) = match spec.name {
                "publish" | "spublish" => (1..2.min(args.len()), false),
                "subscribe" | "ssubscribe" => (1..args.len(), false),
                "psubscribe" => (1..args.len(), true),
                _ => (0..0, false),
            };
            for position in first {
                let channel = &args[position];
                // A pattern subscription must name one of the user's patterns literally.
                let ok = self
                    .channels
                    .iter()
                    .any(|p| if patterns { p[..] == channel[..] } else { glob(p, channel) });
                if !ok {
                    return Err(Denied::Channel(position));
                }
            }
        }
        Ok(())
    }

    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.rules.is_empty() && self.all_keys && self.all_channels
    }
}

/// Checks a command against a user's selectors (the root first): allowed when any allows
/// all of it. Otherwise the command itself when none allows it, else the refused key or
/// channel of the first selector that allowed the command.
pub fn check_selectors<'a>(
    selectors: impl IntoIterator<Item = &'a Selector>,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), Denied> {
    if spec.flags.contains(Flags::NO_AUTH) {
        return Ok(());
    }
    let mut first_error = None;
    for selector in selectors {
        match selector.check(spec, args) {
            Ok(()) => return Ok(()),
            Err(denied) => {
                first_error = match (first_error, denied) {
                    (None, d) | (Some(Denied::Command), d) => Some(d),
                    (kept, _) => kept,
                }
            }
        }
    }
    Err(first_error.unwrap_or(Denied::Command))
}

/// The permissions a restricted user's script runs with, carried in its log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptUser {
    /// The user's name, for the ACL LOG.
    pub name: String,
    /// The node and client that sent the script: only that node records its refusals in its
    /// ACL LOG (`Event::ScriptAclDenied`), as only the Redis server that ran it would.
    pub node: u64,
    pub client: u64,
    /// The root selector, then the `(…)` selectors.
    pub selectors: Vec<Selector>,
}

impl ScriptUser {
    pub fn check(&self, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        check_selectors(&self.selectors, spec, args)
    }

    /// An upper estimate of its postcard encoding (see `Entry::encoded_len_hint`).
    pub fn encoded_len_hint(&self) -> usize {
        let selector = |s: &Selector| {
            8 + s.rules.iter().map(|rule| match rule {
                Rule::Command { name, .. } | Rule::Category { name, .. } => 7 + name.len(),
            }).sum::<usize>()
                + s.keys.iter().map(|k| 7 + k.pattern.len()).sum::<usize>()
                + s.channels.iter().map(|c| 5 + c.len()).sum::<usize>()
        };
        25 + self.name.len() + self.selectors.iter().map(selector).sum::<usize>()
    }
}

/// Runs a script or a function, whose commands a restricted user's permissions must check.
pub fn runs_script(spec: &CommandSpec) -> bool {
    matches!(spec.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro")
}

/// Redis 7.0's text for a command a script may not run (`scriptVerifyACL`): `ERR The user
/// executing the script …`.
pub fn script_denied_message(denied: Denied) -> &'static str {
    match denied {
        Denied::Command => "ERR The user executing the script can't run this command or subcommand",
        Denied::Key(_) => {
            "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
        }
        Denied::Channel(_) => "ERR The user executing the script can't publish to the channel mentioned in the command",
    }
}

type Lookup = fn(&[u8]) -> Option<&'static CommandSpec>;

static COMMAND_LOOKUP: OnceLock<Lookup> = OnceLock::new();

/// Installs the lookup of every command, the server's included (TIME, PUBLISH …), for the
/// ACL checks of scripts: the server's command table is static, the same on every node of a
/// version, so checks against it stay deterministic. Without it (storage's own tests) only
/// keyspace commands are known.
pub fn set_command_lookup(lookup: Lookup) {
    let _ = COMMAND_LOOKUP.set(lookup);
}

/// Finds a command by name: the server's whole table once installed, else the keyspace's.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    match COMMAND_LOOKUP.get() {
        Some(lookup) => lookup(name),
        None => crate::commands::lookup(name),
    }
}

/// The spec Redis's `lookupCommand` finds for `args` (a container's subcommand when one is
/// named; arity is not checked), for `redis.acl_check_cmd`.
pub fn resolve_for_check(args: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = lookup(args.first()?)?;
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Some(spec);
    }
    spec.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, name)| args[1].eq_ignore_ascii_case(name.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
    }

    fn user(selectors: Vec<Selector>) -> ScriptUser {
        ScriptUser { name: "bob".into(), node: 1, client: 7, selectors }
    }

    #[test]
    fn rules_keys_and_selectors_decide_as_in_the_session() {
        let root = Selector {
            rules: vec![
                Rule::Category { allow: true, name: "string".into() },
                Rule::Command { allow: false, name: "incr".into() },
            ],
            keys: vec![KeyPattern { read: true, write: true, pattern: b"x*".to_vec() }],
            ..Selector::default()
        };
        let other = Selector {
            rules: vec![Rule::Command { allow: true, name: "hset".into() }],
            all_keys: true,
            ..Selector::default()
        };
        let u = user(vec![root, other]);
        let check = |parts: &[&str]| {
            let a = args(parts);
            let spec = resolve_for_check(&a).expect("known");
            u.check(spec, &a)
        };
        assert_eq!(check(&["set", "xa", "1"]), Ok(()));
        assert_eq!(check(&["set", "ya", "1"]), Err(Denied::Key(1)));
        assert_eq!(check(&["incr", "xa"]), Err(Denied::Command));
        assert_eq!(check(&["hset", "anything", "f", "v"]), Ok(()));
        assert_eq!(check(&["lpush", "xa", "v"]), Err(Denied::Command));
    }

    #[test]
    fn a_script_user_survives_the_log_encoding() {
        let u = user(vec![Selector {
            all_commands: true,
            rules: vec![Rule::Command { allow: false, name: "config|set".into() }],
            keys: vec![KeyPattern { read: true, write: false, pattern: b"ro:*".to_vec() }],
            channels: vec![b"news.*".to_vec()],
            ..Selector::default()
        }]);
        let encoded = postcard::to_allocvec(&u).unwrap();
        assert!(u.encoded_len_hint() >= encoded.len());
        assert_eq!(postcard::from_bytes::<ScriptUser>(&encoded).unwrap(), u);
    }

    #[test]
    fn resolve_for_check_finds_subcommands_without_checking_arity() {
        assert_eq!(resolve_for_check(&args(&["GET"])).map(|s| s.name), Some("get"));
        assert_eq!(resolve_for_check(&args(&["object", "encoding"])).map(|s| s.name), Some("object|encoding"));
        assert!(resolve_for_check(&args(&["object", "nosuch"])).is_none());
        assert!(resolve_for_check(&args(&["nosuch"])).is_none());
    }
}
