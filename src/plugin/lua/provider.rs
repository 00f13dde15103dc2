//! LLM provider adapters written in Lua (ARCHITECTURE §4): each
//! `ai-providers/<name>.lua` of the plugin directories is a provider that
//! `ai-proxy` names as `"provider": "<name>"`. The adapter translates only:
//! the canonical request (the serde form of [`ChatRequest`]) to a provider
//! request, and the provider's answer and stream records back to the
//! canonical response and stream events; strait makes the call (pooled
//! upstream, timeouts, credentials, errors in the client's shape).
//!
//! ```lua
//! return {
//!   default_endpoint = "http://127.0.0.1:11434", -- scheme and authority (optional)
//!   stream_format = "ndjson",                    -- or "sse" (the default)
//!   build_request = function(req, client) return {path=…, headers=…, body=…} end,
//!   decode_response = function(body) return response end,
//!   decode_stream = function(record, state, event) return {events…} end,
//!   finish_stream = function(state) return {events…} end, -- optional
//! }
//! ```
//!
//! A function may decline with `nil, "reason"`: a declined request is the
//! client's 400, a declined answer the provider's 502, a declined stream
//! record an error event that ends the stream. A Lua error or a timeout
//! answers 500, is logged with the adapter's name and counted in
//! `apisix_lua_plugin_errors`. Calls run in whichever worker's VM polls the
//! request, so a stream's `state` table is carried between calls by strait
//! (plain data only). Files are loaded and reloaded with the plugins; a
//! file that fails keeps its previous version. A reloaded adapter's
//! functions apply to configured routes at once; its `default_endpoint`
//! when a route is next built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use mlua::{Function, MultiValue, Table, Value as LuaValue};
use serde_json::Value;

use super::convert;
use super::module::{lua_files, ModuleSpec};
use super::vm::{self, Vm};
use crate::llm::sse::{SseEvent, SseParser};
use crate::llm::{
    provider, ChatRequest, ChatResponse, ErrorKind, LlmError, Provider, ProviderRequest,
    StreamDecoder, StreamEvent,
};

/// The subdirectory of a plugin directory holding provider adapters.
pub const DIR: &str = "ai-providers";

/// Longest NDJSON line buffered (as for SSE events).
const MAX_LINE_BYTES: usize = 16 << 20;

/// How a provider frames a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Server-sent events: each event's data is one record.
    Sse,
    /// Newline-delimited JSON: each non-empty line is one record.
    Ndjson,
}

/// One loaded adapter file.
#[derive(Debug)]
struct Spec {
    module: Arc<ModuleSpec>,
    default_base: String,
    framing: Framing,
    /// Whether it defines `finish_stream`.
    has_finish: bool,
}

static CURRENT: LazyLock<ArcSwap<BTreeMap<String, Arc<Spec>>>> =
    LazyLock::new(|| ArcSwap::from_pointee(BTreeMap::new()));

/// The Lua providers in service.
pub fn names() -> Vec<String> {
    CURRENT.load().keys().cloned().collect()
}

/// The Lua provider `name`, if one is loaded.
pub fn by_name(name: &str) -> Option<Arc<dyn Provider>> {
    let spec = CURRENT.load().get(name)?.clone();
    Some(Arc::new(LuaProvider {
        name: name.to_string(),
        spec,
    }))
}

/// Load (again) every adapter file of `dirs`; a file that fails keeps its
/// previous version; unchanged files are kept unless `all`. Returns
/// `file: reason` for each failure.
pub fn load_all(vm: &Vm, dirs: &[PathBuf], all: bool) -> Vec<String> {
    let previous = CURRENT.load_full();
    let (files, mut errors) = lua_files(dirs, Some(DIR));
    let mut loaded = BTreeMap::new();
    for (name, path) in files {
        let unchanged = previous
            .get(&name)
            .filter(|old| !all && old.module.unchanged_at(&path));
        if let Some(old) = unchanged {
            loaded.insert(name, old.clone());
            continue;
        }
        match load_file(vm, &name, &path) {
            Ok(spec) => {
                loaded.insert(name, Arc::new(spec));
            }
            Err(e) => {
                tracing::error!(provider = %name, file = %path.display(), "Lua provider not loaded: {e}");
                errors.push(format!("{}: {e}", path.display()));
                if let Some(old) = previous.get(&name) {
                    loaded.insert(name, old.clone());
                }
            }
        }
    }
    if !loaded.is_empty() {
        tracing::info!(
            providers = %loaded.keys().cloned().collect::<Vec<_>>().join(","),
            "Lua providers loaded"
        );
    }
    CURRENT.store(Arc::new(loaded));
    errors
}

