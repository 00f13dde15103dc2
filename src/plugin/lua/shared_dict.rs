//! `ngx.shared.DICT`: OpenResty's shared dictionaries, process-wide (every
//! worker thread's VM sees the same entries), for counters and small state
//! Lua plugins share across requests — `limit-count`-style counters in
//! APISIX plugins use them. A dictionary exists on first use (OpenResty
//! declares them in nginx.conf); each holds at most [`MAX_KEYS`] keys, and
//! expired entries make room first.
//!
//! Methods, with OpenResty's results: `get`, `set`, `safe_set`, `add`,
//! `safe_add`, `replace`, `incr`, `delete`, `ttl`, `expire`, `flush_all`.
//! Values are numbers, booleans and strings (at most [`MAX_VALUE_BYTES`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value as LuaValue};

use crate::plugin::builtin::limit_common::{now_ms, Sharded};

/// Keys one dictionary holds.
pub const MAX_KEYS: usize = 100_000;
/// Largest string value.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Dictionaries a process holds.
const MAX_DICTS: usize = 256;

#[derive(Clone)]
enum Stored {
    Number(f64),
    Bool(bool),
    Bytes(Arc<[u8]>),
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

/// One dictionary.
struct Dict {
    entries: Sharded<Entry>,
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
        entries: Sharded::new(MAX_KEYS),
    });
    dicts.insert(name.to_string(), d.clone());
    Ok(d)
}

/// A dictionary as Lua sees it.
struct DictHandle(Arc<Dict>);

/// `exptime` in seconds (0 or absent: never) as an expiry instant.
fn expiry(exptime: Option<f64>, now: f64) -> Option<f64> {
    exptime.filter(|s| *s > 0.0).map(|s| now + s * 1000.0)
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

/// `false, err` as OpenResty's setters return it.
fn failed(lua: &Lua, err: &str) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        LuaValue::Boolean(false),
        LuaValue::String(lua.create_string(err)?),
        LuaValue::Boolean(false),
    ]))
}

/// `true, nil, false` (stored, nothing forcibly evicted).
fn stored_ok() -> MultiValue {
    MultiValue::from_vec(vec![
        LuaValue::Boolean(true),
        LuaValue::Nil,
        LuaValue::Boolean(false),
    ])
}

/// When `set` and its variants store.
#[derive(Clone, Copy, PartialEq)]
enum When {
    Always,
    Absent,
    Present,
}

impl DictHandle {
    fn set(
        &self,
        lua: &Lua,
        (key, value, exptime): (String, LuaValue, Option<f64>),
        when: When,
    ) -> mlua::Result<MultiValue> {
        let now = now_ms();
        if value.is_nil() && when == When::Always {
            self.0.entries.update_or_remove(&key, |_| true);
            return Ok(stored_ok());
        }
        let value = match stored(&value) {
            Ok(v) => v,
            Err(e) => return failed(lua, e),
        };
        let expires_at = expiry(exptime, now);
        let refused = self.0.entries.with(
            &key,
            || Entry {
                value: Stored::Bool(false),
                expires_at: Some(f64::MIN),
            },
            |e| e.expired(now),
            |e| {
                let present = !e.expired(now);
                match when {
                    When::Absent if present => return Some("exists"),
                    When::Present if !present => return Some("not found"),
                    _ => {}
                }
                e.value = value;
                e.expires_at = expires_at;
                None
            },
        );
        match refused {
            Some(why) => failed(lua, why),
            None => Ok(stored_ok()),
        }
    }
}

impl UserData for DictHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("get", |lua, this, key: String| {
            let now = now_ms();
            let value = this
                .0
                .entries
                .get(&key, |e| (!e.expired(now)).then(|| e.value.clone()))
                .flatten();
            match value {
                Some(v) => to_lua(lua, &v),
                None => Ok(LuaValue::Nil),
            }
        });
        methods.add_method("set", |lua, this, args| this.set(lua, args, When::Always));
        methods.add_method("safe_set", |lua, this, args| {
            this.set(lua, args, When::Always)
        });
        methods.add_method("add", |lua, this, args| this.set(lua, args, When::Absent));
        methods.add_method("safe_add", |lua, this, args| {
            this.set(lua, args, When::Absent)
        });
        methods.add_method("replace", |lua, this, args| {
            this.set(lua, args, When::Present)
        });
        methods.add_method(
            "incr",
            |lua, this, (key, by, init, init_ttl): (String, f64, Option<f64>, Option<f64>)| {
                let now = now_ms();
                let result = this.0.entries.with(
                    &key,
                    || Entry {
                        value: Stored::Bool(false),
                        expires_at: Some(f64::MIN),
                    },
                    |e| e.expired(now),
                    |e| {
                        if e.expired(now) {
                            let Some(init) = init else {
                                return Err("not found");
                            };
                            e.value = Stored::Number(init);
                            e.expires_at = expiry(init_ttl, now);
                        }
                        let Stored::Number(n) = e.value else {
                            return Err("not a number");
                        };
                        e.value = Stored::Number(n + by);
                        Ok(n + by)
                    },
                );
                Ok(match result {
                    Ok(n) => MultiValue::from_vec(vec![
                        LuaValue::Number(n),
                        LuaValue::Nil,
                        LuaValue::Boolean(false),
                    ]),
                    Err(why) => MultiValue::from_vec(vec![
                        LuaValue::Nil,
                        LuaValue::String(lua.create_string(why)?),
                    ]),
                })
            },
        );
        methods.add_method("delete", |_, this, key: String| {
            this.0.entries.update_or_remove(&key, |_| true);
            Ok(())
        });
        methods.add_method("ttl", |lua, this, key: String| {
            let now = now_ms();
            let ttl = this
                .0
                .entries
                .get(&key, |e| {
                    (!e.expired(now)).then(|| e.expires_at.map_or(0.0, |t| (t - now) / 1000.0))
                })
                .flatten();
            Ok(match ttl {
                Some(s) => MultiValue::from_vec(vec![LuaValue::Number(s)]),
                None => MultiValue::from_vec(vec![
                    LuaValue::Nil,
                    LuaValue::String(lua.create_string("not found")?),
                ]),
            })
        });
        methods.add_method("expire", |lua, this, (key, exptime): (String, f64)| {
            let now = now_ms();
            let mut found = false;
            this.0.entries.update_or_remove(&key, |e| {
                if e.expired(now) {
                    return true;
                }
                found = true;
                e.expires_at = expiry(Some(exptime), now);
                false
            });
            Ok(if found {
                MultiValue::from_vec(vec![LuaValue::Boolean(true)])
            } else {
                MultiValue::from_vec(vec![
                    LuaValue::Nil,
                    LuaValue::String(lua.create_string("not found")?),
                ])
            })
        });
        methods.add_method("flush_all", |_, this, ()| {
            this.0.entries.clear();
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
