//! The primitives `prelude.lua` builds APISIX's `core` and `ngx` on: each
//! reads or changes the running request through the scoped handles a phase
//! call installs ([`CallState`]), so Lua sees request data through cheap
//! accessors instead of a copy of every header and body.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use mlua::{Lua, MultiValue, RegistryKey, Table, Value as LuaValue};

use super::convert;
use super::settings::Settings;
use crate::expr::{VarLookup, VarName};
use crate::plugin::ctx::{RequestBody, RequestBodyChanged};
use crate::plugin::Ctx;

/// The phase a call runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// No request (module load, `check_schema`).
    Outside,
    /// `rewrite`, `access` or `before_proxy`: the request can be changed
    /// and answered.
    Request,
    /// `header_filter`: the response head can be changed.
    HeaderFilter,
    /// `body_filter`: one chunk of the response body.
    BodyFilter,
    /// `log`: read-only.
    Log,
}

/// One response body chunk, as `ngx.arg` sees it.
#[derive(Debug, Default)]
pub struct BodyArg {
    /// `ngx.arg[1]`.
    pub chunk: Bytes,
    /// `ngx.arg[2]`.
    pub eof: bool,
}

/// An answer a plugin asked for with `core.response.exit`/`ngx.exit`.
#[derive(Debug, Default)]
pub struct Exit {
    /// The status, if given.
    pub status: Option<u16>,
    /// The body, if given.
    pub body: Option<Bytes>,
}

/// What the running call can reach (app data of the VM). In the request,
/// header and body phases the call owns the request context (moved in and
/// back out around the call: cheaper than a scoped userdata); in the log
/// phase it reads it through a scoped read-only handle.
pub struct CallState {
    /// The request context, moved in for the call.
    pub ctx: Option<Ctx>,
    /// The response head in `header_filter`, moved in for the call.
    pub resp: Option<http::response::Parts>,
    /// The chunk in `body_filter`.
    pub body: Option<BodyArg>,
    /// The read-only `Ctx` handle of the log phase (nil otherwise).
    pub log_ctx: RegistryKey,
    /// The phase.
    pub phase: CallPhase,
    /// The plugin whose call is running (for log lines).
    pub plugin: std::sync::Arc<str>,
    /// Set by `exit`.
    pub exit: Option<Exit>,
    /// What `ngx.say`/`ngx.print` wrote (the body of an answer).
    pub printed: Vec<u8>,
    /// Compiled `ngx.re` patterns.
    regexes: HashMap<(String, String), regex::Regex>,
}

/// The error `exit` raises to stop the running phase function.
pub const EXIT_SIGNAL: &str = "strait: exit";

fn state(lua: &Lua) -> mlua::Result<mlua::AppDataRefMut<'_, CallState>> {
    lua.app_data_mut::<CallState>()
        .ok_or_else(|| mlua::Error::runtime("the Lua host is not initialised"))
}

/// Read the request context.
pub(super) fn with_ctx<R>(lua: &Lua, f: impl FnOnce(&Ctx) -> R) -> mlua::Result<R> {
    let log_ctx = {
        let st = state(lua)?;
        if let Some(ctx) = st.ctx.as_ref() {
            return Ok(f(ctx));
        }
        lua.registry_value::<LuaValue>(&st.log_ctx)?
    };
    match log_ctx {
        LuaValue::UserData(ud) => ud.borrow_scoped::<Ctx, R>(f),
        _ => Err(mlua::Error::runtime("no request in this phase")),
    }
}

/// Change the request context (not in the log phase).
pub(super) fn with_ctx_mut<R>(lua: &Lua, f: impl FnOnce(&mut Ctx) -> R) -> mlua::Result<R> {
    let mut st = state(lua)?;
    let phase = st.phase;
    match st.ctx.as_mut() {
        Some(ctx) => Ok(f(ctx)),
        None if phase == CallPhase::Log => Err(mlua::Error::runtime(
            "the request cannot be changed in the log phase",
        )),
        None => Err(mlua::Error::runtime("no request in this phase")),
    }
}

