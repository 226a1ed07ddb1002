//! Every error text the state machine replies with, in one place: clients match on these
//! prefixes and texts, so they are Redis's, byte for byte.

use flotilla_protocol::Reply;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

pub fn wrong_arity(name: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' ` — as Redis words it.
pub fn unknown_command(args: &[bytes::Bytes]) -> Reply {
    let name = args
        .first()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        truncate(&name)
    );
    for arg in args.iter().skip(1) {
        text.push_str(&format!("'{}' ", truncate(&String::from_utf8_lossy(arg))));
        if text.len() > 512 {
            break;
        }
    }
    Reply::error_owned(text)
}

pub fn unknown_subcommand(container: &str, sub: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate(&String::from_utf8_lossy(sub)),
        container.to_ascii_uppercase()
    ))
}

pub fn invalid_expire(command: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR invalid expire time in '{}' command",
        command.to_ascii_lowercase()
    ))
}

fn truncate(text: &str) -> String {
    text.chars().take(128).collect()
}

// --- strings and bitmaps ---

pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
pub const LCS_WRONG_TYPE: &str = "ERR The specified keys must contain string values";
pub const LCS_LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_LONG: &str = "ERR String too long for LCS";
pub const LCS_TOO_MUCH_MEMORY: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const BIT_ARGUMENT: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_SOURCES: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_OVERFLOW_TYPE: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_RO_WRITE: &str = "ERR BITFIELD_RO only supports the GET subcommand";

// --- keys ---

// --- hashes ---

// --- lists ---

// --- sets ---

// --- sorted sets ---

// --- transactions ---
