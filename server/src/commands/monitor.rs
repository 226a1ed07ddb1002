//! MONITOR: clients that receive every command the node runs, one status line per command,
//! formatted as Redis does: `+1700000000.123456 [0 127.0.0.1:5555] "set" "k" "v"`.
//!
//! A command is shown after it ran (rejected and queued commands are not; the commands of a
//! transaction are shown when EXEC runs them), with the database selected after it ran.
//! Administrative commands are never shown, and secrets (AUTH passwords) are redacted.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::args::is;
use flotilla_storage::{CommandSpec, Flags, Handler};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::ServerFn;
use crate::clients::ClientHandle;
use crate::session::Session;

const REDACTED: &[u8] = b"(redacted)";

#[derive(Default)]
pub struct Monitors {
    /// Number of monitors, read on every command without taking the lock.
    count: AtomicUsize,
    clients: RwLock<Vec<Arc<ClientHandle>>>,
}

impl Monitors {
    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    fn add(&self, client: Arc<ClientHandle>) {
        let mut clients = self.clients.write();
        clients.push(client);
        self.count.store(clients.len(), Ordering::Relaxed);
    }

    /// Stops feeding a client (RESET, disconnect); a no-op for other clients.
    pub fn remove(&self, client_id: u64) {
        if self.is_empty() {
            return;
        }
        let mut clients = self.clients.write();
        clients.retain(|c| c.id != client_id);
        self.count.store(clients.len(), Ordering::Relaxed);
    }
}

/// Shows a command that ran on every monitor.
pub fn feed(session: &Session, spec: &CommandSpec, args: &[Bytes]) {
    let monitors = &session.node.monitors;
    // Scripts carry Redis's `skip_monitor` flag because Redis shows them itself, before they
    // run; so are they shown here (`shown_before_running`).
    if monitors.is_empty()
        || spec.flags.contains(Flags::ADMIN)
        || (spec.flags.contains(Flags::SKIP_MONITOR) && !shown_before_running(spec))
    {
        return;
    }
    let line = format_line(
        session.node.clock.now_us(),
        session.db,
        &session.client.addr.to_string(),
        &redacted(spec, args),
    );
    let size = line.len();
    let reply = Reply::Simple(line.into());
    for client in monitors.clients.read().iter() {
        client.push(reply.clone(), size);
    }
}

