//! `http-logger` (priority 410): sends each request's log entry to `uri`
//! (http or https) with POST, in batches off the request path — a JSON
//! array (`concat_method: json`, default) or one entry per line
//! (`new_line`) — with an optional `auth_header`, a `timeout` (seconds,
//! default 3) and `ssl_verify`. See `batch` for queueing and drops.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::batch::{self, Sink};
use super::logger::Logger;
use crate::plugin::{BuildEnv, Plugin, PluginFactory};
use crate::upstream::connector::{connect, TlsMode};

/// The factory.
pub struct HttpLoggerFactory;

/// Where and how batches are posted.
struct HttpSink {
    uri: Uri,
    host: String,
    port: u16,
    tls: TlsMode,
    auth_header: Option<String>,
    timeout: Duration,
    new_line: bool,
}

impl PluginFactory for HttpLoggerFactory {
    fn name(&self) -> &'static str {
        "http-logger"
    }
    fn priority(&self) -> i64 {
        410
    }
    fn schema(&self) -> Value {
        let mut props = json!({
            "uri": {"type": "string", "pattern": "^[^\\\\/]+://[^\\\\/]+"},
            "auth_header": {"type": "string"},
            "timeout": {"type": "integer", "minimum": 1, "default": 3},
            "log_format": {"type": "object"},
            "include_req_body": {"type": "boolean", "default": false},
            "include_resp_body": {"type": "boolean", "default": false},
            "concat_method": {"type": "string", "default": "json", "enum": ["json", "new_line"]},
            "ssl_verify": {"type": "boolean", "default": false}
        });
        if let (Some(p), Value::Object(b)) = (props.as_object_mut(), batch::schema_properties()) {
            p.extend(b);
        }
        json!({"type": "object", "properties": props, "required": ["uri"], "encrypt_fields": ["auth_header"]})
    }
    fn metadata_schema(&self) -> Option<Value> {
        Some(json!({"type": "object", "properties": {"log_format": {"type": "object"}}}))
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let raw = conf.get("uri").and_then(Value::as_str).unwrap_or_default();
        let uri: Uri = raw.parse().map_err(|e| format!("uri: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => TlsMode::Plain,
            Some("https") => TlsMode::Tls {
                verify: conf
                    .get("ssl_verify")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            other => return Err(format!("uri: unsupported scheme {other:?}")),
        };
        let host = uri
            .host()
            .ok_or("uri: no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if tls == TlsMode::Plain { 80 } else { 443 });
        let sink = HttpSink {
            host,
            port,
            tls,
            auth_header: conf
                .get("auth_header")
                .and_then(Value::as_str)
                .map(String::from),
            timeout: Duration::from_secs(conf.get("timeout").and_then(Value::as_u64).unwrap_or(3)),
            new_line: conf.get("concat_method").and_then(Value::as_str) == Some("new_line"),
            uri,
        };
        Ok(Logger::start("http-logger", conf, Arc::new(sink)))
    }
}

impl HttpSink {
    async fn post(&self, body: Bytes) -> Result<(), String> {
        let stream = connect(
            &self.host,
            self.port,
            &self.tls,
            &crate::upstream::connector::ClientTls::default(),
            Some(&self.host),
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = self
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let mut req = Request::post(path).header(header::HOST, authority).header(
            header::CONTENT_TYPE,
            if self.new_line {
                "text/plain"
            } else {
                "application/json"
            },
        );
        if let Some(a) = &self.auth_header {
            req = req.header(header::AUTHORIZATION, a.as_str());
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("log server answered {status}"))
        }
    }
}

impl Sink for HttpSink {
    fn send(&self, batch: Vec<Value>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let body = if self.new_line {
            batch
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            Value::Array(batch).to_string()
        };
        let this = HttpSink {
            uri: self.uri.clone(),
            host: self.host.clone(),
            port: self.port,
            tls: self.tls.clone(),
            auth_header: self.auth_header.clone(),
            timeout: self.timeout,
            new_line: self.new_line,
        };
        Box::pin(async move {
            match tokio::time::timeout(this.timeout, this.post(Bytes::from(body))).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "log server did not answer within {:?}",
                    this.timeout
                )),
            }
        })
    }
}
