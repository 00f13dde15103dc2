//! The config store: the in-service version of every item, keyed by etcd key,
//! with its compiled form. Sources feed it change events or full listings; it
//! recompiles only what changed (by `mod_revision`) and builds snapshots.
//!
//! Invariant: an item that fails validation never replaces a valid one. The
//! store keeps serving the last valid version and logs the key and the reason.

use std::collections::HashMap;
use std::sync::Arc;

use super::compiled::{ItemMeta, Route, Service};
use super::resource::{parse_key, ResourceKind};
use super::snapshot::{RoutingChanges, Snapshot};
use crate::upstream::Upstream;

/// One change read from a config source.
#[derive(Debug, Clone)]
pub enum ConfigEvent {
    /// A key was created or updated.
    Put(RawItem),
    /// A key was deleted.
    Delete {
        /// The full etcd key.
        key: String,
    },
}

/// One stored key/value with its etcd revisions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawItem {
    /// The full etcd key.
    pub key: String,
    /// The JSON value as stored.
    pub value: Arc<str>,
    /// etcd create revision.
    pub create_revision: i64,
    /// etcd mod revision.
    pub mod_revision: i64,
}

/// A compiled item of any kind.
#[derive(Debug, Clone)]
pub enum Compiled {
    /// A route.
    Route(Arc<Route>),
    /// A service.
    Service(Arc<Service>),
    /// An upstream.
    Upstream(Arc<Upstream>),
    /// An SSL object: compiled for the TLS listener, and kept as JSON too
    /// (the dashboard and the plugin layer read the other kinds as JSON).
    Ssl(Arc<crate::tls::SslObject>, Arc<serde_json::Value>),
    /// Kinds compiled by later layers (consumers, global rules, ...): kept as validated JSON.
    Json(Arc<serde_json::Value>),
}

/// An item in service: its kind, id and raw value (what is persisted). The
/// compiled form lives in the typed maps below.
#[derive(Debug, Clone)]
struct Entry {
    kind: ResourceKind,
    id: Arc<str>,
    raw: RawItem,
}

/// Kinds compiled by later layers, as validated JSON by kind and id.
pub type OtherKinds = HashMap<ResourceKind, HashMap<Arc<str>, Arc<serde_json::Value>>>;

/// Compiled items by kind and id. Each map sits behind an `Arc` shared with
/// the published snapshot: a batch copies only the maps it changes (once),
/// and a snapshot of unchanged kinds costs a reference count.
#[derive(Debug, Default, Clone)]
pub struct TypedMaps {
    /// Routes by id.
    pub routes: Arc<HashMap<Arc<str>, Arc<Route>>>,
    /// Services by id.
    pub services: Arc<HashMap<Arc<str>, Arc<Service>>>,
    /// Upstreams by id.
    pub upstreams: Arc<HashMap<Arc<str>, Arc<Upstream>>>,
    /// Other kinds as validated JSON, by kind and id.
    pub others: Arc<OtherKinds>,
    /// SSL objects, compiled.
    pub ssls: Arc<crate::tls::store::SslObjects>,
}

impl TypedMaps {
    fn insert(&mut self, kind: ResourceKind, id: Arc<str>, c: Compiled) {
        match c {
            Compiled::Route(r) => {
                Arc::make_mut(&mut self.routes).insert(id, r);
            }
            Compiled::Service(sv) => {
                Arc::make_mut(&mut self.services).insert(id, sv);
            }
            Compiled::Upstream(u) => {
                Arc::make_mut(&mut self.upstreams).insert(id, u);
            }
            Compiled::Ssl(o, v) => {
                Arc::make_mut(&mut self.ssls).insert(id.clone(), o);
                Arc::make_mut(&mut self.others)
                    .entry(kind)
                    .or_default()
                    .insert(id, v);
            }
            Compiled::Json(v) => {
                Arc::make_mut(&mut self.others)
                    .entry(kind)
                    .or_default()
                    .insert(id, v);
            }
        }
    }

    fn remove(&mut self, kind: ResourceKind, id: &str) {
        match kind {
            ResourceKind::Route => {
                Arc::make_mut(&mut self.routes).remove(id);
            }
            ResourceKind::Service => {
                Arc::make_mut(&mut self.services).remove(id);
            }
            ResourceKind::Upstream => {
                Arc::make_mut(&mut self.upstreams).remove(id);
            }
            _ => {
                if kind == ResourceKind::Ssl {
                    Arc::make_mut(&mut self.ssls).remove(id);
                }
                if let Some(m) = Arc::make_mut(&mut self.others).get_mut(&kind) {
                    m.remove(id);
                }
            }
        }
    }
}

