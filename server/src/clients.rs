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

/// Out-of-band bytes a pub/sub client may have queued before it is disconnected
/// (Redis's default hard limit for pubsub clients).
pub const PUBSUB_OUTPUT_BYTES_MAX: usize = 32 * 1024 * 1024;

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
    pub in_multi: AtomicBool,
    pub is_monitor: AtomicBool,
    pub no_evict: AtomicBool,
    /// Waiting in a blocking command (CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// Bytes sent on `push` and not yet written to the socket.
    pub push_pending_bytes: AtomicUsize,
    push: mpsc::UnboundedSender<Reply>,
    pub killed: AtomicBool,
    pub kill: Notify,
}

impl ClientHandle {
    pub fn new(
        id: u64,
        addr: SocketAddr,
        local_addr: SocketAddr,
        push: mpsc::UnboundedSender<Reply>,
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
            in_multi: AtomicBool::new(false),
            is_monitor: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            push_pending_bytes: AtomicUsize::new(0),
            push,
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        }
    }

    /// Queues an out-of-band message; a client over its output limit is disconnected.
    pub fn push(&self, message: Reply, approx_bytes: usize) {
        let pending = self.push_pending_bytes.fetch_add(approx_bytes, Ordering::Relaxed) + approx_bytes;
        if pending > PUBSUB_OUTPUT_BYTES_MAX {
            self.close();
            return;
        }
        let _ = self.push.send(message);
    }

    /// Asks the connection to close.
    pub fn close(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
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
        let text = |b: &Mutex<Option<Bytes>>| {
            b.lock()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut flags = String::new();
        if self.subscriptions.load(Ordering::Relaxed) + self.psubscriptions.load(Ordering::Relaxed) > 0 {
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
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r \
             cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
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
            if self.in_multi.load(Ordering::Relaxed) { 0 } else { -1 },
            self.push_pending_bytes.load(Ordering::Relaxed),
            self.last_command.lock(),
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
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, client: Arc<ClientHandle>) {
        self.all.lock().insert(client.id, client);
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
