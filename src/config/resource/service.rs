//! The service resource: shared upstream, plugins and hosts for routes.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ResourceId, UpstreamConf};

/// A service as stored in etcd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConf {
    /// Service id.
    pub id: Option<ResourceId>,
    /// Display name.
    pub name: Option<String>,
    /// Description.
    pub desc: Option<String>,
    /// Free-form labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Plugin configurations by plugin name.
    pub plugins: Option<serde_json::Map<String, serde_json::Value>>,
    /// An inline upstream.
    pub upstream: Option<UpstreamConf>,
    /// A referenced upstream.
    pub upstream_id: Option<ResourceId>,
    /// Plugin orchestration script (not supported).
    pub script: Option<String>,
    /// Allow websocket upgrades for routes of this service.
    pub enable_websocket: Option<bool>,
    /// Hosts inherited by routes of this service that set none.
    pub hosts: Option<Vec<String>>,
    /// Set by the Admin API.
    pub create_time: Option<i64>,
    /// Set by the Admin API.
    pub update_time: Option<i64>,
}
