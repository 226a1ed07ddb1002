//! The server's own command families (connection, server administration, clients, pub/sub,
//! transactions), and the merged command table: server families first, then the keyspace
//! families of `flotilla_storage`.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::CommandSpec;
use flotilla_storage::name_index::NameIndex;
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::session::Session;

pub mod acl;
pub mod admin;
pub mod cluster;
pub mod connection;
pub mod monitor;
pub mod pubsub;
pub mod replication;
pub mod slowlog;
pub mod transactions;

/// A server command: runs against the session (and through it, the node).
pub type ServerFn = fn(&mut Session, &[Bytes]) -> Reply;

/// Server commands that await the log (EXEC proposes its entry, WAIT awaits replication, SAVE
/// a snapshot, CONFIG SET proposes replicated settings); the session's async dispatch runs
/// them directly instead of through a `ServerFn`.
pub const ASYNC_SERVER_COMMANDS: &[&str] =
    &["exec", "wait", "waitaof", "save", "config|set", "cluster|join", "cluster|forget"];

/// A command family: its table rows and the handlers of its server commands.
pub type Family = (&'static [CommandSpec], &'static [(&'static str, ServerFn)]);

pub const FAMILIES: &[Family] = &[
    (connection::COMMANDS, connection::HANDLERS),
    (admin::COMMANDS, admin::HANDLERS),
    (cluster::COMMANDS, cluster::HANDLERS),
    (acl::COMMANDS, acl::HANDLERS),
    (replication::COMMANDS, replication::HANDLERS),
    (pubsub::COMMANDS, pubsub::HANDLERS),
    (transactions::COMMANDS, transactions::HANDLERS),
    (monitor::COMMANDS, monitor::HANDLERS),
    (slowlog::COMMANDS, slowlog::HANDLERS),
];

fn server_table() -> &'static NameIndex {
    static TABLE: OnceLock<NameIndex> = OnceLock::new();
    TABLE.get_or_init(|| {
        let specs = FAMILIES.iter().flat_map(|(specs, _)| specs.iter());
        for spec in specs.clone() {
            assert!(
                flotilla_storage::commands::lookup(spec.name.as_bytes()).is_none(),
                "{} twice",
                spec.name
            );
        }
        NameIndex::new(specs)
    })
}

fn handler_table() -> &'static HashMap<&'static str, ServerFn> {
    static TABLE: OnceLock<HashMap<&'static str, ServerFn>> = OnceLock::new();
    TABLE.get_or_init(|| {
        FAMILIES
            .iter()
            .flat_map(|(_, handlers)| handlers.iter().copied())
            .collect()
    })
}

/// Finds any command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if let Some(spec) = flotilla_storage::commands::lookup(name) {
        return Some(spec);
    }
    server_table().get(name)
}

/// The handler of a server command or subcommand (`client|setname`).
pub fn server_handler(name: &str) -> Option<ServerFn> {
    handler_table().get(name).copied()
}

/// Every command spec, server families first.
pub fn all() -> Vec<&'static CommandSpec> {
    let mut specs: Vec<&'static CommandSpec> = FAMILIES.iter().flat_map(|(specs, _)| specs.iter()).collect();
    specs.extend(flotilla_storage::commands::all());
    specs
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_storage::Handler;

    /// Every server entry (and subcommand) has a handler, and every handler an entry.
    #[test]
    fn every_server_command_has_a_handler() {
        let mut names = Vec::new();
        for spec in all() {
            // A command with subcommands may also run alone (COMMAND); a container cannot.
            let subs: Vec<&CommandSpec> = std::iter::once(spec).chain(spec.subcommands.iter()).collect();
            for sub in subs {
                if matches!(sub.handler, Handler::Server) {
                    assert!(
                        server_handler(sub.name).is_some() || ASYNC_SERVER_COMMANDS.contains(&sub.name),
                        "{} has no handler",
                        sub.name
                    );
                    names.push(sub.name);
                }
            }
        }
        for name in handler_table().keys() {
            assert!(names.contains(name), "handler {name} has no table entry");
        }
    }
}
