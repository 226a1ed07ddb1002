//! Parsing of command arguments with Redis's rules (strict integers as `string2ll`, floats as
//! `strtod` without NaN) and the helpers every family uses.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::errors;

/// A strict signed 64-bit integer: optional `-`, digits, no spaces, no `+`, no leading zeros.
pub fn parse_i64(arg: &[u8]) -> Option<i64> {
    if arg.is_empty() || arg.len() > 20 {
        return None;
    }
    if arg == b"0" {
        return Some(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((digit - b'0') as u64)?;
    }
    if negative {
        if value > i64::MAX as u64 + 1 {
            return None;
        }
        Some((value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

pub fn parse_u64(arg: &[u8]) -> Option<u64> {
    parse_i64(arg).and_then(|v| u64::try_from(v).ok())
}

/// A float as Redis accepts it: decimal or exponent form, `inf`/`-inf`/`+inf`; no NaN, no spaces.
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let value = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") || lower.starts_with("0x") {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    (!value.is_nan()).then_some(value)
}

/// C's isspace in the "C" locale.
pub fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtod` makes of the longest number at the start of `text`: the value, the bytes
/// consumed (0 when there is no number) and whether the magnitude over- or underflowed.
pub fn strtod_prefix(text: &[u8]) -> (f64, usize, bool) {
    let mut at = 0;
    while at < text.len() && is_c_space(text[at]) {
        at += 1;
    }
    let start = at;
    if at < text.len() && (text[at] == b'+' || text[at] == b'-') {
        at += 1;
    }
    let negative = text.get(start) == Some(&b'-');
    let rest = &text[at..];
    let word = |word: &str| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes());
    let infinity = if negative { f64::NEG_INFINITY } else { f64::INFINITY };
    if word("infinity") {
        return (infinity, at + 8, false);
    }
    if word("inf") {
        return (infinity, at + 3, false);
    }
    if word("nan") {
        return (f64::NAN, at + 3, false);
    }
    if let Some(parsed) = hex_float(text, at, negative) {
        return parsed;
    }
    let digits_from = |mut i: usize| {
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let integral_end = digits_from(at);
    let mut end = integral_end;
    let mut digits = integral_end - at;
    if end < text.len() && text[end] == b'.' {
        let fraction_end = digits_from(end + 1);
        digits += fraction_end - (end + 1);
        end = fraction_end;
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    let mantissa_end = end;
    if end < text.len() && (text[end] == b'e' || text[end] == b'E') {
        let mut exponent = end + 1;
        if exponent < text.len() && (text[exponent] == b'+' || text[exponent] == b'-') {
            exponent += 1;
        }
        let exponent_end = digits_from(exponent);
        if exponent_end > exponent {
            end = exponent_end;
        }
    }
    let number = std::str::from_utf8(&text[start..end]).expect("ASCII");
    let value: f64 = number.parse().unwrap_or(0.0);
    let nonzero_mantissa = text[start..mantissa_end].iter().any(|d| (b'1'..=b'9').contains(d));
    let range_error = value.is_infinite() || (value == 0.0 && nonzero_mantissa);
    (value, end, range_error)
}

/// `strtod`'s hexadecimal form at `at` (after the sign): `0x1.8p3`. None when there is none
/// (then "0x" without a hex digit parses as the number 0, like any decimal).
fn hex_float(text: &[u8], at: usize, negative: bool) -> Option<(f64, usize, bool)> {
    let rest = &text[at..];
    if rest.len() < 3 || rest[0] != b'0' || (rest[1] | 0x20) != b'x' {
        return None;
    }
    let mut i = at + 2;
    let hex = |byte: u8| (byte as char).to_digit(16);
    let starts = text.get(i).and_then(|b| hex(*b)).is_some()
        || (text.get(i) == Some(&b'.') && text.get(i + 1).and_then(|b| hex(*b)).is_some());
    if !starts {
        return None;
    }
    // Up to 15 significant hex digits are exact in a u64; later ones only scale.
    let (mut mantissa, mut exponent, mut significant, mut nonzero) = (0u64, 0i64, 0, false);
    let mut seen_point = false;
    while i < text.len() {
        if text[i] == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(digit) = hex(text[i]) {
            nonzero |= digit != 0;
            if significant < 15 {
                mantissa = mantissa * 16 + digit as u64;
                if mantissa != 0 {
                    significant += 1;
                }
                if seen_point {
                    exponent -= 4;
                }
            } else if !seen_point {
                exponent += 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if i < text.len() && (text[i] | 0x20) == b'p' {
        let mut j = i + 1;
        let minus = text.get(j) == Some(&b'-');
        if matches!(text.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let digits_start = j;
        let mut power: i64 = 0;
        while j < text.len() && text[j].is_ascii_digit() {
            power = (power * 10 + (text[j] - b'0') as i64).min(1 << 20);
            j += 1;
        }
        if j > digits_start {
            exponent += if minus { -power } else { power };
            i = j;
        }
    }
    let mut value = mantissa as f64;
    let mut remaining = exponent.clamp(-4000, 4000) as i32;
    while remaining != 0 && value != 0.0 && value.is_finite() {
        let step = remaining.clamp(-1000, 1000);
        value *= 2f64.powi(step);
        remaining -= step;
    }
    let value = if negative { -value } else { value };
    let range_error = value.is_infinite() || (value == 0.0 && nonzero);
    Some((value, i, range_error))
}

/// A blocking command's timeout in seconds (a float as `strtold` reads it), checked as Redis's
/// getTimeoutFromObjectOrReply; returns the timeout in milliseconds (0 = forever).
pub fn parse_timeout_ms(arg: &[u8], now_ms: u64) -> Result<u64, Reply> {
    if arg.is_empty() || is_c_space(arg[0]) {
        return Err(Reply::error(errors::TIMEOUT_NOT_FLOAT));
    }
    let (seconds, consumed, _) = strtod_prefix(arg);
    if consumed != arg.len() || seconds.is_nan() {
        return Err(Reply::error(errors::TIMEOUT_NOT_FLOAT));
    }
    let milliseconds = seconds * 1000.0;
    if milliseconds > i64::MAX as f64 {
        return Err(Reply::error(errors::TIMEOUT_OUT_OF_RANGE));
    }
    let milliseconds = milliseconds.ceil();
    if milliseconds < 0.0 {
        return Err(Reply::error(errors::TIMEOUT_NEGATIVE));
    }
    let milliseconds = milliseconds as i64;
    if milliseconds > 0 && milliseconds > i64::MAX - now_ms as i64 {
        return Err(Reply::error(errors::TIMEOUT_OUT_OF_RANGE));
    }
    Ok(milliseconds as u64)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

pub fn bytes_of_i64(value: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(value).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One timeout parser serves every blocking family: `strtold`'s whole forms (hex floats
    /// too), rounded up to milliseconds, with Redis's three errors.
    #[test]
    fn blocking_timeouts_read_as_strtold() {
        assert_eq!(parse_timeout_ms(b"0", 5), Ok(0));
        assert_eq!(parse_timeout_ms(b"0.0001", 5), Ok(1));
        assert_eq!(parse_timeout_ms(b"1.5", 5), Ok(1500));
        assert_eq!(parse_timeout_ms(b"0x10", 5), Ok(16_000));
        assert_eq!(parse_timeout_ms(b"0x1p-1", 5), Ok(500));
        let not_float = Err(Reply::error(errors::TIMEOUT_NOT_FLOAT));
        for bad in [&b""[..], b" 1", b"1 ", b"1e", b"nan", b"x"] {
            assert_eq!(parse_timeout_ms(bad, 5), not_float, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_timeout_ms(b"-1", 5), Err(Reply::error(errors::TIMEOUT_NEGATIVE)));
        assert_eq!(parse_timeout_ms(b"inf", 5), Err(Reply::error(errors::TIMEOUT_OUT_OF_RANGE)));
        let max_seconds = format!("{}", (i64::MAX - 5) / 1000 + 1);
        assert_eq!(parse_timeout_ms(max_seconds.as_bytes(), 5), Err(Reply::error(errors::TIMEOUT_OUT_OF_RANGE)));
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"9223372036854775808"[..],
            b"+1",
            b" 1",
            b"01",
            b"1.0",
            b"",
            b"-",
            b"-0",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn floats_reject_nan_and_spaces() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }
}
