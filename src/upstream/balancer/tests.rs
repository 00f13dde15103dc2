//! Behaviour tests for the balancers: weighted distributions, availability
//! handling, consistent-hash stability, latency/connection awareness,
//! priority tiers and concurrent use.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::chash::{Chash, MAX_POINTS, POINTS_PER_WEIGHT};
use super::roundrobin::{reduce_weights, RoundRobin, MAX_SEQUENCE};
use super::*;

fn nodes(weights: &[u32]) -> Vec<NodeWeight> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| NodeWeight::new(&format!("10.0.0.{i}:80"), w, 0))
        .collect()
}

fn all(_: usize) -> bool {
    true
}

fn counts(b: &Balancer, picks: usize, available: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let mut c = vec![0; b.len()];
    for _ in 0..picks {
        if let Some(n) = b.pick(None, available) {
            c[n] += 1;
        }
    }
    c
}

fn key(i: usize) -> Vec<u8> {
    format!("user-{i}").into_bytes()
}

#[test]
fn balancer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Balancer>();
}

#[test]
fn algorithm_names_round_trip() {
    for a in [
        Algorithm::RoundRobin,
        Algorithm::Chash,
        Algorithm::Ewma,
        Algorithm::LeastConn,
    ] {
        assert_eq!(Algorithm::from_name(a.name()), Some(a));
    }
    assert_eq!(Algorithm::from_name("random"), None);
}

#[test]
fn hash_is_stable() {
    // Pinned values: the hash must not change between builds or platforms,
    // or every chash upstream would reshuffle on upgrade.
    // (Cross-checked against an independent implementation of FNV-1a 64 +
    // the murmur3 fmix64 finalizer.)
    assert_eq!(hash_bytes(b""), 0xefd0_1f60_ba99_2926);
    assert_eq!(hash_bytes(b"10.0.0.1:80"), 0xe268_cb64_ba6b_b499);
    assert_eq!(fold32(hash_bytes(b"user-1")), 0xdd75_0c9d);
    assert_ne!(hash_bytes(b"a"), hash_bytes(b"b"));
}

// ---------------------------------------------------------------- roundrobin

#[test]
fn roundrobin_smooth_sequence_is_nginx_order() {
    let rr = RoundRobin::new(&[5, 1, 1]);
    assert_eq!(rr.sequence(), &[0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn roundrobin_5_1_1_exact_and_interleaved() {
    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&[5, 1, 1]));
    let picks: Vec<usize> = (0..700).filter_map(|_| b.pick(None, &all)).collect();
    assert_eq!(picks.len(), 700);
    let mut c = [0usize; 3];
    for &p in &picks {
        c[p] += 1;
    }
    assert_eq!(c, [500, 100, 100]);
    // The cycle is a a b a c a a, so across the wrap-around the heavy node
    // runs at most 4 in a row, and the light nodes never repeat back to back.
    let mut run = 1;
    let mut longest = 1;
    for w in picks.windows(2) {
        if w[0] == w[1] {
            assert_eq!(w[0], 0, "light node picked twice in a row");
            run += 1;
            longest = longest.max(run);
        } else {
            run = 1;
        }
    }
    assert_eq!(longest, 4);
}

#[test]
fn roundrobin_zero_weight_never_picked() {
    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&[3, 0, 2]));
    let c = counts(&b, 500, &all);
    assert_eq!(c, vec![300, 0, 200]);
}

#[test]
fn roundrobin_all_zero_or_empty_gives_none() {
    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&[0, 0]));
    assert_eq!(b.pick(None, &all), None);
    let b = Balancer::new(Algorithm::RoundRobin, &[]);
    assert!(b.is_empty());
    assert_eq!(b.pick(None, &all), None);
}

#[test]
fn roundrobin_skips_unavailable_keeping_proportions() {
    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&[5, 1, 1]));
    // Node 0 down: its share must be split evenly, not all go to one neighbour.
    let c = counts(&b, 1000, &|n| n != 0);
    assert_eq!(c[0], 0);
    assert!((c[1] as i64 - c[2] as i64).abs() <= 2, "{c:?}");

    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&[1, 2, 3, 4]));
    let c = counts(&b, 8000, &|n| n != 3);
    assert_eq!(c[3], 0);
    // Remaining weights 1:2:3 over 8000 picks.
    for (n, want) in [
        (0usize, 8000.0 / 6.0),
        (1, 8000.0 * 2.0 / 6.0),
        (2, 8000.0 / 2.0),
    ] {
        let got = c[n] as f64;
        assert!(
            (got - want).abs() / want < 0.02,
            "node {n}: {got} vs {want}"
        );
    }
}

