//! `cjson` for scripts: `cjson.encode(value)` and `cjson.decode(text)` as the Lua CJSON 2.1
//! that Redis bundles behaves, with its configuration functions (`encode_max_depth`,
//! `decode_max_depth`, `encode_number_precision`, `encode_sparse_array`,
//! `encode_invalid_numbers`, `decode_invalid_numbers`, `encode_keep_buffer`) and `cjson.null`.
//!
//! Encoding: numbers print as C's `%.14g` (the precision is configurable, 1 to 14); NaN and
//! infinities are refused unless `encode_invalid_numbers` allows them; a table whose keys are
//! all positive integers is an array (up to its largest key, holes as null) unless it is
//! excessively sparse (largest key > 2 × count and > 10: an error by default); any other table
//! is an object whose keys must be strings or numbers, in `next` order; an empty table is
//! `{}`. Strings escape `"`, `\`, `/`, control characters and DEL, and pass other bytes
//! through. Decoding: `null` becomes `cjson.null` (a NULL light userdata), numbers are Lua
//! numbers, `\u` escapes become UTF-8 (surrogate pairs joined); errors say what was expected
//! and at which character, as CJSON says it.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Function, LightUserData, Lua, MultiValue, Table, Value};

use crate::lua_bit::{library_function, type_name};

const DEPTH_MAX_DEFAULT: i64 = 1000;
const PRECISION_DEFAULT: i64 = 14;

#[derive(Clone, Copy)]
enum InvalidNumbers {
    Refuse,
    Allow,
    Null,
}

/// One Lua state's CJSON settings (every run starts with the defaults).
struct Config {
    encode_depth_max: Cell<i64>,
    decode_depth_max: Cell<i64>,
    precision: Cell<i64>,
    sparse_convert: Cell<bool>,
    sparse_ratio: Cell<i64>,
    sparse_safe: Cell<i64>,
    encode_invalid: Cell<InvalidNumbers>,
    decode_invalid: Cell<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_depth_max: Cell::new(DEPTH_MAX_DEFAULT),
            decode_depth_max: Cell::new(DEPTH_MAX_DEFAULT),
            precision: Cell::new(PRECISION_DEFAULT),
            sparse_convert: Cell::new(false),
            sparse_ratio: Cell::new(2),
            sparse_safe: Cell::new(10),
            encode_invalid: Cell::new(InvalidNumbers::Refuse),
            decode_invalid: Cell::new(true),
        }
    }
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// C's `%.<precision>g`.
pub fn format_g(number: f64, precision: usize) -> String {
    if number.is_nan() {
        return if number.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if number.is_infinite() {
        return if number < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let precision = precision.max(1);
    if number == 0.0 {
        return if number.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let scientific = format!("{:.*e}", precision - 1, number);
    let (mantissa, exponent) = scientific.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("a decimal exponent");
    let strip = |text: &str| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text.to_string()
        }
    };
    if exponent < -4 || exponent >= precision as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(mantissa), sign, exponent.unsigned_abs())
    } else {
        let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
        strip(&format!("{:.*}", decimals, number))
    }
}

struct Encoder<'c> {
    config: &'c Config,
    out: Vec<u8>,
}