/// Read or change the response head (`header_filter`).
fn with_resp<R>(lua: &Lua, f: impl FnOnce(&mut http::response::Parts) -> R) -> mlua::Result<R> {
    let mut st = state(lua)?;
    st.resp
        .as_mut()
        .map(f)
        .ok_or_else(|| mlua::Error::runtime("no response head in this phase"))
}

/// Read or change the body chunk (`body_filter`).
fn with_body<R>(lua: &Lua, f: impl FnOnce(&mut BodyArg) -> R) -> mlua::Result<R> {
    let mut st = state(lua)?;
    st.body
        .as_mut()
        .map(f)
        .ok_or_else(|| mlua::Error::runtime("no response body in this phase"))
}

fn phase(lua: &Lua) -> mlua::Result<CallPhase> {
    Ok(state(lua)?.phase)
}

fn header_name(name: &str) -> mlua::Result<HeaderName> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| mlua::Error::runtime(format!("invalid header name {name:?}")))
}

fn header_value(v: &LuaValue) -> mlua::Result<Vec<HeaderValue>> {
    let one = |s: &[u8]| {
        HeaderValue::from_bytes(s)
            .map_err(|_| mlua::Error::runtime("invalid header value (control characters)"))
    };
    match v {
        LuaValue::Nil => Ok(Vec::new()),
        LuaValue::String(s) => Ok(vec![one(&s.as_bytes())?]),
        LuaValue::Integer(_) | LuaValue::Number(_) | LuaValue::Boolean(_) => {
            Ok(vec![one(lua_text(v).as_bytes())?])
        }
        LuaValue::Table(t) => t
            .sequence_values::<LuaValue>()
            .map(|x| x.and_then(|x| one(lua_text(&x).as_bytes())))
            .collect(),
        other => Err(mlua::Error::runtime(format!(
            "a header value cannot be a {}",
            other.type_name()
        ))),
    }
}

/// A header value (or its absence) as Lua sees it.
fn opt_string(lua: &Lua, v: Option<impl AsRef<[u8]>>) -> mlua::Result<LuaValue> {
    match v {
        Some(v) => Ok(LuaValue::String(lua.create_string(v)?)),
        None => Ok(LuaValue::Nil),
    }
}

fn lua_text(v: &LuaValue) -> String {
    match v {
        LuaValue::String(s) => s.to_string_lossy(),
        LuaValue::Integer(i) => i.to_string(),
        LuaValue::Number(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        LuaValue::Number(f) => f.to_string(),
        LuaValue::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

/// Request headers as `ngx.req.get_headers` returns them: lower-case names,
/// a list for a repeated header.
fn headers_table(lua: &Lua, headers: &http::HeaderMap) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, headers.keys_len())?;
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        let (Some(first), rest) = (values.next(), values) else {
            continue;
        };
        let rest: Vec<_> = rest.collect();
        if rest.is_empty() {
            t.raw_set(name.as_str(), lua.create_string(first.as_bytes())?)?;
        } else {
            let list = lua.create_table()?;
            list.raw_push(lua.create_string(first.as_bytes())?)?;
            for v in rest {
                list.raw_push(lua.create_string(v.as_bytes())?)?;
            }
            t.raw_set(name.as_str(), list)?;
        }
    }
    // Case-insensitive lookups, as with ngx.req.get_headers().
    let mt = lua.create_table()?;
    let lookup = lua.create_function(|_, (t, key): (Table, String)| {
        let lower = key.to_ascii_lowercase().replace('_', "-");
        if lower == key {
            return Ok(LuaValue::Nil);
        }
        t.raw_get::<LuaValue>(lower)
    })?;
    mt.raw_set("__index", lookup)?;
    t.set_metatable(Some(mt))?;
    Ok(t)
}

/// Query arguments as a table (repeated → list, no value → `true`).
fn args_table(lua: &Lua, query: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (
                unescape(k),
                LuaValue::String(lua.create_string(unescape(v))?),
            ),
            None => (unescape(pair), LuaValue::Boolean(true)),
        };
        match t.raw_get::<LuaValue>(k.as_str())? {
            LuaValue::Nil => t.raw_set(k, v)?,
            LuaValue::Table(list) => list.raw_push(v)?,
            first => {
                let list = lua.create_table()?;
                list.raw_push(first)?;
                list.raw_push(v)?;
                t.raw_set(k, list)?;
            }
        }
    }
    Ok(t)
}

