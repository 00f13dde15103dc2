//! Secret fields of Admin API resources, encrypted before they reach etcd.
//! An SSL's private keys (`key`, `keys`) are decrypted only to merge a
//! PATCH and never shown. Plugins' `encrypt_fields` (an `ai-proxy`'s
//! `auth`, a `basic-auth` password) are shown decrypted on reads, as APISIX
//! does, so a client can read an item, edit it and write it back.

use serde_json::Value;

use super::error::AdminError;
use super::AdminApi;
use crate::config::resource::ResourceKind;
use crate::plugin::secret_fields;

/// The `plugins` object of a value, and whether it is a consumer's.
fn plugins_of(
    kind: ResourceKind,
    v: &mut Value,
) -> Option<(&mut serde_json::Map<String, Value>, bool)> {
    let on_consumer = matches!(kind, ResourceKind::Consumer | ResourceKind::Credential);
    v.get_mut("plugins")
        .and_then(Value::as_object_mut)
        .map(|p| (p, on_consumer))
}

/// The value as shown to clients: SSL private keys never leave the server.
pub fn public_value(kind: ResourceKind, mut v: Value) -> Value {
    if kind == ResourceKind::Ssl {
        if let Some(m) = v.as_object_mut() {
            m.remove("key");
            m.remove("keys");
        }
    }
    v
}

/// Apply `f` to every secret string of an SSL value.
fn each_secret(
    v: &mut Value,
    mut f: impl FnMut(&str) -> Result<String, AdminError>,
) -> Result<(), AdminError> {
    if let Some(k) = v.get_mut("key") {
        if let Some(s) = k.as_str() {
            *k = Value::String(f(s)?);
        }
    }
    if let Some(Value::Array(keys)) = v.get_mut("keys") {
        for k in keys.iter_mut() {
            if let Some(s) = k.as_str() {
                *k = Value::String(f(s)?);
            }
        }
    }
    Ok(())
}

impl AdminApi {
    /// Encrypt the secrets of a value before it is stored.
    pub fn encrypt_secrets(&self, kind: ResourceKind, mut v: Value) -> Result<Value, AdminError> {
        let Some(crypto) = &self.crypto else {
            return Ok(v);
        };
        let failed = |e| AdminError::Internal(format!("cannot encrypt a secret field: {e}"));
        if kind == ResourceKind::Ssl {
            each_secret(&mut v, |s| crypto.encrypt(s).map_err(failed))?;
        }
        if let Some((plugins, on_consumer)) = plugins_of(kind, &mut v) {
            secret_fields::encrypt_plugins(crypto, plugins, on_consumer).map_err(failed)?;
        }
        Ok(v)
    }

    /// Decrypt a stored value's secrets (before a PATCH merges into them).
    /// A secret this node cannot decrypt is an error: writing it back would
    /// encrypt the ciphertext a second time and lose the secret. (A plugin
    /// field stored in plain text is kept, and encrypted on the way back.)
    pub fn decrypt_secrets(&self, kind: ResourceKind, v: &mut Value) -> Result<(), AdminError> {
        let Some(crypto) = &self.crypto else {
            return Ok(());
        };
        if kind == ResourceKind::Ssl {
            each_secret(v, |s| {
                crypto.decrypt(s).map_err(|_| {
                    AdminError::Internal(
                        "the stored private key does not decrypt with this node's keyring; \
                         give every node the same apisix.data_encryption.keyring"
                            .into(),
                    )
                })
            })?;
        }
        if let Some((plugins, on_consumer)) = plugins_of(kind, v) {
            let sealed = secret_fields::decrypt_plugins(crypto, plugins, on_consumer);
            if !sealed.is_empty() {
                return Err(AdminError::Internal(format!(
                    "the stored secret field {} does not decrypt with this node's keyring; \
                     give every node the same apisix.data_encryption.keyring",
                    sealed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// A stored value as a read shows it: SSL keys removed, plugin secrets decrypted.
    pub fn readable_value(&self, kind: ResourceKind, mut v: Value) -> Value {
        if let (Some(crypto), Some((plugins, on_consumer))) =
            (&self.crypto, plugins_of(kind, &mut v))
        {
            // A field this node cannot open is shown as stored.
            let _ = secret_fields::decrypt_plugins(crypto, plugins, on_consumer);
        }
        public_value(kind, v)
    }
}
