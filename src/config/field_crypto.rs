//! Encryption at rest of secret fields (SSL private keys, plugin
//! `encrypt_fields`) stored in etcd.
//!
//! APISIX's `apisix.data_encryption` keeps a keyring: the first key encrypts,
//! every key is tried to decrypt, so keys rotate by prepending a new one.
//! strait uses AES-GCM (authenticated, unlike APISIX's AES-CBC) with a random
//! 96-bit nonce per value; the stored text is `base64(nonce || ciphertext || tag)`.
//! A value that no key decrypts is used as written when it is plainly not
//! ciphertext (a PEM block), so data written by hand with `etcdctl` still works.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// AES-GCM's tag length.
const TAG_LEN: usize = 16;

/// Why a keyring or a value could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A key is neither 16 nor 32 bytes long.
    #[error("encryption key {0} must be 16 or 32 bytes long")]
    BadKey(usize),
    /// No key of the keyring opens the value.
    #[error("no key of the keyring decrypts the value")]
    Undecryptable,
    /// The value is not something this keyring could have written (not
    /// base64, or too short to hold a nonce and a tag): it was stored as
    /// plain text.
    #[error("the value is not encrypted")]
    NotCiphertext,
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

/// The keyring: one AES-GCM key per configured secret, the first one encrypts.
pub struct FieldCrypto {
    keys: Vec<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for FieldCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FieldCrypto({} keys)", self.keys.len())
    }
}

impl FieldCrypto {
    /// Build from raw keys (16 bytes: AES-128-GCM, 32 bytes: AES-256-GCM).
    pub fn new<K: AsRef<[u8]>>(keyring: &[K]) -> Result<FieldCrypto, CryptoError> {
        let mut keys = Vec::with_capacity(keyring.len());
        for (i, k) in keyring.iter().enumerate() {
            let k = k.as_ref();
            let alg = match k.len() {
                16 => &AES_128_GCM,
                32 => &AES_256_GCM,
                _ => return Err(CryptoError::BadKey(i + 1)),
            };
            let unbound = UnboundKey::new(alg, k).map_err(|_| CryptoError::BadKey(i + 1))?;
            keys.push(LessSafeKey::new(unbound));
        }
        if keys.is_empty() {
            return Err(CryptoError::BadKey(0));
        }
        Ok(FieldCrypto {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// Encrypt `plain` with the first key.
    pub fn encrypt(&self, plain: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut buf = plain.as_bytes().to_vec();
        let key = self.keys.first().ok_or(CryptoError::BadKey(0))?;
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| CryptoError::Undecryptable)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    /// Decrypt a stored value with any key of the ring. A PEM block (never
    /// valid base64) is returned as is: it was written unencrypted.
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        if stored.contains("-----BEGIN") {
            return Ok(stored.to_string());
        }
        let raw = B64
            .decode(stored.trim())
            .map_err(|_| CryptoError::NotCiphertext)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::NotCiphertext);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        for key in &self.keys {
            let mut buf = sealed.to_vec();
            let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
                return Err(CryptoError::Undecryptable);
            };
            if let Ok(plain) = key.open_in_place(nonce, Aad::empty(), &mut buf) {
                return String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::Undecryptable);
            }
        }
        Err(CryptoError::Undecryptable)
    }
}

/// Fill `buf` from the system's CSPRNG (for generated secrets).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}

/// A random string of `len` characters from `A–Z a–z 0–9`.
pub fn random_token(len: usize) -> Result<String, CryptoError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut byte = [0u8; 1];
    while out.len() < len {
        random_bytes(&mut byte)?;
        // Rejection sampling keeps the distribution uniform (248 = 4 * 62).
        if byte[0] < 248 {
            out.push(ALPHABET[(byte[0] % 62) as usize] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

    #[test]
    fn round_trip_and_fresh_nonce() {
        let c = FieldCrypto::new(&["0123456789abcdef"]).unwrap();
        let a = c.encrypt(PEM).unwrap();
        let b = c.encrypt(PEM).unwrap();
        assert_ne!(a, b, "each encryption uses a new nonce");
        assert!(!a.contains("PRIVATE"));
        assert_eq!(c.decrypt(&a).unwrap(), PEM);
        assert_eq!(c.decrypt(&b).unwrap(), PEM);
    }

    #[test]
    fn rotation_decrypts_with_older_keys_only_if_kept() {
        let old = FieldCrypto::new(&["0123456789abcdef"]).unwrap();
        let stored = old.encrypt(PEM).unwrap();
        let rotated =
            FieldCrypto::new(&["fedcba9876543210fedcba9876543210", "0123456789abcdef"]).unwrap();
        assert_eq!(rotated.decrypt(&stored).unwrap(), PEM);
        let other = FieldCrypto::new(&["zzzzzzzzzzzzzzzz"]).unwrap();
        assert_eq!(other.decrypt(&stored), Err(CryptoError::Undecryptable));
    }

    #[test]
    fn tampering_is_detected_and_plain_pem_passes() {
        let c = FieldCrypto::new(&["0123456789abcdef"]).unwrap();
        let stored = c.encrypt(PEM).unwrap();
        let mut raw = B64.decode(&stored).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(c.decrypt(&B64.encode(raw)), Err(CryptoError::Undecryptable));
        assert_eq!(c.decrypt(PEM).unwrap(), PEM);
        assert_eq!(c.decrypt("not base64 !"), Err(CryptoError::NotCiphertext));
        assert_eq!(c.decrypt("c2hvcnQ="), Err(CryptoError::NotCiphertext));
    }

    #[test]
    fn key_lengths() {
        assert_eq!(
            FieldCrypto::new(&["short"]).unwrap_err(),
            CryptoError::BadKey(1)
        );
        assert!(FieldCrypto::new::<&str>(&[]).is_err());
        let t = random_token(32).unwrap();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, random_token(32).unwrap());
    }
}
