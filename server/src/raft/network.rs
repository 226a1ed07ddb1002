//! openraft's network over the peer transport: each RPC is one request frame tagged with its
//! group; payloads are postcard-encoded openraft messages.
//!
//! A snapshot travels as a series of `SNAPSHOT_CHUNK_BYTES` frames, each answered before the
//! next is sent. The follower appends them to a temporary file (`Incoming`), checks the
//! file's checksum when the last one arrives, and only then hands it to openraft, which
//! installs it by renaming it into place: a transfer that breaks off or arrives damaged leaves
//! the follower's state as it was, and the leader starts the transfer again from the start.

use bytes::Bytes;
use flotilla_storage::snapshot_file::{self, SnapshotFile};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::base::{BoxFuture, BoxStream};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest, VoteResponse,
};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::transport::{PendingReply, Transport, TransportError};
use super::machine::MachineStore;
use super::{GroupId, NodeId, TypeConfig};

/// Request kinds on the peer transport.
pub mod kind {
    pub const APPEND_ENTRIES: u8 = 1;
    pub const VOTE: u8 = 2;
    pub const SNAPSHOT: u8 = 3;
    /// Client ops forwarded to the group's leader.
    pub const FORWARD: u8 = 4;
    pub const PRE_VOTE: u8 = 5;
    /// A linearizable read forwarded to the group's leader (served; no longer sent since
    /// followers read locally after READ_INDEX).
    pub const FORWARD_READ: u8 = 6;
    /// WAIT asked on a follower: how many followers hold an entry, answered by the leader.
    pub const FORWARD_WAIT: u8 = 7;
    /// FORWARD_READ for a CLIENT NO-TOUCH connection: the leader leaves access times alone.
    pub const FORWARD_READ_NO_TOUCH: u8 = 8;
    /// A blocked client of the sender waits in the leader's queue (answered when that
    /// registration ends; see `blocking.rs`).
    pub const BLOCK_WAIT: u8 = 9;
    /// The leader tells a blocked client's node that it is the client's turn to run.
    pub const BLOCK_SERVE: u8 = 10;
    /// The client's node withdraws a registration (its client stopped waiting).
    pub const BLOCK_CANCEL: u8 = 11;
    /// A follower asks the group's leader for a read index (empty payload; answered with the
    /// index and the leader's clock, see `Node::read_many`).
    pub const READ_INDEX: u8 = 12;
    /// Several clients' FORWARD requests in one frame (`Node::forward`): each proposal's
    /// encoded ops behind its length (u32 BE); answered with one `ForwardedWrite` each.
    pub const FORWARD_BATCH: u8 = 13;
    /// A leader that is stopping hands its leadership over (openraft's TransferLeader: the
    /// named node campaigns at once, the others stop holding the leader's lease).
    pub const TRANSFER_LEADER: u8 = 14;
    /// A PUBLISH or SPUBLISH a client sent to the sender, for this node's subscribers
    /// (`Node::publish_to_peers`; answered at once, nobody waits for it).
    pub const PUBLISH: u8 = 15;
    /// The sender's `--announce-ip`, for the addresses this node gives cluster clients
    /// (`Node::client_host`); sent every `ANNOUNCE_PERIOD`.
    pub const ANNOUNCE: u8 = 16;
    /// A membership change (`membership::Change`) for the leader to make; answered when made.
    pub const MEMBERSHIP: u8 = 17;
    /// The sender's members, `(id, HOST:PORT@PEERPORT)`, and where its membership was recorded,
    /// every `MEMBERS_PERIOD`: a node whose log is behind the membership learns of members it
    /// must dial (`Node::take_member_hints`).
    pub const MEMBERS: u8 = 18;
}

/// Least time allowed for an AppendEntries round trip (it includes the follower's fsync).
const APPEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of snapshot in one frame.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Time allowed for one snapshot chunk to be written by the follower.
const SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the last chunk: the follower verifies, decodes and installs the snapshot.
const SNAPSHOT_INSTALL_TIMEOUT: Duration = Duration::from_secs(120);

