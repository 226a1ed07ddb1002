//! Changes to the cluster's membership: a node that joins (`--join`, `CLUSTER JOIN`) and one
//! that is removed (`CLUSTER FORGET`).
//!
//! The Raft membership of the data group is the record of who the members are: each member's
//! node is stored with its address (`Member::address`, `HOST:PORT@PEERPORT`), so a node knows
//! its peers from its log alone, also after a restart. Every node follows the membership it
//! holds (`follow_membership`) into its member list (CLUSTER SLOTS / NODES, Pub/Sub) and its
//! transport's peers; a member its own `--initial-cluster` lists keeps the address given
//! there (a test routes each pair of nodes through a proxy of its own that way).
//!
//! A change runs on the leader (a member that does not lead relays it over the peer link,
//! `kind::MEMBERSHIP`). Joining is openraft's two steps: the node is added as a learner and
//! brought up to date (log entries, or a snapshot for a new node behind a compacted log),
//! then made a voter. Forgetting removes the voter (or learner) outright.
//!
//! A joining node takes an id larger than every member's: of each pair of nodes the lower id
//! dials the other, and the joining node knows no member's peer address until the leader's log
//! reaches it, so the members must be the ones that dial.

use bytes::Bytes;
use openraft::async_runtime::WatchReceiver;
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::config::Member;
use crate::node::{resolve, Node, DATA_GROUP};
use crate::raft::network::{self, kind};
use crate::raft::transport::TransportError;
use crate::raft::NodeId;

/// A membership change, as relayed to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Change {
    /// Add node `id`, reached at `address` (`HOST:PORT@PEERPORT`), as a voter.
    Join { id: NodeId, address: String },
    /// Remove node `id`.
    Forget { id: NodeId },
}

/// How often a node looks at the membership it holds for a change.
const FOLLOW_PERIOD: Duration = Duration::from_millis(100);
/// Longest a relayed change may take: a joining node catches up first (maybe by a snapshot).
const RELAY_TIMEOUT: Duration = Duration::from_secs(300);
/// Pause between a joining node's attempts.
const JOIN_RETRY: Duration = Duration::from_secs(1);

impl Node {
    /// Carries out `change` on the leader, relayed there when another node leads. The error
    /// is the text of the client's error reply.
    pub async fn change_membership(&self, change: Change) -> Result<(), String> {
        match self.group.leader() {
            Some(leader) if leader == self.me => self.change_membership_here(change).await,
            Some(leader) => {
                let payload = network::encode(&change);
                match self.transport.call(leader, kind::MEMBERSHIP, DATA_GROUP, payload, RELAY_TIMEOUT).await {
                    Ok(_) => Ok(()),
                    Err(TransportError::Remote(why)) => Err(why),
                    Err(TransportError::Timeout) => {
                        Err("ERR the leader did not answer in time; the change may still be made".into())
                    }
                    Err(error) => Err(format!("TRYAGAIN cannot reach the leader: {error}")),
                }
            }
            None => Err("TRYAGAIN no leader is known; try again later".into()),
        }
    }

    /// Carries out `change` here, on the leader.
    pub async fn change_membership_here(&self, change: Change) -> Result<(), String> {
        let raft = &self.group.raft;
        // From the Raft core itself: its metrics may lag a change it just made.
        let membership = raft
            .with_raft_state(|state| state.membership_state.effective().clone())
            .await
            .map_err(|e| format!("ERR {e}"))?;
        let membership = membership.membership();
        let is_voter = |id: NodeId| membership.voter_ids().any(|voter| voter == id);
        let failed = |error: &dyn std::fmt::Display| format!("ERR membership change failed: {error}");
        match change {
            Change::Join { id, address } => {
                let joining = Member::parse(id, &address).ok_or_else(|| format!("ERR bad node address '{address}'"))?;
                match membership.get_node(&id) {
                    Some(node) if node.addr != address => {
                        return Err(format!("ERR node id {id} is a member already, at {}", node.addr));
                    }
                    Some(_) if is_voter(id) => return Ok(()),
                    Some(_) => {} // a learner from an attempt that did not finish
                    None => {
                        let highest = membership.nodes().map(|(id, _)| *id).max().unwrap_or(0);
                        if id <= highest {
                            return Err(format!(
                                "ERR a joining node needs an id larger than every member's ({highest})"
                            ));
                        }
                    }
                }
                // Reachable before openraft starts replicating to it.
                self.add_peer(&joining);
                let node = openraft::BasicNode::new(address);
                raft.add_learner(id, node, true).await.map_err(|e| failed(&e))?;
                raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
                    .map_err(|e| failed(&e))?;
                tracing::info!(node = id, "node joined the cluster");
                Ok(())
            }
            Change::Forget { id } => {
                if membership.get_node(&id).is_none() {
                    return Err(format!("ERR Unknown node {}", crate::commands::cluster::node_name(id)));
                }
                let change = if is_voter(id) {
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                };
                raft.change_membership(change, false).await.map_err(|e| failed(&e))?;
                tracing::info!(node = id, "node removed from the cluster");
                Ok(())
            }
        }
    }

