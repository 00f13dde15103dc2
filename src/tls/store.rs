//! The certificates a TLS listener serves, built with each snapshot: the
//! SNI index over enabled `type: server` SSL objects and one rustls
//! `ServerConfig` per object (its certificates, TLS versions, client
//! verification, ALPN).
//!
//! Matching follows APISIX's `radixtree_sni`: names are compared without
//! case and without a trailing dot; an exact name beats a wildcard;
//! `*.example.com` covers one label (`a.example.com`, not
//! `a.b.example.com`); `*` alone catches every name nothing else matches.
//!
//! A new store is swapped in with the snapshot, so the next handshake sees a
//! new or rotated certificate while connections already open keep theirs.
//! Configs of objects that did not change are carried over from the
//! previous store, so one certificate change costs one config build.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::settings::ListenerTls;
use super::ssl_object::{SslObject, SslType};

/// SSL objects by id, as compiled by the config store.
pub type SslObjects = HashMap<Arc<str>, Arc<SslObject>>;

/// One servable SSL object with its handshake configuration.
#[derive(Debug)]
pub struct ServedSsl {
    /// The object.
    pub object: Arc<SslObject>,
    /// Its rustls configuration.
    pub config: Arc<ServerConfig>,
}

impl ServedSsl {
    /// The configuration of `object` under the listener settings.
    pub fn new(object: Arc<SslObject>, settings: &ListenerTls) -> Result<ServedSsl, rustls::Error> {
        let versions = object.protocols.as_deref().unwrap_or(&settings.versions);
        let builder = ServerConfig::builder_with_provider(super::certs::provider())
            .with_protocol_versions(versions)?;
        let builder = match &object.client {
            Some(c) => builder.with_client_cert_verifier(c.verifier.clone()),
            None => builder.with_no_client_auth(),
        };
        let keys = object.identities.iter().map(|i| i.key.clone()).collect();
        let mut config = builder.with_cert_resolver(Arc::new(ByScheme(keys)));
        config.alpn_protocols = settings.alpn();
        Ok(ServedSsl {
            object,
            config: Arc::new(config),
        })
    }
}

/// Picks the first certificate whose key can sign with a scheme the client
/// offers (an ECDSA certificate for modern clients, RSA for the others, when
/// an object holds both).
#[derive(Debug)]
struct ByScheme(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for ByScheme {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offered = hello.signature_schemes();
        self.0
            .iter()
            .find(|k| k.key.choose_scheme(offered).is_some())
            .or_else(|| self.0.first())
            .cloned()
    }
}

/// The SNI index and the objects it was built from.
#[derive(Debug, Default)]
pub struct TlsStore {
    exact: HashMap<String, Arc<ServedSsl>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Arc<ServedSsl>>,
    /// `*`: every name.
    catch_all: Option<Arc<ServedSsl>>,
    /// Every compiled SSL object by id (client certificates included).
    pub objects: Arc<SslObjects>,
}

impl TlsStore {
    /// Index `objects`, reusing the configs of `previous` for unchanged ones.
    pub fn build(objects: Arc<SslObjects>, previous: Option<&TlsStore>) -> TlsStore {
        let settings = super::settings::get();
        let mut reusable: HashMap<&str, &Arc<ServedSsl>> = HashMap::new();
        if let Some(p) = previous {
            for served in p
                .exact
                .values()
                .chain(p.wildcard.values())
                .chain(&p.catch_all)
            {
                reusable.insert(&served.object.id, served);
            }
        }
        // Sorted by id: when two objects claim a name, the same one wins on every node.
        let mut ids: Vec<&Arc<str>> = objects.keys().collect();
        ids.sort();
        let mut store = TlsStore::default();
        for id in ids {
            let Some(object) = objects.get(id) else {
                continue;
            };
            if object.kind != SslType::Server || !object.enabled {
                continue;
            }
            let served = match reusable.get(id.as_ref()) {
                Some(s) if Arc::ptr_eq(&s.object, object) => Arc::clone(s),
                _ => match ServedSsl::new(object.clone(), &settings) {
                    Ok(s) => Arc::new(s),
                    Err(e) => {
                        tracing::error!(ssl = %id, "SSL object not served: {e}");
                        continue;
                    }
                },
            };
            for sni in &object.snis {
                if sni == "*" {
                    store.catch_all.get_or_insert_with(|| served.clone());
                    continue;
                }
                let (map, key) = match sni.strip_prefix("*.") {
                    Some(suffix) => (&mut store.wildcard, suffix.to_string()),
                    None => (&mut store.exact, sni.clone()),
                };
                match map.get(&key) {
                    Some(held) => tracing::warn!(
                        sni = %sni,
                        "SNI claimed by SSL objects {} and {}; {} is served",
                        held.object.id,
                        id,
                        held.object.id
                    ),
                    None => {
                        map.insert(key, served.clone());
                    }
                }
            }
        }
        store.objects = objects;
        store
    }

