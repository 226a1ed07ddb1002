//! The x87 80-bit extended float ("long double" on x86-64), in software, for INCRBYFLOAT.
//!
//! Redis parses both operands with `strtold`, adds them in long double precision and stores the
//! sum printed with `%.17Lf` (trailing zeros trimmed). Clients see that text, so f64 arithmetic
//! would give visibly different answers (`1.1 + 2.2` is `3.3` in Redis, where f64 gives
//! `3.3000000000000003`). Everything here is exact integer arithmetic: parsing rounds to nearest
//! (ties to even) as glibc does, addition rounds once, and formatting is exact.

use std::cmp::Ordering;

/// Significand bits (the explicit integer bit included).
const MANTISSA_BITS: u64 = 64;
/// Exponent of the least significant significand bit: normal values are `m * 2^e` with
/// `m` in `[2^63, 2^64)` and `e` in `EXP_MIN..=EXP_MAX`; subnormals have `e == EXP_MIN`.
const EXP_MIN: i64 = -16445;
const EXP_MAX: i64 = 16320;
/// Decimal digits `%.17Lf` prints after the point.
const FRACTION_DIGITS: u32 = 17;
/// Longest input `string2ld` accepts (its buffer is 5 KiB including the terminator).
pub const INPUT_LEN_MAX: usize = 5 * 1024 - 1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LongDouble {
    /// `mantissa * 2^exp`, sign apart.
    Finite {
        negative: bool,
        mantissa: u64,
        exp: i64,
    },
    Infinite {
        negative: bool,
    },
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble::Finite {
        negative: false,
        mantissa: 0,
        exp: EXP_MIN,
    };

    /// Parses `text` as Redis's `string2ld` does: the whole text must be one `strtold`
    /// number (decimal, hexadecimal or infinity; no spaces, no NaN), and a result that
    /// overflows or underflows to zero is rejected.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() > INPUT_LEN_MAX {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Infinite { negative });
        }
        let magnitude = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(&body[2..])?
        } else {
            parse_decimal(body)?
        };
        Some(magnitude.with_sign(negative))
    }

    fn with_sign(self, negative: bool) -> LongDouble {
        match self {
            LongDouble::Finite { mantissa, exp, .. } => LongDouble::Finite {
                negative,
                mantissa,
                exp,
            },
            LongDouble::Infinite { .. } => LongDouble::Infinite { negative },
        }
    }

    /// The rounded sum; None when it is infinite or NaN (Redis refuses to store either).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let (
            LongDouble::Finite {
                negative: na,
                mantissa: ma,
                exp: ea,
            },
            LongDouble::Finite {
                negative: nb,
                mantissa: mb,
                exp: eb,
            },
        ) = (self, other)
        else {
            return None;
        };
        if ma == 0 && mb == 0 {
            // -0 + -0 is -0; any other sum of zeros is +0.
            return Some(LongDouble::Finite {
                negative: na && nb,
                mantissa: 0,
                exp: EXP_MIN,
            });
        }
        if ma == 0 {
            return Some(other);
        }
        if mb == 0 {
            return Some(self);
        }
        // An operand more than 130 binary places below the other is under a quarter of the
        // larger one's ulp: the rounded sum is the larger operand.
        if ea - eb > 130 {
            return Some(self);
        }
        if eb - ea > 130 {
            return Some(other);
        }
        let exp = ea.min(eb);
        let a = Big::from_u64(ma).shl((ea - exp) as u64);
        let b = Big::from_u64(mb).shl((eb - exp) as u64);
        let (negative, magnitude) = if na == nb {
            (na, a.add(&b))
        } else {
            match a.cmp(&b) {
                Ordering::Equal => return Some(LongDouble::ZERO),
                Ordering::Greater => (na, a.sub(&b)),
                Ordering::Less => (nb, b.sub(&a)),
            }
        };
        round(&magnitude, exp, false)
            .ok()
            .map(|value| value.with_sign(negative))
    }

    /// `%.17Lf` with trailing fractional zeros (and a bare point) removed, `-0` printed as
    /// `0`: Redis's "human" long double format.
    pub fn to_human_string(self) -> String {
        let (negative, mantissa, exp) = match self {
            LongDouble::Infinite { negative } => return if negative { "-inf" } else { "inf" }.into(),
            LongDouble::Finite {
                negative,
                mantissa,
                exp,
            } => (negative, mantissa, exp),
        };
        let mut text = String::new();
        if negative {
            text.push('-');
        }
        if exp >= 0 {
            text.push_str(&Big::from_u64(mantissa).shl(exp as u64).to_decimal());
        } else {
            // round(mantissa * 10^17 / 2^-exp), ties to even; the product fits in 121 bits.
            let scaled = mantissa as u128 * 10u128.pow(FRACTION_DIGITS);
            let shift = (-exp) as u32;
            let rounded = if shift >= 128 {
                0
            } else {
                let quotient = scaled >> shift;
                let remainder = scaled - (quotient << shift);
                let half = 1u128 << (shift - 1);
                if remainder > half || (remainder == half && quotient & 1 == 1) {
                    quotient + 1
                } else {
                    quotient
                }
            };
            let unit = 10u128.pow(FRACTION_DIGITS);
            text.push_str(&(rounded / unit).to_string());
            let fraction = format!("{:017}", rounded % unit);
            let fraction = fraction.trim_end_matches('0');
            if !fraction.is_empty() {
                text.push('.');
                text.push_str(fraction);
            }
        }
        if text == "-0" {
            text.remove(0);
        }
        text
    }
}

