//! SSL objects: the private key is encrypted before it reaches etcd (with the
//! keyring kept in the data dir when none is configured) and never returned
//! by the Admin API; PATCH keeps it intact.

use serde_json::{json, Value};
use strait::config::field_crypto::FieldCrypto;

use super::{assert_bad_request, assert_body, body_json, start};
use crate::common::Gateway;

/// The private key stored in etcd for `id`, checked to be encrypted, decrypted
/// with the keyring the gateway generated into its data dir.
async fn stored_key(gw: &Gateway, etcd: &crate::common::Etcd, id: &str) -> String {
    let raw = etcd
        .get(&format!("/apisix/ssls/{id}"))
        .await
        .unwrap_or_else(|| panic!("/apisix/ssls/{id} is not in etcd"));
    let raw: Value = serde_json::from_str(&raw).unwrap();
    let sealed = raw["key"].as_str().unwrap_or_default().to_string();
    gw_assert!(
        gw,
        !sealed.is_empty() && !sealed.contains("PRIVATE KEY"),
        "the key in etcd must be encrypted, got {sealed:?}"
    );
    let keyring = std::fs::read_to_string(gw.dir().join("data").join("encryption_key")).unwrap();
    FieldCrypto::new(&[keyring.trim()])
        .unwrap()
        .decrypt(&sealed)
        .unwrap_or_else(|e| {
            panic!("the stored key does not decrypt with the data dir keyring: {e}")
        })
}

fn assert_no_key(gw: &Gateway, value: &Value, what: &str) {
    gw_assert!(
        gw,
        value.is_object() && value.get("key").is_none() && value.get("keys").is_none(),
        "{what}: the private key must not be returned: {value}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_key_encrypted_at_rest_and_never_returned() {
    let (etcd, gw, admin) = start().await;
    let pair = rcgen::generate_simple_self_signed(vec!["test.com".to_string()]).unwrap();
    let cert = pair.cert.pem();
    let key = pair.signing_key.serialize_pem();
    let body = json!({"cert": cert, "key": key, "snis": ["test.com"]});

    let r = admin.put("/ssls/1", body.clone()).await;
    assert_status!(gw, r, 201, "PUT /ssls/1");
    let v = body_json(&r);
    assert_eq!(v["key"], "/apisix/ssls/1", "{v}");
    assert_no_key(&gw, &v["value"], "PUT response");
    assert_eq!(v["value"]["id"], "1");
    assert_eq!(v["value"]["cert"], cert.as_str());
    assert_eq!(v["value"]["snis"], json!(["test.com"]));
    assert_eq!(v["value"]["type"], "server", "default type: {v}");
    assert_eq!(v["value"]["status"], 1, "default status: {v}");
    assert_eq!(
        stored_key(&gw, &etcd, "1").await,
        key,
        "etcd holds the key, encrypted"
    );

    let r = admin.get("/ssls/1").await;
    assert_status!(gw, r, 200, "GET /ssls/1");
    assert_no_key(&gw, &body_json(&r)["value"], "GET");
    assert_eq!(body_json(&r)["value"]["cert"], cert.as_str());

    // PATCH of the SNIs keeps the key working.
    let r = admin
        .patch("/ssls/1", json!({"snis": ["test.com", "www.test.com"]}))
        .await;
    assert_status!(gw, r, 200, "PATCH /ssls/1");
    assert_no_key(&gw, &body_json(&r)["value"], "PATCH response");
    assert_eq!(
        body_json(&r)["value"]["snis"],
        json!(["test.com", "www.test.com"])
    );
    let r = admin.get("/ssls/1").await;
    assert_status!(gw, r, 200, "GET /ssls/1 after PATCH");
    assert_eq!(
        body_json(&r)["value"]["snis"],
        json!(["test.com", "www.test.com"])
    );
    assert_eq!(
        stored_key(&gw, &etcd, "1").await,
        key,
        "after PATCH etcd still holds the same key, encrypted once"
    );
    let r = admin.patch("/ssls/1/snis", json!(["a.test.com"])).await;
    assert_status!(gw, r, 200, "PATCH /ssls/1/snis");
    assert_no_key(&gw, &body_json(&r)["value"], "sub-path PATCH response");
    assert_eq!(
        stored_key(&gw, &etcd, "1").await,
        key,
        "after a sub-path PATCH"
    );

    // POST, list, a server certificate without a key, DELETE.
    let r = admin.post("/ssls", body.clone()).await;
    assert_status!(gw, r, 201, "POST /ssls");
    assert_no_key(&gw, &body_json(&r)["value"], "POST response");
    let pid = body_json(&r)["value"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(pid.len(), 20, "POST id: {}", r.body);
    assert_eq!(stored_key(&gw, &etcd, &pid).await, key);
    let r = admin.get("/ssls").await;
    assert_status!(gw, r, 200, "GET /ssls");
    let list = body_json(&r);
    assert_eq!(list["total"], 2, "{list}");
    for item in list["list"].as_array().unwrap() {
        assert_no_key(&gw, &item["value"], "list item");
    }
    let r = admin
        .put("/ssls/2", json!({"cert": cert, "snis": ["test.com"]}))
        .await;
    assert_bad_request(
        &gw,
        &r,
        "invalid configuration: ",
        "a server SSL without key",
    );
    for id in ["1", pid.as_str()] {
        assert_body(
            &gw,
            &admin.delete(&format!("/ssls/{id}")).await,
            200,
            &json!({"deleted": "1", "key": format!("/apisix/ssls/{id}")}),
            &format!("DELETE /ssls/{id}"),
        );
    }
}
