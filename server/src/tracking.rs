//! Client-side caching: CLIENT TRACKING and its invalidation messages.
//!
//! The tracking table is node-local, as a Redis server's: every node applies every entry, so
//! each one sees every change of a key and tells its own clients. Keys read by a tracking
//! connection (default mode) are remembered with the client's id; when an applied entry
//! changes such a key (any keyspace event but `new` and `keymiss`, so writes, expiry and
//! eviction deletes alike) every client remembered for it gets one invalidation and the key
//! is forgotten until read again. BCAST clients instead get, once per applied batch of
//! events, the changed keys under each of their prefixes. FLUSHDB, FLUSHALL and SWAPDB send
//! every tracking client a null ("everything") and empty the table.
//!
//! Keys are remembered *before* the read runs. The connection writes a command's reply
//! before any push queued while it ran, so an invalidation caused by a write applied after
//! the read always reaches the client after the value it invalidates (an earlier write is
//! seen by the read itself).
//!
//! NOLOOP needs to know who changed a key, which the applied events do not say (an entry
//! carries many clients' writes). A NOLOOP client's session marks the keys of each write
//! before proposing it (`writing`); the first batch of events that changes a marked key uses
//! the mark up, and no invalidation for that key goes to that client in that batch. The
//! session clears what is left when its reply arrives (`written`).

use bytes::Bytes;
use flotilla_protocol::Reply;
use flotilla_storage::Event;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::clients::ClientHandle;
use crate::node::Node;

/// The pub/sub channel a RESP2 connection subscribes to for redirected invalidations.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// One connection's tracking mode (CLIENT TRACKING / CACHING / TRACKINGINFO).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    pub on: bool,
    /// Client id the invalidations go to (0: this connection).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) given for the next command.
    pub caching: bool,
    /// The redirect target disconnected.
    pub broken_redirect: bool,
    pub prefixes: BTreeSet<Bytes>,
}

/// CLIENT TRACKING's options, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub on: bool,
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Bytes>,
}

/// Parses `CLIENT TRACKING ON|OFF [options]` (args from ON|OFF on) as Redis does: options
/// first, in order, then ON/OFF itself. `exists` tells whether a client id is connected.
pub fn parse(args: &[Bytes], exists: impl Fn(u64) -> bool) -> Result<Options, String> {
    let mut options = Options::default();
    let mut redirect_given = false;
    let mut i = 1;
    while i < args.len() {
        let more = i + 1 < args.len();
        let word = args[i].to_ascii_lowercase();
        match word.as_slice() {
            b"redirect" if more => {
                i += 1;
                if redirect_given && options.redirect != 0 {
                    return Err("ERR A client can only redirect to a single other client".into());
                }
                let id = std::str::from_utf8(&args[i])
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| "ERR value is not an integer or out of range".to_string())?;
                if id < 0 || !exists(id as u64) {
                    return Err("ERR The client ID you want redirect to does not exist".into());
                }
                redirect_given = true;
                options.redirect = id as u64;
            }
            b"bcast" => options.bcast = true,
            b"optin" => options.optin = true,
            b"optout" => options.optout = true,
            b"noloop" => options.noloop = true,
            b"prefix" if more => {
                i += 1;
                options.prefixes.push(args[i].clone());
            }
            _ => return Err("ERR syntax error".into()),
        }
        i += 1;
    }
    if args[0].eq_ignore_ascii_case(b"on") {
        options.on = true;
    } else if !args[0].eq_ignore_ascii_case(b"off") {
        return Err("ERR syntax error".into());
    }
    Ok(options)
}

/// Checks ON's options against each other and the connection's current mode; the error is
/// Redis's.
pub fn check_enable(current: &Mode, options: &Options) -> Result<(), String> {
    if !options.bcast && !options.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if current.on && current.bcast != options.bcast {
        return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, \
                    and then re-enabling it with a different mode."
            .into());
    }
    if options.bcast && (options.optin || options.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if options.optin && options.optout {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if (options.optin && current.optout) || (options.optout && current.optin) {
        return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, \
                    and then re-enabling it with a different mode."
            .into());
    }
    if options.bcast {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let overlaps = |a: &[u8], b: &[u8]| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        };
        for (i, prefix) in options.prefixes.iter().enumerate() {
            if let Some(existing) = current.prefixes.iter().find(|existing| overlaps(existing, prefix)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(prefix),
                    text(existing)
                ));
            }
            if let Some(other) = options.prefixes[i + 1..].iter().find(|other| overlaps(prefix, other)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(prefix),
                    text(other)
                ));
            }
        }
    }
    Ok(())
}

