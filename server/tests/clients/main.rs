//! How real clients and tools use the server, over TCP against the real binary: the TCL
//! suite's harness commands, StackExchange.Redis's handshake and lock sequences, and
//! redis-cli / redis-benchmark when they are installed.

#[path = "../support/mod.rs"]
mod support;
mod t01_harness;
mod t02_stackexchange;
mod t03_tools;
