//! The rules an Admin API body must follow before it is validated against its
//! schema (APISIX's `resource.lua` `check_conf`): where the id comes from and
//! what it may look like, server-managed timestamps, `?ttl=` and the shape of
//! sub-paths.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::error::AdminError;
use super::paths::apisix_kind;
use super::resource_ops::Target;
use crate::config::resource::ResourceKind;
use crate::schema::validator::Schema;

/// Longest accepted `?ttl=` (one year), far below etcd's own lease limit.
const MAX_TTL_SECONDS: f64 = 31_536_000.0;

/// Deepest accepted PATCH sub-path (`upstream/nodes/...`).
pub const MAX_SUB_PATH_SEGMENTS: usize = 16;

/// A consumer name (APISIX's `username` pattern).
fn is_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The first value of a query argument.
pub fn query_arg<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|p| match p.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        None if p == name => Some(""),
        _ => None,
    })
}

/// The seconds since the epoch, for `create_time`/`update_time`.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `?ttl=N`, checked before anything is read or written.
pub fn ttl(query: Option<&str>) -> Result<Option<i64>, AdminError> {
    let Some(v) = query_arg(query, "ttl") else {
        return Ok(None);
    };
    let ttl: f64 = v
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite())
        .ok_or_else(|| AdminError::BadRequest("invalid argument ttl: should be a number".into()))?;
    if !(1.0..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(AdminError::BadRequest(format!(
            "invalid argument ttl: should be between 1 and {MAX_TTL_SECONDS}"
        )));
    }
    Ok(Some(ttl.ceil() as i64))
}

/// Reject server-managed fields at the top of a client body and in its
/// inline upstream and plugins object (APISIX's `check_forbidden_properties`).
pub fn reject_timestamps(conf: &Map<String, Value>) -> Result<(), AdminError> {
    reject_in(conf, "")?;
    reject_nested_timestamps(conf)
}

/// The nested half of [`reject_timestamps`]: also applied to the value a
/// PATCH produces, whose top-level timestamps are the stored ones.
pub fn reject_nested_timestamps(conf: &Map<String, Value>) -> Result<(), AdminError> {
    for k in ["upstream", "plugins"] {
        if let Some(m) = conf.get(k).and_then(Value::as_object) {
            reject_in(m, &format!("{k}."))?;
        }
    }
    Ok(())
}

fn reject_in(m: &Map<String, Value>, prefix: &str) -> Result<(), AdminError> {
    for f in ["create_time", "update_time"] {
        if m.contains_key(f) {
            return Err(AdminError::BadRequest(format!(
                "the property is forbidden:  {prefix}{f}"
            )));
        }
    }
    Ok(())
}

/// The body as an object, or APISIX's error.
pub fn into_object(conf: Option<Value>, missing: &str) -> Result<Map<String, Value>, AdminError> {
    match conf {
        None => Err(AdminError::BadRequest(missing.into())),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(AdminError::InvalidConf(format!(
            "wrong type: expected object, got {}",
            crate::schema::validator::lua_type_name(&other)
        ))),
    }
}

/// An id as it appears in a referencing field or a body (string or integer).
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Check an id (from the URL or the body) against APISIX's id schema: a
/// string of 1–64 `[a-zA-Z0-9-_.]` or an integer ≥ 1. Returns it as text.
pub fn check_id(v: &Value) -> Result<String, AdminError> {
    static ID: OnceLock<Option<Schema>> = OnceLock::new();
    let schema = ID
        .get_or_init(|| Schema::compile(&crate::schema::resources::id()).ok())
        .as_ref()
        .ok_or_else(|| AdminError::Internal("the id schema does not compile".into()))?;
    schema
        .validate(v)
        .map_err(|e| AdminError::InvalidConf(format!("property \"id\" validation failed: {e}")))?;
    id_text(v).ok_or_else(|| AdminError::InvalidConf("property \"id\" validation failed".into()))
}

/// Settle the id of a PUT body against the URL; returns the id to store under.
pub fn settle_put_id(t: &Target, conf: &mut Map<String, Value>) -> Result<String, AdminError> {
    let kind = apisix_kind(t.kind);
    match t.kind {
        ResourceKind::Consumer => {
            let body = conf.get("username").and_then(id_text);
            match (&t.id, body) {
                (Some(u), Some(b)) if *u != b => {
                    Err(AdminError::BadRequest("wrong username".into()))
                }
                (Some(u), _) => {
                    conf.insert("username".into(), Value::String(u.clone()));
                    Ok(u.clone())
                }
                (None, Some(b)) => Ok(b),
                (None, None) => Err(AdminError::InvalidConf(
                    "property \"username\" is required".into(),
                )),
            }
        }
        ResourceKind::PluginMetadata => {
            t.id.clone()
                .ok_or_else(|| AdminError::BadRequest("missing plugin name".into()))
        }
        _ => {
            let id = match (&t.id, conf.get("id")) {
                (Some(u), Some(b)) => {
                    if check_id(b)? != *u {
                        return Err(AdminError::BadRequest(format!("wrong {kind} id")));
                    }
                    u.clone()
                }
                (Some(u), None) => check_id(&Value::String(u.clone()))?,
                (None, Some(b)) => check_id(b)?,
                (None, None) => return Err(AdminError::BadRequest(format!("missing {kind} id"))),
            };
            conf.insert("id".into(), Value::String(id.clone()));
            Ok(id)
        }
    }
}

