//! The immutable configuration snapshot a request pins for its whole life, and
//! the one `ArcSwap` that publishes it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::compiled::{Route, Service};
use super::store::{OtherKinds, TypedMaps};
use crate::plugin::holders::PluginHolders;
use crate::router::{RouteSpec, Router};
use crate::tls::TlsStore;
use crate::upstream::Upstream;

/// Everything the data plane needs to serve a request, built off the hot path.
#[derive(Debug)]
pub struct Snapshot {
    /// The etcd revision this snapshot reflects (0 for an empty or file-based start).
    pub revision: i64,
    /// Routes by id.
    pub routes: Arc<HashMap<Arc<str>, Arc<Route>>>,
    /// Services by id.
    pub services: Arc<HashMap<Arc<str>, Arc<Service>>>,
    /// Upstreams by id.
    pub upstreams: Arc<HashMap<Arc<str>, Arc<Upstream>>>,
    /// Other kinds (consumers, ssls, global rules, ...) as validated JSON, by id.
    pub others: Arc<OtherKinds>,
    /// The host + URI index over enabled routes.
    pub router: Arc<Router<Route>>,
    /// Global rules, plugin configs, consumer groups and consumers, instantiated.
    pub plugins: Arc<PluginHolders>,
    /// The certificates served by SNI, and every SSL object by id.
    pub tls: Arc<TlsStore>,
}

impl Snapshot {
    /// An empty snapshot (every request is a 404).
    pub fn empty() -> Snapshot {
        Snapshot::build(0, TypedMaps::default(), None, &RoutingChanges::full())
    }

    /// Assemble a snapshot, building the router unless one is passed for reuse.
    ///
    /// The router is rebuilt when `rebuild_router` is set or there is no
    /// previous snapshot; otherwise the previous one is shared. If a rebuild
    /// fails (a bug: patterns are validated when routes compile), the previous
    /// router keeps serving.
    pub fn build(
        revision: i64,
        maps: TypedMaps,
        previous: Option<&Snapshot>,
        routing: &RoutingChanges,
    ) -> Snapshot {
        let router = match previous {
            Some(p) if routing.is_empty() => p.router.clone(),
            Some(p) if !routing.full && routing.is_small(maps.routes.len()) => {
                match update_router(&p.router, &maps, routing) {
                    Ok(r) => Arc::new(r),
                    Err(e) => {
                        tracing::warn!("incremental router update failed ({e}); rebuilding");
                        full_router(&maps, previous)
                    }
                }
            }
            _ => full_router(&maps, previous),
        };
        // Plugin holders change only with the "other" kinds (copy-on-write:
        // the same Arc means nothing changed).
        let plugins = match previous {
            Some(p) if Arc::ptr_eq(&p.others, &maps.others) => p.plugins.clone(),
            _ => Arc::new(PluginHolders::build(&maps.others)),
        };
        // The SNI index changes only with the SSL objects.
        let tls = match previous {
            Some(p) if Arc::ptr_eq(&p.tls.objects, &maps.ssls) => p.tls.clone(),
            _ => Arc::new(TlsStore::build(
                maps.ssls.clone(),
                previous.map(|p| p.tls.as_ref()),
            )),
        };
        Snapshot {
            tls,
            revision,
            routes: maps.routes,
            services: maps.services,
            upstreams: maps.upstreams,
            others: maps.others,
            router,
            plugins,
        }
    }

    /// The service a route refers to, if any.
    pub fn service_of(&self, route: &Route) -> Option<&Arc<Service>> {
        route
            .service_id
            .as_ref()
            .and_then(|id| self.services.get(id.as_str()))
    }
}

/// Build the router from enabled routes; a route without hosts inherits its service's.
/// A full router build; on failure (a bug: patterns are validated when routes
/// compile) the previous router keeps serving.
fn full_router(maps: &TypedMaps, previous: Option<&Snapshot>) -> Arc<Router<Route>> {
    match build_router(&maps.routes, &maps.services) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!("router build failed, keeping the previous routing table: {e}");
            previous
                .map(|p| p.router.clone())
                .unwrap_or_else(|| Arc::new(Router::empty()))
        }
    }
}

/// What changed for routing since the previous snapshot.
#[derive(Debug, Default, Clone)]
pub struct RoutingChanges {
    /// Rebuild the whole index.
    pub full: bool,
    /// Ids of routes put or deleted.
    pub routes: HashSet<Arc<str>>,
    /// Ids of services put or deleted (their host-inheriting routes move).
    pub services: HashSet<Arc<str>>,
}

