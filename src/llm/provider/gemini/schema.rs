//! JSON Schemas (tool parameters, `response_format` schemas) rewritten
//! into the subset Gemini's `Schema` object takes (an OpenAPI 3.0 subset).
//!
//! Gemini rejects the request when a schema holds a keyword outside that
//! subset (`additionalProperties`, `$schema`, `$ref`, `$defs`, `const`,
//! `oneOf`, `allOf`, `exclusiveMinimum`, …), which the JSON Schemas that
//! SDKs generate routinely do. As other gateways do (LiteLLM, Portkey,
//! LangChain), strait keeps what Gemini understands and drops the rest:
//!
//! - kept: `type`, `format`, `title`, `description`, `nullable`, `enum`,
//!   `items`, `properties`, `required`, `anyOf`, `propertyOrdering`,
//!   `minItems`/`maxItems`, `minProperties`/`maxProperties`,
//!   `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`, `default`,
//!   `example`;
//! - `$ref` to `#/$defs/…` or `#/definitions/…` is replaced by the
//!   definition (at most 16 levels deep, then an untyped object);
//! - `type: [T, "null"]` and a `null` branch of `anyOf`/`oneOf` become
//!   `nullable: true`; `oneOf` becomes `anyOf`; `allOf` is merged into its
//!   schema; a string `const` becomes a one-value `enum`;
//! - `enum` is kept only with string values and `format` only with the
//!   values Gemini takes for the type (`enum`, `date-time`, `int32`, …);
//! - `required` names only properties that exist.

use serde_json::{json, Map, Value};

/// Deepest chain of `$ref` replacements (recursive schemas stop there).
const MAX_REF_DEPTH: usize = 16;

const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "properties",
    "required",
    "anyOf",
    "propertyOrdering",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "default",
    "example",
];

/// `schema` (a JSON Schema document) in Gemini's subset.
pub(super) fn to_gemini(schema: &Value) -> Value {
    let defs = Defs {
        root: schema.clone(),
    };
    convert(schema, &defs, 0)
}

/// Tool parameters in Gemini's subset, or `None` when the function takes
/// none: Gemini rejects an object schema without properties.
pub(super) fn parameters(schema: &Value) -> Option<Value> {
    let converted = to_gemini(schema);
    let empty_object = converted.get("type").and_then(Value::as_str) == Some("object")
        && converted
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        && converted.get("anyOf").is_none();
    (!empty_object).then_some(converted)
}

/// Where `$ref`s point.
struct Defs {
    root: Value,
}

impl Defs {
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let name = reference
            .strip_prefix("#/$defs/")
            .map(|n| ("$defs", n))
            .or_else(|| {
                reference
                    .strip_prefix("#/definitions/")
                    .map(|n| ("definitions", n))
            })?;
        self.root.get(name.0)?.get(name.1)
    }
}

fn convert(schema: &Value, defs: &Defs, depth: usize) -> Value {
    let Value::Object(obj) = schema else {
        // `true`/`false` schemas and garbage: anything goes.
        return json!({});
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        let target = (depth < MAX_REF_DEPTH)
            .then(|| defs.resolve(reference))
            .flatten();
        let mut out = match target {
            Some(t) => convert(t, defs, depth + 1),
            None => json!({"type": "object"}),
        };
        // Siblings of `$ref` (a description, most often) describe this use.
        if let (Value::Object(o), Some(d)) = (&mut out, obj.get("description")) {
            o.insert("description".into(), d.clone());
        }
        return out;
    }
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in obj {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    let kinds: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    nullable |= kinds.len() < types.len();
                    match kinds.as_slice() {
                        [only] => {
                            out.insert("type".into(), (*only).clone());
                        }
                        [] => {}
                        several => {
                            let branches = several.iter().map(|t| json!({"type": t})).collect();
                            out.insert("anyOf".into(), Value::Array(branches));
                        }
                    }
                }
                Value::String(t) if t == "null" => nullable = true,
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                if let Value::Object(props) = value {
                    let props = props
                        .iter()
                        .map(|(k, v)| (k.clone(), convert(v, defs, depth)))
                        .collect();
                    out.insert("properties".into(), Value::Object(props));
                }
            }
            "items" if value.is_object() => {
                out.insert("items".into(), convert(value, defs, depth));
            }
            "anyOf" | "oneOf" => {
                let branches: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| convert(b, defs, depth))
                    .collect();
                let before = branches.len();
                let branches: Vec<Value> = branches.into_iter().filter(|b| !is_null(b)).collect();
                nullable |= branches.len() < before;
                match <[Value; 1]>::try_from(branches) {
                    Ok([only]) => merge(&mut out, only),
                    Err(branches) if !branches.is_empty() => {
                        out.insert("anyOf".into(), Value::Array(branches));
                    }
                    Err(_) => {}
                }
            }
            "allOf" => {
                for part in value.as_array().into_iter().flatten() {
                    merge(&mut out, convert(part, defs, depth));
                }
            }
            "const" if value.is_string() => {
                out.insert("enum".into(), json!([value]));
            }
            "enum"
                if value
                    .as_array()
                    .is_some_and(|v| v.iter().all(Value::is_string)) =>
            {
                out.insert("enum".into(), value.clone());
            }
            // Tuple `items`, non-string `const` and `enum` values.
            "items" | "const" | "enum" => {}
            "nullable" => nullable |= value.as_bool() == Some(true),
            k if KEPT.contains(&k) => {
                out.insert(k.to_string(), value.clone());
            }
            _ => {} // additionalProperties, $schema, $defs, examples, …
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    tidy(&mut out);
    Value::Object(out)
}