    /// Adds `member` to the transport's peers ahead of the membership that will list it.
    fn add_peer(&self, member: &Member) {
        let mut peers = self.peer_addresses(&self.members());
        if let Some(address) = resolve(&member.host, member.peer_port) {
            peers.insert(member.id, address);
        }
        self.transport.set_peers(&peers);
    }

    /// The peer addresses of `members` (those that resolve).
    fn peer_addresses(&self, members: &[Member]) -> HashMap<NodeId, SocketAddr> {
        members
            .iter()
            .filter(|m| m.id != self.me)
            .filter_map(|m| resolve(&m.host, m.peer_port).map(|address| (m.id, address)))
            .collect()
    }

    /// Makes the member list and the peers those of the membership `nodes` (id → recorded
    /// address). A member `--initial-cluster` lists keeps its address from there; this node
    /// stays in its own list (a removed node still describes itself).
    fn adopt_membership(&self, nodes: &BTreeMap<NodeId, String>) {
        let mut members: Vec<Member> = nodes
            .iter()
            .filter_map(|(&id, address)| {
                let listed = self.initial_members.iter().find(|m| m.id == id).cloned();
                let member = listed.or_else(|| Member::parse(id, address));
                if member.is_none() {
                    tracing::warn!(node = id, address, "a member's recorded address does not parse");
                }
                member
            })
            .collect();
        if !members.iter().any(|m| m.id == self.me) {
            if let Some(me) = self.members().into_iter().find(|m| m.id == self.me) {
                members.push(me);
            }
        }
        members.sort_by_key(|m| m.id);
        // A member takes connections from members only (a joining node took any until then).
        if nodes.contains_key(&self.me) {
            self.transport.accept_unknown_peers(false);
        }
        self.transport.set_peers(&self.peer_addresses(&members));
        *self.members.write() = members;
    }
}

/// Follows the data group's membership into the node's member list and peers (see the module
/// comment), checking every `FOLLOW_PERIOD` for a membership entry it has not adopted.
pub async fn follow_membership(node: Weak<Node>) {
    let mut adopted = None;
    loop {
        let Some(node) = node.upgrade() else { return };
        let (log_id, nodes) = {
            let metrics = node.group.raft.metrics();
            let metrics = metrics.borrow_watched();
            let config = &metrics.membership_config;
            let nodes: BTreeMap<NodeId, String> =
                config.membership().nodes().map(|(id, n)| (*id, n.addr.clone())).collect();
            (*config.log_id(), nodes)
        };
        // An empty membership: a node not yet initialized (one that is joining, say).
        if adopted.as_ref() != Some(&log_id) && !nodes.is_empty() {
            node.adopt_membership(&nodes);
            adopted = Some(log_id);
        }
        drop(node);
        tokio::time::sleep(FOLLOW_PERIOD).await;
    }
}

/// `--join`: asks the member at `target` (HOST:PORT, its client port) to add this node, every
/// `JOIN_RETRY` until it has, unless the node is a voter already (a restart).
pub async fn join(node: Weak<Node>, target: String, me: Member, password: Option<String>) {
    let mut attempts = 0u32;
    loop {
        let Some(strong) = node.upgrade() else { return };
        let membership = strong.group.raft.metrics().borrow_watched().membership_config.clone();
        let voter = membership.membership().voter_ids().any(|id| id == me.id);
        drop(strong);
        if voter {
            return;
        }
        match ask_to_join(&target, &me, password.as_deref()).await {
            Ok(()) => {
                tracing::info!(%target, "joined the cluster");
                return;
            }
            Err(why) => {
                // The first failure and then every tenth, not one line a second.
                if attempts.is_multiple_of(10) {
                    tracing::warn!(%target, %why, "cannot join the cluster yet");
                    eprintln!("flotilla: cannot join the cluster through {target} yet: {why}");
                }
            }
        }
        attempts += 1;
        tokio::time::sleep(JOIN_RETRY).await;
    }
}

