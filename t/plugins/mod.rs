//! Plugin integration tests, one file per plugin or runtime concern: every
//! request goes through a real gateway with plugins configured through its
//! Admin API (backed by a real etcd) to fake upstreams.

mod basic_auth;
mod consumer_restriction;
mod cors;
mod fault_injection;
mod ip_restriction;
mod jwt_auth;
mod key_auth;
mod limit_conn;
mod limit_count;
mod limit_req;
mod loggers;
mod prometheus;
mod proxy_rewrite;
mod readme;
mod real_ip;
mod redirect;
pub mod redis_server;
mod request_id;
mod response_rewrite;
mod runtime;
mod traffic_split;
mod ua_restriction;

use std::time::Duration;

use serde_json::{json, Value};

use crate::admin::Admin;
use crate::common::{get, Etcd, Gateway, GatewayOpts, Resp, Upstream};

/// etcd, a gateway with the Admin API, an admin client and one fake upstream.
pub struct Env {
    /// The etcd (kept alive; tests may write to it directly).
    #[allow(dead_code)]
    pub etcd: Etcd,
    /// The gateway.
    pub gw: Gateway,
    /// Its Admin API.
    pub admin: Admin,
    /// A fake upstream (`/hello`, `/echo`, `/server_port`, ...).
    pub up: Upstream,
}

impl Env {
    /// Start everything and wait until the gateway is ready.
    pub async fn start() -> Env {
        Env::start_with(|opts| opts).await
    }

    /// [`Env::start`] with gateway options adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(GatewayOpts) -> GatewayOpts) -> Env {
        let etcd = Etcd::start().await;
        let gw = Gateway::start(adjust(GatewayOpts::etcd(&etcd).with_admin())).await;
        gw.wait_ready().await;
        let admin = Admin::new(&gw);
        let up = Upstream::start().await;
        Env {
            etcd,
            gw,
            admin,
            up,
        }
    }

    /// An inline upstream of the fake upstream.
    pub fn upstream(&self) -> Value {
        json!({"type": "roundrobin", "nodes": {self.up.addr(): 1}})
    }

    /// `PUT` through the Admin API, asserting 200/201.
    pub async fn put(&self, path: &str, body: Value) {
        let r = self.admin.put(path, body).await;
        gw_assert!(
            self.gw,
            r.status == 200 || r.status == 201,
            "PUT {path}: {} {}",
            r.status,
            r.body
        );
    }

    /// Wait (up to 5 s) until `GET path` with `headers` answers `status`; that answer.
    pub async fn until(&self, path: &str, headers: &[(&str, &str)], status: u16) -> Resp {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(path, headers).await;
            if r.status == status {
                return r;
            }
            gw_assert!(
                self.gw,
                std::time::Instant::now() < deadline,
                "GET {path} never answered {status}; last: {} {}",
                r.status,
                r.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST path` with a JSON `body`.
    pub async fn post_json(&self, path: &str, body: &str) -> Resp {
        crate::common::request(http::Method::POST, self.gw.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request through the gateway")
    }

    /// Repeat [`Env::post_json`] (up to 5 s) until `done` holds for the answer; that answer.
    pub async fn post_until(&self, path: &str, body: &str, done: impl Fn(&Resp) -> bool) -> Resp {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.post_json(path, body).await;
            if done(&r) {
                return r;
            }
            gw_assert!(
                self.gw,
                std::time::Instant::now() < deadline,
                "POST {path} never answered as expected; last: {} {}",
                r.status,
                r.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET path` with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = get(self.gw.url(path));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send().await.expect("request through the gateway")
    }
}
