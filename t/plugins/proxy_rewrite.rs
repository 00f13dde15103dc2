//! `proxy-rewrite`: the upstream sees the rewritten URI (with `$var`s or
//! regex captures, the client's query kept), Host, method and headers.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn uri_host_method_and_headers_are_rewritten() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/old/*", "plugins": {"proxy-rewrite": {
                  "uri": "/echo/$arg_who/x y", "host": "example.com", "method": "POST",
                  "headers": {"add": {"X-Add": "a-$remote_addr"}, "set": {"X-Set": ["1", 2]},
                              "remove": ["X-Drop"]}}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/iresty/*", "plugins": {"proxy-rewrite": {
                  "regex_uri": ["^/nomatch/(.*)", "/no/$1", "^/iresty/(.*)/(.*)", "/echo/$1_$2"],
                  "headers": {"X-Cap": "$2", "X-Set": "flat"}}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/raw/*", "plugins": {"proxy-rewrite": {"use_real_request_uri_unsafe": true,
                  "regex_uri": ["^/raw/(.*)", "/echo/$1"]}},
               "upstream": env.upstream()}),
    )
    .await;

    let r = env
        .until(
            "/old/p?who=me&z=1",
            &[("x-set", "old"), ("x-drop", "1"), ("x-add", "first")],
            200,
        )
        .await;
    let seen = r.json();
    assert_eq!(seen["uri"], "/echo/me/x%20y?who=me&z=1", "{seen}");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["headers"]["host"], "example.com");
    assert_eq!(seen["headers"]["x-add"], "first, a-127.0.0.1");
    assert_eq!(seen["headers"]["x-set"], "1, 2");
    assert!(seen["headers"].get("x-drop").is_none(), "{seen}");

    let r = env.until("/iresty/a/b?q=1", &[], 200).await;
    let seen = r.json();
    assert_eq!(seen["uri"], "/echo/a_b?q=1");
    assert_eq!(seen["headers"]["x-cap"], "b");
    assert_eq!(seen["headers"]["x-set"], "flat");

    let r = env.until("/raw/a%2Fb?q=%41", &[], 200).await;
    assert_eq!(r.json()["uri"], "/echo/a%2Fb?q=%41", "raw request URI");
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let env = Env::start().await;
    for (conf, msg) in [
        (
            json!({"regex_uri": ["^/a"]}),
            "expect array to have at least 2 items",
        ),
        (json!({"regex_uri": ["^/a", "/b", "^/c"]}), "even number"),
        (json!({"regex_uri": ["(", "/b"]}), "invalid regex_uri"),
        (json!({"uri": "no-slash"}), "failed to match pattern"),
        (
            json!({"method": "FETCH"}),
            "matches none of the enum values",
        ),
    ] {
        let r = env
            .admin
            .put(
                "/routes/1",
                json!({"uri": "/x", "plugins": {"proxy-rewrite": conf}, "upstream": env.upstream()}),
            )
            .await;
        assert_eq!(r.status, 400, "{conf}: {}", r.body);
        assert!(r.body.contains(msg), "{conf}: {}", r.body);
    }
}
