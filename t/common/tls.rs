//! TLS for tests: a private CA generated at test time (rcgen) that issues
//! server and client certificates (ECDSA P-256 keys generated on the spot,
//! or RSA from the one fixed key in `t/fixtures/tls/`, since rcgen cannot
//! generate RSA keys with ring), and a TLS client that reports what the
//! handshake gave (certificate, ALPN, version) and speaks HTTP/1.1 or
//! HTTP/2 over it.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The RSA key used for RSA certificates.
const RSA_KEY: &str = include_str!("../fixtures/tls/rsa-2048.key");

/// The key type of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA 2048.
    Rsa,
}

/// A certificate and its key, as PEM (what the Admin API takes) and DER.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate PEM.
    pub cert: String,
    /// Private key PEM.
    pub key: String,
    /// Certificate DER (to compare with what a server presented).
    pub der: CertificateDer<'static>,
    /// The intermediate CAs between it and the root, nearest first.
    pub chain: Vec<CertificateDer<'static>>,
}

/// A test certificate authority.
pub struct Pki {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub ca: String,
    /// For an intermediate CA: its certificate and those above it, up to
    /// (not including) the root.
    chain: Vec<CertificateDer<'static>>,
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = dn(name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let ca = issuer.pem();
        Pki {
            issuer,
            ca,
            chain: Vec::new(),
        }
    }

    /// An intermediate CA issued by this one.
    pub fn intermediate(&self, name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = dn(name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.issuer).unwrap();
        let mut chain = vec![issuer.der().clone()];
        chain.extend(self.chain.iter().cloned());
        Pki {
            ca: issuer.pem(),
            issuer,
            chain,
        }
    }

    /// A server certificate for `names`.
    pub fn server(&self, names: &[&str], kind: KeyKind) -> Issued {
        self.server_with(names, kind, |_| {})
    }

    /// A server certificate for `names`, its parameters adjusted by `adjust`
    /// (an expiry date in the past, say).
    pub fn server_with(
        &self,
        names: &[&str],
        kind: KeyKind,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = dn(names.first().copied().unwrap_or("server"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        adjust(&mut params);
        self.issue(params, kind)
    }

    /// A client certificate with subject `CN=<cn>,O=strait tests`.
    pub fn client(&self, cn: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "strait tests");
        name.push(DnType::CommonName, cn);
        params.distinguished_name = name;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, KeyKind::Ecdsa)
    }

    fn issue(&self, params: CertificateParams, kind: KeyKind) -> Issued {
        let key = match kind {
            KeyKind::Ecdsa => KeyPair::generate().unwrap(),
            KeyKind::Rsa => KeyPair::from_pem(RSA_KEY).unwrap(),
        };
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().clone(),
            chain: self.chain.clone(),
        }
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name
}

/// How a test client connects.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
}

/// What one handshake established.
pub struct Handshake {
    /// The stream, ready for HTTP.
    pub stream: TlsStream<TcpStream>,
    /// The server's certificate.
    pub peer: CertificateDer<'static>,
    /// The ALPN protocol agreed.
    pub alpn: Option<Vec<u8>>,
    /// `TLSv1_2` or `TLSv1_3`.
    pub version: String,
}

/// An HTTP answer over TLS.
#[derive(Debug)]
pub struct TlsResp {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: http::Version,
}

impl TlsClient {
    /// A client trusting `ca` (PEM), offering `alpn`, with an optional client certificate.
    pub fn new(ca: &str, alpn: &[&[u8]], client_cert: Option<&Issued>) -> TlsClient {
        Self::build(ca, alpn, client_cert, None)
    }

    /// A client that takes any server certificate (to see which one a
    /// server picks for a name its certificate may not cover).
    pub fn any_cert(alpn: &[&[u8]]) -> TlsClient {
        Self::any_cert_with_schemes(alpn, None)
    }

