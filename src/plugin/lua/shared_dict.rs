//! `ngx.shared.DICT`: OpenResty's shared dictionaries, process-wide (every
//! worker thread's VM sees the same entries), for counters and small state
//! Lua plugins share across requests. A dictionary exists on first use
//! (OpenResty declares them in nginx.conf); at most [`MAX_DICTS`] exist.
//!
//! Methods, with OpenResty's results: `get`, `set`, `safe_set`, `add`,
//! `safe_add`, `replace`, `incr`, `delete`, `ttl`, `expire`, `flush_all`.
//! Values are numbers, booleans and strings (at most [`MAX_VALUE_BYTES`]).
//! Each dictionary holds at most [`MAX_KEYS`] keys and [`MAX_BYTES`] of keys
//! and values, split over [`SHARDS`] independently locked shards. When a
//! shard is full, expired entries go first; then `set`, `add`, `replace`
//! and `incr` evict other entries (in no particular order, where OpenResty
//! evicts the least recently used) and return `forcible = true`, and
//! `safe_set`/`safe_add` fail with `"no memory"`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value as LuaValue};

use crate::plugin::builtin::limit_common::now_ms;

/// Keys one dictionary holds.
pub const MAX_KEYS: usize = 100_000;
/// Bytes of keys and values one dictionary holds.
pub const MAX_BYTES: usize = 64 << 20;
/// Largest string value.
pub const MAX_VALUE_BYTES: usize = 512 << 10;
/// Longest key (OpenResty's limit).
const MAX_KEY_BYTES: usize = 65_535;
/// Dictionaries a process holds.
pub const MAX_DICTS: usize = 64;
/// Shards of a dictionary.
const SHARDS: usize = 64;
/// What an entry costs beyond its key and value bytes.
const ENTRY_OVERHEAD: usize = 64;

#[derive(Clone)]
enum Stored {
    Number(f64),
    Bool(bool),
    Bytes(Arc<[u8]>),
}

impl Stored {
    fn len(&self) -> usize {
        match self {
            Stored::Bytes(b) => b.len(),
            _ => 8,
        }
    }
}

struct Entry {
    value: Stored,
    /// Monotonic milliseconds; `None` never expires.
    expires_at: Option<f64>,
}

impl Entry {
    fn expired(&self, now: f64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

fn entry_size(key: &str, value: &Stored) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    bytes: usize,
}

/// Whether a write may evict live entries to make room.
#[derive(Clone, Copy, PartialEq)]
enum Room {
    Evict,
    Safe,
}

impl Shard {
    /// The live entry of `key` (an expired one is removed).
    fn live(&mut self, key: &str, now: f64) -> Option<&mut Entry> {
        if self.map.get(key).is_some_and(|e| e.expired(now)) {
            self.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= entry_size(key, &e.value);
        }
    }

    /// Store `value` under `key`; `Err("no memory")` when it does not fit
    /// and `room` is `Safe`, else whether live entries were evicted.
    fn store(
        &mut self,
        key: &str,
        entry: Entry,
        room: Room,
        now: f64,
    ) -> Result<bool, &'static str> {
        let previous = self.map.remove(key);
        if let Some(p) = &previous {
            self.bytes -= entry_size(key, &p.value);
        }
        let size = entry_size(key, &entry.value);
        let (max_keys, max_bytes) = (MAX_KEYS / SHARDS, MAX_BYTES / SHARDS);
        let full = |s: &Shard| s.map.len() >= max_keys || s.bytes + size > max_bytes;
        // A refused write leaves the previous value in place.
        let refuse = |s: &mut Shard, previous: Option<Entry>| {
            if let Some(p) = previous {
                s.bytes += entry_size(key, &p.value);
                s.map.insert(key.to_string(), p);
            }
            Err("no memory")
        };
        if size > max_bytes {
            return refuse(self, previous);
        }
        if full(self) {
            let bytes = &mut self.bytes;
            self.map.retain(|k, e| {
                let keep = !e.expired(now);
                if !keep {
                    *bytes -= entry_size(k, &e.value);
                }
                keep
            });
        }
        let mut forcible = false;
        while full(self) {
            if room == Room::Safe {
                return refuse(self, previous);
            }
            let Some(victim) = self.map.keys().next().cloned() else {
                break;
            };
            self.remove(&victim);
            forcible = true;
        }
        self.bytes += size;
        self.map.insert(key.to_string(), entry);
        Ok(forcible)
    }
}

