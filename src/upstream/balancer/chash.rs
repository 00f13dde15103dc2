//! Consistent hashing (`chash`).
//!
//! Each node owns [`POINTS_PER_WEIGHT`] points on a 32-bit ring per unit of
//! weight (weights first divided by their gcd, as APISIX does; the total is
//! capped at [`MAX_POINTS`]). A node's points are derived only from its own
//! stable key, so adding or removing a node moves just the keys that land on
//! that node's arcs. A request key is hashed onto the ring and served by the
//! first point at or after it (binary search on the sorted ring).
//!
//! When that node is unavailable for the attempt, the walk continues clockwise
//! to the next point of an available node: the fallback is deterministic, so
//! the same key's retries move to the same different node every time.
//!
//! Without a key the picker uses smooth weighted round robin over the same
//! weights.

use super::roundrobin::RoundRobin;
use super::{fold32, gcd, hash_bytes, memo_candidates, mix64, AvailMemo};

/// Ring points per unit of (gcd-reduced) weight, as in lua-resty-balancer.
pub(crate) const POINTS_PER_WEIGHT: u64 = 160;

/// Upper bound on ring points for one tier (1024 weight units' worth).
pub(crate) const MAX_POINTS: u64 = POINTS_PER_WEIGHT * 1024;

/// A consistent hash ring over tier-local node indices.
#[derive(Debug)]
pub(crate) struct Chash {
    /// `(point hash, tier-local node)`, sorted by hash.
    ring: Vec<(u32, u32)>,
    /// Number of distinct nodes owning at least one point.
    pickable: usize,
    node_count: usize,
    keyless: RoundRobin,
}

impl Chash {
    /// Builds the ring; `keys[i]` and `weights[i]` describe tier-local node `i`.
    pub(crate) fn new(keys: &[u64], weights: &[u32]) -> Chash {
        let points = points_per_node(weights);
        let total: u64 = points.iter().sum();
        let mut ring: Vec<(u32, u64, u32)> =
            Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for (i, (&key, &count)) in keys.iter().zip(points.iter()).enumerate() {
            let Ok(node) = u32::try_from(i) else {
                break;
            };
            for j in 0..count {
                ring.push((point_hash(key, j), key, node));
            }
        }
        // Ties on the hash are broken by node key, not by list position, so
        // the ring does not depend on the order nodes are configured in.
        ring.sort_unstable();
        Chash {
            ring: ring.into_iter().map(|(h, _, node)| (h, node)).collect(),
            pickable: points.iter().filter(|&&p| p > 0).count(),
            node_count: weights.len(),
            keyless: RoundRobin::new(weights),
        }
    }

    /// The node serving `hash_key`, walking past unavailable nodes.
    pub(crate) fn pick(
        &self,
        hash_key: Option<&[u8]>,
        available: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let Some(key) = hash_key else {
            return self.keyless.pick(available);
        };
        let len = self.ring.len();
        if len == 0 {
            return None;
        }
        let h = fold32(hash_bytes(key));
        let start = self.ring.partition_point(|&(p, _)| p < h);
        let mut memo = AvailMemo::new(available);
        let candidates = memo_candidates(self.pickable, self.node_count);
        for step in 0..len {
            let node = self.ring[(start + step) % len].1 as usize;
            if memo.check(node) {
                return Some(node);
            }
            if memo.exhausted(candidates) {
                return None;
            }
        }
        None
    }

    #[cfg(test)]
    pub(crate) fn ring_len(&self) -> usize {
        self.ring.len()
    }
}

/// Ring points for each node: weight / gcd × [`POINTS_PER_WEIGHT`], scaled
/// down to fit [`MAX_POINTS`] (a node with a non-zero weight keeps at least
/// one point).
fn points_per_node(weights: &[u32]) -> Vec<u64> {
    let g = weights.iter().fold(0u64, |g, &w| gcd(g, u64::from(w)));
    if g == 0 {
        return vec![0; weights.len()];
    }
    let mut points: Vec<u64> = weights
        .iter()
        .map(|&w| u64::from(w) / g * POINTS_PER_WEIGHT)
        .collect();
    let total: u64 = points.iter().sum();
    if total > MAX_POINTS {
        for p in points.iter_mut() {
            if *p > 0 {
                let scaled = u128::from(*p) * u128::from(MAX_POINTS) / u128::from(total);
                *p = u64::try_from(scaled).unwrap_or(MAX_POINTS).max(1);
            }
        }
    }
    points
}

/// Position of point `index` of the node with `key`. Depends on nothing else,
/// so a node's first `n` points are the same whatever its total.
fn point_hash(key: u64, index: u64) -> u32 {
    let salt = (index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    fold32(mix64(key ^ mix64(salt)))
}