/// Why a value could not be represented: `strtold` reports both as ERANGE.
#[derive(Debug, PartialEq)]
enum Range {
    Overflow,
    Underflow,
}

/// Rounds `magnitude * 2^exp` (plus a nonzero tail below its last bit when `sticky`) to the
/// nearest long double, ties to even. Callers pass at least 66 significant bits when
/// `sticky` is set, so the tail never reaches the rounding position.
fn round(magnitude: &Big, exp: i64, sticky: bool) -> Result<LongDouble, Range> {
    let len = magnitude.bit_len() as i64;
    if len == 0 {
        return Err(Range::Underflow);
    }
    if exp.saturating_add(len) > EXP_MAX + MANTISSA_BITS as i64 {
        return Err(Range::Overflow);
    }
    let mut shift = len - MANTISSA_BITS as i64;
    if exp + shift < EXP_MIN {
        // Subnormal: fewer significant bits are kept.
        shift = EXP_MIN - exp;
    }
    if shift <= 0 {
        return Ok(LongDouble::Finite {
            negative: false,
            mantissa: magnitude.low_u64() << (-shift) as u32,
            exp: exp + shift,
        });
    }
    if shift > len {
        // Below half the smallest subnormal.
        return Err(Range::Underflow);
    }
    let shift = shift as u64;
    let mut kept = magnitude.shr(shift).low_u64() as u128;
    let guard = magnitude.bit(shift - 1);
    let tail = sticky || magnitude.any_below(shift - 1);
    if guard && (tail || kept & 1 == 1) {
        kept += 1;
    }
    let mut exp = exp + shift as i64;
    if kept == 1u128 << MANTISSA_BITS {
        kept >>= 1;
        exp += 1;
    }
    if kept == 0 {
        return Err(Range::Underflow);
    }
    if exp > EXP_MAX {
        return Err(Range::Overflow);
    }
    Ok(LongDouble::Finite {
        negative: false,
        mantissa: kept as u64,
        exp,
    })
}

/// Digits (with an optional point) and an optional exponent introduced by `marker`.
struct Number<'a> {
    integer: &'a [u8],
    fraction: &'a [u8],
    exponent: i64,
}

/// Splits `[digits][.digits][marker[+-]digits]`, requiring at least one digit in the
/// mantissa and the whole text consumed (as `string2ld` checks `strtold`'s end pointer).
fn split(text: &[u8], is_digit: fn(u8) -> bool, marker: u8) -> Option<Number<'_>> {
    let integer_len = text.iter().take_while(|&&c| is_digit(c)).count();
    let integer = &text[..integer_len];
    let mut rest = &text[integer_len..];
    let mut fraction: &[u8] = &[];
    if rest.first() == Some(&b'.') {
        let len = rest[1..].iter().take_while(|&&c| is_digit(c)).count();
        fraction = &rest[1..1 + len];
        rest = &rest[1 + len..];
    }
    if integer.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    if let Some(&first) = rest.first() {
        if first | 0x20 != marker {
            return None;
        }
        let (negative, digits) = match rest.get(1) {
            Some(b'-') => (true, &rest[2..]),
            Some(b'+') => (false, &rest[2..]),
            _ => (false, &rest[1..]),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &digit in digits {
            // Saturates far beyond any representable magnitude.
            exponent = (exponent * 10 + (digit - b'0') as i64).min(1 << 40);
        }
        if negative {
            exponent = -exponent;
        }
    }
    Some(Number {
        integer,
        fraction,
        exponent,
    })
}

