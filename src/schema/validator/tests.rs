//! Unit tests of the validator: every keyword, every message, defaults and compile errors.
#![allow(clippy::unwrap_used)]

use super::lua::{lua_number, lua_quote};
use super::*;
use serde_json::json;

fn schema(doc: Value) -> Schema {
    Schema::compile(&doc).unwrap()
}

fn ok(doc: Value, value: Value) {
    let s = schema(doc);
    assert_eq!(s.validate(&value), Ok(()), "value {value}");
}

fn err(doc: Value, value: Value) -> String {
    schema(doc).validate(&value).unwrap_err()
}

fn compile_err(doc: Value) -> String {
    Schema::compile(&doc).unwrap_err()
}

fn filled(doc: Value, mut value: Value) -> Value {
    schema(doc).validate_and_default(&mut value).unwrap();
    value
}

/// A trimmed copy of APISIX's route schema (apisix/schema_def.lua) with the upstream
/// defaults of APISIX 3.x.
fn route_schema() -> Value {
    let id = json!({"anyOf": [
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-zA-Z0-9-_.]+$"},
        {"type": "integer", "minimum": 1}
    ]});
    let host = json!({"type": "string", "pattern": "^\\*?[0-9a-zA-Z-._]+$"});
    let upstream = json!({
        "type": "object",
        "properties": {
            "nodes": {"anyOf": [
                {"type": "object", "patternProperties": {".*": {"type": "integer", "minimum": 0}}},
                {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "host": host,
                        "port": {"type": "integer", "minimum": 1},
                        "weight": {"type": "integer", "minimum": 0},
                        "priority": {"type": "integer", "default": 0}
                    },
                    "required": ["host", "port", "weight"]
                }}
            ]},
            "type": {"type": "string", "default": "roundrobin",
                     "enum": ["chash", "roundrobin", "ewma", "least_conn"]},
            "scheme": {"default": "http", "enum": ["grpc", "grpcs", "http", "https"]},
            "pass_host": {"type": "string", "enum": ["pass", "node", "rewrite"], "default": "pass"},
            "hash_on": {"type": "string", "default": "vars",
                        "enum": ["vars", "header", "cookie", "consumer", "vars_combinations"]},
            "retries": {"type": "integer", "minimum": 0},
            "service_name": {"type": "string", "maxLength": 256, "minLength": 1},
            "discovery_type": {"type": "string"},
            "id": id
        },
        "oneOf": [{"required": ["nodes"]}, {"required": ["service_name", "discovery_type"]}],
        "additionalProperties": false
    });
    json!({
        "type": "object",
        "properties": {
            "uri": {"type": "string", "minLength": 1, "maxLength": 4096},
            "uris": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true},
            "priority": {"type": "integer", "default": 0},
            "methods": {"type": "array", "uniqueItems": true, "items": {
                "type": "string",
                "enum": ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"]
            }},
            "host": host,
            "hosts": {"type": "array", "items": host, "minItems": 1, "uniqueItems": true},
            "remote_addr": {"type": "string", "anyOf": [
                {"title": "IPv4", "type": "string", "format": "ipv4"},
                {"title": "IPv6", "type": "string", "format": "ipv6"}
            ]},
            "plugins": {"type": "object"},
            "upstream": upstream,
            "upstream_id": id,
            "service_id": id,
            "status": {"type": "integer", "enum": [1, 0], "default": 1}
        },
        "allOf": [
            {"oneOf": [{"required": ["uri"]}, {"required": ["uris"]}]},
            {"oneOf": [
                {"not": {"anyOf": [{"required": ["host"]}, {"required": ["hosts"]}]}},
                {"required": ["host"]},
                {"required": ["hosts"]}
            ]}
        ],
        "anyOf": [
            {"required": ["plugins", "uri"]},
            {"required": ["upstream", "uri"]},
            {"required": ["upstream_id", "uri"]},
            {"required": ["service_id", "uri"]},
            {"required": ["plugins", "uris"]},
            {"required": ["upstream", "uris"]},
            {"required": ["upstream_id", "uris"]},
            {"required": ["service_id", "uris"]}
        ],
        "additionalProperties": false
    })
}

// ---- APISIX-shaped messages on a real schema ----

