//! `GET …/v1/models` on routes with `ai-proxy` and `ai-proxy-multi`:
//! answered by strait from the configured models in OpenAI's list shape,
//! one model by id or OpenAI's 404, and never a call to a provider.

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::plugins::Env;

fn model(id: &str, owner: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
}

#[tokio::test]
async fn models_are_listed_from_the_configuration() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    env.put(
        "/routes/one",
        json!({"uri": "/one/v1/*", "plugins": {"ai-proxy": {
            "provider": "openai", "auth": {"header": {"Authorization": "Bearer k"}},
            "options": {"model": "gpt-4o-mini", "temperature": 0.2},
            "override": {"endpoint": mock.base()}}}}),
    )
    .await;
    let r = env.until("/one/v1/models", &[], 200).await;
    assert_eq!(
        r.json(),
        json!({"object": "list", "data": [model("gpt-4o-mini", "openai")]})
    );
    let r = env.get("/one/v1/models/gpt-4o-mini", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), model("gpt-4o-mini", "openai"));
    let r = env.get("/one/v1/models/gpt-5", &[]).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "The model 'gpt-5' does not exist",
                         "type": "invalid_request_error", "param": "model",
                         "code": "model_not_found"}})
    );

    // No model configured: the client chooses, none is listed.
    env.put(
        "/routes/any",
        json!({"uri": "/any/v1/*", "plugins": {"ai-proxy": {
            "provider": "openai-compatible", "auth": {},
            "override": {"endpoint": mock.base()}}}}),
    )
    .await;
    let r = env.until("/any/v1/models", &[], 200).await;
    assert_eq!(r.json(), json!({"object": "list", "data": []}));

    // ai-proxy-multi: every instance's model once, in instance order.
    let instance = |name: &str, provider: &str, options: Value| {
        json!({"name": name, "provider": provider, "weight": 1, "options": options,
               "auth": {"header": {"x-goog-api-key": "k"}},
               "override": {"endpoint": mock.base()}})
    };
    env.put(
        "/routes/multi",
        json!({"uri": "/multi/v1/*", "plugins": {"ai-proxy-multi": {"instances": [
            instance("a", "openai", json!({"model": "gpt-4o"})),
            instance("b", "deepseek", json!({"model": "gpt-4o"})),
            instance("c", "openai-compatible", json!({})),
            instance("d", "gemini", json!({"model": "gemini-2.5-flash"})),
        ]}}}),
    )
    .await;
    let r = env.until("/multi/v1/models", &[], 200).await;
    assert_eq!(
        r.json(),
        json!({"object": "list", "data": [model("gpt-4o", "openai"),
                                          model("gemini-2.5-flash", "gemini")]})
    );
    let r = env.get("/multi/v1/models/gemini-2.5-flash", &[]).await;
    assert_eq!(r.json(), model("gemini-2.5-flash", "gemini"));
    assert!(mock.received().is_empty(), "no provider was asked");

    // Other requests on such routes are calls, as before.
    let r = env
        .post_json(
            "/multi/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "hi"}]}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
