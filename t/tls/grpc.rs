//! gRPC through the proxy: a client speaking HTTP/2 (over TLS with ALPN, or
//! h2c) calls a unary method on a gRPC echo server behind a `scheme: grpc`
//! (cleartext HTTP/2) or `scheme: grpcs` (HTTP/2 over TLS) upstream. The
//! wire format is gRPC's own: length-prefixed messages, `application/grpc`,
//! and the status in trailers, which must reach the client.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

use super::{ssl, wait_served};
use crate::common::tls::{HttpConn, KeyKind, Pki, TlsClient};
use crate::common::wait_until;
use crate::plugins::Env;

/// One gRPC message frame: uncompressed flag, length, payload.
fn frame(payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.put_u8(0);
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    b.freeze()
}

/// The echo method: answers the request's message with `echo: ` in front,
/// status in trailers; the `:authority` seen is sent back as a header.
async fn echo(req: Request<Incoming>) -> Result<Response<StreamBody<EchoStream>>, Infallible> {
    let ok = req.headers().get("content-type").map(|v| v.as_bytes()) == Some(b"application/grpc")
        && req.headers().get("te").map(|v| v.as_bytes()) == Some(b"trailers")
        && req.uri().path() == "/echo.Echo/Say";
    let authority = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let (status, reply) = match (ok, body.get(5..)) {
        (true, Some(msg)) => ("0", frame(&[b"echo: ", msg].concat())),
        _ => ("3", Bytes::new()),
    };
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    trailers.insert("grpc-message", HeaderValue::from_static("done"));
    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
        vec![Ok(Frame::data(reply)), Ok(Frame::trailers(trailers))];
    let mut resp = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    resp.headers_mut()
        .insert("x-authority", HeaderValue::from_str(&authority).unwrap());
    Ok(resp)
}

type EchoStream = futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

/// A gRPC echo server: h2c, or TLS (ALPN h2) with a certificate from `pki`.
async fn grpc_server(tls: Option<&Pki>) -> u16 {
    let acceptor = tls.map(|pki| {
        use rustls::pki_types::pem::PemObject;
        let cert = pki.server(&["grpc.backend"], KeyKind::Ecdsa);
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der.clone()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).unwrap(),
        )
        .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                let svc = hyper::service::service_fn(echo);
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(tcp).await {
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    port
}

/// Call `/echo.Echo/Say` with `msg`; the reply message, `grpc-status` and the authority seen.
async fn say(
    conn: &mut HttpConn,
    host: &str,
    msg: &str,
) -> Result<(String, String, String), String> {
    let req = Request::post("/echo.Echo/Say")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(frame(msg.as_bytes())))
        .unwrap();
    let resp = conn.send(host, req).await?;
    if resp.status() != 200 {
        return Err(format!("HTTP status {}", resp.status()));
    }
    let authority = resp
        .headers()
        .get("x-authority")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no trailers")
        .to_string();
    let body = collected.to_bytes();
    let reply = String::from_utf8_lossy(body.get(5..).unwrap_or_default()).into_owned();
    Ok((reply, status, authority))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_echo_through_grpc_and_grpcs_upstreams() {
    let backend_ca = Pki::new("gRPC backend CA");
    let plain = grpc_server(None).await;
    let secure = grpc_server(Some(&backend_ca)).await;
    let env = Env::start().await;
    let gw = &env.gw;
    let routes = [
        (
            "1",
            json!({"uri": "/echo.Echo/*", "hosts": ["grpc.test"],
                     "upstream": {"scheme": "grpc", "nodes": {format!("127.0.0.1:{plain}"): 1}}}),
        ),
        (
            "2",
            json!({"uri": "/echo.Echo/*", "hosts": ["grpcs.test"],
                     "upstream": {"scheme": "grpcs", "nodes": {format!("127.0.0.1:{secure}"): 1},
                                  "pass_host": "rewrite", "upstream_host": "grpc.backend"}}),
        ),
    ];
    for (id, body) in routes {
        let r = env.admin.put(&format!("/routes/{id}"), body).await;
        assert_status!(gw, r, 201, "PUT /routes/{id}");
    }
    let pki = Pki::new("strait test CA");
    let cert = pki.server(&["grpc.test", "grpcs.test"], KeyKind::Ecdsa);
    let r = env
        .admin
        .put("/ssls/1", ssl(&cert, &["grpc.test", "grpcs.test"]))
        .await;
    assert_status!(gw, r, 201, "PUT /ssls/1");
    wait_served(gw, "grpc.test", &cert).await;

    // Over TLS with ALPN h2, to the cleartext and the TLS upstream.
    let client = TlsClient::new(&pki.ca, &[b"h2"], None);
    for host in ["grpc.test", "grpcs.test"] {
        let port = gw.ssl_port;
        let hs = client.handshake(port, host).await.unwrap();
        let mut conn = HttpConn::open(hs).await.unwrap();
        let answered = wait_until(std::time::Duration::from_secs(10), || {
            let c = client.clone();
            async move {
                let Ok(hs) = c.handshake(port, host).await else {
                    return false;
                };
                let Ok(mut conn) = HttpConn::open(hs).await else {
                    return false;
                };
                say(&mut conn, host, "ping").await.is_ok()
            }
        })
        .await;
        gw_assert!(
            gw,
            answered.is_some(),
            "{host}: the gRPC route never answered"
        );
        for i in 0..3 {
            let (reply, status, authority) = say(&mut conn, host, &format!("hello {i}"))
                .await
                .unwrap_or_else(|e| panic!("{host}: {e}\n{}", gw.log_tail(30)));
            assert_eq!(reply, format!("echo: hello {i}"), "{host}");
            assert_eq!(status, "0", "{host}: grpc-status from the trailers");
            let expected = if host == "grpcs.test" {
                "grpc.backend"
            } else {
                host
            };
            assert_eq!(
                authority, expected,
                "{host}: :authority seen by the backend"
            );
        }
    }

    // h2c with prior knowledge on the plain listener.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.proxy_port))
        .await
        .unwrap();
    let (send, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(c);
    let mut conn = HttpConn::H2(send);
    let (reply, status, _) = say(&mut conn, "grpc.test", "over h2c").await.unwrap();
    assert_eq!((reply.as_str(), status.as_str()), ("echo: over h2c", "0"));
}