#[test]
fn route_schema_messages() {
    let s = schema(route_schema());
    let up = json!({"nodes": {"127.0.0.1:80": 1}});
    let check = |v: Value| s.validate(&v);
    assert_eq!(check(json!({"uri": "/a", "upstream": up})), Ok(()));
    assert_eq!(
        check(json!({"uri": 1, "upstream": up})).unwrap_err(),
        "property \"uri\" validation failed: wrong type: expected string, got number"
    );
    assert_eq!(
        check(json!({"uri": "/a", "methods": ["GET", "got"], "upstream": up})).unwrap_err(),
        "property \"methods\" validation failed: failed to validate item 2: matches none of the enum values"
    );
    assert_eq!(
        check(json!({"uri": "/a", "upstream": up, "xxx": 1})).unwrap_err(),
        "additional properties forbidden, found xxx"
    );
    assert_eq!(
        check(json!({"uri": "/a", "uris": ["/b"], "upstream": up})).unwrap_err(),
        "allOf 1 failed: value should match only one schema, but matches both schemas 1 and 2"
    );
    assert_eq!(
        check(json!({"upstream": up})).unwrap_err(),
        "allOf 1 failed: value should match only one schema, but matches none"
    );
    assert_eq!(
        check(json!({"uri": "/a", "host": "a.com", "hosts": ["b.com"], "upstream": up}))
            .unwrap_err(),
        "allOf 2 failed: value should match only one schema, but matches both schemas 2 and 3"
    );
    assert_eq!(
        check(json!({"uri": "/a"})).unwrap_err(),
        "object matches none of the required: [\"plugins\",\"uri\"] or [\"upstream\",\"uri\"] or \
         [\"upstream_id\",\"uri\"] or [\"service_id\",\"uri\"] or [\"plugins\",\"uris\"] or \
         [\"upstream\",\"uris\"] or [\"upstream_id\",\"uris\"] or [\"service_id\",\"uris\"]"
    );
    assert_eq!(
        check(json!({"uri": "/a", "upstream": {"nodes": [{"host": "h", "port": 0, "weight": 1}]}}))
            .unwrap_err(),
        "property \"upstream\" validation failed: property \"nodes\" validation failed: \
         object matches none of the required"
    );
    assert_eq!(
        check(json!({"uri": "/a", "upstream": {"nodes": up["nodes"], "type": "x"}})).unwrap_err(),
        "property \"upstream\" validation failed: property \"type\" validation failed: \
         matches none of the enum values"
    );
    assert_eq!(
        check(json!({"uri": "/a", "upstream_id": "a b"})).unwrap_err(),
        "property \"upstream_id\" validation failed: object matches none of the required"
    );
    assert_eq!(
        check(json!({"uri": "/a", "upstream": up, "remote_addr": "1.2.3"})).unwrap_err(),
        "property \"remote_addr\" validation failed: object matches none of the required"
    );
    assert_eq!(
        check(json!({"uri": "x".repeat(5000), "upstream": up})).unwrap_err(),
        "property \"uri\" validation failed: string too long, expected at most 4096, got 5000"
    );
}

#[test]
fn route_defaults_fill_route_and_upstream() {
    let v = filled(
        route_schema(),
        json!({"uri": "/a", "upstream": {"nodes": {"127.0.0.1:80": 1}}}),
    );
    assert_eq!(
        v,
        json!({
            "uri": "/a", "priority": 0, "status": 1,
            "upstream": {"nodes": {"127.0.0.1:80": 1}, "type": "roundrobin", "scheme": "http",
                         "pass_host": "pass", "hash_on": "vars"}
        })
    );
}

#[test]
fn route_defaults_reach_array_items_of_the_matching_anyof_branch() {
    let v = filled(
        route_schema(),
        json!({"uri": "/a", "upstream": {"nodes": [{"host": "a", "port": 80, "weight": 1},
                                                   {"host": "b", "port": 81, "weight": 1, "priority": -1}]}}),
    );
    assert_eq!(v["upstream"]["nodes"][0]["priority"], 0);
    assert_eq!(
        v["upstream"]["nodes"][1]["priority"], -1,
        "present values are kept"
    );
}

#[test]
fn defaults_are_not_inserted_when_validation_fails() {
    let s = schema(route_schema());
    let mut v = json!({"uri": "/a", "upstream": {"nodes": {"n": 1}, "type": "bad"}});
    let before = v.clone();
    assert!(s.validate_and_default(&mut v).is_err());
    assert_eq!(v, before);
}

// ---- type ----

#[test]
fn type_single_and_multiple() {
    assert_eq!(
        err(json!({"type": "string"}), json!(1)),
        "wrong type: expected string, got number"
    );
    assert_eq!(
        err(json!({"type": "object"}), json!([])),
        "wrong type: expected object, got table"
    );
    assert_eq!(
        err(json!({"type": "array"}), json!({})),
        "wrong type: expected array, got table"
    );
    assert_eq!(
        err(json!({"type": "boolean"}), json!("t")),
        "wrong type: expected boolean, got string"
    );
    assert_eq!(
        err(json!({"type": "number"}), json!(true)),
        "wrong type: expected number, got boolean"
    );
    assert_eq!(
        err(json!({"type": "string"}), json!(null)),
        "wrong type: expected string, got null"
    );
    assert_eq!(
        err(json!({"type": ["string", "integer"]}), json!(1.5)),
        "wrong type: expected one of string, integer, got number"
    );
    ok(json!({"type": ["string", "null"]}), json!(null));
    ok(json!({"type": "null"}), json!(null));
    ok(json!({"type": ["array", "object"]}), json!({}));
}

#[test]
fn integer_accepts_integral_floats() {
    let int = json!({"type": "integer"});
    for v in [json!(1), json!(-3), json!(1.0), json!(u64::MAX)] {
        ok(int.clone(), v);
    }
    let parsed: Value = serde_json::from_str("1e3").unwrap();
    assert!(parsed.is_f64());
    ok(int.clone(), parsed);
    assert_eq!(
        err(int.clone(), json!(1.5)),
        "wrong type: expected integer, got number"
    );
    ok(json!({"type": "number"}), json!(1));
    ok(json!({"type": "number"}), json!(1.5));
}

