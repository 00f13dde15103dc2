//! Criterion benchmark of the route index: lookups against a 100k-route
//! table (static exact, parameter, prefix, host-bound, miss), the time to
//! build that table and a host-heavy one, and the time of a one-route
//! update (remove one + add one) with 100k routes loaded.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strait::router::{RouteSpec, Router};

const ROUTES: usize = 100_000;
const ROTATE: usize = 1024;

fn route(id: usize, uri: String, hosts: Vec<String>) -> RouteSpec<usize> {
    RouteSpec {
        key: id.to_string().into(),
        payload: Arc::new(id),
        uris: vec![uri].into(),
        hosts: hosts.into(),
        priority: (id % 3) as i64,
        order: id as u64,
    }
}

/// 40% static exact, 30% parameter, 20% prefix, 10% host-bound routes.
fn specs() -> Vec<RouteSpec<usize>> {
    (0..ROUTES)
        .map(|i| match i % 10 {
            0..=3 => route(i, format!("/api/v1/svc{i}/items"), vec![]),
            4..=6 => route(i, format!("/users{i}/:id/orders"), vec![]),
            7 | 8 => route(i, format!("/static/{i}/*"), vec![]),
            _ if i % 20 == 9 => route(i, format!("/h/{i}/*"), vec![format!("h{i}.example.com")]),
            _ => route(i, format!("/w/{i}"), vec![format!("*.w{i}.example.com")]),
        })
        .collect()
}

/// The reload bench's table: 25% of the routes have their own exact host
/// and wildcard host.
fn specs_hosts() -> Vec<RouteSpec<usize>> {
    (0..ROUTES)
        .map(|i| match i % 4 {
            0 => route(i, format!("/api/v1/svc{i}/items"), vec![]),
            1 => route(i, format!("/users{i}/:id/orders"), vec![]),
            2 => route(
                i,
                format!("/static{i}/*"),
                vec![format!("h{i}.example.com"), format!("*.w{i}.example.com")],
            ),
            _ => route(i, format!("/q{i}"), vec![]),
        })
        .collect()
}

/// `ROTATE` paths spread over the table, so lookups do not hit one entry.
fn paths(f: impl Fn(usize) -> String) -> Vec<String> {
    (0..ROTATE)
        .map(|k| f(k * (ROUTES / ROTATE) / 10 * 10))
        .collect()
}

fn bench_find(c: &mut Criterion) {
    let router = Router::build(specs()).unwrap_or_default();
    assert_eq!(router.len(), ROUTES);

    let cases: Vec<(&str, Option<String>, Vec<String>)> = vec![
        (
            "find_static_exact",
            None,
            paths(|b| format!("/api/v1/svc{}/items", b + 1)),
        ),
        (
            "find_param",
            None,
            paths(|b| format!("/users{}/u-{b}/orders", b + 5)),
        ),
        (
            "find_prefix",
            None,
            paths(|b| format!("/static/{}/css/site.css", b + 7)),
        ),
        (
            "find_miss_404",
            None,
            paths(|b| format!("/api/v1/svc{b}/nothing-here")),
        ),
        (
            "find_static_exact_with_host_header",
            Some("www.unrelated.example.net".to_owned()),
            paths(|b| format!("/api/v1/svc{}/items", b + 1)),
        ),
        (
            "find_exact_host",
            Some("H29.Example.com:8080".to_owned()),
            vec!["/h/29/index.html".to_owned(); ROTATE],
        ),
    ];

    let mut group = c.benchmark_group("router_100k");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(30);
    for (name, host, paths) in &cases {
        // Check the case really hits (or misses) before timing it.
        let hits = paths
            .iter()
            .filter(|p| router.find(host.as_deref(), p, |_, _| true).is_some())
            .count();
        let expect = if *name == "find_miss_404" {
            0
        } else {
            paths.len()
        };
        assert_eq!(hits, expect, "{name}");

        let host = host.as_deref();
        group.bench_function(*name, |b| {
            let mut i = 0usize;
            b.iter(|| {
                let path = &paths[i % ROTATE];
                i = i.wrapping_add(1);
                let m = router.find(black_box(host), black_box(path), |_, _| true);
                black_box(m.map(|m| Arc::as_ptr(m.route)))
            })
        });
    }
    group.finish();
}

