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

fn slot() -> &'static OnceLock<Arc<RootCertStore>> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    &ROOTS
}

/// Load `ssl_trusted_certificate` and put it in service (the first call wins).
pub fn load(setting: &str) -> Result<(), String> {
    let roots = if setting == "system" {
        system_roots()
    } else {
        file_roots(Path::new(setting))?
    };
    tracing::info!(
        certificates = roots.len(),
        source = setting,
        "trusted CA certificates loaded"
    );
    let _ = slot().set(Arc::new(roots));
    Ok(())
}

/// The trusted roots in service: as loaded, else the system's.
pub fn roots() -> Arc<RootCertStore> {
    slot().get_or_init(|| Arc::new(system_roots())).clone()
}

/// The first system bundle found; the Mozilla set compiled into strait when
/// there is none (a minimal container image, say).
fn system_roots() -> RootCertStore {
    for path in SYSTEM_BUNDLES {
        if let Ok(roots) = file_roots(Path::new(path)) {
            if !roots.is_empty() {
                return roots;
            }
        }
    }
    tracing::info!("no system CA bundle found; using the Mozilla roots built into strait");
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// Every CA certificate of a PEM file (certificates that cannot be roots are skipped).
pub fn file_roots(path: &Path) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let text = super::files::read_pem(path)?;
    // Bundles are read leniently: a block that does not parse is skipped.
    let certs = CertificateDer::pem_slice_iter(text.as_bytes()).filter_map(Result::ok);
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("{}: no usable CA certificate", path.display()));
    }
    Ok(roots)
}
