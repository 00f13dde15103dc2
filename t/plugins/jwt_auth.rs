//! `jwt-auth`: tokens signed with HS256, HS512, RS256 and ES256 (generated
//! here), from the header, query and cookie; APISIX's 401 bodies; claims;
//! `hide_credentials`; consumer checks of the Admin API.

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use super::Env;

/// A 2048-bit RSA key made once with `openssl genpkey` for these tests only.
const RSA_PRIVATE_PEM: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC984gF75QiGgra
zQ81rET7XM7OkuP1clg70GDcLSTa5NtVwqCZ47/jQiJozntgYMuVirq+8lJdLyWX
ZO49DnuVyVtTOigVK7ZsQBYZLXm9Q51ZuLB8Hoj8lh413/3SE+GQglj4mngMAM/j
BAyPGljOPMiqmUr78qE5wyRI0+Z9Cl68CvXAHyXPUWtTLW8xk2IgFXUqa6/sAZ+9
j4GcTJOquezxRZBri6WQu56uzZA2NoHBPAzYfNrrzHpSaREwKYYA0ZJmNobetpPM
t+B50qeiDxjyqFW9vBBWZyU1PLhICgPGl5THrLXJQoWBVsTNepggWUlL9CltSI3X
G87eUomvAgMBAAECggEAN2awnR6Xw2x6Dv/w+DQS+IdEkC56i0t63ZM0tPL7xVYr
fLNj2Q56mINg+tWCWYVRy39nYSrXB/Oo0KOw8qDnPbQ5TShwqWAS+Dam21gOojt2
yMTbwI+9X4I/NHJsmtmOl/HUlkmjSsjv2SQEr7Y9AYXr9wn3u000Zd77FbysBHrA
RBsPIVopm4yLuusyr9uAiqqPLEG0PeVvemtIJodRKV6ax22gansdbvpPv44by8jP
9yTSh1u8mtF0/HTlLeCKhD61GXIVZJTq/xx72tcSD8tTXuJwUonk3aN3ugGMYpMV
H/PEEvDDK6Fk6c/SFcAlrQ6E9apIPcEt5bc+/0BPsQKBgQD/sn9KZGC9ZRh4kjoI
ZNewkGVuDQNf5xz2mHxacgdpsVTf/FDMR0T8wz67genkicY5NR1YAdzKsoRPw52V
5f6ao7OMXwbH3eliXjT7cTPwokUu7sm+jSwrhwwCRrkr8L0g2FZQkaOLiCmcJHbi
kDQFImIjhcgrcEi8Wi6eh+uCvwKBgQC+LRs0lX8/RNV7SfLPlDSiLVya6Kd5Tu1c
c7AmtKIn0MAMFEUo2v0/N8qSAJgQA+L2zc1LfleHC6T+3Ud99T1nMrLgCW8fsryG
ROLegcfP/7yV/dGEKk+1kNps0jKK0buOfoTR/IB0bQ8S57CIxfmDEl+qhdXgZxfB
l4lT9MblEQKBgQDNydHqhHjbVSbpuv4bzVVOVBheBvklUTMdQEIs5MMUjFT74+z/
S4i5SUYO0RL2DPBNEHNqZi1VsXENZSlKAA32VTPnEH+7kd0Ifzty9nvP+jll+WbD
Bol7CrheiJ71P05nxdVKCLywSsj6Utqfo2FKlI6Zek1MsJTJimckzc18rwKBgFOy
cFW9Mcp7leTzz6wx0tRJWIdIu2Q1K1vUAoOWXgNd6Ren2CQ59NjcygdlwYbS3xG1
05NVIFpr8orEglFaHFMNyhG1tTVjKXuCV8KLpY/SQoJUueAL6xbCkI7yF5Jm6b+1
yOjN0w7qbIbqdxRK5RwdewMGcfGYDamC8sqDYQGxAoGAHHFwEHM52BiYgS8ybzLi
rtzJPna8bgnBET6YTnR0ITyJcCWRmnfoRhE9qnUz0c161xef+L2g7UTk4+9MvXVb
WiINYrcDvcbI71/bGxkfOHNclkmPX/axyjwMAKXFlvbn5fASgD7S0xmg85NM1UbP
97Jz56SDDJTLSDN6X9muAZY=
-----END PRIVATE KEY-----";
const RSA_PUBLIC_PEM: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvfOIBe+UIhoK2s0PNaxE
+1zOzpLj9XJYO9Bg3C0k2uTbVcKgmeO/40IiaM57YGDLlYq6vvJSXS8ll2TuPQ57
lclbUzooFSu2bEAWGS15vUOdWbiwfB6I/JYeNd/90hPhkIJY+Jp4DADP4wQMjxpY
zjzIqplK+/KhOcMkSNPmfQpevAr1wB8lz1FrUy1vMZNiIBV1Kmuv7AGfvY+BnEyT
qrns8UWQa4ulkLuers2QNjaBwTwM2Hza68x6UmkRMCmGANGSZjaG3raTzLfgedKn
og8Y8qhVvbwQVmclNTy4SAoDxpeUx6y1yUKFgVbEzXqYIFlJS/QpbUiN1xvO3lKJ
rwIDAQAB
-----END PUBLIC KEY-----";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signing key and the JWS `alg` it makes.
enum Signer {
    Hmac(ring::hmac::Algorithm, &'static str, Vec<u8>),
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl Signer {
    fn alg(&self) -> &'static str {
        match self {
            Signer::Hmac(_, a, _) => a,
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    fn token(&self, payload: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match self {
            Signer::Hmac(alg, _, secret) => {
                let key = ring::hmac::Key::new(*alg, secret);
                ring::hmac::sign(&key, signed.as_bytes()).as_ref().to_vec()
            }
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    signed.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Signer::Ec(k) => k.sign(&rng, signed.as_bytes()).unwrap().as_ref().to_vec(),
        };
        format!("{signed}.{}", b64(&sig))
    }
}

#[tokio::test]
async fn jwt_auth_verifies_four_algorithms_and_claims() {
    let env = Env::start().await;
    let ec = rcgen::KeyPair::generate().unwrap();
    let ec_signer = Signer::Ec(
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &ec.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap(),
    );
    let rsa_signer = Signer::Rsa(RsaKeyPair::from_pkcs8(&pem_der(RSA_PRIVATE_PEM)).unwrap());
    let consumers = [
        (
            "hs256",
            json!({"key": "hs256-key", "secret": "my-secret"}),
            Signer::Hmac(ring::hmac::HMAC_SHA256, "HS256", b"my-secret".to_vec()),
        ),
        // The secret is base64 of "binary-secret".
        (
            "hs512",
            json!({"key": "hs512-key", "secret": "YmluYXJ5LXNlY3JldA==", "base64_secret": true, "algorithm": "HS512"}),
            Signer::Hmac(ring::hmac::HMAC_SHA512, "HS512", b"binary-secret".to_vec()),
        ),
        (
            "rs256",
            json!({"key": "rs256-key", "algorithm": "RS256", "public_key": RSA_PUBLIC_PEM}),
            rsa_signer,
        ),
        (
            "es256",
            json!({"key": "es256-key", "algorithm": "ES256", "public_key": ec.public_key_pem()}),
            ec_signer,
        ),
    ];
    for (name, conf, _) in &consumers {
        env.put(
            "/consumers",
            json!({"username": name, "plugins": {"jwt-auth": conf}}),
        )
        .await;
    }
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "plugins": {"jwt-auth": {}}, "upstream": env.upstream()}),
    )
    .await;

