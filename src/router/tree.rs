//! Byte-level compressed radix tree over static prefixes, persistent.
//!
//! Nodes live in blocks (`Arc<[Slot]>`). A node's children are an array
//! in a block: the child nodes in label order, then their candidates, so a
//! leaf costs no allocation of its own. A bulk build writes every tree of
//! a router into one shared block, children referenced by offset. An
//! insert or remove never writes to a shared block: it copies the arrays
//! on its path into small new blocks (path copying), whose nodes refer to
//! their children by an `Arc` of the block holding them. So a copy of a
//! tree shares all but O(depth) small arrays with the original.
//!
//! A lookup walks down once, reading one cache line per level and
//! recording every node that carries candidates, so they can then be tried
//! deepest (longest prefix) first.

use std::sync::Arc;

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

/// A candidate stored at a tree node (or an exact path).
pub(crate) trait Cand: Clone {
    /// Whether `self` is offered before `other`.
    fn before(&self, other: &Self) -> bool;
}

impl Cand for u32 {
    fn before(&self, other: &Self) -> bool {
        self < other
    }
}

/// The candidates of one key, in the order they are offered. One candidate
/// (the common case) is held inline.
#[derive(Clone, Default)]
pub(crate) enum Cands<E> {
    #[default]
    Empty,
    One(E),
    Many(Arc<[E]>),
}

impl<E: Cand> Cands<E> {
    /// Candidates from a list already in candidate order.
    pub(crate) fn from_vec(mut v: Vec<E>) -> Self {
        if v.len() > 1 {
            Self::Many(v.into())
        } else {
            v.pop().map_or(Self::Empty, Self::One)
        }
    }

    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[E] {
        match self {
            Self::Empty => &[],
            Self::One(e) => std::slice::from_ref(e),
            Self::Many(v) => v,
        }
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Adds `e` at its place in candidate order.
    pub(crate) fn insert(&mut self, e: E) {
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(e),
            Self::One(x) => {
                if e.before(&x) {
                    Self::Many(Arc::new([e, x]))
                } else {
                    Self::Many(Arc::new([x, e]))
                }
            }
            Self::Many(v) => {
                let at = v.iter().position(|x| e.before(x)).unwrap_or(v.len());
                let mut out = Vec::with_capacity(v.len() + 1);
                out.extend(v.iter().take(at).cloned());
                out.push(e);
                out.extend(v.iter().skip(at).cloned());
                Self::Many(out.into())
            }
        };
    }

    /// Removes the candidates satisfying `pred`; returns how many.
    pub(crate) fn remove(&mut self, pred: impl Fn(&E) -> bool) -> usize {
        let n = self.as_slice().iter().filter(|e| pred(e)).count();
        if n != 0 {
            let kept: Vec<E> = self
                .as_slice()
                .iter()
                .filter(|e| !pred(e))
                .cloned()
                .collect();
            *self = Self::from_vec(kept);
        }
        n
    }
}

/// Edge and label bytes kept inside the node, together.
const META_INLINE: usize = 22;

/// A length `0..=META_INLINE`, as an enum so that [`Meta`] has room for
/// its discriminant without growing.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Len {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    L16,
    L17,
    L18,
    L19,
    L20,
    L21,
    L22,
}

const LENS: [Len; META_INLINE + 1] = [
    Len::L0,
    Len::L1,
    Len::L2,
    Len::L3,
    Len::L4,
    Len::L5,
    Len::L6,
    Len::L7,
    Len::L8,
    Len::L9,
    Len::L10,
    Len::L11,
    Len::L12,
    Len::L13,
    Len::L14,
    Len::L15,
    Len::L16,
    Len::L17,
    Len::L18,
    Len::L19,
    Len::L20,
    Len::L21,
    Len::L22,
];

/// A node's edge and child labels in 24 bytes: inline when they fit
/// together, else shared on the heap as `edge length (u32 LE), edge,
/// labels`.
#[derive(Clone)]
enum Meta {
    Inline {
        edge: Len,
        labels: u8,
        buf: [u8; META_INLINE],
    },
    Heap(Arc<[u8]>),
}

impl Default for Meta {
    fn default() -> Self {
        Self::Inline {
            edge: Len::L0,
            labels: 0,
            buf: [0; META_INLINE],
        }
    }
}

