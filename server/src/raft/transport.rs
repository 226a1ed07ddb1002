//! Peer transport: one multiplexed TCP connection per pair of nodes, carrying the messages of
//! every Raft group (and forwarded client commands) as length-delimited frames.
//!
//! The node with the lower id dials, the other accepts; once up, the connection is symmetric:
//! either side sends requests and answers the other's. Requests carry an id so replies may
//! come back in any order. The dialer reconnects with capped exponential backoff. Frames
//! queued for a peer are bounded (`PEER_QUEUE_FRAMES_MAX`); a full queue fails the call
//! instead of growing without limit.
//!
//! The peer set follows the cluster's membership (`set_peers`): a peer that joins is dialed
//! (when its id is higher), one that leaves has its connection closed. A node that is joining
//! accepts connections from members it does not know yet (`accept_unknown_peers`): it learns
//! their addresses from the log the leader then sends it.
//!
//! Frame: len u32 BE (of the rest) ‖ request id u64 BE ‖ kind u8 ‖ group u32 BE ‖ payload.
//! A reply has the high bit of `kind` set; a failed request replies with kind `KIND_ERROR`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

pub type NodeId = u64;

/// Frames that may wait for one peer's connection before calls fail fast.
pub const PEER_QUEUE_FRAMES_MAX: usize = 4096;
/// Largest frame accepted (a snapshot travels in one frame).
pub const FRAME_LEN_MAX: usize = 1 << 30;
const REPLY_BIT: u8 = 0x80;
pub const KIND_ERROR: u8 = 0x7F;
const HEADER_LEN: usize = 8 + 1 + 4;
const RECONNECT_DELAY_MS_MIN: u64 = 20;
const RECONNECT_DELAY_MS_MAX: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No connection to the peer (down, partitioned, or queue full): the request was not sent.
    Unreachable(String),
    /// Sent, but no reply in time: the request may or may not have been handled.
    Timeout,
    /// The peer handled the request and reported an error.
    Remote(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Unreachable(why) => write!(f, "peer unreachable: {why}"),
            TransportError::Timeout => write!(f, "peer did not answer in time"),
            TransportError::Remote(why) => write!(f, "peer error: {why}"),
        }
    }
}

impl std::error::Error for TransportError {}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;
/// Serves an incoming request: (from, kind, group, payload) → reply payload.
pub type Handler = Arc<dyn Fn(NodeId, u8, u32, Bytes) -> HandlerFuture + Send + Sync>;

struct Frame {
    id: u64,
    kind: u8,
    group: u32,
    payload: Bytes,
}

/// One live connection to a peer.
struct Link {
    outgoing: mpsc::Sender<Frame>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>,
    /// Closes the connection (its peer left the cluster).
    close: tokio::sync::Notify,
    /// When the connection came up (CLUSTER LINKS).
    since: std::time::Instant,
}

struct Peer {
    /// Where to dial it; None for a member that dialed this joining node before this node
    /// learned its address (it dials again itself after a drop).
    address: Mutex<Option<SocketAddr>>,
    link: Mutex<Option<Arc<Link>>>,
    /// Bumped whenever `link` changes, so waiters see a new connection.
    changed: watch::Sender<u64>,
}

impl Peer {
    fn new(address: Option<SocketAddr>) -> Arc<Peer> {
        let (changed, _) = watch::channel(0);
        Arc::new(Peer { address: Mutex::new(address), link: Mutex::new(None), changed })
    }
}

pub struct Transport {
    me: NodeId,
    peers: RwLock<HashMap<NodeId, Arc<Peer>>>,
    /// `start` has run: a peer added later is dialed at once.
    started: AtomicBool,
    /// Accept a connection from a node id not among the peers (a joining node, see the module
    /// comment).
    accept_unknown: AtomicBool,
    next_id: AtomicU64,
    handler: Mutex<Option<Handler>>,
    /// Kinds (bit `kind`, kinds below 64) whose requests from one peer start in the order
    /// they arrived (see `serve_in_order`).
    ordered_kinds: AtomicU64,
}

