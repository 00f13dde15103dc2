//! The Admin API's URL space (`/apisix/admin/...`) and which methods each
//! resource accepts, as APISIX defines them (`apisix/admin/init.lua` and the
//! per-resource `unsupported_methods`).

use http::Method;

use crate::config::resource::ResourceKind;

/// Every Admin API path starts here.
pub const PREFIX: &str = "/apisix/admin";

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPath<'a> {
    /// `/apisix/admin` itself (`HEAD` liveness).
    Root,
    /// A resource collection or item, with an optional sub-path for PATCH.
    Resource {
        /// The kind.
        kind: ResourceKind,
        /// The item id (`None`: the collection).
        id: Option<&'a str>,
        /// The attribute path after the id (`upstream/nodes`).
        sub_path: Option<&'a str>,
    },
    /// `/consumers/{username}/credentials[/{id}]`.
    Credential {
        /// The owning consumer.
        username: &'a str,
        /// The credential id (`None`: the collection).
        id: Option<&'a str>,
    },
    /// `GET /plugins/list`.
    PluginList,
    /// `GET /plugins?all=true` (deprecated in APISIX, still used by tools).
    PluginAll,
    /// `PUT /plugins/reload`.
    PluginReload,
    /// `GET /plugins/{name}` and `GET /schema/plugins/{name}`.
    PluginSchema(&'a str),
    /// `GET /schema/{resource}`.
    ResourceSchema(&'a str),
    /// `POST /schema/validate/{resource}`.
    ValidateSchema(&'a str),
    /// `GET /openapi.json`.
    OpenApi,
    /// `/apisix/admin/{unknown}`.
    UnknownResource(&'a str),
    /// Anything else under the prefix.
    NotFound,
}

/// Resolve a request path (without query).
pub fn parse(path: &str) -> Option<AdminPath<'_>> {
    fn non_empty(s: Option<&str>) -> Option<&str> {
        s.filter(|s| !s.is_empty())
    }
    let rest = path.strip_prefix(PREFIX)?;
    if rest.is_empty() || rest == "/" {
        return Some(AdminPath::Root);
    }
    let rest = rest.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (head, tail) = match rest.split_once('/') {
        Some((h, t)) => (h, Some(t)),
        None => (rest, None),
    };
    let p = match (head, tail) {
        ("plugins", Some("list")) => AdminPath::PluginList,
        ("plugins", None) => AdminPath::PluginAll,
        ("plugins", Some("reload")) => AdminPath::PluginReload,
        ("plugins", Some(name)) if !name.contains('/') => AdminPath::PluginSchema(name),
        ("schema", Some(t)) => match t.split_once('/') {
            Some(("plugins", name)) if !name.contains('/') => AdminPath::PluginSchema(name),
            Some(("validate", res)) if !res.contains('/') => AdminPath::ValidateSchema(res),
            None => AdminPath::ResourceSchema(t),
            _ => AdminPath::NotFound,
        },
        ("openapi.json", None) => AdminPath::OpenApi,
        ("consumers", Some(t)) => match t.split('/').collect::<Vec<_>>().as_slice() {
            [u] => AdminPath::Resource {
                kind: ResourceKind::Consumer,
                id: Some(u),
                sub_path: None,
            },
            [u, "credentials"] => AdminPath::Credential {
                username: u,
                id: None,
            },
            [u, "credentials", id] => AdminPath::Credential {
                username: u,
                id: Some(id),
            },
            _ => AdminPath::NotFound,
        },
        (dir, t) => match kind_of(dir) {
            Some(kind) => {
                let (id, sub) = match t {
                    None => (None, None),
                    Some(t) => match t.split_once('/') {
                        Some((i, s)) => (Some(i), non_empty(Some(s))),
                        None => (Some(t), None),
                    },
                };
                if kind == ResourceKind::PluginMetadata && sub.is_some() {
                    AdminPath::NotFound
                } else {
                    AdminPath::Resource {
                        kind,
                        id: non_empty(id),
                        sub_path: sub,
                    }
                }
            }
            None => AdminPath::UnknownResource(dir),
        },
    };
    Some(p)
}

/// The kind stored under an Admin API directory name.
pub fn kind_of(dir: &str) -> Option<ResourceKind> {
    ResourceKind::ALL
        .into_iter()
        .find(|k| k.dir() == dir && *k != ResourceKind::Credential)
}

/// How APISIX names a kind in Admin API messages (`not supported `POST`
/// method for consumer group`, `wrong route id`).
pub fn apisix_kind(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::ConsumerGroup => "consumer group",
        ResourceKind::GlobalRule => "global rule",
        ResourceKind::PluginConfig => "plugin config",
        other => other.singular(),
    }
}

/// Whether `kind` accepts `method` (APISIX answers 405 otherwise).
pub fn allows(kind: ResourceKind, method: &Method) -> bool {
    use ResourceKind as K;
    match *method {
        Method::GET | Method::PUT | Method::DELETE => true,
        Method::POST | Method::PATCH if kind == K::Credential => false,
        Method::POST => matches!(kind, K::Route | K::Service | K::Upstream | K::Ssl),
        Method::PATCH => matches!(
            kind,
            K::Route
                | K::Service
                | K::Upstream
                | K::Ssl
                | K::GlobalRule
                | K::PluginConfig
                | K::ConsumerGroup
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        use AdminPath as P;
        use ResourceKind as K;
        assert_eq!(parse("/apisix/admin"), Some(P::Root));
        assert_eq!(parse("/other"), None);
        assert_eq!(parse("/apisix/administrator"), None);
        assert_eq!(
            parse("/apisix/admin/routes"),
            Some(P::Resource {
                kind: K::Route,
                id: None,
                sub_path: None
            })
        );
        assert_eq!(
            parse("/apisix/admin/routes/1/upstream/nodes"),
            Some(P::Resource {
                kind: K::Route,
                id: Some("1"),
                sub_path: Some("upstream/nodes")
            })
        );
        assert_eq!(
            parse("/apisix/admin/consumers/jack/credentials/a"),
            Some(P::Credential {
                username: "jack",
                id: Some("a")
            })
        );
        assert_eq!(
            parse("/apisix/admin/consumers/jack/credentials"),
            Some(P::Credential {
                username: "jack",
                id: None
            })
        );
        assert_eq!(parse("/apisix/admin/plugins/list"), Some(P::PluginList));
        assert_eq!(
            parse("/apisix/admin/schema/plugins/key-auth"),
            Some(P::PluginSchema("key-auth"))
        );
        assert_eq!(
            parse("/apisix/admin/schema/validate/routes"),
            Some(P::ValidateSchema("routes"))
        );
        assert_eq!(
            parse("/apisix/admin/schema/route"),
            Some(P::ResourceSchema("route"))
        );
        assert_eq!(
            parse("/apisix/admin/nope/1"),
            Some(P::UnknownResource("nope"))
        );
        assert_eq!(
            parse("/apisix/admin/plugin_metadata/http-logger/x"),
            Some(P::NotFound)
        );
    }

    #[test]
    fn methods() {
        use ResourceKind as K;
        assert!(allows(K::Route, &Method::POST));
        assert!(!allows(K::Consumer, &Method::POST));
        assert!(!allows(K::Consumer, &Method::PATCH));
        assert!(!allows(K::PluginMetadata, &Method::PATCH));
        assert!(allows(K::GlobalRule, &Method::PATCH));
        assert!(!allows(K::GlobalRule, &Method::POST));
    }
}
