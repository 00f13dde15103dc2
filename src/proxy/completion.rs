//! A response body wrapper that tells the balancer when an exchange is over
//! (end of body, error, or the client going away), so `least_conn` and `ewma`
//! count a streaming response as active until it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;

use crate::upstream::Upstream;

/// Reports the end of a request to the balancer exactly once.
pub struct Completion {
    /// The upstream whose balancer is told.
    pub up: Arc<Upstream>,
    /// The node index.
    pub node: usize,
    /// When the attempt started.
    pub started: Instant,
}

impl Completion {
    /// Report the end of the exchange.
    pub fn finish(self, failed: bool) {
        self.up
            .balancer
            .on_finish(self.node, self.started.elapsed(), failed);
    }
}

pin_project_lite::pin_project! {
    /// A response body that tells the balancer when the exchange is over
    /// (end of body, error, or the client going away).
    pub struct CompletionBody<B> {
        #[pin]
        inner: B,
        done: Option<Completion>,
    }

    impl<B> PinnedDrop for CompletionBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(c) = this.project().done.take() {
                c.finish(false);
            }
        }
    }
}

impl<B> http_body::Body for CompletionBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(None) => {
                if let Some(c) = this.done.take() {
                    c.finish(false);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(c) = this.done.take() {
                    c.finish(true);
                }
            }
            _ => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> CompletionBody<B> {
    /// Wrap `inner`; `done` is reported when it ends or is dropped.
    pub fn new(inner: B, done: Completion) -> Self {
        CompletionBody {
            inner,
            done: Some(done),
        }
    }
}
