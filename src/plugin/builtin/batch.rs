//! APISIX's batch processor for the logger plugins: entries are queued
//! without waiting (a bounded channel), a background task sends them in
//! batches (`batch_max_size`, or after `inactive_timeout` seconds without a
//! new entry, or `buffer_duration` seconds after the oldest), retrying a
//! failed batch `max_retry_count` times `retry_delay` seconds apart. A full
//! queue or a batch that still fails is dropped and counted in
//! `apisix_batch_process_dropped_entries{name}` — a slow or dead sink never
//! slows or fails requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Entries waiting in one queue at most.
const QUEUE_CAPACITY: usize = 10_000;

/// The batch-processor part of a logger's schema (APISIX's defaults).
pub fn schema_properties() -> Value {
    json!({
        "batch_max_size": {"type": "integer", "minimum": 1, "default": 1000},
        "inactive_timeout": {"type": "integer", "minimum": 1, "default": 5},
        "buffer_duration": {"type": "integer", "minimum": 1, "default": 60},
        "max_retry_count": {"type": "integer", "minimum": 0, "default": 0},
        "retry_delay": {"type": "integer", "minimum": 0, "default": 1},
        "name": {"type": "string"}
    })
}

/// Where a batch goes.
pub trait Sink: Send + Sync + 'static {
    /// Send one batch; an error is retried, then the batch is dropped.
    fn send(&self, batch: Vec<Value>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

/// Batching settings.
#[derive(Debug, Clone)]
pub struct BatchConf {
    /// The queue's name in metrics and logs (the plugin name).
    pub name: String,
    /// Entries per batch.
    pub max_size: usize,
    /// Flush after this long without a new entry.
    pub inactive: Duration,
    /// Flush at the latest this long after the oldest entry.
    pub buffer: Duration,
    /// Retries of a failed batch.
    pub retries: u32,
    /// Pause between retries.
    pub retry_delay: Duration,
}

impl BatchConf {
    /// Read the settings from a logger's (defaults-filled) configuration.
    pub fn from_conf(plugin: &str, conf: &Value) -> BatchConf {
        let int = |k: &str, d: u64| conf.get(k).and_then(Value::as_u64).unwrap_or(d);
        BatchConf {
            name: conf
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(plugin)
                .to_string(),
            max_size: usize::try_from(int("batch_max_size", 1000))
                .unwrap_or(1000)
                .max(1),
            inactive: Duration::from_secs(int("inactive_timeout", 5)),
            buffer: Duration::from_secs(int("buffer_duration", 60)),
            retries: u32::try_from(int("max_retry_count", 0)).unwrap_or(0),
            retry_delay: Duration::from_secs(int("retry_delay", 1)),
        }
    }
}

/// The queue side: cheap, never waits.
pub struct Batcher {
    name: String,
    tx: Option<mpsc::Sender<Value>>,
}

impl Batcher {
    /// Start the background sender (when a runtime is available; without one,
    /// e.g. while only validating a configuration, entries are dropped).
    pub fn start(conf: BatchConf, sink: Arc<dyn Sink>) -> Batcher {
        let name = conf.name.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Batcher { name, tx: None };
        };
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        rt.spawn(run(conf, sink, rx));
        Batcher { name, tx: Some(tx) }
    }

    /// Queue an entry, or drop and count it when the queue is full.
    pub fn push(&self, entry: Value) {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(entry).is_ok());
        if !sent {
            dropped(&self.name, 1);
        }
    }
}

fn dropped(name: &str, n: u64) {
    crate::metrics::global()
        .batch_dropped
        .get_or_create(&crate::metrics::NameLabel {
            name: name.to_string(),
        })
        .inc_by(n);
}

/// The background task: batch, send, retry, drop. Ends when every sender is
/// gone (the plugin instance was replaced), after sending what is queued.
async fn run(conf: BatchConf, sink: Arc<dyn Sink>, mut rx: mpsc::Receiver<Value>) {
    let mut batch: Vec<Value> = Vec::new();
    let mut oldest = tokio::time::Instant::now();
    loop {
        let deadline = if batch.is_empty() {
            None
        } else {
            Some((oldest + conf.buffer).min(tokio::time::Instant::now() + conf.inactive))
        };
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(v) => v.map(Some),
                Err(_) => Some(None),
            },
            None => rx.recv().await.map(Some),
        };
        match next {
            Some(Some(entry)) => {
                if batch.is_empty() {
                    oldest = tokio::time::Instant::now();
                }
                batch.push(entry);
                if batch.len() < conf.max_size {
                    continue;
                }
            }
            Some(None) => {}
            None => {
                if !batch.is_empty() {
                    flush(&conf, &sink, std::mem::take(&mut batch)).await;
                }
                return;
            }
        }
        flush(&conf, &sink, std::mem::take(&mut batch)).await;
    }
}

async fn flush(conf: &BatchConf, sink: &Arc<dyn Sink>, batch: Vec<Value>) {
    let n = batch.len() as u64;
    let mut attempt = 0;
    loop {
        match sink.send(batch.clone()).await {
            Ok(()) => return,
            Err(e) if attempt < conf.retries => {
                tracing::warn!(logger = %conf.name, attempt, "log batch failed, retrying: {e}");
                attempt += 1;
                tokio::time::sleep(conf.retry_delay).await;
            }
            Err(e) => {
                tracing::warn!(logger = %conf.name, entries = n, "log batch dropped: {e}");
                dropped(&conf.name, n);
                return;
            }
        }
    }
}