/// What one batch of changes touched, so the snapshot rebuilds only what it must.
#[derive(Debug, Default, Clone, Copy)]
pub struct Changes {
    /// Routes or services changed: the router must be rebuilt.
    pub routing: bool,
    /// Anything changed.
    pub any: bool,
}

/// The set of items in service.
#[derive(Debug)]
pub struct ConfigStore {
    prefix: String,
    revision: i64,
    entries: HashMap<String, Entry>,
    maps: TypedMaps,
    /// Routes and services changed since the last snapshot.
    routing: RoutingChanges,
}

impl ConfigStore {
    /// An empty store for keys under `prefix` (`/apisix`).
    pub fn new(prefix: impl Into<String>) -> ConfigStore {
        ConfigStore {
            prefix: prefix.into(),
            revision: 0,
            entries: HashMap::new(),
            maps: TypedMaps::default(),
            routing: RoutingChanges::default(),
        }
    }

    /// The etcd revision this store reflects.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Record that everything up to `revision` has been applied.
    pub fn set_revision(&mut self, revision: i64) {
        self.revision = revision;
    }

    /// Number of items in service.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds no items.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Apply one event; returns what changed.
    pub fn apply(&mut self, event: ConfigEvent) -> Changes {
        match event {
            ConfigEvent::Put(item) => self.put(item),
            ConfigEvent::Delete { key } => self.delete(&key),
        }
    }

    fn delete(&mut self, key: &str) -> Changes {
        match self.entries.remove(key) {
            Some(e) => {
                self.maps.remove(e.kind, &e.id);
                self.note_routing(e.kind, &e.id);
                tracing::info!(key, "{} deleted", e.kind.singular());
                Changes {
                    routing: matches!(e.kind, ResourceKind::Route | ResourceKind::Service),
                    any: true,
                }
            }
            None => Changes::default(),
        }
    }

    fn put(&mut self, item: RawItem) -> Changes {
        let Some((kind, id)) = parse_key(&self.prefix, &item.key) else {
            return Changes::default();
        };
        if let Some(old) = self.entries.get(&item.key) {
            if old.raw.mod_revision == item.mod_revision && old.raw.value == item.value {
                return Changes::default();
            }
        }
        let id: Arc<str> = Arc::from(id);
        match self.install(kind, &id, &item) {
            Ok(()) => {
                self.entries.insert(
                    item.key.clone(),
                    Entry {
                        kind,
                        id,
                        raw: item,
                    },
                );
                Changes {
                    routing: matches!(kind, ResourceKind::Route | ResourceKind::Service),
                    any: true,
                }
            }
            Err(reason) => {
                let kept = self.entries.contains_key(&item.key);
                tracing::error!(
                    key = %item.key,
                    mod_revision = item.mod_revision,
                    kept_previous_version = kept,
                    "invalid {} skipped: {reason}",
                    kind.singular()
                );
                Changes::default()
            }
        }
    }

