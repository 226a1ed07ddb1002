//! `struct` for scripts: `struct.pack(fmt, …)`, `struct.unpack(fmt, data [, init])` and
//! `struct.size(fmt)` with the format letters of the struct library Redis bundles, on a 64-bit
//! little-endian machine as Redis runs on ours:
//! `>` / `<` big / little endian, `!n` maximum alignment (default 8), `b`/`B` char, `h`/`H`
//! short (2), `l`/`L` long (8), `T` size_t (8), `i`/`I` int of n bytes (default 4, at most 32),
//! `f` float, `d` double, `s` zero-terminated string, `cn` n chars (`c0`: the whole string when
//! packing, the previous number's length when unpacking), `x` a zero byte, ` ` ignored.
//! Lower-case integer letters are signed. Elements are aligned to min(size, alignment).

use mlua::{Function, Lua, MultiValue, Value};

use crate::lua_bit::{check_number, library_function, type_name, LibraryResult};

/// Bytes of the largest integer format (`i32`).
const INT_SIZE_MAX: usize = 32;
/// Default maximum alignment: that of a double after a char on x86-64.
const ALIGN_MAX: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header { little: true, align: 1 }
    }
}

/// A format string being read.
struct Format<'a> {
    bytes: &'a [u8],
    position: usize,
    /// The function name for argument errors.
    name: &'static str,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.position)?;
        self.position += 1;
        Some(byte)
    }

    fn number(&mut self, default: usize) -> Result<usize, String> {
        if !self.bytes.get(self.position).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut value: usize = 0;
        while let Some(digit) = self.bytes.get(self.position).filter(|byte| byte.is_ascii_digit()) {
            value = value
                .checked_mul(10)
                .and_then(|value| value.checked_add(usize::from(digit - b'0')))
                .filter(|value| *value <= i32::MAX as usize)
                .ok_or_else(|| "integral size overflow".to_string())?;
            self.position += 1;
        }
        Ok(value)
    }

    /// The size of option `option` (reading its count, if it takes one).
    fn size(&mut self, option: u8) -> Result<usize, String> {
        Ok(match option {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > INT_SIZE_MAX {
                    return Err(format!("integral size {size} is larger than limit of {INT_SIZE_MAX}"));
                }
                size
            }
            _ => 0,
        })
    }

    /// Applies a control option (`<`, `>`, `!`, space); anything else is an invalid option.
    fn control(&mut self, option: u8, header: &mut Header) -> Result<(), String> {
        match option {
            b' ' => {}
            b'>' => header.little = false,
            b'<' => header.little = true,
            b'!' => {
                let align = self.number(ALIGN_MAX)?;
                if !align.is_power_of_two() {
                    return Err(format!("alignment {align} is not a power of 2"));
                }
                header.align = align;
            }
            other => {
                return Err(format!("bad argument #1 to '{}' (invalid format option '{}')", self.name, other as char));
            }
        }
        Ok(())
    }
}

