//! Secret fields of Admin API resources: an SSL's private keys (`key`,
//! `keys`) are encrypted before they reach etcd, decrypted only to merge a
//! PATCH, and never shown in a response.

use serde_json::Value;

use super::error::AdminError;
use super::AdminApi;
use crate::config::resource::ResourceKind;

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
    /// Encrypt an SSL's private keys before they are stored.
    pub fn encrypt_secrets(&self, kind: ResourceKind, mut v: Value) -> Result<Value, AdminError> {
        let (Some(crypto), ResourceKind::Ssl) = (&self.crypto, kind) else {
            return Ok(v);
        };
        each_secret(&mut v, |s| {
            crypto
                .encrypt(s)
                .map_err(|e| AdminError::Internal(format!("cannot encrypt the key: {e}")))
        })?;
        Ok(v)
    }

    /// Decrypt an SSL's stored private keys (before a PATCH merges into
    /// them). A key this node cannot decrypt is an error: writing it back
    /// would encrypt the ciphertext a second time and lose the key.
    pub fn decrypt_secrets(&self, kind: ResourceKind, v: &mut Value) -> Result<(), AdminError> {
        let (Some(crypto), ResourceKind::Ssl) = (&self.crypto, kind) else {
            return Ok(());
        };
        each_secret(v, |s| {
            crypto.decrypt(s).map_err(|_| {
                AdminError::Internal(
                    "the stored private key does not decrypt with this node's keyring; \
                     give every node the same apisix.data_encryption.keyring"
                        .into(),
                )
            })
        })
    }
}
