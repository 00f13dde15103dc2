//! Resource ids as APISIX accepts them: a string of `[a-zA-Z0-9-_.]`, 1–64
//! characters, or a positive integer. References (`upstream_id: 1`) may use
//! either form; both compare as the same string.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A validated resource id, always held as its string form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(pub String);

impl ResourceId {
    /// Validate an id written as a string.
    pub fn parse(s: &str) -> Result<ResourceId, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok {
            Ok(ResourceId(s.to_string()))
        } else {
            Err(format!(
                "id `{s}` must be 1-64 characters of [a-zA-Z0-9-_.] or a positive integer"
            ))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) if n >= 1 => Ok(ResourceId(n.to_string())),
            Raw::N(n) => Err(serde::de::Error::custom(format!(
                "id {n} must be a positive integer"
            ))),
            Raw::S(s) => ResourceId::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}
