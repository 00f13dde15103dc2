//! The plugin endpoints of the Admin API: `GET /plugins/list`,
//! `GET /plugins/{name}` (a plugin's schema), `GET /plugins?all=true` and
//! `PUT /plugins/reload` (re-reads the `plugins:` list of the config file).

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::error::AdminError;
use super::resource_ops::query_arg;
use super::{method_name, only, AdminApi, Reply};
use crate::plugin::registry;
use crate::schema;

impl AdminApi {
    /// The enabled plugins that strait implements, sorted (the registry's
    /// list, which `PUT /plugins/reload` updates for the data plane too).
    pub fn enabled(&self) -> Vec<String> {
        registry::enabled_names()
    }

    /// Whether `name` is an enabled, implemented plugin.
    pub fn is_enabled(&self, name: &str) -> bool {
        registry::get(name).is_some() && registry::is_enabled(name)
    }

    pub(super) fn plugin_list(
        &self,
        method: &Method,
        query: Option<&str>,
    ) -> Result<Reply, AdminError> {
        only(method, Method::GET)?;
        match query_arg(query, "subsystem") {
            None | Some("http") => Ok(Reply::Json(StatusCode::OK, json!(self.enabled()))),
            Some("stream") => Ok(Reply::Json(StatusCode::OK, json!([]))),
            Some(_) => Err(AdminError::BadRequest("invalid subsystem passed".into())),
        }
    }

    /// `GET /plugins/{name}` (`?schema_type=consumer|metadata`), and
    /// `?all=true`: every enabled plugin with its priority and schemas.
    pub(super) fn plugin_schema(
        &self,
        method: &Method,
        name: &str,
        query: Option<&str>,
    ) -> Result<Reply, AdminError> {
        only(method, Method::GET)?;
        let subsystem = query_arg(query, "subsystem").unwrap_or("http");
        if subsystem != "http" && subsystem != "stream" {
            return Err(AdminError::BadRequest(format!(
                "unsupported subsystem: {subsystem}"
            )));
        }
        if query_arg(query, "all") == Some("true") {
            let mut all = serde_json::Map::new();
            if subsystem == "http" {
                for n in self.enabled() {
                    if let Some(p) = schema::plugin(&n) {
                        all.insert(n, p.summary());
                    }
                }
            }
            return Ok(Reply::Json(StatusCode::OK, Value::Object(all)));
        }
        let not_found =
            || AdminError::NotFound(format!("plugin not found in subsystem {subsystem}"));
        if subsystem != "http" || !self.is_enabled(name) {
            return Err(not_found());
        }
        let p = schema::plugin(name).ok_or_else(not_found)?;
        let doc = match query_arg(query, "schema_type") {
            Some("consumer") => p.consumer_document(),
            Some("metadata") => p.metadata_document(),
            _ => p.document(),
        };
        doc.map(|d| Reply::Json(StatusCode::OK, d))
            .ok_or_else(|| AdminError::BadRequest("not found schema".into()))
    }

    pub(super) fn plugin_reload(&self, method: &Method) -> Result<Reply, AdminError> {
        if *method != Method::PUT {
            return Err(AdminError::WrongMethod(format!(
                "please use PUT method to reload the plugins, {} method is not allowed.",
                method_name(method)
            )));
        }
        let cfg = crate::config::BootstrapConfig::load(&self.config_path)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        // Lua plugin files are read again; one that fails keeps its previous
        // version (the log says why).
        crate::plugin::lua::reload();
        registry::set_enabled(cfg.plugins.clone());
        tracing::info!(
            plugins = registry::enabled_names().len(),
            "admin API: plugin list reloaded"
        );
        // APISIX answers a plain-text `done`.
        Ok(Reply::Text("done"))
    }
}
