//! Table-driven unit tests for the route index, plus a randomized
//! comparison against a deliberately naive reference matcher.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cmp::Reverse;
use std::sync::Arc;

use super::hash::{hash_bytes, StrTable};
use super::host::{parse_host, trim_host, HostPattern};
use super::{RouteSpec, Router, RouterError};

fn spec(name: &str, uris: &[&str], hosts: &[&str], priority: i64, order: u64) -> RouteSpec<String> {
    RouteSpec {
        key: name.into(),
        payload: Arc::new(name.to_owned()),
        uris: uris
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into(),
        hosts: hosts
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into(),
        priority,
        order,
    }
}

fn uri(name: &str, u: &str) -> RouteSpec<String> {
    spec(name, &[u], &[], 0, 0)
}

fn build(specs: Vec<RouteSpec<String>>) -> Router<String> {
    Router::build(specs).unwrap()
}

/// Name of the route matched with every candidate accepted.
fn hit(r: &Router<String>, host: Option<&str>, path: &str) -> Option<String> {
    r.find(host, path, |_, _| true).map(|m| (**m.route).clone())
}

/// Name of the route matched when the routes named in `reject` are refused.
fn hit_rejecting(
    r: &Router<String>,
    host: Option<&str>,
    path: &str,
    reject: &[&str],
) -> Option<String> {
    r.find(host, path, |name, _| !reject.contains(&name.as_str()))
        .map(|m| (**m.route).clone())
}

/// Runs `(host, path, expected route)` rows.
fn check(r: &Router<String>, rows: &[(Option<&str>, &str, Option<&str>)]) {
    for (host, path, want) in rows {
        assert_eq!(
            hit(r, *host, path).as_deref(),
            *want,
            "host={host:?} path={path:?}"
        );
    }
}

fn check_paths(r: &Router<String>, rows: &[(&str, Option<&str>)]) {
    for (path, want) in rows {
        assert_eq!(hit(r, None, path).as_deref(), *want, "path={path:?}");
    }
}

#[test]
fn exact_vs_prefix_and_longest_prefix() {
    let r = build(vec![
        uri("foo*", "/blog/foo/*"),
        uri("foo/a*", "/blog/foo/a/*"),
        uri("foo/bar", "/blog/foo/bar"),
    ]);
    check_paths(
        &r,
        &[
            ("/blog/foo/bar", Some("foo/bar")),
            ("/blog/foo/a/b/c", Some("foo/a*")),
            ("/blog/foo/a/", Some("foo/a*")),
            ("/blog/foo/a", Some("foo*")),
            ("/blog/foo/gloo", Some("foo*")),
            ("/blog/foo/", Some("foo*")),
            ("/blog/foo/bar/x", Some("foo*")),
            ("/blog/foo", None),
            ("/blog/bar", None),
            ("/", None),
            ("", None),
        ],
    );
}

#[test]
fn prefix_star_forms() {
    let r = build(vec![uri("bar*", "/blog/bar*"), uri("all", "/*")]);
    check_paths(
        &r,
        &[
            ("/blog/bar", Some("bar*")),
            ("/blog/bar/a", Some("bar*")),
            ("/blog/barn", Some("bar*")),
            ("/blog/ba", Some("all")),
            ("/", Some("all")),
            ("/anything/at/all", Some("all")),
            ("no-slash", None),
        ],
    );
}

#[test]
fn trailing_slash_is_significant() {
    let r = build(vec![uri("hello", "/hello"), uri("dir", "/dir/")]);
    check_paths(
        &r,
        &[
            ("/hello", Some("hello")),
            ("/hello/", None),
            ("/hell", None),
            ("/hello2", None),
            ("/dir/", Some("dir")),
            ("/dir", None),
            ("/HELLO", None),
        ],
    );
}

#[test]
fn priority_and_order_ties() {
    let r = build(vec![
        // exact, same path
        spec("low", &["/same"], &[], 1, 0),
        spec("high", &["/same"], &[], 5, 9),
        // equal priority: lower order first
        spec("o2", &["/tie"], &[], 3, 2),
        spec("o1", &["/tie"], &[], 3, 1),
        // full tie: input order
        spec("first", &["/dup"], &[], 0, 0),
        spec("second", &["/dup"], &[], 0, 0),
        // prefix vs param with the same static prefix
        spec("p-prefix", &["/p/*"], &[], 1, 0),
        spec("p-param", &["/p/:id"], &[], 2, 0),
    ]);
    check_paths(
        &r,
        &[
            ("/same", Some("high")),
            ("/tie", Some("o1")),
            ("/dup", Some("first")),
            ("/p/42", Some("p-param")),
            ("/p/42/x", Some("p-prefix")),
            ("/p/", Some("p-prefix")),
        ],
    );
    // Rejections walk the same order.
    assert_eq!(
        hit_rejecting(&r, None, "/same", &["high"]).as_deref(),
        Some("low")
    );
    assert_eq!(
        hit_rejecting(&r, None, "/dup", &["first"]).as_deref(),
        Some("second")
    );
    assert_eq!(
        hit_rejecting(&r, None, "/p/42", &["p-param"]).as_deref(),
        Some("p-prefix")
    );
    assert_eq!(hit_rejecting(&r, None, "/tie", &["o1", "o2"]), None);
}

#[test]
fn precedence_beats_priority() {
    let r = build(vec![
        spec("exact", &["/a/b"], &[], -10, 0),
        spec("short-prefix", &["/a/*"], &[], 100, 0),
        spec("long-prefix", &["/a/b*"], &[], 0, 0),
        spec("param", &["/a/:x/c"], &[], 1000, 0),
    ]);
    check_paths(
        &r,
        &[
            ("/a/b", Some("exact")),
            ("/a/bc", Some("long-prefix")),
            ("/a/b/c", Some("long-prefix")),
            ("/a/z/c", Some("param")),
            ("/a/z", Some("short-prefix")),
        ],
    );
}

