//! The TLS handshake of a client connection: read the ClientHello, pick the
//! SSL object for its SNI from the snapshot in service (or the fallback
//! certificate of `conf/config.yaml`), and finish the handshake with that
//! object's configuration. Handshakes that fail are counted by reason in
//! `apisix_ssl_handshake_failures`; an unknown SNI without a fallback gets a
//! TLS alert, never a certificate for some other name.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::certs::facts;
use super::session::TlsSession;
use super::store::ServedSsl;
use crate::config::SharedSnapshot;

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client sent nothing usable in time.
    #[error("TLS handshake not finished within {0:?}")]
    Timeout(Duration),
    /// No certificate for the name asked (and no fallback).
    #[error("no certificate for SNI {0:?}")]
    UnknownSni(Option<String>),
    /// The ClientHello or the handshake failed (protocol, version, client certificate).
    #[error("TLS handshake failed: {0}")]
    Failed(io::Error),
}

impl HandshakeError {
    /// The `reason` label of the failure metric.
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::Timeout(_) => "timeout",
            HandshakeError::UnknownSni(_) => "unknown_sni",
            HandshakeError::Failed(_) => "handshake",
        }
    }
}

/// Terminates TLS for a listener.
#[derive(Debug)]
pub struct TlsTerminator {
    /// SSL objects come from here; None: only the fallback is served.
    shared: Option<Arc<SharedSnapshot>>,
    /// Served when no SSL object matches (`apisix.ssl.ssl_cert`).
    fallback: Option<Arc<ServedSsl>>,
    /// The name looked up for clients that send no SNI (`apisix.ssl.fallback_sni`).
    fallback_sni: Option<String>,
    timeout: Duration,
}

impl TlsTerminator {
    /// A terminator reading SSL objects from `shared`.
    pub fn new(
        shared: Arc<SharedSnapshot>,
        fallback: Option<Arc<ServedSsl>>,
        fallback_sni: Option<String>,
        timeout: Duration,
    ) -> TlsTerminator {
        TlsTerminator {
            shared: Some(shared),
            fallback,
            fallback_sni,
            timeout,
        }
    }

    /// A terminator serving one certificate whatever the SNI (the Admin API's).
    pub fn fixed(served: Arc<ServedSsl>, timeout: Duration) -> TlsTerminator {
        TlsTerminator {
            shared: None,
            fallback: Some(served),
            fallback_sni: None,
            timeout,
        }
    }

    /// Handshake on `tcp`; failures are counted and logged at debug level
    /// (a scanner's noise must not flood the log).
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, Arc<TlsSession>), HandshakeError> {
        let result = match tokio::time::timeout(self.timeout, self.handshake(tcp)).await {
            Ok(r) => r,
            Err(_) => Err(HandshakeError::Timeout(self.timeout)),
        };
        if let Err(e) = &result {
            crate::metrics::global().count_handshake_failure(e.reason());
            tracing::debug!("{e}");
        }
        result
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, Arc<TlsSession>), HandshakeError> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp)
            .await
            .map_err(HandshakeError::Failed)?;
        let server_name = start
            .client_hello()
            .server_name()
            .map(|s| s.to_ascii_lowercase());
        let asked = server_name.as_deref().or(self.fallback_sni.as_deref());
        let from_snapshot = match (&self.shared, asked) {
            (Some(shared), Some(name)) => shared.load().tls.lookup(name).cloned(),
            _ => None,
        };
        let served = from_snapshot.or_else(|| self.fallback.clone());
        let Some(served) = served else {
            // Finish with an alert rather than a reset, so the client says why.
            let _ = start.into_stream(reject_config()).await;
            return Err(HandshakeError::UnknownSni(server_name));
        };
        let stream = start
            .into_stream(served.config.clone())
            .await
            .map_err(HandshakeError::Failed)?;
        let conn = stream.get_ref().1;
        let protocol = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLSv1.3",
        };
        let client_cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|leaf| facts(leaf).ok());
        let is_fallback = self
            .fallback
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(f, &served));
        let session = TlsSession {
            server_name: server_name.map(String::into_boxed_str),
            ssl: (!is_fallback).then(|| served.object.clone()),
            protocol,
            client_cert,
        };
        Ok((stream, Arc::new(session)))
    }
}

/// A configuration that resolves no certificate: the handshake ends with an alert.
fn reject_config() -> Arc<ServerConfig> {
    static REJECT: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    REJECT
        .get_or_init(|| {
            Arc::new(
                ServerConfig::builder_with_provider(super::certs::provider())
                    .with_safe_default_protocol_versions()
                    .unwrap_or_else(|_| ServerConfig::builder())
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::new(NoCertificate)),
            )
        })
        .clone()
}

#[derive(Debug)]
struct NoCertificate;

impl ResolvesServerCert for NoCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        None
    }
}