pub fn encode<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(postcard::to_allocvec(value).expect("serializable"))
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("undecodable message: {e}"))
}

/// The highest commit index this node has sent to any follower (in an AppendEntries or a
/// heartbeat), recorded before it is sent. A follower can apply, and show to a read, only
/// entries up to a commit index it was sent, so a read on this node (the leader) that waits
/// until it has applied this far shows everything any follower can show. openraft's published
/// metrics can lag it: they are published at the end of the Raft core's turn, possibly after
/// the turn has already told the followers of a new commit.
#[derive(Default)]
pub struct CommitsSent {
    /// Index + 1 of the highest commit sent; 0 when none has been.
    highest: std::sync::atomic::AtomicU64,
}

impl CommitsSent {
    pub fn record(&self, request: &AppendEntriesRequest<TypeConfig>) {
        if let Some(committed) = &request.leader_commit {
            self.highest.fetch_max(committed.index() + 1, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// The highest commit index sent so far, if any.
    pub fn highest(&self) -> Option<u64> {
        self.highest.load(std::sync::atomic::Ordering::Acquire).checked_sub(1)
    }
}

#[derive(Clone)]
pub struct NetworkFactory {
    pub transport: Arc<Transport>,
    pub group: GroupId,
    pub commits_sent: Arc<CommitsSent>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, _node: &openraft::BasicNode) -> Network {
        Network {
            transport: self.transport.clone(),
            group: self.group,
            target,
            commits_sent: self.commits_sent.clone(),
        }
    }
}

pub struct Network {
    transport: Arc<Transport>,
    group: GroupId,
    target: NodeId,
    commits_sent: Arc<CommitsSent>,
}

fn rpc_error(error: TransportError) -> RPCError<TypeConfig> {
    match error {
        TransportError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&error)),
        _ => RPCError::Network(NetworkError::new(&error)),
    }
}

/// AppendEntries sent to one follower before the first of them is answered.
const APPENDS_IN_FLIGHT: usize = 4;

// openraft suggests the heartbeat interval as the deadline; an append that carries a large
// batch to a follower that must fsync it can take longer, and timing it out would make
// replication retry the same batch forever. Heartbeats keep openraft's own timeout.
fn append_ttl(option: &RPCOption) -> Duration {
    option.hard_ttl().max(APPEND_TIMEOUT)
}

/// Encodes an AppendEntries (or heartbeat) about to be sent, recording the commit index it
/// carries first.
fn encode_append(request: &AppendEntriesRequest<TypeConfig>, commits_sent: &CommitsSent) -> Bytes {
    commits_sent.record(request);
    let hint = 64 + request.entries.iter().map(super::log::entry_len_hint).sum::<usize>();
    Bytes::from(postcard::to_extend(request, Vec::with_capacity(hint)).expect("serializable"))
}

fn decode_reply<Resp: serde::de::DeserializeOwned>(reply: Bytes) -> Result<Resp, RPCError<TypeConfig>> {
    let result: Result<Resp, RaftError<TypeConfig>> =
        decode(&reply).map_err(|e| rpc_error(TransportError::Remote(e)))?;
    result.map_err(|e| RPCError::Network(NetworkError::new(&e)))
}

/// One request on its way: its reply, and the log ids it covers (prev, last].
struct InFlight {
    reply: PendingReply,
    prev: Option<LogIdOf<TypeConfig>>,
    last: Option<LogIdOf<TypeConfig>>,
}

/// The state of a pipelined `stream_append`.
struct AppendPipeline<S> {
    transport: Arc<Transport>,
    target: NodeId,
    group: GroupId,
    commits_sent: Arc<CommitsSent>,
    ttl: Duration,
    input: S,
    input_done: bool,
    in_flight: std::collections::VecDeque<InFlight>,
    /// An error or a partial success ended the stream: openraft starts a new one.
    stopped: bool,
}

