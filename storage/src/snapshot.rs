//! Snapshot encoding of a shard's state: every database with its keys in map order (so a
//! restored replica iterates, scans and picks randomly exactly as the original), each key's
//! value, expiry and version, and the state machine's applied index and time. The whole
//! image ends with a crc32; a bad checksum is an error, never a partial restore. `encode`
//! writes it at once; `Building` writes the same bytes a chunk at a time while commands run
//! between chunks.
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

use crate::db::{Db, Keyspace};
use crate::functions::{FunctionFlags, FunctionInfo, Libraries, Library};
use crate::stream::{Consumer, Group, Node, Pending, Stream, StreamId};
use crate::value::{CompactBytes, HashValue, ListValue, SetValue, Value, ZSet};

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

/// Encodes the whole state at once (the shard is not changed meanwhile).
pub fn encode(keyspace: &Keyspace, applied_index: u64, last_time_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    encode_head(&mut out, keyspace, applied_index, last_time_ms);
    for db in &keyspace.dbs {
        put_u64(&mut out, db.epoch());
        put_u64(&mut out, db.len() as u64);
        for (key, value, expire_at_ms, version) in db.raw_slots() {
            encode_slot(&mut out, key, value, expire_at_ms, version);
        }
    }
    encode_tail(&mut out, keyspace);
    seal(out)
}

/// A snapshot encoded a chunk at a time while commands keep running between chunks: the
/// image of the state at `begin`, byte for byte what `encode` would have written then.
///
/// `begin` writes the head and encodes the small parts that are not keys (scripts,
/// libraries, replicated settings) at once, and marks every database with its number and
/// key count (see db.rs `ImageInProgress`); each `step` then appends the next keys in map
/// order, from the slots or, for slots changed since `begin`, from their pre-images.
#[derive(Debug)]
pub struct Building {
    /// The image so far: full pieces not yet taken (`take_pieces`), and the one being
    /// written. Pieces, not one buffer: a buffer of tens of megabytes that doubles copies
    /// itself under the shard lock (a 50 ms chunk at 1M keys), and pieces can go to the
    /// file as they fill, so the image is never held whole.
    pieces: Vec<Vec<u8>>,
    out: Vec<u8>,
    /// The size at which `out` becomes a piece.
    piece_bytes: usize,
    /// Emptied buffers handed back (`reuse`) for the next pieces: a fresh buffer is fresh
    /// memory the kernel must fault in and zero, page by page.
    spare: Vec<Vec<u8>>,
    /// crc32 of the pieces taken so far (the image's seal covers them too).
    taken: crc32fast::Hasher,
    /// (epoch, key count) of each database number at `begin`.
    headers: Vec<(u64, u64)>,
    /// Everything after the databases, as it was at `begin`.
    tail: Vec<u8>,
    applied_index: u64,
    /// The database number being encoded, and whether its header is written.
    db: usize,
    header_written: bool,
}

impl Building {
    /// Starts a snapshot of `keyspace` as it is now, at `applied_index`, whose image is cut
    /// into pieces of about `piece_bytes` (`PIECE_BYTES` outside tests).
    pub fn begin(keyspace: &mut Keyspace, applied_index: u64, last_time_ms: u64, piece_bytes: usize) -> Building {
        let mut out = Vec::with_capacity(1024);
        encode_head(&mut out, keyspace, applied_index, last_time_ms);
        let mut tail = Vec::new();
        encode_tail(&mut tail, keyspace);
        let mut headers = Vec::with_capacity(keyspace.dbs.len());
        for (number, db) in keyspace.dbs.iter_mut().enumerate() {
            headers.push((db.epoch(), db.len() as u64));
            db.begin_image(number);
        }
        Building {
            pieces: Vec::new(),
            out,
            piece_bytes,
            spare: Vec::new(),
            taken: crc32fast::Hasher::new(),
            headers,
            tail,
            applied_index,
            db: 0,
            header_written: false,
        }
    }

