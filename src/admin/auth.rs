//! Who may use the Admin API: the client address must be in `allow_admin`,
//! and the request must carry an admin key (`X-API-KEY` header, `api_key`
//! query argument or `x_api_key` cookie, in that order of precedence). Keys are
//! compared in constant time. `viewer` keys may only read.

use std::net::IpAddr;

use http::{HeaderMap, Method};

use super::error::AdminError;
use crate::expr::IpSet;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every method.
    Admin,
    /// `GET` only.
    Viewer,
}

/// Who is calling: the name of the key presented and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's name in `deployment.admin.admin_key` (`-` without keys).
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// One accepted key.
#[derive(Clone)]
pub struct ApiKey {
    /// The entry's name in `deployment.admin.admin_key` (for logs).
    pub name: String,
    /// The secret.
    pub key: String,
    /// Its role.
    pub role: Role,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "ApiKey({}, {:?})", self.name, self.role)
    }
}

/// The Admin API's access policy.
#[derive(Debug)]
pub struct AccessPolicy {
    /// `None`: `admin_key_required: false`, every request is an admin.
    pub keys: Option<Vec<ApiKey>>,
    /// `None`: any address.
    pub allow: Option<IpSet>,
}

impl AccessPolicy {
    /// Check the client address.
    pub fn check_address(&self, addr: IpAddr) -> Result<(), AdminError> {
        match &self.allow {
            Some(set) if !set.contains(addr) => Err(AdminError::Forbidden),
            _ => Ok(()),
        }
    }

    /// Check the key of a request and the method against its role.
    pub fn check_request(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Caller, AdminError> {
        let Some(keys) = &self.keys else {
            return Ok(Caller {
                name: "-".into(),
                role: Role::Admin,
            });
        };
        let Some(given) = presented_key(headers, query) else {
            return Err(AdminError::Unauthorized("missing apikey"));
        };
        // Compare against every key so the time taken does not tell which one matched.
        let mut matched = None;
        for k in keys {
            if constant_time_eq(k.key.as_bytes(), given.as_bytes()) && matched.is_none() {
                matched = Some(k);
            }
        }
        match matched {
            None => Err(AdminError::Unauthorized("wrong apikey")),
            Some(k) if k.role == Role::Viewer && method != Method::GET => {
                Err(AdminError::Unauthorized("invalid method for role viewer"))
            }
            Some(k) => Ok(Caller {
                name: k.name.clone(),
                role: k.role,
            }),
        }
    }
}

/// The key a request presents: header, then `api_key` query argument, then cookie.
fn presented_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.to_string());
    }
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("api_key=") {
                return Some(crate::proxy::path::percent_decode(v, true).into_owned());
            }
        }
    }
    for cookies in headers.get_all(http::header::COOKIE) {
        let Ok(s) = cookies.to_str() else { continue };
        for c in s.split(';') {
            if let Some(v) = c.trim().strip_prefix("x_api_key=") {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// Equality whose time depends on neither the contents nor the lengths:
/// both sides are hashed first and the digests compared without branching.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use ring::digest::{digest, SHA256};
    let (x, y) = (digest(&SHA256, a), digest(&SHA256, b));
    x.as_ref()
        .iter()
        .zip(y.as_ref())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AccessPolicy {
        AccessPolicy {
            keys: Some(vec![
                ApiKey {
                    name: "admin".into(),
                    key: "admin-key-0123456789".into(),
                    role: Role::Admin,
                },
                ApiKey {
                    name: "viewer".into(),
                    key: "viewer-key-0123456789".into(),
                    role: Role::Viewer,
                },
            ]),
            allow: Some(IpSet::parse(["127.0.0.0/24"]).unwrap()),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn key_sources_and_roles() {
        let p = policy();
        let get = Method::GET;
        let put = Method::PUT;
        let h = headers(&[("x-api-key", "admin-key-0123456789")]);
        assert_eq!(p.check_request(&put, &h, None).unwrap().role, Role::Admin);
        let q = Some("a=1&api_key=viewer-key-0123456789");
        assert_eq!(
            p.check_request(&get, &HeaderMap::new(), q).unwrap().role,
            Role::Viewer
        );
        let c = headers(&[("cookie", "a=b; x_api_key=admin-key-0123456789")]);
        assert_eq!(p.check_request(&put, &c, None).unwrap().name, "admin");
        let msg = |r: Result<Caller, AdminError>| match r {
            Err(AdminError::Unauthorized(d)) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            msg(p.check_request(&get, &HeaderMap::new(), None)),
            "missing apikey"
        );
        let wrong = headers(&[("x-api-key", "admin-key-012345678X")]);
        assert_eq!(msg(p.check_request(&get, &wrong, None)), "wrong apikey");
        assert_eq!(
            msg(p.check_request(&put, &HeaderMap::new(), q)),
            "invalid method for role viewer"
        );
    }

    #[test]
    fn addresses() {
        let p = policy();
        assert!(p.check_address("127.0.0.9".parse().unwrap()).is_ok());
        assert!(matches!(
            p.check_address("10.0.0.1".parse().unwrap()),
            Err(AdminError::Forbidden)
        ));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