impl<S> AppendPipeline<S>
where
    S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
{
    fn send(&mut self, request: AppendEntriesRequest<TypeConfig>) -> Result<(), RPCError<TypeConfig>> {
        let prev = request.prev_log_id;
        let last = request.entries.last().map(|entry| entry.log_id).or(prev);
        let reply = self
            .transport
            .send(self.target, kind::APPEND_ENTRIES, self.group, encode_append(&request, &self.commits_sent), self.ttl)
            .map_err(rpc_error)?;
        self.in_flight.push_back(InFlight { reply, prev, last });
        Ok(())
    }

    /// The result of the oldest request in flight, sending newer requests meanwhile while
    /// there is room. None when the stream is over.
    async fn next_result(&mut self) -> Option<Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>> {
        use futures::StreamExt;
        if self.stopped {
            return None;
        }
        loop {
            if self.in_flight.is_empty() {
                if self.input_done {
                    return None;
                }
                match self.input.next().await {
                    Some(request) => {
                        if let Err(error) = self.send(request) {
                            self.stopped = true;
                            return Some(Err(error));
                        }
                    }
                    None => {
                        self.input_done = true;
                        return None;
                    }
                }
                continue;
            }
            let room = self.in_flight.len() < APPENDS_IN_FLIGHT && !self.input_done;
            let oldest = self.in_flight.front_mut().expect("a request in flight");
            let reply = if room {
                tokio::select! {
                    biased;
                    reply = &mut oldest.reply => reply,
                    request = self.input.next() => {
                        match request {
                            Some(request) => {
                                if let Err(error) = self.send(request) {
                                    self.stopped = true;
                                    return Some(Err(error));
                                }
                            }
                            None => self.input_done = true,
                        }
                        continue;
                    }
                }
            } else {
                (&mut oldest.reply).await
            };
            let InFlight { prev, last, .. } = self.in_flight.pop_front().expect("a request in flight");
            let response: AppendEntriesResponse<TypeConfig> = match reply.map_err(rpc_error).and_then(decode_reply) {
                Ok(response) => response,
                Err(error) => {
                    self.stopped = true;
                    return Some(Err(error));
                }
            };
            let partial = matches!(&response, AppendEntriesResponse::PartialSuccess(upto) if *upto != last);
            let result = response.into_stream_result(prev, last);
            // After a refusal or a partial append the requests behind it cannot apply:
            // openraft starts over from what the follower reported.
            if result.is_err() || partial {
                self.stopped = true;
            }
            return Some(Ok(result));
        }
    }
}

