//! The generic resource operations of the Admin API (APISIX's
//! `apisix/admin/resource.lua`): GET one or a list, PUT, POST, PATCH and
//! DELETE, with id rules, server-managed timestamps, validation through the
//! shared schemas, reference checks, encryption of secret fields, ttl leases
//! and compare-and-swap for PATCH. Responses use APISIX's v3 envelopes.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::AdminError;
use super::etcd_store::StoredItem;
use super::list_query::ListQuery;
use super::paths::apisix_kind;
use super::{patch, references, AdminApi};
use crate::config::resource::ResourceKind;

/// The item (or collection) a request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// What it is.
    pub kind: ResourceKind,
    /// Full etcd directory (`/apisix/routes`, `/apisix/consumers/jack/credentials`).
    pub dir: String,
    /// The item id; `None` for the collection.
    pub id: Option<String>,
    /// For credentials: the owning consumer.
    pub username: Option<String>,
}

impl Target {
    fn key(&self, id: &str) -> String {
        format!("{}/{}", self.dir, id)
    }

    fn required_id(&self) -> Result<&str, AdminError> {
        self.id
            .as_deref()
            .ok_or_else(|| AdminError::BadRequest(format!("missing {} id", apisix_kind(self.kind))))
    }
}

/// A successful answer: status and JSON body.
pub type Answer = (StatusCode, Value);

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The value as shown to clients: SSL private keys never leave the server.
fn public_value(kind: ResourceKind, mut v: Value) -> Value {
    if kind == ResourceKind::Ssl {
        if let Some(m) = v.as_object_mut() {
            m.remove("key");
            m.remove("keys");
        }
    }
    v
}

fn item_envelope(kind: ResourceKind, item: StoredItem) -> Value {
    json!({
        "key": item.key,
        "value": public_value(kind, item.value),
        "createdIndex": item.create_revision,
        "modifiedIndex": item.mod_revision,
    })
}

/// `GET` one item or the filtered, paged collection.
pub async fn get(api: &AdminApi, t: &Target, query: Option<&str>) -> Result<Answer, AdminError> {
    if let Some(id) = &t.id {
        let item = api
            .store
            .get(&t.key(id))
            .await?
            .ok_or(AdminError::KeyNotFound)?;
        return Ok((StatusCode::OK, item_envelope(t.kind, item)));
    }
    let q = ListQuery::parse(query)?;
    let (total, items) = q.apply(api.store.list(&t.dir).await?);
    let list: Vec<Value> = items
        .into_iter()
        .map(|i| item_envelope(t.kind, i))
        .collect();
    Ok((StatusCode::OK, json!({ "total": total, "list": list })))
}

/// `?ttl=N` as an etcd lease; `None` without the argument.
async fn lease(api: &AdminApi, query: Option<&str>) -> Result<Option<i64>, AdminError> {
    let Some(v) = query_arg(query, "ttl") else {
        return Ok(None);
    };
    let ttl: f64 = v
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite())
        .ok_or_else(|| AdminError::BadRequest("invalid argument ttl: should be a number".into()))?;
    if ttl < 1.0 {
        return Err(AdminError::BadRequest(
            "invalid argument ttl: should be at least 1".into(),
        ));
    }
    Ok(Some(api.store.grant_lease(ttl.ceil() as i64).await?))
}

/// The first value of a query argument.
pub fn query_arg<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|p| match p.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        None if p == name => Some(""),
        _ => None,
    })
}

/// Reject server-managed fields in a client body (APISIX checks the top level,
/// the inline upstream and the plugins object).
fn reject_timestamps(conf: &Map<String, Value>) -> Result<(), AdminError> {
    let nested = ["upstream", "plugins"].into_iter().filter_map(|k| {
        conf.get(k)
            .and_then(Value::as_object)
            .map(|m| (format!("{k}."), m))
    });
    for (prefix, m) in std::iter::once((String::new(), conf)).chain(nested) {
        for f in ["create_time", "update_time"] {
            if m.contains_key(f) {
                return Err(AdminError::BadRequest(format!(
                    "the property is forbidden:  {prefix}{f}"
                )));
            }
        }
    }
    Ok(())
}

