//! One Raft group as the node uses it: the openraft handle, the shard's state, and the
//! proposer that turns many clients' commands into few log entries.
//!
//! The proposer takes every proposal queued since its last turn (up to `BATCH_OPS_MAX` ops),
//! stamps the batch with the leader's clock and hands it to openraft as one entry; it does
//! not wait for the commit before building the next batch, so several entries are in flight
//! while the disk and the followers catch up. Entries are handed over in queue order, so a
//! connection's pipelined writes are applied in the order it sent them.

use flotilla_protocol::Reply;
use flotilla_storage::{Entry, Op};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::ClientWriteError;
use openraft::impls::ProgressResponder;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::machine::MachineStore;
use super::{NodeId, Raft, Request};
use crate::clock::Clock;

/// Most ops in one entry.
pub const BATCH_OPS_MAX: usize = 4096;

/// Why a proposal produced no replies.
#[derive(Debug, Clone, PartialEq)]
pub enum ProposeError {
    /// This node does not lead the group (the known leader, if any): nothing was executed.
    NotLeader(Option<NodeId>),
    /// The entry may or may not have been committed (leader lost mid-flight).
    Uncertain(String),
}

/// One reply per op, and the log index of the entry that carried them.
pub type Applied = (Vec<Reply>, u64);

struct Proposal {
    ops: Vec<Op>,
    reply: oneshot::Sender<Result<Applied, ProposeError>>,
}

pub struct Group {
    pub raft: Raft,
    pub store: MachineStore,
    proposals: mpsc::UnboundedSender<Proposal>,
}

impl Group {
    pub fn new(raft: Raft, store: MachineStore, clock: Arc<Clock>) -> Arc<Group> {
        let (proposals, queue) = mpsc::unbounded_channel();
        tokio::spawn(run_proposer(raft.clone(), clock, queue));
        Arc::new(Group {
            raft,
            store,
            proposals,
        })
    }

    /// Proposes `ops` as (part of) one entry; resolves with one reply per op once applied.
    pub async fn propose(&self, ops: Vec<Op>) -> Result<Vec<Reply>, ProposeError> {
        self.propose_indexed(ops).await.map(|(replies, _)| replies)
    }

    /// As `propose`, also giving the entry's log index (what WAIT waits for).
    pub async fn propose_indexed(&self, ops: Vec<Op>) -> Result<Applied, ProposeError> {
        let (reply, receiver) = oneshot::channel();
        if self.proposals.send(Proposal { ops, reply }).is_err() {
            return Err(ProposeError::NotLeader(None));
        }
        receiver
            .await
            .unwrap_or_else(|_| Err(ProposeError::Uncertain("proposal dropped".into())))
    }

    /// The leader this node knows of, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// Waits until a read at this point is linearizable (this node leads, holds a valid lease
    /// or confirmed leadership with a quorum, and has applied everything committed before).
    pub async fn read_barrier(&self) -> Result<(), ProposeError> {
        match self
            .raft
            .ensure_linearizable(openraft::raft::ReadPolicy::LeaseRead)
            .await
        {
            Ok(_) => Ok(()),
            Err(_) => match self
                .raft
                .ensure_linearizable(openraft::raft::ReadPolicy::ReadIndex)
                .await
            {
                Ok(_) => Ok(()),
                Err(_) => Err(ProposeError::NotLeader(self.leader())),
            },
        }
    }
}

async fn run_proposer(raft: Raft, clock: Arc<Clock>, mut queue: mpsc::UnboundedReceiver<Proposal>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let mut op_count = batch[0].ops.len();
        while op_count < BATCH_OPS_MAX {
            match queue.try_recv() {
                Ok(proposal) => {
                    op_count += proposal.ops.len();
                    batch.push(proposal);
                }
                Err(_) => break,
            }
        }
        if !raft.is_leader() {
            let leader = raft.metrics().borrow_watched().current_leader;
            for proposal in batch {
                let _ = proposal.reply.send(Err(ProposeError::NotLeader(leader)));
            }
            continue;
        }
        let mut ops = Vec::with_capacity(op_count);
        let mut shares = Vec::with_capacity(batch.len());
        for proposal in batch {
            shares.push((proposal.ops.len(), proposal.reply));
            ops.extend(proposal.ops);
        }
        let entry = Entry {
            time_ms: clock.now_ms(),
            ops,
        };
        let (responder, completion) = ProgressResponder::complete_only();
        if let Err(fatal) = raft.write(Request(Arc::new(entry))).responder(responder).await {
            let why = format!("raft stopped: {fatal}");
            for (_, reply) in shares {
                let _ = reply.send(Err(ProposeError::Uncertain(why.clone())));
            }
            continue;
        }
        tokio::spawn(async move {
            let outcome = match completion.await {
                Ok(Ok(response)) => Ok((response.data.0, response.log_id.index())),
                Ok(Err(ClientWriteError::ForwardToLeader(forward))) => {
                    Err(ProposeError::NotLeader(forward.leader_id))
                }
                Ok(Err(error)) => Err(ProposeError::Uncertain(error.to_string())),
                Err(_) => Err(ProposeError::Uncertain(
                    "leader changed before the entry was applied".into(),
                )),
            };
            match outcome {
                Ok((replies, index)) => {
                    let mut replies = replies.into_iter();
                    for (count, reply) in shares {
                        let _ = reply.send(Ok((replies.by_ref().take(count).collect(), index)));
                    }
                }
                Err(error) => {
                    for (_, reply) in shares {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        });
    }
}
