//! Keyspace notifications: turns the events an applied entry produced into pub/sub messages
//! on `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>`, filtered by
//! `notify-keyspace-events`. They are emitted when the entry is applied, so subscribers see
//! committed changes in commit order.

use bytes::Bytes;
use flotilla_storage::Event;

use crate::node::Node;

pub fn keyspace_events(node: &Node, events: &[Event]) {
    let flags = node.settings.read().notify_flags.clone();
    if flags.is_empty() {
        return;
    }
    let keyspace = flags.contains('K');
    let keyevent = flags.contains('E');
    for event in events {
        let Event::Notify {
            db,
            class,
            event,
            key,
        } = event
        else {
            continue;
        };
        let class = *class as char;
        let enabled = flags.contains(class) || (flags.contains('A') && "g$lshzxetd".contains(class));
        if !enabled {
            continue;
        }
        if keyspace {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            node.pubsub
                .publish(&Bytes::from(channel), &Bytes::from_static(event.as_bytes()));
        }
        if keyevent {
            let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
            node.pubsub.publish(&channel, key);
        }
    }
}
