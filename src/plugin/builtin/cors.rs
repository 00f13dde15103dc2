//! `cors` (priority 4000, rewrite and header_filter phases): answers every
//! `OPTIONS` request with 200 and an empty body, and adds CORS headers to
//! responses whose `Origin` is allowed: `allow_origins` (default `*`; `**`
//! reflects the request's origin; a comma-separated list allows each),
//! `allow_origins_by_regex`, and `allow_origins_by_metadata` (names of origin
//! lists in the plugin metadata). Other defaults: `allow_methods` `*`,
//! `allow_headers` `*` (`**`: the request's `Access-Control-Request-Headers`),
//! `max_age` 5, `allow_credential` false — which must not be combined with a
//! `*` option. `timing_allow_origins(_by_regex)` add `Timing-Allow-Origin`.
//! `Vary: Origin` is added unless `allow_origins` is `*`.

use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use regex::Regex;
use serde_json::{json, Value};

use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};

/// APISIX's `origins_pattern`.
const ORIGINS_PATTERN: &str = r"^(\*|\*\*|null|\w+://[^,]+(,\w+://[^,]+)*)$";
const ALL_METHODS: &str = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE";
/// Context variables carrying request headers to `header_filter` (the
/// request head has gone upstream by then).
const ORIGIN_VAR: &str = "cors_request_origin";
const REQUEST_HEADERS_VAR: &str = "cors_request_headers";

/// The factory.
pub struct CorsFactory;

struct Cors {
    allow_origins: String,
    allow_methods: String,
    allow_headers: String,
    expose_headers: Option<String>,
    max_age: i64,
    allow_credential: bool,
    by_regex: Option<Regex>,
    /// The names of the metadata's origin lists (`allow_origins_by_metadata`),
    /// looked up per request: the metadata may change without this route.
    by_metadata: Option<Vec<String>>,
    timing_origins: Option<String>,
    timing_by_regex: Option<Regex>,
}

fn text<'a>(conf: &'a Value, key: &str) -> Option<&'a str> {
    conf.get(key).and_then(Value::as_str)
}

/// The rules of `key` joined into one regex, as APISIX does (`a|b`).
fn joined_regex(conf: &Value, key: &str) -> Result<Option<Regex>, String> {
    let Some(rules) = conf.get(key).and_then(Value::as_array) else {
        return Ok(None);
    };
    let rules: Vec<&str> = rules.iter().filter_map(Value::as_str).collect();
    for r in &rules {
        Regex::new(r).map_err(|e| e.to_string())?;
    }
    Regex::new(&rules.join("|"))
        .map(Some)
        .map_err(|e| e.to_string())
}

impl PluginFactory for CorsFactory {
    fn name(&self) -> &'static str {
        "cors"
    }
    fn priority(&self) -> i64 {
        4000
    }
    fn schema(&self) -> Value {
        let regexes = json!({
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 4096},
            "minItems": 1,
            "uniqueItems": true
        });
        json!({
            "type": "object",
            "properties": {
                "allow_origins": {"type": "string", "pattern": ORIGINS_PATTERN, "default": "*"},
                "allow_methods": {"type": "string", "default": "*"},
                "allow_headers": {"type": "string", "default": "*"},
                "expose_headers": {"type": "string"},
                "max_age": {"type": "integer", "default": 5},
                "allow_credential": {"type": "boolean", "default": false},
                "allow_origins_by_regex": regexes,
                "allow_origins_by_metadata": regexes,
                "timing_allow_origins": {"type": "string", "pattern": ORIGINS_PATTERN},
                "timing_allow_origins_by_regex": regexes
            }
        })
    }
    fn metadata_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "properties": {
                "allow_origins": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "pattern": ORIGINS_PATTERN}
                }
            }
        }))
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        let credential = conf.get("allow_credential").and_then(Value::as_bool) == Some(true);
        let star = [
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "timing_allow_origins",
        ]
        .iter()
        .any(|k| text(conf, k) == Some("*"));
        if credential && star {
            return Err(
                "you can not set '*' for other option when 'allow_credential' is true".into(),
            );
        }
        joined_regex(conf, "allow_origins_by_regex")?;
        joined_regex(conf, "timing_allow_origins_by_regex")?;
        Ok(())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(Cors::new(conf)?))
    }
}

