//! The Redis Functions registry: libraries loaded by FUNCTION LOAD, each with the functions
//! its code registered (`redis.register_function`), as replicated state (`Keyspace::libraries`).
//!
//! Only the code of a library is essential: its functions, descriptions and flags are what
//! running the code registers, which is deterministic, so FUNCTION RESTORE and a snapshot keep
//! the code and the registrations found when it was loaded. Nothing of a Lua state is kept: an
//! FCALL runs the library's code again in a fresh state and calls the registered callback
//! (see `lua.rs`), so one library's run can never see another's, nor an earlier call's.
//!
//! Names follow Redis: library names are case-sensitive, function names are looked up
//! case-insensitively across all libraries (FCALL TEST finds `test`), and both may hold only
//! letters, digits and `_`.
//!
//! FUNCTION DUMP's payload is Flotilla's own (Redis's is an RDB fragment with a CRC64):
//! `FLOTFUN1` ‖ library count u32 ‖ per library: code length u32 ‖ code ‖ crc32 of all that
//! (little-endian). FUNCTION RESTORE reloads each library from its code.

use std::collections::BTreeMap;

use bytes::Bytes;

/// A function's flags, as `redis.register_function{flags = {…}}` gives them. Bit order is
/// Redis's `scripts_flags_def` order, which FUNCTION LIST follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionFlags(pub u8);

impl FunctionFlags {
    pub const NO_WRITES: FunctionFlags = FunctionFlags(1);
    pub const ALLOW_OOM: FunctionFlags = FunctionFlags(1 << 1);
    pub const ALLOW_STALE: FunctionFlags = FunctionFlags(1 << 2);
    pub const NO_CLUSTER: FunctionFlags = FunctionFlags(1 << 3);
    pub const ALLOW_CROSS_SLOT_KEYS: FunctionFlags = FunctionFlags(1 << 4);

    pub const NAMES: &'static [(FunctionFlags, &'static str)] = &[
        (FunctionFlags::NO_WRITES, "no-writes"),
        (FunctionFlags::ALLOW_OOM, "allow-oom"),
        (FunctionFlags::ALLOW_STALE, "allow-stale"),
        (FunctionFlags::NO_CLUSTER, "no-cluster"),
        (FunctionFlags::ALLOW_CROSS_SLOT_KEYS, "allow-cross-slot-keys"),
    ];

    pub const fn contains(self, other: FunctionFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flag named `name` (case-insensitive, as Redis compares them).
    pub fn parse(name: &[u8]) -> Option<FunctionFlags> {
        Self::NAMES
            .iter()
            .find(|(_, known)| name.eq_ignore_ascii_case(known.as_bytes()))
            .map(|(flag, _)| *flag)
    }

    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(flag, _)| self.contains(*flag)).map(|(_, name)| *name).collect()
    }
}

/// One registered function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: FunctionFlags,
}

/// A loaded library: its whole payload (shebang line included, as FUNCTION LIST WITHCODE shows
/// it) and its functions in registration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

impl Library {
    /// The code the engine runs: the payload from the shebang's newline on, so that line
    /// numbers in errors count the shebang as line 1, as in Redis.
    pub fn body(&self) -> &[u8] {
        let start = self.code.iter().position(|&byte| byte == b'\n').unwrap_or(self.code.len());
        &self.code[start..]
    }
}

/// All libraries, by name, and an index of their functions by lower-cased name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Libraries {
    libraries: BTreeMap<String, Library>,
    /// Lower-cased function name → library name.
    functions: BTreeMap<String, String>,
}

impl Libraries {
    pub fn len(&self) -> usize {
        self.libraries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// Libraries in name order (the order of FUNCTION LIST, DUMP and snapshots).
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    pub fn get(&self, name: &str) -> Option<&Library> {
        self.libraries.get(name)
    }

    /// The library and function that FCALL `name` runs.
    pub fn function(&self, name: &[u8]) -> Option<(&Library, &FunctionInfo)> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let library = self.libraries.get(self.functions.get(&lower)?)?;
        let function = library.functions.iter().find(|function| function.name.eq_ignore_ascii_case(&lower))?;
        Some((library, function))
    }