#[test]
fn param_segments() {
    let r = build(vec![
        uri("user", "/user/:id"),
        uri("name", "/name/:name/bar"),
        uri("root-param", "/:name/foo"),
    ]);
    check_paths(
        &r,
        &[
            ("/user/42", Some("user")),
            ("/user/", None),
            ("/user", None),
            ("/user/42/x", None),
            ("/user/42/", None),
            ("/name/json/bar", Some("name")),
            ("/name/json2/foo", None),
            ("/name/json/", None),
            ("/name//bar", None),
            ("/name/json/bar/", None),
            ("/json/foo", Some("root-param")),
            ("/json/bbb/foo", None),
            ("//foo", None),
        ],
    );
    let m = r.find(None, "/user/42", |_, _| true).unwrap();
    assert_eq!(m.params.get("id"), Some("42"));
    assert_eq!(m.params.len(), 1);
    let m = r.find(None, "/name/json/bar", |_, _| true).unwrap();
    assert_eq!(m.params.iter().collect::<Vec<_>>(), vec![("name", "json")]);
    assert_eq!(m.params.ranges().collect::<Vec<_>>(), vec![("name", 6..10)]);
    assert_eq!(m.params.path(), "/name/json/bar");
}

#[test]
fn params_seen_by_accept_callback() {
    let r = build(vec![uri("a", "/v/:x"), uri("b", "/v/*rest")]);
    let m = r
        .find(None, "/v/keep", |name, p| {
            // Refuse the first candidate after checking what it captured.
            if name == "a" {
                assert_eq!(p.get("x"), Some("keep"));
                false
            } else {
                assert_eq!(p.get("x"), None, "stale capture leaked");
                true
            }
        })
        .unwrap();
    assert_eq!(m.route.as_str(), "b");
    assert_eq!(m.params.get("rest"), Some("keep"));
}

#[test]
fn catch_all_capture() {
    let r = build(vec![
        uri("files", "/files/*path"),
        uri("action", "/user/:id/*action"),
    ]);
    type Row<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);
    let rows: &[Row<'_>] = &[
        ("/files/a/b", Some("files"), &[("path", "a/b")]),
        ("/files/x", Some("files"), &[("path", "x")]),
        ("/files/", Some("files"), &[("path", "")]),
        ("/files", None, &[]),
        (
            "/user/7/edit/now",
            Some("action"),
            &[("id", "7"), ("action", "edit/now")],
        ),
        ("/user/7/", Some("action"), &[("id", "7"), ("action", "")]),
        ("/user/7", None, &[]),
        ("/user//x", None, &[]),
    ];
    for (path, want, params) in rows {
        let m = r.find(None, path, |_, _| true);
        assert_eq!(m.as_ref().map(|m| m.route.as_str()), *want, "path={path}");
        if let Some(m) = m {
            assert_eq!(
                m.params.iter().collect::<Vec<_>>(),
                params.to_vec(),
                "path={path}"
            );
        }
    }
}

#[test]
fn many_params_spill_inline_storage() {
    let r = build(vec![uri("six", "/:a/:b/:c/:d/:e/:f")]);
    let m = r.find(None, "/1/2/3/4/5/6", |_, p| p.len() == 6).unwrap();
    let got: Vec<_> = m.params.iter().collect();
    assert_eq!(
        got,
        vec![
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
            ("f", "6")
        ]
    );
    assert_eq!(m.params.get("f"), Some("6"));
    assert_eq!(
        format!("{:?}", m.params),
        r#"{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}"#
    );
}

#[test]
fn literal_colon_and_star() {
    let r = build(vec![
        uri("list", "/file:list"),
        uri("colon-param", "/file:list/:id"),
        uri("mid-star", "/a*b/c"),
    ]);
    check_paths(
        &r,
        &[
            ("/file:list", Some("list")),
            ("/fileXlist", None),
            ("/file:list/9", Some("colon-param")),
            ("/a*b/c", Some("mid-star")),
            ("/ab/c", None),
        ],
    );
    let m = r.find(None, "/file:list/9", |_, _| true).unwrap();
    assert_eq!(m.params.get("id"), Some("9"));
}

#[test]
fn param_followed_by_prefix() {
    let r = build(vec![uri("px", "/u/:id/*"), uri("pstar", "/v/:id*")]);
    check_paths(
        &r,
        &[
            ("/u/1/", Some("px")),
            ("/u/1/anything/else", Some("px")),
            ("/u/1", None),
            ("/v/1", Some("pstar")),
            ("/v/1/x", Some("pstar")),
            ("/v/", None),
        ],
    );
}

#[test]
fn long_edges_and_deep_trails() {
    // Edges longer than the inline limit, and more than 16 nested prefix
    // routes on one path (the trail spills to the heap).
    let mut specs = vec![
        uri("long", "/a/very/long/static/prefix/*"),
        uri("longer", "/a/very/long/static/prefix/deeper/and/longer/:x"),
        uri("sibling", "/a/very/long/static/prefiz"),
    ];
    let mut deep = String::from("/d");
    for i in 0..24 {
        deep.push_str(&format!("/{i}"));
        specs.push(uri(&format!("deep{i}"), &format!("{deep}*")));
    }
    let r = build(specs);
    check_paths(
        &r,
        &[
            ("/a/very/long/static/prefix/", Some("long")),
            (
                "/a/very/long/static/prefix/deeper/and/longer/7",
                Some("longer"),
            ),
            (
                "/a/very/long/static/prefix/deeper/and/longer/7/8",
                Some("long"),
            ),
            ("/a/very/long/static/prefiz", Some("sibling")),
            ("/a/very/long/static/prefi", None),
            ("/a/very/long/static/prefixx", None),
            (
                "/d/0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/x",
                Some("deep23"),
            ),
            (
                "/d/0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/x",
                Some("deep19"),
            ),
        ],
    );
    let all: Vec<String> = (0..24).map(|i| format!("deep{i}")).collect();
    for keep in [0usize, 5, 16, 17, 23] {
        let reject: Vec<&str> = all
            .iter()
            .filter(|n| **n != all[keep])
            .map(String::as_str)
            .collect();
        let path = "/d/0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/x";
        assert_eq!(
            hit_rejecting(&r, None, path, &reject),
            Some(all[keep].clone())
        );
    }
}

