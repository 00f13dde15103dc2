//! Least connections (`least_conn`).
//!
//! A node's score is `(active + 1) / weight`, where `active` counts the
//! requests started on it and not yet finished (kept up to date by
//! `Balancer::on_start` / `Balancer::on_finish`). The available node with the
//! lowest score wins; ties are broken uniformly at random so that idle nodes
//! share the load instead of the first one in the list taking it all.
//!
//! Scores are compared by cross-multiplication in integers, no division.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::NodeStats;

/// Least-connections picker over tier-local node indices.
#[derive(Debug)]
pub(crate) struct LeastConn {
    weights: Vec<u32>,
    stats: Vec<Arc<NodeStats>>,
}

impl LeastConn {
    /// `weights[i]` and `stats[i]` describe tier-local node `i`.
    pub(crate) fn new(weights: &[u32], stats: Vec<Arc<NodeStats>>) -> LeastConn {
        LeastConn {
            weights: weights.to_vec(),
            stats,
        }
    }

    /// The available node with the fewest in-flight requests per weight.
    pub(crate) fn pick(&self, available: &dyn Fn(usize) -> bool) -> Option<usize> {
        // (node, active + 1, weight) of the best so far, and how many tied.
        let mut best: Option<(usize, u128, u128)> = None;
        let mut ties = 0u64;
        for (node, (&weight, stats)) in self.weights.iter().zip(self.stats.iter()).enumerate() {
            if weight == 0 || !available(node) {
                continue;
            }
            let load = u128::from(stats.active.load(Ordering::Relaxed)) + 1;
            let weight = u128::from(weight);
            match best {
                None => {
                    best = Some((node, load, weight));
                    ties = 1;
                }
                Some((_, best_load, best_weight)) => {
                    // load / weight  vs  best_load / best_weight
                    let lhs = load * best_weight;
                    let rhs = best_load * weight;
                    if lhs < rhs {
                        best = Some((node, load, weight));
                        ties = 1;
                    } else if lhs == rhs {
                        // Reservoir sampling: each tied node ends up chosen
                        // with equal probability.
                        ties += 1;
                        if fastrand::u64(..ties) == 0 {
                            best = Some((node, load, weight));
                        }
                    }
                }
            }
        }
        best.map(|(node, _, _)| node)
    }
}