    /// The index the image is of.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Appends the next `keys` keys (fewer once `bytes` more bytes are written). True when
    /// every database is in the image (then `finish`).
    pub fn step(&mut self, keyspace: &mut Keyspace, keys: usize, bytes: usize) -> bool {
        let mut out = Pieces::new(&mut self.out, &mut self.pieces, &mut self.spare, self.piece_bytes);
        // The piece the last step filled goes out now.
        out.boundary();
        let mut keys_left = keys;
        while self.db < self.headers.len() {
            if keys_left == 0 || out.written() >= bytes {
                return false;
            }
            // SWAPDB moves contents between numbers: find where this number's went.
            let db = keyspace
                .dbs
                .iter_mut()
                .find(|db| db.image().is_some_and(|image| image.number == self.db))
                .expect("every database number not yet encoded is marked");
            if !self.header_written {
                let (epoch, len) = self.headers[self.db];
                put_u64(out.buf(), epoch);
                put_u64(out.buf(), len);
                self.header_written = true;
            }
            let before = db.image().expect("marked").cursor;
            let bytes_left = bytes.saturating_sub(out.written());
            let done = db.image_step(&mut out, keys_left, bytes_left, self.applied_index);
            keys_left -= db.image().expect("marked").cursor - before;
            if done {
                db.end_image();
                self.db += 1;
                self.header_written = false;
            }
        }
        true
    }

    /// Moves the full pieces of the image out, in order, onto the end of `into`. The image is
    /// the concatenation of every piece taken and then `finish`.
    pub fn take_pieces(&mut self, into: &mut Vec<Vec<u8>>) {
        for piece in self.pieces.drain(..) {
            self.taken.update(&piece);
            into.push(piece);
        }
    }

    /// Takes back buffers of pieces taken earlier, once the caller is done with them, to hold
    /// the next pieces (two at most are kept).
    pub fn reuse(&mut self, buffers: impl IntoIterator<Item = Vec<u8>>) {
        for mut buffer in buffers {
            if self.spare.len() < 2 {
                buffer.clear();
                self.spare.push(buffer);
            }
        }
    }

    /// The rest of the image, once `step` has returned true: the pieces not taken joined,
    /// and sealed with the crc32 of the whole image (needs no lock: it no longer reads the
    /// keyspace).
    pub fn finish(self) -> Vec<u8> {
        assert_eq!(self.db, self.headers.len(), "every database is encoded");
        let len = self.pieces.iter().map(Vec::len).sum::<usize>() + self.out.len() + self.tail.len();
        let mut rest = Vec::with_capacity(len + 4);
        for piece in self.pieces.iter().chain([&self.out, &self.tail]) {
            rest.extend_from_slice(piece);
        }
        let mut crc = self.taken;
        crc.update(&rest);
        put_u32(&mut rest, crc.finalize());
        rest
    }

    /// Drops the snapshot: the databases forget their part in it.
    pub fn abandon(self, keyspace: &mut Keyspace) {
        for db in &mut keyspace.dbs {
            db.end_image();
        }
    }
}

/// The size at which `Building` starts a new piece of its image.
pub const PIECE_BYTES: usize = 1 << 20;

/// A buffer for the next piece: a piece ends at the first key or element boundary past
/// `piece_bytes`, so it overshoots by about one element. Twice the size, as it first was, made
/// a big value's ~100 pieces (held together while the value is encoded under the lock) take
/// twice their bytes once jemalloc handed back dirty extents, which are resident whole.
fn new_piece(piece_bytes: usize) -> Vec<u8> {
    Vec::with_capacity(piece_bytes + piece_bytes / 4)
}

/// Where image bytes go: one buffer (`Vec<u8>`: a whole image, a pre-image), or the pieces of a
/// snapshot build (`Pieces`), which one big value may cross.
pub(crate) trait ImageOut {
    /// The buffer the next bytes go to.
    fn buf(&mut self) -> &mut Vec<u8>;
    /// Bytes written so far through this writer.
    fn written(&self) -> usize;
    /// Called after each key and after each element of a value: pieces move on to a new piece
    /// once the current one is full.
    fn boundary(&mut self) {}
    /// Appends an encoded slot kept earlier (a pre-image).
    fn put_encoded(&mut self, encoded: Vec<u8>) {
        self.buf().extend_from_slice(&encoded);
    }
}