#[test]
fn roundrobin_all_unavailable_gives_none() {
    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&[5, 1, 1]));
    assert_eq!(b.pick(None, &|_| false), None);
}

#[test]
fn roundrobin_large_weights_are_scaled() {
    let reduced = reduce_weights(&[1_000_000, 1, 999_999]);
    assert!(reduced.iter().sum::<u64>() <= MAX_SEQUENCE + 3);
    assert_eq!(reduced[1], 1);
    let rr = RoundRobin::new(&[1_000_000, 1, 999_999]);
    assert!(rr.sequence().len() as u64 <= MAX_SEQUENCE + 3);
    assert!(rr.sequence().contains(&1));

    // Weights sharing a divisor produce the short cycle.
    assert_eq!(RoundRobin::new(&[100, 300]).sequence().len(), 4);
}

#[test]
fn roundrobin_single_available_node_is_cheap_and_found() {
    let weights: Vec<u32> = (0..300).map(|i| if i == 299 { 1 } else { 100 }).collect();
    let b = Balancer::new(Algorithm::RoundRobin, &nodes(&weights));
    for _ in 0..50 {
        assert_eq!(b.pick(None, &|n| n == 299), Some(299));
    }
}

#[test]
fn roundrobin_concurrent_picks_keep_weights() {
    let b = Arc::new(Balancer::new(Algorithm::RoundRobin, &nodes(&[5, 3, 2])));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                let mut c = [0usize; 3];
                for _ in 0..10_000 {
                    if let Some(n) = b.pick(None, &all) {
                        c[n] += 1;
                    }
                }
                c
            })
        })
        .collect();
    let mut total = [0usize; 3];
    for h in handles {
        let c = h.join().unwrap();
        for i in 0..3 {
            total[i] += c[i];
        }
    }
    assert_eq!(total.iter().sum::<usize>(), 40_000);
    for (i, share) in [0.5, 0.3, 0.2].into_iter().enumerate() {
        let got = total[i] as f64 / 40_000.0;
        assert!((got - share).abs() <= 0.01, "node {i}: {got}");
    }
}

// --------------------------------------------------------------------- chash

#[test]
fn chash_same_key_same_node() {
    let b = Balancer::new(Algorithm::Chash, &nodes(&[1, 1, 1, 1]));
    for i in 0..1000 {
        let k = key(i);
        let first = b.pick(Some(&k), &all);
        assert!(first.is_some());
        for _ in 0..3 {
            assert_eq!(b.pick(Some(&k), &all), first);
        }
    }
}

#[test]
fn chash_point_counts() {
    let c = Chash::new(&[1, 2, 3], &[2, 4, 6]);
    // gcd 2 → weights 1, 2, 3 → 6 units of 160 points.
    assert_eq!(c.ring_len() as u64, 6 * POINTS_PER_WEIGHT);
    let c = Chash::new(&[1, 2], &[100_000, 1]);
    assert!(c.ring_len() as u64 <= MAX_POINTS + 2);
    let c = Chash::new(&[1, 2], &[0, 0]);
    assert_eq!(c.ring_len(), 0);
}

#[test]
fn chash_spreads_keys_by_weight() {
    let b = Balancer::new(Algorithm::Chash, &nodes(&[1, 2, 1, 0]));
    let mut c = [0usize; 4];
    let total = 40_000;
    for i in 0..total {
        if let Some(n) = b.pick(Some(&key(i)), &all) {
            c[n] += 1;
        }
    }
    assert_eq!(c[3], 0, "zero weight got keys");
    for (n, share) in [(0usize, 0.25), (1, 0.5), (2, 0.25)] {
        let got = c[n] as f64 / total as f64;
        assert!(
            (got - share).abs() / share < 0.2,
            "node {n}: {got} vs {share}"
        );
    }
}

