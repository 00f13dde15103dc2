//! Typed errors produced while building or updating the route index.

use std::fmt;

/// Why [`Router::build`](super::Router::build) or
/// [`Router::update`](super::Router::update) refused a set of routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterError {
    /// A route spec listed no uri at all; `route` is its position in the input
    /// (the `add` list for an update).
    MissingUri {
        /// Zero-based position of the offending spec in the input.
        route: usize,
    },
    /// A path pattern is malformed.
    InvalidUri {
        /// The pattern exactly as given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A host pattern is malformed.
    InvalidHost {
        /// The pattern exactly as given.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two routes share one key; keys name routes for [`Router::update`](super::Router::update).
    DuplicateKey {
        /// The key given twice.
        key: String,
    },
    /// The table would exceed the index's internal 32-bit limits.
    TooLarge,
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingUri { route } => write!(f, "route #{route} has no uri"),
            Self::InvalidUri { uri, reason } => write!(f, "invalid uri pattern {uri:?}: {reason}"),
            Self::InvalidHost { host, reason } => {
                write!(f, "invalid host pattern {host:?}: {reason}")
            }
            Self::DuplicateKey { key } => write!(f, "duplicate route key {key:?}"),
            Self::TooLarge => f.write_str("route table too large for the index"),
        }
    }
}

impl std::error::Error for RouterError {}

/// Converts a length or offset into the index's compact `u32` form.
#[inline]
pub(crate) fn to_u32(n: usize) -> Result<u32, RouterError> {
    u32::try_from(n).map_err(|_| RouterError::TooLarge)
}
