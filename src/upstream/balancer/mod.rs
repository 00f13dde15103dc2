//! Load balancing across the nodes of one upstream: the shared API.
//!
//! A [`Balancer`] is built once per upstream version (whenever the node list or
//! the balancing type changes) and then shared by every request-handling thread.
//! Picking a node never takes a lock: each algorithm keeps its moving parts in
//! atomics (a cursor into a precomputed sequence, in-flight request counters,
//! latency averages packed into one word).
//!
//! Nodes are addressed by their index in the upstream's node list. Whether a
//! node may be used for one particular attempt (health state, "already tried by
//! this request") is the caller's decision, passed to [`Balancer::pick`] as a
//! closure.
//!
//! This file owns the public types, the per-node statistics shared between
//! balancer generations, the hash function used by `chash`, and a small
//! availability memo the algorithms use to avoid asking the caller twice about
//! the same node. The algorithms live in their own files; `priority.rs` groups
//! nodes into priority tiers, each with its own algorithm instance.

mod chash;
mod ewma;
mod least_conn;
mod priority;
mod roundrobin;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One upstream node as the balancer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeWeight {
    /// Stable identity of the node, normally [`hash_bytes`] of its `host:port`.
    /// `chash` places the node's ring points from it (so adding or removing
    /// other nodes does not move this node's points), and
    /// [`Balancer::with_previous`] uses it to carry statistics over.
    pub key: u64,
    /// Relative weight; 0 means the node is never picked.
    pub weight: u32,
    /// Priority tier; a higher value is tried first.
    pub priority: i32,
}

impl NodeWeight {
    /// Describes a node by its address (`host:port`), weight and priority.
    pub fn new(addr: &str, weight: u32, priority: i32) -> NodeWeight {
        NodeWeight {
            key: hash_bytes(addr.as_bytes()),
            weight,
            priority,
        }
    }
}

/// The load-balancing algorithm of an upstream (APISIX `upstream.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Smooth weighted round robin (`roundrobin`, the default).
    RoundRobin,
    /// Consistent hashing on a caller-supplied key (`chash`).
    Chash,
    /// Lowest decayed response-time average, power-of-two choices (`ewma`).
    Ewma,
    /// Fewest in-flight requests relative to weight (`least_conn`).
    LeastConn,
}

impl Algorithm {
    /// Parses an APISIX `upstream.type` value.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "roundrobin" => Some(Algorithm::RoundRobin),
            "chash" => Some(Algorithm::Chash),
            "ewma" => Some(Algorithm::Ewma),
            "least_conn" => Some(Algorithm::LeastConn),
            _ => None,
        }
    }

    /// The APISIX `upstream.type` spelling of this algorithm.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "roundrobin",
            Algorithm::Chash => "chash",
            Algorithm::Ewma => "ewma",
            Algorithm::LeastConn => "least_conn",
        }
    }
}

/// Per-node request statistics. Held behind an `Arc` so that a rebuilt
/// balancer can keep counting on the same cells while requests routed by the
/// previous generation are still finishing.
#[derive(Debug, Default)]
pub(crate) struct NodeStats {
    /// Requests started on the node and not yet finished.
    pub(crate) active: AtomicU64,
    /// Decayed response-time average (see `ewma.rs`).
    pub(crate) ewma: ewma::EwmaCell,
}