impl Network {
    async fn call<Req, Resp>(
        &self,
        kind: u8,
        request: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
    {
        self.call_encoded(kind, encode(request), ttl).await
    }

    async fn call_encoded<Resp>(
        &self,
        kind: u8,
        payload: Bytes,
        ttl: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Resp: serde::de::DeserializeOwned,
    {
        let reply = self
            .transport
            .call(self.target, kind, self.group, payload, ttl)
            .await
            .map_err(rpc_error)?;
        let result: Result<Resp, RaftError<TypeConfig>> =
            decode(&reply).map_err(|e| rpc_error(TransportError::Remote(e)))?;
        result.map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for Network {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let pending = self
            .transport
            .send(
                self.target,
                kind::APPEND_ENTRIES,
                self.group,
                encode_append(&request, &self.commits_sent),
                append_ttl(&option),
            )
            .map_err(rpc_error)?;
        decode_reply(pending.await.map_err(rpc_error)?)
    }

    /// Up to `APPENDS_IN_FLIGHT` AppendEntries on the way to the follower at once, their
    /// replies taken in order. openraft's default sends one and waits for its reply, so each
    /// batch waited out the follower's fsync and two wake-ups before the next could leave. The
    /// follower hands requests to its Raft core in the order they arrive (the transport keeps
    /// a connection's ordered kinds in order, see `Transport::start`).
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>, RPCError<TypeConfig>>>
    where
        S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        let pipeline = AppendPipeline {
            transport: self.transport.clone(),
            target: self.target,
            group: self.group,
            commits_sent: self.commits_sent.clone(),
            ttl: append_ttl(&option),
            input,
            input_done: false,
            in_flight: std::collections::VecDeque::new(),
            stopped: false,
        };
        Box::pin(async move {
            let stream = futures::stream::unfold(pipeline, |mut pipeline| async move {
                let item = pipeline.next_result().await?;
                Some((item, pipeline))
            });
            let stream: BoxStream<'s, _> = Box::pin(stream);
            Ok(stream)
        })
    }

    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        // openraft bounds every vote round trip by election_timeout_min (400 ms) whatever this
        // allows, so a longer deadline here would never be reached: a voter whose fsync of the
        // vote takes longer loses that round, and the candidate campaigns again.
        self.call(kind::VOTE, &request, option.hard_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(kind::PRE_VOTE, &request, option.hard_ttl()).await
    }

    async fn transfer_leader(
        &mut self,
        request: openraft::raft::TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<openraft::raft::TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(kind::TRANSFER_LEADER, &request, option.hard_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let local = |e: std::io::Error| StreamingError::Network(NetworkError::new(&e));
        let remote = |e: String| StreamingError::Network(NetworkError::new(&TransportError::Remote(e)));
        let mut file = snapshot.snapshot;
        let total = file.len().map_err(local)?;
        let mut header = ChunkHeader {
            vote,
            meta: snapshot.meta,
            offset: 0,
            total,
        };
        tokio::pin!(cancel);
        loop {
            let data = file
                .read_chunk(header.offset, SNAPSHOT_CHUNK_BYTES)
                .map_err(local)?;
            let last = header.offset + data.len() as u64 >= total;
            if data.is_empty() && !last {
                return Err(local(std::io::Error::other("snapshot file shrank while sending")));
            }
            let ttl = if last { SNAPSHOT_INSTALL_TIMEOUT } else { SNAPSHOT_CHUNK_TIMEOUT };
            let call = self.transport.call(
                self.target,
                kind::SNAPSHOT,
                self.group,
                chunk_payload(&header, &data),
                ttl,
            );
            let reply = tokio::select! {
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                reply = call => reply,
            };
            let reply = reply.map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))?;
            let result: ChunkReply = decode(&reply).map_err(remote)?;
            match result.map_err(remote)? {
                Some(response) => return Ok(response),
                None if last => return Err(remote("the last snapshot chunk got no answer".into())),
                None => header.offset += data.len() as u64,
            }
        }
    }
}

/// What comes before each chunk's bytes. Every chunk names the whole transfer (vote, meta,
/// total length), so the follower can tell a chunk of another transfer from the next one of
/// its own.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChunkHeader {
    vote: VoteOf<TypeConfig>,
    meta: SnapshotMetaOf<TypeConfig>,
    offset: u64,
    total: u64,
}

/// The answer to a chunk: the install's response after the last one, nothing before it.
type ChunkReply = Result<Option<SnapshotResponse<TypeConfig>>, String>;

/// Chunk frame payload: header length u32 LE ‖ postcard header ‖ the chunk's bytes.
fn chunk_payload(header: &ChunkHeader, data: &[u8]) -> Bytes {
    let header = encode(header);
    let mut payload = Vec::with_capacity(4 + header.len() + data.len());
    payload.extend_from_slice(&(header.len() as u32).to_le_bytes());
    payload.extend_from_slice(&header);
    payload.extend_from_slice(data);
    Bytes::from(payload)
}

fn split_chunk(payload: &[u8]) -> Result<(ChunkHeader, &[u8]), String> {
    let header_len = payload
        .get(..4)
        .map(|len| u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize)
        .filter(|len| 4 + len <= payload.len())
        .ok_or("truncated snapshot chunk")?;
    Ok((decode(&payload[4..4 + header_len])?, &payload[4 + header_len..]))
}

/// A snapshot transfer this follower is receiving.
pub struct Incoming {
    vote: VoteOf<TypeConfig>,
    last_log_id: Option<LogIdOf<TypeConfig>>,
    total: u64,
    next_offset: u64,
    file: std::fs::File,
}