#[test]
fn chash_removing_a_node_only_moves_its_keys() {
    let n = 5;
    let full = nodes(&[1; 5]);
    let before = Balancer::new(Algorithm::Chash, &full);
    let removed = 2;
    let rest: Vec<NodeWeight> = full
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != removed)
        .map(|(_, nw)| *nw)
        .collect();
    let after = Balancer::new(Algorithm::Chash, &rest);
    let total = 10_000;
    let mut kept = 0;
    for i in 0..total {
        let k = key(i);
        let Some(old) = before.pick(Some(&k), &all) else {
            panic!("no node");
        };
        let Some(new) = after.pick(Some(&k), &all) else {
            panic!("no node");
        };
        // Compare by identity, since indices shift after the removal.
        if full[old].key == rest[new].key {
            kept += 1;
        } else {
            assert_eq!(old, removed, "a key of a surviving node moved");
        }
    }
    assert!(
        kept as f64 >= total as f64 * (1.0 - 1.0 / n as f64) * 0.9,
        "kept {kept}"
    );

    // Configuration order does not matter either.
    let mut reversed = full.clone();
    reversed.reverse();
    let r = Balancer::new(Algorithm::Chash, &reversed);
    for i in 0..1000 {
        let k = key(i);
        let (Some(a), Some(b)) = (before.pick(Some(&k), &all), r.pick(Some(&k), &all)) else {
            panic!("no node");
        };
        assert_eq!(full[a].key, reversed[b].key);
    }
}

#[test]
fn chash_unavailable_node_falls_back_deterministically() {
    let b = Balancer::new(Algorithm::Chash, &nodes(&[1, 1, 1, 1]));
    let mut moved_to = HashSet::new();
    for i in 0..200 {
        let k = key(i);
        let Some(home) = b.pick(Some(&k), &all) else {
            panic!("no node");
        };
        let without_home = |n: usize| n != home;
        let Some(second) = b.pick(Some(&k), &without_home) else {
            panic!("no fallback");
        };
        assert_ne!(second, home);
        for _ in 0..3 {
            assert_eq!(b.pick(Some(&k), &without_home), Some(second));
        }
        // Retry after the second also failed: a third distinct node.
        let Some(third) = b.pick(Some(&k), &|n| n != home && n != second) else {
            panic!("no second fallback");
        };
        assert!(third != home && third != second);
        moved_to.insert(second);
        assert_eq!(b.pick(Some(&k), &|_| false), None);
    }
    // Fallbacks are spread, not all dumped on one node.
    assert!(moved_to.len() >= 3);
}

#[test]
fn chash_without_key_round_robins_by_weight() {
    let b = Balancer::new(Algorithm::Chash, &nodes(&[3, 1]));
    assert_eq!(counts(&b, 400, &all), vec![300, 100]);
}

// ---------------------------------------------------------------- least_conn

#[test]
fn least_conn_prefers_fewer_active() {
    let b = Balancer::new(Algorithm::LeastConn, &nodes(&[1, 1, 1]));
    b.on_start(0);
    b.on_start(0);
    b.on_start(1);
    assert_eq!(b.pick(None, &all), Some(2));
    b.on_start(2);
    b.on_start(2);
    assert_eq!(b.pick(None, &all), Some(1));
    // Without node 1, nodes 0 and 2 tie at two requests each.
    let Some(n) = b.pick(None, &|n| n != 1) else {
        panic!("no node");
    };
    assert!(n == 0 || n == 2);
    b.on_finish(0, Duration::from_millis(5), false);
    b.on_finish(0, Duration::from_millis(5), false);
    assert_eq!(b.active(0), 0);
    assert_eq!(b.pick(None, &all), Some(0));
}

#[test]
fn least_conn_respects_weights() {
    let b = Balancer::new(Algorithm::LeastConn, &nodes(&[3, 1, 0]));
    let mut c = [0usize; 3];
    for _ in 0..40 {
        let Some(n) = b.pick(None, &all) else {
            panic!("no node");
        };
        b.on_start(n);
        c[n] += 1;
    }
    assert_eq!(c[2], 0);
    assert!((29..=31).contains(&c[0]), "{c:?}");
}

#[test]
fn least_conn_ties_spread_load() {
    let b = Balancer::new(Algorithm::LeastConn, &nodes(&[1, 1, 1, 1]));
    let c = counts(&b, 4000, &all);
    for &n in &c {
        assert!(n > 800, "{c:?}");
    }
}

#[test]
fn least_conn_unmatched_finish_does_not_underflow() {
    let b = Balancer::new(Algorithm::LeastConn, &nodes(&[1, 1]));
    b.on_finish(0, Duration::ZERO, true);
    assert_eq!(b.active(0), 0);
    b.on_start(99);
    b.on_finish(99, Duration::ZERO, false);
    assert_eq!(b.pick(None, &|_| false), None);
}

