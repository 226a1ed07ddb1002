//! `bit` for scripts: the LuaBitOp API Redis bundles (tobit, tohex, bnot, band, bor, bxor,
//! lshift, rshift, arshift, rol, ror, bswap), on 32-bit integers returned as signed Lua numbers.
//!
//! A number becomes 32 bits as LuaBitOp makes it: adding 2^52 + 2^51 to the double and keeping
//! the low word of its bits, which rounds a fraction to the nearest integer (ties to even) and
//! wraps modulo 2^32. Shift counts use their low five bits.
//!
//! Also here: what the Rust-written libraries share (argument checks with Lua's wording, and
//! `library_function`, which makes a Rust function raise its error as a plain Lua string, as a
//! C library's `luaL_error` does).

use mlua::{Function, Lua, MultiValue, Table, Value};

/// A library function's outcome: its return values, or the message of the error it raises.
pub(crate) type LibraryResult = Result<Vec<Value>, String>;

/// Lua glue: calls a raw library function, which returns `true, …` or `false, message`, and
/// raises the message as a string error at the caller's line, naming the function as it was
/// called (`?` through pcall), as `luaL_argerror` in a C function does.
pub(crate) const WRAP: &str = r#"
local error, getinfo, string_gsub = error, debug.getinfo, string.gsub
local function check(name, ok, ...)
  if ok then return ... end
  local message = string_gsub((...), "^(bad argument #%d+ to ')[^']*'", "%1" .. (name or '?') .. "'")
  -- Level 3: `check` was tail-called by the wrapper, whose frame counts as one lost level.
  error(message, 3)
end
return function(raw)
  return function(...)
    local info = getinfo(1, 'n')
    return check(info and info.name, raw(...))
  end
end
"#;

/// A Lua function running `body`, raising its `Err` as a plain string error.
pub(crate) fn library_function(
    lua: &Lua,
    wrap: &Function,
    body: impl Fn(&Lua, MultiValue) -> LibraryResult + 'static,
) -> mlua::Result<Function> {
    let raw = lua.create_function(move |lua, args: MultiValue| {
        Ok(match body(lua, args) {
            Ok(values) => MultiValue::from_iter(std::iter::once(Value::Boolean(true)).chain(values)),
            Err(message) => MultiValue::from_iter([Value::Boolean(false), Value::String(lua.create_string(&message)?)]),
        })
    })?;
    wrap.call(raw)
}

