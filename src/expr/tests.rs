//! Table-driven tests of the expression module: every operator with and
//! without `!`, the two-element form, `null`, Lua number conversions, regex
//! flavour, `in`/`has`, `ipmatch`, logic groups, compile errors, variable
//! naming and IP sets. Cases marked "v1 TEST n" / "uri-vars TEST n" are the
//! scenarios of lua-resty-expr's `t/v1/*.t` and APISIX's
//! `t/router/radixtree-uri-vars.t`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::json;

use super::num::{lua_number_string, lua_tonumber};
use super::*;

/// A request: variables by canonical name (repeatable) plus raw headers.
#[derive(Default)]
struct Req {
    vars: HashMap<String, Vec<String>>,
    headers: Vec<(String, String)>,
}

impl Req {
    /// `("header:X-Name", v)` adds a raw header, anything else a variable.
    fn of(pairs: &[(&str, &str)]) -> Req {
        let mut req = Req::default();
        for (name, value) in pairs {
            match name.strip_prefix("header:") {
                Some(h) => req.headers.push((h.to_string(), value.to_string())),
                None => req
                    .vars
                    .entry(VarName::parse(name).as_str().to_string())
                    .or_default()
                    .push(value.to_string()),
            }
        }
        req
    }
}

impl VarLookup for Req {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
        if let Some((_, v)) = self.headers.iter().find(|(n, _)| var.header_matches(n)) {
            return Some(Cow::Borrowed(v));
        }
        self.vars
            .get(var.as_str())
            .and_then(|v| v.first())
            .map(|v| Cow::Borrowed(v.as_str()))
    }

    fn get_all(&self, var: &VarName) -> Vec<Cow<'_, str>> {
        self.vars
            .get(var.as_str())
            .map(|v| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
            .unwrap_or_default()
    }
}

/// Compile `expr` (JSON text) and check it against each `(request, want)`.
fn check(expr: &str, cases: &[(&[(&str, &str)], bool)]) {
    let value: serde_json::Value = serde_json::from_str(expr).expect("test JSON");
    let ex = Expr::compile(&value).unwrap_or_else(|e| panic!("{expr}: {e}"));
    for (vars, want) in cases {
        assert_eq!(ex.eval(&Req::of(vars)), *want, "{expr} with {vars:?}");
    }
}

const NONE: &[(&str, &str)] = &[];

