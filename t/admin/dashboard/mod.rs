//! The dashboard on the admin listener: its files at `/ui/` and its
//! read-only API at `/ui/api/`, seen as a browser would (status, headers,
//! bodies), on a gateway whose `admin_ui_root` is a temp dir holding a fake
//! build and whose traffic sampler ticks every [`SAMPLE_MS`].

mod api;
mod live;
mod static_files;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{request, Etcd, Gateway, GatewayOpts, Resp, ADMIN_KEY, VIEWER_KEY};

/// The sampler's interval in these tests (`STRAIT_UI_SAMPLE_MS`).
pub const SAMPLE_MS: &str = "200";

/// The fake build's `index.html`.
pub const INDEX: &str = "<!doctype html><title>strait dashboard</title>";
/// The fake build's hashed script.
pub const APP_JS: &str = "console.log('strait')";
/// A file next to the build that no request may read.
pub const SECRET: &str = "top secret, outside the dashboard root";

/// A fake dashboard build in a temp dir: `dist/index.html`,
/// `dist/assets/app-3f9a1c.js`, `dist/favicon.svg`, and `secret.txt` beside
/// `dist/` (plus `dist/leak.txt`, a symlink to it).
pub struct FakeBuild {
    dir: TempDir,
}

impl FakeBuild {
    /// Write the files.
    pub fn new() -> FakeBuild {
        let dir = tempfile::tempdir().expect("temp dir");
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(dist.join("assets")).expect("mkdir");
        std::fs::write(dist.join("index.html"), INDEX).expect("write");
        std::fs::write(dist.join("assets/app-3f9a1c.js"), APP_JS).expect("write");
        std::fs::write(dist.join("favicon.svg"), "<svg/>").expect("write");
        std::fs::write(dir.path().join("secret.txt"), SECRET).expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dist.join("leak.txt"))
            .expect("symlink");
        FakeBuild { dir }
    }

    /// The `dist/` directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("dist")
    }
}

/// The `deployment.admin` section of [`GatewayOpts::with_admin`] plus
/// `extra` (4-space indented lines).
pub fn admin_section(extra: &str) -> String {
    format!(
        "    admin_listen:\n      ip: 127.0.0.1\n      port: {{admin_port}}\n    admin_key:\n      - name: admin\n        key: {ADMIN_KEY}\n        role: admin\n      - name: viewer\n        key: {VIEWER_KEY}\n        role: viewer\n{extra}"
    )
}

/// etcd and a ready gateway serving the dashboard from `root`, sampling fast.
pub async fn start(root: &Path, extra_admin: &str) -> (Etcd, Gateway) {
    let etcd = Etcd::start().await;
    let section = admin_section(&format!(
        "    admin_ui_root: {:?}\n{extra_admin}",
        root.display().to_string()
    ));
    let gw = Gateway::start(
        GatewayOpts::etcd(&etcd)
            .with_admin_section(&section)
            .env("STRAIT_UI_SAMPLE_MS", SAMPLE_MS),
    )
    .await;
    gw.wait_ready().await;
    (etcd, gw)
}

/// `http://127.0.0.1:{admin port}{path}`.
pub fn url(gw: &Gateway, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", gw.admin_port)
}

/// `method path` on the admin listener, sending `key` in `X-API-KEY`.
pub async fn send(gw: &Gateway, method: Method, path: &str, key: Option<&str>) -> Resp {
    let mut req = request(method.clone(), url(gw, path));
    if let Some(k) = key {
        req = req.header("X-API-KEY", k);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// `GET path` with the admin key, expecting a 200 JSON answer.
pub async fn api(gw: &Gateway, path: &str) -> Value {
    let r = send(gw, Method::GET, path, Some(ADMIN_KEY)).await;
    assert_status!(gw, r, 200, "GET {path}");
    r.json()
}

/// Poll `GET path` (admin key) until `done` holds for its JSON, up to 10 s; that JSON.
pub async fn api_until(
    gw: &Gateway,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = api(gw, path).await;
        if done(&v) {
            return v;
        }
        gw_assert!(
            gw,
            Instant::now() < deadline,
            "{what}: never true; last {path}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
