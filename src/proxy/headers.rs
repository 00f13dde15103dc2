//! Header handling between client and upstream: hop-by-hop headers removed in
//! both directions, `X-Forwarded-*` and `X-Real-IP` added, Host chosen by
//! `pass_host`.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::ip_text::ip_string;
use crate::config::resource::PassHost;
use crate::upstream::{Node, Upstream};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1;
/// the last two are the non-standard ones nginx drops as well).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Remove hop-by-hop headers, including those named in `Connection`.
/// `keep_upgrade` keeps `Connection: upgrade` + `Upgrade` for websocket requests.
///
/// One pass over the names present (usually a handful) finds the fixed
/// hop-by-hop ones; `Connection` tokens are looked up only when that header
/// is there. Nothing is allocated unless a token names a header present.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let mut present: u16 = 0;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    // Headers named by `Connection` tokens (`Connection: keep-alive, x-secret`).
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| headers.contains_key(n) && !HOP_BY_HOP.contains(n))
        .collect();
    let upgrade = keep_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    for name in named {
        headers.remove(name);
    }
    if let Some(up) = upgrade {
        headers.insert(header::UPGRADE, up);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

thread_local! {
    /// The last client address and listener port as header values: requests
    /// on a keep-alive connection (or from one busy client) reuse them
    /// instead of formatting and allocating each time.
    static LAST_VALUES: std::cell::RefCell<Option<(IpAddr, HeaderValue, u16, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
}

/// `client` and `port` as header values (cached per thread).
fn forwarded_values(client: IpAddr, port: u16) -> (HeaderValue, HeaderValue) {
    LAST_VALUES.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return (ip_value(client), HeaderValue::from(port));
        };
        match slot.as_mut() {
            Some((ip, ipv, p, pv)) => {
                if *ip != client {
                    *ip = client;
                    *ipv = ip_value(client);
                }
                if *p != port {
                    *p = port;
                    *pv = HeaderValue::from(port);
                }
                (ipv.clone(), pv.clone())
            }
            None => {
                let values = (ip_value(client), HeaderValue::from(port));
                *slot = Some((client, values.0.clone(), port, values.1.clone()));
                values
            }
        }
    })
}

fn ip_value(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(ip_string(ip)))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Add `X-Forwarded-For` (appended), `X-Real-IP`, and `X-Forwarded-Proto/-Host/-Port`
/// (kept when the client already sent them, as APISIX does); `tls` says
/// whether the client connected over TLS.
pub fn add_forwarded(
    headers: &mut HeaderMap,
    client: IpAddr,
    host: Option<&str>,
    port: u16,
    tls: bool,
) {
    let (ip, port_value) = forwarded_values(client, port);
    // Several X-Forwarded-For headers are one list (RFC 9110 §5.3), as nginx joins them.
    let mut earlier = String::new();
    for v in headers.get_all(&X_FORWARDED_FOR).iter() {
        if let Ok(v) = v.to_str() {
            if !v.trim().is_empty() {
                earlier.push_str(v.trim());
                earlier.push_str(", ");
            }
        }
    }
    let xff = if earlier.is_empty() {
        Some(ip.clone())
    } else {
        earlier.push_str(ip.to_str().unwrap_or_default());
        HeaderValue::from_maybe_shared(Bytes::from(earlier)).ok()
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_REAL_IP, ip);
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        let proto = if tls { "https" } else { "http" };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !headers.contains_key(&X_FORWARDED_HOST) {
        // nginx's $host: lower-case, without the port.
        let value = host.and_then(|h| match h.bytes().any(|b| b.is_ascii_uppercase()) {
            true => HeaderValue::from_str(&h.to_ascii_lowercase()).ok(),
            false => HeaderValue::from_str(h).ok(),
        });
        if let Some(v) = value {
            headers.insert(X_FORWARDED_HOST, v);
        }
    }
    if !headers.contains_key(&X_FORWARDED_PORT) {
        headers.insert(X_FORWARDED_PORT, port_value);
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
    fn cached_forwarded_values_follow_the_client_and_port() {
        for (ip, port) in [
            ("10.0.0.2", 9080),
            ("10.0.0.2", 9080),
            ("10.0.0.3", 9080),
            ("10.0.0.3", 9443),
        ] {
            let mut h = HeaderMap::new();
            add_forwarded(&mut h, ip.parse().unwrap(), None, port, false);
            assert_eq!(h["x-forwarded-for"], ip);
            assert_eq!(h["x-real-ip"], ip);
            assert_eq!(h["x-forwarded-port"], port.to_string().as_str());
        }
    }

    #[test]
    fn appends_forwarded_for() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("9.9.9.9"));
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        add_forwarded(
            &mut h,
            "10.0.0.2".parse().unwrap(),
            Some("A.com"),
            9080,
            false,
        );
        assert_eq!(h["x-forwarded-for"], "9.9.9.9, 1.1.1.1, 10.0.0.2");
        assert_eq!(h["x-real-ip"], "10.0.0.2");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.com");
        assert_eq!(h["x-forwarded-port"], "9080");
    }
}