fn load_file(vm: &Vm, name: &str, path: &Path) -> Result<Spec, String> {
    if provider::by_name(name).is_some() {
        return Err(format!("{name:?} is a provider strait speaks natively"));
    }
    let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let value = vm
        .eval_chunk(&source, &path.display().to_string())
        .map_err(|e| e.to_string())?;
    let LuaValue::Table(m) = value else {
        return Err("the file must return the adapter's table".into());
    };
    for f in ["build_request", "decode_response", "decode_stream"] {
        if !matches!(m.get::<LuaValue>(f), Ok(LuaValue::Function(_))) {
            return Err(format!("missing function: {f}"));
        }
    }
    let text = |field: &str| -> Result<Option<String>, String> {
        match m.get::<LuaValue>(field).map_err(|e| e.to_string())? {
            LuaValue::Nil => Ok(None),
            LuaValue::String(s) => Ok(Some(s.to_string_lossy())),
            _ => Err(format!("field {field} must be a string")),
        }
    };
    let default_base = match text("default_endpoint")? {
        None => String::new(),
        Some(e) => base_of(&e).map_err(|why| format!("field default_endpoint: {why}"))?,
    };
    let framing = match text("stream_format")?.as_deref() {
        None | Some("sse") => Framing::Sse,
        Some("ndjson") => Framing::Ndjson,
        Some(other) => {
            return Err(format!(
                "field stream_format: {other:?} is neither \"sse\" nor \"ndjson\""
            ))
        }
    };
    let has_finish = matches!(
        m.get::<LuaValue>("finish_stream"),
        Ok(LuaValue::Function(_))
    );
    Ok(Spec {
        has_finish,
        module: Arc::new(ModuleSpec::library(format!("{DIR}/{name}"), path, source)),
        default_base,
        framing,
    })
}