    pub fn clear(&mut self) {
        self.libraries.clear();
        self.functions.clear();
    }

    pub fn remove(&mut self, name: &str) -> Option<Library> {
        let library = self.libraries.remove(name)?;
        for function in &library.functions {
            self.functions.remove(&function.name.to_ascii_lowercase());
        }
        Some(library)
    }

    /// The first function of `library` that another library already registered.
    pub fn collision<'a>(&self, library: &'a Library) -> Option<&'a str> {
        library
            .functions
            .iter()
            .find(|function| self.functions.contains_key(&function.name.to_ascii_lowercase()))
            .map(|function| function.name.as_str())
    }

    /// Adds a library whose name and functions are free (the caller checked).
    pub fn insert(&mut self, library: Library) {
        assert!(!self.libraries.contains_key(&library.name), "library {} twice", library.name);
        for function in &library.functions {
            let previous = self.functions.insert(function.name.to_ascii_lowercase(), library.name.clone());
            assert!(previous.is_none(), "function {} twice", function.name);
        }
        self.libraries.insert(library.name.clone(), library);
    }

    /// Adds `incoming` (FUNCTION LOAD or RESTORE): with `replace`, libraries of the same name
    /// are replaced; otherwise a name already present is an error. Either way no function may
    /// collide with one of another library. All or nothing: on error nothing changed.
    pub fn join(&mut self, incoming: Vec<Library>, replace: bool, quoted: bool) -> Result<(), String> {
        let mut removed = Vec::new();
        for library in &incoming {
            if self.libraries.contains_key(&library.name) {
                if !replace {
                    self.restore_removed(removed);
                    return Err(if quoted {
                        format!("Library '{}' already exists", library.name)
                    } else {
                        format!("Library {} already exists", library.name)
                    });
                }
                removed.push(self.remove(&library.name).expect("present"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for library in &incoming {
            if let Some(name) = self.collision(library) {
                let name = name.to_string();
                self.restore_removed(removed);
                return Err(format!("Function {name} already exists"));
            }
            for function in &library.functions {
                if !seen.insert(function.name.to_ascii_lowercase()) {
                    self.restore_removed(removed);
                    return Err(format!("Function {} already exists", function.name));
                }
            }
        }
        for library in incoming {
            self.insert(library);
        }
        Ok(())
    }

    fn restore_removed(&mut self, removed: Vec<Library>) {
        for library in removed {
            self.insert(library);
        }
    }
}

/// Letters, digits and `_`, at least one (Redis's `functionsVerifyName`).
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
}

pub const INVALID_NAME: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The `#!<engine> name=<library>` first line of a library: (engine, name).
pub fn parse_metadata(code: &[u8]) -> Result<(String, String), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&byte| byte == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let Some(parts) = flotilla_protocol::split_args(&code[..end]) else {
        return Err("Invalid library metadata".into());
    };
    if parts.is_empty() {
        return Err("Invalid library metadata".into());
    }
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!("Invalid metadata value given: {}", String::from_utf8_lossy(part)));
    }
    let name = name.ok_or_else(|| "Library name was not given".to_string())?;
    Ok((engine, name))
}

const DUMP_MAGIC: &[u8; 8] = b"FLOTFUN1";
pub const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";

