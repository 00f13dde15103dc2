//! Lookup, [`Router::find`]: the host levels in precedence order, and
//! within a level the exact path, then the tree candidates deepest first.

use super::entry::Sub;
use super::host::trim_host;
use super::params::{Match, Params};
use super::tree::{ReversedLower, Trail};
use super::{Router, ANY_HOST, FIRST_HOST, NO_HOST, TAG_EXACT};

impl<T> Router<T> {
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
