//! `cmsgpack.pack` / `cmsgpack.unpack` for scripts, as Redis's bundled lua-cmsgpack encodes
//! and decodes: integral numbers as the smallest MessagePack integer, other numbers as float32
//! when that is exact and float64 otherwise, strings as str, a table as an array when its keys
//! are exactly 1..n and as a map otherwise; nesting deeper than 16 packs as nil.

use mlua::{Lua, LuaString, MultiValue, Table, Value};

const NESTING_MAX: usize = 16;

/// Adds the `cmsgpack` table to the globals of `lua`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let cmsgpack = lua.create_table()?;
    cmsgpack.raw_set(
        "pack",
        lua.create_function(|lua, values: MultiValue| {
            if values.is_empty() {
                return Err(mlua::Error::RuntimeError("MessagePack pack needs input.".into()));
            }
            let mut out = Vec::new();
            for value in values.iter() {
                encode(&mut out, value, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    cmsgpack.raw_set(
        "unpack",
        lua.create_function(|lua, data: LuaString| {
            let data = data.as_bytes();
            let mut reader = Reader { data: &data, position: 0 };
            let mut values = Vec::new();
            while reader.position < data.len() {
                values.push(decode(lua, &mut reader, 0)?);
            }
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    // unpack_one(s [, offset]) and unpack_limit(s, limit [, offset]) decode at most that many
    // values from `offset` and return the offset after them first (-1 at the end of `s`).
    cmsgpack.raw_set(
        "unpack_one",
        lua.create_function(|lua, (data, offset): (LuaString, Option<i64>)| {
            unpack_some(lua, &data.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    cmsgpack.raw_set(
        "unpack_limit",
        lua.create_function(|lua, (data, limit, offset): (LuaString, i64, Option<i64>)| {
            unpack_some(lua, &data.as_bytes(), limit, offset.unwrap_or(0))
        })?,
    )?;
    lua.globals().raw_set("cmsgpack", cmsgpack)
}

fn unpack_some(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::RuntimeError(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            data.len()
        )));
    }
    if offset as usize > data.len() {
        return Err(mlua::Error::RuntimeError(format!(
            "Start offset {offset} greater than input length {}.",
            data.len()
        )));
    }
    let mut reader = Reader { data, position: offset as usize };
    let mut values = vec![Value::Nil];
    while reader.position < data.len() && ((values.len() - 1) as i64) < limit {
        values.push(decode(lua, &mut reader, 0)?);
    }
    values[0] = Value::Integer(if reader.position == data.len() { -1 } else { reader.position as i64 });
    Ok(MultiValue::from_iter(values))
}

fn encode(out: &mut Vec<u8>, value: &Value, depth: usize) -> mlua::Result<()> {
    match value {
        Value::Boolean(flag) => out.push(if *flag { 0xc3 } else { 0xc2 }),
        Value::Integer(number) => encode_integer(out, *number),
        Value::Number(number) => {
            if number.fract() == 0.0 && number.abs() < 9.2e18 {
                encode_integer(out, *number as i64);
            } else if (*number as f32) as f64 == *number || number.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(*number as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&number.to_be_bytes());
            }
        }
        Value::String(text) => {
            let bytes = text.as_bytes();
            let len = bytes.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len < 0x100 {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len < 0x1_0000 {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&bytes);
        }
        Value::Table(table) if depth < NESTING_MAX => encode_table(out, table, depth)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_integer(out: &mut Vec<u8>, number: i64) {
    if number >= 0 {
        let number = number as u64;
        if number < 0x80 {
            out.push(number as u8);
        } else if number < 0x100 {
            out.extend_from_slice(&[0xcc, number as u8]);
        } else if number < 0x1_0000 {
            out.push(0xcd);
            out.extend_from_slice(&(number as u16).to_be_bytes());
        } else if number < 0x1_0000_0000 {
            out.push(0xce);
            out.extend_from_slice(&(number as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&number.to_be_bytes());
        }
    } else if number >= -32 {
        out.push(number as i8 as u8);
    } else if number >= -128 {
        out.extend_from_slice(&[0xd0, number as i8 as u8]);
    } else if number >= -32_768 {
        out.push(0xd1);
        out.extend_from_slice(&(number as i16).to_be_bytes());
    } else if number >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(number as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&number.to_be_bytes());
    }
}

fn encode_table(out: &mut Vec<u8>, table: &Table, depth: usize) -> mlua::Result<()> {
    // Two walks over the table, each holding one pair at a time: every value held from Rust
    // takes a slot of Lua's stack, and a table of 100,000 strings would overflow it.
    // An array when the keys are exactly the integers 1..n.
    let mut count = 0usize;
    let mut largest_index = 0f64;
    let mut integer_keys = true;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        count += 1;
        match key {
            Value::Integer(index) if index >= 1 => largest_index = largest_index.max(index as f64),
            Value::Number(index) if index.fract() == 0.0 && index >= 1.0 => largest_index = largest_index.max(index),
            _ => integer_keys = false,
        }
    }
    let is_array = integer_keys && largest_index <= count as f64;
    let header = |out: &mut Vec<u8>, fix: u8, sixteen: u8, thirty_two: u8| {
        if count < 16 {
            out.push(fix | count as u8);
        } else if count < 0x1_0000 {
            out.push(sixteen);
            out.extend_from_slice(&(count as u16).to_be_bytes());
        } else {
            out.push(thirty_two);
            out.extend_from_slice(&(count as u32).to_be_bytes());
        }
    };
    if is_array {
        header(out, 0x90, 0xdc, 0xdd);
        for index in 1..=count {
            encode(out, &table.raw_get::<Value>(index)?, depth + 1)?;
        }
    } else {
        header(out, 0x80, 0xde, 0xdf);
        for pair in table.pairs::<Value, Value>() {
            let (key, value) = pair?;
            encode(out, &key, depth + 1)?;
            encode(out, &value, depth + 1)?;
        }
    }
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> mlua::Result<&[u8]> {
        let end = self.position.checked_add(len).filter(|end| *end <= self.data.len());
        let Some(end) = end else {
            return Err(mlua::Error::RuntimeError("Missing bytes in input.".into()));
        };
        let bytes = &self.data[self.position..end];
        self.position = end;
        Ok(bytes)
    }

    fn be(&mut self, len: usize) -> mlua::Result<u64> {
        Ok(self.take(len)?.iter().fold(0u64, |acc, byte| acc << 8 | u64::from(*byte)))
    }
}

fn decode(lua: &Lua, reader: &mut Reader, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(mlua::Error::RuntimeError("Bad data format in input.".into()));
    }
    let tag = reader.take(1)?[0];
    let string = |lua: &Lua, reader: &mut Reader, len: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(reader.take(len)?)?))
    };
    Ok(match tag {
        0x00..=0x7f => Value::Number(f64::from(tag)),
        0xe0..=0xff => Value::Number(f64::from(tag as i8)),
        0x80..=0x8f => decode_map(lua, reader, usize::from(tag & 0x0f), depth)?,
        0x90..=0x9f => decode_array(lua, reader, usize::from(tag & 0x0f), depth)?,
        0xa0..=0xbf => string(lua, reader, usize::from(tag & 0x1f))?,
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xc4 | 0xd9 => {
            let len = reader.be(1)? as usize;
            string(lua, reader, len)?
        }
        0xc5 | 0xda => {
            let len = reader.be(2)? as usize;
            string(lua, reader, len)?
        }
        0xc6 | 0xdb => {
            let len = reader.be(4)? as usize;
            string(lua, reader, len)?
        }
        0xca => Value::Number(f64::from(f32::from_bits(reader.be(4)? as u32))),
        0xcb => Value::Number(f64::from_bits(reader.be(8)?)),
        0xcc => Value::Number(reader.be(1)? as f64),
        0xcd => Value::Number(reader.be(2)? as f64),
        0xce => Value::Number(reader.be(4)? as f64),
        0xcf => Value::Number(reader.be(8)? as f64),
        0xd0 => Value::Number(f64::from(reader.be(1)? as u8 as i8)),
        0xd1 => Value::Number(f64::from(reader.be(2)? as u16 as i16)),
        0xd2 => Value::Number(f64::from(reader.be(4)? as u32 as i32)),
        0xd3 => Value::Number(reader.be(8)? as i64 as f64),
        0xdc => {
            let len = reader.be(2)? as usize;
            decode_array(lua, reader, len, depth)?
        }
        0xdd => {
            let len = reader.be(4)? as usize;
            decode_array(lua, reader, len, depth)?
        }
        0xde => {
            let len = reader.be(2)? as usize;
            decode_map(lua, reader, len, depth)?
        }
        0xdf => {
            let len = reader.be(4)? as usize;
            decode_map(lua, reader, len, depth)?
        }
        _ => return Err(mlua::Error::RuntimeError("Bad data format in input.".into())),
    })
}

fn decode_array(lua: &Lua, reader: &mut Reader, len: usize, depth: usize) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    for index in 1..=len {
        table.raw_set(index, decode(lua, reader, depth + 1)?)?;
    }
    Ok(Value::Table(table))
}

fn decode_map(lua: &Lua, reader: &mut Reader, len: usize, depth: usize) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    for _ in 0..len {
        let key = decode(lua, reader, depth + 1)?;
        let value = decode(lua, reader, depth + 1)?;
        if !matches!(key, Value::Nil) {
            table.raw_set(key, value)?;
        }
    }
    Ok(Value::Table(table))
}
