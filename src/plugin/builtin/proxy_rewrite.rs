//! `proxy-rewrite` (priority 1008, rewrite phase): changes what goes
//! upstream. `uri` (with `$var` references) or else `regex_uri`
//! (`[pattern, template, …]`, the first matching pair substitutes its first
//! match; `$1`/`${1}` are captures) replaces the path, keeping the client's
//! query; `host` becomes the upstream `Host`; `method`; `headers` `add`
//! (append), `set` (replace), `remove` — the older flat map is `set` — with
//! `$var` and regex-capture references in values. The new path is
//! percent-encoded as nginx's `ngx_escape_uri` does, unless
//! `use_real_request_uri_unsafe` sends the client's raw request URI.
//! A failing substitution answers 500 `{"error_msg": …}`.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method, StatusCode};
use regex::Regex;
use serde_json::{json, Value};

use super::var_template::{expand_captures as expand, VarTemplate};
use crate::plugin::ctx::UPSTREAM_HOST_VAR;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};

/// The factory.
pub struct ProxyRewriteFactory;

const METHODS: [&str; 14] = [
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE", "PROPFIND", "LOCK",
    "UNLOCK", "PATCH", "TRACE",
];

struct HeaderOps {
    add: Vec<(HeaderName, Vec<String>)>,
    set: Vec<(HeaderName, Vec<String>)>,
    remove: Vec<HeaderName>,
}

struct ProxyRewrite {
    uri: Option<VarTemplate>,
    regex_uri: Vec<(Regex, String)>,
    host: Option<String>,
    method: Option<Method>,
    headers: Option<HeaderOps>,
    raw_uri: bool,
}

fn header_values_schema(arrays: bool) -> Value {
    let scalar = json!([{"type": "string"}, {"type": "number"}]);
    let mut one_of = scalar.as_array().cloned().unwrap_or_default();
    if arrays {
        one_of.push(json!({"type": "array", "minItems": 1, "items": {"oneOf": scalar}}));
    }
    json!({"type": "object", "minProperties": 1,
           "patternProperties": {"^[^:]+$": {"oneOf": one_of}}})
}

fn is_new_headers(h: &Value) -> bool {
    ["add", "set", "remove"]
        .iter()
        .any(|k| h.get(k).is_some_and(|v| v.is_object() || v.is_array()))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn header_map(v: Option<&Value>) -> Result<Vec<(HeaderName, Vec<String>)>, String> {
    let mut out = Vec::new();
    for (k, v) in v.and_then(Value::as_object).into_iter().flatten() {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| "invalid field character in header".to_string())?;
        let values: Vec<String> = match v {
            Value::Array(a) => a.iter().filter_map(scalar_text).collect(),
            other => scalar_text(other).into_iter().collect(),
        };
        if values.iter().any(|s| s.contains(['\r', '\n'])) {
            return Err("invalid value character in header".into());
        }
        out.push((name, values));
    }
    Ok(out)
}

fn header_ops(h: &Value) -> Result<HeaderOps, String> {
    if !is_new_headers(h) {
        return Ok(HeaderOps {
            add: Vec::new(),
            set: header_map(Some(h))?,
            remove: Vec::new(),
        });
    }
    let remove = h
        .get("remove")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| {
            HeaderName::from_bytes(s.as_bytes())
                .map_err(|_| "invalid field character in header".to_string())
        })
        .collect::<Result<_, _>>()?;
    Ok(HeaderOps {
        add: header_map(h.get("add"))?,
        set: header_map(h.get("set"))?,
        remove,
    })
}

fn regex_pairs(conf: &Value) -> Result<Vec<(Regex, String)>, String> {
    let list: Vec<&str> = conf
        .get("regex_uri")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if list.len() % 2 != 0 {
        return Err("The length of regex_uri should be an even number".into());
    }
    list.chunks(2)
        .map(|pair| {
            let re = Regex::new(pair[0])
                .map_err(|e| format!("invalid regex_uri({}, {}): {e}", pair[0], pair[1]))?;
            Ok((re, pair[1].to_string()))
        })
        .collect()
}

