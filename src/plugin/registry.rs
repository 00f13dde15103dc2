//! The built-in plugin factories by name, with their compiled schemas. The
//! Admin API and the data plane both validate plugin configurations here,
//! and snapshot builds instantiate plugins through it.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use serde_json::Value;

use super::{secret_fields, PluginFactory};
use crate::schema::validator::Schema;

/// A factory with its schemas compiled once.
pub struct Registered {
    /// The factory.
    pub factory: Box<dyn PluginFactory>,
    /// Its configuration schema.
    pub schema: Schema,
    /// Its consumer schema (auth plugins).
    pub consumer_schema: Option<Schema>,
    /// Its metadata schema.
    pub metadata_schema: Option<Schema>,
    /// The secret fields of its configuration (`encrypt_fields` of its schema).
    pub encrypt_fields: Vec<String>,
    /// The secret fields of its consumer configuration.
    pub consumer_encrypt_fields: Vec<String>,
}

impl Registered {
    /// The secret fields where the plugin is configured (`on_consumer`: an
    /// auth plugin's consumer schema declares its own).
    pub fn secret_fields(&self, on_consumer: bool) -> &[String] {
        if on_consumer && self.consumer_schema.is_some() {
            &self.consumer_encrypt_fields
        } else {
            &self.encrypt_fields
        }
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registered({})", self.factory.name())
    }
}

fn compile(name: &str, what: &str, doc: &Value) -> Option<Schema> {
    match Schema::compile(doc) {
        Ok(s) => Some(s),
        Err(e) => {
            // Tested for every built-in plugin; a failure leaves the plugin out (fail closed).
            tracing::error!(plugin = name, "{what} schema does not compile: {e}");
            None
        }
    }
}

/// Compile a factory's schemas into a registry entry; `None` (logged) when
/// one does not compile: the plugin is left out (fail closed).
pub fn register(factory: Box<dyn PluginFactory>) -> Option<Registered> {
    let name = factory.name().to_string();
    let schema_doc = factory.schema();
    let schema = compile(&name, "configuration", &schema_doc)?;
    let consumer_doc = factory.consumer_schema();
    let consumer_schema = match &consumer_doc {
        Some(d) => Some(compile(&name, "consumer", d)?),
        None => None,
    };
    let metadata_schema = match factory.metadata_schema() {
        Some(d) => Some(compile(&name, "metadata", &d)?),
        None => None,
    };
    Some(Registered {
        factory,
        schema,
        consumer_schema,
        metadata_schema,
        encrypt_fields: secret_fields::declared(&schema_doc),
        consumer_encrypt_fields: consumer_doc
            .as_ref()
            .map(secret_fields::declared)
            .unwrap_or_default(),
    })
}

/// Every plugin: the built-in ones, then the Lua ones (replaced as a whole
/// when the Lua plugin files are loaded again).
fn registry() -> &'static ArcSwap<Vec<Arc<Registered>>> {
    static REGISTRY: OnceLock<ArcSwap<Vec<Arc<Registered>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let builtin = super::builtin::factories()
            .into_iter()
            .filter_map(register)
            .map(Arc::new)
            .collect();
        ArcSwap::from_pointee(builtin)
    })
}

/// Replace the Lua plugins with `lua` (a name a built-in plugin has is
/// refused with a log line: the built-in one stays). Sources recompile
/// what they hold, as after a change of the enabled list.
pub fn set_lua_plugins(lua: Vec<Registered>) {
    let current = registry().load_full();
    let mut all: Vec<Arc<Registered>> = current
        .iter()
        .filter(|r| !r.factory.is_lua())
        .cloned()
        .collect();
    for reg in lua {
        if all.iter().any(|r| r.factory.name() == reg.factory.name()) {
            tracing::error!(
                plugin = reg.factory.name(),
                "a Lua plugin cannot replace the built-in plugin of the same name; ignored"
            );
            continue;
        }
        all.push(Arc::new(reg));
    }
    registry().store(Arc::new(all));
    reload_signal().send_modify(|n| *n += 1);
}

/// `plugins:` from config.yaml: `None` enables every built-in plugin.
fn enabled() -> &'static arc_swap::ArcSwapOption<Vec<String>> {
    static ENABLED: OnceLock<arc_swap::ArcSwapOption<Vec<String>>> = OnceLock::new();
    ENABLED.get_or_init(arc_swap::ArcSwapOption::empty)
}

/// Bumped at each change of the enabled list, so configuration sources
/// recompile what they hold (a plugin enabled or disabled applies to
/// existing routes, as after APISIX's reload).
fn reload_signal() -> &'static tokio::sync::watch::Sender<u64> {
    static RELOADS: OnceLock<tokio::sync::watch::Sender<u64>> = OnceLock::new();
    RELOADS.get_or_init(|| tokio::sync::watch::channel(0).0)
}

/// Set the enabled plugins (at start, and on `PUT /apisix/admin/plugins/reload`).
pub fn set_enabled(list: Option<Vec<String>>) {
    enabled().store(list.map(std::sync::Arc::new));
    reload_signal().send_modify(|n| *n += 1);
}

/// Changes whenever the enabled list is set again (see [`set_enabled`]).
pub fn reloads() -> tokio::sync::watch::Receiver<u64> {
    reload_signal().subscribe()
}

/// Whether plugin `name` is enabled by `plugins:` (all are without a list).
pub fn is_enabled(name: &str) -> bool {
    enabled()
        .load()
        .as_ref()
        .is_none_or(|list| list.iter().any(|n| n == name))
}

fn attr_store() -> &'static arc_swap::ArcSwap<serde_json::Map<String, serde_json::Value>> {
    static ATTRS: OnceLock<arc_swap::ArcSwap<serde_json::Map<String, serde_json::Value>>> =
        OnceLock::new();
    ATTRS.get_or_init(Default::default)
}

/// Set `plugin_attr` from config.yaml (at start).
pub fn set_attrs(attrs: serde_json::Map<String, serde_json::Value>) {
    attr_store().store(std::sync::Arc::new(attrs));
}

/// `plugin_attr.{name}`, if configured.
pub fn attr(name: &str) -> Option<serde_json::Value> {
    attr_store().load().get(name).cloned()
}

/// The enabled plugins strait implements, sorted by name.
pub fn enabled_names() -> Vec<String> {
    let mut names: Vec<String> = all()
        .iter()
        .map(|r| r.factory.name())
        .filter(|n| is_enabled(n))
        .map(String::from)
        .collect();
    names.sort();
    names
}

/// The plugin called `name`, if strait implements it.
pub fn get(name: &str) -> Option<Arc<Registered>> {
    registry()
        .load()
        .iter()
        .find(|r| r.factory.name() == name)
        .cloned()
}

/// Every implemented plugin.
pub fn all() -> Arc<Vec<Arc<Registered>>> {
    registry().load_full()
}
