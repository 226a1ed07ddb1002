//! CLIENT PAUSE / CLIENT UNPAUSE: this node stops running its clients' commands until a
//! deadline (ALL) or only the commands that write or may replicate (WRITE), as Redis's
//! `pauseActions(PAUSE_BY_CLIENT_COMMAND)`. A paused command is postponed, not refused: its
//! connection waits and runs it when the pause ends or is lifted. The node's active expiry
//! is suspended too, so the data set stays still. The pause is node-local, as a Redis
//! server's: it holds the clients connected to this node. A held client counts as blocked
//! (INFO `blocked_clients`, flag `b` in CLIENT LIST), as Redis's postponed clients do.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Paused {
    until: Instant,
    /// ALL: every command waits; otherwise (WRITE) only writes and may-replicate commands.
    all: bool,
}

#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<Paused>>,
    /// Set while a pause may be in force: the command path reads only this when not paused.
    engaged: AtomicBool,
    lifted: Notify,
    /// Clients whose command is held now.
    held_clients: AtomicUsize,
}

/// Counts one held client while it lives (a client that disconnects while held drops it).
pub struct Held<'a> {
    pause: &'a Pause,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.pause.held_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pause {
    /// Pauses until `until`. As in Redis, a pause already in force keeps the later deadline
    /// and the more restrictive mode (an ALL pause is not weakened by a WRITE pause).
    pub fn pause(&self, until: Instant, all: bool, now: Instant) {
        let mut state = self.state.lock();
        let current = state.filter(|paused| paused.until > now);
        let next = match current {
            Some(paused) => Paused {
                until: paused.until.max(until),
                all: paused.all || all,
            },
            None => Paused { until, all },
        };
        *state = Some(next);
        self.engaged.store(true, Ordering::Release);
    }

    /// Lifts the pause: postponed commands run at once.
    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.engaged.store(false, Ordering::Release);
        self.lifted.notify_waiters();
    }

    /// True while any pause is in force (active expiry stays off).
    pub fn is_paused(&self, now: Instant) -> bool {
        // Every pause holds writes.
        self.deadline(true, now).is_some()
    }

    /// When a command must wait, the end of the pause that holds it: `writes` says whether
    /// it writes or may replicate (what a WRITE pause holds back).
    pub fn deadline(&self, writes: bool, now: Instant) -> Option<Instant> {
        if !self.engaged.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.state.lock();
        match *state {
            Some(paused) if paused.until > now => (paused.all || writes).then_some(paused.until),
            Some(_) => {
                *state = None;
                self.engaged.store(false, Ordering::Release);
                None
            }
            None => None,
        }
    }

    /// True when a command of this kind must wait now (the common unpaused case reads one
    /// flag and not the clock).
    pub fn holds(&self, writes: bool) -> bool {
        self.engaged.load(Ordering::Acquire) && self.deadline(writes, crate::clock::instant()).is_some()
    }

    /// Clients held by the pause now (they count in INFO `blocked_clients`).
    pub fn held_clients(&self) -> usize {
        self.held_clients.load(Ordering::Relaxed)
    }

    /// Marks a client as held until the returned guard is dropped.
    pub fn hold(&self) -> Held<'_> {
        self.held_clients.fetch_add(1, Ordering::Relaxed);
        Held { pause: self }
    }

    /// Waits until a command of this kind may run: the pause ended or was lifted.
    pub async fn wait(&self, writes: bool) {
        loop {
            let lifted = self.lifted.notified();
            tokio::pin!(lifted);
            lifted.as_mut().enable();
            let Some(until) = self.deadline(writes, crate::clock::instant()) else {
                return;
            };
            tokio::select! {
                _ = lifted => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(until)) => {}
            }
        }
    }
}

/// CLIENT PAUSE's timeout: milliseconds from now, as Redis's `getTimeoutFromObjectOrReply`
/// with UNIT_MILLISECONDS (the error text without its `ERR ` prefix).
pub fn parse_timeout_ms(arg: &[u8]) -> Result<Duration, &'static str> {
    let ms = flotilla_storage::args::parse_i64(arg).ok_or("timeout is not an integer or out of range")?;
    if ms < 0 {
        return Err("timeout is negative");
    }
    Ok(Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn write_pause_holds_only_writes_until_its_deadline() {
        let pause = Pause::default();
        let t0 = crate::clock::instant();
        assert_eq!(pause.deadline(true, t0), None);
        pause.pause(at(t0, 100), false, t0);
        assert_eq!(pause.deadline(true, at(t0, 10)), Some(at(t0, 100)));
        assert_eq!(pause.deadline(false, at(t0, 10)), None);
        assert!(pause.is_paused(at(t0, 10)));
        // Past the deadline nothing is held, and the pause is gone.
        assert_eq!(pause.deadline(true, at(t0, 100)), None);
        assert!(!pause.is_paused(at(t0, 50)));
    }

    #[test]
    fn a_pause_keeps_the_later_deadline_and_the_stricter_mode() {
        let pause = Pause::default();
        let t0 = crate::clock::instant();
        pause.pause(at(t0, 200), true, t0);
        pause.pause(at(t0, 20), false, t0);
        // Still ALL, still until 200 ms.
        assert_eq!(pause.deadline(false, at(t0, 50)), Some(at(t0, 200)));
        // A later WRITE pause extends the deadline but stays ALL.
        pause.pause(at(t0, 300), false, at(t0, 50));
        assert_eq!(pause.deadline(false, at(t0, 250)), Some(at(t0, 300)));
        // Once a pause has ended, a new one starts afresh.
        pause.pause(at(t0, 400), false, at(t0, 350));
        assert_eq!(pause.deadline(false, at(t0, 360)), None);
        assert_eq!(pause.deadline(true, at(t0, 360)), Some(at(t0, 400)));
        pause.unpause();
        assert_eq!(pause.deadline(true, at(t0, 360)), None);
    }

    #[tokio::test]
    async fn unpause_releases_a_waiting_command() {
        let pause = std::sync::Arc::new(Pause::default());
        let now = crate::clock::instant();
        pause.pause(now + Duration::from_secs(3600), false, now);
        let waiter = {
            let pause = pause.clone();
            tokio::spawn(async move { pause.wait(true).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        pause.unpause();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("released")
            .expect("joined");
        // A read is not held by a WRITE pause at all.
        pause.pause(now + Duration::from_secs(3600), false, now);
        tokio::time::timeout(Duration::from_secs(10), pause.wait(false))
            .await
            .expect("reads run");
    }

    #[test]
    fn held_clients_are_counted_while_held() {
        let pause = Pause::default();
        assert_eq!(pause.held_clients(), 0);
        let first = pause.hold();
        let second = pause.hold();
        assert_eq!(pause.held_clients(), 2);
        drop(first);
        assert_eq!(pause.held_clients(), 1);
        drop(second);
        assert_eq!(pause.held_clients(), 0);
    }

    #[test]
    fn timeouts_parse_as_redis_does() {
        assert_eq!(parse_timeout_ms(b"1"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_timeout_ms(b"0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout_ms(b"-1"), Err("timeout is negative"));
        assert_eq!(
            parse_timeout_ms(b"not an integer"),
            Err("timeout is not an integer or out of range")
        );
        assert_eq!(parse_timeout_ms(b"1.5"), Err("timeout is not an integer or out of range"));
    }
}
