//! A compiled SSL object (`/apisix/ssls/{id}`): its certificate/key pairs
//! parsed and checked, SNIs lower-cased, TLS versions and client
//! verification prepared. Compiled once per stored version, when the item is
//! read (the Admin API runs the same step before it writes, so what it
//! accepts every node can serve).

use std::sync::Arc;

use regex::RegexSet;
use rustls::server::danger::ClientCertVerifier;
use rustls::SupportedProtocolVersion;
use serde_json::Value;

use super::certs::{identity, parse_certs, Identity};
use super::client_auth::DepthLimited;

/// What an SSL object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslType {
    /// Served to clients by SNI.
    Server,
    /// Presented to upstreams (`upstream.tls.client_cert_id`).
    Client,
}

/// Client-certificate verification of one SSL object (`client`).
#[derive(Debug)]
pub struct ClientVerification {
    /// Checks the chain against `client.ca`, no deeper than `client.depth`.
    pub verifier: Arc<dyn ClientCertVerifier>,
    /// URIs served without a client certificate (`skip_mtls_uri_regex`).
    /// When set, the handshake lets a client without a certificate through
    /// and each request is checked instead.
    pub skip_uris: Option<RegexSet>,
}

/// A compiled SSL object.
#[derive(Debug)]
pub struct SslObject {
    /// The id (key's last segment).
    pub id: Arc<str>,
    /// `type`.
    pub kind: SslType,
    /// `snis`/`sni`, lower-cased (`*.example.com` wildcards kept as written).
    pub snis: Vec<String>,
    /// `cert`+`key`, then each `certs[i]`+`keys[i]` (an RSA and an ECDSA
    /// certificate for the same names, say).
    pub identities: Vec<Identity>,
    /// `ssl_protocols`; None: the listener's (`apisix.ssl.ssl_protocols`).
    pub protocols: Option<Vec<&'static SupportedProtocolVersion>>,
    /// `client`: mutual TLS.
    pub client: Option<ClientVerification>,
    /// `status: 1`.
    pub enabled: bool,
}

impl SslObject {
    /// Compile a schema-checked SSL value with its private keys in plain
    /// PEM (see [`decrypt_keys`] for stored values).
    pub fn compile(id: Arc<str>, v: &Value) -> Result<SslObject, String> {
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        let kind = match text("type") {
            Some("client") => SslType::Client,
            _ => SslType::Server,
        };
        let mut identities = Vec::new();
        if let (Some(cert), Some(key)) = (text("cert"), text("key")) {
            identities.push(identity(cert, key).map_err(|e| e.to_string())?);
        }
        let list = |k: &str| -> Vec<&str> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let (certs, keys) = (list("certs"), list("keys"));
        if certs.len() != keys.len() {
            return Err(format!(
                "mismatched number of certs and keys: {} certs, {} keys",
                certs.len(),
                keys.len()
            ));
        }
        for (i, (cert, key)) in certs.iter().zip(&keys).enumerate() {
            let id = identity(cert, key)
                .map_err(|e| format!("failed to handle cert-key pair[{}]: {e}", i + 1))?;
            identities.push(id);
        }
        let mut snis: Vec<String> = list("snis")
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if let Some(s) = text("sni") {
            snis.push(s.to_ascii_lowercase());
        }
        let protocols = match v.get("ssl_protocols").and_then(Value::as_array) {
            Some(list) => Some(protocol_versions(
                list.iter().filter_map(Value::as_str),
                "ssl_protocols",
            )?),
            None => None,
        };
        let client = match v.get("client") {
            Some(c) => Some(client_verification(c)?),
            None => None,
        };
        Ok(SslObject {
            id,
            kind,
            snis,
            identities,
            protocols,
            client,
            enabled: v.get("status").and_then(Value::as_i64).unwrap_or(1) == 1,
        })
    }

    /// The soonest `notAfter` of its certificates (seconds since the epoch).
    pub fn not_after(&self) -> Option<i64> {
        self.identities.iter().map(|i| i.facts.not_after).min()
    }

    /// Log a warning when a certificate has expired: it is still accepted
    /// and served (as APISIX does), and the expiry metric shows it too.
    pub fn warn_if_expired(&self) {
        let now = crate::admin::item_rules::now_seconds();
        if let Some(not_after) = self.not_after().filter(|t| *t <= now) {
            tracing::warn!(
                ssl = %self.id,
                snis = ?self.snis,
                days_ago = -super::certs::days_left(not_after, now),
                "SSL object {} holds an expired certificate",
                self.id
            );
        }
    }
}