impl Cors {
    /// Compile a configuration that passed the schema and [`PluginFactory::check`].
    fn new(conf: &Value) -> Result<Cors, String> {
        let owned = |k: &str, d: &str| text(conf, k).unwrap_or(d).to_string();
        let by_metadata = conf
            .get("allow_origins_by_metadata")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            });
        Ok(Cors {
            allow_origins: owned("allow_origins", "*"),
            allow_methods: owned("allow_methods", "*"),
            allow_headers: owned("allow_headers", "*"),
            expose_headers: text(conf, "expose_headers").map(String::from),
            max_age: conf.get("max_age").and_then(Value::as_i64).unwrap_or(5),
            allow_credential: conf
                .get("allow_credential")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            by_regex: joined_regex(conf, "allow_origins_by_regex")?,
            by_metadata,
            timing_origins: text(conf, "timing_allow_origins").map(String::from),
            timing_by_regex: joined_regex(conf, "timing_allow_origins_by_regex")?,
        })
    }
}

/// APISIX's `match_origins`: the request origin was allowed (two absent
/// values also "match", as `nil == nil` in Lua).
fn matches(req: Option<&str>, allowed: Option<&str>) -> bool {
    req == allowed || allowed == Some("*")
}

/// APISIX's `process_with_allow_origins`: `**` reflects the origin, a list
/// allows its members, anything else is returned as configured.
fn from_list(allow: &str, req: Option<&str>) -> Option<String> {
    if allow == "**" {
        return Some(req.unwrap_or("*").to_string());
    }
    if allow.contains(',') {
        let req = req?;
        return allow.split(',').any(|o| o == req).then(|| req.to_string());
    }
    Some(allow.to_string())
}

fn from_regex(re: &Regex, req: Option<&str>) -> Option<String> {
    req.filter(|r| re.is_match(r)).map(String::from)
}

impl Cors {
    fn metadata_origin(&self, meta: Option<&Value>, req: Option<&str>) -> Option<String> {
        let names = self.by_metadata.as_ref()?;
        let lists = meta?.get("allow_origins")?.as_object()?;
        names
            .iter()
            .filter_map(|n| lists.get(n).and_then(Value::as_str))
            .any(|l| matches(req, from_list(l, req).as_deref()))
            .then(|| req.map(String::from))
            .flatten()
    }

    /// The `Access-Control-Allow-Origin` value for this request origin, if any.
    fn allowed_origin(&self, meta: Option<&Value>, req: Option<&str>) -> Option<String> {
        let mut allowed = None;
        let mut local = true;
        if self.by_metadata.is_some() {
            allowed = self.metadata_origin(meta, req);
            local = !matches(req, allowed.as_deref()) && self.allow_origins != "*";
        }
        if local {
            allowed = match &self.by_regex {
                None => from_list(&self.allow_origins, req),
                Some(re) => from_regex(re, req),
            };
        }
        if !matches(req, allowed.as_deref()) {
            allowed = self.metadata_origin(meta, req);
        }
        allowed
    }

    fn timing_origin(&self, req: Option<&str>) -> Option<String> {
        let t = match (&self.timing_by_regex, &self.timing_origins) {
            (Some(re), _) => from_regex(re, req),
            (None, Some(list)) => from_list(list, req),
            (None, None) => None,
        };
        t.filter(|t| matches(req, Some(t)))
    }
}

fn set(resp: &mut http::response::Parts, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers.insert(name, v);
    }
}