/// A served request's future, with what its reply frame needs (request id, kind, group).
type Serving = ((u64, u8, u32), HandlerFuture);

impl Transport {
    pub fn new(me: NodeId, peers: &HashMap<NodeId, SocketAddr>) -> Arc<Transport> {
        let peers = peers
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, address)| (*id, Peer::new(Some(*address))))
            .collect();
        Arc::new(Transport {
            me,
            peers: RwLock::new(peers),
            started: AtomicBool::new(false),
            accept_unknown: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            handler: Mutex::new(None),
            ordered_kinds: AtomicU64::new(0),
        })
    }

    /// Requests of `kind` from one peer are then started in the order they arrived: their
    /// futures are polled for the first time one after another, in one task per connection,
    /// instead of each in a task of its own, where the scheduler may start a later one first.
    /// A pipelined sender relies on it (AppendEntries: a follower must see them in order).
    pub fn serve_in_order(&self, kind: u8) {
        assert!(kind < 64, "ordered kinds are below 64");
        self.ordered_kinds.fetch_or(1 << kind, Ordering::Relaxed);
    }

    /// Starts accepting peers on `listener` and dialing the peers with higher ids.
    pub fn start(self: &Arc<Self>, listener: TcpListener, handler: Handler) {
        *self.handler.lock() = Some(handler);
        let transport = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let transport = transport.clone();
                tokio::spawn(async move { transport.accept(stream).await });
            }
        });
        let peers = self.peers.read();
        self.started.store(true, Ordering::Release);
        for (&id, peer) in peers.iter() {
            self.dial_if_mine(id, peer);
        }
    }

    /// Dials `peer` (and keeps reconnecting) when this node is the one that dials it.
    fn dial_if_mine(self: &Arc<Self>, id: NodeId, peer: &Arc<Peer>) {
        if self.me < id && self.started.load(Ordering::Acquire) {
            let transport = self.clone();
            let peer = peer.clone();
            tokio::spawn(async move { transport.dial_loop(id, peer).await });
        }
    }

    /// Makes the peers `wanted` (id → peer address; this node's own id is ignored): adds the
    /// new ones, updates a changed address, and closes and forgets the ones not listed.
    pub fn set_peers(self: &Arc<Self>, wanted: &HashMap<NodeId, SocketAddr>) {
        let mut peers = self.peers.write();
        peers.retain(|id, peer| {
            let keep = wanted.contains_key(id);
            if !keep {
                if let Some(link) = peer.link.lock().take() {
                    link.close.notify_one();
                }
                tracing::info!(peer = id, "peer left the cluster");
            }
            keep
        });
        for (&id, &address) in wanted.iter().filter(|(id, _)| **id != self.me) {
            match peers.get(&id) {
                Some(peer) => {
                    let mut known = peer.address.lock();
                    let dial_now = known.is_none();
                    *known = Some(address);
                    drop(known);
                    if dial_now {
                        self.dial_if_mine(id, peer);
                    }
                }
                None => {
                    let peer = Peer::new(Some(address));
                    self.dial_if_mine(id, &peer);
                    peers.insert(id, peer);
                    tracing::info!(peer = id, %address, "peer joined the cluster");
                }
            }
        }
    }

    /// Adds peer `id`, which the membership this node holds does not list (another member
    /// named it: a newer membership has not reached this node yet), and dials it if this
    /// node is the one to dial. The next `set_peers` keeps it only if it is then a member.
    pub fn hint_peer(self: &Arc<Self>, id: NodeId, address: SocketAddr) {
        if id == self.me {
            return;
        }
        let mut peers = self.peers.write();
        if peers.contains_key(&id) {
            return;
        }
        let peer = Peer::new(Some(address));
        self.dial_if_mine(id, &peer);
        peers.insert(id, peer);
        tracing::info!(peer = id, %address, "peer named by another member");
    }

    /// Whether to accept connections from nodes that are not peers yet (yes while this node
    /// joins a cluster).
    pub fn accept_unknown_peers(&self, accept: bool) {
        self.accept_unknown.store(accept, Ordering::Relaxed);
    }

    /// The current peer for `id` (None once it left the cluster).
    fn peer(&self, id: NodeId) -> Option<Arc<Peer>> {
        self.peers.read().get(&id).cloned()
    }

    /// Sends a request and waits for its reply.
    pub async fn call(
        &self,
        target: NodeId,
        kind: u8,
        group: u32,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        self.send(target, kind, group, payload, timeout)?.await
    }

    /// Queues a request for `target` now and returns the wait for its reply; dropping the wait
    /// (a caller that gave up) forgets the request instead of leaving it in `pending`. Requests
    /// queued for one peer are handed to its handler in the order they were queued.
    pub fn send(
        &self,
        target: NodeId,
        kind: u8,
        group: u32,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<PendingReply, TransportError> {
        let link = {
            let peers = self.peers.read();
            let peer = peers
                .get(&target)
                .ok_or_else(|| TransportError::Unreachable(format!("unknown node {target}")))?;
            let link = peer.link.lock().clone();
            link.ok_or_else(|| TransportError::Unreachable(format!("no connection to node {target}")))?
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        link.pending.lock().insert(id, reply_tx);
        if link
            .outgoing
            .try_send(Frame {
                id,
                kind,
                group,
                payload,
            })
            .is_err()
        {
            link.pending.lock().remove(&id);
            return Err(TransportError::Unreachable(format!(
                "queue to node {target} is full or closed"
            )));
        }
        Ok(PendingReply {
            id,
            pending: link.pending.clone(),
            reply: Box::pin(tokio::time::timeout(timeout, reply_rx)),
        })
    }

    /// True when the cluster has other members (false for a single node).
    pub fn has_peers(&self) -> bool {
        !self.peers.read().is_empty()
    }

    /// The peers with a connection up, each with how long it has been up, by id.
    pub fn links(&self) -> Vec<(NodeId, Duration)> {
        let mut links: Vec<(NodeId, Duration)> = self
            .peers
            .read()
            .iter()
            .filter_map(|(&id, peer)| peer.link.lock().as_ref().map(|link| (id, link.since.elapsed())))
            .collect();
        links.sort_unstable_by_key(|(id, _)| *id);
        links
    }

    /// True when a connection to `target` is up.
    #[cfg(test)]
    pub fn is_connected(&self, target: NodeId) -> bool {
        self.peer(target).is_some_and(|peer| peer.link.lock().is_some())
    }

    async fn dial_loop(self: Arc<Self>, id: NodeId, peer: Arc<Peer>) {
        let mut delay_ms = RECONNECT_DELAY_MS_MIN;
        // Until the peer leaves the cluster (or is replaced by a new entry for its id).
        while self.peer(id).is_some_and(|current| Arc::ptr_eq(&current, &peer)) {
            let Some(address) = *peer.address.lock() else { return };
            match TcpStream::connect(address).await {
                Ok(mut stream) => {
                    let _ = stream.set_nodelay(true);
                    if stream.write_all(&self.me.to_be_bytes()).await.is_ok() {
                        delay_ms = RECONNECT_DELAY_MS_MIN;
                        self.clone().run_link(id, &peer, stream).await;
                    }
                }
                Err(error) => tracing::debug!(peer = id, %error, "dial failed"),
            }
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            delay_ms = (delay_ms * 2).min(RECONNECT_DELAY_MS_MAX);
        }
    }

    async fn accept(self: Arc<Self>, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let mut id_bytes = [0u8; 8];
        if stream.read_exact(&mut id_bytes).await.is_err() {
            return;
        }
        let id = u64::from_be_bytes(id_bytes);
        let peer = match self.peer(id) {
            Some(peer) => peer,
            None if self.accept_unknown.load(Ordering::Relaxed) && id != self.me => {
                let peer = Peer::new(None);
                self.peers.write().entry(id).or_insert_with(|| peer.clone()).clone()
            }
            None => {
                tracing::warn!(peer = id, "connection from an unknown node refused");
                return;
            }
        };
        self.run_link(id, &peer, stream).await;
    }

    /// Runs one connection until it fails; requests in flight on it fail too.
    async fn run_link(self: Arc<Self>, id: NodeId, peer: &Arc<Peer>, stream: TcpStream) {
        let (mut reader, mut writer) = stream.into_split();
        let (outgoing, mut queue) = mpsc::channel::<Frame>(PEER_QUEUE_FRAMES_MAX);
        let link = Arc::new(Link {
            outgoing: outgoing.clone(),
            pending: Arc::new(Mutex::new(HashMap::new())),
            close: tokio::sync::Notify::new(),
            since: crate::clock::instant(),
        });
        *peer.link.lock() = Some(link.clone());
        peer.changed.send_modify(|generation| *generation += 1);
        tracing::info!(peer = id, "peer connected");

        // Writer: coalesces every queued frame into one write.
        let write_task = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            while let Some(frame) = queue.recv().await {
                put_frame(&mut buf, &frame);
                // The frame's sender woke this task, and tokio runs a task woken so next, before
                // the sender's neighbours (the other forwarded writes' replies, the other
                // AppendEntries) have queued theirs: yield once so that they join this write.
                // One frame per write was a sendto per forwarded client batch; the yield made
                // writes through a follower ~30% faster (3 nodes, SET -P 16).
                if queue.is_empty() {
                    tokio::task::yield_now().await;
                }
                while let Ok(frame) = queue.try_recv() {
                    put_frame(&mut buf, &frame);
                    if buf.len() > 1 << 20 {
                        break;
                    }
                }
                if writer.write_all(&buf).await.is_err() {
                    break;
                }
                buf.clear();
            }
        });

        // Requests of ordered kinds run here, in the reading task: each is first polled in
        // arrival order (`FuturesUnordered` polls newly pushed futures in push order), then
        // they run concurrently, each replying when done. Driving them from this task rather
        // than a task of their own saves a task wake-up per request on the follower's path.
        let mut ordered = FuturesUnordered::new();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        'read: loop {
            // `read_buf` is cancel-safe: when a request finishes first, nothing was read.
            let read = tokio::select! {
                biased;
                Some(()) = ordered.next(), if !ordered.is_empty() => continue,
                () = link.close.notified() => break 'read,
                read = reader.read_buf(&mut buf) => read,
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            loop {
                if buf.len() < 4 {
                    break;
                }
                let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
                if !(HEADER_LEN..=FRAME_LEN_MAX).contains(&len) {
                    tracing::warn!(peer = id, len, "bad frame length; dropping connection");
                    break 'read;
                }
                if buf.len() < 4 + len {
                    buf.reserve(4 + len - buf.len());
                    break;
                }
                buf.advance(4);
                let mut frame_bytes = buf.split_to(len);
                let request_id = frame_bytes.get_u64();
                let kind = frame_bytes.get_u8();
                let group = frame_bytes.get_u32();
                let frame = Frame {
                    id: request_id,
                    kind,
                    group,
                    payload: frame_bytes.freeze(),
                };
                if kind & REPLY_BIT != 0 {
                    if let Some(waiter) = link.pending.lock().remove(&request_id) {
                        let _ = waiter.send(frame);
                    }
                } else if let Some((key, serving)) = self.serve_request(id, frame, outgoing.clone()) {
                    let outgoing = outgoing.clone();
                    ordered.push(async move {
                        let outcome = serving.await;
                        let _ = outgoing.send(reply_frame(key, outcome)).await;
                    });
                }
            }
        }
        write_task.abort();
        {
            let mut current = peer.link.lock();
            if current.as_ref().is_some_and(|l| Arc::ptr_eq(l, &link)) {
                *current = None;
            }
        }
        link.pending.lock().clear();
        tracing::info!(peer = id, "peer disconnected");
    }

    /// Starts serving a request: a task of its own, or, for an ordered kind, the future to
    /// run in the connection's reading task (returned).
    fn serve_request(&self, from: NodeId, frame: Frame, outgoing: mpsc::Sender<Frame>) -> Option<Serving> {
        let handler = self.handler.lock().clone()?;
        // The handler is called here, in the order frames arrive, and only its future runs
        // later: work a handler does before returning its future (queueing a blocked client's
        // wait) is done before the next frame from that peer is handled. The future runs in a
        // task of its own, or for an ordered kind in the connection's reading task.
        let in_order = frame.kind < 64 && self.ordered_kinds.load(Ordering::Relaxed) & (1 << frame.kind) != 0;
        let key = (frame.id, frame.kind, frame.group);
        let serving = handler(from, frame.kind, frame.group, frame.payload);
        if in_order {
            return Some((key, serving));
        }
        tokio::spawn(async move {
            let outcome = serving.await;
            let _ = outgoing.send(reply_frame(key, outcome)).await;
        });
        None
    }
}

