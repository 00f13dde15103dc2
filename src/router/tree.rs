//! Byte-level compressed radix tree over static prefixes, stored in flat
//! arenas. Built in one pass from sorted keys; a lookup walks down once,
//! recording every node that carries routes, so candidates can then be
//! tried deepest (longest static prefix) first.

use super::error::{to_u32, RouterError};

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

/// One route reference stored at an exact path or a tree node.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    /// Index into the router's payloads.
    pub(crate) route: u32,
    /// Tail to check against the rest of the path, or `NO_TAIL`.
    pub(crate) tail: u32,
}

/// Edges up to this many bytes are stored inside the node itself.
const INLINE_EDGE: usize = 8;

#[derive(Clone, Copy, Default)]
struct Node {
    /// Edge bytes after the label byte (the whole prefix for a root): the
    /// bytes themselves when `edge_len <= INLINE_EDGE`, else the offset of
    /// the bytes in `Tree::bytes`.
    edge: [u8; INLINE_EDGE],
    edge_len: u32,
    /// Children occupy `nodes[children_start..children_start + children_len]`
    /// and their label bytes `labels[..]` at the same indices, ascending.
    children_start: u32,
    children_len: u32,
    /// This node's routes in `entries`, already in candidate order.
    entries_start: u32,
    entries_len: u32,
}

/// A key to insert: the static prefix and its entry. Input to
/// [`Tree::build`] must be sorted by key, then by candidate order.
pub(crate) struct TreeKey<'s> {
    pub(crate) key: &'s [u8],
    pub(crate) entry: Entry,
}

/// All radix trees of one router (one root per host sub-index).
#[derive(Default)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    labels: Vec<u8>,
    bytes: Vec<u8>,
}

/// Nodes with routes met on the way down, as `(node, path position after
/// the node's prefix)`. Inline for ordinary depths; spills beyond that.
pub(crate) struct Trail {
    len: usize,
    inline: [(u32, usize); TRAIL_INLINE],
    spill: Vec<(u32, usize)>,
}

const TRAIL_INLINE: usize = 16;

impl Trail {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            inline: [(0, 0); TRAIL_INLINE],
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, node: u32, pos: usize) {
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = (node, pos);
        } else {
            self.spill.push((node, pos));
        }
        self.len += 1;
    }

    /// Pops the deepest remaining node.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(u32, usize)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        if self.len >= TRAIL_INLINE {
            self.spill.pop()
        } else {
            self.inline.get(self.len).copied()
        }
    }
}

#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Tree {
    /// Builds a tree from `keys` (sorted, non-empty), appending node entries
    /// to `entries`; returns the root node.
    pub(crate) fn build(
        &mut self,
        keys: &[TreeKey<'_>],
        entries: &mut Vec<Entry>,
    ) -> Result<u32, RouterError> {
        let root = to_u32(self.nodes.len())?;
        self.nodes.push(Node::default());
        self.labels.push(0);
        // (node slot, range in keys, depth already consumed by ancestors)
        let mut work: Vec<(usize, usize, usize, usize)> = vec![(root as usize, 0, keys.len(), 0)];
        while let Some((slot, lo, hi, depth)) = work.pop() {
            let Some(group) = keys.get(lo..hi) else {
                continue;
            };
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let a = first.key.get(depth..).unwrap_or(&[]);
            let b = last.key.get(depth..).unwrap_or(&[]);
            let end = depth + common_prefix(a, b);

            // Children are reached through their label byte, so they store
            // only the rest of their edge.
            let skip = usize::from(slot != root as usize);
            let edge_bytes = a.get(skip..end - depth).unwrap_or(&[]);
            let edge_len = to_u32(edge_bytes.len())?;
            let mut edge = [0u8; INLINE_EDGE];
            if edge_bytes.len() <= INLINE_EDGE {
                edge[..edge_bytes.len()].copy_from_slice(edge_bytes);
            } else {
                edge[..4].copy_from_slice(&to_u32(self.bytes.len())?.to_le_bytes());
                self.bytes.extend_from_slice(edge_bytes);
                to_u32(self.bytes.len())?;
            }

            // Keys equal to the prefix sort first: they are this node's routes.
            let here = group.iter().take_while(|k| k.key.len() == end).count();
            let entries_start = to_u32(entries.len())?;
            entries.extend(group.iter().take(here).map(|k| k.entry));
            let entries_len = to_u32(here)?;

            // Remaining keys grouped by their next byte become children,
            // allocated contiguously.
            let children_start = to_u32(self.nodes.len())?;
            let mut i = here;
            while let Some(k) = group.get(i) {
                let Some(&label) = k.key.get(end) else {
                    i += 1;
                    continue;
                };
                let run = group
                    .get(i..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|k| k.key.get(end) == Some(&label))
                    .count();
                work.push((self.nodes.len(), lo + i, lo + i + run, end));
                self.nodes.push(Node::default());
                self.labels.push(label);
                i += run;
            }
            let children_len = to_u32(self.nodes.len())? - children_start;
            if let Some(node) = self.nodes.get_mut(slot) {
                *node = Node {
                    edge,
                    edge_len,
                    children_start,
                    children_len,
                    entries_start,
                    entries_len,
                };
            }
        }
        Ok(root)
    }

    /// Walks from `root` along `path`, recording nodes that hold routes.
    #[inline]
    pub(crate) fn walk<K: WalkKey + ?Sized>(&self, root: u32, path: &K, trail: &mut Trail) {
        let mut index = root as usize;
        let mut pos = 0usize;
        while let Some(node) = self.nodes.get(index) {
            let len = node.edge_len as usize;
            if len != 0 {
                let edge = if len <= INLINE_EDGE {
                    node.edge.get(..len).unwrap_or(&[])
                } else {
                    let [a, b, c, d, ..] = node.edge;
                    let start = u32::from_le_bytes([a, b, c, d]) as usize;
                    self.bytes.get(start..start + len).unwrap_or(&[])
                };
                if !path.matches_at(pos, edge) {
                    return;
                }
                pos += len;
            }
            if node.entries_len != 0 {
                trail.push(index as u32, pos);
            }
            let Some(byte) = path.byte(pos) else {
                return;
            };
            let cs = node.children_start as usize;
            let Some(labels) = self.labels.get(cs..cs + node.children_len as usize) else {
                return;
            };
            let found = if labels.len() <= 16 {
                labels.iter().position(|&l| l == byte)
            } else {
                labels.binary_search(&byte).ok()
            };
            match found {
                Some(off) => {
                    index = cs + off;
                    pos += 1;
                }
                None => return,
            }
        }
    }

    /// The entry range of `node`, as `(start, len)` into the entries arena.
    #[inline]
    pub(crate) fn entries(&self, node: u32) -> (usize, usize) {
        self.nodes.get(node as usize).map_or((0, 0), |n| {
            (n.entries_start as usize, n.entries_len as usize)
        })
    }

    /// Number of nodes across all trees.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}
