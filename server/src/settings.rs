//! Run-time parameters: what CONFIG GET reports and CONFIG SET changes. Parameters Flotilla
//! honours are parsed into typed fields; the ones clients only read (save, appendonly …)
//! report fixed, truthful values.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crate::clients::OutputLimits;

use crate::config::Args;

pub struct Settings {
    values: BTreeMap<&'static str, String>,
    pub requirepass: Option<String>,
    pub maxclients: usize,
    pub timeout_s: u64,
    /// Parsed `notify-keyspace-events` classes (letters, with K and E).
    pub notify_flags: String,
    /// Values every command reads, kept lock-free (see `Live`).
    pub live: Arc<Live>,
    /// `client-output-buffer-limit`, shared with every connection.
    pub output_limits: Arc<OutputLimits>,
}

/// Parameters read on every command, as atomics so that the hot path takes no lock; the
/// node keeps a clone of the `Arc`, CONFIG SET stores into it.
#[derive(Debug)]
pub struct Live {
    pub slowlog_slower_than_us: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// `maxmemory` in bytes (0: no limit): above it, commands flagged `denyoom` are refused.
    pub maxmemory_bytes: AtomicU64,
    /// `timeout`: idle seconds before a client is closed (0: never).
    pub timeout_s: AtomicU64,
    /// `tracking-table-max-keys`: keys CLIENT TRACKING remembers at most (0: no limit).
    pub tracking_table_max_keys: AtomicU64,
    /// `notify-keyspace-events` includes class `m`: reads that miss make `keymiss` events.
    pub notify_key_misses: std::sync::atomic::AtomicBool,
    /// `notify-keyspace-events` is not empty: applied entries must report their events.
    pub notify_keyspace_events: std::sync::atomic::AtomicBool,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            slowlog_slower_than_us: AtomicI64::new(10_000),
            slowlog_max_len: AtomicU64::new(128),
            maxmemory_bytes: AtomicU64::new(0),
            timeout_s: AtomicU64::new(0),
            tracking_table_max_keys: AtomicU64::new(1_000_000),
            notify_key_misses: std::sync::atomic::AtomicBool::new(false),
            notify_keyspace_events: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// (name, default) of every parameter CONFIG GET knows.
const PARAMETERS: &[(&str, &str)] = &[
    ("appendfsync", "always"),
    ("appendonly", "yes"),
    ("client-output-buffer-limit", ""),
    ("bind", "127.0.0.1"),
    ("databases", "16"),
    ("dir", "./flotilla-data"),
    ("hz", "10"),
    ("maxclients", "10000"),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("notify-keyspace-events", ""),
    ("port", "6379"),
    ("proto-max-bulk-len", "536870912"),
    ("replica-read-only", "yes"),
    ("requirepass", ""),
    ("save", ""),
    ("slave-read-only", "yes"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("timeout", "0"),
    ("tracking-table-max-keys", "1000000"),
    ("cluster-enabled", "no"),
    // Lists are not compressed; the depth is kept so CONFIG GET reads back what was set.
    ("list-compress-depth", "0"),
    // Read by tools, checked as Redis checks them, kept so CONFIG GET reads back what was set;
    // Flotilla has no replication backlog, no eviction sampling and no client eviction.
    ("repl-backlog-size", "1048576"),
    ("maxmemory-samples", "5"),
    ("maxmemory-clients", "0"),
    ("client-query-buffer-limit", "1073741824"),
    // Immutable, as in Redis: a Flotilla node is never a Redis replica and never daemonizes.
    ("daemonize", "no"),
    ("replicaof", ""),
    ("slaveof", ""),
];

impl Settings {
    pub fn from_args(args: &Args) -> Settings {
        let mut values: BTreeMap<&'static str, String> = PARAMETERS
            .iter()
            .map(|(name, value)| (*name, value.to_string()))
            .collect();
        values.insert("port", args.port.to_string());
        values.insert("bind", args.bind.clone());
        values.insert("dir", args.dir.display().to_string());
        values.insert("appendfsync", args.fsync.as_str().to_string());
        values.insert("maxclients", args.maxclients.to_string());
        values.insert("timeout", args.timeout.to_string());
        values.insert("requirepass", args.requirepass.clone().unwrap_or_default());
        Settings {
            values,
            requirepass: args.requirepass.clone().filter(|p| !p.is_empty()),
            maxclients: args.maxclients,
            timeout_s: args.timeout,
            notify_flags: String::new(),
            live: Arc::new(Live {
                timeout_s: AtomicU64::new(args.timeout),
                ..Live::default()
            }),
            output_limits: Arc::new(OutputLimits::default()),
        }
    }

    /// Parameters whose name matches the glob `pattern`, as (name, value) pairs.
    pub fn get(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        self.values
            .iter()
            .filter(|(name, _)| flotilla_storage::glob::matches(pattern, name.as_bytes(), true))
            .map(|(name, value)| match *name {
                "client-output-buffer-limit" => (*name, self.output_limits.describe()),
                _ => (*name, value.clone()),
            })
            .collect()
    }

    /// Sets one parameter; the error text is Redis's reason.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        let Some((&key, _)) = self.values.get_key_value(name.as_str()) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let number = || {
            value
                .parse::<i64>()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())
        };
        match key {
            "requirepass" => self.requirepass = (!value.is_empty()).then(|| value.to_string()),
            "maxclients" => self.maxclients = number()?.max(1) as usize,
            "timeout" => {
                self.timeout_s = number()?.max(0) as u64;
                self.live.timeout_s.store(self.timeout_s, Ordering::Relaxed);
            }
            "notify-keyspace-events" => {
                self.notify_flags = parse_notify_flags(value)?;
                self.live.notify_key_misses.store(self.notify_flags.contains('m'), Ordering::Relaxed);
                self.live.notify_keyspace_events.store(!self.notify_flags.is_empty(), Ordering::Relaxed);
            }
            "slowlog-log-slower-than" => self
                .live
                .slowlog_slower_than_us
                .store(number()?, Ordering::Relaxed),
            "slowlog-max-len" => self
                .live
                .slowlog_max_len
                .store(number()?.max(0) as u64, Ordering::Relaxed),
            "client-output-buffer-limit" => self.output_limits.set(value)?,
            "maxmemory" => {
                let bytes = crate::clients::parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                self.live.maxmemory_bytes.store(bytes, Ordering::Relaxed);
            }
            "tracking-table-max-keys" => {
                let max = number()?;
                if max < 0 {
                    return Err("argument must be between 0 and 9223372036854775807 inclusive".to_string());
                }
                self.live.tracking_table_max_keys.store(max as u64, Ordering::Relaxed);
            }
            "repl-backlog-size" | "client-query-buffer-limit" => {
                crate::clients::parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
            }
            "maxmemory-samples" if !(1..=i64::from(i32::MAX)).contains(&number()?) => {
                return Err("argument must be between 1 and 2147483647 inclusive".to_string());
            }
            "maxmemory-samples" => {}
            "maxmemory-clients" => match value.strip_suffix('%') {
                Some(percent) => {
                    let percent = percent
                        .parse::<u64>()
                        .map_err(|_| "argument must be a memory or percent value".to_string())?;
                    if percent > 100 {
                        return Err("percentage argument must be less or equal to 100".to_string());
                    }
                }
                None => {
                    crate::clients::parse_memory(value)
                        .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
                }
            },
            "hz" | "proto-max-bulk-len" => {
                number()?;
            }
            "list-compress-depth" if number()? < 0 => {
                return Err("argument must be between 0 and 2147483647 inclusive".to_string());
            }
            // Redis can move its listener; a Flotilla node cannot, but setting the value it has
            // is no change (tools that write back what CONFIG GET read).
            "port" | "bind" if self.values.get(key).is_some_and(|current| current == value) => {}
            "port" | "bind" | "dir" | "databases" | "cluster-enabled" | "daemonize" | "replicaof" | "slaveof" => {
                return Err("can't set immutable config".to_string());
            }
            _ => {}
        }
        let stored = if key == "notify-keyspace-events" {
            self.notify_flags.clone()
        } else {
            value.to_string()
        };
        self.values.insert(key, stored);
        Ok(())
    }
}

