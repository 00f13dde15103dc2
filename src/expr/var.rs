//! Request-variable naming: [`VarName`] (a variable name parsed once, at
//! compile time) and [`VarLookup`] (how evaluation reads a live request).
//!
//! The names follow nginx and APISIX (`apisix/core/ctx.lua`, the `__index`
//! metamethod of `ctx.var`):
//! * `arg_<name>`: the first value of query argument `<name>`; APISIX looks it
//!   up in `ngx.req.get_uri_args()`, so the name is URL-decoded and
//!   case-sensitive, and a repeated argument yields its first value.
//! * `post_arg_<name>`: the same for an `application/x-www-form-urlencoded`
//!   body (APISIX returns nothing for any other content type).
//! * `cookie_<name>`: one cookie from the `Cookie` header, name case-sensitive.
//! * `http_<name>`: a request header. APISIX lower-cases the name and turns
//!   `-` into `_`, then nginx matches each header whose lower-cased name, with
//!   `-` read as `_`, equals it; so `http_x_user_id`, `http_X-User-Id` and
//!   header `X-User-Id` all meet.
//! * everything else (`route_id`, `consumer_name`, `graphql_name`, …) is
//!   resolved by name by the lookup.
//!
//! Plain nginx variable names (`uri`, `host`, …) and the `http_` prefix are
//! recognised ASCII-case-insensitively, because lua-nginx-module lower-cases a
//! name before asking nginx for it; APISIX's own prefixes (`arg_`, `cookie_`,
//! `post_arg_`) are matched exactly, as `core_str.has_prefix` does.

use std::borrow::Cow;
use std::fmt;

/// A variable of a prefixed family (`arg_`, `http_`, `cookie_`, `post_arg_`):
/// the full variable name and the key the lookup searches for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Keyed {
    var: Box<str>,
    key: Box<str>,
}

impl Keyed {
    fn new(var: impl Into<Box<str>>, key: impl Into<Box<str>>) -> Keyed {
        Keyed {
            var: var.into(),
            key: key.into(),
        }
    }

    /// The full variable name, e.g. `arg_page` or `http_x_user_id`.
    pub fn var(&self) -> &str {
        &self.var
    }

    /// The key to look up: the argument or cookie name as written, or for a
    /// header its lower-case, dash-separated name (`x-user-id`).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A request variable name compiled once.
///
/// [`VarName::parse`] never fails: unknown names become [`VarName::Other`].
/// [`VarName::as_str`] gives the canonical spelling (aliases such as `args`
/// and `method` come back as `query_string` and `request_method`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VarName {
    /// `uri`: the normalised request path, without the query string.
    Uri,
    /// `request_uri`: the original request target, path and query as sent.
    RequestUri,
    /// `query_string` (alias `args`): the raw query string, without `?`.
    QueryString,
    /// `host`: the request's host name (nginx `$host`: lower-cased, no port).
    Host,
    /// `request_method` (alias `method`, APISIX's `ngx.req.get_method()`).
    RequestMethod,
    /// `scheme`: `http` or `https`.
    Scheme,
    /// `server_protocol`: e.g. `HTTP/1.1`.
    ServerProtocol,
    /// `remote_addr`: the client address.
    RemoteAddr,
    /// `remote_port`: the client port.
    RemotePort,
    /// `server_addr`: the local address the request arrived on.
    ServerAddr,
    /// `server_port`: the local port the request arrived on.
    ServerPort,
    /// `content_type`: the `Content-Type` request header.
    ContentType,
    /// `content_length`: the `Content-Length` request header.
    ContentLength,
    /// `arg_<name>`: a query argument (first value; see the module docs).
    Arg(Keyed),
    /// `http_<name>`: a request header; [`Keyed::key`] is its lower-case,
    /// dash-separated name.
    Header(Keyed),
    /// `cookie_<name>`: a cookie.
    Cookie(Keyed),
    /// `post_arg_<name>`: a urlencoded form field of the request body.
    PostArg(Keyed),
    /// Any other variable (APISIX or plugin variables such as `route_id`,
    /// `consumer_name`, `graphql_name`, `post_arg.a.b`), resolved by name.
    Other(Box<str>),
}

/// Plain variables recognised by name, with their canonical spelling.
const NAMED: &[(&str, VarName)] = &[
    ("uri", VarName::Uri),
    ("request_uri", VarName::RequestUri),
    ("query_string", VarName::QueryString),
    ("args", VarName::QueryString),
    ("host", VarName::Host),
    ("request_method", VarName::RequestMethod),
    ("method", VarName::RequestMethod),
    ("scheme", VarName::Scheme),
    ("server_protocol", VarName::ServerProtocol),
    ("remote_addr", VarName::RemoteAddr),
    ("remote_port", VarName::RemotePort),
    ("server_addr", VarName::ServerAddr),
    ("server_port", VarName::ServerPort),
    ("content_type", VarName::ContentType),
    ("content_length", VarName::ContentLength),
];