fn into_object(conf: Option<Value>, missing: &str) -> Result<Map<String, Value>, AdminError> {
    match conf {
        None => Err(AdminError::BadRequest(missing.into())),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(AdminError::InvalidConf(format!(
            "wrong type: expected object, got {}",
            json_type(&other)
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Settle the id of a PUT body against the URL; returns the id to store under.
fn settle_put_id(t: &Target, conf: &mut Map<String, Value>) -> Result<String, AdminError> {
    let singular = apisix_kind(t.kind);
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
            let body = conf.get("id").map(|v| id_text(v).unwrap_or_default());
            let id = match (&t.id, body) {
                (Some(u), Some(b)) if *u != b => {
                    return Err(AdminError::BadRequest(format!("wrong {singular} id")))
                }
                (Some(u), _) => u.clone(),
                (None, Some(b)) if !b.is_empty() => b,
                _ => return Err(AdminError::BadRequest(format!("missing {singular} id"))),
            };
            conf.insert("id".into(), Value::String(id.clone()));
            Ok(id)
        }
    }
}

/// `PUT`: create or replace.
pub async fn put(
    api: &AdminApi,
    t: &Target,
    conf: Option<Value>,
    query: Option<&str>,
) -> Result<Answer, AdminError> {
    let mut conf = into_object(conf, "missing configurations")?;
    reject_timestamps(&conf)?;
    let id = settle_put_id(t, &mut conf)?;
    let key = t.key(&id);
    let previous = api.store.get(&key).await?;
    write(api, t, &key, Value::Object(conf), previous, query, false).await
}

/// `POST`: create with a generated id.
pub async fn post(
    api: &AdminApi,
    t: &Target,
    conf: Option<Value>,
    query: Option<&str>,
) -> Result<Answer, AdminError> {
    let singular = apisix_kind(t.kind);
    let mut conf = into_object(conf, "missing configurations")?;
    if t.id.is_some() || conf.contains_key("id") {
        return Err(AdminError::BadRequest(format!(
            "wrong {singular} id, do not need it"
        )));
    }
    reject_timestamps(&conf)?;
    let id = api.store.new_id().await?;
    conf.insert("id".into(), Value::String(id.clone()));
    let key = t.key(&id);
    write(api, t, &key, Value::Object(conf), None, query, false).await
}

/// `PATCH`: merge into (or replace one attribute of) the stored value, then
/// validate the result and write it only if nobody changed it meanwhile.
pub async fn patch(
    api: &AdminApi,
    t: &Target,
    sub_path: Option<&str>,
    body: Option<Value>,
    query: Option<&str>,
) -> Result<Answer, AdminError> {
    let id = t.required_id()?.to_string();
    let body = body.ok_or_else(|| AdminError::BadRequest("missing new configuration".into()))?;
    let key = t.key(&id);
    let previous = api.store.get(&key).await?.ok_or(AdminError::KeyNotFound)?;
    let mut value = previous.value.clone();
    api.decrypt_secrets(t.kind, &mut value);
    match sub_path {
        Some(path) => {
            let first = path.split('/').next().unwrap_or(path);
            if first == "create_time" || first == "update_time" {
                return Err(AdminError::BadRequest(format!(
                    "the property is forbidden:  {first}"
                )));
            }
            patch::set_path(&mut value, path, body).map_err(AdminError::BadRequest)?
        }
        None => {
            let body = into_object(Some(body), "missing new configuration")?;
            reject_timestamps(&body)?;
            patch::merge(&mut value, Value::Object(body));
        }
    }
    if let Some(m) = value.as_object_mut() {
        match t.kind {
            ResourceKind::Consumer => {
                m.insert("username".into(), Value::String(id.clone()));
            }
            ResourceKind::PluginMetadata => {}
            _ => {
                m.insert("id".into(), Value::String(id.clone()));
            }
        }
    }
    write(api, t, &key, value, Some(previous), query, true).await
}

/// Validate, check references, stamp, encrypt and store one value.
async fn write(
    api: &AdminApi,
    t: &Target,
    key: &str,
    mut value: Value,
    previous: Option<StoredItem>,
    query: Option<&str>,
    compare_and_swap: bool,
) -> Result<Answer, AdminError> {
    if let Some(m) = value.as_object_mut() {
        m.remove("create_time");
        m.remove("update_time");
    }
    let id = key.rsplit('/').next().unwrap_or_default();
    api.validate(t.kind, id, &mut value)?;
    references::check_targets_exist(&api.store, t.kind, &value).await?;
    if let Some(user) = &t.username {
        let consumer = format!("{}/consumers/{user}", api.store.prefix());
        if !api.store.exists(&consumer).await? {
            return Err(AdminError::NotFound("consumer not found".into()));
        }
    }
    if t.kind != ResourceKind::PluginMetadata {
        let now = now_seconds();
        let created = previous
            .as_ref()
            .and_then(|p| p.value.get("create_time").and_then(Value::as_i64))
            .unwrap_or(now);
        if let Some(m) = value.as_object_mut() {
            m.insert("create_time".into(), json!(created));
            m.insert("update_time".into(), json!(now));
        }
    }
    let stored = api.encrypt_secrets(t.kind, value.clone())?;
    let lease = lease(api, query).await?;
    let status = match (compare_and_swap, &previous) {
        (true, Some(p)) => {
            if !api
                .store
                .put_if_unchanged(key, &stored, p.mod_revision, lease)
                .await?
            {
                return Err(AdminError::Unavailable(
                    "value changed before overwritten".into(),
                ));
            }
            StatusCode::OK
        }
        _ => {
            if api.store.put(key, &stored, lease).await? {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            }
        }
    };
    Ok((
        status,
        json!({ "key": key, "value": public_value(t.kind, value) }),
    ))
}

/// `DELETE`: refuse while referenced unless `?force=true`.
pub async fn delete(api: &AdminApi, t: &Target, query: Option<&str>) -> Result<Answer, AdminError> {
    let id = t.required_id()?;
    let key = t.key(id);
    if query_arg(query, "force") != Some("true") {
        references::check_unreferenced(&api.store, t.kind, id).await?;
    }
    if !api.store.delete(&key).await? {
        return Err(AdminError::KeyNotFound);
    }
    if t.kind == ResourceKind::Consumer {
        api.store.delete_dir(&format!("{key}/credentials")).await?;
    }
    Ok((StatusCode::OK, json!({ "deleted": "1", "key": key })))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn put_ids() {
        let t = target(ResourceKind::Route, Some("1"));
        let mut c = obj(json!({"uri": "/a"}));
        assert_eq!(settle_put_id(&t, &mut c).unwrap(), "1");
        assert_eq!(c["id"], "1");
        let mut c = obj(json!({"id": 1}));
        assert_eq!(settle_put_id(&t, &mut c).unwrap(), "1", "integer ids match");
        let mut c = obj(json!({"id": "2"}));
        assert!(
            matches!(settle_put_id(&t, &mut c), Err(AdminError::BadRequest(m)) if m == "wrong route id")
        );
        let t = target(ResourceKind::Upstream, None);
        let mut c = obj(json!({}));
        assert!(
            matches!(settle_put_id(&t, &mut c), Err(AdminError::BadRequest(m)) if m == "missing upstream id")
        );
        let t = target(ResourceKind::Consumer, Some("jack"));
        let mut c = obj(json!({"username": "rose"}));
        assert!(
            matches!(settle_put_id(&t, &mut c), Err(AdminError::BadRequest(m)) if m == "wrong username")
        );
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
        assert_eq!(query_arg(Some("a=1&force=true"), "force"), Some("true"));
        assert_eq!(query_arg(Some("force"), "force"), Some(""));
        assert_eq!(query_arg(None, "force"), None);
        let v = public_value(
            ResourceKind::Ssl,
            json!({"cert": "c", "key": "k", "keys": ["k"]}),
        );
        assert_eq!(v, json!({"cert": "c"}));
    }
}
