//! Reload benchmark: how long one route change takes to be served when
//! 100,000 routes are loaded.
//!
//! Part 1 (in-process): the config store applies one changed route and builds
//! the next snapshot (incl. the router) — the data plane's own cost.
//! Part 2 (end to end, needs `etcd` on PATH and `target/release/strait`): a
//! real etcd with N routes and a real gateway; write one route with the etcd
//! client (or a `PUT` through the gateway's Admin API) and poll the gateway
//! until the new route answers. Reported as p50/p99/max over repeated writes,
//! for 1 route and for N routes loaded.
//!
//! Run: `cargo bench --bench reload` (env `STRAIT_BENCH_ROUTES`, default 100000;
//! `STRAIT_BENCH_WRITES`, default 100).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait::config::store::{Changes, ConfigEvent, ConfigStore, RawItem};

#[path = "fixtures.rs"]
mod fixtures;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{label}: n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
        v.len(),
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

fn in_process(n: usize) {
    let mut store = ConfigStore::new("/apisix");
    let items = fixtures::store_items(n, 1980);
    let t = Instant::now();
    let changes = store.replace_all(items, n as i64 + 2);
    let compile = t.elapsed();
    let t = Instant::now();
    let mut snap = store.snapshot(None, changes);
    let build = t.elapsed();
    println!(
        "in-process, {n} routes: compile all {:.1}ms, first snapshot (router build) {:.1}ms",
        compile.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e3
    );
    let mut times = Vec::new();
    for k in 0..30 {
        let i = (k * 7919) % n;
        let rev = n as i64 + 10 + k as i64;
        let t = Instant::now();
        let c = store.apply(ConfigEvent::Put(RawItem {
            key: format!("/apisix/routes/{i}"),
            value: Arc::from(format!(
                r#"{{"uri":"/changed{k}","upstream":{{"nodes":{{"127.0.0.1:1980":1}}}}}}"#
            )),
            create_revision: i as i64 + 2,
            mod_revision: rev,
        }));
        store.set_revision(rev);
        snap = store.snapshot(
            Some(&snap),
            Changes {
                routing: c.routing,
                any: c.any,
            },
        );
        times.push(t.elapsed());
        let path = format!("/changed{k}");
        assert!(
            snap.router.find(None, &path, |_, _| true).is_some(),
            "the changed route must be routable"
        );
    }
    summary(
        &format!("in-process, one route change with {n} routes (apply + snapshot)"),
        times,
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Status code of `GET path` (new connection, `Connection: close`).
fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The admin key of the benchmarked gateway.
const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef";

/// `GET /apisix/admin{path}`; the response status and body size.
fn admin_get(port: u16, path: &str) -> Result<(u16, usize), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /apisix/admin{path} HTTP/1.1\r\nHost: bench\r\nX-API-KEY: {ADMIN_KEY}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "bad admin answer".to_string())?;
    Ok((code, resp.len()))
}

/// `PUT /apisix/admin{path}` with `body`; the response status.
fn admin_put(port: u16, path: &str, body: &str) -> Result<u16, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "PUT /apisix/admin{path} HTTP/1.1\r\nHost: bench\r\nX-API-KEY: {ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad admin answer: {resp}"))
}

