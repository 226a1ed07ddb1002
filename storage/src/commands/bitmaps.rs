//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//!
//! Bitmaps are string values; bit 0 is the most significant bit of the first byte. Missing
//! keys read as an endless run of zero bits; writes zero-pad the string up to the highest bit
//! they touch (at most `STRING_LEN_MAX` bytes). Replies, errors and notifications are Redis
//! 7.2's, including its order of checks.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{is, parse_i64};
use crate::commands::keys::STRING_FLOOR_RAW;
use crate::commands::strings::{add_string, expire_if_needed, get_string, modify_string, STRING_LEN_MAX};
use crate::ctx::{class, Ctx};
use crate::errors;
use crate::table::{CommandSpec, Flags, Handler, KeyFlags};
use crate::value::{stored, CompactBytes, Value};

/// A bit offset as SETBIT, GETBIT and BITFIELD take it: non-negative and inside the string
/// size limit. With `unit` (BITFIELD), `#n` means `n * unit`.
fn parse_bit_offset(arg: &[u8], unit: Option<u32>) -> Result<u64, Reply> {
    let error = || Reply::error(errors::BIT_OFFSET);
    let (scaled, digits) = match (arg.first(), unit) {
        (Some(b'#'), Some(_)) => (true, &arg[1..]),
        _ => (false, arg),
    };
    let mut offset = parse_i64(digits).ok_or_else(error)?;
    if scaled {
        offset = offset.checked_mul(unit.unwrap_or(1) as i64).ok_or_else(error)?;
    }
    if offset < 0 || (offset as u64 >> 3) >= STRING_LEN_MAX {
        return Err(error());
    }
    Ok(offset as u64)
}

fn bit_at(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes.get(byte).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// SETBIT key offset value: replies with the bit's previous value.
fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let offset = match parse_bit_offset(&args[2], None) {
        Ok(offset) => offset,
        Err(reply) => return reply,
    };
    let on = match parse_i64(&args[3]) {
        Some(value @ (0 | 1)) => value == 1,
        _ => return Reply::error(errors::BIT_VALUE),
    };
    expire_if_needed(ctx, key);
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let (old, grows) = match get_string(ctx, key) {
        Err(reply) => return reply,
        Ok(None) => {
            add_string(ctx, key, CompactBytes::from(vec![0u8; byte + 1]));
            (false, true)
        }
        Ok(Some(value)) => (bit_at(value, offset), value.len() <= byte),
    };
    if grows || old != on {
        modify_string(ctx, key, |buffer| {
            if buffer.len() <= byte {
                buffer.resize(byte + 1, 0);
            }
            if on {
                buffer[byte] |= mask;
            } else {
                buffer[byte] &= !mask;
            }
        });
        ctx.notify(class::STRING, "setbit", key);
    } else {
        // Redis unshares the string before it looks at the bit: raw even when unchanged.
        ctx.db().raise_encoding_floor(key, STRING_FLOOR_RAW);
    }
    Reply::Int(old as i64)
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match parse_bit_offset(&args[2], None) {
        Ok(offset) => offset,
        Err(reply) => return reply,
    };
    match get_string(ctx, &args[1]) {
        Ok(value) => Reply::Int(value.is_some_and(|v| bit_at(v, offset)) as i64),
        Err(reply) => reply,
    }
}

/// An inclusive, non-empty range of bit positions.
struct BitRange {
    first: u64,
    last: u64,
}

/// Resolves an inclusive `start..=end` over `len` units the way BITCOUNT and BITPOS do.
fn clamp_range(mut start: i64, mut end: i64, len: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    (start <= end).then_some((start, end))
}

fn to_bit_range(range: Option<(i64, i64)>, in_bits: bool) -> Option<BitRange> {
    let (start, end) = range?;
    Some(if in_bits {
        BitRange {
            first: start as u64,
            last: end as u64,
        }
    } else {
        BitRange {
            first: start as u64 * 8,
            last: end as u64 * 8 + 7,
        }
    })
}

fn parse_unit(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(Reply::error(errors::SYNTAX))
    }
}

/// Set bits in the inclusive bit range.
fn count_bits(bytes: &[u8], range: &BitRange) -> u64 {
    let first_byte = (range.first >> 3) as usize;
    let last_byte = (range.last >> 3) as usize;
    let mut count = popcount(&bytes[first_byte..=last_byte]);
    // Take away the bits of the edge bytes that lie outside the range.
    let head = (range.first & 7) as u32;
    if head != 0 {
        count -= (bytes[first_byte] >> (8 - head)).count_ones() as u64;
    }
    let tail = 7 - (range.last & 7) as u32;
    if tail != 0 {
        count -= (bytes[last_byte] & ((1u8 << tail) - 1)).count_ones() as u64;
    }
    count
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut count: u64 = (&mut words)
        .map(|word| u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])).count_ones() as u64)
        .sum();
    count += words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>();
    count
}

