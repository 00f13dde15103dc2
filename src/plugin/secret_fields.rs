//! Secret fields of plugin configurations, encrypted at rest.
//!
//! As APISIX, a plugin names its secret fields in its schema's
//! `encrypt_fields` (`["auth.header", "auth.query"]`): dotted paths, where
//! an array on the way is walked element by element and the field at the end
//! may be a string, an array of strings or an object of strings (every value
//! is a secret: `auth.header` is a map of header names to keys). The Admin
//! API encrypts them before they reach etcd and shows them decrypted; every
//! node decrypts them when it builds the plugin, with the process keyring
//! set at start ([`set_keyring`]).
//!
//! The data plane decrypts an item as it reads it from etcd (the snapshot
//! on disk keeps etcd's text, encrypted). A value that is not ciphertext is
//! used as written (data put into etcd by hand, or stored before its field
//! became secret). A value that is ciphertext no key opens makes the item
//! invalid (skipped with a log line, as any invalid item): used as written,
//! the ciphertext itself would become the credential.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use serde_json::{Map, Value};

use super::registry;
use crate::config::field_crypto::{CryptoError, FieldCrypto};

fn keyring_slot() -> &'static ArcSwapOption<FieldCrypto> {
    static KEYRING: OnceLock<ArcSwapOption<FieldCrypto>> = OnceLock::new();
    KEYRING.get_or_init(ArcSwapOption::empty)
}

/// Put the process keyring in service (`None`: secrets are not encrypted).
pub fn set_keyring(keyring: Option<Arc<FieldCrypto>>) {
    keyring_slot().store(keyring);
}

/// The process keyring, if encryption is on.
pub fn keyring() -> Option<Arc<FieldCrypto>> {
    keyring_slot().load_full()
}