/// `endpoint` as `scheme://authority`, which is all it may hold.
fn base_of(endpoint: &str) -> Result<String, String> {
    let uri: http::Uri = endpoint.parse().map_err(|e| format!("{e}"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "http" && scheme != "https" {
        return Err("must start with http:// or https://".into());
    }
    let authority = uri.authority().ok_or("has no host")?;
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("holds only scheme, host and port; build_request gives the path".into());
    }
    Ok(format!("{scheme}://{authority}"))
}

/// A provider whose adapter is a Lua file.
#[derive(Clone)]
struct LuaProvider {
    name: String,
    /// The version loaded when the configuration was built (its
    /// `default_endpoint` is the route's); calls use the functions of the
    /// version in service now, so a reloaded file applies at once.
    spec: Arc<Spec>,
}

/// What an adapter function returned: a value, or `nil, reason`.
type Outcome = Result<Value, String>;

impl LuaProvider {
    fn current(&self) -> Arc<Spec> {
        CURRENT
            .load()
            .get(&self.name)
            .cloned()
            .unwrap_or_else(|| self.spec.clone())
    }

    /// Run `f` with function `function` of `spec` in this thread's VM.
    fn with_function<T>(
        &self,
        spec: &Spec,
        function: &str,
        f: impl FnOnce(&Vm, &Function, &Table) -> mlua::Result<T>,
    ) -> Result<T, LlmError> {
        vm::with_vm(|vm| {
            let module = vm.module(&spec.module)?;
            let func: Function = module
                .get(function)
                .map_err(|_| format!("the adapter has no function {function}"))?;
            let array_mt: Table = vm
                .lua
                .registry_value(&vm.array_mt)
                .map_err(|e| e.to_string())?;
            f(vm, &func, &array_mt).map_err(|e| e.to_string())
        })
        .map_err(|e| self.failed(function, &e))
    }

    /// Log and count a failed adapter call; the client's error.
    fn failed(&self, function: &str, error: &str) -> LlmError {
        tracing::error!(provider = %self.name, function, "Lua provider adapter failed: {error}");
        crate::metrics::global()
            .lua_errors
            .get_or_create(&crate::metrics::LuaErrorLabels {
                plugin: format!("{DIR}/{}", self.name),
                phase: function.to_string(),
            })
            .inc();
        LlmError {
            status: 500,
            kind: ErrorKind::Provider,
            message: format!("the Lua provider adapter {:?} failed", self.name),
        }
    }

    /// Call `function(args…)` and read its `value` or `nil, reason`.
    fn call(&self, function: &str, args: Vec<Arg<'_>>) -> Result<Outcome, LlmError> {
        self.with_function(&self.current(), function, |vm, func, array_mt| {
            let args = args
                .into_iter()
                .map(|a| a.into_lua(&vm.lua, array_mt))
                .collect::<mlua::Result<MultiValue>>()?;
            let values: MultiValue = vm.call_budgeted(func, args)?;
            outcome(values, array_mt)
        })
    }

    /// An adapter result that does not fit the contract: a failure.
    fn misshapen(&self, function: &str, why: impl std::fmt::Display) -> LlmError {
        self.failed(function, &format!("returned {why}"))
    }
}

/// An argument of an adapter call.
enum Arg<'a> {
    Json(Value),
    Bytes(&'a [u8]),
    Text(&'a str),
}

impl Arg<'_> {
    fn into_lua(self, lua: &mlua::Lua, array_mt: &Table) -> mlua::Result<LuaValue> {
        Ok(match self {
            Arg::Json(v) => convert::to_lua(lua, &v, array_mt)?,
            Arg::Bytes(b) => LuaValue::String(lua.create_string(b)?),
            Arg::Text(t) => LuaValue::String(lua.create_string(t)?),
        })
    }
}

/// `value` or `nil, reason` as an [`Outcome`].
fn outcome(values: MultiValue, array_mt: &Table) -> mlua::Result<Outcome> {
    let mut values = values.into_iter();
    let first = values.next().unwrap_or(LuaValue::Nil);
    if first.is_nil() {
        let reason = match values.next() {
            Some(LuaValue::String(s)) => s.to_string_lossy(),
            Some(other) if !other.is_nil() => other.to_string()?,
            _ => "no reason given".to_string(),
        };
        return Ok(Err(reason));
    }
    convert::from_lua(&first, Some(array_mt))
        .map(Ok)
        .map_err(mlua::Error::runtime)
}

/// A list the adapter returned: an array, or an empty table (which JSON
/// cannot tell from an empty object).
fn list(value: Value) -> Result<Vec<Value>, Value> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Object(o) if o.is_empty() => Ok(Vec::new()),
        Value::Null => Ok(Vec::new()),
        other => Err(other),
    }
}