#[derive(Default)]
struct Table {
    /// Key → ids of the clients that may cache it (default mode).
    keys: HashMap<Bytes, BTreeSet<u64>>,
    /// Sum of the id sets' sizes (INFO `tracking_total_items`).
    items: usize,
    /// BCAST prefix → ids of the clients registered for it.
    prefixes: BTreeMap<Bytes, BTreeSet<u64>>,
    /// NOLOOP marks: client id → key → writes proposed and not yet seen applied.
    own_writes: HashMap<u64, HashMap<Bytes, usize>>,
    /// Scripts sent by tracking clients and not answered yet: (client id, declared keys).
    scripts: Vec<(u64, Vec<Bytes>)>,
}

/// The node's tracking table.
#[derive(Default)]
pub struct Tracking {
    table: Mutex<Table>,
    /// Connections with tracking on (INFO `tracking_clients`).
    clients: AtomicUsize,
}

/// Where one invalidation goes and what it says (None: every key, after a flush).
type Message = (Arc<ClientHandle>, Option<Vec<Bytes>>);

impl Tracking {
    pub fn tracking_clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// (tracking_total_keys, tracking_total_items, tracking_total_prefixes) for INFO.
    pub fn totals(&self) -> (usize, usize, usize) {
        let table = self.table.lock();
        (table.keys.len(), table.items, table.prefixes.len())
    }