    /// Replace the whole content with a full listing taken at `revision`.
    ///
    /// Items whose `mod_revision` is unchanged keep their compiled form; keys
    /// absent from the listing are removed; invalid new versions keep the old one.
    pub fn replace_all(&mut self, items: Vec<RawItem>, revision: i64) -> Changes {
        let mut changes = Changes::default();
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for item in items {
            seen.insert(item.key.clone());
            let c = self.put(item);
            changes.routing |= c.routing;
            changes.any |= c.any;
        }
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            let c = self.delete(&key);
            changes.routing |= c.routing;
            changes.any |= c.any;
        }
        self.revision = revision;
        changes
    }

    /// Compile `item` and put it in service (the typed maps); its entry is
    /// the caller's business.
    fn install(&mut self, kind: ResourceKind, id: &Arc<str>, item: &RawItem) -> Result<(), String> {
        let meta = ItemMeta {
            id: id.clone(),
            create_revision: item.create_revision,
            mod_revision: item.mod_revision,
        };
        let compiled = compile(kind, meta, item.value.as_bytes())?;
        self.maps.insert(kind, id.clone(), compiled);
        self.note_routing(kind, id);
        Ok(())
    }

    /// Compile every item in service again (the enabled plugins changed).
    /// An item that no longer compiles keeps its previous compiled form, as
    /// for a bad new version from etcd.
    pub fn recompile_all(&mut self) -> Changes {
        let mut items: Vec<(ResourceKind, Arc<str>, RawItem)> = self
            .entries
            .values()
            .map(|e| (e.kind, e.id.clone(), e.raw.clone()))
            .collect();
        items.sort_by(|a, b| a.2.key.cmp(&b.2.key));
        for (kind, id, raw) in items {
            if let Err(reason) = self.install(kind, &id, &raw) {
                tracing::error!(
                    key = %raw.key,
                    "{} no longer compiles, previous version kept: {reason}",
                    kind.singular()
                );
            }
        }
        Changes {
            routing: true,
            any: !self.entries.is_empty(),
        }
    }

    /// The raw items in service, for persisting.
    pub fn raw_items(&self) -> Vec<RawItem> {
        let mut v: Vec<RawItem> = self.entries.values().map(|e| e.raw.clone()).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    fn note_routing(&mut self, kind: ResourceKind, id: &Arc<str>) {
        match kind {
            ResourceKind::Route => {
                self.routing.routes.insert(id.clone());
            }
            ResourceKind::Service => {
                self.routing.services.insert(id.clone());
            }
            _ => {}
        }
    }

    /// Build a snapshot from the items in service. `previous` must be the
    /// snapshot this store built last (or None): its router is shared or
    /// updated incrementally for the routes and services changed since.
    pub fn snapshot(&mut self, previous: Option<&Snapshot>, changes: Changes) -> Snapshot {
        let mut routing = std::mem::take(&mut self.routing);
        if changes.routing && routing.is_empty() {
            // The caller asks for a rebuild without a recorded change (first load).
            routing.full = true;
        }
        Snapshot::build(self.revision, self.maps.clone(), previous, &routing)
    }
}

/// Compile one item that already passed its schema check (the Admin API's
/// last gate: what compiles here, every node's data plane accepts).
pub fn check_compiles(
    kind: ResourceKind,
    id: &str,
    value: &serde_json::Value,
) -> Result<(), String> {
    let meta = ItemMeta {
        id: Arc::from(id),
        create_revision: 0,
        mod_revision: 0,
    };
    let mut copy = value.clone();
    compile_value(kind, meta, &mut copy, false).map(|_| ())
}

/// Parse one stored value, decrypt its secrets, check it against its
/// schema, then compile it.
fn compile(kind: ResourceKind, meta: ItemMeta, value: &[u8]) -> Result<Compiled, String> {
    let mut json: serde_json::Value =
        serde_json::from_slice(value).map_err(|e| format!("invalid JSON: {e}"))?;
    // Checked and used in plain text; etcd (and the disk snapshot) keep the ciphertext.
    crate::plugin::secret_fields::decrypt_stored(
        &mut json,
        matches!(kind, ResourceKind::Consumer | ResourceKind::Credential),
    )?;
    if kind == ResourceKind::Ssl {
        crate::tls::ssl_object::decrypt_keys(&mut json)?;
    }
    let compiled = compile_value(kind, meta, &mut json, true)?;
    if let Compiled::Ssl(ssl, _) = &compiled {
        // Reported once, as the item goes into service (not by the Admin
        // API's check of the same item).
        ssl.warn_if_expired();
    }
    Ok(compiled)
}