/// The `encrypt_fields` a schema document declares.
pub fn declared(schema: &Value) -> Vec<String> {
    schema
        .get("encrypt_fields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Apply `f` to every secret string at the dotted `path` of `conf`.
pub fn each_at_path<E>(
    conf: &mut Value,
    path: &str,
    f: &mut dyn FnMut(&str) -> Result<String, E>,
) -> Result<(), E> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Some(node) = conf.as_object_mut().and_then(|m| m.get_mut(head)) else {
        return Ok(());
    };
    match rest {
        Some(rest) => match node {
            Value::Array(items) => {
                for item in items {
                    each_at_path(item, rest, f)?;
                }
                Ok(())
            }
            Value::Object(_) => each_at_path(node, rest, f),
            _ => Ok(()),
        },
        None => each_leaf(node, f),
    }
}

/// The secret strings of a leaf: itself, or the strings it holds.
fn each_leaf<E>(node: &mut Value, f: &mut dyn FnMut(&str) -> Result<String, E>) -> Result<(), E> {
    match node {
        Value::String(s) => *s = f(s)?,
        Value::Array(items) => {
            for item in items {
                if let Value::String(s) = item {
                    *s = f(s)?;
                }
            }
        }
        Value::Object(m) => {
            for v in m.values_mut() {
                if let Value::String(s) = v {
                    *s = f(s)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Encrypt the secret fields of every plugin of a `plugins` object.
pub fn encrypt_plugins(
    crypto: &FieldCrypto,
    plugins: &mut Map<String, Value>,
    on_consumer: bool,
) -> Result<(), CryptoError> {
    for (name, conf) in plugins.iter_mut() {
        let Some(reg) = registry::get(name) else {
            continue;
        };
        for path in reg.secret_fields(on_consumer) {
            each_at_path(conf, path, &mut |s| crypto.encrypt(s))?;
        }
    }
    Ok(())
}

/// Decrypt the secret fields of every plugin of a `plugins` object in
/// place. A value that is not ciphertext stays as written (put into etcd by
/// hand, or stored before its field became secret); the fields that look
/// encrypted but no key of the ring opens are left as stored and returned
/// (`key-auth.key`), for the caller to refuse: using them as written would
/// make the ciphertext, readable by anyone who reads etcd, the secret.
pub fn decrypt_plugins(
    crypto: &FieldCrypto,
    plugins: &mut Map<String, Value>,
    on_consumer: bool,
) -> Vec<String> {
    let mut sealed = Vec::new();
    for (name, conf) in plugins.iter_mut() {
        let Some(reg) = registry::get(name) else {
            continue;
        };
        for path in reg.secret_fields(on_consumer) {
            let _ = each_at_path::<std::convert::Infallible>(conf, path, &mut |s| {
                Ok(match crypto.decrypt(s) {
                    Ok(plain) => plain,
                    Err(CryptoError::Undecryptable) => {
                        let field = format!("{name}.{path}");
                        if !sealed.contains(&field) {
                            sealed.push(field);
                        }
                        s.to_string()
                    }
                    Err(_) => s.to_string(),
                })
            });
        }
    }
    sealed
}

/// Decrypt the secrets of a stored item (the data plane, as it reads etcd),
/// or say which fields this node cannot decrypt.
pub fn decrypt_stored(value: &mut Value, on_consumer: bool) -> Result<(), String> {
    let Some(crypto) = keyring() else {
        return Ok(());
    };
    let Some(plugins) = value.get_mut("plugins").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let sealed = decrypt_plugins(&crypto, plugins, on_consumer);
    if sealed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "secret field {} does not decrypt with this node's keyring \
         (every node sharing an etcd needs the same apisix.data_encryption.keyring)",
        sealed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upper(s: &str) -> Result<String, ()> {
        Ok(s.to_uppercase())
    }

    #[test]
    fn paths_walk_objects_arrays_and_maps() {
        let mut conf = json!({
            "auth": {"header": {"Authorization": "bearer a", "X-Key": "b"}, "query": {"key": "c"}},
            "instances": [
                {"name": "one", "auth": {"header": {"api-key": "d"}}},
                {"name": "two", "auth": {"query": {"key": "e"}}},
                "not an object"
            ],
            "password": "f",
            "list": ["g", 1, "h"],
            "number": 7
        });
        for path in [
            "auth.header",
            "auth.query",
            "instances.auth.header",
            "instances.auth.query",
            "password",
            "list",
            "number",
            "missing.deeper",
            "password.deeper",
        ] {
            each_at_path(&mut conf, path, &mut upper).unwrap();
        }
        assert_eq!(
            conf,
            json!({
                "auth": {"header": {"Authorization": "BEARER A", "X-Key": "B"}, "query": {"key": "C"}},
                "instances": [
                    {"name": "one", "auth": {"header": {"api-key": "D"}}},
                    {"name": "two", "auth": {"query": {"key": "E"}}},
                    "not an object"
                ],
                "password": "F",
                "list": ["G", 1, "H"],
                "number": 7
            })
        );
    }

    #[test]
    fn declared_fields_come_from_the_schema() {
        assert_eq!(
            declared(&json!({"type": "object", "encrypt_fields": ["auth.header", 3]})),
            vec!["auth.header".to_string()]
        );
        assert!(declared(&json!({"type": "object"})).is_empty());
    }

    #[test]
    fn ai_proxy_auth_round_trips_and_plain_text_stays_usable() {
        let crypto = FieldCrypto::new(&["0123456789abcdef"]).unwrap();
        let mut plugins = json!({
            "ai-proxy": {"provider": "openai", "auth": {"header": {"Authorization": "Bearer sk-1"}}},
            "ai-proxy-multi": {"instances": [{"name": "a", "provider": "openai", "weight": 1,
                                              "auth": {"query": {"key": "k-2"}}}]}
        });
        let original = plugins.clone();
        let map = plugins.as_object_mut().unwrap();
        encrypt_plugins(&crypto, map, false).unwrap();
        let sealed = map["ai-proxy"]["auth"]["header"]["Authorization"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!sealed.contains("sk-1"), "encrypted: {sealed}");
        assert!(
            !map["ai-proxy-multi"]["instances"][0]["auth"]["query"]["key"]
                .as_str()
                .unwrap()
                .contains("k-2")
        );
        let mut other_node = Value::Object(map.clone());
        assert!(decrypt_plugins(&crypto, map, false).is_empty());
        assert_eq!(plugins, original);

        // Written by hand (never encrypted): used as written.
        let mut by_hand = original.clone();
        assert!(decrypt_plugins(&crypto, by_hand.as_object_mut().unwrap(), false).is_empty());
        assert_eq!(by_hand, original);

        // Another keyring opens nothing: the fields are named, values left as stored.
        let stored = other_node.clone();
        let other = FieldCrypto::new(&["fedcba9876543210"]).unwrap();
        assert_eq!(
            decrypt_plugins(&other, other_node.as_object_mut().unwrap(), false),
            vec![
                "ai-proxy.auth.header".to_string(),
                "ai-proxy-multi.instances.auth.query".to_string()
            ]
        );
        assert_eq!(other_node, stored);
    }
}