/// One dictionary.
struct Dict {
    shards: Vec<Mutex<Shard>>,
}

impl Dict {
    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        // FNV-1a: cheap and stable.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.as_bytes() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.shards[(h as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

static DICTS: LazyLock<Mutex<HashMap<String, Arc<Dict>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn dict(name: &str) -> Result<Arc<Dict>, String> {
    let mut dicts = DICTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(d) = dicts.get(name) {
        return Ok(d.clone());
    }
    if dicts.len() >= MAX_DICTS {
        return Err(format!(
            "too many shared dictionaries (at most {MAX_DICTS})"
        ));
    }
    let d = Arc::new(Dict {
        shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
    });
    dicts.insert(name.to_string(), d.clone());
    Ok(d)
}

/// A dictionary as Lua sees it.
struct DictHandle(Arc<Dict>);

/// A key as OpenResty takes it: a non-empty string or a number.
fn key_of(key: &LuaValue) -> Result<String, &'static str> {
    let k = match key {
        LuaValue::Nil => return Err("nil key"),
        LuaValue::String(s) => s.to_string_lossy(),
        LuaValue::Integer(i) => i.to_string(),
        LuaValue::Number(n) => n.to_string(),
        _ => return Err("bad key type"),
    };
    match k.len() {
        0 => Err("empty key"),
        n if n > MAX_KEY_BYTES => Err("key too long"),
        _ => Ok(k),
    }
}

/// `exptime` in seconds (0 or absent: never) as an expiry instant.
fn expiry(exptime: Option<f64>, now: f64) -> mlua::Result<Option<f64>> {
    match exptime {
        Some(s) if s < 0.0 || s.is_nan() => Err(mlua::Error::runtime(
            "bad \"exptime\" argument: must not be negative",
        )),
        Some(s) if s > 0.0 => Ok(Some(now + s * 1000.0)),
        _ => Ok(None),
    }
}

fn stored(value: &LuaValue) -> Result<Stored, &'static str> {
    match value {
        LuaValue::Number(n) => Ok(Stored::Number(*n)),
        LuaValue::Integer(i) => Ok(Stored::Number(*i as f64)),
        LuaValue::Boolean(b) => Ok(Stored::Bool(*b)),
        LuaValue::String(s) => {
            let bytes = s.as_bytes();
            if bytes.len() > MAX_VALUE_BYTES {
                return Err("value too large");
            }
            Ok(Stored::Bytes(Arc::from(&bytes[..])))
        }
        _ => Err("bad value type"),
    }
}

fn to_lua(lua: &Lua, value: &Stored) -> mlua::Result<LuaValue> {
    Ok(match value {
        Stored::Number(n) => LuaValue::Number(*n),
        Stored::Bool(b) => LuaValue::Boolean(*b),
        Stored::Bytes(b) => LuaValue::String(lua.create_string(&**b)?),
    })
}

fn text(lua: &Lua, s: &str) -> mlua::Result<LuaValue> {
    Ok(LuaValue::String(lua.create_string(s)?))
}

/// A setter's `ok, err, forcible`.
fn set_result(lua: &Lua, r: Result<bool, &str>) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(match r {
        Ok(forcible) => vec![
            LuaValue::Boolean(true),
            LuaValue::Nil,
            LuaValue::Boolean(forcible),
        ],
        Err(e) => vec![
            LuaValue::Boolean(false),
            text(lua, e)?,
            LuaValue::Boolean(false),
        ],
    }))
}

/// `nil, err`.
fn missing(lua: &Lua, err: &str) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![LuaValue::Nil, text(lua, err)?]))
}

/// When `set` and its variants store.
#[derive(Clone, Copy, PartialEq)]
enum When {
    Always,
    Absent,
    Present,
}

