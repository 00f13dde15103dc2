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

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use tokio::sync::watch;

use super::bootstrap::EtcdSection;
use super::disk_cache::DiskCache;
use super::snapshot::{SharedSnapshot, Snapshot};
use super::store::{Changes, ConfigEvent, ConfigStore, RawItem};

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
    need_full_reload: bool,
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
            need_full_reload: true,
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
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(timeout.min(Duration::from_secs(5)))
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        if let (Some(u), Some(p)) = (&self.cfg.user, &self.cfg.password) {
            opts = opts.with_user(u.clone(), p.clone());
        }
        let endpoints: Vec<String> = self
            .cfg
            .host
            .iter()
            .map(|h| h.trim_start_matches("http://").to_string())
            .collect();
        with_timeout(timeout, Client::connect(endpoints, Some(opts))).await
    }

    /// One connection's life: (re)load if needed, then watch until an error.
    async fn cycle(&mut self, backoff: &mut Backoff) -> Result<(), SyncError> {
        let mut client = self.connect().await?;
        let timeout = Duration::from_secs(self.cfg.timeout);
        let dir = format!("{}/", self.cfg.prefix);

        if !self.need_full_reload {
            // etcd may have been wiped or restored while we were away.
            let probe = with_timeout(
                timeout,
                client.get(
                    dir.clone(),
                    Some(GetOptions::new().with_prefix().with_count_only()),
                ),
            )
            .await?;
            let now = probe.header().map(|h| h.revision()).unwrap_or(0);
            if now < self.store.revision() {
                tracing::warn!(
                    etcd_revision = now,
                    our_revision = self.store.revision(),
                    "etcd revision went backwards (restarted or restored): full reload"
                );
                self.need_full_reload = true;
            }
        }
        if self.need_full_reload {
            self.full_reload(&mut client, &dir, timeout).await?;
        }

        let start = self.store.revision() + 1;
        let mut stream = with_timeout(
            timeout,
            client.watch(
                dir.clone(),
                Some(WatchOptions::new().with_prefix().with_start_revision(start)),
            ),
        )
        .await?;
        tracing::info!(prefix = %dir, from_revision = start, "watching etcd");
        backoff.reset();

        let mut pending = Changes::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                msg = stream.message() => {
                    let Some(resp) = msg? else { return Err(SyncError::Closed) };
                    if resp.compact_revision() > 0 {
                        tracing::warn!(
                            compact_revision = resp.compact_revision(),
                            our_revision = self.store.revision(),
                            "etcd compacted past our watch revision: full reload"
                        );
                        self.need_full_reload = true;
                        self.publish_pending(&mut pending);
                        return Err(SyncError::Canceled("compacted".into()));
                    }
                    if resp.canceled() {
                        self.need_full_reload = true;
                        self.publish_pending(&mut pending);
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
                        pending.routing |= c.routing;
                        pending.any |= c.any;
                    }
                    // Only real events move the revision forward.
                    self.store.set_revision(max_rev);
                }
                // Reached only when no further watch message is ready: publish the batch.
                _ = std::future::ready(()), if pending.any => {
                    self.publish_pending(&mut pending);
                }
                _ = tick.tick() => {
                    self.persist_if_dirty(false).await;
                }
            }
        }
    }

    async fn full_reload(
        &mut self,
        client: &mut Client,
        dir: &str,
        timeout: Duration,
    ) -> Result<(), SyncError> {
        let started = Instant::now();
        let resp = with_timeout(
            timeout,
            client.get(dir.to_string(), Some(GetOptions::new().with_prefix())),
        )
        .await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        let items: Vec<RawItem> = resp
            .kvs()
            .iter()
            .map(|kv| RawItem {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                value: Arc::from(String::from_utf8_lossy(kv.value()).as_ref()),
                create_revision: kv.create_revision(),
                mod_revision: kv.mod_revision(),
            })
            .collect();
        let n = items.len();
        let changes = self.store.replace_all(items, revision);
        let first = !self.shared.is_loaded();
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

    fn publish_pending(&mut self, pending: &mut Changes) {
        if pending.any {
            self.publish(*pending);
        }
        *pending = Changes::default();
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

    /// Write the in-service items to disk, at most about once a second unless forced.
    async fn persist_if_dirty(&mut self, force: bool) {
        let Some(disk) = &self.disk else { return };
        let Some(since) = self.dirty_since else {
            return;
        };
        if !force && since.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.dirty_since = None;
        let items = self.store.raw_items();
        let revision = self.store.revision();
        let disk = disk.clone();
        let prefix = self.cfg.prefix.clone();
        let res = tokio::task::spawn_blocking(move || disk.save(&prefix, revision, &items)).await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot persist the snapshot: {e}"),
            Err(e) => tracing::warn!("snapshot writer failed: {e}"),
        }
    }
}

async fn with_timeout<T, F>(limit: Duration, fut: F) -> Result<T, SyncError>
where
    F: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(SyncError::from),
        Err(_) => Err(SyncError::Timeout(limit)),
    }
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