fn unescape(s: &str) -> String {
    crate::proxy::path::percent_decode(s, true).into_owned()
}

fn escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_args(t: &Table) -> mlua::Result<String> {
    let mut parts = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = escape(lua_text(&k).as_bytes());
        match v {
            LuaValue::Boolean(true) => parts.push(key),
            LuaValue::Boolean(false) => {}
            LuaValue::Table(list) => {
                for item in list.sequence_values::<LuaValue>() {
                    parts.push(format!("{key}={}", escape(lua_text(&item?).as_bytes())));
                }
            }
            other => parts.push(format!("{key}={}", escape(lua_text(&other).as_bytes()))),
        }
    }
    parts.sort();
    Ok(parts.join("&"))
}

fn compile(lua: &Lua, pattern: &str, options: &str) -> mlua::Result<regex::Regex> {
    let key = (pattern.to_string(), options.to_string());
    if let Some(r) = state(lua)?.regexes.get(&key) {
        return Ok(r.clone());
    }
    // `a` (anchored) holds the match to the start of the subject.
    let source = if options.contains('a') {
        format!("^(?:{pattern})")
    } else {
        pattern.to_string()
    };
    let re = regex::RegexBuilder::new(&source)
        .case_insensitive(options.contains('i'))
        .multi_line(options.contains('m'))
        .dot_matches_new_line(options.contains('s'))
        .ignore_whitespace(options.contains('x'))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| mlua::Error::runtime(format!("failed to compile regex {pattern:?}: {e}")))?;
    let mut st = state(lua)?;
    if st.regexes.len() > 512 {
        st.regexes.clear();
    }
    st.regexes.insert(key, re.clone());
    Ok(re)
}

fn captures_table(lua: &Lua, re: &regex::Regex, caps: &regex::Captures<'_>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (i, name) in re.capture_names().enumerate() {
        let v = match caps.get(i) {
            Some(m) => LuaValue::String(lua.create_string(m.as_str())?),
            None => LuaValue::Boolean(false),
        };
        t.raw_set(i, v.clone())?;
        if let Some(n) = name {
            t.raw_set(n, v)?;
        }
    }
    Ok(t)
}

/// Expand `$0`, `$1`, `${name}` in an `ngx.re.gsub` replacement.
fn expand(template: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    caps.expand(template, &mut out);
    out
}

fn gsub(
    lua: &Lua,
    args: (String, String, LuaValue, Option<String>),
    once: bool,
) -> mlua::Result<(String, usize)> {
    let (subject, pattern, repl, options) = args;
    let re = compile(lua, &pattern, options.as_deref().unwrap_or(""))?;
    let mut out = String::with_capacity(subject.len());
    let mut last = 0;
    let mut n = 0;
    for caps in re.captures_iter(&subject) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&subject[last..m.start()]);
        match &repl {
            LuaValue::Function(f) => {
                let t = captures_table(lua, &re, &caps)?;
                let r: LuaValue = f.call(t)?;
                out.push_str(&lua_text(&r));
            }
            other => out.push_str(&expand(&lua_text(other), &caps)),
        }
        last = m.end();
        n += 1;
        if once {
            break;
        }
    }
    out.push_str(&subject[last..]);
    Ok((out, n))
}

/// A method given as an `ngx.HTTP_*` constant (OpenResty's numbers) or by name.
fn method_of(value: &LuaValue) -> Option<http::Method> {
    use http::Method as M;
    let code = match value {
        LuaValue::Integer(i) => *i,
        LuaValue::Number(n) if n.fract() == 0.0 => *n as i64,
        LuaValue::String(s) => return M::from_bytes(&s.as_bytes()).ok(),
        _ => return None,
    };
    let name = match code {
        2 => "GET",
        4 => "HEAD",
        8 => "POST",
        16 => "PUT",
        32 => "DELETE",
        64 => "MKCOL",
        128 => "COPY",
        256 => "MOVE",
        512 => "OPTIONS",
        1024 => "PROPFIND",
        2048 => "PROPPATCH",
        4096 => "LOCK",
        8192 => "UNLOCK",
        16384 => "PATCH",
        32768 => "TRACE",
        _ => return None,
    };
    M::from_bytes(name.as_bytes()).ok()
}

