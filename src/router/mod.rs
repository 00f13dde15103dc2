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
//! Module layout: `error` (build errors), `hash` (persistent sharded string
//! table), `host` (host patterns and Host trimming), `pattern` (uri pattern
//! parsing and dynamic-tail matching), `params` (captures and match
//! result), `tree` (the persistent radix tree).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error;
mod hash;
mod host;
mod params;
mod pattern;
mod tree;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

pub use error::RouterError;
pub use params::{Match, Params};

use error::to_u32;
use hash::{key_hash, random_seed, FastState, StrTable};
use host::{classify_host, parse_host, trim_host, HostKind, HostPattern};
use pattern::{compile, Compiled, Tail};
use tree::{Cand, Cands, ReversedLower, Trail, Tree, TreeBuilder};

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
/// Tail id meaning "no dynamic part" while building.
const NO_TAIL: u32 = u32::MAX;

/// One indexed (host, uri) pair of a route.
pub(crate) struct Entry<T> {
    route: Arc<T>,
    /// Dynamic part to check after the static prefix, if any.
    tail: Option<Arc<Tail>>,
    priority: i64,
    order: u64,
    /// Position of the route in the (virtual) build input: ties go to the
    /// earlier route.
    seq: u64,
    /// Position of the uri among the route's sorted, distinct uris.
    uri: u32,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            route: self.route.clone(),
            tail: self.tail.clone(),
            priority: self.priority,
            order: self.order,
            seq: self.seq,
            uri: self.uri,
        }
    }
}

impl<T> Entry<T> {
    #[inline]
    fn rank(&self) -> (Reverse<i64>, u64, u64, bool, u32) {
        (
            Reverse(self.priority),
            self.order,
            self.seq,
            self.tail.is_none(),
            self.uri,
        )
    }
}

impl<T> Cand for Entry<T> {
    /// Higher priority, then lower order, then earlier route; within one
    /// route, patterns with a tail (in uri order) before a plain prefix.
    fn before(&self, other: &Self) -> bool {
        self.rank() < other.rank()
    }
}

/// The routes of one host level.
struct Sub<T> {
    /// Prefix and parameter patterns.
    root: Tree<Entry<T>>,
    /// Number of exact paths in the router's exact table under this level.
    exact: u32,
}

impl<T> Default for Sub<T> {
    fn default() -> Self {
        Self {
            root: Tree::default(),
            exact: 0,
        }
    }
}

impl<T> Clone for Sub<T> {
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
            exact: self.exact,
        }
    }
}

impl<T> Sub<T> {
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.exact == 0 && self.root.is_empty()
    }
}

/// Subs per shared chunk of [`Subs`].
const CHUNK: usize = 128;

/// Persistent vector of the named hosts' levels, in `Arc`'d chunks.
struct Subs<T> {
    chunks: Vec<Arc<[Sub<T>; CHUNK]>>,
    len: usize,
}

impl<T> Clone for Subs<T> {
    fn clone(&self) -> Self {
        Self {
            chunks: self.chunks.clone(),
            len: self.len,
        }
    }
}

impl<T> Subs<T> {
    fn new() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn from_vec(subs: Vec<Sub<T>>) -> Self {
        let len = subs.len();
        let mut it = subs.into_iter();
        let chunks = (0..len.div_ceil(CHUNK))
            .map(|_| Arc::new(std::array::from_fn(|_| it.next().unwrap_or_default())))
            .collect();
        Self { chunks, len }
    }

    #[inline(always)]
    fn get(&self, i: usize) -> Option<&Sub<T>> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Sub<T>> {
        Arc::make_mut(self.chunks.get_mut(i / CHUNK)?).get_mut(i % CHUNK)
    }

    fn push(&mut self) {
        if self.len % CHUNK == 0 {
            self.chunks
                .push(Arc::new(std::array::from_fn(|_| Sub::default())));
        }
        self.len += 1;
    }
}

/// What the route table keeps of a route besides its [`Locs`] (stored as
/// the key's extra bytes).
#[derive(Clone, Copy)]
struct RouteRec {
    seq: u64,
}

