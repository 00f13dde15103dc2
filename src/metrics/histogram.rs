//! A lock-free latency histogram for the request path. prometheus-client's
//! `Histogram` takes a mutex on every observation; this one is a fixed set
//! of atomic bucket counters and an atomic sum, encoded through the same
//! `EncodeMetric` interface so the registry serves it like any other metric.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A histogram over fixed upper bounds (plus `+Inf`). Clones share counts.
#[derive(Clone, Debug)]
pub struct AtomicHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bounds: &'static [f64],
    /// One counter per bound, and the last for `+Inf` (not cumulative).
    counts: Box<[AtomicU64]>,
    /// `f64` bits of the sum of observations.
    sum: AtomicU64,
}

impl AtomicHistogram {
    /// A histogram with these (ascending) upper bounds.
    pub fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            inner: Arc::new(Inner {
                bounds,
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Record one value.
    pub fn observe(&self, v: f64) {
        let i = self.inner.bounds.partition_point(|b| *b < v);
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        // An uncontended CAS; under contention it retries, never blocks.
        let _ = self
            .inner
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// (sum, count, per-bucket counts with their upper bounds).
    fn read(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = self
            .inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' total, so `_count` always equals the
        // `+Inf` bucket even while observations race with the scrape.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = f64::from_bits(self.inner.sum.load(Ordering::Relaxed));
        (sum, count, buckets)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.read();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: [f64; 3] = [1.0, 5.0, 10.0];

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        let h = AtomicHistogram::new(&BOUNDS);
        for v in [0.5, 1.0, 1.5, 5.0, 7.0, 11.0, 100.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.read();
        assert_eq!(count, 7);
        assert!((sum - 126.0).abs() < 1e-9);
        assert_eq!(
            buckets,
            vec![(1.0, 2), (5.0, 2), (10.0, 1), (f64::INFINITY, 2)]
        );
    }

    #[test]
    fn clones_share_counts_across_threads() {
        let h = AtomicHistogram::new(&BOUNDS);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let h = h.clone();
                s.spawn(move || (0..1000).for_each(|_| h.observe(2.0)));
            }
        });
        let (sum, count, _) = h.read();
        assert_eq!(count, 4000);
        assert!((sum - 8000.0).abs() < 1e-9);
    }
}
