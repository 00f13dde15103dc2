//! `redirect` (priority 900, rewrite phase): answers with a redirect
//! (`ret_code`, default 302) and a `Location` made from `uri` (a template
//! with `$var`/`${var}` request variables) or `regex_uri` (`[regex,
//! template]` on the request path; no match, no redirect). `http_to_https`
//! sends plain-HTTP requests (by `X-Forwarded-Proto` or the connection) to
//! `https://$host$request_uri` — 301 for GET/HEAD, 308 otherwise — with the
//! port from `plugin_attr.redirect.https_port` (none while strait has no TLS
//! listener, i.e. 443). `encode_uri` escapes the path part;
//! `append_query_string` appends the request's query. The body is empty.

use std::sync::Arc;

use http::{Method, StatusCode};
use regex::Regex;
use serde_json::{json, Value};

use super::request_util::header_value;
use super::template::redirect_uri;
use crate::expr::{VarLookup, VarName};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};

/// APISIX's segment pattern for `uri`.
const URI_PATTERN: &str =
    r"(\\\$[0-9a-zA-Z_]+)|\$\{([0-9a-zA-Z_]+)\}|\$([0-9a-zA-Z_]+)|(\$|[^$\\]+)";

/// The factory.
pub struct RedirectFactory;

enum Target {
    Template(String),
    Regex(Regex, String),
    None,
}

struct Redirect {
    ret_code: StatusCode,
    target: Target,
    http_to_https: bool,
    https_port: Option<u16>,
    encode_uri: bool,
    append_query_string: bool,
}

/// An nginx-style replacement (`$1`, `${1}`, `$0`) in the regex crate's
/// syntax (`${1}`): `$1a` must stay group 1 followed by `a`.
fn replacement(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(d);
            chars.next();
        }
        if digits.is_empty() {
            // `${1}`, `$$` and a lone `$` mean the same in both syntaxes.
            out.push('$');
        } else {
            out.push_str(&format!("${{{digits}}}"));
        }
    }
    out
}

fn compile_regex(conf: &Value) -> Result<Option<(Regex, String)>, String> {
    let Some(pair) = conf.get("regex_uri").and_then(Value::as_array) else {
        return Ok(None);
    };
    let (Some(pattern), Some(template)) = (
        pair.first().and_then(Value::as_str),
        pair.get(1).and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let re = Regex::new(pattern)
        .map_err(|e| format!("invalid regex_uri ({pattern}, {template}), err:{e}"))?;
    Ok(Some((re, replacement(template))))
}

impl PluginFactory for RedirectFactory {
    fn name(&self) -> &'static str {
        "redirect"
    }
    fn priority(&self) -> i64 {
        900
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "ret_code": {"type": "integer", "minimum": 200, "default": 302},
                "uri": {"type": "string", "minLength": 2, "pattern": URI_PATTERN},
                "regex_uri": {
                    "type": "array", "minItems": 2, "maxItems": 2,
                    "items": {"type": "string"}
                },
                "http_to_https": {"type": "boolean"},
                "encode_uri": {"type": "boolean", "default": false},
                "append_query_string": {"type": "boolean", "default": false}
            },
            "oneOf": [
                {"required": ["uri"]},
                {"required": ["regex_uri"]},
                {"required": ["http_to_https"]}
            ]
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        compile_regex(conf)?;
        let flag = |k: &str| conf.get(k).and_then(Value::as_bool) == Some(true);
        if flag("http_to_https") && flag("append_query_string") {
            return Err(
                "only one of `http_to_https` and `append_query_string` can be configured.".into(),
            );
        }
        Ok(())
    }
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let flag = |k: &str| conf.get(k).and_then(Value::as_bool) == Some(true);
        let code = conf
            .get("ret_code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(302);
        let target = match (
            conf.get("uri").and_then(Value::as_str),
            compile_regex(conf)?,
        ) {
            (Some(uri), _) => Target::Template(uri.to_string()),
            (None, Some((re, tpl))) => Target::Regex(re, tpl),
            (None, None) => Target::None,
        };
        Ok(Arc::new(Redirect {
            ret_code: StatusCode::from_u16(code).map_err(|e| e.to_string())?,
            target,
            http_to_https: flag("http_to_https"),
            https_port: env
                .attr
                .as_ref()
                .and_then(|a| a.get("https_port"))
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0),
            encode_uri: flag("encode_uri"),
            append_query_string: flag("append_query_string"),
        }))
    }
}

use crate::proxy::path::escape_uri;

impl Redirect {
    /// The new location and status, or `None` to let the request through.
    fn location(&self, ctx: &Ctx) -> Option<(String, StatusCode)> {
        let scheme = ctx
            .header("x-forwarded-proto")
            .map(String::from)
            .or_else(|| ctx.get(&VarName::Scheme).map(|s| s.into_owned()))
            .unwrap_or_else(|| "http".to_string());
        let mut code = self.ret_code;
        let mut new_uri = if self.http_to_https && scheme != "https" {
            let tpl = match self.https_port {
                Some(p) if p != 443 => format!("https://$host:{p}$request_uri"),
                _ => "https://$host$request_uri".to_string(),
            };
            code = match ctx.req.method {
                Method::GET | Method::HEAD => StatusCode::MOVED_PERMANENTLY,
                _ => StatusCode::PERMANENT_REDIRECT,
            };
            redirect_uri(&tpl, ctx)
        } else {
            match &self.target {
                Target::Template(t) => redirect_uri(t, ctx),
                Target::Regex(re, tpl) => {
                    if !re.is_match(&ctx.path) {
                        return None;
                    }
                    re.replacen(&ctx.path, 1, tpl.as_str()).into_owned()
                }
                Target::None => return None,
            }
        };
        let q = new_uri.find('?');
        if self.encode_uri {
            new_uri = match q {
                Some(i) => format!("{}{}", escape_uri(&new_uri[..i]), &new_uri[i..]),
                None => escape_uri(&new_uri),
            };
        }
        if let (true, Some(args)) = (self.append_query_string, ctx.req.uri.query()) {
            let sep = if q.is_some() { '&' } else { '?' };
            new_uri = format!("{new_uri}{sep}{args}");
        }
        Some((new_uri, code))
    }
}

impl Plugin for Redirect {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        let Some((location, code)) = self.location(ctx) else {
            return Step::Continue;
        };
        let mut r = PluginResponse::text(code, "");
        match header_value(&location) {
            Some(v) => {
                r.headers.insert(http::header::LOCATION, v);
            }
            None => {
                tracing::error!("redirect: location is not a valid header value: {location:?}");
                return Step::Respond(PluginResponse::text(StatusCode::INTERNAL_SERVER_ERROR, ""));
            }
        }
        Step::Respond(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_and_escaping() {
        assert_eq!(replacement("/$1a/${2}/$$"), "/${1}a/${2}/$$");
        assert_eq!(escape_uri("/a b#c%?é"), "/a%20b%23c%25%3F%C3%A9");
        let (re, tpl) = compile_regex(&json!({"regex_uri": ["^/old/(.*)", "/new/$1x"]}))
            .unwrap()
            .unwrap();
        assert_eq!(re.replacen("/old/p", 1, tpl.as_str()), "/new/px");
        assert!(compile_regex(&json!({"regex_uri": ["(", "x"]})).is_err());
        assert!(RedirectFactory
            .check(
                &json!({"http_to_https": true, "append_query_string": true}),
                false
            )
            .is_err());
    }
}
