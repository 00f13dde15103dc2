//! `response-rewrite` (priority 899, header and body filters): when `vars`
//! match the response (absent: always; `status` and the response's
//! variables are visible), sets `status_code`, applies `headers` (`add`
//! list of `"name: value"`, `set` map, `remove` list; the flat map form is
//! `set`; values may hold `$var` references), and replaces the body with
//! `body` (base64-decoded with `body_base64`) or rewrites it with `filters`
//! (regex → `replace`, `scope` once | global). Filters buffer the body up to
//! `max_resp_body_size` bytes (default 64 MiB, as APISIX): a longer body is
//! cut there and the rest dropped. A compressed (`Content-Encoding`) body
//! is left as is by filters. A changed body loses `Content-Length`, `ETag`
//! and `Last-Modified`.

use std::sync::Arc;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode};
use regex::Regex;
use serde_json::{json, Value};

use super::var_template::{expand_captures, VarTemplate};
use crate::expr::Expr;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory};

/// The factory.
pub struct ResponseRewriteFactory;

struct Filter {
    regex: Regex,
    replace: String,
    global: bool,
}

enum NewBody {
    Fixed(Bytes),
    Filters(Vec<Filter>),
}

struct ResponseRewrite {
    status: Option<StatusCode>,
    vars: Option<Expr>,
    add: Vec<(HeaderName, VarTemplate)>,
    set: Vec<(HeaderName, VarTemplate)>,
    remove: Vec<HeaderName>,
    body: Option<NewBody>,
    max_body: usize,
}

/// Per-request state between the header and body filters.
#[derive(Clone, Default)]
struct State {
    matched: bool,
    /// Filters do nothing (compressed body).
    skip: bool,
    sent: bool,
    buf: BytesMut,
}

fn decode_body(conf: &Value) -> Result<Option<Bytes>, String> {
    let Some(body) = conf.get("body").and_then(Value::as_str) else {
        return Ok(None);
    };
    if conf.get("body_base64").and_then(Value::as_bool) == Some(true) {
        if body.is_empty() {
            return Err("invalid base64 content".into());
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "invalid base64 content".to_string())?;
        return Ok(Some(Bytes::from(raw)));
    }
    Ok(Some(Bytes::from(body.to_string())))
}

/// A filter regex with PCRE-style options (`i`, `m`, `s`, `x`; `j`/`o` are
/// compile hints and ignored).
fn filter_regex(pattern: &str, options: &str) -> Result<Regex, String> {
    let flags: String = options
        .chars()
        .filter(|c| matches!(c, 'i' | 'm' | 's' | 'x'))
        .collect();
    let full = match flags.is_empty() {
        true => pattern.to_string(),
        false => format!("(?{flags}){pattern}"),
    };
    Regex::new(&full).map_err(|e| format!("regex \"{pattern}\" validation failed: {e}"))
}

