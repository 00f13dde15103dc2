//! The plugin instance shared by the logger plugins (`http-logger`,
//! `file-logger`): captures the request headers before they go upstream
//! and the response headers, and in the log phase queues the entry —
//! shaped by `log_format` (its own, else its metadata's, else APISIX's
//! default) — for the batch processor feeding the plugin's sink.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::batch::{BatchConf, Batcher, Sink};
use super::log_entry::{entry_for, LoggedRequestHeaders, LoggedResponseHeaders};
use crate::plugin::{Ctx, Plugin, Step};

/// A configured logger.
pub struct Logger {
    plugin: &'static str,
    batcher: Batcher,
    log_format: Option<Map<String, Value>>,
}

impl Logger {
    /// A logger of `plugin` sending to `sink`, from its (defaults-filled) configuration.
    pub fn start(plugin: &'static str, conf: &Value, sink: Arc<dyn Sink>) -> Arc<dyn Plugin> {
        Arc::new(Logger {
            plugin,
            batcher: Batcher::start(BatchConf::from_conf(plugin, conf), sink),
            log_format: conf.get("log_format").and_then(Value::as_object).cloned(),
        })
    }
}

impl Plugin for Logger {
    fn before_proxy(&self, ctx: &mut Ctx) -> Step {
        let h = LoggedRequestHeaders(ctx.req.headers.clone());
        ctx.extensions.insert(h);
        Step::Continue
    }
    fn header_filter(&self, ctx: &mut Ctx, resp: &mut http::response::Parts) {
        ctx.extensions
            .insert(LoggedResponseHeaders(resp.headers.clone()));
    }
    fn log(&self, ctx: &Ctx) {
        self.batcher
            .push(entry_for(ctx, self.plugin, self.log_format.as_ref()));
    }
}
