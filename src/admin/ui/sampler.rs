//! The dashboard's short memory of traffic: a background task that every
//! interval (5 s; `STRAIT_UI_SAMPLE_MS` overrides it, for tests only) reads
//! the process-wide counters — responses and 5xx responses, LLM tokens and
//! cost — and keeps the difference with the previous reading in rings that
//! hold an hour. The rings sit behind a lock only this task and the
//! dashboard's endpoints take; requests only bump atomics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::llm_usage::{self, LlmKey, LlmTotals};

/// How far back the rings reach.
pub const HISTORY: Duration = Duration::from_secs(3600);
/// The default time between two readings.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// LLM label combinations kept per interval; the rest is summed as `other`.
pub const LLM_ENTRIES_PER_SAMPLE: usize = 100;
/// Shortest interval `STRAIT_UI_SAMPLE_MS` may set.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// Responses in one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficPoint {
    /// Unix time (seconds) at the end of the interval.
    pub time: u64,
    /// How long the interval really was, in seconds.
    pub seconds: f64,
    /// Responses sent.
    pub requests: u64,
    /// Of which with a status of 500 or more.
    pub errors: u64,
}

/// LLM usage of one label combination in one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmPoint {
    /// Unix time (seconds) at the end of the interval.
    pub time: u64,
    /// Consumer, model, instance and route.
    pub key: LlmKey,
    /// What was used in the interval.
    pub usage: LlmTotals,
}

#[derive(Debug, Default)]
struct Rings {
    traffic: VecDeque<TrafficPoint>,
    llm: VecDeque<LlmPoint>,
}

/// The rings, shared by the sampler and the endpoints.
#[derive(Debug)]
pub struct History {
    interval: Duration,
    capacity: usize,
    rings: Mutex<Rings>,
}

impl History {
    /// Empty rings for readings every `interval`.
    pub fn new(interval: Duration) -> History {
        let per_hour = HISTORY.as_secs_f64() / interval.as_secs_f64().max(0.001);
        History {
            interval,
            capacity: (per_hour.ceil() as usize).clamp(1, 72_000),
            rings: Mutex::new(Rings::default()),
        }
    }

    /// The time between two readings.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn rings(&self) -> MutexGuard<'_, Rings> {
        // A panic while holding it cannot leave the rings inconsistent.
        self.rings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record one interval.
    pub fn push(&self, traffic: TrafficPoint, llm: Vec<LlmPoint>) {
        let mut r = self.rings();
        r.traffic.push_back(traffic);
        while r.traffic.len() > self.capacity {
            r.traffic.pop_front();
        }
        r.llm.extend(llm);
        let oldest = traffic.time.saturating_sub(HISTORY.as_secs());
        while r.llm.front().is_some_and(|p| p.time < oldest)
            || r.llm.len() > self.capacity * LLM_ENTRIES_PER_SAMPLE
        {
            r.llm.pop_front();
        }
    }

    /// The traffic points of the last `seconds` before `now`, oldest first.
    pub fn traffic(&self, seconds: u64, now: u64) -> Vec<TrafficPoint> {
        let since = now.saturating_sub(seconds);
        let r = self.rings();
        let mut out: Vec<TrafficPoint> = r
            .traffic
            .iter()
            .rev()
            .take_while(|p| p.time > since)
            .copied()
            .collect();
        out.reverse();
        out
    }

    /// The LLM points of the last `seconds` before `now`, oldest first.
    pub fn llm(&self, seconds: u64, now: u64) -> Vec<LlmPoint> {
        let since = now.saturating_sub(seconds);
        let r = self.rings();
        let mut out: Vec<LlmPoint> = r
            .llm
            .iter()
            .rev()
            .take_while(|p| p.time > since)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

/// The interval: `STRAIT_UI_SAMPLE_MS` when set (tests), else 5 s.
pub fn interval_from_env() -> Duration {
    std::env::var("STRAIT_UI_SAMPLE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .map_or(DEFAULT_INTERVAL, |d| d.max(MIN_INTERVAL))
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One reading of the counters.
struct Reading {
    at: Instant,
    responses: u64,
    errors: u64,
    llm: HashMap<LlmKey, LlmTotals>,
}

impl Reading {
    fn take(llm: &mut llm_usage::Reader) -> Reading {
        let m = crate::metrics::global();
        Reading {
            at: Instant::now(),
            // Every proxied request; one still in flight counts as answered.
            responses: m.http_requests.get(),
            errors: m.responses_5xx.load(Ordering::Relaxed),
            llm: llm.read(),
        }
    }
}

/// The sampling task.
#[derive(Debug)]
pub struct Sampler {
    history: Arc<History>,
}

impl Sampler {
    /// A sampler filling `history`.
    pub fn new(history: Arc<History>) -> Sampler {
        Sampler { history }
    }

    /// Read every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut reader = llm_usage::Reader::new();
        let mut tick = tokio::time::interval(self.history.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the baseline.
        tick.tick().await;
        let mut prev = Reading::take(&mut reader);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let now = Reading::take(&mut reader);
            let time = unix_now();
            let traffic = TrafficPoint {
                time,
                seconds: now.at.duration_since(prev.at).as_secs_f64(),
                requests: now.responses.saturating_sub(prev.responses),
                errors: now.errors.saturating_sub(prev.errors),
            };
            let llm = llm_usage::deltas(&prev.llm, &now.llm, LLM_ENTRIES_PER_SAMPLE)
                .into_iter()
                .map(|(key, usage)| LlmPoint { time, key, usage })
                .collect();
            self.history.push(traffic, llm);
            prev = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(time: u64, requests: u64) -> TrafficPoint {
        TrafficPoint {
            time,
            seconds: 5.0,
            requests,
            errors: 0,
        }
    }

    #[test]
    fn rings_keep_an_hour_and_answer_windows() {
        let h = History::new(Duration::from_secs(5));
        assert_eq!(h.capacity, 720);
        for i in 0..800u64 {
            h.push(point(1_000 + i * 5, i), Vec::new());
        }
        let now = 1_000 + 799 * 5;
        let all = h.traffic(3600, now);
        assert_eq!(all.len(), 720);
        assert_eq!(all.first().map(|p| p.requests), Some(80));
        let last = h.traffic(60, now);
        assert_eq!(last.len(), 12);
        assert_eq!(last.last().map(|p| p.requests), Some(799));
    }
}
