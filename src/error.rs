//! Typed errors of the request path. Each knows the HTTP status and the JSON
//! body the client gets (`{"error_msg": ...}`, APISIX's shape) and how loudly
//! it is logged, so call sites never pick a status by hand.

use http::{Response, StatusCode};

use crate::body::{json_response, ProxyBody};

/// Something that ends a request before or instead of an upstream response.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No route matched (APISIX's exact body).
    #[error("404 Route Not Found")]
    RouteNotFound,
    /// The matched route resolves to no upstream.
    #[error("{0}")]
    NoUpstream(String),
    /// The upstream has no node that can take traffic.
    #[error("no available node in {0}")]
    NoAvailableNode(String),
    /// Every attempt failed to connect or exchange.
    #[error("{0}")]
    UpstreamFailed(String),
    /// The upstream did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// The client's request could not be read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The SSL object requires a client certificate for this URI and the
    /// client sent none (APISIX's message).
    #[error("client certificate was not present")]
    ClientCertRequired,
    /// The request body is larger than a plugin that reads it accepts.
    #[error("413 Request Entity Too Large")]
    PayloadTooLarge,
}

impl ProxyError {
    /// The status the client receives.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::RouteNotFound => StatusCode::NOT_FOUND,
            ProxyError::NoUpstream(_)
            | ProxyError::NoAvailableNode(_)
            | ProxyError::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) | ProxyError::ClientCertRequired => StatusCode::BAD_REQUEST,
            ProxyError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// Log it at the level it deserves (404s and client errors are not logged).
    pub fn log(&self, route_id: Option<&str>) {
        match self {
            ProxyError::RouteNotFound
            | ProxyError::BadRequest(_)
            | ProxyError::ClientCertRequired
            | ProxyError::PayloadTooLarge => {}
            _ => tracing::error!(route = route_id.unwrap_or("-"), "{self}"),
        }
    }

    /// The response sent to the client.
    pub fn into_response(self) -> Response<ProxyBody> {
        json_response(
            self.status(),
            &serde_json::json!({ "error_msg": self.to_string() }),
        )
    }
}