/// How often a node asks the other members for their presentation until one answers.
const PRESENTATION_RETRY: Duration = Duration::from_secs(1);

/// A node whose presentation neither `--cluster-enabled` nor `--initial-cluster` decides
/// (one that joins, or a member started on its data without either) takes that of the other
/// members, so that a client sees one kind of server whichever node it asks: it asks
/// `first` (its `--join` target), then each other member, for `INFO cluster` until one
/// answers. Until then it presents what its flags alone imply.
pub async fn follow_presentation(node: Weak<Node>, first: Option<String>, password: Option<String>) {
    let mut attempts = 0u32;
    loop {
        let Some(strong) = node.upgrade() else { return };
        let mut asked: Vec<String> = first.iter().cloned().collect();
        asked.extend(strong.members().iter().filter(|m| m.id != strong.me).map(|m| format!("{}:{}", m.host, m.port)));
        drop(strong);
        for target in &asked {
            if let Ok(cluster) = ask_presentation(target, password.as_deref()).await {
                let Some(strong) = node.upgrade() else { return };
                if strong.cluster_enabled() != cluster {
                    tracing::info!(%target, cluster, "presenting as the other members do");
                }
                strong.present_as_cluster(cluster);
                return;
            }
        }
        if attempts.is_multiple_of(10) && !asked.is_empty() {
            tracing::info!(?asked, "no member told its presentation yet");
        }
        attempts += 1;
        tokio::time::sleep(PRESENTATION_RETRY).await;
    }
}

/// Whether the server at `target` presents the Redis Cluster protocol (`INFO cluster`).
async fn ask_presentation(target: &str, password: Option<&str>) -> Result<bool, String> {
    let asking = async {
        let mut stream = connect(target, password).await?;
        stream.write_all(&command(&["INFO", "cluster"])).await.map_err(|e| e.to_string())?;
        let mut header = String::new();
        stream.read_line(&mut header).await.map_err(|e| e.to_string())?;
        let length: usize = header
            .strip_prefix('$')
            .and_then(|n| n.trim_end().parse().ok())
            .ok_or_else(|| format!("unexpected answer {}", header.trim_end()))?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        let body = String::from_utf8_lossy(&body);
        match body.lines().find_map(|line| line.strip_prefix("cluster_enabled:")) {
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            _ => Err("no cluster_enabled field".to_string()),
        }
    };
    tokio::time::timeout(PRESENTATION_RETRY, asking).await.map_err(|_| "no answer in time".to_string())?
}

/// One `CLUSTER JOIN` sent to `target` over RESP, as any client would.
async fn ask_to_join(target: &str, me: &Member, password: Option<&str>) -> Result<(), String> {
    let mut stream = connect(target, password).await?;
    let (id, port, peer_port) = (me.id.to_string(), me.port.to_string(), me.peer_port.to_string());
    let request = command(&["CLUSTER", "JOIN", &id, &me.host, &port, &peer_port]);
    stream.write_all(&request).await.map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(RELAY_TIMEOUT, read_status(&mut stream))
        .await
        .map_err(|_| "no answer in time".to_string())?;
    answer
}

/// A client connection to the member at `target` (HOST:PORT, its client port), authenticated
/// with `password` when given.
async fn connect(target: &str, password: Option<&str>) -> Result<BufReader<tokio::net::TcpStream>, String> {
    let stream = tokio::net::TcpStream::connect(target).await.map_err(|e| format!("connect: {e}"))?;
    let mut stream = BufReader::new(stream);
    if let Some(password) = password {
        stream.write_all(&command(&["AUTH", password])).await.map_err(|e| e.to_string())?;
        read_status(&mut stream).await?;
    }
    Ok(stream)
}

/// A request in RESP.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Reads a `+OK` (Ok) or an error reply (its text).
async fn read_status(stream: &mut BufReader<tokio::net::TcpStream>) -> Result<(), String> {
    let mut line = String::new();
    match stream.read_line(&mut line).await {
        Ok(0) => Err("connection closed".into()),
        Ok(_) if line.starts_with('+') => Ok(()),
        Ok(_) => Err(line.trim_end().trim_start_matches('-').to_string()),
        Err(error) => Err(error.to_string()),
    }
}

/// Serves a change relayed by another member (`kind::MEMBERSHIP`).
pub async fn serve_relayed(node: &Node, payload: &Bytes) -> Result<Vec<u8>, String> {
    let change: Change = network::decode(payload)?;
    node.change_membership_here(change).await.map(|()| Vec::new())
}
