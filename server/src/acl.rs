//! ACL users: who a connection is, which commands, keys and channels it may use, and the
//! ACL LOG of what was refused. Node-local, as Redis keeps them per server (no ACL file):
//! users are not replicated, so each node of a cluster is configured on its own.
//!
//! Command rules are kept in the order given (Redis 7.2's `command_rules`): a command is
//! allowed by the last rule that names it, its container or one of its categories, else by
//! the `+@all` / `-@all` base. A later `+cmd` / `-cmd` replaces an earlier rule for the same
//! command, so the description stays short.

use bytes::Bytes;
pub use flotilla_storage::acl::{Denied, KeyPattern, Rule, Selector};
use flotilla_storage::acl::ScriptUser;
use flotilla_storage::CommandSpec;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Redis's ACL categories, in ACL CAT's order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// ACL LOG keeps this many entries (Redis's `acllog-max-len` default).
const LOG_MAX_LEN: usize = 128;
/// Refusals of the same kind within this many milliseconds count in one entry.
const LOG_GROUPING_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` (Some(true)) / `skip-sanitize-payload` (Some(false)), shown when set.
    sanitize_payload: Option<bool>,
    /// SHA-256 of each password, lowercase hex, in the order added.
    passwords: Vec<String>,
    root: Selector,
    selectors: Vec<Selector>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn rule_error(op: &str, reason: &str) -> String {
    format!("ERR Error in ACL SETUSER modifier '{op}': {reason}")
}

const UNKNOWN_NAME: &str = "Unknown command or category name in ACL";
const SYNTAX: &str = "Syntax error";

/// Finds a command by its ACL name (`get`, `config`, `config|get`, `select|0`): the spec and,
/// for a first-argument rule, that argument.
fn known_command_rule(name: &str) -> bool {
    match name.split_once('|') {
        None => crate::commands::lookup(name.as_bytes()).is_some(),
        Some((parent, sub)) => {
            let Some(spec) = crate::commands::lookup(parent.as_bytes()) else {
                return false;
            };
            if spec.subcommands.is_empty() {
                // A first-argument rule: any argument of a command without subcommands.
                !sub.is_empty() && !sub.contains('|')
            } else {
                spec.subcommands
                    .iter()
                    .any(|s| s.name.split_once('|').is_some_and(|(_, n)| n.eq_ignore_ascii_case(sub)))
            }
        }
    }
}

/// Editing and describing a selector (the model and its check are the state machine's, see
/// flotilla_storage::acl, so scripts are checked by the same code).
pub trait SelectorRules {
    fn set_commands(&mut self, op: &str) -> Result<(), String>;
    fn apply(&mut self, op: &str) -> Result<bool, String>;
    fn describe_commands(&self) -> String;
    fn describe_keys(&self) -> String;
    fn describe_channels(&self) -> String;
    fn describe(&self) -> String;
}

impl SelectorRules for Selector {
    fn set_commands(&mut self, op: &str) -> Result<(), String> {
        let allow = op.starts_with('+');
        let name = op[1..].to_ascii_lowercase();
        if let Some(category) = name.strip_prefix('@') {
            if category == "all" {
                self.all_commands = allow;
                self.rules.clear();
                return Ok(());
            }
            if !CATEGORIES.contains(&category) {
                return Err(rule_error(op, UNKNOWN_NAME));
            }
            self.rules.push(Rule::Category {
                allow,
                name: category.to_string(),
            });
            return Ok(());
        }
        if !known_command_rule(&name) {
            return Err(rule_error(op, UNKNOWN_NAME));
        }
        if !allow && name.contains('|') {
            if let Some(spec) = crate::commands::lookup(name.split('|').next().unwrap_or("").as_bytes()) {
                if spec.subcommands.is_empty() {
                    // Redis refuses to deny a first argument.
                    return Err(rule_error(op, UNKNOWN_NAME));
                }
            }
        }
        self.rules
            .retain(|rule| !matches!(rule, Rule::Command { name: n, .. } if *n == name));
        self.rules.push(Rule::Command { allow, name });
        Ok(())
    }

    /// Applies one selector rule (keys, channels, commands); false when `op` is not one.
    fn apply(&mut self, op: &str) -> Result<bool, String> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" => self.set_commands("+@all")?,
            "nocommands" => self.set_commands("-@all")?,
            _ if op.starts_with('~') || op.starts_with('%') => {
                let (read, write, pattern) = if let Some(pattern) = op.strip_prefix('~') {
                    (true, true, pattern)
                } else {
                    let Some((perms, pattern)) = op[1..].split_once('~') else {
                        return Err(rule_error(op, SYNTAX));
                    };
                    let (mut read, mut write) = (false, false);
                    for c in perms.chars() {
                        match c.to_ascii_uppercase() {
                            'R' => read = true,
                            'W' => write = true,
                            _ => return Err(rule_error(op, SYNTAX)),
                        }
                    }
                    if !read && !write {
                        return Err(rule_error(op, SYNTAX));
                    }
                    (read, write, pattern)
                };
                if self.all_keys {
                    return Err(rule_error(op, "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"));
                }
                if read && write && pattern == "*" {
                    self.all_keys = true;
                    self.keys.clear();
                } else {
                    let pattern = pattern.as_bytes().to_vec();
                    match self.keys.iter_mut().find(|p| p.pattern == pattern) {
                        Some(existing) => {
                            existing.read |= read;
                            existing.write |= write;
                        }
                        None => self.keys.push(KeyPattern { read, write, pattern }),
                    }
                }
            }
            _ if op.starts_with('&') => {
                if self.all_channels {
                    return Err(rule_error(op, "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"));
                }
                let pattern = op.as_bytes()[1..].to_vec();
                if !self.channels.contains(&pattern) {
                    self.channels.push(pattern);
                }
            }
            _ if op.len() > 1 && (op.starts_with('+') || op.starts_with('-')) => self.set_commands(op)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn describe_commands(&self) -> String {
        let mut text = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for rule in &self.rules {
            let (allow, name) = match rule {
                Rule::Command { allow, name } => (*allow, name.clone()),
                Rule::Category { allow, name } => (*allow, format!("@{name}")),
            };
            text.push(' ');
            text.push(if allow { '+' } else { '-' });
            text.push_str(&name);
        }
        text
    }

    fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|p| {
                let prefix = match (p.read, p.write) {
                    (true, true) => "~",
                    (true, false) => "%R~",
                    _ => "%W~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(&p.pattern))
            })
            .collect();
        parts.join(" ")
    }

    fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// The selector as ACL LIST writes it: keys, channels, commands.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.all_channels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            let channels = self.describe_channels();
            if !channels.is_empty() {
                parts.push(channels);
            }
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no password, no permissions.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            root: Selector::default(),
            selectors: Vec::new(),
        }
    }

    /// The default user: on, no password, everything allowed.
    pub fn default_user() -> User {
        let mut user = User::new("default");
        user.enabled = true;
        user.nopass = true;
        user.root = Selector {
            all_commands: true,
            all_keys: true,
            all_channels: true,
            ..Selector::default()
        };
        user
    }

    /// May run anything: no check is needed.
    pub fn unrestricted(&self) -> bool {
        self.root.unrestricted()
    }

    /// A connection starts authenticated as this user (enabled and `nopass`).
    pub fn accepts_without_password(&self) -> bool {
        self.enabled && self.nopass
    }

    /// Accepts `password` (a disabled user accepts none).
    pub fn accepts(&self, password: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&sha256_hex(password)))
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, op: &str) -> Result<(), String> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "sanitize-payload" => self.sanitize_payload = Some(true),
            "skip-sanitize-payload" => self.sanitize_payload = Some(false),
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                for rule in ["resetpass", "resetkeys", "resetchannels", "off", "-@all", "clearselectors"] {
                    self.apply(rule)?;
                }
                self.sanitize_payload = Some(true);
            }
            _ if op.starts_with('>') || op.starts_with('#') => {
                let hash = if let Some(password) = op.strip_prefix('>') {
                    sha256_hex(password.as_bytes())
                } else {
                    let hash = &op[1..];
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                        return Err(rule_error(op, "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"));
                    }
                    hash.to_string()
                };
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
                self.nopass = false;
            }
            _ if op.starts_with('<') || op.starts_with('!') => {
                let hash = if let Some(password) = op.strip_prefix('<') {
                    sha256_hex(password.as_bytes())
                } else {
                    op[1..].to_string()
                };
                let before = self.passwords.len();
                self.passwords.retain(|h| *h != hash);
                if self.passwords.len() == before {
                    return Err(rule_error(op, "The password you are trying to remove from the user does not exist"));
                }
            }
            _ if op.starts_with('(') => {
                let Some(inner) = op.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
                    return Err(rule_error(op, "Unmatched parenthesis in acl selector starting at '('."));
                };
                let mut selector = Selector::default();
                for rule in inner.split_ascii_whitespace() {
                    if !selector.apply(rule).map_err(|_| rule_error(op, SYNTAX))? {
                        return Err(rule_error(op, SYNTAX));
                    }
                }
                self.selectors.push(selector);
            }
            _ => {
                if !self.root.apply(op)? {
                    return Err(rule_error(op, SYNTAX));
                }
            }
        }
        Ok(())
    }

    /// Checks a command: allowed when the root selector or any other selector allows all of
    /// it. Otherwise the command itself when no selector allows it, else the refused key or
    /// channel of the root selector.
    pub fn check(&self, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        if self.unrestricted() {
            return Ok(());
        }
        flotilla_storage::acl::check_selectors(std::iter::once(&self.root).chain(&self.selectors), spec, args)
    }

    /// The user's permissions as a restricted user's script carries them in its log entry
    /// (`Op::AsUser`), naming the node and client that sent it.
    pub fn script_user(&self, node: u64, client: u64) -> ScriptUser {
        ScriptUser {
            name: self.name.clone(),
            node,
            client,
            selectors: std::iter::once(&self.root).chain(&self.selectors).cloned().collect(),
        }
    }

    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize_payload {
            Some(true) => flags.push("sanitize-payload"),
            Some(false) => flags.push("skip-sanitize-payload"),
            None => {}
        }
        flags
    }

    pub fn passwords(&self) -> &[String] {
        &self.passwords
    }

    pub fn root(&self) -> &Selector {
        &self.root
    }

    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// The user as one ACL LIST line.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", self.name)];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.passwords.iter().map(|h| format!("#{h}")));
        parts.push(self.root.describe());
        parts.extend(self.selectors.iter().map(|s| format!("({})", s.describe())));
        parts.join(" ")
    }
}

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub id: u64,
    pub count: u64,
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel`, `multi` or `lua`.
    pub context: &'static str,
    pub object: String,
    pub username: String,
    pub client_info: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Default)]
