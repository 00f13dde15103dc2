//! Criterion benchmark of the route index: lookups against a 100k-route
//! table (static exact, parameter, prefix, host-bound, miss) and the time
//! to build that table.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strait::router::{RouteSpec, Router};

const ROUTES: usize = 100_000;
const ROTATE: usize = 1024;

fn route(id: usize, uri: String, hosts: Vec<String>) -> RouteSpec<usize> {
    RouteSpec {
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
    let input = specs();
    let mut group = c.benchmark_group("router_build");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("build_100k", |b| {
        b.iter_batched(
            || input.clone(),
            |specs| black_box(Router::build(specs).map(|r| r.len())),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_find, bench_build);
criterion_main!(benches);
