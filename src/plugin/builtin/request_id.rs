//! `request-id` (priority 12015, rewrite and header_filter phases): gives
//! each request an id in `header_name` (default `X-Request-Id`) unless the
//! client sent a non-empty one, sends it upstream, and with
//! `include_in_response` (default true) adds it to the response when the
//! upstream did not. `algorithm`: `uuid` (v4, default), `uuidv7`, `nanoid`
//! (21 characters), `ksuid` (27) or `range_id` (`range_id.length` characters,
//! default 16, from `range_id.char_set`). The id is also the
//! `apisix_request_id` and `request_id` variables.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};

const DEFAULT_CHAR_SET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIGKLMNOPQRSTUVWXYZ0123456789";
const NANOID_ALPHABET: &[u8; 64] =
    b"-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// KSUID timestamps count from 2014-05-13.
const KSUID_EPOCH: u64 = 1_400_000_000;

/// The factory.
pub struct RequestIdFactory;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Algorithm {
    Uuid,
    UuidV7,
    Nanoid,
    Ksuid,
    Range { length: usize, chars: Vec<char> },
}

struct RequestId {
    header: HeaderName,
    include_in_response: bool,
    algorithm: Algorithm,
    /// The context variable carrying this instance's id to `header_filter`.
    slot: String,
}

impl PluginFactory for RequestIdFactory {
    fn name(&self) -> &'static str {
        "request-id"
    }
    fn priority(&self) -> i64 {
        12015
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "header_name": {"type": "string", "default": "X-Request-Id"},
                "include_in_response": {"type": "boolean", "default": true},
                "algorithm": {
                    "type": "string",
                    "enum": ["uuid", "nanoid", "range_id", "ksuid", "uuidv7"],
                    "default": "uuid"
                },
                "range_id": {
                    "type": "object",
                    "properties": {
                        "length": {"type": "integer", "minimum": 6, "default": 16},
                        "char_set": {"type": "string", "minLength": 6, "default": DEFAULT_CHAR_SET}
                    },
                    "default": {"length": 16, "char_set": DEFAULT_CHAR_SET}
                }
            }
        })
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let name = conf
            .get("header_name")
            .and_then(Value::as_str)
            .unwrap_or("X-Request-Id");
        let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("header_name: {e}"))?;
        let range = conf.get("range_id");
        let algorithm = match conf.get("algorithm").and_then(Value::as_str) {
            Some("nanoid") => Algorithm::Nanoid,
            Some("ksuid") => Algorithm::Ksuid,
            Some("uuidv7") => Algorithm::UuidV7,
            Some("range_id") => Algorithm::Range {
                length: range
                    .and_then(|r| r.get("length"))
                    .and_then(Value::as_u64)
                    .and_then(|l| usize::try_from(l).ok())
                    .unwrap_or(16),
                chars: range
                    .and_then(|r| r.get("char_set"))
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_CHAR_SET)
                    .chars()
                    .collect(),
            },
            _ => Algorithm::Uuid,
        };
        Ok(Arc::new(RequestId {
            slot: format!("request-id-{}", header.as_str()),
            header,
            include_in_response: conf
                .get("include_in_response")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            algorithm,
        }))
    }
}

/// `n` random bytes (the system CSPRNG; `fastrand` if it ever fails).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if SystemRandom::new().fill(&mut b).is_err() {
        b.iter_mut().for_each(|x| *x = fastrand::u8(..));
    }
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 8-4-4-4-12 hex groups of 16 bytes.
fn uuid_text(b: &[u8; 16]) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(&b[..4]),
        hex(&b[4..6]),
        hex(&b[6..8]),
        hex(&b[8..10]),
        hex(&b[10..])
    )
}

fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

fn uuid_v7(unix_ms: u64) -> String {
    let mut b = random_bytes::<16>();
    b[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

fn nanoid() -> String {
    random_bytes::<21>()
        .iter()
        .map(|b| char::from(NANOID_ALPHABET[usize::from(b & 63)]))
        .collect()
}

/// 20 bytes (timestamp, 16 random) in base62, 27 characters.
fn ksuid(unix_secs: u64) -> String {
    let ts = u32::try_from(unix_secs.saturating_sub(KSUID_EPOCH)).unwrap_or(u32::MAX);
    let mut num = [0u8; 20];
    num[..4].copy_from_slice(&ts.to_be_bytes());
    num[4..].copy_from_slice(&random_bytes::<16>());
    let mut digits = Vec::with_capacity(27);
    // Repeated division of the big-endian number by 62.
    while num.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for byte in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = u8::try_from(acc / 62).unwrap_or(0);
            rem = acc % 62;
        }
        digits.push(BASE62[usize::try_from(rem).unwrap_or(0)]);
    }
    while digits.len() < 27 {
        digits.push(b'0');
    }
    digits.iter().rev().map(|d| char::from(*d)).collect()
}

fn range_id(length: usize, chars: &[char]) -> String {
    if chars.is_empty() {
        return String::new();
    }
    (0..length)
        .map(|_| chars[fastrand::usize(..chars.len())])
        .collect()
}

impl Algorithm {
    fn generate(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match self {
            Algorithm::Uuid => uuid_v4(),
            Algorithm::UuidV7 => uuid_v7(u64::try_from(now.as_millis()).unwrap_or(0)),
            Algorithm::Nanoid => nanoid(),
            Algorithm::Ksuid => ksuid(now.as_secs()),
            Algorithm::Range { length, chars } => range_id(*length, chars),
        }
    }
}

impl Plugin for RequestId {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        let sent = ctx
            .req
            .headers
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(String::from);
        let id = match sent {
            Some(id) => id,
            None => {
                let id = self.algorithm.generate();
                if let Ok(v) = HeaderValue::from_str(&id) {
                    ctx.req.headers.insert(self.header.clone(), v);
                }
                id
            }
        };
        if self.include_in_response {
            ctx.set_var(&self.slot, id.clone());
        }
        ctx.set_var("apisix_request_id", id.clone());
        ctx.set_var("request_id", id);
        Step::Continue
    }

    fn header_filter(&self, ctx: &mut Ctx, resp: &mut http::response::Parts) {
        if !self.include_in_response {
            return;
        }
        let present = resp
            .headers
            .get(&self.header)
            .is_some_and(|v| !v.is_empty());
        if present {
            return;
        }
        let id = ctx.vars.iter().find(|(k, _)| *k == self.slot);
        if let Some(v) = id.and_then(|(_, v)| HeaderValue::from_str(v).ok()) {
            resp.headers.insert(self.header.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), u);
        let v7 = uuid_v7(0x0123_4567_89ab);
        assert!(v7.starts_with("01234567-89ab-7"), "{v7}");
        let n = nanoid();
        assert_eq!(n.len(), 21);
        assert!(n.bytes().all(|c| NANOID_ALPHABET.contains(&c)));
        let k = ksuid(KSUID_EPOCH + 100);
        assert_eq!(k.len(), 27);
        assert!(k.bytes().all(|c| BASE62.contains(&c)));
        let r = range_id(8, &['a', 'b']);
        assert_eq!(r.len(), 8);
        assert!(r.chars().all(|c| c == 'a' || c == 'b'));
    }
}