#[test]
fn equality_and_inequality() {
    let k = |v| [("arg_k", v)];
    // v1 TEST 1, 2, 7, 8, 29, 30.
    check(
        r#"[["arg_k", "==", "v"]]"#,
        &[
            (&k("v"), true),
            (&k("V"), false),
            (&k("vv"), false),
            (NONE, false),
        ],
    );
    check(
        r#"[["arg_k", "~=", "v"]]"#,
        &[(&k("v"), false), (&k("x"), true), (NONE, true)],
    );
    check(
        r#"[["arg_age", "~=", "18"]]"#,
        &[
            (&[("arg_age", "18")], false),
            (&[("arg_age", "18.0")], true),
        ],
    );
    // String right side: bytes, no number conversion.
    check(
        r#"[["arg_k", "==", "10"]]"#,
        &[(&k("10"), true), (&k("10.0"), false), (&k(" 10"), false)],
    );
    check(r#"[["arg_k", "==", ""]]"#, &[(&k(""), true), (NONE, false)]);
    // Number right side: `tonumber(l_v)` first (v1.lua:72-80; v1 TEST 26-28).
    check(
        r#"[["arg_k", "==", 10]]"#,
        &[
            (&k("10"), true),
            (&k("10.0"), true),
            (&k(" 10 "), true),
            (&k("0xA"), true),
            (&k("1e1"), true),
            (&k("+10"), true),
            (&k("10abc"), false),
            (&k("ten"), false),
            (NONE, false),
        ],
    );
    check(
        r#"[["arg_age", "~=", 18]]"#,
        &[
            (&[("arg_age", "18")], false),
            (&[("arg_age", "16")], true),
            (&[("arg_age", "aa")], true),
            (NONE, true),
        ],
    );
    check(
        r#"[["arg_k", "==", 1.5]]"#,
        &[(&k("1.5"), true), (&k("1.50"), true), (&k("3/2"), false)],
    );
    // Booleans, lists and objects never equal a string (raw Lua equality).
    check(
        r#"[["arg_k", "==", true]]"#,
        &[(&k("true"), false), (NONE, false)],
    );
    check(
        r#"[["arg_k", "~=", true]]"#,
        &[(&k("true"), true), (NONE, true)],
    );
    check(r#"[["arg_k", "==", ["v"]]]"#, &[(&k("v"), false)]);
    check(r#"[["arg_k", "~=", {"a": 1}]]"#, &[(&k("v"), true)]);
}

#[test]
fn numeric_ordering() {
    let k = |v| [("arg_k", v)];
    // v1 TEST 9, 10, 12, 34, 35: both sides through `tonumber`.
    check(
        r#"[["arg_k", ">", 10]]"#,
        &[
            (&k("11"), true),
            (&k("9"), false),
            (&k("10"), false),
            (NONE, false),
        ],
    );
    check(
        r#"[["arg_k", ">=", "2"]]"#,
        &[(&k("2"), true), (&k("1.99"), false)],
    );
    check(
        r#"[["arg_k", ">=", 3]]"#,
        &[(&k("2"), false), (&k("3"), true)],
    );
    check(
        r#"[["arg_k", "<=", "2"]]"#,
        &[(&k("3"), false), (&k("2"), true)],
    );
    check(r#"[["arg_k", "<=", 3]]"#, &[(&k("3"), true)]);
    check(
        r#"[["arg_k", "<", 0]]"#,
        &[
            (&k("-1"), true),
            (&k("-0"), false),
            (&k("abc"), false),
            (&k(""), false),
        ],
    );
    // Numeric, not lexicographic.
    check(
        r#"[["arg_k", ">", "9"]]"#,
        &[(&k("10"), true), (&k("0x10"), true), (&k("1e1"), true)],
    );
    // A right side that is not a number makes every comparison false.
    check(
        r#"[["arg_k", ">", "abc"]]"#,
        &[(&k("zzz"), false), (&k("1"), false)],
    );
    check(
        r#"[["arg_k", "<", null]]"#,
        &[(&k("1"), false), (NONE, false)],
    );
    check(r#"[["arg_k", "<", [1]]]"#, &[(&k("0"), false)]);
    // "nan" converts, and compares false.
    check(
        r#"[["arg_k", ">=", 0]]"#,
        &[(&k("nan"), false), (&k("inf"), true), (&k("-inf"), false)],
    );
}

#[test]
fn negation() {
    let k = |v| [("arg_k", v)];
    // v1 TEST 17-23.
    check(
        r#"[["arg_k", "!", ">", 10]]"#,
        &[(&k("11"), false), (&k("9"), true), (NONE, true)],
    );
    check(
        r#"[["arg_k", ">", 10], ["arg_k", "!", ">", 15]]"#,
        &[(&k("11"), true), (&k("16"), false)],
    );
    check(
        r#"[["arg_k", "!", "~~", "[a-z]"]]"#,
        &[(&k("a"), false), (&k("9"), true), (NONE, true)],
    );
    check(
        r#"[["arg_k", "!", "in", ["1", "2"]]]"#,
        &[(&k("3"), true), (&k("1"), false), (NONE, true)],
    );
    check(
        r#"[["arg_k", "!", "~*", "A"]]"#,
        &[
            (&k("a"), false),
            (&k("A"), false),
            (&k("b"), true),
            (&k(""), true),
        ],
    );
    check(
        r#"[["arg_k", "!", "==", "v"]]"#,
        &[(&k("v"), false), (&k("x"), true), (NONE, true)],
    );
    check(
        r#"[["arg_k", "!", "~=", "v"]]"#,
        &[(&k("v"), true), (&k("x"), false), (NONE, false)],
    );
    check(
        r#"[["arg_k", "!", "==", null]]"#,
        &[(&k("v"), true), (NONE, false)],
    );
    check(
        r#"[["arg_k", "!", ">=", 1]]"#,
        &[(&k("1"), false), (&k("0"), true), (&k("x"), true)],
    );
    check(
        r#"[["arg_k", "!", "<", 1]]"#,
        &[(&k("0"), false), (&k("1"), true)],
    );
    check(
        r#"[["arg_k", "!", "<=", 1]]"#,
        &[(&k("1"), false), (&k("2"), true)],
    );
    check(
        r#"[["remote_addr", "!", "ipmatch", "10.0.0.0/8"]]"#,
        &[
            (&[("remote_addr", "10.1.2.3")], false),
            (&[("remote_addr", "11.1.2.3")], true),
        ],
    );
    check(
        r#"[["x", "!", "has", "a"]]"#,
        &[
            (&[("x", "b"), ("x", "c")], true),
            (&[("x", "a"), ("x", "b")], false),
        ],
    );
    // `!` negates the whole comparison, including the absent case.
    check(
        r#"[["arg_k", "!", "==", 10]]"#,
        &[(NONE, true), (&k("abc"), true), (&k("10"), false)],
    );
}

#[test]
fn two_element_shorthand() {
    // v1 TEST 2, 4, 6; uri-vars TEST 14-15.
    check(
        r#"[["arg_k", "v"]]"#,
        &[(&[("arg_k", "v")], true), (&[("arg_k", "not_hit")], false)],
    );
    check(
        r#"[["http_user_agent", "ios"]]"#,
        &[(&[("header:User-Agent", "ios")], true), (NONE, false)],
    );
    // The value passes through `str_lower` before the fallback (v1.lua:178-185).
    check(
        r#"[["arg_k", "iOS"]]"#,
        &[(&[("arg_k", "ios")], true), (&[("arg_k", "iOS")], false)],
    );
    // A number value becomes its string.
    check(
        r#"[["arg_k", 5]]"#,
        &[(&[("arg_k", "5")], true), (&[("arg_k", "5.0")], false)],
    );
    check(r#"[["arg_k", 1e20]]"#, &[(&[("arg_k", "1e+20")], true)]);
    // A value that is an operator name is that operator with a nil value.
    check(
        r#"[["arg_k", "=="]]"#,
        &[(NONE, true), (&[("arg_k", "==")], false)],
    );
    check(
        r#"[["arg_k", "IN"]]"#,
        &[(&[("arg_k", "in")], false), (NONE, false)],
    );
    // Elements past the third are ignored (v1.lua:175).
    check(
        r#"[["arg_k", "==", "v", "x", "y"]]"#,
        &[(&[("arg_k", "v")], true)],
    );
}

#[test]
fn null_values() {
    // uri-vars TEST 11-13, v1 TEST 13 and 36.
    check(
        r#"[["http_user_agent", "==", null]]"#,
        &[
            (&[("header:User-Agent", "android")], false),
            (NONE, true),
            (&[("header:User-Agent", "")], false),
        ],
    );
    check(
        r#"[["http_test", "~=", null]]"#,
        &[(NONE, false), (&[("header:test", "v")], true)],
    );
    check(
        r#"[["arg_k", "in", null]]"#,
        &[(&[("arg_k", "null")], false), (NONE, false)],
    );
    check(
        r#"[["arg_k", "has", null]]"#,
        &[(&[("arg_k", "null")], false), (NONE, false)],
    );
    // `null` as an `in` element never equals a string.
    check(
        r#"[["arg_k", "in", [null, "a"]]]"#,
        &[(&[("arg_k", "a")], true), (NONE, false)],
    );
}

#[test]
fn regex_operators() {
    let x = |v| [("x", v)];
    // v1 TEST 22-25, 31, 32.
    check(
        r#"[["x", "~*", "A"]]"#,
        &[
            (&x("a"), true),
            (&x("A"), true),
            (&x("b"), false),
            (&x(""), false),
        ],
    );
    check(
        r#"[["x", "~~", "A"]]"#,
        &[
            (&x("a"), false),
            (&x("A"), true),
            (&x("bAb"), true),
            (NONE, false),
        ],
    );
    check(
        r#"[["arg_name", "~~", "[a-z]{1,4}"]]"#,
        &[(NONE, false), (&[("arg_name", "jack")], true)],
    );
    check(
        r#"[["arg_name", "~*", "[a-z]{1,4}"]]"#,
        &[(NONE, false), (&[("arg_name", "JACK")], true)],
    );
    // Found anywhere unless anchored.
    check(
        r#"[["uri", "~~", "^/api/v[0-9]+$"]]"#,
        &[
            (&[("uri", "/api/v2")], true),
            (&[("uri", "/x/api/v2")], false),
            (&[("uri", "/api/v2/")], false),
        ],
    );
    // PCRE without `u`: ASCII classes and ASCII-only case folding.
    check(
        r#"[["x", "~~", "^\\w+$"]]"#,
        &[(&x("abc_1"), true), (&x("é"), false)],
    );
    check(
        r#"[["x", "~~", "^\\d$"]]"#,
        &[(&x("5"), true), (&x("٥"), false)],
    );
    check(
        r#"[["x", "~~", "^.$"]]"#,
        &[(&x("a"), true), (&x("é"), false)],
    );
    check(
        r#"[["x", "~*", "É"]]"#,
        &[(&x("É"), true), (&x("é"), false)],
    );
    check(r#"[["x", "~~", "日本"]]"#, &[(&x("ja: 日本語"), true)]);
    // Needs Unicode mode to compile: built with it.
    check(
        r#"[["x", "~~", "^[éè]$"]]"#,
        &[(&x("é"), true), (&x("e"), false)],
    );
    // Inline flags and a number pattern (stringified as Lua does).
    check(r#"[["x", "~~", "(?i)get"]]"#, &[(&x("GET"), true)]);
    check(
        r#"[["x", "~~", 42]]"#,
        &[(&x("v42"), true), (&x("4"), false)],
    );
    // Lazy quantifiers are fine; `}` alone is a literal.
    check(r#"[["x", "~~", "a+?b"]]"#, &[(&x("aab"), true)]);
    check(r#"[["x", "~~", "^x\\}+$"]]"#, &[(&x("x}}"), true)]);
}

#[test]
fn in_and_has() {
    let k = |v| [("arg_k", v)];
    // v1 TEST 14, 15, 20, 21, 33.
    check(
        r#"[["arg_k", "in", ["1", "2"]]]"#,
        &[
            (&k("1"), true),
            (&k("2"), true),
            (&k("4"), false),
            (NONE, false),
        ],
    );
    // Numbers in the list never equal a string value (raw Lua equality).
    check(r#"[["arg_k", "in", [1, 2]]]"#, &[(&k("1"), false)]);
    check(r#"[["arg_k", "in", []]]"#, &[(&k(""), false)]);
    check(
        r#"[["arg_k", "in", "abc"]]"#,
        &[(&k("abc"), false), (&k("a"), false)],
    );
    check(r#"[["arg_k", "in", {"a": "a"}]]"#, &[(&k("a"), false)]);
    check(
        r#"[["arg_k", "IN", ["b", "a", "c", "a"]]]"#,
        &[(&k("a"), true), (&k("c"), true), (&k("d"), false)],
    );
    check(
        r#"[["x", "has", "a"]]"#,
        &[
            (&[("x", "a"), ("x", "b")], true),
            (&[("x", "a")], true),
            (&[("x", "b")], false),
            (NONE, false),
        ],
    );
    check(
        r#"["or", ["x", "HAS", "a"], ["x", "HAS", "c"]]"#,
        &[
            (&[("x", "a"), ("x", "b")], true),
            (&[("x", "b")], false),
            (&[("x", "c")], true),
        ],
    );
    check(r#"[["x", "has", 1]]"#, &[(&[("x", "1")], false)]);
}

#[test]
fn ipmatch() {
    let ip = |v| [("remote_addr", v)];
    // lua-resty-expr t/v1/ipmatcher.t TEST 1, 3-8.
    check(
        r#"[["remote_addr", "ipmatch", "127.0.0.1"]]"#,
        &[
            (&ip("127.0.0.1"), true),
            (&ip("127.0.0.2"), false),
            (NONE, false),
        ],
    );
    check(
        r#"[["remote_addr", "ipmatch", ["127.0.0.1"]]]"#,
        &[(&ip("127.0.0.1"), true)],
    );
    check(
        r#"[["remote_addr", "IPMATCH", "127.0.0.0/16"]]"#,
        &[(&ip("127.0.255.1"), true), (&ip("127.1.0.1"), false)],
    );
    check(
        r#"[["remote_addr", "ipmatch", ["127.0.0.2", "127.0.0.3"]]]"#,
        &[(&ip("127.0.0.1"), false), (&ip("127.0.0.3"), true)],
    );
    check(
        r#"[["arg_real_ip", "ipmatch", ["127.0.0.1"]]]"#,
        &[
            (&[("arg_real_ip", "127.0.0.1")], true),
            (&[("arg_real_ip", "junk")], false),
        ],
    );
    check(
        r#"[["http_real_ip", "ipmatch", ["127.0.0.1"]]]"#,
        &[(&[("header:real-ip", "127.0.0.1")], true)],
    );
    check(
        r#"[["remote_addr", "ipmatch", ["127.0.0.1"]], ["arg_k", "==", "v"]]"#,
        &[
            (&[("remote_addr", "127.0.0.1"), ("arg_k", "v")], true),
            (&[("remote_addr", "127.0.0.1")], false),
        ],
    );
    // IPv6, brackets, and IPv4-mapped clients against IPv4 CIDRs.
    check(
        r#"[["remote_addr", "ipmatch", ["::1", "fe80::/10", "10.0.0.0/8"]]]"#,
        &[
            (&ip("::1"), true),
            (&ip("[::1]"), true),
            (&ip("fe80::1234"), true),
            (&ip("fec0::1"), false),
            (&ip("::ffff:10.9.8.7"), true),
            (&ip("::ffff:11.9.8.7"), false),
            (&ip("10.255.255.255"), true),
            (&ip("::2"), false),
        ],
    );
}

#[test]
fn logic_groups() {
    let ua = |v| ("header:User-Agent", v);
    // uri-vars TEST 16-18.
    check(
        r#"["!OR", ["http_user_agent", "==", "ios"], ["http_demo", "==", "test"]]"#,
        &[
            (&[ua("android"), ("header:demo", "prod")], true),
            (&[ua("ios"), ("header:demo", "prod")], false),
            (&[ua("android"), ("header:demo", "test")], false),
        ],
    );
    let ab = |a, b| [("arg_a", a), ("arg_b", b)];
    let rules = r#"["arg_a", "==", "1"], ["arg_b", "==", "1"]"#;
    for (logic, want) in [
        ("AND", [true, false, false, false]),
        ("OR", [true, true, true, false]),
        ("!AND", [false, true, true, true]),
        ("!OR", [false, false, false, true]),
        ("and", [true, false, false, false]),
        ("Or", [true, true, true, false]),
    ] {
        let expr = format!(r#"["{logic}", {rules}]"#);
        check(
            &expr,
            &[
                (&ab("1", "1"), want[0]),
                (&ab("1", "0"), want[1]),
                (&ab("0", "1"), want[2]),
                (&ab("0", "0"), want[3]),
            ],
        );
        // The same group nested as a rule of the top-level list.
        check(
            &format!("[{expr}]"),
            &[(&ab("1", "0"), want[1]), (&ab("0", "0"), want[3])],
        );
    }
    // Nesting: (a == 1 OR b == 1) AND NOT (c == 1 AND d == 1).
    let expr = r#"[
        ["OR", ["arg_a", "==", "1"], ["arg_b", "==", "1"]],
        ["!AND", ["arg_c", "==", "1"], ["arg_d", "==", "1"]]
    ]"#;
    check(
        expr,
        &[
            (&[("arg_a", "1")], true),
            (&[("arg_b", "1"), ("arg_c", "1")], true),
            (&[("arg_b", "1"), ("arg_c", "1"), ("arg_d", "1")], false),
            (&[("arg_c", "1")], false),
        ],
    );
    check(
        r#"["AND", ["OR", ["arg_a", "==", "1"], ["!OR", ["arg_b", "==", "1"], ["arg_b", "==", "2"]]], ["arg_c", "~=", "x"]]"#,
        &[
            (&[("arg_a", "1")], true),
            (&[("arg_b", "1")], false),
            (&[("arg_b", "3")], true),
            (&[("arg_b", "3"), ("arg_c", "x")], false),
        ],
    );
    // A list of rules in place of a rule is an implicit AND (v1.lua:248-257).
    check(
        r#"[[["arg_a", "==", "1"], ["arg_b", "==", "1"]]]"#,
        &[(&ab("1", "1"), true), (&ab("1", "0"), false)],
    );
    // Empty: always true (v1 validate TEST 7, uri-vars TEST 19-20).
    check("[]", &[(NONE, true)]);
    check("{}", &[(NONE, true)]);
}

#[test]
fn apisix_examples() {
    let ua = |v| [("header:User-Agent", v)];
    // uri-vars TEST 1-4.
    check(
        r#"[["http_user_agent", "~*", "android"]]"#,
        &[
            (NONE, false),
            (&ua("android"), true),
            (&ua("Mozilla/5.0 (Linux; Android 10)"), true),
            (&ua("ios"), false),
        ],
    );
    // uri-vars TEST 5-7.
    check(
        r#"[["http_user_agent", "!", "~*", "android"]]"#,
        &[(NONE, true), (&ua("Android"), false), (&ua("ios"), true)],
    );
    // uri-vars TEST 8-10.
    check(
        r#"[["http_user_agent", "IN", ["android", "ios"]]]"#,
        &[
            (NONE, false),
            (&ua("android"), true),
            (&ua("ios"), true),
            (&ua("Android"), false),
        ],
    );
    // The APISIX router docs' example.
    check(
        r#"[["arg_name", "==", "json"], ["arg_age", ">", 18], ["arg_address", "~~", "China.*"]]"#,
        &[
            (
                &[
                    ("arg_name", "json"),
                    ("arg_age", "20"),
                    ("arg_address", "China-Beijing"),
                ],
                true,
            ),
            (
                &[
                    ("arg_name", "json"),
                    ("arg_age", "18"),
                    ("arg_address", "China-Beijing"),
                ],
                false,
            ),
        ],
    );
}

/// Compile `expr` (JSON text) and return the error message.
fn error_of(expr: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(expr).expect("test JSON");
    match Expr::compile(&value) {
        Ok(_) => panic!("{expr} compiled"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn compile_errors() {
    for (expr, want) in [
        // uri-vars TEST 21, v1 validate TEST 8.
        (r#"["http_user_agent", "~*", "android"]"#, "rule should be wrapped inside brackets"),
        (r#"[5, ["a", "==", "b"]]"#, "rule should be wrapped inside brackets"),
        // v1 validate TEST 1-3, 5, 6.
        (r#"[["arg_k", "=", "v"]]"#, "invalid operator '=' (at [0])"),
        (r#"[["arg_k", "invalid", 10]]"#, "invalid operator 'invalid' (at [0])"),
        (r#"[["arg_k", "Foo", 10]]"#, "invalid operator 'foo' (at [0])"),
        (r#"[["arg_k", "!", "=", 10]]"#, "invalid operator '=' (at [0])"),
        (r#"[["arg_k", "==", "v"], ["arg_k", 5, "v"]]"#, "invalid operator '5' (at [1])"),
        (r#"[["arg_k", null, "v"]]"#, "invalid operator 'null' (at [0])"),
        (r#"[["arg_k"]]"#, "invalid expression (at [0])"),
        (r#"[[]]"#, "rule too short (at [0])"),
        (r#"[{}]"#, "rule too short (at [0])"),
        (r#"[["!", "arg_k", "==", "1"]]"#, "bad 'not' expression (at [0])"),
        (r#"["OR", ["arg_weight", ">", 10]]"#, "rule too short (at top level)"),
        (r#"["OR", ["arg_weight", ">", 10], ["AND"]]"#, "rule too short (at [2])"),
        (r#"[["a", "==", "1"], "b"]"#, "rule should be wrapped inside brackets (at [1])"),
        (r#"["AND", ["a", "==", "1"], ["OR", ["b", "==", "1"], 7]]"#, "rule should be wrapped inside brackets (at [2][2])"),
        (r#"[[1, "==", "1"]]"#, "invalid expression: the variable name should be a string, got number (at [0])"),
        ("null", "missing argument rule"),
        (r#""x""#, "the expression should be an array, got string"),
        // Regexes.
        (r#"[["x", "~~", "(?=a)"]]"#, "invalid regex \"(?=a)\": look-around, including look-ahead and look-behind, is not supported at offset 0 (at [0])"),
        (r#"[["x", "~*", "(a)\\1"]]"#, "invalid regex \"(a)\\1\": backreferences are not supported at offset 3 (at [0])"),
        (r#"[["x", "~~", "[a-"]]"#, "invalid regex \"[a-\": unclosed character class at offset 0 (at [0])"),
        (r#"[["x", "~~", "a*+"]]"#, "invalid regex \"a*+\": possessive quantifiers (e.g. a*+) are not supported (at [0])"),
        (r#"[["x", "~~", "(?>a)"]]"#, "invalid regex \"(?>a)\": atomic groups (?>...) are not supported (at [0])"),
        (r#"[["x", "~~", "a\\Z"]]"#, "invalid regex \"a\\Z\": \\Z is not supported; use \\z or $ (at [0])"),
        (r#"[["x", "~~", null]]"#, "invalid regex \"null\": the pattern must be a string (at [0])"),
        (r#"[["x", "~~", ["a"]]]"#, "invalid regex \"[\"a\"]\": the pattern must be a string (at [0])"),
        // ipmatch: lua-resty-expr t/v1/ipmatcher.t TEST 2, and bad CIDRs.
        (r#"[["remote_addr", "ipmatch", null]]"#, "invalid ip address (at [0])"),
        (r#"[["remote_addr", "ipmatch"]]"#, "invalid ip address (at [0])"),
        (r#"[["remote_addr", "ipmatch", ""]]"#, "invalid ip address (at [0])"),
        (r#"[["remote_addr", "ipmatch", []]]"#, "invalid ip address (at [0])"),
        (r#"[["remote_addr", "ipmatch", {}]]"#, "invalid ip address (at [0])"),
        (r#"[["remote_addr", "ipmatch", [""]]]"#, "invalid ip address:  (at [0])"),
        (r#"[["remote_addr", "ipmatch", ["1.2.3"]]]"#, "invalid ip address: 1.2.3 (at [0])"),
        (r#"[["remote_addr", "ipmatch", [5]]]"#, "invalid ip address: 5 (at [0])"),
        (r#"[["remote_addr", "ipmatch", "10.0.0.0/33"]]"#, "invalid ip address: 10.0.0.0/33 (prefix length must be an integer from 0 to 32) (at [0])"),
    ] {
        assert_eq!(error_of(expr), want, "{expr}");
    }
}

#[test]
fn compile_error_variants() {
    let deep = (0..100).fold(json!(["a", "==", "b"]), |acc, _| json!([acc]));
    assert!(matches!(
        Expr::compile(&json!([deep])),
        Err(ExprError::TooDeep { .. })
    ));
    let err = Expr::compile(&json!([["r", "ipmatch", "fe80::/129"]]));
    assert!(matches!(
        err,
        Err(ExprError::InvalidIp {
            source: CidrError::InvalidPrefix { max: 128, .. },
            ..
        })
    ));
}

#[test]
fn vars_listed_once() {
    let ex = Expr::compile(&json!([
        ["arg_a", "==", "1"],
        ["OR", ["cookie_sid", "~~", "x"], ["arg_a", ">", 2]],
        ["http_X-User-Id", "==", "7"],
        ["post_arg_name", "==", "x"]
    ]))
    .expect("compiles");
    let names: Vec<&str> = ex.vars().map(VarName::as_str).collect();
    assert_eq!(
        names,
        ["arg_a", "cookie_sid", "http_x_user_id", "post_arg_name"]
    );
    assert!(ex.vars().any(VarName::reads_body));
    assert!(!ex.is_empty());
    assert!(Expr::compile(&json!([])).expect("compiles").is_empty());
    // Clone shares the compiled tree and is usable across threads.
    fn assert_send_sync<T: Send + Sync + Clone>(_: &T) {}
    assert_send_sync(&ex);
}

#[test]
fn var_names() {
    let keyed = |v: VarName| (v.as_str().to_string(), v.key().map(str::to_string));
    for (name, canon, key) in [
        ("arg_page", "arg_page", Some("page")),
        ("arg_Page", "arg_Page", Some("Page")),
        ("arg_", "arg_", Some("")),
        ("http_x_user_id", "http_x_user_id", Some("x-user-id")),
        ("http_X-User-Id", "http_x_user_id", Some("x-user-id")),
        ("HTTP_HOST", "http_host", Some("host")),
        ("cookie_sid", "cookie_sid", Some("sid")),
        ("cookie_SID", "cookie_SID", Some("SID")),
        ("post_arg_name", "post_arg_name", Some("name")),
        ("uri", "uri", None),
        ("URI", "uri", None),
        ("args", "query_string", None),
        ("query_string", "query_string", None),
        ("method", "request_method", None),
        ("route_id", "route_id", None),
        ("graphql_name", "graphql_name", None),
        ("post_arg.user.name", "post_arg.user.name", None),
        ("ARG_k", "ARG_k", None),
    ] {
        assert_eq!(
            keyed(VarName::parse(name)),
            (canon.to_string(), key.map(str::to_string)),
            "{name}"
        );
    }
    assert_eq!(VarName::parse("remote_addr"), VarName::RemoteAddr);
    assert_eq!(VarName::parse("server_port"), VarName::ServerPort);
    assert_eq!(VarName::parse("content_type"), VarName::ContentType);
    assert!(matches!(VarName::parse("arg_k"), VarName::Arg(_)));
    assert!(matches!(VarName::parse("cookie_k"), VarName::Cookie(_)));
    assert!(matches!(VarName::parse("post_arg_k"), VarName::PostArg(_)));
    assert!(matches!(VarName::parse("http_k"), VarName::Header(_)));
    assert_eq!(
        VarName::parse("consumer_name"),
        VarName::Other("consumer_name".into())
    );
    assert_eq!(VarName::parse("METHOD"), VarName::Other("METHOD".into()));
    // nginx header matching: case-insensitive, `-` and `_` alike.
    let v = VarName::parse("http_x_user_id");
    for (header, want) in [
        ("X-User-Id", true),
        ("x-user-id", true),
        ("X_USER_ID", true),
        ("X-User", false),
        ("X-User-Ids", false),
    ] {
        assert_eq!(v.header_matches(header), want, "{header}");
    }
    assert!(!VarName::parse("arg_x_user_id").header_matches("x-user-id"));
    assert!(VarName::parse("graphql_root_fields").reads_body());
    assert!(VarName::parse("post_arg.a").reads_body());
    assert!(!VarName::parse("cookie_a").reads_body());
    assert_eq!(VarName::parse("http_Accept").to_string(), "http_accept");
    // And through evaluation: `http_x_user_id` reads header `X-User-Id`.
    check(
        r#"[["http_x_user_id", "==", "42"]]"#,
        &[(&[("header:X-User-Id", "42")], true)],
    );
    check(
        r#"[["http_X-User-Id", "==", "42"]]"#,
        &[(&[("header:x-user-id", "42")], true)],
    );
}

#[test]
fn ip_sets() {
    let set = IpSet::parse([
        "127.0.0.1",
        "10.0.0.0/8",
        "192.168.1.77/24",
        "::1",
        "fe80::/10",
        "[2001:db8::]/32",
    ])
    .expect("parses");
    for (ip, want) in [
        ("127.0.0.1", true),
        ("127.0.0.2", false),
        ("10.0.0.0", true),
        ("10.255.255.255", true),
        ("11.0.0.0", false),
        ("192.168.1.1", true),
        ("192.168.2.1", false),
        ("::1", true),
        ("::", false),
        ("febf:ffff::1", true),
        ("fec0::", false),
        ("2001:db8:ffff::1", true),
        ("2001:db9::", false),
        ("::ffff:127.0.0.1", true),
        ("::ffff:10.1.1.1", true),
        ("::ffff:127.0.0.2", false),
        ("[::1]", true),
        ("not an ip", false),
        ("", false),
        ("127.0.0.1 ", false),
    ] {
        assert_eq!(set.contains_str(ip), want, "{ip}");
        if let Ok(addr) = ip.parse::<IpAddr>() {
            assert_eq!(set.contains(addr), want, "{ip} as IpAddr");
        }
    }
    let any4 = IpSet::parse(["0.0.0.0/0"]).expect("parses");
    assert!(
        any4.contains_str("255.1.2.3")
            && any4.contains_str("::ffff:1.2.3.4")
            && !any4.contains_str("::1")
    );
    let any6 = IpSet::parse(["::/0"]).expect("parses");
    assert!(any6.contains_str("::1") && !any6.contains_str("1.2.3.4"));
    let empty = IpSet::parse(Vec::<String>::new()).expect("parses");
    assert!(empty.is_empty() && !empty.contains_str("1.2.3.4"));
    for (item, want) in [
        (
            "10.0.0.0/33",
            "invalid ip address: 10.0.0.0/33 (prefix length must be an integer from 0 to 32)",
        ),
        (
            "fe80::/129",
            "invalid ip address: fe80::/129 (prefix length must be an integer from 0 to 128)",
        ),
        ("1.2.3", "invalid ip address: 1.2.3"),
        (
            "1.2.3.4/",
            "invalid ip address: 1.2.3.4/ (prefix length must be an integer from 0 to 32)",
        ),
        (
            "1.2.3.4/+8",
            "invalid ip address: 1.2.3.4/+8 (prefix length must be an integer from 0 to 32)",
        ),
        (
            "1.2.3.4/8/8",
            "invalid ip address: 1.2.3.4/8/8 (prefix length must be an integer from 0 to 32)",
        ),
        ("01.2.3.4", "invalid ip address: 01.2.3.4"),
        ("fe80::1%eth0", "invalid ip address: fe80::1%eth0"),
        ("", "invalid ip address: "),
    ] {
        let err = IpSet::parse(["1.1.1.1", item]).expect_err(item);
        assert_eq!(err.to_string(), want);
    }
    assert_eq!(
        IpSet::parse(["10.0.0.0/33"]).expect_err("bad"),
        CidrError::InvalidPrefix {
            item: "10.0.0.0/33".into(),
            max: 32
        }
    );
    // Host bits in a CIDR are ignored, as ipmatcher's shift does.
    assert!(IpSet::parse(["10.1.2.3/8"])
        .expect("parses")
        .contains_str("10.200.0.1"));
}

#[test]
fn lua_tonumber_matches_luajit() {
    for (text, want) in [
        ("10", Some(10.0)),
        ("-10", Some(-10.0)),
        ("+10", Some(10.0)),
        (" \t10\n", Some(10.0)),
        ("\x0b10", Some(10.0)),
        ("1.5", Some(1.5)),
        (".5", Some(0.5)),
        ("5.", Some(5.0)),
        ("1e3", Some(1000.0)),
        ("1E-2", Some(0.01)),
        ("007", Some(7.0)),
        ("0x10", Some(16.0)),
        ("0X1f", Some(31.0)),
        ("-0x10", Some(-16.0)),
        ("0x1p4", Some(16.0)),
        ("0x.8", Some(0.5)),
        ("0x1.8P1", Some(3.0)),
        ("0b101", Some(5.0)),
        ("inf", Some(f64::INFINITY)),
        ("-Infinity", Some(f64::NEG_INFINITY)),
        ("", None),
        (" ", None),
        (".", None),
        ("-", None),
        ("- 1", None),
        ("1e", None),
        ("1e+", None),
        ("0x", None),
        ("0b102", None),
        ("0b1.1", None),
        ("1.2.3", None),
        ("10ll", None),
        ("10u", None),
        ("1i", None),
        ("1_000", None),
        ("abc", None),
        ("infinite", None),
        ("1e1048576", None),
        ("10 10", None),
    ] {
        assert_eq!(lua_tonumber(text), want, "{text:?}");
    }
    assert!(lua_tonumber("nan").is_some_and(f64::is_nan));
    assert!(lua_tonumber(" -NaN ").is_some_and(f64::is_nan));
    assert_eq!(
        lua_tonumber("0x123456789abcdef01"),
        Some(0x1_2345_6789_abcd_ef01_u128 as f64)
    );
}

#[test]
fn lua_number_strings() {
    for (n, want) in [
        (5.0, "5"),
        (-5.0, "-5"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (100.0, "100"),
        (1e14, "1e+14"),
        (99999999999999.0, "99999999999999"),
        (123456789012345.0, "1.2345678901234e+14"),
        (1e20, "1e+20"),
        (1e-4, "0.0001"),
        (1e-5, "1e-05"),
        (1.0 / 3.0, "0.33333333333333"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        assert_eq!(lua_number_string(n), want, "{n}");
    }
}
