//! The bootstrap configuration file (`conf/config.yaml`), in APISIX's shape.
//!
//! Only what strait implements is accepted: an unknown key or a bad value is
//! rejected with the dotted path of the key and the reason, so a typo never
//! silently falls back to a default. Defaults follow APISIX's
//! `apisix/cli/config.lua` where the key exists there.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why a bootstrap configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed or a key is unknown or has a bad value.
    #[error("invalid configuration in {path}: {key}: {reason}")]
    Invalid {
        /// The file that was read.
        path: PathBuf,
        /// Dotted path of the offending key (`apisix.node_listen`), or `.` for the root.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole bootstrap file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// `apisix.*`: data-plane listeners and behaviour.
    pub apisix: ApisixSection,
    /// `nginx_config.*`: process-level knobs that strait maps onto its runtime.
    pub nginx_config: NginxConfigSection,
    /// `deployment.*`: role, config provider, etcd and admin settings.
    pub deployment: DeploymentSection,
    /// `plugins`: the enabled plugin names (used by the plugin runtime).
    pub plugins: Option<Vec<String>>,
    /// `plugin_attr`: per-plugin process-level attributes.
    pub plugin_attr: serde_json::Map<String, serde_json::Value>,
    /// `strait.*`: settings that have no APISIX equivalent.
    pub strait: StraitSection,
}

/// `apisix.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApisixSection {
    /// Proxy listeners (`9080`, `[9080, 9081]` or `[{ip, port}]`).
    pub node_listen: ListenSpec,
    /// Status API listener (`/status`, `/status/ready`).
    pub status: StatusSection,
    /// Router selection; only `radixtree_host_uri` is implemented.
    pub router: RouterSection,
    /// Whether the proxy listens on `[::]` as well when `node_listen` gives ports only.
    pub enable_ipv6: bool,
    /// Encryption at rest of secret fields (SSL private keys) written through the Admin API.
    pub data_encryption: DataEncryptionSection,
    /// HTTP/2 on every proxy listener: through ALPN on TLS, and cleartext
    /// (h2c, prior knowledge) next to HTTP/1.1 on the plain listeners.
    pub enable_http2: bool,
    /// The TLS listener and its defaults.
    pub ssl: SslSection,
}

impl Default for ApisixSection {
    fn default() -> Self {
        Self {
            node_listen: ListenSpec::Port(9080),
            status: StatusSection::default(),
            router: RouterSection::default(),
            enable_ipv6: false,
            data_encryption: DataEncryptionSection::default(),
            enable_http2: true,
            ssl: SslSection::default(),
        }
    }
}

/// `apisix.ssl`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SslSection {
    /// Listen for TLS at all.
    pub enable: bool,
    /// TLS listeners (`[{ip, port}]`; port 9443 and all interfaces by default).
    pub listen: Vec<SslListen>,
    /// TLS versions offered unless an SSL object sets its own (`TLSv1.2 TLSv1.3`).
    pub ssl_protocols: String,
    /// OpenSSL cipher list. Accepted for APISIX compatibility, not applied:
    /// rustls offers only AEAD suites with forward secrecy (its defaults).
    pub ssl_ciphers: Option<String>,
    /// TLS session tickets; off as in APISIX (sessions resume by id).
    pub ssl_session_tickets: bool,
    /// CA certificates trusted towards upstreams (`tls.verify`) and etcd:
    /// `system` (the OS bundle) or a PEM file.
    pub ssl_trusted_certificate: String,
    /// The server name looked up for clients that send no SNI.
    pub fallback_sni: Option<String>,
    /// Certificate served when no SSL object matches (PEM file; with `ssl_cert_key`).
    pub ssl_cert: Option<PathBuf>,
    /// Private key of `ssl_cert`.
    pub ssl_cert_key: Option<PathBuf>,
}

