//! Priority tiers.
//!
//! Nodes are grouped by `priority`, highest first. Each tier runs its own
//! instance of the upstream's algorithm over its own nodes (tier-local indices
//! mapped back to indices in the upstream's node list). A pick tries the tiers
//! in order and uses a lower tier only when no node of any higher tier is
//! available for this attempt (all unhealthy, already tried, or weight 0).

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Instant;

use super::chash::Chash;
use super::ewma::Ewma;
use super::least_conn::LeastConn;
use super::roundrobin::RoundRobin;
use super::{Algorithm, NodeStats, NodeWeight};

/// One algorithm instance over one tier.
#[derive(Debug)]
enum Picker {
    RoundRobin(RoundRobin),
    Chash(Chash),
    Ewma(Ewma),
    LeastConn(LeastConn),
}

/// The nodes of one priority and their picker.
#[derive(Debug)]
struct Tier {
    /// Tier-local index → index in the upstream's node list.
    members: Vec<usize>,
    picker: Picker,
}

/// All tiers of an upstream, highest priority first.
#[derive(Debug)]
pub(crate) struct Tiers {
    tiers: Vec<Tier>,
}

impl Tiers {
    /// Groups `nodes` by priority; `stats[i]` belongs to `nodes[i]`.
    pub(crate) fn new(
        algorithm: Algorithm,
        nodes: &[NodeWeight],
        stats: &[Arc<NodeStats>],
    ) -> Tiers {
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by_key(|&i| (Reverse(nodes[i].priority), i));

        let mut tiers = Vec::new();
        let mut rest = order.as_slice();
        while let Some(&head) = rest.first() {
            let priority = nodes[head].priority;
            let len = rest
                .iter()
                .position(|&i| nodes[i].priority != priority)
                .unwrap_or(rest.len());
            let (members, tail) = rest.split_at(len);
            rest = tail;
            tiers.push(Tier::new(algorithm, members, nodes, stats));
        }
        Tiers { tiers }
    }

    /// First node picked by the highest tier that has an available one.
    pub(crate) fn pick(
        &self,
        hash_key: Option<&[u8]>,
        available: &dyn Fn(usize) -> bool,
        now: Option<Instant>,
    ) -> Option<usize> {
        self.tiers
            .iter()
            .find_map(|tier| tier.pick(hash_key, available, now))
    }

    #[cfg(test)]
    pub(crate) fn members(&self) -> Vec<Vec<usize>> {
        self.tiers.iter().map(|t| t.members.clone()).collect()
    }
}

impl Tier {
    fn new(
        algorithm: Algorithm,
        members: &[usize],
        nodes: &[NodeWeight],
        stats: &[Arc<NodeStats>],
    ) -> Tier {
        let weights: Vec<u32> = members.iter().map(|&i| nodes[i].weight).collect();
        let tier_stats = || -> Vec<Arc<NodeStats>> {
            members
                .iter()
                .filter_map(|&i| stats.get(i).map(Arc::clone))
                .collect()
        };
        let picker = match algorithm {
            Algorithm::RoundRobin => Picker::RoundRobin(RoundRobin::new(&weights)),
            Algorithm::Chash => {
                let keys: Vec<u64> = members.iter().map(|&i| nodes[i].key).collect();
                Picker::Chash(Chash::new(&keys, &weights))
            }
            Algorithm::Ewma => Picker::Ewma(Ewma::new(&weights, tier_stats())),
            Algorithm::LeastConn => Picker::LeastConn(LeastConn::new(&weights, tier_stats())),
        };
        Tier {
            members: members.to_vec(),
            picker,
        }
    }

    fn pick(
        &self,
        hash_key: Option<&[u8]>,
        available: &dyn Fn(usize) -> bool,
        now: Option<Instant>,
    ) -> Option<usize> {
        let local_available = |local: usize| self.members.get(local).is_some_and(|&g| available(g));
        let local = match &self.picker {
            Picker::RoundRobin(p) => p.pick(&local_available),
            Picker::Chash(p) => p.pick(hash_key, &local_available),
            Picker::Ewma(p) => p.pick(&local_available, now.unwrap_or_else(Instant::now)),
            Picker::LeastConn(p) => p.pick(&local_available),
        }?;
        self.members.get(local).copied()
    }
}
