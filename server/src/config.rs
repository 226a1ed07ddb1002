//! Start-up flags (`flotilla --help`) and the run-time parameters CONFIG GET/SET expose.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fsync {
    /// An acknowledged write is on disk (on a majority, once replicated).
    Always,
    /// Flush once per second: a crash may lose the last second of writes.
    Everysec,
    /// Leave flushing to the operating system.
    No,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// A strongly consistent Redis-compatible store.
#[derive(Debug, Clone, Parser)]
#[command(name = "flotilla", version, about)]
pub struct Args {
    /// Client port (RESP).
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Address to listen on for clients.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Data directory.
    #[arg(long, default_value = "./flotilla-data")]
    pub dir: PathBuf,
    /// When writes reach the disk: always, everysec or no (Redis's appendfsync meanings).
    #[arg(long, value_enum, default_value_t = Fsync::Always)]
    pub fsync: Fsync,
    /// Require clients to AUTH with this password.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Maximum number of simultaneous client connections.
    #[arg(long, default_value_t = 10000)]
    pub maxclients: usize,
    /// Close a client connection after this many idle seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// Log filter (tracing syntax), e.g. "info" or "flotilla=debug".
    #[arg(long, default_value = "warn")]
    pub log: String,
}