impl Default for SslSection {
    fn default() -> Self {
        Self {
            enable: true,
            listen: vec![SslListen {
                ip: None,
                port: 9443,
                enable_http3: false,
            }],
            ssl_protocols: "TLSv1.2 TLSv1.3".into(),
            ssl_ciphers: None,
            ssl_session_tickets: false,
            ssl_trusted_certificate: "system".into(),
            fallback_sni: None,
            ssl_cert: None,
            ssl_cert_key: None,
        }
    }
}

/// One entry of `apisix.ssl.listen`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslListen {
    /// Address to bind; all interfaces when absent.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// Port to bind.
    #[serde(default = "default_ssl_port")]
    pub port: u16,
    /// HTTP/3 (QUIC) is not implemented; only `false` is accepted.
    #[serde(default)]
    pub enable_http3: bool,
}

fn default_ssl_port() -> u16 {
    9443
}

impl SslSection {
    /// The addresses of the TLS listeners (none when disabled).
    pub fn addrs(&self, enable_ipv6: bool) -> Vec<SocketAddr> {
        if !self.enable {
            return Vec::new();
        }
        let entries: Vec<ListenEntry> = self
            .listen
            .iter()
            .map(|l| {
                ListenEntry::Addr(ListenAddr {
                    ip: l.ip,
                    port: l.port,
                })
            })
            .collect();
        ListenSpec::List(entries).addrs(enable_ipv6)
    }
}

/// `apisix.data_encryption`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataEncryptionSection {
    /// Encrypt secret fields (SSL `key`/`keys`) before they are written to etcd.
    pub enable_encrypt_fields: bool,
    /// Keys (16 or 32 bytes each: AES-128/256-GCM). The first encrypts; all are
    /// tried to decrypt, so a key can be rotated in front of the old ones.
    /// Empty: a random key is generated once and kept under `strait.data_dir`
    /// (every node sharing an etcd must then be given the same keyring).
    pub keyring: Vec<String>,
}

impl Default for DataEncryptionSection {
    fn default() -> Self {
        Self {
            enable_encrypt_fields: true,
            keyring: Vec::new(),
        }
    }
}

/// `apisix.status`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusSection {
    /// Address the status API binds to.
    pub ip: IpAddr,
    /// Port of the status API.
    pub port: u16,
}

impl Default for StatusSection {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 7085,
        }
    }
}

/// `apisix.router`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSection {
    /// The HTTP router; strait implements `radixtree_host_uri` semantics.
    pub http: RouterKind,
}

impl Default for RouterSection {
    fn default() -> Self {
        Self {
            http: RouterKind::RadixtreeHostUri,
        }
    }
}

/// The supported HTTP routers.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RouterKind {
    /// Host-first, then URI (APISIX's default since 3.2).
    RadixtreeHostUri,
}

/// One or more listen addresses, as APISIX accepts them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListenSpec {
    /// A single port on all interfaces.
    Port(u16),
    /// Several ports or `{ip, port}` entries.
    List(Vec<ListenEntry>),
}

/// One entry of a listen list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListenEntry {
    /// A port on all interfaces.
    Port(u16),
    /// An explicit address.
    Addr(ListenAddr),
}

/// `{ip, port}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenAddr {
    /// Address to bind; all interfaces when absent.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// Port to bind.
    pub port: u16,
}

impl ListenSpec {
    /// The socket addresses to bind.
    pub fn addrs(&self, enable_ipv6: bool) -> Vec<SocketAddr> {
        let any = |port: u16| {
            let mut v = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)];
            if enable_ipv6 {
                v.push(SocketAddr::new(
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                    port,
                ));
            }
            v
        };
        match self {
            ListenSpec::Port(p) => any(*p),
            ListenSpec::List(entries) => entries
                .iter()
                .flat_map(|e| match e {
                    ListenEntry::Port(p) => any(*p),
                    ListenEntry::Addr(a) => match a.ip {
                        Some(ip) => vec![SocketAddr::new(ip, a.port)],
                        None => any(a.port),
                    },
                })
                .collect(),
        }
    }
}