impl ImageOut for Vec<u8> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }

    fn written(&self) -> usize {
        self.len()
    }
}

/// A build's pieces as an `ImageOut`. A value is cut between its elements when the piece is
/// full, so a list of millions goes out in ~1 MiB pieces like any other keys; encoded whole
/// into the piece it started in, it grew one buffer to its own size (tens of MB), every
/// doubling a copy and fresh pages faulted in, under the shard lock.
pub(crate) struct Pieces<'a> {
    out: &'a mut Vec<u8>,
    full: &'a mut Vec<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
    piece_bytes: usize,
    /// Bytes moved from `out` into `full` so far.
    rolled: usize,
    /// `out`'s length when this writer was made (written counts from there).
    start: usize,
}

impl<'a> Pieces<'a> {
    fn new(out: &'a mut Vec<u8>, full: &'a mut Vec<Vec<u8>>, spare: &'a mut Vec<Vec<u8>>, piece_bytes: usize) -> Self {
        let start = out.len();
        Pieces { out, full, spare, piece_bytes, rolled: 0, start }
    }

    /// Moves the current piece to the full ones and starts the next in a spare buffer.
    fn roll(&mut self) {
        let piece_bytes = self.piece_bytes;
        let next = self.spare.pop().unwrap_or_else(|| new_piece(piece_bytes));
        let piece = std::mem::replace(self.out, next);
        self.rolled += piece.len();
        self.full.push(piece);
    }
}

impl ImageOut for Pieces<'_> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self.out
    }

    fn written(&self) -> usize {
        self.rolled + self.out.len() - self.start
    }

    fn boundary(&mut self) {
        if self.out.len() >= self.piece_bytes {
            self.roll();
        }
    }

    /// A pre-image of a piece's size or more becomes a piece of its own, moved, not copied.
    fn put_encoded(&mut self, encoded: Vec<u8>) {
        if encoded.len() < self.piece_bytes {
            self.out.extend_from_slice(&encoded);
            return;
        }
        if !self.out.is_empty() {
            self.roll();
        }
        self.rolled += encoded.len();
        self.full.push(encoded);
    }
}

fn encode_head(out: &mut Vec<u8>, keyspace: &Keyspace, applied_index: u64, last_time_ms: u64) {
    out.extend_from_slice(MAGIC);
    put_u64(out, applied_index);
    put_u64(out, last_time_ms);
    put_u32(out, keyspace.dbs.len() as u32);
}

/// One key: key, expire_at_ms (0: none), version word, type and value.
pub(crate) fn encode_slot(out: &mut impl ImageOut, key: &[u8], value: &Value, expire_at_ms: u64, version: u64) {
    let buf = out.buf();
    put_bytes(buf, key);
    put_u64(buf, expire_at_ms);
    put_u64(buf, version);
    encode_value(out, value);
}

/// Scripts, libraries and replicated settings: what follows the databases.
fn encode_tail(out: &mut Vec<u8>, keyspace: &Keyspace) {
    put_u64(out, keyspace.scripts.len() as u64);
    for (sha, body) in &keyspace.scripts {
        put_bytes(out, sha.as_bytes());
        put_bytes(out, body);
    }
    put_u64(out, keyspace.libraries.len() as u64);
    for library in keyspace.libraries.iter() {
        put_bytes(out, library.name.as_bytes());
        put_bytes(out, &library.code);
        put_u64(out, library.functions.len() as u64);
        for function in &library.functions {
            put_bytes(out, function.name.as_bytes());
            match &function.description {
                Some(description) => {
                    out.push(1);
                    put_bytes(out, description);
                }
                None => {
                    out.push(0);
                    put_bytes(out, b"");
                }
            }
            out.push(function.flags.0);
        }
    }
    let settings = keyspace.replicated_settings.parameters();
    put_u64(out, settings.len() as u64);
    for (name, value) in settings {
        put_bytes(out, name.as_bytes());
        put_bytes(out, value.as_bytes());
    }
}

