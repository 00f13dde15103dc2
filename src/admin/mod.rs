//! The Admin API (APISIX v3-compatible) on `deployment.admin.admin_listen`:
//! request dispatch, access checks and the small endpoints (plugins, schemas,
//! OpenAPI). Resource CRUD lives in [`resource_ops`]. Every write goes to
//! etcd only; gateway nodes, this one included, apply it through their watch.

pub mod auth;
pub mod error;
pub mod etcd_store;
pub mod list_query;
pub mod openapi;
pub mod patch;
pub mod paths;
pub mod references;
pub mod request_body;
pub mod resource_ops;
pub mod setup;

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use self::auth::AccessPolicy;
use self::error::AdminError;
use self::etcd_store::EtcdStore;
use self::paths::AdminPath;
use self::resource_ops::Target;
use crate::body::{empty, ProxyBody};
use crate::config::field_crypto::FieldCrypto;
use crate::config::resource::ResourceKind;
use crate::proxy::ConnInfo;
use crate::schema;

/// The Admin API's state, shared by all its connections.
#[derive(Debug)]
pub struct AdminApi {
    /// etcd access.
    pub store: EtcdStore,
    /// Who may call it.
    pub policy: AccessPolicy,
    /// Encryption of secret fields; `None` when `enable_encrypt_fields` is off.
    pub crypto: Option<FieldCrypto>,
    /// Names of the enabled plugins (`plugins:` in config.yaml), reloadable.
    pub enabled_plugins: ArcSwap<Vec<String>>,
    /// The bootstrap file, re-read by `PUT /plugins/reload`.
    pub config_path: PathBuf,
}

fn json_answer(status: StatusCode, body: &Value) -> Response<ProxyBody> {
    let mut resp = crate::body::json_response(status, body);
    resp.headers_mut()
        .insert("x-api-version", HeaderValue::from_static("v3"));
    resp
}

fn method_name(m: &Method) -> String {
    m.as_str().to_ascii_uppercase()
}