/// `nginx_config.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NginxConfigSection {
    /// Worker threads: `auto` (one per core) or a number.
    pub worker_processes: WorkerCount,
    /// Log level: `debug`, `info`, `notice`, `warn`, `error`.
    pub error_log_level: LogLevel,
    /// Grace period for in-flight requests on SIGTERM/SIGINT (`"240s"`, `"500ms"` or seconds).
    pub worker_shutdown_timeout: DurationSpec,
}

impl Default for NginxConfigSection {
    fn default() -> Self {
        Self {
            worker_processes: WorkerCount::Auto,
            error_log_level: LogLevel::Warn,
            worker_shutdown_timeout: DurationSpec(Duration::from_secs(240)),
        }
    }
}

/// `auto` or a positive count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCount {
    /// One worker thread per core.
    Auto,
    /// A fixed number of worker threads.
    Fixed(usize),
}

impl<'de> Deserialize<'de> for WorkerCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom("must be `auto` or at least 1")),
            Raw::N(n) => Ok(WorkerCount::Fixed(n as usize)),
            Raw::S(s) if s == "auto" => Ok(WorkerCount::Auto),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "must be `auto` or a positive number, got `{s}`"
            ))),
        }
    }
}

/// Log levels in nginx's vocabulary.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Informational.
    Info,
    /// Notable events (mapped to info).
    Notice,
    /// Warnings.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// The matching `tracing` filter directive.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info | LogLevel::Notice => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A duration written as seconds (`30`) or with a unit (`"30s"`, `"500ms"`, `"2m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(f64),
            S(String),
        }
        let bad = |s: &str| {
            serde::de::Error::custom(format!(
                "expected seconds or a duration like `30s`, `500ms`, `2m`, got `{s}`"
            ))
        };
        let secs = match Raw::deserialize(d)? {
            Raw::N(n) => n,
            Raw::S(s) => {
                let t = s.trim();
                let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
                    (n, 0.001)
                } else if let Some(n) = t.strip_suffix('s') {
                    (n, 1.0)
                } else if let Some(n) = t.strip_suffix('m') {
                    (n, 60.0)
                } else {
                    (t, 1.0)
                };
                num.trim().parse::<f64>().map_err(|_| bad(&s))? * mult
            }
        };
        if !secs.is_finite() || !(0.0..=crate::config::resource::MAX_SECONDS).contains(&secs) {
            return Err(serde::de::Error::custom(
                "must be a non-negative duration of at most a year",
            ));
        }
        Ok(DurationSpec(Duration::from_secs_f64(secs)))
    }
}

/// `deployment.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploymentSection {
    /// `traditional` (data plane + admin) or `data_plane`.
    pub role: Role,
    /// Settings of the `traditional` role.
    pub role_traditional: RoleSection,
    /// Settings of the `data_plane` role.
    pub role_data_plane: RoleSection,
    /// Admin API settings (used by the Admin API).
    pub admin: AdminSection,
    /// etcd connection.
    pub etcd: EtcdSection,
}

impl Default for DeploymentSection {
    fn default() -> Self {
        Self {
            role: Role::Traditional,
            role_traditional: RoleSection::default(),
            role_data_plane: RoleSection::default(),
            admin: AdminSection::default(),
            etcd: EtcdSection::default(),
        }
    }
}

/// Deployment roles.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Data plane and Admin API in one process.
    Traditional,
    /// Data plane only.
    DataPlane,
}

/// `deployment.role_*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleSection {
    /// Where configuration comes from.
    pub config_provider: ConfigProvider,
}

impl Default for RoleSection {
    fn default() -> Self {
        Self {
            config_provider: ConfigProvider::Etcd,
        }
    }
}

/// Configuration sources.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConfigProvider {
    /// Watch etcd.
    Etcd,
    /// Read `conf/apisix.yaml` (standalone mode).
    Yaml,
}

