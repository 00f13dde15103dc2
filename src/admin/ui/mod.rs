//! The web dashboard on the admin listener, outside `/apisix/admin`: its
//! files at `/ui/` ([`static_files`], no key needed so the sign-in page
//! loads) and a read-only JSON API for it at `/ui/api/` ([`api`], the Admin
//! API's keys), fed by a [`sampler`] of the process's counters. Both obey
//! `allow_admin`. Configuration changes go through the Admin API itself.
//! The contract is written down in `dashboard/API.md`.

pub mod api;
pub mod llm_usage;
pub mod overview;
pub mod sampler;
pub mod static_files;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use self::sampler::{History, Sampler};
use super::AdminApi;
use crate::body::{empty, ProxyBody};
use crate::config::SharedSnapshot;
use crate::proxy::ConnInfo;

/// The dashboard's state.
#[derive(Debug)]
pub struct Dashboard {
    /// Where the built dashboard is (`deployment.admin.admin_ui_root`).
    pub root: PathBuf,
    /// The configuration this node serves.
    pub shared: Arc<SharedSnapshot>,
    /// Recent traffic and LLM usage.
    pub history: Arc<History>,
    /// When this node started serving (for its uptime).
    pub started: Instant,
    /// This machine's name.
    pub hostname: String,
}

impl Dashboard {
    /// The dashboard serving `root`, and the sampler (reading every
    /// `interval`) that the caller runs until shutdown.
    pub fn new(
        root: &Path,
        shared: Arc<SharedSnapshot>,
        interval: Duration,
    ) -> (Dashboard, Sampler) {
        let history = Arc::new(History::new(interval));
        let d = Dashboard {
            root: root.to_path_buf(),
            shared,
            history: history.clone(),
            started: Instant::now(),
            hostname: crate::metrics::hostname(),
        };
        (d, Sampler::new(history))
    }

    /// Say at start where the files come from, or that there are none.
    pub fn log_root(&self) {
        if self.root.join("index.html").is_file() {
            tracing::info!(root = %self.root.display(), "dashboard served at /ui/");
        } else {
            tracing::warn!(root = %self.root.display(), "dashboard not built (no index.html): /ui/ answers 404 until `make dashboard` is run");
        }
    }
}

/// Whether a request path belongs to the dashboard.
pub fn owns(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// Answer a request under `/ui` (the caller checked [`owns`]).
pub async fn handle(
    admin: &AdminApi,
    ui: &Dashboard,
    req: Request<Incoming>,
    info: ConnInfo,
) -> Response<ProxyBody> {
    let mut resp = route(admin, ui, &req, info).await;
    static_files::protect(&mut resp);
    resp
}

async fn route(
    admin: &AdminApi,
    ui: &Dashboard,
    req: &Request<Incoming>,
    info: ConnInfo,
) -> Response<ProxyBody> {
    if let Err(e) = admin.policy.check_address(info.remote.ip()) {
        return e.into_response();
    }
    let uri = req.uri();
    let path = uri.path();
    if path == "/ui" && matches!(*req.method(), Method::GET | Method::HEAD) {
        let location = match uri.query() {
            Some(q) => format!("/ui/?{q}"),
            None => "/ui/".to_string(),
        };
        let mut resp = Response::new(empty());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return resp;
    }
    if path == "/ui/api" || path.starts_with("/ui/api/") {
        let endpoint = path.strip_prefix("/ui/api/").unwrap_or("");
        return api::handle(admin, ui, req, endpoint).await;
    }
    let rest = path.strip_prefix("/ui/").unwrap_or("");
    static_files::serve(&ui.root, req.method(), rest).await
}
