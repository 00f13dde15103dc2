//! Keeps the store in sync with etcd: one full range read of the prefix, then
//! one watch on the whole prefix from `revision + 1`.
//!
//! - compaction past the watch revision, or etcd's revision going backwards
//!   (a wiped or restored cluster) → full reload (unchanged items are reused);
//! - etcd unreachable → keep serving the last snapshot, reconnect with
//!   exponential backoff and jitter, resume the watch (or reload) on return;
//! - the revision only advances with applied events or a full listing, never
//!   on a timeout or an empty response;
//! - if the very first load fails, the persisted snapshot (if any) is served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, KvClient, WatchOptions};
use tokio::sync::watch;

use super::bootstrap::EtcdSection;
use super::disk_cache::DiskCache;
use super::snapshot::{SharedSnapshot, Snapshot};
use super::store::{Changes, ConfigEvent, ConfigStore, RawItem};

/// Largest etcd response accepted (range pages and watch batches).
const MAX_MESSAGE: usize = 256 * 1024 * 1024;
/// Keys per page of a full listing.
const RANGE_PAGE: i64 = 2000;
/// Longest time changes wait to be published under continuous churn.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// The end of the key range that has `prefix` as prefix (etcd's `prefix + 1`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Why one sync cycle ended.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("etcd request timed out after {0:?}")]
    Timeout(Duration),
    #[error("watch canceled by etcd: {0}")]
    Canceled(String),
    #[error("watch stream closed by etcd")]
    Closed,
}

/// Exponential backoff with full jitter, capped.
struct Backoff {
    base: Duration,
    current: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            current: base,
            cap: Duration::from_secs(30),
        }
    }

    /// The next delay: uniformly random in [current/2, current], then doubled for next time.
    fn next_delay(&mut self) -> Duration {
        let half = self.current / 2;
        let jitter = half.mul_f64(fastrand::f64());
        let d = half + jitter;
        self.current = (self.current * 2).min(self.cap);
        d
    }

    fn reset(&mut self) {
        self.current = self.base;
    }
}

/// The etcd watcher task.
pub struct EtcdSync {
    cfg: EtcdSection,
    store: ConfigStore,
    shared: Arc<SharedSnapshot>,
    current: Option<Arc<Snapshot>>,
    disk: Option<DiskCache>,
    dirty_since: Option<Instant>,
    /// The snapshot file being written, off the watch loop.
    persisting: Option<tokio::task::JoinHandle<()>>,
    /// Whether a snapshot file was written by this process yet.
    persisted_once: bool,
    need_full_reload: bool,
    /// Changes applied to the store but not yet published.
    pending: Changes,
    /// The cluster last synced from, to notice a different cluster behind the same address.
    cluster_id: Option<u64>,
}

impl EtcdSync {
    /// Prepare a sync task publishing into `shared`.
    pub fn new(cfg: EtcdSection, shared: Arc<SharedSnapshot>, disk: Option<DiskCache>) -> EtcdSync {
        EtcdSync {
            store: ConfigStore::new(cfg.prefix.clone()),
            cfg,
            shared,
            current: None,
            disk,
            dirty_since: None,
            persisting: None,
            persisted_once: false,
            need_full_reload: true,
            pending: Changes::default(),
            cluster_id: None,
        }
    }