/// `deployment.admin.*` (consumed by the Admin API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Admin keys with their roles.
    pub admin_key: Option<Vec<AdminKey>>,
    /// Whether requests need a key.
    pub admin_key_required: bool,
    /// Admin listener.
    pub admin_listen: ListenAddr,
    /// CIDRs allowed to reach the Admin API.
    pub allow_admin: Vec<String>,
    /// Serve the dashboard at `/ui/` (and its read-only API at `/ui/api/`).
    pub enable_admin_ui: bool,
    /// strait only: the directory holding the built dashboard (`index.html`,
    /// `assets/`). Relative paths are resolved against the working directory.
    pub admin_ui_root: PathBuf,
    /// Admin API version (`v3`).
    pub admin_api_version: String,
    /// Serve the Admin API over TLS (on `admin_listen`), with `admin_api_mtls`.
    pub https_admin: bool,
    /// Certificate, key and optional client CA of the HTTPS Admin API.
    pub admin_api_mtls: AdminMtlsSection,
}

/// `deployment.admin.admin_api_mtls`: PEM files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminMtlsSection {
    /// The Admin API's certificate.
    pub admin_ssl_cert: Option<PathBuf>,
    /// Its private key.
    pub admin_ssl_cert_key: Option<PathBuf>,
    /// When set, clients must present a certificate issued by this CA.
    pub admin_ssl_ca_cert: Option<PathBuf>,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            admin_key: None,
            admin_key_required: true,
            admin_listen: ListenAddr {
                ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                port: 9180,
            },
            allow_admin: vec!["127.0.0.0/24".to_string()],
            enable_admin_ui: true,
            admin_ui_root: PathBuf::from("dashboard/dist"),
            admin_api_version: "v3".to_string(),
            https_admin: false,
            admin_api_mtls: AdminMtlsSection::default(),
        }
    }
}

/// One admin key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminKey {
    /// A label for the key.
    pub name: String,
    /// The secret; empty means "generate one at start".
    pub key: String,
    /// `admin` or `viewer`.
    pub role: String,
}

/// `deployment.etcd.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdSection {
    /// etcd endpoints (`http://127.0.0.1:2379`).
    pub host: Vec<String>,
    /// Key prefix of every resource.
    pub prefix: String,
    /// Timeout of one etcd request, in seconds.
    pub timeout: u64,
    /// Base delay before re-syncing after an error, in seconds (jittered, doubled up to 30 s).
    pub resync_delay: f64,
    /// Optional user name for etcd authentication.
    pub user: Option<String>,
    /// Optional password for etcd authentication.
    pub password: Option<String>,
    /// TLS towards `https://` endpoints.
    pub tls: EtcdTlsSection,
}

/// `deployment.etcd.tls`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdTlsSection {
    /// Client certificate (PEM file) for etcd's client-certificate auth.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// Verify etcd's certificate against `apisix.ssl.ssl_trusted_certificate`.
    pub verify: bool,
    /// The name checked in etcd's certificate (default: the endpoint's host).
    pub sni: Option<String>,
}

impl Default for EtcdTlsSection {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            verify: true,
            sni: None,
        }
    }
}

impl Default for EtcdSection {
    fn default() -> Self {
        Self {
            host: vec!["http://127.0.0.1:2379".to_string()],
            prefix: "/apisix".to_string(),
            timeout: 30,
            resync_delay: 1.0,
            user: None,
            password: None,
            tls: EtcdTlsSection::default(),
        }
    }
}

/// `strait.*`: strait-only settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StraitSection {
    /// Directory for state strait generates itself (admin key, encryption keyring).
    /// Relative paths are resolved against the working directory.
    pub data_dir: PathBuf,
    /// Where the last good configuration is persisted, so a node can start while etcd is down.
    /// Relative paths are resolved against the working directory. Empty disables it.
    pub snapshot_file: PathBuf,
    /// Request bodies up to this size are buffered before proxying so a failed attempt can be
    /// retried on another node; larger or chunked bodies stream and retry only on connect errors.
    pub retry_body_buffer_bytes: usize,
    /// Lua plugins.
    pub lua: LuaSection,
    /// LLM traffic.
    pub llm: LlmSection,
}

