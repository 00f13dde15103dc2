//! Captured path parameters and the match result handed back by `find`.

use std::fmt;
use std::sync::Arc;

/// Parameters kept inline before spilling to the heap.
const INLINE: usize = 4;

#[derive(Clone, Copy)]
struct Param<'a> {
    name: &'a str,
    start: usize,
    end: usize,
}

const EMPTY: Param<'static> = Param {
    name: "",
    start: 0,
    end: 0,
};

/// Path parameters captured by a `:name` or `*name` segment.
///
/// Stores `(name, byte range)` pairs: names borrow from the router, values
/// from the request path. Up to four are held inline, so matching does not
/// allocate for ordinary routes.
#[derive(Clone)]
pub struct Params<'a> {
    path: &'a str,
    len: usize,
    inline: [Param<'a>; INLINE],
    spill: Vec<Param<'a>>,
}

impl<'a> Params<'a> {
    #[inline]
    pub(crate) fn new(path: &'a str) -> Self {
        Self {
            path,
            len: 0,
            inline: [EMPTY; INLINE],
            spill: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    #[inline]
    pub(crate) fn push(&mut self, name: &'a str, start: usize, end: usize) {
        let p = Param { name, start, end };
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = p;
        } else {
            self.spill.push(p);
        }
        self.len += 1;
    }

    fn all(&self) -> impl Iterator<Item = &Param<'a>> {
        self.inline
            .iter()
            .take(self.len.min(INLINE))
            .chain(self.spill.iter())
    }

    /// Number of captured parameters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the matched route captured nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The request path the values were captured from.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// Value of the first parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let path = self.path;
        self.all()
            .find(|p| p.name == name)
            .and_then(|p| path.get(p.start..p.end))
    }

    /// `(name, value)` pairs in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let path = self.path;
        self.all()
            .map(move |p| (p.name, path.get(p.start..p.end).unwrap_or("")))
    }

    /// `(name, byte range in the path)` pairs in pattern order.
    pub fn ranges(&self) -> impl Iterator<Item = (&'a str, std::ops::Range<usize>)> + '_ {
        self.all().map(|p| (p.name, p.start..p.end))
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A route accepted by [`Router::find`](super::Router::find).
pub struct Match<'a, T> {
    /// The route's payload, borrowed from the router (clone it to keep it).
    pub route: &'a Arc<T>,
    /// Parameters captured from the path.
    pub params: Params<'a>,
}

impl<T: fmt::Debug> fmt::Debug for Match<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Match")
            .field("route", &self.route)
            .field("params", &self.params)
            .finish()
    }
}
