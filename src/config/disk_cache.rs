//! The last good configuration persisted to a local file, so a node can start
//! and serve while etcd is down (APISIX cannot). Written atomically (temp
//! file + rename) so a crash never leaves a torn file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::store::RawItem;

/// Why the snapshot file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DiskCacheError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a snapshot strait wrote.
    #[error("{path}: not a strait snapshot: {reason}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct FileContent<I> {
    format: u32,
    prefix: String,
    revision: i64,
    items: I,
}

/// Location of the persisted snapshot.
#[derive(Debug, Clone)]
pub struct DiskCache {
    path: PathBuf,
}

impl DiskCache {
    /// A cache at `path` (its directory is created on first save).
    pub fn new(path: impl Into<PathBuf>) -> DiskCache {
        DiskCache { path: path.into() }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the items and revision atomically.
    pub fn save(
        &self,
        prefix: &str,
        revision: i64,
        items: &[RawItem],
    ) -> Result<(), DiskCacheError> {
        let io = |source| DiskCacheError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let content = FileContent {
            format: FORMAT_VERSION,
            prefix: prefix.to_string(),
            revision,
            items,
        };
        // Owner-only: the file holds credentials and private keys of later milestones.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = std::io::BufWriter::new(options.open(&tmp).map_err(io)?);
        serde_json::to_writer(&mut f, &content).map_err(|e| io(e.into()))?;
        f.flush().map_err(io)?;
        f.get_ref().sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Read the persisted items for `prefix`; `Ok(None)` when there is no file.
    pub fn load(&self, prefix: &str) -> Result<Option<(Vec<RawItem>, i64)>, DiskCacheError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(DiskCacheError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let bad = |reason: String| DiskCacheError::Format {
            path: self.path.clone(),
            reason,
        };
        let content: FileContent<Vec<RawItem>> =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if content.format != FORMAT_VERSION {
            return Err(bad(format!("unsupported format {}", content.format)));
        }
        if content.prefix != prefix {
            return Err(bad(format!(
                "written for prefix `{}`, configured prefix is `{prefix}`",
                content.prefix
            )));
        }
        Ok(Some((content.items, content.revision)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn round_trip_and_prefix_check() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("sub/snap.json"));
        assert!(cache.load("/apisix").unwrap().is_none());
        let items = vec![RawItem {
            key: "/apisix/routes/1".into(),
            value: Arc::from("{}"),
            create_revision: 3,
            mod_revision: 4,
        }];
        cache.save("/apisix", 9, &items).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the snapshot may hold secrets");
        }
        let (got, rev) = cache.load("/apisix").unwrap().unwrap();
        assert_eq!(rev, 9);
        assert_eq!(got, items);
        assert!(cache.load("/other").is_err());
    }
}