impl Encoder<'_> {
    fn string(&mut self, bytes: &[u8]) {
        self.out.push(b'"');
        for &byte in bytes {
            match byte {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                8 => self.out.extend_from_slice(b"\\b"),
                9 => self.out.extend_from_slice(b"\\t"),
                10 => self.out.extend_from_slice(b"\\n"),
                12 => self.out.extend_from_slice(b"\\f"),
                13 => self.out.extend_from_slice(b"\\r"),
                0..=31 | 127 => self.out.extend_from_slice(format!("\\u{:04x}", byte).as_bytes()),
                _ => self.out.push(byte),
            }
        }
        self.out.push(b'"');
    }

    fn number(&mut self, number: f64, what: &Value) -> Result<(), String> {
        if number.is_nan() || number.is_infinite() {
            match self.config.encode_invalid.get() {
                InvalidNumbers::Refuse => return Err(exception(what, "must not be NaN or Inf")),
                InvalidNumbers::Null => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                InvalidNumbers::Allow if number.is_nan() => {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                InvalidNumbers::Allow => {}
            }
        }
        let text = format_g(number, self.config.precision.get() as usize);
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn value(&mut self, value: &Value, depth: i64) -> Result<(), String> {
        match value {
            Value::String(text) => self.string(&text.as_bytes()),
            Value::Integer(number) => self.number(*number as f64, value)?,
            Value::Number(number) => self.number(*number, value)?,
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(data) if data.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(table) => {
                let depth = depth + 1;
                if depth > self.config.encode_depth_max.get() {
                    return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                match self.array_length(table, value)? {
                    Some(length) if length > 0 => {
                        self.out.push(b'[');
                        for index in 1..=length {
                            if index > 1 {
                                self.out.push(b',');
                            }
                            let item: Value = table.raw_get(index).map_err(|error| error.to_string())?;
                            self.value(&item, depth)?;
                        }
                        self.out.push(b']');
                    }
                    _ => {
                        self.out.push(b'{');
                        let mut first = true;
                        for pair in table.clone().pairs::<Value, Value>() {
                            let (key, item) = pair.map_err(|error| error.to_string())?;
                            if !first {
                                self.out.push(b',');
                            }
                            first = false;
                            match &key {
                                Value::String(text) => self.string(&text.as_bytes()),
                                Value::Integer(_) | Value::Number(_) => {
                                    self.out.push(b'"');
                                    let number = crate::lua_bit::to_number(&key).expect("a number");
                                    self.number(number, &key)?;
                                    self.out.push(b'"');
                                }
                                other => return Err(exception(other, "table key must be a number or string")),
                            }
                            self.out.push(b':');
                            self.value(&item, depth)?;
                        }
                        self.out.push(b'}');
                    }
                }
            }
            other => return Err(exception(other, "type not supported")),
        }
        Ok(())
    }

    /// The array length of `table` (None: an object), as CJSON decides it.
    fn array_length(&self, table: &Table, value: &Value) -> Result<Option<usize>, String> {
        let (mut largest, mut items) = (0f64, 0i64);
        for pair in table.clone().pairs::<Value, Value>() {
            let (key, _) = pair.map_err(|error| error.to_string())?;
            let number = match key {
                Value::Integer(number) => number as f64,
                Value::Number(number) => number,
                _ => return Ok(None),
            };
            if number.floor() != number || number < 1.0 {
                return Ok(None);
            }
            largest = largest.max(number);
            items += 1;
        }
        let ratio = self.config.sparse_ratio.get();
        if ratio > 0 && largest > (items * ratio) as f64 && largest > self.config.sparse_safe.get() as f64 {
            if !self.config.sparse_convert.get() {
                return Err(exception(value, "excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(Some(largest as usize))
    }
}

fn exception(value: &Value, reason: &str) -> String {
    format!("Cannot serialise {}: {reason}", type_name(Some(value)))
}

fn encode_with(config: &Config, value: &Value) -> Result<Vec<u8>, String> {
    let mut encoder = Encoder { config, out: Vec::new() };
    encoder.value(value, 0)?;
    Ok(encoder.out)
}

/// A token of the JSON text, with the 0-based index where it starts.
#[derive(Debug)]
enum Token {
    ObjectBegin,
    ObjectEnd,
    ArrayBegin,
    ArrayEnd,
    String(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjectBegin => "T_OBJ_BEGIN",
            Token::ObjectEnd => "T_OBJ_END",
            Token::ArrayBegin => "T_ARR_BEGIN",
            Token::ArrayEnd => "T_ARR_END",
            Token::String(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(reason) => reason,
        }
    }
}

struct Decoder<'a, 'c> {
    data: &'a [u8],
    position: usize,
    depth: i64,
    config: &'c Config,
}

impl Decoder<'_, '_> {
    fn next_token(&mut self) -> (Token, usize) {
        while self.data.get(self.position).is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
        let start = self.position;
        let Some(&byte) = self.data.get(self.position) else {
            return (Token::End, start);
        };
        let single = |token| (token, start);
        match byte {
            b'{' => {
                self.position += 1;
                single(Token::ObjectBegin)
            }
            b'}' => {
                self.position += 1;
                single(Token::ObjectEnd)
            }
            b'[' => {
                self.position += 1;
                single(Token::ArrayBegin)
            }
            b']' => {
                self.position += 1;
                single(Token::ArrayEnd)
            }
            b':' => {
                self.position += 1;
                single(Token::Colon)
            }
            b',' => {
                self.position += 1;
                single(Token::Comma)
            }
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b'+' | b'i' | b'I' | b'n' | b'N' if self.config.decode_invalid.get() && self.invalid_number_ahead() => {
                self.number()
            }
            _ => {
                for (word, token) in [(&b"true"[..], Token::Boolean(true)), (b"false", Token::Boolean(false)), (b"null", Token::Null)] {
                    if self.data[self.position..].starts_with(word) {
                        self.position += word.len();
                        return (token, start);
                    }
                }
                (Token::Error("invalid token"), start)
            }
        }
    }

    /// `+1`, `inf`, `nan`: numbers strtod reads, allowed by `decode_invalid_numbers`.
    fn invalid_number_ahead(&self) -> bool {
        let rest = &self.data[self.position..];
        let rest = rest.strip_prefix(b"+").unwrap_or(rest);
        rest.first().is_some_and(u8::is_ascii_digit)
            || rest.len() >= 3 && (rest[..3].eq_ignore_ascii_case(b"inf") || rest[..3].eq_ignore_ascii_case(b"nan"))
    }

    fn number(&mut self) -> (Token, usize) {
        let start = self.position;
        let rest = &self.data[start..];
        // Strict JSON refuses leading zeros and hexadecimal (CJSON's json_is_invalid_number).
        let unsigned = rest.strip_prefix(b"-").unwrap_or(rest);
        let unsigned = if self.config.decode_invalid.get() { unsigned.strip_prefix(b"+").unwrap_or(unsigned) } else { unsigned };
        if !self.config.decode_invalid.get()
            && unsigned.first() == Some(&b'0')
            && unsigned.get(1).is_some_and(|byte| byte.is_ascii_digit() || byte | 0x20 == b'x')
        {
            return (Token::Error("invalid number"), start);
        }
        let lower: Vec<u8> = unsigned.iter().take(8).map(u8::to_ascii_lowercase).collect();
        let sign_len = rest.len() - unsigned.len();
        for word in [&b"infinity"[..], b"inf", b"nan"] {
            if lower.starts_with(word) {
                if !self.config.decode_invalid.get() {
                    return (Token::Error("invalid number"), start);
                }
                self.position += sign_len + word.len();
                let negative = rest.first() == Some(&b'-');
                let value = if word == b"nan" { f64::NAN } else if negative { f64::NEG_INFINITY } else { f64::INFINITY };
                return (Token::Number(value), start);
            }
        }
        let mut end = sign_len;
        let digits = |from: usize| rest[from..].iter().take_while(|byte| byte.is_ascii_digit()).count();
        end += digits(end);
        if rest.get(end) == Some(&b'.') {
            end += 1 + digits(end + 1);
        }
        if rest.get(end).is_some_and(|byte| byte | 0x20 == b'e') {
            let mut exponent = end + 1;
            if rest.get(exponent).is_some_and(|byte| *byte == b'+' || *byte == b'-') {
                exponent += 1;
            }
            let count = digits(exponent);
            if count > 0 {
                end = exponent + count;
            }
        }
        let text = std::str::from_utf8(&rest[..end]).unwrap_or("");
        let text = text.strip_prefix('+').unwrap_or(text);
        match text.parse::<f64>() {
            Ok(value) if end > sign_len => {
                self.position += end;
                (Token::Number(value), start)
            }
            _ => (Token::Error("invalid number"), start),
        }
    }

    fn string(&mut self) -> (Token, usize) {
        let start = self.position;
        self.position += 1;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.data.get(self.position) else {
                return (Token::Error("unexpected end of string"), self.position);
            };
            match byte {
                b'"' => {
                    self.position += 1;
                    return (Token::String(out), start);
                }
                b'\\' => {
                    let escaped = self.data.get(self.position + 1).copied();
                    let plain = match escaped {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 8,
                        Some(b'f') => 12,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            match self.unicode_escape() {
                                Some((code_point, length)) => {
                                    let mut buffer = [0u8; 4];
                                    out.extend_from_slice(code_point.encode_utf8(&mut buffer).as_bytes());
                                    self.position += length;
                                }
                                None => return (Token::Error("invalid unicode escape code"), self.position),
                            }
                            continue;
                        }
                        _ => return (Token::Error("invalid escape code"), self.position),
                    };
                    out.push(plain);
                    self.position += 2;
                }
                _ => {
                    out.push(byte);
                    self.position += 1;
                }
            }
        }
    }

    /// The code point of a `\uXXXX` escape (or surrogate pair) at the position, and its length.
    fn unicode_escape(&self) -> Option<(char, usize)> {
        let hex = |at: usize| -> Option<u32> {
            let digits = self.data.get(at..at + 4)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
        };
        let first = hex(self.position + 2)?;
        if (0xDC00..0xE000).contains(&first) {
            return None;
        }
        if (0xD800..0xDC00).contains(&first) {
            if self.data.get(self.position + 6..self.position + 8) != Some(b"\\u") {
                return None;
            }
            let second = hex(self.position + 8)?;
            if !(0xDC00..0xE000).contains(&second) {
                return None;
            }
            let code_point = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return Some((char::from_u32(code_point)?, 12));
        }
        Some((char::from_u32(first)?, 6))
    }

    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > self.config.decode_depth_max.get() {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.position
            ));
        }
        Ok(())
    }

    fn value(&mut self, lua: &Lua, token: (Token, usize)) -> Result<Value, String> {
        let lua_error = |error: mlua::Error| error.to_string();
        match token.0 {
            Token::String(bytes) => Ok(Value::String(lua.create_string(bytes).map_err(lua_error)?)),
            Token::Number(number) => Ok(Value::Number(number)),
            Token::Boolean(flag) => Ok(Value::Boolean(flag)),
            Token::Null => Ok(null()),
            Token::ObjectBegin => {
                self.descend()?;
                let table = lua.create_table().map_err(lua_error)?;
                let mut token = self.next_token();
                if matches!(token.0, Token::ObjectEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(table));
                }
                loop {
                    let Token::String(key) = token.0 else {
                        return Err(expected("object key string", &token));
                    };
                    let colon = self.next_token();
                    if !matches!(colon.0, Token::Colon) {
                        return Err(expected("colon", &colon));
                    }
                    let next = self.next_token();
                    let item = self.value(lua, next)?;
                    table.raw_set(lua.create_string(key).map_err(lua_error)?, item).map_err(lua_error)?;
                    let separator = self.next_token();
                    match separator.0 {
                        Token::ObjectEnd => break,
                        Token::Comma => token = self.next_token(),
                        _ => return Err(expected("comma or object end", &separator)),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(table))
            }
            Token::ArrayBegin => {
                self.descend()?;
                let table = lua.create_table().map_err(lua_error)?;
                let mut token = self.next_token();
                if matches!(token.0, Token::ArrayEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(table));
                }
                let mut index = 1;
                loop {
                    let item = self.value(lua, token)?;
                    table.raw_set(index, item).map_err(lua_error)?;
                    index += 1;
                    let separator = self.next_token();
                    match separator.0 {
                        Token::ArrayEnd => break,
                        Token::Comma => token = self.next_token(),
                        _ => return Err(expected("comma or array end", &separator)),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(table))
            }
            _ => Err(expected("value", &token)),
        }
    }
}

fn expected(what: &str, token: &(Token, usize)) -> String {
    format!("Expected {what} but found {} at character {}", token.0.name(), token.1 + 1)
}

fn decode_with(lua: &Lua, config: &Config, data: &[u8]) -> Result<Value, String> {
    // CJSON refuses UTF-16 and UTF-32 by looking for a zero byte among the first two.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err("JSON parser does not support UTF-16 or UTF-32".into());
    }
    let mut decoder = Decoder { data, position: 0, depth: 0, config };
    let first = decoder.next_token();
    let value = decoder.value(lua, first)?;
    let end = decoder.next_token();
    if !matches!(end.0, Token::End) {
        return Err(expected("the end", &end));
    }
    Ok(value)
}

