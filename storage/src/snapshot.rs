//! Snapshot encoding of a shard's state: every database with its keys in map order (so a
//! restored replica iterates, scans and picks randomly exactly as the original), each key's
//! value, expiry and version, and the state machine's applied index and time. The whole
//! image ends with a crc32; a bad checksum is an error, never a partial restore.
//!
//! Layout (little-endian): magic ‖ applied_index u64 ‖ last_time_ms u64 ‖ db count u32 ‖
//! per db: epoch u64, key count u64, per key: key, expire_at_ms u64, version u64 (bits 61-62:
//! the key's encoding floor, see db.rs), type u8, value ‖ script count u64, per script: sha,
//! body ‖ library count u64, per library: name, code, function count u64, per function: name,
//! description flag u8 (0 none, 1 present), description, flags u8 ‖ setting count u64, per
//! replicated setting: name, value (CONFIG text) ‖ crc32 u32. Byte strings are a u32 length
//! and the bytes.
//!
//! `FLOTSNP2` added the script cache, `FLOTSNP3` the function libraries, `FLOTSNP4` the
//! replicated settings; older images still load, with what they lack empty (settings at
//! Redis's defaults). Settings go by name, so adding one needs no new image version.

use bytes::Bytes;
use std::collections::VecDeque;

use crate::db::{Db, Keyspace};
use crate::functions::{FunctionFlags, FunctionInfo, Libraries, Library};
use crate::stream::{Consumer, Group, Node, Pending, Stream, StreamId};
use crate::value::{CompactBytes, FixedHasher, HashValue, SetValue, Value, ZSet};

const MAGIC: &[u8; 8] = b"FLOTSNP4";
/// The image before the script cache was replicated: read, never written.
const MAGIC_V1: &[u8; 8] = b"FLOTSNP1";
/// The image with the script cache and without function libraries: read, never written.
const MAGIC_V2: &[u8; 8] = b"FLOTSNP2";
/// The image with function libraries and without replicated settings: read, never written.
const MAGIC_V3: &[u8; 8] = b"FLOTSNP3";

const TYPE_STR: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_HASH: u8 = 2;
const TYPE_SET: u8 = 3;
const TYPE_ZSET: u8 = 4;
/// Added with streams; older images never hold it, so they still load.
const TYPE_STREAM: u8 = 5;

#[derive(Debug, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