impl Meta {
    fn new(edge: &[u8], labels: &[u8]) -> Self {
        let total = edge.len() + labels.len();
        match (LENS.get(edge.len()), u8::try_from(labels.len())) {
            (Some(&len), Ok(n)) if total <= META_INLINE => {
                let mut buf = [0; META_INLINE];
                if let Some(dst) = buf.get_mut(..edge.len()) {
                    dst.copy_from_slice(edge);
                }
                if let Some(dst) = buf.get_mut(edge.len()..total) {
                    dst.copy_from_slice(labels);
                }
                Self::Inline {
                    edge: len,
                    labels: n,
                    buf,
                }
            }
            _ => {
                let mut data = Vec::with_capacity(4 + total);
                data.extend_from_slice(&(edge.len() as u32).to_le_bytes());
                data.extend_from_slice(edge);
                data.extend_from_slice(labels);
                Self::Heap(data.into())
            }
        }
    }

    #[inline(always)]
    fn edge(&self) -> &[u8] {
        match self {
            Self::Inline { edge, buf, .. } => buf.get(..*edge as usize).unwrap_or(&[]),
            Self::Heap(data) => {
                let len = data
                    .first_chunk::<4>()
                    .map_or(0, |b| u32::from_le_bytes(*b));
                data.get(4..4 + len as usize).unwrap_or(&[])
            }
        }
    }

    #[inline(always)]
    fn labels(&self) -> &[u8] {
        match self {
            Self::Inline { edge, labels, buf } => {
                let start = *edge as usize;
                buf.get(start..start + *labels as usize).unwrap_or(&[])
            }
            Self::Heap(data) => {
                let len = data
                    .first_chunk::<4>()
                    .map_or(0, |b| u32::from_le_bytes(*b));
                data.get(4 + len as usize..).unwrap_or(&[])
            }
        }
    }
}

/// An element of a block: a node, or a candidate of a node.
#[derive(Clone)]
#[repr(align(64))]
pub(crate) enum Slot<E> {
    Node(Node<E>),
    Cand(E),
}

/// One tree node. The root's edge is the whole common prefix; any other
/// node is reached through its label byte (kept by its parent) and its edge
/// holds the bytes after that label. Every node but the root has
/// candidates or at least two children.
#[derive(Clone)]
pub(crate) struct Node<E> {
    meta: Meta,
    /// The block holding this node's child array; `None`: the block
    /// holding this node (or no children).
    block: Option<Arc<[Slot<E>]>>,
    /// Where the child array starts in that block.
    kids: u32,
    /// This node's candidates, in candidate order: slots
    /// `cands_start..cands_start + cands_len` of the block holding it.
    cands_start: u32,
    cands_len: u32,
}

impl<E> Node<E> {
    fn new(edge: &[u8], labels: &[u8]) -> Self {
        Self {
            meta: Meta::new(edge, labels),
            block: None,
            kids: 0,
            cands_start: 0,
            cands_len: 0,
        }
    }
}

impl<E> Drop for Node<E> {
    /// Frees deep chains of blocks without deep recursion.
    fn drop(&mut self) {
        let Some(mut first) = self.block.take() else {
            return;
        };
        if Arc::get_mut(&mut first).is_none() {
            return;
        }
        let mut stack = vec![first];
        while let Some(mut block) = stack.pop() {
            if let Some(slots) = Arc::get_mut(&mut block) {
                for slot in slots.iter_mut() {
                    if let Slot::Node(n) = slot {
                        if let Some(b) = n.block.take() {
                            stack.push(b);
                        }
                    }
                }
            }
        }
    }
}

/// A radix tree: its root node is `block[root]`.
pub(crate) struct Tree<E> {
    block: Option<Arc<[Slot<E>]>>,
    root: u32,
}

impl<E> Default for Tree<E> {
    fn default() -> Self {
        Self {
            block: None,
            root: 0,
        }
    }
}