/// Appends the crc32 of everything before it.
fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&out);
    put_u32(&mut out, crc);
    out
}

fn encode_value(out: &mut impl ImageOut, value: &Value) {
    match value {
        Value::Str(bytes) => {
            let buf = out.buf();
            buf.push(TYPE_STR);
            put_bytes(buf, bytes);
        }
        Value::List(list) => {
            let buf = out.buf();
            buf.push(TYPE_LIST);
            put_u64(buf, list.len() as u64);
            for item in list.iter() {
                put_bytes(out.buf(), item);
                out.boundary();
            }
        }
        Value::Hash(hash) => {
            let buf = out.buf();
            buf.push(TYPE_HASH);
            put_u64(buf, hash.len() as u64);
            for (field, value) in hash.iter() {
                let buf = out.buf();
                put_bytes(buf, field);
                put_bytes(buf, value);
                out.boundary();
            }
        }
        Value::Set(set) => {
            let buf = out.buf();
            buf.push(TYPE_SET);
            put_u64(buf, set.len() as u64);
            for member in set.iter() {
                put_bytes(out.buf(), member);
                out.boundary();
            }
        }
        Value::ZSet(zset) => {
            let buf = out.buf();
            buf.push(TYPE_ZSET);
            put_u64(buf, zset.len() as u64);
            for (member, score) in zset.iter_insertion_order() {
                let buf = out.buf();
                put_bytes(buf, &member);
                put_u64(buf, score.to_bits());
                out.boundary();
            }
        }
        Value::Stream(stream) => {
            let buf = out.buf();
            buf.push(TYPE_STREAM);
            encode_stream(buf, stream);
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
            let mut list = ListValue::new();
            for _ in 0..count {
                list.push_back(reader.slice()?);
            }
            Value::List(Box::new(list))
        }
        TYPE_HASH => {
            let count = reader.count()?;
            let mut hash = HashValue::with_capacity(count);
            for _ in 0..count {
                let field = reader.bytes()?;
                hash.insert(&field, &reader.bytes()?);
            }
            Value::Hash(Box::new(hash))
        }
        TYPE_SET => {
            let count = reader.count()?;
            let mut set = SetValue::with_capacity(count);
            for _ in 0..count {
                set.insert(reader.slice()?);
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

/// Chunked snapshots (`Building`): whatever runs between chunks, the image is the one encoded
/// at the start, and a replica that loads it and applies the log after it ends in the
/// leader's state, key order included.
#[cfg(test)]
mod chunked_tests {
    use bytes::Bytes;

    use crate::machine::{Entry, Op, StateMachine, Watch};

    /// splitmix64: the tests' random source, a function of the seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A state machine fed log entries, which it also records (index, entry) for a replica.
    struct Node {
        machine: StateMachine,
        index: u64,
        now_ms: u64,
        log: Vec<(u64, Entry)>,
    }

    impl Node {
        fn new() -> Node {
            Node { machine: StateMachine::new(), index: 0, now_ms: 1_700_000_000_000, log: Vec::new() }
        }

        fn apply(&mut self, ops: Vec<Op>) {
            self.index += 1;
            let entry = Entry { time_ms: self.now_ms, ops };
            self.machine.apply(self.index, &entry, &mut Vec::new());
            self.log.push((self.index, entry));
        }

        fn command(&mut self, db: u32, args: &[&str]) {
            let args = args.iter().map(|arg| Bytes::copy_from_slice(arg.as_bytes())).collect();
            self.apply(vec![Op::Command { db, args }]);
        }

        /// Every database's keys in map order, with what the image holds for each.
        fn order(&self) -> Vec<Vec<(Vec<u8>, u64, u64)>> {
            self.machine
                .keyspace
                .dbs
                .iter()
                .map(|db| db.raw_slots().map(|(key, _, at, version)| (key.to_vec(), at, version)).collect())
                .collect()
        }
    }

    /// One random write: keys from a small pool (so they collide), over three databases,
    /// long lists among them, and now and then a whole-database or non-key change.
    fn random_write(node: &mut Node, rng: &mut Rng) {
        let db = rng.below(3) as u32;
        let key = format!("k{}", rng.below(64));
        let other = format!("k{}", rng.below(64));
        let value = format!("v{}", rng.next() % 1000);
        let seconds = (1 + rng.below(4)).to_string();
        let members: Vec<String> = (0..1 + rng.below(40)).map(|i| format!("m{}", (rng.next() % 500) + i)).collect();
        let mut args: Vec<&str> = Vec::new();
        match rng.below(100) {
            0..=17 => args.extend(["SET", &key, &value]),
            18..=23 => args.extend(["SET", &key, &value, "EX", &seconds]),
            24..=31 => args.extend(["DEL", &key]),
            32..=36 => args.extend(["RENAME", &key, &other]),
            37..=40 => args.extend(["EXPIRE", &key, &seconds]),
            41..=42 => args.extend(["PERSIST", &key]),
            43..=44 => args.extend(["PEXPIREAT", &key, "1"]),
            45..=51 => {
                args.extend(["LPUSH", "biglist", &key]);
                args.extend(members.iter().map(String::as_str));
            }
            52..=53 => args.extend(["RPOP", "biglist", "30"]),
            54..=58 => {
                args.extend(["HSET", &key]);
                for member in &members {
                    args.extend([member.as_str(), value.as_str()]);
                }
            }
            59..=62 => {
                args.extend(["SADD", &key]);
                args.extend(members.iter().map(String::as_str));
            }
            63..=65 => args.extend(["APPEND", &key, &value]),
            66..=67 => args.extend(["INCR", &key]),
            68..=70 => args.extend(["ZADD", &key, "1.5", &value]),
            71..=72 => args.extend(["XADD", &key, "*", "f", &value]),
            73..=75 => args.extend(["MOVE", &key, "1"]),
            76..=77 => args.extend(["COPY", &key, &other, "DB", "2"]),
            78..=80 => {
                let (first, second) = (rng.below(3).to_string(), rng.below(3).to_string());
                node.command(db, &["SWAPDB", &first, &second]);
                return;
            }
            81 => args.extend(["FLUSHDB"]),
            82 if rng.below(3) == 0 => args.extend(["FLUSHALL"]),
            83..=84 => args.extend(["SCRIPT", "LOAD", if rng.below(2) == 0 { "return 1" } else { "return 2" }]),
            85 => args.extend(["SCRIPT", "FLUSH"]),
            86..=87 => args.extend(["EVAL", "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('DEL', KEYS[2])", "2", &key, &other, &value]),
            88..=89 => {
                let commands = vec![
                    (db, vec![Bytes::from("SET"), Bytes::from(key.clone()), Bytes::from(value.clone())]),
                    (db, vec![Bytes::from("DEL"), Bytes::from(other.clone())]),
                ];
                let watched = vec![Watch { db, key: Bytes::from(key.clone()), version: 0 }];
                node.apply(vec![Op::Exec { watched: Vec::new(), commands: commands.clone() }]);
                node.apply(vec![Op::Exec { watched, commands }]);
                return;
            }
            90 => {
                let value = (1 + rng.below(50)).to_string();
                let pairs = vec![(Bytes::from("stream-node-max-entries"), Bytes::from(value))];
                node.apply(vec![Op::ConfigSet { pairs }]);
                return;
            }
            91..=93 => {
                // The leader's deletion of due keys.
                let due = node.machine.keyspace.dbs[db as usize].expired_keys(node.now_ms, 5);
                node.apply(vec![Op::ExpireKeys { db, keys: due }]);
                return;
            }
            _ => {
                node.now_ms += rng.below(1500);
                args.extend(["SET", &key, &value, "KEEPTTL"]);
            }
        }
        node.command(db, &args);
    }

    #[test]
    fn a_chunked_image_is_the_image_at_its_start_and_replicas_end_in_the_same_order() {
        let mut steps_with_writes_between = 0;
        let mut pieces_taken = 0;
        for seed in 0..400u64 {
            let mut rng = Rng(seed);
            let mut node = Node::new();
            for _ in 0..rng.below(600) {
                random_write(&mut node, &mut rng);
            }
            let reference = node.machine.snapshot();
            // Small pieces, so that images are taken out in pieces as they fill (as the
            // server writes them to the file) and their buffers reused.
            let start = node.machine.begin_snapshot_in_pieces(1 + rng.below(200) as usize);
            assert_eq!(start, node.index);
            let log_start = node.log.len();
            let mut image = Vec::new();
            let mut pieces = Vec::new();
            let image = loop {
                let keys = 1 + rng.below(6) as usize;
                let bytes = if rng.below(4) == 0 { 1 + rng.below(300) as usize } else { usize::MAX };
                let built = node.machine.snapshot_step(keys, bytes, &mut pieces);
                pieces_taken += pieces.len();
                for piece in &pieces {
                    image.extend_from_slice(piece);
                }
                if let Some(building) = built {
                    image.extend_from_slice(&building.finish());
                    break image;
                }
                for _ in 0..rng.below(5) {
                    random_write(&mut node, &mut rng);
                }
                steps_with_writes_between += 1;
            };
            assert!(image == reference, "seed {seed}: the chunked image differs from the image at its start");
            assert!(!node.machine.building_snapshot());
            // A replica installs the image and applies the log after it.
            let mut replica = StateMachine::restore(&image).unwrap();
            assert_eq!(replica.applied_index(), start);
            for (index, entry) in &node.log[log_start..] {
                replica.apply(*index, entry, &mut Vec::new());
            }
            let replica_order = Node { machine: replica, index: 0, now_ms: 0, log: Vec::new() }.order();
            assert_eq!(replica_order, node.order(), "seed {seed}: the replica's key order differs");
            // And a snapshot now (stop-the-world and chunked alike) is the same on both.
            let mut replica = StateMachine::restore(&image).unwrap();
            for (index, entry) in &node.log[log_start..] {
                replica.apply(*index, entry, &mut Vec::new());
            }
            assert!(replica.snapshot() == node.machine.snapshot(), "seed {seed}: states differ after the log");
        }
        assert!(steps_with_writes_between > 4000, "{steps_with_writes_between}");
        assert!(pieces_taken > 4000, "{pieces_taken}");
    }

    /// A value bigger than a piece leaves in pieces of about the piece size, cut between its
    /// elements (a list, a hash, a set, a sorted set), and a pre-image that big is moved in as
    /// a piece of its own; the image is still the image at the start, byte for byte.
    #[test]
    fn a_big_value_crosses_pieces() {
        const PIECE: usize = 1024;
        let mut node = Node::new();
        let elements: Vec<String> = (0..3000).map(|i| format!("element-{i:05}")).collect();
        let mut big = |command: &str, key: &str, score: bool| {
            let mut args = vec![command.to_string(), key.to_string()];
            for element in &elements {
                if score {
                    args.push("1".into());
                }
                args.push(element.clone());
                if command == "HSET" {
                    args.push("v".into());
                }
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            node.command(0, &args);
        };
        big("RPUSH", "list", false);
        big("HSET", "hash", false);
        big("SADD", "set", false);
        big("ZADD", "zset", true);
        big("RPUSH", "changed", false);
        node.command(0, &["SET", "small", "v"]);
        let reference = node.machine.snapshot();
        node.machine.begin_snapshot_in_pieces(PIECE);
        let mut image = Vec::new();
        let mut pieces = Vec::new();
        let mut sizes = Vec::new();
        let mut changed = false;
        let image = loop {
            let built = node.machine.snapshot_step(1, usize::MAX, &mut pieces);
            for piece in &pieces {
                sizes.push(piece.len());
                image.extend_from_slice(piece);
            }
            if let Some(building) = built {
                image.extend_from_slice(&building.finish());
                break image;
            }
            if !changed {
                // Before the build reaches it: its pre-image (~45 KB) is kept and moved in.
                node.command(0, &["LPOP", "changed"]);
                changed = true;
            }
        };
        assert!(image == reference, "the image differs from the image at its start");
        let pre_image = sizes.iter().filter(|size| **size > 2 * PIECE).count();
        assert_eq!(pre_image, 1, "one piece is the pre-image, moved whole: {sizes:?}");
        assert!(sizes.len() > 4 * 3000 * 14 / PIECE, "big values were cut: {} pieces", sizes.len());
        assert!(
            sizes.iter().filter(|size| **size <= 2 * PIECE).all(|size| *size < PIECE + 64),
            "a piece ends at the first boundary past its size: {sizes:?}"
        );
    }

    /// The cases the pre-images exist for, one at a time, over one database of ten keys.
    #[test]
    fn removals_moves_and_flushes_around_the_cursor() {
        type Case = fn(&mut Node);
        let cases: [(&str, Case); 7] = [
            // The hole below the cursor, the moved (last) key above it.
            ("delete visited", |n| n.command(0, &["DEL", "k1"])),
            ("delete unvisited", |n| n.command(0, &["DEL", "k6"])),
            ("delete then re-add", |n| {
                n.command(0, &["DEL", "k6"]);
                n.command(0, &["DEL", "k9"]);
                n.command(0, &["SET", "k6", "new"]);
                n.command(0, &["SET", "new", "new"]);
            }),
            ("overwrite and expire unvisited", |n| {
                n.command(0, &["SET", "k7", "changed"]);
                n.command(0, &["EXPIRE", "k8", "100"]);
                n.command(0, &["PERSIST", "k5"]);
            }),
            ("flush", |n| n.command(0, &["FLUSHDB"])),
            ("swap", |n| {
                n.command(0, &["SWAPDB", "0", "1"]);
                n.command(0, &["SET", "k0", "in the other"]);
                n.command(1, &["DEL", "k9"]);
            }),
            ("rename across the cursor", |n| {
                n.command(0, &["RENAME", "k8", "k0"]);
                n.command(0, &["RENAME", "k2", "k9"]);
            }),
        ];
        for (name, change) in cases {
            let mut node = Node::new();
            for i in 0..10 {
                node.command(0, &["SET", &format!("k{i}"), &format!("v{i}")]);
            }
            node.command(0, &["EXPIRE", "k5", "1000"]);
            node.command(1, &["SET", "other", "1"]);
            let reference = node.machine.snapshot();
            node.machine.begin_snapshot();
            assert!(node.machine.snapshot_step(4, usize::MAX, &mut Vec::new()).is_none(), "{name}");
            change(&mut node);
            let image = loop {
                if let Some(building) = node.machine.snapshot_step(2, usize::MAX, &mut Vec::new()) {
                    break building.finish();
                }
            };
            assert!(image == reference, "{name}: the chunked image differs from the image at its start");
            assert!(node.machine.snapshot() != reference, "{name}: the change changed nothing");
        }
    }

    /// A state replaced while a snapshot is in progress (a snapshot installed) first finishes
    /// it; a new snapshot drops one left unfinished.
    #[test]
    fn finish_completes_and_begin_restarts() {
        let mut node = Node::new();
        for i in 0..100 {
            node.command(0, &["SET", &format!("k{i}"), "v"]);
        }
        let reference = node.machine.snapshot();
        node.machine.begin_snapshot();
        assert!(node.machine.snapshot_step(10, usize::MAX, &mut Vec::new()).is_none());
        node.command(0, &["DEL", "k50"]);
        assert!(node.machine.finish_snapshot().unwrap() == reference);
        assert!(node.machine.finish_snapshot().is_none());
        node.machine.begin_snapshot();
        assert!(node.machine.snapshot_step(10, usize::MAX, &mut Vec::new()).is_none());
        node.command(0, &["DEL", "k60"]);
        let now = node.machine.snapshot();
        node.machine.begin_snapshot();
        node.command(0, &["DEL", "k70"]);
        assert!(node.machine.finish_snapshot().unwrap() == now);
    }
}