/// Lua's name for a value's type, as error messages print it.
pub(crate) fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `lua_tonumber`: numbers, and strings that read as one (decimal or `0x` hex, surrounding
/// spaces allowed).
pub(crate) fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(number) => Some(*number as f64),
        Value::Number(number) => Some(*number),
        Value::String(text) => {
            let text = text.to_str().ok()?;
            let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
                let value = u64::from_str_radix(hex, 16).ok()? as f64;
                return Some(if negative { -value } else { value });
            }
            if text.is_empty() || text.eq_ignore_ascii_case("inf") || text.to_ascii_lowercase().contains("nan") {
                return None;
            }
            text.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// `luaL_checknumber` of argument `position` (1-based) of function `name`.
pub(crate) fn check_number(args: &MultiValue, position: usize, name: &str) -> Result<f64, String> {
    let value = args.get(position - 1);
    value.and_then(to_number).ok_or_else(|| {
        format!("bad argument #{position} to '{name}' (number expected, got {})", type_name(value))
    })
}

/// A number as LuaBitOp's 32 bits.
pub fn tobit(number: f64) -> i32 {
    (number + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn bit_arg(args: &MultiValue, position: usize, name: &str) -> Result<i32, String> {
    check_number(args, position, name).map(tobit)
}

fn number(value: i32) -> LibraryResult {
    Ok(vec![Value::Number(f64::from(value))])
}

/// `bit.tohex(x [, n])`: the low `n` hex digits (default 8; negative: upper case).
pub fn tohex(value: i32, digits: i32) -> String {
    let (upper, count) = if digits < 0 { (true, digits.unsigned_abs().min(8)) } else { (false, digits.min(8) as u32) };
    let mut out = vec![b'0'; count as usize];
    let mut rest = value as u32;
    let alphabet: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(rest & 15) as usize];
        rest >>= 4;
    }
    String::from_utf8(out).expect("hex digits")
}

type Unary = fn(i32) -> i32;
type Fold = fn(i32, i32) -> i32;
type Shift = fn(i32, u32) -> i32;

/// Adds the `bit` table to the globals of `lua`.
pub fn install(lua: &Lua, wrap: &Function) -> mlua::Result<()> {
    let bit: Table = lua.create_table()?;
    let unary: &[(&'static str, Unary)] = &[
        ("tobit", |x| x),
        ("bnot", |x| !x),
        ("bswap", |x| x.swap_bytes()),
    ];
    for &(name, op) in unary {
        bit.raw_set(name, library_function(lua, wrap, move |_, args| number(op(bit_arg(&args, 1, name)?)))?)?;
    }
    let folds: &[(&'static str, Fold)] =
        &[("band", |a, b| a & b), ("bor", |a, b| a | b), ("bxor", |a, b| a ^ b)];
    for &(name, op) in folds {
        bit.raw_set(
            name,
            library_function(lua, wrap, move |_, args| {
                let mut value = bit_arg(&args, 1, name)?;
                for position in 2..=args.len() {
                    value = op(value, bit_arg(&args, position, name)?);
                }
                number(value)
            })?,
        )?;
    }
    let shifts: &[(&'static str, Shift)] = &[
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ];
    for &(name, op) in shifts {
        bit.raw_set(
            name,
            library_function(lua, wrap, move |_, args| {
                let value = bit_arg(&args, 1, name)?;
                let count = bit_arg(&args, 2, name)? as u32 & 31;
                number(op(value, count))
            })?,
        )?;
    }
    bit.raw_set(
        "tohex",
        library_function(lua, wrap, |lua, args| {
            let value = bit_arg(&args, 1, "tohex")?;
            let digits = match args.get(1) {
                None | Some(Value::Nil) => 8,
                Some(_) => bit_arg(&args, 2, "tohex")?,
            };
            Ok(vec![Value::String(lua.create_string(tohex(value, digits)).map_err(|error| error.to_string())?)])
        })?,
    )?;
    lua.globals().raw_set("bit", bit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, Harness};

    #[test]
    fn numbers_become_32_bits_as_luabitop_makes_them() {
        assert_eq!(tobit(0xffff_ffff_u32 as f64), -1);
        assert_eq!(tobit(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
        assert_eq!(tohex(255, 8), "000000ff");
        assert_eq!(tohex(-1, -4), "FFFF");
        assert_eq!(tohex(0x1234_5678, 20), "12345678");
    }

    /// Each function through EVAL, with values checked against Redis 7.0's `bit`.
    #[test]
    fn scripts_use_bit_as_in_redis() {
        let mut h = Harness::new();
        let eval = |h: &mut Harness, script: &str| run(h, &["EVAL", script, "0"]);
        assert_eq!(eval(&mut h, "return bit.band(0xff, 0x0f, 0x3)"), ":3");
        assert_eq!(eval(&mut h, "return bit.bor(1, 2, 4)"), ":7");
        assert_eq!(eval(&mut h, "return bit.bxor(5, 3)"), ":6");
        assert_eq!(eval(&mut h, "return bit.bnot(0)"), ":-1");
        assert_eq!(eval(&mut h, "return bit.lshift(1, 31)"), ":-2147483648");
        assert_eq!(eval(&mut h, "return bit.rshift(-1, 28)"), ":15");
        assert_eq!(eval(&mut h, "return bit.arshift(-256, 4)"), ":-16");
        assert_eq!(eval(&mut h, "return bit.rol(0x12345678, 8)"), ":878082066");
        assert_eq!(eval(&mut h, "return bit.ror(0x12345678, 8)"), ":2014458966");
        assert_eq!(eval(&mut h, "return bit.bswap(0x12345678)"), ":2018915346");
        assert_eq!(eval(&mut h, "return bit.tohex(65535)"), "$0000ffff");
        assert_eq!(eval(&mut h, "return bit.tohex(-1, -2)"), "$FF");
        assert_eq!(eval(&mut h, "return bit.tobit('0x10')"), ":16");
        assert_eq!(eval(&mut h, "return bit.lshift(1, 33)"), ":2");
        // (Not `return bit.band()`: our functions are Lua wrappers, and a tail call to one
        // leaves no caller frame to name, where Redis's C function still sees it.)
        let error = eval(&mut h, "local x = bit.band() return x");
        assert!(error.contains("bad argument #1 to 'band' (number expected, got no value)"), "{error}");
        assert!(error.starts_with("-ERR user_script:1: bad argument"), "{error}");
        let caught = eval(&mut h, "local ok, err = pcall(bit.bor, 1, {}) return err");
        assert_eq!(caught, "$bad argument #2 to '?' (number expected, got table)");
        // Redis's fix of LuaBitOp's tohex with the most negative count.
        assert_eq!(eval(&mut h, "return bit.tohex(65535, -2147483648)"), "$0000FFFF");
        let reply = eval(&mut h, "bit.lshift = function() return 1 end");
        assert!(reply.starts_with('-') && reply.contains("Attempt to modify a readonly table"), "{reply}");
    }
}