impl NodeStats {
    fn finish(&self) {
        // A finish without a matching start must not wrap the counter around.
        let _ = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// A load balancer over the nodes of one upstream version.
///
/// `Send + Sync`; share it (e.g. in an `Arc`) between all request handlers.
#[derive(Debug)]
pub struct Balancer {
    algorithm: Algorithm,
    keys: Vec<u64>,
    stats: Vec<Arc<NodeStats>>,
    tiers: priority::Tiers,
}

impl Balancer {
    /// Builds a balancer for `nodes` (indexed as given) with fresh statistics.
    pub fn new(algorithm: Algorithm, nodes: &[NodeWeight]) -> Balancer {
        Balancer::with_previous(algorithm, nodes, None)
    }

    /// Builds a balancer for `nodes`, sharing the per-node statistics
    /// (in-flight counts, latency averages) of `previous` for every node whose
    /// [`NodeWeight::key`] it already knew. Requests still running on the old
    /// balancer then keep the new one's counts right when they finish.
    pub fn with_previous(
        algorithm: Algorithm,
        nodes: &[NodeWeight],
        previous: Option<&Balancer>,
    ) -> Balancer {
        let known: HashMap<u64, &Arc<NodeStats>> = match previous {
            Some(prev) => prev.keys.iter().copied().zip(prev.stats.iter()).collect(),
            None => HashMap::new(),
        };
        let stats: Vec<Arc<NodeStats>> = nodes
            .iter()
            .map(|node| match known.get(&node.key) {
                Some(cell) => Arc::clone(cell),
                None => Arc::new(NodeStats::default()),
            })
            .collect();
        let tiers = priority::Tiers::new(algorithm, nodes, &stats);
        Balancer {
            algorithm,
            keys: nodes.iter().map(|n| n.key).collect(),
            stats,
            tiers,
        }
    }

    /// The algorithm this balancer was built with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Number of nodes (picked indices are below this).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the upstream has no nodes at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Picks a node for one attempt, or `None` when no node with a non-zero
    /// weight is available in any tier.
    ///
    /// `hash_key` is used by `chash` only: the caller resolves `hash_on`/`key`
    /// to bytes. APISIX falls back to the client address (`remote_addr`) when
    /// the configured key is missing, so callers should pass that rather than
    /// `None`; with `None`, `chash` degrades to weighted round robin.
    ///
    /// `available(i)` says whether node `i` may be used for this attempt.
    pub fn pick(
        &self,
        hash_key: Option<&[u8]>,
        available: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let now = match self.algorithm {
            Algorithm::Ewma => Some(Instant::now()),
            _ => None,
        };
        self.tiers.pick(hash_key, available, now)
    }

    /// Records that a request to `node` starts (call once per attempt sent).
    pub fn on_start(&self, node: usize) {
        if let Some(stats) = self.stats.get(node) {
            stats.active.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records that a request to `node` ended after `latency` (connect plus
    /// response time); `failed` marks an attempt that errored or timed out.
    pub fn on_finish(&self, node: usize, latency: Duration, failed: bool) {
        self.on_finish_at(node, latency, failed, Instant::now());
    }

    /// Records that a request started on `node` ended without telling
    /// anything about the node (never sent, or abandoned by the client):
    /// no latency sample.
    pub fn on_cancel(&self, node: usize) {
        if let Some(stats) = self.stats.get(node) {
            stats.finish();
        }
    }

    /// Number of requests currently in flight on `node` (0 for a bad index).
    pub fn active(&self, node: usize) -> u64 {
        self.stats
            .get(node)
            .map_or(0, |s| s.active.load(Ordering::Acquire))
    }

    pub(crate) fn on_finish_at(&self, node: usize, latency: Duration, failed: bool, now: Instant) {
        let Some(stats) = self.stats.get(node) else {
            return;
        };
        stats.finish();
        if self.algorithm == Algorithm::Ewma {
            stats.ewma.record(ewma::clock_ms(now), latency, failed);
        }
    }

    #[cfg(test)]
    pub(crate) fn pick_at(
        &self,
        hash_key: Option<&[u8]>,
        available: &dyn Fn(usize) -> bool,
        now: Instant,
    ) -> Option<usize> {
        self.tiers.pick(hash_key, available, Some(now))
    }
}

/// Hashes bytes to 64 bits: FNV-1a followed by a full-avalanche finalizer.
/// Stable across runs, processes and platforms.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    mix64(h ^ bytes.len() as u64)
}

/// 64-bit finalizer: every input bit affects every output bit.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Folds a 64-bit hash into 32 bits.
pub(crate) fn fold32(x: u64) -> u32 {
    ((x >> 32) ^ (x & 0xffff_ffff)) as u32
}

/// How many tier-local indices [`AvailMemo`] remembers.
pub(crate) const MEMO_NODES: usize = 256;
const MEMO_WORDS: usize = MEMO_NODES / 64;

/// Remembers the caller's availability answers during one pick so that walking
/// a sequence or a ring asks about each node at most once (for the first
/// [`MEMO_NODES`] nodes; beyond that every question goes to the caller).
pub(crate) struct AvailMemo<'a> {
    available: &'a dyn Fn(usize) -> bool,
    known: [u64; MEMO_WORDS],
    yes: [u64; MEMO_WORDS],
    rejected: usize,
}

impl<'a> AvailMemo<'a> {
    pub(crate) fn new(available: &'a dyn Fn(usize) -> bool) -> AvailMemo<'a> {
        AvailMemo {
            available,
            known: [0; MEMO_WORDS],
            yes: [0; MEMO_WORDS],
            rejected: 0,
        }
    }

    pub(crate) fn check(&mut self, node: usize) -> bool {
        if node >= MEMO_NODES {
            return (self.available)(node);
        }
        let (word, bit) = (node / 64, 1u64 << (node % 64));
        if self.known[word] & bit != 0 {
            return self.yes[word] & bit != 0;
        }
        let ok = (self.available)(node);
        self.known[word] |= bit;
        if ok {
            self.yes[word] |= bit;
        } else {
            self.rejected += 1;
        }
        ok
    }

    /// True once every one of `candidates` distinct nodes was found
    /// unavailable. Only meaningful when all candidates are below
    /// [`MEMO_NODES`]; callers pass `usize::MAX` otherwise.
    pub(crate) fn exhausted(&self, candidates: usize) -> bool {
        self.rejected >= candidates
    }
}

/// `candidates` for [`AvailMemo::exhausted`]: the count of pickable nodes when
/// the memo can track all of them, `usize::MAX` (never exhausted) otherwise.
pub(crate) fn memo_candidates(pickable: usize, node_count: usize) -> usize {
    if node_count <= MEMO_NODES {
        pickable
    } else {
        usize::MAX
    }
}

/// Greatest common divisor (gcd(0, x) = x).
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}
