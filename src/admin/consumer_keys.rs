//! Auth credentials must be unique across consumers: a `key-auth` key (or
//! any auth plugin's credential) already used by another consumer or one of
//! its credentials is refused, with APISIX's message
//! `duplicate key of plugin key-auth found with consumer: jack`.

use serde_json::Value;

use super::error::AdminError;
use super::etcd_store::EtcdStore;
use crate::config::field_crypto::FieldCrypto;
use crate::plugin::{registry, secret_fields};

/// The owner of a key under `/consumers`: `jack` for both `jack` and
/// `jack/credentials/c1`.
fn owner(key: &str, dir: &str) -> Option<String> {
    let rest = key.strip_prefix(dir)?.strip_prefix('/')?;
    Some(rest.split('/').next().unwrap_or(rest).to_string())
}

/// The (plugin, credential) pairs a `plugins` object declares.
fn credentials(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, conf) in value
        .get("plugins")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(reg) = registry::get(name) {
            if let Some(key) = reg.factory.consumer_key(conf) {
                out.push((reg.factory.name().to_string(), key));
            }
        }
    }
    out
}

/// Refuse `value` (a consumer or credential stored at `own_key`, in plain
/// text) when another consumer or credential already uses one of its
/// credentials (stored ones are decrypted with `crypto` to compare).
pub async fn check_unique(
    store: &EtcdStore,
    crypto: Option<&FieldCrypto>,
    own_key: &str,
    value: &Value,
) -> Result<(), AdminError> {
    let wanted = credentials(value);
    if wanted.is_empty() {
        return Ok(());
    }
    let dir = format!("{}/consumers", store.prefix());
    for item in store.list_all_depths(&dir).await? {
        if item.key == own_key {
            continue;
        }
        let Some(other) = owner(&item.key, &dir) else {
            continue;
        };
        // Any other holder (another consumer, or another credential of the
        // same one) makes the key ambiguous.
        let mut stored = item.value;
        if let Some(crypto) = crypto {
            if let Some(plugins) = stored.get_mut("plugins").and_then(Value::as_object_mut) {
                // A key this node cannot open is compared as stored.
                let _ = secret_fields::decrypt_plugins(crypto, plugins, true);
            }
        }
        for (plugin, key) in credentials(&stored) {
            if wanted.iter().any(|(p, k)| *p == plugin && *k == key) {
                return Err(AdminError::BadRequest(format!(
                    "duplicate key of plugin {plugin} found with consumer: {other}"
                )));
            }
        }
    }
    Ok(())
}
