//! Reading an Admin API request body: at most 1.5 MiB (APISIX's
//! `MAX_REQ_BODY`), JSON only, and no repeated keys at any depth (two parsers
//! disagreeing on `{"a":1,"a":2}` was APISIX's CVE-2022-25757).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use super::error::AdminError;
use crate::schema::strict_json;

/// Largest accepted body, as in APISIX.
pub const MAX_BODY: usize = 1_572_864;

/// How much of an invalid body is echoed back in `req_body`.
const ECHO_LIMIT: usize = 1024;

fn too_large(size: Option<u64>) -> AdminError {
    let size = size.map_or_else(|| format!("more than {MAX_BODY}"), |s| s.to_string());
    AdminError::InvalidBody {
        reason: format!("request size {size} is greater than the maximum size {MAX_BODY} allowed"),
        req_body: None,
    }
}

/// Read the whole body, refusing more than [`MAX_BODY`] bytes.
pub async fn read(body: Incoming, content_length: Option<u64>) -> Result<Bytes, AdminError> {
    if let Some(len) = content_length.filter(|l| *l > MAX_BODY as u64) {
        return Err(too_large(Some(len)));
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(None)),
        Err(e) => Err(AdminError::BadRequest(format!(
            "failed to read the request body: {e}"
        ))),
    }
}

/// Parse a body as JSON; `None` for an empty body. With `echo`, an invalid
/// body's start is returned in `req_body` as APISIX does.
pub fn parse_json(bytes: &[u8], echo: bool) -> Result<Option<Value>, AdminError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    strict_json::parse(bytes)
        .map(Some)
        .map_err(|reason| AdminError::InvalidBody {
            reason,
            req_body: echo.then(|| start_of(bytes)),
        })
}

/// The start of a body, for error messages.
fn start_of(bytes: &[u8]) -> String {
    let cut = bytes.len().min(ECHO_LIMIT);
    String::from_utf8_lossy(&bytes[..cut]).into_owned()
}
