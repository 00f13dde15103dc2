//! Body types shared by the proxy pipeline: boxed request/response bodies,
//! small constructors, and a wrapper that enforces a read timeout between
//! chunks of a streamed upstream response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use tokio::time::{Instant, Sleep};

/// Error type carried by streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response strait sends and every request it forwards.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Build a small JSON response (status endpoints, errors).
pub fn json_response(
    status: http::StatusCode,
    body: &serde_json::Value,
) -> http::Response<ProxyBody> {
    let mut resp = http::Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The upstream stopped sending for longer than the read timeout.
#[derive(Debug, thiserror::Error)]
#[error("upstream sent nothing for {0:?} (read timeout)")]
pub struct ReadTimeout(pub Duration);

pin_project_lite::pin_project! {
    /// Fails the stream when the upstream sends nothing for `timeout` while
    /// we are waiting for it. Time the client spends not reading (back
    /// pressure) does not count: the timer is armed on the first wait after a
    /// frame, not when the frame is handed out.
    pub struct IdleTimeoutBody<B> {
        #[pin]
        inner: B,
        timeout: Duration,
        armed: bool,
        #[pin]
        sleep: Sleep,
    }
}

impl<B> IdleTimeoutBody<B> {
    /// Wrap `inner`, allowing at most `timeout` of waiting between frames.
    pub fn new(inner: B, timeout: Duration) -> Self {
        IdleTimeoutBody {
            inner,
            timeout,
            armed: true,
            sleep: tokio::time::sleep(timeout),
        }
    }
}

impl<B> Body for IdleTimeoutBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                *this.armed = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !*this.armed {
                    *this.armed = true;
                    let deadline = Instant::now() + *this.timeout;
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(ReadTimeout(*this.timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
