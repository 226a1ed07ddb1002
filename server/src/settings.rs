//! Run-time parameters: what CONFIG GET reports and CONFIG SET changes. Parameters Flotilla
//! honours are parsed into typed fields; the ones clients only read (save, appendonly …)
//! report fixed, truthful values.

use std::collections::BTreeMap;

use crate::config::Args;

pub struct Settings {
    values: BTreeMap<&'static str, String>,
    pub requirepass: Option<String>,
    pub maxclients: usize,
    pub timeout_s: u64,
    /// Parsed `notify-keyspace-events` classes (letters, with K and E).
    pub notify_flags: String,
    pub slowlog_slower_than_us: i64,
    pub slowlog_max_len: usize,
}

/// (name, default) of every parameter CONFIG GET knows.
const PARAMETERS: &[(&str, &str)] = &[
    ("appendfsync", "always"),
    ("appendonly", "yes"),
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
    ("cluster-enabled", "no"),
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
            slowlog_slower_than_us: 10_000,
            slowlog_max_len: 128,
        }
    }

    /// Parameters whose name matches the glob `pattern`, as (name, value) pairs.
    pub fn get(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        self.values
            .iter()
            .filter(|(name, _)| flotilla_storage::glob::matches(pattern, name.as_bytes(), true))
            .map(|(name, value)| (*name, value.clone()))
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
            "timeout" => self.timeout_s = number()?.max(0) as u64,
            "notify-keyspace-events" => self.notify_flags = parse_notify_flags(value)?,
            "slowlog-log-slower-than" => self.slowlog_slower_than_us = number()?,
            "slowlog-max-len" => self.slowlog_max_len = number()?.max(0) as usize,
            "maxmemory" | "hz" | "proto-max-bulk-len" => {
                number()?;
            }
            "port" | "bind" | "dir" | "databases" | "cluster-enabled" => {
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