/// BITCOUNT key [start end [BYTE | BIT]]
fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let value = match get_string(ctx, &args[1]) {
        Ok(Some(value)) => value,
        Ok(None) => return Reply::Int(0),
        Err(reply) => return reply,
    };
    let len = value.len() as i64;
    let range = match args.len() {
        2 => to_bit_range(clamp_range(0, -1, len), false),
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
                return Reply::error(errors::NOT_INTEGER);
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let in_bits = match args.get(4).map(|unit| parse_unit(unit)) {
                Some(Err(reply)) => return reply,
                Some(Ok(in_bits)) => in_bits,
                None => false,
            };
            let units = if in_bits { len * 8 } else { len };
            to_bit_range(clamp_range(start, end, units), in_bits)
        }
        _ => return Reply::error(errors::SYNTAX),
    };
    Reply::Int(range.map_or(0, |range| count_bits(value, &range)) as i64)
}

/// First bit equal to `bit` in the inclusive range, if any.
fn find_bit(bytes: &[u8], range: &BitRange, bit: bool) -> Option<u64> {
    // Look for a set bit in the bytes (inverted when searching for a clear one).
    let skip = if bit { 0x00 } else { 0xFF };
    let last_byte = (range.last >> 3) as usize;
    let mut byte = (range.first >> 3) as usize;
    while byte <= last_byte {
        // Whole words that cannot hold a match are skipped at once.
        if byte + 8 <= last_byte && (range.first >> 3) as usize != byte {
            let word = &bytes[byte..byte + 8];
            if word.iter().all(|&b| b == skip) {
                byte += 8;
                continue;
            }
        }
        let value = if bit { bytes[byte] } else { !bytes[byte] };
        let mut mask = 0xFFu8;
        if byte == (range.first >> 3) as usize {
            mask &= 0xFF >> (range.first & 7);
        }
        if byte == last_byte {
            mask &= 0xFF << (7 - (range.last & 7));
        }
        let hits = value & mask;
        if hits != 0 {
            return Some(byte as u64 * 8 + hits.leading_zeros() as u64);
        }
        byte += 1;
    }
    None
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let bit = match parse_i64(&args[2]) {
        Some(bit @ (0 | 1)) => bit == 1,
        Some(_) => return Reply::error(errors::BIT_ARGUMENT),
        None => return Reply::error(errors::NOT_INTEGER),
    };
    let value = match get_string(ctx, &args[1]) {
        Ok(Some(value)) => value,
        // A missing key is an endless run of zeros.
        Ok(None) => return Reply::Int(if bit { -1 } else { 0 }),
        Err(reply) => return reply,
    };
    let len = value.len() as i64;
    let mut end_given = false;
    let range = match args.len() {
        3 => to_bit_range(clamp_range(0, -1, len), false),
        4..=6 => {
            let Some(start) = parse_i64(&args[3]) else {
                return Reply::error(errors::NOT_INTEGER);
            };
            let in_bits = match args.get(5).map(|unit| parse_unit(unit)) {
                Some(Err(reply)) => return reply,
                Some(Ok(in_bits)) => in_bits,
                None => false,
            };
            let units = if in_bits { len * 8 } else { len };
            let end = match args.get(4) {
                Some(end) => match parse_i64(end) {
                    Some(end) => {
                        end_given = true;
                        end
                    }
                    None => return Reply::error(errors::NOT_INTEGER),
                },
                None => units - 1,
            };
            to_bit_range(clamp_range(start, end, units), in_bits)
        }
        _ => return Reply::error(errors::SYNTAX),
    };
    let Some(range) = range else {
        // An empty range holds neither a 0 nor a 1.
        return Reply::Int(-1);
    };
    match find_bit(value, &range, bit) {
        Some(position) => Reply::Int(position as i64),
        // Without an explicit end the string is taken as zero-padded on the right.
        None if !bit && !end_given => Reply::Int(range.last as i64 + 1),
        None => Reply::Int(-1),
    }
}

