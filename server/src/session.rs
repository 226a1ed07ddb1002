//! A client's session: selected database, protocol version, authentication, MULTI queue,
//! WATCHed keys, subscriptions, and the dispatch of one request to its handler.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::machine::check;
use flotilla_storage::{CommandSpec, Flags, Handler, Watch};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clients::ClientHandle;
use crate::commands;
use crate::errors;
use crate::node::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
}

pub struct Session {
    pub node: Arc<Node>,
    pub client: Arc<ClientHandle>,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    /// Commands queued by MULTI (None: not in a transaction).
    pub multi: Option<Vec<(u32, Vec<Bytes>)>>,
    /// A command was rejected while queueing: EXEC must fail with EXECABORT.
    pub multi_failed: bool,
    pub watched: Vec<Watch>,
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    pub reply_mode: ReplyMode,
    /// Close the connection after the current reply is written (QUIT, protocol error).
    pub closing: bool,
}

/// What a request produced.
pub enum Outcome {
    Reply(Reply),
    /// No reply is sent (CLIENT REPLY OFF/SKIP, or a blocked command that timed out silently).
    Silent,
    /// The command blocks: the connection awaits the waiter, then sends its reply.
    Blocked(crate::blocking::Wait),
}

impl Session {
    pub fn new(node: Arc<Node>, client: Arc<ClientHandle>) -> Session {
        let authenticated = node.settings.read().requirepass.is_none();
        Session {
            node,
            client,
            db: 0,
            resp3: false,
            authenticated,
            multi: None,
            multi_failed: false,
            watched: Vec::new(),
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            reply_mode: ReplyMode::On,
            closing: false,
        }
    }

    pub fn is_subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }

    /// Runs one request.
    pub fn execute(&mut self, args: Vec<Bytes>) -> Outcome {
        let reply = match self.dispatch(args) {
            Ok(reply) => reply,
            Err(blocked) => return Outcome::Blocked(blocked),
        };
        match self.reply_mode {
            ReplyMode::On => Outcome::Reply(reply),
            ReplyMode::Off => Outcome::Silent,
            ReplyMode::Skip => {
                self.reply_mode = ReplyMode::On;
                Outcome::Silent
            }
        }
    }

    fn dispatch(&mut self, args: Vec<Bytes>) -> Result<Reply, crate::blocking::Wait> {
        let node = &self.node;
        node.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
        let Some(spec) = commands::lookup(&args[0]) else {
            self.flag_multi_error();
            return Ok(flotilla_storage::errors::unknown_command(&args));
        };
        self.client.touch(spec.name);
        let spec = match check(spec, &args) {
            Ok(spec) => spec,
            Err(reply) => {
                self.flag_multi_error();
                return Ok(reply);
            }
        };
        if !self.authenticated && !spec.flags.contains(Flags::NO_AUTH) {
            self.flag_multi_error();
            return Ok(Reply::error(errors::NOAUTH));
        }
        if self.is_subscribed() && !self.resp3 && !allowed_while_subscribed(spec) {
            return Ok(Reply::error_owned(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        if self.multi.is_some() && !runs_inside_multi(spec) {
            if spec.flags.contains(Flags::NO_MULTI) {
                return Ok(Reply::error_owned(format!(
                    "ERR Command not allowed inside a transaction"
                )));
            }
            self.multi
                .as_mut()
                .expect("in multi")
                .push((self.db as u32, args));
            return Ok(Reply::simple("QUEUED"));
        }
        match spec.handler {
            Handler::Keyspace(_) => {
                if spec.is_write() {
                    let blocking = spec.flags.contains(Flags::BLOCKING);
                    let reply = self.node.write(self.db, args.clone());
                    if blocking && matches!(reply, Reply::Nil | Reply::NilArray) {
                        return crate::blocking::block(self, spec, args, reply);
                    }
                    Ok(reply)
                } else {
                    Ok(self.node.read(self.db, &args))
                }
            }
            Handler::Server => match commands::server_handler(spec.name) {
                Some(handler) => Ok(handler(self, &args)),
                None => Ok(flotilla_storage::errors::unknown_command(&args)),
            },
            Handler::Container => Ok(flotilla_storage::errors::unknown_command(&args)),
        }
    }

    fn flag_multi_error(&mut self) {
        if self.multi.is_some() {
            self.multi_failed = true;
        }
    }

    /// Ends a transaction (EXEC, DISCARD, RESET): clears the queue and the watched keys.
    pub fn end_multi(&mut self) {
        self.multi = None;
        self.multi_failed = false;
        self.watched.clear();
        self.client.in_multi.store(false, Ordering::Relaxed);
    }
}

fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn allowed_while_subscribed(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}
