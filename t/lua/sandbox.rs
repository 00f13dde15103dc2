//! The sandbox: escapes refused, errors, endless loops and memory bombs
//! answer one request with 500 and leave the gateway serving.

use serde_json::json;

use super::lua_env;

const ESCAPES: &str = r#"
local _M = { version = 0.1, priority = 100, schema = { type = "object", properties = { try = { type = "string" } } } }

local attempts = {
    os_execute = function() return os.execute("true") end,
    io_open = function() return io.open("/etc/passwd") end,
    loadstring = function() return loadstring("return 1")() end,
    load = function() return load("return 1")() end,
    dofile = function() return dofile("/etc/passwd") end,
    require_outside = function() return require("os") end,
    require_path = function() return require("../../etc/passwd") end,
    ffi = function() return require("ffi") end,
    debug = function() return debug.getinfo(1) end,
    string_dump = function() return string.dump(function() end) end,
    setfenv = function() return setfenv(1, {}) end,
    error = function() error("boom from lua") end,
    endless = function() while true do end end,
    memory = function()
        -- 16 MiB pieces: the 64 MiB cap is hit within a few copies, well
        -- inside the time budget even on a busy machine.
        local s, t = string.rep("x", 16 * 1024 * 1024), {}
        for i = 1, 1e6 do t[i] = s .. i end
    end,
}

function _M.access(conf, ctx)
    local f = attempts[conf.try]
    local ok, err = pcall(f)
    if conf.try == "error" or conf.try == "endless" or conf.try == "memory" then
        f()
    end
    if ok then
        return 200, { escaped = conf.try }
    end
    return 403, { refused = conf.try, error = tostring(err) }
end

return _M
"#;

#[tokio::test]
async fn sandbox_escapes_are_refused() {
    let (env, _dir) = lua_env(&[("escapes", ESCAPES)]).await;
    let tries = [
        "os_execute",
        "io_open",
        "loadstring",
        "load",
        "dofile",
        "require_outside",
        "require_path",
        "ffi",
        "debug",
        "string_dump",
        "setfenv",
    ];
    for (i, t) in tries.iter().enumerate() {
        env.put(
            &format!("/routes/{i}"),
            json!({"uri": format!("/try/{t}"), "upstream": env.upstream(),
                   "plugins": {"escapes": {"try": t}}}),
        )
        .await;
    }
    for t in tries {
        let r = env.until(&format!("/try/{t}"), &[], 403).await;
        assert_eq!(r.json()["refused"], t, "{t}: {}", r.body);
        assert!(
            !r.json()["error"].as_str().unwrap_or("").is_empty(),
            "{t}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn errors_endless_loops_and_memory_bombs_fail_one_request() {
    let (env, _dir) = lua_env(&[("escapes", ESCAPES)]).await;
    for (i, t) in ["error", "endless", "memory"].iter().enumerate() {
        env.put(
            &format!("/routes/{i}"),
            json!({"uri": format!("/fail/{t}"), "upstream": env.upstream(),
                   "plugins": {"escapes": {"try": t}}}),
        )
        .await;
    }
    env.put(
        "/routes/ok",
        json!({"uri": "/hello", "upstream": env.upstream()}),
    )
    .await;
    for t in ["error", "endless", "memory"] {
        let r = env.until(&format!("/fail/{t}"), &[], 500).await;
        assert!(r.body.contains("Internal Server Error"), "{t}: {}", r.body);
        // The gateway keeps serving, Lua routes included.
        let ok = env.get("/hello", &[]).await;
        assert_eq!(ok.status, 200, "after {t}");
    }
    let log = env.gw.log();
    assert!(log.contains("boom from lua"), "{}", env.gw.log_tail(30));
    assert!(
        log.contains("time budget of 200 ms exceeded"),
        "{}",
        env.gw.log_tail(30)
    );
    assert!(log.contains("not enough memory"), "{}", env.gw.log_tail(30));
    let metrics = crate::common::get(env.gw.metrics_url())
        .send()
        .await
        .unwrap();
    assert!(
        metrics
            .body
            .contains("apisix_lua_plugin_errors{plugin=\"escapes\",phase=\"access\"} 3"),
        "{}",
        metrics.body
    );
}
