//! Pub/Sub across the members: a message published on any node reaches the subscribers of
//! every node, in the order one publisher sent them, as a Redis Cluster's bus carries PUBLISH
//! (StackExchange.Redis relies on it: it may subscribe on one node and publish on another).

use std::time::Duration;

use crate::serial;
use crate::support::{Client, Cluster, Value};

/// Waits for the next message a subscriber receives: (channel, payload).
fn next_message(client: &mut Client) -> (String, String) {
    match client.try_read().unwrap() {
        Value::Array(items) | Value::Push(items) if items.len() == 3 && items[0].text().ends_with("message") => {
            (items[1].text(), items[2].text())
        }
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn t60_a_message_published_on_any_node_reaches_the_subscribers_of_every_node_in_order() {
    let _serial = serial();
    let cluster = Cluster::start_presenting_cluster(3);
    let mut subscribers: Vec<Client> = cluster.nodes.iter().map(|node| node.client()).collect();
    for subscriber in &mut subscribers {
        subscriber.try_send_args(&["SUBSCRIBE", "news"]).unwrap();
        let confirmed = subscriber.try_read().unwrap();
        assert!(confirmed.text().contains("subscribe") || matches!(confirmed, Value::Array(_)), "{confirmed:?}");
    }
    let mut sharded: Vec<Client> = cluster.nodes.iter().map(|node| node.client()).collect();
    for subscriber in &mut sharded {
        subscriber.try_send_args(&["SSUBSCRIBE", "{s}feed"]).unwrap();
        subscriber.try_read().unwrap();
    }

    // From each node in turn, a run of messages: every subscriber gets them all, in order.
    for (from, node) in cluster.nodes.iter().enumerate() {
        let mut publisher = node.client();
        for i in 0..50 {
            let sent = format!("{from}:{i}");
            // The reply counts this node's own subscriber only, as in Redis Cluster.
            assert_eq!(publisher.try_call(&["PUBLISH", "news", &sent]).unwrap(), Value::Int(1));
        }
        assert_eq!(publisher.try_call(&["SPUBLISH", "{s}feed", "sharded"]).unwrap(), Value::Int(1));
        for (at, subscriber) in subscribers.iter_mut().enumerate() {
            for i in 0..50 {
                let (channel, payload) = next_message(subscriber);
                assert_eq!(channel, "news");
                assert_eq!(payload, format!("{from}:{i}"), "subscriber on node {} out of order", at + 1);
            }
        }
        for subscriber in &mut sharded {
            assert_eq!(next_message(subscriber), ("{s}feed".to_string(), "sharded".to_string()));
        }
    }
    for subscriber in subscribers.iter_mut().chain(sharded.iter_mut()) {
        assert!(subscriber.nothing_more(Duration::from_millis(300)), "a message came twice");
    }
}
