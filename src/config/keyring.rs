//! The process keyring for secret fields (`apisix.data_encryption`): the
//! configured keys, else a key generated once under `strait.data_dir`.
//!
//! A node with an Admin API may generate that key (it is the one writing
//! secrets). A data-plane node only reads secrets, so it uses the configured
//! keyring or a key file already in its data dir; without either it holds a
//! throwaway key, so encrypted items are refused rather than served with the
//! ciphertext as their secret.

use std::sync::Arc;

use super::bootstrap::BootstrapConfig;
use super::field_crypto::{CryptoError, FieldCrypto};
use super::local_secrets::{load_or_create, LocalSecretError};

/// The file under `strait.data_dir` holding the generated key.
pub const KEY_FILE: &str = "encryption_key";

/// Why the keyring cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// A configured key is unusable.
    #[error("apisix.data_encryption.keyring: {0}")]
    Key(#[from] CryptoError),
    /// The generated key could not be stored or read.
    #[error("cannot keep the generated encryption key: {0}")]
    File(#[from] LocalSecretError),
}

/// The keyring of this node; `None` when `enable_encrypt_fields` is off.
/// `may_generate`: whether a missing key is generated (nodes with the Admin API).
pub fn load(
    cfg: &BootstrapConfig,
    may_generate: bool,
) -> Result<Option<Arc<FieldCrypto>>, KeyringError> {
    let de = &cfg.apisix.data_encryption;
    if !de.enable_encrypt_fields {
        tracing::warn!("apisix.data_encryption.enable_encrypt_fields is off: secret fields (SSL private keys, plugin credentials) are stored in etcd as plain text");
        return Ok(None);
    }
    if !de.keyring.is_empty() {
        return Ok(Some(Arc::new(FieldCrypto::new(&de.keyring)?)));
    }
    let dir = cfg.strait.data_dir.as_path();
    if !may_generate && !dir.join(KEY_FILE).exists() {
        // A key that opens nothing: items holding encrypted secrets are
        // refused (never served with the ciphertext as the secret), items
        // in plain text are served.
        tracing::warn!("no apisix.data_encryption.keyring: items with secret fields the Admin API encrypted (plugin credentials) are refused here; give this node the keyring of the Admin API nodes");
        let mut throwaway = [0u8; 32];
        super::field_crypto::random_bytes(&mut throwaway)?;
        return Ok(Some(Arc::new(FieldCrypto::new(&[throwaway])?)));
    }
    let s = load_or_create(dir, KEY_FILE, 32)?;
    if s.created {
        tracing::warn!(file = %s.path.display(), "generated a data encryption key; give every node that shares this etcd the same apisix.data_encryption.keyring");
    }
    Ok(Some(Arc::new(FieldCrypto::new(&[s.value])?)))
}