/// FUNCTION DUMP's payload: the code of every library (see the module comment).
pub fn dump(libraries: &Libraries) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(DUMP_MAGIC);
    out.extend_from_slice(&(libraries.len() as u32).to_le_bytes());
    for library in libraries.iter() {
        out.extend_from_slice(&(library.code.len() as u32).to_le_bytes());
        out.extend_from_slice(&library.code);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a FUNCTION DUMP payload; None when it is not one of ours or damaged.
pub fn undump(payload: &[u8]) -> Option<Vec<Bytes>> {
    if payload.len() < DUMP_MAGIC.len() + 8 || &payload[..DUMP_MAGIC.len()] != DUMP_MAGIC {
        return None;
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut position = DUMP_MAGIC.len();
    let mut take = |len: usize| -> Option<&[u8]> {
        let end = position.checked_add(len).filter(|end| *end <= body.len())?;
        let slice = &body[position..end];
        position = end;
        Some(slice)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut codes = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        codes.push(Bytes::copy_from_slice(take(len)?));
    }
    (position == body.len()).then_some(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(name: &str, functions: &[&str]) -> Library {
        Library {
            name: name.into(),
            code: Bytes::from(format!("#!lua name={name}\n")),
            functions: functions
                .iter()
                .map(|function| FunctionInfo { name: (*function).into(), description: None, flags: FunctionFlags::default() })
                .collect(),
        }
    }

    #[test]
    fn metadata_is_read_as_redis_reads_it() {
        assert_eq!(parse_metadata(b"#!lua name=lib\nx"), Ok(("lua".into(), "lib".into())));
        assert_eq!(parse_metadata(b"#!LUA NAME=\"foo\"\n"), Ok(("LUA".into(), "foo".into())));
        assert_eq!(parse_metadata(b"#! name=test\n"), Ok(("".into(), "test".into())));
        assert_eq!(parse_metadata(b"lua name=x"), Err("Missing library metadata".into()));
        assert_eq!(parse_metadata(b"#!lua name=x"), Err("Invalid library metadata".into()));
        assert_eq!(parse_metadata(b"#!lua\n"), Err("Library name was not given".into()));
        assert_eq!(parse_metadata(b"#!lua name=test foo=bar\n"), Err("Invalid metadata value given: foo=bar".into()));
        assert_eq!(
            parse_metadata(b"#!lua name=foo name=bar\n"),
            Err("Invalid metadata value, name argument was given multiple times".into())
        );
        assert!(valid_name(b"a_1Z"));
        assert!(!valid_name(b""));
        assert!(!valid_name(b"bad\0name"));
    }

    #[test]
    fn functions_are_found_case_insensitively_and_never_collide() {
        let mut libraries = Libraries::default();
        libraries.join(vec![library("lib1", &["f1", "F2"])], false, true).unwrap();
        assert_eq!(libraries.function(b"F1").map(|(lib, f)| (lib.name.as_str(), f.name.as_str())), Some(("lib1", "f1")));
        assert_eq!(libraries.function(b"f2").map(|(_, f)| f.name.as_str()), Some("F2"));
        assert_eq!(libraries.join(vec![library("lib1", &["g"])], false, true), Err("Library 'lib1' already exists".into()));
        assert_eq!(libraries.join(vec![library("lib1", &["g"])], false, false), Err("Library lib1 already exists".into()));
        assert_eq!(libraries.join(vec![library("lib2", &["f2"])], true, true), Err("Function f2 already exists".into()));
        // A replace that fails keeps the old library.
        let before = libraries.clone();
        assert!(libraries.join(vec![library("lib1", &["x"]), library("lib3", &["x"])], true, true).is_err());
        assert_eq!(libraries, before);
        libraries.join(vec![library("lib1", &["g"])], true, true).unwrap();
        assert!(libraries.function(b"f1").is_none());
        assert_eq!(libraries.function_count(), 1);
        assert!(libraries.remove("lib1").is_some());
        assert!(libraries.is_empty() && libraries.function_count() == 0);
    }

    #[test]
    fn dump_round_trips_and_damage_is_refused() {
        let mut libraries = Libraries::default();
        libraries.insert(library("a", &["f"]));
        libraries.insert(library("b", &["g"]));
        let payload = dump(&libraries);
        let codes = undump(&payload).unwrap();
        assert_eq!(codes, vec![Bytes::from("#!lua name=a\n"), Bytes::from("#!lua name=b\n")]);
        let mut damaged = payload.clone();
        damaged[10] ^= 1;
        assert!(undump(&damaged).is_none());
        assert!(undump(b"bad_payload").is_none());
        assert_eq!(FunctionFlags(0b101).names(), ["no-writes", "allow-stale"]);
        assert_eq!(FunctionFlags::parse(b"NO-WRITES"), Some(FunctionFlags::NO_WRITES));
    }
}
