//! The CA certificates strait trusts as a TLS client (towards upstreams with
//! `tls.verify`, and towards etcd): `apisix.ssl.ssl_trusted_certificate`,
//! either `system` (the operating system's bundle, found where APISIX looks
//! for it) or a PEM file. Loaded once at start.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;

/// Where operating systems keep their CA bundle (APISIX's list, in order).
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The trusted CAs: for rustls, and the PEM text they came from (for
/// clients that take PEM, as etcd's gRPC client does; None for the roots
/// built into strait).
#[derive(Debug)]
struct Trusted {
    roots: Arc<RootCertStore>,
    pem: Option<String>,
}

fn slot() -> &'static OnceLock<Trusted> {
    static TRUSTED: OnceLock<Trusted> = OnceLock::new();
    &TRUSTED
}

/// Load `ssl_trusted_certificate` and put it in service (the first call wins).
pub fn load(setting: &str) -> Result<(), String> {
    let trusted = if setting == "system" {
        system()
    } else {
        let text = super::files::read_pem(Path::new(setting))?;
        let roots = pem_roots(&text).map_err(|e| format!("{setting}: {e}"))?;
        Trusted {
            roots: Arc::new(roots),
            pem: Some(text),
        }
    };
    tracing::info!(
        certificates = trusted.roots.len(),
        source = setting,
        "trusted CA certificates loaded"
    );
    let _ = slot().set(trusted);
    Ok(())
}

/// The trusted roots in service: as loaded, else the system's.
pub fn roots() -> Arc<RootCertStore> {
    slot().get_or_init(system).roots.clone()
}

/// The trusted CAs as PEM (None: the roots built into strait).
pub fn pem() -> Option<String> {
    slot().get_or_init(system).pem.clone()
}

/// The first system bundle found; the Mozilla set compiled into strait when
/// there is none (a minimal container image, say).
fn system() -> Trusted {
    for path in SYSTEM_BUNDLES {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Ok(roots) = pem_roots(&text) {
            return Trusted {
                roots: Arc::new(roots),
                pem: Some(text),
            };
        }
    }
    tracing::info!("no system CA bundle found; using the Mozilla roots built into strait");
    Trusted {
        roots: Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        pem: None,
    }
}

/// Every CA certificate of a PEM text; bundles are read leniently (a block
/// that does not parse, or cannot be a root, is skipped).
fn pem_roots(text: &str) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes()).filter_map(Result::ok);
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("no usable CA certificate".into());
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_exist_and_hold_a_ca() {
        let e = load("/nonexistent/ca.pem").unwrap_err();
        assert!(e.starts_with("cannot read /nonexistent/ca.pem"), "{e}");
        assert_eq!(
            pem_roots("no PEM here").unwrap_err(),
            "no usable CA certificate"
        );
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
        assert_eq!(pem_roots(&ca.cert.pem()).unwrap().len(), 1);
    }
}
