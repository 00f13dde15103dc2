//! The generic resource operations of the Admin API (APISIX's
//! `apisix/admin/resource.lua`): GET one or a list, PUT, POST, PATCH and
//! DELETE. Each write is checked in this order — body rules
//! ([`item_rules`](super::item_rules)), schema and data-plane compile,
//! references in etcd — before anything is written; then timestamps are set,
//! secrets encrypted and the value stored (PATCH with compare-and-swap).
//! Responses use APISIX's v3 envelopes.

use http::StatusCode;
use serde_json::{json, Value};

use super::error::AdminError;
use super::etcd_store::StoredItem;
use super::item_rules::{
    check_sub_path, check_username, into_object, keep_patched_id, now_seconds,
    reject_nested_timestamps, reject_timestamps, settle_put_id, ttl,
};
pub use super::item_rules::{id_text, query_arg};
use super::list_query::ListQuery;
use super::paths::apisix_kind;
use super::secrets::public_value;
use super::{patch, references, AdminApi};
use crate::config::resource::ResourceKind;
use crate::schema;

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

fn item_envelope(api: &AdminApi, kind: ResourceKind, item: StoredItem) -> Value {
    json!({
        "key": item.key,
        "value": api.readable_value(kind, item.value),
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
        return Ok((StatusCode::OK, item_envelope(api, t.kind, item)));
    }
    let q = ListQuery::parse(t.kind, query)?;
    let (total, items) = match q.plain_page() {
        // Consumers hold their credentials below them: count by reading.
        Some((page, size)) if t.kind != ResourceKind::Consumer => {
            api.store.list_page(&t.dir, page, size).await?
        }
        _ => q.apply(api.store.list(&t.dir).await?),
    };
    let list: Vec<Value> = items
        .into_iter()
        .map(|i| item_envelope(api, t.kind, i))
        .collect();
    Ok((StatusCode::OK, json!({ "total": total, "list": list })))
}

/// Schema (filling defaults), plugins and the data plane's own compile step:
/// whatever passes here, every gateway node accepts.
fn validate(
    api: &AdminApi,
    kind: ResourceKind,
    id: &str,
    value: &mut Value,
) -> Result<(), AdminError> {
    if kind == ResourceKind::PluginMetadata {
        // APISIX's answer for a plugin it cannot load.
        if !api.is_enabled(id) {
            return Err(AdminError::BadRequest("invalid plugin name".into()));
        }
        return schema::check_plugin_metadata(id, value).map_err(AdminError::InvalidConf);
    }
    schema::check_resource(kind, value, true).map_err(AdminError::InvalidConf)?;
    if let Some(plugins) = value.get("plugins").and_then(Value::as_object) {
        if let Some(off) = plugins.keys().find(|n| !api.is_enabled(n)) {
            return Err(AdminError::InvalidConf(format!("unknown plugin [{off}]")));
        }
    }
    crate::config::check_compiles(kind, id, value).map_err(AdminError::BadRequest)
}

/// `PUT`: create or replace.
pub async fn put(
    api: &AdminApi,
    t: &Target,
    conf: Option<Value>,
    query: Option<&str>,
) -> Result<Answer, AdminError> {
    let ttl = ttl(query)?;
    let mut conf = into_object(conf, "missing configurations")?;
    reject_timestamps(&conf)?;
    let id = settle_put_id(t, &mut conf)?;
    let key = t.key(&id);
    let mut value = Value::Object(conf);
    validate(api, t.kind, &id, &mut value)?;
    let previous = api.store.get(&key).await?;
    write(api, t, &key, value, previous, ttl, false).await
}

/// `POST`: create with a generated id.
pub async fn post(
    api: &AdminApi,
    t: &Target,
    conf: Option<Value>,
    query: Option<&str>,
) -> Result<Answer, AdminError> {
    let ttl = ttl(query)?;
    let mut conf = into_object(conf, "missing configurations")?;
    if t.id.is_some() || conf.contains_key("id") {
        return Err(AdminError::BadRequest(format!(
            "wrong {} id, do not need it",
            apisix_kind(t.kind)
        )));
    }
    reject_timestamps(&conf)?;
    // Validate with a stand-in id so an invalid body costs no etcd revision.
    const STAND_IN: &str = "00000000000000000000";
    conf.insert("id".into(), Value::String(STAND_IN.into()));
    let mut value = Value::Object(conf);
    validate(api, t.kind, STAND_IN, &mut value)?;
    let id = api.store.new_id().await?;
    if let Some(m) = value.as_object_mut() {
        m.insert("id".into(), Value::String(id.clone()));
    }
    write(api, t, &t.key(&id), value, None, ttl, false).await
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
    let ttl = ttl(query)?;
    let id = t.required_id()?.to_string();
    let body = body.ok_or_else(|| AdminError::BadRequest("missing new configuration".into()))?;
    if let Some(path) = sub_path {
        check_sub_path(path)?;
    } else {
        reject_timestamps(&into_object(
            Some(body.clone()),
            "missing new configuration",
        )?)?;
    }
    let key = t.key(&id);
    let previous = api.store.get(&key).await?.ok_or(AdminError::KeyNotFound)?;
    let mut value = previous.value.clone();
    api.decrypt_secrets(t.kind, &mut value)?;
    match sub_path {
        Some(path) => patch::set_path(&mut value, path, body).map_err(AdminError::BadRequest)?,
        None => patch::merge(&mut value, body),
    }
    keep_patched_id(t, &id, &mut value)?;
    if let Some(m) = value.as_object_mut() {
        m.remove("create_time");
        m.remove("update_time");
        reject_nested_timestamps(m)?;
    }
    validate(api, t.kind, &id, &mut value)?;
    write(api, t, &key, value, Some(previous), ttl, true).await
}

/// Check references, stamp, encrypt and store one validated value.
async fn write(
    api: &AdminApi,
    t: &Target,
    key: &str,
    mut value: Value,
    previous: Option<StoredItem>,
    ttl: Option<i64>,
    compare_and_swap: bool,
) -> Result<Answer, AdminError> {
    references::check_targets_exist(&api.store, t.kind, &value).await?;
    if matches!(t.kind, ResourceKind::Consumer | ResourceKind::Credential) {
        super::consumer_keys::check_unique(&api.store, api.crypto.as_deref(), key, &value).await?;
    }
    if let Some(user) = &t.username {
        check_username(user)?;
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
    if t.kind == ResourceKind::Ssl {
        // Encryption lengthens keys: what is stored must still pass the
        // schema every node checks it against (plugin secrets are checked
        // decrypted).
        let mut check = stored.clone();
        schema::check_resource(t.kind, &mut check, false)
            .map_err(|e| AdminError::InvalidConf(format!("{e} (after encryption)")))?;
    }
    let lease = match ttl {
        Some(seconds) => Some(api.store.grant_lease(seconds).await?),
        None => None,
    };
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
    let deleted = if t.kind == ResourceKind::Consumer {
        // The consumer and its credentials go together, in one transaction.
        api.store
            .delete_with_dir(&key, &format!("{key}/credentials"))
            .await?
    } else {
        api.store.delete(&key).await?
    };
    if !deleted {
        return Err(AdminError::KeyNotFound);
    }
    Ok((StatusCode::OK, json!({ "deleted": "1", "key": key })))
}
