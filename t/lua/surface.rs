//! The `core`/`ngx` host API one call at a time: a plugin runs each call
//! against a known request and answers with what each returned.

use http::Method;
use serde_json::{json, Value};

use super::lua_env;
use crate::common::request;

const SURFACE: &str = r##"
local core = require("apisix.core")
local _M = { version = 0.1, priority = 100, schema = { type = "object" } }

function _M.access(conf, ctx)
    local r = {}
    -- core.request
    r.header = core.request.header(ctx, "X-One")
    r.header_case = core.request.header(ctx, "x-one")
    r.header_missing = core.request.header(ctx, "X-None") == nil
    local hs = core.request.headers(ctx)
    r.headers_repeated = hs["x-multi"]
    r.headers_case = hs["X-One"]
    r.method = core.request.get_method()
    r.uri_args = core.request.get_uri_args(ctx)
    r.host = core.request.get_host(ctx)
    r.scheme = core.request.get_scheme(ctx)
    r.remote_ip = core.request.get_remote_client_ip(ctx)
    r.port = core.request.get_port(ctx)
    r.http_version = core.request.get_http_version()
    r.body = core.request.get_body()
    r.json_body = core.request.get_json_request_body_table()
    -- ctx.var and ngx.var
    r.var_uri = ctx.var.uri
    r.var_arg = ctx.var.arg_a
    r.var_header = ngx.var.http_x_one
    r.var_route_id = ctx.var.route_id
    r.ctx_route_id = ctx.route_id
    r.ngx_ctx_is_ctx = ngx.ctx == ctx
    -- core.json
    r.json_roundtrip = core.json.encode(core.json.decode('{"a":[],"b":null,"c":[1,2]}'))
    local bad, err = core.json.decode("{")
    r.json_error = bad == nil and type(err) == "string"
    r.json_null_is_null = core.json.decode("null") == core.json.null
    r.delay = tostring(core.json.delay_encode({ k = "v" }))
    -- core.table / core.string / core.utils
    r.nkeys = core.table.nkeys({ a = 1, b = 2, 3 })
    r.try_read_attr = core.table.try_read_attr({ a = { b = { c = 7 } } }, "a", "b", "c")
    r.array_find = core.table.array_find({ "x", "y" }, "y")
    r.deepcopy_independent = (function()
        local t = { a = { b = 1 } }
        local c = core.table.deepcopy(t)
        c.a.b = 2
        return t.a.b
    end)()
    r.find_plain = core.string.find("a.b", ".")
    r.has_prefix = core.string.has_prefix("/api/v1", "/api")
    r.has_suffix = core.string.has_suffix("file.lua", ".lua")
    r.resolve_var = core.utils.resolve_var("$uri?a=$arg_a", ctx.var)
    r.parse_addr = { core.utils.parse_addr("127.0.0.1:8080") }
    -- core.schema
    local conf = {}
    local ok = core.schema.check({ type = "object", properties = { n = { type = "integer", default = 5 } } }, conf)
    r.schema_default = ok and conf.n
    local ok2, serr = core.schema.check({ type = "object", required = { "x" } }, {})
    r.schema_error = (not ok2) and type(serr) == "string"
    -- ngx helpers
    r.md5 = ngx.md5("abc")
    r.b64 = ngx.encode_base64("hello")
    r.unb64 = ngx.decode_base64("aGVsbG8=")
    r.escape = ngx.escape_uri("a b/c")
    r.time_sane = ngx.time() > 1700000000 and ngx.now() > 1700000000
    local m = ngx.re.match("user-42", [[(\w+)-(?<num>\d+)]], "jo")
    r.re_match = { m[0], m[1], m.num }
    r.re_find = { ngx.re.find("hello world", "wor", "jo") }
    r.re_gsub = { ngx.re.gsub("a1b22", [[\d+]], "#", "jo") }
    r.re_gsub_fn = ngx.re.gsub("ab", "[ab]", function(mm) return string.upper(mm[0]) end, "jo")
    r.http_const = { ngx.HTTP_OK, ngx.HTTP_NOT_FOUND, ngx.HTTP_GET, ngx.ERR, ngx.WARN }
    ngx.log(ngx.WARN, "surface ", "log ", 1)
    core.log.warn("core ", "warn ", 2)
    -- changes that reach the upstream
    core.request.set_header(ctx, "X-Set", "1")
    ngx.req.clear_header("X-Drop")
    core.request.set_uri_args(ctx, { z = "9" })
    core.response.set_header("X-Resp", "r")
    if core.request.header(ctx, "X-Report") then
        return 200, r
    end
end

return _M
"##;