/// The `host` table of primitives, and the VM's [`CallState`].
pub fn table(lua: &Lua, _settings: &Settings) -> mlua::Result<Table> {
    lua.set_app_data(CallState {
        ctx: None,
        resp: None,
        body: None,
        log_ctx: lua.create_registry_value(LuaValue::Nil)?,
        phase: CallPhase::Outside,
        plugin: std::sync::Arc::from("lua"),
        exit: None,
        printed: Vec::new(),
        regexes: HashMap::new(),
    });
    let h = lua.create_table()?;
    let array_mt = lua.create_table()?;
    array_mt.raw_set("__name", "array")?;
    h.raw_set("null", LuaValue::NULL)?;
    h.raw_set("array_mt", array_mt)?;

    h.raw_set(
        "json_encode",
        lua.create_function(|lua, (data, force): (LuaValue, bool)| {
            let mt: Option<Table> = lua
                .app_data_ref::<ArrayMt>()
                .and_then(|k| lua.registry_value(&k.0).ok());
            let data = if force { forced(lua, data)? } else { data };
            match convert::from_lua(&data, mt.as_ref()) {
                Ok(v) => Ok((
                    LuaValue::String(lua.create_string(v.to_string())?),
                    LuaValue::Nil,
                )),
                Err(e) => Ok((LuaValue::Nil, LuaValue::String(lua.create_string(e)?))),
            }
        })?,
    )?;
    h.raw_set(
        "json_decode",
        lua.create_function(|lua, (text, null_as_nil): (mlua::LuaString, bool)| {
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&text.as_bytes());
            match parsed {
                Ok(mut v) => {
                    if null_as_nil {
                        strip_nulls(&mut v);
                    }
                    let mt: Table = lua
                        .app_data_ref::<ArrayMt>()
                        .ok_or_else(|| mlua::Error::runtime("no array_mt"))
                        .and_then(|k| lua.registry_value(&k.0))?;
                    Ok((convert::to_lua(lua, &v, &mt)?, LuaValue::Nil))
                }
                Err(e) => Ok((
                    LuaValue::Nil,
                    LuaValue::String(lua.create_string(e.to_string())?),
                )),
            }
        })?,
    )?;
    let mt_key: Table = h.raw_get("array_mt")?;
    let key = lua.create_registry_value(mt_key)?;
    lua.set_app_data(ArrayMt(key));

    h.raw_set(
        "log_enabled",
        lua.create_function(|_, level: i64| Ok(level_enabled(level)))?,
    )?;
    h.raw_set(
        "log",
        lua.create_function(|lua, (level, msg): (i64, String)| {
            let plugin = current_plugin(lua);
            match level {
                0..=4 => tracing::error!(target: "strait::lua", plugin = %plugin, "{msg}"),
                5 => tracing::warn!(target: "strait::lua", plugin = %plugin, "{msg}"),
                6 | 7 => tracing::info!(target: "strait::lua", plugin = %plugin, "{msg}"),
                _ => tracing::debug!(target: "strait::lua", plugin = %plugin, "{msg}"),
            }
            Ok(())
        })?,
    )?;
    h.raw_set(
        "time",
        lua.create_function(|_, ()| {
            Ok(SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()))
        })?,
    )?;
    h.raw_set(
        "now",
        lua.create_function(|_, ()| {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Ok(ms as f64 / 1000.0)
        })?,
    )?;
    h.raw_set(
        "md5",
        lua.create_function(|_, s: mlua::LuaString| Ok(super::md5::hex(&s.as_bytes())))?,
    )?;
    h.raw_set(
        "encode_base64",
        lua.create_function(|_, s: mlua::LuaString| {
            Ok(base64::engine::general_purpose::STANDARD.encode(&*s.as_bytes()))
        })?,
    )?;
    h.raw_set(
        "decode_base64",
        lua.create_function(|lua, s: mlua::LuaString| {
            match base64::engine::general_purpose::STANDARD.decode(&*s.as_bytes()) {
                Ok(b) => Ok(LuaValue::String(lua.create_string(b)?)),
                Err(_) => Ok(LuaValue::Nil),
            }
        })?,
    )?;
    h.raw_set(
        "escape_uri",
        lua.create_function(|_, s: mlua::LuaString| Ok(escape(&s.as_bytes())))?,
    )?;
    h.raw_set(
        "unescape_uri",
        lua.create_function(|_, s: String| Ok(unescape(&s)))?,
    )?;
    h.raw_set(
        "encode_args",
        lua.create_function(|_, t: Table| encode_args(&t))?,
    )?;
    h.raw_set(
        "decode_args",
        lua.create_function(|lua, s: String| args_table(lua, &s))?,
    )?;
    h.raw_set(
        "re_match",
        lua.create_function(
            |lua, (subject, pattern, options): (String, String, Option<String>)| {
                let re = compile(lua, &pattern, options.as_deref().unwrap_or(""))?;
                match re.captures(&subject) {
                    Some(caps) => Ok(LuaValue::Table(captures_table(lua, &re, &caps)?)),
                    None => Ok(LuaValue::Nil),
                }
            },
        )?,
    )?;
    h.raw_set(
        "re_find",
        lua.create_function(
            |lua, (subject, pattern, options): (String, String, Option<String>)| {
                let re = compile(lua, &pattern, options.as_deref().unwrap_or(""))?;
                Ok(match re.find(&subject) {
                    Some(m) => (Some(m.start() + 1), Some(m.end())),
                    None => (None, None),
                })
            },
        )?,
    )?;
    h.raw_set(
        "re_gsub",
        lua.create_function(|lua, args: (String, String, LuaValue, Option<String>)| {
            gsub(lua, args, false)
        })?,
    )?;
    h.raw_set(
        "re_sub",
        lua.create_function(|lua, args: (String, String, LuaValue, Option<String>)| {
            gsub(lua, args, true)
        })?,
    )?;
    h.raw_set(
        "exit",
        lua.create_function(
            |lua, (status, body): (Option<i64>, Option<mlua::LuaString>)| -> mlua::Result<()> {
                let mut st = state(lua)?;
                if st.phase != CallPhase::Request {
                    return Err(mlua::Error::runtime(
                        "exit is only possible in rewrite, access and before_proxy",
                    ));
                }
                let mut body = body.map(|b| Bytes::copy_from_slice(&b.as_bytes()));
                if !st.printed.is_empty() {
                    let mut all = std::mem::take(&mut st.printed);
                    all.extend_from_slice(body.as_deref().unwrap_or_default());
                    body = Some(Bytes::from(all));
                }
                st.exit = Some(Exit {
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    body,
                });
                Err(mlua::Error::runtime(EXIT_SIGNAL))
            },
        )?,
    )?;
    h.raw_set(
        "print",
        lua.create_function(|lua, s: mlua::LuaString| {
            let mut st = state(lua)?;
            if st.phase != CallPhase::Request {
                return Err(mlua::Error::runtime(
                    "ngx.print/say are only possible in rewrite, access and before_proxy",
                ));
            }
            st.printed.extend_from_slice(&s.as_bytes());
            Ok(())
        })?,
    )?;
    h.raw_set(
        "var_get",
        lua.create_function(|lua, name: String| {
            let name = VarName::parse(&name);
            let v = with_ctx(lua, |ctx| ctx.get(&name).map(|v| v.into_owned()))?;
            opt_string(lua, v)
        })?,
    )?;
    h.raw_set(
        "var_set",
        lua.create_function(|lua, (name, value): (String, LuaValue)| {
            let text = lua_text(&value);
            with_ctx_mut(lua, |ctx| ctx.set_var(&name, text))
        })?,
    )?;
    h.raw_set(
        "req_method",
        lua.create_function(|lua, ()| with_ctx(lua, |ctx| ctx.req.method.as_str().to_string()))?,
    )?;
    h.raw_set(
        "req_set_method",
        lua.create_function(|lua, method: LuaValue| {
            let m = method_of(&method).ok_or_else(|| {
                mlua::Error::runtime(format!(
                    "bad argument #1 to 'set_method' (unsupported method {method:?})"
                ))
            })?;
            with_ctx_mut(lua, |ctx| ctx.req.method = m)
        })?,
    )?;
    h.raw_set(
        "req_http_version",
        lua.create_function(|lua, ()| {
            with_ctx(lua, |ctx| match ctx.req.version {
                http::Version::HTTP_09 => 0.9,
                http::Version::HTTP_10 => 1.0,
                http::Version::HTTP_2 => 2.0,
                http::Version::HTTP_3 => 3.0,
                _ => 1.1,
            })
        })?,
    )?;
    h.raw_set(
        "req_header",
        lua.create_function(|lua, name: String| {
            let v = with_ctx(lua, |ctx| {
                ctx.req
                    .headers
                    .get(name.as_str())
                    .map(|v| Bytes::copy_from_slice(v.as_bytes()))
            })?;
            opt_string(lua, v)
        })?,
    )?;
    h.raw_set(
        "req_headers",
        lua.create_function(|lua, _raw: bool| {
            with_ctx(lua, |ctx| headers_table(lua, &ctx.req.headers))?
        })?,
    )?;
    h.raw_set(
        "req_set_header",
        lua.create_function(|lua, (name, value): (String, LuaValue)| {
            let name = header_name(&name)?;
            let values = header_value(&value)?;
            with_ctx_mut(lua, |ctx| {
                ctx.req.headers.remove(&name);
                for v in values {
                    ctx.req.headers.append(name.clone(), v);
                }
            })
        })?,
    )?;
    h.raw_set(
        "req_add_header",
        lua.create_function(|lua, (name, value): (String, LuaValue)| {
            let name = header_name(&name)?;
            let values = header_value(&value)?;
            with_ctx_mut(lua, |ctx| {
                for v in values {
                    ctx.req.headers.append(name.clone(), v);
                }
            })
        })?,
    )?;
    h.raw_set(
        "req_uri_args",
        lua.create_function(|lua, ()| {
            let q = with_ctx(lua, |ctx| ctx.req.uri.query().unwrap_or("").to_string())?;
            args_table(lua, &q)
        })?,
    )?;
    h.raw_set(
        "req_set_uri_args",
        lua.create_function(|lua, args: String| {
            with_ctx_mut(lua, |ctx| set_uri(ctx, None, Some(&args)))?
        })?,
    )?;
    h.raw_set(
        "req_set_uri",
        lua.create_function(|lua, path: String| {
            with_ctx_mut(lua, |ctx| set_uri(ctx, Some(&path), None))?
        })?,
    )?;
    h.raw_set("req_read_body", lua.create_function(|_, ()| Ok(()))?)?;
    h.raw_set(
        "req_body",
        lua.create_function(|lua, ()| {
            let body = with_ctx(lua, |ctx| {
                ctx.extensions.get::<RequestBody>().map(|b| b.0.clone())
            })?;
            match body {
                Some(b) if !b.is_empty() => {
                    Ok((LuaValue::String(lua.create_string(&b)?), LuaValue::Nil))
                }
                Some(_) => Ok((LuaValue::Nil, LuaValue::Nil)),
                None => Ok((
                    LuaValue::Nil,
                    LuaValue::String(lua.create_string(
                        "the request body was not read (the plugin does not call a body API)",
                    )?),
                )),
            }
        })?,
    )?;
    h.raw_set(
        "req_set_body",
        lua.create_function(|lua, data: mlua::LuaString| {
            let b = Bytes::copy_from_slice(&data.as_bytes());
            with_ctx_mut(lua, |ctx| {
                ctx.extensions.insert(RequestBody(b));
                ctx.extensions.insert(RequestBodyChanged);
            })
        })?,
    )?;
    h.raw_set(
        "headers_sent",
        lua.create_function(|lua, ()| {
            Ok(matches!(
                phase(lua)?,
                CallPhase::BodyFilter | CallPhase::Log
            ))
        })?,
    )?;
    h.raw_set(
        "status",
        lua.create_function(|lua, ()| {
            if phase(lua)? == CallPhase::HeaderFilter {
                return with_resp(lua, |p| i64::from(p.status.as_u16()));
            }
            with_ctx(lua, |ctx| i64::from(ctx.status))
        })?,
    )?;
    h.raw_set(
        "set_status",
        lua.create_function(|lua, code: u16| {
            let status = http::StatusCode::from_u16(code)
                .map_err(|_| mlua::Error::runtime(format!("invalid status {code}")))?;
            match phase(lua)? {
                CallPhase::HeaderFilter => with_resp(lua, |p| p.status = status),
                CallPhase::Request => {
                    let mut st = state(lua)?;
                    st.exit.get_or_insert_with(Exit::default).status = Some(code);
                    Ok(())
                }
                _ => Err(mlua::Error::runtime(
                    "the status cannot be changed once sent",
                )),
            }
        })?,
    )?;
    h.raw_set(
        "resp_header",
        lua.create_function(|lua, name: String| {
            if phase(lua)? != CallPhase::HeaderFilter {
                let v = with_ctx(lua, |ctx| {
                    ctx.response_headers
                        .iter()
                        .find(|(k, _)| k.as_str().eq_ignore_ascii_case(&name))
                        .map(|(_, v)| Bytes::copy_from_slice(v.as_bytes()))
                })?;
                return opt_string(lua, v);
            }
            let v = with_resp(lua, |p| {
                p.headers
                    .get(name.as_str())
                    .map(|v| Bytes::copy_from_slice(v.as_bytes()))
            })?;
            opt_string(lua, v)
        })?,
    )?;
    h.raw_set(
        "resp_headers",
        lua.create_function(|lua, ()| {
            if phase(lua)? == CallPhase::HeaderFilter {
                return with_resp(lua, |p| headers_table(lua, &p.headers))?;
            }
            let map = with_ctx(lua, |ctx| {
                let mut m = http::HeaderMap::new();
                for (k, v) in &ctx.response_headers {
                    m.append(k.clone(), v.clone());
                }
                m
            })?;
            headers_table(lua, &map)
        })?,
    )?;
    h.raw_set(
        "resp_set_header",
        lua.create_function(|lua, (name, value): (String, LuaValue)| {
            resp_header(lua, &name, &value, true)
        })?,
    )?;
    h.raw_set(
        "resp_add_header",
        lua.create_function(|lua, (name, value): (String, LuaValue)| {
            resp_header(lua, &name, &value, false)
        })?,
    )?;
    h.raw_set(
        "body_chunk",
        lua.create_function(|lua, ()| {
            let chunk = with_body(lua, |a| a.chunk.clone())?;
            lua.create_string(&chunk)
        })?,
    )?;
    h.raw_set(
        "body_eof",
        lua.create_function(|lua, ()| with_body(lua, |a| a.eof))?,
    )?;
    h.raw_set(
        "body_set_chunk",
        lua.create_function(|lua, data: mlua::LuaString| {
            let chunk = Bytes::copy_from_slice(&data.as_bytes());
            with_body(lua, |a| a.chunk = chunk)
        })?,
    )?;
    h.raw_set(
        "body_set_eof",
        lua.create_function(|lua, eof: bool| with_body(lua, |a| a.eof = eof))?,
    )?;
    h.raw_set("pid", lua.create_function(|_, ()| Ok(std::process::id()))?)?;
    h.raw_set(
        "hostname",
        lua.create_function(|_, ()| {
            Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default())
        })?,
    )?;
    h.raw_set(
        "schema_check",
        lua.create_function(|lua, (schema, conf): (LuaValue, LuaValue)| {
            let mt: Option<Table> = lua
                .app_data_ref::<ArrayMt>()
                .and_then(|k| lua.registry_value(&k.0).ok());
            let fail = |msg: String| -> mlua::Result<(bool, LuaValue, LuaValue)> {
                Ok((
                    false,
                    LuaValue::String(lua.create_string(msg)?),
                    LuaValue::Nil,
                ))
            };
            let schema = match convert::schema_from_lua(&schema, mt.as_ref()) {
                Ok(s) => s,
                Err(e) => return fail(format!("invalid schema: {e}")),
            };
            let mut conf = match convert::from_lua(&conf, mt.as_ref()) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let compiled = match super::schema_cache::compile(&schema) {
                Ok(c) => c,
                Err(e) => return fail(format!("invalid schema: {e}")),
            };
            match compiled.validate_and_default(&mut conf) {
                Ok(()) => {
                    let mt = mt.ok_or_else(|| mlua::Error::runtime("no array_mt"))?;
                    Ok((true, LuaValue::Nil, convert::to_lua(lua, &conf, &mt)?))
                }
                Err(e) => fail(e.to_string()),
            }
        })?,
    )?;
    h.raw_set(
        "require_file",
        lua.create_function(|lua, name: String| super::require::load(lua, &name))?,
    )?;
    super::llm_host::install(lua, &h)?;
    super::shared_dict::install(lua, &h)?;
    Ok(h)
}

