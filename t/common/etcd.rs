//! A real etcd (`/usr/bin/etcd`, v3.4) for one test: free loopback client and
//! peer ports, a temp data dir, `--log-level error --logger zap`; started and
//! waited for until it answers. It can be stopped (SIGKILL, as a crash or a
//! lost node looks to the gateway), restarted on the same ports and data,
//! restarted empty (a wiped or restored cluster), or restarted on a private
//! client port the gateway does not know about (to change etcd "behind the
//! gateway's back"). Killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, CompactionOptions, ConnectOptions, GetOptions};
use tempfile::TempDir;

use super::free_port;

/// TLS of an etcd started with [`Etcd::start_tls`]: PEM files in its dir.
pub struct EtcdTls {
    /// The CA that issued etcd's certificate and the clients'.
    pub ca: PathBuf,
    /// A client certificate etcd accepts.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// Require client certificates (`--client-cert-auth`).
    pub client_auth: bool,
}

/// A running (or stopped) single-member etcd.
pub struct Etcd {
    tls: Option<EtcdTls>,
    name: String,
    client_port: u16,
    active_port: u16,
    peer_port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Etcd {
    /// Start a fresh etcd and wait until it answers.
    pub async fn start() -> Etcd {
        Etcd::start_with(None).await
    }

    /// Start an etcd serving clients over TLS with a certificate for
    /// `etcd.test` and `127.0.0.1` from `pki`; with `client_auth`, it also
    /// requires client certificates issued by `pki`.
    pub async fn start_tls(pki: &super::tls::Pki, client_auth: bool) -> Etcd {
        let server = pki.server(&["etcd.test", "127.0.0.1"], super::tls::KeyKind::Ecdsa);
        let client = pki.client("strait");
        Etcd::start_with(Some((pki.ca.clone(), server, client, client_auth))).await
    }

    /// Start with TLS when given (CA, server and client certificates, client auth).
    async fn start_with(
        tls: Option<(String, super::tls::Issued, super::tls::Issued, bool)>,
    ) -> Etcd {
        let dir = tempfile::Builder::new()
            .prefix("strait-etcd-")
            .tempdir()
            .expect("temp dir for etcd");
        let tls = tls.map(|(ca, server, client, client_auth)| {
            let write = |name: &str, text: &str| {
                let p = dir.path().join(name);
                std::fs::write(&p, text).expect("write a PEM file");
                p
            };
            write("server.crt", &server.cert);
            write("server.key", &server.key);
            EtcdTls {
                ca: write("ca.pem", &ca),
                client_cert: write("client.crt", &client.cert),
                client_key: write("client.key", &client.key),
                client_auth,
            }
        });
        let client_port = free_port();
        let mut etcd = Etcd {
            tls,
            name: format!("n{client_port}"),
            client_port,
            active_port: client_port,
            peer_port: free_port(),
            dir,
            child: None,
        };
        etcd.spawn(client_port).await;
        etcd
    }

    /// `http(s)://127.0.0.1:{client port}` — what the gateway is configured with.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Its TLS files, when started with [`Etcd::start_tls`].
    pub fn tls(&self) -> Option<&EtcdTls> {
        self.tls.as_ref()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// etcd's own log (errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn spawn(&mut self, client_port: u16) {
        assert!(self.child.is_none(), "etcd is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("etcd log file");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new("etcd");
        if let Some(tls) = &self.tls {
            let dir = tls.ca.parent().expect("the PEM files' dir");
            cmd.arg("--cert-file")
                .arg(dir.join("server.crt"))
                .arg("--key-file")
                .arg(dir.join("server.key"));
            if tls.client_auth {
                cmd.arg("--client-cert-auth")
                    .arg("--trusted-ca-file")
                    .arg(&tls.ca);
            }
        }
        let child = cmd
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("{}={peer_url}", self.name))
            .arg("--log-level")
            .arg("error")
            .arg("--logger")
            .arg("zap")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .expect("cannot run `etcd` (is /usr/bin/etcd installed?)");
        self.child = Some(child);
        self.active_port = client_port;
        self.wait_up().await;
    }

    async fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("etcd exited at start with {status}:\n{}", self.log());
            }
            if let Ok(mut c) = self.client().await {
                let probe = tokio::time::timeout(
                    Duration::from_secs(1),
                    c.get("/strait-harness-probe", None),
                )
                .await;
                if matches!(probe, Ok(Ok(_))) {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("etcd did not answer within 20 s:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client on the port etcd currently listens on.
    async fn client(&self) -> Result<Client, etcd_client::Error> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        let endpoint = match &self.tls {
            Some(tls) => {
                let read = |p: &PathBuf| std::fs::read_to_string(p).expect("read a PEM file");
                let mut o = etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(read(&tls.ca)))
                    .domain_name("etcd.test");
                if tls.client_auth {
                    o = o.identity(etcd_client::Identity::from_pem(
                        read(&tls.client_cert),
                        read(&tls.client_key),
                    ));
                }
                opts = opts.with_tls(o);
                format!("https://127.0.0.1:{}", self.active_port)
            }
            None => format!("127.0.0.1:{}", self.active_port),
        };
        Client::connect([endpoint], Some(opts)).await
    }

    async fn must_client(&self) -> Client {
        self.client()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to etcd: {e}"))
    }

    /// Write `value` at `key`; returns the new revision.
    pub async fn put(&self, key: &str, value: &str) -> i64 {
        let resp = self
            .must_client()
            .await
            .put(key, value, None)
            .await
            .unwrap_or_else(|e| panic!("etcd put {key}: {e}"));
        resp.header().map(|h| h.revision()).unwrap_or(0)
    }

    /// The value stored at `key`, if any.
    pub async fn get(&self, key: &str) -> Option<String> {
        let resp = self
            .must_client()
            .await
            .get(key, None)
            .await
            .unwrap_or_else(|e| panic!("etcd get {key}: {e}"));
        resp.kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
    }

    /// Delete `key`; returns the new revision.
    pub async fn delete(&self, key: &str) -> i64 {
        let resp = self
            .must_client()
            .await
            .delete(key, None)
            .await
            .unwrap_or_else(|e| panic!("etcd delete {key}: {e}"));
        resp.header().map(|h| h.revision()).unwrap_or(0)
    }

    /// The current store revision.
    pub async fn revision(&self) -> i64 {
        let resp = self
            .must_client()
            .await
            .get("/", Some(GetOptions::new().with_prefix().with_count_only()))
            .await
            .unwrap_or_else(|e| panic!("etcd get: {e}"));
        resp.header().map(|h| h.revision()).unwrap_or(0)
    }

    /// Compact history up to `revision`, physically (waits until it is applied).
    pub async fn compact(&self, revision: i64) {
        self.must_client()
            .await
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
            .unwrap_or_else(|e| panic!("etcd compact {revision}: {e}"));
    }

    /// Kill etcd (SIGKILL) and wait for it: connections drop at once.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same ports and data dir.
    pub async fn restart(&mut self) {
        self.stop();
        let port = self.client_port;
        self.spawn(port).await;
    }

    /// Replace it with a brand-new, empty etcd on the same ports (its data
    /// dir wiped): to the gateway, a cluster restored to an older revision.
    pub async fn restart_empty(&mut self) {
        self.stop();
        std::fs::remove_dir_all(self.data_dir()).expect("wipe the etcd data dir");
        let port = self.client_port;
        self.spawn(port).await;
    }

    /// Start it again on the same data dir but a client port the gateway does
    /// not know; [`put`](Self::put) and friends use that port until
    /// [`restart`](Self::restart) moves etcd back.
    pub async fn restart_on_private_port(&mut self) {
        self.stop();
        let port = free_port();
        self.spawn(port).await;
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