impl DictHandle {
    /// `f` of the live entry of `key` (and the time), under its shard's
    /// lock; `nil, err` for a key OpenResty would refuse.
    fn with_live(
        &self,
        lua: &Lua,
        key: &LuaValue,
        f: impl FnOnce(Option<&mut Entry>, f64) -> mlua::Result<MultiValue>,
    ) -> mlua::Result<MultiValue> {
        let key = match key_of(key) {
            Ok(k) => k,
            Err(e) => return missing(lua, e),
        };
        let now = now_ms();
        let mut shard = self.0.shard(&key);
        f(shard.live(&key, now), now)
    }

    fn set(
        &self,
        lua: &Lua,
        (key, value, exptime): (LuaValue, LuaValue, Option<f64>),
        when: When,
        room: Room,
    ) -> mlua::Result<MultiValue> {
        let key = match key_of(&key) {
            Ok(k) => k,
            Err(e) => return set_result(lua, Err(e)),
        };
        let now = now_ms();
        let mut shard = self.0.shard(&key);
        if value.is_nil() && when == When::Always {
            shard.remove(&key);
            return set_result(lua, Ok(false));
        }
        let value = match stored(&value) {
            Ok(v) => v,
            Err(e) => return set_result(lua, Err(e)),
        };
        let expires_at = expiry(exptime, now)?;
        let present = shard.live(&key, now).is_some();
        match when {
            When::Absent if present => return set_result(lua, Err("exists")),
            When::Present if !present => return set_result(lua, Err("not found")),
            _ => {}
        }
        let entry = Entry { value, expires_at };
        set_result(lua, shard.store(&key, entry, room, now))
    }

    fn incr(
        &self,
        lua: &Lua,
        (key, by, init, init_ttl): (LuaValue, f64, Option<f64>, Option<f64>),
    ) -> mlua::Result<MultiValue> {
        let key = match key_of(&key) {
            Ok(k) => k,
            Err(e) => return missing(lua, e),
        };
        let now = now_ms();
        let mut shard = self.0.shard(&key);
        if let Some(e) = shard.live(&key, now) {
            let Stored::Number(n) = e.value else {
                return missing(lua, "not a number");
            };
            e.value = Stored::Number(n + by);
            return Ok(MultiValue::from_vec(vec![
                LuaValue::Number(n + by),
                LuaValue::Nil,
                LuaValue::Boolean(false),
            ]));
        }
        let Some(init) = init else {
            return missing(lua, "not found");
        };
        let entry = Entry {
            value: Stored::Number(init + by),
            expires_at: expiry(init_ttl, now)?,
        };
        match shard.store(&key, entry, Room::Evict, now) {
            Ok(forcible) => Ok(MultiValue::from_vec(vec![
                LuaValue::Number(init + by),
                LuaValue::Nil,
                LuaValue::Boolean(forcible),
            ])),
            Err(e) => missing(lua, e),
        }
    }
}

impl UserData for DictHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("get", |lua, this, key: LuaValue| {
            this.with_live(lua, &key, |entry, _| match entry {
                Some(e) => Ok(MultiValue::from_vec(vec![to_lua(lua, &e.value)?])),
                None => Ok(MultiValue::from_vec(vec![LuaValue::Nil])),
            })
        });
        methods.add_method("set", |lua, this, args| {
            this.set(lua, args, When::Always, Room::Evict)
        });
        methods.add_method("safe_set", |lua, this, args| {
            this.set(lua, args, When::Always, Room::Safe)
        });
        methods.add_method("add", |lua, this, args| {
            this.set(lua, args, When::Absent, Room::Evict)
        });
        methods.add_method("safe_add", |lua, this, args| {
            this.set(lua, args, When::Absent, Room::Safe)
        });
        methods.add_method("replace", |lua, this, args| {
            this.set(lua, args, When::Present, Room::Evict)
        });
        methods.add_method("incr", |lua, this, args| this.incr(lua, args));
        methods.add_method("delete", |_, this, key: LuaValue| {
            if let Ok(key) = key_of(&key) {
                this.0.shard(&key).remove(&key);
            }
            Ok(())
        });
        methods.add_method("ttl", |lua, this, key: LuaValue| {
            this.with_live(lua, &key, |entry, now| match entry {
                Some(e) => {
                    let left = e.expires_at.map_or(0.0, |t| (t - now) / 1000.0);
                    Ok(MultiValue::from_vec(vec![LuaValue::Number(left)]))
                }
                None => missing(lua, "not found"),
            })
        });
        methods.add_method("expire", |lua, this, (key, exptime): (LuaValue, f64)| {
            let expires_at = expiry(Some(exptime), now_ms())?;
            this.with_live(lua, &key, |entry, _| match entry {
                Some(e) => {
                    e.expires_at = expires_at;
                    Ok(MultiValue::from_vec(vec![LuaValue::Boolean(true)]))
                }
                None => missing(lua, "not found"),
            })
        });
        methods.add_method("flush_all", |_, this, ()| {
            for shard in &this.0.shards {
                *shard.lock().unwrap_or_else(|p| p.into_inner()) = Shard::default();
            }
            Ok(())
        });
    }
}

