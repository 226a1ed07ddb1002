//! Incremental request parser: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
//! commands (`SET a b` typed into telnet).
//!
//! The parser keeps its position between calls, so a 512 MB value that arrives in many reads
//! is scanned once, not re-parsed from the start on every read. Arguments are split off the
//! read buffer without copying.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Largest bulk argument accepted (`proto-max-bulk-len`).
pub const BULK_LEN_MAX: usize = 512 * 1024 * 1024;
/// Largest inline request, and largest header line, accepted.
pub const INLINE_LEN_MAX: usize = 64 * 1024;
/// Largest number of arguments in one multibulk request.
pub const MULTIBULK_LEN_MAX: usize = i32::MAX as usize;
/// Arguments a client that has not authenticated yet may send in one request.
pub const UNAUTHENTICATED_MULTIBULK_LEN_MAX: i64 = 10;
/// Bytes per argument a client that has not authenticated yet may send.
pub const UNAUTHENTICATED_BULK_LEN_MAX: usize = 16 * 1024;
/// Bulks at least this large get their whole size reserved up front so they arrive contiguous.
const BULK_RESERVE_MIN: usize = 32 * 1024;

/// A malformed request. The text is Redis's, to be sent as `-ERR <text>` before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

fn protocol_error(text: &str) -> ProtocolError {
    ProtocolError(format!("Protocol error: {text}"))
}

#[derive(Debug, Default)]
pub struct RequestParser {
    args: Vec<Bytes>,
    /// Bulks still expected by the multibulk request in progress (0: none in progress).
    bulks_remaining: usize,
    /// Length of the bulk whose `$len` header has been consumed but whose data has not.
    bulk_len: Option<usize>,
    /// The connection must still authenticate: requests are held to small sizes, so an
    /// unauthenticated client cannot make the server buffer large amounts of data.
    auth_required: bool,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds requests to the unauthenticated limits while `required` is true.
    pub fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
    }

    /// True while a request has been started but not completed.
    pub fn is_mid_request(&self) -> bool {
        self.bulks_remaining > 0
    }

    /// Takes the next complete request off the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed. An empty argument vector is a request that
    /// carries no command (`*0`, an empty inline line) and should be skipped.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.bulks_remaining == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            if buf[0] != b'*' {
                return parse_inline(buf);
            }
            let Some(line_end) = find_crlf(buf, 1) else {
                if buf.len() > INLINE_LEN_MAX {
                    return Err(protocol_error("too big mbulk count string"));
                }
                return Ok(None);
            };
            let count = parse_length(&buf[1..line_end]);
            let count = match count {
                Some(count) if count <= MULTIBULK_LEN_MAX as i64 => count,
                _ => return Err(protocol_error("invalid multibulk length")),
            };
            if self.auth_required && count > UNAUTHENTICATED_MULTIBULK_LEN_MAX {
                return Err(protocol_error("unauthenticated multibulk length"));
            }
            buf.advance(line_end + 2);
            if count <= 0 {
                return Ok(Some(Vec::new()));
            }
            self.bulks_remaining = count as usize;
            self.args = Vec::with_capacity((count as usize).min(1024));
        }
        while self.bulks_remaining > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    if buf[0] != b'$' {
                        let got = buf[0] as char;
                        return Err(protocol_error(&format!("expected '$', got '{got}'")));
                    }
                    let Some(line_end) = find_crlf(buf, 1) else {
                        if buf.len() > INLINE_LEN_MAX {
                            return Err(protocol_error("too big bulk count string"));
                        }
                        return Ok(None);
                    };
                    let len = match parse_length(&buf[1..line_end]) {
                        Some(len) if len >= 0 && len as usize <= BULK_LEN_MAX => len as usize,
                        _ => return Err(protocol_error("invalid bulk length")),
                    };
                    if self.auth_required && len > UNAUTHENTICATED_BULK_LEN_MAX {
                        return Err(protocol_error("unauthenticated bulk length"));
                    }
                    buf.advance(line_end + 2);
                    // `reserve` counts from the bytes already buffered: ask only for what is
                    // still missing, or a bulk that already arrived whole would be copied.
                    let missing = (len + 2).saturating_sub(buf.len());
                    if len >= BULK_RESERVE_MIN && missing > 0 {
                        buf.reserve(missing);
                    }
                    self.bulk_len = Some(len);
                    len
                }
            };
            if buf.len() < len + 2 {
                return Ok(None);
            }
            let arg = buf.split_to(len).freeze();
            buf.advance(2);
            self.args.push(arg);
            self.bulk_len = None;
            self.bulks_remaining -= 1;
        }
        Ok(Some(std::mem::take(&mut self.args)))
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let limit = buf.len().min(INLINE_LEN_MAX + from + 2);
    let mut pos = from;
    while pos + 1 < limit {
        match memchr(b'\r', &buf[pos..limit]) {
            Some(offset) => {
                let at = pos + offset;
                if at + 1 < buf.len() && buf[at + 1] == b'\n' {
                    return Some(at);
                }
                if at + 1 >= buf.len() {
                    return None;
                }
                pos = at + 1;
            }
            None => return None,
        }
    }
    None
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    memchr::memchr(needle, haystack)
}

