//! The process's allocator: jemalloc, as Redis uses, for its small size classes (a 16-byte
//! request takes 16 bytes, where glibc's malloc takes 32) and for its statistics, which give
//! INFO memory a real `used_memory` (bytes the program holds) beside the RSS.

use std::sync::atomic::{AtomicU64, Ordering};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The name INFO memory reports as `mem_allocator`.
pub const NAME: &str = "jemalloc-5.3.0";

/// Allocator statistics, refreshed on each call (jemalloc caches them until its epoch
/// advances).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Bytes in live allocations, rounded up to their size classes (Redis's `used_memory`).
    pub allocated_bytes: u64,
    /// Bytes in pages the allocator has touched and not returned to the OS.
    pub resident_bytes: u64,
}

/// Highest `allocated_bytes` seen by `stats` (Redis's `used_memory_peak`, sampled when INFO
/// asks rather than on every allocation).
static PEAK_ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

pub fn stats() -> Stats {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_err() {
        return Stats::default();
    }
    let stats = Stats {
        allocated_bytes: stats::allocated::read().unwrap_or(0) as u64,
        resident_bytes: stats::resident::read().unwrap_or(0) as u64,
    };
    PEAK_ALLOCATED_BYTES.fetch_max(stats.allocated_bytes, Ordering::Relaxed);
    stats
}

pub fn peak_allocated_bytes() -> u64 {
    PEAK_ALLOCATED_BYTES.load(Ordering::Relaxed)
}
