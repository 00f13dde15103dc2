//! HTTP route-matching index with APISIX `radixtree_host_uri` semantics.
//!
//! Routes are grouped per host level (exact host, `*suffix` wildcards,
//! `*`, and host-less). Within a level, exact paths sit in a hash table and
//! prefix / parameter patterns in a byte-level radix tree keyed by their
//! static prefix. Candidates are offered to a caller-supplied `accept`
//! callback in precedence order; the first accepted one wins.
//!
//! The index is persistent: [`Router::update`] returns a new router that
//! shares everything it does not change with the old one (hash tables in
//! `Arc`'d shards, trees with `Arc`'d child arrays, copied along the
//! changed paths only), so a one-route change costs microseconds however
//! many routes are loaded, and the old router keeps serving unchanged.
//!
//!
//! Module layout: `error` (build errors), `hash` (persistent sharded string
//! table), `host` (host patterns and Host trimming), `pattern` (uri pattern
//! parsing and dynamic-tail matching), `params` (captures and match
//! result), `tree` (the persistent radix tree), `entry` (indexed entries,
//! host levels and route records), `build` (the bulk [`Router::build`]),
//! `update` (the incremental [`Router::update`]), `find` (lookup).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod build;
mod entry;
mod error;
mod find;
mod hash;
mod host;
mod params;
mod pattern;
mod tree;
mod update;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use error::RouterError;
pub use params::{Match, Params};

use entry::{Entry, RouteRec, Sub, Subs};
use hash::{random_seed, StrTable};
use host::parse_host;
use pattern::{compile, Compiled};
use tree::{Cands, Tree};

/// One route as handed to [`Router::build`] or [`Router::update`].
#[derive(Debug)]
pub struct RouteSpec<T> {
    /// Names the route (e.g. the route id) for [`Router::update`]; unique
    /// within a router.
    pub key: Arc<str>,
    /// Value returned when this route matches.
    pub payload: Arc<T>,
    /// Path patterns: `/exact`, `/prefix*`, `/user/:id`, `/files/*path`.
    pub uris: Arc<[String]>,
    /// Host patterns, case-insensitive: `foo.com`; `*.foo.com` (any host
    /// ending in `.foo.com`; generally `*suffix`); `*` (any host). Empty
    /// means any host, tried only after every host-bound route.
    pub hosts: Arc<[String]>,
    /// Higher wins among candidates at the same precedence level.
    pub priority: i64,
    /// Tie-break among equal priority: lower first.
    pub order: u64,
}

impl<T> Clone for RouteSpec<T> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            payload: self.payload.clone(),
            uris: self.uris.clone(),
            hosts: self.hosts.clone(),
            priority: self.priority,
            order: self.order,
        }
    }
}

/// Sub-index of routes without hosts.
const NO_HOST: u32 = 0;
/// Sub-index of routes with host `*`.
const ANY_HOST: u32 = 1;
/// First sub-index of a named host (exact or wildcard).
const FIRST_HOST: u32 = 2;
/// Host table tag of exact host names (looked up by `find`).
const TAG_EXACT: u32 = 0;
/// Host table tag of wildcard suffixes (looked up by updates only).
const TAG_WILD: u32 = 1;

/// Immutable, persistent route index: build it with [`Router::build`],
/// derive changed copies with [`Router::update`]. Clones share all
/// structure (a clone costs a few hundred pointer copies).
pub struct Router<T> {
    /// Route key -> the route as given, for updates.
    routes: StrTable<RouteRec, false>,
    next_seq: u64,
    /// `(level, path)` -> candidates of an exact path.
    exact: StrTable<Cands<Entry<T>>, false>,
    none: Sub<T>,
    any: Sub<T>,
    /// Levels `FIRST_HOST..` of named hosts.
    subs: Subs<T>,
    /// Unused named-host levels.
    free: Vec<u32>,
    /// `(TAG_EXACT, host)` or `(TAG_WILD, suffix)` -> level.
    hosts: StrTable<u32, true>,
    /// Number of indexed (host, uri) pairs under a host (incl. `*`).
    host_entries: usize,
    /// Radix tree over reversed wildcard suffixes; candidates are levels.
    wildcards: Tree<u32>,
}

impl<T> Clone for Router<T> {
    /// A copy sharing all structure with `self`.
    fn clone(&self) -> Self {
        Self {
            routes: self.routes.clone(),
            next_seq: self.next_seq,
            exact: self.exact.clone(),
            none: self.none.clone(),
            any: self.any.clone(),
            subs: self.subs.clone(),
            free: self.free.clone(),
            hosts: self.hosts.clone(),
            host_entries: self.host_entries,
            wildcards: self.wildcards.clone(),
        }
    }
}

/// Checks route patterns exactly as [`Router::build`] would, without
/// building: fails on no uri, or on any malformed uri or host pattern.
pub fn validate_patterns(uris: &[String], hosts: &[String]) -> Result<(), RouterError> {
    if uris.is_empty() {
        return Err(RouterError::MissingUri { route: 0 });
    }
    for uri in uris {
        if let Compiled::Tree {
            tail: Some(tail), ..
        } = compile(uri)?
        {
            tail.build()?;
        }
    }
    for host in hosts {
        parse_host(host)?;
    }
    Ok(())
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<T> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("hosts", &self.hosts.len())
            .field("exact_paths", &self.exact.len())
            .finish()
    }
}

impl<T> Router<T> {
    /// A router with no routes; `find` always returns `None`.
    pub fn empty() -> Self {
        Self::with_seed(random_seed())
    }

    fn with_seed(seed: u64) -> Self {
        Self {
            routes: StrTable::new(seed),
            next_seq: 0,
            exact: StrTable::new(seed),
            none: Sub::default(),
            any: Sub::default(),
            subs: Subs::new(),
            free: Vec::new(),
            hosts: StrTable::new(seed),
            host_entries: 0,
            wildcards: Tree::default(),
        }
    }

    /// Number of routes in the index.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when the index holds no route.
    pub fn is_empty(&self) -> bool {
        self.routes.len() == 0
    }

    /// Whether a route with this key is in the index.
    pub fn contains_key(&self, key: &str) -> bool {
        self.routes.get(0, key.as_bytes()).is_some()
    }
}