/// `strait.llm`: settings of the AI plugins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSection {
    /// Per-token model prices in LiteLLM's `model_prices_and_context_window.json`
    /// format, for the cost of each LLM request. Unset: `conf/model_prices.json`
    /// if it exists (relative to the working directory). Set: the file must load.
    pub price_table: Option<PathBuf>,
}

/// `strait.lua`: where Lua plugins come from and how they are confined.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LuaSection {
    /// Directories whose `*.lua` files are plugins (and the only places
    /// `require` loads from). Relative paths are resolved against the
    /// working directory; a missing directory is skipped with a log line.
    pub plugin_dirs: Vec<PathBuf>,
    /// What the sandbox lets plugins use besides the safe libraries:
    /// `io`, `os` (all of it; `os.time`/`clock`/`date` are always there),
    /// `load` (`load`/`loadstring`/`dofile`/`loadfile` of code), `debug`, `ffi`.
    pub allow: Vec<LuaAllow>,
    /// Longest one phase call of one plugin may run, in milliseconds.
    pub time_budget_ms: u64,
    /// Memory cap of each Lua VM (one per worker thread), in MiB.
    pub memory_limit_mb: usize,
    /// Run `serverless-pre-function`/`serverless-post-function` code given
    /// through the Admin API. Off: such configurations are refused.
    pub serverless: bool,
}

/// A sandbox escape the operator allows (`strait.lua.allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LuaAllow {
    /// The `io` library.
    Io,
    /// The whole `os` library (`os.execute`, `os.remove`, …).
    Os,
    /// Compiling code from strings and files at run time.
    Load,
    /// The `debug` library (and `getfenv`/`setfenv`).
    Debug,
    /// LuaJIT's FFI.
    Ffi,
}

impl Default for LuaSection {
    fn default() -> Self {
        Self {
            plugin_dirs: vec![PathBuf::from("lua-plugins")],
            allow: Vec::new(),
            time_budget_ms: 100,
            memory_limit_mb: 128,
            serverless: false,
        }
    }
}

impl Default for StraitSection {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".data"),
            snapshot_file: PathBuf::from(".data/snapshot.json"),
            retry_body_buffer_bytes: 64 * 1024,
            lua: LuaSection::default(),
            llm: LlmSection::default(),
        }
    }
}

impl BootstrapConfig {
    /// Read and validate a bootstrap file.
    pub fn load(path: &Path) -> Result<BootstrapConfig, BootstrapError> {
        let text = std::fs::read_to_string(path).map_err(|source| BootstrapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate bootstrap YAML; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<BootstrapConfig, BootstrapError> {
        let invalid = |key: String, reason: String| BootstrapError::Invalid {
            path: path.to_path_buf(),
            key,
            reason,
        };
        // An empty file is a valid "all defaults" configuration.
        if text.trim().is_empty() {
            return Ok(BootstrapConfig::default());
        }
        let de = serde_yaml::Deserializer::from_str(text);
        let cfg: BootstrapConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let mut reason = e.into_inner().to_string();
            // serde_yaml prefixes the parent path itself; the key already says it.
            if let Some((parent, _)) = key.rsplit_once('.') {
                if let Some(rest) = reason.strip_prefix(&format!("{parent}: ")) {
                    reason = rest.to_string();
                }
            }
            invalid(key, reason)
        })?;
        cfg.check().map_err(|(k, r)| invalid(k.to_string(), r))?;
        Ok(cfg)
    }

