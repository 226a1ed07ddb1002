//! A client's session: selected database, protocol version, authentication, MULTI queue,
//! WATCHed keys, subscriptions, and the dispatch of one request to its handler.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::machine::check;
use flotilla_storage::{CommandSpec, Flags, Handler, Watch};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::acl::{Denied, LogEntry, User};
use crate::clients::ClientHandle;
use crate::clock;
use crate::commands;
use crate::commands::{cluster, monitor, slowlog};
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
    /// EXEC is running the queued commands (MONITOR is refused there, as in Redis).
    pub in_exec: bool,
    pub watched: Vec<Watch>,
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    /// Shard channels (SSUBSCRIBE); a separate namespace, as in Redis.
    pub shard_channels: BTreeSet<Bytes>,
    pub reply_mode: ReplyMode,
    /// READONLY: keyspace reads are served from this node's applied state without a read
    /// barrier (possibly stale, even on a follower); READWRITE or RESET clears it.
    pub readonly: bool,
    /// The reply of the command being run is skipped (armed by CLIENT REPLY SKIP).
    skip_current: bool,
    /// The command's reply is a pub/sub notification: sent even when replies are off.
    pub pushing: bool,
    /// Close the connection after the current reply is written (QUIT, protocol error).
    pub closing: bool,
    /// The blocked command the connection awaits, accounted for once it is served.
    blocked: Option<Blocked>,
    /// Log index of the entry of this connection's last write (what WAIT waits for).
    pub last_write_index: u64,
    /// The ACL user, as of `acl_epoch` (refreshed when the node's users change).
    acl_user: Arc<User>,
    acl_epoch: u64,
}

/// A command the connection awaits (a blocking command, WAIT): what to account for when it
/// replies.
struct Blocked {
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    duration_us: u64,
    /// Its reply is not sent (CLIENT REPLY OFF or SKIP when it arrived).
    silent: bool,
    /// Log index of the entry that ran it (a blocking pop), for WAIT.
    written: Option<Arc<AtomicU64>>,
}

/// What `Session::track` registered for a command, to clear once its reply is in.
#[derive(Default)]
pub struct Tracked {
    /// Keys a NOLOOP client's write marked.
    marked: Vec<Bytes>,
    /// Declared keys of a script registered with the tracking table.
    script: Vec<Bytes>,
}

/// What a request produced.
pub enum Outcome {
    Reply(Reply),
    /// No reply is sent (CLIENT REPLY OFF/SKIP, or a blocked command that timed out silently).
    Silent,
    /// The command blocks: the connection awaits the waiter, then sends its reply.
    Blocked(crate::blocking::Wait),
}