fn filters(conf: &Value) -> Result<Option<Vec<Filter>>, String> {
    let Some(list) = conf.get("filters").and_then(Value::as_array) else {
        return Ok(None);
    };
    list.iter()
        .map(|f| {
            let text = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default();
            let options = f.get("options").and_then(Value::as_str).unwrap_or("jo");
            Ok(Filter {
                regex: filter_regex(text("regex"), options)?,
                replace: text("replace").to_string(),
                global: text("scope") == "global",
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

type HeaderOps = (
    Vec<(HeaderName, VarTemplate)>,
    Vec<(HeaderName, VarTemplate)>,
    Vec<HeaderName>,
);

fn name(s: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(s.trim().as_bytes()).map_err(|_| format!("invalid header name `{s}`"))
}

fn set_map(v: Option<&Value>) -> Result<Vec<(HeaderName, VarTemplate)>, String> {
    let mut out = Vec::new();
    for (k, v) in v.and_then(Value::as_object).into_iter().flatten() {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err("invalid type as header value".into()),
        };
        if k.is_empty() {
            return Err("invalid field length in header".into());
        }
        out.push((name(k)?, VarTemplate::new(&text)));
    }
    Ok(out)
}

fn header_ops(conf: &Value) -> Result<HeaderOps, String> {
    let Some(h) = conf.get("headers") else {
        return Ok(Default::default());
    };
    let is_new = ["add", "set", "remove"]
        .iter()
        .any(|k| h.get(k).is_some_and(|v| v.is_object() || v.is_array()));
    if !is_new {
        return Ok((Vec::new(), set_map(Some(h))?, Vec::new()));
    }
    let mut add = Vec::new();
    for item in h.get("add").and_then(Value::as_array).into_iter().flatten() {
        let s = item.as_str().unwrap_or_default();
        let (k, v) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid header `{s}`"))?;
        add.push((name(k)?, VarTemplate::new(v.trim())));
    }
    let remove = h
        .get("remove")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(name)
        .collect::<Result<_, _>>()?;
    Ok((add, set_map(h.get("set"))?, remove))
}

impl PluginFactory for ResponseRewriteFactory {
    fn name(&self) -> &'static str {
        "response-rewrite"
    }
    fn priority(&self) -> i64 {
        899
    }
    fn schema(&self) -> Value {
        let values = json!({"type": "object", "minProperties": 1,
            "patternProperties": {"^[^:]+$": {"oneOf": [{"type": "string"}, {"type": "number"}]}}});
        json!({
            "type": "object",
            "properties": {
                "max_resp_body_size": {"type": "integer", "minimum": 1, "default": 67_108_864},
                "headers": {"anyOf": [
                    values,
                    {"properties": {
                        "add": {"type": "array", "minItems": 1,
                                "items": {"type": "string", "pattern": "^[^:]+:[^:]*[^/]$"}},
                        "set": values,
                        "remove": {"type": "array", "minItems": 1,
                                   "items": {"type": "string", "pattern": "^[^:]+$"}}
                    }}
                ]},
                "body": {"type": "string"},
                "body_base64": {"type": "boolean", "default": false},
                "status_code": {"type": "integer", "minimum": 200, "maximum": 598},
                "vars": {"type": "array"},
                "filters": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["regex", "replace"],
                        "properties": {
                            "regex": {"type": "string", "minLength": 1},
                            "scope": {"type": "string", "enum": ["once", "global"], "default": "once"},
                            "replace": {"type": "string"},
                            "options": {"type": "string", "default": "jo"}
                        }
                    }
                }
            },
            "dependencies": {
                "body": {"not": {"required": ["filters"]}},
                "filters": {"not": {"required": ["body"]}}
            }
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        header_ops(conf)?;
        decode_body(conf)?;
        if let Some(v) = conf.get("vars") {
            Expr::compile(v)
                .map_err(|e| format!("failed to validate the 'vars' expression: {e}"))?;
        }
        filters(conf)?;
        Ok(())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let (add, set, remove) = header_ops(conf)?;
        let body = match (decode_body(conf)?, filters(conf)?) {
            (Some(b), _) => Some(NewBody::Fixed(b)),
            (None, Some(f)) => Some(NewBody::Filters(f)),
            (None, None) => None,
        };
        Ok(Arc::new(ResponseRewrite {
            status: conf
                .get("status_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .and_then(|c| StatusCode::from_u16(c).ok()),
            vars: conf
                .get("vars")
                .map(Expr::compile)
                .transpose()
                .map_err(|e| format!("failed to validate the 'vars' expression: {e}"))?,
            add,
            set,
            remove,
            body,
            max_body: conf
                .get("max_resp_body_size")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(64 << 20),
        }))
    }
}

/// Apply the filters to a whole body (`replace` may use `$n` captures).
fn apply(filters: &[Filter], body: &[u8]) -> Bytes {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for f in filters {
        let limit = if f.global { 0 } else { 1 };
        text = f
            .regex
            .replacen(&text, limit, |c: &regex::Captures<'_>| {
                expand_captures(&f.replace, c)
            })
            .into_owned();
    }
    Bytes::from(text)
}

impl Plugin for ResponseRewrite {
    fn header_filter(&self, ctx: &mut Ctx, resp: &mut http::response::Parts) {
        let matched = self.vars.as_ref().is_none_or(|e| e.eval(ctx));
        if self.body.is_some() {
            ctx.extensions.insert(State {
                matched,
                skip: resp.headers.contains_key(http::header::CONTENT_ENCODING),
                ..State::default()
            });
        }
        if !matched {
            return;
        }
        if let Some(s) = self.status {
            resp.status = s;
            ctx.status = s.as_u16();
        }
        if self.body.is_some() {
            for h in [
                http::header::CONTENT_LENGTH,
                http::header::ETAG,
                http::header::LAST_MODIFIED,
            ] {
                resp.headers.remove(h);
            }
        }
        let value = |t: &VarTemplate| HeaderValue::from_str(&t.render(&*ctx).0).ok();
        for (k, t) in &self.add {
            if let Some(v) = value(t) {
                resp.headers.append(k.clone(), v);
            }
        }
        for (k, t) in &self.set {
            match value(t) {
                Some(v) => {
                    resp.headers.insert(k.clone(), v);
                }
                None => {
                    resp.headers.remove(k);
                }
            }
        }
        for k in &self.remove {
            resp.headers.remove(k);
        }
    }

    fn filters_body(&self) -> bool {
        self.body.is_some()
    }

    fn body_filter(&self, ctx: &mut Ctx, chunk: &mut Bytes, eof: bool) {
        let Some(body) = &self.body else { return };
        let Some(st) = ctx.extensions.get_mut::<State>() else {
            return;
        };
        if !st.matched {
            return;
        }
        match body {
            NewBody::Fixed(b) => {
                *chunk = match st.sent {
                    true => Bytes::new(),
                    false => b.clone(),
                };
                st.sent = true;
            }
            NewBody::Filters(_) if st.skip => {}
            NewBody::Filters(list) => {
                if st.sent {
                    // Past the buffering limit: the rest is dropped.
                    *chunk = Bytes::new();
                    return;
                }
                st.buf.extend_from_slice(chunk);
                *chunk = Bytes::new();
                if st.buf.len() >= self.max_body {
                    st.buf.truncate(self.max_body);
                    tracing::warn!(
                        "response-rewrite: body cut at max_resp_body_size ({} bytes)",
                        self.max_body
                    );
                }
                if eof || st.buf.len() >= self.max_body {
                    st.sent = true;
                    let whole = std::mem::take(&mut st.buf);
                    *chunk = apply(list, &whole);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_replace_once_or_globally() {
        let conf = json!({"filters": [
            {"regex": "X", "replace": "y", "scope": "global"},
            {"regex": "hello", "replace": "bye", "options": "i"}
        ]});
        let f = filters(&conf).unwrap().unwrap();
        assert_eq!(&apply(&f, b"HELLO X hello X")[..], b"bye y hello y");
        let f = filters(&json!({"filters": [{"regex": "(a)(b)", "replace": "$2$1x"}]}))
            .unwrap()
            .unwrap();
        assert_eq!(&apply(&f, b"abab")[..], b"baxab");
    }

    #[test]
    fn checks() {
        let f = ResponseRewriteFactory;
        assert!(f
            .check(&json!({"body": "!!", "body_base64": true}), false)
            .is_err());
        assert!(f
            .check(&json!({"body": "aGk=", "body_base64": true}), false)
            .is_ok());
        assert!(f
            .check(&json!({"filters": [{"regex": "(", "replace": ""}]}), false)
            .is_err());
        assert!(f
            .check(&json!({"vars": [["status", "==", 200]]}), false)
            .is_ok());
        let (add, _, _) = header_ops(&json!({"headers": {"add": ["X-A: 1"]}})).unwrap();
        assert_eq!(add[0].0, "x-a");
    }
}