/// Poll `path` until it answers 200; the time since `t`.
fn until_served(proxy: u16, path: &str, t: Instant) -> Result<Duration, String> {
    loop {
        if get_status(proxy, path) == Some(200) {
            return Ok(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err(format!("{path} not served within 10 s"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn end_to_end(n: usize, writes: usize) -> Result<(), String> {
    let strait_bin = std::env::var("STRAIT_BIN").unwrap_or_else(|_| "target/release/strait".into());
    if !std::path::Path::new(&strait_bin).exists() {
        return Err(format!("{strait_bin} not built (cargo build --release)"));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (cport, pport) = (free_port(), free_port());
    let endpoint = format!("127.0.0.1:{cport}");
    let _etcd = Proc(
        Command::new("etcd")
            .args([
                "--data-dir",
                &dir.path().join("etcd").to_string_lossy(),
                "--listen-client-urls",
                &format!("http://{endpoint}"),
                "--advertise-client-urls",
                &format!("http://{endpoint}"),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{pport}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{pport}"),
                "--initial-cluster",
                &format!("default=http://127.0.0.1:{pport}"),
                "--quota-backend-bytes",
                "4294967296",
                "--logger",
                "zap",
                "--log-level",
                "error",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start etcd: {e}"))?,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let upstream = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let up_port = upstream.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for s in upstream.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while let Ok(k) = s.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
    let mut client = rt.block_on(async {
        for _ in 0..100 {
            if let Ok(c) = etcd_client::Client::connect([endpoint.as_str()], None).await {
                let mut c2 = c.clone();
                if c2.get("x", None).await.is_ok() {
                    return Ok(c);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("etcd did not start".to_string())
    })?;

    let config = dir.path().join("config.yaml");
    let (proxy, status, admin) = (free_port(), free_port(), free_port());
    std::fs::write(
        &config,
        format!(
            "apisix:\n  node_listen: {proxy}\n  status: {{ip: 127.0.0.1, port: {status}}}\n  ssl: {{enable: false}}\nnginx_config:\n  worker_processes: 1\n  error_log_level: error\ndeployment:\n  admin:\n    admin_listen: {{ip: 127.0.0.1, port: {admin}}}\n    admin_key: [{{name: admin, key: {ADMIN_KEY}, role: admin}}]\n  etcd:\n    host: [\"http://{endpoint}\"]\nstrait:\n  data_dir: \"{}\"\n  snapshot_file: \"{}\"\n",
            dir.path().join("data").display(),
            dir.path().join("snap.json").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let _gw = Proc(
        Command::new(&strait_bin)
            .args(["-c", &config.to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );

    for loaded in [1usize, n] {
        // Fill etcd up to `loaded` routes (128 operations per transaction: etcd's limit).
        let t = Instant::now();
        rt.block_on(async {
            let mut ops = Vec::new();
            ops.push(etcd_client::TxnOp::put(
                "/apisix/upstreams/1",
                format!(r#"{{"nodes":{{"127.0.0.1:{up_port}":1}}}}"#),
                None,
            ));
            for i in 0..loaded {
                ops.push(etcd_client::TxnOp::put(
                    format!("/apisix/routes/{i}"),
                    fixtures::route_json(i, up_port),
                    None,
                ));
                if ops.len() == 128 {
                    let batch = std::mem::take(&mut ops);
                    client
                        .txn(etcd_client::Txn::new().and_then(batch))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            if !ops.is_empty() {
                client
                    .txn(etcd_client::Txn::new().and_then(ops))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })?;
        // Wait until the gateway serves the last loaded route.
        let last = if loaded == 1 {
            "/api/v1/svc0/items".to_string()
        } else {
            format!("/api/v1/svc{}/items", (loaded - 1) / 4 * 4)
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while get_status(proxy, &last) != Some(200) {
            if Instant::now() > deadline {
                return Err(format!("gateway never served {last}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        println!(
            "end-to-end: {loaded} routes written and served in {:.1}s",
            t.elapsed().as_secs_f64()
        );

        let mut times = Vec::new();
        let mut after_write = Vec::new();
        for k in 0..writes {
            let path = format!("/probe{loaded}-{k}");
            let value =
                format!(r#"{{"uri":"{path}","upstream":{{"nodes":{{"127.0.0.1:{up_port}":1}}}}}}"#);
            let t = Instant::now();
            rt.block_on(client.put("/apisix/routes/probe", value, None))
                .map_err(|e| e.to_string())?;
            let written = t.elapsed();
            let total = until_served(proxy, &path, t)?;
            times.push(total);
            after_write.push(total - written);
        }
        summary(
            &format!("end-to-end, etcd put -> first 200 with {loaded} routes loaded"),
            times,
        );
        summary(
            &format!("  of which after the put returned ({loaded} routes)"),
            std::mem::take(&mut after_write),
        );

        let mut times = Vec::new();
        for k in 0..writes {
            let path = format!("/admin{loaded}-{k}");
            let value =
                format!(r#"{{"uri":"{path}","upstream":{{"nodes":{{"127.0.0.1:{up_port}":1}}}}}}"#);
            let t = Instant::now();
            let code = admin_put(admin, "/routes/admin-probe", &value)?;
            if code != 200 && code != 201 {
                return Err(format!("Admin API answered {code}"));
            }
            let answered = t.elapsed();
            let total = until_served(proxy, &path, t)?;
            times.push(total);
            after_write.push(total - answered);
        }
        summary(
            &format!("end-to-end, Admin API PUT -> first 200 with {loaded} routes loaded"),
            times,
        );
        summary(
            &format!("  of which after the Admin API answered ({loaded} routes)"),
            std::mem::take(&mut after_write),
        );

        // Listing: a plain page (etcd sorts and limits) and a filtered page
        // (the whole directory is read and filtered).
        for (label, path) in [
            ("plain page", "/routes?page=1&page_size=10"),
            ("filtered page", "/routes?page=1&page_size=10&uri=svc1"),
        ] {
            let mut times = Vec::new();
            for _ in 0..10 {
                let t = Instant::now();
                let (code, _) = admin_get(admin, path)?;
                if code != 200 {
                    return Err(format!("GET {path} answered {code}"));
                }
                times.push(t.elapsed());
            }
            summary(
                &format!("Admin API GET {label} ({path}) with {loaded} routes"),
                times,
            );
        }
    }
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("STRAIT_BENCH_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1000 } else { 100_000 });
    let writes: usize = std::env::var("STRAIT_BENCH_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5 } else { 100 });
    in_process(n);
    if quick {
        return;
    }
    if let Err(e) = end_to_end(n, writes) {
        println!("end-to-end part skipped: {e}");
    }
}
