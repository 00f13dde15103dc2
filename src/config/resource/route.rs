//! The route resource (APISIX `schema_def.lua` route schema).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ResourceId, UpstreamConf};

/// A route as stored in etcd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConf {
    /// Route id (the key's last segment wins when both are present).
    pub id: Option<ResourceId>,
    /// Display name.
    pub name: Option<String>,
    /// Description.
    pub desc: Option<String>,
    /// Free-form labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// One path pattern.
    pub uri: Option<String>,
    /// Several path patterns.
    pub uris: Option<Vec<String>>,
    /// One host pattern.
    pub host: Option<String>,
    /// Several host patterns.
    pub hosts: Option<Vec<String>>,
    /// One client address or CIDR.
    pub remote_addr: Option<String>,
    /// Several client addresses or CIDRs.
    pub remote_addrs: Option<Vec<String>>,
    /// Allowed methods; absent means all.
    pub methods: Option<Vec<String>>,
    /// Higher wins among routes on the same path.
    #[serde(default)]
    pub priority: i64,
    /// lua-resty-expr expressions over request variables.
    pub vars: Option<serde_json::Value>,
    /// A Lua filter function (needs the Lua runtime).
    pub filter_func: Option<String>,
    /// Plugin configurations by plugin name.
    pub plugins: Option<serde_json::Map<String, serde_json::Value>>,
    /// A plugin config whose plugins are merged in.
    pub plugin_config_id: Option<ResourceId>,
    /// Plugin orchestration script (not supported).
    pub script: Option<String>,
    /// Plugin orchestration script id (not supported).
    pub script_id: Option<ResourceId>,
    /// An inline upstream.
    pub upstream: Option<UpstreamConf>,
    /// A referenced upstream.
    pub upstream_id: Option<ResourceId>,
    /// A referenced service.
    pub service_id: Option<ResourceId>,
    /// Per-route timeouts overriding the upstream's.
    pub timeout: Option<TimeoutConf>,
    /// Allow websocket upgrades.
    pub enable_websocket: Option<bool>,
    /// 1 enabled, 0 disabled.
    #[serde(default = "one")]
    pub status: u8,
    /// Set by the Admin API.
    pub create_time: Option<i64>,
    /// Set by the Admin API.
    pub update_time: Option<i64>,
}

fn one() -> u8 {
    1
}

/// `{connect, send, read}` in seconds; all three required, each > 0.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConf {
    /// Connect timeout in seconds.
    pub connect: f64,
    /// Send timeout in seconds.
    pub send: f64,
    /// Read timeout in seconds.
    pub read: f64,
}

impl TimeoutConf {
    /// Check every field is a positive finite number.
    pub fn check(&self, field: &str) -> Result<(), String> {
        for (name, v) in [
            ("connect", self.connect),
            ("send", self.send),
            ("read", self.read),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= super::MAX_SECONDS) {
                return Err(format!(
                    "property \"{field}.{name}\" validation failed: expected a number greater than 0 and at most {}, got {v}",
                    super::MAX_SECONDS
                ));
            }
        }
        Ok(())
    }
}
