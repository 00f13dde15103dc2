//! `consumer-restriction` (priority 2400, access phase): allows or rejects a
//! request by the identified consumer's name (default `type`), its consumer
//! group, or the matched route or service id, against a `whitelist`, a
//! `blacklist` and per-consumer `allowed_by_methods`. A rejection answers
//! `rejected_code` (default 403) with `{"message":"The consumer_name is
//! forbidden."}` (or `rejected_msg`); a request without the value (no
//! consumer, no service) answers 401 `{"message":"The request is rejected,
//! please check the consumer_name for this request"}`.

use std::sync::Arc;

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};
use crate::schema::resources::method;

/// The factory.
pub struct ConsumerRestrictionFactory;

/// What the lists are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    ConsumerName,
    ServiceId,
    RouteId,
    ConsumerGroupId,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::ConsumerName => "consumer_name",
            Kind::ServiceId => "service_id",
            Kind::RouteId => "route_id",
            Kind::ConsumerGroupId => "consumer_group_id",
        }
    }
}

#[derive(Debug, Deserialize)]
struct MethodRule {
    user: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Conf {
    #[serde(rename = "type")]
    kind: Kind,
    blacklist: Option<Vec<String>>,
    whitelist: Option<Vec<String>>,
    allowed_by_methods: Option<Vec<MethodRule>>,
    rejected_code: u16,
    rejected_msg: Option<String>,
}

struct ConsumerRestriction {
    conf: Conf,
    status: StatusCode,
}

impl PluginFactory for ConsumerRestrictionFactory {
    fn name(&self) -> &'static str {
        "consumer-restriction"
    }
    fn priority(&self) -> i64 {
        2400
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["consumer_name", "service_id", "route_id", "consumer_group_id"],
                    "default": "consumer_name"
                },
                "blacklist": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "whitelist": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "allowed_by_methods": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "user": {"type": "string"},
                            "methods": {"type": "array", "minItems": 1, "items": method()}
                        }
                    }
                },
                "rejected_code": {"type": "integer", "minimum": 200, "default": 403},
                "rejected_msg": {"type": "string"}
            },
            "anyOf": [
                {"required": ["blacklist"]},
                {"required": ["whitelist"]},
                {"required": ["allowed_by_methods"]}
            ]
        })
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let conf: Conf = serde_json::from_value(conf.clone()).map_err(|e| e.to_string())?;
        let status = StatusCode::from_u16(conf.rejected_code).map_err(|e| e.to_string())?;
        Ok(Arc::new(ConsumerRestriction { conf, status }))
    }
}

/// APISIX's `is_method_allowed`: the first rule for `user` decides; a user
/// without a rule is allowed.
fn method_allowed(rules: &[MethodRule], method: &str, user: &str) -> bool {
    match rules.iter().find(|r| r.user.as_deref() == Some(user)) {
        Some(rule) => rule.methods.iter().any(|m| m == method),
        None => true,
    }
}

impl ConsumerRestriction {
    /// Whether `value` (requested with `method`) passes the lists.
    fn allows(&self, value: &str, method: &str) -> bool {
        let c = &self.conf;
        let listed = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.iter().any(|v| v == value));
        if listed(&c.blacklist) == Some(true) {
            return false;
        }
        let whitelisted = listed(&c.whitelist);
        if whitelisted == Some(true) {
            return true;
        }
        let by_methods = match &c.allowed_by_methods {
            Some(rules) if !rules.is_empty() => method_allowed(rules, method, value),
            _ => true,
        };
        whitelisted.is_none() && by_methods
    }
}

impl Plugin for ConsumerRestriction {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let kind = self.conf.kind;
        let value = match kind {
            Kind::ConsumerName => ctx.consumer_name(),
            Kind::ConsumerGroupId => ctx.consumer.as_deref().and_then(|c| c.group_id.as_deref()),
            Kind::RouteId => ctx.route_id(),
            Kind::ServiceId => ctx.service_id(),
        };
        let Some(value) = value else {
            let msg = format!(
                "The request is rejected, please check the {} for this request",
                kind.as_str()
            );
            return Step::Respond(PluginResponse::message(StatusCode::UNAUTHORIZED, &msg));
        };
        if self.allows(value, ctx.req.method.as_str()) {
            return Step::Continue;
        }
        let msg = match &self.conf.rejected_msg {
            Some(m) => m.clone(),
            None => format!("The {} is forbidden.", kind.as_str()),
        };
        Step::Respond(PluginResponse::message(self.status, &msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validator::Schema;

    fn plugin(conf: Value) -> ConsumerRestriction {
        let s = Schema::compile(&ConsumerRestrictionFactory.schema()).unwrap();
        let mut conf = conf;
        s.validate_and_default(&mut conf).unwrap();
        let conf: Conf = serde_json::from_value(conf).unwrap();
        ConsumerRestriction {
            conf,
            status: StatusCode::FORBIDDEN,
        }
    }

    #[test]
    fn lists_and_methods() {
        let p = plugin(json!({"whitelist": ["jack"]}));
        assert!(p.allows("jack", "GET"));
        assert!(!p.allows("rose", "GET"));
        let p = plugin(json!({"blacklist": ["jack"]}));
        assert!(!p.allows("jack", "GET"));
        assert!(p.allows("rose", "GET"));
        let p = plugin(json!({"allowed_by_methods": [{"user": "jack", "methods": ["POST"]}]}));
        assert!(!p.allows("jack", "GET"));
        assert!(p.allows("jack", "POST"));
        assert!(p.allows("rose", "GET"), "no rule for rose");
        let p = plugin(json!({"whitelist": ["jack"],
            "allowed_by_methods": [{"user": "rose", "methods": ["GET"]}]}));
        assert!(p.allows("jack", "DELETE"), "whitelisted skips methods");
        assert!(!p.allows("rose", "GET"), "not whitelisted");
    }

    #[test]
    fn schema_requires_a_list() {
        let s = Schema::compile(&ConsumerRestrictionFactory.schema()).unwrap();
        assert!(s.validate(&json!({})).is_err());
        assert!(s
            .validate(&json!({"type": "x", "whitelist": ["a"]}))
            .is_err());
    }
}
