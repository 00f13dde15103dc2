//! `ip-restriction` (priority 3000, access phase): rejects clients by
//! address against a `whitelist` or a `blacklist` of IPs and CIDRs (exactly
//! one of them). A rejected client gets `response_code` (default 403, 403 or
//! 404) with `{"message":"Your IP address is not allowed"}` (`message`).
//! The address is the client's as later plugins see it (after `real-ip`).

use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Value};

use crate::expr::IpSet;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};
use crate::schema::resources::ip_forms;

/// The factory.
pub struct IpRestrictionFactory;

struct IpRestriction {
    /// `true`: the set lists allowed clients; `false`: rejected ones.
    allow: bool,
    set: IpSet,
    status: StatusCode,
    message: String,
}

/// The address list of a configuration: (is whitelist, items).
fn list(conf: &Value) -> (bool, Vec<&str>) {
    let items = |k: &str| {
        conf.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
    };
    match items("whitelist") {
        Some(w) => (true, w),
        None => (false, items("blacklist").unwrap_or_default()),
    }
}

impl PluginFactory for IpRestrictionFactory {
    fn name(&self) -> &'static str {
        "ip-restriction"
    }
    fn priority(&self) -> i64 {
        3000
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "message": {
                    "type": "string", "minLength": 1, "maxLength": 1024,
                    "default": "Your IP address is not allowed"
                },
                "response_code": {"type": "integer", "minimum": 403, "maximum": 404, "default": 403},
                "whitelist": {"type": "array", "items": {"anyOf": ip_forms()}, "minItems": 1},
                "blacklist": {"type": "array", "items": {"anyOf": ip_forms()}, "minItems": 1}
            },
            "oneOf": [
                {"required": ["whitelist"]},
                {"required": ["blacklist"]}
            ]
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        IpSet::parse(list(conf).1)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let (allow, items) = list(conf);
        let set = IpSet::parse(items).map_err(|e| e.to_string())?;
        let code = conf
            .get("response_code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(403);
        Ok(Arc::new(IpRestriction {
            allow,
            set,
            status: StatusCode::from_u16(code).map_err(|e| e.to_string())?,
            message: conf
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("Your IP address is not allowed")
                .to_string(),
        }))
    }
}

impl IpRestriction {
    fn blocks(&self, ip: std::net::IpAddr) -> bool {
        self.set.contains(ip) != self.allow
    }
}

impl Plugin for IpRestriction {
    fn access(&self, ctx: &mut Ctx) -> Step {
        if self.blocks(ctx.conn.remote.ip()) {
            return Step::Respond(PluginResponse::message(self.status, &self.message));
        }
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validator::Schema;

    #[test]
    fn white_and_black_lists() {
        let f = IpRestrictionFactory;
        let s = Schema::compile(&f.schema()).unwrap();
        let mut conf = json!({"whitelist": ["10.0.0.0/8", "::1"]});
        s.validate_and_default(&mut conf).unwrap();
        assert_eq!(conf["message"], "Your IP address is not allowed");
        let (allow, items) = list(&conf);
        let p = IpRestriction {
            allow,
            set: IpSet::parse(items).unwrap(),
            status: StatusCode::FORBIDDEN,
            message: String::new(),
        };
        assert!(!p.blocks("10.1.2.3".parse().unwrap()));
        assert!(!p.blocks("::1".parse().unwrap()));
        assert!(p.blocks("11.1.2.3".parse().unwrap()));
        let p = IpRestriction { allow: false, ..p };
        assert!(p.blocks("10.1.2.3".parse().unwrap()));
        assert!(s
            .validate(&json!({"whitelist": ["1.1.1.1"], "blacklist": ["2.2.2.2"]}))
            .is_err());
        assert!(f.check(&json!({"blacklist": ["::1/129"]}), false).is_err());
    }
}