    /// Run until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_secs_f64(self.cfg.resync_delay));
        let mut first_attempt = true;
        loop {
            let result = tokio::select! {
                r = self.cycle(&mut backoff) => r,
                _ = shutdown.changed() => {
                    // Keep the latest changes for the next start.
                    self.persist_if_dirty(true).await;
                    return;
                }
            };
            // Whatever the cycle applied before it ended is served.
            self.publish_pending();
            if result.is_err() {
                crate::metrics::global().etcd_reachable.set(0);
            }
            if let Err(e) = result {
                tracing::warn!(
                    revision = self.store.revision(),
                    "etcd sync interrupted, serving the last good configuration: {e}"
                );
            }
            if first_attempt && !self.shared.is_loaded() {
                self.load_from_disk();
            }
            first_attempt = false;
            self.persist_if_dirty(true).await;
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {
                    // Keep the latest changes for the next start.
                    self.persist_if_dirty(true).await;
                    return;
                }
            }
        }
    }

    /// Serve the persisted snapshot when etcd cannot be read at start.
    fn load_from_disk(&mut self) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        match disk.load(&self.cfg.prefix) {
            Ok(Some((items, revision))) => {
                let n = items.len();
                let changes = self.store.replace_all(items, revision);
                self.publish(changes);
                // Whatever etcd holds now may differ: reload fully once it is back.
                self.need_full_reload = true;
                tracing::warn!(
                    file = %disk.path().display(),
                    items = n,
                    revision,
                    "etcd unreachable at start: serving the persisted snapshot until it returns"
                );
            }
            Ok(None) => {}
            Err(e) => tracing::error!("cannot use the persisted snapshot: {e}"),
        }
    }

    async fn connect(&self) -> Result<Client, SyncError> {
        let timeout = Duration::from_secs(self.cfg.timeout);
        let (endpoints, opts) = connect_options(&self.cfg)?;
        with_timeout(timeout, Client::connect(endpoints, Some(opts))).await
    }

    /// The timeout of the next etcd request: short while nothing is loaded yet
    /// and a persisted snapshot could be served instead.
    fn request_timeout(&self) -> Duration {
        let t = Duration::from_secs(self.cfg.timeout);
        if !self.shared.is_loaded() && self.disk.is_some() {
            t.min(Duration::from_secs(3))
        } else {
            t
        }
    }

    /// One connection's life: (re)load if needed, then watch until an error.
    async fn cycle(&mut self, backoff: &mut Backoff) -> Result<(), SyncError> {
        let client = self.connect().await?;
        let mut kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
        let dir = format!("{}/", self.cfg.prefix);

        // etcd may have been wiped, restored or replaced while we were away.
        let probe = with_timeout(
            self.request_timeout(),
            kv.get(
                dir.clone(),
                Some(GetOptions::new().with_prefix().with_count_only()),
            ),
        )
        .await?;
        let (now, cluster) = probe
            .header()
            .map(|h| (h.revision(), h.cluster_id()))
            .unwrap_or((0, 0));
        if !self.need_full_reload {
            if now < self.store.revision() {
                tracing::warn!(
                    etcd_revision = now,
                    our_revision = self.store.revision(),
                    "etcd revision went backwards (restarted or restored): full reload"
                );
                self.need_full_reload = true;
            } else if self.cluster_id.is_some_and(|c| c != cluster) {
                tracing::warn!("etcd cluster id changed (a different cluster): full reload");
                self.need_full_reload = true;
            }
        }
        self.cluster_id = Some(cluster);
        if self.need_full_reload {
            self.full_reload(&mut kv, &dir).await?;
        }

        let start = self.store.revision() + 1;
        let mut watch_client = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
        let mut stream = with_timeout(
            self.request_timeout(),
            watch_client.watch(
                dir.clone(),
                Some(WatchOptions::new().with_prefix().with_start_revision(start)),
            ),
        )
        .await?;
        tracing::info!(prefix = %dir, from_revision = start, "watching etcd");
        crate::metrics::global().etcd_reachable.set(1);

        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut batch_started: Option<Instant> = None;
        let mut plugin_reloads = crate::plugin::registry::reloads();
        loop {
            // Publish when the stream has nothing more ready, or after at most
            // BATCH_WINDOW of continuous churn, so a bulk import cannot starve it.
            if batch_started.is_some_and(|t| t.elapsed() >= BATCH_WINDOW) {
                self.publish_pending();
                batch_started = None;
            }
            tokio::select! {
                biased;
                msg = stream.message() => {
                    let resp = match msg {
                        Ok(Some(r)) => r,
                        Ok(None) => return Err(SyncError::Closed),
                        Err(e) => return Err(e.into()),
                    };
                    // The watch works: the next outage starts from the base delay.
                    backoff.reset();
                    crate::metrics::global().etcd_reachable.set(1);
                    if resp.compact_revision() > 0 {
                        tracing::warn!(
                            compact_revision = resp.compact_revision(),
                            our_revision = self.store.revision(),
                            "etcd compacted past our watch revision: full reload"
                        );
                        self.need_full_reload = true;
                        return Err(SyncError::Canceled("compacted".into()));
                    }
                    if resp.canceled() {
                        self.need_full_reload = true;
                        return Err(SyncError::Canceled(resp.cancel_reason().to_string()));
                    }
                    let mut max_rev = self.store.revision();
                    for ev in resp.events() {
                        let Some(kv) = ev.kv() else { continue };
                        let key = String::from_utf8_lossy(kv.key()).into_owned();
                        max_rev = max_rev.max(kv.mod_revision());
                        let event = match ev.event_type() {
                            EventType::Put => ConfigEvent::Put(RawItem {
                                key,
                                value: Arc::from(String::from_utf8_lossy(kv.value()).as_ref()),
                                create_revision: kv.create_revision(),
                                mod_revision: kv.mod_revision(),
                            }),
                            EventType::Delete => ConfigEvent::Delete { key },
                        };
                        let c = self.store.apply(event);
                        self.pending.routing |= c.routing;
                        self.pending.any |= c.any;
                    }
                    // Only real events move the revision forward.
                    self.store.set_revision(max_rev);
                    if self.pending.any && batch_started.is_none() {
                        batch_started = Some(Instant::now());
                    }
                    if !self.pending.any {
                        // Nothing to publish: what is served is already current.
                        self.shared.mark_applied(max_rev);
                    }
                }
                // Reached only when no further watch message is ready: publish the batch.
                _ = std::future::ready(()), if self.pending.any => {
                    self.publish_pending();
                    batch_started = None;
                }
                _ = tick.tick() => {
                    self.persist_if_dirty(false).await;
                }
                // `PUT /apisix/admin/plugins/reload` changed the enabled plugins.
                Ok(()) = plugin_reloads.changed() => {
                    let c = self.store.recompile_all();
                    tracing::info!(items = self.store.len(), "plugin list reloaded: configuration recompiled");
                    self.pending.routing |= c.routing;
                    self.pending.any |= c.any;
                    self.publish_pending();
                }
            }
        }
    }

    /// Read the whole prefix at one revision, page by page, and replace the store.
    async fn full_reload(&mut self, kv: &mut KvClient, dir: &str) -> Result<(), SyncError> {
        let started = Instant::now();
        let range_end = prefix_end(dir.as_bytes());
        let mut items: Vec<RawItem> = Vec::new();
        let mut revision = 0i64;
        let mut key: Vec<u8> = dir.as_bytes().to_vec();
        loop {
            let mut opts = GetOptions::new()
                .with_range(range_end.clone())
                .with_limit(RANGE_PAGE);
            if revision > 0 {
                // Every page from the same revision: one consistent listing.
                opts = opts.with_revision(revision);
            }
            let resp =
                with_timeout(self.request_timeout(), kv.get(key.clone(), Some(opts))).await?;
            if revision == 0 {
                revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            for kv in resp.kvs() {
                items.push(RawItem {
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    value: Arc::from(String::from_utf8_lossy(kv.value()).as_ref()),
                    create_revision: kv.create_revision(),
                    mod_revision: kv.mod_revision(),
                });
            }
            match (resp.more(), resp.kvs().last()) {
                (true, Some(last)) => {
                    key = last.key().to_vec();
                    key.push(0);
                }
                _ => break,
            }
        }
        let n = items.len();
        let changes = self.store.replace_all(items, revision);
        let first = !self.shared.is_loaded();
        self.pending = Changes::default();
        self.publish(Changes {
            any: changes.any || first,
            routing: changes.routing || first,
        });
        self.need_full_reload = false;
        tracing::info!(
            keys = n,
            revision,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded configuration from etcd"
        );
        Ok(())
    }

    /// Publish changes applied to the store but not yet served.
    fn publish_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if pending.any {
            self.publish(pending);
        }
    }

    fn publish(&mut self, changes: Changes) {
        let started = Instant::now();
        let snap = Arc::new(self.store.snapshot(self.current.as_deref(), changes));
        self.shared.publish(snap.clone());
        self.current = Some(snap);
        if changes.any {
            self.dirty_since.get_or_insert_with(Instant::now);
        }
        tracing::debug!(
            revision = self.store.revision(),
            rebuild_router = changes.routing,
            elapsed_us = started.elapsed().as_micros() as u64,
            "published snapshot"
        );
    }

    /// Write the in-service items to disk, at most every [`PERSIST_EVERY`]
    /// unless forced. The write runs on a blocking thread and the watch loop
    /// does not wait for it (with 100,000 routes it takes ~100 ms of CPU,
    /// which would delay every change arriving meanwhile, and competes for
    /// the cores under churn: hence not more often); `force` (shutdown,
    /// reconnect) waits for the write in flight and then writes the latest state.
    async fn persist_if_dirty(&mut self, force: bool) {
        let Some(disk) = &self.disk else { return };
        if let Some(t) = self.persisting.take() {
            if force {
                let _ = t.await;
            } else if !t.is_finished() {
                self.persisting = Some(t);
                return;
            }
        }
        let Some(since) = self.dirty_since else {
            return;
        };
        // The first load is written at once: it is what a restart without etcd needs.
        if !force && self.persisted_once && since.elapsed() < PERSIST_EVERY {
            return;
        }
        self.dirty_since = None;
        self.persisted_once = true;
        let items = self.store.raw_items();
        let revision = self.store.revision();
        let disk = disk.clone();
        let prefix = self.cfg.prefix.clone();
        let write = tokio::task::spawn_blocking(move || {
            if let Err(e) = disk.save(&prefix, revision, &items) {
                tracing::warn!("cannot persist the snapshot: {e}");
            }
        });
        if force {
            if let Err(e) = write.await {
                tracing::warn!("snapshot writer failed: {e}");
            }
        } else {
            self.persisting = Some(write);
        }
    }
}

