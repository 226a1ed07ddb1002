//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB
//! CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB / HELP, and the shard forms
//! SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH (a separate namespace; on one node it is local).
//!
//! Subscription confirmations are push frames in RESP3 and arrays in RESP2; one confirmation
//! per channel, so a command may produce several replies, all sent as the command's reply.

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::{CommandSpec, Flags, Handler, KeyFlags};
use std::collections::BTreeSet;
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

/// The three subscription namespaces and their notification names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }

    fn set(self, session: &mut Session) -> &mut BTreeSet<Bytes> {
        match self {
            Kind::Channel => &mut session.channels,
            Kind::Pattern => &mut session.patterns,
            Kind::Shard => &mut session.shard_channels,
        }
    }

    /// The count a notification carries: channels and patterns together, shard channels apart.
    fn count(self, session: &Session) -> usize {
        match self {
            Kind::Channel | Kind::Pattern => session.channels.len() + session.patterns.len(),
            Kind::Shard => session.shard_channels.len(),
        }
    }

    fn add(self, session: &Session, name: &Bytes) {
        let hub = &session.node.pubsub;
        match self {
            Kind::Channel => hub.subscribe(name.clone(), &session.client),
            Kind::Pattern => hub.psubscribe(name.clone(), &session.client),
            Kind::Shard => hub.ssubscribe(name.clone(), &session.client),
        };
    }

    fn remove(self, session: &Session, name: &[u8]) {
        let hub = &session.node.pubsub;
        let id = session.client.id;
        match self {
            Kind::Channel => hub.unsubscribe(name, id),
            Kind::Pattern => hub.punsubscribe(name, id),
            Kind::Shard => hub.sunsubscribe(name, id),
        };
    }
}

fn sync_counts(session: &Session) {
    session
        .client
        .subscriptions
        .store(session.channels.len(), Ordering::Relaxed);
    session
        .client
        .ssubscriptions
        .store(session.shard_channels.len(), Ordering::Relaxed);
    session
        .client
        .psubscriptions
        .store(session.patterns.len(), Ordering::Relaxed);
}

/// Several notifications (one per channel) are sent back to back: encoded here, for the
/// session's protocol version, into one raw reply. Like Redis's pushes, they are sent even
/// while CLIENT REPLY is OFF.
fn many(session: &mut Session, replies: Vec<Reply>) -> Reply {
    let mut out = bytes::BytesMut::new();
    for reply in &replies {
        flotilla_protocol::encode(reply, session.resp3, &mut out);
    }
    session.pushing = true;
    Reply::Raw(out.freeze())
}

fn subscribe_generic(session: &mut Session, args: &[Bytes], kind: Kind) -> Reply {
    let mut replies = Vec::with_capacity(args.len() - 1);
    for name in &args[1..] {
        if kind.set(session).insert(name.clone()) {
            kind.add(session, name);
        }
        replies.push(confirmation(
            kind.names().0,
            Some(name.clone()),
            kind.count(session),
        ));
    }
    sync_counts(session);
    many(session, replies)
}

fn unsubscribe_generic(session: &mut Session, args: &[Bytes], kind: Kind) -> Reply {
    let names: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        kind.set(session).iter().cloned().collect()
    };
    if names.is_empty() {
        let reply = confirmation(kind.names().1, None, kind.count(session));
        return many(session, vec![reply]);
    }
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        if kind.set(session).remove(&name) {
            kind.remove(session, &name);
        }
        replies.push(confirmation(kind.names().1, Some(name), kind.count(session)));
    }
    sync_counts(session);
    many(session, replies)
}

fn subscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    subscribe_generic(session, args, Kind::Channel)
}

fn psubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    subscribe_generic(session, args, Kind::Pattern)
}

fn ssubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    subscribe_generic(session, args, Kind::Shard)
}

fn unsubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    unsubscribe_generic(session, args, Kind::Channel)
}

fn punsubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    unsubscribe_generic(session, args, Kind::Pattern)
}

fn sunsubscribe(session: &mut Session, args: &[Bytes]) -> Reply {
    unsubscribe_generic(session, args, Kind::Shard)
}

/// Drops every subscription of the session without notifications (RESET, disconnect).
pub fn unsubscribe_all(session: &mut Session) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(kind.set(session)) {
            kind.remove(session, &name);
        }
    }
    sync_counts(session);
}

