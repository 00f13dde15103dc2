//! Route matching through the real gateway, table-driven: every route is
//! loaded from etcd once, then each case sends one request and checks which
//! upstream answered (or APISIX's 404). Cases follow APISIX's router tests
//! (t/router/radixtree-*.t) and docs/en/latest/router-radixtree.md.

use serde_json::{json, Value};

use super::{etcd_gateway, is_route_not_found, nodes};
use crate::common::{request, Upstream};

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Answered by upstream number `n`.
    Up(usize),
    /// `404 Route Not Found`.
    NotFound,
}
use Want::{NotFound, Up};

struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    host: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    want: Want,
}

const fn case(what: &'static str, path: &'static str, want: Want) -> Case {
    Case {
        what,
        method: "GET",
        path,
        host: None,
        headers: &[],
        want,
    }
}

impl Case {
    const fn host(mut self, host: &'static str) -> Case {
        self.host = Some(host);
        self
    }
    const fn method(mut self, method: &'static str) -> Case {
        self.method = method;
        self
    }
    const fn headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Case {
        self.headers = headers;
        self
    }
}

const CASES: &[Case] = &[
    // exact vs prefix (radixtree-uri-multiple.t)
    case("exact beats prefix", "/server_port", Up(0)),
    case("prefix", "/server_port/route2", Up(1)),
    case("exact deeper path", "/server_port/hello", Up(2)),
    case("prefix below an exact path", "/server_port/hello/x", Up(1)),
    // longest prefix (router-radixtree.md)
    case("longest prefix", "/blog/foo/a/b/c", Up(1)),
    case("shorter prefix", "/blog/foo/gloo", Up(0)),
    case("no prefix matches", "/blog/bar", NotFound),
    // priority on the same uri (radixtree-uri-priority.t)
    case("higher priority wins", "/prio/x", Up(1)),
    // parameters
    case(":param", "/user/42", Up(0)),
    case(":param needs a segment", "/user/", NotFound),
    case(":param is one segment", "/user/42/extra", NotFound),
    case("*name", "/files/a/b/c.txt", Up(1)),
    // hosts (radixtree-uri-host.t, radixtree-host-uri2.t)
    case("wildcard host", "/host", Up(0)).host("www.example.com"),
    case("wildcard host, any case", "/host", Up(0)).host("WWW.Example.COM"),
    case("exact host beats wildcard", "/host", Up(1)).host("api.example.com"),
    case("exact host, any case and port", "/host", Up(1)).host("API.EXAMPLE.COM:9080"),
    case("wildcard needs a subdomain", "/host", NotFound).host("example.com"),
    case("other host", "/host", NotFound).host("example.org"),
    case("host-bound beats host-less", "/hb", Up(1)).host("hb.test.com"),
    case("host-less for other hosts", "/hb", Up(0)).host("other.test.com"),
    // methods
    case("allowed method GET", "/methods", Up(0)),
    case("allowed method POST", "/methods", Up(0)).method("POST"),
    case("PURGE not allowed", "/methods", NotFound).method("PURGE"),
    // remote_addrs
    case("127.0.0.0/8 allows loopback", "/remote", Up(0)),
    case("10.0.0.0/8 rejects loopback", "/remote10", NotFound),
    case("failing remote_addrs falls to the next route", "/ra", Up(0)),
    // vars (radixtree-uri-vars.t)
    case("~* matches", "/vars/ua", Up(0)).headers(&[("user-agent", "Mozilla Android 14")]),
    case("~* is case-insensitive", "/vars/ua", Up(0)).headers(&[("user-agent", "ANDROID")]),
    case("~* mismatch", "/vars/ua", NotFound).headers(&[("user-agent", "ios")]),
    case("~* on a missing header", "/vars/ua", NotFound),
    case("! negates", "/vars/not", Up(1)).headers(&[("user-agent", "ios")]),
    case("! negates a match", "/vars/not", NotFound).headers(&[("user-agent", "android")]),
    case("arg ==", "/vars/arg?name=json", Up(2)),
    case("arg == mismatch", "/vars/arg?name=xml", NotFound),
    case("OR, first", "/vars/or?a=1", Up(0)),
    case("OR, second", "/vars/or", Up(0)).headers(&[("x-b", "2")]),
    case("OR, neither", "/vars/or?a=2", NotFound).headers(&[("x-b", "3")]),
    // status 0
    case("disabled route", "/disabled", NotFound),
    // services
    case(
        "service hosts inherited, upstream via service's upstream_id",
        "/svc",
        Up(1),
    )
    .host("svc.example.com"),
    case("service hosts restrict the route", "/svc", NotFound).host("other.example.com"),
    case("upstream_id", "/upid", Up(2)),
    // trailing slash (radixtree-uri-keep-end-slash.t)
    case("exact path", "/hello", Up(0)),
    case("trailing slash is significant", "/hello/", NotFound),
];

