//! The DUMP payload: one value in Redis's RDB serialization, so that DUMP and RESTORE move keys
//! between Flotilla and Redis in both directions (MIGRATE-style tools, `redis-cli --rdb`-less
//! copies, client libraries' dump/restore helpers).
//!
//! Layout: type byte ‖ value ‖ RDB version (u16, little-endian) ‖ CRC-64 (Jones, reflected,
//! as Redis's crc64.c) of everything before it (u64, little-endian).
//!
//! DUMP writes the plain RDB types every Redis since 2.x reads (string, list, set, hash,
//! zset with binary scores), strings as integers when they are canonical 32-bit integers,
//! never compressed; streams as Redis 7.2 writes them (RDB_TYPE_STREAM_LISTPACKS_3, see
//! "Streams" below). RESTORE reads those and what Redis 7.0 and 7.2 write: integer and
//! LZF-compressed strings, intsets, listpacks (hash, zset, set, quicklist nodes), streams of
//! types 15 (Redis 5 to 6.2), 19 (7.0) and 21 (7.2). Older ziplist encodings (Redis 6.2 and
//! before) and modules are refused as bad data.
//! Nothing here reads a clock: the caller turns RESTORE's TTL into an expiry time.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

use crate::args::parse_i64;
use crate::stream::{Consumer, Group, Node, Pending, Stream, StreamId, ENTRIES_READ_UNKNOWN};
use crate::value::{CompactBytes, HashValue, ListValue, SetValue, Value, ZSet};
use crate::zset::CompactLimits;

/// The RDB version Redis 7.2 writes; payloads of later versions are refused, as Redis does.
pub const RDB_VERSION: u16 = 11;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_SET_LISTPACK: u8 = 20;
/// Streams: 15 up to Redis 6.2; 19 (7.0) adds the first id, the maximal tombstone,
/// entries-added and each group's entries-read; 21 (7.2) adds each consumer's active time.
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;
const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// Quicklist node containers (RDB_TYPE_LIST_QUICKLIST_2).
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// String encodings behind a length byte `11xxxxxx`.
const ENCODING_INT8: u8 = 0;
const ENCODING_INT16: u8 = 1;
const ENCODING_INT32: u8 = 2;
const ENCODING_LZF: u8 = 3;

/// Why a payload was refused; RESTORE maps each to Redis's error text.
#[derive(Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a checksum mismatch.
    VersionOrChecksum,
    /// The value does not parse (or is a type Flotilla does not hold).
    BadData,
}

