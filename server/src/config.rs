//! Start-up flags (`flotilla --help`) and the run-time parameters CONFIG GET/SET expose.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fsync {
    /// An acknowledged write is on disk (on a majority, once replicated).
    Always,
    /// Flush once per second: a crash may lose the last second of writes.
    Everysec,
    /// Leave flushing to the operating system.
    No,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// A strongly consistent Redis-compatible store.
#[derive(Debug, Clone, Parser)]
#[command(name = "flotilla", version, about)]
pub struct Args {
    /// Client port (RESP).
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Address to listen on for clients.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Data directory.
    #[arg(long, default_value = "./flotilla-data")]
    pub dir: PathBuf,
    /// When writes reach the disk: always, everysec or no (Redis's appendfsync meanings).
    #[arg(long, value_enum, default_value_t = Fsync::Always)]
    pub fsync: Fsync,
    /// Worker threads serving clients and Raft (0: one). One costs the least CPU per request
    /// (no hand-offs between threads); a command that may run long leaves the worker first, so
    /// heartbeats go on meanwhile.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Require clients to AUTH with this password.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Maximum number of simultaneous client connections.
    #[arg(long, default_value_t = 10000)]
    pub maxclients: usize,
    /// Close a client connection after this many idle seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// This node's id in the cluster (1 for a single node). The data dir keeps the id it was
    /// first used with and serves no other.
    #[arg(long, default_value_t = 1)]
    pub node_id: u64,
    /// Every member as `ID=HOST:PORT@PEERPORT,...` (the same list on every node, as etcd's
    /// --initial-cluster); `@PEERPORT` defaults to PORT+10000. Empty: a single node (which
    /// others may join), or the membership the data dir records.
    #[arg(long, default_value = "")]
    pub initial_cluster: String,
    /// Present the Redis Cluster protocol: yes or no; the default is yes with more than one
    /// member in --initial-cluster, and otherwise what the other members present (a node that
    /// joins asks them; a single node: no). Yes: CLUSTER SLOTS / SHARDS / NODES / INFO describe the cluster, a key whose
    /// shard this node does not lead gets `-MOVED` (a READONLY connection reads it here) and a
    /// command whose keys hash to different slots `-CROSSSLOT`. No: a standalone Redis, and a
    /// node forwards what it does not lead to the leader.
    #[arg(long, value_enum)]
    pub cluster_enabled: Option<YesNo>,
    /// Port this node listens on for the other members (Raft and forwarded requests):
    /// PORT+10000 unless given. With --initial-cluster it must be the `@PEERPORT` of this
    /// node's entry there (the other members dial what the list says).
    #[arg(long)]
    pub peer_port: Option<u16>,
    /// Join a running cluster through any member, given as HOST:PORT (its client port): this
    /// node becomes a member with `--node-id` (larger than every member's id), at its
    /// `--bind` address (or `--announce-ip` when bound to every address) and its --peer-port
    /// (PORT+10000 unless given) for peers. Kept on restart, where it does nothing once the
    /// node is a member. `CLUSTER FORGET` removes a member.
    #[arg(long)]
    pub join: Option<String>,
    /// The address clients are given for this node in CLUSTER SLOTS / SHARDS / NODES and in
    /// `-MOVED` (default: its host in --initial-cluster), e.g. the address a container is
    /// published at. The other members learn it over the peer link.
    #[arg(long)]
    pub announce_ip: Option<String>,
    /// Log filter (tracing syntax), e.g. "info" or "flotilla=debug".
    #[arg(long, default_value = "warn")]
    pub log: String,
    /// Fault injection for tests: this node's wall clock reads this many milliseconds ahead
    /// (negative: behind), as on a host whose clock is off.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, hide = true)]
    pub clock_skew_ms: i64,
}

/// One member of `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub host: String,
    pub port: u16,
    pub peer_port: u16,
}

impl Member {
    /// Parses `HOST:PORT[@PEERPORT]`; the peer port defaults to PORT+10000.
    pub fn parse(id: u64, address: &str) -> Option<Member> {
        let (address, peer_port) = match address.split_once('@') {
            Some((address, peer)) => (address, Some(peer.parse::<u16>().ok()?)),
            None => (address, None),
        };
        let (host, port) = address.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let peer_port = match peer_port {
            Some(peer_port) => peer_port,
            None => port.checked_add(10000)?,
        };
        (!host.is_empty()).then(|| Member { id, host: host.to_string(), port, peer_port })
    }