// ---- objects ----

#[test]
fn required_in_listed_order() {
    let doc = json!({"type": "object", "required": ["b", "a"]});
    assert_eq!(err(doc.clone(), json!({})), "property \"b\" is required");
    assert_eq!(
        err(doc.clone(), json!({"b": 1})),
        "property \"a\" is required"
    );
    ok(doc, json!({"a": null, "b": 1}));
}

#[test]
fn order_type_then_required_then_properties_then_additional() {
    let doc = json!({
        "type": "object",
        "required": ["r"],
        "properties": {"p": {"type": "string"}, "r": {}},
        "additionalProperties": false,
        "minProperties": 5
    });
    assert_eq!(
        err(doc.clone(), json!(1)),
        "wrong type: expected object, got number"
    );
    assert_eq!(
        err(doc.clone(), json!({"p": 1, "x": 1})),
        "property \"r\" is required"
    );
    assert_eq!(
        err(doc.clone(), json!({"r": 1, "p": 1, "x": 1})),
        "property \"p\" validation failed: wrong type: expected string, got number"
    );
    assert_eq!(
        err(doc.clone(), json!({"r": 1, "x": 1})),
        "additional properties forbidden, found x"
    );
    assert_eq!(
        err(doc, json!({"r": 1})),
        "expect object to have at least 5 properties"
    );
}

#[test]
fn properties_in_key_order_and_nested_prefixes() {
    let doc = json!({"properties": {
        "b": {"type": "string"},
        "a": {"properties": {"c": {"items": {"properties": {"d": {"maximum": 3}}}}}}
    }});
    assert_eq!(
        err(
            doc.clone(),
            json!({"a": {"c": [{"d": 1}, {"d": 4}]}, "b": 1})
        ),
        "property \"a\" validation failed: property \"c\" validation failed: \
         failed to validate item 2: property \"d\" validation failed: expected 4 to be at most 3"
    );
    ok(doc, json!({"a": 1, "b": "x"}));
}

#[test]
fn object_keywords_ignore_other_types() {
    ok(
        json!({"properties": {"a": false}, "required": ["a"], "minProperties": 1}),
        json!("x"),
    );
    ok(json!({"items": false, "minItems": 1}), json!({}));
    ok(json!({"minLength": 3, "pattern": "^a"}), json!(1));
    ok(json!({"minimum": 3}), json!("1"));
}

#[test]
fn additional_properties_forms() {
    let forbid = json!({"properties": {"a": {}}, "additionalProperties": false});
    assert_eq!(
        err(forbid.clone(), json!({"a": 1, "z": 1, "b": 2})),
        "additional properties forbidden, found b"
    );
    ok(forbid, json!({"a": 1}));
    let typed = json!({"additionalProperties": {"type": "integer"}});
    assert_eq!(
        err(typed.clone(), json!({"k": "v"})),
        "failed to validate additional property k: wrong type: expected integer, got string"
    );
    ok(typed, json!({"k": 1}));
    ok(json!({"additionalProperties": true}), json!({"k": 1}));
}

#[test]
fn pattern_properties() {
    let doc = json!({
        "properties": {"name": {}},
        "patternProperties": {"^x-": {"type": "string"}, "^[0-9]+$": {"minimum": 1}},
        "additionalProperties": false
    });
    ok(doc.clone(), json!({"name": 1, "x-a": "b", "12": 3}));
    assert_eq!(
        err(doc.clone(), json!({"x-a": 1})),
        "failed to validate x-a (matching \"^x-\"): wrong type: expected string, got number"
    );
    assert_eq!(
        err(doc.clone(), json!({"7": 0})),
        "failed to validate 7 (matching \"^[0-9]+$\"): expected 0 to be at least 1"
    );
    assert_eq!(
        err(doc, json!({"y": 1})),
        "additional properties forbidden, found y"
    );
}

#[test]
fn property_names() {
    let doc = json!({"propertyNames": {"maxLength": 2}});
    ok(doc.clone(), json!({"ab": 1}));
    assert_eq!(
        err(doc, json!({"abc": 1})),
        "property name \"abc\" validation failed: string too long, expected at most 2, got 3"
    );
    assert_eq!(
        err(json!({"propertyNames": false}), json!({"a": 1})),
        "property name \"a\" validation failed: expect false always"
    );
    ok(json!({"propertyNames": false}), json!({}));
}

#[test]
fn min_and_max_properties() {
    assert_eq!(
        err(json!({"maxProperties": 1}), json!({"a": 1, "b": 2})),
        "expect object to have at most 1 properties"
    );
    assert_eq!(
        err(json!({"minProperties": 1}), json!({})),
        "expect object to have at least 1 properties"
    );
    ok(
        json!({"minProperties": 1, "maxProperties": 1}),
        json!({"a": 1}),
    );
}

