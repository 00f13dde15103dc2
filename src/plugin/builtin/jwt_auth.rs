//! `jwt-auth` (priority 2510, rewrite phase): identifies the consumer by a
//! JWT from the `authorization` header (with or without `Bearer `), else the
//! `jwt` query argument, else the `jwt` cookie. The payload's `key` claim
//! (`key_claim_name`) names the consumer credential; its `algorithm`
//! (default HS256) must equal the token's `alg`, and the signature is checked
//! with its `secret` (HS*) or `public_key` (RS*, PS*, ES256, ES384, EdDSA).
//! `exp`/`nbf` are checked when present, or required when listed in
//! `claims_to_verify`, with the consumer's `lifetime_grace_period` as leeway.
//!
//! Answers 401 with `WWW-Authenticate: Bearer realm="jwt"` and
//! `{"message": …}`: `Missing JWT token in request`, `JWT token invalid`,
//! `missing user key in JWT token`, `Invalid user key in JWT token` or
//! `failed to verify jwt` — never with key material (CVE-2022-29266) —
//! unless an `anonymous_consumer` is configured.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::{json, Map, Value};

use super::auth_util::{base64_decode, base64url_decode, public_key_from_pem, PublicKey};
use super::basic_auth::realm_schema;
use super::request_util::{query_arg, without_query_arg};
use crate::plugin::consumers::Consumer;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};
use crate::proxy::request_vars::cookie;

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
    "PS384", "PS512", "EdDSA",
];

/// The factory.
pub struct JwtAuthFactory;

struct JwtAuth {
    header: HeaderName,
    query: String,
    cookie: String,
    hide_credentials: bool,
    key_claim_name: String,
    store_in_ctx: bool,
    realm: String,
    anonymous_consumer: Option<String>,
    /// `None`: check `exp`/`nbf` only when present.
    claims_to_verify: Option<Vec<String>>,
}

impl PluginFactory for JwtAuthFactory {
    fn name(&self) -> &'static str {
        "jwt-auth"
    }
    fn priority(&self) -> i64 {
        2510
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "header": {"type": "string", "default": "authorization"},
                "query": {"type": "string", "default": "jwt"},
                "cookie": {"type": "string", "default": "jwt"},
                "hide_credentials": {"type": "boolean", "default": false},
                "key_claim_name": {"type": "string", "default": "key", "minLength": 1},
                "store_in_ctx": {"type": "boolean", "default": false},
                "realm": realm_schema("jwt"),
                "anonymous_consumer": {"type": "string", "minLength": 1},
                "claims_to_verify": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["exp", "nbf"]},
                    "uniqueItems": true
                }
            }
        })
    }
    fn consumer_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "properties": {
                "key": {"type": "string", "minLength": 1},
                "secret": {"type": "string", "minLength": 1},
                "algorithm": {"type": "string", "enum": ALGORITHMS, "default": "HS256"},
                "exp": {"type": "integer", "minimum": 1, "default": 86400},
                "base64_secret": {"type": "boolean", "default": false},
                "lifetime_grace_period": {"type": "integer", "minimum": 0, "default": 0}
            },
            "dependencies": {
                "algorithm": {
                    "oneOf": [
                        {"properties": {"algorithm": {"enum": ["HS256", "HS384", "HS512"], "default": "HS256"}}},
                        {
                            "properties": {
                                "public_key": {"type": "string", "minLength": 1},
                                "algorithm": {"enum": &ALGORITHMS[3..]}
                            },
                            "required": ["public_key"]
                        }
                    ]
                }
            },
            "encrypt_fields": ["secret"],
            "required": ["key"]
        }))
    }
    fn consumer_key(&self, conf: &Value) -> Option<String> {
        conf.get("key").and_then(Value::as_str).map(String::from)
    }
    fn check(&self, conf: &Value, on_consumer: bool) -> Result<(), String> {
        if !on_consumer {
            return Ok(());
        }
        let text = |k: &str| conf.get(k).and_then(Value::as_str);
        let alg = text("algorithm").unwrap_or("HS256");
        let is_hs = alg.starts_with("HS");
        if is_hs && text("secret").is_none() {
            return Err("property \"secret\" is required when using HS based algorithms".into());
        }
        if conf.get("base64_secret").and_then(Value::as_bool) == Some(true)
            && text("secret").and_then(base64_decode).is_none()
        {
            return Err("base64_secret required but the secret is not in base64 format".into());
        }
        if is_hs {
            return Ok(());
        }
        let pem = text("public_key").ok_or("missing valid public key")?;
        // Stricter than APISIX, which accepts any text and then fails every token.
        let key = public_key_from_pem(pem).map_err(|e| format!("invalid public key: {e}"))?;
        verifier(alg, &key)
            .map(|_| ())
            .ok_or_else(|| format!("algorithm {alg} is not supported with this public key"))
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let text = |k: &str, d: &str| conf.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
        let flag = |k: &str| conf.get(k).and_then(Value::as_bool).unwrap_or(false);
        let header =
            HeaderName::from_bytes(text("header", "authorization").to_lowercase().as_bytes())
                .map_err(|e| format!("header: {e}"))?;
        Ok(Arc::new(JwtAuth {
            header,
            query: text("query", "jwt"),
            cookie: text("cookie", "jwt"),
            hide_credentials: flag("hide_credentials"),
            key_claim_name: text("key_claim_name", "key"),
            store_in_ctx: flag("store_in_ctx"),
            realm: text("realm", "jwt"),
            anonymous_consumer: conf
                .get("anonymous_consumer")
                .and_then(Value::as_str)
                .map(String::from),
            claims_to_verify: conf
                .get("claims_to_verify")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                }),
        }))
    }
}