impl Provider for LuaProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn default_base(&self) -> &str {
        &self.spec.default_base
    }

    fn build_request(&self, req: &ChatRequest, client: &str) -> Result<ProviderRequest, LlmError> {
        const F: &str = "build_request";
        let req = serde_json::to_value(req).map_err(|e| self.failed(F, &e.to_string()))?;
        let out = self
            .call(F, vec![Arg::Json(req), Arg::Text(client)])?
            .map_err(LlmError::invalid)?;
        let path = out
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| self.misshapen(F, "no `path` starting with /"))?
            .to_string();
        let mut headers = Vec::new();
        if let Some(h) = out.get("headers") {
            let Value::Object(h) = h else {
                return Err(self.misshapen(F, "`headers` that is not a table"));
            };
            for (k, v) in h {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| self.misshapen(F, format!("header {k:?}: {e}")))?;
                let value = v
                    .as_str()
                    .map(HeaderValue::from_str)
                    .ok_or_else(|| self.misshapen(F, format!("header {k:?} that is not a string")))?
                    .map_err(|e| self.misshapen(F, format!("header {k:?}: {e}")))?;
                headers.push((name, value));
            }
        }
        let body = match out.get("body") {
            Some(Value::String(s)) => Bytes::from(s.clone()),
            Some(v @ Value::Object(_)) => Bytes::from(v.to_string()),
            _ => return Err(self.misshapen(F, "no `body` (a table or a string)")),
        };
        Ok(ProviderRequest {
            path_and_query: path,
            headers,
            body,
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, LlmError> {
        const F: &str = "decode_response";
        let mut value = self
            .call(F, vec![Arg::Bytes(body)])?
            .map_err(LlmError::provider)?;
        if let Some(content) = value.get_mut("content") {
            *content = Value::Array(
                list(content.take())
                    .map_err(|_| self.misshapen(F, "a `content` that is not a list"))?,
            );
        }
        serde_json::from_value(value)
            .map_err(|e| self.misshapen(F, format!("no chat response: {e}")))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        let spec = self.current();
        Box::new(LuaStreamDecoder {
            framing: spec.framing,
            provider: LuaProvider {
                name: self.name.clone(),
                spec,
            },
            sse: SseParser::new(),
            line: Vec::new(),
            state: Value::Object(Default::default()),
            started: false,
            stopped: false,
            ended: false,
        })
    }
}

/// Decodes a stream by calling the adapter's `decode_stream` per record.
struct LuaStreamDecoder {
    provider: LuaProvider,
    framing: Framing,
    sse: SseParser,
    /// The NDJSON line so far.
    line: Vec<u8>,
    /// The adapter's `state` table between calls.
    state: Value,
    /// Whether a `Start` went out.
    started: bool,
    /// Whether a `Stop` went out.
    stopped: bool,
    /// Whether an `Error` went out (nothing follows it).
    ended: bool,
}

/// One record of a stream: its data and (SSE) event name.
struct Record {
    data: String,
    event: Option<String>,
}

impl LuaStreamDecoder {
    /// Split `chunk` into complete records.
    fn records(&mut self, chunk: &[u8]) -> Result<Vec<Record>, LlmError> {
        match self.framing {
            Framing::Sse => {
                let mut events = Vec::new();
                self.sse.feed(chunk, &mut events)?;
                Ok(events.into_iter().map(record_of).collect())
            }
            Framing::Ndjson => {
                let mut records = Vec::new();
                for &b in chunk {
                    if b == b'\n' {
                        let line = std::mem::take(&mut self.line);
                        push_line(&line, &mut records);
                    } else {
                        self.line.push(b);
                        if self.line.len() > MAX_LINE_BYTES {
                            return Err(LlmError::provider(
                                "the provider's stream sent a line over 16 MiB",
                            ));
                        }
                    }
                }
                Ok(records)
            }
        }
    }

    /// Call `function` once per record (or once with only the state, for
    /// `finish_stream`) and append the events.
    fn decode(
        &mut self,
        function: &str,
        records: Option<Vec<Record>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), LlmError> {
        let state = std::mem::take(&mut self.state);
        let spec = self.provider.spec.clone();
        let (lists, state) =
            self.provider
                .with_function(&spec, function, |vm, func, array_mt| {
                    let state = convert::to_lua(&vm.lua, &state, array_mt)?;
                    let mut lists = Vec::new();
                    match &records {
                        Some(records) => {
                            for r in records {
                                let values: MultiValue = vm.call_budgeted(
                                    func,
                                    (r.data.as_str(), state.clone(), r.event.as_deref()),
                                )?;
                                lists.push(outcome(values, array_mt)?);
                            }
                        }
                        None => {
                            let values: MultiValue = vm.call_budgeted(func, state.clone())?;
                            lists.push(outcome(values, array_mt)?);
                        }
                    }
                    let state =
                        convert::from_lua(&state, Some(array_mt)).map_err(mlua::Error::runtime)?;
                    Ok((lists, state))
                })?;
        self.state = state;
        for returned in lists {
            let events = match returned {
                Ok(v) => {
                    list(v).map_err(|_| self.provider.misshapen(function, "no list of events"))?
                }
                Err(reason) => {
                    self.push(
                        StreamEvent::Error {
                            kind: "api_error".into(),
                            message: reason,
                        },
                        out,
                    );
                    continue;
                }
            };
            for e in events {
                let event: StreamEvent = serde_json::from_value(e).map_err(|e| {
                    self.provider
                        .misshapen(function, format!("an event that is not one: {e}"))
                })?;
                self.push(event, out);
            }
        }
        Ok(())
    }

    /// Append `event`, with a `Start` before the first content and nothing
    /// after the end.
    fn push(&mut self, event: StreamEvent, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        match &event {
            StreamEvent::Start { .. } if self.started => return,
            StreamEvent::Start { .. } => self.started = true,
            StreamEvent::Error { .. } => self.ended = true,
            StreamEvent::Stop { .. } => self.stopped = true,
            _ => {}
        }
        if !self.started && !matches!(event, StreamEvent::Start { .. } | StreamEvent::Error { .. })
        {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
        out.push(event);
    }
}

fn record_of(e: SseEvent) -> Record {
    Record {
        data: e.data,
        event: e.event,
    }
}

fn push_line(line: &[u8], records: &mut Vec<Record>) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if !text.is_empty() {
        records.push(Record {
            data: text.to_string(),
            event: None,
        });
    }
}

impl StreamDecoder for LuaStreamDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let records = self.records(chunk)?;
        if records.is_empty() {
            return Ok(());
        }
        self.decode("decode_stream", Some(records), out)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let mut records = Vec::new();
        match self.framing {
            Framing::Sse => {
                let mut events = Vec::new();
                self.sse.end(&mut events);
                records.extend(events.into_iter().map(record_of));
            }
            Framing::Ndjson => push_line(&std::mem::take(&mut self.line), &mut records),
        }
        if !records.is_empty() {
            self.decode("decode_stream", Some(records), out)?;
        }
        if self.provider.spec.has_finish {
            self.decode("finish_stream", None, out)?;
        }
        if !self.stopped {
            self.push(
                StreamEvent::Error {
                    kind: "api_error".into(),
                    message: "the provider's stream ended early".into(),
                },
                out,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(framing: Framing) -> LuaStreamDecoder {
        let spec = Arc::new(Spec {
            module: Arc::new(ModuleSpec::library(
                "ai-providers/t".into(),
                Path::new("t.lua"),
                "return {}".into(),
            )),
            default_base: String::new(),
            framing,
            has_finish: false,
        });
        LuaStreamDecoder {
            framing,
            provider: LuaProvider {
                name: "t".into(),
                spec,
            },
            sse: SseParser::new(),
            line: Vec::new(),
            state: Value::Null,
            started: false,
            stopped: false,
            ended: false,
        }
    }

    fn data(records: Vec<Record>) -> Vec<(String, Option<String>)> {
        records.into_iter().map(|r| (r.data, r.event)).collect()
    }

    #[test]
    fn ndjson_lines_are_records_however_the_bytes_are_cut() {
        let mut d = decoder(Framing::Ndjson);
        assert!(d.records(br#"{"a":1}"#).unwrap().is_empty());
        let got = d.records(b"\r\n\n{\"b\":").unwrap();
        assert_eq!(data(got), [(r#"{"a":1}"#.to_string(), None)]);
        let got = d.records(b"2}\n{\"c\":3}\n").unwrap();
        assert_eq!(
            data(got),
            [
                (r#"{"b":2}"#.to_string(), None),
                (r#"{"c":3}"#.to_string(), None)
            ]
        );
    }

    #[test]
    fn sse_events_are_records_with_their_names() {
        let mut d = decoder(Framing::Sse);
        let got = d
            .records(b"event: delta\ndata: {\"x\":1}\n\ndata: [DO")
            .unwrap();
        assert_eq!(
            data(got),
            [(r#"{"x":1}"#.to_string(), Some("delta".into()))]
        );
        assert_eq!(
            data(d.records(b"NE]\n\n").unwrap()),
            [("[DONE]".to_string(), None)]
        );
    }

    #[test]
    fn an_endpoint_holds_only_scheme_and_authority() {
        assert_eq!(
            base_of("http://127.0.0.1:11434").unwrap(),
            "http://127.0.0.1:11434"
        );
        assert_eq!(
            base_of("https://api.example.com/").unwrap(),
            "https://api.example.com"
        );
        assert!(base_of("https://api.example.com/v1").is_err());
        assert!(base_of("ftp://x").is_err());
    }
}