/// Scripts are shown before they run, as Redis 7.0 does, so that the commands they run
/// (`script_commands`) follow their line; every other command after it ran.
pub fn shown_before_running(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Shows the commands the scripts of an applied entry (or of a read) ran, as Redis shows a
/// script's calls: `+1700000000.123456 [0 lua] "set" "k" "v"`. They are reported by the
/// state machine on every node that applies the entry, so each node's monitors see them.
pub fn script_commands(node: &crate::node::Node, events: &[flotilla_storage::Event]) {
    if node.monitors.is_empty() {
        return;
    }
    for event in events {
        let flotilla_storage::Event::ScriptCommand { db, args } = event else {
            continue;
        };
        let line = format_line(node.clock.now_us(), *db, "lua", args);
        let size = line.len();
        let reply = Reply::Simple(line.into());
        for client in node.monitors.clients.read().iter() {
            client.push(reply.clone(), size);
        }
    }
}

/// `1700000000.123456 [db addr] "arg" …` (the `+` and CRLF come from the encoder).
pub fn format_line(now_us: u64, db: usize, peer: &str, args: &[Bytes]) -> String {
    let mut line = format!(
        "{}.{:06} [{} {}]",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db,
        peer
    );
    for arg in args {
        line.push(' ');
        quote(arg, &mut line);
    }
    line
}

/// Appends `bytes` as a double-quoted, escaped string, as Redis's `sdscatrepr`.
fn quote(bytes: &[u8], out: &mut String) {
    out.push('"');
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
}

/// The arguments with secrets replaced by `(redacted)`, as Redis shows them in MONITOR and
/// the slow log: AUTH's arguments, HELLO's AUTH credentials, MIGRATE's AUTH / AUTH2, the
/// password parameters of CONFIG SET, and everything after ACL SETUSER (its rules hold passwords).
pub fn redacted(spec: &CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    let mut out = args.to_vec();
    let redacted = Bytes::from_static(REDACTED);
    match spec.name {
        "auth" => {
            for arg in out.iter_mut().skip(1) {
                *arg = redacted.clone();
            }
        }
        "acl|setuser" => {
            for arg in out.iter_mut().skip(2) {
                *arg = redacted.clone();
            }
        }
        "hello" => {
            let mut position = 2;
            while position < out.len() {
                let more = out.len() - position - 1;
                if is(&out[position], "AUTH") && more >= 2 {
                    out[position + 1] = redacted.clone();
                    out[position + 2] = redacted.clone();
                    position += 3;
                } else if is(&out[position], "SETNAME") && more >= 1 {
                    position += 2;
                } else {
                    break;
                }
            }
        }
        "migrate" => {
            let mut position = 6;
            while position < out.len() {
                if is(&out[position], "AUTH") && position + 1 < out.len() {
                    out[position + 1] = redacted.clone();
                    position += 2;
                } else if is(&out[position], "AUTH2") && position + 2 < out.len() {
                    out[position + 1] = redacted.clone();
                    out[position + 2] = redacted.clone();
                    position += 3;
                } else {
                    position += 1;
                }
            }
        }
        "config|set" => {
            let mut position = 2;
            while position + 1 < out.len() {
                if ["masterauth", "masteruser", "requirepass"]
                    .iter()
                    .any(|name| is(&out[position], name))
                {
                    out[position + 1] = redacted.clone();
                }
                position += 2;
            }
        }
        _ => {}
    }
    out
}

fn monitor(session: &mut Session, _args: &[Bytes]) -> Reply {
    if session.in_exec {
        return Reply::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    if session.client.is_monitor.swap(true, Ordering::Relaxed) {
        // Already monitoring: Redis ignores the command without a reply.
        return Reply::Raw(Bytes::new());
    }
    session.node.monitors.add(session.client.clone());
    Reply::ok()
}

/// Leaves monitor mode (RESET, disconnect).
pub fn stop(session: &Session) {
    if session.client.is_monitor.swap(false, Ordering::Relaxed) {
        session.node.monitors.remove(session.client.id);
    }
}

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    flags: Flags::ADMIN
        .union(Flags::NOSCRIPT)
        .union(Flags::LOADING)
        .union(Flags::STALE),
    acl: &["admin", "slow", "dangerous"],
    group: "server",
    since: "1.0.0",
    summary: "Listens for all requests received by the server in real-time.",
    ..CommandSpec::base("monitor", 1, Handler::Server)
}];

pub const HANDLERS: &[(&str, ServerFn)] = &[("monitor", monitor)];

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn lines_are_formatted_as_redis_does() {
        let line = format_line(
            1_700_000_000_000_123,
            0,
            "127.0.0.1:5555",
            &args(&["set", "k", "v"]),
        );
        assert_eq!(line, "1700000000.000123 [0 127.0.0.1:5555] \"set\" \"k\" \"v\"");
        let line = format_line(
            1_700_000_000_123_456,
            3,
            "127.0.0.1:1",
            &[Bytes::from_static(b"a\"b\\c\r\n\x00\x7f\xff")],
        );
        assert_eq!(
            line,
            "1700000000.123456 [3 127.0.0.1:1] \"a\\\"b\\\\c\\r\\n\\x00\\x7f\\xff\""
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let auth = super::super::lookup(b"auth").unwrap();
        assert_eq!(
            redacted(auth, &args(&["auth", "user", "pass"])),
            args(&["auth", "(redacted)", "(redacted)"])
        );
        let hello = super::super::lookup(b"hello").unwrap();
        assert_eq!(
            redacted(hello, &args(&["hello", "3", "AUTH", "u", "p", "SETNAME", "n"])),
            args(&["hello", "3", "AUTH", "(redacted)", "(redacted)", "SETNAME", "n"])
        );
        let setuser_args = args(&["acl", "setuser", "bob", "on", ">secret"]);
        let setuser = flotilla_storage::machine::check(super::super::lookup(b"acl").unwrap(), &setuser_args).unwrap();
        assert_eq!(
            redacted(setuser, &setuser_args),
            args(&["acl", "setuser", "(redacted)", "(redacted)", "(redacted)"])
        );
    }
}
