//! A node whose log files were damaged while it was down must refuse to start, naming the
//! damage, rather than serve a log with entries silently missing. Each test writes through a
//! real one-node cluster, kills it, flips one byte of a log file and starts it again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_storage::log_store::LogStore;

use crate::support::{Cluster, Value};

const KEYS: usize = 40;
/// The raft group of the data shard (its log keys start with it, big-endian).
const DATA_GROUP: u32 = 1;
/// fjall 3.1 journal item: tag u8 (2), value type u8, compression u8, keyspace id u64, key
/// length u16, value length u32, stored value length u32, then the key and the value.
const JOURNAL_ITEM_HEADER_LEN: usize = 21;
const JOURNAL_ITEM_TAG: u8 = 2;

/// A one-node cluster holding KEYS acknowledged writes, killed; returns it and the index of a
/// log entry in the middle of what was written.
fn written_then_killed() -> (Cluster, u64) {
    let mut cluster = Cluster::start(1);
    let mut client = cluster.nodes[0].client();
    for i in 0..KEYS {
        let reply = client.try_call(&["SET", &format!("key:{i}"), &format!("value:{i}")]).unwrap();
        assert_eq!(reply, Value::Simple("OK".into()));
    }
    let last: u64 = cluster.nodes[0].raft_field("last_log").unwrap().parse().unwrap();
    assert!(last >= KEYS as u64, "last log index {last}");
    cluster.nodes[0].kill();
    (cluster, last / 2)
}

fn newest_journal(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .max_by_key(|p| p.file_stem().unwrap().to_string_lossy().parse::<u64>().unwrap())
        .expect("a journal file")
}

/// Offset in the journal of the key of log entry `index`.
fn key_offset(journal: &[u8], index: u64) -> usize {
    let mut key = DATA_GROUP.to_be_bytes().to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    journal
        .windows(key.len())
        .position(|w| w == key.as_slice())
        .unwrap_or_else(|| panic!("log entry {index} not in the journal"))
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x04;
    std::fs::write(path, bytes).unwrap();
}

fn assert_refuses_to_start(cluster: &mut Cluster, expected: &str) {
    let (code, stderr) = cluster.nodes[0].start_expecting_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "exit code; stderr: {stderr}");
    assert!(
        stderr.contains("corrupt") && stderr.contains(expected),
        "stderr does not name the damage ({expected:?}): {stderr}"
    );
}

#[test]
fn a_flipped_byte_that_cuts_the_journal_short_is_detected() {
    let _serial = crate::serial();
    let (mut cluster, middle) = written_then_killed();
    let journal = newest_journal(&cluster.nodes[0].dir);
    let bytes = std::fs::read(&journal).unwrap();
    let tag = key_offset(&bytes, middle) - JOURNAL_ITEM_HEADER_LEN;
    assert_eq!(bytes[tag], JOURNAL_ITEM_TAG, "journal layout is not fjall 3.1's");
    // An unknown tag: fjall's recovery takes it for a torn tail and ends the journal there,
    // without an error. The durable mark knows the entries after it were synced.
    flip(&journal, tag);
    assert_refuses_to_start(&mut cluster, "that were synced are missing");
}

#[test]
fn a_flipped_byte_inside_a_journal_record_is_detected() {
    let _serial = crate::serial();
    let (mut cluster, middle) = written_then_killed();
    let journal = newest_journal(&cluster.nodes[0].dir);
    let bytes = std::fs::read(&journal).unwrap();
    // The last byte of the entry's key: its batch no longer matches the batch checksum.
    flip(&journal, key_offset(&bytes, middle) + 11);
    assert_refuses_to_start(&mut cluster, "ChecksumMismatch");
}

#[test]
fn a_flipped_byte_in_a_segment_file_is_detected() {
    let _serial = crate::serial();
    let (mut cluster, _) = written_then_killed();
    let dir = cluster.nodes[0].dir.clone();
    // fjall writes a segment only once a memtable holds megabytes: force one.
    LogStore::open(&dir).unwrap().flush_memtables().unwrap();
    let segment = files_under(&dir.join("log").join("keyspaces"))
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("tables")))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a segment file after the flush");
    let length = std::fs::metadata(&segment).unwrap().len() as usize;
    // A third of the way in: inside the data blocks, which come first.
    flip(&segment, length / 3);
    assert_refuses_to_start(&mut cluster, "ChecksumMismatch");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}