/// Host tag of a location without a host name (no host, or `*`).
const TAG_NONE: u8 = u8::MAX;

/// Where a route's entries sit, to take them out again, as bytes:
/// `n`, then per host level `sub: u32, tag: u8, len: u32, name`; then `m`,
/// then per distinct uri `in_tree: u8, len: u32, exact path or tree key`.
#[derive(Default)]
struct Locs(Vec<u8>);

impl Locs {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), RouterError> {
        self.u32(to_u32(b.len())?);
        self.0.extend_from_slice(b);
        Ok(())
    }
}

/// Reads [`Locs`] bytes.
struct LocsReader<'b>(&'b [u8]);

impl<'b> LocsReader<'b> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Option<&'b [u8]> {
        let len = self.u32()? as usize;
        let b = self.0.get(..len)?;
        self.0 = self.0.get(len..)?;
        Some(b)
    }
}

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

struct ExactRec {
    hash: u64,
    sub: u32,
    /// The path, as a range of the build's exact-path arena.
    key: (u32, u32),
    seq: u32,
    uri: u32,
}

struct TreeRec {
    sub: u32,
    /// The static prefix, as a range of the build's key arena.
    key: (u32, u32),
    seq: u32,
    uri: u32,
    tail: u32,
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

/// A byte range `(start, len)` of one of the build's arenas.
type Span = (u32, u32);

/// `b[at..at + len]`.
fn range(b: &[u8], (at, len): Span) -> &[u8] {
    b.get(at as usize..at as usize + len as usize)
        .unwrap_or(&[])
}

/// The named hosts met while building: levels allocated on first sight,
/// names (lower-cased) in one arena, found by case-insensitive hash.
struct HostIds {
    seed: u64,
    /// Hash of `(tag, name)` -> level.
    ids: HashMap<u64, u32, FastState>,
    /// Levels whose hash another name had first (searched linearly).
    collided: Vec<u32>,
    /// Per level from `FIRST_HOST`: tag and name.
    list: Vec<(u32, Span)>,
    names: Vec<u8>,
}

impl HostIds {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            ids: HashMap::with_hasher(FastState(seed)),
            collided: Vec::new(),
            list: Vec::new(),
            names: Vec::new(),
        }
    }

    fn name(&self, id: u32) -> Option<(u32, &[u8])> {
        let &(tag, span) = self.list.get(id.checked_sub(FIRST_HOST)? as usize)?;
        Some((tag, range(&self.names, span)))
    }

    fn is(&self, id: u32, tag: u32, name: &str) -> bool {
        self.name(id)
            .is_some_and(|(t, n)| t == tag && n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The level of `(tag, name)`, allocated if new.
    fn get_or_add(&mut self, tag: u32, name: &str) -> Result<u32, RouterError> {
        let hash = key_hash::<true>(self.seed, tag, name.as_bytes());
        let first = self.ids.get(&hash).copied();
        if let Some(id) = first {
            if self.is(id, tag, name) {
                return Ok(id);
            }
            if let Some(&id) = self.collided.iter().find(|&&id| self.is(id, tag, name)) {
                return Ok(id);
            }
        }
        let id = to_u32(self.list.len())? + FIRST_HOST;
        let at = to_u32(self.names.len())?;
        self.names
            .extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        self.list.push((tag, (at, to_u32(name.len())?)));
        if first.is_some() {
            self.collided.push(id);
        } else {
            self.ids.insert(hash, id);
        }
        Ok(id)
    }
}

/// The distinct uris of a spec, sorted (their position is the uri rank).
fn sorted_uris(uris: &[String]) -> Vec<&str> {
    let mut uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    uris.sort_unstable();
    uris.dedup();
    uris
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

    /// Builds the index; fails on the first malformed uri or host pattern,
    /// or on two specs with the same key.
    ///
    /// A spec with several hosts and uris is indexed once per distinct
    /// `(host, uri)` pair. Among candidates tied on precedence, priority and
    /// order, the spec given first is offered first.
    pub fn build<I>(specs: I) -> Result<Self, RouterError>
    where
        I: IntoIterator<Item = RouteSpec<T>>,
    {
        let specs = specs.into_iter();
        let seed = random_seed();
        let mut router = Self::with_seed(seed);
        let (lower, _) = specs.size_hint();
        // Per route: key and locations (ranges of the two arenas), payload
        // (moved into the index below), rank, and entries still to be made
        // (the last one made takes the payload, the others clone it).
        let mut keys: Vec<u8> = Vec::with_capacity(lower * 8);
        let mut locs = Locs(Vec::with_capacity(lower * 32));
        let mut route_keys: Vec<(u64, Span, Span)> = Vec::with_capacity(lower);
        let mut payloads: Vec<Option<Arc<T>>> = Vec::with_capacity(lower);
        let mut ranks: Vec<(i64, u64)> = Vec::with_capacity(lower);
        let mut uses: Vec<u32> = Vec::with_capacity(lower);
        {
            let fast = FastState(seed);
            let mut host_ids = HostIds::new(seed);
            let mut tail_ids: HashMap<String, u32, FastState> = HashMap::with_hasher(fast);
            let mut tails: Vec<Arc<Tail>> = Vec::new();
            let mut exact_recs: Vec<ExactRec> = Vec::with_capacity(lower);
            let mut exact_keys: Vec<u8> = Vec::with_capacity(lower * 16);
            let mut tree_recs: Vec<TreeRec> = Vec::new();
            // Tree keys, copied together so sorting them stays in cache.
            let mut tree_keys: Vec<u8> = Vec::new();
            let mut spec_subs: Vec<u32> = Vec::new();
            // The spec's distinct uris, sorted (as indices into its uris).
            let mut spec_uris: Vec<usize> = Vec::new();

            // One pass over the specs; each is dropped while still in cache.
            for (index, spec) in specs.enumerate() {
                let seq = to_u32(index)?;
                let key_at = to_u32(keys.len())?;
                keys.extend_from_slice(spec.key.as_bytes());
                let key = (key_at, to_u32(spec.key.len())?);
                let hash = key_hash::<false>(seed, 0, spec.key.as_bytes());
                let locs_at = to_u32(locs.0.len())?;
                payloads.push(Some(spec.payload));
                ranks.push((spec.priority, spec.order));
                if spec.uris.is_empty() {
                    return Err(RouterError::MissingUri { route: index });
                }
                spec_subs.clear();
                for h in spec.hosts.iter() {
                    spec_subs.push(match classify_host(h)? {
                        (HostKind::Any, _) => ANY_HOST,
                        (HostKind::Exact, name) => host_ids.get_or_add(TAG_EXACT, name)?,
                        (HostKind::Wildcard, name) => host_ids.get_or_add(TAG_WILD, name)?,
                    });
                }
                if spec_subs.is_empty() {
                    spec_subs.push(NO_HOST);
                } else if spec_subs.len() > 1 {
                    spec_subs.sort_unstable();
                    spec_subs.dedup();
                }
                locs.u32(to_u32(spec_subs.len())?);
                for &sub in &spec_subs {
                    locs.u32(sub);
                    match host_ids.name(sub) {
                        Some((tag, name)) => {
                            locs.0.push(tag as u8);
                            locs.bytes(name)?;
                        }
                        None => {
                            locs.0.push(TAG_NONE);
                            locs.bytes(&[])?;
                        }
                    }
                }
                let uri_at = |i: &usize| spec.uris.get(*i).map_or("", String::as_str);
                spec_uris.clear();
                spec_uris.extend(0..spec.uris.len());
                if spec_uris.len() > 1 {
                    spec_uris.sort_unstable_by(|a, b| uri_at(a).cmp(uri_at(b)));
                    spec_uris.dedup_by(|a, b| uri_at(a) == uri_at(b));
                }
                uses.push(to_u32(spec_uris.len() * spec_subs.len())?);
                locs.u32(to_u32(spec_uris.len())?);
                for (uri_rank, uri) in spec_uris.iter().map(uri_at).enumerate() {
                    let uri_rank = to_u32(uri_rank)?;
                    match compile(uri)? {
                        Compiled::Exact(path) => {
                            locs.0.push(0);
                            locs.bytes(path.as_bytes())?;
                            let at = to_u32(exact_keys.len())?;
                            exact_keys.extend_from_slice(path.as_bytes());
                            let key = (at, to_u32(path.len())?);
                            for &sub in &spec_subs {
                                exact_recs.push(ExactRec {
                                    hash: key_hash::<false>(seed, sub, path.as_bytes()),
                                    sub,
                                    key,
                                    seq,
                                    uri: uri_rank,
                                });
                            }
                        }
                        Compiled::Tree { key, tail } => {
                            locs.0.push(1);
                            locs.bytes(key.as_bytes())?;
                            let tail = match tail {
                                None => NO_TAIL,
                                Some(src) => match tail_ids.get(src.text()) {
                                    Some(&id) => id,
                                    None => {
                                        let id = to_u32(tails.len())?;
                                        tails.push(Arc::new(src.build()?));
                                        tail_ids.insert(src.text().to_owned(), id);
                                        id
                                    }
                                },
                            };
                            let at = to_u32(tree_keys.len())?;
                            tree_keys.extend_from_slice(key.as_bytes());
                            let key = (at, to_u32(key.len())?);
                            for &sub in &spec_subs {
                                tree_recs.push(TreeRec {
                                    sub,
                                    key,
                                    seq,
                                    uri: uri_rank,
                                    tail,
                                });
                            }
                        }
                    }
                }
                let locs_len = to_u32(locs.0.len())? - locs_at;
                route_keys.push((hash, key, (locs_at, locs_len)));
            }

            let mut take_payload = |seq: u32| -> Option<Arc<T>> {
                let left = uses.get_mut(seq as usize)?;
                *left = left.saturating_sub(1);
                let slot = payloads.get_mut(seq as usize)?;
                if *left == 0 {
                    slot.take()
                } else {
                    slot.clone()
                }
            };
            router.host_entries = exact_recs.iter().filter(|r| r.sub != NO_HOST).count()
                + tree_recs.iter().filter(|r| r.sub != NO_HOST).count();
            let mut subs: Vec<Sub<T>> = (0..host_ids.list.len() + 2)
                .map(|_| Sub::default())
                .collect();

            // Host names and wildcard suffixes; wildcard suffixes also go
            // into a radix tree over the reversed suffix, walked with the
            // reversed Host.
            let names = &host_ids.names[..];
            let mut host_items = Vec::with_capacity(host_ids.list.len());
            let mut reversed: Vec<u8> = Vec::new();
            let mut suffixes: Vec<(Span, u32)> = Vec::new();
            for (i, &(tag, span)) in host_ids.list.iter().enumerate() {
                let sub = to_u32(i)? + FIRST_HOST;
                let name = range(names, span);
                if tag == TAG_WILD {
                    let at = to_u32(reversed.len())?;
                    reversed.extend(name.iter().rev());
                    suffixes.push(((at, span.1), sub));
                }
                host_items.push((key_hash::<true>(seed, tag, name), tag, span, sub));
            }
            router.hosts = StrTable::bulk(
                seed,
                host_items,
                |&span| (range(names, span), &[][..]),
                |_| RouterError::TooLarge,
            )?;
            let reversed = &reversed[..];
            suffixes.sort_unstable_by(|a, b| range(reversed, a.0).cmp(range(reversed, b.0)));
            let mut wild = TreeBuilder::new();
            if let Some(root) = wild.add(&suffixes, |r| range(reversed, r.0), |r| Some(r.1)) {
                if let Some(block) = wild.finish() {
                    router.wildcards = Tree::new(block, root);
                }
            }

            // Exact paths: group identical (sub, path), candidates in order.
            let exact_keys = &exact_keys[..];
            let path_of = |r: &ExactRec| {
                let (at, len) = (r.key.0 as usize, r.key.1 as usize);
                exact_keys.get(at..at + len).unwrap_or(&[])
            };
            let rank = |seq: u32| ranks.get(seq as usize).copied().unwrap_or((0, 0));
            let rank_of = |seq: u32| {
                let (priority, order) = rank(seq);
                (Reverse(priority), order, seq)
            };
            exact_recs.sort_unstable_by(|a, b| {
                a.hash.cmp(&b.hash).then_with(|| {
                    a.sub
                        .cmp(&b.sub)
                        .then_with(|| path_of(a).cmp(path_of(b)))
                        .then_with(|| rank_of(a.seq).cmp(&rank_of(b.seq)))
                })
            });
            let mut exact_items = Vec::with_capacity(exact_recs.len());
            let mut i = 0;
            while let Some(first) = exact_recs.get(i) {
                let run = 1 + exact_recs
                    .get(i + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|r| {
                        r.hash == first.hash && r.sub == first.sub && path_of(r) == path_of(first)
                    })
                    .count();
                let mut entry = |r: &ExactRec| {
                    let (priority, order) = rank(r.seq);
                    take_payload(r.seq).map(|route| Entry {
                        route,
                        tail: None,
                        priority,
                        order,
                        seq: u64::from(r.seq),
                        uri: r.uri,
                    })
                };
                let cands = if run == 1 {
                    entry(first).map_or(Cands::Empty, Cands::One)
                } else {
                    let group = exact_recs.get(i..i + run).unwrap_or(&[]);
                    Cands::from_vec(group.iter().filter_map(entry).collect())
                };
                exact_items.push((first.hash, first.sub, first.key, cands));
                if let Some(s) = subs.get_mut(first.sub as usize) {
                    s.exact += 1;
                }
                i += run;
            }
            let key_bytes = |&(at, len): &(u32, u32)| {
                let key = exact_keys.get(at as usize..at as usize + len as usize);
                (key.unwrap_or(&[]), &[][..])
            };
            router.exact = StrTable::bulk(seed, exact_items, key_bytes, |_| RouterError::TooLarge)?;

            // Prefix and parameter patterns: one radix tree per sub-index.
            let tree_keys = &tree_keys[..];
            let key_of = |r: &TreeRec| {
                let (at, len) = (r.key.0 as usize, r.key.1 as usize);
                tree_keys.get(at..at + len).unwrap_or(&[])
            };
            tree_recs.sort_unstable_by(|a, b| {
                a.sub
                    .cmp(&b.sub)
                    .then_with(|| key_of(a).cmp(key_of(b)))
                    .then_with(|| {
                        let (ra, rb) = (rank_of(a.seq), rank_of(b.seq));
                        ra.cmp(&rb)
                            .then((a.tail == NO_TAIL).cmp(&(b.tail == NO_TAIL)))
                            .then(a.uri.cmp(&b.uri))
                    })
            });
            // All trees go into one block.
            let mut trees = TreeBuilder::new();
            let mut roots: Vec<(u32, u32)> = Vec::new();
            let mut i = 0;
            while let Some(first) = tree_recs.get(i) {
                let run = tree_recs
                    .get(i..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|r| r.sub == first.sub)
                    .count();
                let root = trees.add(tree_recs.get(i..i + run).unwrap_or(&[]), key_of, |r| {
                    let (priority, order) = rank(r.seq);
                    take_payload(r.seq).map(|route| Entry {
                        route,
                        tail: tails.get(r.tail as usize).cloned(),
                        priority,
                        order,
                        seq: u64::from(r.seq),
                        uri: r.uri,
                    })
                });
                if let Some(root) = root {
                    roots.push((first.sub, root));
                }
                i += run;
            }
            if let Some(block) = trees.finish() {
                for (sub, root) in roots {
                    if let Some(s) = subs.get_mut(sub as usize) {
                        s.root = Tree::new(block.clone(), root);
                    }
                }
            }

            let mut subs = subs.into_iter();
            router.none = subs.next().unwrap_or_default();
            router.any = subs.next().unwrap_or_default();
            router.subs = Subs::from_vec(subs.collect());
        }

        router.next_seq = route_keys.len() as u64;
        let (keys, locs) = (&keys[..], &locs.0[..]);
        let sizes = route_keys
            .iter()
            .map(|&(hash, key, at)| (hash, (key.1 + at.1) as usize));
        let routes = route_keys
            .iter()
            .enumerate()
            .map(|(seq, &(hash, key, at))| (hash, 0, (key, at), RouteRec { seq: seq as u64 }));
        let key_bytes = |&(key, at): &((u32, u32), (u32, u32))| (range(keys, key), range(locs, at));
        router.routes =
            StrTable::bulk_iter(seed, route_keys.len(), sizes, routes, key_bytes, |key| {
                RouterError::DuplicateKey {
                    key: String::from_utf8_lossy(key).into_owned(),
                }
            })?;
        Ok(router)
    }

    /// A new router equal to `self` with the routes keyed by `remove` taken
    /// out and `add` put in, matching exactly as [`Router::build`] over the
    /// resulting route set would (with the added specs after the kept ones,
    /// in `add` order). An added spec whose key is already present replaces
    /// that route; unknown keys in `remove` are ignored.
    ///
    /// `self` is left unchanged (it may keep serving other threads) and
    /// shares all untouched structure with the result, so one changed
    /// route costs tens of microseconds, not a rebuild. Fails (leaving
    /// nothing changed) on a malformed spec, reported with its position in
    /// `add`, or on a key given twice in `add`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strait::router::{RouteSpec, Router};
    ///
    /// let route = |key: &str, uri: &str| RouteSpec {
    ///     key: key.into(),
    ///     payload: Arc::new(key.to_owned()),
    ///     uris: vec![uri.to_owned()].into(),
    ///     hosts: Vec::new().into(),
    ///     priority: 0,
    ///     order: 0,
    /// };
    /// let v1 = Router::build([route("a", "/a"), route("b", "/b/*")])?;
    /// // Route "b" deleted, "a" changed, "c" created:
    /// let v2 = v1.update(["b"], [route("a", "/a2"), route("c", "/c")])?;
    /// assert!(v1.find(None, "/b/x", |_, _| true).is_some());
    /// assert!(v2.find(None, "/b/x", |_, _| true).is_none());
    /// assert_eq!(v2.len(), 2);
    /// # Ok::<(), strait::router::RouterError>(())
    /// ```
    pub fn update<R, K, A>(&self, remove: R, add: A) -> Result<Self, RouterError>
    where
        R: IntoIterator<Item = K>,
        K: AsRef<str>,
        A: IntoIterator<Item = RouteSpec<T>>,
    {
        let mut next = self.clone();
        for key in remove {
            next.remove_route(key.as_ref());
        }
        let mut added: HashSet<Arc<str>> = HashSet::new();
        for (index, spec) in add.into_iter().enumerate() {
            if !added.insert(spec.key.clone()) {
                return Err(RouterError::DuplicateKey {
                    key: spec.key.to_string(),
                });
            }
            next.remove_route(&spec.key);
            next.add_route(spec, index)?;
        }
        Ok(next)
    }

    fn sub_mut(&mut self, id: u32) -> Option<&mut Sub<T>> {
        match id {
            NO_HOST => Some(&mut self.none),
            ANY_HOST => Some(&mut self.any),
            _ => self.subs.get_mut((id - FIRST_HOST) as usize),
        }
    }

    /// The level of a host name or wildcard suffix, created if missing.
    fn host_sub(&mut self, tag: u32, name: &str) -> Result<u32, RouterError> {
        if let Some(&id) = self.hosts.get(tag, name.as_bytes()) {
            return Ok(id);
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = to_u32(self.subs.len)? + FIRST_HOST;
                self.subs.push();
                id
            }
        };
        let hash = self.hosts.hash(tag, name.as_bytes());
        self.hosts.insert_new(hash, tag, name.as_bytes(), id)?;
        if tag == TAG_WILD {
            let reversed: Vec<u8> = name.bytes().rev().collect();
            self.wildcards.insert(&reversed, id);
        }
        Ok(id)
    }

    /// Indexes `spec` as the newest route.
    fn add_route(&mut self, spec: RouteSpec<T>, index: usize) -> Result<(), RouterError> {
        if spec.uris.is_empty() {
            return Err(RouterError::MissingUri { route: index });
        }
        let patterns = spec
            .hosts
            .iter()
            .map(|h| parse_host(h))
            .collect::<Result<Vec<_>, _>>()?;
        let uris = sorted_uris(&spec.uris);
        let mut compiled = Vec::with_capacity(uris.len());
        for uri in &uris {
            compiled.push(match compile(uri)? {
                Compiled::Exact(path) => (path, None, false),
                Compiled::Tree { key, tail } => (
                    key,
                    tail.map(|t| t.build().map(Arc::new)).transpose()?,
                    true,
                ),
            });
        }
        // (level, host tag, host name)
        let mut subs: Vec<(u32, u8, String)> = Vec::with_capacity(patterns.len().max(1));
        for p in patterns {
            subs.push(match p {
                HostPattern::Any => (ANY_HOST, TAG_NONE, String::new()),
                HostPattern::Exact(n) => (self.host_sub(TAG_EXACT, &n)?, TAG_EXACT as u8, n),
                HostPattern::Wildcard(n) => (self.host_sub(TAG_WILD, &n)?, TAG_WILD as u8, n),
            });
        }
        if subs.is_empty() {
            subs.push((NO_HOST, TAG_NONE, String::new()));
        }
        subs.sort_unstable_by_key(|s| s.0);
        subs.dedup_by_key(|s| s.0);
        let mut locs = Locs::default();
        locs.u32(to_u32(subs.len())?);
        for (sub, tag, name) in &subs {
            locs.u32(*sub);
            locs.0.push(*tag);
            locs.bytes(name.as_bytes())?;
        }
        locs.u32(to_u32(compiled.len())?);
        let seq = self.next_seq;
        self.next_seq += 1;
        for (uri, (key, tail, in_tree)) in compiled.into_iter().enumerate() {
            locs.0.push(u8::from(in_tree));
            locs.bytes(key.as_bytes())?;
            for &(sub, _, _) in &subs {
                let entry = Entry {
                    route: spec.payload.clone(),
                    tail: tail.clone(),
                    priority: spec.priority,
                    order: spec.order,
                    seq,
                    uri: to_u32(uri)?,
                };
                if in_tree {
                    if let Some(s) = self.sub_mut(sub) {
                        s.root.insert(key.as_bytes(), entry);
                    }
                } else {
                    self.exact_insert(sub, key, entry)?;
                }
                if sub != NO_HOST {
                    self.host_entries += 1;
                }
            }
        }
        let hash = self.routes.hash(0, spec.key.as_bytes());
        self.routes
            .insert_new_with(hash, 0, spec.key.as_bytes(), &locs.0, RouteRec { seq })
    }

    fn exact_insert(&mut self, sub: u32, path: &str, entry: Entry<T>) -> Result<(), RouterError> {
        let hash = self.exact.hash(sub, path.as_bytes());
        if let Some(cands) = self.exact.get_mut(hash, sub, path.as_bytes()) {
            cands.insert(entry);
            return Ok(());
        }
        self.exact
            .insert_new(hash, sub, path.as_bytes(), Cands::One(entry))?;
        if let Some(s) = self.sub_mut(sub) {
            s.exact += 1;
        }
        Ok(())
    }

    /// Takes the route keyed `key` out of the index, if present.
    fn remove_route(&mut self, key: &str) {
        let hash = self.routes.hash(0, key.as_bytes());
        if let Some((rec, locs)) = self.routes.remove(hash, 0, key.as_bytes()) {
            self.unindex(rec.seq, &locs);
        }
    }

    /// Removes the entries of route `seq` from the places `locs` lists,
    /// and the named hosts left without routes.
    fn unindex(&mut self, seq: u64, locs: &[u8]) -> Option<()> {
        let mut r = LocsReader(locs);
        let mut subs = Vec::new();
        for _ in 0..r.u32()? {
            subs.push((r.u32()?, r.u8()?, r.bytes()?));
        }
        for _ in 0..r.u32()? {
            let (in_tree, key) = (r.u8()? != 0, r.bytes()?);
            for &(sub, _, _) in &subs {
                let removed = if in_tree {
                    self.sub_mut(sub)
                        .map_or(0, |s| s.root.remove(key, |e| e.seq == seq))
                } else {
                    self.exact_remove(sub, key, seq)
                };
                if sub != NO_HOST {
                    self.host_entries = self.host_entries.saturating_sub(removed);
                }
            }
        }
        for (sub, tag, name) in subs {
            if sub < FIRST_HOST || !self.sub_mut(sub).is_some_and(|s| s.is_empty()) {
                continue;
            }
            let tag = u32::from(tag);
            let hash = self.hosts.hash(tag, name);
            self.hosts.remove(hash, tag, name);
            if tag == TAG_WILD {
                let reversed: Vec<u8> = name.iter().rev().copied().collect();
                self.wildcards.remove(&reversed, |&id| id == sub);
            }
            if let Some(s) = self.sub_mut(sub) {
                *s = Sub::default();
            }
            self.free.push(sub);
        }
        Some(())
    }

    fn exact_remove(&mut self, sub: u32, path: &[u8], seq: u64) -> usize {
        let hash = self.exact.hash(sub, path);
        let Some(cands) = self.exact.get_mut(hash, sub, path) else {
            return 0;
        };
        let removed = cands.remove(|e| e.seq == seq);
        if cands.is_empty() {
            self.exact.remove(hash, sub, path);
            if let Some(s) = self.sub_mut(sub) {
                s.exact = s.exact.saturating_sub(1);
            }
        }
        removed
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
        if let (Some(host), true) = (host, self.host_entries != 0) {
            let host = trim_host(host);
            let bytes = host.as_bytes();
            if let Some(&id) = self.hosts.get(TAG_EXACT, bytes) {
                if let Some(sub) = self.subs.get(id.wrapping_sub(FIRST_HOST) as usize) {
                    if let Some(m) = self.find_in(id, sub, path, &mut accept) {
                        return Some(m);
                    }
                }
            }
            if !self.wildcards.is_empty() {
                if let Some(m) = self.find_wildcard(bytes, path, &mut accept) {
                    return Some(m);
                }
            }
            if let Some(m) = self.find_in(ANY_HOST, &self.any, path, &mut accept) {
                return Some(m);
            }
        }
        self.find_in(NO_HOST, &self.none, path, &mut accept)
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
        self.wildcards.walk(&ReversedLower(host), &mut trail);
        while let Some((ids, _)) = trail.pop() {
            for &id in ids {
                let Some(sub) = self.subs.get(id.wrapping_sub(FIRST_HOST) as usize) else {
                    continue;
                };
                if let Some(m) = self.find_in(id, sub, path, accept) {
                    return Some(m);
                }
            }
        }
        None
    }

    #[inline]
    fn find_in<'a, F>(
        &'a self,
        id: u32,
        sub: &'a Sub<T>,
        path: &'a str,
        accept: &mut F,
    ) -> Option<Match<'a, T>>
    where
        F: FnMut(&T, &Params<'a>) -> bool,
    {
        if sub.is_empty() {
            return None;
        }
        let mut params = Params::new(path);
        if sub.exact != 0 {
            if let Some(cands) = self.exact.get(id, path.as_bytes()) {
                for e in cands.as_slice() {
                    if accept(&e.route, &params) {
                        return Some(Match {
                            route: &e.route,
                            params,
                        });
                    }
                }
            }
        }
        if sub.root.is_empty() {
            return None;
        }
        let mut trail = Trail::new();
        sub.root.walk(path.as_bytes(), &mut trail);
        while let Some((cands, pos)) = trail.pop() {
            for e in cands {
                params.clear();
                if let Some(tail) = &e.tail {
                    if !tail.matches(path, pos, &mut params) {
                        continue;
                    }
                }
                if accept(&e.route, &params) {
                    return Some(Match {
                        route: &e.route,
                        params,
                    });
                }
            }
        }
        None
    }
}
