//! Smooth weighted round robin (`roundrobin`).
//!
//! The order is nginx's smooth weighted round robin: every step each node's
//! running score grows by its weight, the node with the highest score is
//! chosen and the total weight is subtracted from its score. Weights 5/1/1
//! give `a a b a c a a`: heavy nodes are interleaved with light ones instead
//! of being served in bursts.
//!
//! The whole cycle is computed once when the balancer is built (its length is
//! the sum of the weights divided by their gcd, weights being scaled down
//! proportionally when that exceeds [`MAX_SEQUENCE`]). A pick is then one
//! atomic increment of a shared cursor. Unavailable entries are skipped and
//! the cursor is advanced past them too, so the share of an unavailable node
//! is spread over the others in weight proportion instead of all landing on
//! the entry that happens to follow it.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{gcd, memo_candidates, AvailMemo};

/// Longest precomputed cycle; larger weight sums are scaled down to fit
/// (every non-zero weight keeps at least 1).
pub(crate) const MAX_SEQUENCE: u64 = 4096;

/// Smooth weighted round robin over tier-local node indices.
#[derive(Debug)]
pub(crate) struct RoundRobin {
    sequence: Vec<u32>,
    cursor: AtomicUsize,
    pickable: usize,
    node_count: usize,
}

impl RoundRobin {
    /// Precomputes the cycle for `weights` (index = tier-local node index).
    pub(crate) fn new(weights: &[u32]) -> RoundRobin {
        let reduced = reduce_weights(weights);
        let sequence = smooth_sequence(&reduced);
        // Start each balancer at a random point of the cycle so that many
        // gateway processes rebuilt at the same moment do not all begin by
        // sending to the same node.
        let start = if sequence.is_empty() {
            0
        } else {
            fastrand::usize(..sequence.len())
        };
        RoundRobin {
            sequence,
            cursor: AtomicUsize::new(start),
            pickable: weights.iter().filter(|&&w| w > 0).count(),
            node_count: weights.len(),
        }
    }

    /// Next available node in the cycle, or `None` when none is available.
    pub(crate) fn pick(&self, available: &dyn Fn(usize) -> bool) -> Option<usize> {
        let len = self.sequence.len();
        if len == 0 {
            return None;
        }
        let base = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
        let mut memo = AvailMemo::new(available);
        let candidates = memo_candidates(self.pickable, self.node_count);
        for skipped in 0..len {
            let node = self.sequence[(base + skipped) % len] as usize;
            if memo.check(node) {
                if skipped > 0 {
                    self.cursor.fetch_add(skipped, Ordering::Relaxed);
                }
                return Some(node);
            }
            if memo.exhausted(candidates) {
                return None;
            }
        }
        None
    }

    #[cfg(test)]
    pub(crate) fn sequence(&self) -> &[u32] {
        &self.sequence
    }
}

/// Divides the weights by their gcd and, if the cycle would still be longer
/// than [`MAX_SEQUENCE`], scales them down proportionally (non-zero ones stay
/// at least 1).
pub(crate) fn reduce_weights(weights: &[u32]) -> Vec<u64> {
    let g = weights.iter().fold(0u64, |g, &w| gcd(g, u64::from(w)));
    if g == 0 {
        return vec![0; weights.len()];
    }
    let mut reduced: Vec<u64> = weights.iter().map(|&w| u64::from(w) / g).collect();
    let total: u64 = reduced.iter().sum();
    if total > MAX_SEQUENCE {
        for w in reduced.iter_mut() {
            if *w > 0 {
                *w = (*w * MAX_SEQUENCE / total).max(1);
            }
        }
        let g = reduced.iter().fold(0u64, |g, &w| gcd(g, w));
        if g > 1 {
            for w in reduced.iter_mut() {
                *w /= g;
            }
        }
    }
    reduced
}

/// One full smooth weighted round robin cycle.
fn smooth_sequence(weights: &[u64]) -> Vec<u32> {
    let total: u64 = weights.iter().sum();
    let total_i = i64::try_from(total).unwrap_or(i64::MAX);
    let len = usize::try_from(total).unwrap_or(0);
    let mut current = vec![0i64; weights.len()];
    let mut sequence = Vec::with_capacity(len);
    for _ in 0..len {
        let mut best: Option<usize> = None;
        for (i, &w) in weights.iter().enumerate() {
            if w == 0 {
                continue;
            }
            current[i] += i64::try_from(w).unwrap_or(i64::MAX);
            match best {
                Some(b) if current[b] >= current[i] => {}
                _ => best = Some(i),
            }
        }
        let Some(b) = best else {
            break;
        };
        current[b] -= total_i;
        sequence.push(u32::try_from(b).unwrap_or(u32::MAX));
    }
    sequence
}
