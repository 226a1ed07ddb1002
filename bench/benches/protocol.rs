//! The protocol crate against the `redis-protocol` crate on the same bytes: parsing pipelined
//! requests (our `RequestParser` vs their zero-copy RESP2 decoder), and encoding common reply
//! shapes in RESP2 and RESP3 (our `encode` vs their `extend_encode` of the equivalent frame).
//!
//!   cargo bench -p flotilla-bench --bench protocol

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flotilla_bench::{inline_pings, replies, set_pipeline};
use flotilla_protocol::{encode, format_double, Reply, RequestParser};
use redis_protocol::resp2::types::BytesFrame as Frame2;
use redis_protocol::resp3::types::BytesFrame as Frame3;
use std::hint::black_box;

fn ours_parse_all(input: &[u8]) -> usize {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::from(input);
    let mut count = 0;
    while let Some(args) = parser.parse(&mut buf).expect("valid requests") {
        count += args.len();
        black_box(args);
    }
    count
}

fn theirs_parse_all(input: &[u8]) -> usize {
    let mut buf = BytesMut::from(input);
    let mut count = 0;
    while let Some((frame, _, _)) = redis_protocol::resp2::decode::decode_bytes_mut(&mut buf).expect("valid frames") {
        if let Frame2::Array(items) = &frame {
            count += items.len();
        }
        black_box(frame);
    }
    count
}

fn request_parsing(c: &mut Criterion) {
    let inputs = [
        ("set_pipeline_100x32B", set_pipeline(100, 32)),
        ("set_pipeline_16x1KiB", set_pipeline(16, 1024)),
        ("set_1x1MiB", set_pipeline(1, 1024 * 1024)),
    ];
    let mut group = c.benchmark_group("parse");
    for (name, input) in &inputs {
        assert_eq!(ours_parse_all(input), theirs_parse_all(input));
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(format!("flotilla/{name}"), |b| b.iter(|| ours_parse_all(black_box(input))));
        group.bench_function(format!("redis-protocol/{name}"), |b| {
            b.iter(|| theirs_parse_all(black_box(input)))
        });
    }
    // Inline commands: redis-protocol does not parse them, so ours alone.
    let pings = inline_pings(100);
    group.throughput(Throughput::Bytes(pings.len() as u64));
    group.bench_function("flotilla/ping_inline_100", |b| b.iter(|| ours_parse_all(black_box(&pings))));
    group.finish();
}

fn frame2(reply: &Reply) -> Frame2 {
    match reply {
        Reply::Simple(text) => Frame2::SimpleString(Bytes::copy_from_slice(text.as_bytes())),
        Reply::Int(value) => Frame2::Integer(*value),
        Reply::Bool(value) => Frame2::Integer(*value as i64),
        Reply::Bulk(bytes) | Reply::Verbatim(_, bytes) => Frame2::BulkString(bytes.clone()),
        Reply::Double(value) => Frame2::BulkString(Bytes::from(format_double(*value))),
        Reply::Nil | Reply::NilArray => Frame2::Null,
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => Frame2::Array(items.iter().map(frame2).collect()),
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            Frame2::Array(pairs.iter().flat_map(|(k, v)| [frame2(k), frame2(v)]).collect())
        }
        other => unimplemented!("not benchmarked: {other:?}"),
    }
}

fn frame3(reply: &Reply) -> Frame3 {
    match reply {
        Reply::Simple(text) => Frame3::SimpleString { data: Bytes::copy_from_slice(text.as_bytes()), attributes: None },
        Reply::Int(value) => Frame3::Number { data: *value, attributes: None },
        Reply::Bulk(bytes) => Frame3::BlobString { data: bytes.clone(), attributes: None },
        Reply::Double(value) => Frame3::Double { data: *value, attributes: None },
        Reply::Nil | Reply::NilArray => Frame3::Null,
        Reply::Array(items) => Frame3::Array { data: items.iter().map(frame3).collect(), attributes: None },
        Reply::Map(pairs) => Frame3::Map {
            data: pairs.iter().map(|(k, v)| (frame3(k), frame3(v))).collect(),
            attributes: None,
        },
        Reply::Pairs(pairs) => Frame3::Array {
            data: pairs
                .iter()
                .map(|(a, b)| Frame3::Array { data: vec![frame3(a), frame3(b)], attributes: None })
                .collect(),
            attributes: None,
        },
        other => unimplemented!("not benchmarked: {other:?}"),
    }
}

fn reply_encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, reply) in replies() {
        let (theirs2, theirs3) = (frame2(&reply), frame3(&reply));
        for resp3 in [false, true] {
            let protocol = if resp3 { "resp3" } else { "resp2" };
            let mut sample = BytesMut::new();
            encode(&reply, resp3, &mut sample);
            group.throughput(Throughput::Bytes(sample.len() as u64));
            group.bench_function(format!("flotilla/{protocol}/{name}"), |b| {
                b.iter_batched_ref(
                    || BytesMut::with_capacity(sample.len()),
                    |out| encode(black_box(&reply), resp3, out),
                    BatchSize::SmallInput,
                )
            });
            group.bench_function(format!("redis-protocol/{protocol}/{name}"), |b| {
                b.iter_batched_ref(
                    || BytesMut::with_capacity(sample.len()),
                    |out| {
                        if resp3 {
                            redis_protocol::resp3::encode::complete::extend_encode(out, black_box(&theirs3), false)
                        } else {
                            redis_protocol::resp2::encode::extend_encode(out, black_box(&theirs2), false)
                        }
                        .expect("encodes")
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, request_parsing, reply_encoding);
criterion_main!(benches);
