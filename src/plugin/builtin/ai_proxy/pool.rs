//! The provider instances of one AI plugin and how a request picks one:
//! priority tiers, then the balancer (`roundrobin`, `chash`, or strait's
//! latency-aware `ewma` over time to first token) within a tier, skipping
//! instances whose health checks failed or which are cooling down after
//! 429s, failures or timeouts. `ai-proxy` is a pool of one.
//!
//! State is atomics per instance; picking takes no lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::target::AiTarget;
use crate::upstream::balancer::{Algorithm, Balancer, NodeWeight};
use crate::upstream::HashKey;

/// One provider instance.
pub struct Instance {
    /// Where it sends requests.
    pub target: Arc<AiTarget>,
    /// End of the cooldown, in milliseconds on [`clock_ms`] (0: none).
    cooldown_until: AtomicU64,
    /// Failures in a row (a success clears them).
    failures: AtomicU32,
}

/// When an instance cools down: strait's own `cooldown` field.
#[derive(Debug, Clone, Copy)]
pub struct CooldownPolicy {
    /// Cooldown when the provider gives no `Retry-After`.
    pub duration: Duration,
    /// Longest cooldown, whatever `Retry-After` says.
    pub max: Duration,
    /// 5xx answers, failed connections or timeouts in a row that cool an
    /// instance down (a 429 always does); 0 disables cooldowns.
    pub failures: u32,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        CooldownPolicy {
            duration: Duration::from_secs(5),
            max: Duration::from_secs(300),
            failures: 3,
        }
    }
}

/// When a failed attempt goes on to another instance (APISIX's
/// `fallback_strategy`, `fallback_http_statuses`, `max_retries`,
/// `retry_on_failure_within_ms`).
#[derive(Debug, Clone, Default)]
pub struct FallbackPolicy {
    /// `http_429`.
    pub http_429: bool,
    /// `http_5xx` (failed connections and timeouts count as 502 and 504).
    pub http_5xx: bool,
    /// `rate_limiting` / `instance_health_and_rate_limiting`: instances
    /// whose `ai-rate-limiting` quota is used up are skipped.
    pub rate_limiting: bool,
    /// `fallback_http_statuses`.
    pub statuses: Vec<u16>,
    /// `max_retries` (None: until every instance was tried).
    pub max_retries: Option<usize>,
    /// `retry_on_failure_within_ms`.
    pub within: Option<Duration>,
}

impl FallbackPolicy {
    /// Whether an attempt that failed with `status` after `elapsed` may
    /// go on to another instance, `retries` fallbacks having happened.
    pub fn allows(&self, status: u16, elapsed: Duration, retries: usize) -> bool {
        let eligible = (status == 429 && self.http_429)
            || ((500..600).contains(&status) && self.http_5xx)
            || self.statuses.contains(&status);
        eligible
            && self.within.is_none_or(|w| elapsed <= w)
            && self.max_retries.is_none_or(|m| retries < m)
    }
}

/// How an attempt ended, for health and balancing.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// The provider answered (2xx); time to its first token.
    Answered(Duration),
    /// An error status, with the provider's `Retry-After`.
    Status(u16, Option<Duration>),
    /// Connecting or talking to the provider failed, or it timed out.
    Unreachable,
    /// Ended without telling anything about the instance: never sent (the
    /// request cannot be built for its provider), or the client went away
    /// before the first token.
    Cancelled,
}

/// The instances and their balancer.
pub struct InstancePool {
    /// In configuration order.
    pub instances: Vec<Instance>,
    balancer: Balancer,
    /// `balancer.hash_on`/`key` for `chash`.
    pub hash_key: Option<HashKey>,
    /// What a failure may do.
    pub fallback: FallbackPolicy,
    cooldown: CooldownPolicy,
}