/// PUBLISH: delivered to this node's subscribers, and sent on to every other member for
/// theirs, as a Redis Cluster node sends it over its bus. The reply counts this node's
/// receivers only, as Redis Cluster's does.
fn publish(session: &mut Session, args: &[Bytes]) -> Reply {
    session.node.stats.pubsub_messages.fetch_add(1, Ordering::Relaxed);
    session.node.publish_to_peers(false, &args[1], &args[2]);
    Reply::Int(session.node.pubsub.publish(&args[1], &args[2]))
}

/// SPUBLISH: as PUBLISH, to the shard's nodes, which today are all the members.
fn spublish(session: &mut Session, args: &[Bytes]) -> Reply {
    session.node.stats.pubsub_messages.fetch_add(1, Ordering::Relaxed);
    session.node.publish_to_peers(true, &args[1], &args[2]);
    Reply::Int(session.node.pubsub.spublish(&args[1], &args[2]))
}

fn pubsub_channels(session: &mut Session, args: &[Bytes]) -> Reply {
    let names = session.node.pubsub.channels(args.get(2).map(|p| &p[..]));
    Reply::Array(names.into_iter().map(Reply::Bulk).collect())
}

fn pubsub_shardchannels(session: &mut Session, args: &[Bytes]) -> Reply {
    let names = session.node.pubsub.shard_channels(args.get(2).map(|p| &p[..]));
    Reply::Array(names.into_iter().map(Reply::Bulk).collect())
}

/// NUMSUB replies with a flat array (also in RESP3), as Redis does.
fn numsub_reply(args: &[Bytes], count: impl Fn(&[u8]) -> usize) -> Reply {
    let mut out = Vec::with_capacity((args.len() - 2) * 2);
    for channel in &args[2..] {
        out.push(Reply::Bulk(channel.clone()));
        out.push(Reply::Int(count(channel) as i64));
    }
    Reply::Array(out)
}

fn pubsub_numsub(session: &mut Session, args: &[Bytes]) -> Reply {
    let hub = &session.node.pubsub;
    numsub_reply(args, |channel| hub.numsub(channel))
}

fn pubsub_shardnumsub(session: &mut Session, args: &[Bytes]) -> Reply {
    let hub = &session.node.pubsub;
    numsub_reply(args, |channel| hub.shard_numsub(channel))
}

fn pubsub_numpat(session: &mut Session, _args: &[Bytes]) -> Reply {
    Reply::Int(session.node.pubsub.numpat() as i64)
}

fn pubsub_help(_session: &mut Session, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::Simple((*line).into())).collect())
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
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "7.0.0",
        summary: "Returns the active shard channels.",
        syntax: "[pattern]",
        ..CommandSpec::base("pubsub|shardchannels", -2, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "7.0.0",
        summary: "Returns the count of subscribers of shard channels.",
        syntax: "[shardchannel [shardchannel ...]]",
        ..CommandSpec::base("pubsub|shardnumsub", -2, Handler::Server)
    },
    CommandSpec {
        flags: Flags::LOADING.union(Flags::STALE),
        acl: &["slow"],
        group: "pubsub",
        since: "6.2.0",
        summary: "Returns helpful text about the different subcommands.",
        ..CommandSpec::base("pubsub|help", 2, Handler::Server)
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
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "7.0.0",
        summary: "Listens for messages published to shard channels.",
        syntax: "shardchannel [shardchannel ...]",
        first_key: 1,
        last_key: -1,
        step: 1,
        key_flags: &[KeyFlags::NOT_KEY],
        ..CommandSpec::base("ssubscribe", -2, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB,
        acl: &["pubsub", "slow"],
        group: "pubsub",
        since: "7.0.0",
        summary: "Stops listening to messages posted to shard channels.",
        syntax: "[shardchannel [shardchannel ...]]",
        first_key: 1,
        last_key: -1,
        step: 1,
        key_flags: &[KeyFlags::NOT_KEY],
        ..CommandSpec::base("sunsubscribe", -1, Handler::Server)
    },
    CommandSpec {
        flags: PUBSUB.union(Flags::FAST).union(Flags::MAY_REPLICATE),
        acl: &["pubsub", "fast"],
        group: "pubsub",
        since: "7.0.0",
        summary: "Post a message to a shard channel",
        syntax: "shardchannel message",
        first_key: 1,
        last_key: 1,
        step: 1,
        key_flags: &[KeyFlags::NOT_KEY],
        ..CommandSpec::base("spublish", 3, Handler::Server)
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
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|help", pubsub_help),
    ("ssubscribe", ssubscribe),
    ("sunsubscribe", sunsubscribe),
    ("spublish", spublish),
];
