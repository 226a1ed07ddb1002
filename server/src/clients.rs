//! The registry of connected clients: what CLIENT LIST / INFO / KILL see, and each client's
//! channel for out-of-band messages (pub/sub, MONITOR).

use bytes::Bytes;
use flotilla_protocol::Reply;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// One class's output buffer limit (`client-output-buffer-limit <class> hard soft seconds`):
/// a client is disconnected when its queued output exceeds `hard` bytes, or stays above
/// `soft` bytes for `soft_seconds`. Zero disables a limit.
#[derive(Debug, Default)]
pub struct OutputLimit {
    pub hard_bytes: AtomicU64,
    pub soft_bytes: AtomicU64,
    pub soft_seconds: AtomicU64,
}

impl OutputLimit {
    fn new(hard_bytes: u64, soft_bytes: u64, soft_seconds: u64) -> Self {
        OutputLimit {
            hard_bytes: AtomicU64::new(hard_bytes),
            soft_bytes: AtomicU64::new(soft_bytes),
            soft_seconds: AtomicU64::new(soft_seconds),
        }
    }
}

/// The output buffer limits of the client classes, shared by the settings (CONFIG SET) and
/// every connection.
#[derive(Debug)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    pub replica: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    /// Redis's defaults: normal clients unlimited, replicas 256mb/64mb/60s, pub/sub
    /// 32mb/8mb/60s.
    fn default() -> Self {
        OutputLimits {
            normal: OutputLimit::new(0, 0, 0),
            replica: OutputLimit::new(256 << 20, 64 << 20, 60),
            pubsub: OutputLimit::new(32 << 20, 8 << 20, 60),
        }
    }
}

impl OutputLimits {
    /// Applies a `client-output-buffer-limit` value; all classes or none (Redis's texts).
    pub fn set(&self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".to_string());
        }
        let mut parsed = Vec::new();
        for group in words.chunks(4) {
            let limit = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &self.normal,
                "replica" | "slave" => &self.replica,
                "pubsub" => &self.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration.".to_string()),
            };
            let values = (
                parse_memory(group[1]),
                parse_memory(group[2]),
                group[3].parse::<u64>().ok(),
            );
            let (Some(hard), Some(soft), Some(seconds)) = values else {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string(),
                );
            };
            parsed.push((limit, hard, soft, seconds));
        }
        for (limit, hard, soft, seconds) in parsed {
            limit.hard_bytes.store(hard, Ordering::Relaxed);
            limit.soft_bytes.store(soft, Ordering::Relaxed);
            limit.soft_seconds.store(seconds, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The value CONFIG GET shows: `normal 0 0 0 slave … pubsub …`.
    pub fn describe(&self) -> String {
        let one = |name: &str, limit: &OutputLimit| {
            format!(
                "{name} {} {} {}",
                limit.hard_bytes.load(Ordering::Relaxed),
                limit.soft_bytes.load(Ordering::Relaxed),
                limit.soft_seconds.load(Ordering::Relaxed)
            )
        };
        format!(
            "{} {} {}",
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub)
        )
    }
}

/// A byte count with Redis's units (`1k` = 1000, `1kb` = 1024, `mb`, `gb` …).
pub fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub created: std::time::Instant,
    pub name: Mutex<Option<Bytes>>,
    pub lib_name: Mutex<Option<Bytes>>,
    pub lib_ver: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub last_command: Mutex<&'static str>,
    /// Milliseconds since `created` at the last command.
    pub last_active_ms: AtomicU64,
    pub subscriptions: AtomicUsize,
    pub psubscriptions: AtomicUsize,
    pub ssubscriptions: AtomicUsize,
    /// Bytes of the query buffer: the request being run and those read after it.
    pub query_buffer_bytes: AtomicUsize,
    pub in_multi: AtomicBool,
    pub is_monitor: AtomicBool,
    pub no_evict: AtomicBool,
    /// CLIENT NO-TOUCH ON: its reads leave the keys' access times and counters alone.
    pub no_touch: AtomicBool,
    /// Waiting in a blocking command (CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// Bytes sent on `push` and not yet written to the socket.
    pub push_pending_bytes: AtomicUsize,
    /// Milliseconds since `created` when the queued output went over the soft limit (0: under).
    soft_limit_since_ms: AtomicU64,
    limits: Arc<OutputLimits>,
    push: mpsc::UnboundedSender<Reply>,
    pub killed: AtomicBool,
    pub kill: Notify,
    /// The ACL user the connection is authenticated as.
    user: Mutex<Arc<str>>,
    /// CLIENT TRACKING mode (see `tracking.rs`); `tracking_on` mirrors `mode.on` lock-free.
    pub tracking: Mutex<crate::tracking::Mode>,
    pub tracking_on: AtomicBool,
}