    /// [`TlsClient::any_cert`] offering only `schemes` for the server's
    /// signature (only ECDSA, say, to see which certificate a server with
    /// an RSA and an ECDSA one picks).
    pub fn any_cert_with_schemes(
        alpn: &[&[u8]],
        schemes: Option<&[rustls::SignatureScheme]>,
    ) -> TlsClient {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(keep) = schemes {
            let algs = provider.signature_verification_algorithms;
            let mapping: Vec<_> = algs
                .mapping
                .iter()
                .filter(|(s, _)| keep.contains(s))
                .cloned()
                .collect();
            provider.signature_verification_algorithms =
                rustls::crypto::WebPkiSupportedAlgorithms {
                    all: algs.all,
                    mapping: Box::leak(mapping.into_boxed_slice()),
                };
        }
        let provider = Arc::new(provider);
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(strait::upstream::connector::NoVerify::new(
                provider,
            )))
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsClient {
            config: Arc::new(config),
        }
    }

    /// A client limited to TLS `version` (`rustls::version::TLS12`/`TLS13`).
    pub fn with_version(
        ca: &str,
        alpn: &[&[u8]],
        version: &'static rustls::SupportedProtocolVersion,
    ) -> TlsClient {
        Self::build(ca, alpn, None, Some(version))
    }

    fn build(
        ca: &str,
        alpn: &[&[u8]],
        client_cert: Option<&Issued>,
        version: Option<&'static rustls::SupportedProtocolVersion>,
    ) -> TlsClient {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider);
        let builder = match version {
            Some(v) => builder.with_protocol_versions(&[v]).unwrap(),
            None => builder.with_safe_default_protocol_versions().unwrap(),
        }
        .with_root_certificates(roots);
        let mut config = match client_cert {
            Some(c) => builder
                .with_client_auth_cert(
                    std::iter::once(c.der.clone())
                        .chain(c.chain.iter().cloned())
                        .collect(),
                    PrivateKeyDer::from_pem_slice(c.key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsClient {
            config: Arc::new(config),
        }
    }

    /// Connect to `127.0.0.1:port` asking for `sni` and complete the handshake.
    pub async fn handshake(&self, port: u16, sni: &str) -> Result<Handshake, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
        let stream = TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let conn = stream.get_ref().1;
        let peer = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned()
            .ok_or("no server certificate")?;
        let alpn = conn.alpn_protocol().map(|p| p.to_vec());
        let version = format!("{:?}", conn.protocol_version());
        Ok(Handshake {
            stream,
            peer,
            alpn,
            version,
        })
    }

    /// One request on a new connection; HTTP/2 when ALPN agreed on it.
    pub async fn get(&self, port: u16, sni: &str, path: &str) -> Result<TlsResp, String> {
        let hs = self.handshake(port, sni).await?;
        let mut conn = HttpConn::open(hs).await?;
        conn.get(sni, path).await
    }
}

/// An HTTP/1.1 or HTTP/2 connection over TLS (as ALPN decided).
pub enum HttpConn {
    /// HTTP/1.1.
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    /// HTTP/2.
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl HttpConn {
    /// Start HTTP on a finished handshake.
    pub async fn open(hs: Handshake) -> Result<HttpConn, String> {
        let io = TokioIo::new(hs.stream);
        if hs.alpn.as_deref() == Some(b"h2") {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            Ok(HttpConn::H2(send))
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("h1 handshake: {e}"))?;
            tokio::spawn(conn);
            Ok(HttpConn::H1(send))
        }
    }

    /// Send `req` (its URI made absolute for HTTP/2) and read the head.
    pub async fn send(
        &mut self,
        host: &str,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, String> {
        match self {
            HttpConn::H1(s) => {
                req.headers_mut()
                    .insert(http::header::HOST, host.parse().unwrap());
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await.map_err(|e| e.to_string())
            }
            HttpConn::H2(s) => {
                let pq = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                *req.uri_mut() = format!("https://{host}{pq}").parse().unwrap();
                *req.version_mut() = http::Version::HTTP_2;
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await.map_err(|e| e.to_string())
            }
        }
    }

    /// `GET path` with `Host: host`, body read whole.
    pub async fn get(&mut self, host: &str, path: &str) -> Result<TlsResp, String> {
        let req = Request::get(path).body(Full::new(Bytes::new())).unwrap();
        let resp = self.send(host, req).await?;
        read(resp).await
    }
}

/// Read a response whole.
pub async fn read(resp: Response<Incoming>) -> Result<TlsResp, String> {
    let status = resp.status().as_u16();
    let version = resp.version();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(TlsResp {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
        version,
    })
}

/// A TLS upstream on loopback for `names`, issued by `pki`, answering
/// `client <subject>` (the client certificate's subject, or `none`). With
/// `client_ca`, a client certificate issued by it is required.
pub async fn upstream(pki: &Pki, names: &[&str], client_ca: Option<&Pki>) -> u16 {
    use rustls::pki_types::pem::PemObject;
    let issued = pki.server(names, KeyKind::Ecdsa);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.issuer.der().clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(
            vec![issued.der.clone()],
            PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let subject = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| strait::tls::certs::facts(c).unwrap().subject)
                    .unwrap_or_else(|| "none".into());
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let body = format!("client {subject}");
                    async move {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            body,
                        ))))
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
