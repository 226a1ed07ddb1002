//! Test harness for family unit tests: a state machine that applies each command as its own
//! entry at a controllable time, and a compact text rendering of replies.
//!
//! Rendering: `+OK`, `-ERR …`, `:1`, `$value`, `nil`, `[a, b]` for arrays, `{k: v}` for maps,
//! `,1.5` for doubles.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::ctx::Event;
use crate::machine::{Entry, Op, StateMachine};
use crate::table::Flags;

pub struct Harness {
    pub machine: StateMachine,
    pub now_ms: u64,
    pub db: u32,
    pub index: u64,
    pub events: Vec<Event>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            machine: StateMachine::new(),
            now_ms: 1_700_000_000_000,
            db: 0,
            index: 0,
            events: Vec::new(),
        }
    }

    /// Runs one command: writes as a log entry, reads directly, as the server does.
    pub fn command(&mut self, args: &[&[u8]]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let is_write = match crate::machine::resolve(&args) {
            Some(Ok(spec)) => spec.flags.contains(Flags::WRITE),
            _ => true,
        };
        if is_write {
            self.index += 1;
            let entry = Entry {
                time_ms: self.now_ms,
                ops: vec![Op::Command { db: self.db, args }],
            };
            self.machine
                .apply(self.index, &entry, &mut self.events)
                .pop()
                .unwrap()
        } else {
            self.machine
                .read(self.db as usize, &args, self.now_ms, true, &mut self.events)
        }
    }

    /// Applies CONFIG SET of replicated settings as its own log entry (`Op::ConfigSet`).
    pub fn config_set(&mut self, pairs: &[(&str, &str)]) -> Reply {
        self.index += 1;
        let pairs = pairs
            .iter()
            .map(|(name, value)| (Bytes::copy_from_slice(name.as_bytes()), Bytes::copy_from_slice(value.as_bytes())))
            .collect();
        let entry = Entry { time_ms: self.now_ms, ops: vec![Op::ConfigSet { pairs }] };
        self.machine.apply(self.index, &entry, &mut self.events).pop().unwrap()
    }

    /// Takes the events so far and keeps the keyspace notifications: (class, event, key).
    pub fn take_notifications(&mut self) -> Vec<(u8, &'static str, String)> {
        self.events
            .drain(..)
            .filter_map(|event| match event {
                Event::Notify { class, event, key, .. } => {
                    Some((class, event, String::from_utf8_lossy(&key).into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    /// `take_notifications` as `event:key` texts.
    pub fn take_notification_texts(&mut self) -> Vec<String> {
        self.take_notifications()
            .into_iter()
            .map(|(_, event, key)| format!("{event}:{key}"))
            .collect()
    }
}

/// Runs a command given as text arguments and renders the reply.
pub fn run(harness: &mut Harness, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    render(&harness.command(&args))
}

pub fn render(reply: &Reply) -> String {
    let list = |items: &[Reply]| items.iter().map(render).collect::<Vec<_>>().join(", ");
    match reply {
        Reply::Simple(text) => format!("+{text}"),
        Reply::Error(text) => format!("-{text}"),
        Reply::Int(value) => format!(":{value}"),
        Reply::Bulk(bytes) => format!("${}", String::from_utf8_lossy(bytes)),
        Reply::Nil | Reply::NilArray => "nil".into(),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => format!("[{}]", list(items)),
        // Rendered as RESP2 sees them (flat); RESP3 nests each pair.
        Reply::Pairs(pairs) => format!(
            "[{}]",
            pairs
                .iter()
                .map(|(a, b)| format!("{}, {}", render(a), render(b)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reply::Map(pairs) | Reply::PairMap(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reply::Double(value) => format!(",{}", flotilla_protocol::format_double(*value)),
        // GEOPOS coordinates: rendered as RESP2 sends them.
        Reply::HumanDouble(value) => format!("${}", flotilla_protocol::format_human_double(*value)),
        Reply::Bool(value) => format!("#{value}"),
        Reply::Verbatim(_, bytes) => format!("${}", String::from_utf8_lossy(bytes)),
        Reply::BigNumber(text) => format!("({text}"),
        Reply::Raw(bytes) => format!("raw:{}", String::from_utf8_lossy(bytes)),
    }
}
