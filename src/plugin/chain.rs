//! The plugins that run for one request and the phase runner.
//!
//! Precedence for a plugin configured on several objects (APISIX's):
//! Consumer > Consumer Group > Route > Plugin Config > Service — the
//! configuration from the strongest holder is used, once. Global rules are
//! not merged: they run as a chain of their own, before the route's, and also
//! for requests no route matches.

use std::sync::Arc;

use bytes::Bytes;

use super::set::{ConfiguredPlugin, PluginSet};
use super::{Ctx, PluginResponse, Step};

/// A phase that can end the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `rewrite`.
    Rewrite,
    /// `access`.
    Access,
    /// `before_proxy`.
    BeforeProxy,
}

/// The plugins of one request, highest priority first.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    /// The merged plugins, by priority.
    pub plugins: Arc<[Arc<ConfiguredPlugin>]>,
}

impl Chain {
    /// Merge sets given strongest first: a name already taken by a stronger
    /// holder is skipped.
    pub fn merge(strongest_first: &[&PluginSet]) -> Chain {
        if let [only] = strongest_first {
            // Already sorted: shared, not copied.
            return Chain {
                plugins: only.plugins.clone(),
            };
        }
        let mut plugins: Vec<Arc<ConfiguredPlugin>> = Vec::new();
        for set in strongest_first {
            for p in set.plugins.iter() {
                if !plugins.iter().any(|q| q.name == p.name) {
                    plugins.push(p.clone());
                }
            }
        }
        plugins.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        Chain {
            plugins: plugins.into(),
        }
    }

    /// Whether nothing runs.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Whether a plugin reads the request body.
    pub fn reads_request_body(&self) -> bool {
        self.plugins.iter().any(|p| p.instance.reads_request_body())
    }

    /// Whether a plugin filters the response body.
    pub fn filters_body(&self) -> bool {
        self.plugins.iter().any(|p| p.instance.filters_body())
    }

    /// Run one phase; `Some` ends the request with that response.
    pub async fn run(&self, phase: Phase, ctx: &mut Ctx) -> Option<PluginResponse> {
        run_phase(&self.plugins, phase, ctx).await
    }

    /// Run the header filters.
    pub fn header_filter(&self, ctx: &mut Ctx, resp: &mut http::response::Parts) {
        for p in self.plugins.iter() {
            if applies(p, ctx) {
                p.instance.header_filter(ctx, resp);
            }
        }
    }

    /// Run the body filters on one chunk.
    pub fn body_filter(&self, ctx: &mut Ctx, chunk: &mut Bytes, eof: bool) {
        for p in self.plugins.iter() {
            if p.instance.filters_body() && applies(p, ctx) {
                p.instance.body_filter(ctx, chunk, eof);
            }
        }
    }

    /// Run the log phase.
    pub fn log(&self, ctx: &Ctx) {
        for p in self.plugins.iter() {
            if applies(p, ctx) {
                p.instance.log(ctx);
            }
        }
    }
}

/// `_meta.filter` decides whether a plugin runs for this request.
fn applies(p: &ConfiguredPlugin, ctx: &Ctx) -> bool {
    p.filter.as_ref().is_none_or(|f| f.eval(ctx))
}

/// Run `phase` of `plugins` in order until one answers.
pub async fn run_phase(
    plugins: &[Arc<ConfiguredPlugin>],
    phase: Phase,
    ctx: &mut Ctx,
) -> Option<PluginResponse> {
    for p in plugins {
        if !applies(p, ctx) {
            continue;
        }
        let step = match phase {
            Phase::Rewrite => p.instance.rewrite(ctx),
            Phase::Access => p.instance.access(ctx),
            Phase::BeforeProxy => p.instance.before_proxy(ctx),
        };
        match step {
            Step::Continue => {}
            Step::Respond(r) => return Some(p.shape(r)),
            Step::Wait(fut) => {
                let decided = fut.await;
                ctx.response_headers.extend(decided.response_headers);
                if let Some(r) = decided.respond {
                    return Some(p.shape(r));
                }
            }
        }
    }
    None
}
