//! LLM metrics through `prometheus`: tokens, latency (total and time to
//! first token), cost, gateway overhead and active calls, labelled by
//! route, consumer, instance and models.

use std::time::Duration;

use serde_json::json;

use crate::common::get;
use crate::common::mock_llm::MockLlm;
use crate::plugins::Env;

fn sample<'t>(text: &'t str, name: &str, must_contain: &[&str]) -> Option<&'t str> {
    text.lines()
        .find(|l| l.starts_with(name) && must_contain.iter().all(|c| l.contains(c)))
}

fn value(line: Option<&str>) -> f64 {
    line.and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test]
async fn llm_requests_are_measured() {
    let prices = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/model_prices.json");
    let env = Env::start_with(|o| {
        o.extra_yaml(&format!(
            "  llm:\n    price_table: {:?}\n",
            prices.display().to_string()
        ))
    })
    .await;
    let mock = MockLlm::start().await;
    env.put(
        "/routes/ai",
        json!({"uri": "/v1/chat/completions", "plugins": {
            "prometheus": {},
            "ai-proxy": {"provider": "openai-compatible", "auth": {},
                         "override": {"endpoint": mock.base()}}}}),
    )
    .await;
    env.post_until("/v1/chat/completions", "{}", |r| r.status != 404)
        .await;
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "four"}]});
    let r = env
        .post_json("/v1/chat/completions", &chat.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut stream = chat.clone();
    stream["stream"] = json!(true);
    let r = env
        .post_json("/v1/chat/completions", &stream.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let labels = [
        "route_id=\"ai\"",
        "node=\"ai-proxy-openai-compatible\"",
        "request_llm_model=\"gpt-4o-mini\"",
        "llm_model=\"gpt-4o-mini-0001\"",
    ];
    let chat_labels = [&labels[..], &["request_type=\"ai_chat\""]].concat();
    let stream_labels = [&labels[..], &["request_type=\"ai_stream\""]].concat();
    let text = || async {
        get(env.gw.metrics_url())
            .send()
            .await
            .expect("metrics")
            .body
    };
    let both_counted = crate::common::wait_until(Duration::from_secs(5), || async {
        let t = text().await;
        sample(&t, "apisix_llm_prompt_tokens{", &chat_labels).is_some()
            && sample(&t, "apisix_llm_prompt_tokens{", &stream_labels).is_some()
    })
    .await;
    let t = text().await;
    assert!(both_counted.is_some(), "{t}");
    // The mock: prompt = characters of "four", completion = words of "echo: four".
    assert_eq!(
        value(sample(&t, "apisix_llm_prompt_tokens{", &chat_labels)),
        4.0
    );
    assert_eq!(
        value(sample(&t, "apisix_llm_completion_tokens{", &chat_labels)),
        2.0
    );
    assert_eq!(
        value(sample(&t, "apisix_llm_completion_tokens{", &stream_labels)),
        2.0,
        "usage asked for on the stream although the client did not"
    );
    let cost = value(sample(&t, "apisix_llm_cost_usd{", &chat_labels));
    assert!(
        (cost - (4.0 * 0.15e-6 + 2.0 * 0.6e-6)).abs() < 1e-12,
        "{cost}"
    );
    for kind in ["total", "ttft"] {
        let count = sample(
            &t,
            "apisix_llm_latency_count{",
            &[&stream_labels[..], &[&format!("type=\"{kind}\"")]].concat(),
        );
        assert_eq!(value(count), 1.0, "{kind}: {t}");
    }
    assert_eq!(
        value(sample(
            &t,
            "apisix_llm_gateway_overhead_count{",
            &chat_labels
        )),
        1.0
    );
    // Strait's own time, not the provider's: well under the 10 ms the
    // stream's words are apart.
    let overhead_ms = value(sample(
        &t,
        "apisix_llm_gateway_overhead_sum{",
        &stream_labels,
    ));
    assert!(overhead_ms > 0.0 && overhead_ms < 10.0, "{overhead_ms}");
    assert_eq!(
        value(sample(
            &t,
            "apisix_llm_active_connections{",
            &["route_id=\"ai\"", "node=\"ai-proxy-openai-compatible\""]
        )),
        0.0,
        "both calls ended"
    );
}