/// Parses a signed decimal as Redis's `string2ll` does (no spaces, no `+`, no leading zeros
/// except "0").
fn parse_length(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((digit - b'0') as i64)?;
    }
    Some(if negative { -value } else { value })
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(newline) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_LEN_MAX {
            return Err(protocol_error("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(newline + 1);
    let mut text = &line[..newline];
    if let Some(stripped) = text.strip_suffix(b"\r") {
        text = stripped;
    }
    split_args(text)
        .map(Some)
        .ok_or_else(|| protocol_error("unbalanced quotes in request"))
}

/// Splits an inline request into arguments with the quoting rules of redis-cli / sdssplitargs:
/// double quotes with backslash escapes (`\n`, `\xHH` …), single quotes with `\'`. None when a
/// quote is unbalanced or not followed by a space. Also splits a function library's `#!` line.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while pos < line.len() && line[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let byte = *line.get(pos)?;
                if byte == b'\\' && pos + 3 < line.len() && line[pos + 1] == b'x' {
                    if let (Some(high), Some(low)) = (hex(line[pos + 2]), hex(line[pos + 3])) {
                        current.push(high * 16 + low);
                        pos += 4;
                        continue;
                    }
                }
                if byte == b'\\' && pos + 1 < line.len() {
                    pos += 1;
                    current.push(match line[pos] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if byte == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if pos + 1 < line.len() && !line[pos + 1].is_ascii_whitespace() {
                        return None;
                    }
                    pos += 1;
                    break;
                } else {
                    current.push(byte);
                }
                pos += 1;
            } else if in_single {
                let byte = *line.get(pos)?;
                if byte == b'\\' && pos + 1 < line.len() && line[pos + 1] == b'\'' {
                    pos += 1;
                    current.push(b'\'');
                } else if byte == b'\'' {
                    if pos + 1 < line.len() && !line[pos + 1].is_ascii_whitespace() {
                        return None;
                    }
                    pos += 1;
                    break;
                } else {
                    current.push(byte);
                }
                pos += 1;
            } else {
                match line.get(pos) {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&b) => current.push(b),
                }
                pos += 1;
            }
        }
        args.push(Bytes::from(current));
    }
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parser.parse(&mut buf)? {
            out.push(args);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nSET a \"b c\"\n").unwrap();
        assert_eq!(got[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(got[1], vec![Bytes::from("PING")]);
        assert_eq!(
            got[2],
            vec![Bytes::from("SET"), Bytes::from("a"), Bytes::from("b c")]
        );
    }

    #[test]
    fn byte_at_a_time_gives_the_same_requests() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nkey\r\n\r\n$0\r\n\r\nECHO 'x y'\r\n";
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &byte in input.iter() {
            buf.extend_from_slice(&[byte]);
            while let Some(args) = parser.parse(&mut buf).unwrap() {
                out.push(args);
            }
        }
        assert_eq!(out, parse_all(input).unwrap());
        assert_eq!(out[0][2], Bytes::new());
        assert_eq!(out[0][1], Bytes::from("key\r\n"));
        assert_eq!(out[1][1], Bytes::from("x y"));
    }

    #[test]
    fn errors_use_redis_texts() {
        let err = |input: &[u8]| parse_all(input).unwrap_err().0;
        assert_eq!(err(b"*1\r\nfoo\r\n"), "Protocol error: expected '$', got 'f'");
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*1\r\n$600000000\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(err(b"SET \"a\n"), "Protocol error: unbalanced quotes in request");
        assert_eq!(
            err(&vec![b'a'; INLINE_LEN_MAX + 1]),
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn unauthenticated_requests_are_held_small() {
        let mut parser = RequestParser::new();
        parser.set_auth_required(true);
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            parser.parse(&mut buf).unwrap_err().0,
            "Protocol error: unauthenticated multibulk length"
        );
        let mut parser = RequestParser::new();
        parser.set_auth_required(true);
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"[..]);
        assert_eq!(
            parser.parse(&mut buf).unwrap_err().0,
            "Protocol error: unauthenticated bulk length"
        );
        let mut parser = RequestParser::new();
        parser.set_auth_required(false);
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(parser.parse(&mut buf).unwrap(), None);
    }

    #[test]
    fn empty_requests_are_skippable() {
        assert_eq!(
            parse_all(b"*0\r\n\r\n*-1\r\n").unwrap(),
            vec![Vec::<Bytes>::new(); 3]
        );
    }

    #[test]
    fn inline_escapes() {
        let got = parse_all(b"SET k \"\\x41\\n\"\r\n").unwrap();
        assert_eq!(got[0][2], Bytes::from("A\n"));
    }

    /// split_args is public for function libraries' `#!lua name=…` lines: the quoting rules
    /// apply there as in an inline request.
    #[test]
    fn split_args_quoting() {
        let split = |line: &[u8]| {
            split_args(line).map(|args| args.iter().map(|arg| arg.to_vec()).collect::<Vec<_>>())
        };
        let expected = vec![b"#!lua".to_vec(), b"name=it's".to_vec(), b"a\tb".to_vec()];
        assert_eq!(split(b"#!lua  name='it\\'s' \"a\\tb\""), Some(expected));
        assert_eq!(split(b"   "), Some(vec![]));
        assert_eq!(split(b"name=\"x\"y"), None);
        assert_eq!(split(b"'open"), None);
    }
}