#[test]
fn dependencies_both_forms() {
    let doc = json!({"dependencies": {
        "a": ["b", "c"],
        "d": {"required": ["e"], "properties": {"e": {"type": "string"}}}
    }});
    ok(doc.clone(), json!({"b": 1}));
    ok(doc.clone(), json!({"a": 1, "b": 1, "c": 1}));
    assert_eq!(
        err(doc.clone(), json!({"a": 1, "b": 1})),
        "property \"c\" is required when \"a\" is set"
    );
    assert_eq!(
        err(doc.clone(), json!({"d": 1})),
        "failed to validate dependent schema for \"d\": property \"e\" is required"
    );
    assert_eq!(
        err(doc, json!({"d": 1, "e": 2})),
        "failed to validate dependent schema for \"d\": property \"e\" validation failed: \
         wrong type: expected string, got number"
    );
}

#[test]
fn names_in_messages_are_quoted_without_escaping() {
    // api7/jsonschema's `%q` output goes through a Lua string literal, which undoes it.
    let doc = json!({
        "required": ["a\"b"],
        "properties": {"c\\d": {"type": "string"}},
        "patternProperties": {"^\\d+$": {"type": "string"}},
        "dependencies": {"x\ny": ["z'"]}
    });
    assert_eq!(err(doc.clone(), json!({})), "property \"a\"b\" is required");
    assert_eq!(
        err(doc.clone(), json!({"a\"b": 1, "c\\d": 1})),
        "property \"c\\d\" validation failed: wrong type: expected string, got number"
    );
    assert_eq!(
        err(doc.clone(), json!({"a\"b": 1, "12": 1})),
        "failed to validate 12 (matching \"^\\d+$\"): wrong type: expected string, got number"
    );
    assert_eq!(
        err(doc, json!({"a\"b": 1, "x\ny": 1})),
        "property \"z'\" is required when \"x\ny\" is set"
    );
}

// ---- arrays ----

#[test]
fn min_and_max_items() {
    assert_eq!(
        err(json!({"minItems": 1}), json!([])),
        "expect array to have at least 1 items"
    );
    assert_eq!(
        err(json!({"maxItems": 10}), json!([0; 11].to_vec())),
        "expect array to have at most 10 items"
    );
}

#[test]
fn items_list_and_tuple() {
    assert_eq!(
        err(json!({"items": {"type": "string"}}), json!(["a", "b", 3])),
        "failed to validate item 3: wrong type: expected string, got number"
    );
    let tuple = json!({"items": [{"type": "string"}, {"type": "integer"}]});
    ok(tuple.clone(), json!(["a"]));
    ok(tuple.clone(), json!(["a", 1, null]));
    assert_eq!(
        err(tuple.clone(), json!(["a", "b"])),
        "failed to validate item 2: wrong type: expected integer, got string"
    );
    let closed = json!({"items": [{}], "additionalItems": false});
    assert_eq!(
        err(closed.clone(), json!([1, 2])),
        "found unexpected extra items in array"
    );
    ok(closed, json!([1]));
    let typed = json!({"items": [{}], "additionalItems": {"type": "string"}});
    assert_eq!(
        err(typed, json!([1, "a", 2])),
        "failed to validate additional item 3: wrong type: expected string, got number"
    );
}

#[test]
fn boolean_item_schemas_and_ignored_additional_items() {
    assert_eq!(
        err(json!({"items": false}), json!([1])),
        "failed to validate item 1: expect false always"
    );
    ok(json!({"items": false}), json!([]));
    ok(json!({"items": true}), json!([1, "a"]));
    // additionalItems only applies after a tuple-form `items`.
    ok(
        json!({"items": {}, "additionalItems": false}),
        json!([1, 2]),
    );
    ok(json!({"additionalItems": false}), json!([1, 2]));
}

#[test]
fn unique_items() {
    let doc = json!({"uniqueItems": true});
    ok(doc.clone(), json!([1, "1", [1], {"a": 1}, {"a": 2}]));
    assert_eq!(
        err(doc.clone(), json!([3, 1, 2, 1])),
        "expected unique items but items 2 and 4 are equal"
    );
    assert_eq!(
        err(doc.clone(), json!([1, 1.0])),
        "expected unique items but items 1 and 2 are equal"
    );
    assert_eq!(
        err(
            doc,
            json!([{"a": [1, {"b": null}]}, {"a": [1, {"b": null}]}])
        ),
        "expected unique items but items 1 and 2 are equal"
    );
    ok(json!({"uniqueItems": false}), json!([1, 1]));
}

// ---- strings ----

#[test]
fn string_lengths_count_characters() {
    assert_eq!(
        err(json!({"minLength": 1}), json!("")),
        "string too short, expected at least 1, got 0"
    );
    ok(json!({"maxLength": 5}), json!("h\u{e9}llo"));
    ok(json!({"maxLength": 2}), json!("\u{1F600}\u{1F600}"));
    assert_eq!(
        err(json!({"maxLength": 1}), json!("\u{1F600}\u{1F600}")),
        "string too long, expected at most 1, got 2"
    );
}

