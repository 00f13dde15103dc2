//! Structural checks of every schema: only the keywords strait's validator
//! implements, patterns the `regex` crate compiles, resolvable `$ref`s.

use serde_json::Value;

mod examples;
mod invalid;
mod serde_compat;
mod valid;

use super::{by_name, resources, RESOURCE_NAMES};

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependencies",
    "default",
    "$ref",
    "definitions",
    "format",
    "description",
    "title",
    "$comment",
];

const TYPES: &[&str] = &[
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Every schema to check, with a name for messages.
fn all() -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = RESOURCE_NAMES
        .iter()
        .map(|n| (n.to_string(), by_name(n).unwrap()))
        .collect();
    v.push(("plugins_object".into(), resources::plugins_object()));
    v.push(("_meta".into(), resources::plugin_injected_schema()));
    for h in ["vars", "header", "cookie", "vars_combinations"] {
        v.push((format!("chash_key({h})"), resources::chash_key(h).unwrap()));
    }
    v
}

/// Walk `s` (a subschema at `path`) and push every problem found to `errs`.
fn walk(root: &Value, s: &Value, path: &str, errs: &mut Vec<String>) {
    let Some(obj) = s.as_object() else {
        errs.push(format!("{path}: schema is not an object: {s}"));
        return;
    };
    for (k, v) in obj {
        let here = format!("{path}/{k}");
        if !KEYWORDS.contains(&k.as_str()) {
            errs.push(format!("{here}: unsupported keyword"));
            continue;
        }
        match k.as_str() {
            "type" => {
                let names: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                for n in names {
                    if !n.as_str().is_some_and(|n| TYPES.contains(&n)) {
                        errs.push(format!("{here}: bad type {n}"));
                    }
                }
            }
            "pattern" => match v.as_str() {
                Some(p) => {
                    if let Err(e) = regex::Regex::new(p) {
                        errs.push(format!("{here}: {e}"));
                    }
                }
                None => errs.push(format!("{here}: not a string")),
            },
            "properties" | "patternProperties" | "definitions" => match v.as_object() {
                Some(m) => {
                    for (name, sub) in m {
                        if k == "patternProperties" {
                            if let Err(e) = regex::Regex::new(name) {
                                errs.push(format!("{here}/{name}: {e}"));
                            }
                        }
                        walk(root, sub, &format!("{here}/{name}"), errs);
                    }
                }
                None => errs.push(format!("{here}: not an object")),
            },
            "items" | "not" | "if" | "then" | "else" => walk(root, v, &here, errs),
            "additionalProperties" if !v.is_boolean() => {
                walk(root, v, &here, errs);
            }
            "oneOf" | "anyOf" | "allOf" => match v.as_array() {
                Some(a) if !a.is_empty() => {
                    for (i, sub) in a.iter().enumerate() {
                        walk(root, sub, &format!("{here}/{i}"), errs);
                    }
                }
                _ => errs.push(format!("{here}: must be a non-empty array")),
            },
            "dependencies" => match v.as_object() {
                Some(m) => {
                    for (name, dep) in m {
                        if !dep.is_array() {
                            walk(root, dep, &format!("{here}/{name}"), errs);
                        }
                    }
                }
                None => errs.push(format!("{here}: not an object")),
            },
            "required" | "enum" if !v.is_array() => {
                errs.push(format!("{here}: not an array"));
            }
            "format" if !matches!(v.as_str(), Some("ipv4" | "ipv6")) => {
                errs.push(format!("{here}: unsupported format {v}"));
            }
            "$ref" => {
                let target = v
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                    .and_then(|n| root.get("definitions")?.get(n));
                if target.is_none() {
                    errs.push(format!("{here}: unresolved {v}"));
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "minLength"
            | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties"
                if !v.is_number() =>
            {
                errs.push(format!("{here}: not a number"));
            }
            _ => {}
        }
    }
    // Every `required` name should be a declared property when the object is closed.
    if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
        if let (Some(req), Some(props)) = (obj.get("required"), obj.get("properties")) {
            for r in req.as_array().into_iter().flatten() {
                if r.as_str().is_none_or(|r| props.get(r).is_none()) {
                    errs.push(format!("{path}: required {r} is not a property"));
                }
            }
        }
    }
}

#[test]
fn schemas_use_only_supported_keywords_and_compiling_patterns() {
    let mut errs = Vec::new();
    for (name, s) in all() {
        assert!(s.is_object(), "{name} is not an object");
        walk(&s, &s, &name, &mut errs);
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn every_resource_is_a_closed_object() {
    for name in RESOURCE_NAMES {
        let s = by_name(name).unwrap();
        assert_eq!(s["type"], "object", "{name}");
        assert_eq!(s["additionalProperties"], false, "{name}");
    }
    assert!(by_name("stream_route").is_none());
    assert!(by_name("nope").is_none());
}

#[test]
fn plugin_meta_is_injected_once() {
    let mut s = serde_json::json!({"type": "object", "properties": {"key": {"type": "string"}}});
    resources::inject_plugin_meta(&mut s).unwrap();
    assert_eq!(s["$comment"], resources::INJECTED_MARK);
    assert_eq!(
        s["properties"]["_meta"],
        resources::plugin_injected_schema()
    );
    let again = s.clone();
    resources::inject_plugin_meta(&mut s).unwrap();
    assert_eq!(s, again);
    let mut own = serde_json::json!({"properties": {"_meta": {}}});
    assert!(resources::inject_plugin_meta(&mut own)
        .unwrap_err()
        .contains("_meta"));
    let mut bare = serde_json::json!({"type": "object"});
    resources::inject_plugin_meta(&mut bare).unwrap();
    assert!(bare["properties"]["_meta"].is_object());
    assert!(resources::inject_plugin_meta(&mut serde_json::json!(1)).is_err());
}