/// Serializes `value` as DUMP replies with it.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Str(text) => {
            out.push(TYPE_STRING);
            put_string(&mut out, text);
        }
        Value::List(list) => {
            out.push(TYPE_LIST);
            put_len(&mut out, list.len() as u64);
            for item in list.iter() {
                put_string(&mut out, item);
            }
        }
        Value::Set(set) => {
            out.push(TYPE_SET);
            put_len(&mut out, set.len() as u64);
            for member in set.iter() {
                put_string(&mut out, member);
            }
        }
        Value::Hash(hash) => {
            out.push(TYPE_HASH);
            put_len(&mut out, hash.len() as u64);
            for (field, value) in hash.iter() {
                put_string(&mut out, field);
                put_string(&mut out, value);
            }
        }
        Value::ZSet(zset) => {
            out.push(TYPE_ZSET_2);
            put_len(&mut out, zset.len() as u64);
            for (member, score) in zset.iter_insertion_order() {
                put_string(&mut out, &member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(stream) => {
            out.push(TYPE_STREAM_LISTPACKS_3);
            put_stream(&mut out, stream);
        }
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the footer and decodes the value of a DUMP payload. `zset_limits` decide the
/// encoding a restored sorted set reports (Redis converts on load as on write).
pub fn restore(payload: &[u8], zset_limits: CompactLimits) -> Result<Value, PayloadError> {
    const FOOTER_LEN: usize = 10;
    if payload.len() < FOOTER_LEN {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - FOOTER_LEN);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(0, &payload[..payload.len() - 8]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut reader = Reader { data: body, position: 0 };
    let value = reader.value(zset_limits).ok_or(PayloadError::BadData)?;
    // Trailing bytes or an empty aggregate: Redis refuses both.
    if reader.position != body.len() || value.is_empty_aggregate() {
        return Err(PayloadError::BadData);
    }
    Ok(value)
}

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A string, as an integer encoding when it reads back identically (Redis's
/// `rdbTryIntegerEncoding`: canonical decimal within 32 bits).
fn put_string(out: &mut Vec<u8>, text: &[u8]) {
    const INTEGER_TEXT_LEN_MAX: usize = 11;
    if text.len() <= INTEGER_TEXT_LEN_MAX {
        if let Some(number) = parse_i64(text).filter(|n| n.to_string().as_bytes() == text) {
            if let Ok(small) = i8::try_from(number) {
                out.extend_from_slice(&[0xC0 | ENCODING_INT8, small as u8]);
                return;
            }
            if let Ok(small) = i16::try_from(number) {
                out.push(0xC0 | ENCODING_INT16);
                out.extend_from_slice(&small.to_le_bytes());
                return;
            }
            if let Ok(small) = i32::try_from(number) {
                out.push(0xC0 | ENCODING_INT32);
                out.extend_from_slice(&small.to_le_bytes());
                return;
            }
        }
    }
    put_len(out, text.len() as u64);
    out.extend_from_slice(text);
}

/// A length, or a string's special encoding (`Err(encoding)` for a `11xxxxxx` byte).
enum Len {
    Plain(u64),
    Encoded(u8),
}

struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(count)?;
        let slice = self.data.get(self.position..end)?;
        self.position = end;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn len_or_encoding(&mut self) -> Option<Len> {
        let first = self.u8()?;
        Some(match first >> 6 {
            0 => Len::Plain((first & 0x3F) as u64),
            1 => Len::Plain((((first & 0x3F) as u64) << 8) | self.u8()? as u64),
            2 if first == 0x80 => Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as u64),
            2 if first == 0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            2 => return None,
            _ => Len::Encoded(first & 0x3F),
        })
    }

    fn len(&mut self) -> Option<u64> {
        match self.len_or_encoding()? {
            Len::Plain(len) => Some(len),
            Len::Encoded(_) => None,
        }
    }

    /// A count of elements to come, bounded by the bytes left (each takes at least one), so
    /// a forged length cannot make us reserve memory the payload could never fill.
    fn count(&mut self) -> Option<usize> {
        let count = self.len()?;
        (count <= (self.data.len() - self.position) as u64).then_some(count as usize)
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(len) => self.take(usize::try_from(len).ok()?).map(<[u8]>::to_vec),
            Len::Encoded(ENCODING_INT8) => Some((self.u8()? as i8).to_string().into_bytes()),
            Len::Encoded(ENCODING_INT16) => {
                Some(i16::from_le_bytes(self.take(2)?.try_into().ok()?).to_string().into_bytes())
            }
            Len::Encoded(ENCODING_INT32) => {
                Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?).to_string().into_bytes())
            }
            Len::Encoded(ENCODING_LZF) => {
                let compressed_len = usize::try_from(self.len()?).ok()?;
                let len = usize::try_from(self.len()?).ok()?;
                lzf_decompress(self.take(compressed_len)?, len)
            }
            Len::Encoded(_) => None,
        }
    }

    fn bytes(&mut self) -> Option<Bytes> {
        self.string().map(Bytes::from)
    }

    fn value(&mut self, zset_limits: CompactLimits) -> Option<Value> {
        let kind = self.u8()?;
        Some(match kind {
            TYPE_STRING => Value::Str(CompactBytes::from(self.string()?)),
            TYPE_LIST => {
                let count = self.count()?;
                let mut list = ListValue::new();
                for _ in 0..count {
                    list.push_back(&self.string()?);
                }
                Value::List(Box::new(list))
            }
            TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut list = ListValue::new();
                for _ in 0..nodes {
                    match self.len()? {
                        QUICKLIST_NODE_PLAIN => list.push_back(&self.string()?),
                        QUICKLIST_NODE_PACKED => {
                            let elements = listpack_elements(&self.string()?)?;
                            // Redis refuses an empty node.
                            if elements.is_empty() {
                                return None;
                            }
                            for element in &elements {
                                list.push_back(element);
                            }
                        }
                        _ => return None,
                    }
                }
                Value::List(Box::new(list))
            }
            TYPE_SET | TYPE_SET_INTSET | TYPE_SET_LISTPACK => {
                let members = match kind {
                    TYPE_SET => {
                        let count = self.count()?;
                        (0..count).map(|_| self.bytes()).collect::<Option<Vec<_>>>()?
                    }
                    TYPE_SET_INTSET => intset_members(&self.string()?)?,
                    _ => listpack_elements(&self.string()?)?,
                };
                let mut set = SetValue::with_capacity(members.len());
                for member in members {
                    if !set.insert(&member) {
                        return None; // duplicate member
                    }
                }
                Value::Set(Box::new(set))
            }
            TYPE_HASH | TYPE_HASH_LISTPACK => {
                let pairs = if kind == TYPE_HASH {
                    let count = self.count()?;
                    (0..count)
                        .map(|_| Some((self.bytes()?, self.bytes()?)))
                        .collect::<Option<Vec<_>>>()?
                } else {
                    pairs_of(listpack_elements(&self.string()?)?)?
                };
                let mut hash = HashValue::with_capacity(pairs.len());
                for (field, value) in pairs {
                    if !hash.insert(&field, &value) {
                        return None; // duplicate field
                    }
                }
                Value::Hash(Box::new(hash))
            }
            TYPE_ZSET | TYPE_ZSET_2 | TYPE_ZSET_LISTPACK => {
                let pairs = match kind {
                    TYPE_ZSET_LISTPACK => pairs_of(listpack_elements(&self.string()?)?)?
                        .into_iter()
                        .map(|(member, score)| Some((member, parse_score(&score)?)))
                        .collect::<Option<Vec<_>>>()?,
                    _ => {
                        let count = self.count()?;
                        let mut pairs = Vec::with_capacity(count);
                        for _ in 0..count {
                            let member = self.bytes()?;
                            let score = if kind == TYPE_ZSET_2 {
                                f64::from_le_bytes(self.take(8)?.try_into().ok()?)
                            } else {
                                // Old format: a length byte and the score's text.
                                let len = self.u8()?;
                                match len {
                                    253 => f64::NAN,
                                    254 => f64::INFINITY,
                                    255 => f64::NEG_INFINITY,
                                    _ => parse_score(self.take(len as usize)?)?,
                                }
                            };
                            pairs.push((member, score));
                        }
                        pairs
                    }
                };
                let mut zset = ZSet::new();
                for (member, score) in pairs {
                    if score.is_nan() || !zset.insert(member, score) {
                        return None; // NaN score or duplicate member
                    }
                }
                zset.fit_encoding(zset_limits);
                Value::ZSet(Box::new(zset))
            }
            TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
                Value::Stream(Box::new(self.stream(kind)?))
            }
            _ => return None,
        })
    }
}

// --- Streams ---
//
// A stream value (Redis's rdbSaveObject for OBJ_STREAM, type 21):
//   node count ‖ per node: master id (16 raw bytes: ms, seq big-endian, the radix-tree key) ‖
//   the node's listpack (a string) ‖ length ‖ last id (ms, seq) ‖ first id ‖ maximal tombstone ‖
//   entries-added ‖ group count ‖ per group: name ‖ last id ‖ entries-read (a length; -1 as
//   2^64-1) ‖ PEL: count, per entry id (16 raw bytes) ‖ delivery time (ms, i64 LE) ‖ delivery
//   count ‖ consumer count ‖ per consumer: name ‖ seen time ‖ active time (i64 LE, -1: never)
//   ‖ its PEL: count, ids (each must be in the group's PEL).
// A node's listpack: the master entry (live count, deleted count, field count, the fields, 0),
// then per entry: flags (1 deleted, 2 same fields as the master entry) ‖ ms and seq deltas from
// the master id ‖ the values alone (same fields) or field count and field-value pairs ‖ the
// entry's element count (lp-count). Flotilla keeps no deleted entries, so DUMP writes each
// node's live entries under its master id and fields with a deleted count of 0; RESTORE takes
// Redis's deleted entries into the node's counts (they decide ~ trimming), not its entries.