/// Padding that aligns an element of `size` at `len`.
fn padding(len: usize, header: &Header, option: u8, size: usize) -> usize {
    if size == 0 || option == b'c' {
        return 0;
    }
    let size = size.min(header.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn check_string(args: &MultiValue, position: usize, name: &str) -> Result<Vec<u8>, String> {
    match args.get(position - 1) {
        Some(Value::String(text)) => Ok(text.as_bytes().to_vec()),
        Some(Value::Integer(number)) => Ok(number.to_string().into_bytes()),
        Some(Value::Number(number)) => Ok(flotilla_protocol::format_double(*number).into_bytes()),
        other => Err(format!("bad argument #{position} to '{name}' (string expected, got {})", type_name(other))),
    }
}

pub fn pack(args: &MultiValue) -> Result<Vec<u8>, String> {
    let format = check_string(args, 1, "pack")?;
    let mut format = Format { bytes: &format, position: 0, name: "pack" };
    let mut header = Header::default();
    let mut out = Vec::new();
    let mut arg = 2;
    while let Some(option) = format.next() {
        let mut size = format.size(option)?;
        let pad = padding(out.len(), &header, option, size);
        out.resize(out.len() + pad, 0);
        match option {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let number = check_number(args, arg, "pack")?;
                arg += 1;
                let mut value = if number < 0.0 { number as i64 as u64 } else { number as u64 };
                let mut bytes = vec![0u8; size];
                for byte in bytes.iter_mut() {
                    *byte = value as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                if !header.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let value = check_number(args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if header.little { value.to_le_bytes() } else { value.to_be_bytes() });
            }
            b'd' => {
                let value = check_number(args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if header.little { value.to_le_bytes() } else { value.to_be_bytes() });
            }
            b'c' | b's' => {
                let text = check_string(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = text.len();
                }
                if text.len() < size {
                    return Err(format!("bad argument #{arg} to 'pack' (string too short)"));
                }
                out.extend_from_slice(&text[..size]);
                if option == b's' {
                    out.push(0);
                }
            }
            other => format.control(other, &mut header)?,
        }
    }
    Ok(out)
}

fn integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut value: u64 = 0;
    let ordered: Vec<u8> = if little { bytes.iter().rev().copied().collect() } else { bytes.to_vec() };
    for byte in ordered {
        value = value.checked_shl(8).unwrap_or(0) | u64::from(byte);
    }
    if !signed {
        return value as f64;
    }
    let mask = u64::MAX.checked_shl((bytes.len() * 8).saturating_sub(1) as u32).unwrap_or(0);
    if value & mask != 0 {
        value |= mask;
    }
    value as i64 as f64
}

pub fn unpack(lua: &Lua, args: &MultiValue) -> LibraryResult {
    let format = check_string(args, 1, "unpack")?;
    let data = check_string(args, 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => check_number(args, 3, "unpack")?,
    };
    if start < 1.0 {
        return Err("bad argument #3 to 'unpack' (offset must be 1 or greater)".into());
    }
    let mut position = start as usize - 1;
    let mut format = Format { bytes: &format, position: 0, name: "unpack" };
    let mut header = Header::default();
    let mut values: Vec<Value> = Vec::new();
    let too_short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    let string = |bytes: &[u8]| lua.create_string(bytes).map(Value::String).map_err(|error| error.to_string());
    while let Some(option) = format.next() {
        let mut size = format.size(option)?;
        position += padding(position, &header, option, size);
        if size > data.len() || position > data.len() - size {
            return Err(too_short());
        }
        match option {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = option.is_ascii_lowercase();
                values.push(Value::Number(integer(&data[position..position + size], header.little, signed)));
            }
            b'x' => {}
            b'f' => {
                let bytes: [u8; 4] = data[position..position + 4].try_into().expect("4 bytes");
                let value = if header.little { f32::from_le_bytes(bytes) } else { f32::from_be_bytes(bytes) };
                values.push(Value::Number(f64::from(value)));
            }
            b'd' => {
                let bytes: [u8; 8] = data[position..position + 8].try_into().expect("8 bytes");
                let value = if header.little { f64::from_le_bytes(bytes) } else { f64::from_be_bytes(bytes) };
                values.push(Value::Number(value));
            }
            b'c' => {
                if size == 0 {
                    let previous = values.pop().and_then(|value| crate::lua_bit::to_number(&value));
                    let Some(previous) = previous else {
                        return Err("format 'c0' needs a previous size".into());
                    };
                    size = previous as usize;
                    if size > data.len() || position > data.len() - size {
                        return Err(too_short());
                    }
                }
                values.push(string(&data[position..position + size])?);
            }
            b's' => {
                let Some(end) = data[position..].iter().position(|&byte| byte == 0) else {
                    return Err("unfinished string in data".into());
                };
                values.push(string(&data[position..position + end])?);
                size = end + 1;
            }
            other => format.control(other, &mut header)?,
        }
        position += size;
    }
    values.push(Value::Number((position + 1) as f64));
    Ok(values)
}