fn bench_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_build");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    group.warm_up_time(Duration::from_secs(1));
    for (name, input) in [("build_100k", specs()), ("build_100k_hosts", specs_hosts())] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |specs| black_box(Router::build(specs).map(|r| r.len())),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// A route's replacement: the new spec, and a request only it answers.
type Replace = fn(usize) -> (RouteSpec<usize>, Option<String>, String);

/// An update case: name, table, a route id of the changed class near a
/// base id, and the route's replacement.
type UpdateCase = (
    &'static str,
    fn() -> Vec<RouteSpec<usize>>,
    fn(usize) -> usize,
    Replace,
);

fn hostless_v2(i: usize) -> (RouteSpec<usize>, Option<String>, String) {
    let spec = route(i, format!("/users{i}/:id/orders/v2"), vec![]);
    (spec, None, format!("/users{i}/x/orders/v2"))
}

fn host_v2(i: usize) -> (RouteSpec<usize>, Option<String>, String) {
    let h = format!("h{i}-v2.example.com");
    let spec = route(i, format!("/h/{i}/v2/*"), vec![h.clone()]);
    (spec, Some(h), format!("/h/{i}/v2/a"))
}

fn host_pair_v2(i: usize) -> (RouteSpec<usize>, Option<String>, String) {
    let h = format!("h{i}-v2.example.com");
    let hosts = vec![h.clone(), format!("*.w{i}-v2.example.com")];
    let spec = route(i, format!("/static{i}/v2/*"), hosts);
    (spec, Some(h), format!("/static{i}/v2/a"))
}

/// One route changed (removed and added back with another pattern, and
/// for host routes other hosts) in a router holding 100k routes; the new
/// router is dropped inside the timing, as a replaced router would be.
fn bench_update(c: &mut Criterion) {
    let cases: [UpdateCase; 4] = [
        (
            "update_one_route_100k_hostless",
            specs,
            |b| b / 10 * 10 + 4,
            hostless_v2,
        ),
        (
            "update_one_route_100k_host",
            specs,
            |b| b / 20 * 20 + 9,
            host_v2,
        ),
        (
            "update_one_route_100k_hosts_table_hostless",
            specs_hosts,
            |b| b / 4 * 4 + 1,
            hostless_v2,
        ),
        (
            "update_one_route_100k_hosts_table_host",
            specs_hosts,
            |b| b / 4 * 4 + 2,
            host_pair_v2,
        ),
    ];
    let mut group = c.benchmark_group("router_update");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(30);
    for (name, table, pick, replace) in cases {
        let router = Router::build(table()).unwrap_or_default();
        assert_eq!(router.len(), ROUTES);
        let changes: Vec<_> = (0..64)
            .map(|k| {
                let (spec, host, path) = replace(pick(k * (ROUTES / 64)));
                (spec.key.clone(), spec, host, path)
            })
            .collect();
        // The change really applies: the new pattern answers, only there.
        for (key, spec, host, path) in &changes {
            let next = router.update([key], [spec.clone()]).unwrap_or_default();
            assert_eq!(next.len(), ROUTES, "{name}");
            let hit = next.find(host.as_deref(), path, |_, _| true);
            assert_eq!(hit.map(|m| **m.route), Some(*spec.payload), "{name} {path}");
            assert!(router.find(host.as_deref(), path, |_, _| true).is_none());
        }
        group.bench_function(name, |b| {
            let mut i = 0usize;
            b.iter(|| {
                let (key, spec, _, _) = &changes[i % changes.len()];
                i = i.wrapping_add(1);
                let next = router.update([key], [spec.clone()]);
                black_box(next.map(|r| r.len()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_find, bench_build, bench_update);
criterion_main!(benches);
