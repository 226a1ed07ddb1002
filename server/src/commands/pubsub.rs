//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB
//! CHANNELS / NUMSUB / NUMPAT.
//!
//! Subscription confirmations are push frames in RESP3 and arrays in RESP2; one confirmation
//! per channel, so a command may produce several replies (sent through the push path).

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::{CommandSpec, Flags, Handler};
use std::sync::atomic::Ordering;

use super::ServerFn;
use crate::session::Session;

fn confirmation(kind: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(kind.as_bytes())),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(count as i64),
    ])
}

fn subscription_count(session: &Session) -> usize {
    session.channels.len() + session.patterns.len()
}

fn sync_counts(session: &Session) {
    session
        .client
        .subscriptions
        .store(session.channels.len(), Ordering::Relaxed);
    session
        .client
        .psubscriptions
        .store(session.patterns.len(), Ordering::Relaxed);
}

/// Several confirmations (one per channel) are sent back to back: encoded here, for the
/// session's protocol version, into one raw reply.
fn many(session: &Session, replies: Vec<Reply>) -> Reply {
    let mut out = bytes::BytesMut::new();
    for reply in &replies {
        flotilla_protocol::encode(reply, session.resp3, &mut out);
    }
    Reply::Raw(out.freeze())
}

fn subscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    let mut replies = Vec::new();
    for channel in &args[1..] {
        if session.channels.insert(channel.clone()) {
            session.node.pubsub.subscribe(channel.clone(), &session.client);
        }
        sync_counts(session);
        replies.push(confirmation(
            "subscribe",
            Some(channel.clone()),
            subscription_count(session),
        ));
    }
    many(session, replies)
}

fn psubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    let mut replies = Vec::new();
    for pattern in &args[1..] {
        if session.patterns.insert(pattern.clone()) {
            session.node.pubsub.psubscribe(pattern.clone(), &session.client);
        }
        sync_counts(session);
        replies.push(confirmation(
            "psubscribe",
            Some(pattern.clone()),
            subscription_count(session),
        ));
    }
    many(session, replies)
}

fn unsubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    let channels: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        session.channels.iter().cloned().collect()
    };
    if channels.is_empty() {
        return many(
            session,
            vec![confirmation("unsubscribe", None, subscription_count(session))],
        );
    }
    let mut replies = Vec::new();
    for channel in channels {
        if session.channels.remove(&channel) {
            session.node.pubsub.unsubscribe(&channel, session.client.id);
        }
        sync_counts(session);
        replies.push(confirmation(
            "unsubscribe",
            Some(channel),
            subscription_count(session),
        ));
    }
    many(session, replies)
}

fn punsubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    let patterns: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        session.patterns.iter().cloned().collect()
    };
    if patterns.is_empty() {
        return many(
            session,
            vec![confirmation("punsubscribe", None, subscription_count(session))],
        );
    }
    let mut replies = Vec::new();
    for pattern in patterns {
        if session.patterns.remove(&pattern) {
            session.node.pubsub.punsubscribe(&pattern, session.client.id);
        }
        sync_counts(session);
        replies.push(confirmation(
            "punsubscribe",
            Some(pattern),
            subscription_count(session),
        ));
    }
    many(session, replies)
}

/// Drops every subscription of the session (RESET, disconnect).
pub fn unsubscribe_all(session: &mut Session) {
    for channel in std::mem::take(&mut session.channels) {
        session.node.pubsub.unsubscribe(&channel, session.client.id);
    }
    for pattern in std::mem::take(&mut session.patterns) {
        session.node.pubsub.punsubscribe(&pattern, session.client.id);
    }
    sync_counts(session);
}

fn publish(session: &mut Session, args: &[Bytes]) -> Reply {
    session.node.stats.pubsub_messages.fetch_add(1, Ordering::Relaxed);
    Reply::Int(session.node.pubsub.publish(&args[1], &args[2]))
}

fn pubsub_channels(session: &mut Session, args: &[Bytes]) -> Reply {
    let names = session.node.pubsub.channels(args.get(2).map(|p| &p[..]));
    Reply::Array(names.into_iter().map(Reply::Bulk).collect())
}

fn pubsub_numsub(session: &mut Session, args: &[Bytes]) -> Reply {
    Reply::Map(
        args[2..]
            .iter()
            .map(|channel| {
                (
                    Reply::Bulk(channel.clone()),
                    Reply::Int(session.node.pubsub.numsub(channel) as i64),
                )
            })
            .collect(),
    )
}

fn pubsub_numpat(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(session.node.pubsub.numpat() as i64)
}

const PUBSUB: Flags = Flags::PUBSUB
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.8.0",
        summary: "Returns the active channels.",
        syntax: "[pattern]",
        ..CommandSpec::base("pubsub|channels", -2, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.8.0",
        summary: "Returns a count of subscribers to channels.",
        syntax: "[channel [channel ...]]",
        ..CommandSpec::base("pubsub|numsub", -2, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.8.0",
        summary: "Returns a count of unique pattern subscriptions.",
        ..CommandSpec::base("pubsub|numpat", 2, Handler::Server)
    },
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.0.0",
        summary: "Listens for messages published to channels.",
        syntax: "channel [channel ...]",
        ..CommandSpec::base("subscribe", -2, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.0.0",
        summary: "Stops listening to messages posted to channels.",
        syntax: "[channel [channel ...]]",
        ..CommandSpec::base("unsubscribe", -1, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.0.0",
        summary: "Listens for messages published to channels that match one or more patterns.",
        syntax: "pattern [pattern ...]",
        ..CommandSpec::base("psubscribe", -2, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "2.0.0",
        summary: "Stops listening to messages published to channels that match one or more patterns.",
        syntax: "[pattern [pattern ...]]",
        ..CommandSpec::base("punsubscribe", -1, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB.union(Flags::FAST).union(Flags::MAY_REPLICATE),
        acl: &["pubsub", "fast"],
        group: "pubsub",
        since: "2.0.0",
        summary: "Posts a message to a channel.",
        syntax: "channel message",
        ..CommandSpec::base("publish", 3, Handler::Server)
    },
    CommandSpec {
        acl: &["slow"],
        group: "pubsub",
        since: "2.8.0",
        summary: "A container for Pub/Sub commands.",
        subcommands: PUBSUB_SUBCOMMANDS,
        ..CommandSpec::base("pubsub", -2, Handler::Container)
    },
];

pub const HANDLERS: &[(&str, ServerFn)] = &[
    ("subscribe", subscribe),
    ("unsubscribe", unsubscribe),
    ("psubscribe", psubscribe),
    ("punsubscribe", punsubscribe),
    ("publish", publish),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|numpat", pubsub_numpat),
];