/// How stale the snapshot file may get while changes keep coming. It only
/// serves starts while etcd is down; shutdown always writes the latest state.
const PERSIST_EVERY: Duration = Duration::from_secs(5);

async fn with_timeout<T, F>(limit: Duration, fut: F) -> Result<T, SyncError>
where
    F: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(SyncError::from),
        Err(_) => Err(SyncError::Timeout(limit)),
    }
}

/// Endpoints and connection options for `deployment.etcd` (shared with the
/// Admin API). `https://` endpoints get TLS: etcd's certificate checked
/// against `apisix.ssl.ssl_trusted_certificate` (and `tls.sni`), and the
/// client certificate of `tls.cert`/`tls.key` when etcd asks for one.
pub fn connect_options(
    cfg: &EtcdSection,
) -> Result<(Vec<String>, ConnectOptions), etcd_client::Error> {
    let timeout = Duration::from_secs(cfg.timeout);
    let mut opts = ConnectOptions::new()
        .with_connect_timeout(timeout.min(Duration::from_secs(5)))
        .with_timeout(timeout)
        .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
        .with_keep_alive_while_idle(true)
        // A member cut off from its cluster answers nothing useful; fail over.
        .with_require_leader(true);
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        opts = opts.with_user(u.clone(), p.clone());
    }
    if cfg.host.iter().any(|h| h.starts_with("https://")) {
        opts = opts.with_tls(etcd_tls(cfg)?);
    }
    let endpoints = cfg
        .host
        .iter()
        .map(|h| h.trim_start_matches("http://").to_string())
        .collect();
    Ok((endpoints, opts))
}

/// TLS towards etcd (`deployment.etcd.tls`).
fn etcd_tls(cfg: &EtcdSection) -> Result<etcd_client::TlsOptions, etcd_client::Error> {
    use etcd_client::{Certificate, Identity, TlsOptions};
    let read = |p: &std::path::Path| {
        crate::tls::files::read_pem(p)
            .map_err(|e| etcd_client::Error::InvalidArgs(format!("deployment.etcd.tls: {e}")))
    };
    let mut tls = TlsOptions::new();
    if let Some(ca) = crate::tls::trust::pem() {
        tls = tls.ca_certificate(Certificate::from_pem(ca));
    }
    if let (Some(cert), Some(key)) = (&cfg.tls.cert, &cfg.tls.key) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    if let Some(sni) = &cfg.tls.sni {
        tls = tls.domain_name(sni.clone());
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
        for _ in 0..10 {
            b.next_delay();
        }
        let d = b.next_delay();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(15));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
