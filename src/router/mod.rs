//! HTTP route-matching index with APISIX `radixtree_host_uri` semantics.
//!
//! Routes are grouped per host level (exact host, `*suffix` wildcards,
//! `*`, and host-less). Within a level, exact paths sit in a hash table and
//! prefix / parameter patterns in a byte-level radix tree keyed by their
//! static prefix. Candidates are offered to a caller-supplied `accept`
//! callback in precedence order; the first accepted one wins.
//!
//! Module layout: `error` (build errors), `hash` (no-allocation string
//! table), `host` (host patterns and Host trimming), `pattern` (uri pattern
//! parsing and dynamic-tail matching), `params` (captures and match
//! result), `tree` (the radix tree).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error;
mod hash;
mod host;
mod params;
mod pattern;
mod tree;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use error::RouterError;
pub use params::{Match, Params};

use error::to_u32;
use hash::{random_seed, StrTable};
use host::{parse_host, trim_host, HostPattern};
use pattern::{Compiled, Tails, NO_TAIL};
use tree::{Entry, ReversedLower, Trail, Tree, TreeKey};

/// One route as handed to [`Router::build`].
#[derive(Debug, Clone)]
pub struct RouteSpec<T> {
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

/// Sub-index of routes without hosts.
const NO_HOST: u32 = 0;
/// Sub-index of routes with host `*`.
const ANY_HOST: u32 = 1;
/// Tag of exact host names in the host table.
const TAG_EXACT: u32 = 0;
const NO_ROOT: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Sub {
    root: u32,
    has_exact: bool,
}

/// Immutable route index; rebuild it with [`Router::build`] on change.
pub struct Router<T> {
    payloads: Vec<Arc<T>>,
    subs: Vec<Sub>,
    hosts: StrTable<u32, true>,
    has_host_routes: bool,
    /// Radix tree over reversed wildcard suffixes; node entries name the
    /// sub-index (in `Entry::route`) of each suffix.
    wildcards: Tree,
    wildcard_root: u32,
    wildcard_entries: Vec<Entry>,
    exact: StrTable<(u32, u32), false>,
    entries: Vec<Entry>,
    tree: Tree,
    tails: Tails,
}

struct ExactRec<'s> {
    hash: u64,
    sub: u32,
    key: &'s str,
    priority: i64,
    order: u64,
    seq: u32,
}

struct TreeRec<'s> {
    sub: u32,
    key: &'s str,
    priority: i64,
    order: u64,
    seq: u32,
    tail: u32,
}

/// Checks route patterns exactly as [`Router::build`] would, without
/// building: fails on no uri, or on any malformed uri or host pattern.
pub fn validate_patterns(uris: &[String], hosts: &[String]) -> Result<(), RouterError> {
    if uris.is_empty() {
        return Err(RouterError::MissingUri { route: 0 });
    }
    let mut tails = Tails::default();
    for uri in uris {
        tails.compile(uri)?;
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
            .field("routes", &self.payloads.len())
            .field("hosts", &self.hosts.len())
            .field("exact_paths", &self.exact.len())
            .field("tree_nodes", &self.tree.node_count())
            .finish()
    }
}

impl<T> Router<T> {
    /// A router with no routes; `find` always returns `None`.
    pub fn empty() -> Self {
        let seed = 0;
        Self {
            payloads: Vec::new(),
            subs: Vec::new(),
            hosts: StrTable::new(seed),
            has_host_routes: false,
            wildcards: Tree::default(),
            wildcard_root: NO_ROOT,
            wildcard_entries: Vec::new(),
            exact: StrTable::new(seed),
            entries: Vec::new(),
            tree: Tree::default(),
            tails: Tails::default(),
        }
    }

