//! The Admin API's view of etcd: read, list, create/replace, compare-and-swap,
//! delete, POST ids and ttl leases, all under the configured prefix. The
//! Admin API writes only here; every gateway node (this one included) sees a
//! change through its own watch.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, SortOrder, SortTarget, Txn,
    TxnOp,
};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::bootstrap::EtcdSection;
use crate::config::etcd_source::connect_options;

/// Items read per range request when listing a directory.
const LIST_PAGE: i64 = 1000;

/// An etcd failure, shown to the client as a 503 like APISIX.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// etcd answered with an error or could not be reached.
    #[error("etcd: {0}")]
    Etcd(String),
    /// etcd did not answer in time.
    #[error("etcd did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<etcd_client::Error> for StoreError {
    fn from(e: etcd_client::Error) -> Self {
        StoreError::Etcd(e.to_string())
    }
}

/// One stored item.
#[derive(Debug, Clone)]
pub struct StoredItem {
    /// Full etcd key.
    pub key: String,
    /// The value; items that are not JSON are skipped by [`EtcdStore::list`].
    pub value: Value,
    /// etcd create revision (`createdIndex`).
    pub create_revision: i64,
    /// etcd mod revision (`modifiedIndex`).
    pub mod_revision: i64,
}

/// etcd access for the Admin API. The client connects on first use and is
/// reused; tonic reconnects it after failures.
pub struct EtcdStore {
    cfg: EtcdSection,
    client: Mutex<Option<Client>>,
    timeout: Duration,
    /// The etcd revision of the last delete made here: a deleted key leaves
    /// no `mod_revision` behind for [`EtcdStore::latest_change`] to find.
    last_delete: AtomicI64,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdStore({:?}, {})", self.cfg.host, self.cfg.prefix)
    }
}

impl EtcdStore {
    /// A store for `deployment.etcd`; nothing is connected yet.
    pub fn new(cfg: EtcdSection) -> EtcdStore {
        let timeout = Duration::from_secs(cfg.timeout);
        EtcdStore {
            cfg,
            client: Mutex::new(None),
            timeout,
            last_delete: AtomicI64::new(0),
        }
    }

    /// The configured etcd endpoints.
    pub fn endpoints(&self) -> &[String] {
        &self.cfg.host
    }

    /// The newest revision of a change under the prefix that a node which
    /// has applied `applied` may not have seen yet. etcd's own revision
    /// when it is not past `applied` (one count-only read); otherwise the
    /// newest `mod_revision` under the prefix, or of a delete made here —
    /// etcd's revision also counts writes to other prefixes, which no
    /// watch of this one ever reports.
    pub async fn latest_change(&self, applied: i64) -> Result<i64, StoreError> {
        let mut c = self.client().await?;
        let dir = format!("{}/", self.cfg.prefix);
        let end = prefix_end(&dir);
        let counted = self
            .bounded(c.get(
                dir.clone(),
                Some(GetOptions::new().with_range(end.clone()).with_count_only()),
            ))
            .await?;
        let now = counted.header().map(|h| h.revision()).unwrap_or(0);
        if now <= applied {
            return Ok(now);
        }
        let newest = self
            .bounded(
                c.get(
                    dir,
                    Some(
                        GetOptions::new()
                            .with_range(end)
                            .with_sort(SortTarget::Mod, SortOrder::Descend)
                            .with_limit(1)
                            .with_keys_only(),
                    ),
                ),
            )
            .await?;
        let newest = newest.kvs().first().map_or(0, |kv| kv.mod_revision());
        Ok(newest.max(self.last_delete.load(Ordering::Relaxed)))
    }

    fn note_delete(&self, header: Option<&etcd_client::ResponseHeader>) {
        if let Some(h) = header {
            self.last_delete.fetch_max(h.revision(), Ordering::Relaxed);
        }
    }

    /// The key prefix (`/apisix`).
    pub fn prefix(&self) -> &str {
        &self.cfg.prefix
    }

    async fn client(&self) -> Result<Client, StoreError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let (endpoints, opts) = connect_options(&self.cfg)?;
        let c = self.bounded(Client::connect(endpoints, Some(opts))).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// Read one key.
    pub async fn get(&self, key: &str) -> Result<Option<StoredItem>, StoreError> {
        let mut c = self.client().await?;
        let resp = self.bounded(c.get(key, None)).await?;
        Ok(resp.kvs().first().and_then(|kv| {
            let value = serde_json::from_slice(kv.value()).ok()?;
            Some(StoredItem {
                key: key.to_string(),
                value,
                create_revision: kv.create_revision(),
                mod_revision: kv.mod_revision(),
            })
        }))
    }