impl PluginFactory for ProxyRewriteFactory {
    fn name(&self) -> &'static str {
        "proxy-rewrite"
    }
    fn priority(&self) -> i64 {
        1008
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "uri": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "^\\/.*"},
                "method": {"type": "string", "enum": METHODS},
                "regex_uri": {"type": "array", "minItems": 2, "items": {"type": "string"}},
                "host": {"type": "string", "pattern": "^[0-9a-zA-Z-.]+(:\\d{1,5})?$"},
                "headers": {"oneOf": [
                    {"type": "object", "minProperties": 1, "additionalProperties": false,
                     "properties": {
                        "add": header_values_schema(true),
                        "set": header_values_schema(true),
                        "remove": {"type": "array", "minItems": 1,
                                   "items": {"type": "string", "pattern": "^[^:]+$"}}
                     }},
                    header_values_schema(false)
                ]},
                "use_real_request_uri_unsafe": {"type": "boolean", "default": false}
            },
            "minProperties": 1
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        regex_pairs(conf)?;
        if let Some(h) = conf.get("headers") {
            header_ops(h)?;
        }
        Ok(())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(ProxyRewrite {
            uri: conf
                .get("uri")
                .and_then(Value::as_str)
                .map(VarTemplate::new),
            regex_uri: regex_pairs(conf)?,
            host: conf.get("host").and_then(Value::as_str).map(String::from),
            method: conf
                .get("method")
                .and_then(Value::as_str)
                .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string()))
                .transpose()?,
            headers: conf.get("headers").map(header_ops).transpose()?,
            raw_uri: conf
                .get("use_real_request_uri_unsafe")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }))
    }
}

/// Replace `$n` / `${n}` capture references (in header values).
fn with_captures(tpl: &str, caps: &[String]) -> String {
    if !tpl.contains('$') {
        return tpl.to_string();
    }
    let b = tpl.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let escaped = i > 0 && b[i - 1] == b'\\';
        if b[i] == b'$' && !escaped {
            let brace = b.get(i + 1) == Some(&b'{');
            let start = i + 1 + usize::from(brace);
            let n = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n > 0 {
                let mut end = start + n;
                if b.get(end) == Some(&b'}') {
                    end += 1;
                }
                let idx: usize = tpl[start..start + n].parse().unwrap_or(usize::MAX);
                out.push_str(caps.get(idx).map_or("", String::as_str));
                i = end;
                continue;
            }
        }
        let ch_len = tpl[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&tpl[i..i + ch_len]);
        i += ch_len;
    }
    out
}

use crate::proxy::path::escape_uri;

/// Percent-encode control characters only (the query part).
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters nginx sends as they are but `http::Uri` refuses.
fn escape_strict(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}') {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn error(msg: String) -> Step {
    tracing::error!("proxy-rewrite: {msg}");
    Step::Respond(PluginResponse::json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "error_msg": msg }),
    ))
}