/// BITOP <AND | OR | XOR | NOT> destkey key [key ...]
fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match &args[1] {
        name if is(name, "and") => Op::And,
        name if is(name, "or") => Op::Or,
        name if is(name, "xor") => Op::Xor,
        name if is(name, "not") => Op::Not,
        _ => return Reply::error(errors::SYNTAX),
    };
    if op == Op::Not && args.len() != 4 {
        return Reply::error(errors::BITOP_NOT_SOURCES);
    }
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        expire_if_needed(ctx, key);
        match get_string(ctx, key) {
            Ok(value) => sources.push(value.map(CompactBytes::to_bytes).unwrap_or_default()),
            Err(reply) => return reply,
        }
    }
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let destination = &args[2];
    let exists = expire_if_needed(ctx, destination);
    if len == 0 {
        let now_ms = ctx.now_ms;
        if ctx.db().remove(destination, now_ms).is_some() {
            ctx.notify(class::GENERIC, "del", destination);
        }
        return Reply::Int(0);
    }
    let byte = |source: &Bytes, i: usize| source.get(i).copied().unwrap_or(0);
    let mut result = vec![0u8; len];
    for (i, out) in result.iter_mut().enumerate() {
        let first = byte(&sources[0], i);
        let rest = sources[1..].iter().map(|source| byte(source, i));
        *out = match op {
            Op::And => rest.fold(first, |acc, b| acc & b),
            Op::Or => rest.fold(first, |acc, b| acc | b),
            Op::Xor => rest.fold(first, |acc, b| acc ^ b),
            Op::Not => !first,
        };
    }
    let key = stored(destination);
    if !exists {
        ctx.notify(class::NEW, "new", &key);
    }
    ctx.db().insert(&key, Value::Str(CompactBytes::from(result)));
    // Redis stores the result as a new raw string, whatever its length.
    ctx.db().raise_encoding_floor(&key, STRING_FLOOR_RAW);
    ctx.notify(class::STRING, "set", &key);
    Reply::Int(len as i64)
}

// ---------------------------------------------------------------------------------------------
// BITFIELD

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

struct Field {
    op: FieldOp,
    offset: u64,
    /// SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// `i1`..`i64` or `u1`..`u63`.
fn parse_field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let error = || Reply::error(errors::BITFIELD_TYPE);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(error()),
    };
    match parse_i64(&arg[1..]) {
        Some(bits) if bits >= 1 && bits <= if signed { 64 } else { 63 } => Ok((signed, bits as u32)),
        _ => Err(error()),
    }
}

fn parse_fields(args: &[Bytes]) -> Result<Vec<Field>, Reply> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let name = &args[j];
        let op = if is(name, "get") && remaining >= 2 {
            FieldOp::Get
        } else if is(name, "set") && remaining >= 3 {
            FieldOp::Set
        } else if is(name, "incrby") && remaining >= 3 {
            FieldOp::IncrBy
        } else if is(name, "overflow") && remaining >= 1 {
            let kind = &args[j + 1];
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(Reply::error(errors::BITFIELD_OVERFLOW_TYPE));
            };
            j += 2;
            continue;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        };
        let (signed, bits) = parse_field_type(&args[j + 1])?;
        let offset = parse_bit_offset(&args[j + 2], Some(bits))?;
        let value = if op == FieldOp::Get {
            0
        } else {
            parse_i64(&args[j + 3]).ok_or(Reply::error(errors::NOT_INTEGER))?
        };
        fields.push(Field {
            op,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(fields)
}

/// Reads `bits` bits at bit `offset` as an unsigned integer; bits past the end are zeros.
fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |value, i| value << 1 | bit_at(bytes, offset + i) as u64)
}

fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(bytes, offset, bits);
    if bits < 64 && value & (1u64 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (the bytes must be long enough).
fn set_unsigned(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let on = value & (1u64 << (bits as u64 - 1 - i)) != 0;
        let position = offset + i;
        let mask = 0x80u8 >> (position & 7);
        let byte = &mut bytes[(position >> 3) as usize];
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// Overflow check for an unsigned field: `Some(result)` when `value + increment` does not fit
/// (the wrapped or saturated result; meaningless for FAIL), None when it fits.
fn unsigned_overflow(value: u64, increment: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let max_increment = max.wrapping_sub(value) as i64;
    let min_increment = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(increment as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (increment > 0 && increment > max_increment) {
        Some(if overflow == Overflow::Sat { max } else { wrapped() })
    } else if increment < 0 && increment < min_increment {
        Some(if overflow == Overflow::Sat { 0 } else { wrapped() })
    } else {
        None
    }
}

/// As `unsigned_overflow`, for a signed field.
fn signed_overflow(value: i64, increment: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_increment = (max as u64).wrapping_sub(value as u64) as i64;
    let min_increment = min.wrapping_sub(value);
    let wrapped = || {
        let mut sum = (value as u64).wrapping_add(increment as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if sum & (1u64 << (bits - 1)) != 0 {
                sum |= mask;
            } else {
                sum &= !mask;
            }
        }
        sum as i64
    };
    if value > max
        || (bits != 64 && increment > max_increment)
        || (value >= 0 && increment > 0 && increment > max_increment)
    {
        Some(if overflow == Overflow::Sat { max } else { wrapped() })
    } else if value < min
        || (bits != 64 && increment < min_increment)
        || (value < 0 && increment < 0 && increment < min_increment)
    {
        Some(if overflow == Overflow::Sat { min } else { wrapped() })
    } else {
        None
    }
}

/// Applies one SET or INCRBY: the reply (nil when FAIL refused it) and whether bits changed.
fn apply_field(bytes: &mut [u8], field: &Field) -> (Reply, bool) {
    let fail = field.overflow == Overflow::Fail;
    if field.signed {
        let old = get_signed(bytes, field.offset, field.bits);
        let (new, overflowed, reply) = if field.op == FieldOp::IncrBy {
            match signed_overflow(old, field.value, field.bits, field.overflow) {
                Some(limit) => (limit, true, limit),
                None => (
                    old.wrapping_add(field.value),
                    false,
                    old.wrapping_add(field.value),
                ),
            }
        } else {
            match signed_overflow(field.value, 0, field.bits, field.overflow) {
                Some(limit) => (limit, true, old),
                None => (field.value, false, old),
            }
        };
        if overflowed && fail {
            return (Reply::Nil, false);
        }
        set_unsigned(bytes, field.offset, field.bits, new as u64);
        (Reply::Int(reply), old != new)
    } else {
        let old = get_unsigned(bytes, field.offset, field.bits);
        let (new, overflowed, reply) = if field.op == FieldOp::IncrBy {
            match unsigned_overflow(old, field.value, field.bits, field.overflow) {
                Some(limit) => (limit, true, limit),
                None => {
                    let sum = old.wrapping_add(field.value as u64);
                    (sum, false, sum)
                }
            }
        } else {
            match unsigned_overflow(field.value as u64, 0, field.bits, field.overflow) {
                Some(limit) => (limit, true, old),
                None => (field.value as u64, false, old),
            }
        };
        if overflowed && fail {
            return (Reply::Nil, false);
        }
        set_unsigned(bytes, field.offset, field.bits, new);
        (Reply::Int(reply as i64), old != new)
    }
}

fn get_field(bytes: &[u8], field: &Field) -> Reply {
    if field.signed {
        Reply::Int(get_signed(bytes, field.offset, field.bits))
    } else {
        Reply::Int(get_unsigned(bytes, field.offset, field.bits) as i64)
    }
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only_command: bool) -> Reply {
    let key = &args[1];
    let fields = match parse_fields(args) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let highest_write = fields
        .iter()
        .filter(|field| field.op != FieldOp::Get)
        .map(|field| field.offset + field.bits as u64 - 1)
        .max();
    let Some(highest_write) = highest_write else {
        // Only GETs: a read, which creates nothing.
        if !read_only_command {
            expire_if_needed(ctx, key);
        }
        return match get_string(ctx, key) {
            Ok(value) => {
                let value = value.map_or(&[][..], |v| &v[..]);
                Reply::Array(fields.iter().map(|field| get_field(value, field)).collect())
            }
            Err(reply) => reply,
        };
    };
    if read_only_command {
        return Reply::error(errors::BITFIELD_RO_WRITE);
    }
    expire_if_needed(ctx, key);
    let needed = (highest_write >> 3) as usize + 1;
    let created = match get_string(ctx, key) {
        Err(reply) => return reply,
        Ok(Some(_)) => false,
        Ok(None) => {
            add_string(ctx, key, CompactBytes::from(vec![0u8; needed]));
            true
        }
    };
    let (replies, changes) = modify_string(ctx, key, |buffer: &mut Vec<u8>| {
        let grown = buffer.len() < needed;
        if grown {
            buffer.resize(needed, 0);
        }
        let dirty = created || grown;
        let mut changes = 0;
        let replies: Vec<Reply> = fields
            .iter()
            .map(|field| {
                if field.op == FieldOp::Get {
                    return get_field(buffer, field);
                }
                let (reply, changed) = apply_field(buffer, field);
                if !matches!(reply, Reply::Nil) && (dirty || changed) {
                    changes += 1;
                }
                reply
            })
            .collect();
        (replies, changes)
    });
    if changes > 0 {
        ctx.notify(class::STRING, "setbit", key);
    } else {
        // Redis unshares the string before it looks at the bit: raw even when unchanged.
        ctx.db().raise_encoding_floor(key, STRING_FLOOR_RAW);
    }
    Reply::Array(replies)
}

fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, true)
}

const BITMAP_READ: Flags = Flags::READONLY;
const BITMAP_WRITE: Flags = Flags::WRITE.union(Flags::DENYOOM);

const fn one_key(name: &'static str, arity: i32, handler: crate::table::KeyspaceFn) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "bitmap",
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

/// BITFIELD's key flags for COMMAND GETKEYSANDFLAGS: read-only when every operation is a GET
/// (OVERFLOW alone changes nothing); anything else, a malformed one too, may write.
fn bitfield_key_flags(args: &[Bytes]) -> KeyFlags {
    let mut position = 2;
    while position < args.len() {
        let remaining = args.len() - position - 1;
        let arg = &args[position];
        if is(arg, "GET") && remaining >= 2 {
            position += 3;
        } else if is(arg, "OVERFLOW") && remaining >= 1 {
            position += 2;
        } else {
            return KeyFlags::RW_ACCESS_UPDATE;
        }
    }
    KeyFlags::RO_ACCESS
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: BITMAP_WRITE,
        acl: &["write", "bitmap", "slow"],
        since: "2.2.0",
        summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        syntax: "key offset value",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE],
        ..one_key("setbit", 4, setbit)
    },
    CommandSpec {
        flags: BITMAP_READ.union(Flags::FAST),
        acl: &["read", "bitmap", "fast"],
        since: "2.2.0",
        summary: "Returns a bit value by offset.",
        syntax: "key offset",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("getbit", 3, getbit)
    },
    CommandSpec {
        flags: BITMAP_READ,
        acl: &["read", "bitmap", "slow"],
        since: "2.6.0",
        summary: "Counts the number of set bits (population counting) in a string.",
        syntax: "key [start end [BYTE | BIT]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("bitcount", -2, bitcount)
    },
    CommandSpec {
        flags: BITMAP_READ,
        acl: &["read", "bitmap", "slow"],
        since: "2.8.7",
        summary: "Finds the first set (1) or clear (0) bit in a string.",
        syntax: "key bit [start [end [BYTE | BIT]]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("bitpos", -3, bitpos)
    },
    CommandSpec {
        flags: BITMAP_WRITE,
        first_key: 2,
        last_key: -1,
        acl: &["write", "bitmap", "slow"],
        since: "2.6.0",
        summary: "Performs bitwise operations on multiple strings, and stores the result.",
        syntax: "<AND | OR | XOR | NOT> destkey key [key ...]",
        key_flags: &[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS],
        ..one_key("bitop", -4, bitop)
    },
    CommandSpec {
        flags: BITMAP_WRITE,
        acl: &["write", "bitmap", "slow"],
        since: "3.2.0",
        summary: "Performs arbitrary bitfield integer operations on strings.",
        syntax: "key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> ...]]",
        key_flags: &[KeyFlags::RW_ACCESS_UPDATE_VARIABLE],
        key_flags_finder: Some(bitfield_key_flags),
        ..one_key("bitfield", -2, bitfield)
    },
    CommandSpec {
        flags: BITMAP_READ.union(Flags::FAST),
        acl: &["read", "bitmap", "fast"],
        since: "6.0.0",
        summary: "Performs arbitrary read-only bitfield integer operations on strings.",
        syntax: "key [GET encoding offset [encoding offset ...]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("bitfield_ro", -2, bitfield_ro)
    },
];