#[test]
fn previous_balancer_statistics_carry_over() {
    let old = Balancer::new(Algorithm::LeastConn, &nodes(&[1, 1]));
    old.on_start(0);
    old.on_start(0);
    // Node 1 is removed, node 0 stays, a new node arrives in front.
    let mut next = nodes(&[1]);
    next.insert(0, NodeWeight::new("10.0.0.9:80", 1, 0));
    let new = Balancer::with_previous(Algorithm::LeastConn, &next, Some(&old));
    assert_eq!(new.active(1), 2);
    assert_eq!(new.active(0), 0);
    assert_eq!(new.pick(None, &all), Some(0));
    // A request routed by the old balancer finishing is seen by the new one.
    old.on_finish(0, Duration::ZERO, false);
    assert_eq!(new.active(1), 1);
}

// ---------------------------------------------------------------------- ewma

#[test]
fn ewma_prefers_fast_node() {
    let b = Balancer::new(Algorithm::Ewma, &nodes(&[1, 1]));
    let t0 = Instant::now();
    b.on_finish_at(0, Duration::from_millis(10), false, t0);
    b.on_finish_at(1, Duration::from_millis(500), false, t0);
    for _ in 0..100 {
        assert_eq!(b.pick_at(None, &all, t0), Some(0));
    }
    // With the fast node unavailable, the slow one is still used.
    assert_eq!(b.pick_at(None, &|n| n != 0, t0), Some(1));
}

#[test]
fn ewma_power_of_two_choices_favours_fast_nodes() {
    let b = Balancer::new(Algorithm::Ewma, &nodes(&[1, 1, 1, 0]));
    let t0 = Instant::now();
    b.on_finish_at(0, Duration::from_millis(10), false, t0);
    b.on_finish_at(1, Duration::from_millis(200), false, t0);
    b.on_finish_at(2, Duration::from_millis(400), false, t0);
    let mut c = [0usize; 4];
    for _ in 0..3000 {
        if let Some(n) = b.pick_at(None, &all, t0) {
            c[n] += 1;
        }
    }
    // Every pair draw containing node 0 picks it (2/3), node 2 never wins.
    assert_eq!(c[3], 0);
    assert_eq!(c[2], 0);
    assert!(c[0] > 1800 && c[1] > 800, "{c:?}");
}

#[test]
fn ewma_unmeasured_nodes_are_tried() {
    let b = Balancer::new(Algorithm::Ewma, &nodes(&[1, 1]));
    let t0 = Instant::now();
    b.on_finish_at(0, Duration::from_millis(10), false, t0);
    assert_eq!(b.pick_at(None, &all, t0), Some(1));
}

#[test]
fn ewma_slow_node_recovers_over_time() {
    let b = Balancer::new(Algorithm::Ewma, &nodes(&[1, 1]));
    let t0 = Instant::now();
    b.on_finish_at(0, Duration::from_millis(10), false, t0);
    b.on_finish_at(1, Duration::from_millis(500), false, t0);
    assert_eq!(b.pick_at(None, &all, t0), Some(0));
    // The fast node keeps being measured; the idle slow node's score decays
    // (500 ms × e^(-60/10) ≈ 1.2 ms < 10 ms) and it gets traffic again.
    let t1 = t0 + Duration::from_secs(60);
    b.on_finish_at(0, Duration::from_millis(10), false, t1);
    assert_eq!(b.pick_at(None, &all, t1), Some(1));
    // A fresh fast measurement on node 1 keeps it competitive.
    b.on_finish_at(1, Duration::from_millis(2), false, t1);
    assert_eq!(b.pick_at(None, &all, t1), Some(1));
}

#[test]
fn ewma_decay_blends_samples() {
    let cell = ewma::EwmaCell::default();
    assert_eq!(cell.score(0), 0.0);
    cell.record(1000, Duration::from_millis(100), false);
    assert!((cell.score(1000) - 0.1).abs() < 1e-6);
    // 10 s later a 300 ms sample: w = e^-1.
    cell.record(11_000, Duration::from_millis(300), false);
    let w = (-1.0f64).exp();
    let want = 0.1 * w + 0.3 * (1.0 - w);
    assert!((cell.score(11_000) - want).abs() < 1e-5);
    // Scores decay towards zero while idle.
    assert!((cell.score(21_000) - want * w).abs() < 1e-5);
}

