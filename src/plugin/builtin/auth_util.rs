//! Helpers the auth plugins share: constant-time secret comparison, the
//! `Authorization: Basic` header, base64 in its JWT and PEM flavours, and
//! enough DER to pull a public key out of a PEM `SubjectPublicKeyInfo` in the
//! form `ring` verifies with.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ring::digest::{digest, SHA256};

/// Standard base64, padding optional (nginx's `decode_base64` is as lenient).
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe base64, padding optional (JWT segments).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Whether two secrets are equal, in time independent of where they differ
/// and of their lengths (both are hashed first).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (digest(&SHA256, a), digest(&SHA256, b));
    let diff = da
        .as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0 && a.len() == b.len()
}

/// Decode standard base64 (padding optional).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD_LENIENT.decode(s.trim()).ok()
}

/// Decode URL-safe base64 (padding optional), as JWT segments use.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_LENIENT.decode(s).ok()
}

/// Why a `Basic` header could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BasicError {
    /// No `basic <credentials>` in the header.
    Format,
    /// The credentials are not base64.
    Base64,
    /// The decoded credentials have no `:`.
    NoColon,
}

/// `(username, password)` from an `Authorization` value. Like APISIX, the
/// scheme is found case-insensitively (`basic` followed by one whitespace)
/// and whitespace inside both parts is dropped; unlike APISIX the password
/// is everything after the first `:` (RFC 7617), so it may contain colons.
pub fn parse_basic(header: &str) -> Result<(String, String), BasicError> {
    let lower = header.to_ascii_lowercase();
    let creds = lower
        .match_indices("basic")
        .find_map(|(i, _)| {
            let rest = header.get(i + 5..)?;
            let mut chars = rest.chars();
            let ws = chars.next()?;
            let tail = chars.as_str();
            (ws.is_whitespace() && !tail.is_empty()).then_some(tail)
        })
        .ok_or(BasicError::Format)?;
    let decoded = base64_decode(creds).ok_or(BasicError::Base64)?;
    let decoded = String::from_utf8_lossy(&decoded);
    let (user, pass) = decoded.split_once(':').ok_or(BasicError::NoColon)?;
    let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    Ok((strip(user), strip(pass)))
}

/// The DER inside the first PEM block labelled `label` (`PUBLIC KEY`).
pub fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem.get(start..)?.find(&end)?;
    let body: String = pem
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD_LENIENT.decode(body).ok()
}

/// One DER element: (tag, contents, the rest after it).
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (content, after) = rest.split_at(len);
    Some((tag, content, after))
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;
const TAG_BIT_STRING: u8 = 0x03;
/// 1.2.840.113549.1.1.1
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (P-256)
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 (P-384)
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.3.101.112 (Ed25519)
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A public key ready for `ring::signature::UnparsedPublicKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// PKCS#1 `RSAPublicKey` DER.
    Rsa(Vec<u8>),
    /// An uncompressed P-256 point.
    EcP256(Vec<u8>),
    /// An uncompressed P-384 point.
    EcP384(Vec<u8>),
    /// A raw Ed25519 key.
    Ed25519(Vec<u8>),
}

/// The key of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, EC P-256/P-384,
/// Ed25519) or `RSA PUBLIC KEY` (PKCS#1) block.
pub fn public_key_from_pem(pem: &str) -> Result<PublicKey, &'static str> {
    if let Some(der) = pem_block(pem, "RSA PUBLIC KEY") {
        return Ok(PublicKey::Rsa(der));
    }
    let der = pem_block(pem, "PUBLIC KEY").ok_or("not a PEM public key")?;
    let (tag, spki, _) = der_next(&der).ok_or("bad DER")?;
    if tag != TAG_SEQUENCE {
        return Err("bad SubjectPublicKeyInfo");
    }
    let (tag, alg, rest) = der_next(spki).ok_or("bad DER")?;
    let (bits_tag, bits, _) = der_next(rest).ok_or("bad DER")?;
    if tag != TAG_SEQUENCE || bits_tag != TAG_BIT_STRING {
        return Err("bad SubjectPublicKeyInfo");
    }
    let (oid_tag, oid, params) = der_next(alg).ok_or("bad DER")?;
    if oid_tag != TAG_OID {
        return Err("bad algorithm identifier");
    }
    // The first byte of a BIT STRING counts unused bits; keys use whole bytes.
    let key = match bits.split_first() {
        Some((0, key)) => key.to_vec(),
        _ => return Err("bad key bits"),
    };
    match oid {
        OID_RSA => Ok(PublicKey::Rsa(key)),
        OID_EC => match der_next(params) {
            Some((TAG_OID, OID_P256, _)) => Ok(PublicKey::EcP256(key)),
            Some((TAG_OID, OID_P384, _)) => Ok(PublicKey::EcP384(key)),
            _ => Err("unsupported EC curve"),
        },
        OID_ED25519 => Ok(PublicKey::Ed25519(key)),
        _ => Err("unsupported key type"),
    }
}

/// An auth plugin's 401: `{"message": msg}` with
/// `WWW-Authenticate: {scheme} realm="{realm}"`.
pub fn unauthorized(scheme: &str, realm: &str, msg: &str) -> crate::plugin::Step {
    let mut r = crate::plugin::PluginResponse::message(http::StatusCode::UNAUTHORIZED, msg);
    if let Ok(v) = http::HeaderValue::from_str(&format!("{scheme} realm=\"{realm}\"")) {
        r.headers.insert(http::header::WWW_AUTHENTICATE, v);
    }
    crate::plugin::Step::Respond(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
        assert!(secrets_equal(b"", b""));
    }

    #[test]
    fn basic_headers() {
        // "foo:bar"
        assert_eq!(
            parse_basic("Basic Zm9vOmJhcg=="),
            Ok(("foo".into(), "bar".into()))
        );
        assert_eq!(
            parse_basic("BASIC Zm9vOmJhcg"),
            Ok(("foo".into(), "bar".into()))
        );
        // "foo:b:r"
        assert_eq!(
            parse_basic("basic Zm9vOmI6cg=="),
            Ok(("foo".into(), "b:r".into()))
        );
        assert_eq!(parse_basic("Bearer x"), Err(BasicError::Format));
        assert_eq!(parse_basic("Basic "), Err(BasicError::Format));
        assert_eq!(parse_basic("Basic !!!"), Err(BasicError::Base64));
        // "foobar"
        assert_eq!(parse_basic("Basic Zm9vYmFy"), Err(BasicError::NoColon));
    }

    #[test]
    fn pem_and_spki() {
        // An EC P-256 SubjectPublicKeyInfo.
        let pem = "-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n\
q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n\
-----END PUBLIC KEY-----\n";
        match public_key_from_pem(pem) {
            Ok(PublicKey::EcP256(p)) => {
                assert_eq!(p.len(), 65);
                assert_eq!(p[0], 4);
            }
            other => panic!("{other:?}"),
        }
        assert!(public_key_from_pem("nonsense").is_err());
        let der = pem_block("-----BEGIN X-----\nAAEC\n-----END X-----", "X");
        assert_eq!(der, Some(vec![0, 1, 2]));
    }

    #[test]
    fn der_lengths() {
        let long = [&[0x04u8, 0x81, 0x03][..], &[1, 2, 3]].concat();
        assert_eq!(der_next(&long), Some((0x04, &[1u8, 2, 3][..], &[][..])));
        assert_eq!(der_next(&[0x04, 0x05, 1]), None);
    }
}
