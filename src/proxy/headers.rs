//! Header handling between client and upstream: hop-by-hop headers removed in
//! both directions, `X-Forwarded-*` and `X-Real-IP` added, Host chosen by
//! `pass_host`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::resource::PassHost;
use crate::upstream::{Node, Upstream};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Remove hop-by-hop headers, including those named in `Connection`.
/// `keep_upgrade` keeps `Connection: upgrade` + `Upgrade` for websocket requests.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let upgrade = keep_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP.iter() {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if let Some(up) = upgrade {
        headers.insert(header::UPGRADE, up);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Add `X-Forwarded-For` (appended), `X-Real-IP`, and `X-Forwarded-Proto/-Host/-Port`
/// (kept when the client already sent them, as APISIX does).
pub fn add_forwarded(headers: &mut HeaderMap, client: IpAddr, host: Option<&str>, port: u16) {
    let ip = client.to_string();
    // Several X-Forwarded-For headers are one list (RFC 9110 §5.3), as nginx joins them.
    let mut xff = String::new();
    for v in headers.get_all("x-forwarded-for").iter() {
        if let Ok(v) = v.to_str() {
            if !v.trim().is_empty() {
                xff.push_str(v.trim());
                xff.push_str(", ");
            }
        }
    }
    xff.push_str(&ip);
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ip) {
        headers.insert("x-real-ip", v);
    }
    if !headers.contains_key("x-forwarded-proto") {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if !headers.contains_key("x-forwarded-host") {
        // nginx's $host: lower-case, without the port.
        if let Some(v) = host.and_then(|h| HeaderValue::from_str(&h.to_ascii_lowercase()).ok()) {
            headers.insert("x-forwarded-host", v);
        }
    }
    if !headers.contains_key("x-forwarded-port") {
        headers.insert("x-forwarded-port", HeaderValue::from(port));
    }
}

/// The Host header the upstream receives.
pub fn upstream_host(
    up: &Upstream,
    node: &Node,
    client_host: Option<&HeaderValue>,
) -> Option<HeaderValue> {
    match up.pass_host {
        // A client without Host (HTTP/1.0) still sends one upstream, as nginx does.
        PassHost::Pass => client_host
            .cloned()
            .or_else(|| Some(node.host_header.clone())),
        PassHost::Node => Some(node.host_header.clone()),
        PassHost::Rewrite => up.upstream_host.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_tokens() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn keeps_upgrade_for_websocket() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::CONNECTION], "upgrade");
    }

    #[test]
    fn appends_forwarded_for() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("9.9.9.9"));
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        add_forwarded(&mut h, "10.0.0.2".parse().unwrap(), Some("A.com"), 9080);
        assert_eq!(h["x-forwarded-for"], "9.9.9.9, 1.1.1.1, 10.0.0.2");
        assert_eq!(h["x-real-ip"], "10.0.0.2");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.com");
        assert_eq!(h["x-forwarded-port"], "9080");
    }
}