impl ClientHandle {
    pub fn new(
        id: u64,
        addr: SocketAddr,
        local_addr: SocketAddr,
        push: mpsc::UnboundedSender<Reply>,
        limits: Arc<OutputLimits>,
    ) -> Self {
        ClientHandle {
            id,
            addr,
            local_addr,
            created: crate::clock::instant(),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_command: Mutex::new("NULL"),
            last_active_ms: AtomicU64::new(0),
            subscriptions: AtomicUsize::new(0),
            psubscriptions: AtomicUsize::new(0),
            ssubscriptions: AtomicUsize::new(0),
            query_buffer_bytes: AtomicUsize::new(0),
            in_multi: AtomicBool::new(false),
            is_monitor: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            push_pending_bytes: AtomicUsize::new(0),
            soft_limit_since_ms: AtomicU64::new(0),
            limits,
            push,
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            user: Mutex::new(Arc::from("default")),
            tracking: Mutex::new(crate::tracking::Mode::default()),
            tracking_on: AtomicBool::new(false),
        }
    }

    /// Queues an out-of-band message; a client over its output buffer limit is disconnected
    /// (subscribers use the `pubsub` class, every other client the `normal` one, as MONITOR
    /// clients do in Redis).
    pub fn push(&self, message: Reply, approx_bytes: usize) {
        if self.killed.load(Ordering::Relaxed) {
            return;
        }
        let pending =
            (self.push_pending_bytes.fetch_add(approx_bytes, Ordering::Relaxed) + approx_bytes) as u64;
        let limit = if self.is_subscribed() {
            &self.limits.pubsub
        } else {
            &self.limits.normal
        };
        let hard = limit.hard_bytes.load(Ordering::Relaxed);
        let soft = limit.soft_bytes.load(Ordering::Relaxed);
        if hard > 0 && pending > hard {
            self.close();
            return;
        }
        if soft > 0 && pending > soft {
            let now_ms = (self.created.elapsed().as_millis() as u64).max(1);
            let since = self.soft_limit_since_ms.load(Ordering::Relaxed);
            if since == 0 {
                self.soft_limit_since_ms.store(now_ms, Ordering::Relaxed);
            } else if now_ms - since >= limit.soft_seconds.load(Ordering::Relaxed) * 1000 {
                self.close();
                return;
            }
        } else {
            self.soft_limit_since_ms.store(0, Ordering::Relaxed);
        }
        let _ = self.push.send(message);
    }

