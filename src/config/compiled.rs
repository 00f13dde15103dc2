//! Internal, compiled forms of routes and services: everything a request needs
//! is parsed, validated and prepared here once, when the item is read from the
//! config source, never per request.

use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::resource::{from_value, ResourceId, RouteConf, ServiceConf, TimeoutConf};
use crate::expr::{Expr, IpSet};
use crate::plugin::set::PluginSet;
use crate::upstream::Upstream;

/// Identity of one stored item version: which key and which etcd revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMeta {
    /// Resource id (the key's last segment).
    pub id: Arc<str>,
    /// etcd create revision (stable tie-break order).
    pub create_revision: i64,
    /// etcd mod revision (changes on every write).
    pub mod_revision: i64,
}

/// Per-request timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (+TLS) connect.
    pub connect: Duration,
    /// Writing the request.
    pub send: Duration,
    /// Waiting for response headers and between response body reads.
    pub read: Duration,
}

impl Timeouts {
    /// nginx's defaults, which APISIX uses when nothing is configured.
    pub const DEFAULT: Timeouts = Timeouts {
        connect: Duration::from_secs(60),
        send: Duration::from_secs(60),
        read: Duration::from_secs(60),
    };

    /// Convert a validated `{connect, send, read}` object.
    pub fn from_conf(t: &TimeoutConf) -> Timeouts {
        Timeouts {
            connect: Duration::from_secs_f64(t.connect),
            send: Duration::from_secs_f64(t.send),
            read: Duration::from_secs_f64(t.read),
        }
    }
}

/// A set of HTTP methods as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSet(u16);

const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];

impl MethodSet {
    /// Parse APISIX's method list; unknown names are an error naming the item.
    pub fn parse(list: &[String]) -> Result<MethodSet, String> {
        let mut bits = 0u16;
        for (i, m) in list.iter().enumerate() {
            let pos = METHODS.iter().position(|k| k == m).ok_or_else(|| {
                format!(
                    "property \"methods\" validation failed: failed to validate item {}: matches none of the enum values",
                    i + 1
                )
            })?;
            bits |= 1 << pos;
        }
        Ok(MethodSet(bits))
    }

    /// Whether the request method is in the set.
    pub fn contains(&self, m: &Method) -> bool {
        METHODS
            .iter()
            .position(|k| *k == m.as_str())
            .is_some_and(|pos| self.0 & (1 << pos) != 0)
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// Item identity.
    pub meta: ItemMeta,
    /// Path patterns (shared with the router index without copying).
    pub uris: Arc<[String]>,
    /// Own host patterns (lower-cased); empty means "inherit the service's, else any".
    pub hosts: Arc<[String]>,
    /// Method filter.
    pub methods: Option<MethodSet>,
    /// Client address filter.
    pub remote_addrs: Option<IpSet>,
    /// `vars` expression filter.
    pub vars: Option<Expr>,
    /// Higher wins on the same path.
    pub priority: i64,
    /// `status: 0` routes are kept but not routed.
    pub enabled: bool,
    /// Inline upstream.
    pub upstream: Option<Arc<Upstream>>,
    /// Referenced upstream.
    pub upstream_id: Option<ResourceId>,
    /// Referenced service.
    pub service_id: Option<ResourceId>,
    /// Referenced plugin config (used by the plugin runtime).
    pub plugin_config_id: Option<ResourceId>,
    /// The route's plugins, instantiated.
    pub plugins: Arc<PluginSet>,
    /// `name`, if set.
    pub name: Option<String>,
    /// Route-level timeout override.
    pub timeout: Option<Timeouts>,
    /// Websocket upgrades allowed (None: inherit from the service).
    pub enable_websocket: Option<bool>,
}

/// A compiled service.
#[derive(Debug)]
pub struct Service {
    /// Item identity.
    pub meta: ItemMeta,
    /// Hosts inherited by routes without their own (lower-cased).
    pub hosts: Arc<[String]>,
    /// Inline upstream.
    pub upstream: Option<Arc<Upstream>>,
    /// Referenced upstream.
    pub upstream_id: Option<ResourceId>,
    /// The service's plugins, instantiated.
    pub plugins: Arc<PluginSet>,
    /// `name`, if set.
    pub name: Option<String>,
    /// Websocket upgrades allowed for its routes.
    pub enable_websocket: Option<bool>,
}

/// Instantiate a `plugins` object (empty when absent).
fn plugin_set(
    map: Option<&serde_json::Map<String, serde_json::Value>>,
    kind: &str,
    id: &str,
) -> Result<Arc<PluginSet>, String> {
    match map {
        Some(m) if !m.is_empty() => Ok(Arc::new(PluginSet::build(
            m,
            &format!("{kind} {id}"),
            false,
        )?)),
        _ => Ok(Arc::default()),
    }
}

/// Check a host pattern against APISIX's `host_def` and lower-case it.
fn host_pattern(h: &str, field: &str) -> Result<String, String> {
    let valid = h == "*"
        || (!h.is_empty()
            && h.strip_prefix('*').unwrap_or(h).bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
            })
            && !h.strip_prefix('*').unwrap_or(h).is_empty());
    if !valid {
        return Err(format!(
            "property \"{field}\" validation failed: failed to match pattern \"^\\*?[0-9a-zA-Z-._\\[\\]:]+$\" with \"{h}\""
        ));
    }
    Ok(h.to_ascii_lowercase())
}