/// `cjson.encode_max_depth([n])`-style setting: sets it when given, returns it.
fn integer_setting(args: &MultiValue, name: &str, cell: &Cell<i64>, min: i64, max: i64) -> Result<Vec<Value>, String> {
    if let Some(value) = args.front().filter(|value| !matches!(value, Value::Nil)) {
        let number = crate::lua_bit::to_number(value)
            .ok_or_else(|| format!("bad argument #1 to '{name}' (number expected, got {})", type_name(Some(value))))?;
        let number = number as i64;
        if number < min || number > max {
            return Err(format!("bad argument #1 to '{name}' (expected integer between {min} and {max})"));
        }
        cell.set(number);
    }
    Ok(vec![Value::Number(cell.get() as f64)])
}

/// An on/off setting: `true`/`false` or `"on"`/`"off"`.
fn switch(value: &Value, name: &str, extra: &[&str]) -> Result<String, String> {
    match value {
        Value::Boolean(true) => Ok("on".into()),
        Value::Boolean(false) => Ok("off".into()),
        Value::String(text) => {
            let text = text.to_string_lossy().to_string();
            if text == "on" || text == "off" || extra.contains(&text.as_str()) {
                Ok(text)
            } else {
                Err(format!("bad argument #1 to '{name}' (invalid option '{text}')"))
            }
        }
        other => Err(format!("bad argument #1 to '{name}' (boolean expected, got {})", type_name(Some(other)))),
    }
}

