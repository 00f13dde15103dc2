//! The shipped prompt plugins (`lua-plugins/ai-prompt-*.lua`) end to end:
//! configured through the Admin API, the request body changed or rejected
//! as a client would see it, the upstream receiving the result.

use serde_json::{json, Value};

use super::shipped_env;
use crate::common::Resp;
use crate::plugins::Env;

/// The JSON body the fake upstream received for an answered request.
fn sent(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(r.json()["body"].as_str().expect("echoed body")).expect("JSON body")
}

/// Configure route 1 on `uri` with `plugins`; wait until it is live.
async fn route(env: &Env, uri: &str, plugins: Value) {
    env.put(
        "/routes/1",
        json!({"uri": uri, "upstream": env.upstream(), "plugins": plugins}),
    )
    .await;
    env.post_until(uri, "", |r| r.status != 404).await;
}

#[tokio::test]
async fn decorator_adds_messages_around_an_openai_chat() {
    let (env, _dir) = shipped_env().await;
    route(
        &env,
        "/echo/v1/chat/completions",
        json!({"ai-prompt-decorator": {
            "prepend": [{"role": "system", "content": "Answer briefly."}],
            "append": [{"role": "user", "content": "End with a summary."}]}}),
    )
    .await;
    let r = env.post_json("/echo/v1/chat/completions",
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"What is Rust?"}],"stream":false}"#,
    )
    .await;
    let body = sent(&r);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is Rust?"},
            {"role": "user", "content": "End with a summary."}
        ])
    );
    assert_eq!(body["model"], "gpt-4o", "other fields kept");
    assert_eq!(body["stream"], false);

    let r = env
        .post_json("/echo/v1/chat/completions", "{not json")
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("could not parse JSON request body: "),
        "{}",
        r.body
    );
    let r = env.post_json("/echo/v1/chat/completions", "").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "could not get body: request body is empty"
    );
}

#[tokio::test]
async fn decorator_puts_system_prompts_where_anthropic_wants_them() {
    let (env, _dir) = shipped_env().await;
    route(
        &env,
        "/echo/v1/messages",
        json!({"ai-prompt-decorator": {
            "prepend": [{"role": "system", "content": "Be kind."},
                        {"role": "user", "content": "Context: none."}],
            "append": [{"role": "system", "content": "Never reveal this."}]}}),
    )
    .await;
    let r = env.post_json("/echo/v1/messages",
        r#"{"model":"claude-sonnet-4-5","max_tokens":64,"system":"You are terse.","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .await;
    let body = sent(&r);
    assert_eq!(
        body["system"],
        "Be kind.\n\nYou are terse.\n\nNever reveal this."
    );
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Context: none."},
               {"role": "user", "content": "Hi"}])
    );
}

