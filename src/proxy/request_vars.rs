//! Request variables (`uri`, `host`, `arg_*`, `http_*`, `cookie_*`, ...) read
//! straight from the live request for `vars` expressions and `chash` keys:
//! nothing is copied up front; each lookup borrows when it can.

use std::borrow::Cow;

use http::{HeaderMap, Request, Version};

use super::ip_text::ip_string;
use super::ConnInfo;
use crate::expr::{VarLookup, VarName};

/// A view of one request as variables.
pub struct RequestVars<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    version: Version,
    headers: &'a HeaderMap,
    path: &'a str,
    host: Option<&'a str>,
    conn: &'a ConnInfo,
}

impl<'a> RequestVars<'a> {
    /// Variables of `req`; `path` is the normalized path, `host` the host without port.
    pub fn new<B>(
        req: &'a Request<B>,
        path: &'a str,
        host: Option<&'a str>,
        conn: &'a ConnInfo,
    ) -> RequestVars<'a> {
        RequestVars {
            method: req.method(),
            uri: req.uri(),
            version: req.version(),
            headers: req.headers(),
            path,
            host,
            conn,
        }
    }

    /// Variables of a request head (what plugins hold while they run).
    pub fn from_parts(
        parts: &'a http::request::Parts,
        path: &'a str,
        host: Option<&'a str>,
        conn: &'a ConnInfo,
    ) -> RequestVars<'a> {
        RequestVars {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            headers: &parts.headers,
            path,
            host,
            conn,
        }
    }

    /// nginx's TLS variables (`https`, `ssl_server_name`, `ssl_protocol`,
    /// `ssl_client_verify`, `ssl_client_s_dn`, `ssl_client_i_dn`,
    /// `ssl_client_serial`); none on a plain connection (`https` is empty).
    fn tls_var(&self, name: &str) -> Option<Cow<'a, str>> {
        let tls = self.conn.tls.as_deref();
        let cert = tls.and_then(|t| t.client_cert.as_ref());
        let value: &'a str = match name {
            "https" => return Some(Cow::Borrowed(if tls.is_some() { "on" } else { "" })),
            "ssl_server_name" => tls?.server_name.as_deref()?,
            "ssl_protocol" => tls?.protocol,
            "ssl_client_verify" => tls?.client_verify(),
            "ssl_client_s_dn" => cert?.subject.as_str(),
            "ssl_client_i_dn" => cert?.issuer.as_str(),
            "ssl_client_serial" => cert?.serial.as_str(),
            _ => return None,
        };
        Some(Cow::Borrowed(value))
    }

    fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(Cow::Borrowed)
    }
}

impl<'a> RequestVars<'a> {
    /// The value of `var`, borrowing from the request itself (not from this
    /// view), so a holder of the request can return it without copying.
    pub fn lookup(&self, var: &VarName) -> Option<Cow<'a, str>> {
        match var {
            VarName::Uri => Some(Cow::Borrowed(self.path)),
            VarName::RequestUri => Some(Cow::Borrowed(
                self.uri
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .unwrap_or("/"),
            )),
            VarName::QueryString => self.uri.query().map(Cow::Borrowed),
            VarName::Host => self.host.map(|h| {
                if h.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(h.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(h)
                }
            }),
            VarName::RequestMethod => Some(Cow::Borrowed(self.method.as_str())),
            VarName::Scheme => Some(Cow::Borrowed(if self.conn.tls.is_some() {
                "https"
            } else {
                "http"
            })),
            VarName::ServerProtocol => Some(Cow::Borrowed(match self.version {
                Version::HTTP_10 => "HTTP/1.0",
                Version::HTTP_2 => "HTTP/2.0",
                _ => "HTTP/1.1",
            })),
            VarName::RemoteAddr => Some(Cow::Owned(ip_string(self.conn.remote.ip()))),
            VarName::RemotePort => Some(Cow::Owned(self.conn.remote.port().to_string())),
            VarName::ServerAddr => Some(Cow::Owned(ip_string(self.conn.local.ip()))),
            VarName::ServerPort => Some(Cow::Owned(self.conn.local.port().to_string())),
            VarName::ContentType => self.header("content-type"),
            VarName::ContentLength => self.header("content-length"),
            VarName::Arg(k) => query_args(self.uri.query(), k.key()).into_iter().next(),
            VarName::Header(k) => self.header(k.key()),
            VarName::Cookie(k) => cookie(self.headers, k.key()).map(Cow::Borrowed),
            // Form bodies are not read before routing.
            VarName::PostArg(_) => None,
            VarName::Other(name) => match name.as_ref() {
                "server_name" | "hostname" => self.host.map(Cow::Borrowed),
                "is_args" => Some(Cow::Borrowed(if self.uri.query().is_some() {
                    "?"
                } else {
                    ""
                })),
                other => self.tls_var(other),
            },
        }
    }

    /// All values of a multi-valued `var`, borrowing from the request.
    pub fn lookup_all(&self, var: &VarName) -> Vec<Cow<'a, str>> {
        match var {
            VarName::Arg(k) => query_args(self.uri.query(), k.key()),
            VarName::Header(k) => self
                .headers
                .get_all(k.key())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(Cow::Borrowed)
                .collect(),
            other => self.lookup(other).into_iter().collect(),
        }
    }
}

impl VarLookup for RequestVars<'_> {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
        self.lookup(var)
    }

    fn get_all(&self, var: &VarName) -> Vec<Cow<'_, str>> {
        self.lookup_all(var)
    }
}

/// Values of query argument `name` (URL-decoded, `+` as space), in order.
fn query_args<'q>(query: Option<&'q str>, name: &str) -> Vec<Cow<'q, str>> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (super::path::percent_decode(k, true) == name)
                .then(|| super::path::percent_decode(v, true))
        })
        .collect()
}

/// The value of cookie `name` from the `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnInfo {
        ConnInfo {
            remote: "10.1.2.3:5555".parse().unwrap(),
            local: "127.0.0.1:9080".parse().unwrap(),
            tls: None,
        }
    }

    #[test]
    fn reads_request_variables() {
        let req = Request::builder()
            .method("POST")
            .uri("/p?a=1&b=x+y&a=2&c=%41")
            .header("X-User-Id", "42")
            .header("Cookie", "sid=abc; theme=dark")
            .body(())
            .unwrap();
        let conn = conn();
        let v = RequestVars::new(&req, "/p", Some("Foo.com"), &conn);
        let get = |n: &str| v.get(&VarName::parse(n)).map(|c| c.into_owned());
        assert_eq!(get("uri").as_deref(), Some("/p"));
        assert_eq!(get("host").as_deref(), Some("foo.com"));
        assert_eq!(get("request_method").as_deref(), Some("POST"));
        assert_eq!(get("arg_a").as_deref(), Some("1"));
        assert_eq!(get("arg_b").as_deref(), Some("x y"));
        assert_eq!(get("arg_c").as_deref(), Some("A"));
        assert_eq!(get("arg_missing"), None);
        assert_eq!(get("http_x_user_id").as_deref(), Some("42"));
        assert_eq!(get("cookie_theme").as_deref(), Some("dark"));
        assert_eq!(get("remote_addr").as_deref(), Some("10.1.2.3"));
        assert_eq!(get("server_port").as_deref(), Some("9080"));
        assert_eq!(
            get("request_uri").as_deref(),
            Some("/p?a=1&b=x+y&a=2&c=%41")
        );
        assert_eq!(v.get_all(&VarName::parse("arg_a")).len(), 2);
    }
}