pub fn encode(keyspace: &Keyspace, applied_index: u64, last_time_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(MAGIC);
    put_u64(&mut out, applied_index);
    put_u64(&mut out, last_time_ms);
    put_u32(&mut out, keyspace.dbs.len() as u32);
    for db in &keyspace.dbs {
        put_u64(&mut out, db.epoch());
        put_u64(&mut out, db.len() as u64);
        for (key, value, expire_at_ms, version) in db.raw_slots() {
            put_bytes(&mut out, key);
            put_u64(&mut out, expire_at_ms);
            put_u64(&mut out, version);
            encode_value(&mut out, value);
        }
    }
    put_u64(&mut out, keyspace.scripts.len() as u64);
    for (sha, body) in &keyspace.scripts {
        put_bytes(&mut out, sha.as_bytes());
        put_bytes(&mut out, body);
    }
    put_u64(&mut out, keyspace.libraries.len() as u64);
    for library in keyspace.libraries.iter() {
        put_bytes(&mut out, library.name.as_bytes());
        put_bytes(&mut out, &library.code);
        put_u64(&mut out, library.functions.len() as u64);
        for function in &library.functions {
            put_bytes(&mut out, function.name.as_bytes());
            match &function.description {
                Some(description) => {
                    out.push(1);
                    put_bytes(&mut out, description);
                }
                None => {
                    out.push(0);
                    put_bytes(&mut out, b"");
                }
            }
            out.push(function.flags.0);
        }
    }
    let settings = keyspace.replicated_settings.parameters();
    put_u64(&mut out, settings.len() as u64);
    for (name, value) in settings {
        put_bytes(&mut out, name.as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    let crc = crc32fast::hash(&out);
    put_u32(&mut out, crc);
    out
}

fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(bytes) => {
            out.push(TYPE_STR);
            put_bytes(out, bytes);
        }
        Value::List(list) => {
            out.push(TYPE_LIST);
            put_u64(out, list.len() as u64);
            for item in list.iter() {
                put_bytes(out, item);
            }
        }
        Value::Hash(hash) => {
            out.push(TYPE_HASH);
            put_u64(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
        }
        Value::Set(set) => {
            out.push(TYPE_SET);
            put_u64(out, set.len() as u64);
            for member in set.iter() {
                put_bytes(out, member);
            }
        }
        Value::ZSet(zset) => {
            out.push(TYPE_ZSET);
            put_u64(out, zset.len() as u64);
            for (member, score) in zset.iter_insertion_order() {
                put_bytes(out, member);
                put_u64(out, score.to_bits());
            }
        }
        Value::Stream(stream) => {
            out.push(TYPE_STREAM);
            encode_stream(out, stream);
        }
    }
}

/// Decodes a snapshot image: (keyspace, applied_index, last_time_ms).
pub fn decode(image: &[u8]) -> Result<(Keyspace, u64, u64), SnapshotError> {
    let magic = image.get(..MAGIC.len());
    let version = match magic {
        Some(magic) if magic == MAGIC_V1 => 1,
        Some(magic) if magic == MAGIC_V2 => 2,
        Some(magic) if magic == MAGIC_V3 => 3,
        Some(magic) if magic == MAGIC => 4,
        _ => return Err(SnapshotError("not a Flotilla snapshot".into())),
    };
    if image.len() < MAGIC.len() + 4 {
        return Err(SnapshotError("not a Flotilla snapshot".into()));
    }
    let (body, crc) = image.split_at(image.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(SnapshotError("checksum mismatch".into()));
    }
    let mut reader = Reader { data: body, position: MAGIC.len() };
    let applied_index = reader.u64()?;
    let last_time_ms = reader.u64()?;
    let db_count = reader.u32()? as usize;
    let mut keyspace = Keyspace::new();
    if db_count != keyspace.dbs.len() {
        return Err(SnapshotError(format!("{db_count} databases, expected {}", keyspace.dbs.len())));
    }
    for db_index in 0..db_count {
        let mut db = Db::new();
        // Access words are node-local and not saved: restored keys read as accessed at the
        // snapshot's time.
        db.set_access_clock(crate::access::AccessClock { now_ms: last_time_ms, ..Default::default() });
        db.set_epoch(reader.u64()?);
        let keys = reader.count()?;
        for _ in 0..keys {
            let key = reader.slice()?;
            let expire_at_ms = reader.u64()?;
            let version = reader.u64()?;
            let value = decode_value(&mut reader)?;
            db.restore_slot(key, value, expire_at_ms, version);
        }
        keyspace.dbs[db_index] = db;
    }
    if version >= 2 {
        let scripts = reader.count()?;
        for _ in 0..scripts {
            let sha = String::from_utf8(reader.slice()?.to_vec())
                .map_err(|_| SnapshotError("script name is not text".into()))?;
            let body = reader.bytes()?;
            keyspace.scripts.insert(sha, body);
        }
    }
    if version >= 3 {
        decode_libraries(&mut reader, &mut keyspace.libraries)?;
    }
    if version >= 4 {
        let text = |bytes: &[u8]| {
            String::from_utf8(bytes.to_vec()).map_err(|_| SnapshotError("setting is not text".into()))
        };
        let count = reader.count()?;
        for _ in 0..count {
            let name = text(reader.slice()?)?;
            let value = text(reader.slice()?)?;
            keyspace
                .replicated_settings
                .set(&name, &value)
                .map_err(|reason| SnapshotError(format!("setting {name}: {reason}")))?;
        }
    }
    if reader.position != body.len() {
        return Err(SnapshotError("trailing bytes".into()));
    }
    Ok((keyspace, applied_index, last_time_ms))
}

fn decode_libraries(reader: &mut Reader, libraries: &mut Libraries) -> Result<(), SnapshotError> {
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| SnapshotError("library or function name is not text".into()))
    };
    let count = reader.count()?;
    for _ in 0..count {
        let name = text(reader.slice()?)?;
        let code = reader.bytes()?;
        let function_count = reader.count()?;
        let mut functions = Vec::with_capacity(function_count);
        for _ in 0..function_count {
            let function_name = text(reader.slice()?)?;
            let has_description = reader.u8()? == 1;
            let description = reader.bytes()?;
            let flags = FunctionFlags(reader.u8()?);
            functions.push(FunctionInfo { name: function_name, description: has_description.then_some(description), flags });
        }
        let library = Library { name, code, functions };
        if libraries.get(&library.name).is_some() || libraries.collision(&library).is_some() {
            return Err(SnapshotError(format!("library {} collides with another", library.name)));
        }
        libraries.insert(library);
    }
    Ok(())
}