    /// The SSL object serving `server_name`: its exact name, else the
    /// wildcard for its parent domain, else the catch-all `*`.
    pub fn lookup(&self, server_name: &str) -> Option<&Arc<ServedSsl>> {
        let lower;
        let name = if server_name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = server_name.to_ascii_lowercase();
            lower.as_str()
        } else {
            server_name
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if let Some(s) = self.exact.get(name) {
            return Some(s);
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .or(self.catch_all.as_ref())
    }

    /// Whether any name is served.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.catch_all.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(id: &str, snis: &[&str]) -> (Arc<str>, Arc<SslObject>) {
        let c = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).unwrap();
        let v = json!({"cert": c.cert.pem(), "key": c.signing_key.serialize_pem(), "snis": snis});
        (
            Arc::from(id),
            Arc::new(SslObject::compile(id.into(), &v).unwrap()),
        )
    }

    fn served_id(store: &TlsStore, name: &str) -> Option<String> {
        store.lookup(name).map(|s| s.object.id.to_string())
    }

    #[test]
    fn exact_beats_wildcard_and_wildcards_cover_one_label() {
        let objects: SslObjects = [
            object("exact", &["api.example.com"]),
            object("wild", &["*.example.com"]),
            object("deeper", &["*.eu.example.com"]),
        ]
        .into_iter()
        .collect();
        let store = TlsStore::build(Arc::new(objects), None);
        assert_eq!(
            served_id(&store, "API.example.com.").as_deref(),
            Some("exact")
        );
        assert_eq!(
            served_id(&store, "www.example.com").as_deref(),
            Some("wild")
        );
        assert_eq!(
            served_id(&store, "a.eu.example.com").as_deref(),
            Some("deeper")
        );
        assert_eq!(served_id(&store, "a.b.example.com"), None);
        assert_eq!(served_id(&store, "example.com"), None);
        assert_eq!(served_id(&store, "other.test"), None);
        let with_any: SslObjects = [object("wild", &["*.example.com"]), object("any", &["*"])]
            .into_iter()
            .collect();
        let store = TlsStore::build(Arc::new(with_any), None);
        assert_eq!(served_id(&store, "a.example.com").as_deref(), Some("wild"));
        assert_eq!(served_id(&store, "other.test").as_deref(), Some("any"));
    }

    #[test]
    fn unchanged_objects_keep_their_config() {
        let objects: Arc<SslObjects> = Arc::new(
            [object("1", &["a.test"]), object("2", &["b.test"])]
                .into_iter()
                .collect(),
        );
        let first = TlsStore::build(objects.clone(), None);
        let mut changed = (*objects).clone();
        let (id, o) = object("2", &["b.test"]);
        changed.insert(id, o);
        let second = TlsStore::build(Arc::new(changed), Some(&first));
        let cfg = |s: &TlsStore, n: &str| s.lookup(n).unwrap().config.clone();
        assert!(Arc::ptr_eq(&cfg(&first, "a.test"), &cfg(&second, "a.test")));
        assert!(!Arc::ptr_eq(
            &cfg(&first, "b.test"),
            &cfg(&second, "b.test")
        ));
    }
}