impl RoutingChanges {
    /// Everything changed.
    pub fn full() -> RoutingChanges {
        RoutingChanges {
            full: true,
            ..RoutingChanges::default()
        }
    }

    /// Nothing routing-related changed.
    pub fn is_empty(&self) -> bool {
        !self.full && self.routes.is_empty() && self.services.is_empty()
    }

    /// Few enough changes that an incremental update beats a rebuild.
    fn is_small(&self, total_routes: usize) -> bool {
        self.services.len() <= 64 && self.routes.len() <= 1000.max(total_routes / 8)
    }
}

/// The router entry of one enabled route; a route without hosts inherits its service's.
fn route_spec(
    id: &Arc<str>,
    r: &Arc<Route>,
    services: &HashMap<Arc<str>, Arc<Service>>,
) -> RouteSpec<Route> {
    let hosts = if r.hosts.is_empty() {
        r.service_id
            .as_ref()
            .and_then(|sid| services.get(sid.as_str()))
            .map(|s| s.hosts.clone())
            .unwrap_or_default()
    } else {
        r.hosts.clone()
    };
    RouteSpec {
        key: id.clone(),
        payload: r.clone(),
        uris: r.uris.clone(),
        hosts,
        priority: r.priority,
        order: r.meta.create_revision.max(0) as u64,
    }
}

fn build_router(
    routes: &HashMap<Arc<str>, Arc<Route>>,
    services: &HashMap<Arc<str>, Arc<Service>>,
) -> Result<Router<Route>, crate::router::RouterError> {
    Router::build(
        routes
            .iter()
            .filter(|(_, r)| r.enabled)
            .map(|(id, r)| route_spec(id, r, services)),
    )
}

/// Update `previous` for the routes and services that changed: only their
/// entries are removed and re-added; the rest of the index is shared.
fn update_router(
    previous: &Router<Route>,
    maps: &TypedMaps,
    changed: &RoutingChanges,
) -> Result<Router<Route>, crate::router::RouterError> {
    let mut ids: HashSet<Arc<str>> = changed.routes.clone();
    if !changed.services.is_empty() {
        // Routes that inherit hosts from a changed service move with it.
        for (id, r) in maps.routes.iter() {
            let inherits = r.hosts.is_empty()
                && r.service_id
                    .as_ref()
                    .is_some_and(|sid| changed.services.contains(sid.as_str()));
            if inherits {
                ids.insert(id.clone());
            }
        }
    }
    let add: Vec<RouteSpec<Route>> = ids
        .iter()
        .filter_map(|id| maps.routes.get_key_value(id))
        .filter(|(_, r)| r.enabled)
        .map(|(id, r)| route_spec(id, r, &maps.services))
        .collect();
    previous.update(ids.iter(), add)
}

/// The published snapshot plus readiness.
#[derive(Debug)]
pub struct SharedSnapshot {
    current: ArcSwap<Snapshot>,
    loaded: AtomicBool,
    /// The newest etcd revision whose changes are all in service: the
    /// published snapshot's, or later when the events since changed nothing
    /// the data plane uses (`gen_id`, an invalid item skipped).
    applied: AtomicI64,
}

impl SharedSnapshot {
    /// Start with an empty, not-yet-loaded snapshot.
    pub fn new() -> SharedSnapshot {
        SharedSnapshot {
            current: ArcSwap::from_pointee(Snapshot::empty()),
            loaded: AtomicBool::new(false),
            applied: AtomicI64::new(0),
        }
    }

    /// The snapshot a new request should pin.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publish a new snapshot (one atomic swap) and mark the node ready.
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        // Swap first: `applied` must never run ahead of what requests see.
        let revision = snapshot.revision;
        self.current.store(snapshot);
        self.applied.store(revision, Ordering::Release);
        self.loaded.store(true, Ordering::Release);
    }

    /// Record that every change up to `revision` is in service although no
    /// new snapshot was needed for the last of them.
    pub fn mark_applied(&self, revision: i64) {
        self.applied.store(revision, Ordering::Release);
    }

    /// The newest etcd revision whose changes are all in service (what the
    /// dashboard compares with etcd's to tell a write is live).
    pub fn applied_revision(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Whether a first configuration has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }
}

impl Default for SharedSnapshot {
    fn default() -> Self {
        SharedSnapshot::new()
    }
}