fn decode_value(reader: &mut Reader) -> Result<Value, SnapshotError> {
    let kind = reader.u8()?;
    Ok(match kind {
        TYPE_STR => Value::Str(CompactBytes::new(reader.slice()?)),
        TYPE_LIST => {
            let count = reader.count()?;
            let mut list = VecDeque::with_capacity(count);
            for _ in 0..count {
                list.push_back(reader.bytes()?);
            }
            Value::List(Box::new(list))
        }
        TYPE_HASH => {
            let count = reader.count()?;
            let mut hash = HashValue::with_capacity_and_hasher(count, FixedHasher::default());
            for _ in 0..count {
                let field = reader.bytes()?;
                hash.insert(field, reader.bytes()?);
            }
            Value::Hash(Box::new(hash))
        }
        TYPE_SET => {
            let count = reader.count()?;
            let mut set = SetValue::with_capacity_and_hasher(count, FixedHasher::default());
            for _ in 0..count {
                set.insert(reader.bytes()?);
            }
            Value::Set(Box::new(set))
        }
        TYPE_ZSET => {
            let count = reader.count()?;
            let mut zset = ZSet::new();
            for _ in 0..count {
                let member = reader.bytes()?;
                let score = f64::from_bits(reader.u64()?);
                if score.is_nan() {
                    return Err(SnapshotError("NaN score".into()));
                }
                zset.insert(member, score);
            }
            Value::ZSet(Box::new(zset))
        }
        TYPE_STREAM => Value::Stream(Box::new(decode_stream(reader)?)),
        other => return Err(SnapshotError(format!("unknown value type {other}"))),
    })
}

/// A stream: ids and counters, its nodes, its entries, its groups (each group's PEL with
/// the owning consumer's name; consumers' own PELs are rebuilt from it).
fn encode_stream(out: &mut Vec<u8>, stream: &Stream) {
    for id in [stream.last_id, stream.first_id, stream.max_deleted_id] {
        put_id(out, id);
    }
    put_u64(out, stream.entries_added);
    put_u64(out, stream.nodes.len() as u64);
    for (first, node) in &stream.nodes {
        put_id(out, *first);
        put_id(out, node.last_id);
        put_u64(out, node.live);
        put_u64(out, node.deleted);
        put_u64(out, node.entry_bytes);
        put_u64(out, node.master_fields.len() as u64);
        for field in node.master_fields.iter() {
            put_bytes(out, field);
        }
    }
    put_u64(out, stream.entries.len() as u64);
    for (id, fields) in &stream.entries {
        put_id(out, *id);
        put_u64(out, fields.len() as u64);
        for part in fields.iter() {
            put_bytes(out, part);
        }
    }
    put_u64(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        put_bytes(out, name);
        put_id(out, group.last_id);
        put_u64(out, group.entries_read as u64);
        put_u64(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            put_bytes(out, name);
            put_u64(out, consumer.seen_time_ms);
            put_u64(out, consumer.active_time_ms.unwrap_or(u64::MAX));
        }
        put_u64(out, group.pel.len() as u64);
        for (id, pending) in &group.pel {
            put_id(out, *id);
            put_u64(out, pending.delivery_time_ms);
            put_u64(out, pending.delivery_count);
            put_bytes(out, &pending.consumer);
        }
    }
}

