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

/// CONFIG SET's refusal of a value: `ERR CONFIG SET failed (possibly related to argument
/// 'name') - reason`.
pub fn config_set_failed(name: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
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

pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
/// A C `int` argument (database numbers) outside its range; Redis's wording, typo included.
pub const INT_OUT_OF_RANGE: &str = "ERR value is out of range, value must between -2147483648 and 2147483647";
pub const INVALID_FIRST_DB_INDEX: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB_INDEX: &str = "ERR invalid second DB index";
pub const EXPIRE_NX_AND_OTHERS: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_AND_LT: &str = "ERR GT and LT options at the same time are not compatible";
pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const MOVE_IN_CLUSTER: &str = "ERR MOVE is not allowed in cluster mode";
pub const SWAPDB_IN_CLUSTER: &str = "ERR SWAPDB is not allowed in cluster mode";
pub const COPY_DB_IN_CLUSTER: &str = "ERR Copying to another database is not allowed in cluster mode";
pub const SORT_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const RESTORE_TTL_NEGATIVE: &str = "ERR Invalid TTL value, must be >= 0";
pub const RESTORE_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const RESTORE_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const DUMP_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
pub const SORT_BY_IN_CLUSTER: &str = "ERR BY option of SORT denied in Cluster mode.";
pub const SORT_GET_IN_CLUSTER: &str = "ERR GET option of SORT denied in Cluster mode.";
pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// `ERR Unsupported option <arg>` (EXPIRE family).
pub fn unsupported_option(option: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR Unsupported option {}",
        String::from_utf8_lossy(option)
    ))
}

// --- hashes ---

pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
/// HINCRBYFLOAT with an infinite increment.
pub const HASH_INCREMENT_NAN: &str = "ERR value is NaN or Infinity";
/// HINCRBYFLOAT whose result would not be finite.
pub const HASH_RESULT_NAN: &str = "ERR increment would produce NaN or Infinity";
/// HRANDFIELD … WITHVALUES with a count whose doubled reply length would overflow.
pub const HASH_RANDOM_RANGE: &str = "ERR value is out of range";
/// HRANDFIELD / SRANDMEMBER count of i64::MIN (Redis accepts -LONG_MAX..=LONG_MAX).
pub const RANDOM_COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
/// A negative random count so large the reply cannot be built (Redis would drop the client).
pub const RANDOM_REPLY_TOO_LARGE: &str = "ERR count is too large for a single reply";
/// HSCAN / SSCAN cursor that is not an unsigned decimal.
pub const INVALID_CURSOR_SCAN: &str = "ERR invalid cursor";

// --- lists ---

/// Blocking commands' timeout (seconds, a float), as `getTimeoutFromObjectOrReply` words it.
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_OUT_OF_RANGE: &str = "ERR timeout is out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_RANK_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";

// --- sets ---

pub const SET_NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const SET_NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
pub const SET_LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

// --- sorted sets ---

/// Sorted-set texts, namespaced so that other families' names never collide with them.
pub mod zset {
    use flotilla_protocol::Reply;

    pub const XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
    pub const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
    pub const INCR_SINGLE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
    pub const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";
    pub const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";
    pub const MIN_MAX_NOT_LEX: &str = "ERR min or max not valid string range item";
    pub const LIMIT_NEEDS_BY: &str =
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
    pub const WITHSCORES_BYLEX: &str = "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
    pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
    pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
    pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
    pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
    pub const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";
    pub const INVALID_CURSOR: &str = "ERR invalid cursor";

    /// `numkeys` of 0 for ZUNION and friends.
    pub fn at_least_one_key(command: &str) -> Reply {
        Reply::error_owned(format!(
            "ERR at least 1 input key is needed for '{}' command",
            command.to_ascii_lowercase()
        ))
    }

    /// An integer outside the range a command accepts (Redis's getRangeLongFromObject).
    pub fn out_of_range_between(min: i64, max: i64) -> Reply {
        Reply::error_owned(format!("ERR value is out of range, value must between {min} and {max}"))
    }
}

// --- hyperloglog ---

pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const HLL_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
pub const HLL_NO_KEY: &str = "ERR The specified key does not exist";
pub const HLL_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";

// --- geo ---