impl ProxyRewrite {
    /// The new upstream URI (path and query) and the regex captures.
    fn upstream_uri(&self, ctx: &Ctx) -> (String, Vec<String>) {
        let args = ctx.req.uri.query().map(String::from);
        let mut captures = Vec::new();
        let (mut uri, query) = match self.raw_uri {
            true => {
                let raw = ctx
                    .req
                    .uri
                    .path_and_query()
                    .map_or("/".to_string(), |pq| pq.as_str().to_string());
                let q = raw
                    .find('?')
                    .map(|i| raw[i..].to_string())
                    .unwrap_or_default();
                (raw, q)
            }
            false => (ctx.path.clone(), String::new()),
        };
        let mut separator_escaped = false;
        if let Some(t) = &self.uri {
            separator_escaped = true;
            uri = t.render_with(ctx, |v| v.replace('?', "%3F")).0;
            if !query.is_empty() {
                match uri.contains('?') {
                    true => uri = format!("{uri}&{}", &query[1..]),
                    false => uri.push_str(&query),
                }
            }
        } else if !self.regex_uri.is_empty() {
            separator_escaped = !uri.contains('?');
            for (re, tpl) in &self.regex_uri {
                if let Some(caps) = re.captures(&uri) {
                    captures = caps
                        .iter()
                        .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
                        .collect();
                    let replaced = {
                        let whole = caps.get(0).map_or(0..0, |m| m.range());
                        format!(
                            "{}{}{}",
                            &uri[..whole.start],
                            expand(tpl, &caps),
                            &uri[whole.end..]
                        )
                    };
                    uri = replaced;
                    break;
                }
            }
        }
        if self.raw_uri {
            return (uri, captures);
        }
        let index = separator_escaped.then(|| uri.find('?')).flatten();
        let mut out = match index {
            Some(i) => format!("{}{}", escape_uri(&uri[..i]), escape_controls(&uri[i..])),
            None => escape_uri(&uri),
        };
        if let Some(a) = args {
            out.push(if index.is_some() { '&' } else { '?' });
            out.push_str(&a);
        }
        (out, captures)
    }
}

impl Plugin for ProxyRewrite {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        if let Some(h) = &self.host {
            ctx.set_var(UPSTREAM_HOST_VAR, h.clone());
        }
        let mut captures = Vec::new();
        if self.uri.is_some() || !self.regex_uri.is_empty() || self.raw_uri {
            let (uri, caps) = self.upstream_uri(ctx);
            captures = caps;
            let parsed = uri
                .parse::<http::Uri>()
                .or_else(|_| escape_strict(&uri).parse::<http::Uri>());
            match parsed {
                Ok(u) => {
                    ctx.path = u.path().to_string();
                    ctx.req.uri = u;
                }
                Err(e) => return error(format!("failed to substitute the uri {}: {e}", ctx.path)),
            }
        }
        if let Some(ops) = &self.headers {
            let resolve = |ctx: &Ctx, v: &str| {
                let v = with_captures(v, &captures);
                let (s, _) = VarTemplate::new(&v).render(ctx);
                HeaderValue::from_str(&s).ok()
            };
            for (name, values) in &ops.add {
                for v in values {
                    if let Some(v) = resolve(ctx, v) {
                        ctx.req.headers.append(name.clone(), v);
                    }
                }
            }
            for (name, values) in &ops.set {
                let vals: Vec<HeaderValue> =
                    values.iter().filter_map(|v| resolve(ctx, v)).collect();
                ctx.req.headers.remove(name);
                for v in vals {
                    ctx.req.headers.append(name.clone(), v);
                }
            }
            for name in &ops.remove {
                ctx.req.headers.remove(name);
            }
        }
        if let Some(m) = &self.method {
            ctx.req.method = m.clone();
        }
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_templates() {
        let re = Regex::new("^/iresty/(.*)/(.*)").unwrap();
        let caps = re.captures("/iresty/a/b").unwrap();
        assert_eq!(expand("/$1_$2", &caps), "/a_b");
        assert_eq!(expand("/${1}x$$", &caps), "/ax$");
        assert_eq!(expand("/$x", &caps), "/$x");
        let caps = vec!["/a/b".to_string(), "a".into(), "b".into()];
        assert_eq!(with_captures("v-$1-${2}-$9", &caps), "v-a-b-");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_uri("/a b?c#%é"), "/a%20b%3Fc%23%25%C3%A9");
        assert_eq!(escape_controls("?a=1\r\n"), "?a=1%0D%0A");
    }

    #[test]
    fn checks() {
        let f = ProxyRewriteFactory;
        assert!(f.check(&json!({"regex_uri": ["^/a"]}), false).is_err());
        assert!(f.check(&json!({"regex_uri": ["(", "/"]}), false).is_err());
        assert!(f.check(&json!({"headers": {"X-A": "1"}}), false).is_ok());
    }
}
