//! The plugin runtime (ARCHITECTURE §3): a [`PluginFactory`] validates a
//! plugin's configuration once and builds a [`Plugin`] instance when a
//! snapshot is built; instances expose phase methods, each a no-op by default,
//! that return [`Step::Continue`] or end the request with a response.
//!
//! - [`registry`]: the built-in factories, by name.
//! - [`set`]: a resource's configured plugins (`_meta` applied), sorted.
//! - [`ctx`]: what a phase sees of the request.
//! - [`chain`]: merging the sets that apply to a request and running phases.
//! - [`consumers`]: consumers and the credential index auth plugins use.

pub mod body;
pub mod builtin;
pub mod chain;
pub mod consumers;
pub mod ctx;
pub mod holders;
pub mod lua;
pub mod redis;
pub mod registry;
pub mod secret_fields;
pub mod set;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

pub use ctx::Ctx;

/// A boxed future for the asynchronous part of a phase.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A response a plugin answers with instead of the upstream's.
#[derive(Debug, Clone)]
pub struct PluginResponse {
    /// Status code.
    pub status: StatusCode,
    /// Headers to send.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl PluginResponse {
    /// A response with a JSON body `{"message": msg}` (APISIX's auth errors).
    pub fn message(status: StatusCode, msg: &str) -> PluginResponse {
        PluginResponse::json(status, &serde_json::json!({ "message": msg }))
    }

    /// A response with a JSON body.
    pub fn json(status: StatusCode, body: &Value) -> PluginResponse {
        let mut out = Vec::with_capacity(256);
        // Writing a `Value` into a `Vec` cannot fail (its keys are strings).
        let _ = serde_json::to_writer(&mut out, body);
        PluginResponse::json_body(status, out)
    }

    /// A response with `body`, already JSON (a newline is added).
    pub fn json_body(status: StatusCode, mut body: Vec<u8>) -> PluginResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        body.push(b'\n');
        PluginResponse {
            status,
            headers,
            body: Bytes::from(body),
        }
    }

    /// A response with a plain body (or none).
    pub fn text(status: StatusCode, body: impl Into<Bytes>) -> PluginResponse {
        PluginResponse {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}

/// What an asynchronous step decided, applied like a synchronous one.
#[derive(Debug, Default)]
pub struct Decided {
    /// End the request with this response.
    pub respond: Option<PluginResponse>,
    /// Headers to add to whatever response the client gets.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
}

/// The outcome of a phase.
pub enum Step {
    /// Go on with the next plugin.
    Continue,
    /// End the request with this response.
    Respond(PluginResponse),
    /// Finish asynchronously (a Redis round trip); never used on the hot path
    /// of a plugin that can decide synchronously.
    Wait(BoxFuture<Decided>),
}

/// A configured plugin, built once per snapshot; phases run per request.
pub trait Plugin: Send + Sync + 'static {
    /// Before authentication (APISIX runs auth plugins here too).
    fn rewrite(&self, _ctx: &mut Ctx) -> Step {
        Step::Continue
    }
    /// After the consumer is known.
    fn access(&self, _ctx: &mut Ctx) -> Step {
        Step::Continue
    }
    /// Just before the request goes upstream.
    fn before_proxy(&self, _ctx: &mut Ctx) -> Step {
        Step::Continue
    }
    /// Change the response head (status, headers).
    fn header_filter(&self, _ctx: &mut Ctx, _resp: &mut http::response::Parts) {}
    /// Change one chunk of the response body; `eof` on the last call.
    fn body_filter(&self, _ctx: &mut Ctx, _chunk: &mut Bytes, _eof: bool) {}
    /// Whether [`Plugin::body_filter`] does anything (the body is only
    /// wrapped when some plugin needs it).
    fn filters_body(&self) -> bool {
        false
    }
    /// After the response was sent (or the client went away).
    fn log(&self, _ctx: &Ctx) {}
    /// Whether the plugin reads the request body: then the body is read
    /// (bounded) before the chain runs, and [`ctx::RequestBody`] holds it.
    fn reads_request_body(&self) -> bool {
        false
    }
}

/// What a factory needs at build time besides the configuration. (Plugin
/// metadata is not here: it changes without the routes using it, so plugins
/// read it per request through [`Ctx::plugin_metadata`].)
#[derive(Debug, Clone, Default)]
pub struct BuildEnv {
    /// `plugin_attr.{name}` from config.yaml, if any.
    pub attr: Option<Value>,
    /// Which resource holds this configuration (`route 1`), for logs and keys.
    pub holder: String,
}

/// A plugin kind: its identity, schemas and how to build an instance.
pub trait PluginFactory: Send + Sync + 'static {
    /// APISIX's name (`key-auth`).
    fn name(&self) -> &str;
    /// Whether this plugin is defined by a Lua file (reloaded as a group).
    fn is_lua(&self) -> bool {
        false
    }
    /// Default priority: higher runs first within a phase.
    fn priority(&self) -> i64;
    /// JSON schema of the configuration on routes, services, ….
    fn schema(&self) -> Value;
    /// JSON schema of the configuration on consumers/credentials (auth plugins).
    fn consumer_schema(&self) -> Option<Value> {
        None
    }
    /// JSON schema of `/plugin_metadata/{name}`.
    fn metadata_schema(&self) -> Option<Value> {
        None
    }
    /// For auth plugins: the credential a consumer configuration is found by
    /// (`key-auth` → its `key`).
    fn consumer_key(&self, _consumer_conf: &Value) -> Option<String> {
        None
    }
    /// Checks beyond the schema (APISIX's `check_schema` extras: regexes
    /// that must compile, option combinations, unsupported options), on a
    /// configuration that passed the schema (defaults filled); `on_consumer`
    /// for the consumer schema. The Admin API answers 400 with the message.
    fn check(&self, _conf: &Value, _on_consumer: bool) -> Result<(), String> {
        Ok(())
    }
    /// Build an instance from a configuration that passed the schema (defaults filled).
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String>;
}
