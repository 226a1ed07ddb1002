//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG.
//!
//! A HyperLogLog is a string value in Redis's own layout, so GET/SET/DUMP/RESTORE of one
//! interoperate with Redis: a 16-byte header (`HYLL`, the encoding byte — 0 dense, 1 sparse —
//! three unused bytes and an 8-byte little-endian cardinality cache whose top bit marks it
//! stale), then either 16384 6-bit registers packed least significant bit first (dense), or
//! run-length opcodes (sparse: ZERO `00xxxxxx` covers 1..64 zero registers, XZERO
//! `01xxxxxx yyyyyyyy` 1..16384, VAL `1vvvvvxx` 1..4 registers of value 1..32). Elements are
//! hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick the register, the
//! position of the lowest set bit of the rest (plus one) is the value. A sparse value turns
//! dense when a register needs more than 32 or the string would pass `SPARSE_BYTES_MAX`, with
//! Redis's exact opcode rewriting and merging, so the same PFADDs give the same bytes.
//!
//! The cardinality cache: Redis's PFCOUNT of one key writes the count it computed into the
//! header (a write on a read). Here PFCOUNT runs on the read path, which must not change
//! replicated state on one node only, so it never writes the cache: it uses a valid cache
//! (from a RESTOREd or SET value) and otherwise computes the count each time. Writes
//! (PFADD, PFMERGE) mark the cache stale exactly as Redis does, so the bytes after the same
//! writes are Redis's; they differ only after a PFCOUNT, whose cached count Redis keeps.
//!
//! `hll-sparse-max-bytes` is fixed at Redis's default (3000): the encoding is replicated
//! state, so it may not follow a node-local setting.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::is;
use crate::commands::keys::STRING_FLOOR_RAW;
use crate::commands::strings::{add_string, expire_if_needed, get_string, modify_string};
use crate::ctx::{class, Ctx};
use crate::errors;
use crate::table::{CommandSpec, Flags, Handler, KeyFlags};
use crate::value::CompactBytes;

const HEADER_LEN: usize = 16;
const REGISTERS: usize = 16384;
const INDEX_BITS: u32 = 14;
/// Bits of the hash left for the run of zeros (64 - 14).
const Q: u32 = 50;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u8 = 63;
const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * REGISTER_BITS).div_ceil(8);
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
/// Redis's default `hll-sparse-max-bytes`, header included.
const SPARSE_BYTES_MAX: usize = 3000;
const SPARSE_VAL_VALUE_MAX: u8 = 32;
const SPARSE_VAL_LEN_MAX: usize = 4;
const SPARSE_ZERO_LEN_MAX: usize = 64;
const SPARSE_XZERO_LEN_MAX: usize = 16384;
const HASH_SEED: u64 = 0xadc8_3b19;
/// 1 / (2 ln 2), the bias constant of Ertl's estimator as Redis uses it.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The value is not a well-formed HyperLogLog (a run past the last register …).
#[derive(Debug, PartialEq)]
struct Corrupt;

// ---------------------------------------------------------------------------------------------
// Hashing

