//! One provider exchange, whatever the call is (chat or embeddings): the
//! built provider request sent through the instance's upstream with the
//! client's forwardable headers and the instance's credentials, and an
//! error answer, a failed connection or a timeout turned into a
//! [`Failure`] in the client's protocol (with the provider's
//! `Retry-After`, and the instance's pool told). A 2xx answer comes back
//! unread, for the caller to translate.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request};
use http_body_util::BodyExt;

use super::error_response;
use super::pool::{retry_after, Attempt, Outcome};
use super::target::AiTarget;
use crate::body::ProxyBody;
use crate::llm::{ClientProtocol, ErrorKind, LlmError, ProviderRequest};
use crate::metrics::llm::ActiveCall;
use crate::plugin::Ctx;
use crate::proxy::forward::{forward, ForwardRequest, OutgoingBody};
use crate::proxy::plugins::plugin_response;

/// Largest error body read from a provider.
const MAX_ERROR_BODY: usize = 1 << 20;

/// A failed attempt: the answer the client gets unless another instance
/// takes over, and what decides whether one may.
pub struct Failure {
    /// The answer, in the client's protocol.
    pub response: http::Response<ProxyBody>,
    /// The provider's status (502/504 when it could not be reached or timed out).
    pub status: u16,
    /// Time since the attempt started.
    pub elapsed: std::time::Duration,
}

impl Failure {
    /// The request could not be built for the instance (or its answer not
    /// read): `err` in the client's protocol, the instance not blamed.
    pub fn unsent(protocol: &dyn ClientProtocol, err: &LlmError, attempt: Attempt) -> Failure {
        let elapsed = attempt.elapsed();
        drop(attempt);
        Failure {
            response: plugin_response(error_response(protocol, err)),
            status: err.status,
            elapsed,
        }
    }
}

/// A 2xx answer, its body not read yet.
pub struct Answer {
    /// The body.
    pub body: ProxyBody,
    /// The attempt, to report once the answer (or its first token) is in.
    pub attempt: Attempt,
    /// `apisix_llm_active_connections` while the answer lasts.
    pub active: ActiveCall,
}

/// Client headers never sent to a provider: the gateway's own credentials,
/// cookies, and what strait sets itself.
fn forwarded(name: &header::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "accept-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
            | "proxy-authorization"
            | "authorization"
            | "x-api-key"
            | "api-key"
            | "cookie"
            | "content-type"
    )
}

/// Send `out` to `target` at `path_and_query` (auth query included).
pub async fn exchange(
    ctx: &Ctx,
    target: &AiTarget,
    out: ProviderRequest,
    path_and_query: String,
    protocol: &dyn ClientProtocol,
    attempt: Attempt,
) -> Result<Answer, Failure> {
    let mut headers = HeaderMap::with_capacity(ctx.req.headers.len() + 4);
    for (k, v) in ctx.req.headers.iter().filter(|(k, _)| forwarded(k)) {
        headers.append(k.clone(), v.clone());
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The adapter's headers (it may name another content type), then the credentials.
    for (k, v) in out.headers.iter().chain(target.auth_headers.iter()) {
        headers.insert(k.clone(), v.clone());
    }
    headers.insert(header::CONTENT_LENGTH, out.body.len().into());
    let mut builder = Request::builder().method(Method::POST).uri(path_and_query);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let parts = match builder.body(()) {
        Ok(r) => r.into_parts().0,
        Err(e) => {
            let err = LlmError::invalid(format!("cannot build the provider request: {e}"));
            return Err(Failure::unsent(protocol, &err, attempt));
        }
    };
    let active = ActiveCall::start(ctx.route_id().unwrap_or_default(), &target.instance);
    let sent = forward(
        &target.upstream,
        ForwardRequest {
            parts,
            body: OutgoingBody::Replayable(out.body),
            client_host: None,
            hash_key: None,
            timeouts: target.timeouts,
            client_cert: None,
        },
    )
    .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let status = e.status().as_u16();
            let err = LlmError {
                status,
                kind: if status == 504 {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Provider
                },
                message: format!("{}: {e}", target.instance),
            };
            tracing::warn!(instance = %target.instance, error = %e, "LLM provider call failed");
            let elapsed = attempt.elapsed();
            attempt.failed(Outcome::Unreachable);
            return Err(Failure {
                response: plugin_response(error_response(protocol, &err)),
                status,
                elapsed,
            });
        }
    };
    let (parts, body) = resp.into_parts();
    let status = parts.status.as_u16();
    if status < 400 {
        return Ok(Answer {
            body,
            attempt,
            active,
        });
    }
    let bytes = read_limited(body, MAX_ERROR_BODY).await.unwrap_or_default();
    let err = target.provider.decode_error(status, &bytes);
    let mut answer = plugin_response(error_response(protocol, &err));
    // The provider's `Retry-After`, else the delay its error body names
    // (Gemini's `RetryInfo`): the client is told, and the instance cools
    // down that long.
    let retry = match parts.headers.get(header::RETRY_AFTER) {
        Some(v) => Some(v.clone()),
        None => target.provider.retry_after(&bytes).map(HeaderValue::from),
    };
    if let Some(v) = &retry {
        answer.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    let elapsed = attempt.elapsed();
    attempt.failed(Outcome::Status(status, retry_after(retry.as_ref())));
    Err(Failure {
        response: answer,
        status,
        elapsed,
    })
}

/// A complete answer of `answer`, at most `limit` bytes; a failure (read
/// error, too large) before anything reached the client, which another
/// instance may take over.
pub async fn read_answer(
    answer: Answer,
    limit: usize,
    protocol: &dyn ClientProtocol,
) -> Result<(Bytes, Attempt, ActiveCall), Failure> {
    let Answer {
        body,
        attempt,
        active,
    } = answer;
    match read_limited(body, limit).await {
        Ok(b) => Ok((b, attempt, active)),
        Err(msg) => {
            let elapsed = attempt.elapsed();
            attempt.failed(Outcome::Unreachable);
            Err(Failure {
                response: plugin_response(error_response(protocol, &LlmError::provider(msg))),
                status: 502,
                elapsed,
            })
        }
    }
}

async fn read_limited(mut body: ProxyBody, limit: usize) -> Result<Bytes, String> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("cannot read the provider's answer: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(format!(
                    "the provider's answer is larger than max_response_bytes ({limit} bytes)"
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