struct State {
    users: BTreeMap<String, Arc<User>>,
    log: VecDeque<LogEntry>,
    next_log_id: u64,
}

/// The node's users and ACL LOG. `epoch` changes with every change to a user, so sessions
/// can keep their user and refresh it only when it moved.
pub struct Acl {
    state: RwLock<State>,
    epoch: AtomicU64,
}

impl Acl {
    /// The users of a fresh node: `default`, with `requirepass` as its password if given.
    pub fn new(requirepass: Option<&str>) -> Acl {
        let acl = Acl {
            state: RwLock::new(State::default()),
            epoch: AtomicU64::new(1),
        };
        acl.state
            .write()
            .users
            .insert("default".into(), Arc::new(User::default_user()));
        acl.set_default_password(requirepass.unwrap_or(""));
        acl
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.state.read().users.get(name).cloned()
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.state.read().users.values().cloned().collect()
    }

    /// CONFIG SET requirepass: the default user's only password, or none (`nopass`) when empty.
    pub fn set_default_password(&self, password: &str) {
        let rule = if password.is_empty() {
            "nopass".to_string()
        } else {
            format!(">{password}")
        };
        self.modify("default", &["resetpass", &rule]).expect("valid rules");
    }

    /// ACL SETUSER: applies the rules to a copy of the user (a new one if unknown) and keeps it
    /// only if every rule is valid.
    pub fn modify(&self, name: &str, rules: &[&str]) -> Result<(), String> {
        let mut state = self.state.write();
        let mut user = match state.users.get(name) {
            Some(user) => (**user).clone(),
            None => User::new(name),
        };
        for rule in rules {
            user.apply(rule)?;
        }
        state.users.insert(name.to_string(), Arc::new(user));
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// ACL DELUSER: the number of users removed (never `default`).
    pub fn remove(&self, names: &[&str]) -> usize {
        let mut state = self.state.write();
        let removed = names.iter().filter(|name| state.users.remove(**name).is_some()).count();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        removed
    }

    /// Records a refusal, merged into a recent entry of the same kind as Redis does.
    pub fn log(&self, mut entry: LogEntry) {
        let mut state = self.state.write();
        let now = entry.created_ms;
        let found = state.log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && now.saturating_sub(e.created_ms) < LOG_GROUPING_MS
        });
        if let Some(position) = found {
            let mut existing = state.log.remove(position).expect("found");
            existing.count += 1;
            existing.updated_ms = now;
            existing.client_info = entry.client_info;
            state.log.push_front(existing);
            return;
        }
        entry.id = state.next_log_id;
        state.next_log_id += 1;
        state.log.push_front(entry);
        state.log.truncate(LOG_MAX_LEN);
    }

    /// The newest `count` entries, newest first.
    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.state.read().log.iter().take(count).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.state.write().log.clear();
    }
}

