//! Errors of the Admin API, each with APISIX's status code and body shape:
//! `{"error_msg": ...}` for most, `{"message":"Key not found"}` for a missing
//! key, `{"error_msg":"failed to check token","description":...}` for auth.

use http::{Response, StatusCode};
use serde_json::json;

use crate::body::{json_response, ProxyBody};

/// Why an Admin API request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A bad request that is not about the resource's content (ids, query arguments).
    #[error("{0}")]
    BadRequest(String),
    /// The resource failed schema validation (`invalid configuration: ...`).
    #[error("invalid configuration: {0}")]
    InvalidConf(String),
    /// The body is too large, not JSON, or repeats a key.
    #[error("invalid request body: {reason}")]
    InvalidBody {
        /// What is wrong.
        reason: String,
        /// The start of the body, echoed like APISIX does (absent for oversize bodies).
        req_body: Option<String>,
    },
    /// The key does not exist.
    #[error("Key not found")]
    KeyNotFound,
    /// A path or resource that does not exist, with APISIX's message.
    #[error("{0}")]
    NotFound(String),
    /// The resource does not support the method.
    #[error("not supported `{method}` method for {resource}")]
    MethodNotAllowed {
        /// The method, upper case.
        method: String,
        /// The resource's singular name.
        resource: &'static str,
    },
    /// A method an endpoint does not take, with the endpoint's own message.
    #[error("{0}")]
    WrongMethod(String),
    /// Missing or wrong key, or a viewer trying to write.
    #[error("failed to check token")]
    Unauthorized(&'static str),
    /// The client address is not in `allow_admin`.
    #[error("forbidden")]
    Forbidden,
    /// strait itself cannot complete the request (config file unreadable,
    /// keyring mismatch).
    #[error("{0}")]
    Internal(String),
    /// etcd failed or a compare-and-swap lost a race.
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::BadRequest(_)
            | AdminError::InvalidConf(_)
            | AdminError::InvalidBody { .. } => StatusCode::BAD_REQUEST,
            AdminError::KeyNotFound | AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed { .. } | AdminError::WrongMethod(_) => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            AdminError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden => StatusCode::FORBIDDEN,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response sent to the client.
    pub fn into_response(self) -> Response<ProxyBody> {
        let status = self.status();
        let body = match &self {
            AdminError::KeyNotFound => json!({ "message": "Key not found" }),
            AdminError::Unauthorized(why) => {
                json!({ "error_msg": self.to_string(), "description": why })
            }
            AdminError::InvalidBody {
                req_body: Some(b), ..
            } => json!({ "error_msg": self.to_string(), "req_body": b }),
            _ => json!({ "error_msg": self.to_string() }),
        };
        json_response(status, &body)
    }
}

impl From<crate::admin::etcd_store::StoreError> for AdminError {
    fn from(e: crate::admin::etcd_store::StoreError) -> Self {
        AdminError::Unavailable(e.to_string())
    }
}