/// The registry key of `core.json.array_mt` (app data).
pub struct ArrayMt(pub RegistryKey);

/// `core.json.array_mt`, for converting JSON to Lua.
pub(super) fn array_mt(lua: &Lua) -> mlua::Result<Table> {
    lua.app_data_ref::<ArrayMt>()
        .ok_or_else(|| mlua::Error::runtime("no array_mt"))
        .and_then(|k| lua.registry_value(&k.0))
}

fn current_plugin(lua: &Lua) -> std::sync::Arc<str> {
    lua.app_data_ref::<CallState>()
        .map(|st| st.plugin.clone())
        .unwrap_or_else(|| std::sync::Arc::from("lua"))
}

fn level_enabled(level: i64) -> bool {
    match level {
        0..=4 => tracing::enabled!(target: "strait::lua", tracing::Level::ERROR),
        5 => tracing::enabled!(target: "strait::lua", tracing::Level::WARN),
        6 | 7 => tracing::enabled!(target: "strait::lua", tracing::Level::INFO),
        _ => tracing::enabled!(target: "strait::lua", tracing::Level::DEBUG),
    }
}

fn resp_header(lua: &Lua, name: &str, value: &LuaValue, replace: bool) -> mlua::Result<()> {
    let name = header_name(name)?;
    let values = header_value(value)?;
    match phase(lua)? {
        CallPhase::HeaderFilter => with_resp(lua, |parts| {
            if replace {
                parts.headers.remove(&name);
            }
            for v in values {
                parts.headers.append(name.clone(), v);
            }
        }),
        CallPhase::Request => with_ctx_mut(lua, |ctx| {
            if replace {
                ctx.response_headers.retain(|(k, _)| *k != name);
            }
            for v in values {
                ctx.response_headers.push((name.clone(), v));
            }
        }),
        _ => Err(mlua::Error::runtime("headers have already been sent")),
    }
}

