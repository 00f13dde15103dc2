//! `GET /apisix/admin/openapi.json`: an OpenAPI 3.1 description of the whole
//! Admin API, generated from the same resource and plugin schemas that
//! validate writes, so generic API tools and fuzzers can drive it.

use serde_json::{json, Map, Value};

use super::paths;
use crate::config::resource::ResourceKind;
use crate::schema;

/// Replace `{"$ref": "#/definitions/x"}` with the definition itself and drop
/// `definitions`, so each schema stands alone under `components.schemas`;
/// draft-4 `dependencies` become OpenAPI 3.1's (JSON Schema 2020-12)
/// `dependentRequired` / `dependentSchemas`.
fn inline_refs(v: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(name) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/definitions/"))
            {
                if let (Some(d), true) = (defs.get(name), depth < 32) {
                    return inline_refs(d, defs, depth + 1);
                }
            }
            let mut out = Map::new();
            for (k, v) in m {
                match k.as_str() {
                    "definitions" => {}
                    "dependencies" => split_dependencies(v, defs, depth, &mut out),
                    _ => {
                        out.insert(k.clone(), inline_refs(v, defs, depth));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline_refs(x, defs, depth)).collect()),
        other => other.clone(),
    }
}

fn split_dependencies(
    v: &Value,
    defs: &Map<String, Value>,
    depth: usize,
    out: &mut Map<String, Value>,
) {
    let Some(deps) = v.as_object() else { return };
    let (mut required, mut schemas) = (Map::new(), Map::new());
    for (name, dep) in deps {
        if dep.is_array() {
            required.insert(name.clone(), dep.clone());
        } else {
            schemas.insert(name.clone(), inline_refs(dep, defs, depth));
        }
    }
    if !required.is_empty() {
        out.insert("dependentRequired".into(), Value::Object(required));
    }
    if !schemas.is_empty() {
        out.insert("dependentSchemas".into(), Value::Object(schemas));
    }
}

fn standalone(doc: &Value) -> Value {
    let defs = doc
        .get("definitions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    inline_refs(doc, &defs, 0)
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn item_response(description: &str, schema_name: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "value": {"$ref": format!("#/components/schemas/{schema_name}")},
                "createdIndex": {"type": "integer"},
                "modifiedIndex": {"type": "integer"}
            }
        }}}
    })
}

fn common_errors(op: &mut Map<String, Value>) {
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(r) = responses {
        r.insert(
            "400".into(),
            error_response("invalid request or configuration"),
        );
        r.insert("401".into(), error_response("missing or wrong admin key"));
        r.insert(
            "503".into(),
            error_response("etcd unavailable or concurrent change"),
        );
    }
}

fn operation(summary: String, responses: Value, body_schema: Option<&str>) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), Value::String(summary));
    op.insert("responses".into(), responses);
    if let Some(s) = body_schema {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{s}")}}}}),
        );
    }
    common_errors(&mut op);
    Value::Object(op)
}

fn resource_paths(kind: ResourceKind, out: &mut Map<String, Value>) {
    let name = kind.singular();
    let (collection, item) = match kind {
        ResourceKind::Credential => (
            format!("{}/consumers/{{username}}/credentials", paths::PREFIX),
            format!(
                "{}/consumers/{{username}}/credentials/{{id}}",
                paths::PREFIX
            ),
        ),
        _ => (
            format!("{}/{}", paths::PREFIX, kind.dir()),
            format!("{}/{}/{{id}}", paths::PREFIX, kind.dir()),
        ),
    };
    let list = json!({"200": {"description": "the items", "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"total": {"type": "integer"}, "list": {"type": "array", "items": {"type": "object"}}}
    }}}}});
    let mut coll = Map::new();
    let mut list_op = operation(format!("List {name} items"), list, None);
    list_op["parameters"] = json!([
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 10, "maximum": 500}},
        {"name": "name", "in": "query", "schema": {"type": "string"}},
        {"name": "label", "in": "query", "schema": {"type": "string"}},
        {"name": "uri", "in": "query", "schema": {"type": "string"}},
        {"name": "filter", "in": "query", "schema": {"type": "string"}}
    ]);
    coll.insert("get".into(), list_op);
    if paths::allows(kind, &http::Method::POST) {
        coll.insert(
            "post".into(),
            operation(
                format!("Create a {name} with a generated id"),
                json!({"201": item_response("created", name)}),
                Some(name),
            ),
        );
    }
    if kind == ResourceKind::Consumer {
        coll.insert(
            "put".into(),
            operation(
                "Create or replace a consumer named in the body".into(),
                json!({"200": item_response("replaced", name), "201": item_response("created", name)}),
                Some(name),
            ),
        );
    }
    let mut one = Map::new();
    one.insert(
        "get".into(),
        operation(
            format!("Read a {name}"),
            json!({"200": item_response("the item", name), "404": error_response("no such key")}),
            None,
        ),
    );
    one.insert(
        "put".into(),
        operation(
            format!("Create or replace a {name}"),
            json!({"200": item_response("replaced", name), "201": item_response("created", name)}),
            Some(name),
        ),
    );
    if paths::allows(kind, &http::Method::PATCH) {
        one.insert(
            "patch".into(),
            operation(
                format!("Merge a JSON patch into a {name} (null deletes a key)"),
                json!({"200": item_response("patched", name), "404": error_response("no such key")}),
                Some("MergePatch"),
            ),
        );
    }
    one.insert(
        "delete".into(),
        operation(
            format!("Delete a {name} (refused while referenced unless force=true)"),
            json!({"200": {"description": "deleted"}, "404": error_response("no such key")}),
            None,
        ),
    );
    let mut params =
        vec![json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})];
    if kind == ResourceKind::Credential {
        params.push(json!({"name": "username", "in": "path", "required": true, "schema": {"type": "string"}}));
        coll.insert("parameters".into(), json!([params[1].clone()]));
    }
    one.insert("parameters".into(), Value::Array(params));
    out.insert(collection, Value::Object(coll));
    out.insert(item, Value::Object(one));
}