#[cfg(test)]
mod tests {
    use crate::testing::{run, Harness};

    fn set_bytes(t: &mut Harness, key: &str, bytes: &[u8]) {
        t.command(&[b"SET", key.as_bytes(), bytes]);
    }

    fn get_bytes(t: &mut Harness, key: &str) -> Vec<u8> {
        match t.command(&[b"GET", key.as_bytes()]) {
            flotilla_protocol::Reply::Bulk(bytes) => bytes.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    fn wrong_type(t: &mut Harness, key: &'static [u8]) {
        t.machine.keyspace.dbs[0].insert(bytes::Bytes::from_static(key), crate::value::Value::new_hash());
    }

    #[test]
    fn setbit_and_getbit() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["SETBIT", "k", "1", "1"]), ":0");
        assert_eq!(get_bytes(&mut t, "k"), [0b0100_0000]);
        assert_eq!(t.take_notification_texts(), ["new:k", "setbit:k"]);
        assert_eq!(run(&mut t, &["SETBIT", "k", "1", "1"]), ":1");
        assert!(t.take_notification_texts().is_empty());
        assert_eq!(run(&mut t, &["SETBIT", "k", "1", "0"]), ":1");
        assert_eq!(run(&mut t, &["SETBIT", "k", "9", "0"]), ":0");
        assert_eq!(get_bytes(&mut t, "k"), [0, 0]);
        set_bytes(&mut t, "k", b"1");
        assert_eq!(run(&mut t, &["SETBIT", "k", "6", "1"]), ":0");
        assert_eq!(get_bytes(&mut t, "k"), [0b0011_0011]);
        assert_eq!(run(&mut t, &["GETBIT", "k", "2"]), ":1");
        assert_eq!(run(&mut t, &["GETBIT", "k", "1"]), ":0");
        assert_eq!(run(&mut t, &["GETBIT", "k", "10000"]), ":0");
        assert_eq!(run(&mut t, &["GETBIT", "missing", "0"]), ":0");
        let bad_offset = "-ERR bit offset is not an integer or out of range";
        assert_eq!(run(&mut t, &["SETBIT", "k", "4294967296", "1"]), bad_offset);
        assert_eq!(run(&mut t, &["SETBIT", "k", "-1", "1"]), bad_offset);
        assert_eq!(run(&mut t, &["GETBIT", "k", "x"]), bad_offset);
        let bad_bit = "-ERR bit is not an integer or out of range";
        for value in ["-1", "2", "10", "x"] {
            assert_eq!(run(&mut t, &["SETBIT", "k", "0", value]), bad_bit);
        }
        wrong_type(&mut t, b"h");
        assert!(run(&mut t, &["SETBIT", "h", "0", "1"]).starts_with("-WRONGTYPE"));
        assert!(run(&mut t, &["GETBIT", "h", "0"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn bitcount() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["BITCOUNT", "missing"]), ":0");
        set_bytes(&mut t, "k", b"foobar");
        assert_eq!(run(&mut t, &["BITCOUNT", "k"]), ":26");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "0", "0"]), ":4");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "1", "1"]), ":6");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "1", "1", "BYTE"]), ":6");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "5", "30", "BIT"]), ":17");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "-1", "-2"]), ":0");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "0", "-1", "bit"]), ":26");
        assert_eq!(run(&mut t, &["BITCOUNT", "k", "0"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["BITCOUNT", "k", "0", "1", "x"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["BITCOUNT", "k", "a", "1"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["BITCOUNT", "missing", "0"]), ":0");
    }

    #[test]
    fn bitpos() {
        let mut t = Harness::new();
        assert_eq!(run(&mut t, &["BITPOS", "missing", "1"]), ":-1");
        assert_eq!(run(&mut t, &["BITPOS", "missing", "0"]), ":0");
        set_bytes(&mut t, "k", b"\xff\xf0\x00");
        assert_eq!(run(&mut t, &["BITPOS", "k", "0"]), ":12");
        set_bytes(&mut t, "k", b"\x00\xff\xf0");
        assert_eq!(run(&mut t, &["BITPOS", "k", "1", "0"]), ":8");
        assert_eq!(run(&mut t, &["BITPOS", "k", "1", "2"]), ":16");
        assert_eq!(run(&mut t, &["BITPOS", "k", "1", "2", "-1", "BYTE"]), ":16");
        assert_eq!(run(&mut t, &["BITPOS", "k", "1", "7", "15", "BIT"]), ":8");
        assert_eq!(run(&mut t, &["BITPOS", "k", "1", "7", "-3", "BIT"]), ":8");
        set_bytes(&mut t, "k", b"\xff\xff\xff");
        assert_eq!(run(&mut t, &["BITPOS", "k", "0"]), ":24");
        assert_eq!(run(&mut t, &["BITPOS", "k", "0", "0"]), ":24");
        assert_eq!(run(&mut t, &["BITPOS", "k", "0", "0", "-1"]), ":-1");
        assert_eq!(run(&mut t, &["BITPOS", "k", "0", "3", "-1", "BIT"]), ":-1");
        assert_eq!(
            run(&mut t, &["BITPOS", "k", "0", "3", "BIT"]),
            "-ERR value is not an integer or out of range"
        );
        set_bytes(&mut t, "k", b"");
        assert_eq!(run(&mut t, &["BITPOS", "k", "0"]), ":-1");
        assert_eq!(
            run(&mut t, &["BITPOS", "k", "2"]),
            "-ERR The bit argument must be 1 or 0."
        );
        assert_eq!(
            run(&mut t, &["BITPOS", "k", "x"]),
            "-ERR value is not an integer or out of range"
        );
        set_bytes(&mut t, "k", b"\x00");
        assert_eq!(
            run(&mut t, &["BITPOS", "k", "1", "0", "0", "x"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut t, &["BITPOS", "k", "1", "0", "0", "bit", "x"]),
            "-ERR syntax error"
        );
    }

    #[test]
    fn bitop() {
        let mut t = Harness::new();
        set_bytes(&mut t, "a", b"foobar");
        set_bytes(&mut t, "b", b"abcdef");
        assert_eq!(run(&mut t, &["BITOP", "AND", "d", "a", "b"]), ":6");
        assert_eq!(get_bytes(&mut t, "d"), b"`bc`ab");
        assert_eq!(run(&mut t, &["BITOP", "or", "d", "a", "b"]), ":6");
        assert_eq!(get_bytes(&mut t, "d"), b"goofev");
        set_bytes(&mut t, "s", b"\x01");
        assert_eq!(run(&mut t, &["BITOP", "XOR", "d", "a", "s"]), ":6");
        assert_eq!(get_bytes(&mut t, "d"), b"goobar");
        assert_eq!(run(&mut t, &["BITOP", "NOT", "d", "s"]), ":1");
        assert_eq!(get_bytes(&mut t, "d"), [0xfe]);
        assert_eq!(
            run(&mut t, &["BITOP", "NOT", "d", "a", "b"]),
            "-ERR BITOP NOT must be called with a single source key."
        );
        assert_eq!(run(&mut t, &["BITOP", "NAND", "d", "a"]), "-ERR syntax error");
        t.take_notification_texts();
        assert_eq!(run(&mut t, &["BITOP", "AND", "d", "x", "y"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "d"]), ":0");
        assert_eq!(t.take_notification_texts(), ["del:d"]);
        wrong_type(&mut t, b"h");
        assert!(run(&mut t, &["BITOP", "AND", "d", "a", "h"]).starts_with("-WRONGTYPE"));
        // The destination may hold any type: it is overwritten.
        assert_eq!(run(&mut t, &["BITOP", "NOT", "h", "s"]), ":1");
        assert_eq!(get_bytes(&mut t, "h"), [0xfe]);
    }

    #[test]
    fn bitfield() {
        let mut t = Harness::new();
        assert_eq!(
            run(
                &mut t,
                &["BITFIELD", "k", "SET", "i8", "0", "100", "GET", "u4", "0"]
            ),
            "[:0, :6]"
        );
        assert_eq!(get_bytes(&mut t, "k"), [100]);
        assert_eq!(t.take_notification_texts(), ["new:k", "setbit:k"]);
        assert_eq!(
            run(&mut t, &["BITFIELD", "k", "INCRBY", "i8", "0", "100"]),
            "[:-56]"
        );
        assert_eq!(
            run(
                &mut t,
                &["BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-100"]
            ),
            "[:-128]"
        );
        assert_eq!(
            run(
                &mut t,
                &["BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1"]
            ),
            "[nil]"
        );
        assert_eq!(
            run(
                &mut t,
                &["BITFIELD", "k", "SET", "u8", "#1", "255", "GET", "u16", "0"]
            ),
            "[:0, :33023]"
        );
        assert_eq!(
            run(
                &mut t,
                &[
                    "BITFIELD", "k", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2", "102",
                    "5"
                ]
            ),
            "[:1, :3]"
        );
        assert_eq!(
            run(
                &mut t,
                &["BITFIELD", "k", "OVERFLOW", "WRAP", "INCRBY", "u2", "100", "7"]
            ),
            "[:0]"
        );
        assert_eq!(
            run(&mut t, &["BITFIELD", "k", "GET", "i64", "0"]),
            "[:-9151595917793558528]"
        );
        assert_eq!(run(&mut t, &["BITFIELD_RO", "k", "GET", "u8", "0"]), "[:128]");
        assert_eq!(run(&mut t, &["BITFIELD_RO", "missing", "GET", "u8", "0"]), "[:0]");
        assert_eq!(run(&mut t, &["BITFIELD", "missing", "GET", "u8", "0"]), "[:0]");
        assert_eq!(run(&mut t, &["EXISTS", "missing"]), ":0");
        assert_eq!(
            run(&mut t, &["BITFIELD_RO", "k", "SET", "u8", "0", "1"]),
            "-ERR BITFIELD_RO only supports the GET subcommand"
        );
        let bad_type = "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        assert_eq!(run(&mut t, &["BITFIELD", "k", "GET", "u64", "0"]), bad_type);
        assert_eq!(run(&mut t, &["BITFIELD", "k", "GET", "i65", "0"]), bad_type);
        assert_eq!(run(&mut t, &["BITFIELD", "k", "GET", "x8", "0"]), bad_type);
        assert_eq!(
            run(&mut t, &["BITFIELD", "k", "GET", "u8", "-1"]),
            "-ERR bit offset is not an integer or out of range"
        );
        assert_eq!(
            run(&mut t, &["BITFIELD", "k", "OVERFLOW", "foo"]),
            "-ERR Invalid OVERFLOW type specified"
        );
        assert_eq!(run(&mut t, &["BITFIELD", "k", "GET", "u8"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["BITFIELD", "k", "SET", "u8", "0", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(run(&mut t, &["BITFIELD", "k"]), "[]");
        wrong_type(&mut t, b"h");
        assert!(run(&mut t, &["BITFIELD", "h", "SET", "u8", "0", "1"]).starts_with("-WRONGTYPE"));
        assert!(run(&mut t, &["BITFIELD", "h", "GET", "u8", "0"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn bitfield_overflow_rules_match_redis() {
        use super::*;
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Wrap), Some(251));
        assert_eq!(unsigned_overflow(5, -5, 8, Overflow::Wrap), None);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Wrap), Some(127));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Sat), Some(i64::MAX));
        assert_eq!(signed_overflow(300, 0, 8, Overflow::Wrap), Some(44));
        assert_eq!(signed_overflow(-3, 2, 8, Overflow::Wrap), None);
    }

    /// Random string and bitmap commands with edge-case arguments never panic (a panic in
    /// the state machine would stop every replica); deterministic generator, small values.
    #[test]
    fn random_commands_never_panic() {
        let mut t = Harness::new();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let numbers = [
            "0",
            "1",
            "-1",
            "2",
            "7",
            "8",
            "9",
            "63",
            "64",
            "65",
            "100",
            "-100",
            "255",
            "1000",
            "4294967296",
            "9223372036854775807",
            "-9223372036854775808",
            "x",
            "",
            "#1",
            "#-1",
            "1.5",
            "inf",
            "-inf",
            "1e308",
            "0x10",
            "+1",
            "34359738368",
        ];
        let words = [
            "GET",
            "SET",
            "INCRBY",
            "OVERFLOW",
            "WRAP",
            "SAT",
            "FAIL",
            "i8",
            "u8",
            "i64",
            "u63",
            "u1",
            "i1",
            "BIT",
            "BYTE",
            "EX",
            "PX",
            "EXAT",
            "PXAT",
            "KEEPTTL",
            "PERSIST",
            "NX",
            "XX",
            "LEN",
            "IDX",
            "MINMATCHLEN",
            "WITHMATCHLEN",
            "AND",
            "OR",
            "XOR",
            "NOT",
        ];
        let keys = ["a", "b", "c", "h"];
        let commands = [
            "set",
            "get",
            "getex",
            "getdel",
            "getset",
            "mget",
            "mset",
            "msetnx",
            "setnx",
            "setex",
            "psetex",
            "incr",
            "decr",
            "incrby",
            "decrby",
            "incrbyfloat",
            "append",
            "strlen",
            "getrange",
            "substr",
            "setrange",
            "lcs",
            "setbit",
            "getbit",
            "bitcount",
            "bitpos",
            "bitop",
            "bitfield",
            "bitfield_ro",
        ];
        wrong_type(&mut t, b"h");
        for _ in 0..20_000 {
            let mut args: Vec<Vec<u8>> = vec![commands[next(commands.len())].as_bytes().to_vec()];
            for i in 0..next(8) {
                let arg = match next(4) {
                    0 if i < 2 => keys[next(keys.len())].to_string(),
                    1 => words[next(words.len())].to_string(),
                    2 => "v".repeat(next(20)),
                    _ => numbers[next(numbers.len())].to_string(),
                };
                args.push(arg.into_bytes());
            }
            let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            t.command(&args);
            t.now_ms += next(3) as u64;
            t.events.clear();
        }
    }
}
