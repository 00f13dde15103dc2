//! Persistent edits: [`Tree::insert`] and [`Tree::remove`] copy the child
//! arrays on the key's path into new blocks (path copying), detaching
//! nodes into [`Part`]s and packing them back.

use std::sync::Arc;

use super::{as_node, common_prefix, Cand, Meta, Node, Slot, Tree};

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

/// One level of a path down a tree: the array holding the node
/// (`n` nodes at `block[start..]`) and the node's index in it.
struct Level<E> {
    block: Arc<[Slot<E>]>,
    start: usize,
    n: usize,
    index: usize,
}

impl<E: Cand> Tree<E> {
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
