//! The gateway under test: the real `strait` binary, started with a
//! config.yaml written into a temp dir (free proxy and status ports on
//! 127.0.0.1, etcd endpoint and prefix, `resync_delay: 0.2`, a short
//! `worker_shutdown_timeout`, the snapshot file in the temp dir unless given,
//! and `apisix.yaml` next to it in standalone mode). Its stdout and stderr go
//! to a log file (`RUST_LOG=info`) that tests read and that failing
//! assertions print (set `STRAIT_TEST_SHOW_LOG=1` to print it for passing
//! tests too, with `--no-capture`). Killed on drop.
//!
//! Also [`wait_until`], the polling helper every test uses instead of sleeps.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::etcd::Etcd;
use super::{free_port, get};

/// How to configure a gateway.
#[derive(Debug, Clone)]
pub struct GatewayOpts {
    /// etcd endpoint (`http://127.0.0.1:port`); a closed port when `None` in etcd mode.
    pub etcd_endpoint: Option<String>,
    /// etcd key prefix.
    pub prefix: String,
    /// `deployment.etcd.timeout` in seconds.
    pub etcd_timeout: u64,
    /// Standalone mode with this `apisix.yaml` content.
    pub standalone_yaml: Option<String>,
    /// Persisted snapshot file; `snapshot.json` in the temp dir when `None`.
    pub snapshot_file: Option<PathBuf>,
    /// `nginx_config.worker_shutdown_timeout`.
    pub shutdown_timeout: String,
    /// Run in the `traditional` role with this `deployment.admin` section
    /// (indented by 4 spaces; `{admin_port}` is replaced by the gateway's
    /// admin port). See [`GatewayOpts::with_admin`].
    pub admin: Option<String>,
    /// Extra YAML appended to config.yaml (top-level sections only).
    pub extra_yaml: String,
    /// Extra entries of `plugin_attr` (2-space indented, next to the
    /// `prometheus` entry every test gateway has).
    pub plugin_attr_yaml: String,
    /// The encryption key to put in the data dir before start (a node
    /// sharing another one's etcd reads the secrets it wrote).
    pub data_key: Option<String>,
    /// Extra environment variables of the process.
    pub env: Vec<(String, String)>,
    /// Extra keys of the `apisix:` section (2-space indented, e.g.
    /// `"  enable_http2: false\n"`; `ssl:` is written by the harness, see
    /// [`GatewayOpts::ssl_yaml`]).
    pub apisix_yaml: String,
    /// Extra keys of `apisix.ssl` (4-space indented) next to the `listen`
    /// entry the harness writes (a free loopback port).
    pub ssl_yaml: String,
    /// Extra keys of `deployment.etcd` (4-space indented, e.g. `tls:`).
    pub etcd_yaml: String,
}

/// The admin key of gateways started with [`GatewayOpts::with_admin`].
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";
/// The viewer key of gateways started with [`GatewayOpts::with_admin`].
pub const VIEWER_KEY: &str = "test-viewer-key-0123456789abcde";

impl Default for GatewayOpts {
    fn default() -> Self {
        GatewayOpts {
            etcd_endpoint: None,
            prefix: "/apisix".into(),
            etcd_timeout: 5,
            standalone_yaml: None,
            snapshot_file: None,
            shutdown_timeout: "5s".into(),
            admin: None,
            extra_yaml: String::new(),
            plugin_attr_yaml: String::new(),
            data_key: None,
            env: Vec::new(),
            apisix_yaml: String::new(),
            ssl_yaml: String::new(),
            etcd_yaml: String::new(),
        }
    }
}

impl GatewayOpts {
    /// Watch this etcd.
    pub fn etcd(etcd: &Etcd) -> GatewayOpts {
        GatewayOpts {
            etcd_endpoint: Some(etcd.endpoint()),
            ..GatewayOpts::default()
        }
    }

    /// Standalone mode (`config_provider: yaml`) with this `apisix.yaml`.
    pub fn standalone(yaml: &str) -> GatewayOpts {
        GatewayOpts {
            standalone_yaml: Some(yaml.to_string()),
            ..GatewayOpts::default()
        }
    }

    /// Persist the snapshot at `path` (to share it between two gateway runs).
    pub fn snapshot_file(mut self, path: impl Into<PathBuf>) -> GatewayOpts {
        self.snapshot_file = Some(path.into());
        self
    }

