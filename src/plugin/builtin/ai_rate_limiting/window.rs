//! Token counters for `ai-rate-limiting`: fixed windows aligned on Unix
//! time (window `n` of a counter covers `[n·w, (n+1)·w)`, so every gateway
//! sharing a Redis agrees on them), kept in process-wide sharded maps
//! (`local`) or in Redis (`redis`, one atomic script per operation).
//!
//! A request **reserves** its estimated tokens before the call, which is
//! refused once the window is used up, and **settles** with its real usage
//! after: the difference is added to the window it reserved in, or, when
//! that window has ended meanwhile, the real usage to the current one.
//! Concurrent requests see each other's reservations, so a burst cannot
//! overshoot the limit by more than what the admitted requests used beyond
//! their estimates.

use std::sync::{Arc, OnceLock};

use crate::plugin::builtin::limit_common::{unix_ms, Sharded};
use crate::plugin::redis::{RedisError, RedisPool, Reply, Script};

/// One counter of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The counter (without the window number).
    pub key: String,
    /// The limit in tokens.
    pub limit: u64,
    /// The window length in seconds.
    pub window_s: u64,
}

/// What a reservation found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reserved {
    /// Taken: tokens left after it, seconds until the window ends, and
    /// the window's number.
    Allowed {
        /// Tokens left (0 when the reservation used the rest up).
        remaining: u64,
        /// Seconds until the window ends.
        reset: f64,
        /// The window's number.
        window: u64,
    },
    /// The window is used up; seconds until it ends.
    Rejected {
        /// Seconds until the window ends.
        reset: f64,
    },
}

fn window_of(slot: &Slot, now_ms: f64) -> (u64, f64) {
    let w = slot.window_s.clamp(1, 1 << 40) as f64 * 1000.0;
    let n = (now_ms / w).floor();
    (n as u64, ((n + 1.0) * w - now_ms) / 1000.0)
}

struct Count {
    ends_ms: f64,
    used: u64,
}

fn local() -> &'static Sharded<Count> {
    static MAP: OnceLock<Sharded<Count>> = OnceLock::new();
    MAP.get_or_init(|| Sharded::new(256 * 1024))
}

/// Reserve `amount` tokens in the current window of `slot` (local policy).
pub fn reserve_local(slot: &Slot, amount: u64, now_ms: f64) -> Reserved {
    let (window, reset) = window_of(slot, now_ms);
    let key = format!("{}#{window}", slot.key);
    local().with(
        &key,
        || Count {
            ends_ms: now_ms + reset * 1000.0,
            used: 0,
        },
        |c| c.ends_ms <= now_ms,
        |c| {
            if c.used >= slot.limit {
                return Reserved::Rejected { reset };
            }
            c.used = c.used.saturating_add(amount);
            Reserved::Allowed {
                remaining: slot.limit.saturating_sub(c.used),
                reset,
                window,
            }
        },
    )
}

/// Settle a reservation of `reserved` tokens made in `window` with the
/// `used` tokens (local policy). Returns the window's count afterwards and
/// the seconds until it ends.
pub fn settle_local(
    slot: &Slot,
    window: Option<u64>,
    reserved: u64,
    used: u64,
    now_ms: f64,
) -> (u64, f64) {
    let (current, reset) = window_of(slot, now_ms);
    let (target, add, sub) = match window {
        Some(w) if w == current => (w, used, reserved),
        _ => (current, used, 0),
    };
    local().with(
        &format!("{}#{target}", slot.key),
        || Count {
            ends_ms: now_ms + reset * 1000.0,
            used: 0,
        },
        |c| c.ends_ms <= now_ms,
        |c| {
            c.used = c.used.saturating_add(add).saturating_sub(sub);
            (c.used, reset)
        },
    )
}

