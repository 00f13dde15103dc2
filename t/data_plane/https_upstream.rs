//! HTTPS upstreams: TLS to the node through rustls, SNI from the Host sent
//! upstream, `tls.verify` off by default (APISIX's default) and on when asked.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::etcd_gateway;
use crate::common::get;

/// A TLS upstream with a self-signed certificate for `localhost`; answers
/// `secure <sni>` so tests see which server name the gateway sent.
async fn tls_upstream() -> u16 {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let pkey = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], pkey)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                let svc = service_fn(move |_req| {
                    let body = format!("secure {sni}");
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_and_without_verification() {
    let port = tls_upstream().await;
    let node = json!({ format!("127.0.0.1:{port}"): 1 });
    let (_etcd, gw) = etcd_gateway(&[
        (
            "routes/1",
            json!({"uri": "/secure", "upstream": {"scheme": "https", "nodes": node,
                   "pass_host": "rewrite", "upstream_host": "localhost"}}),
        ),
        (
            "routes/2",
            json!({"uri": "/verified", "upstream": {"scheme": "https", "nodes": node,
                   "pass_host": "rewrite", "upstream_host": "localhost", "tls": {"verify": true}}}),
        ),
    ])
    .await;

    for _ in 0..3 {
        let r = get(gw.url("/secure")).send().await.unwrap();
        gw_assert!(
            gw,
            r.status == 200 && r.body == "secure localhost",
            "an HTTPS upstream (self-signed, verify off) should answer through TLS with SNI `localhost`, got {} {:?}",
            r.status,
            r.body
        );
    }
    // A self-signed certificate is not trusted when verification is on.
    let r = get(gw.url("/verified")).send().await.unwrap();
    gw_assert!(
        gw,
        r.status == 502
            && r.json()["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains("TLS")),
        "verify: true against a self-signed certificate should give 502 naming TLS, got {} {:?}",
        r.status,
        r.body
    );
}
