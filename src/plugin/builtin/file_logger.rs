//! `file-logger` (priority 399): appends each request's log entry as one
//! JSON line to `path`, in batches written off the request path (on a
//! blocking thread). See `batch` for queueing and drops.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{json, Value};

use super::batch::{self, BatchConf, Batcher, Sink};
use super::log_entry::{entry_for, LoggedRequestHeaders, LoggedResponseHeaders};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};

/// The factory.
pub struct FileLoggerFactory;

struct FileLogger {
    batcher: Batcher,
    /// `log_format` of this configuration (else the metadata's, else the default).
    log_format: Option<serde_json::Map<String, Value>>,
}

struct FileSink {
    path: PathBuf,
}

impl PluginFactory for FileLoggerFactory {
    fn name(&self) -> &'static str {
        "file-logger"
    }
    fn priority(&self) -> i64 {
        399
    }
    fn schema(&self) -> Value {
        let mut props = json!({
            "path": {"type": "string", "minLength": 1},
            "log_format": {"type": "object"},
            "include_req_body": {"type": "boolean", "default": false},
            "include_resp_body": {"type": "boolean", "default": false}
        });
        if let (Some(p), Value::Object(b)) = (props.as_object_mut(), batch::schema_properties()) {
            p.extend(b);
        }
        json!({"type": "object", "properties": props, "required": ["path"]})
    }
    fn metadata_schema(&self) -> Option<Value> {
        Some(json!({"type": "object", "properties": {"log_format": {"type": "object"}}}))
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let path = PathBuf::from(conf.get("path").and_then(Value::as_str).unwrap_or_default());
        Ok(Arc::new(FileLogger {
            log_format: conf.get("log_format").and_then(Value::as_object).cloned(),
            batcher: Batcher::start(
                BatchConf::from_conf("file-logger", conf),
                Arc::new(FileSink { path }),
            ),
        }))
    }
}

impl Plugin for FileLogger {
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
            .push(entry_for(ctx, "file-logger", self.log_format.as_ref()));
    }
}

impl Sink for FileSink {
    fn send(&self, batch: Vec<Value>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut text = String::new();
                for e in batch {
                    text.push_str(&e.to_string());
                    text.push('\n');
                }
                f.write_all(text.as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }
}