fn one_of<T: Clone>(
    one: &Option<T>,
    many: &Option<Vec<T>>,
    a: &str,
    b: &str,
) -> Result<Vec<T>, String> {
    match (one, many) {
        (Some(_), Some(_)) => Err(format!("only one of {a} or {b} is allowed")),
        (Some(x), None) => Ok(vec![x.clone()]),
        (None, Some(v)) if v.is_empty() => Err(format!(
            "property \"{b}\" validation failed: expect array to have at least 1 items"
        )),
        (None, Some(v)) => Ok(v.clone()),
        (None, None) => Ok(Vec::new()),
    }
}

impl Route {
    /// Parse and compile a route value read from `key`.
    pub fn compile(meta: ItemMeta, value: &serde_json::Value) -> Result<Route, String> {
        let conf: RouteConf = from_value(value)?;
        let uris = one_of(&conf.uri, &conf.uris, "uri", "uris")?;
        if uris.is_empty() {
            return Err(
                "value should match only one schema, but matches none: uri or uris is required"
                    .into(),
            );
        }
        for u in &uris {
            if u.is_empty() || u.len() > 4096 {
                return Err(format!(
                    "property \"uri\" validation failed: `{u}` must be 1-4096 characters"
                ));
            }
        }
        let hosts = one_of(&conf.host, &conf.hosts, "host", "hosts")?
            .iter()
            .map(|h| host_pattern(h, "hosts"))
            .collect::<Result<Vec<_>, _>>()?;
        crate::router::validate_patterns(&uris, &hosts).map_err(|e| e.to_string())?;
        let addrs = one_of(
            &conf.remote_addr,
            &conf.remote_addrs,
            "remote_addr",
            "remote_addrs",
        )?;
        let remote_addrs = if addrs.is_empty() {
            None
        } else {
            Some(
                IpSet::parse(&addrs)
                    .map_err(|e| format!("property \"remote_addrs\" validation failed: {e}"))?,
            )
        };
        let methods = conf.methods.as_deref().map(MethodSet::parse).transpose()?;
        let vars = match &conf.vars {
            None => None,
            Some(v) => Some(
                Expr::compile(v)
                    .map_err(|e| format!("failed to validate the 'vars' expression: {e}"))?,
            ),
        };
        if conf.filter_func.is_some() {
            return Err(
                "filter_func needs the Lua plugin runtime, which is not available yet".into(),
            );
        }
        if conf.script.is_some() || conf.script_id.is_some() {
            return Err("script is not supported".into());
        }
        if conf.upstream.is_some() && conf.upstream_id.is_some() {
            // APISIX lets the inline upstream win; keep that, it is not an error there.
        }
        if conf.plugins.is_none()
            && conf.upstream.is_none()
            && conf.upstream_id.is_none()
            && conf.service_id.is_none()
        {
            // The schema says the same (as APISIX, a plugin config alone is not enough).
            return Err(
                "value should match at least one schema: plugins, upstream, upstream_id or service_id is required"
                    .into(),
            );
        }
        if let Some(t) = &conf.timeout {
            t.check("timeout")?;
        }
        if conf.status > 1 {
            return Err(
                "property \"status\" validation failed: matches none of the enum values".into(),
            );
        }
        let upstream = match &conf.upstream {
            Some(u) => Some(Arc::new(
                Upstream::compile(u, &format!("route {} inline upstream", meta.id))
                    .map_err(|e| format!("property \"upstream\" validation failed: {e}"))?,
            )),
            None => None,
        };
        let plugins = plugin_set(conf.plugins.as_ref(), "route", &meta.id)?;
        Ok(Route {
            meta,
            uris: uris.into(),
            hosts: hosts.into(),
            methods,
            remote_addrs,
            vars,
            priority: conf.priority,
            enabled: conf.status == 1,
            upstream,
            upstream_id: conf.upstream_id,
            service_id: conf.service_id,
            plugin_config_id: conf.plugin_config_id,
            plugins,
            name: conf.name.clone(),
            timeout: conf.timeout.as_ref().map(Timeouts::from_conf),
            enable_websocket: conf.enable_websocket,
        })
    }
}