pub mod geo {
    pub const UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
    pub const NEED_RADIUS: &str = "ERR need numeric radius";
    pub const NEED_WIDTH: &str = "ERR need numeric width";
    pub const NEED_HEIGHT: &str = "ERR need numeric height";
    pub const RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
    pub const BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
    pub const MEMBER_NOT_FOUND: &str = "ERR could not decode requested zset member";
    pub const COUNT_NOT_POSITIVE: &str = "ERR COUNT must be > 0";
    pub const ANY_NEEDS_COUNT: &str = "ERR the ANY argument requires COUNT argument";
    pub const STORE_WITH: &str =
        "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
    pub const GEOSEARCHSTORE_WITH: &str =
        "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
}

// --- transactions ---

// --- streams ---

/// Stream texts, namespaced like the sorted sets'.
pub mod stream {
    use flotilla_protocol::Reply;

    pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
    pub const XADD_ID_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
    pub const XADD_ID_TOO_SMALL: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    pub const EXHAUSTED: &str = "ERR The stream has exhausted the last possible ID, unable to add more items";
    pub const MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
    pub const LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
    pub const MAXLEN_AND_MINID: &str =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    pub const LIMIT_WITHOUT_STRATEGY: &str =
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
    pub const XTRIM_WITHOUT_STRATEGY: &str = "ERR syntax error, XTRIM must be called with a trimming strategy";
    pub const LIMIT_WITHOUT_APPROX: &str = "ERR syntax error, LIMIT cannot be used without the special ~ option";
    pub const INVALID_START: &str = "ERR invalid start ID for the interval";
    pub const INVALID_END: &str = "ERR invalid end ID for the interval";
    pub const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
    pub const XGROUP_NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
    pub const ENTRIESREAD: &str = "ERR value for ENTRIESREAD must be positive or -1";
    pub const GROUP_ONLY_XREADGROUP: &str =
        "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
    pub const NOACK_ONLY_XREADGROUP: &str =
        "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
    pub const MISSING_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
    pub const DOLLAR_IN_XREADGROUP: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
    pub const GT_IN_XREAD: &str =
        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
    pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
    pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
    pub const TIMEOUT_OUT_OF_RANGE: &str = "ERR timeout is out of range";
    pub const XSETID_TOO_SMALL: &str = "ERR The ID specified in XSETID is smaller than the target stream top item";
    pub const XSETID_ENTRIES_ADDED: &str =
        "ERR The entries_added specified in XSETID is smaller than the target stream length";
    pub const XSETID_BELOW_GIVEN_TOMBSTONE: &str =
        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
    pub const XSETID_BELOW_TOMBSTONE: &str =
        "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id";
    pub const ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
    pub const XCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XCLAIM";
    pub const XCLAIM_IDLE: &str = "ERR Invalid IDLE option argument for XCLAIM";
    pub const XCLAIM_TIME: &str = "ERR Invalid TIME option argument for XCLAIM";
    pub const XCLAIM_RETRYCOUNT: &str = "ERR Invalid RETRYCOUNT option argument for XCLAIM";
    pub const XAUTOCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XAUTOCLAIM";
    pub const XAUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";
    /// A blocked XREADGROUP whose stream was deleted (or replaced by another type).
    pub const DELETED_WHILE_BLOCKED: &str = "UNBLOCKED the stream key no longer exists";

    pub fn unbalanced(command: &str, symbol: char) -> Reply {
        Reply::error_owned(format!(
            "ERR Unbalanced '{command}' list of streams: for each stream key an ID or '{symbol}' must be specified."
        ))
    }

    pub fn no_group_for_key(group: &[u8], key: &[u8]) -> Reply {
        Reply::error_owned(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(group),
            String::from_utf8_lossy(key)
        ))
    }

    /// XPENDING, XCLAIM, XAUTOCLAIM (`suffix` empty) and XREADGROUP.
    pub fn no_key_or_group(key: &[u8], group: &[u8], suffix: &str) -> Reply {
        Reply::error_owned(format!(
            "NOGROUP No such key '{}' or consumer group '{}'{suffix}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(group)
        ))
    }

    pub fn unrecognized_xclaim_option(option: &[u8]) -> Reply {
        Reply::error_owned(format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(option)))
    }
}

/// A command that may grow memory, refused over `maxmemory` (a script's first write when its
/// entry was proposed over the limit, see `Op::OverMemory`).
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
