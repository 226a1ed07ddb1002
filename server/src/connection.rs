//! One client connection: reads requests (pipelined), runs them in order through the
//! session, coalesces their replies into one write, and interleaves out-of-band messages
//! (pub/sub, MONITOR) between replies.

use bytes::BytesMut;
use flotilla_protocol::{encode, Reply, RequestParser};
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

pub async fn serve(node: Arc<Node>, mut stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let local_addr = stream.local_addr().unwrap_or(addr);
    node.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    if node.clients.len() >= node.settings.read().maxclients {
        node.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(format!("-{}\r\n", errors::MAX_CLIENTS).as_bytes())
            .await;
        return;
    }
    let (push_tx, mut push_rx) = mpsc::unbounded_channel();
    let client = Arc::new(ClientHandle::new(
        node.clients.next_id(),
        addr,
        local_addr,
        push_tx,
    ));
    node.clients.register(client.clone());
    let mut session = Session::new(node.clone(), client.clone());
    let mut parser = RequestParser::new();
    let mut read_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut write_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);

    'connection: loop {
        let idle_timeout_s = node.settings.read().timeout_s;
        let idle_limit = if idle_timeout_s > 0 && !session.is_subscribed() {
            Duration::from_secs(idle_timeout_s)
        } else {
            Duration::from_secs(u32::MAX as u64)
        };
        if read_buf.capacity() - read_buf.len() < READ_CHUNK_BYTES / 4 {
            read_buf.reserve(READ_CHUNK_BYTES);
        }
        tokio::select! {
            biased;
            _ = client.kill.notified() => break 'connection,
            read = stream.read_buf(&mut read_buf) => {
                let bytes_read = match read {
                    Ok(0) | Err(_) => break 'connection,
                    Ok(n) => n,
                };
                node.stats.net_input_bytes.fetch_add(bytes_read as u64, Ordering::Relaxed);
                loop {
                    let args = match parser.parse(&mut read_buf) {
                        Ok(Some(args)) => args,
                        Ok(None) => break,
                        Err(error) => {
                            encode(&Reply::error_owned(format!("ERR {error}")), session.resp3, &mut write_buf);
                            session.closing = true;
                            break;
                        }
                    };
                    if args.is_empty() {
                        continue;
                    }
                    match session.execute(args) {
                        Outcome::Reply(reply) => encode(&reply, session.resp3, &mut write_buf),
                        Outcome::Silent => {}
                        Outcome::Blocked(wait) => {
                            // Replies before the blocked command go out now.
                            if flush(&node, &mut stream, &mut write_buf).await.is_err() {
                                break 'connection;
                            }
                            // Keep reading while blocked: a disconnect or CLIENT KILL drops
                            // the wait (which cancels the waiter); pipelined commands stay
                            // buffered until the reply is out.
                            let mut future = wait.future;
                            let reply = loop {
                                tokio::select! {
                                    reply = &mut future => break reply,
                                    _ = client.kill.notified() => break 'connection,
                                    read = stream.read_buf(&mut read_buf) => match read {
                                        Ok(0) | Err(_) => break 'connection,
                                        Ok(n) => {
                                            node.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                                        }
                                    },
                                }
                            };
                            encode(&reply, session.resp3, &mut write_buf);
                        }
                    }
                    if session.closing || client.killed.load(Ordering::Acquire) {
                        break;
                    }
                }
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
            _ = tokio::time::sleep(idle_limit) => break 'connection,
        }
        if flush(&node, &mut stream, &mut write_buf).await.is_err() || session.closing {
            break;
        }
    }
    crate::commands::pubsub::unsubscribe_all(&mut session);
    node.clients.unregister(client.id);
}

fn encode_push(client: &ClientHandle, message: &Reply, resp3: bool, out: &mut BytesMut) {
    let before = out.len();
    encode(message, resp3, out);
    let written = out.len() - before;
    let _ = client
        .push_pending_bytes
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
            Some(pending.saturating_sub(written + 32))
        });
}

async fn flush(node: &Node, stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    stream.write_all(buf).await?;
    node.stats
        .net_output_bytes
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    buf.clear();
    Ok(())
}