pub fn size(args: &MultiValue) -> Result<usize, String> {
    let format = check_string(args, 1, "size")?;
    let mut format = Format { bytes: &format, position: 0, name: "size" };
    let mut header = Header::default();
    let mut position = 0;
    while let Some(option) = format.next() {
        let size = format.size(option)?;
        position += padding(position, &header, option, size);
        if option == b's' {
            return Err("bad argument #1 to 'size' (option 's' has no fixed size)".into());
        }
        if option == b'c' && size == 0 {
            return Err("bad argument #1 to 'size' (option 'c0' has no fixed size)".into());
        }
        if !option.is_ascii_alphanumeric() {
            format.control(option, &mut header)?;
        }
        position += size;
    }
    Ok(position)
}

/// Adds the `struct` table to the globals of `lua`.
pub fn install(lua: &Lua, wrap: &Function) -> mlua::Result<()> {
    let table = lua.create_table()?;
    table.raw_set(
        "pack",
        library_function(lua, wrap, |lua, args| {
            let packed = pack(&args)?;
            Ok(vec![Value::String(lua.create_string(packed).map_err(|error| error.to_string())?)])
        })?,
    )?;
    table.raw_set("unpack", library_function(lua, wrap, |lua, args| unpack(lua, &args))?)?;
    table.raw_set(
        "size",
        library_function(lua, wrap, |_, args| Ok(vec![Value::Number(size(&args)? as f64)]))?,
    )?;
    lua.globals().raw_set("struct", table)
}

#[cfg(test)]
mod tests {
    use crate::testing::{run, Harness};

    /// Through EVAL, with the bytes Redis 7.0's struct produces.
    #[test]
    fn scripts_pack_and_unpack_as_redis() {
        let mut h = Harness::new();
        let mut eval = |script: &str| run(&mut h, &["EVAL", script, "0"]);
        assert_eq!(eval("return struct.pack('>I2', 258) == '\\1\\2'"), ":1");
        assert_eq!(eval("return struct.pack('<i', -2) == '\\254\\255\\255\\255'"), ":1");
        assert_eq!(eval("return struct.pack('bh', 1, 2) == '\\1\\2\\0'"), ":1");
        assert_eq!(eval("return struct.pack('!bh', 1, 2) == '\\1\\0\\2\\0'"), ":1");
        assert_eq!(eval("return struct.pack('!4bi', 1, 2) == '\\1\\0\\0\\0\\2\\0\\0\\0'"), ":1");
        assert_eq!(eval("return struct.pack('s', 'ab') == 'ab\\0'"), ":1");
        assert_eq!(eval("return struct.pack('c0', 'abc')"), "$abc");
        assert_eq!(eval("return {struct.unpack('>I2', '\\1\\2')}"), "[:258, :3]");
        assert_eq!(eval("return {struct.unpack('<h', '\\255\\255')}"), "[:-1, :3]");
        assert_eq!(eval("return {struct.unpack('bc0', '\\3abcd')}"), "[$abc, :5]");
        assert_eq!(eval("return {struct.unpack('sB', 'hi\\0\\7')}"), "[$hi, :7, :5]");
        assert_eq!(eval("return {struct.unpack('B', 'xyz', 2)}"), "[:121, :3]");
        assert_eq!(eval("return tostring(struct.unpack('d', struct.pack('d', 1.5)))"), "$1.5");
        assert_eq!(eval("return tostring(struct.unpack('>f', struct.pack('>f', 0.25)))"), "$0.25");
        assert_eq!(eval("return struct.size('>iIhd')"), ":18");
        assert_eq!(eval("return struct.size('!bd')"), ":16");
        assert_eq!(eval("local ok, err = pcall(struct.size, 's') return err"), "$bad argument #1 to '?' (option 's' has no fixed size)");
        assert_eq!(eval("local ok, err = pcall(struct.pack, 'z', 1) return err"), "$bad argument #1 to '?' (invalid format option 'z')");
        assert_eq!(eval("local ok, err = pcall(struct.unpack, 'I4', 'ab') return err"), "$bad argument #2 to '?' (data string too short)");
        assert_eq!(eval("local ok, err = pcall(struct.unpack, 'c0', 'ab') return err"), "$format 'c0' needs a previous size");
    }
}