/// A branch that only allows `null`.
fn is_null(schema: &Value) -> bool {
    schema.get("type").is_none()
        && schema.get("anyOf").is_none()
        && schema.get("nullable") == Some(&Value::Bool(true))
        && schema.get("properties").is_none()
}

/// Merge `extra`'s keywords into `out`: properties and required lists are
/// joined, anything else is set where `out` has none.
fn merge(out: &mut Map<String, Value>, extra: Value) {
    let Value::Object(extra) = extra else { return };
    for (k, v) in extra {
        match (k.as_str(), out.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                mine.extend(theirs);
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, v) => {
                out.insert(k, v);
            }
        }
    }
}

/// Drop a `format` Gemini does not take for the type and `required`
/// entries that name no property.
fn tidy(out: &mut Map<String, Value>) {
    let kind = out.get("type").and_then(Value::as_str).unwrap_or("");
    if let Some(format) = out.get("format").and_then(Value::as_str) {
        let ok = match kind.to_ascii_lowercase().as_str() {
            "string" => matches!(format, "enum" | "date-time"),
            "number" => matches!(format, "float" | "double"),
            "integer" => matches!(format, "int32" | "int64"),
            _ => false,
        };
        if !ok {
            out.remove("format");
        }
    }
    let names: Vec<String> = out
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(Value::Array(required)) = out.get_mut("required") {
        required.retain(|r| r.as_str().is_some_and(|r| names.iter().any(|n| n == r)));
        if required.is_empty() {
            out.remove("required");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_keywords_are_dropped() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "city": {"type": "string", "minLength": 1, "format": "hostname"},
                "when": {"type": "string", "format": "date-time"},
                "unit": {"const": "celsius"},
                "n": {"type": "integer", "exclusiveMinimum": 0, "enum": [1, 2]},
                "tags": {"type": "array", "items": {"type": "string", "examples": ["a"]}}
            },
            "required": ["city", "ghost"]
        });
        assert_eq!(
            to_gemini(&schema),
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string", "minLength": 1},
                    "when": {"type": "string", "format": "date-time"},
                    "unit": {"enum": ["celsius"]},
                    "n": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn refs_are_inlined_and_nulls_become_nullable() {
        let schema = json!({
            "type": "object",
            "$defs": {
                "Place": {"type": "object", "additionalProperties": false,
                          "properties": {"name": {"type": ["string", "null"]}}},
                "Loop": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Loop"}}}
            },
            "properties": {
                "place": {"$ref": "#/$defs/Place", "description": "where"},
                "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                "both": {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]},
                                   {"properties": {"b": {"type": "string"}}}], "type": "object"},
                "loop": {"$ref": "#/$defs/Loop"},
                "lost": {"$ref": "https://example.com/other.json"}
            }
        });
        let out = to_gemini(&schema);
        let props = &out["properties"];
        assert_eq!(
            props["place"],
            json!({"type": "object", "description": "where",
                   "properties": {"name": {"type": "string", "nullable": true}}})
        );
        assert_eq!(props["maybe"], json!({"type": "integer", "nullable": true}));
        assert_eq!(
            props["either"],
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}]})
        );
        assert_eq!(
            props["both"],
            json!({"type": "object", "required": ["a"],
                   "properties": {"a": {"type": "string"}, "b": {"type": "string"}}})
        );
        assert_eq!(props["lost"], json!({"type": "object"}));
        // A recursive definition stops after MAX_REF_DEPTH levels.
        let mut node = &props["loop"];
        let mut levels = 0;
        while let Some(next) = node.pointer("/properties/next") {
            node = next;
            levels += 1;
        }
        assert_eq!(levels, MAX_REF_DEPTH);
        assert!(out.get("$defs").is_none());
    }

    #[test]
    fn functions_without_parameters_send_none() {
        assert_eq!(
            parameters(&json!({"type": "object", "properties": {}})),
            None
        );
        assert_eq!(
            parameters(&json!({"type": "object", "additionalProperties": false})),
            None
        );
        assert!(
            parameters(&json!({"type": "object", "properties": {"a": {"type": "string"}}}))
                .is_some()
        );
    }
}
