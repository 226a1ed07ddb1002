//! The `flotilla` binary: parses flags, starts the node and its client listener, and stops
//! cleanly on SHUTDOWN, SIGTERM or SIGINT.

use clap::Parser;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

mod acl;
mod allocator;
mod blocking;
mod clients;
mod clock;
mod commands;
mod config;
mod connection;
mod docs;
mod errors;
mod membership;
mod node;
mod notify;
mod pause;
mod pubsub;
mod raft;
mod session;
mod settings;
mod tracking;

use config::Args;
use node::Node;

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    // A command that may run long leaves the runtime worker first, so that the node's other
    // tasks (Raft heartbeats above all) keep running meanwhile, even with one worker.
    flotilla_storage::cost::set_long_runner(|work| raft::machine::off_workers(work));
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(args.worker_threads()).enable_all();
    // Connections whose requests one poll of the sockets found ready run in the order the
    // kernel reported them, as Redis's event loop serves them. With the LIFO slot the last
    // task woken ran first: of a blocking XREADGROUP sent on one connection and a DEL sent
    // right after on another, the DEL ran first 272 times in 300. The setting needs
    // `--cfg tokio_unstable` (.cargo/config.toml); a RUSTFLAGS of one's own replaces it.
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    #[cfg(not(tokio_unstable))]
    tracing::warn!(
        "built without --cfg tokio_unstable (RUSTFLAGS replaces .cargo/config.toml's): \
         connections ready at once may run out of arrival order"
    );
    let runtime = builder.build().expect("tokio runtime");
    let code = runtime.block_on(run(args));
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    if let Err(error) = std::fs::create_dir_all(&args.dir) {
        eprintln!(
            "flotilla: cannot create data directory {}: {error}",
            args.dir.display()
        );
        return 1;
    }
    let address = format!("{}:{}", args.bind, args.port);
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("flotilla: cannot listen on {address}: {error}");
            return 1;
        }
    };
    let members = match args.members() {
        Ok(members) => members,
        Err(error) => {
            eprintln!("flotilla: {error}");
            return 1;
        }
    };
    let peer_listener = if args.clustered() {
        let me = members
            .iter()
            .find(|m| m.id == args.node_id)
            .expect("members include this node");
        let peer_address = format!("{}:{}", args.bind, me.peer_port);
        match TcpListener::bind(&peer_address).await {
            Ok(listener) => Some(listener),
            Err(error) => {
                eprintln!("flotilla: cannot listen for peers on {peer_address}: {error}");
                return 1;
            }
        }
    } else {
        None
    };
    let node = match Node::start(args, peer_listener).await {
        Ok(node) => node,
        Err(error) => {
            eprintln!("flotilla: {error}");
            return 1;
        }
    };
    crate::allocator::record_startup();
    tracing::info!(%address, "serving");
    eprintln!("flotilla {} ready on {address}", env!("CARGO_PKG_VERSION"));

    // Signal handlers before the first client is accepted: until they are registered a
    // SIGINT or SIGTERM takes its default action and kills the process without a clean stop.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).expect("SIGINT handler");

    tokio::spawn(expire_loop(node.clone()));
    let accept_node = node.clone();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    tokio::spawn(connection::serve(accept_node.clone(), stream, addr));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });

    let shutdown = node.shutdown.notified();
    tokio::pin!(shutdown);
    if !node.shutting_down.load(Ordering::Acquire) {
        tokio::select! {
            _ = &mut shutdown => {}
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            why = raft_stopped(&node) => {
                tracing::error!(%why, "raft stopped; exiting so that the node is restarted");
                eprintln!("flotilla: raft stopped: {why}; exiting");
                return EXIT_RAFT_STOPPED;
            }
        }
    }
    tracing::info!("shutting down");
    // A leader that stops hands over first: its followers need not wait out its lease.
    if node.transport.has_peers() {
        match node.group.hand_over(Duration::from_secs(HAND_OVER_WAIT_S)).await {
            Some(to) => tracing::info!(to, "handed leadership over"),
            None if node.group.is_leader() => tracing::warn!("no follower took over the leadership in time"),
            None => {}
        }
    }
    // A snapshot now makes the next start load it instead of replaying the log.
    crate::raft::machine::snapshot_before_exit(&node.group.raft, &node.group.store, Duration::from_secs(60))
        .await;
    // Let the SHUTDOWN reply and in-flight writes reach their clients.
    tokio::time::sleep(Duration::from_millis(20)).await;
    0
}

/// Longest a stopping leader waits for a follower to take its leadership over.
const HAND_OVER_WAIT_S: u64 = 2;

/// Exit status when the Raft core stopped under a running node (a storage error, say).
const EXIT_RAFT_STOPPED: i32 = 3;

/// Resolves once the node's Raft core has stopped. A node without its core would keep its
/// connections open but could neither commit nor take part in elections: better to exit
/// and let a supervisor restart it (start-up verifies the log again).
///
/// Polled, not watched: openraft publishes new metrics after nearly every entry, and a task
/// waiting on that watch is woken (a futex wake of another thread) for each of them — a
/// measurable share of a write's CPU cost. A stopped core is noticed within a poll period.
async fn raft_stopped(node: &Node) -> String {
    use openraft::async_runtime::WatchReceiver;
    let metrics = node.group.raft.metrics();
    let mut poll = tokio::time::interval(RAFT_STOPPED_POLL);
    loop {
        poll.tick().await;
        if let Err(fatal) = &metrics.borrow_watched().running_state {
            return fatal.to_string();
        }
    }
}

/// How often the main task checks that the Raft core still runs.
const RAFT_STOPPED_POLL: Duration = Duration::from_millis(200);

async fn expire_loop(node: Arc<Node>) {
    let mut tick = tokio::time::interval(Duration::from_millis(node::ACTIVE_EXPIRE_PERIOD_MS));
    loop {
        tick.tick().await;
        node.expire_cycle().await;
    }
}
