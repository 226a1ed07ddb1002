//! The one place that reads the wall clock. Entry times come from here: unix milliseconds,
//! never decreasing within this process even if the system clock steps back.

#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Clock {
    last_ms: AtomicU64,
    /// Added to the wall clock (`--clock-skew-ms`, a test's clock that is off).
    skew_ms: i64,
}

impl Clock {
    /// A clock that reads `skew_ms` ahead of the wall clock (behind when negative).
    pub fn with_skew(skew_ms: i64) -> Self {
        Clock { last_ms: AtomicU64::new(0), skew_ms }
    }

    /// Current unix time in milliseconds, at least the last value returned.
    pub fn now_ms(&self) -> u64 {
        let wall = wall_ms().saturating_add_signed(self.skew_ms);
        let previous = self.last_ms.fetch_max(wall, Ordering::AcqRel);
        previous.max(wall)
    }

    /// Makes every later `now_ms` at least `ms`: a follower observes the leader's clock before
    /// it serves a linearizable read, so a key whose expiry the leader's clock has passed
    /// cannot look live here when this node's clock is behind. Never moves the clock back.
    pub fn observe(&self, ms: u64) {
        self.last_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// Microseconds since the epoch, for TIME and slowlog timestamps (not monotonic).
    pub fn now_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
            .saturating_add_signed(self.skew_ms.saturating_mul(1000))
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the epoch (LASTSAVE, INFO persistence).
pub fn unix_seconds() -> u64 {
    wall_ms() / 1000
}

/// A monotonic instant, for durations (uptime, idle time, latency).
pub fn instant() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observing_a_clock_ahead_moves_now_forward_and_never_back() {
        let clock = Clock::default();
        let here = clock.now_ms();
        clock.observe(here + 60_000);
        assert!(clock.now_ms() >= here + 60_000);
        clock.observe(here);
        assert!(clock.now_ms() >= here + 60_000, "observing an older time moved the clock back");
    }
}