    /// Number of route specs the index was built from.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    /// True when built from no routes.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    /// Builds the index; fails on the first malformed uri or host pattern.
    ///
    /// A spec with several hosts and uris is indexed once per distinct
    /// `(host, uri)` pair.
    pub fn build<I>(specs: I) -> Result<Self, RouterError>
    where
        I: IntoIterator<Item = RouteSpec<T>>,
    {
        let specs: Vec<RouteSpec<T>> = specs.into_iter().collect();
        let seed = random_seed();
        let mut tails = Tails::default();
        let mut exact = StrTable::<(u32, u32), false>::new(seed);
        let mut hosts = StrTable::<u32, true>::new(seed);
        let mut entries = Vec::new();
        let mut tree = Tree::default();
        let mut subs;
        let mut wildcards = Tree::default();
        let mut wildcard_root = NO_ROOT;
        let mut wildcard_entries = Vec::new();
        {
            let mut raw_host_ids: HashMap<&str, u32> = HashMap::new();
            // (is wildcard, lower-cased name or suffix) -> sub-index
            let mut host_ids: HashMap<(bool, String), u32> = HashMap::new();
            let mut host_list: Vec<(bool, String)> = Vec::new();
            let mut exact_recs: Vec<ExactRec<'_>> = Vec::with_capacity(specs.len());
            let mut tree_recs: Vec<TreeRec<'_>> = Vec::new();
            let mut spec_subs: Vec<u32> = Vec::new();
            let mut spec_uris: Vec<&str> = Vec::new();

            for (index, spec) in specs.iter().enumerate() {
                let seq = to_u32(index)?;
                if spec.uris.is_empty() {
                    return Err(RouterError::MissingUri { route: index });
                }
                spec_subs.clear();
                for h in spec.hosts.iter() {
                    let id = match raw_host_ids.get(h.as_str()) {
                        Some(&id) => id,
                        None => {
                            let key = match parse_host(h)? {
                                HostPattern::Any => {
                                    raw_host_ids.insert(h.as_str(), ANY_HOST);
                                    spec_subs.push(ANY_HOST);
                                    continue;
                                }
                                HostPattern::Exact(n) => (false, n),
                                HostPattern::Wildcard(n) => (true, n),
                            };
                            let next = to_u32(host_list.len() + 2)?;
                            let id = *host_ids.entry(key.clone()).or_insert(next);
                            if id == next {
                                host_list.push(key);
                            }
                            raw_host_ids.insert(h.as_str(), id);
                            id
                        }
                    };
                    spec_subs.push(id);
                }
                if spec_subs.is_empty() {
                    spec_subs.push(NO_HOST);
                } else if spec_subs.len() > 1 {
                    spec_subs.sort_unstable();
                    spec_subs.dedup();
                }
                spec_uris.clear();
                spec_uris.extend(spec.uris.iter().map(String::as_str));
                if spec_uris.len() > 1 {
                    spec_uris.sort_unstable();
                    spec_uris.dedup();
                }
                for &uri in &spec_uris {
                    match tails.compile(uri)? {
                        Compiled::Exact(key) => {
                            for &sub in &spec_subs {
                                exact_recs.push(ExactRec {
                                    hash: exact.hash(sub, key.as_bytes()),
                                    sub,
                                    key,
                                    priority: spec.priority,
                                    order: spec.order,
                                    seq,
                                });
                            }
                        }
                        Compiled::Tree { key, tail } => {
                            for &sub in &spec_subs {
                                tree_recs.push(TreeRec {
                                    sub,
                                    key,
                                    priority: spec.priority,
                                    order: spec.order,
                                    seq,
                                    tail,
                                });
                            }
                        }
                    }
                }
            }

            subs = vec![
                Sub {
                    root: NO_ROOT,
                    has_exact: false,
                };
                host_list.len() + 2
            ];

            // Exact host names: hash table. Wildcard suffixes: radix tree
            // over the reversed suffix, walked with the reversed Host.
            let exact_hosts = host_list.iter().filter(|h| !h.0);
            hosts.reserve(
                exact_hosts.clone().count(),
                exact_hosts.clone().map(|h| h.1.len()).sum(),
            );
            let mut reversed: Vec<(Vec<u8>, u32)> = Vec::new();
            for (i, (wildcard, name)) in host_list.iter().enumerate() {
                let sub = to_u32(i + 2)?;
                if *wildcard {
                    reversed.push((name.bytes().rev().collect(), sub));
                } else {
                    let hash = hosts.hash(TAG_EXACT, name.as_bytes());
                    hosts.insert_new(hash, TAG_EXACT, name.as_bytes(), sub)?;
                }
            }
            if !reversed.is_empty() {
                reversed.sort_unstable();
                let keys: Vec<TreeKey<'_>> = reversed
                    .iter()
                    .map(|(key, sub)| TreeKey {
                        key,
                        entry: Entry {
                            route: *sub,
                            tail: NO_TAIL,
                        },
                    })
                    .collect();
                wildcard_root = wildcards.build(&keys, &mut wildcard_entries)?;
            }

            // Exact paths: group identical (sub, path), candidates in order.
            exact_recs.sort_unstable_by(|a, b| {
                a.hash
                    .cmp(&b.hash)
                    .then(a.sub.cmp(&b.sub))
                    .then_with(|| a.key.cmp(b.key))
                    .then(b.priority.cmp(&a.priority))
                    .then(a.order.cmp(&b.order))
                    .then(a.seq.cmp(&b.seq))
            });
            exact.reserve(
                exact_recs.len(),
                exact_recs.iter().map(|r| r.key.len()).sum(),
            );
            entries.reserve(exact_recs.len() + tree_recs.len());
            let mut i = 0;
            while let Some(first) = exact_recs.get(i) {
                let run = exact_recs
                    .get(i..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|r| {
                        r.hash == first.hash && r.sub == first.sub && r.key == first.key
                    })
                    .count();
                let start = to_u32(entries.len())?;
                for r in exact_recs.get(i..i + run).unwrap_or(&[]) {
                    entries.push(Entry {
                        route: r.seq,
                        tail: NO_TAIL,
                    });
                }
                exact.insert_new(
                    first.hash,
                    first.sub,
                    first.key.as_bytes(),
                    (start, to_u32(run)?),
                )?;
                if let Some(s) = subs.get_mut(first.sub as usize) {
                    s.has_exact = true;
                }
                i += run;
            }

            // Prefix and parameter patterns: one radix tree per sub-index.
            tree_recs.sort_unstable_by(|a, b| {
                a.sub
                    .cmp(&b.sub)
                    .then_with(|| a.key.cmp(b.key))
                    .then(b.priority.cmp(&a.priority))
                    .then(a.order.cmp(&b.order))
                    .then(a.seq.cmp(&b.seq))
                    .then(a.tail.cmp(&b.tail))
            });
            let keys: Vec<TreeKey<'_>> = tree_recs
                .iter()
                .map(|r| TreeKey {
                    key: r.key.as_bytes(),
                    entry: Entry {
                        route: r.seq,
                        tail: r.tail,
                    },
                })
                .collect();
            let mut i = 0;
            while let Some(first) = tree_recs.get(i) {
                let run = tree_recs
                    .get(i..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|r| r.sub == first.sub)
                    .count();
                let root = tree.build(keys.get(i..i + run).unwrap_or(&[]), &mut entries)?;
                if let Some(s) = subs.get_mut(first.sub as usize) {
                    s.root = root;
                }
                i += run;
            }
        }

        let has_host_routes = subs
            .iter()
            .skip(1)
            .any(|s| s.has_exact || s.root != NO_ROOT);
        Ok(Self {
            payloads: specs.into_iter().map(|s| s.payload).collect(),
            subs,
            hosts,
            has_host_routes,
            wildcards,
            wildcard_root,
            wildcard_entries,
            exact,
            entries,
            tree,
            tails,
        })
    }

