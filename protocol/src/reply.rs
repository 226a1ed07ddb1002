//! The reply value every command produces, and its encoding for RESP2 and RESP3.
//!
//! Commands build one `Reply` shape and the encoder lowers it for the connection's protocol
//! version: RESP3 maps, sets, doubles, booleans, verbatim strings and pushes become arrays,
//! bulk strings and integers in RESP2, exactly as Redis does.

use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`: status reply.
    Simple(Cow<'static, str>),
    /// `-text`: the text carries the error code prefix (`ERR …`, `WRONGTYPE …`).
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3 (EXEC abort, BLPOP timeout).
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 map; a flat array of key, value, key, value … in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Reply>),
    /// RESP3 double; a bulk string in RESP2.
    Double(f64),
    /// A double in Redis's "human" long double text (`%.17Lf`, trailing zeros removed), as
    /// GEOPOS and WITHCOORD send coordinates: RESP3 double, bulk string in RESP2.
    HumanDouble(f64),
    /// RESP3 boolean; integer 1/0 in RESP2.
    Bool(bool),
    /// RESP3 verbatim string with its 3-letter format (`txt`); a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    /// RESP3 big number; a bulk string in RESP2.
    BigNumber(String),
    /// RESP3 out-of-band push (pub/sub messages); an array in RESP2.
    Push(Vec<Reply>),
    /// Ordered pairs (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES …): an array of two-element
    /// arrays in RESP3, one flat array in RESP2, as Redis 7 replies (a map would lose order).
    Pairs(Vec<(Reply, Reply)>),
    /// A map of keys to aggregates (XREAD, XREADGROUP): a RESP3 map, and in RESP2 an array
    /// of two-element arrays (`[[key, value], …]`), as Redis replies to a RESP2 client.
    PairMap(Vec<(Reply, Reply)>),
    /// Bytes that are already encoded (used to relay replies verbatim).
    Raw(Bytes),
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Cow::Borrowed("OK"));

    pub fn ok() -> Reply {
        Reply::OK
    }

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(text))
    }

    /// A static error text, which must include its code prefix (`ERR …`).
    pub fn error(text: &'static str) -> Reply {
        Reply::Error(Cow::Borrowed(text))
    }

    pub fn error_owned(text: String) -> Reply {
        Reply::Error(Cow::Owned(text))
    }

    pub fn bulk(bytes: impl Into<Bytes>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    pub fn bulk_copy(bytes: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes))
    }

    pub fn bulk_string(text: String) -> Reply {
        Reply::Bulk(Bytes::from(text))
    }

    pub fn bulk_int(value: i64) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(
            itoa::Buffer::new().format(value).as_bytes(),
        ))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    pub fn bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }
}

/// Encodes `reply` for protocol version 2 or 3 (`resp3 == true`) onto `out`.
pub fn encode(reply: &Reply, resp3: bool, out: &mut BytesMut) {
    match reply {
        Reply::Simple(text) => line(out, b'+', text.as_bytes()),
        Reply::Error(text) => line(out, b'-', text.as_bytes()),
        Reply::Int(value) => int_line(out, b':', *value),
        Reply::Bulk(bytes) => bulk(out, bytes),
        Reply::Nil => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Reply::NilArray => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
        Reply::Array(items) => {
            int_line(out, b'*', items.len() as i64);
            for item in items {
                encode(item, resp3, out);
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                int_line(out, b'%', pairs.len() as i64);
            } else {
                int_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (key, value) in pairs {
                encode(key, resp3, out);
                encode(value, resp3, out);
            }
        }
        Reply::Set(items) => {
            int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
            for item in items {
                encode(item, resp3, out);
            }
        }
        Reply::Push(items) => {
            int_line(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
            for item in items {
                encode(item, resp3, out);
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                int_line(out, b'*', pairs.len() as i64);
            } else {
                int_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (first, second) in pairs {
                if resp3 {
                    out.put_slice(b"*2\r\n");
                }
                encode(first, resp3, out);
                encode(second, resp3, out);
            }
        }
        Reply::PairMap(pairs) => {
            int_line(out, if resp3 { b'%' } else { b'*' }, pairs.len() as i64);
            for (key, value) in pairs {
                if !resp3 {
                    out.put_slice(b"*2\r\n");
                }
                encode(key, resp3, out);
                encode(value, resp3, out);
            }
        }
        Reply::Double(value) => {
            let text = format_double(*value);
            if resp3 {
                line(out, b',', text.as_bytes());
            } else {
                bulk(out, text.as_bytes());
            }
        }
        Reply::HumanDouble(value) => {
            let text = format_human_double(*value);
            if resp3 {
                line(out, b',', text.as_bytes());
            } else {
                bulk(out, text.as_bytes());
            }
        }
        Reply::Bool(value) => {
            if resp3 {
                out.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" });
            } else {
                out.put_slice(if *value { b":1\r\n" } else { b":0\r\n" });
            }
        }
        Reply::Verbatim(format, bytes) => {
            if resp3 {
                int_line(out, b'=', bytes.len() as i64 + 4);
                out.put_slice(format.as_bytes());
                out.put_u8(b':');
                out.put_slice(bytes);
                out.put_slice(b"\r\n");
            } else {
                bulk(out, bytes);
            }
        }
        Reply::BigNumber(text) => {
            if resp3 {
                line(out, b'(', text.as_bytes());
            } else {
                bulk(out, text.as_bytes());
            }
        }
        Reply::Raw(bytes) => out.put_slice(bytes),
    }
}

/// Redis's `LD_STR_HUMAN` text of a double: 17 decimals (the exact binary value, rounded),
/// then trailing zeros and a bare point removed; `-0` becomes `0`.
pub fn format_human_double(value: f64) -> String {
    let mut text = format!("{value:.17}");
    if text.contains('.') {
        let len = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(len);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// Formats a double the way Redis 7.2 replies with one: the shortest text that reads back
/// to the same value, `inf` / `-inf` for infinities, exponent form for very large or small
/// magnitudes.
pub fn format_double(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if value.is_nan() {
        return "nan".into();
    }
    if value == value.trunc() && value.abs() < 1e17 {
        // Integral values print without a fraction, like "%.17g" does.
        return itoa::Buffer::new().format(value as i64).to_string();
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value);
    // ryu writes "1e300" / "1e-7"; Redis writes "1e+300" / "1e-07".
    match text.find('e') {
        Some(pos) => {
            let (mantissa, exponent) = text.split_at(pos);
            let mantissa = mantissa.strip_suffix(".0").unwrap_or(mantissa);
            let exponent = &exponent[1..];
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            let padded = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            format!("{mantissa}e{sign}{padded}")
        }
        None => text.to_string(),
    }
}

fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, prefix: u8, value: i64) {
    line(out, prefix, itoa::Buffer::new().format(value).as_bytes());
}

fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    int_line(out, b'$', bytes.len() as i64);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(reply: Reply, resp3: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(&reply, resp3, &mut out);
        out.to_vec()
    }

    #[test]
    fn nulls_follow_the_protocol_version() {
        assert_eq!(enc(Reply::Nil, false), b"$-1\r\n");
        assert_eq!(enc(Reply::NilArray, false), b"*-1\r\n");
        assert_eq!(enc(Reply::Nil, true), b"_\r\n");
        assert_eq!(enc(Reply::NilArray, true), b"_\r\n");
    }

    #[test]
    fn maps_flatten_in_resp2() {
        let map = Reply::Map(vec![(Reply::bulk_copy(b"a"), Reply::Int(1))]);
        assert_eq!(enc(map.clone(), false), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(map, true), b"%1\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn doubles_booleans_and_verbatim() {
        assert_eq!(enc(Reply::Double(1.5), true), b",1.5\r\n");
        assert_eq!(enc(Reply::Double(1.5), false), b"$3\r\n1.5\r\n");
        assert_eq!(enc(Reply::Double(f64::NEG_INFINITY), true), b",-inf\r\n");
        assert_eq!(enc(Reply::Bool(true), false), b":1\r\n");
        assert_eq!(enc(Reply::Bool(false), true), b"#f\r\n");
        assert_eq!(
            enc(Reply::Verbatim("txt", Bytes::from_static(b"hi")), true),
            b"=6\r\ntxt:hi\r\n"
        );
        assert_eq!(enc(Reply::Push(vec![Reply::Int(1)]), true), b">1\r\n:1\r\n");
        assert_eq!(enc(Reply::Push(vec![Reply::Int(1)]), false), b"*1\r\n:1\r\n");
        let pairs = Reply::Pairs(vec![(Reply::bulk_copy(b"a"), Reply::Double(1.5))]);
        assert_eq!(enc(pairs.clone(), true), b"*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n");
        assert_eq!(enc(pairs, false), b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n");
    }

    #[test]
    fn double_text_matches_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-0.5), "-0.5");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1e300), "1e+300");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }
}
