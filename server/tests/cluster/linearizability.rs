//! A linearizability checker for histories of reads and writes of single registers (one
//! Redis key each), as a fault test records them: every operation with the time it was
//! called, the time its reply came (none when its outcome is unknown) and what it did or saw.
//!
//! The search is Wing and Gong's, with Lowe's memo of the configurations already tried: walk
//! the history's call and return events in time order, and at each step try to linearize one
//! of the operations called before the first remaining return (each one "minimal"); an
//! operation that fits the register's state is taken off the event list and the walk starts
//! again, and when none fits the last one taken is put back and the next is tried. The history
//! is linearizable when every operation that returned was taken. One whose outcome is unknown
//! (a write cut off by a failure) has no return event: it may be taken at any point after its
//! call, or never.
//!
//! Keys are independent registers, so a history is checked key by key (linearizability is
//! compositional), which keeps each search small.

use std::collections::HashSet;

/// What an operation did to its key, or saw there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// SET to a value no other write used.
    Write(u64),
    /// GET, and what it returned (None: no value).
    Read(Option<u64>),
}

#[derive(Clone, Debug)]
pub struct Operation {
    /// Which client ran it (read only by a violation's report, through Debug).
    #[allow(dead_code)]
    pub client: usize,
    /// Nanoseconds since the history's start.
    pub called: u64,
    /// When the reply came; None when the outcome is unknown (it may or may not have taken
    /// effect, at any time after `called`).
    pub returned: Option<u64>,
    pub action: Action,
}

/// A register's state: its value, or None before any write.
type State = Option<u64>;

fn step(state: State, action: Action) -> Option<State> {
    match action {
        Action::Write(value) => Some(Some(value)),
        Action::Read(seen) => (seen == state).then_some(state),
    }
}

#[derive(Clone, Copy)]
struct Event {
    operation: usize,
    is_call: bool,
    /// Links of the doubly linked event list (indexes into the event array; `NONE` ends it).
    prev: usize,
    next: usize,
}

const NONE: usize = usize::MAX;

/// The event list: a head sentinel at index 0, then the events in time order. Taking an
/// operation off unlinks its two events; putting it back relinks them (in the reverse order
/// of taking, as the search's stack guarantees), which restores the list exactly.
struct Events {
    events: Vec<Event>,
    /// Per operation: its call event and its return event (NONE if unknown outcome).
    at: Vec<(usize, usize)>,
}

impl Events {
    fn new(history: &[Operation]) -> Events {
        let mut stamped: Vec<(u64, bool, usize)> = Vec::new();
        for (i, operation) in history.iter().enumerate() {
            stamped.push((operation.called, true, i));
            if let Some(returned) = operation.returned {
                stamped.push((returned, false, i));
            }
        }
        // At equal times a call goes first: the two operations then count as concurrent,
        // which asks less of the history than ordering them.
        stamped.sort_by_key(|&(time, is_call, i)| (time, !is_call, i));
        let mut events = vec![Event {
            operation: NONE,
            is_call: false,
            prev: NONE,
            next: NONE,
        }];
        let mut at = vec![(NONE, NONE); history.len()];
        for (time_order, &(_, is_call, operation)) in stamped.iter().enumerate() {
            let index = time_order + 1;
            events.push(Event {
                operation,
                is_call,
                prev: index - 1,
                next: NONE,
            });
            events[index - 1].next = index;
            if is_call {
                at[operation].0 = index;
            } else {
                at[operation].1 = index;
            }
        }
        Events { events, at }
    }

    fn unlink(&mut self, index: usize) {
        let Event { prev, next, .. } = self.events[index];
        self.events[prev].next = next;
        if next != NONE {
            self.events[next].prev = prev;
        }
    }

    fn relink(&mut self, index: usize) {
        let Event { prev, next, .. } = self.events[index];
        self.events[prev].next = index;
        if next != NONE {
            self.events[next].prev = index;
        }
    }

    fn take(&mut self, operation: usize) {
        let (call, ret) = self.at[operation];
        if ret != NONE {
            self.unlink(ret);
        }
        self.unlink(call);
    }

