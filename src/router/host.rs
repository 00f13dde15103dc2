//! Host handling: parsing host patterns at build time and trimming the
//! request's Host value (port, IPv6 brackets) without allocating.
//!
//! IPv6 literals are keyed without brackets, so `[::1]`, `[::1]:9080` and
//! `::1` all name the same host. Case is handled by the case-insensitive
//! host table, never by lower-casing the request value.

use super::error::RouterError;

/// A parsed host pattern.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// `*`: any host.
    Any,
    /// A full host name, lower-cased.
    Exact(String),
    /// `*suffix`: any host ending in `suffix` (lower-cased, non-empty), so
    /// `*.foo.com` matches `a.foo.com` and `a.b.foo.com` but not `foo.com`.
    Wildcard(String),
}

/// Removes a `:port` suffix and IPv6 brackets from a Host value.
#[inline]
pub(crate) fn trim_host(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.find(']') {
            Some(end) => inner.get(..end).unwrap_or(inner),
            None => inner,
        };
    }
    match host.find(':') {
        // Exactly one colon: `name:port`. Several: a bare IPv6 literal.
        Some(i) if !host.get(i + 1..).unwrap_or("").contains(':') => host.get(..i).unwrap_or(host),
        _ => host,
    }
}

fn bad(host: &str, reason: &'static str) -> RouterError {
    RouterError::InvalidHost {
        host: host.to_owned(),
        reason,
    }
}

/// The kind of a host pattern, without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// `*`.
    Any,
    /// A full host name.
    Exact,
    /// `*suffix`.
    Wildcard,
}

/// Checks one host pattern of a route: its kind and its name (the host,
/// or the suffix after `*`; not lower-cased, empty for `*`).
pub(crate) fn classify_host(pattern: &str) -> Result<(HostKind, &str), RouterError> {
    let host = trim_host(pattern);
    if host.is_empty() {
        return Err(bad(pattern, "empty host"));
    }
    if host == "*" {
        return Ok((HostKind::Any, ""));
    }
    if let Some(suffix) = host.strip_prefix('*') {
        if suffix.contains('*') {
            return Err(bad(pattern, "'*' is only allowed as the first character"));
        }
        return Ok((HostKind::Wildcard, suffix));
    }
    if host.contains('*') {
        return Err(bad(pattern, "'*' is only allowed as the first character"));
    }
    Ok((HostKind::Exact, host))
}

/// Parses one host pattern of a route.
pub(crate) fn parse_host(pattern: &str) -> Result<HostPattern, RouterError> {
    Ok(match classify_host(pattern)? {
        (HostKind::Any, _) => HostPattern::Any,
        (HostKind::Exact, name) => HostPattern::Exact(name.to_ascii_lowercase()),
        (HostKind::Wildcard, name) => HostPattern::Wildcard(name.to_ascii_lowercase()),
    })
}