#[test]
fn ewma_failures_are_penalised() {
    let b = Balancer::new(Algorithm::Ewma, &nodes(&[1, 1]));
    let t0 = Instant::now();
    b.on_finish_at(0, Duration::from_millis(20), false, t0);
    b.on_finish_at(1, Duration::from_millis(50), false, t0);
    assert_eq!(b.pick_at(None, &all, t0), Some(0));
    // Node 0 fails fast (connection refused after 1 ms).
    b.on_finish_at(0, Duration::from_millis(1), true, t0);
    assert_eq!(b.pick_at(None, &all, t0), Some(1));
}

#[test]
fn ewma_all_unavailable_gives_none() {
    let b = Balancer::new(Algorithm::Ewma, &nodes(&[1, 1, 1]));
    assert_eq!(b.pick(None, &|_| false), None);
    assert_eq!(b.pick(None, &|n| n == 1), Some(1));
}

// ------------------------------------------------------------------ priority

fn tiered(algorithm: Algorithm) -> Balancer {
    // Listed low priority first to show order in the list does not matter.
    let list = vec![
        NodeWeight::new("backup-a:80", 1, -1),
        NodeWeight::new("main-a:80", 1, 10),
        NodeWeight::new("main-b:80", 2, 10),
        NodeWeight::new("backup-b:80", 1, -1),
        NodeWeight::new("mid:80", 1, 0),
    ];
    Balancer::new(algorithm, &list)
}

#[test]
fn priority_tiers_sorted_high_first() {
    let b = tiered(Algorithm::RoundRobin);
    // Priorities 10, 0, -1; within a tier, list order.
    assert_eq!(b.tiers.members(), vec![vec![1, 2], vec![4], vec![0, 3]]);
}

#[test]
fn priority_lower_tier_only_when_higher_exhausted() {
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::Chash,
        Algorithm::Ewma,
        Algorithm::LeastConn,
    ] {
        let b = tiered(algorithm);
        let k = b"client".as_slice();
        for i in 0..200 {
            let key = key(i);
            let hk = if algorithm == Algorithm::Chash {
                Some(key.as_slice())
            } else {
                None
            };
            let Some(n) = b.pick(hk, &all) else {
                panic!("no node");
            };
            assert!(n == 1 || n == 2, "{algorithm:?} used a lower tier: {n}");
        }
        // One main node down: the other main node, still no backup.
        for _ in 0..50 {
            assert_eq!(b.pick(Some(k), &|n| n != 1), Some(2));
        }
        // Whole main tier down: the middle tier.
        assert_eq!(b.pick(Some(k), &|n| n != 1 && n != 2), Some(4));
        // Main and middle down: backups only.
        for _ in 0..50 {
            let Some(n) = b.pick(Some(k), &|n| n == 0 || n == 3) else {
                panic!("no backup");
            };
            assert!(n == 0 || n == 3);
        }
        assert_eq!(b.pick(Some(k), &|_| false), None);
    }
}

#[test]
fn priority_zero_weight_tier_is_skipped() {
    let list = vec![
        NodeWeight::new("drained:80", 0, 5),
        NodeWeight::new("live:80", 1, 0),
    ];
    let b = Balancer::new(Algorithm::RoundRobin, &list);
    assert_eq!(b.pick(None, &all), Some(1));
}

// --------------------------------------------------------------- concurrency

#[test]
fn all_algorithms_concurrent_smoke() {
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::Chash,
        Algorithm::Ewma,
        Algorithm::LeastConn,
    ] {
        let b = Arc::new(Balancer::new(algorithm, &nodes(&[2, 1, 1])));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let b = Arc::clone(&b);
                thread::spawn(move || {
                    let mut seen: HashMap<usize, usize> = HashMap::new();
                    for i in 0..5_000 {
                        let k = key(t * 10_000 + i);
                        let Some(n) = b.pick(Some(&k), &all) else {
                            panic!("no node");
                        };
                        b.on_start(n);
                        b.on_finish(n, Duration::from_micros((n as u64 + 1) * 100), false);
                        *seen.entry(n).or_default() += 1;
                    }
                    seen
                })
            })
            .collect();
        let mut picked = 0;
        for h in handles {
            picked += h.join().unwrap().values().sum::<usize>();
        }
        assert_eq!(picked, 20_000);
        for n in 0..3 {
            assert_eq!(b.active(n), 0, "{algorithm:?}");
        }
    }
}