    fn put_back(&mut self, operation: usize) {
        let (call, ret) = self.at[operation];
        self.relink(call);
        if ret != NONE {
            self.relink(ret);
        }
    }
}

/// Why a history is not linearizable, from the search that got furthest: how many of the
/// completed operations it linearized, the register's value then, the operation whose reply
/// came before any remaining one could be placed, and the candidates it tried (each called
/// before that reply, none fitting or each leading to a dead end).
#[derive(Debug)]
pub struct Violation {
    pub linearized: usize,
    pub returned: usize,
    pub value_then: Option<u64>,
    pub blocked_by: Option<Operation>,
    pub candidates: Vec<Operation>,
}

/// Checks one register's history (all operations on one key).
pub fn check(history: &[Operation]) -> Result<(), Violation> {
    let returned = history.iter().filter(|o| o.returned.is_some()).count();
    let mut events = Events::new(history);
    // The set of operations taken, as the XOR of a random 128-bit word per operation: a set
    // of a million operations would cost 122 KiB a copy, and the memo holds one per step.
    // Two sets collide with odds of about 2^-128 per pair, and a collision could only make
    // the search skip a configuration (a false alarm, never a missed violation).
    let marks: Vec<u128> = (0..history.len() as u64).map(mark).collect();
    let mut taken: u128 = 0;
    let mut taken_returned = 0;
    let mut state: State = None;
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut tried: HashSet<(u128, State)> = HashSet::new();
    let mut furthest: Option<Violation> = None;
    let mut cursor = events.events[0].next;
    loop {
        if taken_returned == returned {
            return Ok(());
        }
        let event = (cursor != NONE).then(|| events.events[cursor]);
        match event {
            Some(Event {
                operation,
                is_call: true,
                next,
                ..
            }) => {
                let fits = step(state, history[operation].action);
                let mut advanced = false;
                if let Some(after) = fits {
                    taken ^= marks[operation];
                    if tried.insert((taken, after)) {
                        stack.push((operation, state));
                        state = after;
                        events.take(operation);
                        if history[operation].returned.is_some() {
                            taken_returned += 1;
                        }
                        cursor = events.events[0].next;
                        advanced = true;
                    } else {
                        taken ^= marks[operation];
                    }
                }
                if !advanced {
                    cursor = next;
                }
            }
            // A return (or the end) reached: nothing before it can be linearized next.
            _ => {
                if furthest.as_ref().is_none_or(|f| taken_returned > f.linearized) {
                    furthest = Some(dead_end(
                        history,
                        &events,
                        cursor,
                        taken_returned,
                        returned,
                        state,
                    ));
                }
                let Some((operation, before)) = stack.pop() else {
                    return Err(furthest.expect("recorded above"));
                };
                events.put_back(operation);
                taken ^= marks[operation];
                if history[operation].returned.is_some() {
                    taken_returned -= 1;
                }
                state = before;
                cursor = events.events[events.at[operation].0].next;
            }
        }
    }
}

/// Operation `index`'s random mark (splitmix64, twice): fixed, so a check is repeatable.
fn mark(index: u64) -> u128 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let base = index.wrapping_mul(2).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mix(base) as u128) << 64 | mix(base.wrapping_add(0x9E37_79B9_7F4A_7C15)) as u128
}