fn set_uri(ctx: &mut Ctx, path: Option<&str>, query: Option<&str>) -> mlua::Result<()> {
    let path = path.unwrap_or_else(|| ctx.req.uri.path()).to_string();
    let query = match query {
        Some(q) => Some(q.to_string()),
        None => ctx.req.uri.query().map(str::to_string),
    };
    let target = match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let uri: http::Uri = target
        .parse()
        .map_err(|_| mlua::Error::runtime(format!("invalid URI {target:?}")))?;
    ctx.req.uri = uri;
    ctx.path = path;
    Ok(())
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// `core.json.encode(data, true)`: functions and userdata as strings.
fn forced(lua: &Lua, v: LuaValue) -> mlua::Result<LuaValue> {
    Ok(match v {
        LuaValue::Table(t) => {
            let out = lua.create_table()?;
            for pair in t.pairs::<LuaValue, LuaValue>() {
                let (k, x) = pair?;
                out.raw_set(k, forced(lua, x)?)?;
            }
            if let Some(mt) = t.metatable() {
                out.set_metatable(Some(mt))?;
            }
            LuaValue::Table(out)
        }
        LuaValue::Function(_) | LuaValue::Thread(_) | LuaValue::UserData(_) => {
            LuaValue::String(lua.create_string(format!("{v:?}"))?)
        }
        LuaValue::LightUserData(p) if !p.0.is_null() => {
            LuaValue::String(lua.create_string("userdata")?)
        }
        other => other,
    })
}

/// Values a phase's `return code, body` may carry.
pub fn returned(values: MultiValue) -> Option<(u16, Option<LuaValue>)> {
    let mut it = values.into_iter();
    let code = match it.next()? {
        LuaValue::Integer(i) => u16::try_from(i).ok()?,
        LuaValue::Number(f) => f as u16,
        _ => return None,
    };
    Some((code, it.next()))
}