    /// Finds the best route for `host` (the Host header, any case, with or
    /// without port; `None` searches only host-less routes) and `path` (the
    /// decoded path without query).
    ///
    /// Candidates are offered to `accept` in precedence order until it
    /// returns true: exact host, then `*suffix` wildcards from the longest
    /// suffix, then `*`, then host-less routes; within each, exact paths
    /// then prefix/parameter patterns by longest static prefix, ties broken
    /// by priority (desc) and order (asc). A route listed under several
    /// host patterns that all fit the request is offered once per pattern.
    ///
    /// Does not allocate, except when a candidate captures more than four
    /// parameters or more than 16 prefix levels on one path hold routes.
    #[inline]
    pub fn find<'a, F>(
        &'a self,
        host: Option<&str>,
        path: &'a str,
        mut accept: F,
    ) -> Option<Match<'a, T>>
    where
        F: FnMut(&T, &Params<'a>) -> bool,
    {
        if let (Some(host), true) = (host, self.has_host_routes) {
            let host = trim_host(host);
            let bytes = host.as_bytes();
            if let Some(sub) = self.hosts.get(TAG_EXACT, bytes) {
                if let Some(m) = self.find_in(sub, path, &mut accept) {
                    return Some(m);
                }
            }
            if self.wildcard_root != NO_ROOT {
                if let Some(m) = self.find_wildcard(bytes, path, &mut accept) {
                    return Some(m);
                }
            }
            if let Some(m) = self.find_in(ANY_HOST, path, &mut accept) {
                return Some(m);
            }
        }
        self.find_in(NO_HOST, path, &mut accept)
    }

    /// Tries the wildcard host levels matching `host`, longest suffix first.
    #[inline]
    fn find_wildcard<'a, F>(
        &'a self,
        host: &[u8],
        path: &'a str,
        accept: &mut F,
    ) -> Option<Match<'a, T>>
    where
        F: FnMut(&T, &Params<'a>) -> bool,
    {
        let mut trail = Trail::new();
        self.wildcards
            .walk(self.wildcard_root, &ReversedLower(host), &mut trail);
        while let Some((node, _)) = trail.pop() {
            let (start, len) = self.wildcards.entries(node);
            for e in self.wildcard_entries.get(start..start + len).unwrap_or(&[]) {
                if let Some(m) = self.find_in(e.route, path, accept) {
                    return Some(m);
                }
            }
        }
        None
    }

    #[inline]
    fn find_in<'a, F>(&'a self, sub: u32, path: &'a str, accept: &mut F) -> Option<Match<'a, T>>
    where
        F: FnMut(&T, &Params<'a>) -> bool,
    {
        let s = *self.subs.get(sub as usize)?;
        if !s.has_exact && s.root == NO_ROOT {
            return None;
        }
        let mut params = Params::new(path);
        if s.has_exact {
            if let Some((start, len)) = self.exact.get(sub, path.as_bytes()) {
                let (start, len) = (start as usize, len as usize);
                for e in self.entries.get(start..start + len).unwrap_or(&[]) {
                    if let Some(route) = self.payloads.get(e.route as usize) {
                        if accept(route, &params) {
                            return Some(Match { route, params });
                        }
                    }
                }
            }
        }
        if s.root == NO_ROOT {
            return None;
        }
        let mut trail = Trail::new();
        self.tree.walk(s.root, path.as_bytes(), &mut trail);
        while let Some((node, pos)) = trail.pop() {
            let (start, len) = self.tree.entries(node);
            for e in self.entries.get(start..start + len).unwrap_or(&[]) {
                let Some(route) = self.payloads.get(e.route as usize) else {
                    continue;
                };
                params.clear();
                if e.tail != NO_TAIL && !self.tails.matches(e.tail, path, pos, &mut params) {
                    continue;
                }
                if accept(route, &params) {
                    return Some(Match { route, params });
                }
            }
        }
        None
    }
}