/// The text of a NOPERM refusal (`verbose`: ACL DRYRUN's form, naming the key or channel).
pub fn denied_message(denied: Denied, user: &str, spec: &CommandSpec, args: &[Bytes], verbose: bool) -> String {
    let arg = |position: usize| String::from_utf8_lossy(&args[position]).into_owned();
    match denied {
        Denied::Command => format!("User {user} has no permissions to run the '{}' command", spec.name),
        Denied::Key(position) if verbose => format!("No permissions to access the '{}' key", arg(position)),
        Denied::Key(_) => "No permissions to access a key".into(),
        Denied::Channel(position) if verbose => format!("No permissions to access the '{}' channel", arg(position)),
        Denied::Channel(_) => "No permissions to access a channel".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
    }

    fn check(user: &User, parts: &[&str]) -> Result<(), Denied> {
        let args = args(parts);
        let spec = crate::commands::lookup(&args[0]).expect("known command");
        let spec = flotilla_storage::machine::check(spec, &args).expect("valid");
        user.check(spec, &args)
    }

    fn user(rules: &[&str]) -> User {
        let mut user = User::new("u");
        for rule in rules {
            user.apply(rule).expect("valid rule");
        }
        user
    }

    #[test]
    fn the_last_rule_naming_a_command_decides() {
        let u = user(&["on", "+@hash", "-hset", "+get", "allkeys"]);
        assert_eq!(check(&u, &["hget", "h", "f"]), Ok(()));
        assert_eq!(check(&u, &["hset", "h", "f", "v"]), Err(Denied::Command));
        assert_eq!(check(&u, &["get", "k"]), Ok(()));
        assert_eq!(check(&u, &["set", "k", "v"]), Err(Denied::Command));
        assert_eq!(u.root.describe_commands(), "-@all +@hash -hset +get");
        // A repeated command rule replaces the earlier one.
        let u = user(&["+get", "+set", "-get", "+@string", "+get"]);
        assert_eq!(u.root.describe_commands(), "-@all +set +@string +get");
        // +@all starts over.
        let u = user(&["+get", "+@all", "-flushall"]);
        assert_eq!(u.root.describe_commands(), "+@all -flushall");
    }

    #[test]
    fn subcommands_and_first_arguments() {
        let u = user(&["+config", "-config|set", "+select|0", "allkeys"]);
        assert_eq!(check(&u, &["config", "get", "maxmemory"]), Ok(()));
        assert_eq!(check(&u, &["config", "set", "maxmemory", "0"]), Err(Denied::Command));
        assert_eq!(check(&u, &["select", "0"]), Ok(()));
        assert_eq!(check(&u, &["select", "1"]), Err(Denied::Command));
        assert!(user(&[]).apply("-select|1").is_err());
        assert!(user(&[]).apply("+nosuch").is_err());
        assert!(user(&[]).apply("+@nosuch").is_err());
    }

    #[test]
    fn key_patterns_check_read_and_write() {
        let u = user(&["+@all", "~cache:*", "%R~ro:*", "%W~wo:*"]);
        assert_eq!(check(&u, &["get", "cache:1"]), Ok(()));
        assert_eq!(check(&u, &["get", "other"]), Err(Denied::Key(1)));
        assert_eq!(check(&u, &["get", "ro:1"]), Ok(()));
        assert_eq!(check(&u, &["set", "ro:1", "v"]), Err(Denied::Key(1)));
        assert_eq!(check(&u, &["set", "wo:1", "v"]), Ok(()));
        assert_eq!(check(&u, &["get", "wo:1"]), Err(Denied::Key(1)));
        assert_eq!(check(&u, &["mget", "cache:1", "x"]), Err(Denied::Key(2)));
        assert_eq!(u.root.describe_keys(), "~cache:* %R~ro:* %W~wo:*");
        let mut all = user(&["allkeys"]);
        assert!(all.apply("~x").unwrap_err().contains("'allkeys' flag"));
    }

    #[test]
    fn channels_match_patterns_and_pattern_subscriptions_must_be_listed() {
        let u = user(&["+@all", "allkeys", "&news.*"]);
        assert_eq!(check(&u, &["publish", "news.a", "m"]), Ok(()));
        assert_eq!(check(&u, &["publish", "other", "m"]), Err(Denied::Channel(1)));
        assert_eq!(check(&u, &["subscribe", "news.a", "x"]), Err(Denied::Channel(2)));
        assert_eq!(check(&u, &["psubscribe", "news.*"]), Ok(()));
        assert_eq!(check(&u, &["psubscribe", "news.a*"]), Err(Denied::Channel(1)));
    }

    #[test]
    fn selectors_allow_what_the_root_does_not() {
        let u = user(&["on", "+get", "~cache:*", "(+set %W~app*)"]);
        assert_eq!(check(&u, &["set", "app1", "v"]), Ok(()));
        assert_eq!(check(&u, &["set", "cache:1", "v"]), Err(Denied::Key(1)));
        assert_eq!(check(&u, &["get", "app1"]), Err(Denied::Key(1)));
        assert_eq!(check(&u, &["del", "x"]), Err(Denied::Command));
        assert_eq!(
            u.describe(),
            "user u on ~cache:* resetchannels -@all +get (%W~app* resetchannels -@all +set)"
        );
    }

    #[test]
    fn passwords_are_kept_as_sha256() {
        let mut u = user(&["on", ">pass1", ">pass2"]);
        assert!(u.accepts(b"pass1") && u.accepts(b"pass2") && !u.accepts(b"x"));
        u.apply("<pass2").unwrap();
        assert!(!u.accepts(b"pass2"));
        assert!(u.apply("<pass2").unwrap_err().contains("does not exist"));
        let hash = sha256_hex(b"password");
        assert_eq!(hash, "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8");
        u.apply(&format!("#{hash}")).unwrap();
        assert!(u.accepts(b"password"));
        assert!(u.apply("#ABC").unwrap_err().contains("64 characters"));
        u.apply("off").unwrap();
        assert!(!u.accepts(b"password"));
        u.apply("reset").unwrap();
        assert_eq!(u.describe(), "user u off sanitize-payload resetchannels -@all");
    }

    #[test]
    fn setuser_keeps_nothing_of_a_failed_call_and_requirepass_sets_the_default_password() {
        let acl = Acl::new(None);
        assert!(acl.user("default").unwrap().accepts(b"anything"));
        assert!(acl.modify("bob", &["on", "+bogus"]).is_err());
        assert!(acl.user("bob").is_none());
        acl.set_default_password("secret");
        let default = acl.user("default").unwrap();
        assert!(default.accepts(b"secret") && !default.accepts(b"other"));
        assert_eq!(default.describe().split(' ').nth(3).map(|s| s.len()), Some(65));
        assert_eq!(acl.remove(&["bob", "nobody"]), 0);
    }

    #[test]
    fn the_log_groups_repeats_newest_first() {
        let acl = Acl::new(None);
        let entry = |object: &str, at: u64| LogEntry {
            id: 0,
            count: 1,
            reason: "command",
            context: "toplevel",
            object: object.into(),
            username: "u".into(),
            client_info: String::new(),
            created_ms: at,
            updated_ms: at,
        };
        acl.log(entry("hset", 1000));
        acl.log(entry("get", 2000));
        acl.log(entry("hset", 3000));
        acl.log(entry("hset", 100_000));
        let log = acl.log_entries(10);
        let summary: Vec<(&str, u64, u64)> = log.iter().map(|e| (e.object.as_str(), e.count, e.id)).collect();
        assert_eq!(summary, vec![("hset", 1, 2), ("hset", 2, 0), ("get", 1, 1)]);
        acl.log_reset();
        assert!(acl.log_entries(10).is_empty());
    }
}
