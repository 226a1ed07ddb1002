//! Command lookup by name, as every request does several times: the bucketed `NameIndex`
//! against the general map it replaced (the name copied to a stack buffer, lower-cased, hashed
//! with foldhash and looked up), on a mix of common names in the cases clients send.
//!
//!   cargo bench -p flotilla-bench --bench lookup

use criterion::{criterion_group, criterion_main, Criterion};
use flotilla_storage::commands::{self, NAME_LEN_MAX};
use flotilla_storage::name_index::NameIndex;
use flotilla_storage::CommandSpec;
use std::collections::HashMap;
use std::hint::black_box;

type Map = HashMap<&'static [u8], &'static CommandSpec, foldhash::fast::FixedState>;

fn map_lookup(map: &Map, name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > NAME_LEN_MAX {
        return None;
    }
    let mut lower = [0u8; NAME_LEN_MAX];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    map.get(&*lower).copied()
}

const NAMES: &[&[u8]] = &[
    b"SET", b"get", b"LPUSH", b"incr", b"HSET", b"zadd", b"MSET", b"EXPIRE", b"sadd", b"RPOP",
    b"getex", b"ZRANGEBYSCORE", b"nosuchcommand",
];

fn lookup(c: &mut Criterion) {
    let map: Map = commands::all().map(|spec| (spec.name.as_bytes(), spec)).collect();
    let index = NameIndex::new(commands::all());
    for name in NAMES {
        assert_eq!(map_lookup(&map, name).map(|s| s.name), index.get(name).map(|s| s.name));
    }
    let mut group = c.benchmark_group("command_lookup_13_names");
    group.bench_function("name_index", |b| {
        b.iter(|| NAMES.iter().filter(|name| index.get(black_box(name)).is_some()).count())
    });
    group.bench_function("lowercase_foldhash_map", |b| {
        b.iter(|| NAMES.iter().filter(|name| map_lookup(&map, black_box(name)).is_some()).count())
    });
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
