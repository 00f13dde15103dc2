//! A provider's streamed answer translated as it arrives: each chunk fed
//! to the provider's decoder, each canonical event written by the client
//! protocol's encoder and recorded in the request's figures. Nothing is
//! buffered beyond one incomplete event. Dropping the body (the client
//! went away) drops the provider connection, which cancels the call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};

use super::pool::Attempt;
use crate::body::{BoxError, ProxyBody};
use crate::llm::stats::LlmStats;
use crate::llm::{StreamDecoder, StreamEncoder, StreamEvent};
use crate::metrics::llm::ActiveCall;

/// The translating body.
pub struct TranslatingBody {
    inner: ProxyBody,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    stats: Arc<LlmStats>,
    /// Reported to the instance pool at the first token.
    attempt: Option<Attempt>,
    /// `apisix_llm_active_connections` while the stream lasts.
    _active: ActiveCall,
    events: Vec<StreamEvent>,
    out: BytesMut,
    finished: bool,
}

impl TranslatingBody {
    /// Translate `inner` with `decoder` and `encoder`, recording into `stats`.
    pub fn new(
        inner: ProxyBody,
        decoder: Box<dyn StreamDecoder>,
        encoder: Box<dyn StreamEncoder>,
        stats: Arc<LlmStats>,
        attempt: Attempt,
        active: ActiveCall,
    ) -> TranslatingBody {
        TranslatingBody {
            inner,
            decoder,
            encoder,
            stats,
            attempt: Some(attempt),
            _active: active,
            events: Vec::new(),
            out: BytesMut::new(),
            finished: false,
        }
    }

    /// Encode the pending events; an `Error` ends the stream (what follows
    /// it is dropped, and so is the provider's connection).
    fn encode_events(&mut self) {
        for ev in self.events.drain(..) {
            match &ev {
                StreamEvent::Text { text } | StreamEvent::Thinking { text, .. } => {
                    self.stats.record_output(text)
                }
                StreamEvent::ToolCallArguments { arguments, .. } => {
                    self.stats.record_output(arguments)
                }
                _ => {}
            }
            match &ev {
                StreamEvent::Start { model, .. } => self.stats.set_model(model),
                StreamEvent::Text { .. }
                | StreamEvent::Thinking { .. }
                | StreamEvent::ToolCallStart { .. } => {
                    self.stats.first_token();
                    if let Some(a) = self.attempt.take() {
                        a.answered();
                    }
                }
                StreamEvent::Usage { usage } => self.stats.set_usage(usage),
                _ => {}
            }
            self.encoder.encode(&ev, &mut self.out);
            if matches!(ev, StreamEvent::Error { .. }) {
                self.encoder.finish(&mut self.out);
                self.finished = true;
                break;
            }
        }
        self.events.clear();
    }

    fn fail(&mut self, message: String) {
        self.events.push(StreamEvent::Error {
            kind: "api_error".into(),
            message,
        });
        self.finish();
    }

    fn finish(&mut self) {
        self.encode_events();
        if !self.finished {
            self.encoder.finish(&mut self.out);
            self.finished = true;
        }
        self.stats.ended();
    }
}

impl Body for TranslatingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if !this.out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(this.out.split().freeze()))));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        let started = Instant::now();
                        match this.decoder.feed(&data, &mut this.events) {
                            Ok(()) => this.encode_events(),
                            Err(e) => this.fail(e.message),
                        }
                        this.stats.add_overhead(started.elapsed());
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.fail(format!("the provider's stream failed: {e}"));
                }
                Poll::Ready(None) => match this.decoder.end(&mut this.events) {
                    Ok(()) => this.finish(),
                    Err(e) => this.fail(e.message),
                },
            }
        }
    }
}