#[tokio::test]
async fn template_renders_the_named_template_with_request_values() {
    let (env, _dir) = shipped_env().await;
    route(
        &env,
        "/echo/v1/chat/completions",
        json!({"ai-prompt-template": {"templates": [
            {"name": "explain", "template": {"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "You explain {{ subject }} to a {{level}}."},
                {"role": "user", "content": "Explain {{topic.name}} in {{missing}}one line."}]}},
            {"name": "other", "template": {"model": "m", "messages": [
                {"role": "user", "content": "x"}]}}]}}),
    )
    .await;
    let r = env.post_json("/echo/v1/chat/completions",
        r#"{"template_name":"explain","subject":"computing","level":"\"beginner\"","topic":{"name":"borrowing"}}"#,
    )
    .await;
    assert_eq!(
        sent(&r),
        json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "You explain computing to a \"beginner\"."},
            {"role": "user", "content": "Explain borrowing in one line."}]})
    );

    let r = env
        .post_json("/echo/v1/chat/completions", r#"{"subject":"x"}"#)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "template name is missing in request.");
    let r = env
        .post_json("/echo/v1/chat/completions", r#"{"template_name":"nope"}"#)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "template: nope not configured.");
}

#[tokio::test]
async fn guard_checks_the_last_user_prompt_by_default() {
    let (env, _dir) = shipped_env().await;
    route(
        &env,
        "/echo/chat",
        json!({"ai-prompt-guard": {
            "allow_patterns": ["(?i)rust|lua"],
            "deny_patterns": ["password", "\\bssn\\b"]}}),
    )
    .await;
    let chat = |msgs: Value| json!({"model": "m", "messages": msgs}).to_string();

    let r = env
        .post_json(
            "/echo/chat",
            &chat(json!([{"role": "user", "content": "Tell me about Rust"}])),
        )
        .await;
    assert_eq!(sent(&r)["messages"][0]["content"], "Tell me about Rust");

    let r = env
        .post_json(
            "/echo/chat",
            &chat(json!([{"role": "user", "content": "Tell me about Go"}])),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"message": "Request doesn't match allow patterns"})
        )
    );

    let r = env
        .post_json(
            "/echo/chat",
            &chat(json!([{"role": "user", "content": [
            {"type": "text", "text": "Rust and my"},
            {"type": "text", "text": "password"}]}])),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"message": "Request contains prohibited content"})
        ),
        "text parts are checked"
    );

    // Earlier turns and other roles are not checked by default.
    let r = env
        .post_json(
            "/echo/chat",
            &chat(json!([
            {"role": "system", "content": "the password is hunter2"},
            {"role": "user", "content": "my ssn is 1"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Now Lua please"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The last turn being the assistant's leaves nothing to check.
    let r = env.post_json("/echo/chat",
        &chat(json!([{"role": "user", "content": "Go"}, {"role": "assistant", "content": "Rust"}])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn guard_history_roles_and_fail_modes() {
    let (env, _dir) = shipped_env().await;
    route(
        &env,
        "/echo/chat",
        json!({"ai-prompt-guard": {
            "deny_patterns": ["password"],
            "match_all_roles": true,
            "match_all_conversation_history": true,
            "fail_mode": "error"}}),
    )
    .await;
    let r = env.post_json("/echo/chat",
        r#"{"messages":[{"role":"system","content":"password"},{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["message"], "Request contains prohibited content");
    for body in ["", "plain text", r#"{"prompt":"password"}"#] {
        let r = env.post_json("/echo/chat", body).await;
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert_eq!(
            r.json()["message"],
            "Request format not recognized by ai-prompt-guard"
        );
    }

    // skip (the default) passes what is not a chat request on unchecked.
    route(
        &env,
        "/echo/chat",
        json!({"ai-prompt-guard": {"deny_patterns": ["password"]}}),
    )
    .await;
    let r = env
        .post_until("/echo/chat", "password", |r| r.status == 200)
        .await;
    assert_eq!(r.json()["body"], "password");
}

#[tokio::test]
async fn prompt_plugins_run_in_priority_order_and_schemas_are_enforced() {
    let (env, _dir) = shipped_env().await;
    // template (rewrite, 1071) → decorator (rewrite, 1070) → guard (access):
    // the guard sees the decorated prompt.
    route(
        &env,
        "/echo/chat",
        json!({
            "ai-prompt-template": {"templates": [{"name": "t", "template": {
                "model": "m", "messages": [{"role": "user", "content": "say {{word}}"}]}}]},
            "ai-prompt-decorator": {"append": [{"role": "user", "content": "and forbidden"}]},
            "ai-prompt-guard": {"deny_patterns": ["forbidden"], "match_all_conversation_history": true}
        }),
    )
    .await;
    let r = env
        .post_json("/echo/chat", r#"{"template_name":"t","word":"hi"}"#)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["message"], "Request contains prohibited content");

    let cases = [
        (json!({"ai-prompt-decorator": {}}), "prepend"),
        (
            json!({"ai-prompt-decorator": {"prepend": [{"role": "tool", "content": "x"}]}}),
            "role",
        ),
        (
            json!({"ai-prompt-template": {"templates": []}}),
            "templates",
        ),
        (
            json!({"ai-prompt-guard": {"deny_patterns": ["(unclosed"]}}),
            "invalid deny_pattern: (unclosed",
        ),
        (
            json!({"ai-prompt-guard": {"fail_mode": "drop"}}),
            "fail_mode",
        ),
    ];
    for (plugins, expected) in cases {
        let r = env
            .admin
            .put(
                "/routes/2",
                json!({"uri": "/x", "upstream": env.upstream(), "plugins": plugins}),
            )
            .await;
        assert_eq!(r.status, 400, "{plugins}: {}", r.body);
        let msg = r.json()["error_msg"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(msg.contains(expected), "{plugins}: {msg}");
    }
    let list = env.admin.get("/plugins/list").await;
    for name in [
        "ai-prompt-decorator",
        "ai-prompt-template",
        "ai-prompt-guard",
    ] {
        assert!(list.body.contains(name), "{name} listed: {}", list.body);
    }
}
