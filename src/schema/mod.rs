//! JSON schemas of resources and plugins: one source for the Admin API (which
//! validates writes and serves the schemas), the data plane (which validates
//! what it reads from etcd) and the OpenAPI document.
//!
//! Schemas are compiled once, on first use, and shared.

pub mod plugins;
#[cfg(test)]
mod resource_tests;
pub mod resources;
pub mod strict_json;
pub mod validator;

use std::sync::OnceLock;

use serde_json::Value;

pub use self::plugins::{plugin, PluginSchemas};
use self::validator::Schema;
use crate::config::resource::ResourceKind;

/// The kinds that carry a schema of their own, in [`ResourceKind::ALL`] order.
const SCHEMA_KINDS: [ResourceKind; 9] = [
    ResourceKind::Route,
    ResourceKind::Service,
    ResourceKind::Upstream,
    ResourceKind::Consumer,
    ResourceKind::Credential,
    ResourceKind::ConsumerGroup,
    ResourceKind::Ssl,
    ResourceKind::GlobalRule,
    ResourceKind::PluginConfig,
];

/// Resource names accepted by [`by_name`], as APISIX spells them in
/// `GET /apisix/admin/schema/{name}`.
pub const RESOURCE_NAMES: [&str; 9] = [
    "route",
    "service",
    "upstream",
    "consumer",
    "credential",
    "consumer_group",
    "ssl",
    "global_rule",
    "plugin_config",
];

/// The schema document of resource `name` (`route`, `upstream`, ...).
pub fn by_name(name: &str) -> Option<Value> {
    kind_by_name(name).map(document_of)
}

fn document_of(kind: ResourceKind) -> Value {
    match kind {
        ResourceKind::Route => resources::route(),
        ResourceKind::Service => resources::service(),
        ResourceKind::Upstream => resources::upstream(),
        ResourceKind::Consumer => resources::consumer(),
        ResourceKind::Credential => resources::credential(),
        ResourceKind::ConsumerGroup => resources::consumer_group(),
        ResourceKind::Ssl => resources::ssl(),
        ResourceKind::GlobalRule => resources::global_rule(),
        ResourceKind::PluginConfig => resources::plugin_config(),
        // Metadata is checked against its plugin's metadata schema.
        ResourceKind::PluginMetadata => serde_json::json!({"type": "object"}),
    }
}

/// The compiled schema of `kind`.
pub fn resource_schema(kind: ResourceKind) -> &'static Schema {
    static COMPILED: OnceLock<Vec<Schema>> = OnceLock::new();
    let all = COMPILED.get_or_init(|| {
        ResourceKind::ALL
            .iter()
            .map(|k| {
                // Our own schemas are tested to compile (see the tests below);
                // should one not, nothing of that kind is accepted (fail closed).
                Schema::compile(&document_of(*k)).unwrap_or_else(|e| {
                    tracing::error!(kind = k.singular(), "resource schema does not compile: {e}");
                    Schema::reject_everything()
                })
            })
            .collect()
    });
    let i = ResourceKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default();
    &all[i]
}

/// A resource kind by its schema name (`route`) or Admin API directory (`routes`).
pub fn kind_by_name(name: &str) -> Option<ResourceKind> {
    SCHEMA_KINDS
        .into_iter()
        .find(|k| k.singular() == name || (k.dir() == name && *k != ResourceKind::Credential))
        .or(match name {
            "credentials" => Some(ResourceKind::Credential),
            _ => None,
        })
}

/// Check a resource: its schema, then each plugin in `plugins` against the
/// plugin's schema. With `fill_defaults`, absent fields get their defaults
/// (what the Admin API stores, as APISIX does).
pub fn check_resource(
    kind: ResourceKind,
    value: &mut Value,
    fill_defaults: bool,
) -> Result<(), String> {
    let schema = resource_schema(kind);
    if fill_defaults {
        schema.validate_and_default(value)?;
    } else {
        schema.validate(value)?;
    }
    if let Some(Value::Object(list)) = value.get_mut("plugins") {
        plugins::check_plugins(kind, list, fill_defaults)?;
    }
    Ok(())
}

/// Check the metadata of plugin `name` against its metadata schema (any
/// object for a plugin without one, as APISIX injects an empty schema).
pub fn check_plugin_metadata(name: &str, value: &mut Value) -> Result<(), String> {
    let p = plugin(name).ok_or_else(|| format!("unknown plugin [{name}]"))?;
    match &p.metadata_schema {
        Some(s) => s.validate_and_default(value),
        None if value.is_object() => Ok(()),
        None => Err(format!(
            "wrong type: expected object, got {}",
            validator::lua_type_name(value)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_schema_compiles() {
        for kind in SCHEMA_KINDS {
            if let Err(e) = Schema::compile(&document_of(kind)) {
                panic!("{}: {e}", kind.singular());
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(kind_by_name("routes"), Some(ResourceKind::Route));
        assert_eq!(kind_by_name("route"), Some(ResourceKind::Route));
        assert_eq!(kind_by_name("credentials"), Some(ResourceKind::Credential));
        assert_eq!(kind_by_name("plugin_metadata"), None);
        assert_eq!(kind_by_name("nope"), None);
    }
}
