//! The pub/sub hub: channel and pattern subscriptions of this node's clients.
//!
//! Messages are delivered through each client's push channel, as `Reply::Push`, which the
//! connection encodes as a RESP3 push frame or a RESP2 array.

use bytes::Bytes;
use flotilla_protocol::Reply;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::clients::ClientHandle;

type Subscribers = BTreeMap<u64, Arc<ClientHandle>>;

#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    /// Shard channels (SSUBSCRIBE / SPUBLISH): their own namespace, never pattern-matched.
    shard_channels: RwLock<HashMap<Bytes, Subscribers>>,
}

impl PubSub {
    /// Adds a subscription; false if the client already had it.
    pub fn subscribe(&self, channel: Bytes, client: &Arc<ClientHandle>) -> bool {
        self.channels
            .write()
            .entry(channel)
            .or_default()
            .insert(client.id, client.clone())
            .is_none()
    }

    pub fn unsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        remove(&self.channels, channel, client_id)
    }

    pub fn psubscribe(&self, pattern: Bytes, client: &Arc<ClientHandle>) -> bool {
        self.patterns
            .write()
            .entry(pattern)
            .or_default()
            .insert(client.id, client.clone())
            .is_none()
    }

    pub fn punsubscribe(&self, pattern: &[u8], client_id: u64) -> bool {
        remove(&self.patterns, pattern, client_id)
    }

    pub fn ssubscribe(&self, channel: Bytes, client: &Arc<ClientHandle>) -> bool {
        self.shard_channels
            .write()
            .entry(channel)
            .or_default()
            .insert(client.id, client.clone())
            .is_none()
    }

    pub fn sunsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        remove(&self.shard_channels, channel, client_id)
    }

    /// Delivers `message` to the subscribers of shard channel `channel` (SPUBLISH).
    pub fn spublish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let mut receivers = 0;
        let size = channel.len() + message.len() + 32;
        if let Some(subscribers) = self.shard_channels.read().get(channel) {
            for client in subscribers.values() {
                let push = Reply::Push(vec![
                    Reply::Bulk(Bytes::from_static(b"smessage")),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]);
                client.push(push, size);
                receivers += 1;
            }
        }
        receivers
    }

    /// Active shard channels matching `pattern` (all when None).
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        matching(&self.shard_channels, pattern)
    }

    pub fn shard_numsub(&self, channel: &[u8]) -> usize {
        self.shard_channels.read().get(channel).map_or(0, |s| s.len())
    }

    /// Delivers `message` on `channel`; returns the number of receiving subscriptions.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let mut receivers = 0;
        let size = channel.len() + message.len() + 32;
        if let Some(subscribers) = self.channels.read().get(channel) {
            for client in subscribers.values() {
                let push = Reply::Push(vec![
                    Reply::Bulk(Bytes::from_static(b"message")),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]);
                client.push(push, size);
                receivers += 1;
            }
        }
        for (pattern, subscribers) in self.patterns.read().iter() {
            if !flotilla_storage::glob::matches(pattern, channel, false) {
                continue;
            }
            for client in subscribers.values() {
                let push = Reply::Push(vec![
                    Reply::Bulk(Bytes::from_static(b"pmessage")),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]);
                client.push(push, size + pattern.len());
                receivers += 1;
            }
        }
        receivers
    }

    /// Active channels matching `pattern` (all when None).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        matching(&self.channels, pattern)
    }

    /// Number of channels with at least one subscriber (INFO `pubsub_channels`).
    pub fn channel_count(&self) -> usize {
        self.channels.read().len()
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.read().get(channel).map_or(0, |s| s.len())
    }

    /// Number of distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }
}

fn matching(map: &RwLock<HashMap<Bytes, Subscribers>>, pattern: Option<&[u8]>) -> Vec<Bytes> {
    let mut names: Vec<Bytes> = map
        .read()
        .keys()
        .filter(|name| pattern.is_none_or(|p| flotilla_storage::glob::matches(p, name, false)))
        .cloned()
        .collect();
    names.sort();
    names
}

fn remove(map: &RwLock<HashMap<Bytes, Subscribers>>, name: &[u8], client_id: u64) -> bool {
    let mut map = map.write();
    let Some(subscribers) = map.get_mut(name) else {
        return false;
    };
    let removed = subscribers.remove(&client_id).is_some();
    if subscribers.is_empty() {
        map.remove(name);
    }
    removed
}
