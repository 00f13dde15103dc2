//! Standalone mode: configuration from `conf/apisix.yaml` (APISIX's format,
//! one list per resource kind, the file ending with a `#END` line), reloaded
//! when the file changes. No etcd involved.
//!
//! Items get synthetic etcd-like keys (`/apisix/routes/{id}`), so the same
//! store and snapshot code serves both modes. An item's `mod_revision` is a
//! hash of its content, so an unchanged item is never recompiled.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::resource::ResourceKind;
use super::snapshot::{SharedSnapshot, Snapshot};
use super::store::{ConfigStore, RawItem};

/// Why the standalone file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum YamlSourceError {
    /// File system error.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file has not been completely written yet.
    #[error("{0} does not end with a `#END` line (partially written?)")]
    NoEndMarker(PathBuf),
    /// Malformed YAML or wrong shape.
    #[error("{0}: {1}")]
    Invalid(PathBuf, String),
}

/// Parse a standalone file into raw items keyed under `prefix`.
pub fn parse_standalone(
    text: &str,
    prefix: &str,
    path: &Path,
) -> Result<Vec<RawItem>, YamlSourceError> {
    if !text.lines().rev().any(|l| l.trim() == "#END") {
        return Err(YamlSourceError::NoEndMarker(path.to_path_buf()));
    }
    let invalid = |m: String| YamlSourceError::Invalid(path.to_path_buf(), m);
    let doc: serde_json::Value = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let serde_json::Value::Object(sections) = doc else {
        if doc.is_null() {
            return Ok(Vec::new());
        }
        return Err(invalid(
            "the top level must be a mapping of resource lists".into(),
        ));
    };
    let mut items = Vec::new();
    for (section, list) in sections {
        let Some(kind) = ResourceKind::ALL
            .into_iter()
            .find(|k| k.dir() == section && *k != ResourceKind::Credential)
        else {
            return Err(invalid(format!("unknown section `{section}`")));
        };
        let serde_json::Value::Array(list) = list else {
            if list.is_null() {
                continue;
            }
            return Err(invalid(format!("`{section}` must be a list")));
        };
        for (i, mut value) in list.into_iter().enumerate() {
            let id = item_id(kind, &value).unwrap_or_else(|| (i + 1).to_string());
            if let (
                serde_json::Value::Object(map),
                ResourceKind::Route | ResourceKind::Service | ResourceKind::Upstream,
            ) = (&mut value, kind)
            {
                map.entry("id")
                    .or_insert_with(|| serde_json::Value::String(id.clone()));
            }
            let json = value.to_string();
            let mut h = DefaultHasher::new();
            json.hash(&mut h);
            // Keep it positive and non-zero, like an etcd revision.
            let rev = (h.finish() >> 2) as i64 + 1;
            items.push(RawItem {
                key: format!("{prefix}/{section}/{id}"),
                value: Arc::from(json),
                create_revision: i as i64 + 1,
                mod_revision: rev,
            });
        }
    }
    Ok(items)
}

fn item_id(kind: ResourceKind, value: &serde_json::Value) -> Option<String> {
    let field = match kind {
        ResourceKind::Consumer => "username",
        _ => "id",
    };
    match value.get(field)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Watches the standalone file and publishes a snapshot whenever it changes.
pub struct YamlSync {
    path: PathBuf,
    prefix: String,
    shared: Arc<SharedSnapshot>,
    store: ConfigStore,
    current: Option<Arc<Snapshot>>,
    seen: Option<(SystemTime, u64)>,
    generation: i64,
}

impl YamlSync {
    /// A watcher for `path`.
    pub fn new(path: PathBuf, prefix: String, shared: Arc<SharedSnapshot>) -> YamlSync {
        YamlSync {
            store: ConfigStore::new(prefix.clone()),
            path,
            prefix,
            shared,
            current: None,
            seen: None,
            generation: 0,
        }
    }

    /// Load the file once; used at start so a broken file is reported before serving.
    pub fn load_once(&mut self) -> Result<(), YamlSourceError> {
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| YamlSourceError::Read(self.path.clone(), e))?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| YamlSourceError::Read(self.path.clone(), e))?;
        let items = parse_standalone(&text, &self.prefix, &self.path)?;
        self.generation += 1;
        let n = items.len();
        let changes = self.store.replace_all(items, self.generation);
        let first = self.current.is_none();
        let snap = Arc::new(self.store.snapshot(
            self.current.as_deref(),
            super::store::Changes {
                any: changes.any || first,
                routing: changes.routing || first,
            },
        ));
        self.shared.publish(snap.clone());
        self.current = Some(snap);
        self.seen = Some(stamp);
        tracing::info!(file = %self.path.display(), items = n, "loaded standalone configuration");
        Ok(())
    }

    /// Poll the file for changes until shutdown.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let stamp = std::fs::metadata(&self.path)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            if stamp.is_none() || stamp == self.seen {
                continue;
            }
            if let Err(e) = self.load_once() {
                // Keep serving the previous configuration; retry on the next change.
                self.seen = stamp;
                tracing::error!("standalone configuration not applied: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apisix_yaml() {
        let text = "routes:\n  - uri: /hello\n    upstream:\n      nodes:\n        \"127.0.0.1:1980\": 1\n  - id: r2\n    uri: /b\n    upstream_id: 1\nupstreams:\n  - id: 1\n    nodes:\n      \"127.0.0.1:1\": 1\n#END\n";
        let items = parse_standalone(text, "/apisix", Path::new("apisix.yaml")).unwrap();
        let keys: Vec<_> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "/apisix/routes/1",
                "/apisix/routes/r2",
                "/apisix/upstreams/1"
            ]
        );
    }

    #[test]
    fn requires_end_marker_and_known_sections() {
        assert!(matches!(
            parse_standalone("routes: []\n", "/apisix", Path::new("a")),
            Err(YamlSourceError::NoEndMarker(_))
        ));
        assert!(parse_standalone("rutes: []\n#END\n", "/apisix", Path::new("a")).is_err());
    }
}