impl Service {
    /// Parse and compile a service value.
    pub fn compile(meta: ItemMeta, value: &serde_json::Value) -> Result<Service, String> {
        let conf: ServiceConf = from_value(value)?;
        let hosts =
            match &conf.hosts {
                Some(h) if h.is_empty() => return Err(
                    "property \"hosts\" validation failed: expect array to have at least 1 items"
                        .into(),
                ),
                Some(h) => h
                    .iter()
                    .map(|h| host_pattern(h, "hosts"))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
        if conf.script.is_some() {
            return Err("script is not supported".into());
        }
        let upstream = match &conf.upstream {
            Some(u) => Some(Arc::new(
                Upstream::compile(u, &format!("service {} inline upstream", meta.id))
                    .map_err(|e| format!("property \"upstream\" validation failed: {e}"))?,
            )),
            None => None,
        };
        let plugins = plugin_set(conf.plugins.as_ref(), "service", &meta.id)?;
        Ok(Service {
            meta,
            hosts: hosts.into(),
            upstream,
            upstream_id: conf.upstream_id,
            plugins,
            name: conf.name.clone(),
            enable_websocket: conf.enable_websocket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ItemMeta {
        ItemMeta {
            id: "1".into(),
            create_revision: 1,
            mod_revision: 1,
        }
    }

    #[test]
    fn route_errors_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"uri":"/a","uris":["/b"],"upstream_id":1}"#,
                "only one of uri or uris",
            ),
            (
                r#"{"uri":"/a","host":"a","hosts":["b"],"upstream_id":1}"#,
                "only one of host or hosts",
            ),
            (
                r#"{"uri":"/a","methods":["GETT"],"upstream_id":1}"#,
                "\"methods\"",
            ),
            (r#"{"uri":"/a","urii":"/b","upstream_id":1}"#, "urii"),
            (r#"{"uri":"/a"}"#, "upstream_id"),
            (
                r#"{"uri":"/a","upstream_id":1,"timeout":{"connect":1,"send":0,"read":1}}"#,
                "timeout.send",
            ),
            (r#"{"uri":5,"upstream_id":1}"#, "\"uri\""),
            (
                r#"{"uri":"/a","upstream_id":1,"timeout":{"connect":1e19,"send":1,"read":1}}"#,
                "timeout.connect",
            ),
            (
                r#"{"uri":"/a","upstream_id":1,"remote_addrs":["10.0.0.0/33"]}"#,
                "remote_addrs",
            ),
            (
                r#"{"uri":"/a","upstream_id":1,"hosts":["bad host"]}"#,
                "hosts",
            ),
        ];
        for (json, needle) in cases {
            let e = match serde_json::from_str(json) {
                Ok(v) => Route::compile(meta(), &v).unwrap_err(),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn route_compiles() {
        let r = Route::compile(
            meta(),
            &serde_json::json!({"uri":"/a","hosts":["Foo.COM","*.bar.com"],"methods":["GET"],"upstream_id":"u1","priority":3,"status":0}),
        )
        .unwrap();
        assert_eq!(&r.hosts[..], ["foo.com", "*.bar.com"]);
        assert!(r.methods.unwrap().contains(&Method::GET));
        assert!(!r.methods.unwrap().contains(&Method::POST));
        assert!(!r.enabled);
        assert_eq!(r.priority, 3);
        assert_eq!(r.upstream_id.unwrap().as_str(), "u1");
    }
}