/// A decimal `strtold` number without its sign.
fn parse_decimal(text: &[u8]) -> Option<LongDouble> {
    let number = split(text, |c| c.is_ascii_digit(), b'e')?;
    // value = significand * 10^exp10, leading zeros dropped.
    let mut significand = Big::zero();
    let mut significant_digits: i64 = 0;
    for &digit in number.integer.iter().chain(number.fraction.iter()) {
        if significand.is_zero() && digit == b'0' {
            continue;
        }
        significand.mul_small(10);
        significand.add_small((digit - b'0') as u64);
        significant_digits += 1;
    }
    if significand.is_zero() {
        return Some(LongDouble::ZERO);
    }
    let exp10 = number.exponent - number.fraction.len() as i64;
    // Cheap range checks: from 10^4933 on it overflows; under 10^-4952 it is below half the
    // smallest subnormal (3.6e-4951).
    let magnitude10 = exp10 + significant_digits;
    if !(-4952..=4934).contains(&magnitude10) {
        return None;
    }
    let result = if exp10 >= 0 {
        let mut exact = significand;
        exact.mul_pow(10, exp10 as u64);
        round(&exact, 0, false)
    } else {
        // value = significand / 5^j * 2^-j. Scale so the quotient has 120 bits: the 64 kept,
        // the guard bit and plenty more, and it fits in a u128.
        let j = (-exp10) as u64;
        let mut divisor = Big::from_u64(1);
        divisor.mul_pow(5, j);
        let gap = significand.bit_len() as i64 - divisor.bit_len() as i64;
        let (numerator, divisor, exp) = if gap < 119 {
            let s = (119 - gap) as u64;
            (significand.shl(s), divisor, -(j as i64) - s as i64)
        } else if divisor.limbs.len() == 1 {
            // Short division copes with a long quotient.
            (significand, divisor, -(j as i64))
        } else {
            let s = (gap - 119) as u64;
            (significand, divisor.shl(s), -(j as i64) + s as i64)
        };
        let (quotient, exact) = match divisor.limbs[..] {
            // Up to 5^27 the divisor is one limb: short division, the common case.
            [single] => {
                let (quotient, remainder) = numerator.div_small(single);
                (quotient, remainder == 0)
            }
            _ => {
                let (quotient, exact) = numerator.div_to_u128(&divisor);
                (Big::from_u128(quotient), exact)
            }
        };
        round(&quotient, exp, !exact)
    };
    result.ok()
}

/// A hexadecimal `strtold` number after its `0x`.
fn parse_hex(text: &[u8]) -> Option<LongDouble> {
    let number = split(text, |c| c.is_ascii_hexdigit(), b'p')?;
    let mut significand = Big::zero();
    let mut significant_digits: i64 = 0;
    for &digit in number.integer.iter().chain(number.fraction.iter()) {
        let value = (digit as char).to_digit(16).unwrap_or(0) as u64;
        if significand.is_zero() && value == 0 {
            continue;
        }
        significand.mul_small(16);
        significand.add_small(value);
        significant_digits += 1;
    }
    if significand.is_zero() {
        return Some(LongDouble::ZERO);
    }
    let exp2 = number.exponent - 4 * number.fraction.len() as i64;
    let magnitude2 = exp2 + 4 * significant_digits;
    if !(EXP_MIN - 8..=EXP_MAX + MANTISSA_BITS as i64 + 4).contains(&magnitude2) {
        return None;
    }
    round(&significand, exp2, false).ok()
}

/// Just enough of an unsigned big integer for exact conversions: little-endian 64-bit limbs,
/// no leading zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big {
    limbs: Vec<u64>,
}

impl Big {
    fn zero() -> Big {
        Big { limbs: Vec::new() }
    }

    fn from_u64(value: u64) -> Big {
        Big::from_u128(value as u128)
    }