/// A setting of `cjson.*`: its cell in the config, minimum and maximum.
type Setting = fn(&Config) -> (&Cell<i64>, i64, i64);

/// Adds the `cjson` table to the globals of `lua`.
pub fn install(lua: &Lua, wrap: &Function) -> mlua::Result<()> {
    let config = Rc::new(Config::default());
    let cjson = lua.create_table()?;
    let text = |lua: &Lua, bytes: Vec<u8>| -> Result<Value, String> {
        lua.create_string(bytes).map(Value::String).map_err(|error| error.to_string())
    };
    {
        let config = config.clone();
        cjson.raw_set(
            "encode",
            library_function(lua, wrap, move |lua, args| {
                if args.len() != 1 {
                    return Err("bad argument #1 to 'encode' (expected 1 argument)".into());
                }
                Ok(vec![text(lua, encode_with(&config, &args[0])?)?])
            })?,
        )?;
    }
    {
        let config = config.clone();
        cjson.raw_set(
            "decode",
            library_function(lua, wrap, move |lua, args| {
                if args.len() != 1 {
                    return Err("bad argument #1 to 'decode' (expected 1 argument)".into());
                }
                let data = match &args[0] {
                    Value::String(data) => data.as_bytes().to_vec(),
                    Value::Integer(number) => number.to_string().into_bytes(),
                    Value::Number(number) => flotilla_protocol::format_double(*number).into_bytes(),
                    other => {
                        return Err(format!("bad argument #1 to 'decode' (string expected, got {})", type_name(Some(other))))
                    }
                };
                Ok(vec![decode_with(lua, &config, &data)?])
            })?,
        )?;
    }
    let settings: [(&str, Setting); 3] = [
        ("encode_max_depth", |config| (&config.encode_depth_max, 1, i64::from(i32::MAX))),
        ("decode_max_depth", |config| (&config.decode_depth_max, 1, i64::from(i32::MAX))),
        ("encode_number_precision", |config| (&config.precision, 1, 14)),
    ];
    for (name, cell) in settings {
        let config = config.clone();
        cjson.raw_set(
            name,
            library_function(lua, wrap, move |_, args| {
                let (cell, min, max) = cell(&config);
                integer_setting(&args, name, cell, min, max)
            })?,
        )?;
    }
    {
        let config = config.clone();
        cjson.raw_set(
            "encode_sparse_array",
            library_function(lua, wrap, move |_, args| {
                if let Some(value) = args.front().filter(|value| !matches!(value, Value::Nil)) {
                    config.sparse_convert.set(switch(value, "encode_sparse_array", &[])? == "on");
                }
                let rest = MultiValue::from_iter(args.iter().skip(1).cloned());
                integer_setting(&rest, "encode_sparse_array", &config.sparse_ratio, 0, i64::from(i32::MAX))?;
                let safe = MultiValue::from_iter(args.iter().skip(2).cloned());
                integer_setting(&safe, "encode_sparse_array", &config.sparse_safe, 0, i64::from(i32::MAX))?;
                Ok(vec![
                    Value::Boolean(config.sparse_convert.get()),
                    Value::Number(config.sparse_ratio.get() as f64),
                    Value::Number(config.sparse_safe.get() as f64),
                ])
            })?,
        )?;
    }
    {
        let config = config.clone();
        cjson.raw_set(
            "encode_invalid_numbers",
            library_function(lua, wrap, move |lua, args| {
                if let Some(value) = args.front().filter(|value| !matches!(value, Value::Nil)) {
                    config.encode_invalid.set(match switch(value, "encode_invalid_numbers", &["null"])?.as_str() {
                        "on" => InvalidNumbers::Allow,
                        "null" => InvalidNumbers::Null,
                        _ => InvalidNumbers::Refuse,
                    });
                }
                Ok(vec![match config.encode_invalid.get() {
                    InvalidNumbers::Allow => Value::Boolean(true),
                    InvalidNumbers::Refuse => Value::Boolean(false),
                    InvalidNumbers::Null => text(lua, b"null".to_vec())?,
                }])
            })?,
        )?;
    }
    {
        let config = config.clone();
        cjson.raw_set(
            "decode_invalid_numbers",
            library_function(lua, wrap, move |_, args| {
                if let Some(value) = args.front().filter(|value| !matches!(value, Value::Nil)) {
                    config.decode_invalid.set(switch(value, "decode_invalid_numbers", &[])? == "on");
                }
                Ok(vec![Value::Boolean(config.decode_invalid.get())])
            })?,
        )?;
    }
    cjson.raw_set(
        "encode_keep_buffer",
        library_function(lua, wrap, |_, args| {
            if let Some(value) = args.front().filter(|value| !matches!(value, Value::Nil)) {
                switch(value, "encode_keep_buffer", &[])?;
            }
            Ok(vec![Value::Boolean(true)])
        })?,
    )?;
    cjson.raw_set("null", null())?;
    cjson.raw_set("_NAME", "cjson")?;
    cjson.raw_set("_VERSION", "2.1.0")?;
    lua.globals().raw_set("cjson", cjson)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, Harness};

    #[test]
    fn numbers_print_as_percent_14g() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-0.5, "-0.5"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (123456789012345.0, "1.2345678901234e+14"),
            (12345678901234.0, "12345678901234"),
            (std::f64::consts::PI, "3.1415926535898"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e100, "1e+100"),
            (0.0, "0"),
        ];
        for (number, expected) in cases {
            assert_eq!(format_g(*number, 14), *expected, "{number}");
        }
    }

    /// Through EVAL, with the texts Redis 7.0's cjson produces.
    #[test]
    fn scripts_encode_and_decode_as_redis() {
        let mut h = Harness::new();
        let mut eval = |script: &str| run(&mut h, &["EVAL", script, "0"]);
        assert_eq!(eval("return cjson.encode({1, 2.5, 'x', true, false})"), "$[1,2.5,\"x\",true,false]");
        assert_eq!(eval("return cjson.decode('01')"), ":1");
        assert_eq!(eval("return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')"), "$0 -5000 -1 0.0003 1023.2 0");
        assert_eq!(eval("return cjson.encode({a = {b = cjson.null}})"), "${\"a\":{\"b\":null}}");
        assert_eq!(eval("return cjson.encode({})"), "${}");
        assert_eq!(eval("return cjson.encode({[1] = 'a', [3] = 'c'})"), "$[\"a\",null,\"c\"]");
        assert_eq!(eval("return cjson.encode('a/\"\\\\\\n\\1')"), "$\"a\\/\\\"\\\\\\n\\u0001\"");
        assert_eq!(eval("return cjson.encode({[1.5] = 1})"), "${\"1.5\":1}");
        assert_eq!(eval("return cjson.encode(0.1 + 0.2)"), "$0.3");
        let sparse = eval("local ok, err = pcall(cjson.encode, {[20] = 1}) return err");
        assert_eq!(sparse, "$Cannot serialise table: excessively sparse array");
        let function = eval("local ok, err = pcall(cjson.encode, {f = function() end}) return err");
        assert_eq!(function, "$Cannot serialise function: type not supported");
        let infinite = eval("local ok, err = pcall(cjson.encode, 1/0) return err");
        assert_eq!(infinite, "$Cannot serialise number: must not be NaN or Inf");
        assert_eq!(eval("local t = cjson.decode('{\"a\":[1,2,{\"b\":null}]}') return {t.a[1], t.a[2], t.a[3].b == cjson.null}"), "[:1, :2, :1]");
        assert_eq!(eval("return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')"), "$\u{e9}\u{1f600}");
        assert_eq!(eval("return cjson.decode(' [ ] ')[1] == nil"), ":1");
        assert_eq!(eval("return tostring(cjson.decode('-1.5e3'))"), "$-1500");
        assert_eq!(eval("return cjson.encode(cjson.decode('{\"k\":\"v\"}'))"), "${\"k\":\"v\"}");
        let cases = [
            ("{", "Expected object key string but found T_END at character 2"),
            ("[1 2]", "Expected comma or array end but found T_NUMBER at character 4"),
            ("{\"a\" 1}", "Expected colon but found T_NUMBER at character 6"),
            ("", "Expected value but found T_END at character 1"),
            ("[1] x", "Expected the end but found invalid token at character 5"),
            ("-", "Expected value but found invalid number at character 1"),
            ("\"abc", "Expected value but found unexpected end of string at character 5"),
        ];
        for (text, message) in cases {
            let script = format!("local ok, err = pcall(cjson.decode, '{}') return err", text.replace('"', "\\\""));
            assert_eq!(eval(&script), format!("${message}"), "{text}");
        }
        let deep = eval("local ok, err = pcall(cjson.decode, string.rep('[', 1001)) return err");
        assert_eq!(deep, "$Found too many nested data structures (1001) at character 1001");
        assert_eq!(eval("cjson.encode_max_depth(2) local ok, err = pcall(cjson.encode, {{{}}}) return err"), "$Cannot serialise, excessive nesting (3)");
    }
}
