//! What a TLS connection established, shared by every request on it: the
//! server name asked for, the SSL object that answered, the TLS version and
//! the client certificate (already verified against the object's
//! `client.ca`) — the source of the `scheme`, `ssl_server_name`,
//! `ssl_protocol`, `ssl_client_verify` and `ssl_client_s_dn` variables.

use std::sync::Arc;

use super::ssl_object::SslObject;

/// A verified client certificate's facts.
pub type ClientCert = super::certs::CertFacts;

/// The facts of one TLS connection.
#[derive(Debug)]
pub struct TlsSession {
    /// The SNI the client sent, lower-cased.
    pub server_name: Option<Box<str>>,
    /// The SSL object whose certificate was served (None: the fallback
    /// certificate of `conf/config.yaml`).
    pub ssl: Option<Arc<SslObject>>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub protocol: &'static str,
    /// The client's certificate, verified; None when none was asked for or sent.
    pub client_cert: Option<ClientCert>,
}

impl TlsSession {
    /// Whether a request for `uri` must be refused because the SSL object
    /// requires a client certificate for it and none was sent. (Without
    /// `skip_mtls_uri_regex` the handshake itself requires one.)
    pub fn missing_client_cert(&self, uri: &str) -> bool {
        if self.client_cert.is_some() {
            return false;
        }
        let skip = self
            .ssl
            .as_ref()
            .and_then(|o| o.client.as_ref())
            .and_then(|c| c.skip_uris.as_ref());
        match skip {
            Some(set) => !set.is_match(uri),
            None => false,
        }
    }

    /// nginx's `$ssl_client_verify`: `SUCCESS` or `NONE`.
    pub fn client_verify(&self) -> &'static str {
        if self.client_cert.is_some() {
            "SUCCESS"
        } else {
            "NONE"
        }
    }
}