#[test]
fn unicode_paths() {
    let r = build(vec![
        uri("cafe", "/café/:x"),
        uri("caf-pre", "/caf*"),
        uri("ex", "/naïve"),
    ]);
    check_paths(
        &r,
        &[
            ("/café/ü", Some("cafe")),
            ("/cafè/1", Some("caf-pre")),
            ("/naïve", Some("ex")),
        ],
    );
    let m = r.find(None, "/café/ü", |_, _| true).unwrap();
    assert_eq!(m.params.get("x"), Some("ü"));
}

#[test]
fn host_matching_rules() {
    let r = build(vec![
        spec("exact", &["/*"], &["foo.com"], 0, 0),
        spec("wild-a", &["/*"], &["*.a.foo.com"], 0, 0),
        spec("wild", &["/*"], &["*.foo.com"], 0, 0),
        spec("any", &["/any/*"], &["*"], 0, 0),
        spec("v6", &["/*"], &["[::1]"], 0, 0),
        spec("v6-bare", &["/*"], &["fe80::2"], 0, 0),
        spec("ip4", &["/*"], &["127.0.0.1"], 0, 0),
        spec("upper", &["/*"], &["MiXeD.Example.ORG"], 0, 0),
        spec("none", &["/*"], &[], 0, 0),
    ]);
    check(
        &r,
        &[
            (Some("foo.com"), "/x", Some("exact")),
            (Some("FOO.COM"), "/x", Some("exact")),
            (Some("foo.com:8080"), "/x", Some("exact")),
            (Some("www.foo.com"), "/x", Some("wild")),
            (Some("a.b.foo.com"), "/x", Some("wild")),
            (Some("WWW.Foo.Com:443"), "/x", Some("wild")),
            (Some("x.a.foo.com"), "/x", Some("wild-a")),
            (Some("y.x.a.foo.com"), "/x", Some("wild-a")),
            (Some("a.foo.com"), "/x", Some("wild")),
            (Some("xfoo.com"), "/x", Some("none")),
            (Some("bar.com"), "/any/1", Some("any")),
            (Some("bar.com"), "/x", Some("none")),
            (Some("[::1]:9080"), "/x", Some("v6")),
            (Some("[::1]"), "/x", Some("v6")),
            (Some("::1"), "/x", Some("v6")),
            (Some("[FE80::2]:80"), "/x", Some("v6-bare")),
            (Some("127.0.0.1:9080"), "/x", Some("ip4")),
            (Some("mixed.example.org"), "/x", Some("upper")),
            (Some(""), "/x", Some("none")),
            (None, "/x", Some("none")),
            (None, "/any/1", Some("none")),
        ],
    );
    // Wildcards of several suffix lengths, including very long ones.
    let long = format!("*.{}.example.com", "x".repeat(300));
    let r = build(vec![
        spec("short", &["/*"], &["*.com"], 0, 0),
        spec("long", &["/*"], &[&long], 0, 0),
    ]);
    let host = format!("a.{}", &long[2..]);
    check(
        &r,
        &[
            (Some(&host), "/", Some("long")),
            (Some("z.example.com"), "/", Some("short")),
        ],
    );
    // A wildcard is a plain suffix: `*foo.com` (APISIX accepts it) covers
    // `foo.com` and `barfoo.com`; the longer suffix still wins.
    let r = build(vec![
        spec("bare", &["/*"], &["*foo.com"], 0, 0),
        spec("dot", &["/*"], &["*.foo.com"], 0, 0),
    ]);
    check(
        &r,
        &[
            (Some("foo.com"), "/", Some("bare")),
            (Some("barfoo.com"), "/", Some("bare")),
            (Some("a.foo.com"), "/", Some("dot")),
            (Some("A.B.FOO.COM"), "/", Some("dot")),
            (Some("oo.com"), "/", None),
        ],
    );
    assert_eq!(
        hit_rejecting(&r, Some("a.foo.com"), "/", &["dot"]).as_deref(),
        Some("bare")
    );
    // A Host longer than the stack buffer still matches.
    let long_host = format!("{}.foo.com", "y".repeat(400));
    assert_eq!(hit(&r, Some(&long_host), "/").as_deref(), Some("dot"));
    // `*.foo.com` does not cover `foo.com` itself.
    let r = build(vec![spec("wild", &["/*"], &["*.foo.com"], 0, 0)]);
    check(
        &r,
        &[
            (Some("foo.com"), "/", None),
            (Some(".foo.com"), "/", Some("wild")),
            (Some("a.foo.com"), "/", Some("wild")),
        ],
    );
}

#[test]
fn host_levels_beat_priority_and_path_precedence() {
    let r = build(vec![
        spec("host-wild", &["/*"], &["*.test.com"], 0, 0),
        spec("plain", &["/server_port"], &[], 100, 0),
    ]);
    check(
        &r,
        &[
            (Some("www.test.com"), "/server_port", Some("host-wild")),
            (Some("other.com"), "/server_port", Some("plain")),
            (None, "/server_port", Some("plain")),
        ],
    );
    // Exact host is tried before wildcards, wildcards before `*`.
    let r = build(vec![
        spec("any", &["/p"], &["*"], 100, 0),
        spec("wild", &["/p*"], &["*.x.com"], 50, 0),
        spec("exact", &["/*"], &["a.x.com"], 0, 0),
    ]);
    check(
        &r,
        &[
            (Some("a.x.com"), "/p", Some("exact")),
            (Some("b.x.com"), "/p", Some("wild")),
            (Some("b.y.com"), "/p", Some("any")),
        ],
    );
    assert_eq!(
        hit_rejecting(&r, Some("a.x.com"), "/p", &["exact"]).as_deref(),
        Some("wild")
    );
    assert_eq!(
        hit_rejecting(&r, Some("a.x.com"), "/p", &["exact", "wild"]).as_deref(),
        Some("any")
    );
}