impl AdminApi {
    /// Answer one request; never fails (errors become APISIX-shaped responses).
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        info: ConnInfo,
    ) -> Response<ProxyBody> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        match self.dispatch(req, info).await {
            Ok(resp) => resp,
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::warn!(%method, %path, "admin API: {e}");
                }
                e.into_response()
            }
        }
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        info: ConnInfo,
    ) -> Result<Response<ProxyBody>, AdminError> {
        self.policy.check_address(info.remote.ip())?;
        let method = req.method().clone();
        let uri = req.uri().clone();
        let query = uri.query();
        let Some(target) = paths::parse(uri.path()) else {
            return Err(AdminError::NotFound("not found".into()));
        };
        if target == AdminPath::Root && method == Method::HEAD {
            let mut resp = Response::new(empty());
            resp.headers_mut()
                .insert("x-api-version", HeaderValue::from_static("v3"));
            return Ok(resp);
        }
        self.policy.check_request(&method, req.headers(), query)?;
        let body = if matches!(method, Method::PUT | Method::POST | Method::PATCH) {
            let len = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bytes = request_body::read(req.into_body(), len).await?;
            request_body::parse_json(&bytes)?
        } else {
            None
        };
        let (status, value) = match target {
            AdminPath::Root | AdminPath::NotFound => {
                return Err(AdminError::NotFound("not found".into()))
            }
            AdminPath::UnknownResource(r) => {
                return Err(AdminError::NotFound(format!(
                    "Unsupported resource type: {r}"
                )))
            }
            AdminPath::Resource { kind, id, sub_path } => {
                let t = Target {
                    kind,
                    dir: format!("{}/{}", self.store.prefix(), kind.dir()),
                    id: id.map(String::from),
                    username: None,
                };
                if !paths::allows(kind, &method) {
                    return Err(AdminError::MethodNotAllowed {
                        method: method_name(&method),
                        resource: paths::apisix_kind(kind),
                    });
                }
                self.resource(&method, &t, sub_path, body, query).await?
            }
            AdminPath::Credential { username, id } => {
                let t = Target {
                    kind: ResourceKind::Credential,
                    dir: format!("{}/consumers/{username}/credentials", self.store.prefix()),
                    id: id.map(String::from),
                    username: Some(username.to_string()),
                };
                if !matches!(method, Method::GET | Method::PUT | Method::DELETE) {
                    return Err(AdminError::MethodNotAllowed {
                        method: method_name(&method),
                        resource: "credential",
                    });
                }
                self.resource(&method, &t, None, body, query).await?
            }
            AdminPath::PluginList => self.plugin_list(&method, query)?,
            AdminPath::PluginAll => self.plugin_schema(&method, "", query)?,
            AdminPath::PluginReload => {
                self.plugin_reload(&method)?;
                // APISIX answers a plain-text `done`.
                let mut resp = Response::new(crate::body::full("done"));
                resp.headers_mut()
                    .insert("x-api-version", HeaderValue::from_static("v3"));
                return Ok(resp);
            }
            AdminPath::PluginSchema(name) => self.plugin_schema(&method, name, query)?,
            AdminPath::ResourceSchema(name) => {
                only(&method, Method::GET)?;
                let kind = schema::kind_by_name(name)
                    .ok_or_else(|| AdminError::BadRequest(format!("not found schema: {name}")))?;
                (
                    StatusCode::OK,
                    schema::resource_schema(kind).document().clone(),
                )
            }
            AdminPath::ValidateSchema(name) => {
                only(&method, Method::POST)?;
                let kind = schema::kind_by_name(name).ok_or_else(|| {
                    AdminError::BadRequest(format!("invalid resource type: {name}"))
                })?;
                let mut v = body.unwrap_or(Value::Null);
                schema::check_resource(kind, &mut v, false).map_err(AdminError::BadRequest)?;
                let mut resp = Response::new(empty());
                resp.headers_mut()
                    .insert("x-api-version", HeaderValue::from_static("v3"));
                return Ok(resp);
            }
            AdminPath::OpenApi => {
                only(&method, Method::GET)?;
                (StatusCode::OK, openapi::document(&self.enabled()))
            }
        };
        Ok(json_answer(status, &value))
    }

    async fn resource(
        &self,
        method: &Method,
        t: &Target,
        sub_path: Option<&str>,
        body: Option<Value>,
        query: Option<&str>,
    ) -> Result<resource_ops::Answer, AdminError> {
        if sub_path.is_some() && *method != Method::PATCH {
            return Err(AdminError::NotFound("not found".into()));
        }
        match *method {
            Method::GET => resource_ops::get(self, t, query).await,
            Method::PUT => resource_ops::put(self, t, body, query).await,
            Method::POST => resource_ops::post(self, t, body, query).await,
            Method::PATCH => resource_ops::patch(self, t, sub_path, body, query).await,
            Method::DELETE => resource_ops::delete(self, t, query).await,
            _ => Err(AdminError::NotFound("not found".into())),
        }
    }

    /// The enabled plugins that strait implements.
    pub fn enabled(&self) -> Vec<String> {
        let on = self.enabled_plugins.load();
        let mut names: Vec<String> = on
            .iter()
            .filter(|n| schema::plugin(n).is_some())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn plugin_list(
        &self,
        method: &Method,
        query: Option<&str>,
    ) -> Result<resource_ops::Answer, AdminError> {
        only(method, Method::GET)?;
        match resource_ops::query_arg(query, "subsystem") {
            None | Some("http") => Ok((StatusCode::OK, json!(self.enabled()))),
            Some("stream") => Ok((StatusCode::OK, json!([]))),
            Some(_) => Err(AdminError::BadRequest("invalid subsystem passed".into())),
        }
    }

    /// `GET /plugins/{name}` (`?schema_type=consumer|metadata`), and
    /// `?all=true`: every enabled plugin with its priority and schemas.
    fn plugin_schema(
        &self,
        method: &Method,
        name: &str,
        query: Option<&str>,
    ) -> Result<resource_ops::Answer, AdminError> {
        only(method, Method::GET)?;
        let subsystem = resource_ops::query_arg(query, "subsystem").unwrap_or("http");
        if subsystem != "http" && subsystem != "stream" {
            return Err(AdminError::BadRequest(format!(
                "unsupported subsystem: {subsystem}"
            )));
        }
        if resource_ops::query_arg(query, "all") == Some("true") {
            let mut all = serde_json::Map::new();
            if subsystem == "http" {
                for n in self.enabled() {
                    if let Some(p) = schema::plugin(&n) {
                        all.insert(n, p.summary());
                    }
                }
            }
            return Ok((StatusCode::OK, Value::Object(all)));
        }
        let not_found =
            || AdminError::NotFound(format!("plugin not found in subsystem {subsystem}"));
        if subsystem != "http" || !self.enabled().iter().any(|n| n == name) {
            return Err(not_found());
        }
        let p = schema::plugin(name).ok_or_else(not_found)?;
        let doc = match resource_ops::query_arg(query, "schema_type") {
            Some("consumer") => p.consumer_document(),
            Some("metadata") => p.metadata_document(),
            _ => p.document(),
        };
        doc.map(|d| (StatusCode::OK, d))
            .ok_or_else(|| AdminError::BadRequest("not found schema".into()))
    }

    fn plugin_reload(&self, method: &Method) -> Result<(), AdminError> {
        if *method != Method::PUT {
            return Err(AdminError::WrongMethod(format!(
                "please use PUT method to reload the plugins, {} method is not allowed.",
                method_name(method)
            )));
        }
        let cfg = crate::config::BootstrapConfig::load(&self.config_path)
            .map_err(|e| AdminError::BadRequest(e.to_string()))?;
        let list = setup::enabled_plugin_names(&cfg);
        tracing::info!(plugins = list.len(), "admin API: plugin list reloaded");
        self.enabled_plugins.store(Arc::new(list));
        Ok(())
    }

    /// Schema, plugin and semantic validation shared with the data plane.
    pub fn validate(
        &self,
        kind: ResourceKind,
        id: &str,
        value: &mut Value,
    ) -> Result<(), AdminError> {
        if kind == ResourceKind::PluginMetadata {
            // APISIX's answer for a plugin it cannot load.
            if !self.enabled().iter().any(|n| n == id) {
                return Err(AdminError::BadRequest("invalid plugin name".into()));
            }
            return schema::check_plugin_metadata(id, value).map_err(AdminError::InvalidConf);
        }
        schema::check_resource(kind, value, true).map_err(AdminError::InvalidConf)?;
        if let Some(plugins) = value.get("plugins").and_then(Value::as_object) {
            let on = self.enabled_plugins.load();
            if let Some(off) = plugins.keys().find(|n| !on.iter().any(|e| e == *n)) {
                return Err(AdminError::InvalidConf(format!("unknown plugin [{off}]")));
            }
        }
        crate::config::check_item(kind, id, value).map_err(AdminError::BadRequest)
    }

    /// Encrypt an SSL's private keys before they are stored.
    pub fn encrypt_secrets(&self, kind: ResourceKind, mut v: Value) -> Result<Value, AdminError> {
        let (Some(crypto), ResourceKind::Ssl) = (&self.crypto, kind) else {
            return Ok(v);
        };
        let enc = |s: &str| {
            crypto
                .encrypt(s)
                .map_err(|e| AdminError::Unavailable(format!("cannot encrypt the key: {e}")))
        };
        if let Some(k) = v.get_mut("key") {
            if let Some(s) = k.as_str() {
                *k = Value::String(enc(s)?);
            }
        }
        if let Some(Value::Array(keys)) = v.get_mut("keys") {
            for k in keys.iter_mut() {
                if let Some(s) = k.as_str() {
                    *k = Value::String(enc(s)?);
                }
            }
        }
        Ok(v)
    }

    /// Decrypt an SSL's stored private keys (before a PATCH merges into them).
    pub fn decrypt_secrets(&self, kind: ResourceKind, v: &mut Value) {
        let (Some(crypto), ResourceKind::Ssl) = (&self.crypto, kind) else {
            return;
        };
        let dec = |k: &mut Value| {
            if let Some(plain) = k.as_str().and_then(|s| crypto.decrypt(s).ok()) {
                *k = Value::String(plain);
            }
        };
        if let Some(k) = v.get_mut("key") {
            dec(k);
        }
        if let Some(Value::Array(keys)) = v.get_mut("keys") {
            keys.iter_mut().for_each(dec);
        }
    }
}

fn only(method: &Method, allowed: Method) -> Result<(), AdminError> {
    if *method == allowed {
        Ok(())
    } else {
        Err(AdminError::NotFound("not found".into()))
    }
}
