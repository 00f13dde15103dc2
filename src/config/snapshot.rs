//! The immutable configuration snapshot a request pins for its whole life, and
//! the one `ArcSwap` that publishes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::compiled::{Route, Service};
use super::store::{OtherKinds, TypedMaps};
use crate::router::{RouteSpec, Router};
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
}

impl Snapshot {
    /// An empty snapshot (every request is a 404).
    pub fn empty() -> Snapshot {
        Snapshot::build(0, TypedMaps::default(), None, true)
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
        rebuild_router: bool,
    ) -> Snapshot {
        let router = match previous {
            Some(p) if !rebuild_router => p.router.clone(),
            _ => match build_router(&maps.routes, &maps.services) {
                Ok(r) => Arc::new(r),
                Err(e) => {
                    tracing::error!("router build failed, keeping the previous routing table: {e}");
                    previous
                        .map(|p| p.router.clone())
                        .unwrap_or_else(|| Arc::new(Router::empty()))
                }
            },
        };
        Snapshot {
            revision,
            routes: maps.routes,
            services: maps.services,
            upstreams: maps.upstreams,
            others: maps.others,
            router,
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
fn build_router(
    routes: &HashMap<Arc<str>, Arc<Route>>,
    services: &HashMap<Arc<str>, Arc<Service>>,
) -> Result<Router<Route>, crate::router::RouterError> {
    let specs: Vec<RouteSpec<Route>> = routes
        .values()
        .filter(|r| r.enabled)
        .map(|r| {
            let hosts = if r.hosts.is_empty() {
                r.service_id
                    .as_ref()
                    .and_then(|id| services.get(id.as_str()))
                    .map(|s| s.hosts.clone())
                    .unwrap_or_default()
            } else {
                r.hosts.clone()
            };
            RouteSpec {
                payload: r.clone(),
                uris: r.uris.clone(),
                hosts,
                priority: r.priority,
                order: r.meta.create_revision.max(0) as u64,
            }
        })
        .collect();
    Router::build(specs)
}

/// The published snapshot plus readiness.
#[derive(Debug)]
pub struct SharedSnapshot {
    current: ArcSwap<Snapshot>,
    loaded: AtomicBool,
}

impl SharedSnapshot {
    /// Start with an empty, not-yet-loaded snapshot.
    pub fn new() -> SharedSnapshot {
        SharedSnapshot {
            current: ArcSwap::from_pointee(Snapshot::empty()),
            loaded: AtomicBool::new(false),
        }
    }

    /// The snapshot a new request should pin.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publish a new snapshot (one atomic swap) and mark the node ready.
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        self.current.store(snapshot);
        self.loaded.store(true, Ordering::Release);
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