/// The reply frame for a served request.
fn reply_frame(request: (u64, u8, u32), outcome: Result<Vec<u8>, String>) -> Frame {
    let (id, kind, group) = request;
    let (kind, payload) = match outcome {
        Ok(payload) => (kind | REPLY_BIT, Bytes::from(payload)),
        Err(why) => (KIND_ERROR | REPLY_BIT, Bytes::from(why)),
    };
    Frame {
        id,
        kind,
        group,
        payload,
    }
}

/// The wait for one request's reply (see `Transport::send`). Dropping it forgets the request.
pub struct PendingReply {
    id: u64,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>,
    reply: Pin<Box<tokio::time::Timeout<oneshot::Receiver<Frame>>>>,
}

impl Future for PendingReply {
    type Output = Result<Bytes, TransportError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let outcome = std::task::ready!(self.reply.as_mut().poll(cx));
        std::task::Poll::Ready(match outcome {
            Ok(Ok(frame)) if frame.kind == KIND_ERROR | REPLY_BIT => Err(TransportError::Remote(
                String::from_utf8_lossy(&frame.payload).into_owned(),
            )),
            Ok(Ok(frame)) => Ok(frame.payload),
            // No reply in time, or the connection dropped with the request in flight.
            Ok(Err(_)) | Err(_) => Err(TransportError::Timeout),
        })
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.id);
    }
}

