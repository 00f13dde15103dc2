//! Opening connections to upstream nodes: DNS, TCP with a connect timeout,
//! and TLS through rustls: the server verified against the trusted roots
//! (`apisix.ssl.ssl_trusted_certificate`) when `tls.verify` is on, not at
//! all when off (APISIX's default); a client certificate when the upstream
//! has one (mTLS); ALPN `h2` for gRPC, `http/1.1` otherwise.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// TLS policy towards a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Plain,
    /// TLS; `verify` checks the certificate chain and name.
    Tls {
        /// Verify the server certificate.
        verify: bool,
    },
}

/// What a TLS connection offers besides verification.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// Ask for HTTP/2 through ALPN (gRPC) instead of HTTP/1.1.
    pub http2: bool,
    /// The client certificate presented to the node (upstream mTLS).
    pub identity: Option<Arc<CertifiedKey>>,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Name resolution failed.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host looked up.
        host: String,
        /// The resolver error.
        source: io::Error,
    },
    /// TCP connect failed.
    #[error("connect to {addr} failed: {source}")]
    Tcp {
        /// The address dialled.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// TCP connect did not finish in time.
    #[error("connect to {addr} timed out after {timeout:?}")]
    Timeout {
        /// The address dialled.
        addr: String,
        /// The limit.
        timeout: Duration,
    },
    /// TLS handshake failed.
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// The address dialled.
        addr: String,
        /// The handshake error.
        source: io::Error,
    },
}

/// A plain or TLS stream to a node.
pub enum UpstreamStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Open a connection to `host:port` within `timeout` (DNS + TCP + TLS).
pub async fn connect(
    host: &str,
    port: u16,
    tls: &TlsMode,
    client: &ClientTls,
    sni: Option<&str>,
    timeout: Duration,
) -> Result<UpstreamStream, ConnectError> {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let fut = async {
        let tcp = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => TcpStream::connect((ip, port)).await,
            Err(_) => {
                let mut addrs = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|source| ConnectError::Resolve {
                        host: host.to_string(),
                        source,
                    })?;
                let first = addrs.next().ok_or_else(|| ConnectError::Resolve {
                    host: host.to_string(),
                    source: io::Error::new(io::ErrorKind::NotFound, "no address"),
                })?;
                TcpStream::connect(first).await
            }
        }
        .map_err(|source| ConnectError::Tcp {
            addr: addr.clone(),
            source,
        })?;
        let _ = tcp.set_nodelay(true);
        match tls {
            TlsMode::Plain => Ok(UpstreamStream::Plain(tcp)),
            TlsMode::Tls { verify } => {
                let name = sni.unwrap_or(host);
                let server_name =
                    ServerName::try_from(name.to_string()).map_err(|e| ConnectError::Tls {
                        addr: addr.clone(),
                        source: io::Error::new(io::ErrorKind::InvalidInput, e),
                    })?;
                let stream = TlsConnector::from(client_config(*verify, client))
                    .connect(server_name, tcp)
                    .await
                    .map_err(|source| ConnectError::Tls {
                        addr: addr.clone(),
                        source,
                    })?;
                Ok(UpstreamStream::Tls(Box::new(stream)))
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout { addr, timeout }),
    }
}

/// The rustls client config for a connection. Without a client
/// certificate the four combinations (verify or not, h2 or not) are built
/// once and shared, so TLS sessions resume across connections; with one,
/// a config is built for the connection (cheap: the roots are shared).
fn client_config(verify: bool, client: &ClientTls) -> Arc<ClientConfig> {
    static SHARED: OnceLock<[Arc<ClientConfig>; 4]> = OnceLock::new();
    if client.identity.is_none() {
        let shared = SHARED.get_or_init(|| {
            [(false, false), (false, true), (true, false), (true, true)].map(|(v, h2)| {
                build_config(
                    v,
                    &ClientTls {
                        http2: h2,
                        identity: None,
                    },
                )
            })
        });
        return shared[usize::from(verify) * 2 + usize::from(client.http2)].clone();
    }
    build_config(verify, client)
}

fn build_config(verify: bool, client: &ClientTls) -> Arc<ClientConfig> {
    let provider = crate::tls::certs::provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        // The ring provider always supports the default versions.
        .unwrap_or_else(|_| ClientConfig::builder());
    let builder = if verify {
        builder.with_root_certificates(crate::tls::trust::roots())
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    let mut cfg = match &client.identity {
        Some(key) => builder.with_client_cert_resolver(Arc::new(Identity(key.clone()))),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = if client.http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Arc::new(cfg)
}

/// Presents one client certificate whatever the server asks.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts any server certificate (`tls.verify: false`, APISIX's default),
/// while still checking handshake signatures so the session is well-formed.
#[derive(Debug)]
pub struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl NoVerify {
    /// A verifier checking signatures with `provider`'s algorithms.
    pub fn new(provider: Arc<rustls::crypto::CryptoProvider>) -> NoVerify {
        NoVerify(provider)
    }
}

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