const STREAM_ITEM_DELETED: i64 = 1;
const STREAM_ITEM_SAME_FIELDS: i64 = 2;

fn put_stream_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
}

fn put_stream(out: &mut Vec<u8>, stream: &Stream) {
    // A node whose entries all went (a MINID trim can leave one) has nothing to write.
    let nodes: Vec<(&StreamId, &Node)> = stream
        .nodes
        .iter()
        .filter(|(master_id, node)| stream.entries.range(**master_id..=node.last_id).next().is_some())
        .collect();
    put_len(out, nodes.len() as u64);
    for (master_id, node) in nodes {
        let mut key = Vec::with_capacity(16);
        put_stream_id(&mut key, *master_id);
        put_string(out, &key);
        put_string(out, &node_listpack(*master_id, node, stream.entries.range(*master_id..=node.last_id)));
    }
    put_len(out, stream.len() as u64);
    for id in [stream.last_id, stream.first_id, stream.max_deleted_id] {
        put_len(out, id.ms);
        put_len(out, id.seq);
    }
    put_len(out, stream.entries_added);
    put_len(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        put_string(out, name);
        put_len(out, group.last_id.ms);
        put_len(out, group.last_id.seq);
        put_len(out, group.entries_read as u64);
        put_len(out, group.pel.len() as u64);
        for (id, pending) in &group.pel {
            put_stream_id(out, *id);
            out.extend_from_slice(&(pending.delivery_time_ms as i64).to_le_bytes());
            put_len(out, pending.delivery_count);
        }
        put_len(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            put_string(out, name);
            out.extend_from_slice(&(consumer.seen_time_ms as i64).to_le_bytes());
            out.extend_from_slice(&consumer.active_time_ms.map_or(-1, |time| time as i64).to_le_bytes());
            put_len(out, consumer.pel.len() as u64);
            for id in &consumer.pel {
                put_stream_id(out, *id);
            }
        }
    }
}

/// One node's listpack (layout above) holding `entries`, the node's live entries.
fn node_listpack<'a>(
    master_id: StreamId,
    node: &Node,
    entries: impl Iterator<Item = (&'a StreamId, &'a Box<[Bytes]>)>,
) -> Vec<u8> {
    let entries: Vec<_> = entries.collect();
    let mut listpack = ListpackWriter::new();
    listpack.int(entries.len() as i64);
    listpack.int(0);
    listpack.int(node.master_fields.len() as i64);
    for field in node.master_fields.iter() {
        listpack.string(field);
    }
    listpack.int(0);
    for (id, fields) in entries {
        let count = fields.len() / 2;
        let same_fields = count == node.master_fields.len()
            && node.master_fields.iter().zip(fields.iter().step_by(2)).all(|(a, b)| a == b);
        listpack.int(if same_fields { STREAM_ITEM_SAME_FIELDS } else { 0 });
        listpack.int(id.ms.wrapping_sub(master_id.ms) as i64);
        listpack.int(id.seq.wrapping_sub(master_id.seq) as i64);
        if same_fields {
            for value in fields.iter().skip(1).step_by(2) {
                listpack.string(value);
            }
            listpack.int(count as i64 + 3);
        } else {
            listpack.int(count as i64);
            for part in fields.iter() {
                listpack.string(part);
            }
            listpack.int(2 * count as i64 + 4);
        }
    }
    listpack.finish()
}

impl Reader<'_> {
    fn stream_id(&mut self) -> Option<StreamId> {
        let raw = self.take(16)?;
        let ms = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let seq = u64::from_be_bytes(raw[8..].try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }

    fn millisecond_time(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A stream of RDB type `kind` (15, 19 or 21), checked as Redis's deep sanitization
    /// checks it: well-formed nodes with ids rising across them, counts that agree, every
    /// PEL entry owned by exactly one consumer.
    fn stream(&mut self, kind: u8) -> Option<Stream> {
        let mut stream = Stream::new();
        let node_count = self.count()?;
        let mut previous: Option<StreamId> = None;
        for _ in 0..node_count {
            let key = self.string()?;
            if key.len() != 16 {
                return None;
            }
            let master_id = Reader { data: &key, position: 0 }.stream_id()?;
            if previous.is_some_and(|previous| master_id <= previous) {
                return None;
            }
            let listpack = self.string()?;
            let node = read_node(master_id, &listpack, &mut stream.entries, &mut previous)?;
            stream.nodes.insert(master_id, node);
        }
        let length = self.len()?;
        stream.last_id = StreamId::new(self.len()?, self.len()?);
        if kind == TYPE_STREAM_LISTPACKS {
            stream.entries_added = length;
            stream.update_first_id();
        } else {
            stream.first_id = StreamId::new(self.len()?, self.len()?);
            stream.max_deleted_id = StreamId::new(self.len()?, self.len()?);
            stream.entries_added = self.len()?;
        }
        // Every entry, deleted ones too, lies at or below the last id (XADD relies on it).
        if length != stream.entries.len() as u64 || previous.is_some_and(|last| last > stream.last_id) {
            return None;
        }
        let group_count = self.count()?;
        for _ in 0..group_count {
            let name = self.bytes()?;
            let last_id = StreamId::new(self.len()?, self.len()?);
            let entries_read = if kind == TYPE_STREAM_LISTPACKS {
                stream.estimate_distance(last_id)
            } else {
                match self.len()? {
                    u64::MAX => ENTRIES_READ_UNKNOWN,
                    read => i64::try_from(read).ok()?,
                }
            };
            let mut group = Group::new(last_id, entries_read);
            // Delivery time and count by id; the owner comes with the consumers.
            let mut unowned = BTreeMap::new();
            for _ in 0..self.count()? {
                let id = self.stream_id()?;
                let delivery_time_ms = self.millisecond_time()? as u64;
                let delivery_count = self.len()?;
                if unowned.insert(id, (delivery_time_ms, delivery_count)).is_some() {
                    return None;
                }
            }
            for _ in 0..self.count()? {
                let consumer_name = self.bytes()?;
                let seen_time_ms = self.millisecond_time()? as u64;
                let active_time_ms = if kind == TYPE_STREAM_LISTPACKS_3 {
                    u64::try_from(self.millisecond_time()?).ok()
                } else {
                    Some(seen_time_ms) // Redis's estimate for payloads without it
                };
                let mut pel = BTreeSet::new();
                for _ in 0..self.count()? {
                    let id = self.stream_id()?;
                    let (delivery_time_ms, delivery_count) = unowned.remove(&id)?;
                    let pending = Pending { delivery_time_ms, delivery_count, consumer: consumer_name.clone() };
                    group.pel.insert(id, pending);
                    pel.insert(id);
                }
                let consumer = Consumer { seen_time_ms, active_time_ms, pel };
                if group.consumers.insert(consumer_name, consumer).is_some() {
                    return None;
                }
            }
            if !unowned.is_empty() || stream.groups.insert(name, group).is_some() {
                return None;
            }
        }
        Some(stream)
    }
}

/// A cursor over a node's listpack elements that counts the bytes taken.
struct NodeCursor<'a> {
    elements: std::slice::Iter<'a, (Element<'a>, usize)>,
    bytes: usize,
}

