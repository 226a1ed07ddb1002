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
    /// Bytes in the pages that hold live allocations (allocated plus their pages' free
    /// space).
    pub active_bytes: u64,
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
        active_bytes: stats::active::read().unwrap_or(0) as u64,
        resident_bytes: stats::resident::read().unwrap_or(0) as u64,
    };
    PEAK_ALLOCATED_BYTES.fetch_max(stats.allocated_bytes, Ordering::Relaxed);
    stats
}

pub fn peak_allocated_bytes() -> u64 {
    PEAK_ALLOCATED_BYTES.load(Ordering::Relaxed)
}

/// `allocated_bytes` once the node had started, before its first client (Redis's
/// `startup.allocated` in MEMORY STATS); 0 until recorded.
static STARTUP_ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

pub fn record_startup() {
    STARTUP_ALLOCATED_BYTES.store(stats().allocated_bytes, Ordering::Relaxed);
}

pub fn startup_allocated_bytes() -> u64 {
    STARTUP_ALLOCATED_BYTES.load(Ordering::Relaxed)
}

/// Returns the pages of freed memory that jemalloc still holds (its dirty pages, which it
/// otherwise returns over ~10 s) to the OS, in every arena. Called after a snapshot build,
/// whose ~1 MiB pieces, a hundred at a time for a big value, would otherwise stay resident
/// until the next build allocates them again.
pub fn purge_freed_pages() {
    // MALLCTL_ARENAS_ALL (4096): every arena. A void control: no old or new value.
    let name = b"arena.4096.purge\0";
    // SAFETY: a NUL-terminated control name with no input or output buffers, as jemalloc's
    // mallctl documents for `arena.<i>.purge`.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// jemalloc's statistics report (`malloc_stats_print`), as MEMORY MALLOC-STATS prints it.
pub fn stats_text() -> String {
    let mut text = Vec::new();
    if tikv_jemalloc_ctl::epoch::advance().is_err()
        || tikv_jemalloc_ctl::stats_print::stats_print(&mut text, Default::default()).is_err()
    {
        return String::from("Stats not supported for the current allocator\n");
    }
    String::from_utf8_lossy(&text).into_owned()
}