/// The search's position when it finds no operation to place next (for `Violation`).
fn dead_end(
    history: &[Operation],
    events: &Events,
    blocking: usize,
    linearized: usize,
    returned: usize,
    state: State,
) -> Violation {
    const SHOWN: usize = 8;
    let mut candidates = Vec::new();
    let mut at = events.events[0].next;
    while at != NONE && at != blocking && candidates.len() < SHOWN {
        candidates.push(history[events.events[at].operation].clone());
        at = events.events[at].next;
    }
    Violation {
        linearized,
        returned,
        value_then: state,
        blocked_by: (blocking != NONE).then(|| history[events.events[blocking].operation].clone()),
        candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: usize, called: u64, returned: Option<u64>, action: Action) -> Operation {
        Operation {
            client,
            called,
            returned,
            action,
        }
    }

    use Action::{Read, Write};

    #[test]
    fn a_sequential_history_of_writes_and_the_reads_they_explain_is_linearizable() {
        let history = [
            op(0, 0, Some(1), Read(None)),
            op(0, 2, Some(3), Write(7)),
            op(1, 4, Some(5), Read(Some(7))),
            op(0, 6, Some(7), Write(8)),
            op(1, 8, Some(9), Read(Some(8))),
        ];
        assert!(check(&history).is_ok());
    }

    #[test]
    fn a_read_of_the_old_value_after_a_write_returned_is_not() {
        let history = [
            op(0, 0, Some(1), Write(1)),
            op(0, 2, Some(3), Write(2)),
            op(1, 4, Some(5), Read(Some(1))),
        ];
        let violation = check(&history).unwrap_err();
        assert_eq!((violation.linearized, violation.returned), (2, 3));
        assert_eq!(violation.value_then, Some(2));
        assert_eq!(violation.blocked_by.map(|o| o.action), Some(Read(Some(1))));
        let tried: Vec<Action> = violation.candidates.iter().map(|o| o.action).collect();
        assert_eq!(tried, [Read(Some(1))]);
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [Some(1), Some(2)] {
            let history = [
                op(0, 0, Some(1), Write(1)),
                op(0, 2, Some(6), Write(2)),
                op(1, 3, Some(5), Read(seen)),
            ];
            assert!(check(&history).is_ok(), "{seen:?}");
        }
    }

    #[test]
    fn two_reads_may_not_see_a_concurrent_write_undone() {
        // The write runs across both reads; the first sees its value, so the later one
        // (called after the first returned) must see it too.
        let history = [
            op(0, 0, Some(1), Write(1)),
            op(0, 2, Some(20), Write(2)),
            op(1, 3, Some(5), Read(Some(2))),
            op(2, 6, Some(8), Read(Some(1))),
        ];
        assert!(check(&history).is_err());
    }

    #[test]
    fn a_write_of_unknown_outcome_may_have_happened_or_not() {
        let happened = [
            op(0, 0, None, Write(5)),
            op(1, 10, Some(11), Read(Some(5))),
            op(1, 12, Some(13), Read(Some(5))),
        ];
        assert!(check(&happened).is_ok());
        let never = [op(0, 0, None, Write(5)), op(1, 10, Some(11), Read(None))];
        assert!(check(&never).is_ok());
        // ... but not both: once seen, it stays.
        let flickers = [
            op(0, 0, None, Write(5)),
            op(1, 10, Some(11), Read(Some(5))),
            op(1, 12, Some(13), Read(None)),
        ];
        assert!(check(&flickers).is_err());
    }

    #[test]
    fn a_value_nobody_wrote_is_not_explained() {
        let history = [op(0, 0, Some(1), Write(1)), op(1, 2, Some(3), Read(Some(9)))];
        assert!(check(&history).is_err());
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        // Acknowledged, then a later read finds the value before it.
        let history = [
            op(0, 0, Some(1), Write(1)),
            op(1, 0, Some(3), Write(2)),
            op(2, 4, Some(5), Read(Some(2))),
            op(0, 6, Some(7), Write(3)),
            op(2, 8, Some(9), Read(Some(2))),
        ];
        assert!(check(&history).is_err());
    }

    #[test]
    fn many_concurrent_clients_are_checked_quickly() {
        // Eight clients, each writing its own values and reading, in overlapping rounds
        // whose real order is known: round r's operations all come before round r + 1's.
        let mut history = Vec::new();
        let mut last = None;
        for round in 0..150u64 {
            let base = round * 100;
            for client in 0..8usize {
                let called = base + client as u64;
                let returned = Some(base + 50 + client as u64);
                if client % 2 == 0 {
                    history.push(op(client, called, returned, Write(round * 8 + client as u64)));
                } else {
                    history.push(op(client, called, returned, Read(last)));
                }
            }
            // Every read of the next round sees the last write of this one.
            last = Some(round * 8 + 6);
        }
        assert!(check(&history).is_ok());
    }
}
