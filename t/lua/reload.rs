//! Hot reload: a changed plugin file serves new requests without a restart;
//! a file that fails to load keeps the previous version and says why.

use std::time::Duration;

use serde_json::json;

use super::{lua_env, write_plugin};
use crate::common::wait_until;

fn versioned(v: &str) -> String {
    format!(
        r#"local core = require("apisix.core")
local _M = {{ version = 0.1, priority = 10, schema = {{ type = "object" }} }}
function _M.access(conf, ctx)
    core.response.set_header("X-Version", "{v}")
end
return _M
"#
    )
}

#[tokio::test]
async fn changed_files_reload_and_broken_ones_keep_the_old_version() {
    let (env, dir) = lua_env(&[("versioned", &versioned("1"))]).await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(), "plugins": {"versioned": {}}}),
    )
    .await;
    let r = env.until("/hello", &[], 200).await;
    assert_eq!(r.header("x-version"), Some("1"));

    // A change to the file is picked up (checked every second).
    write_plugin(dir.path(), "versioned", &versioned("2"));
    let served = wait_until(Duration::from_secs(5), || async {
        env.get("/hello", &[]).await.header("x-version") == Some("2")
    })
    .await;
    gw_assert!(env.gw, served.is_some(), "version 2 never served");

    // A syntax error: reported, and version 2 keeps serving.
    write_plugin(
        dir.path(),
        "versioned",
        "local _M = { version = 0.1,, }\nreturn _M\n",
    );
    let reload = env.admin.put("/plugins/reload", json!({})).await;
    assert_eq!(reload.status, 200, "{}", reload.body);
    let logged = wait_until(Duration::from_secs(5), || async {
        env.gw.log().contains("Lua plugin not loaded")
    })
    .await;
    gw_assert!(env.gw, logged.is_some(), "the load error was not logged");
    assert!(
        env.gw.log().contains("versioned.lua"),
        "{}",
        env.gw.log_tail(10)
    );
    for _ in 0..5 {
        let r = env.get("/hello", &[]).await;
        assert_eq!((r.status, r.header("x-version")), (200, Some("2")));
    }

    // Fixed again through the Admin API's reload.
    write_plugin(dir.path(), "versioned", &versioned("3"));
    let reload = env.admin.put("/plugins/reload", json!({})).await;
    assert_eq!(reload.status, 200);
    let served = wait_until(Duration::from_secs(1), || async {
        env.get("/hello", &[]).await.header("x-version") == Some("3")
    })
    .await;
    gw_assert!(
        env.gw,
        served.is_some(),
        "version 3 not served after the reload"
    );
}

#[tokio::test]
async fn a_changed_helper_module_reaches_the_plugins_that_require_it() {
    let plugin = r#"local core = require("apisix.core")
local greeting = require("helpers.greeting")
local _M = { version = 0.1, priority = 10, schema = { type = "object" } }
function _M.access(conf, ctx)
    core.response.set_header("X-Greeting", greeting.text)
end
return _M
"#;
    let (env, dir) = lua_env(&[
        ("greeter", plugin),
        ("helpers/greeting", r#"return { text = "hello" }"#),
    ])
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(), "plugins": {"greeter": {}}}),
    )
    .await;
    let r = env.until("/hello", &[], 200).await;
    assert_eq!(r.header("x-greeting"), Some("hello"));
    // Concurrent requests, so that every worker's VM requires the helper.
    assert!(greetings(&env).await.iter().all(|g| g == "hello"));

    write_plugin(
        dir.path(),
        "helpers/greeting",
        r#"return { text = "bonjour" }"#,
    );
    // Once the routes are rebuilt with the reloaded plugins, every VM
    // serves the new helper, and keeps doing so.
    let served = wait_until(Duration::from_secs(5), || async {
        greetings(&env).await.iter().all(|g| g == "bonjour")
    })
    .await;
    gw_assert!(
        env.gw,
        served.is_some(),
        "the changed helper never served everywhere"
    );
    let seen = greetings(&env).await;
    assert!(seen.iter().all(|g| g == "bonjour"), "{seen:?}");
}

/// `X-Greeting` of 16 concurrent requests.
async fn greetings(env: &crate::plugins::Env) -> Vec<String> {
    let gets = (0..16).map(|_| env.get("/hello", &[]));
    futures_util::future::join_all(gets)
        .await
        .iter()
        .map(|r| r.header("x-greeting").unwrap_or("").to_string())
        .collect()
}