/// Check a parsed value against its schema, then compile it (the typed
/// structs are read from the parsed value, not from the text again).
fn compile_value(
    kind: ResourceKind,
    meta: ItemMeta,
    json: &mut serde_json::Value,
    check_schema: bool,
) -> Result<Compiled, String> {
    if check_schema {
        if kind == ResourceKind::PluginMetadata {
            crate::schema::check_plugin_metadata(&meta.id, json)?;
        } else {
            crate::schema::check_resource(kind, json, false)?;
        }
    }
    Ok(match kind {
        ResourceKind::Route => Compiled::Route(Arc::new(Route::compile(meta, json)?)),
        ResourceKind::Service => Compiled::Service(Arc::new(Service::compile(meta, json)?)),
        ResourceKind::Upstream => {
            let conf = super::resource::from_value(json)?;
            let mut up = Upstream::compile(&conf, &format!("upstream {}", meta.id))?;
            up.id = meta.id.clone();
            Compiled::Upstream(Arc::new(up))
        }
        ResourceKind::Ssl => {
            let ssl = crate::tls::SslObject::compile(meta.id.clone(), json)?;
            // The private keys live in the compiled object only.
            if let Some(m) = json.as_object_mut() {
                m.remove("key");
                m.remove("keys");
            }
            Compiled::Ssl(Arc::new(ssl), Arc::new(std::mem::take(json)))
        }
        _ => Compiled::Json(Arc::new(std::mem::take(json))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, rev: i64) -> ConfigEvent {
        ConfigEvent::Put(RawItem {
            key: key.into(),
            value: value.into(),
            create_revision: rev,
            mod_revision: rev,
        })
    }

    #[test]
    fn invalid_update_keeps_last_valid_version() {
        let mut s = ConfigStore::new("/apisix");
        let ok = r#"{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}"#;
        assert!(s.apply(put("/apisix/routes/1", ok, 2)).routing);
        assert!(!s.apply(put("/apisix/routes/1", r#"{"uri":5}"#, 3)).any);
        assert!(!s.apply(put("/apisix/routes/2", "not json", 4)).any);
        let items = s.raw_items();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].mod_revision, 2);
        let snap = s.snapshot(
            None,
            Changes {
                routing: true,
                any: true,
            },
        );
        assert_eq!(snap.routes.len(), 1);
    }

    #[test]
    fn replace_all_removes_missing_and_reuses_unchanged() {
        let mut s = ConfigStore::new("/apisix");
        let ok = r#"{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}"#;
        s.apply(put("/apisix/routes/1", ok, 2));
        s.apply(put("/apisix/routes/2", ok, 3));
        let keep = RawItem {
            key: "/apisix/routes/1".into(),
            value: ok.into(),
            create_revision: 2,
            mod_revision: 2,
        };
        let c = s.replace_all(vec![keep], 10);
        assert!(c.routing);
        assert_eq!(s.len(), 1);
        assert_eq!(s.revision(), 10);
        let c = s.replace_all(s.raw_items(), 11);
        assert!(!c.any);
    }

    #[test]
    fn incremental_snapshots_follow_routes_and_services() {
        let mut s = ConfigStore::new("/apisix");
        let up = r#""upstream":{"nodes":{"127.0.0.1:1":1}}"#;
        s.apply(put("/apisix/services/s", r#"{"hosts":["a.com"]}"#, 2));
        s.apply(put(
            "/apisix/routes/1",
            &format!(r#"{{"uri":"/x",{up},"service_id":"s"}}"#),
            3,
        ));
        s.apply(put(
            "/apisix/routes/2",
            &format!(r#"{{"uri":"/y",{up}}}"#),
            4,
        ));
        let full = Changes {
            routing: true,
            any: true,
        };
        let mut snap = s.snapshot(None, full);
        let hit = |snap: &Snapshot, host: Option<&str>, path: &str| {
            snap.router
                .find(host, path, |_, _| true)
                .map(|m| m.route.meta.id.to_string())
        };
        assert_eq!(hit(&snap, Some("a.com"), "/x").as_deref(), Some("1"));
        assert_eq!(hit(&snap, Some("b.com"), "/x"), None);

        // The service's hosts change: its host-inheriting route moves with it.
        let c = s.apply(put("/apisix/services/s", r#"{"hosts":["b.com"]}"#, 5));
        snap = s.snapshot(Some(&snap), c);
        assert_eq!(hit(&snap, Some("b.com"), "/x").as_deref(), Some("1"));
        assert_eq!(hit(&snap, Some("a.com"), "/x"), None);

        // Disabling and deleting routes take them out; others stay.
        let c = s.apply(put(
            "/apisix/routes/2",
            &format!(r#"{{"uri":"/y",{up},"status":0}}"#),
            6,
        ));
        snap = s.snapshot(Some(&snap), c);
        assert_eq!(hit(&snap, None, "/y"), None);
        let c = s.apply(ConfigEvent::Delete {
            key: "/apisix/routes/1".into(),
        });
        snap = s.snapshot(Some(&snap), c);
        assert_eq!(hit(&snap, Some("b.com"), "/x"), None);
        let c = s.apply(put(
            "/apisix/routes/3",
            &format!(r#"{{"uri":"/z",{up}}}"#),
            7,
        ));
        snap = s.snapshot(Some(&snap), c);
        assert_eq!(hit(&snap, None, "/z").as_deref(), Some("3"));
        assert_eq!(snap.router.len(), 1);
    }

    #[test]
    fn ignores_foreign_keys() {
        let mut s = ConfigStore::new("/apisix");
        assert!(!s.apply(put("/apisix/routes/", "init_dir", 2)).any);
        assert!(!s.apply(put("/apisix/gen_id", "1", 2)).any);
        assert!(s.is_empty());
    }
}
