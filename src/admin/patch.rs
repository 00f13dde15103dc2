//! PATCH semantics of APISIX's Admin API: a JSON merge of the body into the
//! stored value (objects merged key by key, arrays and scalars replaced,
//! `null` deletes the key), or, with a sub-path, replacement of exactly that
//! attribute.

use serde_json::{Map, Value};

/// Merge `patch` into `target` (RFC 7386 merge patch).
pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => merge_objects(t, p),
        (t, p) => *t = p,
    }
}

fn merge_objects(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(&k);
            }
            Value::Object(p) => match target.get_mut(&k) {
                Some(Value::Object(t)) => merge_objects(t, p),
                _ => {
                    // A new object: drop its nulls like a merge into `{}` would.
                    let mut fresh = Map::new();
                    merge_objects(&mut fresh, p);
                    target.insert(k, Value::Object(fresh));
                }
            },
            other => {
                target.insert(k, other);
            }
        }
    }
}

/// Replace the attribute at `sub_path` (`upstream/nodes`) with `value`,
/// creating missing intermediate objects.
pub fn set_path(target: &mut Value, sub_path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = sub_path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((last, parents)) = segments.split_last() else {
        return Err("invalid sub path".into());
    };
    let mut cur = target;
    for seg in parents {
        let Value::Object(map) = cur else {
            return Err(format!("invalid sub path: `{seg}` is not inside an object"));
        };
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match cur {
        Value::Object(map) => {
            map.insert(last.to_string(), value);
            Ok(())
        }
        _ => Err(format!(
            "invalid sub path: `{last}` is not inside an object"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_semantics() {
        let mut v = json!({
            "uri": "/a",
            "methods": ["GET", "POST"],
            "upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1, "127.0.0.1:1981": 1}},
            "desc": "x"
        });
        merge(
            &mut v,
            json!({
                "methods": ["PUT"],
                "upstream": {"nodes": {"127.0.0.1:1980": null, "127.0.0.1:1982": 2}},
                "desc": null,
                "labels": {"a": "b", "c": null}
            }),
        );
        assert_eq!(
            v,
            json!({
                "uri": "/a",
                "methods": ["PUT"],
                "upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1981": 1, "127.0.0.1:1982": 2}},
                "labels": {"a": "b"}
            })
        );
    }

    #[test]
    fn sub_paths() {
        let mut v = json!({"uri": "/a", "upstream": {"nodes": {"a:1": 1}}});
        set_path(&mut v, "upstream/nodes", json!({"b:2": 1})).unwrap();
        set_path(&mut v, "methods", json!(["GET"])).unwrap();
        set_path(&mut v, "labels/env", json!("prod")).unwrap();
        assert_eq!(
            v,
            json!({"uri": "/a", "methods": ["GET"], "labels": {"env": "prod"}, "upstream": {"nodes": {"b:2": 1}}})
        );
        assert!(set_path(&mut v, "uri/x", json!(1)).is_err());
        assert!(set_path(&mut v, "", json!(1)).is_err());
    }
}
