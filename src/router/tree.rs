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
//!
//! This file holds the node storage (blocks, nodes, their packed
//! edge/label bytes, the tree handle); `cands` the candidate lists,
//! `walk` the lookup walk, `builder` the bulk build into one block, and
//! `edit` the path-copying insert and remove.

use std::sync::Arc;

mod builder;
mod cands;
mod edit;
mod walk;

pub(crate) use builder::TreeBuilder;
pub(crate) use cands::{Cand, Cands};
pub(crate) use walk::{ReversedLower, Trail};

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