    /// Enable the Admin API (traditional role) on a free loopback port with
    /// the keys [`ADMIN_KEY`] (admin) and [`VIEWER_KEY`] (viewer).
    pub fn with_admin(self) -> GatewayOpts {
        self.with_admin_section(&format!(
            "    admin_listen:\n      ip: 127.0.0.1\n      port: {{admin_port}}\n    admin_key:\n      - name: admin\n        key: {ADMIN_KEY}\n        role: admin\n      - name: viewer\n        key: {VIEWER_KEY}\n        role: viewer\n"
        ))
    }

    /// Enable the Admin API (traditional role) with this `deployment.admin`
    /// section body (4-space indented; `{admin_port}` is substituted).
    pub fn with_admin_section(mut self, yaml: &str) -> GatewayOpts {
        self.admin = Some(yaml.to_string());
        self
    }

    /// Append top-level YAML to config.yaml (e.g. a `plugins:` list).
    pub fn extra_yaml(mut self, yaml: &str) -> GatewayOpts {
        self.extra_yaml = yaml.to_string();
        self
    }

    /// Add entries to `plugin_attr` (2-space indented, e.g.
    /// `"  redirect:\n    https_port: 8443\n"`).
    pub fn plugin_attr(mut self, yaml: &str) -> GatewayOpts {
        self.plugin_attr_yaml = yaml.to_string();
        self
    }

    /// Use the encryption key `other` generated, as an operator gives every
    /// node sharing an etcd the same keyring.
    pub fn same_keyring_as(mut self, other: &Gateway) -> GatewayOpts {
        let key = std::fs::read_to_string(other.dir().join("data").join("encryption_key"))
            .expect("the other gateway has generated an encryption key");
        self.data_key = Some(key);
        self
    }

