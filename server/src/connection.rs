//! One client connection: reads requests (pipelined), runs them in order through the
//! session, coalesces their replies into one write, and interleaves out-of-band messages
//! (pub/sub, MONITOR) between replies.
//!
//! Limits, as Redis: `maxclients` refuses a connection with an error, `timeout` closes a
//! connection idle that long (never a subscriber, a monitor or a blocked client), and a
//! subscriber that falls behind its output buffer limit is disconnected (see
//! `ClientHandle::push`). CLIENT KILL and the output limit close a connection even while it
//! waits for a slow reader or a blocked command.

use bytes::{Bytes, BytesMut};
use flotilla_protocol::{encode, Reply, RequestParser};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::clients::ClientHandle;
use crate::errors;
use crate::node::Node;
use crate::session::{Outcome, Session};

/// Free space kept in the read buffer before each read.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Pushes drained into the write buffer per wake-up, so a flood cannot starve requests.
const PUSH_BATCH_MAX: usize = 1024;
/// Most pipelined commands of one connection run as one batch.
const WRITE_BATCH_MAX: usize = 1024;
/// How often an idle connection re-reads the `timeout` setting (it may be changed by
/// CONFIG SET while the connection waits).
const IDLE_CHECK_PERIOD_MS: u64 = 1000;