impl VarName {
    /// Parse a variable name as written in an expression or a plugin config.
    pub fn parse(name: &str) -> VarName {
        // `method` is APISIX's own (ctx.lua `var_methods`) and matched exactly;
        // the rest are nginx variables, whose names nginx treats case-insensitively.
        for (spelling, var) in NAMED {
            let hit = if *spelling == "method" {
                name == "method"
            } else {
                name.eq_ignore_ascii_case(spelling)
            };
            if hit {
                return var.clone();
            }
        }
        if let Some(key) = name.strip_prefix("arg_") {
            return VarName::Arg(Keyed::new(name, key));
        }
        if let Some(key) = name.strip_prefix("post_arg_") {
            return VarName::PostArg(Keyed::new(name, key));
        }
        if let Some(key) = name.strip_prefix("cookie_") {
            return VarName::Cookie(Keyed::new(name, key));
        }
        if name.len() >= 5 && name.as_bytes()[..5].eq_ignore_ascii_case(b"http_") {
            let raw = &name[5..];
            let mut var = String::with_capacity(name.len());
            var.push_str("http_");
            let mut header = String::with_capacity(raw.len());
            for c in raw.chars() {
                let c = c.to_ascii_lowercase();
                var.push(if c == '-' { '_' } else { c });
                header.push(if c == '_' { '-' } else { c });
            }
            return VarName::Header(Keyed::new(var, header));
        }
        VarName::Other(name.into())
    }

    /// The canonical variable name (`http_` names lower-cased with `_`).
    pub fn as_str(&self) -> &str {
        match self {
            VarName::Uri => "uri",
            VarName::RequestUri => "request_uri",
            VarName::QueryString => "query_string",
            VarName::Host => "host",
            VarName::RequestMethod => "request_method",
            VarName::Scheme => "scheme",
            VarName::ServerProtocol => "server_protocol",
            VarName::RemoteAddr => "remote_addr",
            VarName::RemotePort => "remote_port",
            VarName::ServerAddr => "server_addr",
            VarName::ServerPort => "server_port",
            VarName::ContentType => "content_type",
            VarName::ContentLength => "content_length",
            VarName::Arg(k) | VarName::Header(k) | VarName::Cookie(k) | VarName::PostArg(k) => {
                k.var()
            }
            VarName::Other(name) => name,
        }
    }

    /// The family key (argument, header, cookie or form-field name), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            VarName::Arg(k) | VarName::Header(k) | VarName::Cookie(k) | VarName::PostArg(k) => {
                Some(k.key())
            }
            _ => None,
        }
    }

    /// Whether a request header called `header_name` (any case, `-` or `_`)
    /// is the one this `http_` variable reads, compared as nginx does.
    pub fn header_matches(&self, header_name: &str) -> bool {
        let VarName::Header(k) = self else {
            return false;
        };
        let want = k.key().as_bytes();
        let have = header_name.as_bytes();
        want.len() == have.len()
            && want.iter().zip(have).all(|(&w, &h)| {
                let h = if h == b'_' {
                    b'-'
                } else {
                    h.to_ascii_lowercase()
                };
                w == h
            })
    }

    /// Whether reading this variable needs the request body (`post_arg_*`,
    /// APISIX's JSON-body `post_arg.*` and the `graphql_*` variables).
    pub fn reads_body(&self) -> bool {
        match self {
            VarName::PostArg(_) => true,
            VarName::Other(name) => name.starts_with("post_arg.") || name.starts_with("graphql_"),
            _ => false,
        }
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where evaluation reads variable values from; the proxy implements this
/// over a live request without copying headers.
///
/// Values are strings: an absent variable is `None`, which is what the `null`
/// comparisons (`["x", "==", null]`) test for. A variable APISIX would hand
/// over as a number or boolean (a JSON `post_arg.*` field, say) is compared
/// in its string form here.
pub trait VarLookup {
    /// The value of `var`, or `None` when the request does not have it.
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>>;

    /// All values of a multi-valued variable (repeated query arg/header),
    /// used by the `has` operator; default: the single value.
    ///
    /// lua-resty-expr's `has` matches only table-valued variables
    /// (`has_element` in `lib/resty/expr/v1.lua` returns false for a plain
    /// string); in APISIX those are list variables such as
    /// `graphql_root_fields` or a JSON array under `post_arg.*`. With this
    /// default a single-valued variable `has` exactly its one value; an
    /// implementation wanting strict parity returns an empty list for
    /// variables APISIX yields as strings.
    fn get_all(&self, var: &VarName) -> Vec<Cow<'_, str>> {
        self.get(var).into_iter().collect()
    }
}