#[test]
fn rejected_host_route_falls_back_to_hostless() {
    let r = build(vec![
        spec("host", &["/api/*"], &["api.example.com"], 0, 0),
        spec("plain", &["/api/v1"], &[], 0, 0),
    ]);
    assert_eq!(
        hit(&r, Some("api.example.com"), "/api/v1").as_deref(),
        Some("host")
    );
    assert_eq!(
        hit_rejecting(&r, Some("api.example.com"), "/api/v1", &["host"]).as_deref(),
        Some("plain")
    );
    assert_eq!(
        hit_rejecting(&r, Some("api.example.com"), "/api/v1", &["host", "plain"]),
        None
    );
}

#[test]
fn no_host_header_searches_only_hostless() {
    let r = build(vec![
        spec("any", &["/*"], &["*"], 0, 0),
        spec("wild", &["/*"], &["*.a.com"], 0, 0),
    ]);
    assert_eq!(hit(&r, None, "/x"), None);
    assert_eq!(hit(&r, Some("q.a.com"), "/x").as_deref(), Some("wild"));
    assert_eq!(hit(&r, Some("z.com"), "/x").as_deref(), Some("any"));
}

#[test]
fn rejection_falls_through_to_shorter_prefix() {
    let r = build(vec![
        uri("root", "/*"),
        uri("a", "/a/*"),
        uri("ab", "/a/b/*"),
        uri("ab-exact", "/a/b/c"),
        // Same static prefix as "ab": the higher priority is tried first.
        spec("ab-param", &["/a/b/:x"], &[], 1, 0),
    ]);
    let rows: &[(&[&str], Option<&str>)] = &[
        (&[], Some("ab-exact")),
        (&["ab-exact"], Some("ab-param")),
        (&["ab-exact", "ab-param"], Some("ab")),
        (&["ab-exact", "ab-param", "ab"], Some("a")),
        (&["ab-exact", "ab-param", "ab", "a"], Some("root")),
        (&["ab-exact", "ab-param", "ab", "a", "root"], None),
    ];
    for (reject, want) in rows {
        assert_eq!(
            hit_rejecting(&r, None, "/a/b/c", reject).as_deref(),
            *want,
            "reject={reject:?}"
        );
    }
}

#[test]
fn multiple_hosts_and_uris_and_dedup() {
    let r = build(vec![
        spec(
            "multi",
            &["/one", "/two/*", "/one"],
            &["a.com", "b.com", "A.COM"],
            0,
            0,
        ),
        spec("fallback", &["/*"], &[], 0, 0),
    ]);
    check(
        &r,
        &[
            (Some("a.com"), "/one", Some("multi")),
            (Some("b.com"), "/two/x", Some("multi")),
            (Some("c.com"), "/one", Some("fallback")),
            (None, "/one", Some("fallback")),
        ],
    );
    // Each (host, uri) pair is offered once.
    let mut calls = 0;
    let _ = r.find(Some("a.com"), "/one", |name, _| {
        if name == "multi" {
            calls += 1;
        }
        false
    });
    assert_eq!(calls, 1);
}

#[test]
fn build_errors_name_the_pattern() {
    let cases: Vec<(RouteSpec<String>, RouterError)> = vec![
        (
            uri("e", ""),
            RouterError::InvalidUri {
                uri: String::new(),
                reason: "empty uri",
            },
        ),
        (
            uri("e", "api/v1"),
            RouterError::InvalidUri {
                uri: "api/v1".into(),
                reason: "uri must start with '/'",
            },
        ),
        (
            uri("e", "/user/:/x"),
            RouterError::InvalidUri {
                uri: "/user/:/x".into(),
                reason: "empty parameter name after ':'",
            },
        ),
        (
            uri("e", "/a/*/b"),
            RouterError::InvalidUri {
                uri: "/a/*/b".into(),
                reason: "'*' segment must be the last segment",
            },
        ),
        (
            uri("e", "/a/*x/*"),
            RouterError::InvalidUri {
                uri: "/a/*x/*".into(),
                reason: "'*' segment must be the last segment",
            },
        ),
        (
            uri("e", "/a/**"),
            RouterError::InvalidUri {
                uri: "/a/**".into(),
                reason: "invalid catch-all name after '*'",
            },
        ),
        (
            spec("e", &[], &[], 0, 0),
            RouterError::MissingUri { route: 0 },
        ),
        (
            spec("e", &["/"], &["foo.*.com"], 0, 0),
            RouterError::InvalidHost {
                host: "foo.*.com".into(),
                reason: "'*' is only allowed as the first character",
            },
        ),
        (
            spec("e", &["/"], &["**.foo.com"], 0, 0),
            RouterError::InvalidHost {
                host: "**.foo.com".into(),
                reason: "'*' is only allowed as the first character",
            },
        ),
        (
            spec("e", &["/"], &[""], 0, 0),
            RouterError::InvalidHost {
                host: String::new(),
                reason: "empty host",
            },
        ),
    ];
    for (s, want) in cases {
        let label = format!("{:?} {:?}", s.uris, s.hosts);
        // The standalone validator agrees with build.
        assert_eq!(
            super::validate_patterns(&s.uris, &s.hosts).err().as_ref(),
            Some(&want),
            "{label}"
        );
        let err = Router::build(vec![s]).err();
        assert_eq!(err.as_ref(), Some(&want), "{label}");
        assert!(!want.to_string().is_empty());
    }
    // The error names the later bad route too.
    let err = Router::build(vec![
        uri("ok", "/ok"),
        spec("bad", &["/"], &[], 0, 0),
        spec("none", &[], &[], 0, 0),
    ])
    .err();
    assert_eq!(err, Some(RouterError::MissingUri { route: 2 }));
}

#[test]
fn router_is_send_and_sync() {
    fn assert_send_sync<S: Send + Sync>() {}
    assert_send_sync::<Router<String>>();
    assert_send_sync::<RouterError>();
}

