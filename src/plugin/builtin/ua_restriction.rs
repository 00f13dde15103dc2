//! `ua-restriction` (priority 2999, access phase): rejects requests by
//! `User-Agent` against an `allowlist` or a `denylist` of regular
//! expressions (exactly one of them; unanchored, as PCRE `find`). A request
//! without `User-Agent` is rejected unless `bypass_missing`. Rejections answer
//! 403 `{"message":"Not allowed"}` (`message`).

use std::sync::Arc;

use http::StatusCode;
use regex::Regex;
use serde_json::{json, Value};

use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};

/// The factory.
pub struct UaRestrictionFactory;

struct UaRestriction {
    /// `true`: the rules list allowed agents; `false`: denied ones.
    allow: bool,
    rules: Vec<Regex>,
    bypass_missing: bool,
    message: String,
}

/// The rules of a configuration, compiled: (is allowlist, regexes).
fn rules(conf: &Value) -> Result<(bool, Vec<Regex>), String> {
    let (allow, list) = match conf.get("allowlist").and_then(Value::as_array) {
        Some(a) => (true, a),
        None => match conf.get("denylist").and_then(Value::as_array) {
            Some(d) => (false, d),
            None => return Ok((false, Vec::new())),
        },
    };
    let compiled = list
        .iter()
        .filter_map(Value::as_str)
        .map(|r| Regex::new(r).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((allow, compiled))
}

impl PluginFactory for UaRestrictionFactory {
    fn name(&self) -> &'static str {
        "ua-restriction"
    }
    fn priority(&self) -> i64 {
        2999
    }
    fn schema(&self) -> Value {
        let list =
            json!({"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}});
        json!({
            "type": "object",
            "properties": {
                "bypass_missing": {"type": "boolean", "default": false},
                "allowlist": list,
                "denylist": list,
                "message": {"type": "string", "minLength": 1, "maxLength": 1024, "default": "Not allowed"}
            },
            "oneOf": [
                {"required": ["allowlist"]},
                {"required": ["denylist"]}
            ]
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        rules(conf).map(|_| ())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let (allow, rules) = rules(conf)?;
        Ok(Arc::new(UaRestriction {
            allow,
            rules,
            bypass_missing: conf
                .get("bypass_missing")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            message: conf
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("Not allowed")
                .to_string(),
        }))
    }
}

impl UaRestriction {
    /// Whether the request with these `User-Agent` values passes: with an
    /// allowlist one allowed value suffices; with a denylist every value
    /// must pass.
    fn passes(&self, agents: &[&str]) -> bool {
        let matches = |ua: &str| self.rules.iter().any(|r| r.is_match(ua.trim()));
        match self.allow {
            true => agents.iter().any(|ua| matches(ua)),
            false => !agents.iter().any(|ua| matches(ua)),
        }
    }
}

impl Plugin for UaRestriction {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let agents: Vec<&str> = ctx
            .req
            .headers
            .get_all(http::header::USER_AGENT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ok = match agents.is_empty() {
            true => self.bypass_missing,
            false => self.passes(&agents),
        };
        match ok {
            true => Step::Continue,
            false => Step::Respond(PluginResponse::message(
                StatusCode::FORBIDDEN,
                &self.message,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(conf: Value) -> UaRestriction {
        let (allow, rules) = rules(&conf).unwrap();
        UaRestriction {
            allow,
            rules,
            bypass_missing: false,
            message: String::new(),
        }
    }

    #[test]
    fn allow_and_deny() {
        let p = plugin(json!({"allowlist": ["^curl/", "Chrome"]}));
        assert!(p.passes(&["curl/8.0"]));
        assert!(p.passes(&["Mozilla Chrome/1"]));
        assert!(!p.passes(&["wget"]));
        assert!(p.passes(&["wget", "curl/1"]));
        let p = plugin(json!({"denylist": ["(Baiduspider|Twitterbot)"]}));
        assert!(!p.passes(&["Twitterbot/2.0"]));
        assert!(p.passes(&["curl"]));
        assert!(!p.passes(&["curl", "Baiduspider"]));
        assert!(rules(&json!({"denylist": ["("]})).is_err());
    }
}
