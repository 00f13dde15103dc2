//! Schemas of the plugin-carrying resources: consumers and their credentials,
//! consumer groups, plugin configs and global rules.

use serde_json::{json, Value};

use super::{closed_object, id, metadata, plugins_object, timestamp, with};

/// A consumer: a named API client with its own plugins and an optional group.
pub fn consumer() -> Value {
    let mut base = metadata();
    // A consumer is named by `username`; it has no `name`.
    base.remove("name");
    let schema = closed_object(
        base,
        json!({
            "username": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "pattern": r"^[a-zA-Z0-9_\-]+$"
            },
            "group_id": id(),
            "plugins": plugins_object()
        }),
    );
    with(schema, "required", json!(["username"]))
}

/// A credential of a consumer: exactly one (auth) plugin, stored under
/// `/consumers/{username}/credentials/{id}`.
pub fn credential() -> Value {
    closed_object(
        metadata(),
        json!({
            // Either a plain id or the full `username/credentials/id` path.
            "id": {"oneOf": [
                id(),
                {
                    "type": "string",
                    "minLength": 15,
                    "maxLength": 128,
                    "pattern": r"^[a-zA-Z0-9-_]+/credentials/[a-zA-Z0-9-_.]+$"
                }
            ]},
            "plugins": {"type": "object", "maxProperties": 1}
        }),
    )
}

/// A consumer group: plugins shared by the consumers whose `group_id` names it.
pub fn consumer_group() -> Value {
    let schema = closed_object(metadata(), json!({"plugins": plugins_object()}));
    with(schema, "required", json!(["id", "plugins"]))
}

/// A plugin config: a reusable plugin set that routes attach by `plugin_config_id`.
pub fn plugin_config() -> Value {
    let schema = closed_object(
        metadata(),
        // APISIX puts no length bounds on a plugin config's name.
        json!({"name": {"type": "string"}, "plugins": plugins_object()}),
    );
    with(schema, "required", json!(["id", "plugins"]))
}

/// A global rule: plugins run for every request, matched by a route or not.
pub fn global_rule() -> Value {
    let schema = json!({
        "type": "object",
        "properties": {
            "id": id(),
            "create_time": timestamp(),
            "update_time": timestamp(),
            "plugins": plugins_object()
        },
        "additionalProperties": false
    });
    with(schema, "required", json!(["id", "plugins"]))
}