impl<E> Clone for Tree<E> {
    /// A copy sharing every node with `self`.
    fn clone(&self) -> Self {
        Self {
            block: self.block.clone(),
            root: self.root,
        }
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

#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn as_node<E>(slot: Option<&Slot<E>>) -> Option<&Node<E>> {
    match slot? {
        Slot::Node(n) => Some(n),
        Slot::Cand(_) => None,
    }
}

/// A node with its candidates, detached from any block: what arrays are
/// unpacked into and packed from when they change.
struct Part<E> {
    node: Node<E>,
    cands: Vec<E>,
}

/// The `n` nodes at `block[start..]` with their candidates. Nodes whose
/// children sit in `block` now refer to it explicitly.
fn unpack<E: Clone>(block: &Arc<[Slot<E>]>, start: usize, n: usize) -> Vec<Part<E>> {
    let nodes = block.get(start..start + n).unwrap_or(&[]);
    nodes
        .iter()
        .filter_map(|s| match s {
            Slot::Node(node) => Some(node),
            Slot::Cand(_) => None,
        })
        .map(|node| {
            let from = node.cands_start as usize;
            let cands = block
                .get(from..from + node.cands_len as usize)
                .unwrap_or(&[])
                .iter()
                .filter_map(|s| match s {
                    Slot::Cand(e) => Some(e.clone()),
                    Slot::Node(_) => None,
                })
                .collect();
            let mut node = node.clone();
            if node.block.is_none() && !node.meta.labels().is_empty() {
                node.block = Some(block.clone());
            }
            Part { node, cands }
        })
        .collect()
}

/// A new block holding `parts`: the nodes, then their candidates.
fn pack<E>(parts: Vec<Part<E>>) -> Arc<[Slot<E>]> {
    let total = parts.len() + parts.iter().map(|p| p.cands.len()).sum::<usize>();
    let mut slots = Vec::with_capacity(total);
    let mut lists = Vec::with_capacity(parts.len());
    let mut offset = parts.len();
    for Part { mut node, cands } in parts {
        node.cands_start = offset as u32;
        node.cands_len = cands.len() as u32;
        offset += cands.len();
        slots.push(Slot::Node(node));
        lists.push(cands);
    }
    slots.extend(lists.into_iter().flatten().map(Slot::Cand));
    slots.into()
}

/// The children of a detached node (which refers to their block).
fn children_of<E: Clone>(part: &Part<E>) -> Vec<Part<E>> {
    match &part.node.block {
        Some(block) => unpack(
            block,
            part.node.kids as usize,
            part.node.meta.labels().len(),
        ),
        None => Vec::new(),
    }
}

/// Points a detached node at new children (`None`: none).
fn set_children<E>(part: &mut Part<E>, labels: &[u8], kids: Option<Arc<[Slot<E>]>>) {
    part.node.meta = Meta::new(part.node.meta.edge(), labels);
    part.node.block = kids;
    part.node.kids = 0;
}

/// Merges a detached node without candidates into its only child.
fn absorb_only_child<E: Clone>(part: &mut Part<E>) {
    let label = part.node.meta.labels().first().copied().unwrap_or(0);
    let Some(child) = children_of(part).into_iter().next() else {
        return;
    };
    let mut edge = part.node.meta.edge().to_vec();
    edge.push(label);
    edge.extend_from_slice(child.node.meta.edge());
    part.node.meta = Meta::new(&edge, child.node.meta.labels());
    part.node.block = child.node.block.clone();
    part.node.kids = child.node.kids;
    part.cands = child.cands;
}

/// A node under construction in [`TreeBuilder::add`].
struct Open<'k> {
    /// A key of this node's subtree (holds the node's edge bytes).
    key: &'k [u8],
    /// Position of the label byte (unused for the root).
    label_at: usize,
    /// End of this node's prefix.
    end: usize,
    /// Where this node's children start on the shared child stack.
    child_base: usize,
    /// This node's candidates (a range of the input).
    cands: (usize, usize),
}

/// Builds any number of trees into one block.
pub(crate) struct TreeBuilder<E> {
    slots: Vec<Slot<E>>,
}

