//! What a plugin phase sees of a request: its head (which rewriting plugins
//! change), the connection, the matched route and service, the consumer once
//! an auth plugin found one, and what plugins leave for later phases
//! (response headers, variables, an upstream override).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderName, HeaderValue};

use super::consumers::Consumer;
use crate::config::compiled::Route;
use crate::config::Snapshot;
use crate::expr::{VarLookup, VarName};
use crate::proxy::request_vars::RequestVars;
use crate::proxy::ConnInfo;
use crate::upstream::Upstream;

/// The variable holding a `Host` override for the upstream request.
pub const UPSTREAM_HOST_VAR: &str = "upstream_host";

/// The request body, read before the chain ran because a plugin reads it
/// ([`super::Plugin::reads_request_body`]); a plugin may replace it.
#[derive(Debug, Clone)]
pub struct RequestBody(pub bytes::Bytes);

/// Marks a request body a plugin replaced (`Content-Length` is set again).
#[derive(Debug, Clone, Copy)]
pub struct RequestBodyChanged;

/// The per-request state shared by every phase.
pub struct Ctx {
    /// The request head; plugins may change method, URI and headers.
    pub req: http::request::Parts,
    /// The normalized request path (the `uri` variable).
    pub path: String,
    /// The request host without port.
    pub host: Option<String>,
    /// Client and local addresses.
    pub conn: ConnInfo,
    /// The snapshot this request pinned.
    pub snapshot: Arc<Snapshot>,
    /// The matched route (`None` for unmatched requests in global rules);
    /// its id, service id and patterns are read from it, not copied.
    pub route: Option<Arc<Route>>,
    /// The consumer an auth plugin identified.
    pub consumer: Option<Arc<Consumer>>,
    /// Headers added to whatever response the client gets.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Variables set by plugins (`request_id`, …).
    pub vars: Vec<(String, String)>,
    /// An upstream chosen by a plugin (`traffic-split`) instead of the route's.
    pub upstream_override: Option<Arc<Upstream>>,
    /// When the request arrived.
    pub started: Instant,
    /// The status sent to the client (known from the header phase on).
    pub status: u16,
    /// Response body bytes sent (known in the log phase).
    pub bytes_sent: u64,
    /// The upstream node that answered (`ip:port`), if any.
    pub upstream_addr: Option<Arc<str>>,
    /// That node's host alone (the `node` metric label).
    pub upstream_node: Option<Arc<str>>,
    /// Request size received (request line, headers, declared body length).
    pub bytes_received: u64,
    /// When the upstream's response head arrived.
    pub upstream_latency: Option<std::time::Duration>,
    /// Per-request data plugins keep for their later phases (typed slots).
    pub extensions: http::Extensions,
}

impl Ctx {
    /// A context for `req` on `conn`, pinned to `snapshot`.
    pub fn new(
        req: http::request::Parts,
        path: String,
        host: Option<String>,
        conn: ConnInfo,
        snapshot: Arc<Snapshot>,
    ) -> Ctx {
        Ctx {
            req,
            path,
            host,
            conn,
            snapshot,
            route: None,
            consumer: None,
            response_headers: Vec::new(),
            vars: Vec::new(),
            upstream_override: None,
            started: Instant::now(),
            status: 0,
            bytes_sent: 0,
            upstream_addr: None,
            upstream_node: None,
            bytes_received: 0,
            upstream_latency: None,
            extensions: http::Extensions::new(),
        }
    }

    /// Move the whole context out, leaving an empty one in its place (for
    /// the time a Lua plugin call owns it).
    pub fn take(&mut self) -> Ctx {
        let shell = Ctx::new(
            http::Request::new(()).into_parts().0,
            String::new(),
            None,
            self.conn.clone(),
            self.snapshot.clone(),
        );
        std::mem::replace(self, shell)
    }

    /// The matched route's id.
    pub fn route_id(&self) -> Option<&str> {
        self.route.as_deref().map(|r| r.meta.id.as_ref())
    }

    /// The matched route's service id.
    pub fn service_id(&self) -> Option<&str> {
        self.route
            .as_deref()
            .and_then(|r| r.service_id.as_ref().map(|s| s.as_str()))
    }

    /// The pattern the route was found by (its first URI, when it has several:
    /// the `matched_uri` metric label).
    pub fn matched_uri(&self) -> Option<&str> {
        self.route
            .as_deref()
            .and_then(|r| r.uris.first())
            .map(String::as_str)
    }

    /// The route's first host pattern (the `matched_host` metric label).
    pub fn matched_host(&self) -> Option<&str> {
        self.route
            .as_deref()
            .and_then(|r| r.hosts.first())
            .map(String::as_str)
    }

    /// Set a plugin variable (replacing an earlier value).
    pub fn set_var(&mut self, name: &str, value: String) {
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_string(), value)),
        }
    }

    /// A plugin variable set with [`Ctx::set_var`].
    pub fn plugin_var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Host` a plugin asked to send upstream (`proxy-rewrite`'s `host`), if any.
    pub fn req_host_override(&self) -> Option<http::HeaderValue> {
        self.vars
            .iter()
            .find(|(k, _)| k == UPSTREAM_HOST_VAR)
            .and_then(|(_, v)| http::HeaderValue::from_str(v).ok())
    }

    /// The metadata of plugin `name` (`/apisix/plugin_metadata/{name}`), as
    /// served by the snapshot this request pinned.
    pub fn plugin_metadata(&self, name: &str) -> Option<&serde_json::Value> {
        self.snapshot
            .others
            .get(&crate::config::resource::ResourceKind::PluginMetadata)?
            .get(name)
            .map(|v| v.as_ref())
    }

    /// The consumer's name, if one was identified.
    pub fn consumer_name(&self) -> Option<&str> {
        self.consumer.as_deref().map(|c| c.username.as_ref())
    }

    fn request_vars(&self) -> RequestVars<'_> {
        RequestVars::from_parts(&self.req, &self.path, self.host.as_deref(), &self.conn)
    }
}

impl VarLookup for Ctx {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
        if let VarName::Other(name) = var {
            let found = match name.as_ref() {
                "route_id" => self.route_id().map(Cow::Borrowed),
                "service_id" => self.service_id().map(Cow::Borrowed),
                "consumer_name" => self.consumer_name().map(Cow::Borrowed),
                "consumer_group_id" => self
                    .consumer
                    .as_deref()
                    .and_then(|c| c.group_id.as_deref())
                    .map(Cow::Borrowed),
                "status" if self.status != 0 => Some(Cow::Owned(self.status.to_string())),
                llm if llm.starts_with("llm_")
                    || llm == "request_llm_model"
                    || llm == "request_type" =>
                {
                    match self.extensions.get::<Arc<crate::llm::stats::LlmStats>>() {
                        Some(stats) => stats.var(llm),
                        None if llm == "request_type" => Some(Cow::Borrowed("traditional_http")),
                        None => None,
                    }
                }
                other => self
                    .vars
                    .iter()
                    .find(|(k, _)| k == other)
                    .map(|(_, v)| Cow::Borrowed(v.as_str())),
            };
            if found.is_some() {
                return found;
            }
        }
        self.request_vars().lookup(var)
    }

    fn get_all(&self, var: &VarName) -> Vec<Cow<'_, str>> {
        self.request_vars().lookup_all(var)
    }
}