/// Milliseconds since the first call (a process-wide monotonic clock).
fn clock_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl InstancePool {
    /// A pool of `targets` with their `(weight, priority)`.
    pub fn new(
        targets: Vec<(Arc<AiTarget>, u32, i32)>,
        algorithm: Algorithm,
        hash_key: Option<HashKey>,
        fallback: FallbackPolicy,
        cooldown: CooldownPolicy,
    ) -> InstancePool {
        let weights: Vec<NodeWeight> = targets
            .iter()
            .map(|(t, w, p)| NodeWeight::new(&t.instance, *w, *p))
            .collect();
        InstancePool {
            instances: targets
                .into_iter()
                .map(|(target, _, _)| Instance {
                    target,
                    cooldown_until: AtomicU64::new(0),
                    failures: AtomicU32::new(0),
                })
                .collect(),
            balancer: Balancer::new(algorithm, &weights),
            hash_key,
            fallback,
            cooldown,
        }
    }

    /// `ai-proxy`'s pool: one instance, no fallback.
    pub fn single(target: Arc<AiTarget>) -> InstancePool {
        InstancePool::new(
            vec![(target, 1, 0)],
            Algorithm::RoundRobin,
            None,
            FallbackPolicy::default(),
            CooldownPolicy::default(),
        )
    }

    /// Whether instance `i` may take traffic now: its health checks pass
    /// and it is not cooling down.
    pub fn is_available(&self, i: usize) -> bool {
        let Some(inst) = self.instances.get(i) else {
            return false;
        };
        inst.target.upstream.is_healthy(0) && inst.cooldown_until.load(Relaxed) <= clock_ms()
    }

    /// Pick an instance not in `tried` and allowed by `usable`: an
    /// available one if any, else (every one is unhealthy or cooling
    /// down, as APISIX does with nodes) any. None when all were tried.
    pub fn pick(
        &self,
        hash_key: Option<&[u8]>,
        tried: &[usize],
        usable: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let fresh = |i: usize| !tried.contains(&i) && usable(i);
        self.balancer
            .pick(hash_key, &|i| fresh(i) && self.is_available(i))
            .or_else(|| self.balancer.pick(hash_key, &fresh))
    }

    /// An attempt on instance `i` starts.
    pub fn started(&self, i: usize) {
        self.balancer.on_start(i);
    }

    /// The attempt on instance `i` ended with `outcome`: balancer figures,
    /// failure counts and cooldowns.
    pub fn finished(&self, i: usize, outcome: Outcome) {
        let Some(inst) = self.instances.get(i) else {
            return;
        };
        match outcome {
            Outcome::Answered(ttft) => {
                inst.failures.store(0, Relaxed);
                self.balancer.on_finish(i, ttft, false);
            }
            // Only what says the instance is struggling counts against it;
            // a 400 or 413 is about the request.
            Outcome::Status(status, retry_after)
                if status == 408 || status == 429 || status >= 500 =>
            {
                self.failed(inst, status == 429, retry_after);
                self.balancer.on_finish(i, Duration::ZERO, true);
            }
            Outcome::Unreachable => {
                self.failed(inst, false, None);
                self.balancer.on_finish(i, Duration::ZERO, true);
            }
            Outcome::Status(..) | Outcome::Cancelled => self.balancer.on_cancel(i),
        }
    }

    fn failed(&self, inst: &Instance, rate_limited: bool, retry_after: Option<Duration>) {
        if self.cooldown.failures == 0 {
            return;
        }
        let failures = inst.failures.fetch_add(1, Relaxed) + 1;
        if !rate_limited && failures < self.cooldown.failures {
            return;
        }
        let pause = retry_after
            .unwrap_or(self.cooldown.duration)
            .min(self.cooldown.max);
        let until = clock_ms() + pause.as_millis() as u64;
        inst.cooldown_until.fetch_max(until, Relaxed);
        inst.failures.store(0, Relaxed);
        tracing::warn!(
            instance = %inst.target.instance,
            seconds = pause.as_secs_f64(),
            "AI instance cooling down"
        );
    }
}

/// One attempt on one instance, reported to the pool exactly once: when
/// it ends, or (dropped unreported) as cancelled.
pub struct Attempt {
    pool: Arc<InstancePool>,
    index: usize,
    started: Instant,
    reported: bool,
}

impl Attempt {
    /// Start an attempt on instance `index`.
    pub fn start(pool: Arc<InstancePool>, index: usize) -> Attempt {
        pool.started(index);
        Attempt {
            pool,
            index,
            started: Instant::now(),
            reported: false,
        }
    }

    /// Time since the attempt started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The first token (or the whole answer) arrived.
    pub fn answered(mut self) {
        self.report(Outcome::Answered(self.started.elapsed()));
    }

    /// The attempt failed.
    pub fn failed(mut self, outcome: Outcome) {
        self.report(outcome);
    }

    fn report(&mut self, outcome: Outcome) {
        if !self.reported {
            self.reported = true;
            self.pool.finished(self.index, outcome);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.report(Outcome::Cancelled);
    }
}

/// The seconds of a `Retry-After` header (delay form; an HTTP date is
/// read as "no advice").
pub fn retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_policy() {
        let p = FallbackPolicy {
            http_429: true,
            statuses: vec![401],
            max_retries: Some(1),
            within: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        assert!(p.allows(429, Duration::ZERO, 0));
        assert!(p.allows(401, Duration::ZERO, 0));
        assert!(!p.allows(500, Duration::ZERO, 0), "http_5xx not set");
        assert!(!p.allows(429, Duration::ZERO, 1), "max_retries");
        assert!(
            !p.allows(429, Duration::from_millis(101), 0),
            "slow failure"
        );
    }

    #[test]
    fn retry_after_forms() {
        let v = |s: &'static str| http::HeaderValue::from_static(s);
        assert_eq!(retry_after(Some(&v("7"))), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(Some(&v("0.5"))),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(Some(&v("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(retry_after(None), None);
    }
}