async fn call(env: &crate::plugins::Env, report: bool) -> crate::common::Resp {
    let mut req = request(Method::POST, env.gw.url("/echo/path?a=1&a=2&b"))
        .header("X-One", "first")
        .header("X-Multi", "m1")
        .header("X-Multi", "m2")
        .header("X-Drop", "gone")
        .header("content-type", "application/json")
        .body(r#"{"k":"v"}"#);
    if report {
        req = req.header("X-Report", "1");
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn core_and_ngx_calls_return_what_apisix_returns() {
    let (env, _dir) = lua_env(&[("surface", SURFACE)]).await;
    env.put(
        "/routes/surface",
        json!({"uri": "/echo/*", "upstream": env.upstream(), "plugins": {"surface": {}}}),
    )
    .await;
    env.until("/echo/path", &[], 200).await;
    let r = call(&env, true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = r.json();
    let expect = |key: &str, want: Value| assert_eq!(v[key], want, "{key}: {}", r.body);
    expect("header", json!("first"));
    expect("header_case", json!("first"));
    expect("header_missing", json!(true));
    expect("headers_repeated", json!(["m1", "m2"]));
    expect("headers_case", json!("first"));
    expect("method", json!("POST"));
    expect("uri_args", json!({"a": ["1", "2"], "b": true}));
    expect("host", json!("127.0.0.1"));
    expect("scheme", json!("http"));
    expect("remote_ip", json!("127.0.0.1"));
    expect("port", json!(env.gw.proxy_port));
    expect("http_version", json!(1.1));
    expect("body", json!(r#"{"k":"v"}"#));
    expect("json_body", json!({"k": "v"}));
    expect("var_uri", json!("/echo/path"));
    expect("var_arg", json!("1"));
    expect("var_header", json!("first"));
    expect("var_route_id", json!("surface"));
    expect("ctx_route_id", json!("surface"));
    expect("ngx_ctx_is_ctx", json!(true));
    let roundtrip: Value = serde_json::from_str(v["json_roundtrip"].as_str().unwrap()).unwrap();
    assert_eq!(roundtrip, json!({"a": [], "b": null, "c": [1, 2]}));
    expect("json_error", json!(true));
    expect("json_null_is_null", json!(true));
    expect("delay", json!(r#"{"k":"v"}"#));
    expect("nkeys", json!(3));
    expect("try_read_attr", json!(7));
    expect("array_find", json!(2));
    expect("deepcopy_independent", json!(1));
    expect("find_plain", json!(2));
    expect("has_prefix", json!(true));
    expect("has_suffix", json!(true));
    expect("resolve_var", json!("/echo/path?a=1"));
    expect("parse_addr", json!(["127.0.0.1", 8080]));
    expect("schema_default", json!(5));
    expect("schema_error", json!(true));
    expect("md5", json!("900150983cd24fb0d6963f7d28e17f72"));
    expect("b64", json!("aGVsbG8="));
    expect("unb64", json!("hello"));
    expect("escape", json!("a%20b%2Fc"));
    expect("time_sane", json!(true));
    expect("re_match", json!(["user-42", "user", "42"]));
    expect("re_find", json!([7, 9]));
    expect("re_gsub", json!(["a#b#", 2]));
    expect("re_gsub_fn", json!("AB"));
    expect("http_const", json!([200, 404, 2, 4, 5]));
    assert_eq!(
        r.header("x-resp"),
        Some("r"),
        "core.response.set_header before the answer"
    );
    let log = env.gw.log();
    assert!(
        log.contains("surface log 1") && log.contains("core warn 2"),
        "{}",
        env.gw.log_tail(10)
    );

    // Without X-Report the request goes upstream, changed.
    let r = call(&env, false).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let echoed = r.json();
    assert_eq!(echoed["headers"]["x-set"], "1");
    assert!(echoed["headers"].get("x-drop").is_none(), "{}", r.body);
    assert_eq!(echoed["uri"], "/echo/path?z=9");
    assert_eq!(
        echoed["body"], r#"{"k":"v"}"#,
        "the read body is forwarded unchanged"
    );
    assert_eq!(r.header("x-resp"), Some("r"));
}

const STATEFUL: &str = r##"
local core = require("apisix.core")
local _M = { version = 0.1, priority = 100, schema = { type = "object" } }

local dict = ngx.shared["surface-test"]

-- Every result of a call, nils included: "true,nil,false".
local function all(...)
    local out = {}
    for i = 1, select("#", ...) do
        out[i] = tostring((select(i, ...)))
    end
    return table.concat(out, ",")
end

function _M.access(conf, ctx)
    if ctx.var.uri == "/echo/method" then
        ngx.req.set_method(ngx.HTTP_PUT)
        return
    end
    if ctx.var.uri == "/echo/expiring" then
        if ctx.var.arg_step == "set" then
            dict:set("short", "v", 0.2)
            dict:incr("short_count", 1, 0, 0.2)
        end
        return 200, { short = dict:get("short") or "gone", count = dict:get("short_count") or "gone",
                      add = all(dict:add("short", "again")) }
    end
    if ctx.var.uri == "/echo/count" then
        local n = dict:incr("hits", 1, 0)
        return 200, { hits = n }
    end
    if ctx.var.uri ~= "/echo/dict" then
        return
    end
    local r = {}
    dict:flush_all()
    r.set = all(dict:set("s", "text", 0))
    r.get = dict:get("s")
    r.get_missing = dict:get("nope") == nil
    r.add_exists = all(dict:add("s", "other"))
    r.add_new = dict:add("n", 1.5)
    r.replace_missing = all(dict:replace("zzz", 1))
    r.incr_missing = all(dict:incr("c", 1))
    r.incr_init = dict:incr("c", 5, 10)
    r.incr_again = dict:incr("c", -3)
    r.incr_text = all(dict:incr("s", 1))
    dict:set("b", false)
    r.bool = dict:get("b")
    r.ttl_none = dict:ttl("s")
    dict:set("e", 1, 100)
    local ttl = dict:ttl("e")
    r.ttl_set = ttl > 99 and ttl <= 100
    r.expire = all(dict:expire("e", 50))
    r.ttl_expired = dict:ttl("e") <= 50
    r.ttl_missing = all(dict:ttl("nope"))
    dict:delete("n")
    r.deleted = dict:get("n") == nil
    dict:set("s", nil)
    r.set_nil_deletes = dict:get("s") == nil
    r.bad_value = all(dict:set("t", {}))
    return 200, r
end

-- /sse sends five events 200 ms apart: hold them all, answer once with a summary.
function _M.body_filter(conf, ctx)
    if ctx.var.uri ~= "/sse" then
        return
    end
    ctx.held = (ctx.held or "") .. (ngx.arg[1] or "")
    ctx.chunks = (ctx.chunks or 0) + 1
    if ngx.arg[2] then
        local _, events = ctx.held:gsub("data: ", "")
        ngx.arg[1] = "held " .. events .. " events in " .. ctx.chunks .. " calls\n"
    else
        ngx.arg[1] = nil
    end
end

return _M
"##;

#[tokio::test]
async fn shared_dicts_set_method_and_held_chunks_behave_as_in_openresty() {
    let (env, _dir) = lua_env(&[("stateful", STATEFUL)]).await;
    env.put(
        "/routes/stateful",
        json!({"uris": ["/echo/*", "/sse"], "upstream": env.upstream(),
               "plugins": {"stateful": {}}}),
    )
    .await;
    let r = env.until("/echo/dict", &[], 200).await;
    let v: Value = r.json();
    let expect = |key: &str, want: Value| assert_eq!(v[key], want, "{key}: {}", r.body);
    expect("set", json!("true,nil,false"));
    expect("get", json!("text"));
    expect("get_missing", json!(true));
    expect("add_exists", json!("false,exists,false"));
    expect("add_new", json!(true));
    expect("replace_missing", json!("false,not found,false"));
    expect("incr_missing", json!("nil,not found"));
    expect("incr_init", json!(15));
    expect("incr_again", json!(12));
    expect("incr_text", json!("nil,not a number"));
    expect("bool", json!(false));
    expect("ttl_none", json!(0));
    expect("ttl_set", json!(true));
    expect("expire", json!("true"));
    expect("ttl_expired", json!(true));
    expect("ttl_missing", json!("nil,not found"));
    expect("deleted", json!(true));
    expect("set_nil_deletes", json!(true));
    expect("bad_value", json!("false,bad value type,false"));

    // One dictionary for the whole process: every worker thread counts into it.
    let mut last = 0;
    for _ in 0..20 {
        let r = env.get("/echo/count", &[]).await;
        let n = r.json()["hits"].as_u64().expect("hits");
        assert_eq!(n, last + 1, "{}", r.body);
        last = n;
    }

    // Entries expire (exptime, incr's init_ttl); an expired key can be added again.
    let r = env.get("/echo/expiring?step=set", &[]).await;
    assert_eq!(
        r.json(),
        json!({"short": "v", "count": 1, "add": "false,exists,false"})
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = env.get("/echo/expiring", &[]).await;
    assert_eq!(
        r.json(),
        json!({"short": "gone", "count": "gone", "add": "true,nil,false"})
    );

    // ngx.req.set_method takes OpenResty's numeric constants.
    let r = env.get("/echo/method", &[]).await;
    assert_eq!(r.json()["method"], "PUT", "{}", r.body);

    // body_filter holding chunks (ngx.arg[1] = nil) until eof.
    let r = env.get("/sse", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "held 5 events in 6 calls\n");
}