impl<'a> NodeCursor<'a> {
    fn element(&mut self) -> Option<Element<'a>> {
        let (element, size) = *self.elements.next()?;
        self.bytes += size;
        Some(element)
    }

    fn int(&mut self) -> Option<i64> {
        self.element()?.int()
    }

    /// A count: positive when `positive`, else at least 0.
    fn count(&mut self, positive: bool) -> Option<usize> {
        usize::try_from(self.int()?).ok().filter(|count| *count > 0 || !positive)
    }
}

/// Reads one node's listpack into `entries` (its live entries) and returns the node's
/// bookkeeping; `previous` is the last id seen so far, deleted or not, and ids must rise.
fn read_node(
    master_id: StreamId,
    listpack: &[u8],
    entries: &mut BTreeMap<StreamId, Box<[Bytes]>>,
    previous: &mut Option<StreamId>,
) -> Option<Node> {
    let elements = listpack_entries(listpack)?;
    let mut cursor = NodeCursor { elements: elements.iter(), bytes: 0 };
    let live = cursor.count(false)? as u64;
    let deleted = cursor.count(false)? as u64;
    let field_count = cursor.count(true)?;
    let mut master_fields = Vec::with_capacity(field_count.min(elements.len()));
    for _ in 0..field_count {
        master_fields.push(cursor.element()?.to_bytes());
    }
    if cursor.int()? != 0 {
        return None;
    }
    let master_bytes = cursor.bytes;
    let (mut live_seen, mut deleted_seen) = (0u64, 0u64);
    let mut last_id = master_id;
    while cursor.elements.len() > 0 {
        let flags = cursor.int()?;
        let ms_delta = cursor.int()? as u64;
        let seq_delta = cursor.int()? as u64;
        let id = StreamId::new(master_id.ms.wrapping_add(ms_delta), master_id.seq.wrapping_add(seq_delta));
        if previous.is_some_and(|previous| id <= previous) || id < master_id {
            return None;
        }
        *previous = Some(id);
        last_id = id;
        let mut fields = Vec::new();
        let element_count = if flags & STREAM_ITEM_SAME_FIELDS != 0 {
            for field in &master_fields {
                fields.push(field.clone());
                fields.push(cursor.element()?.to_bytes());
            }
            field_count + 3
        } else {
            let count = cursor.count(true)?;
            for _ in 0..2 * count {
                fields.push(cursor.element()?.to_bytes());
            }
            2 * count + 4
        };
        if cursor.count(false)? != element_count {
            return None;
        }
        if flags & STREAM_ITEM_DELETED != 0 {
            deleted_seen += 1;
        } else {
            live_seen += 1;
            entries.insert(id, fields.into_boxed_slice());
        }
    }
    // A node may hold only deleted entries (a MINID trim can leave one), never none at all.
    if live_seen != live || deleted_seen != deleted || live + deleted == 0 {
        return None;
    }
    let elements_bytes = listpack.len() - ListpackWriter::HEADER_LEN - 1;
    Some(Node {
        master_fields: master_fields.into_boxed_slice(),
        live,
        deleted,
        last_id,
        entry_bytes: (elements_bytes - master_bytes) as u64,
    })
}

fn parse_score(text: &[u8]) -> Option<f64> {
    let score: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (!score.is_nan()).then_some(score)
}

fn pairs_of(elements: Vec<Bytes>) -> Option<Vec<(Bytes, Bytes)>> {
    if !elements.len().is_multiple_of(2) {
        return None;
    }
    let mut iter = elements.into_iter();
    let mut pairs = Vec::new();
    while let (Some(first), Some(second)) = (iter.next(), iter.next()) {
        pairs.push((first, second));
    }
    Some(pairs)
}

/// The members of an intset blob: encoding (bytes per value) u32 ‖ count u32 ‖ values, all
/// little-endian.
fn intset_members(blob: &[u8]) -> Option<Vec<Bytes>> {
    let width = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width.checked_mul(count)? {
        return None;
    }
    Some(
        blob[8..]
            .chunks_exact(width)
            .map(|chunk| {
                let number = match width {
                    2 => i16::from_le_bytes(chunk.try_into().expect("2 bytes")) as i64,
                    4 => i32::from_le_bytes(chunk.try_into().expect("4 bytes")) as i64,
                    _ => i64::from_le_bytes(chunk.try_into().expect("8 bytes")),
                };
                Bytes::from(number.to_string())
            })
            .collect(),
    )
}

/// The elements of a listpack blob, integers as their decimal text (see `listpack_entries`).
fn listpack_elements(blob: &[u8]) -> Option<Vec<Bytes>> {
    Some(
        listpack_entries(blob)?
            .into_iter()
            .map(|(element, _)| match element {
                Element::Int(number) => Bytes::from(number.to_string()),
                Element::Str(text) => Bytes::copy_from_slice(text),
            })
            .collect(),
    )
}

/// One listpack element as stored: an integer encoding or a string.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Element<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Element<'_> {
    fn int(self) -> Option<i64> {
        match self {
            Element::Int(number) => Some(number),
            Element::Str(text) => parse_i64(text),
        }
    }

    fn to_bytes(self) -> Bytes {
        match self {
            Element::Int(number) => Bytes::from(number.to_string()),
            Element::Str(text) => Bytes::copy_from_slice(text),
        }
    }
}

