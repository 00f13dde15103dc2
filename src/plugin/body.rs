//! The response body when plugins run: body filters see each chunk, the byte
//! count is kept, and the log phase runs exactly once — at the end of the
//! body, on a body error, or when the client goes away (drop).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::chain::Chain;
use super::Ctx;
use crate::body::BoxError;

/// What the body needs to finish the request's plugin work.
pub struct Finish {
    /// The request context.
    pub ctx: Box<Ctx>,
    /// Global rules' plugins.
    pub global: Chain,
    /// The route's merged plugins.
    pub chain: Chain,
}

impl Finish {
    fn log(self) {
        // The answer is over (or cut): an LLM answer's missing usage may
        // now be counted from what arrived.
        if let Some(stats) = self
            .ctx
            .extensions
            .get::<std::sync::Arc<crate::llm::stats::LlmStats>>()
        {
            stats.ended();
        }
        self.global.log(&self.ctx);
        self.chain.log(&self.ctx);
    }
}

pin_project_lite::pin_project! {
    /// A response body running body filters and, at its end, the log phase.
    pub struct PluginBody<B> {
        #[pin]
        inner: B,
        finish: Option<Finish>,
        filters: bool,
    }

    impl<B> PinnedDrop for PluginBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(f) = this.project().finish.take() {
                f.log();
            }
        }
    }
}

impl<B> PluginBody<B> {
    /// Wrap `inner`.
    pub fn new(inner: B, finish: Finish) -> PluginBody<B> {
        let filters = finish.global.filters_body() || finish.chain.filters_body();
        PluginBody {
            inner,
            finish: Some(finish),
            filters,
        }
    }
}

impl<B> Body for PluginBody<B>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match (frame.into_data(), this.finish.as_mut()) {
                    (Ok(mut data), Some(f)) => {
                        if *this.filters {
                            f.global.body_filter(&mut f.ctx, &mut data, false);
                            f.chain.body_filter(&mut f.ctx, &mut data, false);
                        }
                        f.ctx.bytes_sent += data.len() as u64;
                        Frame::data(data)
                    }
                    (Ok(data), None) => Frame::data(data),
                    (Err(other), _) => other,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                if let Some(mut f) = this.finish.take() {
                    if *this.filters {
                        // Last call: filters may append a tail.
                        let mut tail = Bytes::new();
                        f.global.body_filter(&mut f.ctx, &mut tail, true);
                        f.chain.body_filter(&mut f.ctx, &mut tail, true);
                        if !tail.is_empty() {
                            f.ctx.bytes_sent += tail.len() as u64;
                            f.log();
                            return Poll::Ready(Some(Ok(Frame::data(tail))));
                        }
                    }
                    f.log();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(f) = this.finish.take() {
                    f.log();
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // With body filters a tail may still come after the inner end.
        !self.filters && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.filters {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}