impl<E: Cand> TreeBuilder<E> {
    pub(crate) fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Adds a tree of `recs`, sorted by key and then in candidate order;
    /// `entry` makes the candidate of a rec (none: skipped). Returns the
    /// root's index, or `None` for no recs.
    pub(crate) fn add<'k, R>(
        &mut self,
        recs: &'k [R],
        key: impl Fn(&'k R) -> &'k [u8],
        mut entry: impl FnMut(&R) -> Option<E>,
    ) -> Option<u32> {
        let (first, last) = (recs.first()?, recs.last()?);
        let slots = &mut self.slots;
        let root_end = common_prefix(key(first), key(last));
        if root_end == key(first).len() && root_end == key(last).len() {
            // One key (the common case of a host's own routes).
            let root = slots.len();
            let mut node = Node::new(key(first), &[]);
            node.cands_start = (root + 1) as u32;
            slots.push(Slot::Node(node));
            slots.extend(recs.iter().filter_map(&mut entry).map(Slot::Cand));
            let made = (slots.len() - root - 1) as u32;
            if let Some(Slot::Node(node)) = slots.get_mut(root) {
                node.cands_len = made;
            }
            return Some(root as u32);
        }
        let mut stack = vec![Open {
            key: key(first),
            label_at: 0,
            end: root_end,
            child_base: 0,
            cands: (0, 0),
        }];
        // (label, node, its candidates as a range of `recs`)
        type Done<E> = (u8, Node<E>, (usize, usize));
        let mut children: Vec<Done<E>> = Vec::new();
        let mut labels: Vec<u8> = Vec::new();
        // Appends the children from `base` on (then their candidates) to
        // the block; returns their labels and where they start.
        let mut place = |slots: &mut Vec<Slot<E>>, children: &mut Vec<Done<E>>, base: usize| {
            labels.clear();
            let start = slots.len();
            let n = children.len().saturating_sub(base);
            let mut cands = start + n;
            let mut ranges = Vec::with_capacity(n);
            for (label, mut node, (lo, hi)) in children.drain(base..) {
                node.cands_start = cands as u32;
                node.cands_len = (hi - lo) as u32;
                cands += hi - lo;
                labels.push(label);
                ranges.push((lo, hi));
                slots.push(Slot::Node(node));
            }
            for (i, (lo, hi)) in ranges.into_iter().enumerate() {
                let before = slots.len();
                slots.extend(
                    recs.get(lo..hi)
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(&mut entry)
                        .map(Slot::Cand),
                );
                // Fix the count should `entry` have skipped any.
                let made = (slots.len() - before) as u32;
                if let Some(Slot::Node(node)) = slots.get_mut(start + i) {
                    node.cands_start = before as u32;
                    node.cands_len = made;
                }
            }
            (Meta::new(&[], &labels), start as u32)
        };
        let mut finish = |slots: &mut Vec<Slot<E>>,
                          children: &mut Vec<Done<E>>,
                          open: Open<'k>,
                          is_root: bool| {
            let edge_start = if is_root { 0 } else { open.label_at + 1 };
            let edge = open.key.get(edge_start..open.end).unwrap_or(&[]);
            let mut node = Node::new(edge, &[]);
            if open.child_base < children.len() {
                let (meta, kids) = place(slots, children, open.child_base);
                node.meta = Meta::new(edge, meta.labels());
                node.kids = kids;
            }
            (node, open.cands)
        };
        let mut prev: Option<&'k [u8]> = None;
        let mut i = 0;
        while let Some(rec) = recs.get(i) {
            let k = key(rec);
            let run = recs
                .get(i..)
                .unwrap_or(&[])
                .iter()
                .take_while(|r| key(r) == k)
                .count();
            if let Some(p) = prev {
                let l = common_prefix(p, k);
                // Close the nodes below the shared prefix; split the one
                // the new key branches out of.
                while stack.len() > 1 {
                    let Some(top) = stack.pop() else { break };
                    if top.end <= l {
                        stack.push(top);
                        break;
                    }
                    let parent_end = stack.last().map_or(0, |p| p.end);
                    let label = top.key.get(top.label_at).copied().unwrap_or(0);
                    if parent_end >= l {
                        let (node, range) = finish(slots, &mut children, top, false);
                        children.push((label, node, range));
                        continue;
                    }
                    let mid = Open {
                        key: top.key,
                        label_at: top.label_at,
                        end: l,
                        child_base: top.child_base,
                        cands: (0, 0),
                    };
                    let inner_label = top.key.get(l).copied().unwrap_or(0);
                    let (node, range) =
                        finish(slots, &mut children, Open { label_at: l, ..top }, false);
                    children.push((inner_label, node, range));
                    stack.push(mid);
                    break;
                }
            }
            let top_end = stack.last().map_or(0, |t| t.end);
            if k.len() == top_end {
                if let Some(top) = stack.last_mut() {
                    top.cands = (i, i + run);
                }
            } else {
                stack.push(Open {
                    key: k,
                    label_at: top_end,
                    end: k.len(),
                    child_base: children.len(),
                    cands: (i, i + run),
                });
            }
            prev = Some(k);
            i += run;
        }
        while let Some(top) = stack.pop() {
            let is_root = stack.is_empty();
            let label = top.key.get(top.label_at).copied().unwrap_or(0);
            let (node, range) = finish(slots, &mut children, top, is_root);
            children.push((label, node, range));
            if is_root {
                break;
            }
        }
        let (_, root) = place(slots, &mut children, 0);
        Some(root)
    }