#[test]
fn pattern_search_semantics_and_quoting() {
    assert_eq!(
        err(json!({"pattern": "^[a-z]+$"}), json!("AB1")),
        "failed to match pattern \"^[a-z]+$\" with \"AB1\""
    );
    ok(json!({"pattern": "b"}), json!("abc"));
    ok(json!({"pattern": "^function"}), json!("function() end"));
    assert_eq!(
        err(json!({"pattern": "^\\S+$"}), json!("a \"b\"\n")),
        "failed to match pattern \"^\\\\S+$\" with \"a \\\"b\\\"\\\n\""
    );
    // `$` is the end of the string (PCRE would also accept a trailing newline).
    assert!(schema(json!({"pattern": "^a$"}))
        .validate(&json!("a\n"))
        .is_err());
}

#[test]
fn pattern_classes_are_ascii_like_pcre() {
    assert!(schema(json!({"pattern": "^\\w+$"}))
        .validate(&json!("\u{e9}t\u{e9}"))
        .is_err());
    ok(json!({"pattern": "^\\p{L}+$"}), json!("\u{e9}t\u{e9}"));
    ok(json!({"pattern": "^[a-z\u{e9}]+$"}), json!("\u{e9}t\u{e9}"));
    ok(json!({"pattern": "^caf\u{e9}$"}), json!("caf\u{e9}"));
}

#[test]
fn formats() {
    let v4 = json!({"format": "ipv4"});
    ok(v4.clone(), json!("10.0.0.1"));
    ok(v4.clone(), json!(5));
    for bad in ["10.0.0", "256.1.1.1", "01.1.1.1", "::1"] {
        assert_eq!(
            err(v4.clone(), json!(bad)),
            format!("expect valid ipv4 format but got: {bad}")
        );
    }
    let v6 = json!({"format": "ipv6"});
    ok(v6.clone(), json!("::1"));
    ok(v6.clone(), json!("fe80::1:2"));
    ok(v6.clone(), json!("::ffff:1.2.3.4"));
    assert_eq!(
        err(v6, json!("1.2.3.4")),
        "expect valid ipv6 format but got: 1.2.3.4"
    );
    ok(json!({"format": "email"}), json!("a.b@example.com"));
    assert!(schema(json!({"format": "email"}))
        .validate(&json!("a@b"))
        .is_err());
    ok(json!({"format": "hostname"}), json!("a-b.example"));
    ok(
        json!({"format": "uuid"}),
        json!("123e4567-e89b-12d3-a456-426614174000"),
    );
    ok(json!({"format": "date"}), json!("2024-02-29"));
    ok(
        json!({"format": "date-time"}),
        json!("2024-02-29T12:00:00.5+01:00"),
    );
    assert!(schema(json!({"format": "date-time"}))
        .validate(&json!("2024-02-29 12:00"))
        .is_err());
    ok(json!({"format": "uri"}), json!("https://a/b?c"));
    assert_eq!(
        err(json!({"format": "uri"}), json!("/a")),
        "expect valid uri format but got: /a"
    );
    ok(json!({"format": "made-up"}), json!("anything"));
}

// ---- numbers ----

#[test]
fn numeric_ranges() {
    assert_eq!(
        err(json!({"minimum": 1}), json!(0)),
        "expected 0 to be at least 1"
    );
    assert_eq!(
        err(json!({"maximum": 65535}), json!(70000)),
        "expected 70000 to be at most 65535"
    );
    assert_eq!(
        err(json!({"exclusiveMinimum": 0}), json!(0)),
        "expected 0 to be greater than 0"
    );
    assert_eq!(
        err(json!({"exclusiveMaximum": 5}), json!(5)),
        "expected 5 to be smaller than 5"
    );
    assert_eq!(
        err(json!({"minimum": 0.5}), json!(0.25)),
        "expected 0.25 to be at least 0.5"
    );
    ok(json!({"minimum": 1, "maximum": 1}), json!(1.0));
    ok(json!({"exclusiveMinimum": 0}), json!(0.001));
}

#[test]
fn draft4_boolean_exclusive_bounds() {
    let doc =
        json!({"minimum": 0, "exclusiveMinimum": true, "maximum": 10, "exclusiveMaximum": true});
    assert_eq!(
        err(doc.clone(), json!(0)),
        "expected 0 to be greater than 0"
    );
    assert_eq!(
        err(doc.clone(), json!(10)),
        "expected 10 to be smaller than 10"
    );
    ok(doc, json!(5));
    let inclusive = json!({"minimum": 0, "exclusiveMinimum": false});
    ok(inclusive, json!(0));
}

#[test]
fn multiple_of() {
    assert_eq!(
        err(json!({"multipleOf": 2}), json!(3)),
        "expected 3 to be a multiple of 2"
    );
    ok(json!({"multipleOf": 2}), json!(4.0));
    ok(json!({"multipleOf": 0.01}), json!(1.13));
    assert_eq!(
        err(json!({"multipleOf": 0.5}), json!(1.2)),
        "expected 1.2 to be a multiple of 0.5"
    );
}