/// Normalizes a `notify-keyspace-events` value as Redis does (`A` expands to `g$lshzxetd`).
fn parse_notify_flags(value: &str) -> Result<String, String> {
    const ALL: &str = "g$lshzxetd";
    let mut classes = String::new();
    let (mut keyspace, mut keyevent) = (false, false);
    for c in value.chars() {
        match c {
            'K' => keyspace = true,
            'E' => keyevent = true,
            'A' => classes.push_str(ALL),
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 't' | 'm' | 'n' | 'd' => classes.push(c),
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
        }
    }
    if !keyspace && !keyevent {
        return Ok(String::new());
    }
    let mut out = String::new();
    let all_present = ALL.chars().all(|c| classes.contains(c));
    if all_present {
        out.push('A');
    }
    for c in "g$lshzxetdmn".chars() {
        if classes.contains(c) && !(all_present && ALL.contains(c)) && !out.contains(c) {
            out.push(c);
        }
    }
    if keyspace {
        out.push('K');
    }
    if keyevent {
        out.push('E');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings() -> Settings {
        Settings::from_args(&Args::parse_from(["flotilla", "--port", "7000"]))
    }

    #[test]
    fn parameters_tools_read_are_checked_and_read_back() {
        let mut settings = settings();
        settings.set("maxmemory-clients", "50%").unwrap();
        assert_eq!(
            settings.set("maxmemory-clients", "200%").unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        settings.set("repl-backlog-size", "10mb").unwrap();
        assert_eq!(settings.get(b"repl-backlog-size"), vec![("repl-backlog-size", "10mb".to_string())]);
        assert!(settings.set("maxmemory-samples", "0").is_err());
        assert_eq!(settings.get(b"*of").len(), 2, "replicaof and its alias slaveof");
        assert_eq!(settings.set("daemonize", "yes").unwrap_err(), "can't set immutable config");
        assert_eq!(settings.set("daemonize", "no").unwrap_err(), "can't set immutable config");
        // The node cannot move its listener, but writing back its own port is no change.
        settings.set("port", "7000").unwrap();
        assert_eq!(settings.set("port", "7001").unwrap_err(), "can't set immutable config");
    }
}
