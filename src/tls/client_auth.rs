//! Client-certificate verification with nginx's `ssl_verify_depth`: the
//! chain is checked by rustls' WebPKI verifier against the SSL object's
//! `client.ca`, and refused when the client sends more certificates above
//! its own than `client.depth` allows (depth 1: a certificate issued
//! directly by a trusted CA; depth 2: one intermediate, and so on).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// A verifier that also bounds the chain length.
#[derive(Debug)]
pub struct DepthLimited {
    inner: Arc<dyn ClientCertVerifier>,
    depth: u64,
}

impl DepthLimited {
    /// Wrap `inner`, allowing at most `depth` certificates above the client's.
    pub fn new(inner: Arc<dyn ClientCertVerifier>, depth: u64) -> DepthLimited {
        DepthLimited { inner, depth }
    }
}

impl ClientCertVerifier for DepthLimited {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The trusted CA itself is one level; every intermediate adds one.
        let levels = intermediates.len() as u64 + 1;
        if levels > self.depth {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(ChainTooDeep {
                    levels,
                    depth: self.depth,
                }))),
            ));
        }
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client chain longer than `client.depth` allows.
#[derive(Debug, thiserror::Error)]
#[error("client certificate chain is {levels} levels deep, client.depth allows {depth}")]
struct ChainTooDeep {
    levels: u64,
    depth: u64,
}