#[test]
fn lua_number_formatting() {
    let cases = [
        (0.0, "0"),
        (1.0, "1"),
        (-2.5, "-2.5"),
        (70000.0, "70000"),
        (0.1, "0.1"),
        (1.0 / 3.0, "0.33333333333333"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (12345678901234.0, "12345678901234"),
        (1e14, "1e+14"),
        (1e20, "1e+20"),
        (1.5e300, "1.5e+300"),
        (1588262400.0, "1588262400"),
    ];
    for (x, text) in cases {
        assert_eq!(lua_number(x), text, "{x}");
    }
}

// ---- generic keywords ----

#[test]
fn enum_and_const() {
    let doc = json!({"enum": [1, "a", null, {"k": [1]}]});
    for v in [
        json!(1),
        json!(1.0),
        json!("a"),
        json!(null),
        json!({"k": [1.0]}),
    ] {
        ok(doc.clone(), v);
    }
    assert_eq!(
        err(doc.clone(), json!(2)),
        "matches none of the enum values"
    );
    assert_eq!(
        err(doc, json!({"k": [1], "x": 1})),
        "matches none of the enum values"
    );
    ok(json!({"const": {"a": 1}}), json!({"a": 1.0}));
    assert_eq!(
        err(json!({"const": "x"}), json!("y")),
        "failed to check const value"
    );
}

#[test]
fn all_of_prefixes_the_failing_index() {
    let doc = json!({"allOf": [{"type": "object"}, {"required": ["a"]}]});
    assert_eq!(
        err(doc.clone(), json!(1)),
        "allOf 1 failed: wrong type: expected object, got number"
    );
    assert_eq!(
        err(doc, json!({})),
        "allOf 2 failed: property \"a\" is required"
    );
}

#[test]
fn any_of_messages() {
    let required = json!({"anyOf": [{"required": ["uri"]}, {"required": ["uris"]}]});
    assert_eq!(
        err(required.clone(), json!({})),
        "object matches none of the required: [\"uri\"] or [\"uris\"]"
    );
    ok(required, json!({"uris": []}));
    let plain = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
    assert_eq!(
        err(plain.clone(), json!(1.5)),
        "object matches none of the required"
    );
    ok(plain, json!(2));
}

#[test]
fn one_of_messages() {
    let doc = json!({"oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]});
    ok(doc.clone(), json!(1.5));
    ok(doc.clone(), json!("s"));
    assert_eq!(
        err(doc.clone(), json!(1)),
        "value should match only one schema, but matches both schemas 1 and 2"
    );
    assert_eq!(
        err(doc, json!(null)),
        "value should match only one schema, but matches none"
    );
}

#[test]
fn not_keyword() {
    let doc = json!({"not": {"required": ["script", "plugins"]}});
    ok(doc.clone(), json!({"script": 1}));
    assert_eq!(
        err(doc, json!({"script": 1, "plugins": {}})),
        "value wasn't supposed to match schema"
    );
}

#[test]
fn if_then_else() {
    let doc = json!({
        "if": {"properties": {"type": {"const": "client"}}},
        "then": {"required": ["ca"]},
        "else": {"required": ["cert", "key"]}
    });
    ok(doc.clone(), json!({"type": "client", "ca": "x"}));
    ok(
        doc.clone(),
        json!({"type": "server", "cert": "c", "key": "k"}),
    );
    assert_eq!(
        err(doc.clone(), json!({"type": "client"})),
        "then clause did not match"
    );
    assert_eq!(
        err(doc, json!({"type": "server"})),
        "else clause did not match"
    );
    ok(
        json!({"if": {"type": "string"}, "then": {"minLength": 2}}),
        json!(5),
    );
}

#[test]
fn boolean_schemas() {
    ok(json!(true), json!({"anything": [1]}));
    assert_eq!(err(json!(false), json!(1)), "expect false always");
    assert_eq!(
        err(json!({"properties": {"a": false}}), json!({"a": 1})),
        "property \"a\" validation failed: expect false always"
    );
    ok(json!({}), json!(null));
}

// ---- $ref ----

#[test]
fn refs_to_definitions() {
    let doc = json!({
        "definitions": {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "alias": {"$ref": "#/definitions/port", "description": "same"}
        },
        "properties": {"p": {"$ref": "#/definitions/alias"}}
    });
    ok(doc.clone(), json!({"p": 80}));
    assert_eq!(
        err(doc, json!({"p": 0})),
        "property \"p\" validation failed: expected 0 to be at least 1"
    );
}

#[test]
fn recursive_schema_through_properties() {
    let doc = json!({
        "$ref": "#/definitions/tree",
        "definitions": {"tree": {
            "type": "object",
            "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/definitions/tree"}}},
            "additionalProperties": false
        }}
    });
    ok(
        doc.clone(),
        json!({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}),
    );
    assert_eq!(
        err(doc, json!({"children": [{"children": [{"value": "x"}]}]})),
        "property \"children\" validation failed: failed to validate item 1: \
         property \"children\" validation failed: failed to validate item 1: \
         property \"value\" validation failed: wrong type: expected integer, got string"
    );
}