/// Add `shared_dict(name)` to the host table.
pub fn install(lua: &Lua, h: &Table) -> mlua::Result<()> {
    h.raw_set(
        "shared_dict",
        lua.create_function(|_, name: String| {
            dict(&name).map(DictHandle).map_err(mlua::Error::runtime)
        })?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: f64) -> Entry {
        Entry {
            value: Stored::Number(n),
            expires_at: None,
        }
    }

    #[test]
    fn a_full_shard_drops_expired_entries_then_evicts_or_refuses() {
        let mut shard = Shard::default();
        let per_shard = MAX_KEYS / SHARDS;
        for i in 0..per_shard {
            let mut e = number(1.0);
            if i % 2 == 0 {
                e.expires_at = Some(5.0);
            }
            assert_eq!(shard.store(&format!("k{i}"), e, Room::Safe, 0.0), Ok(false));
        }
        // Full; at t=10 half the entries expired and make room.
        assert_eq!(shard.store("new", number(2.0), Room::Safe, 10.0), Ok(false));
        assert_eq!(shard.map.len(), per_shard / 2 + 1);
        for i in 0..per_shard / 2 - 1 {
            assert_eq!(
                shard.store(&format!("m{i}"), number(1.0), Room::Safe, 10.0),
                Ok(false)
            );
        }
        // Full of live entries: safe writes fail, others evict one.
        assert_eq!(
            shard.store("x", number(1.0), Room::Safe, 10.0),
            Err("no memory")
        );
        assert_eq!(shard.store("x", number(1.0), Room::Evict, 10.0), Ok(true));
        assert_eq!(shard.map.len(), per_shard);
        let bytes: usize = shard.map.iter().map(|(k, e)| entry_size(k, &e.value)).sum();
        assert_eq!(shard.bytes, bytes, "the byte count follows every change");
        // Replacing a key does not count it twice.
        assert_eq!(shard.store("x", number(3.0), Room::Safe, 10.0), Ok(false));
        assert_eq!(shard.map.len(), per_shard);
        // A refused write keeps the previous value.
        let big = Entry {
            value: Stored::Bytes(Arc::from(vec![0u8; MAX_BYTES / SHARDS].as_slice())),
            expires_at: None,
        };
        assert_eq!(shard.store("x", big, Room::Safe, 10.0), Err("no memory"));
        assert!(
            matches!(shard.map.get("x").map(|e| &e.value), Some(Stored::Number(n)) if *n == 3.0)
        );
    }

    #[test]
    fn keys_and_expiry_times_are_checked_as_openresty_does() {
        assert_eq!(key_of(&LuaValue::Nil), Err("nil key"));
        assert_eq!(key_of(&LuaValue::Integer(7)), Ok("7".to_string()));
        assert!(expiry(Some(-1.0), 0.0).is_err());
        assert_eq!(expiry(Some(0.0), 0.0).unwrap(), None);
        assert_eq!(expiry(Some(2.0), 1.0).unwrap(), Some(2001.0));
    }
}
