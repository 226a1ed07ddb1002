//! Bytes ↔ frames for Flotilla: the incremental request parser (RESP multibulk and inline) and
//! the reply encoder for RESP2 and RESP3. No I/O and no tokio, so it can be fuzzed and
//! benchmarked on its own.

mod parser;
mod reply;
mod wire;

pub use parser::{split_args, ProtocolError, RequestParser, BULK_LEN_MAX, INLINE_LEN_MAX, MULTIBULK_LEN_MAX};
pub use reply::{encode, format_double, format_human_double, Reply};
