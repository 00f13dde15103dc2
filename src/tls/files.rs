//! Certificates named in `conf/config.yaml` (PEM files): the fallback
//! certificate of the TLS listener and the HTTPS Admin API's, compiled like
//! an SSL object so the same checks and messages apply.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::settings::ListenerTls;
use super::ssl_object::SslObject;
use super::store::ServedSsl;

/// Read a PEM file, naming it in the error.
pub fn read_pem(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A servable certificate from files: `cert` and `key`, and when `client_ca`
/// is given, clients must present a certificate it issued.
pub fn served_from_files(
    label: &str,
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    settings: &ListenerTls,
) -> Result<Arc<ServedSsl>, String> {
    let mut conf = json!({"cert": read_pem(cert)?, "key": read_pem(key)?});
    if let Some(ca) = client_ca {
        // nginx's default ssl_verify_depth: issued directly by the CA.
        conf["client"] = json!({"ca": read_pem(ca)?, "depth": 1});
    }
    let object = SslObject::compile(Arc::from(label), &conf)?;
    object.warn_if_expired();
    ServedSsl::new(Arc::new(object), settings)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}