#[test]
fn empty_router() {
    let r: Router<String> = Router::build(Vec::new()).unwrap();
    assert!(r.is_empty());
    assert_eq!(hit(&r, Some("a.com"), "/"), None);
    let r: Router<String> = Router::default();
    assert_eq!(r.len(), 0);
    assert_eq!(hit(&r, None, "/"), None);
    assert!(format!("{r:?}").contains("routes: 0"));
}

#[test]
fn host_helpers() {
    for (raw, want) in [
        ("foo.com", "foo.com"),
        ("foo.com:80", "foo.com"),
        ("[::1]:9080", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[bad", "bad"),
        ("", ""),
    ] {
        assert_eq!(trim_host(raw), want, "{raw}");
    }
    assert_eq!(parse_host("*").unwrap(), HostPattern::Any);
    assert_eq!(
        parse_host("*.Foo.COM").unwrap(),
        HostPattern::Wildcard(".foo.com".into())
    );
    assert_eq!(
        parse_host("*Foo.com:8").unwrap(),
        HostPattern::Wildcard("foo.com".into())
    );
    assert!(super::validate_patterns(&["/a/:b".into()], &["*.x.com".into()]).is_ok());
    assert_eq!(
        super::validate_patterns(&[], &[]),
        Err(RouterError::MissingUri { route: 0 })
    );
    assert_eq!(
        parse_host("Foo.com:81").unwrap(),
        HostPattern::Exact("foo.com".into())
    );
}

#[test]
fn case_insensitive_hash_and_table() {
    let pairs = [
        ("AbCdEfGhIjKlMnOp.Q", "abcdefghijklmnop.q"),
        ("@[`{Zz09", "@[`{zz09"),
        ("WWW.ÉXAMPLE.COM", "www.Éxample.com"),
    ];
    for (a, b) in pairs {
        assert_eq!(
            hash_bytes::<true>(9, a.as_bytes()),
            hash_bytes::<true>(9, b.as_bytes()),
            "{a}"
        );
        assert_ne!(
            hash_bytes::<false>(9, a.as_bytes()),
            hash_bytes::<false>(9, b.as_bytes()),
            "{a}"
        );
    }
    // '@' '[' '`' '{' sit next to the letter ranges and must not fold.
    assert_ne!(hash_bytes::<true>(9, b"@"), hash_bytes::<true>(9, b"`"));
    assert_ne!(hash_bytes::<true>(9, b"["), hash_bytes::<true>(9, b"{"));

    let mut t: StrTable<usize, false> = StrTable::new(1);
    let keys: Vec<String> = (0..1000).map(|i| format!("/k/{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        let h = t.hash(3, k.as_bytes());
        t.insert_new(h, 3, k.as_bytes(), i).unwrap();
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(t.get(3, k.as_bytes()), Some(&i));
        assert_eq!(t.get(4, k.as_bytes()), None);
    }
    assert_eq!(t.get(3, b"/k/1000"), None);
    assert_eq!(t.len(), 1000);
}

#[test]
fn large_table_smoke() {
    let mut specs = Vec::new();
    for i in 0..20_000u64 {
        specs.push(spec(
            &format!("e{i}"),
            &[&format!("/api/v1/svc{i}/items")],
            &[],
            0,
            i,
        ));
        specs.push(spec(
            &format!("p{i}"),
            &[&format!("/users{i}/:id/orders")],
            &[],
            0,
            i,
        ));
        specs.push(spec(
            &format!("x{i}"),
            &[&format!("/static{i}/*")],
            &[],
            0,
            i,
        ));
    }
    let r = build(specs);
    for i in (0..20_000).step_by(997) {
        assert_eq!(
            hit(&r, None, &format!("/api/v1/svc{i}/items")),
            Some(format!("e{i}"))
        );
        assert_eq!(
            hit(&r, None, &format!("/users{i}/abc/orders")),
            Some(format!("p{i}"))
        );
        assert_eq!(
            hit(&r, None, &format!("/static{i}/a/b.css")),
            Some(format!("x{i}"))
        );
        assert_eq!(hit(&r, None, &format!("/users{i}/abc/order")), None);
    }
}

// ---------------------------------------------------------------------------
// Randomized comparison with a naive reference implementation.

/// Naive matcher: returns captures if `pattern` matches `path`, plus the
/// static-prefix length and whether the pattern is exact.
type Captures = Vec<(String, String)>;

fn naive_match(pattern: &str, path: &str) -> Option<(bool, usize, Captures)> {
    let last = pattern.rsplit('/').next().unwrap();
    let catch_all = last.len() > 1 && last.starts_with('*');
    let (body, prefix) = if !catch_all && pattern.ends_with('*') {
        (&pattern[..pattern.len() - 1], true)
    } else {
        (pattern, false)
    };
    let psegs: Vec<&str> = body.split('/').collect();
    let dynamic = psegs
        .iter()
        .any(|s| s.starts_with(':') || s.starts_with('*'));
    if !dynamic {
        return if prefix {
            path.starts_with(body).then(|| (false, body.len(), vec![]))
        } else {
            (path == pattern).then(|| (true, pattern.len(), vec![]))
        };
    }
    let mut static_len = 0;
    for s in &psegs {
        if s.starts_with(':') || s.starts_with('*') {
            break;
        }
        static_len += s.len() + 1;
    }
    let xsegs: Vec<&str> = path.split('/').collect();
    let mut caps = Vec::new();
    for (i, ps) in psegs.iter().enumerate() {
        let is_last = i + 1 == psegs.len();
        if let Some(name) = ps.strip_prefix('*') {
            if xsegs.len() <= i {
                return None;
            }
            caps.push((name.to_owned(), xsegs[i..].join("/")));
            return Some((false, static_len, caps));
        }
        let xs = *xsegs.get(i)?;
        if let Some(name) = ps.strip_prefix(':') {
            if xs.is_empty() {
                return None;
            }
            caps.push((name.to_owned(), xs.to_owned()));
        } else if is_last && prefix {
            if !xs.starts_with(ps) {
                return None;
            }
        } else if xs != *ps {
            return None;
        }
    }
    if prefix || xsegs.len() == psegs.len() {
        Some((false, static_len, caps))
    } else {
        None
    }
}

/// Host rank: lower is tried first; `None` means the route's host pattern
/// does not apply to the request.
fn naive_host_rank(pattern: Option<&str>, host: Option<&str>) -> Option<usize> {
    match (pattern, host) {
        (None, _) => Some(usize::MAX),
        (Some(_), None) => None,
        (Some(p), Some(h)) => {
            let h = h.to_ascii_lowercase();
            let h = h.split(':').next().unwrap();
            if p == "*" {
                Some(usize::MAX - 1)
            } else if let Some(suffix) = p.strip_prefix('*') {
                h.ends_with(suffix).then(|| 1000 - suffix.len())
            } else {
                (h == p).then_some(0)
            }
        }
    }
}

/// Candidate rank: host level, non-exact, longer static prefix first,
/// higher priority, lower order, input position.
type RankKey = (usize, bool, Reverse<usize>, Reverse<i64>, u64, usize);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn randomized_against_naive_reference() {
    const SEGS: &[&str] = &["a", "b", "ab", "", "c:d", ":p", ":q"];
    const PATH_SEGS: &[&str] = &["a", "b", "ab", "abc", "", "c:d", "x"];
    const HOSTS: &[&str] = &["a.com", "*.a.com", "*.b.a.com", "*", "B.COM", "*a.com"];
    const REQ_HOSTS: &[&str] = &[
        "a.com",
        "x.a.com",
        "y.b.a.com",
        "B.com:80",
        "z.com",
        "ba.com",
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut matched, mut with_params) = (0, 0);
    for round in 0..200 {
        let n = 1 + (rng.next() % 40) as usize;
        let mut specs = Vec::new();
        let mut flat = Vec::new(); // (route index, pattern, host)
        for i in 0..n {
            let depth = 1 + (rng.next() % 3) as usize;
            let mut p = String::new();
            for _ in 0..depth {
                p.push('/');
                p.push_str(rng.pick(SEGS));
            }
            match rng.next() % 5 {
                0 => p.push('*'),
                1 => p.push_str("/*rest"),
                _ => {}
            }
            let host = (rng.next() % 3 == 0).then(|| rng.pick(HOSTS));
            let prio = (rng.next() % 3) as i64;
            let order = rng.next() % 4;
            flat.push((
                i,
                p.clone(),
                host.map(|h| h.to_ascii_lowercase()),
                prio,
                order,
            ));
            specs.push(spec(&i.to_string(), &[&p], host.as_slice(), prio, order));
        }
        let router = build(specs);
        for _ in 0..60 {
            let depth = 1 + (rng.next() % 4) as usize;
            let mut path = String::new();
            for _ in 0..depth {
                path.push('/');
                path.push_str(rng.pick(PATH_SEGS));
            }
            let host = (rng.next() % 4 != 0).then(|| rng.pick(REQ_HOSTS));
            let reject_mask = rng.next();
            let rejected = |i: usize| round % 2 == 1 && reject_mask >> (i % 64) & 1 == 1;

            let mut best: Option<(RankKey, usize, Captures)> = None;
            for (i, pat, h, prio, order) in &flat {
                if rejected(*i) {
                    continue;
                }
                let Some(rank) = naive_host_rank(h.as_deref(), host) else {
                    continue;
                };
                let Some((exact, static_len, caps)) = naive_match(pat, &path) else {
                    continue;
                };
                let key = (
                    rank,
                    !exact,
                    Reverse(static_len),
                    Reverse(*prio),
                    *order,
                    *i,
                );
                if best.as_ref().is_none_or(|b| key < b.0) {
                    best = Some((key, *i, caps));
                }
            }
            let got = router.find(host, &path, |name, _| !rejected(name.parse().unwrap()));
            let got = got.map(|m| {
                let caps: Vec<(String, String)> = m
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (m.route.parse::<usize>().unwrap(), caps)
            });
            let want = best.map(|(_, i, caps)| (i, caps));
            assert_eq!(
                got, want,
                "round={round} host={host:?} path={path:?} routes={flat:?}"
            );
            if let Some((_, caps)) = &want {
                matched += 1;
                with_params += usize::from(!caps.is_empty());
            }
        }
    }
    // The generator must exercise real matches, not only misses.
    assert!(
        matched > 2_000 && with_params > 500,
        "matched={matched} with_params={with_params}"
    );
}

// ---------------------------------------------------------------------------
// Incremental updates.

fn versioned(
    key: &str,
    version: u32,
    uris: &[&str],
    hosts: &[&str],
    p: i64,
    o: u64,
) -> RouteSpec<String> {
    let mut s = spec(&format!("{key}#{version}"), uris, hosts, p, o);
    s.key = key.into();
    s
}

/// Every tree of the router keeps its shape invariants.
fn check_shapes(r: &Router<String>) {
    r.none.root.check_shape();
    r.any.root.check_shape();
    for i in 0..r.subs.len {
        let sub = r.subs.get(i).unwrap();
        sub.root.check_shape();
    }
    r.wildcards.check_shape();
}

type Answer = Option<(String, Vec<(String, String)>)>;

fn answer(r: &Router<String>, host: Option<&str>, path: &str, reject: u64) -> Answer {
    let rejected = |name: &str| {
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        reject != 0 && (h ^ reject) % 3 == 0
    };
    r.find(host, path, |name, _| !rejected(name)).map(|m| {
        let params = m
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        ((**m.route).clone(), params)
    })
}

const U_SEGS: &[&str] = &["a", "b", "ab", "", "c:d", ":p", ":q", "x"];
const U_PATH_SEGS: &[&str] = &["a", "b", "ab", "abc", "", "c:d", "x", "xy"];
const U_HOSTS: &[&str] = &[
    "a.com",
    "*.a.com",
    "*.b.a.com",
    "*",
    "B.COM",
    "*a.com",
    "c.com:80",
    "[::1]",
    "*.com",
];
const U_REQ_HOSTS: &[&str] = &[
    "a.com",
    "x.a.com",
    "y.b.a.com",
    "B.com:80",
    "z.com",
    "ba.com",
    "c.com",
    "::1",
    "A.COM",
    "q.com",
];

fn random_pattern(rng: &mut Rng) -> String {
    let depth = 1 + (rng.next() % 3) as usize;
    let mut p = String::new();
    for _ in 0..depth {
        p.push('/');
        p.push_str(rng.pick(U_SEGS));
    }
    match rng.next() % 5 {
        0 => p.push('*'),
        1 => p.push_str("/*rest"),
        _ => {}
    }
    p
}

fn random_route(rng: &mut Rng, key: &str, version: u32) -> RouteSpec<String> {
    let n_uris = if rng.next() % 5 == 0 { 2 } else { 1 };
    let uris: Vec<String> = (0..n_uris).map(|_| random_pattern(rng)).collect();
    let n_hosts = match rng.next() % 6 {
        0 | 1 => 1,
        2 => 2,
        _ => 0,
    };
    let hosts: Vec<&str> = (0..n_hosts).map(|_| rng.pick(U_HOSTS)).collect();
    let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    let priority = (rng.next() % 3) as i64;
    let order = rng.next() % 3;
    versioned(key, version, &uris, &hosts, priority, order)
}

fn random_request(rng: &mut Rng) -> (Option<&'static str>, String) {
    let depth = 1 + (rng.next() % 4) as usize;
    let mut path = String::new();
    for _ in 0..depth {
        path.push('/');
        path.push_str(rng.pick(U_PATH_SEGS));
    }
    let host = (rng.next() % 5 != 0).then(|| rng.pick(U_REQ_HOSTS));
    (host, path)
}

#[test]
fn randomized_updates_match_full_builds() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut compared, mut matched, mut with_params, mut updates) =
        (0usize, 0usize, 0usize, 0usize);
    for round in 0..24 {
        // The model: the route set in build order.
        let mut model: Vec<RouteSpec<String>> = Vec::new();
        let n = (rng.next() % 40) as usize;
        let mut next_key = 0usize;
        let mut version = 0u32;
        for _ in 0..n {
            model.push(random_route(&mut rng, &format!("r{next_key}"), version));
            next_key += 1;
        }
        let mut router = Router::build(model.clone()).unwrap();
        for step in 0..30 {
            let requests: Vec<_> = (0..60).map(|_| random_request(&mut rng)).collect();
            let masks = [0, rng.next() | 1];
            let before: Vec<Answer> = requests
                .iter()
                .flat_map(|(h, p)| masks.iter().map(|&m| answer(&router, *h, p, m)))
                .collect();

            // A random change: removals (some of unknown keys), additions,
            // replacements of existing keys with other patterns, hosts or
            // priority.
            let mut remove: Vec<String> = Vec::new();
            let mut add: Vec<RouteSpec<String>> = Vec::new();
            for _ in 0..(rng.next() % 3) {
                if !model.is_empty() && rng.next() % 4 != 0 {
                    let k = model[(rng.next() % model.len() as u64) as usize]
                        .key
                        .to_string();
                    if !remove.contains(&k) {
                        remove.push(k);
                    }
                } else {
                    remove.push(format!("r{}", next_key + 100));
                }
            }
            let mut added: Vec<String> = Vec::new();
            for _ in 0..(rng.next() % 3) {
                version += 1;
                let key = if !model.is_empty() && rng.next() % 2 == 0 {
                    model[(rng.next() % model.len() as u64) as usize]
                        .key
                        .to_string()
                } else {
                    next_key += 1;
                    format!("r{next_key}")
                };
                if added.contains(&key) {
                    continue;
                }
                added.push(key.clone());
                add.push(random_route(&mut rng, &key, version));
            }
            model.retain(|s| !remove.iter().any(|k| **k == *s.key));
            for s in &add {
                model.retain(|m| m.key != s.key);
                model.push(s.clone());
            }

            let next = router.update(&remove, add).unwrap();
            updates += 1;
            let rebuilt = Router::build(model.clone()).unwrap();
            assert_eq!(next.len(), model.len());
            assert_eq!(next.is_empty(), model.is_empty());
            for s in &model {
                assert!(next.contains_key(&s.key), "{}", s.key);
            }
            for k in &remove {
                if !model.iter().any(|s| *s.key == **k) {
                    assert!(!next.contains_key(k));
                }
            }
            check_shapes(&next);

            // The old router answers exactly as before.
            let again: Vec<Answer> = requests
                .iter()
                .flat_map(|(h, p)| masks.iter().map(|&m| answer(&router, *h, p, m)))
                .collect();
            assert_eq!(
                before, again,
                "round={round} step={step}: old router changed"
            );

            for (host, path) in &requests {
                for &mask in &masks {
                    let got = answer(&next, *host, path, mask);
                    let want = answer(&rebuilt, *host, path, mask);
                    assert_eq!(
                        got,
                        want,
                        "round={round} step={step} host={host:?} path={path:?} mask={mask} \
                         model={:?}",
                        model
                            .iter()
                            .map(|s| (&s.payload, &s.uris, &s.hosts, s.priority, s.order))
                            .collect::<Vec<_>>()
                    );
                    compared += 1;
                    if let Some((_, params)) = &want {
                        matched += 1;
                        with_params += usize::from(!params.is_empty());
                    }
                }
            }
            router = next;
        }
    }
    // The generator must exercise real matches, not only misses.
    assert!(updates >= 700, "updates={updates}");
    assert!(
        matched * 3 > compared && with_params > 2_000,
        "compared={compared} matched={matched} with_params={with_params}"
    );
}

#[test]
fn update_leaves_the_old_router_unchanged() {
    let r0 = build(vec![
        spec("a", &["/a"], &[], 0, 0),
        spec("b", &["/b/*"], &["b.com"], 0, 0),
        spec("w", &["/w/:id"], &["*.w.com"], 0, 0),
    ]);
    let r1 = r0
        .update(
            ["a", "b"],
            vec![
                versioned("w", 1, &["/w2/:id"], &["*.v.com"], 0, 0),
                versioned("c", 1, &["/a"], &["b.com"], 0, 0),
            ],
        )
        .unwrap();
    check(
        &r0,
        &[
            (None, "/a", Some("a")),
            (Some("b.com"), "/b/x", Some("b")),
            (Some("x.w.com"), "/w/1", Some("w")),
            (Some("x.v.com"), "/w2/1", None),
            (Some("b.com"), "/a", Some("a")),
        ],
    );
    check(
        &r1,
        &[
            (None, "/a", None),
            (Some("b.com"), "/b/x", None),
            (Some("x.w.com"), "/w/1", None),
            (Some("x.v.com"), "/w2/1", Some("w#1")),
            (Some("b.com"), "/a", Some("c#1")),
        ],
    );
    assert_eq!((r0.len(), r1.len()), (3, 2));
    // Both can be used from other threads while the other is updated.
    let r2 = std::thread::scope(|s| {
        let t = s.spawn(|| hit(&r0, None, "/a"));
        let r2 = r1.update(["c"], Vec::new()).unwrap();
        assert_eq!(t.join().unwrap().as_deref(), Some("a"));
        r2
    });
    assert_eq!(r2.len(), 1);
    assert_eq!(hit(&r1, Some("b.com"), "/a").as_deref(), Some("c#1"));
    assert_eq!(hit(&r2, Some("b.com"), "/a"), None);
}

#[test]
fn update_errors_leave_nothing_changed() {
    let r0 = build(vec![uri("a", "/a")]);
    let err = r0
        .update(["a"], vec![uri("b", "/b"), spec("c", &[], &[], 0, 0)])
        .err();
    assert_eq!(err, Some(RouterError::MissingUri { route: 1 }));
    let err = r0.update(["a"], vec![uri("b", "no-slash")]).err();
    assert!(matches!(err, Some(RouterError::InvalidUri { .. })));
    let err = r0
        .update(["a"], vec![spec("b", &["/b"], &["x.*"], 0, 0)])
        .err();
    assert!(matches!(err, Some(RouterError::InvalidHost { .. })));
    let err = r0
        .update(Vec::<&str>::new(), vec![uri("b", "/b"), uri("b", "/c")])
        .err();
    assert_eq!(err, Some(RouterError::DuplicateKey { key: "b".into() }));
    assert_eq!(hit(&r0, None, "/a").as_deref(), Some("a"));
    assert_eq!(r0.len(), 1);
    // Keys must be unique in a build too.
    let err = Router::build(vec![uri("a", "/a"), uri("a", "/b")]).err();
    assert_eq!(err, Some(RouterError::DuplicateKey { key: "a".into() }));
    assert!(!err.unwrap().to_string().is_empty());
    // Unknown keys are ignored; re-adding a key replaces its route.
    let r1 = r0.update(["nope"], vec![uri("a", "/z")]).unwrap();
    assert_eq!(r1.len(), 1);
    assert_eq!(hit(&r1, None, "/a"), None);
    assert_eq!(hit(&r1, None, "/z").as_deref(), Some("a"));
}

#[test]
fn many_single_updates_grow_and_shrink() {
    // From empty, one route at a time (tables regrow, trees path-copy),
    // then all removed again; compared with full builds along the way.
    let route = |i: usize| {
        let (uri, hosts): (String, Vec<String>) = match i % 5 {
            0 => (format!("/api/{i}/items"), vec![]),
            1 => (format!("/u{i}/:id/x"), vec![]),
            2 => (format!("/s/{i}/*"), vec![]),
            3 => (format!("/h/{i}"), vec![format!("H{}.example.com", i % 97)]),
            _ => (
                format!("/w/{}/*", i % 13),
                vec![format!("*.w{}.example.com", i % 89)],
            ),
        };
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        versioned(
            &format!("k{i}"),
            0,
            &[&uri],
            &hosts,
            (i % 3) as i64,
            i as u64,
        )
    };
    let n = 3_000;
    let probes: Vec<(Option<String>, String)> = (0..n)
        .step_by(7)
        .map(|i| match i % 5 {
            0 => (None, format!("/api/{i}/items")),
            1 => (None, format!("/u{i}/z/x")),
            2 => (None, format!("/s/{i}/a/b")),
            3 => (Some(format!("h{}.EXAMPLE.com", i % 97)), format!("/h/{i}")),
            _ => (
                Some(format!("a.w{}.example.com:80", i % 89)),
                format!("/w/{}/q", i % 13),
            ),
        })
        .collect();
    let compare = |a: &Router<String>, b: &Router<String>| {
        let mut hits = 0;
        for (host, path) in &probes {
            let x = answer(a, host.as_deref(), path, 0);
            assert_eq!(x, answer(b, host.as_deref(), path, 0), "{host:?} {path}");
            hits += usize::from(x.is_some());
        }
        hits
    };
    let mut r: Router<String> = Router::default();
    for i in 0..n {
        r = r.update(Vec::<&str>::new(), vec![route(i)]).unwrap();
        if i % 1000 == 999 {
            let full = Router::build((0..=i).map(route)).unwrap();
            assert!(compare(&r, &full) > (i + 1) / 7 / 2);
            check_shapes(&r);
        }
    }
    assert_eq!(r.len(), n);
    for i in (0..n).rev() {
        r = r.update([format!("k{i}")], Vec::new()).unwrap();
        if i % 1000 == 500 {
            let full = Router::build((0..i).map(route)).unwrap();
            compare(&r, &full);
            check_shapes(&r);
        }
    }
    assert!(r.is_empty());
    assert_eq!(r.host_entries, 0);
    assert_eq!(r.hosts.len(), 0);
    assert!(r.wildcards.is_empty() && r.none.root.is_empty() && r.exact.len() == 0);
    assert_eq!(compare(&r, &Router::default()), 0);
}
