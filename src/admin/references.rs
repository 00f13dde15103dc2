//! Referential integrity, checked against etcd (not a node's memory, so it
//! holds with several admin nodes): a write may only point at resources that
//! exist, and a resource still referenced may only be deleted with
//! `?force=true`. Messages are APISIX's.

use serde_json::Value;

use super::error::AdminError;
use super::etcd_store::EtcdStore;
use super::item_rules::id_text;
use crate::config::resource::ResourceKind;

/// One kind of reference: the field holding it and the kind it points at.
struct Ref {
    from: ResourceKind,
    /// JSON pointer of the referencing field.
    field: &'static str,
    to: ResourceKind,
    /// How APISIX names the target in messages (`upstream`, `plugin config`).
    target_name: &'static str,
}

const REFS: &[Ref] = &[
    Ref {
        from: ResourceKind::Route,
        field: "/upstream_id",
        to: ResourceKind::Upstream,
        target_name: "upstream",
    },
    Ref {
        from: ResourceKind::Route,
        field: "/service_id",
        to: ResourceKind::Service,
        target_name: "service",
    },
    Ref {
        from: ResourceKind::Route,
        field: "/plugin_config_id",
        to: ResourceKind::PluginConfig,
        target_name: "plugin config",
    },
    Ref {
        from: ResourceKind::Service,
        field: "/upstream_id",
        to: ResourceKind::Upstream,
        target_name: "upstream",
    },
    Ref {
        from: ResourceKind::Consumer,
        field: "/group_id",
        to: ResourceKind::ConsumerGroup,
        target_name: "consumer group",
    },
    Ref {
        from: ResourceKind::Upstream,
        field: "/tls/client_cert_id",
        to: ResourceKind::Ssl,
        target_name: "ssl",
    },
];

/// Every resource `value` (of `kind`) points at must exist.
pub async fn check_targets_exist(
    store: &EtcdStore,
    kind: ResourceKind,
    value: &Value,
) -> Result<(), AdminError> {
    for r in REFS.iter().filter(|r| r.from == kind) {
        let Some(id) = value.pointer(r.field).and_then(id_text) else {
            continue;
        };
        let key = format!("{}/{}/{}", store.prefix(), r.to.dir(), id);
        let missing = || {
            AdminError::BadRequest(format!(
                "failed to fetch {name} info by {name} id [{id}], response code: 404",
                name = r.target_name
            ))
        };
        if r.to == ResourceKind::Ssl {
            // An upstream presents a client certificate: `type: client` only.
            let item = store.get(&key).await?.ok_or_else(missing)?;
            if item.value.get("type").and_then(Value::as_str) != Some("client") {
                return Err(AdminError::BadRequest(format!(
                    "failed to fetch ssl info by ssl id [{id}], wrong ssl type"
                )));
            }
        } else if !store.exists(&key).await? {
            return Err(missing());
        }
    }
    Ok(())
}

/// The name a referrer is shown by: its id, or a consumer's username.
fn referrer_name(value: &Value, key: &str) -> String {
    value
        .get("id")
        .and_then(id_text)
        .or_else(|| value.get("username").and_then(id_text))
        .unwrap_or_else(|| key.rsplit('/').next().unwrap_or(key).to_string())
}

/// How APISIX phrases the refusal to delete a `kind` still in use.
fn refusal(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Service => "can not delete this service directly",
        ResourceKind::PluginConfig => "can not delete this plugin config",
        ResourceKind::ConsumerGroup => "can not delete this consumer group",
        ResourceKind::Ssl => "can not delete this ssl",
        _ => "can not delete this upstream",
    }
}

/// Refuse to delete `kind`/`id` while another resource references it.
pub async fn check_unreferenced(
    store: &EtcdStore,
    kind: ResourceKind,
    id: &str,
) -> Result<(), AdminError> {
    for r in REFS.iter().filter(|r| r.to == kind) {
        let dir = format!("{}/{}", store.prefix(), r.from.dir());
        for item in store.list(&dir).await? {
            if item.value.pointer(r.field).and_then(id_text).as_deref() == Some(id) {
                return Err(AdminError::BadRequest(format!(
                    "{}, {} [{}] is still using it now",
                    refusal(kind),
                    r.from.singular(),
                    referrer_name(&item.value, &item.key)
                )));
            }
        }
    }
    if kind == ResourceKind::Upstream {
        check_plugin_upstream_refs(store, id).await?;
    }
    Ok(())
}

/// Kinds whose `plugins` may hold `traffic-split` rules naming an upstream.
const PLUGIN_HOLDERS: [ResourceKind; 6] = [
    ResourceKind::Route,
    ResourceKind::Service,
    ResourceKind::PluginConfig,
    ResourceKind::Consumer,
    ResourceKind::ConsumerGroup,
    ResourceKind::GlobalRule,
];

/// `traffic-split` names upstreams in `rules[].weighted_upstreams[].upstream_id`.
async fn check_plugin_upstream_refs(store: &EtcdStore, id: &str) -> Result<(), AdminError> {
    for holder in PLUGIN_HOLDERS {
        let dir = format!("{}/{}", store.prefix(), holder.dir());
        for item in store.list(&dir).await? {
            let Some(rules) = item
                .value
                .pointer("/plugins/traffic-split/rules")
                .and_then(Value::as_array)
            else {
                continue;
            };
            let used = rules
                .iter()
                .filter_map(|r| r.get("weighted_upstreams").and_then(Value::as_array))
                .flatten()
                .any(|w| w.get("upstream_id").and_then(id_text).as_deref() == Some(id));
            if used {
                return Err(AdminError::BadRequest(format!(
                    "can not delete this upstream, plugin in {} [{}] is still using it now",
                    holder.singular(),
                    referrer_name(&item.value, &item.key)
                )));
            }
        }
    }
    Ok(())
}