    /// `bytes` of pushed output reached the connection's write buffer.
    pub fn push_written(&self, bytes: usize) {
        let _ = self
            .push_pending_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                Some(pending.saturating_sub(bytes))
            });
    }

    /// Asks the connection to close.
    pub fn close(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Subscribed to any channel, pattern or shard channel (a pub/sub client).
    pub fn is_subscribed(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed)
            + self.psubscriptions.load(Ordering::Relaxed)
            + self.ssubscriptions.load(Ordering::Relaxed)
            > 0
    }

    pub fn user(&self) -> Arc<str> {
        self.user.lock().clone()
    }

    pub fn set_user(&self, name: &str) {
        *self.user.lock() = Arc::from(name);
    }

    pub fn age_s(&self) -> u64 {
        self.created.elapsed().as_secs()
    }

    pub fn idle_s(&self) -> u64 {
        let active = self.last_active_ms.load(Ordering::Relaxed);
        (self.created.elapsed().as_millis() as u64).saturating_sub(active) / 1000
    }

    pub fn touch(&self, command: &'static str) {
        self.last_active_ms
            .store(self.created.elapsed().as_millis() as u64, Ordering::Relaxed);
        *self.last_command.lock() = command;
    }

    /// One line of CLIENT LIST / CLIENT INFO.
    pub fn describe(&self) -> String {
        self.describe_running(0)
    }

    /// One line of CLIENT LIST / CLIENT INFO for the client running it: `qbuf` also counts
    /// the request being run (`request_bytes`), as Redis's query buffer still holds it.
    pub fn describe_running(&self, request_bytes: usize) -> String {
        let text = |b: &Mutex<Option<Bytes>>| {
            b.lock()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut flags = String::new();
        if self.is_subscribed() {
            flags.push('P');
        }
        if self.in_multi.load(Ordering::Relaxed) {
            flags.push('x');
        }
        if self.is_monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        let redirect = {
            let tracking = self.tracking.lock();
            if tracking.on {
                flags.push('t');
                if tracking.broken_redirect {
                    flags.push('R');
                }
                if tracking.bcast {
                    flags.push('B');
                }
                tracking.redirect as i64
            } else {
                -1
            }
        };
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if self.no_touch.load(Ordering::Relaxed) {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r \
             cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.local_addr,
            text(&self.name),
            self.age_s(),
            self.idle_s(),
            flags,
            self.db.load(Ordering::Relaxed),
            self.subscriptions.load(Ordering::Relaxed),
            self.psubscriptions.load(Ordering::Relaxed),
            self.ssubscriptions.load(Ordering::Relaxed),
            if self.in_multi.load(Ordering::Relaxed) { 0 } else { -1 },
            self.query_buffer_bytes.load(Ordering::Relaxed) + request_bytes,
            self.push_pending_bytes.load(Ordering::Relaxed),
            self.last_command.lock(),
            self.user(),
            redirect,
            self.resp.load(Ordering::Relaxed),
            text(&self.lib_name),
            text(&self.lib_ver),
        )
    }
}

#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    all: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
}

impl Clients {
    /// Registers a new connection's handle and returns it.
    pub fn connect(
        &self,
        addr: SocketAddr,
        local_addr: SocketAddr,
        push: mpsc::UnboundedSender<Reply>,
        limits: Arc<OutputLimits>,
    ) -> Arc<ClientHandle> {
        let client = Arc::new(ClientHandle::new(self.next_id(), addr, local_addr, push, limits));
        self.register(client.clone());
        client
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, client: Arc<ClientHandle>) {
        self.all.lock().insert(client.id, client);
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.all.lock().get(&id).cloned()
    }

    pub fn unregister(&self, id: u64) {
        self.all.lock().remove(&id);
    }

    /// Every client, in id order.
    pub fn list(&self) -> Vec<Arc<ClientHandle>> {
        self.all.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.all.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_are_redis_units() {
        assert_eq!(parse_memory("10"), Some(10));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2mb"), Some(2 << 20));
        assert_eq!(parse_memory("10mbs"), None);
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn output_limits_are_set_all_or_nothing() {
        let limits = OutputLimits::default();
        assert_eq!(
            limits.describe(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        limits
            .set("normal 1mb 2mb 60 replica 3mb 4mb 70 pubsub 5mb 6mb 80")
            .unwrap();
        assert_eq!(
            limits.describe(),
            "normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 5242880 6291456 80"
        );
        assert!(limits.set("wrong number").unwrap_err().starts_with("Wrong"));
        assert!(limits
            .set("master 10mb 10mb 60")
            .unwrap_err()
            .starts_with("Invalid client class"));
        assert!(limits
            .set("pubsub 1 1 1 pubsub 10mb 10mb 60s")
            .unwrap_err()
            .starts_with("Error in hard"));
        assert_eq!(limits.pubsub.hard_bytes.load(Ordering::Relaxed), 5 << 20);
    }
}