/// How dispatch ended, for the statistics, the slow log and MONITOR.
enum Dispatched {
    /// Refused before running (unknown, arity, NOAUTH, not allowed in this state).
    Rejected(Option<&'static CommandSpec>, Reply),
    /// Queued by MULTI.
    Queued(Reply),
    Ran(&'static CommandSpec, Reply),
    Blocked(&'static CommandSpec, crate::blocking::Wait),
}

impl Session {
    pub fn new(node: Arc<Node>, client: Arc<ClientHandle>) -> Session {
        let acl_epoch = node.acl.epoch();
        let acl_user = node.acl.user("default").expect("the default user is never removed");
        let authenticated = acl_user.accepts_without_password();
        Session {
            node,
            client,
            db: 0,
            resp3: false,
            authenticated,
            multi: None,
            multi_failed: false,
            in_exec: false,
            watched: Vec::new(),
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            reply_mode: ReplyMode::On,
            readonly: false,
            skip_current: false,
            pushing: false,
            closing: false,
            blocked: None,
            last_write_index: 0,
            acl_user,
            acl_epoch,
        }
    }

    /// Authenticated as `user` (AUTH, HELLO … AUTH).
    pub fn login(&mut self, user: Arc<User>) {
        self.authenticated = true;
        self.client.set_user(&user.name);
        self.acl_user = user;
    }

    /// Back to the default user, authenticated only if it needs no password (new
    /// connections, RESET).
    pub fn login_default(&mut self) {
        self.acl_epoch = self.node.acl.epoch();
        self.acl_user = self.node.acl.user("default").expect("the default user is never removed");
        self.authenticated = self.acl_user.accepts_without_password();
        self.client.set_user("default");
    }

    /// The connection's user, refreshed if the node's users changed since it was read.
    pub fn acl_user(&mut self) -> &Arc<User> {
        let epoch = self.node.acl.epoch();
        if epoch != self.acl_epoch {
            // A removed user's connections are being closed: keep the last rules until then.
            if let Some(user) = self.node.acl.user(&self.acl_user.name) {
                self.acl_user = user;
            }
            self.acl_epoch = epoch;
        }
        &self.acl_user
    }

    /// The permissions a script of this connection carries in its log entry: None for a user
    /// who may run everything (nothing is attached, nothing checked).
    pub fn script_user(&mut self) -> Option<Box<flotilla_storage::acl::ScriptUser>> {
        let (node, client) = (self.node.me, self.client.id);
        let user = self.acl_user();
        (!user.unrestricted()).then(|| Box::new(user.script_user(node, client)))
    }

    /// Records an ACL refusal in the ACL LOG.
    pub fn acl_log(&self, reason: &'static str, object: String, username: String) {
        let now_ms = self.node.clock.now_ms();
        self.node.acl.log(LogEntry {
            id: 0,
            count: 1,
            reason,
            context: if self.multi.is_some() { "multi" } else { "toplevel" },
            object,
            username,
            client_info: self.client.describe(),
            created_ms: now_ms,
            updated_ms: now_ms,
        });
    }

    /// Checks the command against the connection's ACL user; the NOPERM reply if refused.
    fn acl_refusal(&mut self, spec: &'static CommandSpec, args: &[Bytes]) -> Option<Reply> {
        let user = self.acl_user();
        if user.unrestricted() {
            return None;
        }
        let user = user.clone();
        let denied = user.check(spec, args).err()?;
        let (reason, object) = match denied {
            Denied::Command => ("command", spec.name.to_string()),
            Denied::Key(position) => ("key", String::from_utf8_lossy(&args[position]).into_owned()),
            Denied::Channel(position) => ("channel", String::from_utf8_lossy(&args[position]).into_owned()),
        };
        self.acl_log(reason, object, user.name.clone());
        let message = crate::acl::denied_message(denied, &user.name, spec, args, false);
        Some(Reply::error_owned(format!("NOPERM {message}")))
    }

    pub fn is_subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shard_channels.is_empty()
    }

    /// Runs one request.
    pub async fn execute(&mut self, args: Vec<Bytes>) -> Outcome {
        let started = clock::instant();
        let mode_before = self.reply_mode;
        self.pushing = false;
        let reply = match self.dispatch(&args).await {
            Dispatched::Rejected(spec, reply) => {
                slowlog::record_rejected(spec, &reply);
                reply
            }
            Dispatched::Queued(reply) => reply,
            Dispatched::Ran(spec, reply) => {
                let duration_us = started.elapsed().as_micros() as u64;
                slowlog::record(self, spec, &args, &reply, duration_us);
                if !monitor::shown_before_running(spec) {
                    monitor::feed(self, spec, &args);
                }
                reply
            }
            Dispatched::Blocked(spec, wait) => {
                // Shown once, when first run; statistics and the slow log wait for the reply.
                monitor::feed(self, spec, &args);
                // CLIENT REPLY SKIP / OFF silence it as any command (SKIP is set only by
                // CLIENT REPLY itself, which never blocks).
                let silent = std::mem::take(&mut self.skip_current) || self.reply_mode == ReplyMode::Off;
                self.blocked = Some(Blocked {
                    spec,
                    args,
                    duration_us: started.elapsed().as_micros() as u64,
                    silent,
                    written: wait.written.clone(),
                });
                return Outcome::Blocked(wait);
            }
        };
        // CLIENT CACHING applies to the next command, or to the transaction it starts.
        if self.client.tracking_on.load(Ordering::Relaxed)
            && self.multi.is_none()
            && !args[0].eq_ignore_ascii_case(b"client")
        {
            self.client.tracking.lock().caching = false;
        }
                // CLIENT REPLY OFF / SKIP are not answered themselves; SKIP silences the next command
        // (unless that one is CLIENT REPLY ON, which clears it).
        let skip_this = std::mem::take(&mut self.skip_current);
        let silent = match self.reply_mode {
            ReplyMode::On => skip_this,
            ReplyMode::Off => true,
            ReplyMode::Skip => {
                if mode_before == ReplyMode::Off {
                    self.reply_mode = ReplyMode::Off;
                } else {
                    self.reply_mode = ReplyMode::On;
                    self.skip_current = true;
                }
                true
            }
        };
        if silent && !std::mem::take(&mut self.pushing) {
            Outcome::Silent
        } else {
            Outcome::Reply(reply)
        }
    }

    async fn dispatch(&mut self, args: &[Bytes]) -> Dispatched {
        let node = &self.node;
        node.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
        let Some(spec) = commands::lookup(&args[0]) else {
            return self.reject(None, flotilla_storage::errors::unknown_command(args));
        };
        let spec = match check(spec, args) {
            Ok(spec) => spec,
            Err(reply) => {
                self.client.touch(spec.name);
                return self.reject(Some(spec), reply);
            }
        };
        self.client.touch(spec.name);
        if !self.authenticated && !spec.flags.contains(Flags::NO_AUTH) {
            return self.reject(Some(spec), Reply::error(errors::NOAUTH));
        }
        if let Some(refusal) = self.acl_refusal(spec, args) {
            return self.reject(Some(spec), refusal);
        }
        if self.multi.is_some() && spec.flags.contains(Flags::NO_MULTI) {
            return self.reject(Some(spec), Reply::error(errors::NOT_IN_MULTI));
        }
        // The Redis Cluster protocol: -MOVED for a key another node leads, -CROSSSLOT. As in
        // Redis, a transaction is checked as a whole at EXEC, which then discards it.
        if spec.name == "exec" {
            if let Some(refusal) = self.multi.as_deref().and_then(|queued| cluster::redirect_transaction(self, queued)) {
                self.end_multi();
                return Dispatched::Rejected(Some(spec), refusal);
            }
        } else if let Some(refusal) = cluster::redirect(self, spec, args) {
            return self.reject(Some(spec), refusal);
        }
        if self.out_of_memory_for(spec) {
            return self.reject(Some(spec), Reply::error(errors::OOM));
        }
        if self.is_subscribed() && !self.resp3 && !allowed_while_subscribed(spec) {
            let text = format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            );
            return self.reject(Some(spec), Reply::error_owned(text));
        }
        if self.client.is_monitor.load(Ordering::Relaxed)
            && (spec.is_write()
                || spec.flags.contains(Flags::READONLY)
                || spec.flags.contains(Flags::MAY_REPLICATE))
        {
            return self.reject(Some(spec), Reply::error(errors::REPLICA_KEYSPACE));
        }
        // CLIENT PAUSE postpones the command (ALL: every one; WRITE: those that write or may
        // replicate, and an EXEC whose queue holds one) until the pause ends or is lifted.
        if self.node.pause.holds(true) {
            let writes = self.writes_or_replicates(spec);
            if self.node.pause.holds(writes) {
                // Held, the client is blocked as Redis counts it (INFO, CLIENT LIST's `b`).
                let node = self.node.clone();
                let _held = node.pause.hold();
                self.client.blocked.store(true, Ordering::Relaxed);
                node.pause.wait(writes).await;
                self.client.blocked.store(false, Ordering::Relaxed);
            }
        }
        if let Some(queue) = self.multi.as_mut().filter(|_| !runs_inside_multi(spec)) {
            queue.push((self.db as u32, args.to_vec()));
            return Dispatched::Queued(Reply::simple("QUEUED"));
        }
        // A blocking command queues behind the blocking commands that arrived before it, at
        // once: its place is the order of arrival, not the order tasks get to run.
        if spec.flags.contains(Flags::BLOCKING) && matches!(spec.handler, Handler::Keyspace(_)) {
            if let Some(wait) = crate::blocking::block(self, spec, args.to_vec()) {
                return Dispatched::Blocked(spec, wait);
            }
        }
        // Blocking commands that arrived earlier, and blocked clients that earlier commands
        // made servable, are served first; blocking commands arriving later wait for a write.
        let node = self.node.clone();
        let write = match spec.handler {
            Handler::Keyspace(_) => spec.is_write(),
            _ => spec.name == "exec",
        };
        let arrival = node.blocking.arrive(write);
        arrival.settled().await;
        match spec.handler {
            Handler::Keyspace(_) => {
                if monitor::shown_before_running(spec) {
                    monitor::feed(self, spec, args);
                }
                if self.script_out_of_memory(spec, args) {
                    return Dispatched::Ran(spec, Reply::error(errors::OOM_SCRIPT));
                }
                let tracked = self.track(spec, args);
                let script = flotilla_storage::acl::runs_script(spec);
                let caller = crate::node::ScriptCaller {
                    user: script.then(|| self.script_user()).flatten(),
                    over_memory: script && spec.is_write() && self.over_maxmemory(),
                };
                if !caller.is_plain() {
                    let touch = !self.client.no_touch.load(Ordering::Relaxed);
                    let (reply, index) = self
                        .node
                        .run_script_as(self.db, args.to_vec(), spec.is_write(), self.readonly, touch, caller)
                        .await;
                    self.wrote_at(index);
                    self.tracked(&tracked);
                    return Dispatched::Ran(spec, reply);
                }
                if spec.is_write() {
                    let (reply, index) = self.node.write_indexed(self.db, args.to_vec()).await;
                    self.wrote_at(index);
                    self.tracked(&tracked);
                    Dispatched::Ran(spec, reply)
                } else {
                    let reply = self.read(&[args.to_vec()]).await.pop();
                    self.tracked(&tracked);
                    Dispatched::Ran(spec, reply.expect("one reply per command"))
                }
            }
            Handler::Server if spec.name == "wait" || spec.name == "waitaof" => {
                let waiting = if spec.name == "wait" {
                    crate::commands::replication::wait(self, args)
                } else {
                    crate::commands::replication::waitaof(self, args)
                };
                match waiting {
                    Ok(reply) => Dispatched::Ran(spec, reply),
                    Err(wait) => Dispatched::Blocked(spec, wait),
                }
            }
            Handler::Server if spec.name == "save" => Dispatched::Ran(spec, crate::commands::admin::save(self).await),
            Handler::Server if spec.name == "cluster|join" || spec.name == "cluster|forget" => {
                Dispatched::Ran(spec, crate::commands::cluster::membership(self, spec.name, args).await)
            }
            Handler::Server if spec.name == "config|set" => {
                Dispatched::Ran(spec, crate::commands::admin::config_set(self, args).await)
            }
            Handler::Server if commands::ASYNC_SERVER_COMMANDS.contains(&spec.name) => {
                Dispatched::Ran(spec, crate::commands::transactions::exec(self, args).await)
            }
            Handler::Server => match commands::server_handler(spec.name) {
                Some(handler) => {
                    if spec.flags.contains(Flags::PUBSUB) && spec.name.ends_with("publish") {
                        // Lets connections already woken by earlier requests (an UNSUBSCRIBE
                        // sent just before) run first, as Redis's event loop would.
                        tokio::task::yield_now().await;
                    }
                    Dispatched::Ran(spec, handler(self, args))
                }
                None => self.reject(Some(spec), flotilla_storage::errors::unknown_command(args)),
            },
            Handler::Container => self.reject(Some(spec), flotilla_storage::errors::unknown_command(args)),
        }
    }

    /// What a WRITE pause holds back: commands flagged write or may-replicate, and an EXEC
    /// whose queue holds one (Redis's `is_may_replicate_command`).
    fn writes_or_replicates(&self, spec: &CommandSpec) -> bool {
        let replicates = |spec: &CommandSpec| spec.is_write() || spec.flags.contains(Flags::MAY_REPLICATE);
        replicates(spec)
            || (spec.name == "exec"
                && self.multi.as_ref().is_some_and(|queued| {
                    queued.iter().any(|(_, args)| {
                        commands::lookup(&args[0])
                            .and_then(|spec| check(spec, args).ok())
                            .is_some_and(replicates)
                    })
                }))
    }

    /// Over `maxmemory`, commands that may grow memory are refused; so is an EXEC whose queue
    /// holds one (read-only transactions still run).
    fn out_of_memory_for(&self, spec: &CommandSpec) -> bool {
        let maxmemory_bytes = self.node.live.maxmemory_bytes.load(Ordering::Relaxed);
        if maxmemory_bytes == 0 {
            return false;
        }
        let may_grow = spec.flags.contains(Flags::DENYOOM)
            || (spec.name == "exec"
                && self.multi.as_ref().is_some_and(|queued| {
                    queued.iter().any(|(_, args)| {
                        commands::lookup(&args[0])
                            .and_then(|spec| check(spec, args).ok())
                            .is_some_and(|spec| spec.flags.contains(Flags::DENYOOM))
                    })
                }));
        may_grow && crate::commands::admin::resident_bytes() > maxmemory_bytes
    }

    /// Over `maxmemory`, a script with a shebang (EVAL, EVALSHA) or a function (FCALL) is not
    /// run unless it declares `allow-oom` or `no-writes`, as Redis 7.0's `scriptPrepareForRun`
    /// refuses it; a script without a shebang runs (Redis checks its writes one by one).
    fn script_out_of_memory(&self, spec: &CommandSpec, args: &[Bytes]) -> bool {
        if self.node.live.maxmemory_bytes.load(Ordering::Relaxed) == 0 || !matches!(spec.name, "eval" | "evalsha" | "fcall") {
            return false;
        }
        let declared = |body: &[u8]| {
            flotilla_storage::lua::parse_shebang(body)
                .ok()
                .is_some_and(|(flags, _)| flags.shebang && !flags.no_writes && !flags.allow_oom)
        };
        let refused = match spec.name {
            "eval" => declared(&args[1]),
            "evalsha" => {
                let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
                self.node.with_machine(|machine| machine.keyspace.scripts.get(&sha).is_some_and(|body| declared(body)))
            }
            _ => self.node.with_machine(|machine| {
                use flotilla_storage::functions::FunctionFlags;
                machine.keyspace.libraries.function(&args[1]).is_some_and(|(_, info)| {
                    !info.flags.contains(FunctionFlags::NO_WRITES) && !info.flags.contains(FunctionFlags::ALLOW_OOM)
                })
            }),
        };
        refused && self.over_maxmemory()
    }

    /// The node uses more memory than `maxmemory` (never when it is 0).
    pub fn over_maxmemory(&self) -> bool {
        let maxmemory_bytes = self.node.live.maxmemory_bytes.load(Ordering::Relaxed);
        maxmemory_bytes != 0 && crate::commands::admin::resident_bytes() > maxmemory_bytes
    }

    /// Refuses a command: inside MULTI this dooms the transaction (and a refused EXEC
    /// discards it), as Redis's `rejectCommand`.
    fn reject(&mut self, spec: Option<&'static CommandSpec>, reply: Reply) -> Dispatched {
        if self.multi.is_some() {
            if spec.is_some_and(|spec| spec.name == "exec") {
                let reason = match &reply {
                    Reply::Error(text) => text.strip_prefix("ERR ").unwrap_or(text).to_string(),
                    _ => String::new(),
                };
                self.end_multi();
                let abort = format!("EXECABORT Transaction discarded because of: {reason}");
                return Dispatched::Rejected(spec, Reply::error_owned(abort));
            }
            self.multi_failed = true;
        }
        Dispatched::Rejected(spec, reply)
    }

    /// Whether this session's state lets pipelined commands run in batches at all (no MULTI,
    /// no restricted user, replies on, not subscribed or monitoring, no maxmemory, no pause …);
    /// then `batch_spec` says which commands can.
    pub fn can_batch(&self) -> bool {
        !(self.multi.is_some()
            || !self.authenticated
            || !self.acl_user.unrestricted()
            || self.node.acl.epoch() != self.acl_epoch
            || self.reply_mode != ReplyMode::On
            || self.skip_current
            || self.is_subscribed()
            || self.client.is_monitor.load(Ordering::Relaxed)
            || self.node.live.maxmemory_bytes.load(Ordering::Relaxed) != 0
            || self.node.pause.holds(true)
            // Under the cluster protocol a node that does not lead redirects most commands
            // (`cluster::redirect`), which only the one-by-one path does.
            || (self.node.cluster_enabled() && !self.node.group.is_leader()))
    }

    /// Whether `args` can run in a batch with the same kind of commands pipelined next to it
    /// (once `can_batch` holds), and its spec: (true, spec) for a keyspace write whose handling
    /// depends on nothing but the keyspace (such writes, back to back, are proposed together),
    /// (false, spec) for a keyspace read (such reads share one read barrier), None for
    /// anything else.
    /// Under the cluster protocol (`cluster`), a command whose keys hash to different slots
    /// runs alone, to be refused.
    pub fn batch_spec(args: &[Bytes], cluster: bool) -> Option<(bool, &'static CommandSpec)> {
        let spec = check(commands::lookup(&args[0])?, args).ok()?;
        let batchable = matches!(spec.handler, Handler::Keyspace(_))
            && !spec.flags.contains(Flags::BLOCKING)
            && !(cluster && cluster::crosses_slots(spec, args));
        batchable.then(|| (spec.is_write(), spec))
    }

    /// Runs writes that `batch_spec` accepted as one proposal, or reads it accepted behind
    /// one read barrier (`specs` are their specs, as it found them); one reply each, in order.
    pub async fn execute_batch(&mut self, batch: Vec<Vec<Bytes>>, specs: Vec<&'static CommandSpec>) -> Vec<Reply> {
        let started = clock::instant();
        let db = self.db as u32;
        let node = self.node.clone();
        node.stats
            .commands_processed
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        debug_assert_eq!(batch.len(), specs.len());
        if let Some(last) = specs.last() {
            self.client.touch(last.name);
        }
        let write = specs.first().is_some_and(|spec| spec.is_write());
        let arrival = node.blocking.arrive(write);
        arrival.settled().await;
        for (spec, args) in specs.iter().zip(&batch) {
            monitor::feed(self, spec, args);
        }
        let mut tracked = Vec::new();
        if self.client.tracking_on.load(Ordering::Relaxed) {
            for (spec, args) in specs.iter().zip(&batch) {
                tracked.push(self.track(spec, args));
            }
        }
        // Where the commands' arguments are once they ran.
        enum Held {
            Read(Vec<Vec<Bytes>>),
            Written(crate::node::ProposedOps),
        }
        let count = batch.len();
        let (replies, held) = if write {
            // The ops take the arguments over (no copy); the slow log reads them back from
            // the entry that carried them.
            let ops = batch
                .into_iter()
                .map(|args| flotilla_storage::Op::Command { db, args })
                .collect();
            let (replies, index, written) = node.propose_keeping_ops(ops).await;
            self.wrote_at(index);
            (replies, Held::Written(written))
        } else {
            (self.read(&batch).await, Held::Read(batch))
        };
        for tracked in &tracked {
            self.tracked(tracked);
        }
        let duration_us = started.elapsed().as_micros() as u64 / count.max(1) as u64;
        for (n, (spec, reply)) in specs.iter().zip(&replies).enumerate() {
            // A write whose outcome is unknown left no ops to read: its name stands for them.
            let unknown;
            let args = match &held {
                Held::Read(read) => &read[n][..],
                Held::Written(written) => match written.args(n) {
                    Some(args) => args,
                    None => {
                        unknown = [Bytes::from_static(spec.name.as_bytes())];
                        &unknown[..]
                    }
                },
            };
            slowlog::record(self, spec, args, reply, duration_us);
        }
        replies
    }

    /// Runs keyspace reads of the selected database: linearizably, or from this node's applied
    /// state on a READONLY connection.
    async fn read(&self, commands: &[Vec<Bytes>]) -> Vec<Reply> {
        let touch = !self.client.no_touch.load(Ordering::Relaxed);
        if self.readonly {
            self.node.apply_received().await;
            self.node.read_local(self.db, commands, touch)
        } else {
            self.node.read_many(self.db, commands, touch).await
        }
    }

    /// CLIENT TRACKING, before a keyspace command runs: remembers the keys a read is about to
    /// read, registers a script (its keys are remembered if it reads), and marks the keys a
    /// NOLOOP client is about to write. What it returns goes to `tracked` once the reply is in.
    pub fn track(&self, spec: &CommandSpec, args: &[Bytes]) -> Tracked {
        let mut tracked = Tracked::default();
        if !self.client.tracking_on.load(Ordering::Relaxed) || spec.flags.contains(Flags::PUBSUB) {
            return tracked;
        }
        let keys: Vec<Bytes> = spec.key_positions(args).into_iter().map(|at| args[at].clone()).collect();
        if keys.is_empty() {
            return tracked;
        }
        let tracking = &self.node.tracking;
        if matches!(
            spec.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        ) {
            if tracking.script_sent(&self.client, &keys) {
                tracked.script = keys.clone();
            }
        } else if spec.flags.contains(Flags::READONLY) {
            tracking.remember(&self.client, keys.iter().cloned());
            let max_keys = self.node.live.tracking_table_max_keys.load(Ordering::Relaxed) as usize;
            tracking.enforce_limit(&self.node, max_keys);
        }
        if spec.is_write() {
            tracking.writing(&self.client, &keys);
            tracked.marked = keys;
        }
        tracked
    }

    /// The command `track` saw has its reply: clears what is left of its marks.
    pub fn tracked(&self, tracked: &Tracked) {
        if !tracked.marked.is_empty() {
            self.node.tracking.written(&self.client, &tracked.marked);
        }
        if !tracked.script.is_empty() {
            self.node.tracking.script_done(&self.client, &tracked.script);
        }
    }

    /// Remembers the log index of a write this connection made (for WAIT).
    pub fn wrote_at(&mut self, index: Option<u64>) {
        if let Some(index) = index {
            self.last_write_index = self.last_write_index.max(index);
        }
    }

    /// Ends a transaction (EXEC, DISCARD, RESET): clears the queue and the watched keys.
    pub fn end_multi(&mut self) {
        self.multi = None;
        self.multi_failed = false;
        self.watched.clear();
        self.client.in_multi.store(false, Ordering::Relaxed);
    }

    /// CLIENT REPLY ON: replies again, including this command's and a pending SKIP's.
    pub fn replies_on(&mut self) {
        self.reply_mode = ReplyMode::On;
        self.skip_current = false;
    }

    /// A blocked command got its reply: statistics and the slow log count it now, as Redis
    /// does, with the time it ran (not the time it waited). False when the reply is not sent
    /// (CLIENT REPLY OFF / SKIP).
    pub fn unblocked(&mut self, reply: &Reply) -> bool {
        let Some(blocked) = self.blocked.take() else {
            return true;
        };
        if let Some(written) = &blocked.written {
            let index = written.load(Ordering::Relaxed);
            self.wrote_at((index > 0).then_some(index));
        }
        slowlog::record(self, blocked.spec, &blocked.args, reply, blocked.duration_us);
        !blocked.silent
    }

    /// Accounts for a command that EXEC ran: statistics and MONITOR, as if it ran alone.
    pub fn record_in_exec(&self, spec: &'static CommandSpec, args: &[Bytes], reply: &Reply) {
        slowlog::record(self, spec, args, reply, 0);
        monitor::feed(self, spec, args);
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