#[test]
fn ref_errors() {
    assert_eq!(
        compile_err(json!({"properties": {"a": {"$ref": "#/definitions/nope"}}})),
        "#/properties/a/$ref: no definition named \"nope\""
    );
    assert_eq!(
        compile_err(json!({"$ref": "http://example.com/s.json"})),
        "#/$ref: only \"#/definitions/NAME\" references are supported"
    );
    assert_eq!(
        compile_err(
            json!({"definitions": {"a": {}}, "items": {"$ref": "#/definitions/a", "type": "string"}})
        ),
        "#/items/type: keywords beside $ref are not supported"
    );
    assert_eq!(
        compile_err(
            json!({"definitions": {"a": {"allOf": [{"$ref": "#/definitions/b"}]}, "b": {"not": {"$ref": "#/definitions/a"}}}})
        ),
        "#/definitions/a: schema refers to itself without descending into the value"
    );
    assert_eq!(
        compile_err(json!({"definitions": {"me": {"$ref": "#/definitions/me"}}})),
        "#/definitions/me: schema refers to itself without descending into the value"
    );
    assert_eq!(
        compile_err(json!({"properties": {"a": {"definitions": {}}}})),
        "#/properties/a/definitions: only supported at the document root"
    );
}

#[test]
fn ref_names_are_pointer_unescaped() {
    let doc = json!({
        "definitions": {"a/b": {"type": "string"}, "c~d": {"type": "integer"}},
        "properties": {"x": {"$ref": "#/definitions/a~1b"}, "y": {"$ref": "#/definitions/c~0d"}}
    });
    ok(doc.clone(), json!({"x": "s", "y": 1}));
    assert_eq!(
        err(doc, json!({"y": "s"})),
        "property \"y\" validation failed: wrong type: expected integer, got string"
    );
}

// ---- compile errors ----

#[test]
fn compile_errors_name_the_keyword() {
    let cases = [
        (
            json!({"properties": {"uri": {"minLenght": 1}}}),
            "#/properties/uri/minLenght: unknown keyword",
        ),
        (json!({"pattern": "(["}), "#/pattern: invalid regex"),
        (
            json!({"patternProperties": {"a(": {}}}),
            "#/patternProperties/a(: invalid regex",
        ),
        (json!({"type": "float"}), "#/type: unknown type \"float\""),
        (
            json!({"type": []}),
            "#/type: must be a type name or a non-empty array of them",
        ),
        (
            json!({"minLength": -1}),
            "#/minLength: must be a non-negative integer",
        ),
        (
            json!({"maxItems": 1.5}),
            "#/maxItems: must be a non-negative integer",
        ),
        (json!({"required": "a"}), "#/required: must be an array"),
        (
            json!({"required": ["a", "a"]}),
            "#/required/1: duplicate entry",
        ),
        (json!({"required": [1]}), "#/required/0: must be a string"),
        (json!({"enum": "a"}), "#/enum: must be an array"),
        (json!({"oneOf": []}), "#/oneOf: must not be empty"),
        (
            json!({"items": [1]}),
            "#/items/0: a schema must be an object or a boolean",
        ),
        (json!({"minimum": "1"}), "#/minimum: must be a number"),
        (
            json!({"multipleOf": 0}),
            "#/multipleOf: must be greater than 0",
        ),
        (
            json!({"exclusiveMinimum": true}),
            "#/exclusiveMinimum: true needs \"minimum\"",
        ),
        (json!({"then": {}}), "#/then: needs \"if\""),
        (
            json!({"uniqueItems": 1}),
            "#/uniqueItems: must be a boolean",
        ),
        (
            json!({"properties": {"a/b": {"type": 1}}}),
            "#/properties/a~1b/type: must be a type name",
        ),
        (
            json!("string"),
            "#: a schema must be an object or a boolean",
        ),
    ];
    for (doc, want) in cases {
        let got = compile_err(doc.clone());
        assert!(got.starts_with(want), "{doc}: got {got:?}, want {want:?}");
    }
}

#[test]
fn annotations_are_accepted() {
    ok(
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#", "$id": "x", "id": "y",
            "title": "t", "description": "d", "$comment": "c", "examples": [1],
            "readOnly": true, "writeOnly": false, "deprecated": false,
            "encrypt_fields": ["key"], "x-apisix-note": {"any": "thing"}, "default": 3
        }),
        json!(1),
    );
}

// ---- defaults ----

#[test]
fn defaults_fill_absent_properties_only() {
    let doc = json!({"properties": {
        "a": {"default": 1}, "b": {"default": "x"}, "c": {"default": null}, "d": {"default": [1, {"k": 2}]}
    }});
    assert_eq!(
        filled(doc.clone(), json!({"b": "y"})),
        json!({"a": 1, "b": "y", "d": [1, {"k": 2}]})
    );
    // Nothing outside objects.
    assert_eq!(filled(doc, json!("s")), json!("s"));
}

#[test]
fn defaults_are_deep_clones() {
    let s = schema(json!({"properties": {"d": {"default": {"k": [1]}}}}));
    let mut v = json!({});
    s.validate_and_default(&mut v).unwrap();
    v["d"]["k"][0] = json!(99);
    assert_eq!(
        s.document()["properties"]["d"]["default"],
        json!({"k": [1]})
    );
    let mut w = json!({});
    s.validate_and_default(&mut w).unwrap();
    assert_eq!(w, json!({"d": {"k": [1]}}));
}

#[test]
fn default_does_not_satisfy_required() {
    let doc = json!({"properties": {"a": {"default": 1}}, "required": ["a"]});
    let mut v = json!({});
    assert_eq!(
        schema(doc).validate_and_default(&mut v),
        Err("property \"a\" is required".to_owned())
    );
    assert_eq!(v, json!({}));
}

