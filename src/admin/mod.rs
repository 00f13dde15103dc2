//! The Admin API (APISIX v3-compatible) on `deployment.admin.admin_listen`:
//! access checks and request dispatch. Resource CRUD lives in
//! [`resource_ops`], the plugin and schema endpoints in [`plugin_endpoints`].
//! Every write goes to etcd only; gateway nodes, this one included, apply it
//! through their watch. The same listener serves the dashboard ([`ui`]).

pub mod auth;
pub mod consumer_keys;
pub mod error;
pub mod etcd_store;
pub mod item_rules;
pub mod list_query;
pub mod openapi;
pub mod patch;
pub mod paths;
pub mod plugin_endpoints;
pub mod references;
pub mod request_body;
pub mod resource_ops;
pub mod secrets;
pub mod setup;
pub mod ui;

use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

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
    pub crypto: Option<Arc<FieldCrypto>>,
    /// The bootstrap file, re-read by `PUT /plugins/reload`.
    pub config_path: PathBuf,
    /// The dashboard at `/ui/`; `None` when `enable_admin_ui` is off.
    pub ui: Option<ui::Dashboard>,
}

/// What a handler answers: a JSON body, a plain-text body, or nothing.
pub enum Reply {
    /// JSON with a status.
    Json(StatusCode, Value),
    /// `200` with a text body (APISIX's `done`).
    Text(&'static str),
    /// `200` with an empty body.
    Empty,
}

/// APISIX names methods in upper case in its messages.
fn method_name(m: &Method) -> String {
    m.as_str().to_ascii_uppercase()
}

/// One log line per change made (or refused) through the API: who, what, result.
fn audit(
    method: &Method,
    path: &str,
    caller: &auth::Caller,
    info: &ConnInfo,
    reply: &Result<Reply, AdminError>,
) {
    if *method == Method::GET {
        return;
    }
    let status = match reply {
        Ok(Reply::Json(s, _)) => s.as_u16(),
        Ok(_) => 200,
        Err(e) => e.status().as_u16(),
    };
    tracing::info!(
        target: "strait::admin::audit",
        %method,
        path,
        key = %caller.name,
        client = %info.remote.ip(),
        status,
        "admin change"
    );
}

/// Refuse every method but `allowed` with APISIX's 404.
fn only(method: &Method, allowed: Method) -> Result<(), AdminError> {
    if *method == allowed {
        Ok(())
    } else {
        Err(AdminError::NotFound("not found".into()))
    }
}

impl AdminApi {
    /// Answer one request; never fails (errors become APISIX-shaped
    /// responses). Every answer carries `X-API-VERSION: v3`.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        info: ConnInfo,
    ) -> Response<ProxyBody> {
        if let Some(dashboard) = &self.ui {
            if ui::owns(req.uri().path()) {
                return ui::handle(&self, dashboard, req, info).await;
            }
        }
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let mut resp = match self.dispatch(req, info).await {
            Ok(Reply::Json(status, v)) => crate::body::json_response(status, &v),
            Ok(Reply::Text(t)) => Response::new(crate::body::full(t)),
            Ok(Reply::Empty) => Response::new(empty()),
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::warn!(%method, %path, "admin API: {e}");
                }
                e.into_response()
            }
        };
        resp.headers_mut()
            .insert("x-api-version", HeaderValue::from_static("v3"));
        resp
    }

    async fn dispatch(&self, req: Request<Incoming>, info: ConnInfo) -> Result<Reply, AdminError> {
        self.policy.check_address(info.remote.ip())?;
        let method = req.method().clone();
        let uri = req.uri().clone();
        let query = uri.query();
        let Some(target) = paths::parse(uri.path()) else {
            return Err(AdminError::NotFound("not found".into()));
        };
        if target == AdminPath::Root && method == Method::HEAD {
            return Ok(Reply::Empty);
        }
        let caller = self.policy.check_request(&method, req.headers(), query)?;
        let body = if matches!(method, Method::PUT | Method::POST | Method::PATCH) {
            let len = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bytes = request_body::read(req.into_body(), len).await?;
            // Never echo what may be a private key back in an error.
            let echo = !matches!(
                target,
                AdminPath::Resource {
                    kind: ResourceKind::Ssl,
                    ..
                }
            );
            request_body::parse_json(&bytes, echo)?
        } else {
            None
        };
        match target {
            AdminPath::Root | AdminPath::NotFound => Err(AdminError::NotFound("not found".into())),
            AdminPath::UnknownResource(r) => Err(AdminError::NotFound(format!(
                "Unsupported resource type: {r}"
            ))),
            AdminPath::Resource { kind, id, sub_path } => {
                let t = Target {
                    kind,
                    dir: format!("{}/{}", self.store.prefix(), kind.dir()),
                    id: id.map(String::from),
                    username: None,
                };
                let reply = self.resource(&method, &t, sub_path, body, query).await;
                audit(&method, uri.path(), &caller, &info, &reply);
                reply
            }
            AdminPath::Credential { username, id } => {
                let t = Target {
                    kind: ResourceKind::Credential,
                    dir: format!("{}/consumers/{username}/credentials", self.store.prefix()),
                    id: id.map(String::from),
                    username: Some(username.to_string()),
                };
                let reply = self.resource(&method, &t, None, body, query).await;
                audit(&method, uri.path(), &caller, &info, &reply);
                reply
            }
            AdminPath::PluginList => self.plugin_list(&method, query),
            AdminPath::PluginAll => self.plugin_schema(&method, "", query),
            AdminPath::PluginReload => self.plugin_reload(&method),
            AdminPath::PluginSchema(name) => self.plugin_schema(&method, name, query),
            AdminPath::ResourceSchema(name) => {
                only(&method, Method::GET)?;
                let kind = schema::kind_by_name(name)
                    .ok_or_else(|| AdminError::BadRequest(format!("not found schema: {name}")))?;
                Ok(Reply::Json(
                    StatusCode::OK,
                    schema::resource_schema(kind).document().clone(),
                ))
            }
            AdminPath::ValidateSchema(name) => {
                only(&method, Method::POST)?;
                let kind = schema::kind_by_name(name).ok_or_else(|| {
                    AdminError::BadRequest(format!("invalid resource type: {name}"))
                })?;
                let mut v = body.unwrap_or(Value::Null);
                schema::check_resource(kind, &mut v, false).map_err(AdminError::BadRequest)?;
                Ok(Reply::Empty)
            }
            AdminPath::OpenApi => {
                only(&method, Method::GET)?;
                Ok(Reply::Json(
                    StatusCode::OK,
                    openapi::document(&self.enabled()),
                ))
            }
        }
    }

    async fn resource(
        &self,
        method: &Method,
        t: &Target,
        sub_path: Option<&str>,
        body: Option<Value>,
        query: Option<&str>,
    ) -> Result<Reply, AdminError> {
        let known = matches!(
            *method,
            Method::GET | Method::PUT | Method::POST | Method::PATCH | Method::DELETE
        );
        if !known || (sub_path.is_some() && *method != Method::PATCH) {
            return Err(AdminError::NotFound("not found".into()));
        }
        if !paths::allows(t.kind, method) {
            return Err(AdminError::MethodNotAllowed {
                method: method_name(method),
                resource: paths::apisix_kind(t.kind),
            });
        }
        let (status, v) = match *method {
            Method::GET => resource_ops::get(self, t, query).await,
            Method::PUT => resource_ops::put(self, t, body, query).await,
            Method::POST => resource_ops::post(self, t, body, query).await,
            Method::PATCH => resource_ops::patch(self, t, sub_path, body, query).await,
            _ => resource_ops::delete(self, t, query).await,
        }?;
        Ok(Reply::Json(status, v))
    }
}
