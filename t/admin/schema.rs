//! The endpoints around the resources: JSON schemas, schema-only validation,
//! the plugin list and plugin schemas, plugin reload and the OpenAPI document.

use http::Method;
use serde_json::json;

use super::{assert_error, body_json, error_msg, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_plugin_and_openapi_endpoints() {
    let (_etcd, gw, admin) = start().await;

    // Resource schemas.
    let r = admin.get("/schema/route").await;
    assert_status!(gw, r, 200, "GET /schema/route");
    let s = body_json(&r);
    assert_eq!(
        s["properties"]["uri"]["type"], "string",
        "route schema: {s}"
    );
    let r = admin.get("/schema/upstream").await;
    assert_status!(gw, r, 200, "GET /schema/upstream");
    assert!(body_json(&r)["properties"]["nodes"].is_object());
    let r = admin.get("/schema/nope").await;
    assert_error(&gw, &r, 400, "not found schema: nope", "GET /schema/nope");

    // Schema-only validation: nothing is stored, references are not checked.
    let r = admin
        .post(
            "/schema/validate/routes",
            json!({"uri": "/a", "upstream_id": "not-there"}),
        )
        .await;
    assert_status!(gw, r, 200, "POST /schema/validate/routes (valid)");
    let r = admin
        .post(
            "/schema/validate/routes",
            json!({"uri": 1, "upstream_id": "1"}),
        )
        .await;
    gw_assert!(
        gw,
        r.status == 400 && error_msg(&r).contains("\"uri\""),
        "POST /schema/validate/routes (invalid): expected 400 naming uri, got {} {}",
        r.status,
        r.body
    );
    let r = admin.get("/routes").await;
    assert_eq!(body_json(&r)["total"], 0, "validation stores nothing");

    // Plugins: the enabled built-in ones (no `plugins:` list in this config: all).
    let r = admin.get("/plugins/list").await;
    assert_status!(gw, r, 200, "GET /plugins/list");
    let list = body_json(&r);
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().any(|n| n == "key-auth")),
        "key-auth is listed: {list}"
    );
    let r = admin.get("/plugins/key-auth").await;
    assert_status!(gw, r, 200, "GET /plugins/key-auth");
    let schema = body_json(&r);
    assert_eq!(schema["properties"]["header"]["default"], "apikey");
    assert!(
        schema["properties"]["_meta"].is_object(),
        "_meta is injected: {schema}"
    );
    assert_eq!(
        schema["$comment"], "this is a mark for our injected plugin schema",
        "APISIX's mark"
    );
    let r = admin.get("/plugins/key-auth?schema_type=consumer").await;
    assert_eq!(body_json(&r)["required"], json!(["key"]));
    let r = admin.get("/plugins/no-such-plugin").await;
    assert_error(
        &gw,
        &r,
        404,
        "plugin not found in subsystem http",
        "GET /plugins/no-such-plugin",
    );
    let r = admin.get("/plugins?all=true").await;
    assert_status!(gw, r, 200, "GET /plugins?all=true");
    let all = body_json(&r);
    assert_eq!(all["key-auth"]["priority"], 2500);
    assert_eq!(all["key-auth"]["type"], "auth");
    let r = admin.get("/plugins/key-auth?subsystem=udp").await;
    assert_error(
        &gw,
        &r,
        400,
        "unsupported subsystem: udp",
        "GET /plugins/key-auth?subsystem=udp",
    );
    let r = admin.raw(Method::PUT, "/plugins/reload", "").await;
    gw_assert!(
        gw,
        r.status == 200 && r.body == "done",
        "PUT /plugins/reload: expected 200 done, got {} {}",
        r.status,
        r.body
    );
    let r = admin.get("/plugins/reload").await;
    assert_error(
        &gw,
        &r,
        405,
        "please use PUT method to reload the plugins, GET method is not allowed.",
        "GET /plugins/reload",
    );

    // OpenAPI.
    let r = admin.get("/openapi.json").await;
    assert_status!(gw, r, 200, "GET /openapi.json");
    let doc = body_json(&r);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/apisix/admin/routes/{id}",
        "/apisix/admin/routes",
        "/apisix/admin/upstreams/{id}",
        "/apisix/admin/consumers/{username}/credentials/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI path {path}");
    }
    assert!(
        doc["paths"]["/apisix/admin/routes/{id}"]["patch"].is_object(),
        "routes take PATCH"
    );
    assert!(
        doc["paths"]["/apisix/admin/consumers/{id}"]["patch"].is_null(),
        "consumers do not take PATCH"
    );

    // A real OpenAPI validator accepts the document (installed by `make deps`).
    let file = gw.dir().join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("run {python} (make deps creates it): {e}"));
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects the document:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
