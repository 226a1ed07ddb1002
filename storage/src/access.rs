//! Per-key access tracking for OBJECT IDLETIME and OBJECT FREQ: Redis's 24-bit `lru` field
//! of every object, kept here as one 32-bit word per key beside the key map's entries (see
//! keymap.rs), 4 bytes per key.
//!
//! A word holds what Redis holds under the policy in force when it was written:
//! - under an LRU (any non-LFU) `maxmemory-policy`: the access time in seconds (bits 0-30,
//!   unix seconds modulo 2^31; Redis keeps 24 bits of seconds);
//! - under an LFU policy (bit 31 set): the minutes of the last decrement (bits 8-23, modulo
//!   2^16, as Redis's `ldt`) and the logarithmic counter (bits 0-7), with `lfu-log-factor` and
//!   `lfu-decay-time` as Redis applies them; a new key starts at counter 5.
//!
//! A word written under the other kind of policy reads as a fresh key (idle 0, counter 5):
//! Redis reinterprets the bits, which gives arbitrary values for a while after the switch.
//!
//! Access information is local to each node, like a Redis replica's own LRU fields: it is not
//! part of the replicated state, of its equality or of snapshots. Commands do not touch it:
//! the state machine touches the keys a command names (its key positions in the command
//! table) before running it, unless the command is flagged `NO_TOUCH` or the client asked for
//! CLIENT NO-TOUCH. The time is the node's access clock: the largest of the entry and read
//! times it has seen, so a word never lies in the future of a later touch.
//!
//! LFU's increment is probabilistic (Redis draws `rand()`). Here the draw is a hash of the
//! command's seed (log index and position on the write path, a per-read counter on the read
//! path), the key's position in the command and the counter: no random source, and no draw
//! from the command's own generator, whose sequence must not depend on node-local policy.

use std::sync::atomic::{AtomicU32, Ordering};

/// The counter Redis gives a new key under an LFU policy (`LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u8 = 5;
/// Bit 31: the word was written under an LFU policy.
const LFU_TAG: u32 = 1 << 31;
/// LRU words hold unix seconds modulo 2^31.
const SECONDS_MASK: u32 = LFU_TAG - 1;
/// Idle times up to this many seconds (34 years) are exact; a word "after" the clock (the
/// clock never goes back, but a snapshot may carry words from elsewhere) reads as idle 0.
const IDLE_MAX: u32 = 1 << 30;