fn decode_stream(reader: &mut Reader) -> Result<Stream, SnapshotError> {
    let mut stream = Stream::new();
    stream.last_id = reader.id()?;
    stream.first_id = reader.id()?;
    stream.max_deleted_id = reader.id()?;
    stream.entries_added = reader.u64()?;
    for _ in 0..reader.count()? {
        let first = reader.id()?;
        let last_id = reader.id()?;
        let live = reader.u64()?;
        let deleted = reader.u64()?;
        let entry_bytes = reader.u64()?;
        let mut master_fields = Vec::new();
        for _ in 0..reader.count()? {
            master_fields.push(reader.bytes()?);
        }
        let master_fields = master_fields.into_boxed_slice();
        stream.nodes.insert(first, Node { master_fields, live, deleted, last_id, entry_bytes });
    }
    for _ in 0..reader.count()? {
        let id = reader.id()?;
        let mut fields = Vec::new();
        for _ in 0..reader.count()? {
            fields.push(reader.bytes()?);
        }
        stream.entries.insert(id, fields.into_boxed_slice());
    }
    for _ in 0..reader.count()? {
        let name = reader.bytes()?;
        let mut group = Group::new(reader.id()?, reader.u64()? as i64);
        for _ in 0..reader.count()? {
            let name = reader.bytes()?;
            let seen_time_ms = reader.u64()?;
            let active_time_ms = Some(reader.u64()?).filter(|time| *time != u64::MAX);
            group.consumers.insert(name, Consumer { seen_time_ms, active_time_ms, pel: Default::default() });
        }
        for _ in 0..reader.count()? {
            let id = reader.id()?;
            let delivery_time_ms = reader.u64()?;
            let delivery_count = reader.u64()?;
            let consumer = reader.bytes()?;
            group
                .consumers
                .get_mut(&consumer)
                .ok_or_else(|| SnapshotError("pending entry of an unknown consumer".into()))?
                .pel
                .insert(id);
            group.pel.insert(id, Pending { delivery_time_ms, delivery_count, consumer });
        }
        stream.groups.insert(name, group);
    }
    Ok(stream)
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_u64(out, id.ms);
    put_u64(out, id.seq);
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.position.checked_add(len).filter(|end| *end <= self.data.len());
        let end = end.ok_or_else(|| SnapshotError("truncated".into()))?;
        let slice = &self.data[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// An element count, bounded by the bytes left (each element takes at least 4 bytes).
    fn count(&mut self) -> Result<usize, SnapshotError> {
        let count = self.u64()? as usize;
        if count > (self.data.len() - self.position) / 4 + 1 {
            return Err(SnapshotError("element count exceeds the image".into()));
        }
        Ok(count)
    }

    fn id(&mut self) -> Result<StreamId, SnapshotError> {
        Ok(StreamId::new(self.u64()?, self.u64()?))
    }

    fn slice(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn bytes(&mut self) -> Result<Bytes, SnapshotError> {
        let len = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{run, Harness};

    /// The image's body (no crc) without its trailing settings section, as a `FLOTSNP3`
    /// writer ended it.
    fn body_without_settings(image: &[u8], settings: &crate::db::ReplicatedSettings) -> Vec<u8> {
        let section: usize = 8 + settings
            .parameters()
            .iter()
            .map(|(name, value)| 8 + name.len() + value.len())
            .sum::<usize>();
        image[..image.len() - 4 - section].to_vec()
    }

    fn with_magic_and_crc(mut body: Vec<u8>, magic: &[u8; 8]) -> Vec<u8> {
        body[..8].copy_from_slice(magic);
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn a_restored_state_answers_like_the_original() {
        let mut h = Harness::new();
        for args in [
            &["SET", "s", "v"][..],
            &["SET", "t", "v", "PX", "5000"],
            &["RPUSH", "l", "a", "b", "c"],
            &["HSET", "h", "f1", "1", "f2", "2"],
            &["SADD", "set", "x", "y", "z"],
            &["ZADD", "z", "1", "one", "2", "two", "1.5", "mid"],
        ] {
            run(&mut h, args);
        }
        let image = h.machine.snapshot();
        let mut restored = Harness::new();
        restored.machine = crate::machine::StateMachine::restore(&image).unwrap();
        restored.index = h.index;
        for query in [
            &["GET", "s"][..],
            &["PTTL", "t"],
            &["LRANGE", "l", "0", "-1"],
            &["HGETALL", "h"],
            &["SMEMBERS", "set"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["SCAN", "0", "COUNT", "100"],
        ] {
            assert_eq!(run(&mut restored, query), run(&mut h, query), "{query:?}");
        }
        assert_eq!(restored.machine.keyspace, h.machine.keyspace);
        assert_eq!(restored.machine.applied_index(), h.machine.applied_index());
    }

    #[test]
    fn corruption_is_detected() {
        let mut h = Harness::new();
        run(&mut h, &["SET", "k", "v"]);
        let mut image = h.machine.snapshot();
        let middle = image.len() / 2;
        image[middle] ^= 1;
        assert!(crate::machine::StateMachine::restore(&image).is_err());
        assert!(crate::machine::StateMachine::restore(b"garbage").is_err());
    }

    #[test]
    fn the_script_cache_is_in_the_image_and_old_images_load() {
        let mut h = Harness::new();
        run(&mut h, &["SCRIPT", "LOAD", "return 1"]);
        run(&mut h, &["SET", "k", "v"]);
        let image = h.machine.snapshot();
        let restored = crate::machine::StateMachine::restore(&image).unwrap();
        assert_eq!(restored.keyspace.scripts.len(), 1);
        assert!(restored.keyspace.scripts.contains_key("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"));
        // A FLOTSNP1 image: no scripts section (nor libraries: two empty counts, 16 bytes).
        let mut h = Harness::new();
        run(&mut h, &["SET", "k", "v"]);
        let image = h.machine.snapshot();
        let mut old = body_without_settings(&image, &h.machine.keyspace.replicated_settings);
        old.truncate(old.len() - 16);
        let old = with_magic_and_crc(old, super::MAGIC_V1);
        let restored = crate::machine::StateMachine::restore(&old).unwrap();
        assert!(restored.keyspace.scripts.is_empty());
        assert_eq!(restored.keyspace.dbs[0].len(), 1);
    }

    #[test]
    fn function_libraries_are_in_the_image_and_v2_images_load() {
        let mut h = Harness::new();
        let code = "#!lua name=lib\nredis.register_function{function_name='f', callback=function() return 1 end, \
                    flags={'no-writes'}, description='d'}\nredis.register_function('g', function() return 2 end)";
        run(&mut h, &["FUNCTION", "LOAD", code]);
        run(&mut h, &["SCRIPT", "LOAD", "return 1"]);
        assert_eq!(h.machine.keyspace.libraries.function_count(), 2);
        let image = h.machine.snapshot();
        let restored = crate::machine::StateMachine::restore(&image).unwrap();
        assert_eq!(restored.keyspace.libraries, h.machine.keyspace.libraries);
        assert_eq!(restored.keyspace.scripts, h.machine.keyspace.scripts);
        // A FLOTSNP2 image: scripts, and no libraries section (an image without libraries
        // ends with their count, 8 bytes, before the crc).
        let mut plain = Harness::new();
        run(&mut plain, &["SCRIPT", "LOAD", "return 1"]);
        let plain_image = plain.machine.snapshot();
        let mut old = body_without_settings(&plain_image, &plain.machine.keyspace.replicated_settings);
        old.truncate(old.len() - 8);
        let old = with_magic_and_crc(old, super::MAGIC_V2);
        let restored = crate::machine::StateMachine::restore(&old).unwrap();
        assert_eq!(restored.keyspace.scripts.len(), 1);
        assert!(restored.keyspace.libraries.is_empty());
    }

    #[test]
    fn replicated_settings_are_in_the_image_and_v3_images_load_with_defaults() {
        let mut h = Harness::new();
        h.config_set(&[("stream-node-max-entries", "7"), ("STREAM-NODE-MAX-BYTES", "0")]);
        run(&mut h, &["XADD", "s", "1-1", "f", "v"]);
        let expected = crate::stream::NodeLimits { max_bytes: 0, max_entries: 7 };
        assert_eq!(h.machine.keyspace.replicated_settings.stream_node, expected);
        let image = h.machine.snapshot();
        let restored = crate::machine::StateMachine::restore(&image).unwrap();
        assert_eq!(restored.keyspace.replicated_settings.stream_node, expected);
        // A FLOTSNP3 image ends after the libraries: it loads with Redis's defaults.
        let old = with_magic_and_crc(
            body_without_settings(&image, &h.machine.keyspace.replicated_settings),
            super::MAGIC_V3,
        );
        let restored = crate::machine::StateMachine::restore(&old).unwrap();
        assert_eq!(restored.keyspace.replicated_settings, crate::db::ReplicatedSettings::default());
        assert_eq!(restored.keyspace.dbs[0].len(), 1);
        // A value no CONFIG SET accepts is a damaged image, not a silent default.
        let mut bad = Harness::new();
        bad.config_set(&[("stream-node-max-entries", "12345")]);
        let mut image = bad.machine.snapshot();
        let at = image.windows(5).position(|w| w == b"12345").expect("value in the image");
        image[at] = b'-';
        let body = image[..image.len() - 4].to_vec();
        let damaged = with_magic_and_crc(body, super::MAGIC);
        assert!(crate::machine::StateMachine::restore(&damaged).is_err());
    }
}
