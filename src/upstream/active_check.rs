//! Active health probes: one task per upstream version with `checks.active`,
//! probing each node at the healthy or unhealthy interval. The task holds only
//! a weak reference, so it ends by itself when that upstream version leaves
//! service.

use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use super::connector::{connect, TlsMode};
use super::health::{Health, Outcome};

/// Probe loop; returns when the health state is dropped.
pub async fn run(health: Weak<Health>) {
    let mut due: Vec<Instant> = match health.upgrade() {
        Some(h) => vec![Instant::now(); h.targets.len()],
        None => return,
    };
    loop {
        let next = due.iter().min().copied().unwrap_or_else(Instant::now);
        tokio::time::sleep_until(next.max(Instant::now() + Duration::from_millis(50))).await;
        let Some(h) = health.upgrade() else { return };
        let now = Instant::now();
        let mut probes = Vec::new();
        for (i, at) in due.iter_mut().enumerate() {
            if *at > now {
                continue;
            }
            match h.probe_interval(i) {
                Some(iv) => {
                    *at = now + iv;
                    probes.push(i);
                }
                // Probing disabled for this state: look again in a second.
                None => *at = now + Duration::from_secs(1),
            }
        }
        let concurrency = h
            .active
            .as_ref()
            .map(|(a, _)| a.concurrency.max(1) as usize)
            .unwrap_or(1);
        for chunk in probes.chunks(concurrency) {
            // Probes of one chunk run together so their timeouts overlap.
            let mut set = tokio::task::JoinSet::new();
            for &i in chunk {
                let h = h.clone();
                set.spawn(async move { (i, probe(&h, i).await) });
            }
            while let Some(done) = set.join_next().await {
                let Ok((i, outcome)) = done else { continue };
                let target = &h.targets[i];
                let auth = format!("{}:{}", target.host, target.port);
                h.report_active(i, outcome, &auth);
            }
        }
        drop(h);
    }
}

async fn probe(h: &Health, i: usize) -> Outcome {
    let Some((conf, _)) = &h.active else {
        return Outcome::TcpFailure;
    };
    let target = &h.targets[i];
    let timeout = Duration::from_secs_f64(conf.timeout.max(0.001));
    let tls = match conf.kind.as_str() {
        "https" => TlsMode::Tls {
            verify: conf.https_verify_certificate,
        },
        _ => TlsMode::Plain,
    };
    let work = async {
        let stream = match connect(
            &target.host,
            target.port,
            &tls,
            &super::connector::ClientTls::default(),
            Some(&target.host_header),
            timeout,
        )
        .await
        {
            Ok(s) => s,
            Err(super::connector::ConnectError::Timeout { .. }) => return Outcome::Timeout,
            Err(_) => return Outcome::TcpFailure,
        };
        if conf.kind == "tcp" {
            return Outcome::Connected;
        }
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            return Outcome::TcpFailure;
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = http::Request::builder()
            .method(conf.http_method.as_str())
            .uri(conf.http_path.as_str())
            .header(http::header::HOST, target.host_header.as_str())
            .header(http::header::USER_AGENT, "strait-healthcheck")
            .header(http::header::CONNECTION, "close");
        for line in &conf.req_headers {
            if let Some((k, v)) = line.split_once(':') {
                req = req.header(k.trim(), v.trim());
            }
        }
        let body = Full::new(Bytes::from(conf.http_req_body.clone().unwrap_or_default()));
        let Ok(req) = req.body(body) else {
            return Outcome::TcpFailure;
        };
        match sender.send_request(req).await {
            Ok(resp) => Outcome::Status(resp.status().as_u16()),
            Err(_) => Outcome::TcpFailure,
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(o) => o,
        Err(_) => Outcome::Timeout,
    }
}
