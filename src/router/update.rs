//! The incremental [`Router::update`]: adding a route to and taking one
//! out of a persistent router, copying only what changes.

use std::collections::HashSet;
use std::sync::Arc;

use super::entry::{Entry, Locs, LocsReader, RouteRec, Sub, TAG_NONE};
use super::error::{to_u32, RouterError};
use super::host::{parse_host, HostPattern};
use super::pattern::{compile, Compiled};
use super::tree::Cands;
use super::{RouteSpec, Router, ANY_HOST, FIRST_HOST, NO_HOST, TAG_EXACT, TAG_WILD};

/// The distinct uris of a spec, sorted (their position is the uri rank).
fn sorted_uris(uris: &[String]) -> Vec<&str> {
    let mut uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    uris.sort_unstable();
    uris.dedup();
    uris
}

impl<T> Router<T> {
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
}
