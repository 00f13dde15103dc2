//! Process wiring: start the config source, the proxy (HTTP and HTTPS),
//! admin, metrics and status listeners, and shut down gracefully on
//! SIGTERM/SIGINT (stop accepting, let in-flight requests finish within
//! `nginx_config.worker_shutdown_timeout`, exit).

pub mod accept;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::bootstrap::{BootstrapConfig, ConfigProvider, Role};
use crate::config::disk_cache::DiskCache;
use crate::config::etcd_source::EtcdSync;
use crate::config::field_crypto::FieldCrypto;
use crate::config::yaml_source::YamlSync;
use crate::config::SharedSnapshot;
use crate::proxy::Proxy;
use crate::status;
use crate::tls::settings::ListenerTls;
use crate::tls::TlsTerminator;
use accept::{accept_loop, ConnTracker, Transport};

/// How long a client may take to complete a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The configured LLM price table cannot be used.
    #[error("strait.llm.price_table: {0}")]
    PriceTable(#[from] crate::llm::price::PriceTableError),
    /// The standalone configuration file is unusable.
    #[error(transparent)]
    Standalone(#[from] crate::config::yaml_source::YamlSourceError),
    /// The encryption keyring is unusable.
    #[error(transparent)]
    Keyring(#[from] crate::config::keyring::KeyringError),
    /// The Admin API's setup is unsafe or its secrets cannot be kept.
    #[error(transparent)]
    Admin(#[from] crate::admin::setup::AdminSetupError),
    /// A certificate named in the configuration cannot be used.
    #[error("{key}: {reason}")]
    Certificate {
        /// The configuration key (`apisix.ssl.ssl_cert`).
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Put the LLM price table in service: the configured one (which must
/// load), else `conf/model_prices.json` when present.
fn load_price_table(configured: Option<&Path>) -> Result<(), StartError> {
    use crate::llm::price::{self, PriceTable};
    let default = Path::new("conf/model_prices.json");
    let path = match configured {
        Some(p) => p,
        None if default.exists() => default,
        None => {
            tracing::info!("no LLM price table (strait.llm.price_table): costs are unknown");
            return Ok(());
        }
    };
    let table = PriceTable::load(path)?;
    tracing::info!(models = table.len(), file = %path.display(), "LLM price table loaded");
    price::set_table(table);
    Ok(())
}

/// Run the gateway until a shutdown signal; `config_path` locates `apisix.yaml` in standalone mode.
pub async fn run(cfg: BootstrapConfig, config_path: &Path) -> Result<(), StartError> {
    // Lua plugins join the registry, then `plugins:` decides which plugins
    // items may use (before anything compiles).
    load_price_table(cfg.strait.llm.price_table.as_deref())?;
    crate::plugin::lua::settings::set(&cfg.strait.lua);
    crate::plugin::lua::reload();
    let lua_watch = crate::plugin::lua::watch_files();
    crate::plugin::registry::set_enabled(cfg.plugins.clone());
    crate::plugin::registry::set_attrs(cfg.plugin_attr.clone());
    // Plugins decrypt their secret fields as the first snapshot builds. As
    // APISIX, only data kept in etcd is encrypted (apisix.yaml is plain).
    let keyring = match cfg.config_provider() {
        ConfigProvider::Etcd => crate::config::keyring::load(&cfg, has_admin(&cfg))?,
        ConfigProvider::Yaml => None,
    };
    crate::plugin::secret_fields::set_keyring(keyring.clone());
    // SSL objects compile into handshake configurations with these settings.
    crate::tls::settings::set(listener_tls(&cfg));
    crate::tls::trust::load(&cfg.apisix.ssl.ssl_trusted_certificate).map_err(|reason| {
        StartError::Certificate {
            key: "apisix.ssl.ssl_trusted_certificate",
            reason,
        }
    })?;
    let shared = Arc::new(SharedSnapshot::new());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut background = Vec::new();

    match cfg.config_provider() {
        ConfigProvider::Etcd => {
            let disk = (!cfg.strait.snapshot_file.as_os_str().is_empty())
                .then(|| DiskCache::new(cfg.strait.snapshot_file.clone()));
            let sync = EtcdSync::new(cfg.deployment.etcd.clone(), shared.clone(), disk);
            background.push(tokio::spawn(sync.run(shutdown_rx.clone())));
        }
        ConfigProvider::Yaml => {
            let file = standalone_path(config_path);
            let mut sync = YamlSync::new(file, cfg.deployment.etcd.prefix.clone(), shared.clone());
            sync.load_once()?;
            background.push(tokio::spawn(sync.run(shutdown_rx.clone())));
        }
    }

    let proxy = Arc::new(Proxy {
        shared: shared.clone(),
        retry_body_buffer_bytes: cfg.strait.retry_body_buffer_bytes,
    });
    let mut listeners = Vec::new();
    let plain = Transport::Plain {
        h2c: cfg.apisix.enable_http2,
    };
    for addr in cfg.apisix.node_listen.addrs(cfg.apisix.enable_ipv6) {
        let l = bind(addr).await?;
        tracing::info!(%addr, "proxy listening");
        listeners.push((l, plain.clone()));
    }
    let ssl_addrs = cfg.apisix.ssl.addrs(cfg.apisix.enable_ipv6);
    if !ssl_addrs.is_empty() {
        let tls = Transport::Tls(Arc::new(proxy_terminator(&cfg, &shared)?));
        for addr in ssl_addrs {
            let l = bind(addr).await?;
            tracing::info!(%addr, "proxy listening for TLS");
            listeners.push((l, tls.clone()));
        }
    }
    let admin = match admin_listener(&cfg, config_path, keyring, &shared).await? {
        Some((listener, api, sampler)) => {
            if let Some(s) = sampler {
                background.push(tokio::spawn(s.run(shutdown_rx.clone())));
            }
            Some((listener, admin_transport(&cfg)?, api))
        }
        None => None,
    };
    let metrics = metrics_listener(&cfg).await?;
    let status_addr = SocketAddr::new(cfg.apisix.status.ip, cfg.apisix.status.port);
    let status_listener = bind(status_addr).await?;
    tracing::info!(addr = %status_addr, "status API listening");

    let graceful = Arc::new(ConnTracker::default());
    let mut accept_tasks = Vec::new();
    for (l, transport) in listeners {
        let p = proxy.clone();
        accept_tasks.push(tokio::spawn(accept_loop(
            l,
            transport,
            graceful.clone(),
            shutdown_rx.clone(),
            move |req, info| {
                let p = p.clone();
                async move { Ok::<_, Infallible>(p.handle(req, info).await) }
            },
        )));
    }
    if let Some((listener, transport, api)) = admin {
        accept_tasks.push(tokio::spawn(accept_loop(
            listener,
            transport,
            graceful.clone(),
            shutdown_rx.clone(),
            move |req, info| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(api.handle(req, info).await) }
            },
        )));
    }
    if let Some((listener, uri)) = metrics {
        let s = shared.clone();
        let uri: Arc<str> = Arc::from(uri);
        accept_tasks.push(tokio::spawn(accept_loop(
            listener,
            Transport::Plain { h2c: false },
            graceful.clone(),
            shutdown_rx.clone(),
            move |req, _info| {
                let s = s.clone();
                let uri = uri.clone();
                async move { Ok::<_, Infallible>(metrics_response(&s, &uri, &req)) }
            },
        )));
    }
    let s = shared.clone();
    accept_tasks.push(tokio::spawn(accept_loop(
        status_listener,
        Transport::Plain { h2c: false },
        graceful.clone(),
        shutdown_rx.clone(),
        move |req, _info| {
            let s = s.clone();
            async move { Ok::<_, Infallible>(status::handle(&s, &req)) }
        },
    )));

    wait_for_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = shutdown_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    let grace = cfg.nginx_config.worker_shutdown_timeout.0;
    tokio::select! {
        _ = graceful.all_closed() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!("grace period of {grace:?} over; closing remaining connections"),
    }
    lua_watch.abort();
    // Config sources stop on the shutdown signal (persisting their last
    // snapshot); give them a moment, then stop regardless.
    for t in background {
        let abort = t.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), t)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    Ok(())
}

/// Whether this node serves the Admin API: the `traditional` role with etcd.
fn has_admin(cfg: &BootstrapConfig) -> bool {
    cfg.deployment.role == Role::Traditional && cfg.config_provider() == ConfigProvider::Etcd
}

/// The Admin API and its listener, in the roles that have one: `traditional`
/// with etcd (standalone mode has no etcd to write to). With the dashboard
/// on, also the sampler feeding it, for the caller to run.
async fn admin_listener(
    cfg: &BootstrapConfig,
    config_path: &Path,
    keyring: Option<Arc<FieldCrypto>>,
    shared: &Arc<SharedSnapshot>,
) -> Result<Option<AdminParts>, StartError> {
    if !has_admin(cfg) {
        tracing::info!("Admin API not started: it runs in the traditional role with etcd");
        return Ok(None);
    }
    let mut api = crate::admin::setup::build(cfg, config_path, keyring)?;
    let admin = &cfg.deployment.admin;
    let sampler = if admin.enable_admin_ui {
        let (dashboard, sampler) = crate::admin::ui::Dashboard::new(
            &admin.admin_ui_root,
            shared.clone(),
            crate::admin::ui::sampler::interval_from_env(),
        );
        dashboard.log_root();
        api.ui = Some(dashboard);
        Some(sampler)
    } else {
        None
    };
    let listen = &admin.admin_listen;
    // Without an explicit ip the Admin API stays on loopback.
    let addr = SocketAddr::new(
        listen.ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        listen.port,
    );
    let l = bind(addr).await?;
    let scheme = if admin.https_admin { "https" } else { "http" };
    tracing::info!(%addr, "Admin API listening on {scheme}://{addr}/apisix/admin");
    Ok(Some((l, Arc::new(api), sampler)))
}

/// The TLS listener settings from `apisix.ssl` and `apisix.enable_http2`.
fn listener_tls(cfg: &BootstrapConfig) -> ListenerTls {
    let mut settings = ListenerTls {
        http2: cfg.apisix.enable_http2,
        ..ListenerTls::default()
    };
    // Checked when the configuration was loaded.
    if let Ok(versions) = crate::tls::ssl_object::protocol_versions(
        cfg.apisix.ssl.ssl_protocols.split_whitespace(),
        "apisix.ssl.ssl_protocols",
    ) {
        settings.versions = versions;
    }
    settings
}

/// The TLS side of the proxy: SSL objects by SNI, with the fallback
/// certificate of `apisix.ssl.ssl_cert` when one is configured.
fn proxy_terminator(
    cfg: &BootstrapConfig,
    shared: &Arc<SharedSnapshot>,
) -> Result<TlsTerminator, StartError> {
    let ssl = &cfg.apisix.ssl;
    if ssl.ssl_ciphers.is_some() {
        tracing::info!("apisix.ssl.ssl_ciphers is not applied: rustls offers its own AEAD suites");
    }
    let fallback = match (&ssl.ssl_cert, &ssl.ssl_cert_key) {
        (Some(cert), Some(key)) => Some(
            crate::tls::files::served_from_files(
                "fallback",
                cert,
                key,
                None,
                &crate::tls::settings::get(),
            )
            .map_err(|reason| StartError::Certificate {
                key: "apisix.ssl.ssl_cert",
                reason,
            })?,
        ),
        _ => None,
    };
    Ok(TlsTerminator::new(
        shared.clone(),
        fallback,
        ssl.fallback_sni.as_ref().map(|s| s.to_ascii_lowercase()),
        HANDSHAKE_TIMEOUT,
    ))
}

/// Plain HTTP, or HTTPS with `deployment.admin.https_admin` (and client
/// certificates when `admin_api_mtls.admin_ssl_ca_cert` is set).
fn admin_transport(cfg: &BootstrapConfig) -> Result<Transport, StartError> {
    let admin = &cfg.deployment.admin;
    let mtls = &admin.admin_api_mtls;
    let (true, Some(cert), Some(key)) = (
        admin.https_admin,
        &mtls.admin_ssl_cert,
        &mtls.admin_ssl_cert_key,
    ) else {
        return Ok(Transport::Plain { h2c: false });
    };
    let settings = ListenerTls {
        http2: false,
        ..crate::tls::settings::get().as_ref().clone()
    };
    let served = crate::tls::files::served_from_files(
        "admin",
        cert,
        key,
        mtls.admin_ssl_ca_cert.as_deref(),
        &settings,
    )
    .map_err(|reason| StartError::Certificate {
        key: "deployment.admin.admin_api_mtls",
        reason,
    })?;
    Ok(Transport::Tls(Arc::new(TlsTerminator::fixed(
        served,
        HANDSHAKE_TIMEOUT,
    ))))
}

/// The admin listener, its API and the dashboard's sampler (when enabled).
type AdminParts = (
    TcpListener,
    Arc<crate::admin::AdminApi>,
    Option<crate::admin::ui::sampler::Sampler>,
);

/// The Prometheus export listener (`plugin_attr.prometheus`: `export_addr`
/// default `127.0.0.1:9091`, `export_uri` default `/apisix/prometheus/metrics`),
/// when the `prometheus` plugin is enabled and `enable_export_server` is not false.
async fn metrics_listener(
    cfg: &BootstrapConfig,
) -> Result<Option<(TcpListener, String)>, StartError> {
    let enabled = cfg
        .plugins
        .as_ref()
        .is_none_or(|list| list.iter().any(|p| p == "prometheus"))
        && crate::plugin::registry::get("prometheus").is_some();
    let attr = cfg.plugin_attr.get("prometheus");
    let get = |k: &str| attr.and_then(|a| a.get(k));
    if !enabled || get("enable_export_server").and_then(serde_json::Value::as_bool) == Some(false) {
        return Ok(None);
    }
    let ip = get("export_addr")
        .and_then(|a| a.get("ip"))
        .and_then(serde_json::Value::as_str)
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port = get("export_addr")
        .and_then(|a| a.get("port"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(9091);
    let uri = get("export_uri")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("/apisix/prometheus/metrics")
        .to_string();
    let addr = SocketAddr::new(ip, port);
    let l = bind(addr).await?;
    tracing::info!(%addr, "Prometheus metrics on http://{addr}{uri}");
    Ok(Some((l, uri)))
}

/// Answer a scrape (or 404 for any other path).
fn metrics_response(
    shared: &SharedSnapshot,
    uri: &str,
    req: &hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<crate::body::ProxyBody> {
    if req.uri().path() != uri || req.method() != http::Method::GET {
        return crate::body::json_response(
            http::StatusCode::NOT_FOUND,
            &serde_json::json!({"error_msg": "not found"}),
        );
    }
    let m = crate::metrics::global();
    m.refresh(&shared.load());
    let mut resp = hyper::Response::new(crate::body::full(m.render()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// `conf/apisix.yaml` next to the bootstrap file.
fn standalone_path(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .map(|d| d.join("apisix.yaml"))
        .unwrap_or_else(|| PathBuf::from("conf/apisix.yaml"))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let sock = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()
    } else {
        tokio::net::TcpSocket::new_v4()
    }
    .map_err(|source| StartError::Bind { addr, source })?;
    let _ = sock.set_reuseaddr(true);
    sock.bind(addr)
        .map_err(|source| StartError::Bind { addr, source })?;
    sock.listen(4096)
        .map_err(|source| StartError::Bind { addr, source })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot install SIGTERM handler: {e}");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
