//! Consumers as the data plane uses them: each with its own plugins (merged
//! into the request's chain once identified) and its auth configurations,
//! indexed by credential (`key-auth` key, `basic-auth` username, …) so an
//! auth plugin finds the consumer in one lookup. Credentials
//! (`/consumers/{u}/credentials/{id}`) add more entries for their consumer.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::registry;
use super::set::PluginSet;

/// One consumer.
#[derive(Debug)]
pub struct Consumer {
    /// `username`.
    pub username: Arc<str>,
    /// `group_id`, if any.
    pub group_id: Option<Arc<str>>,
    /// Its non-auth plugins.
    pub plugins: Arc<PluginSet>,
}

/// A credential's owner and the credential's configuration (defaults filled).
type Owner = (Arc<Consumer>, Arc<Value>);

/// Consumers by name and by credential.
#[derive(Debug, Default)]
pub struct ConsumerIndex {
    by_name: HashMap<Arc<str>, Arc<Consumer>>,
    /// plugin name → credential → (consumer, the credential's configuration).
    by_credential: HashMap<Arc<str>, HashMap<String, Owner>>,
}

/// Auth configurations of one consumer or credential: (plugin, conf with defaults).
fn auth_confs(plugins: Option<&Map<String, Value>>) -> Vec<(Arc<str>, Value)> {
    let mut out = Vec::new();
    for (name, conf) in plugins.into_iter().flatten() {
        let Some(reg) = registry::get(name) else {
            continue;
        };
        let Some(schema) = &reg.consumer_schema else {
            continue;
        };
        let mut conf = conf.clone();
        if schema.validate_and_default(&mut conf).is_ok() && reg.factory.check(&conf, true).is_ok()
        {
            out.push((Arc::from(reg.factory.name()), conf));
        }
    }
    out
}

impl ConsumerIndex {
    /// Build from consumers and credentials (validated JSON by id; a
    /// credential's id is `username/credentials/id`). Consumers whose plugins
    /// fail to build are left out with a log line.
    pub fn build(
        consumers: Option<&HashMap<Arc<str>, Arc<Value>>>,
        credentials: Option<&HashMap<Arc<str>, Arc<Value>>>,
    ) -> ConsumerIndex {
        let mut idx = ConsumerIndex::default();
        for (id, v) in consumers.into_iter().flatten() {
            let plugins = v.get("plugins").and_then(Value::as_object);
            let set = match plugins {
                Some(p) => match PluginSet::build(p, &format!("consumer {id}"), true) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(consumer = %id, "consumer skipped: {e}");
                        continue;
                    }
                },
                None => PluginSet::default(),
            };
            let consumer = Arc::new(Consumer {
                username: id.clone(),
                group_id: v.get("group_id").and_then(Value::as_str).map(Arc::from),
                plugins: Arc::new(set),
            });
            for (plugin, conf) in auth_confs(plugins) {
                idx.add(plugin, &consumer, conf);
            }
            idx.by_name.insert(id.clone(), consumer);
        }
        for (id, v) in credentials.into_iter().flatten() {
            let Some((user, _)) = id.split_once("/credentials/") else {
                continue;
            };
            let Some(consumer) = idx.by_name.get(user).cloned() else {
                continue;
            };
            for (plugin, conf) in auth_confs(v.get("plugins").and_then(Value::as_object)) {
                idx.add(plugin, &consumer, conf);
            }
        }
        idx
    }

    fn add(&mut self, plugin: Arc<str>, consumer: &Arc<Consumer>, conf: Value) {
        let Some(key) = registry::get(&plugin).and_then(|r| r.factory.consumer_key(&conf)) else {
            return;
        };
        let creds = self.by_credential.entry(plugin.clone()).or_default();
        if let Some((other, _)) = creds.get(&key) {
            // The Admin API refuses duplicates; data written around it keeps the first.
            tracing::warn!(plugin = %plugin, consumer = %consumer.username, other = %other.username, "duplicate credential ignored");
            return;
        }
        creds.insert(key, (consumer.clone(), Arc::new(conf)));
    }

    /// The consumer whose `plugin` credential is `key`, with that credential's configuration.
    pub fn find(&self, plugin: &str, key: &str) -> Option<(&Arc<Consumer>, &Arc<Value>)> {
        self.by_credential
            .get(plugin)?
            .get(key)
            .map(|(c, v)| (c, v))
    }

    /// A consumer by name.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Consumer>> {
        self.by_name.get(name)
    }

    /// Whether there are no consumers.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