#[test]
fn defaults_only_from_the_branch_that_matched() {
    let doc = json!({"oneOf": [
        {"properties": {"kind": {"const": "a"}, "x": {"default": "from a"}}, "required": ["kind"]},
        {"properties": {"kind": {"const": "b"}, "y": {"default": "from b"}}, "required": ["kind"]}
    ]});
    assert_eq!(
        filled(doc.clone(), json!({"kind": "b"})),
        json!({"kind": "b", "y": "from b"})
    );
    assert_eq!(
        filled(doc, json!({"kind": "a"})),
        json!({"kind": "a", "x": "from a"})
    );
    let any = json!({"anyOf": [
        {"required": ["p"], "properties": {"q": {"default": 1}}},
        {"properties": {"r": {"default": 2}}}
    ]});
    assert_eq!(filled(any.clone(), json!({})), json!({"r": 2}));
    assert_eq!(filled(any, json!({"p": 0})), json!({"p": 0, "q": 1}));
}

#[test]
fn defaults_through_if_then_else_allof_and_refs() {
    let doc = json!({
        "definitions": {"timeout": {"type": "integer", "default": 60}},
        "properties": {"t": {"$ref": "#/definitions/timeout"}},
        "allOf": [{"properties": {"all": {"default": true}}}],
        "if": {"required": ["tls"]},
        "then": {"properties": {"verify": {"default": true}}},
        "else": {"properties": {"plain": {"default": true}}}
    });
    assert_eq!(
        filled(doc.clone(), json!({"tls": 1})),
        json!({"t": 60, "all": true, "tls": 1, "verify": true})
    );
    assert_eq!(
        filled(doc, json!({})),
        json!({"t": 60, "all": true, "plain": true})
    );
}

#[test]
fn no_defaults_from_an_if_that_failed_without_else() {
    let doc = json!({
        "if": {"required": ["tls"]},
        "then": {"properties": {"verify": {"default": true}}}
    });
    assert_eq!(filled(doc, json!({"x": 1})), json!({"x": 1}));
}

#[test]
fn defaults_in_items_and_maps() {
    let doc = json!({
        "properties": {
            "list": {"items": {"properties": {"w": {"default": 1}}}},
            "tuple": {"items": [{"properties": {"a": {"default": 1}}}], "additionalItems": {"properties": {"b": {"default": 2}}}},
            "map": {"patternProperties": {"^p": {"properties": {"c": {"default": 3}}}},
                    "additionalProperties": {"properties": {"d": {"default": 4}}}}
        }
    });
    let v = filled(
        doc,
        json!({"list": [{}, {"w": 5}], "tuple": [{}, {}], "map": {"p1": {}, "z": {}}}),
    );
    assert_eq!(
        v,
        json!({"list": [{"w": 1}, {"w": 5}], "tuple": [{"a": 1}, {"b": 2}],
               "map": {"p1": {"c": 3}, "z": {"d": 4}}})
    );
}

#[test]
fn inserted_defaults_are_not_expanded() {
    // As in api7/jsonschema: the default is inserted as written, its own subschema's
    // defaults are not applied to it.
    let doc = json!({"properties": {"o": {"default": {}, "properties": {"k": {"default": 1}}}}});
    assert_eq!(filled(doc, json!({})), json!({"o": {}}));
}

// ---- helpers and API ----

#[test]
fn lua_quote_matches_luajit() {
    assert_eq!(lua_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(lua_quote("a\nb"), "\"a\\\nb\"");
    assert_eq!(lua_quote("\r\t\u{7f}"), "\"\\13\\9\\127\"");
    assert_eq!(lua_quote("\u{1}2"), "\"\\0012\"");
    assert_eq!(lua_quote("\u{e9}"), "\"\u{e9}\"");
}

#[test]
fn quiet_checks_do_not_format_messages() {
    // oneOf/anyOf/not/if only need a yes/no: their failing branches yield empty errors.
    let s = schema(route_schema());
    let bad = json!({"uri": 1, "methods": ["x"], "upstream": {"nodes": 5}});
    assert_eq!(s.check(ROOT, &bad, false), Err(String::new()));
    assert!(s.check(ROOT, &bad, true).is_err_and(|e| !e.is_empty()));
}

#[test]
fn json_equality_compares_numbers_by_value() {
    assert!(json_eq(&json!(1), &json!(1.0)));
    assert!(json_eq(&json!(u64::MAX), &json!(u64::MAX)));
    assert!(!json_eq(&json!(-1), &json!(u64::MAX)));
    assert!(!json_eq(&json!(1), &json!("1")));
    assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    assert!(!json_eq(&json!([1, 2]), &json!([2, 1])));
    assert_eq!(first_duplicate(&[json!(1), json!(2)]), None);
    assert_eq!(
        first_duplicate(&[json!(1), json!(2), json!(2), json!(1)]),
        Some((1, 2))
    );
}

#[test]
fn schema_is_shareable_and_keeps_its_document() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Schema>();
    let doc = route_schema();
    assert_eq!(schema(doc.clone()).document(), &doc);
}
