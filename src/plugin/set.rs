//! The plugins configured on one resource (route, service, consumer, …),
//! instantiated when the snapshot is built and sorted by priority. `_meta`
//! applies here: `disable` leaves a plugin out, `priority` overrides its
//! order, `filter` (a `vars` expression) decides per request whether it runs,
//! `error_response` replaces the body of the errors it answers with.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{registry, BuildEnv, Plugin, PluginResponse};
use crate::expr::Expr;

/// One configured plugin.
pub struct ConfiguredPlugin {
    /// APISIX's name.
    pub name: Arc<str>,
    /// Effective priority (`_meta.priority` or the plugin's default).
    pub priority: i64,
    /// The instance.
    pub instance: Arc<dyn Plugin>,
    /// `_meta.filter`: run only for requests it matches.
    pub filter: Option<Expr>,
    /// `_meta.error_response`: the body of the plugin's error answers.
    pub error_response: Option<Bytes>,
}

impl std::fmt::Debug for ConfiguredPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.priority)
    }
}

impl ConfiguredPlugin {
    /// Apply `_meta.error_response` to an answer of this plugin.
    pub fn shape(&self, mut resp: PluginResponse) -> PluginResponse {
        if let (Some(body), true) = (&self.error_response, resp.status.as_u16() >= 400) {
            resp.body = body.clone();
        }
        resp
    }
}

/// The plugins of one resource, highest priority first.
#[derive(Debug, Default)]
pub struct PluginSet {
    /// The plugins, sorted (shared: a request whose chain is this one set
    /// takes it without copying).
    pub plugins: Arc<[Arc<ConfiguredPlugin>]>,
}

impl PluginSet {
    /// Instantiate a `plugins` object. Each configuration is validated
    /// again (filling defaults) against the plugin's schema — the consumer
    /// schema on consumers — so this never trusts its input.
    pub fn build(
        map: &Map<String, Value>,
        holder: &str,
        on_consumer: bool,
    ) -> Result<PluginSet, String> {
        let mut plugins = Vec::with_capacity(map.len());
        for (name, raw) in map {
            let reg = registry::get(name).ok_or_else(|| format!("unknown plugin [{name}]"))?;
            if !registry::is_enabled(name) {
                // As APISIX's data plane: a plugin left out of `plugins:` does
                // not run, and the rest of the item is served. (The Admin API
                // refuses to write it; a plugin strait does not implement at
                // all still refuses the item: an unknown auth plugin skipped
                // would open the route.)
                tracing::warn!(holder, plugin = %name, "plugin not enabled in config.yaml: skipped");
                continue;
            }
            let mut conf = raw.clone();
            let meta = conf.as_object_mut().and_then(|m| m.remove("_meta"));
            let meta = meta.as_ref().and_then(Value::as_object);
            if meta
                .and_then(|m| m.get("disable"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                continue;
            }
            let schema = match (&reg.consumer_schema, on_consumer) {
                (Some(c), true) => c,
                _ => &reg.schema,
            };
            schema.validate_and_default(&mut conf).map_err(|e| {
                format!("failed to check the configuration of plugin {name} err: {e}")
            })?;
            let env = BuildEnv {
                attr: registry::attr(name),
                holder: holder.to_string(),
            };
            let instance = if on_consumer && reg.consumer_schema.is_some() {
                // Auth configuration on a consumer is data for the route-side
                // plugin (found through the consumer index), not a plugin to run.
                continue;
            } else {
                reg.factory
                    .check(&conf, false)
                    .and_then(|()| reg.factory.build(&conf, &env))
                    .map_err(|e| format!("plugin {name}: {e}"))?
            };
            let filter = match meta.and_then(|m| m.get("filter")) {
                Some(f) => Some(
                    Expr::compile(f)
                        .map_err(|e| format!("plugin {name}: invalid _meta.filter: {e}"))?,
                ),
                None => None,
            };
            let error_response = meta.and_then(|m| m.get("error_response")).map(|e| match e {
                Value::String(s) => Bytes::from(s.clone()),
                other => Bytes::from(other.to_string()),
            });
            let priority = meta
                .and_then(|m| m.get("priority"))
                .and_then(Value::as_i64)
                .unwrap_or_else(|| reg.factory.priority());
            plugins.push(Arc::new(ConfiguredPlugin {
                name: Arc::from(reg.factory.name()),
                priority,
                instance,
                filter,
                error_response,
            }));
        }
        plugins.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        Ok(PluginSet {
            plugins: plugins.into(),
        })
    }

    /// Whether no plugin runs.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// The plugin called `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&Arc<ConfiguredPlugin>> {
        self.plugins.iter().find(|p| &*p.name == name)
    }
}
