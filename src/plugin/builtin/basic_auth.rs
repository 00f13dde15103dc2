//! `basic-auth` (priority 2520, rewrite phase): identifies the consumer by
//! the username and password of an `Authorization: Basic` header. Consumers
//! carry `{username, password}`; routes `{hide_credentials=false, realm="basic",
//! anonymous_consumer}`. Answers 401 with `WWW-Authenticate: Basic
//! realm="basic"` and `{"message":"Missing authorization in request"}`,
//! `{"message":"Invalid authorization in request"}` (unreadable header) or
//! `{"message":"Invalid user authorization"}` (unknown user, wrong password),
//! unless an `anonymous_consumer` is configured. Passwords are compared in
//! constant time.

use std::sync::Arc;

use serde_json::{json, Value};

use super::auth_util::{parse_basic, secrets_equal};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};

/// The realm pattern of APISIX's `get_realm_schema`: printable ASCII without `"` and `\`.
pub const REALM_PATTERN: &str = "^[\\x20-\\x21\\x23-\\x5B\\]-\\x7E]+$";

/// APISIX's `realm` property with its default.
pub fn realm_schema(default: &str) -> Value {
    json!({"type": "string", "pattern": REALM_PATTERN, "default": default})
}

/// The factory.
pub struct BasicAuthFactory;

struct BasicAuth {
    realm: String,
    hide_credentials: bool,
    anonymous_consumer: Option<String>,
}

impl PluginFactory for BasicAuthFactory {
    fn name(&self) -> &'static str {
        "basic-auth"
    }
    fn priority(&self) -> i64 {
        2520
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "title": "work with route or service object",
            "properties": {
                "hide_credentials": {"type": "boolean", "default": false},
                "realm": realm_schema("basic"),
                "anonymous_consumer": {"type": "string", "minLength": 1}
            }
        })
    }
    fn consumer_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "title": "work with consumer object",
            "properties": {
                "username": {"type": "string"},
                "password": {"type": "string"}
            },
            "encrypt_fields": ["password"],
            "required": ["username", "password"]
        }))
    }
    fn consumer_key(&self, conf: &Value) -> Option<String> {
        conf.get("username")
            .and_then(Value::as_str)
            .map(String::from)
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(BasicAuth {
            realm: conf
                .get("realm")
                .and_then(Value::as_str)
                .unwrap_or("basic")
                .to_string(),
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

impl BasicAuth {
    fn unauthorized(&self, msg: &str) -> Step {
        super::auth_util::unauthorized("Basic", &self.realm, msg)
    }

    /// The consumer the header names, or the 401 message.
    fn find(&self, ctx: &Ctx) -> Result<Arc<crate::plugin::consumers::Consumer>, &'static str> {
        let header = ctx
            .req
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or("Missing authorization in request")?;
        let text = String::from_utf8_lossy(header.as_bytes());
        let (user, password) = parse_basic(&text).map_err(|e| {
            tracing::warn!("basic-auth: unreadable authorization header: {e:?}");
            "Invalid authorization in request"
        })?;
        let (consumer, conf) = ctx
            .snapshot
            .plugins
            .consumers
            .find("basic-auth", &user)
            .ok_or("Invalid user authorization")?;
        let expected = conf
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !secrets_equal(expected.as_bytes(), password.as_bytes()) {
            return Err("Invalid user authorization");
        }
        Ok(consumer.clone())
    }
}

impl Plugin for BasicAuth {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        let consumer = match self.find(ctx) {
            Ok(c) => c,
            Err(msg) => {
                let Some(anon) = &self.anonymous_consumer else {
                    return self.unauthorized(msg);
                };
                match ctx.snapshot.plugins.consumers.by_name(anon) {
                    Some(c) => c.clone(),
                    None => {
                        tracing::error!(consumer = %anon, "basic-auth: anonymous consumer not found");
                        return self.unauthorized("Invalid user authorization");
                    }
                }
            }
        };
        if self.hide_credentials {
            ctx.req.headers.remove(http::header::AUTHORIZATION);
        }
        ctx.consumer = Some(consumer);
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validator::Schema;

    #[test]
    fn schemas_compile_and_fill_defaults() {
        let f = BasicAuthFactory;
        let s = Schema::compile(&f.schema()).unwrap();
        let mut conf = json!({});
        s.validate_and_default(&mut conf).unwrap();
        assert_eq!(conf, json!({"hide_credentials": false, "realm": "basic"}));
        assert!(s.validate(&json!({"realm": "a\"b"})).is_err());
        let c = Schema::compile(&f.consumer_schema().unwrap()).unwrap();
        assert!(c.validate(&json!({"username": "u"})).is_err());
        let conf = json!({"username": "u", "password": "p"});
        assert_eq!(f.consumer_key(&conf).as_deref(), Some("u"));
    }
}