    /// Cross-field checks serde cannot express.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.apisix.node_listen.addrs(false).is_empty() {
            return Err(("apisix.node_listen", "no listen address given".into()));
        }
        let etcd = &self.deployment.etcd;
        if self.config_provider() == ConfigProvider::Etcd && etcd.host.is_empty() {
            return Err((
                "deployment.etcd.host",
                "at least one endpoint is required".into(),
            ));
        }
        let schemes: Vec<bool> = etcd
            .host
            .iter()
            .map(|h| h.starts_with("https://"))
            .collect();
        if schemes.iter().any(|t| *t) && schemes.iter().any(|t| !*t) {
            return Err((
                "deployment.etcd.host",
                "mixes http:// and https:// endpoints: use one scheme for all".into(),
            ));
        }
        if schemes.iter().any(|t| *t) && !etcd.tls.verify {
            return Err((
                "deployment.etcd.tls.verify",
                "`false` is not supported: put etcd's CA certificate in \
                 apisix.ssl.ssl_trusted_certificate instead"
                    .into(),
            ));
        }
        if etcd.tls.cert.is_some() != etcd.tls.key.is_some() {
            return Err((
                "deployment.etcd.tls",
                "`cert` and `key` go together: give both or neither".into(),
            ));
        }
        self.check_ssl()?;
        if !etcd.prefix.starts_with('/') || etcd.prefix.len() < 2 || etcd.prefix.ends_with('/') {
            return Err((
                "deployment.etcd.prefix",
                format!("`{}` must start with `/` and not end with `/`", etcd.prefix),
            ));
        }
        if etcd.timeout == 0 {
            return Err((
                "deployment.etcd.timeout",
                "must be at least 1 second".into(),
            ));
        }
        if !(etcd.resync_delay.is_finite()
            && etcd.resync_delay > 0.0
            && etcd.resync_delay <= 3600.0)
        {
            return Err((
                "deployment.etcd.resync_delay",
                "must be a positive number of seconds, at most 3600".into(),
            ));
        }
        if let Some(keys) = &self.deployment.admin.admin_key {
            for k in keys {
                if k.role != "admin" && k.role != "viewer" {
                    return Err((
                        "deployment.admin.admin_key.role",
                        format!("`{}` must be `admin` or `viewer`", k.role),
                    ));
                }
                if !k.key.is_empty() && k.key.len() < 16 {
                    return Err((
                        "deployment.admin.admin_key.key",
                        format!(
                            "the key of `{}` is too short: use at least 16 characters, or leave it empty to generate one",
                            k.name
                        ),
                    ));
                }
            }
        }
        if self.deployment.admin.admin_api_version != "v3" {
            return Err((
                "deployment.admin.admin_api_version",
                "only `v3` is supported".into(),
            ));
        }
        for (i, k) in self.apisix.data_encryption.keyring.iter().enumerate() {
            if k.len() != 16 && k.len() != 32 {
                return Err((
                    "apisix.data_encryption.keyring",
                    format!(
                        "key {} is {} bytes long: it must be 16 or 32",
                        i + 1,
                        k.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks of `apisix.ssl` and the Admin API's TLS.
    fn check_ssl(&self) -> Result<(), (&'static str, String)> {
        let ssl = &self.apisix.ssl;
        crate::tls::ssl_object::protocol_versions(
            ssl.ssl_protocols.split_whitespace(),
            "apisix.ssl.ssl_protocols",
        )
        .map_err(|e| ("apisix.ssl.ssl_protocols", e))?;
        if ssl.listen.iter().any(|l| l.enable_http3) {
            return Err((
                "apisix.ssl.listen.enable_http3",
                "HTTP/3 is not supported: set it to false".into(),
            ));
        }
        if ssl.ssl_cert.is_some() != ssl.ssl_cert_key.is_some() {
            return Err((
                "apisix.ssl.ssl_cert",
                "`ssl_cert` and `ssl_cert_key` go together: give both or neither".into(),
            ));
        }
        let admin = &self.deployment.admin;
        let mtls = &admin.admin_api_mtls;
        if admin.https_admin && (mtls.admin_ssl_cert.is_none() || mtls.admin_ssl_cert_key.is_none())
        {
            return Err((
                "deployment.admin.admin_api_mtls",
                "missing ssl cert for https admin: set admin_ssl_cert and admin_ssl_cert_key"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The effective configuration provider for the configured role.
    pub fn config_provider(&self) -> ConfigProvider {
        match self.deployment.role {
            Role::Traditional => self.deployment.role_traditional.config_provider,
            Role::DataPlane => self.deployment.role_data_plane.config_provider,
        }
    }

    /// Number of proxy worker threads.
    pub fn worker_threads(&self) -> usize {
        match self.nginx_config.worker_processes {
            WorkerCount::Fixed(n) => n,
            WorkerCount::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<BootstrapConfig, BootstrapError> {
        BootstrapConfig::parse(s, Path::new("config.yaml"))
    }

    #[test]
    fn defaults_match_apisix() {
        let c = parse("").unwrap();
        assert_eq!(c.apisix.node_listen.addrs(false)[0].port(), 9080);
        assert_eq!(c.deployment.etcd.prefix, "/apisix");
        assert_eq!(c.deployment.admin.admin_listen.port, 9180);
        assert_eq!(c.apisix.status.port, 7085);
        assert_eq!(c.config_provider(), ConfigProvider::Etcd);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("apisix:\n  node_listn: 9080\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("apisix"), "{e}");
        assert!(e.contains("node_listn"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let e = parse("deployment:\n  etcd:\n    timeout: -3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("deployment.etcd.timeout"), "{e}");
        let e = parse("deployment:\n  etcd:\n    prefix: apisix\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("deployment.etcd.prefix"), "{e}");
    }

    #[test]
    fn listen_forms() {
        let c =
            parse("apisix:\n  node_listen:\n    - 9080\n    - ip: 127.0.0.1\n      port: 9081\n")
                .unwrap();
        let addrs = c.apisix.node_listen.addrs(false);
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[1].to_string(), "127.0.0.1:9081");
    }

    #[test]
    fn durations() {
        let c = parse("nginx_config:\n  worker_shutdown_timeout: 500ms\n").unwrap();
        assert_eq!(
            c.nginx_config.worker_shutdown_timeout.0,
            Duration::from_millis(500)
        );
        assert!(parse("nginx_config:\n  worker_shutdown_timeout: soon\n").is_err());
    }

    #[test]
    fn tls_settings_are_checked() {
        let bad = [
            ("apisix:\n  ssl:\n    ssl_protocols: TLSv1.1\n", "apisix.ssl.ssl_protocols"),
            (
                "apisix:\n  ssl:\n    listen:\n      - port: 9443\n        enable_http3: true\n",
                "apisix.ssl.listen.enable_http3",
            ),
            ("apisix:\n  ssl:\n    ssl_cert: a.crt\n", "apisix.ssl.ssl_cert"),
            (
                "deployment:\n  admin:\n    https_admin: true\n",
                "deployment.admin.admin_api_mtls",
            ),
            (
                "deployment:\n  etcd:\n    host: [\"https://a:2379\", \"http://b:2379\"]\n",
                "deployment.etcd.host",
            ),
            (
                "deployment:\n  etcd:\n    host: [\"https://a:2379\"]\n    tls:\n      verify: false\n",
                "deployment.etcd.tls.verify",
            ),
            (
                "deployment:\n  etcd:\n    tls:\n      cert: c.pem\n",
                "deployment.etcd.tls",
            ),
        ];
        for (yaml, key) in bad {
            let e = parse(yaml).unwrap_err().to_string();
            assert!(e.contains(&format!("{key}:")), "{yaml}: {e}");
        }
        let c = parse("apisix:\n  ssl:\n    listen:\n      - ip: 127.0.0.1\n").unwrap();
        assert_eq!(c.apisix.ssl.addrs(false)[0].to_string(), "127.0.0.1:9443");
        let off = parse("apisix:\n  ssl:\n    enable: false\n").unwrap();
        assert!(off.apisix.ssl.addrs(false).is_empty());
    }

    #[test]
    fn standalone_role() {
        let c = parse(
            "deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n",
        )
        .unwrap();
        assert_eq!(c.config_provider(), ConfigProvider::Yaml);
    }
}
