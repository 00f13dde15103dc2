//! `key-auth` (priority 2500): identifies the consumer by an API key from a
//! header (default `apikey`) or query argument (default `apikey`). Answers
//! 401 `{"message":"Missing API key in request"}` /
//! `{"message":"Invalid API key in request"}` with `WWW-Authenticate`, unless
//! an `anonymous_consumer` is configured.

use std::sync::Arc;

use http::HeaderName;
use serde_json::{json, Value};

use super::request_util::{query_arg, without_query_arg};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};

/// The factory.
pub struct KeyAuthFactory;

struct KeyAuth {
    header: HeaderName,
    query: String,
    realm: String,
    hide_credentials: bool,
    anonymous_consumer: Option<String>,
}

impl PluginFactory for KeyAuthFactory {
    fn name(&self) -> &'static str {
        "key-auth"
    }
    fn priority(&self) -> i64 {
        2500
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "header": {"type": "string", "default": "apikey"},
                "query": {"type": "string", "default": "apikey"},
                "realm": {"type": "string", "default": "key"},
                "hide_credentials": {"type": "boolean", "default": false},
                "anonymous_consumer": {"type": "string", "minLength": 1}
            }
        })
    }
    fn consumer_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "properties": {"key": {"type": "string"}},
            "required": ["key"],
            "encrypt_fields": ["key"]
        }))
    }
    fn consumer_key(&self, conf: &Value) -> Option<String> {
        conf.get("key").and_then(Value::as_str).map(String::from)
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let text = |k: &str| conf.get(k).and_then(Value::as_str).unwrap_or_default();
        let header = HeaderName::from_bytes(text("header").to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("header: {e}"))?;
        Ok(Arc::new(KeyAuth {
            header,
            query: text("query").to_string(),
            realm: text("realm").to_string(),
            hide_credentials: conf
                .get("hide_credentials")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            anonymous_consumer: conf
                .get("anonymous_consumer")
                .and_then(Value::as_str)
                .map(String::from),
        }))
    }
}

impl KeyAuth {
    fn unauthorized(&self, msg: &str) -> Step {
        super::auth_util::unauthorized("apikey", &self.realm, msg)
    }

    /// Remove the credential before the request goes upstream: from where
    /// it was found, or from both places (anonymous fallback, as APISIX).
    fn strip(&self, ctx: &mut Ctx, header: bool, query: bool) {
        if header {
            ctx.req.headers.remove(&self.header);
        }
        if query {
            ctx.req.uri = without_query_arg(&ctx.req.uri, &self.query);
        }
    }
}

impl Plugin for KeyAuth {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        let from_header = ctx
            .req
            .headers
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let key = match from_header.is_some() {
            true => from_header.clone(),
            false => query_arg(&ctx.req.uri, &self.query).map(|k| k.into_owned()),
        };
        let found = key
            .as_deref()
            .and_then(|k| ctx.snapshot.plugins.consumers.find("key-auth", k))
            .map(|(c, _)| c.clone());
        if let Some(consumer) = found {
            if self.hide_credentials {
                let header = from_header.is_some();
                self.strip(ctx, header, !header);
            }
            ctx.consumer = Some(consumer);
            return Step::Continue;
        }
        if let Some(anon) = &self.anonymous_consumer {
            if self.hide_credentials {
                self.strip(ctx, true, true);
            }
            return match ctx.snapshot.plugins.consumers.by_name(anon).cloned() {
                Some(c) => {
                    ctx.consumer = Some(c);
                    Step::Continue
                }
                None => self.unauthorized("Invalid user authorization"),
            };
        }
        match key {
            None => self.unauthorized("Missing API key in request"),
            Some(_) => self.unauthorized("Invalid API key in request"),
        }
    }
}