    /// CLIENT TRACKING ON with checked options.
    pub fn enable(&self, client: &ClientHandle, options: &Options) {
        let mut table = self.table.lock();
        let mut mode = client.tracking.lock();
        if !mode.on {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        mode.on = true;
        mode.redirect = options.redirect;
        mode.broken_redirect = false;
        mode.bcast = options.bcast;
        mode.optin = options.optin;
        mode.optout = options.optout;
        mode.noloop = options.noloop;
        if options.bcast {
            let mut prefixes = options.prefixes.clone();
            if prefixes.is_empty() {
                prefixes.push(Bytes::new());
            }
            for prefix in prefixes {
                table.prefixes.entry(prefix.clone()).or_default().insert(client.id);
                mode.prefixes.insert(prefix);
            }
        }
        client.tracking_on.store(true, Ordering::Relaxed);
    }

    /// CLIENT TRACKING OFF, RESET, disconnect. The client's ids stay in the key table until
    /// those keys change (as in Redis: forgetting them eagerly would cost a scan).
    pub fn disable(&self, client: &ClientHandle) {
        let mut table = self.table.lock();
        let mut mode = client.tracking.lock();
        for prefix in &mode.prefixes {
            if let Some(ids) = table.prefixes.get_mut(prefix) {
                ids.remove(&client.id);
                if ids.is_empty() {
                    table.prefixes.remove(prefix);
                }
            }
        }
        table.own_writes.remove(&client.id);
        if mode.on {
            self.clients.fetch_sub(1, Ordering::Relaxed);
        }
        *mode = Mode::default();
        client.tracking_on.store(false, Ordering::Relaxed);
    }

    /// Whether `client` remembers the keys it reads now (default mode, and OPTIN/OPTOUT as
    /// CLIENT CACHING says).
    fn remembers(client: &ClientHandle) -> bool {
        let mode = client.tracking.lock();
        // OPTIN remembers only after CACHING yes, OPTOUT unless CACHING no.
        let opted_out = if mode.optin { !mode.caching } else { mode.optout && mode.caching };
        mode.on && !mode.bcast && !opted_out
    }

    /// A script of `client` with these declared keys is about to run: if it runs a read-only
    /// command, its keys are remembered then (`Event::ScriptRead`), as Redis remembers a
    /// script's keys only when it reads. False when nothing is to be remembered.
    pub fn script_sent(&self, client: &ClientHandle, keys: &[Bytes]) -> bool {
        if keys.is_empty() || !Self::remembers(client) {
            return false;
        }
        self.table.lock().scripts.push((client.id, keys.to_vec()));
        true
    }

    /// The script registered by `script_sent` got its reply.
    pub fn script_done(&self, client: &ClientHandle, keys: &[Bytes]) {
        let mut table = self.table.lock();
        if let Some(at) = table.scripts.iter().position(|(id, k)| *id == client.id && k == keys) {
            table.scripts.remove(at);
        }
    }

    /// A read-only command of `client` is about to read `keys`: remember them for it
    /// (default mode, and OPTIN/OPTOUT as CLIENT CACHING says).
    pub fn remember(&self, client: &ClientHandle, keys: impl IntoIterator<Item = Bytes>) {
        if !Self::remembers(client) {
            return;
        }
        let mut table = self.table.lock();
        let table = &mut *table;
        for key in keys {
            if table.keys.entry(key).or_default().insert(client.id) {
                table.items += 1;
            }
        }
    }

    /// A NOLOOP client is about to propose a write of `keys` (see the module comment).
    pub fn writing(&self, client: &ClientHandle, keys: &[Bytes]) {
        if keys.is_empty() || !client.tracking.lock().noloop {
            return;
        }
        let mut table = self.table.lock();
        let marks = table.own_writes.entry(client.id).or_default();
        for key in keys {
            *marks.entry(key.clone()).or_default() += 1;
        }
    }

    /// The write marked by `writing` got its reply: drops what is left of its marks.
    pub fn written(&self, client: &ClientHandle, keys: &[Bytes]) {
        if keys.is_empty() {
            return;
        }
        let mut table = self.table.lock();
        let Some(marks) = table.own_writes.get_mut(&client.id) else {
            return;
        };
        for key in keys {
            if let Some(count) = marks.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    marks.remove(key);
                }
            }
        }
        if marks.is_empty() {
            table.own_writes.remove(&client.id);
        }
    }

    /// Sends the invalidations an applied batch of events calls for.
    pub fn on_events(&self, node: &Node, events: &[Event]) {
        if self.clients.load(Ordering::Relaxed) == 0 {
            // Nobody tracks: ids left in the table belong to connections that stopped, and a
            // flush still empties it.
            if events.iter().any(|e| matches!(e, Event::DbChanged { .. })) {
                let mut table = self.table.lock();
                table.keys.clear();
                table.items = 0;
            }
            return;
        }
        let mut messages: Vec<Message> = Vec::new();
        {
            let mut table = self.table.lock();
            let table = &mut *table;
            let mut flushed = false;
            // BCAST: prefix → changed key → clients whose own write changed it.
            let mut broadcast: BTreeMap<Bytes, BTreeMap<Bytes, BTreeSet<u64>>> = BTreeMap::new();
            // Marks used up by this batch: (client, key).
            let mut used: BTreeSet<(u64, Bytes)> = BTreeSet::new();
            for event in events {
                let key = match event {
                    Event::Notify { class, key, .. } => {
                        if *class == flotilla_storage::ctx::class::KEY_MISS
                            || *class == flotilla_storage::ctx::class::NEW
                        {
                            continue;
                        }
                        key
                    }
                    Event::DbChanged { .. } => {
                        table.keys.clear();
                        table.items = 0;
                        if !flushed {
                            flushed = true;
                            for client in node.clients.list() {
                                if client.tracking_on.load(Ordering::Relaxed) {
                                    messages.push((client, None));
                                }
                            }
                        }
                        continue;
                    }
                    Event::ScriptRead { keys } => {
                        // The script's sender is not in the event: every pending script with
                        // the same declared keys is taken as its (at worst an extra
                        // invalidation later, never a missed one).
                        let readers: Vec<u64> = table
                            .scripts
                            .iter()
                            .filter(|(_, declared)| declared == keys)
                            .map(|(id, _)| *id)
                            .collect();
                        for id in readers {
                            for key in keys {
                                if table.keys.entry(key.clone()).or_default().insert(id) {
                                    table.items += 1;
                                }
                            }
                        }
                        continue;
                    }
                    Event::Ready { .. }
                    | Event::ScriptCommand { .. }
                    | Event::ScriptCallError { .. }
                    | Event::ScriptAclDenied { .. } => continue,
                };
                let writers: BTreeSet<u64> = table
                    .own_writes
                    .iter()
                    .filter(|(_, marks)| marks.contains_key(key))
                    .map(|(id, _)| *id)
                    .collect();
                for id in &writers {
                    used.insert((*id, key.clone()));
                }
                for (prefix, _) in table.prefixes.iter().filter(|(prefix, _)| key.starts_with(prefix)) {
                    broadcast
                        .entry(prefix.clone())
                        .or_default()
                        .insert(key.clone(), writers.clone());
                }
                let Some(ids) = table.keys.remove(key) else {
                    continue;
                };
                table.items -= ids.len();
                for id in ids {
                    let Some(client) = node.clients.get(id) else {
                        continue;
                    };
                    {
                        let mode = client.tracking.lock();
                        if !mode.on || mode.bcast || (mode.noloop && writers.contains(&id)) {
                            continue;
                        }
                    }
                    messages.push((client, Some(vec![key.clone()])));
                }
            }
            for (id, key) in used {
                if let Some(marks) = table.own_writes.get_mut(&id) {
                    if let Some(count) = marks.get_mut(&key) {
                        *count -= 1;
                        if *count == 0 {
                            marks.remove(&key);
                        }
                    }
                }
            }
            table.own_writes.retain(|_, marks| !marks.is_empty());
            for (prefix, keys) in broadcast {
                let Some(ids) = table.prefixes.get(&prefix) else {
                    continue;
                };
                for &id in ids {
                    let Some(client) = node.clients.get(id) else {
                        continue;
                    };
                    let noloop = client.tracking.lock().noloop;
                    let keys: Vec<Bytes> = keys
                        .iter()
                        .filter(|(_, writers)| !(noloop && writers.contains(&id)))
                        .map(|(key, _)| key.clone())
                        .collect();
                    if !keys.is_empty() {
                        messages.push((client, Some(keys)));
                    }
                }
            }
        }
        for (client, keys) in messages {
            send(node, &client, keys);
        }
    }

    /// Forgets keys until the table holds at most `max_keys` (0: no limit), telling their
    /// clients as if the keys had changed (`tracking-table-max-keys`).
    pub fn enforce_limit(&self, node: &Node, max_keys: usize) {
        if max_keys == 0 {
            return;
        }
        let mut messages: Vec<Message> = Vec::new();
        {
            let mut table = self.table.lock();
            let excess = table.keys.len().saturating_sub(max_keys);
            if excess == 0 {
                return;
            }
            let evicted: Vec<Bytes> = table.keys.keys().take(excess).cloned().collect();
            for key in evicted {
                let ids = table.keys.remove(&key).expect("listed");
                table.items -= ids.len();
                for id in ids {
                    if let Some(client) = node.clients.get(id) {
                        let mode = client.tracking.lock();
                        if mode.on && !mode.bcast {
                            drop(mode);
                            messages.push((client, Some(vec![key.clone()])));
                        }
                    }
                }
            }
        }
        for (client, keys) in messages {
            send(node, &client, keys);
        }
    }
}

