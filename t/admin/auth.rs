//! Who may use the Admin API: admin and viewer keys from the header, the
//! `api_key` query argument or the `x_api_key` cookie; `allow_admin`; a key
//! generated into the data dir when none is configured; and the refusal to
//! start an Admin API open to the network without a key.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use super::{assert_body, body_json, start, Admin};
use crate::common::{
    closed_port, free_port, request, Etcd, Gateway, GatewayOpts, ADMIN_KEY, VIEWER_KEY,
};

fn token_error(description: &str) -> Value {
    json!({"error_msg": "failed to check token", "description": description})
}

fn route() -> Value {
    json!({"uri": "/a", "upstream": {"nodes": {"127.0.0.1:1980": 1}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_viewer_keys_from_header_query_and_cookie() {
    let (_etcd, gw, admin) = start().await;

    let anonymous = admin.without_key();
    assert_body(
        &gw,
        &anonymous.get("/routes").await,
        401,
        &token_error("missing apikey"),
        "GET without a key",
    );
    assert_body(
        &gw,
        &anonymous.put("/routes/1", route()).await,
        401,
        &token_error("missing apikey"),
        "PUT without a key",
    );
    assert_body(
        &gw,
        &admin
            .with_key("not-the-key-0123456789")
            .get("/routes")
            .await,
        401,
        &token_error("wrong apikey"),
        "GET with a wrong key",
    );
    let r = anonymous.get("/routes").await;
    gw_assert!(
        gw,
        r.header("x-api-version") == Some("v3"),
        "X-API-VERSION on a 401: {:?}",
        r.headers
    );

    // The viewer reads but does not write.
    let viewer = admin.with_key(VIEWER_KEY);
    assert_status!(gw, viewer.get("/routes").await, 200, "viewer GET /routes");
    for (method, r) in [
        ("PUT", viewer.put("/routes/1", route()).await),
        ("POST", viewer.post("/routes", route()).await),
        (
            "PATCH",
            viewer.patch("/routes/1", json!({"desc": "x"})).await,
        ),
        ("DELETE", viewer.delete("/routes/1").await),
    ] {
        assert_body(
            &gw,
            &r,
            401,
            &token_error("invalid method for role viewer"),
            &format!("viewer {method}"),
        );
    }

    // The admin key in the query or a cookie.
    let by_query = anonymous
        .put(&format!("/routes/1?api_key={ADMIN_KEY}"), route())
        .await;
    assert_status!(gw, by_query, 201, "PUT with ?api_key=");
    let r = anonymous
        .get(&format!("/routes/1?api_key={ADMIN_KEY}"))
        .await;
    assert_status!(gw, r, 200, "GET with ?api_key=");
    assert_eq!(body_json(&r)["value"]["uri"], "/a");
    let by_cookie = anonymous.with_header("Cookie", &format!("theme=dark; x_api_key={ADMIN_KEY}"));
    assert_status!(
        gw,
        by_cookie.get("/routes/1").await,
        200,
        "GET with the cookie"
    );
    assert_status!(
        gw,
        by_cookie.delete("/routes/1").await,
        200,
        "DELETE with the cookie"
    );
    let viewer_cookie = anonymous.with_header("Cookie", &format!("x_api_key={VIEWER_KEY}"));
    assert_body(
        &gw,
        &viewer_cookie.put("/routes/1", route()).await,
        401,
        &token_error("invalid method for role viewer"),
        "viewer PUT with the cookie",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_admin_and_generated_admin_key() {
    let etcd = Etcd::start().await;

    // A client address outside allow_admin is refused, key or not.
    let fenced = Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(&format!(
        "    admin_listen:\n      ip: 127.0.0.1\n      port: {{admin_port}}\n    admin_key:\n      - name: admin\n        key: {ADMIN_KEY}\n        role: admin\n    allow_admin:\n      - 10.0.0.0/8\n"
    )))
    .await;
    let admin = Admin::new(&fenced);
    assert_status!(
        fenced,
        admin.get("/routes").await,
        403,
        "GET from 127.0.0.1"
    );
    assert_status!(
        fenced,
        admin.put("/routes/1", route()).await,
        403,
        "PUT from 127.0.0.1"
    );
    let head = request(Method::HEAD, fenced.admin_url(""))
        .send()
        .await
        .unwrap();
    assert_status!(fenced, head, 403, "HEAD from 127.0.0.1");
    drop(fenced);

    // No key configured: one is generated into the data dir, mode 0600.
    let gw =
        Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(
            "    admin_listen:\n      ip: 127.0.0.1\n      port: {admin_port}\n",
        ))
        .await;
    let path = gw.dir().join("data").join("admin_key.admin");
    let meta = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("the generated key file {}: {e}", path.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "mode of {}",
        path.display()
    );
    let key = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(key.len() >= 16, "generated key {key:?} is too short");
    gw_assert!(
        gw,
        gw.log().contains(&path.display().to_string()),
        "the log should say where the generated key is ({})",
        path.display()
    );
    gw_assert!(
        gw,
        !gw.log().contains(&key),
        "the log must not contain the generated key itself"
    );
    let admin = Admin::new(&gw);
    assert_body(
        &gw,
        &admin.without_key().get("/routes").await,
        401,
        &token_error("missing apikey"),
        "GET without the generated key",
    );
    assert_body(
        &gw,
        &admin.get("/routes").await,
        401,
        &token_error("wrong apikey"),
        "the test key is not accepted",
    );
    let admin = admin.with_key(&key);
    assert_status!(
        gw,
        admin.put("/routes/1", route()).await,
        201,
        "PUT with the generated key"
    );
    assert_status!(
        gw,
        admin.get("/routes/1").await,
        200,
        "GET with the generated key"
    );
}

/// A config for a gateway whose Admin API needs no key and listens on `admin_ip`.
fn open_admin_config(dir: &std::path::Path, etcd: &str, admin_ip: &str) -> String {
    let lines = [
        "apisix:",
        "  node_listen:",
        "    - ip: 127.0.0.1",
        "      port: {proxy}",
        "  status:",
        "    ip: 127.0.0.1",
        "    port: {status}",
        "deployment:",
        "  role: traditional",
        "  role_traditional:",
        "    config_provider: etcd",
        "  admin:",
        "    admin_key_required: false",
        "    admin_listen:",
        "      ip: {admin_ip}",
        "      port: {admin}",
        "  etcd:",
        "    host:",
        "      - \"{etcd}\"",
        "    prefix: /apisix",
        "strait:",
        "  data_dir: {data}",
        "  snapshot_file: {snapshot}",
        "",
    ];
    lines
        .join("\n")
        .replace("{proxy}", &free_port().to_string())
        .replace("{status}", &free_port().to_string())
        .replace("{admin_ip}", admin_ip)
        .replace("{admin}", &free_port().to_string())
        .replace("{etcd}", etcd)
        .replace("{data}", &dir.join("data").display().to_string())
        .replace(
            "{snapshot}",
            &dir.join("snapshot.json").display().to_string(),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_required_only_on_loopback() {
    // Open to the network without a key: the process refuses to start.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let etcd_down = format!("http://127.0.0.1:{}", closed_port());
    std::fs::write(
        &config,
        open_admin_config(dir.path(), &etcd_down, "0.0.0.0"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("out.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strait"))
        .arg("-c")
        .arg(&config)
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn strait");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let out = std::fs::read_to_string(dir.path().join("out.log")).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "an Admin API on 0.0.0.0 with admin_key_required: false must not start (exit {status:?}):\n{out}"
    );
    assert!(
        out.contains("admin_key_required"),
        "the refusal should name admin_key_required:\n{out}"
    );

    // On loopback it starts, and requests need no key.
    let etcd = Etcd::start().await;
    let gw = Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(
        "    admin_key_required: false\n    admin_listen:\n      ip: 127.0.0.1\n      port: {admin_port}\n",
    ))
    .await;
    let anonymous = Admin::new(&gw).without_key();
    assert_status!(
        gw,
        anonymous.put("/routes/1", route()).await,
        201,
        "PUT without a key"
    );
    assert_status!(
        gw,
        anonymous.get("/routes/1").await,
        200,
        "GET without a key"
    );
}
