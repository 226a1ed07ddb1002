//! Transactions under faults: clients move amounts between accounts with MULTI / DECRBY /
//! INCRBY / EXEC and read every account at once with MGET, through random nodes, while the
//! nemesis of partitions.rs partitions, pauses and kills nodes. A transfer is all or nothing
//! and a read sees one state, so every MGET must find the accounts' sum unchanged, whatever
//! happened to the transfers (acknowledged, of unknown outcome, or refused).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::partitions::{call_until_answered, fault_settings, random_faults, ProxiedCluster, Rng, OPERATION_TIMEOUT};
use crate::support::{now, Client, Value};

const ACCOUNTS: u64 = 5;
const OPENING_BALANCE: i64 = 100;
const TOTAL: i64 = ACCOUNTS as i64 * OPENING_BALANCE;
const CLIENTS: usize = 6;

fn account(index: u64) -> String {
    format!("bank:{index}")
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    transfers: usize,
    unknown: usize,
    refused: usize,
    reads: usize,
    /// Reads whose balances did not add up (or were not all numbers), with the node's port.
    bad_reads: Vec<(u16, Vec<Value>)>,
}

/// Whether the balances an MGET returned are all numbers and add up to the opening total.
fn adds_up(reply: &Value) -> bool {
    let Value::Array(items) = reply else { return false };
    let balances: Option<Vec<i64>> = items
        .iter()
        .map(|item| match item {
            Value::Bulk(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            _ => None,
        })
        .collect();
    balances.is_some_and(|b| b.iter().sum::<i64>() == TOTAL)
}

fn mget_command() -> Vec<String> {
    std::iter::once("MGET".to_string()).chain((0..ACCOUNTS).map(account)).collect()
}

fn bank_client(id: usize, ports: Vec<u16>, seed: u64, stop: Arc<AtomicBool>) -> Tally {
    let mut rng = Rng::new(seed ^ (id as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut tally = Tally::default();
    let mut connection: Option<(Client, u16)> = None;
    let mget = mget_command();
    let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
    while !stop.load(Ordering::Relaxed) {
        let Some((client, port)) = connection.as_mut() else {
            let port = ports[rng.below(ports.len() as u64) as usize];
            match Client::try_connect(port) {
                Ok(client) => connection = Some((client, port)),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
            continue;
        };
        let port = *port;
        if rng.below(2) == 0 {
            let from = rng.below(ACCOUNTS);
            let to = (from + 1 + rng.below(ACCOUNTS - 1)) % ACCOUNTS;
            let amount = (1 + rng.below(5)).to_string();
            let (from, to) = (account(from), account(to));
            let replies = client.try_pipeline_within(
                &[&["MULTI"], &["DECRBY", &from, &amount], &["INCRBY", &to, &amount], &["EXEC"]],
                OPERATION_TIMEOUT,
            );
            match replies.as_deref() {
                Ok([_, _, _, Value::Array(results)]) if results.len() == 2 => tally.transfers += 1,
                Ok([_, _, _, Value::Error(e)]) if e.starts_with("TRYAGAIN") || e.starts_with("EXECABORT") => {
                    tally.refused += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok([_, _, _, Value::Error(e)]) if e.starts_with("UNCERTAIN") => {
                    tally.unknown += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(other) => panic!("unexpected replies to a transfer: {other:?}"),
                Err(_) => {
                    tally.unknown += 1;
                    connection = None;
                }
            }
        } else {
            match client.try_call_within(&mget, OPERATION_TIMEOUT) {
                Ok(reply @ Value::Array(_)) => {
                    tally.reads += 1;
                    if !adds_up(&reply) {
                        tally.bad_reads.push((port, vec![reply]));
                    }
                }
                Ok(Value::Error(e)) if e.starts_with("TRYAGAIN") => std::thread::sleep(Duration::from_millis(20)),
                Ok(other) => panic!("unexpected reply to MGET: {other:?}"),
                Err(_) => connection = None,
            }
        }
    }
    tally
}

#[test]
fn t52_transfers_in_transactions_keep_the_total_through_partitions_pauses_and_crashes() {
    let _serial = crate::serial();
    let (seconds, seed) = fault_settings();
    let mut proxied = ProxiedCluster::start(3);
    let ports: Vec<u16> = proxied.cluster.nodes.iter().map(|n| n.port).collect();
    let mut opening = vec!["MSET".to_string()];
    for index in 0..ACCOUNTS {
        opening.push(account(index));
        opening.push(OPENING_BALANCE.to_string());
    }
    let opening: Vec<&str> = opening.iter().map(String::as_str).collect();
    let mut client = Client::connect(ports[0]);
    let opened = crate::call_while_leaderless(&mut client, &opening);
    assert_eq!(opened, Value::Simple("OK".into()));

    let start = now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (ports, stop) = (ports.clone(), stop.clone());
            std::thread::spawn(move || bank_client(id, ports, seed, stop))
        })
        .collect();
    let mut rng = Rng::new(seed);
    let faults = random_faults(&mut proxied, &mut rng, start, seconds);
    proxied.heal();
    proxied.cluster.wait_for_leader(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for client in clients {
        let tally = client.join().expect("client thread");
        total.transfers += tally.transfers;
        total.unknown += tally.unknown;
        total.refused += tally.refused;
        total.reads += tally.reads;
        total.bad_reads.extend(tally.bad_reads);
    }
    // Last, through every node.
    let mget = mget_command();
    let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
    for port in &ports {
        let (_, reply) = call_until_answered(*port, &mget, |reply| matches!(reply, Value::Array(_)));
        total.reads += 1;
        if !adds_up(&reply) {
            total.bad_reads.push((*port, vec![reply]));
        }
    }
    println!("faults:\n  {}", faults.join("\n  "));
    println!(
        "{} transfers acknowledged, {} of unknown outcome, {} refused; {} reads",
        total.transfers, total.unknown, total.refused, total.reads
    );
    assert!(
        total.transfers > 100 && total.reads > 100,
        "too few operations completed to check anything"
    );
    assert!(
        total.bad_reads.is_empty(),
        "{} reads did not add up to {TOTAL}, the first: {:?}\nfaults:\n  {}",
        total.bad_reads.len(),
        total.bad_reads.first(),
        faults.join("\n  ")
    );
}
