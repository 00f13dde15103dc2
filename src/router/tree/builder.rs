//! Bulk build: [`TreeBuilder`] writes trees from sorted records into one
//! shared block, children referenced by offset.

use std::sync::Arc;

use super::{common_prefix, Cand, Meta, Node, Slot};

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
