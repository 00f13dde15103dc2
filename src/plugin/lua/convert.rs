//! Values between JSON (plugin configurations, `core.json`, what a request's
//! `ctx` carries between phases) and Lua, with cjson's conventions: JSON
//! `null` is the light userdata `core.json.null`, decoded arrays carry
//! `core.json.array_mt` so `[]` stays an array, and a table is encoded as an
//! array when it is marked so or is a non-empty sequence.

use mlua::{Lua, Table, Value as LuaValue};
use serde_json::{Map, Number, Value};

/// Deepest nesting converted (cjson's default limit is 1000).
const MAX_DEPTH: usize = 200;

/// `value` as a Lua value; arrays get `array_mt`.
pub fn to_lua(lua: &Lua, value: &Value, array_mt: &Table) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Null => LuaValue::NULL,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item, array_mt)?)?;
            }
            t.set_metatable(Some(array_mt.clone()))?;
            LuaValue::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), to_lua(lua, v, array_mt)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// `value` as JSON. Functions, userdata (other than `null`) and threads are
/// an error, as with cjson; so are cycles (through the depth limit).
pub fn from_lua(value: &LuaValue, array_mt: Option<&Table>) -> Result<Value, String> {
    convert(value, array_mt, 0)
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn convert(value: &LuaValue, array_mt: Option<&Table>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("cannot serialise a table nested this deep (a cycle?)".into());
    }
    Ok(match value {
        LuaValue::Nil => Value::Null,
        LuaValue::LightUserData(p) if p.0.is_null() => Value::Null,
        LuaValue::Boolean(b) => Value::Bool(*b),
        LuaValue::Integer(i) => Value::from(*i),
        LuaValue::Number(f) => number(*f),
        LuaValue::String(s) => Value::String(s.to_string_lossy()),
        LuaValue::Table(t) => table(t, array_mt, depth)?,
        other => return Err(format!("cannot serialise {}", other.type_name())),
    })
}

fn table(t: &Table, array_mt: Option<&Table>, depth: usize) -> Result<Value, String> {
    let marked = matches!((t.metatable(), array_mt), (Some(m), Some(a)) if m == *a);
    let len = t.raw_len();
    let mut count = 0usize;
    let mut entries = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        count += 1;
        entries.push((k, v));
    }
    if marked || (len > 0 && count == len) {
        let mut items = vec![Value::Null; len];
        for (k, v) in &entries {
            let idx = match k {
                LuaValue::Integer(i) => *i as usize,
                LuaValue::Number(f) => *f as usize,
                _ => continue,
            };
            if (1..=len).contains(&idx) {
                items[idx - 1] = convert(v, array_mt, depth + 1)?;
            }
        }
        return Ok(Value::Array(items));
    }
    let mut map = Map::new();
    for (k, v) in &entries {
        let key = match k {
            LuaValue::String(s) => s.to_string_lossy(),
            LuaValue::Integer(i) => i.to_string(),
            LuaValue::Number(f) => number(*f).to_string(),
            other => {
                return Err(format!(
                    "table key must be a number or string, not {}",
                    other.type_name()
                ))
            }
        };
        map.insert(key, convert(v, array_mt, depth + 1)?);
    }
    Ok(Value::Object(map))
}

/// A JSON schema written as a Lua table. Lua has one empty table for `{}`
/// and `[]`, and lua-jsonschema takes an empty table as an array where the
/// schema wants one, so `default = {}` under `type = "array"` (and an empty
/// `required`, `enum` or `*Of` list) become `[]` here.
pub fn schema_from_lua(value: &LuaValue, array_mt: Option<&Table>) -> Result<Value, String> {
    let mut schema = from_lua(value, array_mt)?;
    fix_empty_lists(&mut schema, 0);
    Ok(schema)
}

fn fix_empty_lists(schema: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match schema {
        Value::Object(map) => {
            let is_array = match map.get("type") {
                Some(Value::String(t)) => t == "array",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
                _ => false,
            };
            let empty = |v: Option<&Value>| matches!(v, Some(Value::Object(m)) if m.is_empty());
            if is_array && empty(map.get("default")) {
                map.insert("default".into(), Value::Array(Vec::new()));
            }
            for key in ["required", "enum", "anyOf", "oneOf", "allOf"] {
                if empty(map.get(key)) {
                    map.insert(key.into(), Value::Array(Vec::new()));
                }
            }
            for (key, v) in map.iter_mut() {
                match (key.as_str(), v) {
                    // Maps of name → schema: the names are not keywords.
                    (
                        "properties" | "patternProperties" | "definitions" | "$defs",
                        Value::Object(named),
                    ) => named
                        .values_mut()
                        .for_each(|s| fix_empty_lists(s, depth + 1)),
                    ("default" | "enum" | "const" | "example", _) => {}
                    (_, v) => fix_empty_lists(v, depth + 1),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fix_empty_lists(v, depth + 1)),
        _ => {}
    }
}
