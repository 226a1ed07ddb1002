//! Shared helpers for the criterion benchmarks in `benches/`: the request streams and reply
//! shapes they measure, built once so every side of a comparison gets the same bytes.

use bytes::Bytes;
use flotilla_protocol::Reply;

/// `count` pipelined `SET key:<n> <value>` requests as RESP multibulk, with `value_len`-byte
/// values (redis-benchmark's SET at -P count).
pub fn set_pipeline(count: usize, value_len: usize) -> Vec<u8> {
    let value = vec![b'x'; value_len];
    let mut out = Vec::new();
    for n in 0..count {
        let key = format!("key:{n:012}");
        out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        out.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `count` inline `PING` lines (redis-benchmark's PING_INLINE).
pub fn inline_pings(count: usize) -> Vec<u8> {
    b"PING\r\n".repeat(count)
}

/// The reply shapes measured, by name: what common commands return.
pub fn replies() -> Vec<(&'static str, Reply)> {
    let bulk = |n: usize| Reply::Bulk(Bytes::from(format!("value:{n:026}")));
    vec![
        ("ok", Reply::ok()),
        ("bulk_32", bulk(0)),
        ("nil", Reply::Nil),
        // LRANGE 0 99 of 32-byte elements.
        ("array_100_bulks", Reply::Array((0..100).map(bulk).collect())),
        // HGETALL of 50 fields: a map in RESP3, a flat array in RESP2.
        (
            "map_50",
            Reply::Map((0..50).map(|n| (Reply::Bulk(Bytes::from(format!("field:{n}"))), bulk(n))).collect()),
        ),
        // ZRANGE 0 99 WITHSCORES: pairs with double scores.
        (
            "pairs_100_doubles",
            Reply::Pairs((0..100).map(|n| (bulk(n), Reply::Double(n as f64 * 1.25 + 0.1))).collect()),
        ),
    ]
}
