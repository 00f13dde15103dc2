//! Status API (`apisix.status`, port 7085): `GET /status` answers while the
//! process runs; `GET /status/ready` is 503 until a first configuration
//! snapshot has been loaded (from etcd, the standalone file or the persisted
//! snapshot), as APISIX's readiness probe.

use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::body::ProxyBody;
use crate::config::SharedSnapshot;
use crate::proxy::json_response;

/// Answer one status request.
pub fn handle<B>(shared: &SharedSnapshot, req: &Request<B>) -> Response<ProxyBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error_msg": "only GET is supported"}),
        );
    }
    match req.uri().path() {
        "/status" => json_response(StatusCode::OK, &json!({"status": "ok"})),
        "/status/ready" => {
            if shared.is_loaded() {
                let snap = shared.load();
                json_response(
                    StatusCode::OK,
                    &json!({"status": "ok", "revision": snap.revision, "routes": snap.routes.len()}),
                )
            } else {
                json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "error", "error": "no configuration loaded yet"}),
                )
            }
        }
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error_msg": "not found"})),
    }
}