    /// Whether a key exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let resp = self
            .bounded(c.get(key, Some(GetOptions::new().with_count_only())))
            .await?;
        Ok(resp.count() > 0)
    }

    /// Every item directly under `dir` (`/apisix/routes`), in key order, read
    /// page by page at one revision. Deeper keys (a consumer's credentials),
    /// the directory placeholder and values that are not JSON are left out.
    pub async fn list(&self, dir: &str) -> Result<Vec<StoredItem>, StoreError> {
        self.list_under(dir, false).await
    }

    /// Every item under `dir` at any depth (consumers with their credentials).
    pub async fn list_all_depths(&self, dir: &str) -> Result<Vec<StoredItem>, StoreError> {
        self.list_under(dir, true).await
    }

    async fn list_under(&self, dir: &str, deep: bool) -> Result<Vec<StoredItem>, StoreError> {
        let mut c = self.client().await?;
        let start = format!("{dir}/");
        let end = prefix_end(&start);
        let mut from = start.clone().into_bytes();
        let mut revision = 0;
        let mut out = Vec::new();
        loop {
            let mut opts = GetOptions::new()
                .with_range(end.clone())
                .with_limit(LIST_PAGE);
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let resp = self.bounded(c.get(from.clone(), Some(opts))).await?;
            if revision == 0 {
                revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            for kv in resp.kvs() {
                let Ok(key) = std::str::from_utf8(kv.key()) else {
                    continue;
                };
                let id = &key[start.len()..];
                if id.is_empty() || (!deep && id.contains('/')) {
                    continue;
                }
                match serde_json::from_slice(kv.value()) {
                    Ok(value) => out.push(StoredItem {
                        key: key.to_string(),
                        value,
                        create_revision: kv.create_revision(),
                        mod_revision: kv.mod_revision(),
                    }),
                    Err(e) => {
                        tracing::warn!(%key, "admin list skips a value that is not JSON: {e}")
                    }
                }
            }
            match (resp.more(), resp.kvs().last()) {
                (true, Some(last)) => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// One page of the items directly under `dir` in creation order, and the
    /// number of items, without reading the whole directory: etcd counts and
    /// sorts, and sends only the first `page * size` items. For directories
    /// without deeper keys (every kind but consumers).
    pub async fn list_page(
        &self,
        dir: &str,
        page: usize,
        size: usize,
    ) -> Result<(usize, Vec<StoredItem>), StoreError> {
        let mut c = self.client().await?;
        // Keys after `dir/` itself (APISIX's `init_dir` placeholder is `dir/`).
        let start = format!("{dir}/\0");
        let end = prefix_end(&format!("{dir}/"));
        let counted = self
            .bounded(c.get(
                start.clone(),
                Some(GetOptions::new().with_range(end.clone()).with_count_only()),
            ))
            .await?;
        let revision = counted.header().map(|h| h.revision()).unwrap_or(0);
        let total = usize::try_from(counted.count()).unwrap_or(0);
        let wanted = page.saturating_mul(size);
        let skip = (page - 1).saturating_mul(size);
        if skip >= total {
            return Ok((total, Vec::new()));
        }
        let mut opts = GetOptions::new()
            .with_range(end)
            .with_sort(SortTarget::Create, SortOrder::Ascend)
            .with_limit(i64::try_from(wanted).unwrap_or(i64::MAX));
        if revision > 0 {
            opts = opts.with_revision(revision);
        }
        let resp = self.bounded(c.get(start, Some(opts))).await?;
        let items = resp
            .kvs()
            .iter()
            .skip(skip)
            .filter_map(|kv| {
                let key = std::str::from_utf8(kv.key()).ok()?;
                let value = serde_json::from_slice(kv.value()).ok()?;
                Some(StoredItem {
                    key: key.to_string(),
                    value,
                    create_revision: kv.create_revision(),
                    mod_revision: kv.mod_revision(),
                })
            })
            .collect();
        Ok((total, items))
    }

    /// Write `value` at `key`, attached to `lease` when given. Returns whether
    /// the key is new (201) rather than replaced (200).
    pub async fn put(
        &self,
        key: &str,
        value: &Value,
        lease: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let mut opts = PutOptions::new().with_prev_key();
        if let Some(l) = lease {
            opts = opts.with_lease(l);
        }
        let resp = self
            .bounded(c.put(key, value.to_string(), Some(opts)))
            .await?;
        Ok(resp.prev_key().is_none())
    }

    /// Write `value` only if `key` is still at `mod_revision`; false when it changed.
    pub async fn put_if_unchanged(
        &self,
        key: &str,
        value: &Value,
        mod_revision: i64,
        lease: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let mut opts = PutOptions::new();
        if let Some(l) = lease {
            opts = opts.with_lease(l);
        }
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, mod_revision)])
            .and_then([TxnOp::put(key, value.to_string(), Some(opts))]);
        let resp = self.bounded(c.txn(txn)).await?;
        Ok(resp.succeeded())
    }

    /// A new id for POST: APISIX's scheme, the etcd revision of a write to
    /// `{prefix}/gen_id`, zero-padded to 20 digits (unique and increasing).
    pub async fn new_id(&self) -> Result<String, StoreError> {
        let mut c = self.client().await?;
        let key = format!("{}/gen_id", self.cfg.prefix);
        let resp = self.bounded(c.put(key, "1", None)).await?;
        let rev = resp
            .header()
            .map(|h| h.revision())
            .ok_or_else(|| StoreError::Etcd("no revision in the answer".into()))?;
        Ok(format!("{rev:020}"))
    }

    /// A lease of `ttl` seconds for `?ttl=`.
    pub async fn grant_lease(&self, ttl: i64) -> Result<i64, StoreError> {
        let mut c = self.client().await?;
        let resp = self.bounded(c.lease_grant(ttl, None)).await?;
        Ok(resp.id())
    }

    /// Delete one key; false when it did not exist.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let resp = self.bounded(c.delete(key, None)).await?;
        if resp.deleted() > 0 {
            self.note_delete(resp.header());
        }
        Ok(resp.deleted() > 0)
    }

    /// Delete `key` and every key under `dir/` (a consumer and its
    /// credentials) in one transaction; false when `key` did not exist.
    pub async fn delete_with_dir(&self, key: &str, dir: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Greater, 0)])
            .and_then([
                TxnOp::delete(key, None),
                TxnOp::delete(format!("{dir}/"), Some(DeleteOptions::new().with_prefix())),
            ]);
        let resp = self.bounded(c.txn(txn)).await?;
        if resp.succeeded() {
            self.note_delete(resp.header());
        }
        Ok(resp.succeeded())
    }
}

/// The first key after every key starting with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_of_a_directory() {
        assert_eq!(prefix_end("/apisix/routes/"), b"/apisix/routes0".to_vec());
    }
}
