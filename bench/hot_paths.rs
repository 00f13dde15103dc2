//! Criterion benchmarks of the data plane's hot pure functions besides route
//! matching (`bench/router.rs`): the balancer's pick for each algorithm,
//! `vars` evaluation against a request, and a full snapshot rebuild.
//!
//! Run: `cargo bench --bench hot_paths`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::json;
use strait::config::store::{Changes, ConfigStore};

#[path = "fixtures.rs"]
mod fixtures;
use strait::expr::Expr;
use strait::proxy::request_vars::RequestVars;
use strait::proxy::ConnInfo;
use strait::upstream::balancer::{Algorithm, Balancer, NodeWeight};

fn bench_balancer(c: &mut Criterion) {
    let nodes: Vec<NodeWeight> = (0..10)
        .map(|i| NodeWeight::new(&format!("10.0.0.{i}:8080"), 1 + i % 3, 0))
        .collect();
    let keys: Vec<Vec<u8>> = (0..1024)
        .map(|i| format!("user-{i}").into_bytes())
        .collect();
    let mut group = c.benchmark_group("balancer_10_nodes");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for name in ["roundrobin", "chash", "least_conn", "ewma"] {
        let Some(algorithm) = Algorithm::from_name(name) else {
            eprintln!("unknown algorithm {name}: skipped");
            continue;
        };
        let b = Balancer::new(algorithm, &nodes);
        group.bench_function(name, |bench| {
            let mut i = 0usize;
            bench.iter(|| {
                let key = (algorithm == Algorithm::Chash).then(|| keys[i % keys.len()].as_slice());
                i = i.wrapping_add(1);
                let picked = b.pick(black_box(key), &|_| true);
                // What a request does around the pick (counts, latency).
                if let Some(n) = picked {
                    b.on_start(n);
                    b.on_finish(n, Duration::from_micros(300), false);
                }
                black_box(picked)
            })
        });
    }
    group.finish();
}

fn bench_vars(c: &mut Criterion) {
    let req = http::Request::builder()
        .uri("/api/items?v=42&page=3")
        .header("host", "api.example.com")
        .header("x-env", "production")
        .header("user-agent", "bench/1.0")
        .body(())
        .unwrap_or_default();
    let conn = ConnInfo {
        remote: SocketAddr::from(([10, 1, 2, 3], 50000)),
        local: SocketAddr::from(([127, 0, 0, 1], 9080)),
    };
    let cases = [
        ("one_condition", json!([["arg_v", "==", "42"]])),
        (
            "three_conditions",
            json!([
                ["arg_v", "==", "42"],
                ["http_x_env", "~~", "^prod"],
                ["remote_addr", "ipmatch", ["10.0.0.0/8", "192.168.0.0/16"]]
            ]),
        ),
        (
            "or_of_ands",
            json!([
                "OR",
                ["arg_page", ">", 5],
                [
                    "AND",
                    ["http_user_agent", "~*", "bench"],
                    ["host", "==", "api.example.com"]
                ]
            ]),
        ),
    ];
    let mut group = c.benchmark_group("vars_eval");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for (name, expr) in cases {
        let expr = match Expr::compile(&expr) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{name}: {e}: skipped");
                continue;
            }
        };
        let vars = RequestVars::new(&req, "/api/items", Some("api.example.com"), conn);
        assert!(expr.eval(&vars), "{name} matches the request");
        group.bench_function(name, |b| b.iter(|| black_box(expr.eval(black_box(&vars)))));
    }
    group.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    const ROUTES: usize = 10_000;
    let mut store = ConfigStore::new("/apisix");
    let items = fixtures::store_items(ROUTES, 1980);
    store.replace_all(items, ROUTES as i64 + 2);
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("full_rebuild_10k_routes", |b| {
        b.iter_batched(
            || Changes {
                routing: true,
                any: true,
            },
            |changes| black_box(store.snapshot(None, changes)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_balancer, bench_vars, bench_snapshot);
criterion_main!(benches);