/// Takes one snapshot chunk; after the last one, verifies the assembled file and installs it.
async fn receive_chunk(raft: &super::Raft, store: &MachineStore, payload: &[u8]) -> ChunkReply {
    let (header, data) = split_chunk(payload)?;
    let group = store.group;
    let io_error = |e: std::io::Error| format!("snapshot receive: {e}");
    let mut incoming = store.incoming.lock().await;
    if header.offset == 0 {
        *incoming = Some(Incoming {
            vote: header.vote,
            last_log_id: header.meta.last_log_id,
            total: header.total,
            next_offset: 0,
            file: store.snapshots.begin_incoming(group).map_err(io_error)?,
        });
    }
    let transfer = incoming.as_mut().filter(|t| {
        t.vote == header.vote
            && t.last_log_id == header.meta.last_log_id
            && t.total == header.total
            && t.next_offset == header.offset
    });
    let Some(transfer) = transfer else {
        return Err("snapshot chunk out of order; start the transfer again".into());
    };
    transfer.file.write_all(data).map_err(io_error)?;
    transfer.next_offset += data.len() as u64;
    if transfer.next_offset < transfer.total {
        return Ok(None);
    }
    let transfer = incoming.take().expect("checked");
    let path = store.snapshots.incoming_path(group);
    // Syncing and reading back the whole file wait on the disk: off the workers.
    super::machine::off_workers(|| {
        transfer.file.sync_all()?;
        drop(transfer);
        snapshot_file::verify(&path)
    })
    .map_err(io_error)?;
    let snapshot = SnapshotOf::<TypeConfig, SnapshotFile> {
        meta: header.meta,
        snapshot: SnapshotFile::open(path).map_err(io_error)?,
    };
    let response = raft
        .install_full_snapshot(header.vote, snapshot)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(response))
}

/// Serves a Raft RPC for `raft`; the reply is the encoded `Result`.
pub async fn serve_rpc(
    raft: &super::Raft,
    store: &MachineStore,
    rpc_kind: u8,
    payload: &Bytes,
) -> Result<Vec<u8>, String> {
    let reply = match rpc_kind {
        // Entries' arguments are decoded as slices of the frame (see shared_bytes.rs).
        kind::APPEND_ENTRIES => {
            let request = flotilla_storage::shared_bytes::decode_sharing(payload, decode)?;
            encode(&raft.append_entries(request).await)
        }
        kind::VOTE => encode(&raft.vote(decode(payload)?).await),
        kind::PRE_VOTE => encode(&raft.pre_vote(decode(payload)?).await),
        kind::TRANSFER_LEADER => {
            encode(&raft.handle_transfer_leader(decode(payload)?).await.map_err(RaftError::<TypeConfig>::Fatal))
        }
        kind::SNAPSHOT => encode(&receive_chunk(raft, store, payload).await),
        other => return Err(format!("unknown raft rpc kind {other}")),
    };
    Ok(reply.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::alias::{LeaderIdOf, VoteOf};
    use openraft::vote::{RaftLeaderIdExt, RaftVote};

    fn heartbeat(commit: Option<u64>) -> AppendEntriesRequest<TypeConfig> {
        let leader = <LeaderIdOf<TypeConfig> as RaftLeaderIdExt>::new_committed(3, 1);
        AppendEntriesRequest {
            vote: <VoteOf<TypeConfig> as RaftVote>::from_leader_id(leader, true),
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: commit.map(|index| openraft::LogId::new(leader, index)),
        }
    }

    /// The leader's read floor follows every commit index it sends, never moves back, and
    /// counts index 0 (the first Raft entry) as a commit.
    #[test]
    fn commits_sent_records_the_highest_commit_carried() {
        let sent = CommitsSent::default();
        assert_eq!(sent.highest(), None);
        encode_append(&heartbeat(None), &sent);
        assert_eq!(sent.highest(), None);
        encode_append(&heartbeat(Some(0)), &sent);
        assert_eq!(sent.highest(), Some(0));
        encode_append(&heartbeat(Some(41)), &sent);
        encode_append(&heartbeat(Some(7)), &sent);
        encode_append(&heartbeat(None), &sent);
        assert_eq!(sent.highest(), Some(41));
    }
}