    fn from_u128(value: u128) -> Big {
        let mut big = Big {
            limbs: vec![value as u64, (value >> 64) as u64],
        };
        big.trim();
        big
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(top) => (self.limbs.len() as u64 - 1) * 64 + (64 - top.leading_zeros() as u64),
        }
    }

    fn low_u64(&self) -> u64 {
        self.limbs.first().copied().unwrap_or(0)
    }

    fn bit(&self, index: u64) -> bool {
        self.limbs
            .get((index / 64) as usize)
            .is_some_and(|limb| limb >> (index % 64) & 1 == 1)
    }

    /// True if any bit below `index` is set.
    fn any_below(&self, index: u64) -> bool {
        let whole = (index / 64) as usize;
        if self.limbs[..whole.min(self.limbs.len())]
            .iter()
            .any(|&limb| limb != 0)
        {
            return true;
        }
        let bits = index % 64;
        bits != 0
            && self
                .limbs
                .get(whole)
                .is_some_and(|limb| limb & ((1u64 << bits) - 1) != 0)
    }

    fn mul_small(&mut self, factor: u64) {
        let mut carry: u128 = 0;
        for limb in self.limbs.iter_mut() {
            let product = *limb as u128 * factor as u128 + carry;
            *limb = product as u64;
            carry = product >> 64;
        }
        if carry != 0 {
            self.limbs.push(carry as u64);
        }
        self.trim();
    }

    fn add_small(&mut self, addend: u64) {
        let mut carry = addend;
        for limb in self.limbs.iter_mut() {
            if carry == 0 {
                return;
            }
            let (sum, overflow) = limb.overflowing_add(carry);
            *limb = sum;
            carry = overflow as u64;
        }
        if carry != 0 {
            self.limbs.push(carry);
        }
    }

    /// Multiplies by `base^power`.
    fn mul_pow(&mut self, base: u64, mut power: u64) {
        // The largest power of `base` that fits in a u64, applied in one step.
        let mut chunk = 1u64;
        let mut chunk_power = 0;
        while let Some(next) = chunk.checked_mul(base) {
            chunk = next;
            chunk_power += 1;
        }
        while power >= chunk_power {
            self.mul_small(chunk);
            power -= chunk_power;
        }
        self.mul_small(base.pow(power as u32));
    }

    fn shl(&self, bits: u64) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let whole = (bits / 64) as usize;
        let bits = (bits % 64) as u32;
        let mut limbs = vec![0u64; whole];
        if bits == 0 {
            limbs.extend_from_slice(&self.limbs);
        } else {
            let mut carry = 0u64;
            for &limb in &self.limbs {
                limbs.push(limb << bits | carry);
                carry = limb >> (64 - bits);
            }
            limbs.push(carry);
        }
        let mut big = Big { limbs };
        big.trim();
        big
    }

    fn shr(&self, bits: u64) -> Big {
        let whole = (bits / 64) as usize;
        if whole >= self.limbs.len() {
            return Big::zero();
        }
        let bits = (bits % 64) as u32;
        let source = &self.limbs[whole..];
        let limbs = (0..source.len())
            .map(|i| {
                if bits == 0 {
                    source[i]
                } else {
                    source[i] >> bits | source.get(i + 1).map_or(0, |next| next << (64 - bits))
                }
            })
            .collect();
        let mut big = Big { limbs };
        big.trim();
        big
    }

    fn add(&self, other: &Big) -> Big {
        let len = self.limbs.len().max(other.limbs.len());
        let mut limbs = Vec::with_capacity(len + 1);
        let mut carry = 0u128;
        for i in 0..len {
            let sum =
                *self.limbs.get(i).unwrap_or(&0) as u128 + *other.limbs.get(i).unwrap_or(&0) as u128 + carry;
            limbs.push(sum as u64);
            carry = sum >> 64;
        }
        limbs.push(carry as u64);
        let mut big = Big { limbs };
        big.trim();
        big
    }

    /// `self - other`, for `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        let mut limbs = self.limbs.clone();
        let mut borrow = false;
        for (i, limb) in limbs.iter_mut().enumerate() {
            let (diff, b1) = limb.overflowing_sub(*other.limbs.get(i).unwrap_or(&0));
            let (diff, b2) = diff.overflowing_sub(borrow as u64);
            *limb = diff;
            borrow = b1 || b2;
        }
        debug_assert!(!borrow);
        let mut big = Big { limbs };
        big.trim();
        big
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// Quotient of `self / divisor` (which must fit in a u128) and whether it is exact.
    fn div_to_u128(&self, divisor: &Big) -> (u128, bool) {
        let mut remainder = self.clone();
        let len = self.bit_len();
        let divisor_len = divisor.bit_len();
        let mut quotient: u128 = 0;
        if len >= divisor_len {
            let top = len - divisor_len;
            debug_assert!(top < 128);
            let mut shifted = divisor.shl(top);
            for position in (0..=top).rev() {
                if remainder.cmp(&shifted) != Ordering::Less {
                    remainder = remainder.sub(&shifted);
                    quotient |= 1u128 << position;
                }
                shifted = shifted.shr(1);
            }
        }
        (quotient, remainder.is_zero())
    }

    /// Quotient and remainder of the division by a nonzero `divisor`.
    fn div_small(&self, divisor: u64) -> (Big, u64) {
        let mut limbs = self.limbs.clone();
        let mut remainder: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let current = remainder << 64 | *limb as u128;
            *limb = (current / divisor as u128) as u64;
            remainder = current % divisor as u128;
        }
        let mut quotient = Big { limbs };
        quotient.trim();
        (quotient, remainder as u64)
    }

    /// Decimal digits ("0" for zero).
    fn to_decimal(&self) -> String {
        const CHUNK: u128 = 10_000_000_000_000_000_000;
        let mut chunks = Vec::new();
        let mut value = self.limbs.clone();
        while !value.is_empty() {
            let mut remainder: u128 = 0;
            for limb in value.iter_mut().rev() {
                let current = remainder << 64 | *limb as u128;
                *limb = (current / CHUNK) as u64;
                remainder = current % CHUNK;
            }
            chunks.push(remainder as u64);
            while value.last() == Some(&0) {
                value.pop();
            }
        }
        let mut text = chunks
            .pop()
            .map_or_else(|| "0".to_string(), |top| top.to_string());
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:019}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).unwrap();
        let b = LongDouble::parse(b.as_bytes()).unwrap();
        a.checked_add(b).unwrap().to_human_string()
    }

    fn human(text: &str) -> String {
        LongDouble::parse(text.as_bytes()).unwrap().to_human_string()
    }

    #[test]
    fn prints_as_redis_does() {
        assert_eq!(human("10.5"), "10.5");
        assert_eq!(human("3.0"), "3");
        assert_eq!(human("-0"), "0");
        assert_eq!(human("0"), "0");
        assert_eq!(human("17179869184"), "17179869184");
        assert_eq!(human("1e20"), "100000000000000000000");
        assert_eq!(human("0.1"), "0.1");
        assert_eq!(human("1e-18"), "0");
        assert_eq!(human("-1e-18"), "0");
        assert_eq!(human("inf"), "inf");
        assert_eq!(human("0x10"), "16");
        assert_eq!(human("0x1.8p1"), "3");
    }

    #[test]
    fn adds_in_extended_precision() {
        assert_eq!(sum("1.1", "2.2"), "3.3");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("1.5", "1.5"), "3");
        assert_eq!(sum("17179869184", "1.5"), "17179869185.5");
        assert_eq!(sum("17179869184", "17179869184"), "34359738368");
        assert_eq!(sum("1", "-1.1"), "-0.1");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        // Checked against glibc's strtold, x87 addition and printf("%.17Lf").
        for (a, b, expected) in [
            ("0.1", "0.2", "0.3"),
            ("55000", "1.1", "55001.10000000000000142"),
            ("1e10", "0.1", "10000000000.09999999962747097"),
            ("-1e-5", "3", "2.99999"),
            ("0.0753429248852", "-78e13", "-779999999999999.9246826171875"),
            ("418.036519565278", "-0", "418.03651956527799999"),
            ("-1.506327130379264e+19", "0.586944106093", "-15063271303792639999"),
            ("0.328602830914346277779714", "-497240", "-497239.67139716908565106"),
            ("57625.45118", "46846.19", "104471.64118000000000563"),
            ("488.2280502103331", "36442736516965931399883.723", "36442736516965931399168"),
            ("832515", "-4308.99", "828206.00999999999999091"),
            ("0x1.8p-2", "66042", "66042.375"),
        ] {
            assert_eq!(sum(a, b), expected, "{a} + {b}");
        }
    }

    #[test]
    fn rejects_what_strtold_would_not_take_whole() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "1e+", ".", "-", "nan", "NaN", "0x", "1.2.3", "infx", "1\u{0}2",
            "1e5000", "1e-5000",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in [
            "+1", ".5", "5.", "-inf", "INFINITY", "1E3", "0x1P-2", "00012", "0e-99999",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
    }

    #[test]
    fn infinite_sums_are_refused() {
        let max = LongDouble::parse(b"1.1e4932").unwrap();
        assert_eq!(max.checked_add(max), None);
        let inf = LongDouble::parse(b"inf").unwrap();
        assert_eq!(inf.checked_add(LongDouble::ZERO), None);
    }
}
