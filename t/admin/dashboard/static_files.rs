//! `/ui/`: the built dashboard's files with their types and cache headers,
//! the SPA fallback, no key needed but `allow_admin` enforced, traversal
//! attempts that never leave the root, the "not built" answer and a
//! disabled dashboard.

use http::Method;
use serde_json::json;

use super::{admin_section, send, start, FakeBuild, APP_JS, INDEX, SECRET};
use crate::admin::assert_body;
use crate::common::{Etcd, Gateway, GatewayOpts};

fn assert_protected(gw: &Gateway, r: &crate::common::Resp, what: &str) {
    gw_assert!(
        gw,
        r.header("x-content-type-options") == Some("nosniff")
            && r.header("x-frame-options") == Some("DENY"),
        "{what}: nosniff and DENY expected, got {:?}",
        r.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_with_types_cache_headers_and_spa_fallback() {
    let build = FakeBuild::new();
    let (_etcd, gw) = start(&build.root(), "").await;

    let r = send(&gw, Method::GET, "/ui", None).await;
    assert_status!(gw, r, 301, "GET /ui");
    gw_assert!(gw, r.header("location") == Some("/ui/"), "{:?}", r.headers);

    // No key: the page must load to show the sign-in.
    let r = send(&gw, Method::GET, "/ui/", None).await;
    assert_status!(gw, r, 200, "GET /ui/");
    gw_assert!(
        gw,
        r.body == INDEX
            && r.header("content-type") == Some("text/html; charset=utf-8")
            && r.header("cache-control") == Some("no-cache"),
        "index: {:?} {:?}",
        r.headers,
        r.body
    );
    assert_protected(&gw, &r, "GET /ui/");

    let r = send(&gw, Method::GET, "/ui/assets/app-3f9a1c.js", None).await;
    assert_status!(gw, r, 200, "GET the script");
    gw_assert!(
        gw,
        r.body == APP_JS
            && r.header("content-type") == Some("text/javascript; charset=utf-8")
            && r.header("cache-control") == Some("public, max-age=31536000, immutable"),
        "asset: {:?}",
        r.headers
    );
    assert_protected(&gw, &r, "GET the script");

    let r = send(&gw, Method::GET, "/ui/favicon.svg", None).await;
    gw_assert!(
        gw,
        r.status == 200 && r.header("content-type") == Some("image/svg+xml"),
        "favicon: {} {:?}",
        r.status,
        r.headers
    );

    // Client-side routes get the SPA.
    for path in ["/ui/routes/1", "/ui/routes/1/edit", "/ui/index.html"] {
        let r = send(&gw, Method::GET, path, None).await;
        gw_assert!(
            gw,
            r.status == 200 && r.body == INDEX && r.header("cache-control") == Some("no-cache"),
            "{path}: {} {:?} {:?}",
            r.status,
            r.headers,
            r.body
        );
    }

    let r = send(&gw, Method::GET, "/ui/assets/missing-1234.js", None).await;
    assert_status!(gw, r, 404, "a missing script");
    assert_protected(&gw, &r, "a missing script");
    let r = send(&gw, Method::GET, "/ui/main.css", None).await;
    assert_status!(gw, r, 404, "a missing stylesheet");

    // Resource ids may hold dots: a link to one still opens the app.
    for path in ["/ui/ssls/shop.example.com", "/ui/routes/api.v1"] {
        let r = send(&gw, Method::GET, path, None).await;
        gw_assert!(
            gw,
            r.status == 200 && r.body == INDEX,
            "{path}: the SPA's index.html, got {} {}",
            r.status,
            r.body
        );
    }

    let r = send(&gw, Method::HEAD, "/ui/assets/app-3f9a1c.js", None).await;
    gw_assert!(
        gw,
        r.status == 200
            && r.body.is_empty()
            && r.header("content-length") == Some(&APP_JS.len().to_string()),
        "HEAD: {} {:?}",
        r.status,
        r.headers
    );
    let r = send(&gw, Method::POST, "/ui/", None).await;
    assert_status!(gw, r, 405, "POST /ui/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_paths_never_leave_the_root() {
    let build = FakeBuild::new();
    let (_etcd, gw) = start(&build.root(), "").await;
    for path in [
        "/ui/../secret.txt",
        "/ui/%2e%2e/secret.txt",
        "/ui/%2E%2E/secret.txt",
        "/ui/..%2fsecret.txt",
        "/ui/..%2Fsecret.txt",
        "/ui/assets/..%2f..%2fsecret.txt",
        "/ui/assets/%2e%2e/%2e%2e/secret.txt",
        "/ui/..%5csecret.txt",
        "/ui/%2fetc%2fpasswd",
        "/ui//etc/passwd",
        "/ui/leak.txt",
        "/ui/secret.txt%00.js",
        "/ui/../../Cargo.toml",
        "/ui/%2e%2e/%2e%2e/Cargo.toml",
        "/ui/..%2f..%2fCargo.toml",
    ] {
        let r = send(&gw, Method::GET, path, None).await;
        gw_assert!(
            gw,
            !r.body.contains(SECRET) && !r.body.contains("root:") && !r.body.contains("[package]"),
            "{path} leaked a file outside the root: {} {:?}",
            r.status,
            r.body
        );
        gw_assert!(
            gw,
            r.status == 404 || (r.status == 200 && r.body == INDEX),
            "{path}: expected 404 or the SPA, got {} {:?}",
            r.status,
            r.body
        );
        // Answered by the dashboard, not normalised away by the client.
        assert_protected(&gw, &r, path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_not_built_says_how_to_build_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    let (_etcd, gw) = start(empty.path(), "").await;
    for path in ["/ui/", "/ui/assets/app.js", "/ui/routes/1"] {
        let r = send(&gw, Method::GET, path, None).await;
        gw_assert!(
            gw,
            r.status == 404
                && r.header("content-type") == Some("text/plain; charset=utf-8")
                && r.body.contains("not built")
                && r.body.contains("make dashboard"),
            "{path}: {} {:?} {:?}",
            r.status,
            r.headers,
            r.body
        );
    }
    // The API does not need the files.
    let r = send(
        &gw,
        Method::GET,
        "/ui/api/whoami",
        Some(crate::common::ADMIN_KEY),
    )
    .await;
    assert_status!(gw, r, 200, "whoami without a build");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_disabled_or_address_not_allowed() {
    let build = FakeBuild::new();
    let etcd = Etcd::start().await;
    let off = Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(&admin_section(
        &format!(
            "    enable_admin_ui: false\n    admin_ui_root: {:?}\n",
            build.root().display().to_string()
        ),
    )))
    .await;
    for path in ["/ui", "/ui/", "/ui/api/whoami"] {
        let r = send(&off, Method::GET, path, Some(crate::common::ADMIN_KEY)).await;
        assert_body(
            &off,
            &r,
            404,
            &json!({"error_msg": "not found"}),
            &format!("{path} with the dashboard off"),
        );
    }
    drop(off);

    let (_etcd2, fenced) = start(&build.root(), "    allow_admin:\n      - 10.0.0.0/8\n").await;
    for path in ["/ui/", "/ui/assets/app-3f9a1c.js", "/ui/api/whoami"] {
        let r = send(&fenced, Method::GET, path, Some(crate::common::ADMIN_KEY)).await;
        gw_assert!(
            fenced,
            r.status == 403 && !r.body.contains(INDEX),
            "{path} from an address outside allow_admin: {} {:?}",
            r.status,
            r.body
        );
    }
}