/// MurmurHash64A by Austin Appleby, over little-endian 8-byte words, as Redis computes it.
fn murmur_hash64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate() {
            h ^= (byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the value it offers it.
fn register_and_count(element: &[u8]) -> (usize, u8) {
    let hash = murmur_hash64a(element, HASH_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The forced bit bounds the count at Q + 1.
    let rest = (hash >> INDEX_BITS) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------------
// Header and dense registers

fn is_valid(value: &[u8]) -> bool {
    value.len() >= HEADER_LEN
        && &value[..4] == b"HYLL"
        && value[4] <= ENCODING_SPARSE
        && (value[4] != ENCODING_DENSE || value.len() == DENSE_LEN)
}

fn cached_count(value: &[u8]) -> Option<u64> {
    let card: [u8; 8] = value[8..16].try_into().expect("header");
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

fn invalidate_cache(value: &mut [u8]) {
    value[15] |= 0x80;
}

/// An empty sparse HyperLogLog: one XZERO over every register, cache valid at 0.
fn new_sparse() -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER_LEN + 2);
    value.extend_from_slice(b"HYLL");
    value.push(ENCODING_SPARSE);
    value.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_LEN_MAX);
        value.extend_from_slice(&xzero_op(run));
        left -= run;
    }
    value
}

fn dense_get(registers: &[u8], index: usize) -> u8 {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let low = (registers[byte] >> shift) as u16;
    let high = if shift > 8 - REGISTER_BITS {
        (registers[byte + 1] as u16) << (8 - shift)
    } else {
        0
    };
    ((low | high) as u8) & REGISTER_MAX
}

fn dense_put(registers: &mut [u8], index: usize, value: u8) {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    registers[byte] &= !(REGISTER_MAX << shift);
    registers[byte] |= value << shift;
    if shift > 8 - REGISTER_BITS {
        registers[byte + 1] &= !(REGISTER_MAX >> (8 - shift));
        registers[byte + 1] |= value >> (8 - shift);
    }
}

/// Raises a dense register to `count`; true if it changed.
fn dense_set(value: &mut [u8], index: usize, count: u8) -> bool {
    let registers = &mut value[HEADER_LEN..];
    if count > dense_get(registers, index) {
        dense_put(registers, index, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Sparse opcodes

fn is_zero_op(op: u8) -> bool {
    op & 0xc0 == 0
}

fn is_xzero_op(op: u8) -> bool {
    op & 0xc0 == 0x40
}

fn is_val_op(op: u8) -> bool {
    op & 0x80 != 0
}

fn zero_len(op: u8) -> usize {
    (op & 0x3f) as usize + 1
}

fn xzero_len(op: u8, next: u8) -> usize {
    ((((op & 0x3f) as usize) << 8) | next as usize) + 1
}

fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}

fn val_len(op: u8) -> usize {
    (op & 0x3) as usize + 1
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

fn xzero_op(len: usize) -> [u8; 2] {
    let len = len - 1;
    [0x40 | (len >> 8) as u8, (len & 0xff) as u8]
}

/// Appends the opcodes for a run of `len` zero registers (one ZERO or one XZERO).
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_LEN_MAX {
        seq.extend_from_slice(&xzero_op(len));
    } else {
        seq.push(len as u8 - 1);
    }
}

/// Walks the opcodes of a sparse value, calling `run(first_register, len, value)` for each;
/// stops (as Redis does) at a run that would pass the last register. Returns the number of
/// registers covered.
fn walk_sparse(value: &[u8], mut run: impl FnMut(usize, usize, u8)) -> usize {
    let mut p = HEADER_LEN;
    let mut index = 0;
    while p < value.len() {
        let op = value[p];
        let (len, register, oplen) = if is_zero_op(op) {
            (zero_len(op), 0, 1)
        } else if is_xzero_op(op) {
            (xzero_len(op, value.get(p + 1).copied().unwrap_or(0)), 0, 2)
        } else {
            (val_len(op), val_value(op), 1)
        };
        if index + len > REGISTERS {
            break;
        }
        run(index, len, register);
        index += len;
        p += oplen;
    }
    index
}

/// Rewrites a sparse value as dense (the header, cache included, is kept).
fn sparse_to_dense(value: &mut Vec<u8>) -> Result<(), Corrupt> {
    if value[4] == ENCODING_DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..HEADER_LEN].copy_from_slice(&value[..HEADER_LEN]);
    dense[4] = ENCODING_DENSE;
    let covered = walk_sparse(value, |first, len, register| {
        if register != 0 {
            for index in first..first + len {
                dense_put(&mut dense[HEADER_LEN..], index, register);
            }
        }
    });
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    *value = dense;
    Ok(())
}

/// Raises register `index` of a sparse value to `count`, rewriting the opcode that covers it
/// the way Redis does (split the run, then merge equal neighbouring VALs), or turning the
/// value dense when the count or the size needs it. True if the value changed.
fn sparse_set(value: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_VALUE_MAX {
        return promote(value, index, count);
    }
    // Find the opcode covering `index`.
    let end = value.len();
    let (mut p, mut first, mut span, mut oplen) = (HEADER_LEN, 0usize, 0usize, 1usize);
    let mut previous = None;
    while p < end {
        let op = value[p];
        oplen = 1;
        span = if is_zero_op(op) {
            zero_len(op)
        } else if is_val_op(op) {
            val_len(op)
        } else {
            oplen = 2;
            xzero_len(op, value.get(p + 1).copied().unwrap_or(0))
        };
        if index < first + span {
            break;
        }
        previous = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = value[p];
    let (is_zero, is_xzero, is_val) = (is_zero_op(op), is_xzero_op(op), is_val_op(op));
    let runlen = span;

    if is_val && val_value(op) >= count {
        return Ok(false);
    }
    if (is_val || is_zero) && runlen == 1 {
        value[p] = val_op(count, 1);
    } else {
        // Split the run into up to three: before, the register, after.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_zero || is_xzero {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        } else {
            let current = val_value(op);
            if index != first {
                seq.push(val_op(current, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(current, last - index));
            }
        }
        debug_assert_eq!(oplen, if is_xzero { 2 } else { 1 });
        if seq.len() > oplen && value.len() + seq.len() - oplen > SPARSE_BYTES_MAX {
            return promote(value, index, count);
        }
        value.splice(p..p + oplen, seq);
    }

    // Merge neighbouring VALs of equal value, looking at up to five opcodes from the one
    // before the change.
    let mut p = previous.unwrap_or(HEADER_LEN);
    let mut scans_left = 5;
    while p < value.len() && scans_left > 0 {
        scans_left -= 1;
        let op = value[p];
        if is_xzero_op(op) {
            p += 2;
            continue;
        }
        if is_zero_op(op) {
            p += 1;
            continue;
        }
        if p + 1 < value.len() && is_val_op(value[p + 1]) {
            let next = value[p + 1];
            let len = val_len(op) + val_len(next);
            if val_value(op) == val_value(next) && len <= SPARSE_VAL_LEN_MAX {
                value[p + 1] = val_op(val_value(op), len);
                value.remove(p);
                // Try the merged run against its right neighbour too.
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(value);
    Ok(true)
}

fn promote(value: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(value)?;
    let changed = dense_set(value, index, count);
    assert!(changed, "a promotion always raises the register");
    Ok(true)
}

/// Adds one element; true if a register changed.
fn add(value: &mut Vec<u8>, element: &[u8]) -> Result<bool, Corrupt> {
    let (index, count) = register_and_count(element);
    match value[4] {
        ENCODING_DENSE => Ok(dense_set(value, index, count)),
        _ => sparse_set(value, index, count),
    }
}

/// Raises every register of `max` to at least the value's.
fn merge_into(max: &mut [u8; REGISTERS], value: &[u8]) -> Result<(), Corrupt> {
    if value[4] == ENCODING_DENSE {
        let registers = &value[HEADER_LEN..];
        for (index, slot) in max.iter_mut().enumerate() {
            *slot = (*slot).max(dense_get(registers, index));
        }
        return Ok(());
    }
    let covered = walk_sparse(value, |first, len, register| {
        for slot in &mut max[first..first + len] {
            *slot = (*slot).max(register);
        }
    });
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Estimation (Otmar Ertl, "New cardinality estimation algorithms for HyperLogLog sketches")

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

fn estimate(registers: &[u8; REGISTERS]) -> u64 {
    let mut histogram = [0u32; 64];
    for &register in registers.iter() {
        histogram[register as usize & 63] += 1;
    }
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - histogram[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn count_of(value: &[u8]) -> Result<u64, Corrupt> {
    let mut registers = [0u8; REGISTERS];
    merge_into(&mut registers, value)?;
    Ok(estimate(&registers))
}

// ---------------------------------------------------------------------------------------------
// Commands

/// The HyperLogLog at `key`: Ok(None) if absent; WRONGTYPE for another type or a string that
/// is not one.
fn read_hll<'c>(ctx: &'c Ctx, key: &[u8]) -> Result<Option<&'c CompactBytes>, Reply> {
    match get_string(ctx, key)? {
        Some(value) if !is_valid(value) => Err(Reply::error(errors::HLL_WRONGTYPE)),
        other => Ok(other),
    }
}

/// Stores `value` at `key`, new or replacing the string there (keeping its TTL).
fn store(ctx: &mut Ctx, key: &Bytes, value: Vec<u8>, created: bool) {
    if created {
        add_string(ctx, key, CompactBytes::from(value));
        // Redis creates an HLL as a raw string, whatever its length.
        ctx.db().raise_encoding_floor(key, STRING_FLOOR_RAW);
    } else {
        modify_string(ctx, key, |buffer| *buffer = value);
    }
}

/// PFADD key [element ...]: 1 if a register changed (or the key was created), else 0.
fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    expire_if_needed(ctx, key);
    let (mut value, created) = match read_hll(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => (new_sparse(), true),
        Ok(Some(value)) => (value.to_vec(), false),
    };
    let mut updated = created;
    let mut corrupt = false;
    for element in &args[2..] {
        match add(&mut value, element) {
            Ok(changed) => updated |= changed,
            Err(Corrupt) => {
                corrupt = true;
                break;
            }
        }
    }
    if corrupt {
        // Redis changes the value in place, so registers set before the error stay set.
        if updated {
            store(ctx, key, value, created);
        }
        return Reply::error(errors::HLL_CORRUPT);
    }
    if updated {
        invalidate_cache(&mut value);
        store(ctx, key, value, created);
        ctx.notify(class::STRING, "pfadd", key);
    }
    Reply::Int(updated as i64)
}

/// PFCOUNT key [key ...]: one key uses (never writes, see the module header) the cache; many
/// keys count their union.
fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        let value = match read_hll(ctx, &args[1]) {
            Err(reply) => return reply,
            Ok(None) => return Reply::Int(0),
            Ok(Some(value)) => value,
        };
        if let Some(count) = cached_count(value) {
            return Reply::Int(count as i64);
        }
        return match count_of(value) {
            Ok(count) => Reply::Int(count as i64),
            Err(Corrupt) => Reply::error(errors::HLL_CORRUPT),
        };
    }
    let mut registers = [0u8; REGISTERS];
    for key in &args[1..] {
        match read_hll(ctx, key) {
            Err(reply) => return reply,
            Ok(None) => {}
            Ok(Some(value)) => {
                if merge_into(&mut registers, value).is_err() {
                    return Reply::error(errors::HLL_CORRUPT);
                }
            }
        }
    }
    Reply::Int(estimate(&registers) as i64)
}

/// PFMERGE destkey [sourcekey ...]: the destination (itself one of the inputs) gets every
/// register's maximum; dense if any input is.
fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut registers = [0u8; REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        match read_hll(ctx, key) {
            Err(reply) => return reply,
            Ok(None) => {}
            Ok(Some(value)) => {
                use_dense |= value[4] == ENCODING_DENSE;
                if merge_into(&mut registers, value).is_err() {
                    return Reply::error(errors::HLL_CORRUPT);
                }
            }
        }
    }
    let destination = &args[1];
    let created = !expire_if_needed(ctx, destination);
    let mut value = match read_hll(ctx, destination) {
        Ok(Some(value)) => value.to_vec(),
        _ => new_sparse(),
    };
    if use_dense && sparse_to_dense(&mut value).is_err() {
        return Reply::error(errors::HLL_CORRUPT);
    }
    for (index, &register) in registers.iter().enumerate() {
        if register == 0 {
            continue;
        }
        if value[4] == ENCODING_DENSE {
            dense_set(&mut value, index, register);
        } else {
            // As Redis, a failure here is ignored: the inputs were checked above.
            let _ = sparse_set(&mut value, index, register);
        }
    }
    invalidate_cache(&mut value);
    store(ctx, destination, value, created);
    // Redis reports a merge as a mass PFADD.
    ctx.notify(class::STRING, "pfadd", destination);
    Reply::ok()
}

/// PFDEBUG <GETREG | DECODE | ENCODING | TODENSE> key: Redis's internal debugging command.
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[2];
    expire_if_needed(ctx, key);
    let mut value = match read_hll(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => return Reply::error(errors::HLL_NO_KEY),
        Ok(Some(value)) => value.to_vec(),
    };
    let subcommand = &args[1];
    if is(subcommand, "getreg") || is(subcommand, "todense") {
        let was_sparse = value[4] == ENCODING_SPARSE;
        if was_sparse {
            if sparse_to_dense(&mut value).is_err() {
                return Reply::error(errors::HLL_CORRUPT);
            }
            store(ctx, key, value.clone(), false);
        }
        if is(subcommand, "todense") {
            return Reply::Int(was_sparse as i64);
        }
        let registers = &value[HEADER_LEN..];
        return Reply::Array(
            (0..REGISTERS)
                .map(|index| Reply::Int(dense_get(registers, index) as i64))
                .collect(),
        );
    }
    if is(subcommand, "decode") {
        if value[4] != ENCODING_SPARSE {
            return Reply::error(errors::HLL_NOT_SPARSE);
        }
        let mut decoded = Vec::new();
        let mut p = HEADER_LEN;
        while p < value.len() {
            let op = value[p];
            if is_zero_op(op) {
                decoded.push(format!("z:{}", zero_len(op)));
                p += 1;
            } else if is_xzero_op(op) {
                decoded.push(format!("Z:{}", xzero_len(op, value.get(p + 1).copied().unwrap_or(0))));
                p += 2;
            } else {
                decoded.push(format!("v:{},{}", val_value(op), val_len(op)));
                p += 1;
            }
        }
        return Reply::Bulk(Bytes::from(decoded.join(" ")));
    }
    if is(subcommand, "encoding") {
        return Reply::simple(if value[4] == ENCODING_DENSE { "dense" } else { "sparse" });
    }
    Reply::error_owned(format!(
        "ERR Unknown PFDEBUG subcommand '{}'",
        String::from_utf8_lossy(subcommand)
    ))
}

const HLL_READ: Flags = Flags::READONLY;
const HLL_WRITE: Flags = Flags::WRITE.union(Flags::DENYOOM);

const fn keys(name: &'static str, arity: i32, handler: crate::table::KeyspaceFn) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: -1,
        step: 1,
        group: "hyperloglog",
        since: "2.8.9",
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: HLL_WRITE.union(Flags::FAST),
        last_key: 1,
        acl: &["write", "hyperloglog", "fast"],
        summary: "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        syntax: "key [element [element ...]]",
        key_flags: &[KeyFlags::RW_INSERT],
        ..keys("pfadd", -2, pfadd)
    },
    CommandSpec {
        flags: HLL_READ.union(Flags::MAY_REPLICATE),
        acl: &["read", "hyperloglog", "slow"],
        summary: "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        syntax: "key [key ...]",
        key_flags: &[KeyFlags::RW_ACCESS],
        ..keys("pfcount", -2, pfcount)
    },
    CommandSpec {
        flags: HLL_WRITE,
        acl: &["write", "hyperloglog", "slow"],
        summary: "Merges one or more HyperLogLog values into a single key.",
        syntax: "destkey [sourcekey [sourcekey ...]]",
        key_flags: &[KeyFlags::RW_ACCESS_INSERT, KeyFlags::RO_ACCESS],
        ..keys("pfmerge", -2, pfmerge)
    },
    CommandSpec {
        flags: HLL_WRITE.union(Flags::ADMIN),
        first_key: 2,
        last_key: 2,
        acl: &["write", "hyperloglog", "admin", "slow", "dangerous"],
        summary: "Internal commands for debugging HyperLogLog values.",
        syntax: "subcommand key",
        key_flags: &[KeyFlags::RW_ACCESS],
        ..keys("pfdebug", 3, pfdebug)
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, Harness};

    fn get(t: &mut Harness, key: &str) -> Vec<u8> {
        match t.command(&[b"GET", key.as_bytes()]) {
            Reply::Bulk(bytes) => bytes.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn elements_land_where_redis_puts_them() {
        // Register and value of one element, from PFDEBUG DECODE on redis-server 7.0.15.
        for (element, index, count) in [
            ("a", 12711, 2),
            ("b", 15780, 1),
            ("c", 8436, 1),
            ("hello", 9216, 1),
            ("foo", 7348, 5),
            ("", 5938, 2),
        ] {
            assert_eq!(register_and_count(element.as_bytes()), (index, count), "{element:?}");
        }
    }

    #[test]
    fn empty_sparse_layout() {
        let value = new_sparse();
        assert_eq!(hex(&value), "48594c4c0100000000000000000000007fff");
        assert!(is_valid(&value));
        assert_eq!(cached_count(&value), Some(0));
    }

    /// The bytes (length, crc32, encoding) and count of `PFADD h e0 … e<n-1>` sent in batches
    /// of 100, as redis-server 7.0.15 stores them (GET before any PFCOUNT).
    #[test]
    fn same_bytes_and_counts_as_redis() {
        let reference: &[(usize, usize, u32, u8, i64)] = &[
            (1, 21, 2485392730, 1, 1),
            (3, 27, 3851385050, 1, 3),
            (10, 48, 1818195537, 1, 10),
            (50, 157, 4199488053, 1, 50),
            (100, 285, 1126023989, 1, 100),
            (200, 513, 3296022510, 1, 200),
            (300, 713, 2105608511, 1, 302),
            (500, 1068, 4153960685, 1, 506),
            (1000, 1906, 2541458209, 1, 1008),
            (3000, 12304, 3462743068, 0, 2979),
            (20000, 12304, 527780134, 0, 19901),
        ];
        for &(n, len, crc, encoding, count) in reference {
            let mut t = Harness::new();
            let elements: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
            for batch in elements.chunks(100) {
                let mut args = vec!["PFADD", "h"];
                args.extend(batch.iter().map(String::as_str));
                run(&mut t, &args);
            }
            let value = get(&mut t, "h");
            assert_eq!((value.len(), crc32fast::hash(&value), value[4]), (len, crc, encoding), "n = {n}");
            assert_eq!(run(&mut t, &["PFCOUNT", "h"]), format!(":{count}"), "n = {n}");
        }
        // PFMERGE of two sparse values of 150 elements each.
        let mut t = Harness::new();
        let a: Vec<String> = (0..150).map(|i| format!("x{i}")).collect();
        let b: Vec<String> = (0..150).map(|i| format!("y{i}")).collect();
        let mut args = vec!["PFADD", "a"];
        args.extend(a.iter().map(String::as_str));
        run(&mut t, &args);
        let mut args = vec!["PFADD", "b"];
        args.extend(b.iter().map(String::as_str));
        run(&mut t, &args);
        assert_eq!(run(&mut t, &["PFMERGE", "m", "a", "b"]), "+OK");
        let value = get(&mut t, "m");
        assert_eq!((value.len(), crc32fast::hash(&value), value[4]), (690, 24142048, 1));
        assert_eq!(run(&mut t, &["PFCOUNT", "m"]), ":297");
        assert_eq!(run(&mut t, &["PFCOUNT", "a", "b"]), ":297");
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut registers = vec![0u8; DENSE_LEN - HEADER_LEN];
        for index in 0..REGISTERS {
            dense_put(&mut registers, index, (index % 64) as u8);
        }
        for index in 0..REGISTERS {
            assert_eq!(dense_get(&registers, index), (index % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        sparse_to_dense(&mut dense).unwrap();
        for i in 0..2000 {
            let element = format!("element:{i}");
            let a = add(&mut sparse, element.as_bytes()).unwrap();
            let b = add(&mut dense, element.as_bytes()).unwrap();
            assert_eq!(a, b, "{element}");
        }
        assert_eq!(sparse[4], ENCODING_DENSE, "promoted past the size limit");
        assert_eq!(sparse[HEADER_LEN..], dense[HEADER_LEN..]);
    }

    #[test]
    fn sparse_stays_within_the_limit_and_merges() {
        let mut value = new_sparse();
        for i in 0..300 {
            add(&mut value, format!("{i}").as_bytes()).unwrap();
            if value[4] == ENCODING_SPARSE {
                assert!(value.len() <= SPARSE_BYTES_MAX);
                let mut registers = [0u8; REGISTERS];
                merge_into(&mut registers, &value).unwrap();
            }
        }
    }

    #[test]
    fn estimates_are_close() {
        let mut t = Harness::new();
        for chunk in 0..10 {
            let elements: Vec<String> = (0..1000).map(|i| format!("e{}", chunk * 1000 + i)).collect();
            let mut args = vec!["PFADD", "h"];
            args.extend(elements.iter().map(String::as_str));
            run(&mut t, &args);
        }
        let count: i64 = run(&mut t, &["PFCOUNT", "h"])[1..].parse().unwrap();
        assert!((count - 10000).abs() < 10000 * 3 / 100, "{count}");
    }

    #[test]
    fn commands_and_errors() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["PFCOUNT", "missing"]), ":0");
        assert_eq!(run(&mut t, &["PFADD", "h"]), ":1");
        assert_eq!(run(&mut t, &["PFADD", "h"]), ":0");
        assert_eq!(run(&mut t, &["PFADD", "h", "a", "b", "c"]), ":1");
        assert_eq!(run(&mut t, &["PFADD", "h", "a", "b", "c"]), ":0");
        assert_eq!(run(&mut t, &["PFCOUNT", "h"]), ":3");
        assert_eq!(get(&mut t, "h")[15] & 0x80, 0x80, "PFCOUNT leaves the cache stale");
        assert_eq!(run(&mut t, &["PFDEBUG", "ENCODING", "h"]), "+sparse");
        assert_eq!(run(&mut t, &["PFADD", "g", "c", "d"]), ":1");
        assert_eq!(run(&mut t, &["PFCOUNT", "h", "g", "nokey"]), ":4");
        assert_eq!(run(&mut t, &["PFMERGE", "m", "h", "g"]), "+OK");
        assert_eq!(run(&mut t, &["PFCOUNT", "m"]), ":4");
        assert_eq!(run(&mut t, &["PFDEBUG", "TODENSE", "m"]), ":1");
        assert_eq!(run(&mut t, &["PFDEBUG", "TODENSE", "m"]), ":0");
        assert_eq!(run(&mut t, &["PFDEBUG", "ENCODING", "m"]), "+dense");
        assert_eq!(get(&mut t, "m").len(), DENSE_LEN);
        assert_eq!(run(&mut t, &["PFCOUNT", "m"]), ":4");
        assert_eq!(run(&mut t, &["PFDEBUG", "DECODE", "m"]), "-ERR HLL encoding is not sparse");
        assert_eq!(run(&mut t, &["PFMERGE", "h2", "h", "m"]), "+OK");
        assert_eq!(run(&mut t, &["PFDEBUG", "ENCODING", "h2"]), "+dense", "a dense input makes it dense");
        assert_eq!(run(&mut t, &["PFDEBUG", "GETREG", "nokey"]), "-ERR The specified key does not exist");
        assert_eq!(run(&mut t, &["PFDEBUG", "foo", "h"]), "-ERR Unknown PFDEBUG subcommand 'foo'");
        run(&mut t, &["SET", "s", "hello"]);
        let wrong = "-WRONGTYPE Key is not a valid HyperLogLog string value.";
        assert_eq!(run(&mut t, &["PFADD", "s", "a"]), wrong);
        assert_eq!(run(&mut t, &["PFCOUNT", "s"]), wrong);
        assert_eq!(run(&mut t, &["PFCOUNT", "h", "s"]), wrong);
        assert_eq!(run(&mut t, &["PFMERGE", "h", "s"]), wrong);
        run(&mut t, &["LPUSH", "l", "a"]);
        assert!(run(&mut t, &["PFADD", "l", "a"]).starts_with("-WRONGTYPE Operation"));
    }

    #[test]
    fn decode_shows_the_opcodes() {
        let mut t = Harness::new();
        run(&mut t, &["PFADD", "h", "a", "b"]);
        let decoded = run(&mut t, &["PFDEBUG", "DECODE", "h"]);
        let covered: usize = decoded[1..]
            .split(' ')
            .map(|op| match op.split_at(2) {
                ("z:", n) | ("Z:", n) => n.parse::<usize>().unwrap(),
                ("v:", pair) => pair.split(',').nth(1).unwrap().parse::<usize>().unwrap(),
                _ => panic!("{op}"),
            })
            .sum();
        assert_eq!(covered, REGISTERS);
        let registers = run(&mut t, &["PFDEBUG", "GETREG", "h"]);
        assert_eq!(registers.matches(", ").count() + 1, REGISTERS);
        assert_eq!(run(&mut t, &["PFDEBUG", "ENCODING", "h"]), "+dense", "GETREG makes it dense");
    }

    #[test]
    fn corrupt_sparse_values_are_detected() {
        let mut t = Harness::new();
        let mut value = new_sparse();
        // A run of 16384 + 64 registers.
        value.push(0x3f);
        t.command(&[b"SET", b"h", &value]);
        assert_eq!(run(&mut t, &["PFCOUNT", "h"]), ":0", "the cache of a new HLL is valid");
        value[15] = 0x80;
        value.truncate(HEADER_LEN);
        value.extend_from_slice(&[0x7f, 0xfe, 0x3f]);
        t.command(&[b"SET", b"h", &value]);
        assert_eq!(run(&mut t, &["PFCOUNT", "h"]), "-INVALIDOBJ Corrupted HLL object detected");
    }
}