/// Sends one invalidation for `client`: on its own connection (RESP3), or to its redirect
/// target (a RESP3 push, or in RESP2 a message on `__redis__:invalidate` if the target is a
/// subscriber). A RESP2 connection without a redirect gets nothing, as in Redis.
fn send(node: &Node, client: &Arc<ClientHandle>, keys: Option<Vec<Bytes>>) {
    let redirect = client.tracking.lock().redirect;
    let (target, redirected) = if redirect != 0 {
        match node.clients.get(redirect) {
            Some(target) => (target, true),
            None => {
                client.tracking.lock().broken_redirect = true;
                if client.resp.load(Ordering::Relaxed) >= 3 {
                    let push = Reply::Push(vec![
                        Reply::Bulk(Bytes::from_static(b"tracking-redir-broken")),
                        Reply::Int(redirect as i64),
                    ]);
                    client.push(push, 48);
                }
                return;
            }
        }
    } else {
        (client.clone(), false)
    };
    let size = 48 + keys.as_ref().map_or(0, |keys| keys.iter().map(|k| k.len() + 16).sum());
    let payload = match keys {
        Some(keys) => Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
        None => Reply::Nil,
    };
    let push = if target.resp.load(Ordering::Relaxed) >= 3 {
        Reply::Push(vec![Reply::Bulk(Bytes::from_static(b"invalidate")), payload])
    } else if redirected && target.is_subscribed() {
        Reply::Push(vec![
            Reply::Bulk(Bytes::from_static(b"message")),
            Reply::Bulk(Bytes::from_static(INVALIDATE_CHANNEL)),
            payload,
        ])
    } else {
        return;
    };
    target.push(push, size);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn options_parse_as_redis() {
        let options = parse(&args(&["on", "REDIRECT", "7", "bcast", "PREFIX", "a:", "noloop"]), |id| id == 7).unwrap();
        assert!(options.on && options.bcast && options.noloop);
        assert_eq!(options.redirect, 7);
        assert_eq!(options.prefixes, args(&["a:"]));
        assert_eq!(
            parse(&args(&["on", "REDIRECT", "8"]), |id| id == 7).unwrap_err(),
            "ERR The client ID you want redirect to does not exist"
        );
        assert_eq!(
            parse(&args(&["on", "REDIRECT", "7", "REDIRECT", "7"]), |_| true).unwrap_err(),
            "ERR A client can only redirect to a single other client"
        );
        assert_eq!(parse(&args(&["on", "prefix"]), |_| true).unwrap_err(), "ERR syntax error");
        assert_eq!(parse(&args(&["maybe"]), |_| true).unwrap_err(), "ERR syntax error");
        assert!(!parse(&args(&["OFF"]), |_| true).unwrap().on);
    }

    #[test]
    fn incompatible_options_are_refused() {
        let off = Mode::default();
        let check = |mode: &Mode, words: &[&str]| check_enable(mode, &parse(&args(words), |_| true).unwrap());
        assert_eq!(
            check(&off, &["on", "prefix", "a"]).unwrap_err(),
            "ERR PREFIX option requires BCAST mode to be enabled"
        );
        assert_eq!(
            check(&off, &["on", "bcast", "optin"]).unwrap_err(),
            "ERR OPTIN and OPTOUT are not compatible with BCAST"
        );
        assert_eq!(
            check(&off, &["on", "optin", "optout"]).unwrap_err(),
            "ERR You can't specify both OPTIN mode and OPTOUT mode"
        );
        let optin = Mode { on: true, optin: true, ..Mode::default() };
        assert!(check(&optin, &["on", "optout"]).unwrap_err().starts_with("ERR You can't switch OPTIN/OPTOUT"));
        assert!(check(&optin, &["on", "bcast"]).unwrap_err().starts_with("ERR You can't switch BCAST"));
        assert!(check(&optin, &["on", "optin"]).is_ok());
    }

    #[test]
    fn overlapping_prefixes_are_refused() {
        let off = Mode::default();
        let check = |mode: &Mode, words: &[&str]| check_enable(mode, &parse(&args(words), |_| true).unwrap());
        assert_eq!(
            check(&off, &["on", "bcast", "prefix", "FOOBAR", "prefix", "FOO"]).unwrap_err(),
            "ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap."
        );
        let bcast = Mode {
            on: true,
            bcast: true,
            prefixes: args(&["FOO", "BAR"]).into_iter().collect(),
            ..Mode::default()
        };
        assert_eq!(
            check(&bcast, &["on", "bcast", "prefix", "BARB"]).unwrap_err(),
            "ERR Prefix 'BARB' overlaps with an existing prefix 'BAR'. Prefixes for a single client must not overlap."
        );
        assert!(check(&bcast, &["on", "bcast", "prefix", "BAZ"]).is_ok());
    }
}
