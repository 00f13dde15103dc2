//! Admin API integration tests, one file per area: every request goes to a
//! real gateway's Admin API, backed by a real etcd, and the assertions are on
//! what an APISIX client sees (status codes, envelopes, `error_msg` texts).
//!
//! [`Admin`] is a small client for `/apisix/admin/*` that sends the admin key
//! unless told otherwise; [`start`] gives a fresh etcd, a gateway with the
//! Admin API and such a client.

mod auth;
mod crud;
mod dashboard;
mod data_plane;
mod hardening;
mod lists;
mod patch;
mod plugin_secrets;
mod readme;
mod references;
mod schema;
mod ssl;
mod validation;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::common::{request, Etcd, Gateway, GatewayOpts, Resp, ADMIN_KEY};

/// A client of one gateway's Admin API.
#[derive(Debug, Clone)]
pub struct Admin {
    port: u16,
    key: Option<String>,
    headers: Vec<(String, String)>,
}

impl Admin {
    /// A client of `gw`'s Admin API that sends [`ADMIN_KEY`] in `X-API-KEY`.
    pub fn new(gw: &Gateway) -> Admin {
        Admin {
            port: gw.admin_port,
            key: Some(ADMIN_KEY.to_string()),
            headers: Vec::new(),
        }
    }

    /// The same client sending `key` instead.
    pub fn with_key(&self, key: &str) -> Admin {
        Admin {
            key: Some(key.to_string()),
            ..self.clone()
        }
    }

    /// The same client sending no `X-API-KEY` header.
    pub fn without_key(&self) -> Admin {
        Admin {
            key: None,
            ..self.clone()
        }
    }

    /// The same client adding a header to every request.
    pub fn with_header(&self, name: &str, value: &str) -> Admin {
        let mut a = self.clone();
        a.headers.push((name.to_string(), value.to_string()));
        a
    }

    /// `http://127.0.0.1:{admin port}/apisix/admin{path}` (`path` may carry a query).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/apisix/admin{path}", self.port)
    }

    /// Send `method path` with a raw body; a transport failure fails the test.
    pub async fn raw(&self, method: Method, path: &str, body: impl Into<Bytes>) -> Resp {
        let mut req = request(method.clone(), self.url(path));
        if let Some(k) = &self.key {
            req = req.header("X-API-KEY", k);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req.body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, Bytes::new()).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(Method::DELETE, path, Bytes::new()).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.raw(Method::PUT, path, body.to_string()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.raw(Method::POST, path, body.to_string()).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.raw(Method::PATCH, path, body.to_string()).await
    }
}

/// A fresh etcd, a gateway on it with the Admin API (keys [`ADMIN_KEY`] and
/// `VIEWER_KEY`) and an admin client.
pub async fn start() -> (Etcd, Gateway, Admin) {
    let etcd = Etcd::start().await;
    let gw = Gateway::start(GatewayOpts::etcd(&etcd).with_admin()).await;
    let admin = Admin::new(&gw);
    (etcd, gw, admin)
}

/// The body as JSON, or `Value::Null` when it is not JSON.
pub fn body_json(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

/// The `error_msg` of an error body (empty when absent).
pub fn error_msg(r: &Resp) -> String {
    body_json(r)["error_msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Assert the status and that the body is exactly `body` (as JSON).
pub fn assert_body(gw: &Gateway, r: &Resp, status: u16, body: &Value, what: &str) {
    gw_assert!(
        gw,
        r.status == status && body_json(r) == *body,
        "{what}: expected {status} {body}, got {} {}",
        r.status,
        r.body
    );
}

/// Assert the status and that the body is exactly `{"error_msg": msg}`.
pub fn assert_error(gw: &Gateway, r: &Resp, status: u16, msg: &str, what: &str) {
    assert_body(
        gw,
        r,
        status,
        &serde_json::json!({ "error_msg": msg }),
        what,
    );
}

/// Assert `404 {"message":"Key not found"}`.
pub fn assert_key_not_found(gw: &Gateway, r: &Resp, what: &str) {
    assert_body(
        gw,
        r,
        404,
        &serde_json::json!({"message": "Key not found"}),
        what,
    );
}

/// Assert a 400 whose `error_msg` contains `needle`.
pub fn assert_bad_request(gw: &Gateway, r: &Resp, needle: &str, what: &str) {
    gw_assert!(
        gw,
        r.status == 400 && error_msg(r).contains(needle),
        "{what}: expected 400 with an error_msg containing {needle:?}, got {} {}",
        r.status,
        r.body
    );
}

/// The sorted keys of a JSON object (empty for anything else).
pub fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// The `value.id`s of a list answer, in order.
pub fn list_ids(body: &Value) -> Vec<String> {
    body["list"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|i| i["value"]["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
