//! Blocked clients (BLPOP, BZPOPMIN, BLMOVE …): waiting for a key to become servable.
//!
//! Not implemented yet: a blocking command currently replies as its non-blocking form would
//! (nil when nothing can be popped). The waiter registry comes with the lists work.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::CommandSpec;
use std::future::Future;
use std::pin::Pin;

use crate::session::Session;

/// A pending blocked command; the connection awaits it and sends its reply.
pub struct Wait {
    pub future: Pin<Box<dyn Future<Output = Reply> + Send>>,
}

/// Called when a blocking command found nothing to pop (`reply` is its nil reply).
pub fn block(
    _session: &mut Session,
    _spec: &CommandSpec,
    _args: Vec<Bytes>,
    reply: Reply,
) -> Result<Reply, Wait> {
    Ok(reply)
}