/// After a PATCH: the value keeps the URL's id (a different one in the body
/// is refused, as APISIX re-runs its id check).
pub fn keep_patched_id(t: &Target, id: &str, value: &mut Value) -> Result<(), AdminError> {
    let Some(m) = value.as_object_mut() else {
        return Ok(());
    };
    let (field, wrong) = match t.kind {
        ResourceKind::Consumer => ("username", "wrong username".to_string()),
        ResourceKind::PluginMetadata => return Ok(()),
        _ => ("id", format!("wrong {} id", apisix_kind(t.kind))),
    };
    if let Some(given) = m.get(field) {
        if id_text(given).as_deref() != Some(id) {
            return Err(AdminError::BadRequest(wrong));
        }
    }
    m.insert(field.into(), Value::String(id.to_string()));
    Ok(())
}

/// A PATCH sub-path: at most [`MAX_SUB_PATH_SEGMENTS`] non-empty segments,
/// none of them a server-managed timestamp at the top.
pub fn check_sub_path(path: &str) -> Result<(), AdminError> {
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() > MAX_SUB_PATH_SEGMENTS || segments.iter().any(|s| s.is_empty()) {
        return Err(AdminError::BadRequest(format!(
            "invalid sub path: at most {MAX_SUB_PATH_SEGMENTS} non-empty segments"
        )));
    }
    match segments.first() {
        Some(f @ (&"create_time" | &"update_time")) => Err(AdminError::BadRequest(format!(
            "the property is forbidden:  {f}"
        ))),
        _ => Ok(()),
    }
}

/// A credential's consumer name must be a valid username (else no such consumer).
pub fn check_username(username: &str) -> Result<(), AdminError> {
    if is_username(username) {
        Ok(())
    } else {
        Err(AdminError::NotFound("consumer not found".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(kind: ResourceKind, id: Option<&str>) -> Target {
        Target {
            kind,
            dir: format!("/apisix/{}", kind.dir()),
            id: id.map(String::from),
            username: None,
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn bad(r: Result<String, AdminError>) -> String {
        match r {
            Err(AdminError::BadRequest(m) | AdminError::InvalidConf(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn put_ids() {
        let t = target(ResourceKind::Route, Some("1"));
        let mut c = obj(json!({"uri": "/a"}));
        assert_eq!(settle_put_id(&t, &mut c).unwrap(), "1");
        assert_eq!(c["id"], "1");
        let mut c = obj(json!({"id": 1}));
        assert_eq!(settle_put_id(&t, &mut c).unwrap(), "1", "integer ids match");
        let mut c = obj(json!({"id": "2"}));
        assert_eq!(bad(settle_put_id(&t, &mut c)), "wrong route id");
        let t = target(ResourceKind::Upstream, None);
        let mut c = obj(json!({}));
        assert_eq!(bad(settle_put_id(&t, &mut c)), "missing upstream id");
        for id in [json!(-1), json!(1.5), json!(0), json!("a b"), json!(true)] {
            let mut c = obj(json!({ "id": id }));
            let m = bad(settle_put_id(&t, &mut c));
            assert!(
                m.starts_with("property \"id\" validation failed"),
                "{id}: {m}"
            );
        }
        let t = target(ResourceKind::ConsumerGroup, None);
        let mut c = obj(json!({}));
        assert_eq!(bad(settle_put_id(&t, &mut c)), "missing consumer group id");
        let t = target(ResourceKind::Consumer, Some("jack"));
        let mut c = obj(json!({"username": "rose"}));
        assert_eq!(bad(settle_put_id(&t, &mut c)), "wrong username");
        let t = target(ResourceKind::Consumer, None);
        let mut c = obj(json!({"username": "rose"}));
        assert_eq!(settle_put_id(&t, &mut c).unwrap(), "rose");
    }

    #[test]
    fn forbidden_fields_and_args() {
        for body in [
            json!({"create_time": 1}),
            json!({"upstream": {"update_time": 1}}),
        ] {
            assert!(reject_timestamps(&obj(body)).is_err());
        }
        assert!(reject_timestamps(&obj(json!({"uri": "/"}))).is_ok());
        assert!(reject_nested_timestamps(&obj(json!({"create_time": 1}))).is_ok());
        assert_eq!(query_arg(Some("a=1&force=true"), "force"), Some("true"));
        assert_eq!(query_arg(Some("force"), "force"), Some(""));
        assert_eq!(query_arg(None, "force"), None);
        assert_eq!(ttl(Some("ttl=1.5")).unwrap(), Some(2));
        assert!(ttl(Some("ttl=0")).is_err());
        assert!(ttl(Some("ttl=1e300")).is_err());
        assert!(ttl(Some("ttl=abc")).is_err());
        assert!(check_sub_path("upstream/nodes").is_ok());
        assert!(check_sub_path(&"x/".repeat(40)).is_err());
        assert!(check_sub_path("a//b").is_err());
        assert!(check_sub_path("create_time").is_err());
        assert!(check_username("jack").is_ok());
        assert!(check_username("").is_err());
    }

    #[test]
    fn patched_ids() {
        let t = target(ResourceKind::Route, Some("1"));
        let mut v = json!({"id": "2"});
        assert!(keep_patched_id(&t, "1", &mut v).is_err());
        let mut v = json!({"uri": "/"});
        keep_patched_id(&t, "1", &mut v).unwrap();
        assert_eq!(v["id"], "1");
    }
}
