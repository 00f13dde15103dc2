//! TLS termination and HTTP/2: certificates from `ssls` chosen by SNI
//! (exact, wildcard, RSA + ECDSA, fallback), rotation without failed
//! handshakes, per-object TLS versions, HTTP/2 through ALPN and h2c,
//! client-certificate verification, upstream TLS, gRPC, and etcd over TLS.

mod control_plane;
mod grpc;
mod http2;
mod mtls;
mod rotation;
mod sni;
mod upstream;

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::tls::{Issued, TlsClient};
use crate::common::{get, wait_until, Gateway};

/// An SSL object serving `issued` for `snis`.
pub fn ssl(issued: &Issued, snis: &[&str]) -> Value {
    json!({"cert": issued.cert, "key": issued.key, "snis": snis})
}

/// Wait until a handshake for `sni` on the TLS port presents `expected`.
pub async fn wait_served(gw: &Gateway, sni: &str, expected: &Issued) {
    let client = TlsClient::any_cert(&[b"http/1.1"]);
    let ok = wait_until(Duration::from_secs(10), || {
        let client = client.clone();
        async move {
            matches!(client.handshake(gw.ssl_port, sni).await, Ok(h) if h.peer == expected.der)
        }
    })
    .await;
    gw_assert!(
        gw,
        ok.is_some(),
        "{sni}: the expected certificate was never served"
    );
}

/// The value of one sample of the metrics export (`name{labels}` as written).
pub async fn metric(gw: &Gateway, sample: &str) -> Option<f64> {
    let text = get(gw.metrics_url()).send().await.ok()?.body;
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
}