    /// Set an environment variable of the process.
    pub fn env(mut self, name: &str, value: &str) -> GatewayOpts {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Add keys to the `apisix:` section (2-space indented).
    pub fn apisix_yaml(mut self, yaml: &str) -> GatewayOpts {
        self.apisix_yaml.push_str(yaml);
        self
    }

    /// Add keys to `apisix.ssl` (4-space indented).
    pub fn ssl_yaml(mut self, yaml: &str) -> GatewayOpts {
        self.ssl_yaml.push_str(yaml);
        self
    }

    /// Add keys to `deployment.etcd` (4-space indented).
    pub fn etcd_yaml(mut self, yaml: &str) -> GatewayOpts {
        self.etcd_yaml.push_str(yaml);
        self
    }

    /// Set `worker_shutdown_timeout` (`"5s"`, `"500ms"`).
    pub fn shutdown_timeout(mut self, t: &str) -> GatewayOpts {
        self.shutdown_timeout = t.to_string();
        self
    }
}

/// A running gateway process.
pub struct Gateway {
    child: Option<Child>,
    dir: TempDir,
    /// Proxy port (`apisix.node_listen`).
    pub proxy_port: u16,
    /// TLS proxy port (`apisix.ssl.listen`).
    pub ssl_port: u16,
    /// Status API port.
    pub status_port: u16,
    /// Admin API port (listening only with [`GatewayOpts::with_admin`]).
    pub admin_port: u16,
    /// Prometheus export port (`plugin_attr.prometheus.export_addr`).
    pub metrics_port: u16,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl Gateway {
    /// Write the config, spawn the binary and wait until `/status` answers
    /// (not until ready: some tests start it while etcd is down).
    ///
    /// Ports are picked free but only bound by the gateway later, so a test
    /// running in parallel (another process) may take one first: a start
    /// that fails on a port in use is tried again with other ports.
    pub async fn start(opts: GatewayOpts) -> Gateway {
        for _ in 0..4 {
            match Gateway::try_start(opts.clone()).await {
                Ok(gw) => return gw,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("gateway exited at start\n--- gateway log ---\n{log}"),
            }
        }
        panic!("gateway could not get free ports in 4 attempts");
    }

    /// [`Gateway::start`] once; the log when the gateway exits at start.
    async fn try_start(opts: GatewayOpts) -> Result<Gateway, String> {
        let dir = tempfile::Builder::new()
            .prefix("strait-gw-")
            .tempdir()
            .expect("temp dir for the gateway");
        let proxy_port = free_port();
        let ssl_port = free_port();
        let status_port = free_port();
        let admin_port = free_port();
        let metrics_port = free_port();
        let snapshot = opts
            .snapshot_file
            .clone()
            .unwrap_or_else(|| dir.path().join("snapshot.json"));
        let etcd = opts
            .etcd_endpoint
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", super::closed_port()));
        let provider = if opts.standalone_yaml.is_some() {
            "yaml"
        } else {
            "etcd"
        };
        let role = match &opts.admin {
            Some(section) => format!(
                "  role: traditional\n  role_traditional:\n    config_provider: {provider}\n  admin:\n{}",
                section.replace("{admin_port}", &admin_port.to_string())
            ),
            None => format!("  role: data_plane\n  role_data_plane:\n    config_provider: {provider}\n"),
        };
        let config = format!(
            "apisix:\n  node_listen:\n    - ip: 127.0.0.1\n      port: {proxy_port}\n  status:\n    ip: 127.0.0.1\n    port: {status_port}\n\
             {apisix_extra}  ssl:\n    listen:\n      - ip: 127.0.0.1\n        port: {ssl_port}\n{ssl_extra}\
             nginx_config:\n  worker_processes: 2\n  error_log_level: info\n  worker_shutdown_timeout: {shutdown}\n\
             deployment:\n{role}  etcd:\n    host:\n      - \"{etcd}\"\n    prefix: {prefix}\n    timeout: {timeout}\n    resync_delay: 0.2\n{etcd_extra}\
             plugin_attr:\n  prometheus:\n    export_addr:\n      ip: 127.0.0.1\n      port: {metrics_port}\n{attrs}\
             strait:\n  data_dir: {data_dir}\n  snapshot_file: {snapshot}\n{extra}",
            shutdown = opts.shutdown_timeout,
            prefix = opts.prefix,
            timeout = opts.etcd_timeout,
            snapshot = snapshot.display(),
            data_dir = dir.path().join("data").display(),
            extra = opts.extra_yaml,
            attrs = opts.plugin_attr_yaml,
            apisix_extra = opts.apisix_yaml,
            ssl_extra = opts.ssl_yaml,
            etcd_extra = opts.etcd_yaml,
        );
        if let Some(key) = &opts.data_key {
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data).expect("create the data dir");
            std::fs::write(data.join("encryption_key"), key).expect("write the encryption key");
        }
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).expect("write config.yaml");
        if let Some(yaml) = &opts.standalone_yaml {
            std::fs::write(dir.path().join("apisix.yaml"), yaml).expect("write apisix.yaml");
        }
        let log_path = dir.path().join("gateway.log");
        let log = std::fs::File::create(&log_path).expect("gateway log file");
        let child = Command::new(env!("CARGO_BIN_EXE_strait"))
            .arg("-c")
            .arg(&config_path)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn the strait binary");
        let mut gw = Gateway {
            child: Some(child),
            dir,
            proxy_port,
            ssl_port,
            status_port,
            admin_port,
            metrics_port,
            log_path,
            exit: None,
        };
        let status_url = gw.status_url("/status");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = gw.try_exit() {
                return Err(format!("exit {status}\n{}", gw.log()));
            }
            let probe = get(&status_url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if matches!(probe, Ok(ref r) if r.status == 200) {
                return Ok(gw);
            }
            if Instant::now() > deadline {
                panic!(
                    "gateway /status did not answer within 15 s\n--- gateway log ---\n{}",
                    gw.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The temp dir holding config.yaml, apisix.yaml, the log and the snapshot.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The gateway's `config.yaml` (tests may rewrite it before a reload).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// `http://127.0.0.1:{proxy port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.proxy_port)
    }

    /// `http://127.0.0.1:{status port}{path}`.
    pub fn status_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.status_port)
    }

    /// `http://127.0.0.1:{metrics port}/apisix/prometheus/metrics`.
    pub fn metrics_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/apisix/prometheus/metrics",
            self.metrics_port
        )
    }

    /// `http://127.0.0.1:{admin port}/apisix/admin{path}`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/apisix/admin{path}", self.admin_port)
    }

    /// Wait until `/status/ready` is 200 (a first configuration is loaded).
    pub async fn wait_ready(&self) {
        let url = self.status_url("/status/ready");
        let ok = wait_until(Duration::from_secs(15), || async {
            matches!(get(&url).send().await, Ok(r) if r.status == 200)
        })
        .await;
        gw_assert!(
            self,
            ok.is_some(),
            "gateway did not become ready within 15 s"
        );
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(c) = self.child.as_mut() {
                self.exit = c.try_wait().ok().flatten();
            }
        }
        self.exit
    }

    /// Wait (up to `limit`) for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_exit() {
                return s;
            }
            gw_assert!(
                self,
                Instant::now() < deadline,
                "gateway did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::env::var_os("STRAIT_TEST_SHOW_LOG").is_some() {
            eprintln!(
                "--- gateway log ({}) ---\n{}",
                self.dir().display(),
                self.log()
            );
        }
        if let Some(mut c) = self.child.take() {
            if self.exit.is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// Poll `check` every 5 ms until it is true or `timeout` passes; returns how
/// long it took, or `None` on timeout.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