/// Reserve: refuse when the window is used up, else add; returns
/// `{used, ms left}` or `{-1, ms left}`.
const RESERVE: &str = r"
local used = tonumber(redis.call('get', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
    return {-1, redis.call('pttl', KEYS[1])}
end
used = redis.call('incrby', KEYS[1], ARGV[2])
if used == tonumber(ARGV[2]) then
    redis.call('pexpire', KEYS[1], ARGV[3])
end
return {used, redis.call('pttl', KEYS[1])}
";

/// Settle: add a signed amount, never below zero, keeping the expiry
/// (without `KEEPTTL`, which Redis 5 lacks); returns the count.
const SETTLE: &str = r"
local used = redis.call('incrby', KEYS[1], ARGV[1])
if used < 0 then
    used = redis.call('incrby', KEYS[1], -used)
end
if redis.call('pttl', KEYS[1]) < 0 then
    redis.call('pexpire', KEYS[1], ARGV[2])
end
return used
";

fn scripts() -> &'static (Script, Script) {
    static S: OnceLock<(Script, Script)> = OnceLock::new();
    S.get_or_init(|| (Script::new(RESERVE), Script::new(SETTLE)))
}

fn redis_key(slot: &Slot, window: u64) -> String {
    format!("plugin-ai-rate-limiting:v1:{}#{window}", slot.key)
}

/// Reserve `amount` tokens in Redis.
pub async fn reserve_redis(
    pool: &Arc<RedisPool>,
    slot: &Slot,
    amount: u64,
) -> Result<Reserved, RedisError> {
    let (window, reset) = window_of(slot, unix_ms());
    let key = redis_key(slot, window);
    let ttl_ms = ((reset * 1000.0).ceil() as u64).max(1).to_string();
    let reply = pool
        .eval(
            &scripts().0,
            &[key.as_bytes()],
            &[
                slot.limit.to_string().as_bytes(),
                amount.to_string().as_bytes(),
                ttl_ms.as_bytes(),
            ],
        )
        .await?;
    let bad = || RedisError::Server(format!("unexpected reply {reply:?}"));
    let Reply::Array(Some(items)) = &reply else {
        return Err(bad());
    };
    let used = items.first().and_then(Reply::as_i64).ok_or_else(bad)?;
    Ok(match u64::try_from(used) {
        Ok(used) => Reserved::Allowed {
            remaining: slot.limit.saturating_sub(used),
            reset,
            window,
        },
        Err(_) => Reserved::Rejected { reset },
    })
}

/// Settle a reservation in Redis (see [`settle_local`]); returns the
/// window's count afterwards and the seconds until it ends (None when
/// nothing changed).
pub async fn settle_redis(
    pool: &Arc<RedisPool>,
    slot: &Slot,
    window: Option<u64>,
    reserved: u64,
    used: u64,
) -> Result<Option<(u64, f64)>, RedisError> {
    let (current, reset) = window_of(slot, unix_ms());
    let (target, delta) = match window {
        Some(w) if w == current => (w, used as i64 - reserved as i64),
        _ => (current, used as i64),
    };
    if delta == 0 {
        return Ok(None);
    }
    let key = redis_key(slot, target);
    let ttl_ms = ((reset * 1000.0).ceil() as u64).max(1).to_string();
    let reply = pool
        .eval(
            &scripts().1,
            &[key.as_bytes()],
            &[delta.to_string().as_bytes(), ttl_ms.as_bytes()],
        )
        .await?;
    Ok(reply
        .as_i64()
        .map(|n| (u64::try_from(n).unwrap_or(0), reset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(key: &str) -> Slot {
        Slot {
            key: key.into(),
            limit: 100,
            window_s: 60,
        }
    }

    #[test]
    fn reserve_then_settle_in_one_window() {
        let s = slot("t:one");
        let t = 120_000.0; // window 2 of 60 s starts here
        let Reserved::Allowed {
            remaining, window, ..
        } = reserve_local(&s, 30, t)
        else {
            panic!("allowed")
        };
        assert_eq!((remaining, window), (70, 2));
        // A concurrent request sees the reservation.
        assert!(matches!(
            reserve_local(&s, 60, t + 1.0),
            Reserved::Allowed { remaining: 10, .. }
        ));
        // The first used only 10: 20 come back.
        settle_local(&s, Some(2), 30, 10, t + 2.0);
        assert!(matches!(
            reserve_local(&s, 5, t + 3.0),
            Reserved::Allowed { remaining: 25, .. }
        ));
        // The second used 85 (more than reserved): the window is over.
        settle_local(&s, Some(2), 60, 85, t + 4.0);
        assert!(matches!(
            reserve_local(&s, 1, t + 5.0),
            Reserved::Rejected { reset } if (reset - 59.995).abs() < 1e-6
        ));
        // The next window starts empty.
        assert!(matches!(
            reserve_local(&s, 1, 180_000.0),
            Reserved::Allowed {
                remaining: 99,
                window: 3,
                ..
            }
        ));
    }

    #[test]
    fn a_reservation_settled_after_its_window_counts_in_the_current_one() {
        let s = slot("t:late");
        assert!(matches!(
            reserve_local(&s, 10, 59_000.0),
            Reserved::Allowed { window: 0, .. }
        ));
        settle_local(&s, Some(0), 10, 40, 61_000.0);
        assert!(matches!(
            reserve_local(&s, 1, 62_000.0),
            Reserved::Allowed {
                remaining: 59,
                window: 1,
                ..
            }
        ));
    }
}