    /// The block holding every tree added.
    pub(crate) fn finish(self) -> Option<Arc<[Slot<E>]>> {
        (!self.slots.is_empty()).then(|| self.slots.into())
    }
}

/// One level of a path down a tree: the array holding the node
/// (`n` nodes at `block[start..]`) and the node's index in it.
struct Level<E> {
    block: Arc<[Slot<E>]>,
    start: usize,
    n: usize,
    index: usize,
}

impl<E: Cand> Tree<E> {
    /// The tree rooted at `block[root]`.
    pub(crate) fn new(block: Arc<[Slot<E>]>, root: u32) -> Self {
        Self {
            block: Some(block),
            root,
        }
    }

    /// True for a tree without candidates.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.block.is_none()
    }

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

    /// The levels down to the node whose prefix is `key`, or to the node
    /// where `key` leaves the tree. Then the key position after that
    /// node's edge; or, when `key` parts from the edge inside it, the
    /// position where the edge starts and how many bytes they share.
    fn path_to(&self, key: &[u8]) -> Option<(Vec<Level<E>>, usize, Option<usize>)> {
        let block = self.block.clone()?;
        let mut levels = vec![Level {
            block,
            start: self.root as usize,
            n: 1,
            index: 0,
        }];
        let mut pos = 0usize;
        loop {
            let level = levels.last()?;
            let node = as_node(level.block.get(level.start + level.index))?;
            let edge = node.meta.edge();
            let rest = key.get(pos..).unwrap_or(&[]);
            let common = common_prefix(edge, rest);
            if common < edge.len() {
                return Some((levels, pos, Some(common)));
            }
            pos += common;
            let Some(&byte) = key.get(pos) else {
                return Some((levels, pos, None));
            };
            let Ok(off) = node.meta.labels().binary_search(&byte) else {
                return Some((levels, pos, None));
            };
            let next = Level {
                block: node.block.clone().unwrap_or_else(|| level.block.clone()),
                start: node.kids as usize,
                n: node.meta.labels().len(),
                index: off,
            };
            levels.push(next);
            pos += 1;
        }
    }

    /// Replaces the array of the last level by `array`, then copies each
    /// array above to point at its new child array.
    fn rebuild(&mut self, mut levels: Vec<Level<E>>, mut array: Option<Arc<[Slot<E>]>>) {
        levels.pop();
        while let Some(level) = levels.pop() {
            let mut parts = unpack(&level.block, level.start, level.n);
            if let Some(part) = parts.get_mut(level.index) {
                part.node.block = array;
                part.node.kids = 0;
            }
            array = Some(pack(parts));
        }
        self.block = array;
        self.root = 0;
    }

    /// Adds candidate `e` under `key`, copying the arrays on its path.
    pub(crate) fn insert(&mut self, key: &[u8], e: E) {
        let Some((levels, pos, split)) = self.path_to(key) else {
            self.block = Some(pack(vec![Part {
                node: Node::new(key, &[]),
                cands: vec![e],
            }]));
            self.root = 0;
            return;
        };
        let Some(level) = levels.last() else {
            return;
        };
        let mut parts = unpack(&level.block, level.start, level.n);
        let Some(part) = parts.get_mut(level.index) else {
            return;
        };
        if let Some(common) = split {
            // Split: the node keeps the shared part of its edge; its old
            // contents move into a child.
            let rest = key.get(pos + common..).unwrap_or(&[]);
            let old_edge = part.node.meta.edge().to_vec();
            let label = old_edge.get(common).copied().unwrap_or(0);
            let mut moved = Part {
                node: part.node.clone(),
                cands: std::mem::take(&mut part.cands),
            };
            moved.node.meta = Meta::new(
                old_edge.get(common + 1..).unwrap_or(&[]),
                part.node.meta.labels(),
            );
            let mut kids = vec![(label, moved)];
            match rest.first() {
                None => part.cands.push(e),
                Some(&byte) => {
                    let leaf = Part {
                        node: Node::new(rest.get(1..).unwrap_or(&[]), &[]),
                        cands: vec![e],
                    };
                    kids.push((byte, leaf));
                    kids.sort_by_key(|k| k.0);
                }
            }
            let labels: Vec<u8> = kids.iter().map(|k| k.0).collect();
            part.node.meta = Meta::new(old_edge.get(..common).unwrap_or(&[]), &labels);
            part.node.block = Some(pack(kids.into_iter().map(|k| k.1).collect()));
            part.node.kids = 0;
        } else if let Some(&byte) = key.get(pos) {
            let rest = key.get(pos..).unwrap_or(&[]);
            // A new child.
            let mut kids = children_of(part);
            let mut labels = part.node.meta.labels().to_vec();
            let at = labels.partition_point(|&l| l < byte);
            labels.insert(at, byte);
            kids.insert(
                at.min(kids.len()),
                Part {
                    node: Node::new(rest.get(1..).unwrap_or(&[]), &[]),
                    cands: vec![e],
                },
            );
            set_children(part, &labels, Some(pack(kids)));
        } else {
            let at = part
                .cands
                .iter()
                .position(|x| e.before(x))
                .unwrap_or(part.cands.len());
            part.cands.insert(at, e);
        }
        let array = pack(parts);
        self.rebuild(levels, Some(array));
    }

    /// Removes the candidates under `key` that satisfy `pred`, copying the
    /// arrays on its path; returns how many were removed.
    pub(crate) fn remove(&mut self, key: &[u8], pred: impl Fn(&E) -> bool) -> usize {
        let Some((mut levels, pos, split)) = self.path_to(key) else {
            return 0;
        };
        if split.is_some() || pos != key.len() {
            return 0;
        }
        let Some(level) = levels.last() else {
            return 0;
        };
        let mut parts = unpack(&level.block, level.start, level.n);
        let index = level.index;
        let Some(part) = parts.get_mut(index) else {
            return 0;
        };
        let before = part.cands.len();
        part.cands.retain(|e| !pred(e));
        let removed = before - part.cands.len();
        if removed == 0 {
            return 0;
        }
        if !part.cands.is_empty() || part.node.meta.labels().len() >= 2 {
            let array = pack(parts);
            self.rebuild(levels, Some(array));
            return removed;
        }
        if part.node.meta.labels().len() == 1 {
            absorb_only_child(part);
            let array = pack(parts);
            self.rebuild(levels, Some(array));
            return removed;
        }
        // The node is left empty: drop it from its parent.
        if levels.len() == 1 {
            *self = Self::default();
            return removed;
        }
        parts.remove(index);
        let kids = (!parts.is_empty()).then(|| pack(parts));
        levels.pop();
        let Some(level) = levels.last() else {
            return removed;
        };
        let mut parents = unpack(&level.block, level.start, level.n);
        let is_root = levels.len() == 1;
        let Some(parent) = parents.get_mut(level.index) else {
            return removed;
        };
        let mut labels = parent.node.meta.labels().to_vec();
        if index < labels.len() {
            labels.remove(index);
        }
        set_children(parent, &labels, kids);
        if parent.cands.is_empty() {
            match labels.len() {
                0 if is_root => {
                    *self = Self::default();
                    return removed;
                }
                1 => absorb_only_child(parent),
                _ => {}
            }
        }
        let array = pack(parents);
        self.rebuild(levels, Some(array));
        removed
    }
}

#[cfg(test)]
impl<E: Cand> Tree<E> {
    /// Checks the shape invariants; returns the number of nodes.
    pub(crate) fn check_shape(&self) -> usize {
        let Some(block) = &self.block else {
            return 0;
        };
        check_node(block, self.root as usize, true)
    }
}

#[cfg(test)]
fn check_node<E>(block: &Arc<[Slot<E>]>, index: usize, is_root: bool) -> usize {
    let node = as_node(block.get(index));
    assert!(node.is_some(), "not a node at {index}");
    let Some(n) = node else {
        return 0;
    };
    let start = n.cands_start as usize;
    for i in start..start + n.cands_len as usize {
        assert!(
            matches!(block.get(i), Some(Slot::Cand(_))),
            "bad candidate slot"
        );
    }
    let labels = n.meta.labels();
    assert!(
        labels.windows(2).all(|w| w[0] < w[1]),
        "labels out of order"
    );
    assert!(
        n.cands_len > 0 || labels.len() >= 2,
        "pass-through node (root: {is_root})"
    );
    let kids = n.block.as_ref().unwrap_or(block);
    let mut count = 1;
    for i in 0..labels.len() {
        count += check_node(kids, n.kids as usize + i, false);
    }
    count
}
