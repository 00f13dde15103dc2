//! Searching a tree: the keys a walk reads ([`WalkKey`], including the
//! reversed Host of [`ReversedLower`]), the [`Trail`] of candidate lists
//! met on the way down, and [`Tree::walk`] itself.

use super::{Cand, Slot, Tree};

/// What a tree walk reads: a request path, or a Host read backwards.
pub(crate) trait WalkKey {
    /// The byte at `i`, if in range.
    fn byte(&self, i: usize) -> Option<u8>;
    /// Whether the bytes from `pos` on start with `edge`.
    fn matches_at(&self, pos: usize, edge: &[u8]) -> bool;
}

impl WalkKey for [u8] {
    #[inline(always)]
    fn byte(&self, i: usize) -> Option<u8> {
        self.get(i).copied()
    }

    #[inline(always)]
    fn matches_at(&self, pos: usize, edge: &[u8]) -> bool {
        // Edges are short: a plain loop beats a memcmp call here.
        self.get(pos..pos + edge.len())
            .is_some_and(|seen| edge.iter().zip(seen).all(|(a, b)| a == b))
    }
}

/// A host name read from its last byte to its first, ASCII-lower-cased, so
/// wildcard suffixes can be looked up as prefixes without copying.
pub(crate) struct ReversedLower<'a>(pub(crate) &'a [u8]);

impl WalkKey for ReversedLower<'_> {
    #[inline(always)]
    fn byte(&self, i: usize) -> Option<u8> {
        let last = self.0.len().checked_sub(i + 1)?;
        self.0.get(last).map(u8::to_ascii_lowercase)
    }

    #[inline(always)]
    fn matches_at(&self, pos: usize, edge: &[u8]) -> bool {
        let Some(end) = self.0.len().checked_sub(pos + edge.len()) else {
            return false;
        };
        let Some(seen) = self.0.get(end..end + edge.len()) else {
            return false;
        };
        edge.iter()
            .zip(seen.iter().rev())
            .all(|(a, b)| *a == b.to_ascii_lowercase())
    }
}

/// Candidate lists met on the way down, as `(slots holding candidates,
/// path position after the node's prefix)`. Inline for ordinary depths;
/// spills beyond that.
pub(crate) struct Trail<'a, E> {
    len: usize,
    inline: [(&'a [Slot<E>], usize); TRAIL_INLINE],
    spill: Vec<(&'a [Slot<E>], usize)>,
}

const TRAIL_INLINE: usize = 16;

impl<'a, E> Trail<'a, E> {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            inline: [(&[], 0); TRAIL_INLINE],
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, cands: &'a [Slot<E>], pos: usize) {
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = (cands, pos);
        } else {
            self.spill.push((cands, pos));
        }
        self.len += 1;
    }

    /// Pops the deepest remaining node's candidates.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(impl Iterator<Item = &'a E>, usize)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let (slots, pos) = if self.len >= TRAIL_INLINE {
            self.spill.pop()?
        } else {
            *self.inline.get(self.len)?
        };
        let cands = slots.iter().filter_map(|s| match s {
            Slot::Cand(e) => Some(e),
            Slot::Node(_) => None,
        });
        Some((cands, pos))
    }
}

impl<E: Cand> Tree<E> {
    /// Walks along `path`, recording nodes that hold candidates.
    #[inline]
    pub(crate) fn walk<'a, K: WalkKey + ?Sized>(&'a self, path: &K, trail: &mut Trail<'a, E>) {
        let Some(top) = &self.block else {
            return;
        };
        let mut block: &'a [Slot<E>] = top;
        let mut index = self.root as usize;
        let mut pos = 0usize;
        while let Some(Slot::Node(node)) = block.get(index) {
            let edge = node.meta.edge();
            if !edge.is_empty() {
                if !path.matches_at(pos, edge) {
                    return;
                }
                pos += edge.len();
            }
            if node.cands_len != 0 {
                let start = node.cands_start as usize;
                if let Some(cands) = block.get(start..start + node.cands_len as usize) {
                    trail.push(cands, pos);
                }
            }
            let Some(byte) = path.byte(pos) else {
                return;
            };
            let labels = node.meta.labels();
            let found = if labels.len() <= 16 {
                labels.iter().position(|&l| l == byte)
            } else {
                labels.binary_search(&byte).ok()
            };
            let Some(off) = found else {
                return;
            };
            if let Some(next) = &node.block {
                block = next;
            }
            index = node.kids as usize + off;
            pos += 1;
        }
    }
}
