//! The plugin-holding resources other than routes and services, instantiated
//! once per snapshot: global rules (one chain, run for every request),
//! plugin configs and consumer groups (by id), and the consumer index.
//! Rebuilt only when one of those resources changed.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::chain::Chain;
use super::consumers::ConsumerIndex;
use super::set::PluginSet;
use crate::config::resource::ResourceKind;
use crate::config::store::OtherKinds;

/// Plugins of global rules, plugin configs, consumer groups and consumers.
#[derive(Debug, Default)]
pub struct PluginHolders {
    /// Every global rule's plugins, in priority order (not merged by name:
    /// each global rule runs).
    pub global: Chain,
    /// Plugin configs by id.
    pub plugin_configs: HashMap<Arc<str>, Arc<PluginSet>>,
    /// Consumer groups by id.
    pub consumer_groups: HashMap<Arc<str>, Arc<PluginSet>>,
    /// Consumers.
    pub consumers: ConsumerIndex,
}

fn sets(others: &OtherKinds, kind: ResourceKind) -> HashMap<Arc<str>, Arc<PluginSet>> {
    let mut out = HashMap::new();
    for (id, v) in others.get(&kind).into_iter().flatten() {
        let Some(map) = v.get("plugins").and_then(Value::as_object) else {
            out.insert(id.clone(), Arc::new(PluginSet::default()));
            continue;
        };
        match PluginSet::build(map, &format!("{} {id}", kind.singular()), false) {
            Ok(s) => {
                out.insert(id.clone(), Arc::new(s));
            }
            Err(e) => {
                tracing::error!(kind = kind.singular(), %id, "plugins not built, item skipped: {e}")
            }
        }
    }
    out
}

impl PluginHolders {
    /// Build from the other kinds of a store.
    pub fn build(others: &OtherKinds) -> PluginHolders {
        let rules = sets(others, ResourceKind::GlobalRule);
        let mut ids: Vec<&Arc<str>> = rules.keys().collect();
        ids.sort();
        let mut global = Vec::new();
        for id in ids {
            if let Some(set) = rules.get(id) {
                global.extend(set.plugins.iter().cloned());
            }
        }
        global.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        PluginHolders {
            global: Chain {
                plugins: global.into(),
            },
            plugin_configs: sets(others, ResourceKind::PluginConfig),
            consumer_groups: sets(others, ResourceKind::ConsumerGroup),
            consumers: ConsumerIndex::build(
                others.get(&ResourceKind::Consumer),
                others.get(&ResourceKind::Credential),
            ),
        }
    }
}
