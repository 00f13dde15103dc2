//! Plugin schemas: for every plugin strait implements, its name, priority and
//! JSON schemas (configuration, consumer, metadata). The Admin API validates
//! `plugins` objects with them and serves them; the data plane rejects an
//! item naming a plugin that is not here, so a configured plugin is never
//! silently skipped (a route with an auth plugin strait cannot run must not
//! serve unauthenticated).
//!
//! The plugins themselves live in `crate::plugin`; this is their schema side.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::resources;
use super::validator::Schema;
use crate::config::resource::ResourceKind;

/// The schemas of one plugin: the registry's entry.
pub use crate::plugin::registry::Registered as PluginSchemas;

impl PluginSchemas {
    /// The configuration schema as served by `GET /plugins/{name}`: with the
    /// `_meta` property every plugin accepts, as APISIX injects it.
    pub fn document(&self) -> Option<Value> {
        let mut doc = self.schema.document().clone();
        resources::inject_plugin_meta(&mut doc).ok()?;
        Some(doc)
    }

    /// The entry of `GET /plugins?all=true`: priority and every schema.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        m.insert("priority".into(), Value::from(self.factory.priority()));
        if let Some(d) = self.document() {
            m.insert("schema".into(), d);
        }
        if let Some(d) = self.consumer_document() {
            m.insert("consumer_schema".into(), d);
            m.insert("type".into(), Value::String("auth".into()));
        }
        if let Some(d) = self.metadata_document() {
            m.insert("metadata_schema".into(), d);
        }
        Value::Object(m)
    }

    /// `?schema_type=consumer`.
    pub fn consumer_document(&self) -> Option<Value> {
        self.consumer_schema.as_ref().map(|s| s.document().clone())
    }

    /// `?schema_type=metadata`.
    pub fn metadata_document(&self) -> Option<Value> {
        self.metadata_schema.as_ref().map(|s| s.document().clone())
    }
}

/// The schemas of plugin `name`, if strait implements it.
pub fn plugin(name: &str) -> Option<std::sync::Arc<PluginSchemas>> {
    crate::plugin::registry::get(name)
}

fn meta_schema() -> Option<&'static Schema> {
    static META: OnceLock<Option<Schema>> = OnceLock::new();
    META.get_or_init(|| Schema::compile(&resources::plugin_injected_schema()).ok())
        .as_ref()
}

/// Check every entry of a `plugins` object held by a `holder` resource.
pub fn check_plugins(
    holder: ResourceKind,
    list: &mut Map<String, Value>,
    fill_defaults: bool,
) -> Result<(), String> {
    if holder == ResourceKind::Credential && list.len() > 1 {
        return Err(
            "property \"plugins\" validation failed: expect object to have at most 1 properties"
                .into(),
        );
    }
    for (name, conf) in list.iter_mut() {
        let p = plugin(name).ok_or_else(|| format!("unknown plugin [{name}]"))?;
        let on_consumer = matches!(holder, ResourceKind::Consumer | ResourceKind::Credential);
        let schema = match (&p.consumer_schema, on_consumer) {
            (Some(c), true) => c,
            _ => &p.schema,
        };
        let meta = conf.as_object_mut().and_then(|m| m.remove("_meta"));
        let checked = if fill_defaults {
            schema.validate_and_default(conf)
        } else {
            schema.validate(conf)
        };
        let meta_checked = match (&meta, meta_schema()) {
            (Some(m), Some(s)) => s
                .validate(m)
                .map_err(|e| format!("property \"_meta\" validation failed: {e}")),
            _ => Ok(()),
        };
        if let (Some(m), Some(obj)) = (meta, conf.as_object_mut()) {
            obj.insert("_meta".into(), m);
        }
        let checked = checked.and_then(|()| {
            let mut filled = conf.clone();
            schema.validate_and_default(&mut filled)?;
            p.factory.check(&filled, on_consumer)
        });
        checked
            .and(meta_checked)
            .map_err(|e| format!("failed to check the configuration of plugin {name} err: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_plugins_are_rejected() {
        let mut list = json!({"no-such-plugin": {}}).as_object().cloned().unwrap();
        let e = check_plugins(ResourceKind::Route, &mut list, false).unwrap_err();
        assert_eq!(e, "unknown plugin [no-such-plugin]");
        assert!(meta_schema().is_some(), "the _meta schema compiles");
    }
}