pub async fn serve(node: Arc<Node>, mut stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let local_addr = stream.local_addr().unwrap_or(addr);
    if node.clients.len() >= node.settings.read().maxclients {
        node.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(format!("-{}\r\n", errors::MAX_CLIENTS).as_bytes())
            .await;
        return;
    }
    node.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    let (push_tx, mut push_rx) = mpsc::unbounded_channel();
    let limits = node.settings.read().output_limits.clone();
    let client = node.clients.connect(addr, local_addr, push_tx, limits);
    let mut session = Session::new(node.clone(), client.clone());
    let mut parser = RequestParser::new();
    let mut read_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut write_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut last_activity = crate::clock::instant();
    // One kill waiter and one idle timer for the life of the connection, not one per request:
    // registering a `Notified` and a timer entry and removing them again on every request
    // was a few percent of a node's CPU at 50 clients -P 1.
    let kill = client.kill.notified();
    tokio::pin!(kill);
    let idle_check = tokio::time::sleep(Duration::from_millis(IDLE_CHECK_PERIOD_MS));
    tokio::pin!(idle_check);
    let mut requests: VecDeque<Vec<Bytes>> = VecDeque::new();

    'connection: loop {
        if read_buf.capacity() - read_buf.len() < READ_CHUNK_BYTES / 4 {
            read_buf.reserve(READ_CHUNK_BYTES);
        }
        tokio::select! {
            biased;
            _ = &mut kill => break 'connection,
            read = stream.read_buf(&mut read_buf) => {
                let bytes_read = match read {
                    Ok(0) | Err(_) => break 'connection,
                    Ok(n) => n,
                };
                last_activity = crate::clock::instant();
                node.stats.net_input_bytes.fetch_add(bytes_read as u64, Ordering::Relaxed);
                // Parse every complete request first (an authenticated client only: before AUTH
                // the parser's limits depend on each command's outcome), so that runs of plain
                // writes can be proposed together.
                requests.clear();
                let mut parse_error = None;
                'parse: loop {
                    if !requests.is_empty() && !session.authenticated {
                        break;
                    }
                    parser.set_auth_required(!session.authenticated);
                    match parser.parse(&mut read_buf) {
                        Ok(Some(args)) if args.is_empty() => continue,
                        Ok(Some(args)) => requests.push_back(args),
                        Ok(None) => break 'parse,
                        Err(error) => {
                            parse_error = Some(error);
                            break 'parse;
                        }
                    }
                    if !session.authenticated {
                        break;
                    }
                }
                let mut stop = false;
                while let Some(args) = requests.pop_front() {
                    client.query_buffer_bytes.store(read_buf.len(), Ordering::Relaxed);
                    // Runs of pipelined writes become one proposal, runs of reads share one barrier.
                    // A lone request (no pipeline behind it) is not classified at all.
                    // Each request is classified once, and its spec kept for the batch.
                    let cluster = session.node.cluster_enabled();
                    let kind = if requests.is_empty() || !session.can_batch() {
                        None
                    } else {
                        Session::batch_spec(&args, cluster)
                    };
                    let next_spec = |requests: &VecDeque<Vec<Bytes>>, write: bool| {
                        let (next_write, spec) = Session::batch_spec(requests.front()?, cluster)?;
                        (next_write == write).then_some(spec)
                    };
                    let second = kind.and_then(|(write, spec)| Some((write, spec, next_spec(&requests, write)?)));
                    if let Some((write, first, second)) = second {
                        // Sized for the run that may follow: grown push by push, they were
                        // reallocated (and copied) several times per pipelined batch.
                        let capacity = (requests.len() + 1).min(WRITE_BATCH_MAX);
                        let mut batch = Vec::with_capacity(capacity);
                        batch.push(args);
                        batch.push(requests.pop_front().expect("classified"));
                        let mut specs = Vec::with_capacity(capacity);
                        specs.push(first);
                        specs.push(second);
                        while batch.len() < WRITE_BATCH_MAX {
                            let Some(spec) = next_spec(&requests, write) else { break };
                            batch.push(requests.pop_front().expect("classified"));
                            specs.push(spec);
                        }
                        for reply in session.execute_batch(batch, specs).await {
                            encode(&reply, session.resp3, &mut write_buf);
                        }
                        continue;
                    }
                    match session.execute(args).await {
                        Outcome::Reply(reply) => encode(&reply, session.resp3, &mut write_buf),
                        Outcome::Silent => {}
                        Outcome::Blocked(wait) => {
                            // Replies before the blocked command go out now.
                            if flush(&node, kill.as_mut(), &mut stream, &mut write_buf).await.is_err() {
                                break 'connection;
                            }
                            // Keep reading while blocked: a disconnect or CLIENT KILL drops
                            // the wait (which cancels the waiter); pipelined commands stay
                            // buffered until the reply is out.
                            let mut future = wait.future;
                            let reply = loop {
                                tokio::select! {
                                    reply = &mut future => break reply,
                                    _ = &mut kill => break 'connection,
                                    read = stream.read_buf(&mut read_buf) => match read {
                                        Ok(0) | Err(_) => break 'connection,
                                        Ok(n) => {
                                            node.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                                        }
                                    },
                                }
                            };
                            if session.unblocked(&reply) {
                                encode(&reply, session.resp3, &mut write_buf);
                            }
                            last_activity = crate::clock::instant();
                        }
                    }
                    if session.closing || client.killed.load(Ordering::Acquire) {
                        stop = true;
                        break;
                    }
                    if !session.authenticated && requests.is_empty() {
                        // Parse the next request with the limits of the new state.
                        loop {
                            parser.set_auth_required(!session.authenticated);
                            match parser.parse(&mut read_buf) {
                                Ok(Some(args)) if args.is_empty() => continue,
                                Ok(Some(args)) => requests.push_back(args),
                                Ok(None) => {}
                                Err(error) => parse_error = Some(error),
                            }
                            break;
                        }
                    }
                }
                if !stop {
                    if let Some(error) = parse_error {
                        let reply = Reply::error_owned(format!("ERR {error}"));
                        crate::commands::slowlog::record_rejected(None, &reply);
                        encode(&reply, session.resp3, &mut write_buf);
                        session.closing = true;
                    }
                }
                client.query_buffer_bytes.store(read_buf.len(), Ordering::Relaxed);
            }
            Some(message) = push_rx.recv() => {
                encode_push(&client, &message, session.resp3, &mut write_buf);
                for _ in 0..PUSH_BATCH_MAX {
                    match push_rx.try_recv() {
                        Ok(message) => encode_push(&client, &message, session.resp3, &mut write_buf),
                        Err(_) => break,
                    }
                }
            }
            _ = &mut idle_check => {
                // The setting is read here, so a CONFIG SET of `timeout` applies within a check
                // period.
                let idle_timeout_s = node.live.timeout_s.load(Ordering::Relaxed);
                let idle_limited = idle_timeout_s > 0
                    && !session.is_subscribed()
                    && !client.is_monitor.load(Ordering::Relaxed);
                let mut next_check = Duration::from_millis(IDLE_CHECK_PERIOD_MS);
                if idle_limited {
                    let idle_for = last_activity.elapsed();
                    let limit = Duration::from_secs(idle_timeout_s);
                    if idle_for >= limit {
                        break 'connection;
                    }
                    next_check = next_check.min(limit - idle_for);
                }
                idle_check.as_mut().reset(tokio::time::Instant::now() + next_check);
            }
        }
        if flush(&node, kill.as_mut(), &mut stream, &mut write_buf).await.is_err() || session.closing {
            break;
        }
    }
    crate::commands::pubsub::unsubscribe_all(&mut session);
    crate::commands::monitor::stop(&session);
    node.tracking.disable(&client);
    node.clients.unregister(client.id);
}

fn encode_push(client: &ClientHandle, message: &Reply, resp3: bool, out: &mut BytesMut) {
    let before = out.len();
    encode(message, resp3, out);
    let written = out.len() - before;
    client.push_written(written);
}

/// Writes the buffered replies; gives up when the client is killed meanwhile (a subscriber
/// that stopped reading must not hold its connection open forever).
async fn flush(
    node: &Node,
    kill: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    // The write goes first: a reply that fits the socket is sent even to a client that is
    // being killed (CLIENT KILL of oneself answers before closing).
    tokio::select! {
        biased;
        written = stream.write_all(buf) => written?,
        _ = kill => {
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "killed"));
        }
    }
    node.stats
        .net_output_bytes
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    buf.clear();
    Ok(())
}