/// The `ring` verification algorithm for a JWS `alg` and key type.
fn verifier(alg: &str, key: &PublicKey) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (alg, key) {
        ("RS256", PublicKey::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("RS384", PublicKey::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("RS512", PublicKey::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("PS256", PublicKey::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA256,
        ("PS384", PublicKey::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA384,
        ("PS512", PublicKey::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA512,
        ("ES256", PublicKey::EcP256(_)) => &signature::ECDSA_P256_SHA256_FIXED,
        ("ES384", PublicKey::EcP384(_)) => &signature::ECDSA_P384_SHA384_FIXED,
        ("EdDSA", PublicKey::Ed25519(_)) => &signature::ED25519,
        _ => return None,
    })
}

/// A parsed compact JWS.
#[derive(Debug)]
struct Jwt<'t> {
    header: Map<String, Value>,
    payload: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    signed: &'t str,
    signature: Vec<u8>,
}

impl<'t> Jwt<'t> {
    fn parse(token: &'t str) -> Option<Jwt<'t>> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let object = |seg: &str| match serde_json::from_slice(&base64url_decode(seg)?) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        };
        Some(Jwt {
            header: object(h)?,
            payload: object(p)?,
            signed: token.get(..h.len() + 1 + p.len())?,
            signature: base64url_decode(s)?,
        })
    }

    /// Check the signature with a consumer's configuration.
    fn verify_signature(&self, alg: &str, conf: &Value) -> bool {
        let text = |k: &str| conf.get(k).and_then(Value::as_str);
        let hmac = match alg {
            "HS256" => Some(ring::hmac::HMAC_SHA256),
            "HS384" => Some(ring::hmac::HMAC_SHA384),
            "HS512" => Some(ring::hmac::HMAC_SHA512),
            _ => None,
        };
        if let Some(hmac) = hmac {
            let Some(secret) = text("secret") else {
                return false;
            };
            let secret = match conf.get("base64_secret").and_then(Value::as_bool) {
                Some(true) => match base64_decode(secret) {
                    Some(s) => s,
                    None => return false,
                },
                _ => secret.as_bytes().to_vec(),
            };
            let key = ring::hmac::Key::new(hmac, &secret);
            // Constant-time comparison inside ring.
            return ring::hmac::verify(&key, self.signed.as_bytes(), &self.signature).is_ok();
        }
        let Some(key) = text("public_key").and_then(|p| public_key_from_pem(p).ok()) else {
            return false;
        };
        let Some(algorithm) = verifier(alg, &key) else {
            return false;
        };
        let raw = match &key {
            PublicKey::Rsa(k)
            | PublicKey::EcP256(k)
            | PublicKey::EcP384(k)
            | PublicKey::Ed25519(k) => k,
        };
        UnparsedPublicKey::new(algorithm, raw)
            .verify(self.signed.as_bytes(), &self.signature)
            .is_ok()
    }

    /// Check `exp`/`nbf` at `now` with `leeway` seconds of grace.
    fn verify_claims(
        &self,
        required: Option<&[String]>,
        now: f64,
        leeway: f64,
    ) -> Result<(), String> {
        let defaults = ["nbf".to_string(), "exp".to_string()];
        let (claims, must) = match required {
            Some(list) => (list, true),
            None => (&defaults[..], false),
        };
        for name in claims {
            let claim = match self.payload.get(name) {
                Some(c) => c,
                None if must => return Err(format!("claim {name} is missing")),
                None => continue,
            };
            let value = claim
                .as_f64()
                .ok_or_else(|| format!("claim {name} is not a number"))?;
            let ok = match name.as_str() {
                "nbf" => value < now + leeway,
                "exp" => value > now - leeway,
                _ => true,
            };
            if !ok {
                return Err(format!("'{name}' claim check failed at {value}"));
            }
        }
        Ok(())
    }
}

/// Seconds since the epoch.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The `Cookie` header without cookie `name`.
fn without_cookie(header: &str, name: &str) -> String {
    header
        .split(';')
        .map(str::trim)
        .filter(|kv| !kv.is_empty() && kv.split_once('=').map_or(*kv, |(k, _)| k.trim()) != name)
        .collect::<Vec<_>>()
        .join("; ")
}

impl JwtAuth {
    fn unauthorized(&self, msg: &str) -> Step {
        super::auth_util::unauthorized("Bearer", &self.realm, msg)
    }

    /// The token from the header, query or cookie (hidden there if configured).
    fn fetch_token(&self, ctx: &mut Ctx) -> Option<String> {
        if let Some(v) = ctx.req.headers.get(&self.header) {
            let token = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if self.hide_credentials {
                ctx.req.headers.remove(&self.header);
            }
            return Some(match token.get(..7) {
                Some("Bearer " | "bearer ") => token[7..].to_string(),
                _ => token,
            });
        }
        if let Some(t) = query_arg(&ctx.req.uri, &self.query).map(|t| t.into_owned()) {
            if self.hide_credentials {
                ctx.req.uri = without_query_arg(&ctx.req.uri, &self.query);
            }
            return Some(t);
        }
        let token = cookie(&ctx.req.headers, &self.cookie)?.to_string();
        if self.hide_credentials {
            let all: Vec<String> = ctx
                .req
                .headers
                .get_all(http::header::COOKIE)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let kept = without_cookie(&all.join("; "), &self.cookie);
            ctx.req.headers.remove(http::header::COOKIE);
            if let (false, Ok(v)) = (kept.is_empty(), HeaderValue::from_str(&kept)) {
                ctx.req.headers.insert(http::header::COOKIE, v);
            }
        }
        Some(token)
    }

    /// The consumer the token names, or the 401 message.
    fn find(&self, ctx: &mut Ctx) -> Result<(Arc<Consumer>, Option<Value>), &'static str> {
        let token = self
            .fetch_token(ctx)
            .ok_or("Missing JWT token in request")?;
        let jwt = Jwt::parse(&token).ok_or("JWT token invalid")?;
        let user_key = match jwt.payload.get(&self.key_claim_name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("missing user key in JWT token"),
        };
        let (consumer, conf) = ctx
            .snapshot
            .plugins
            .consumers
            .find("jwt-auth", &user_key)
            .ok_or("Invalid user key in JWT token")?;
        let expected = conf
            .get("algorithm")
            .and_then(Value::as_str)
            .unwrap_or("HS256");
        if jwt.header.get("alg").and_then(Value::as_str) != Some(expected) {
            tracing::warn!(consumer = %consumer.username, "jwt-auth: algorithm mismatch, expected {expected}");
            return Err("failed to verify jwt");
        }
        if !jwt.verify_signature(expected, conf) {
            tracing::warn!(consumer = %consumer.username, "jwt-auth: signature mismatch");
            return Err("failed to verify jwt");
        }
        let leeway = conf
            .get("lifetime_grace_period")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if let Err(e) = jwt.verify_claims(self.claims_to_verify.as_deref(), now(), leeway) {
            tracing::warn!(consumer = %consumer.username, "jwt-auth: failed to verify jwt: {e}");
            return Err("failed to verify jwt");
        }
        let payload = self.store_in_ctx.then_some(Value::Object(jwt.payload));
        Ok((consumer.clone(), payload))
    }
}

impl Plugin for JwtAuth {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        let consumer = match self.find(ctx) {
            Ok((c, payload)) => {
                if let Some(p) = payload {
                    ctx.set_var("jwt_auth_payload", p.to_string());
                }
                c
            }
            Err(msg) => {
                let Some(anon) = &self.anonymous_consumer else {
                    return self.unauthorized(msg);
                };
                match ctx.snapshot.plugins.consumers.by_name(anon) {
                    Some(c) => c.clone(),
                    None => {
                        tracing::error!(consumer = %anon, "jwt-auth: anonymous consumer not found");
                        return self.unauthorized("Invalid user authorization");
                    }
                }
            }
        };
        ctx.consumer = Some(consumer);
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validator::Schema;
    use base64::Engine;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn hs256(payload: &Value, secret: &[u8]) -> String {
        let signed = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(payload.to_string().as_bytes())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let sig = ring::hmac::sign(&key, signed.as_bytes());
        format!("{signed}.{}", b64(sig.as_ref()))
    }

    #[test]
    fn parses_and_verifies_hs256() {
        let token = hs256(&json!({"key": "k", "exp": 10}), b"s");
        let jwt = Jwt::parse(&token).unwrap();
        assert_eq!(jwt.payload["key"], "k");
        assert!(jwt.verify_signature("HS256", &json!({"secret": "s"})));
        assert!(!jwt.verify_signature("HS256", &json!({"secret": "t"})));
        // "s" in base64 is "cw=="
        assert!(jwt.verify_signature("HS256", &json!({"secret": "cw==", "base64_secret": true})));
        assert!(Jwt::parse("a.b").is_none());
        assert!(Jwt::parse("e30.e30.!!").is_none());
    }

    #[test]
    fn claims() {
        let token = hs256(&json!({"key": "k", "exp": 100, "nbf": 50}), b"s");
        let jwt = Jwt::parse(&token).unwrap();
        assert!(jwt.verify_claims(None, 60.0, 0.0).is_ok());
        assert!(jwt.verify_claims(None, 100.0, 0.0).is_err(), "expired");
        assert!(jwt.verify_claims(None, 100.0, 5.0).is_ok(), "grace");
        assert!(jwt.verify_claims(None, 40.0, 0.0).is_err(), "not yet");
        let bare = hs256(&json!({"key": "k"}), b"s");
        let bare = Jwt::parse(&bare).unwrap();
        assert!(
            bare.verify_claims(None, 1e9, 0.0).is_ok(),
            "absent claims pass"
        );
        let list = vec!["exp".to_string()];
        assert_eq!(
            bare.verify_claims(Some(list.as_slice()), 1e9, 0.0),
            Err("claim exp is missing".into())
        );
    }

    #[test]
    fn consumer_checks() {
        let f = JwtAuthFactory;
        let s = Schema::compile(&f.consumer_schema().unwrap()).unwrap();
        let mut conf = json!({"key": "k", "secret": "s"});
        s.validate_and_default(&mut conf).unwrap();
        assert_eq!(conf["algorithm"], "HS256");
        assert_eq!(conf["exp"], 86400);
        assert!(f.check(&conf, true).is_ok());
        let mut no_secret = json!({"key": "k"});
        s.validate_and_default(&mut no_secret).unwrap();
        assert_eq!(
            f.check(&no_secret, true).unwrap_err(),
            "property \"secret\" is required when using HS based algorithms"
        );
        assert!(s
            .validate(&json!({"key": "k", "algorithm": "RS256"}))
            .is_err());
        let bad = json!({"key": "k", "algorithm": "ES256", "public_key": "x"});
        assert!(s.validate(&bad).is_ok());
        assert!(f.check(&bad, true).is_err());
        assert_eq!(without_cookie("a=1; jwt=x; b=2", "jwt"), "a=1; b=2");
        Schema::compile(&f.schema()).unwrap();
    }
}