    /// The member's address as the Raft membership records it, `HOST:PORT@PEERPORT`: every
    /// node, one restarted without `--initial-cluster` included, finds its peers there.
    /// (Clusters formed before it was recorded so hold `HOST:PORT`, read by `parse`.)
    pub fn address(&self) -> String {
        format!("{}:{}@{}", self.host, self.port, self.peer_port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

impl Args {
    /// Whether the node presents the Redis Cluster protocol (`--cluster-enabled`; by default
    /// when the cluster has more than one member).
    pub fn cluster_enabled(&self, members: usize) -> bool {
        match self.cluster_enabled {
            Some(choice) => choice == YesNo::Yes,
            None => members > 1 || self.join.is_some(),
        }
    }

    /// Whether this node is (or is joining) a cluster of several nodes: started with
    /// `--initial-cluster` or `--join`. It then listens for peers, and the cluster's
    /// membership can change (`CLUSTER JOIN`, `CLUSTER FORGET`).
    pub fn clustered(&self) -> bool {
        !self.initial_cluster.trim().is_empty() || self.join.is_some()
    }

    /// This node as the members it joins should know it (`--join`): its bind address, or its
    /// `--announce-ip` when it is bound to every address.
    pub fn joining_as(&self) -> Result<Member, String> {
        let unspecified = self.bind.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        let host = match (&self.announce_ip, unspecified) {
            (_, false) => self.bind.clone(),
            (Some(ip), true) => ip.clone(),
            (None, true) => return Err(format!("--join with --bind {} needs --announce-ip", self.bind)),
        };
        Ok(Member { id: self.node_id, host, port: self.port, peer_port: self.own_peer_port()? })
    }

    /// `--peer-port`, or PORT+10000.
    pub fn own_peer_port(&self) -> Result<u16, String> {
        match self.peer_port {
            Some(peer_port) => Ok(peer_port),
            None => self
                .port
                .checked_add(10000)
                .ok_or_else(|| "--port is too large for a peer port (PORT+10000): give --peer-port".into()),
        }
    }

    /// The runtime's worker threads: one unless `--threads` says otherwise, as Redis serves
    /// commands on one thread. Every data command waits for the one shard lock anyway; one
    /// worker measured 10-25% less CPU per SET than two on a single node and ~9% less summed
    /// over a 3-node cluster, with ~5% more SET/s (docs/BENCHMARKS.md). What could hold the
    /// only worker for long (a long command, a snapshot build or install, a contended shard
    /// lock) runs off it (`raft::machine::off_workers`), so Raft heartbeats are not held up.
    pub fn worker_threads(&self) -> usize {
        match self.threads {
            0 => 1,
            threads => threads,
        }
    }

    /// The cluster's members: `--initial-cluster`, or this node alone.
    pub fn members(&self) -> Result<Vec<Member>, String> {
        if self.initial_cluster.trim().is_empty() {
            // A node alone listens for peers from the first node that joins it (an unusable
            // port here then refuses that join); one that joins does, on this port.
            let peer_port = match self.join {
                Some(_) => self.own_peer_port()?,
                None => self.own_peer_port().unwrap_or(self.port),
            };
            return Ok(vec![Member {
                id: self.node_id,
                host: self.bind.clone(),
                port: self.port,
                peer_port,
            }]);
        }
        let mut members = Vec::new();
        for item in self
            .initial_cluster
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let bad = || format!("bad --initial-cluster member '{item}' (want ID=HOST:PORT[@PEERPORT])");
            let (id, address) = item.split_once('=').ok_or_else(bad)?;
            let id: u64 = id.parse().map_err(|_| bad())?;
            let member = Member::parse(id, address).ok_or_else(bad)?;
            if members.iter().any(|m: &Member| m.id == id) {
                return Err(format!("node id {id} appears twice in --initial-cluster"));
            }
            members.push(member);
        }
        let Some(me) = members.iter().find(|m| m.id == self.node_id) else {
            return Err(format!("--node-id {} is not in --initial-cluster", self.node_id));
        };
        if let Some(peer_port) = self.peer_port.filter(|&peer_port| peer_port != me.peer_port) {
            return Err(format!(
                "--peer-port {peer_port} disagrees with this node's entry in --initial-cluster ({}): \
                 give it there as @{peer_port}",
                me.address()
            ));
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_runs_one_worker_unless_told_otherwise() {
        let threads = |extra: &[&str]| Args::parse_from(["flotilla"].iter().chain(extra)).worker_threads();
        assert_eq!(threads(&[]), 1);
        assert_eq!(threads(&["--threads", "4"]), 4);
        let cluster = ["--initial-cluster", "1=127.0.0.1:7001,2=127.0.0.1:7002"];
        assert_eq!(threads(&cluster), 1);
        assert_eq!(threads(&[&cluster[..], &["--threads", "2"]].concat()), 2);
    }

    #[test]
    fn initial_cluster_parses_with_default_peer_ports() {
        let args = Args::parse_from([
            "flotilla",
            "--node-id",
            "2",
            "--initial-cluster",
            "1=127.0.0.1:7001@17001,2=127.0.0.1:7002,3=h:7003@9",
        ]);
        let members = args.members().unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(
            members[1],
            Member {
                id: 2,
                host: "127.0.0.1".into(),
                port: 7002,
                peer_port: 17002
            }
        );
        assert_eq!(members[2].peer_port, 9);
        let alone = Args::parse_from(["flotilla", "--port", "7000"])
            .members()
            .unwrap();
        assert_eq!(
            alone,
            vec![Member {
                id: 1,
                host: "127.0.0.1".into(),
                port: 7000,
                peer_port: 17000
            }]
        );
        let wrong = Args::parse_from(["flotilla", "--node-id", "9", "--initial-cluster", "1=a:1"]);
        assert!(wrong.members().is_err());
    }

    #[test]
    fn peer_port_is_this_nodes_own_and_must_agree_with_the_initial_cluster() {
        let parse = |extra: &[&str]| Args::parse_from(["flotilla"].iter().chain(extra));
        let joining = parse(&["--port", "7004", "--node-id", "4", "--join", "h:7001", "--peer-port", "9004"]);
        assert_eq!(joining.joining_as().unwrap().peer_port, 9004);
        assert_eq!(joining.members().unwrap()[0].peer_port, 9004);
        let by_default = parse(&["--port", "7004", "--node-id", "4", "--join", "h:7001"]);
        assert_eq!(by_default.joining_as().unwrap().peer_port, 17004);
        let too_high = parse(&["--port", "60000", "--join", "h:7001"]);
        assert!(too_high.joining_as().unwrap_err().contains("--peer-port"));
        assert!(too_high.members().is_err());
        let listed = ["--node-id", "2", "--initial-cluster", "1=h:7001,2=h:7002@9002"];
        assert_eq!(parse(&[&listed[..], &["--peer-port", "9002"]].concat()).members().unwrap()[1].peer_port, 9002);
        let disagreeing = parse(&[&listed[..], &["--peer-port", "17002"]].concat()).members().unwrap_err();
        assert!(disagreeing.contains("disagrees"), "{disagreeing}");
    }

    #[test]
    fn a_member_address_round_trips_and_old_ones_take_the_default_peer_port() {
        let member = Member { id: 4, host: "10.0.0.4".into(), port: 7004, peer_port: 9004 };
        assert_eq!(member.address(), "10.0.0.4:7004@9004");
        assert_eq!(Member::parse(4, &member.address()), Some(member));
        let old = Member::parse(2, "127.0.0.1:7002").unwrap();
        assert_eq!((old.port, old.peer_port), (7002, 17002));
        for bad in ["", "host", ":7000", "h:x", "h:7000@", "h:70000"] {
            assert_eq!(Member::parse(1, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_joining_node_is_known_at_its_bind_address_or_else_its_announced_one() {
        let parse = |extra: &[&str]| Args::parse_from(["flotilla", "--port", "7004", "--node-id", "4"].iter().chain(extra));
        let joining = parse(&["--join", "h:7001"]);
        assert!(joining.clustered() && joining.cluster_enabled(1));
        assert_eq!(joining.joining_as().unwrap().address(), "127.0.0.1:7004@17004");
        let everywhere = parse(&["--join", "h:7001", "--bind", "0.0.0.0"]);
        assert!(everywhere.joining_as().is_err());
        let announced = parse(&["--join", "h:7001", "--bind", "0.0.0.0", "--announce-ip", "10.1.1.4"]);
        assert_eq!(announced.joining_as().unwrap().host, "10.1.1.4");
        assert!(!parse(&[]).clustered());
    }

    #[test]
    fn cluster_protocol_is_on_by_default_only_with_several_members() {
        let parse = |extra: &[&str]| Args::parse_from(["flotilla"].iter().chain(extra));
        assert!(!parse(&[]).cluster_enabled(1));
        assert!(parse(&[]).cluster_enabled(3));
        assert!(!parse(&["--cluster-enabled", "no"]).cluster_enabled(3));
        assert!(parse(&["--cluster-enabled", "yes"]).cluster_enabled(1));
    }
}
