//! Flotilla's per-shard state: the keyspace, every value type, the semantics of every
//! keyspace command, and the state machine that applies log entries.
//!
//! Deterministic by construction: nothing here reads a clock, a random source or the network
//! (clippy's `disallowed-methods` enforces the clock part). Time is the entry's leader time;
//! randomness is seeded from the log index.

pub mod access;
pub mod acl;
pub mod args;
pub mod commands;
pub mod compact;
pub mod cost;
pub mod ctx;
pub mod db;
pub mod errors;
pub mod functions;
pub mod glob;
pub mod hash_value;
pub mod keymap;
pub mod list_value;
pub mod log_store;
pub mod lua;
pub mod lua_bit;
pub mod lua_cjson;
pub mod lua_struct;
pub mod lua_msgpack;
pub mod machine;
pub mod memory;
pub mod name_index;
pub mod rdb;
pub mod scan;
pub mod set_value;
pub mod sha1;
pub mod shared_bytes;
pub mod snapshot;
pub mod snapshot_file;
pub mod stream;
pub mod table;
pub mod testing;
pub mod value;
pub mod varint;
pub mod zset;

pub use ctx::{Ctx, Event};
pub use db::{Db, Keyspace, DATABASES};
pub use machine::{Entry, Op, ReadStats, StateMachine, Watch};
pub use table::{CommandSpec, Flags, Handler, KeyFlags, KeySearch};
pub use value::Value;
