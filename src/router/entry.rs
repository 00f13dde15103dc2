//! What the index stores per route: the indexed [`Entry`] of one
//! (host, uri) pair and its candidate order, the per-host-level [`Sub`]
//! indexes and their persistent vector [`Subs`], and the route table's
//! [`RouteRec`] with the [`Locs`] bytes recording where a route's entries
//! sit so they can be taken out again.

use std::cmp::Reverse;
use std::sync::Arc;

use super::error::{to_u32, RouterError};
use super::pattern::Tail;
use super::tree::{Cand, Tree};

/// One indexed (host, uri) pair of a route.
pub(crate) struct Entry<T> {
    pub(super) route: Arc<T>,
    /// Dynamic part to check after the static prefix, if any.
    pub(super) tail: Option<Arc<Tail>>,
    pub(super) priority: i64,
    pub(super) order: u64,
    /// Position of the route in the (virtual) build input: ties go to the
    /// earlier route.
    pub(super) seq: u64,
    /// Position of the uri among the route's sorted, distinct uris.
    pub(super) uri: u32,
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
pub(super) struct Sub<T> {
    /// Prefix and parameter patterns.
    pub(super) root: Tree<Entry<T>>,
    /// Number of exact paths in the router's exact table under this level.
    pub(super) exact: u32,
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
    pub(super) fn is_empty(&self) -> bool {
        self.exact == 0 && self.root.is_empty()
    }
}

/// Subs per shared chunk of [`Subs`].
const CHUNK: usize = 128;

/// Persistent vector of the named hosts' levels, in `Arc`'d chunks.
pub(super) struct Subs<T> {
    chunks: Vec<Arc<[Sub<T>; CHUNK]>>,
    pub(super) len: usize,
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
    pub(super) fn new() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }

    pub(super) fn from_vec(subs: Vec<Sub<T>>) -> Self {
        let len = subs.len();
        let mut it = subs.into_iter();
        let chunks = (0..len.div_ceil(CHUNK))
            .map(|_| Arc::new(std::array::from_fn(|_| it.next().unwrap_or_default())))
            .collect();
        Self { chunks, len }
    }

    #[inline(always)]
    pub(super) fn get(&self, i: usize) -> Option<&Sub<T>> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Sub<T>> {
        Arc::make_mut(self.chunks.get_mut(i / CHUNK)?).get_mut(i % CHUNK)
    }

    pub(super) fn push(&mut self) {
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
pub(super) struct RouteRec {
    pub(super) seq: u64,
}

/// Host tag of a location without a host name (no host, or `*`).
pub(super) const TAG_NONE: u8 = u8::MAX;

/// Where a route's entries sit, to take them out again, as bytes:
/// `n`, then per host level `sub: u32, tag: u8, len: u32, name`; then `m`,
/// then per distinct uri `in_tree: u8, len: u32, exact path or tree key`.
#[derive(Default)]
pub(super) struct Locs(pub(super) Vec<u8>);

impl Locs {
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn bytes(&mut self, b: &[u8]) -> Result<(), RouterError> {
        self.u32(to_u32(b.len())?);
        self.0.extend_from_slice(b);
        Ok(())
    }
}

/// Reads [`Locs`] bytes.
pub(super) struct LocsReader<'b>(pub(super) &'b [u8]);

impl<'b> LocsReader<'b> {
    pub(super) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*head))
    }

    pub(super) fn bytes(&mut self) -> Option<&'b [u8]> {
        let len = self.u32()? as usize;
        let b = self.0.get(..len)?;
        self.0 = self.0.get(len..)?;
        Some(b)
    }
}