/// Decrypt the private keys of a stored SSL value (`key`, `keys`) with the
/// process keyring; a key in plain PEM is left as is.
pub fn decrypt_keys(v: &mut Value) -> Result<(), String> {
    let Some(ring) = crate::plugin::secret_fields::keyring() else {
        return Ok(());
    };
    let open = |k: &mut Value| -> Result<(), String> {
        if let Some(stored) = k.as_str().filter(|s| !s.contains("-----BEGIN")) {
            let plain = ring.decrypt(stored).map_err(|_| {
                "the private key does not decrypt with this node's keyring (every node \
                 sharing an etcd needs the same apisix.data_encryption.keyring)"
                    .to_string()
            })?;
            *k = Value::String(plain);
        }
        Ok(())
    };
    if let Some(k) = v.get_mut("key") {
        open(k)?;
    }
    if let Some(Value::Array(keys)) = v.get_mut("keys") {
        for k in keys {
            open(k)?;
        }
    }
    Ok(())
}

/// TLS versions from APISIX's names. rustls offers TLS 1.2 and 1.3 only:
/// `TLSv1.1` (and older) is refused by name.
pub fn protocol_versions<'a>(
    names: impl Iterator<Item = &'a str>,
    field: &str,
) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut out: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for name in names {
        let v: &'static SupportedProtocolVersion = match name {
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.3" => &rustls::version::TLS13,
            other => {
                return Err(format!(
                    "{field}: `{other}` is not supported (TLSv1.2 and TLSv1.3 are)"
                ))
            }
        };
        if !out.iter().any(|o| o.version == v.version) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(format!("{field}: no TLS version given"));
    }
    Ok(out)
}

fn client_verification(c: &Value) -> Result<ClientVerification, String> {
    let ca = c.get("ca").and_then(Value::as_str).unwrap_or_default();
    let roots = parse_certs(ca).map_err(|e| format!("failed to validate client_cert: {e}"))?;
    let mut store = rustls::RootCertStore::empty();
    for (i, der) in roots.into_iter().enumerate() {
        store
            .add(der)
            .map_err(|e| format!("client.ca: certificate {} cannot be a CA: {e}", i + 1))?;
    }
    let depth = c.get("depth").and_then(Value::as_u64).unwrap_or(1);
    let skip_uris = match c.get("skip_mtls_uri_regex").and_then(Value::as_array) {
        Some(list) => Some(
            RegexSet::new(list.iter().filter_map(Value::as_str))
                .map_err(|e| format!("client.skip_mtls_uri_regex: {e}"))?,
        ),
        None => None,
    };
    let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(store),
        super::certs::provider(),
    );
    let builder = if skip_uris.is_some() {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let inner = builder.build().map_err(|e| format!("client.ca: {e}"))?;
    Ok(ClientVerification {
        verifier: Arc::new(DepthLimited::new(inner, depth)),
        skip_uris,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn compiles_names_pairs_and_versions() {
        let (cert, key) = pair();
        let (cert2, key2) = pair();
        let o = SslObject::compile(
            "1".into(),
            &json!({"cert": cert, "key": key, "certs": [cert2], "keys": [key2],
                    "snis": ["A.Test", "*.b.test"], "ssl_protocols": ["TLSv1.3"]}),
        )
        .unwrap();
        assert_eq!(o.snis, ["a.test", "*.b.test"]);
        assert_eq!(o.identities.len(), 2);
        assert_eq!(o.protocols.as_ref().map(Vec::len), Some(1));
        assert!(o.enabled && o.client.is_none() && o.kind == SslType::Server);
    }

    #[test]
    fn refuses_what_cannot_be_served() {
        let (cert, key) = pair();
        let e = SslObject::compile(
            "1".into(),
            &json!({"cert": cert, "key": key, "sni": "a", "ssl_protocols": ["TLSv1.1"]}),
        )
        .unwrap_err();
        assert!(e.contains("`TLSv1.1` is not supported"), "{e}");
        let e = SslObject::compile(
            "1".into(),
            &json!({"cert": cert, "key": key, "sni": "a", "certs": [cert]}),
        )
        .unwrap_err();
        assert!(e.contains("mismatched number"), "{e}");
        let e = SslObject::compile(
            "1".into(),
            &json!({"cert": cert, "key": key, "sni": "a", "client": {"ca": "nope"}}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("failed to validate client_cert: failed to parse cert"),
            "{e}"
        );
    }
}