/// What touches and new keys use: the node's access time and the policy in force. Node-local,
/// so it never makes two databases unequal.
#[derive(Debug, Clone, Copy)]
pub struct AccessClock {
    /// Unix ms, never decreasing on a node.
    pub now_ms: u64,
    /// `maxmemory-policy` is allkeys-lfu or volatile-lfu.
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time`, minutes per decrement of the counter (0: never decays).
    pub decay_minutes: u32,
}

impl Default for AccessClock {
    fn default() -> Self {
        AccessClock { now_ms: 0, lfu: false, log_factor: 10, decay_minutes: 1 }
    }
}

impl PartialEq for AccessClock {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl AccessClock {
    /// Field-wise equality (`==` is always true, see above).
    pub fn same_as(&self, other: &AccessClock) -> bool {
        self.now_ms == other.now_ms
            && self.lfu == other.lfu
            && self.log_factor == other.log_factor
            && self.decay_minutes == other.decay_minutes
    }

    fn seconds(&self) -> u32 {
        (self.now_ms / 1000) as u32 & SECONDS_MASK
    }

    fn minutes(&self) -> u32 {
        (self.now_ms / 60_000) as u32 & 0xFFFF
    }

    fn lfu_word(&self, counter: u8) -> u32 {
        LFU_TAG | self.minutes() << 8 | counter as u32
    }

    /// The word of a key created now.
    pub fn fresh(&self) -> u32 {
        if self.lfu {
            self.lfu_word(LFU_INIT_VAL)
        } else {
            self.seconds()
        }
    }

    /// The word after an access: the time now (LRU), or the counter decayed to now and then
    /// incremented with probability 1 / ((counter - 5) * lfu-log-factor + 1) (LFU, Redis's
    /// `updateLFU`). `draw` is a uniform 64-bit number (see the module comment).
    pub fn touched(&self, word: u32, draw: u64) -> u32 {
        if !self.lfu {
            return self.seconds();
        }
        let counter = self.frequency(word);
        if counter == u8::MAX {
            return self.lfu_word(counter);
        }
        let base = counter.saturating_sub(LFU_INIT_VAL) as u64;
        let odds = base * self.log_factor as u64 + 1;
        let counter = if draw.is_multiple_of(odds) { counter + 1 } else { counter };
        self.lfu_word(counter)
    }

    /// OBJECT IDLETIME: seconds since the last access (LRU words).
    pub fn idle_seconds(&self, word: u32) -> u64 {
        if word & LFU_TAG != 0 {
            return 0;
        }
        let idle = self.seconds().wrapping_sub(word) & SECONDS_MASK;
        if idle >= IDLE_MAX {
            0
        } else {
            idle as u64
        }
    }

    /// OBJECT FREQ: the counter decayed by one per `lfu-decay-time` minutes elapsed since
    /// its last decrement (Redis's `LFUDecrAndReturn`; the word itself is not changed).
    pub fn frequency(&self, word: u32) -> u8 {
        if word & LFU_TAG == 0 {
            return LFU_INIT_VAL;
        }
        let counter = (word & 0xFF) as u8;
        if self.decay_minutes == 0 {
            return counter;
        }
        let last = (word >> 8) & 0xFFFF;
        let now = self.minutes();
        // Redis's LFUTimeElapsed: the minutes clock wraps every 2^16 minutes.
        let elapsed = if now >= last { now - last } else { 0xFFFF - last + now };
        let periods = elapsed / self.decay_minutes;
        counter.saturating_sub(periods.min(255) as u8)
    }

    /// RESTORE … IDLETIME seconds: the word of a key last accessed that long ago, under an
    /// LRU policy (None under LFU, where Redis ignores the option).
    pub fn with_idle(&self, seconds: u64) -> Option<u32> {
        if self.lfu {
            return None;
        }
        let seconds = seconds.min(IDLE_MAX as u64 - 1) as u32;
        Some(self.seconds().wrapping_sub(seconds) & SECONDS_MASK)
    }

    /// RESTORE … FREQ frequency: the word of a key with that counter, under an LFU policy
    /// (None under LRU, where Redis ignores the option).
    pub fn with_frequency(&self, counter: u8) -> Option<u32> {
        self.lfu.then(|| self.lfu_word(counter))
    }
}

/// The LFU draw for the key at `position` of a command with `seed` whose counter is
/// `counter` (splitmix64 of the three).
pub fn draw(seed: u64, position: usize, word: u32) -> u64 {
    let mut z = seed
        ^ (position as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (word as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One access word per key, in step with the key map's entries. Reads may touch keys under a
/// shared lock, so the words are atomics, used with `Relaxed` ordering: each is a hint read
/// and written on its own.
#[derive(Default)]
pub struct AccessWords(Vec<AtomicU32>);

impl AccessWords {
    pub fn push(&mut self, word: u32) {
        self.0.push(AtomicU32::new(word));
    }

    pub fn swap_remove(&mut self, position: usize) {
        self.0.swap_remove(position);
    }

    /// Removes every word and frees their memory.
    pub fn clear(&mut self) {
        self.0 = Vec::new();
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    pub fn get(&self, position: usize) -> u32 {
        self.0[position].load(Ordering::Relaxed)
    }

    pub fn set(&self, position: usize, word: u32) {
        self.0[position].store(word, Ordering::Relaxed);
    }

    /// Where the word at `position` lives, for a prefetch (never dereferenced).
    pub fn address(&self, position: usize) -> *const u8 {
        self.0.as_ptr().wrapping_add(position).cast()
    }
}

impl Clone for AccessWords {
    fn clone(&self) -> Self {
        AccessWords(self.0.iter().map(|word| AtomicU32::new(word.load(Ordering::Relaxed))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn lru(now_ms: u64) -> AccessClock {
        AccessClock { now_ms, ..AccessClock::default() }
    }

    fn lfu(now_ms: u64) -> AccessClock {
        AccessClock { now_ms, lfu: true, ..AccessClock::default() }
    }

    #[test]
    fn idle_time_grows_with_the_clock_and_resets_on_touch() {
        let start = 1_700_000_000_000;
        let word = lru(start).fresh();
        assert_eq!(lru(start).idle_seconds(word), 0);
        assert_eq!(lru(start + 999).idle_seconds(word), 0);
        assert_eq!(lru(start + 5_000).idle_seconds(word), 5);
        let touched = lru(start + 5_000).touched(word, 0);
        assert_eq!(lru(start + 7_000).idle_seconds(touched), 2);
        // A word ahead of the clock (never written by this node) reads as just used.
        assert_eq!(lru(start).idle_seconds(touched), 0);
        // Across the wrap of the 31-bit seconds.
        let wrap_ms = (1u64 << 31) * 1000;
        let before = lru(wrap_ms - 3_000).fresh();
        assert_eq!(lru(wrap_ms + 4_000).idle_seconds(before), 7);
    }

    #[test]
    fn restore_options_apply_under_their_policy_only() {
        let now = 1_700_000_000_000;
        let word = lru(now).with_idle(1000).unwrap();
        assert_eq!(lru(now).idle_seconds(word), 1000);
        assert_eq!(lru(now).with_frequency(3), None);
        let word = lfu(now).with_frequency(100).unwrap();
        assert_eq!(lfu(now).frequency(word), 100);
        assert_eq!(lfu(now).with_idle(10), None);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let clock = lfu(1_700_000_000_000);
        let mut word = clock.fresh();
        assert_eq!(clock.frequency(word), LFU_INIT_VAL);
        // From the initial value the first access always counts (probability 1).
        word = clock.touched(word, draw(7, 1, word));
        assert_eq!(clock.frequency(word), LFU_INIT_VAL + 1);
        let mut counts = Vec::new();
        for accesses in 1..=100_000u64 {
            word = clock.touched(word, draw(accesses, 1, word));
            if [100, 1_000, 10_000, 100_000].contains(&accesses) {
                counts.push(clock.frequency(word));
            }
        }
        // Reaching 5 + n takes about 5n^2 hits at lfu-log-factor 10: redis.conf's table says
        // 100 hits ~ 10, 1K ~ 18, 100K ~ 142.
        let [c100, c1k, c10k, c100k] = counts[..] else { unreachable!() };
        assert!((8..=13).contains(&c100), "{c100}");
        assert!((15..=23).contains(&c1k), "{c1k}");
        assert!((42..=58).contains(&c10k), "{c10k}");
        assert!((130..=160).contains(&c100k), "{c100k}");
        let saturated = clock.lfu_word(255);
        assert_eq!(clock.frequency(clock.touched(saturated, 0)), 255);
    }

    #[test]
    fn lfu_counter_decays_per_decay_time() {
        // At the start of a minute: the counter decays per minute of the clock.
        let start = 28_333_334 * MINUTE;
        let word = lfu(start).with_frequency(20).unwrap();
        assert_eq!(lfu(start + 59_000).frequency(word), 20);
        assert_eq!(lfu(start + 3 * MINUTE).frequency(word), 17);
        assert_eq!(lfu(start + 60 * MINUTE).frequency(word), 0);
        let slow = AccessClock { decay_minutes: 10, ..lfu(start + 30 * MINUTE) };
        assert_eq!(slow.frequency(word), 17);
        let never = AccessClock { decay_minutes: 0, ..lfu(start + 600 * MINUTE) };
        assert_eq!(never.frequency(word), 20);
        // A touch decays first, then stamps the minute: the decay starts over.
        let touched = lfu(start + 3 * MINUTE).touched(word, 1);
        assert_eq!(lfu(start + 3 * MINUTE).frequency(touched), 17);
        assert_eq!(lfu(start + 4 * MINUTE).frequency(touched), 16);
    }

    #[test]
    fn words_from_the_other_policy_read_fresh() {
        let now = 1_700_000_000_000;
        let lru_word = lru(now - 100_000).fresh();
        assert_eq!(lfu(now).frequency(lru_word), LFU_INIT_VAL);
        let lfu_word = lfu(now - 100_000).fresh();
        assert_eq!(lru(now).idle_seconds(lfu_word), 0);
        assert_eq!(lru(now).touched(lfu_word, 0), lru(now).fresh());
    }
}
