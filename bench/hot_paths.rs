//! Criterion benchmarks of the data plane's hot pure functions besides route
//! matching (`bench/router.rs`): the balancer's pick for each algorithm,
//! `vars` evaluation against a request, a full snapshot rebuild, and the
//! translation of one streamed LLM chunk (decode the provider's SSE event,
//! encode it in the client's protocol), and the translation work of one
//! complete (non-streamed) chat completion.
//!
//! Run: `cargo bench --bench hot_paths`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
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
        tls: None,
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
        let vars = RequestVars::new(&req, "/api/items", Some("api.example.com"), &conn);
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

/// One content chunk of a stream already under way, per provider × client
/// protocol: what `ai-proxy` does for each chunk besides moving bytes.
fn bench_llm_chunk(c: &mut Criterion) {
    use strait::llm::protocol::{anthropic_messages::AnthropicMessages, openai_chat::OpenAiChat};
    use strait::llm::{ClientProtocol, StreamEvent};

    let openai_chunk = |i: usize| {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i} \"}},\"finish_reason\":null}}]}}\n\n"
        )
    };
    let anthropic_chunk = |i: usize| {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"t{i} \"}}}}\n\n"
        )
    };
    let anthropic_start = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    );
    let request = br#"{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}"#;
    let cases: [(&str, &str, &dyn ClientProtocol); 3] = [
        ("openai_to_openai_chat", "openai", &OpenAiChat),
        ("openai_to_anthropic_messages", "openai", &AnthropicMessages),
        ("anthropic_to_openai_chat", "anthropic", &OpenAiChat),
    ];
    let mut group = c.benchmark_group("llm_stream_chunk");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for (name, provider, client) in cases {
        let Some(provider) = strait::llm::provider::by_name(provider) else {
            eprintln!("unknown provider: {name} skipped");
            continue;
        };
        let Ok(req) = client.decode_request(request) else {
            eprintln!("request does not decode: {name} skipped");
            continue;
        };
        let chunks: Vec<Bytes> = (0..256)
            .map(|i| {
                Bytes::from(if provider.name() == "anthropic" {
                    anthropic_chunk(i)
                } else {
                    openai_chunk(i)
                })
            })
            .collect();
        let mut decoder = provider.stream_decoder();
        let mut encoder = client.stream_encoder(&req, 0);
        let mut events: Vec<StreamEvent> = Vec::new();
        let mut out = BytesMut::new();
        let first = if provider.name() == "anthropic" {
            Bytes::from_static(anthropic_start.as_bytes())
        } else {
            chunks[0].clone()
        };
        // The stream's start (role, message_start) is behind us.
        let _ = decoder.feed(&first, &mut events);
        for ev in events.drain(..) {
            encoder.encode(&ev, &mut out);
        }
        group.bench_function(name, |bench| {
            let mut i = 0usize;
            bench.iter(|| {
                let chunk = &chunks[i % chunks.len()];
                i = i.wrapping_add(1);
                let _ = decoder.feed(black_box(chunk), &mut events);
                for ev in events.drain(..) {
                    encoder.encode(&ev, &mut out);
                }
                black_box(out.split().freeze())
            })
        });
    }
    group.finish();
}

/// The translation work of one complete chat completion, scenario 8's
/// request and answer: the client's body decoded, the provider request
/// built, the provider's answer decoded and written in the client's
/// protocol (the bytes the client gets).
fn bench_llm_chat(c: &mut Criterion) {
    use strait::llm::protocol::openai_chat::OpenAiChat;
    use strait::llm::ClientProtocol;

    let request = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}]}"#;
    let answer = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}"#;
    let Some(provider) = strait::llm::provider::by_name("openai-compatible") else {
        eprintln!("no openai-compatible provider: llm_chat skipped");
        return;
    };
    let mut group = c.benchmark_group("llm_chat");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("request", |bench| {
        bench.iter(|| {
            let req = OpenAiChat.decode_request(black_box(request));
            req.and_then(|r| provider.build_request(&r, "openai-chat"))
                .map(|out| out.body)
        })
    });
    group.bench_function("answer", |bench| {
        bench.iter(|| {
            provider.decode_response(black_box(answer)).map(|a| {
                strait::plugin::PluginResponse::json_body(
                    http::StatusCode::OK,
                    OpenAiChat.encode_response(&a),
                )
                .body
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_balancer,
    bench_vars,
    bench_snapshot,
    bench_llm_chunk,
    bench_llm_chat
);
criterion_main!(benches);