/// The elements of a listpack blob, each with the bytes it takes (encoding, data and
/// back-length): total bytes u32 ‖ count u16 ‖ entries ‖ 0xFF. Each entry is an encoding
/// byte (small integers and short strings inline), its data, and a back-length of 1-5 bytes
/// that we skip.
fn listpack_entries(blob: &[u8]) -> Option<Vec<(Element<'_>, usize)>> {
    const HEADER_LEN: usize = 6;
    const END: u8 = 0xFF;
    let total = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    if total != blob.len() || blob.len() < HEADER_LEN + 1 || blob[blob.len() - 1] != END {
        return None;
    }
    let mut reader = Reader { data: &blob[..blob.len() - 1], position: HEADER_LEN };
    let mut elements = Vec::new();
    while reader.position < reader.data.len() {
        let start = reader.position;
        let first = reader.u8()?;
        let element = if first & 0x80 == 0 {
            Element::Int((first & 0x7F) as i64)
        } else if first & 0xC0 == 0x80 {
            Element::Str(reader.take((first & 0x3F) as usize)?)
        } else if first & 0xE0 == 0xC0 {
            let raw = (((first & 0x1F) as i64) << 8) | reader.u8()? as i64;
            Element::Int(sign_extend(raw, 13))
        } else if first & 0xF0 == 0xE0 {
            let len = (((first & 0x0F) as usize) << 8) | reader.u8()? as usize;
            Element::Str(reader.take(len)?)
        } else {
            match first {
                0xF0 => {
                    let len = u32::from_le_bytes(reader.take(4)?.try_into().ok()?) as usize;
                    Element::Str(reader.take(len)?)
                }
                0xF1..=0xF4 => {
                    let width = match first {
                        0xF1 => 2,
                        0xF2 => 3,
                        0xF3 => 4,
                        _ => 8,
                    };
                    let mut le = [0u8; 8];
                    le[..width].copy_from_slice(reader.take(width)?);
                    let raw = i64::from_le_bytes(le);
                    Element::Int(sign_extend(raw, width as u32 * 8))
                }
                _ => return None,
            }
        };
        reader.take(listpack_backlen_len(reader.position - start))?;
        elements.push((element, reader.position - start));
    }
    let count = u16::from_le_bytes([blob[4], blob[5]]);
    // 65535 means "too many to count in the header".
    if count != u16::MAX && count as usize != elements.len() {
        return None;
    }
    Some(elements)
}

/// Builds a listpack as Redis's `lpAppend` lays it out: a string that is a canonical 64-bit
/// integer is stored in the smallest integer encoding, every entry ends with its back-length.
struct ListpackWriter {
    bytes: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    const HEADER_LEN: usize = 6;

    fn new() -> ListpackWriter {
        ListpackWriter { bytes: vec![0; Self::HEADER_LEN], count: 0 }
    }