fn routes(ups: &[Upstream]) -> Vec<(String, Value)> {
    let up = |i: usize| json!({"type": "roundrobin", "nodes": nodes(&[(&ups[i], 1)])});
    let r = |uri: &str, i: usize| json!({"uri": uri, "upstream": up(i)});
    let with = |mut v: Value, extra: Value| {
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let items = vec![
        ("routes/sp1", r("/server_port", 0)),
        ("routes/sp2", r("/server_port/*", 1)),
        ("routes/sp3", r("/server_port/hello", 2)),
        ("routes/blog1", r("/blog/foo/*", 0)),
        ("routes/blog2", r("/blog/foo/a/*", 1)),
        ("routes/prio1", with(r("/prio*", 0), json!({"priority": 1}))),
        ("routes/prio2", with(r("/prio*", 1), json!({"priority": 2}))),
        ("routes/param", r("/user/:id", 0)),
        ("routes/star", r("/files/*path", 1)),
        (
            "routes/host-wild",
            with(r("/host", 0), json!({"hosts": ["*.example.com"]})),
        ),
        (
            "routes/host-exact",
            with(r("/host", 1), json!({"host": "api.example.com"})),
        ),
        // A host-less exact route with a high priority still loses to a
        // host-bound prefix route for its host.
        ("routes/hb-any", with(r("/hb", 0), json!({"priority": 100}))),
        (
            "routes/hb-host",
            with(r("/hb*", 1), json!({"hosts": ["hb.test.com"]})),
        ),
        (
            "routes/methods",
            with(r("/methods", 0), json!({"methods": ["GET", "POST"]})),
        ),
        (
            "routes/remote",
            with(r("/remote", 0), json!({"remote_addrs": ["127.0.0.0/8"]})),
        ),
        (
            "routes/remote10",
            with(r("/remote10", 1), json!({"remote_addrs": ["10.0.0.0/8"]})),
        ),
        (
            "routes/ra10",
            with(
                r("/ra", 1),
                json!({"remote_addr": "10.0.0.0/8", "priority": 10}),
            ),
        ),
        (
            "routes/ra127",
            with(r("/ra", 0), json!({"remote_addrs": ["127.0.0.1"]})),
        ),
        (
            "routes/vars-ua",
            with(
                r("/vars/ua", 0),
                json!({"vars": [["http_user_agent", "~*", "android"]]}),
            ),
        ),
        (
            "routes/vars-not",
            with(
                r("/vars/not", 1),
                json!({"vars": [["http_user_agent", "!", "~*", "android"]]}),
            ),
        ),
        (
            "routes/vars-arg",
            with(
                r("/vars/arg", 2),
                json!({"vars": [["arg_name", "==", "json"]]}),
            ),
        ),
        (
            "routes/vars-or",
            with(
                r("/vars/or", 0),
                json!({"vars": ["OR", ["arg_a", "==", "1"], ["http_x_b", "==", "2"]]}),
            ),
        ),
        (
            "routes/disabled",
            with(r("/disabled", 0), json!({"status": 0})),
        ),
        (
            "upstreams/up-b",
            json!({"type": "roundrobin", "nodes": nodes(&[(&ups[1], 1)])}),
        ),
        (
            "upstreams/up-c",
            json!({"type": "roundrobin", "nodes": nodes(&[(&ups[2], 1)])}),
        ),
        (
            "services/svc",
            json!({"hosts": ["svc.example.com"], "upstream_id": "up-b"}),
        ),
        ("routes/svc", json!({"uri": "/svc", "service_id": "svc"})),
        (
            "routes/upid",
            json!({"uri": "/upid", "upstream_id": "up-c"}),
        ),
        ("routes/hello", r("/hello", 0)),
    ];
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_cases_through_the_gateway() {
    let ups = vec![
        Upstream::start().await,
        Upstream::start().await,
        Upstream::start().await,
    ];
    let items = routes(&ups);
    let refs: Vec<(&str, Value)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let (_etcd, gw) = etcd_gateway(&refs).await;

    let mut failures = Vec::new();
    for c in CASES {
        let method = http::Method::from_bytes(c.method.as_bytes()).unwrap();
        let mut req = request(method, gw.url(c.path));
        if let Some(h) = c.host {
            req = req.host(h);
        }
        for (k, v) in c.headers {
            req = req.header(k, v);
        }
        let seen = match req.send().await {
            Ok(r) if is_route_not_found(&r) => Ok(NotFound),
            Ok(r) if r.status == 200 => match r.upstream_port() {
                Some(p) => match ups.iter().position(|u| u.port() == p) {
                    Some(i) => Ok(Up(i)),
                    None => Err(format!("200 from unknown port {p}")),
                },
                None => Err(format!("200 without X-Upstream-Port: {:?}", r.body)),
            },
            Ok(r) => Err(format!("status {} body {:?}", r.status, r.body)),
            Err(e) => Err(e),
        };
        if seen.as_ref() != Ok(&c.want) {
            failures.push(format!(
                "{}: {} {} host={:?} headers={:?}: expected {:?}, got {:?}",
                c.what, c.method, c.path, c.host, c.headers, c.want, seen
            ));
        }
    }
    gw_assert!(
        gw,
        failures.is_empty(),
        "{} of {} router cases failed (upstream ports: {:?}):\n{}",
        failures.len(),
        CASES.len(),
        ups.iter().map(Upstream::port).collect::<Vec<_>>(),
        failures.join("\n")
    );
}
