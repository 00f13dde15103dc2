//! The external shape of the resources stored in etcd (APISIX's JSON), and how
//! an etcd key maps to a resource kind and id.
//!
//! These serde types are the *external* schema: they reject unknown fields and
//! carry APISIX's field names. The data plane compiles them into internal types
//! (`crate::config::compiled`) once, when a snapshot is built.

mod id;
mod route;
mod service;
mod upstream;

pub use id::ResourceId;
pub use route::{RouteConf, TimeoutConf};
pub use service::ServiceConf;
pub use upstream::{
    ActiveCheckConf, ActiveHealthy, ActiveUnhealthy, ChecksConf, HashOn, KeepalivePoolConf,
    NodeConf, NodesConf, PassHost, PassiveCheckConf, PassiveHealthy, PassiveUnhealthy,
    UpstreamConf, UpstreamScheme, UpstreamTlsConf,
};

/// Longest duration accepted anywhere in the configuration (one year, in
/// seconds): larger values would overflow time arithmetic at run time.
pub const MAX_SECONDS: f64 = 31_536_000.0;

/// Every resource directory strait reads under the etcd prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// `/routes`
    Route,
    /// `/services`
    Service,
    /// `/upstreams`
    Upstream,
    /// `/consumers`
    Consumer,
    /// `/consumers/{username}/credentials/{id}`
    Credential,
    /// `/consumer_groups`
    ConsumerGroup,
    /// `/ssls`
    Ssl,
    /// `/global_rules`
    GlobalRule,
    /// `/plugin_configs`
    PluginConfig,
    /// `/plugin_metadata`
    PluginMetadata,
}

impl ResourceKind {
    /// All kinds, in the order they are listed in logs and the snapshot file.
    pub const ALL: [ResourceKind; 10] = [
        ResourceKind::Route,
        ResourceKind::Service,
        ResourceKind::Upstream,
        ResourceKind::Consumer,
        ResourceKind::Credential,
        ResourceKind::ConsumerGroup,
        ResourceKind::Ssl,
        ResourceKind::GlobalRule,
        ResourceKind::PluginConfig,
        ResourceKind::PluginMetadata,
    ];

    /// The directory name under the prefix.
    pub fn dir(self) -> &'static str {
        match self {
            ResourceKind::Route => "routes",
            ResourceKind::Service => "services",
            ResourceKind::Upstream => "upstreams",
            ResourceKind::Consumer | ResourceKind::Credential => "consumers",
            ResourceKind::ConsumerGroup => "consumer_groups",
            ResourceKind::Ssl => "ssls",
            ResourceKind::GlobalRule => "global_rules",
            ResourceKind::PluginConfig => "plugin_configs",
            ResourceKind::PluginMetadata => "plugin_metadata",
        }
    }

    /// Singular name used in log lines and errors (`route`, `upstream`, ...).
    pub fn singular(self) -> &'static str {
        match self {
            ResourceKind::Route => "route",
            ResourceKind::Service => "service",
            ResourceKind::Upstream => "upstream",
            ResourceKind::Consumer => "consumer",
            ResourceKind::Credential => "credential",
            ResourceKind::ConsumerGroup => "consumer_group",
            ResourceKind::Ssl => "ssl",
            ResourceKind::GlobalRule => "global_rule",
            ResourceKind::PluginConfig => "plugin_config",
            ResourceKind::PluginMetadata => "plugin_metadata",
        }
    }
}

/// Split an etcd key (`/apisix/routes/1`) into its kind and id, relative to `prefix`.
///
/// Returns `None` for keys strait does not read: directory placeholders
/// (`/apisix/routes/`), `/apisix/plugins`, `/apisix/gen_id`, unknown directories.
/// A credential's id is `username/credentials/id`.
pub fn parse_key<'k>(prefix: &str, key: &'k str) -> Option<(ResourceKind, &'k str)> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('/')?;
    let (dir, id) = rest.split_once('/')?;
    if id.is_empty() {
        return None;
    }
    let kind = match dir {
        "routes" => ResourceKind::Route,
        "services" => ResourceKind::Service,
        "upstreams" => ResourceKind::Upstream,
        "consumers" => {
            if id.contains("/credentials/") {
                ResourceKind::Credential
            } else if id.contains('/') {
                return None;
            } else {
                ResourceKind::Consumer
            }
        }
        "consumer_groups" => ResourceKind::ConsumerGroup,
        "ssls" => ResourceKind::Ssl,
        "global_rules" => ResourceKind::GlobalRule,
        "plugin_configs" => ResourceKind::PluginConfig,
        "plugin_metadata" => ResourceKind::PluginMetadata,
        _ => return None,
    };
    if kind != ResourceKind::Credential && id.contains('/') {
        return None;
    }
    Some((kind, id))
}

/// Deserialize an already parsed (and schema-checked) resource value, with the
/// JSON path of the first error in the message.
pub fn from_value<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("property \"{path}\" validation failed: {inner}")
        }
    })
}

/// Deserialize one resource value with the JSON path of the first error in the message.
pub fn from_json<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(value);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // Malformed JSON is not a property's fault (its path would read `?`).
        if inner.is_syntax() || inner.is_eof() {
            format!("invalid JSON: {inner}")
        } else if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("property \"{path}\" validation failed: {inner}")
        }
    })?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_not_blamed_on_a_property() {
        for bad in [
            "{not json",
            r#"{"uri": "/a", "upstream": {"#,
            r#"{"uri": "/a"} x"#,
        ] {
            let e = from_json::<RouteConf>(bad.as_bytes()).unwrap_err();
            assert!(e.starts_with("invalid JSON: "), "{bad}: {e}");
        }
        let e = from_json::<RouteConf>(br#"{"uri": 5}"#).unwrap_err();
        assert!(e.starts_with("property \"uri\" validation failed"), "{e}");
    }

    #[test]
    fn keys() {
        let p = "/apisix";
        assert_eq!(
            parse_key(p, "/apisix/routes/1"),
            Some((ResourceKind::Route, "1"))
        );
        assert_eq!(parse_key(p, "/apisix/routes/"), None);
        assert_eq!(parse_key(p, "/apisix/plugins"), None);
        assert_eq!(parse_key(p, "/apisix/gen_id"), None);
        assert_eq!(parse_key(p, "/other/routes/1"), None);
        assert_eq!(
            parse_key(p, "/apisix/consumers/jack/credentials/a"),
            Some((ResourceKind::Credential, "jack/credentials/a"))
        );
        assert_eq!(
            parse_key(p, "/apisix/consumers/jack"),
            Some((ResourceKind::Consumer, "jack"))
        );
        assert_eq!(
            parse_key(p, "/apisix/plugin_metadata/http-logger"),
            Some((ResourceKind::PluginMetadata, "http-logger"))
        );
    }
}