impl Plugin for Cors {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        for (var, name) in [
            (ORIGIN_VAR, header::ORIGIN),
            (REQUEST_HEADERS_VAR, header::ACCESS_CONTROL_REQUEST_HEADERS),
        ] {
            if let Some(v) = ctx.header(name.as_str()).map(String::from) {
                ctx.set_var(var, v);
            }
        }
        if ctx.req.method == http::Method::OPTIONS {
            return Step::Respond(PluginResponse::text(http::StatusCode::OK, ""));
        }
        Step::Continue
    }

    fn header_filter(&self, ctx: &mut Ctx, resp: &mut http::response::Parts) {
        let var = |name: &str| {
            ctx.vars
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let req = var(ORIGIN_VAR);
        if self.allow_origins != "*" {
            resp.headers
                .append(header::VARY, HeaderValue::from_static("Origin"));
        }
        let meta = ctx.plugin_metadata("cors");
        if let Some(origin) = self.allowed_origin(meta, req) {
            let methods = match self.allow_methods.as_str() {
                "**" => ALL_METHODS,
                m => m,
            };
            set(resp, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
            set(resp, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            set(
                resp,
                header::ACCESS_CONTROL_MAX_AGE,
                &self.max_age.to_string(),
            );
            if let Some(e) = self.expose_headers.as_deref().filter(|e| !e.is_empty()) {
                set(resp, header::ACCESS_CONTROL_EXPOSE_HEADERS, e);
            }
            match self.allow_headers.as_str() {
                "**" => match var(REQUEST_HEADERS_VAR) {
                    Some(h) => set(resp, header::ACCESS_CONTROL_ALLOW_HEADERS, h),
                    None => {
                        resp.headers.remove(header::ACCESS_CONTROL_ALLOW_HEADERS);
                    }
                },
                h => set(resp, header::ACCESS_CONTROL_ALLOW_HEADERS, h),
            }
            if self.allow_credential {
                set(resp, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
        }
        if let Some(t) = self.timing_origin(req) {
            set(resp, HeaderName::from_static("timing-allow-origin"), &t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validator::Schema;

    fn cors(conf: Value) -> Cors {
        let f = CorsFactory;
        let mut conf = conf;
        Schema::compile(&f.schema())
            .unwrap()
            .validate_and_default(&mut conf)
            .unwrap();
        f.check(&conf, false).unwrap();
        Cors::new(&conf).unwrap()
    }

    #[test]
    fn origins() {
        let c = cors(json!({}));
        assert_eq!(c.allowed_origin(None, None).as_deref(), Some("*"));
        assert_eq!(
            c.allowed_origin(None, Some("http://a")).as_deref(),
            Some("*")
        );
        let c = cors(json!({"allow_origins": "http://a.com,http://b.com"}));
        assert_eq!(
            c.allowed_origin(None, Some("http://b.com")).as_deref(),
            Some("http://b.com")
        );
        assert_eq!(c.allowed_origin(None, Some("http://c.com")), None);
        let c = cors(json!({"allow_origins": "http://a.com"}));
        assert_eq!(c.allowed_origin(None, Some("http://c.com")), None);
        assert_eq!(
            c.allowed_origin(None, Some("http://a.com")).as_deref(),
            Some("http://a.com")
        );
        let c = cors(json!({"allow_origins": "**"}));
        assert_eq!(
            c.allowed_origin(None, Some("http://x")).as_deref(),
            Some("http://x")
        );
        let c = cors(json!({"allow_origins_by_regex": [".*\\.test\\.com$"]}));
        assert_eq!(
            c.allowed_origin(None, Some("http://a.test.com")).as_deref(),
            Some("http://a.test.com")
        );
        assert_eq!(c.allowed_origin(None, Some("http://a.other.com")), None);
        let c = cors(json!({"allow_origins_by_metadata": ["list"]}));
        let meta = json!({"allow_origins": {"list": "http://m.com,http://n.com"}});
        assert_eq!(
            c.allowed_origin(Some(&meta), Some("http://n.com"))
                .as_deref(),
            Some("http://n.com")
        );
        assert_eq!(c.allowed_origin(None, Some("http://n.com")), None);
    }

    #[test]
    fn credential_with_star_is_refused() {
        let f = CorsFactory;
        let e = f
            .check(
                &json!({"allow_credential": true, "allow_origins": "*"}),
                false,
            )
            .unwrap_err();
        assert_eq!(
            e,
            "you can not set '*' for other option when 'allow_credential' is true"
        );
        assert!(f
            .check(&json!({"allow_origins_by_regex": ["("]}), false)
            .is_err());
    }
}
