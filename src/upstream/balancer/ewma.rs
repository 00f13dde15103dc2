//! Exponentially weighted moving average of response time (`ewma`).
//!
//! Each node keeps a time-decayed average of its response times (connect plus
//! response time, in seconds). Decay follows APISIX: a sample arriving `td`
//! seconds after the previous update is blended as
//! `avg = avg * w + sample * (1 - w)` with `w = exp(-td / 10)`, and a node's
//! score when picking is its average decayed towards zero by the time since it
//! was last updated, `avg * exp(-td / 10)`. A node that has never been measured
//! scores 0, so it gets tried; a slow node that stops being picked sees its
//! score fall until it is tried again, which is how it recovers.
//!
//! Picking uses power-of-two random choices: two distinct available nodes are
//! drawn at random and the one with the lower score wins (with a single
//! available node, that node). Weights matter only in that a node of weight 0
//! is never picked, as in APISIX where `ewma` ignores weights.
//!
//! Failures (strait's own rule; APISIX records no failure penalty): a failed
//! attempt raises the average at once to at least
//! `max(latency, 2 × current average, 100 ms)`, so a node that fails fast is
//! not mistaken for a fast node, and repeated failures keep doubling it. It
//! decays back like any other average.
//!
//! The state of a node is one `AtomicU64`: the average as `f32` bits in the
//! high half, the update time in milliseconds of a process-wide clock in the
//! low half (compared with wrapping arithmetic, so only gaps under ~24 days are
//! measured exactly; any longer gap has long decayed the average anyway).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::NodeStats;

/// Decay time constant in seconds (APISIX `DECAY_TIME`).
pub(crate) const DECAY_SECONDS: f64 = 10.0;

/// Floor of the average after a failed attempt, in seconds.
pub(crate) const FAILURE_FLOOR_SECONDS: f64 = 0.1;

/// Milliseconds of the process-wide balancer clock at `now`, truncated to 32
/// bits. Shared by all balancers so that statistics carried over from a
/// previous balancer keep meaning the same time.
pub(crate) fn clock_ms(now: Instant) -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    // Truncation is intended: times are compared with wrapping arithmetic.
    now.saturating_duration_since(epoch).as_millis() as u32
}

/// Seconds from `then` to `now` on the wrapping millisecond clock (0 when
/// `then` is, because of racing updates, slightly in the future).
fn elapsed_seconds(then: u32, now: u32) -> f64 {
    let diff = now.wrapping_sub(then) as i32;
    f64::from(diff.max(0)) / 1000.0
}

fn decay_weight(td: f64) -> f64 {
    (-td / DECAY_SECONDS).exp()
}

/// Lock-free decayed-average cell of one node. The all-zero word means
/// "never measured".
#[derive(Debug, Default)]
pub(crate) struct EwmaCell(AtomicU64);

impl EwmaCell {
    fn unpack(word: u64) -> (f64, u32) {
        let avg = f32::from_bits((word >> 32) as u32);
        (f64::from(avg), word as u32)
    }

    fn pack(avg: f64, at: u32) -> u64 {
        let bits = (avg as f32).to_bits();
        // Keep a measured state distinguishable from "never measured".
        let at = if bits == 0 && at == 0 { 1 } else { at };
        (u64::from(bits) << 32) | u64::from(at)
    }

    /// Current score: the average decayed by the time since its last update.
    pub(crate) fn score(&self, now_ms: u32) -> f64 {
        let word = self.0.load(Ordering::Relaxed);
        if word == 0 {
            return 0.0;
        }
        let (avg, at) = Self::unpack(word);
        avg * decay_weight(elapsed_seconds(at, now_ms))
    }

    /// Blends in one observed `latency`; `failed` applies the failure floor.
    pub(crate) fn record(&self, now_ms: u32, latency: Duration, failed: bool) {
        let sample = latency.as_secs_f64();
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |word| {
                let (mut avg, decayed) = if word == 0 {
                    (sample, 0.0)
                } else {
                    let (old, at) = Self::unpack(word);
                    let w = decay_weight(elapsed_seconds(at, now_ms));
                    (old * w + sample * (1.0 - w), old * w)
                };
                if failed {
                    let penalty = sample.max(2.0 * decayed).max(FAILURE_FLOOR_SECONDS);
                    avg = avg.max(penalty);
                }
                Some(Self::pack(avg, now_ms))
            });
    }
}

/// Power-of-two-choices picker over tier-local node indices.
#[derive(Debug)]
pub(crate) struct Ewma {
    weights: Vec<u32>,
    stats: Vec<Arc<NodeStats>>,
}

impl Ewma {
    /// `weights[i]` and `stats[i]` describe tier-local node `i`.
    pub(crate) fn new(weights: &[u32], stats: Vec<Arc<NodeStats>>) -> Ewma {
        Ewma {
            weights: weights.to_vec(),
            stats,
        }
    }

    /// The better-scoring of two random distinct available nodes.
    pub(crate) fn pick(&self, available: &dyn Fn(usize) -> bool, now: Instant) -> Option<usize> {
        // Reservoir sampling of two distinct candidates in a single pass.
        let mut first: Option<usize> = None;
        let mut second: Option<usize> = None;
        let mut seen = 0u64;
        for (node, &weight) in self.weights.iter().enumerate() {
            if weight == 0 || !available(node) {
                continue;
            }
            seen += 1;
            match (first, second) {
                (None, _) => first = Some(node),
                (Some(_), None) => second = Some(node),
                (Some(_), Some(_)) => {
                    let slot = fastrand::u64(..seen);
                    if slot == 0 {
                        first = Some(node);
                    } else if slot == 1 {
                        second = Some(node);
                    }
                }
            }
        }
        let (a, b) = match (first, second) {
            (Some(a), Some(b)) => (a, b),
            (only, _) => return only,
        };
        let now_ms = clock_ms(now);
        let score_a = self.stats.get(a).map_or(0.0, |s| s.ewma.score(now_ms));
        let score_b = self.stats.get(b).map_or(0.0, |s| s.ewma.score(now_ms));
        if score_a < score_b {
            Some(a)
        } else if score_b < score_a {
            Some(b)
        } else if fastrand::bool() {
            Some(a)
        } else {
            Some(b)
        }
    }
}