/// The document, listing the enabled plugins' schemas as components.
pub fn document(enabled_plugins: &[String]) -> Value {
    let mut paths_obj = Map::new();
    let mut schemas = Map::new();
    for kind in ResourceKind::ALL {
        if kind == ResourceKind::PluginMetadata {
            continue;
        }
        resource_paths(kind, &mut paths_obj);
        schemas.insert(
            kind.singular().to_string(),
            standalone(schema::resource_schema(kind).document()),
        );
    }
    schemas.insert("Error".into(), json!({"type": "object", "properties": {
        "error_msg": {"type": "string"}, "message": {"type": "string"}, "description": {"type": "string"}
    }}));
    schemas.insert("MergePatch".into(), json!({"type": "object"}));
    for name in enabled_plugins {
        if let Some(doc) = schema::plugin(name).and_then(|p| p.document()) {
            schemas.insert(format!("plugin.{name}"), standalone(&doc));
        }
    }
    paths_obj.insert(
        format!("{}/plugin_metadata/{{plugin_name}}", paths::PREFIX),
        json!({
            "parameters": [{"name": "plugin_name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": operation("Read a plugin's metadata".into(), json!({"200": {"description": "the item"}}), None),
            "put": operation("Set a plugin's metadata (validated by its metadata schema)".into(), json!({"200": {"description": "replaced"}, "201": {"description": "created"}}), Some("MergePatch")),
            "delete": operation("Delete a plugin's metadata".into(), json!({"200": {"description": "deleted"}}), None)
        }),
    );
    paths_obj.insert(
        format!("{}/plugins/list", paths::PREFIX),
        json!({"get": operation("Names of the enabled plugins".into(), json!({"200": {"description": "names", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}}}), None)}),
    );
    paths_obj.insert(
        format!("{}/plugins/{{name}}", paths::PREFIX),
        json!({"get": operation("A plugin's JSON schema".into(), json!({"200": {"description": "the schema"}, "404": error_response("unknown plugin")}), None),
               "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]}),
    );
    paths_obj.insert(
        format!("{}/schema/{{resource}}", paths::PREFIX),
        json!({"get": operation("A resource's JSON schema".into(), json!({"200": {"description": "the schema"}}), None),
               "parameters": [{"name": "resource", "in": "path", "required": true, "schema": {"type": "string"}}]}),
    );
    paths_obj.insert(
        format!("{}/schema/validate/{{resource}}", paths::PREFIX),
        json!({"post": operation("Check a body against a resource schema without storing it".into(), json!({"200": {"description": "valid"}}), Some("MergePatch")),
               "parameters": [{"name": "resource", "in": "path", "required": true, "schema": {"type": "string"}}]}),
    );
    paths_obj.insert(
        format!("{}/plugins/reload", paths::PREFIX),
        json!({"put": operation("Re-read the enabled plugin list from the config file".into(), json!({"200": {"description": "done", "content": {"text/plain": {"schema": {"type": "string"}}}}}), None)}),
    );
    paths_obj.insert(
        format!("{}/openapi.json", paths::PREFIX),
        json!({"get": operation("This document".into(), json!({"200": {"description": "OpenAPI 3.1"}}), None)}),
    );
    paths_obj.insert(
        paths::PREFIX.to_string(),
        json!({"head": {"summary": "Liveness (no key needed)", "security": [], "responses": {"200": {"description": "alive"}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "strait Admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Compatible with the Apache APISIX Admin API v3. Send the admin key in the X-API-KEY header."
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}},
            "schemas": schemas
        },
        "paths": paths_obj
    })
}