    let exp = now() + 3600;
    for (name, conf, signer) in &consumers {
        let token = signer.token(&json!({"key": conf["key"], "exp": exp}));
        let bearer = format!("Bearer {token}");
        let r = env.until("/echo", &[("authorization", &bearer)], 200).await;
        assert_eq!(
            r.json()["headers"]["authorization"],
            bearer.as_str(),
            "{name}"
        );
        // Without `Bearer `, in the query, in the cookie.
        let r = env.get("/echo", &[("authorization", &token)]).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        let r = env.get(&format!("/echo?jwt={token}"), &[]).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        let cookie = format!("a=b; jwt={token}");
        let r = env.get("/echo", &[("cookie", &cookie)]).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        // A signature from another consumer's key.
        let (_, _, other) =
            &consumers[(consumers.iter().position(|c| c.0 == *name).unwrap() + 2) % 4];
        let forged = other.token(&json!({"key": conf["key"], "exp": exp}));
        let r = env.get("/echo", &[("authorization", &forged)]).await;
        assert_eq!(r.status, 401, "{name}");
        assert_eq!(r.json(), json!({"message": "failed to verify jwt"}));
    }

    let hs = &consumers[0].2;
    let unauthorized = |r: &crate::common::Resp, msg: &str| {
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.json(), json!({"message": msg}));
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"jwt\""));
    };
    unauthorized(&env.get("/echo", &[]).await, "Missing JWT token in request");
    unauthorized(
        &env.get("/echo", &[("authorization", "Bearer not.a-jwt")])
            .await,
        "JWT token invalid",
    );
    let t = hs.token(&json!({"exp": exp}));
    unauthorized(
        &env.get("/echo", &[("authorization", &t)]).await,
        "missing user key in JWT token",
    );
    let t = hs.token(&json!({"key": "nobody", "exp": exp}));
    unauthorized(
        &env.get("/echo", &[("authorization", &t)]).await,
        "Invalid user key in JWT token",
    );
    let t = hs.token(&json!({"key": "hs256-key", "exp": now() - 10}));
    unauthorized(
        &env.get("/echo", &[("authorization", &t)]).await,
        "failed to verify jwt",
    );
    let t = hs.token(&json!({"key": "hs256-key", "nbf": now() + 600}));
    unauthorized(
        &env.get("/echo", &[("authorization", &t)]).await,
        "failed to verify jwt",
    );
    // An HS256 token for the RS256 consumer: algorithm mismatch.
    let t = hs.token(&json!({"key": "rs256-key", "exp": exp}));
    let r = env.get("/echo", &[("authorization", &t)]).await;
    unauthorized(&r, "failed to verify jwt");
    assert!(!r.body.contains("secret"));

    // Required claims, hidden credentials.
    env.put(
        "/routes/2",
        json!({"uri": "/echo/strict", "plugins": {"jwt-auth": {"claims_to_verify": ["exp"], "hide_credentials": true}},
               "upstream": env.upstream()}),
    )
    .await;
    let no_exp = hs.token(&json!({"key": "hs256-key"}));
    let r = env
        .until("/echo/strict", &[("authorization", &no_exp)], 401)
        .await;
    assert_eq!(r.json(), json!({"message": "failed to verify jwt"}));
    let t = hs.token(&json!({"key": "hs256-key", "exp": exp}));
    let r = env.get(&format!("/echo/strict?jwt={t}&x=1"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["uri"], "/echo/strict?x=1");
    let r = env
        .get("/echo/strict", &[("cookie", &format!("a=b; jwt={t}; c=d"))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["headers"]["cookie"], "a=b; c=d");
    let r = env.get("/echo/strict", &[("authorization", &t)]).await;
    assert!(r.json()["headers"].get("authorization").is_none());

    // Consumer checks.
    let r = env
        .admin
        .put(
            "/consumers",
            json!({"username": "bad", "plugins": {"jwt-auth": {"key": "bad-key"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("property \\\"secret\\\" is required when using HS based algorithms"),
        "{}",
        r.body
    );
    let r = env
        .admin
        .put(
            "/consumers",
            json!({"username": "bad", "plugins": {"jwt-auth": {"key": "bad-key", "algorithm": "RS256"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
