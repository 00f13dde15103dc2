//! The bulk build, [`Router::build`]: one pass over the specs collects
//! host levels, exact-path and tree records into flat arenas, which are then
//! sorted and turned into the hash tables and radix trees in bulk.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use super::entry::{Entry, Locs, RouteRec, Sub, Subs, TAG_NONE};
use super::error::{to_u32, RouterError};
use super::hash::{key_hash, random_seed, FastState, StrTable};
use super::host::{classify_host, HostKind};
use super::pattern::{compile, Compiled, Tail};
use super::tree::{Cands, Tree, TreeBuilder};
use super::{RouteSpec, Router, ANY_HOST, FIRST_HOST, NO_HOST, TAG_EXACT, TAG_WILD};

/// Tail id meaning "no dynamic part" while building.
const NO_TAIL: u32 = u32::MAX;

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

impl<T> Router<T> {
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
}