    fn int(&mut self, number: i64) {
        let start = self.bytes.len();
        match number {
            0..=127 => self.bytes.push(number as u8),
            -4096..=4095 => {
                let raw = (number & 0x1FFF) as u16;
                self.bytes.extend_from_slice(&[0xC0 | (raw >> 8) as u8, raw as u8]);
            }
            -32_768..=32_767 => {
                self.bytes.push(0xF1);
                self.bytes.extend_from_slice(&(number as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                self.bytes.push(0xF2);
                self.bytes.extend_from_slice(&(number as i32).to_le_bytes()[..3]);
            }
            _ if i32::try_from(number).is_ok() => {
                self.bytes.push(0xF3);
                self.bytes.extend_from_slice(&(number as i32).to_le_bytes());
            }
            _ => {
                self.bytes.push(0xF4);
                self.bytes.extend_from_slice(&number.to_le_bytes());
            }
        }
        self.end_entry(start);
    }

    fn string(&mut self, text: &[u8]) {
        if let Some(number) = parse_i64(text) {
            return self.int(number);
        }
        let start = self.bytes.len();
        let len = text.len();
        if len < 64 {
            self.bytes.push(0x80 | len as u8);
        } else if len < 4096 {
            self.bytes.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            self.bytes.push(0xF0);
            self.bytes.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.bytes.extend_from_slice(text);
        self.end_entry(start);
    }

    /// Appends the back-length of the entry that starts at `start`: its length in 7-bit
    /// groups, most significant first, every group but the first with the high bit set.
    fn end_entry(&mut self, start: usize) {
        let len = (self.bytes.len() - start) as u64;
        let groups = listpack_backlen_len(len as usize);
        for group in (0..groups).rev() {
            let bits = ((len >> (7 * group)) & 0x7F) as u8;
            self.bytes.push(if group == groups - 1 { bits } else { bits | 0x80 });
        }
        self.count += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        self.bytes.push(0xFF);
        let total = self.bytes.len() as u32;
        self.bytes[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(u16::MAX as usize) as u16;
        self.bytes[4..6].copy_from_slice(&count.to_le_bytes());
        self.bytes
    }
}

/// Bytes of the back-length that follows a listpack entry of `entry_len` bytes (encoding and
/// data): 7 bits of the length per byte.
pub fn listpack_backlen_len(entry_len: usize) -> usize {
    match entry_len {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Reads the low `bits` of `raw` as a two's complement number.
fn sign_extend(raw: i64, bits: u32) -> i64 {
    let shift = 64 - bits;
    (raw << shift) >> shift
}

/// LZF decompression (the format of Redis's lzf_d.c): a control byte below 32 starts a run of
/// that many + 1 literal bytes; otherwise it is a back-reference of length (ctrl >> 5) + 2
/// (7 meaning "add the next byte") to offset ((ctrl & 31) << 8 | next byte) + 1 behind.
fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // A back-reference expands at most 3 bytes into 264: a forged length reserves no more.
    let mut out = Vec::with_capacity(len.min(input.len().saturating_mul(88)));
    let mut position = 0;
    while position < input.len() {
        let control = input[position] as usize;
        position += 1;
        if control < 32 {
            let run = control + 1;
            out.extend_from_slice(input.get(position..position + run)?);
            position += run;
        } else {
            let mut run = control >> 5;
            if run == 7 {
                run += *input.get(position)? as usize;
                position += 1;
            }
            let back = ((control & 0x1F) << 8) + *input.get(position)? as usize + 1;
            position += 1;
            let from = out.len().checked_sub(back)?;
            for offset in 0..run + 2 {
                out.push(out[from + offset]);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

/// CRC-64/Jones as Redis computes it (reflected polynomial 0x95AC9329AC4BC9B5, no final xor).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    const POLY_REFLECTED: u64 = 0x95AC_9329_AC4B_C9B5;
    const TABLE: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut byte = 0;
        while byte < 256 {
            let mut value = byte as u64;
            let mut bit = 0;
            while bit < 8 {
                value = if value & 1 == 1 { (value >> 1) ^ POLY_REFLECTED } else { value >> 1 };
                bit += 1;
            }
            table[byte] = value;
            byte += 1;
        }
        table
    };
    for &byte in data {
        crc = TABLE[((crc ^ byte as u64) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn crc64_matches_redis() {
        // The check value of Redis's crc64.c self-test.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    /// Payloads as Redis 7.0 writes them (DUMP of `SET k 42`, `SET k hello`, `RPUSH k a 1`,
    /// `HSET k f v`, `SADD k 1 2`, `ZADD k 1.5 m`), built here from the documented layout and
    /// sealed with the checksum, restore to the same values; a wrong checksum or a newer
    /// version is refused.
    #[test]
    fn restores_what_redis_writes() {
        let seal = |body: Vec<u8>, version: u16| {
            let mut payload = body;
            payload.extend_from_slice(&version.to_le_bytes());
            let crc = crc64(0, &payload);
            payload.extend_from_slice(&crc.to_le_bytes());
            payload
        };
        let limits = CompactLimits::default();
        let text = |value: &Value| match value {
            Value::Str(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(&restore(&seal(hex("00c02a"), 10), limits).unwrap()), "42");
        assert_eq!(text(&restore(&seal(hex("000568656c6c6f"), 10), limits).unwrap()), "hello");
        // A quicklist of one listpack node holding "a" and 1.
        let listpack = hex("0c0000000200" /* 12 bytes, 2 elements */);
        let mut node = listpack;
        node.extend(hex("8161")); // "a"
        node.extend(hex("02")); // back-length of "a"
        node.extend(hex("0101")); // 7-bit integer 1 and its back-length
        node.push(0xFF);
        let mut body = vec![TYPE_LIST_QUICKLIST_2, 1, QUICKLIST_NODE_PACKED as u8, node.len() as u8];
        body.extend(&node);
        let Value::List(list) = restore(&seal(body, 10), limits).unwrap() else { panic!() };
        assert_eq!(list.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), vec![b"a".to_vec(), b"1".to_vec()]);
        // An intset of 2 and 1 (16-bit values).
        let mut body = vec![TYPE_SET_INTSET, 12];
        body.extend(hex("02000000020000000100" /* width 2, count 2, 1 */));
        body.extend(hex("0200"));
        let Value::Set(set) = restore(&seal(body, 10), limits).unwrap() else { panic!() };
        assert!(set.contains(&b"1"[..]) && set.contains(&b"2"[..]) && set.len() == 2);
        // A zset listpack: "m", then the score 1.5 as a string.
        let mut lp = hex("0f0000000200");
        lp.extend(hex("816d02"));
        lp.extend(hex("83312e3504"));
        lp.push(0xFF);
        let mut body = vec![TYPE_ZSET_LISTPACK, lp.len() as u8];
        body.extend(&lp);
        let Value::ZSet(zset) = restore(&seal(body, 10), limits).unwrap() else { panic!() };
        assert_eq!(zset.score(b"m"), Some(1.5));

        let good = seal(hex("00c02a"), 10);
        let mut corrupt = good.clone();
        corrupt[1] ^= 1;
        assert_eq!(restore(&corrupt, limits), Err(PayloadError::VersionOrChecksum));
        assert_eq!(restore(&seal(hex("00c02a"), 12), limits), Err(PayloadError::VersionOrChecksum));
        assert_eq!(restore(&good[..5], limits), Err(PayloadError::VersionOrChecksum));
        assert_eq!(restore(&seal(hex("00c02a00"), 10), limits), Err(PayloadError::BadData));
        assert_eq!(restore(&seal(hex("0f00"), 10), limits), Err(PayloadError::BadData), "a stream, cut short");
        assert_eq!(restore(&seal(hex("0200"), 10), limits), Err(PayloadError::BadData), "empty set");
    }

    #[test]
    fn every_type_round_trips_through_dump() {
        let limits = CompactLimits::default();
        let mut hash = HashValue::new();
        hash.insert(b"n", b"-129");
        hash.insert(b"long", "x".repeat(70_000).as_bytes());
        let mut set = SetValue::new();
        for member in ["1", "007", "2147483648", "-32769", "a"] {
            set.insert(member.as_bytes());
        }
        let mut zset = ZSet::new();
        zset.insert(Bytes::from("a"), f64::NEG_INFINITY);
        zset.insert(Bytes::from("b"), 0.1);
        let values = [
            Value::Str(CompactBytes::new(b"12")),
            Value::Str(CompactBytes::new(b"-2147483648")),
            Value::Str(CompactBytes::new(&[0u8, 255, 13, 10])),
            Value::List(Box::new((0..300).map(|i| Bytes::from(i.to_string())).collect())),
            Value::Hash(Box::new(hash)),
            Value::Set(Box::new(set)),
            Value::ZSet(Box::new(zset)),
        ];
        for value in values {
            let payload = dump(&value);
            assert_eq!(restore(&payload, limits).unwrap(), value);
        }
        // Integers are stored in their integer encodings, as Redis stores them.
        assert_eq!(&dump(&Value::Str(CompactBytes::new(b"12")))[..3], &hex("00c00c")[..]);
    }

    fn seal(body: Vec<u8>, version: u16) -> Vec<u8> {
        let mut payload = body;
        payload.extend_from_slice(&version.to_le_bytes());
        let crc = crc64(0, &payload);
        payload.extend_from_slice(&crc.to_le_bytes());
        payload
    }

    fn restore_stream(payload: &[u8]) -> Stream {
        match restore(payload, CompactLimits::default()) {
            Ok(Value::Stream(stream)) => *stream,
            other => panic!("{other:?}"),
        }
    }

    fn fields(parts: &[&str]) -> Box<[Bytes]> {
        parts.iter().map(|part| Bytes::copy_from_slice(part.as_bytes())).collect()
    }

    /// DUMP of redis-server 7.0.15 (RDB 10, type 19, its listpack LZF-compressed) after
    /// `XADD s 1-1 a 1 b hello`, `XADD s 1-2 a 2 b <70 x>`, `XADD s 2-0 c -5000`,
    /// `XADD s 3-0 a 007 b y`, `XDEL s 1-2`, `XGROUP CREATE s g1 0`, `XREADGROUP GROUP g1
    /// alice COUNT 2 STREAMS s >`, the same for bob with COUNT 1, `XGROUP CREATE s g2 $`,
    /// `XGROUP CREATECONSUMER s g2 carol`.
    const REDIS_7_0_STREAM: &str = "13011000000000000000010000000000000001c34057409c129c0000001f00030101010201816102816202002009000020010b01018568656c6c6f06050103600e040201e04678e03c0001480560500cdfff020101816302f178ec0306205e000240110a83303037048179020501ff03030001010102040202673103000403000000000000000100000000000000010d28461ca201000001000000000000000200000000000000000d28461ca201000001000000000000000300000000000000000d28461ca2010000010205616c6963650d28461ca201000002000000000000000100000000000000010000000000000002000000000000000003626f620d28461ca20100000100000000000000030000000000000000026732030081ffffffffffffffff0001056361726f6c0d28461ca2010000000a006b42d3b5a007338a";

    /// A stream Redis 7.0 wrote restores with its entries (the deleted one only counted in
    /// its node), ids, counters, groups, PELs and consumers (active time = seen time, as
    /// Redis estimates for type 19).
    #[test]
    fn restores_a_stream_redis_7_0_wrote() {
        let stream = restore_stream(&hex(REDIS_7_0_STREAM));
        let ids: Vec<StreamId> = stream.entries.keys().copied().collect();
        assert_eq!(ids, [StreamId::new(1, 1), StreamId::new(2, 0), StreamId::new(3, 0)]);
        assert_eq!(stream.entries[&StreamId::new(2, 0)], fields(&["c", "-5000"]));
        assert_eq!(stream.entries[&StreamId::new(3, 0)], fields(&["a", "007", "b", "y"]));
        assert_eq!(stream.entries[&StreamId::new(1, 1)], fields(&["a", "1", "b", "hello"]));
        assert_eq!((stream.last_id, stream.first_id), (StreamId::new(3, 0), StreamId::new(1, 1)));
        assert_eq!((stream.max_deleted_id, stream.entries_added), (StreamId::new(1, 2), 4));
        let node = &stream.nodes[&StreamId::new(1, 1)];
        assert_eq!((stream.nodes.len(), node.live, node.deleted, node.last_id), (1, 3, 1, StreamId::new(3, 0)));
        assert_eq!(node.master_fields, fields(&["a", "b"]));
        let g1 = &stream.groups[&Bytes::from("g1")];
        assert_eq!((g1.last_id, g1.entries_read), (StreamId::new(3, 0), 4));
        let owners: Vec<&[u8]> = g1.pel.values().map(|pending| &pending.consumer[..]).collect();
        assert_eq!(owners, [&b"alice"[..], b"alice", b"bob"]);
        assert!(g1.pel.values().all(|p| p.delivery_time_ms == 1_795_770_689_549 && p.delivery_count == 1));
        let alice = &g1.consumers[&Bytes::from("alice")];
        assert_eq!(alice.pel.iter().copied().collect::<Vec<_>>(), [StreamId::new(1, 1), StreamId::new(2, 0)]);
        assert_eq!(alice.active_time_ms, Some(alice.seen_time_ms));
        let g2 = &stream.groups[&Bytes::from("g2")];
        assert_eq!((g2.entries_read, g2.pel.len()), (ENTRIES_READ_UNKNOWN, 0));
        assert!(g2.consumers.contains_key(&Bytes::from("carol")));
        // Written back as type 21, it reads the same, node layout included (no deleted
        // entries are kept, so the node comes back without one).
        let again = restore_stream(&dump(&Value::Stream(Box::new(stream.clone()))));
        assert_eq!((&again.entries, &again.groups, again.entries_added), (&stream.entries, &stream.groups, 4));
        assert_eq!((again.nodes[&StreamId::new(1, 1)].live, again.nodes[&StreamId::new(1, 1)].deleted), (3, 0));
    }

    /// A stream built by appends, deletes, several nodes (differing fields, integer and long
    /// values) and groups round-trips through DUMP; its node bookkeeping comes back exactly
    /// when no entry was deleted.
    #[test]
    fn streams_round_trip_through_dump() {
        use crate::stream::NodeLimits;
        let limits = NodeLimits { max_bytes: 4096, max_entries: 3 };
        let mut stream = Stream::new();
        let long = "v".repeat(5000);
        for n in 1..=8u64 {
            let value = match n {
                3 => long.clone(),
                4 => "-9223372036854775808".to_string(),
                _ => (n * 1000).to_string(),
            };
            let parts: Vec<&str> = if n == 5 { vec!["other", &value, "x", "y"] } else { vec!["f", &value] };
            stream.append(StreamId::new(n * 10, n), fields(&parts), limits);
        }
        let exact = restore_stream(&dump(&Value::Stream(Box::new(stream.clone()))));
        assert_eq!(exact, stream);
        stream.delete(StreamId::new(70, 7));
        stream.max_deleted_id = StreamId::new(70, 7);
        let mut group = Group::new(StreamId::new(20, 2), 2);
        group.create_consumer(&Bytes::from("c1"), 5);
        group.create_consumer(&Bytes::from("c2"), 6);
        group.consumers.get_mut(&Bytes::from("c2")).unwrap().active_time_ms = Some(7);
        for (id, owner) in [(StreamId::new(10, 1), "c1"), (StreamId::new(20, 2), "c2"), (StreamId::new(70, 7), "c1")] {
            group.pel.insert(id, Pending { delivery_time_ms: 9, delivery_count: 2, consumer: Bytes::from(owner) });
            group.consumers.get_mut(&Bytes::from(owner)).unwrap().pel.insert(id);
        }
        stream.groups.insert(Bytes::from("g"), group);
        stream.groups.insert(Bytes::from("123"), Group::new(StreamId::ZERO, ENTRIES_READ_UNKNOWN));
        let payload = dump(&Value::Stream(Box::new(stream.clone())));
        assert_eq!(payload[0], TYPE_STREAM_LISTPACKS_3);
        let restored = restore_stream(&payload);
        assert_eq!(restored.entries, stream.entries);
        assert_eq!(restored.groups, stream.groups);
        let scalars = |s: &Stream| (s.last_id, s.first_id, s.max_deleted_id, s.entries_added);
        assert_eq!(scalars(&restored), scalars(&stream));
        let layout = |s: &Stream| s.nodes.iter().map(|(id, node)| (*id, node.master_fields.clone(), node.live)).collect::<Vec<_>>();
        assert_eq!(layout(&restored), layout(&stream));
        // An empty stream (its ids and groups are state) round-trips too.
        let mut empty = Stream::new();
        empty.groups.insert(Bytes::from("g"), Group::new(StreamId::ZERO, 0));
        assert_eq!(restore_stream(&dump(&Value::Stream(Box::new(empty.clone())))), empty);
    }

    /// Type 15 (Redis 5 to 6.2) has no first id, tombstone, entries-added or entries-read:
    /// they are derived as Redis derives them.
    #[test]
    fn restores_the_redis_5_stream_type() {
        let mut stream = Stream::new();
        for n in 1..=3u64 {
            stream.append(StreamId::new(n, 0), fields(&["f", "v"]), crate::stream::NodeLimits::default());
        }
        let (master_id, node) = stream.nodes.iter().next().unwrap();
        let mut body = vec![TYPE_STREAM_LISTPACKS, 1];
        let mut key = Vec::new();
        put_stream_id(&mut key, *master_id);
        put_string(&mut body, &key);
        put_string(&mut body, &node_listpack(*master_id, node, stream.entries.iter()));
        body.extend([3, 3, 0]); // length, last id 3-0
        body.extend([1, 1, b'g', 3, 0, 0, 0]); // group g at 3-0, empty PEL, no consumers
        let restored = restore_stream(&seal(body, 9));
        assert_eq!((restored.entries_added, restored.first_id), (3, StreamId::new(1, 0)));
        assert_eq!(restored.groups[&Bytes::from("g")].entries_read, 3, "at the last id: all read");
    }

    /// Damaged stream payloads (every byte of Redis's flipped in turn, resealed so the
    /// checksum passes) are refused or read, never a panic; inconsistent counts are refused.
    #[test]
    fn damaged_streams_are_refused() {
        let payload = hex(REDIS_7_0_STREAM);
        let body_len = payload.len() - 10;
        for position in 0..body_len {
            for mask in [0x01, 0x80] {
                let mut body = payload[..body_len].to_vec();
                body[position] ^= mask;
                let _ = restore(&seal(body, 10), CompactLimits::default());
            }
        }
        // A length that disagrees with the entries, and a PEL entry no consumer owns.
        let mut stream = Stream::new();
        stream.append(StreamId::new(1, 0), fields(&["f", "v"]), crate::stream::NodeLimits::default());
        let mut wrong_length = dump(&Value::Stream(Box::new(stream.clone())));
        wrong_length.truncate(wrong_length.len() - 10);
        let length_at = wrong_length.len() - 9; // length, last ms, seq, first ms, seq, max ms, seq, added, groups
        assert_eq!(wrong_length[length_at], 1);
        wrong_length[length_at] = 2;
        assert_eq!(restore(&seal(wrong_length, 11), CompactLimits::default()), Err(PayloadError::BadData));
        let mut group = Group::new(StreamId::ZERO, 0);
        group.pel.insert(StreamId::new(1, 0), Pending { delivery_time_ms: 1, delivery_count: 1, consumer: Bytes::from("c") });
        stream.groups.insert(Bytes::from("g"), group);
        assert_eq!(restore(&dump(&Value::Stream(Box::new(stream))), CompactLimits::default()), Err(PayloadError::BadData));
    }

    #[test]
    fn listpacks_encode_as_redis_lays_them_out() {
        let mut listpack = ListpackWriter::new();
        let texts = ["0", "127", "-1", "4095", "-4096", "32767", "-8388608", "2147483647", "-9223372036854775808"];
        for text in texts {
            listpack.string(text.as_bytes());
        }
        let long = "s".repeat(200);
        listpack.string(b"007");
        listpack.string(long.as_bytes());
        let bytes = listpack.finish();
        let read: Vec<(Element, usize)> = listpack_entries(&bytes).unwrap();
        let numbers: Vec<i64> = read[..texts.len()].iter().map(|(element, _)| element.int().unwrap()).collect();
        assert_eq!(numbers, texts.map(|text| text.parse::<i64>().unwrap()));
        let sizes: Vec<usize> = read.iter().map(|(_, size)| *size).collect();
        assert_eq!(sizes, [2, 2, 3, 3, 3, 4, 5, 6, 10, 5, 204]);
        assert_eq!(read[texts.len()].0, Element::Str(b"007"));
        // -1 is 13-bit 0x1FFF; 200 bytes of string take a 2-byte header and 2-byte back-length.
        assert_eq!(&bytes[10..13], &[0xDF, 0xFF, 2]);
        assert_eq!(&bytes[bytes.len() - 3..], &[1, 202 & 0x7F | 0x80, 0xFF]);
    }

    #[test]
    fn lzf_strings_decompress() {
        // "aaaaaaaaaa": literal "a", then a back-reference of 9 bytes at distance 1.
        let compressed = [0x00, b'a', 0xE0, 0x00, 0x00];
        assert_eq!(lzf_decompress(&compressed, 10), Some(b"aaaaaaaaaa".to_vec()));
        assert_eq!(lzf_decompress(&compressed, 9), None, "longer than announced");
        assert_eq!(lzf_decompress(&[0x20, 0x05], 2), None, "reference before the start");
    }
}