fn put_frame(buf: &mut BytesMut, frame: &Frame) {
    buf.reserve(4 + HEADER_LEN + frame.payload.len());
    buf.put_u32((HEADER_LEN + frame.payload.len()) as u32);
    buf.put_u64(frame.id);
    buf.put_u8(frame.kind);
    buf.put_u32(frame.group);
    buf.put_slice(&frame.payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (Arc<Transport>, Arc<Transport>) {
        let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peers: HashMap<NodeId, SocketAddr> = [
            (1, a_listener.local_addr().unwrap()),
            (2, b_listener.local_addr().unwrap()),
        ]
        .into();
        let a = Transport::new(1, &peers);
        let b = Transport::new(2, &peers);
        let echo = |me: u8| -> Handler {
            Arc::new(move |from, kind, group, payload| {
                Box::pin(async move {
                    if kind == 9 {
                        return Err("refused".to_string());
                    }
                    if kind == 10 {
                        // Never answers in a test's time.
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    let mut reply = vec![me, from as u8, kind, group as u8];
                    reply.extend_from_slice(&payload);
                    Ok(reply)
                })
            })
        };
        a.start(a_listener, echo(1));
        b.start(b_listener, echo(2));
        for _ in 0..200 {
            if a.is_connected(2) && b.is_connected(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (a, b)
    }

    /// Requests of an ordered kind start in the order they were sent, though they run (and
    /// are answered) concurrently.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ordered_kinds_start_in_arrival_order() {
        const ORDERED: u8 = 5;
        let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peers: HashMap<NodeId, SocketAddr> =
            [(1, a_listener.local_addr().unwrap()), (2, b_listener.local_addr().unwrap())].into();
        let a = Transport::new(1, &peers);
        let b = Transport::new(2, &peers);
        let started = Arc::new(Mutex::new(Vec::new()));
        let record = started.clone();
        let handler: Handler = Arc::new(move |_, _, _, payload| {
            let record = record.clone();
            Box::pin(async move {
                let n = u32::from_be_bytes(payload[..4].try_into().unwrap());
                record.lock().push(n);
                // Later requests finish first: replies come back out of order.
                tokio::time::sleep(Duration::from_micros(u64::from(2000 - n))).await;
                Ok(payload.to_vec())
            })
        });
        b.serve_in_order(ORDERED);
        a.start(a_listener, handler.clone());
        b.start(b_listener, handler);
        while !(a.is_connected(2) && b.is_connected(1)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let timeout = Duration::from_secs(10);
        let pending: Vec<_> = (0..1000u32)
            .map(|n| a.send(2, ORDERED, 0, Bytes::copy_from_slice(&n.to_be_bytes()), timeout).unwrap())
            .collect();
        for (n, reply) in pending.into_iter().enumerate() {
            assert_eq!(&reply.await.unwrap()[..], &(n as u32).to_be_bytes());
        }
        assert_eq!(*started.lock(), (0..1000).collect::<Vec<u32>>());
    }

    /// A joining node (2) knows no peers and takes the member's connection; the member (1)
    /// dials it once told of it, and closes the connection when told it left.
    #[tokio::test]
    async fn a_peer_joins_and_leaves() {
        let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b_address = b_listener.local_addr().unwrap();
        let a = Transport::new(1, &HashMap::new());
        let b = Transport::new(2, &HashMap::new());
        let handler: Handler = Arc::new(|_, _, _, payload| Box::pin(async move { Ok(payload.to_vec()) }));
        a.start(a_listener, handler.clone());
        b.start(b_listener, handler);
        let timeout = Duration::from_secs(5);
        assert!(matches!(
            a.call(2, 3, 0, Bytes::new(), timeout).await,
            Err(TransportError::Unreachable(_))
        ));
        // Not joining: a connection from an unknown node is refused.
        a.set_peers(&[(2, b_address)].into());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!a.is_connected(2) && !b.is_connected(1));
        b.accept_unknown_peers(true);
        while !(a.is_connected(2) && b.is_connected(1)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reply = b.call(1, 3, 0, Bytes::from_static(b"hi"), timeout).await.unwrap();
        assert_eq!(&reply[..], b"hi");
        // 1 forgets 2: the connection closes on both sides and is not dialed again.
        a.set_peers(&HashMap::new());
        b.accept_unknown_peers(false);
        while b.is_connected(1) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!b.is_connected(1));
        assert!(!a.has_peers());
    }

    #[tokio::test]
    async fn both_sides_call_over_one_connection() {
        let (a, b) = pair().await;
        let timeout = Duration::from_secs(5);
        let reply = a.call(2, 3, 7, Bytes::from_static(b"hi"), timeout).await.unwrap();
        assert_eq!(&reply[..], &[2, 1, 3, 7, b'h', b'i']);
        let reply = b.call(1, 4, 8, Bytes::from_static(b"yo"), timeout).await.unwrap();
        assert_eq!(&reply[..], &[1, 2, 4, 8, b'y', b'o']);
        let error = a.call(2, 9, 0, Bytes::new(), timeout).await.unwrap_err();
        assert_eq!(error, TransportError::Remote("refused".into()));
        assert!(matches!(
            a.call(5, 1, 0, Bytes::new(), timeout).await,
            Err(TransportError::Unreachable(_))
        ));
    }

    #[tokio::test]
    async fn many_concurrent_calls_get_their_own_replies() {
        let (a, _b) = pair().await;
        let calls = (0..500u32).map(|i| {
            let a = a.clone();
            tokio::spawn(async move {
                let reply = a
                    .call(
                        2,
                        1,
                        i,
                        Bytes::from(i.to_be_bytes().to_vec()),
                        Duration::from_secs(5),
                    )
                    .await
                    .unwrap();
                assert_eq!(&reply[4..], &i.to_be_bytes());
                assert_eq!(reply[3], i as u8);
            })
        });
        for call in calls {
            call.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_dropped_wait_forgets_its_request() {
        let (a, _b) = pair().await;
        let link = a.peers.read()[&2].link.lock().clone().unwrap();
        let reply = a
            .send(2, 10, 0, Bytes::new(), Duration::from_secs(5))
            .unwrap();
        assert_eq!(link.pending.lock().len(), 1);
        drop(reply);
        assert!(link.pending.lock().is_empty());
    }
}
