//! The SSL object schema: server certificates selected by SNI, client
//! certificates for upstream mTLS, and client-certificate verification.

use serde_json::{json, Value};

use super::{desc, id, labels, status, timestamp, HOST_PATTERN};

/// A PEM certificate (or a secret reference): 128 bytes to 64 KiB.
pub fn certificate() -> Value {
    json!({"type": "string", "minLength": 128, "maxLength": 64 * 1024})
}

/// A PEM private key (or a secret reference): 64 bytes to 64 KiB.
pub fn private_key() -> Value {
    json!({"type": "string", "minLength": 64, "maxLength": 64 * 1024})
}

/// An SSL object: certificate and key (plus extra pairs in `certs`/`keys`),
/// the SNIs it serves when `type` is `server`, and optional client verification.
pub fn ssl() -> Value {
    let sni = || json!({"type": "string", "pattern": HOST_PATTERN});
    json!({
        "type": "object",
        "properties": {
            "id": id(),
            "desc": desc(),
            "labels": labels(),
            "create_time": timestamp(),
            "update_time": timestamp(),
            "type": {
                "description": "server: served to clients by SNI; client: presented to upstreams",
                "type": "string",
                "enum": ["server", "client"],
                "default": "server"
            },
            "cert": certificate(),
            "key": private_key(),
            "sni": sni(),
            "snis": {"type": "array", "items": sni(), "minItems": 1},
            "certs": {"type": "array", "items": certificate()},
            "keys": {"type": "array", "items": private_key()},
            "client": {
                "type": "object",
                "properties": {
                    "ca": certificate(),
                    "depth": {"type": "integer", "minimum": 0, "default": 1},
                    "skip_mtls_uri_regex": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": true,
                        "items": {"description": "URI regex exempt from mTLS", "type": "string"}
                    }
                },
                "required": ["ca"]
            },
            "status": status(),
            "ssl_protocols": {
                "description": "TLS versions offered",
                "type": "array",
                "maxItems": 3,
                "uniqueItems": true,
                "items": {"enum": ["TLSv1.1", "TLSv1.2", "TLSv1.3"]}
            }
        },
        // An absent `type` means `server` (the `if` holds vacuously).
        "if": {"properties": {"type": {"enum": ["server"]}}},
        "then": {"oneOf": [
            {"required": ["sni", "key", "cert"]},
            {"required": ["snis", "key", "cert"]}
        ]},
        "else": {"required": ["key", "cert"]},
        "additionalProperties": false
    })
}
