//! openraft's network over the peer transport: each RPC is one request frame tagged with its
//! group; payloads are postcard-encoded openraft messages.

use bytes::Bytes;
use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use std::future::Future;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use super::transport::{Transport, TransportError};
use super::{GroupId, NodeId, TypeConfig};

/// Request kinds on the peer transport.
pub mod kind {
    pub const APPEND_ENTRIES: u8 = 1;
    pub const VOTE: u8 = 2;
    pub const SNAPSHOT: u8 = 3;
    /// Client ops forwarded to the group's leader.
    pub const FORWARD: u8 = 4;
    pub const PRE_VOTE: u8 = 5;
    /// A linearizable read forwarded to the group's leader.
    pub const FORWARD_READ: u8 = 6;
    /// WAIT asked on a follower: how many followers hold an entry, answered by the leader.
    pub const FORWARD_WAIT: u8 = 7;
}

/// Least time allowed for an AppendEntries round trip (it includes the follower's fsync).
const APPEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Least time allowed for a vote round trip (the voter syncs its vote).
const VOTE_TIMEOUT: Duration = Duration::from_millis(500);

pub fn encode<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(postcard::to_allocvec(value).expect("serializable"))
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("undecodable message: {e}"))
}

#[derive(Clone)]
pub struct NetworkFactory {
    pub transport: Arc<Transport>,
    pub group: GroupId,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, _node: &openraft::BasicNode) -> Network {
        Network {
            transport: self.transport.clone(),
            group: self.group,
            target,
        }
    }
}

pub struct Network {
    transport: Arc<Transport>,
    group: GroupId,
    target: NodeId,
}

fn rpc_error(error: TransportError) -> RPCError<TypeConfig> {
    match error {
        TransportError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&error)),
        _ => RPCError::Network(NetworkError::new(&error)),
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
        let reply = self
            .transport
            .call(self.target, kind, self.group, encode(request), ttl)
            .await
            .map_err(rpc_error)?;
        let result: Result<Resp, RaftError<TypeConfig>> =
            decode(&reply).map_err(|e| rpc_error(TransportError::Remote(e)))?;
        result.map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for Network {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // openraft suggests the heartbeat interval as the deadline; an append that carries a
        // large batch to a follower that must fsync it can take longer, and timing it out would
        // make replication retry the same batch forever. Heartbeats keep openraft's own timeout.
        self.call(
            kind::APPEND_ENTRIES,
            &request,
            option.hard_ttl().max(APPEND_TIMEOUT),
        )
        .await
    }

    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(kind::VOTE, &request, option.hard_ttl().max(VOTE_TIMEOUT))
            .await
    }

    async fn pre_vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(kind::PRE_VOTE, &request, option.hard_ttl().max(VOTE_TIMEOUT))
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Cursor<Vec<u8>>>,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let request = (vote, snapshot.meta, snapshot.snapshot.into_inner());
        let reply = self
            .transport
            .call(
                self.target,
                kind::SNAPSHOT,
                self.group,
                encode(&request),
                Duration::from_secs(120),
            )
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))?;
        let result: Result<SnapshotResponse<TypeConfig>, String> = decode(&reply)
            .map_err(|e| StreamingError::Network(NetworkError::new(&TransportError::Remote(e))))?;
        result.map_err(|e| StreamingError::Network(NetworkError::new(&TransportError::Remote(e))))
    }
}

/// Serves a Raft RPC for `raft`; the reply is the encoded `Result`.
pub async fn serve_rpc(raft: &super::Raft, rpc_kind: u8, payload: &[u8]) -> Result<Vec<u8>, String> {
    let reply = match rpc_kind {
        kind::APPEND_ENTRIES => encode(&raft.append_entries(decode(payload)?).await),
        kind::VOTE => encode(&raft.vote(decode(payload)?).await),
        kind::PRE_VOTE => encode(&raft.pre_vote(decode(payload)?).await),
        kind::SNAPSHOT => {
            let (vote, meta, data): (
                VoteOf<TypeConfig>,
                openraft::alias::SnapshotMetaOf<TypeConfig>,
                Vec<u8>,
            ) = decode(payload)?;
            let snapshot = SnapshotOf::<TypeConfig, Cursor<Vec<u8>>> {
                meta,
                snapshot: Cursor::new(data),
            };
            let result = raft
                .install_full_snapshot(vote, snapshot)
                .await
                .map_err(|e| e.to_string());
            encode(&result)
        }
        other => return Err(format!("unknown raft rpc kind {other}")),
    };
    Ok(reply.to_vec())
}
