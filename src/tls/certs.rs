//! PEM certificates and private keys: parsed into rustls' signing form, the
//! key checked against the certificate, and the facts rustls does not expose
//! (validity, subject) read with x509-parser. Every failure says what is
//! wrong in words an operator can act on; the Admin API returns them as is.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Why a certificate or key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The certificate text holds no PEM certificate, or one that is not X.509.
    #[error("failed to parse cert: {0}")]
    Cert(String),
    /// The key text holds no usable PEM private key.
    #[error("failed to parse key: {0}")]
    Key(String),
    /// The key does not belong to the certificate.
    #[error("the private key does not match the certificate: {0}")]
    Mismatch(String),
}

/// A certificate chain with its key, ready to serve, plus its facts.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Chain and signing key, as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// Facts of the end-entity certificate.
    pub facts: CertFacts,
}

/// What strait needs to know about an end-entity certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// `notAfter`, in seconds since the epoch.
    pub not_after: i64,
    /// The subject as nginx's `$ssl_client_s_dn` shows it (RFC 2253).
    pub subject: String,
    /// The issuer, RFC 2253 (`$ssl_client_i_dn`).
    pub issuer: String,
    /// The serial number in upper-case hex (`$ssl_client_serial`).
    pub serial: String,
}

/// The process's crypto provider (ring, as everywhere in strait).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Every certificate of a PEM text, in order (leaf first for a chain).
pub fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        chain.push(item.map_err(|e| CertError::Cert(e.to_string()))?);
    }
    if chain.is_empty() {
        return Err(CertError::Cert(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    for (i, der) in chain.iter().enumerate() {
        x509_parser::parse_x509_certificate(der).map_err(|e| {
            CertError::Cert(format!("certificate {} is not valid X.509: {e}", i + 1))
        })?;
    }
    Ok(chain)
}

/// A PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            CertError::Key("no PEM private key (-----BEGIN ... PRIVATE KEY-----) found".into())
        }
        other => CertError::Key(other.to_string()),
    })
}

/// Parse a certificate chain and its key and check that they belong together.
pub fn identity(cert_pem: &str, key_pem: &str) -> Result<Identity, CertError> {
    let chain = parse_certs(cert_pem)?;
    let key = parse_key(key_pem)?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertError::Key(format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => return Err(CertError::Mismatch(e.to_string())),
    }
    let facts = match certified.cert.first() {
        Some(leaf) => facts(leaf)?,
        None => return Err(CertError::Cert("empty certificate chain".into())),
    };
    Ok(Identity {
        key: Arc::new(certified),
        facts,
    })
}

/// The facts of one DER certificate.
pub fn facts(der: &CertificateDer<'_>) -> Result<CertFacts, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertError::Cert(format!("not valid X.509: {e}")))?;
    Ok(CertFacts {
        not_after: cert.validity().not_after.timestamp(),
        subject: rfc2253(cert.subject()),
        issuer: rfc2253(cert.issuer()),
        serial: cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect(),
    })
}

/// A distinguished name in RFC 2253 form, most specific part first
/// (`CN=client,O=Example,C=US`), as nginx shows `$ssl_client_s_dn`.
pub fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| attr.attr_type().to_id_string());
                    let value = attr
                        .as_str()
                        .map(escape_dn_value)
                        .unwrap_or_else(|_| hex_value(attr.as_slice()));
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// Escape the characters RFC 2253 §2.4 reserves.
fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == last);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_space
            || (i == 0 && c == '#')
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value that is not a string, as `#` and its DER bytes in hex.
fn hex_value(raw: &[u8]) -> String {
    let mut s = String::with_capacity(1 + raw.len() * 2);
    s.push('#');
    for b in raw {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Whole days from `now` until `not_after` (negative once expired).
pub fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(names: &[&str]) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn parses_a_pair_and_reads_its_facts() {
        let (cert, key) = pair(&["a.test"]);
        let id = identity(&cert, &key).unwrap();
        assert_eq!(id.facts.subject, "CN=rcgen self signed cert");
        assert!(id.facts.not_after > 4_000_000_000, "{}", id.facts.not_after);
    }

    #[test]
    fn names_what_is_wrong() {
        let (cert, key) = pair(&["a.test"]);
        let (_, other_key) = pair(&["b.test"]);
        let e = identity("not a cert", &key).unwrap_err().to_string();
        assert!(
            e.starts_with("failed to parse cert: no PEM certificate"),
            "{e}"
        );
        let e = identity(&cert, "junk").unwrap_err().to_string();
        assert!(
            e.starts_with("failed to parse key: no PEM private key"),
            "{e}"
        );
        let e = identity(&cert, &other_key).unwrap_err().to_string();
        assert!(e.starts_with("the private key does not match"), "{e}");
        let broken = cert.replace("MII", "MIX");
        let e = identity(&broken, &key).unwrap_err().to_string();
        assert!(e.starts_with("failed to parse cert:"), "{e}");
    }

    #[test]
    fn distinguished_names_in_rfc2253_order() {
        let mut params = rcgen::CertificateParams::new(vec!["c.test".into()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc");
        dn.push(rcgen::DnType::CommonName, "client one");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let f = facts(cert.der()).unwrap();
        assert_eq!(f.subject, "CN=client one,O=Acme\\, Inc,C=US");
    }

    #[test]
    fn days_round_down() {
        assert_eq!(days_left(86_400 * 10 + 5, 0), 10);
        assert_eq!(days_left(0, 1), -1);
    }
}
