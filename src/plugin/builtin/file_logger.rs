//! `file-logger` (priority 399): appends each request's log entry as one
//! JSON line to `path`, in batches written off the request path (on a
//! blocking thread). See `batch` for queueing and drops.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{json, Value};

use super::batch::{self, Sink};
use super::logger::Logger;
use crate::plugin::{BuildEnv, Plugin, PluginFactory};

/// The factory.
pub struct FileLoggerFactory;

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
        Ok(Logger::start(
            "file-logger",
            conf,
            Arc::new(FileSink { path }),
        ))
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
