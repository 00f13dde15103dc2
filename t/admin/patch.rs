//! PATCH: JSON merge (nested objects merged, `null` deletes, arrays
//! replaced), sub-path replacement, re-validation of the result, and
//! compare-and-swap so concurrent PATCHes never lose an acknowledged change.

use std::collections::BTreeSet;

use serde_json::json;

use super::{assert_bad_request, assert_error, assert_key_not_found, body_json, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_merges_replaces_sub_paths_and_revalidates() {
    let (_etcd, gw, admin) = start().await;
    let r = admin
        .put(
            "/routes/1",
            json!({
                "uri": "/a",
                "methods": ["GET", "PUT"],
                "desc": "to be removed",
                "labels": {"a": "1", "b": "2"},
                "upstream": {"type": "roundrobin",
                             "nodes": {"127.0.0.1:1980": 1, "127.0.0.1:1981": 1}}
            }),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");
    let create_time = body_json(&r)["value"]["create_time"].clone();

    // Merge: nested objects merged, null deletes, arrays replaced.
    let r = admin
        .patch(
            "/routes/1",
            json!({
                "methods": ["POST"],
                "desc": null,
                "labels": {"b": null, "c": "3"},
                "upstream": {"nodes": {"127.0.0.1:1980": null, "127.0.0.1:1982": 2}}
            }),
        )
        .await;
    assert_status!(gw, r, 200, "PATCH /routes/1 (merge)");
    let v = body_json(&r);
    assert_eq!(v["key"], "/apisix/routes/1");
    let value = &v["value"];
    assert_eq!(value["id"], "1");
    assert_eq!(value["uri"], "/a", "untouched fields stay: {value}");
    assert_eq!(
        value["methods"],
        json!(["POST"]),
        "arrays are replaced: {value}"
    );
    assert!(value.get("desc").is_none(), "null deletes: {value}");
    assert_eq!(value["labels"], json!({"a": "1", "c": "3"}), "{value}");
    assert_eq!(
        value["upstream"]["nodes"],
        json!({"127.0.0.1:1981": 1, "127.0.0.1:1982": 2}),
        "nested objects are merged: {value}"
    );
    assert_eq!(value["upstream"]["type"], "roundrobin");
    assert_eq!(value["create_time"], create_time, "create_time is kept");
    let r = admin.get("/routes/1").await;
    assert_eq!(body_json(&r)["value"], *value, "GET shows the merged value");

    // Sub-path: the attribute is replaced by the body, whatever its type.
    let r = admin.patch("/routes/1/methods", json!(["POST"])).await;
    assert_status!(gw, r, 200, "PATCH /routes/1/methods");
    assert_eq!(body_json(&r)["value"]["methods"], json!(["POST"]));
    let r = admin
        .patch("/routes/1/methods", json!(["GET", "DELETE"]))
        .await;
    assert_status!(gw, r, 200, "PATCH /routes/1/methods again");
    assert_eq!(body_json(&r)["value"]["methods"], json!(["GET", "DELETE"]));
    let r = admin
        .patch("/routes/1/upstream/nodes", json!({"127.0.0.1:1990": 5}))
        .await;
    assert_status!(gw, r, 200, "PATCH /routes/1/upstream/nodes");
    let value = body_json(&r)["value"].clone();
    assert_eq!(
        value["upstream"]["nodes"],
        json!({"127.0.0.1:1990": 5}),
        "the sub-path is replaced, not merged: {value}"
    );
    assert_eq!(value["upstream"]["type"], "roundrobin");
    assert_eq!(value["uri"], "/a");

    // A PATCH whose result is invalid is refused and changes nothing.
    let before = body_json(&admin.get("/routes/1").await);
    let r = admin.patch("/routes/1", json!({"uri": 123})).await;
    assert_bad_request(&gw, &r, "invalid configuration: ", "PATCH uri to a number");
    let r = admin.patch("/routes/1/methods", json!(["GETT"])).await;
    assert_bad_request(&gw, &r, "methods", "PATCH methods to an unknown method");
    let r = admin
        .patch("/routes/1", json!({"uri": null, "upstream": null}))
        .await;
    assert_bad_request(&gw, &r, "invalid configuration: ", "PATCH removing uri");
    let r = admin.patch("/routes/1", json!({"create_time": 1})).await;
    assert_error(
        &gw,
        &r,
        400,
        "the property is forbidden:  create_time",
        "PATCH create_time",
    );
    let after = body_json(&admin.get("/routes/1").await);
    assert_eq!(
        before, after,
        "refused PATCHes leave the stored value as it was"
    );

    // Missing item.
    assert_key_not_found(
        &gw,
        &admin.patch("/routes/404", json!({"desc": "x"})).await,
        "PATCH /routes/404",
    );
    assert_key_not_found(
        &gw,
        &admin.patch("/upstreams/404/nodes", json!({})).await,
        "PATCH /upstreams/404/nodes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_lose_no_acknowledged_update() {
    let (_etcd, gw, admin) = start().await;
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/c", "upstream": {"nodes": {"127.0.0.1:1980": 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");

    let mut tasks = Vec::new();
    for i in 0..20 {
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            let r = admin
                .patch("/routes/1", json!({"labels": {format!("l{i}"): "v"}}))
                .await;
            (format!("l{i}"), r)
        }));
    }
    let mut acknowledged = BTreeSet::new();
    for t in tasks {
        let (label, r) = t.await.unwrap();
        match r.status {
            200 => {
                acknowledged.insert(label);
            }
            503 => assert_error(
                &gw,
                &r,
                503,
                "value changed before overwritten",
                &format!("concurrent PATCH {label}"),
            ),
            _ => gw_assert!(
                gw,
                false,
                "concurrent PATCH {label}: expected 200 or 503, got {} {}",
                r.status,
                r.body
            ),
        }
    }
    eprintln!(
        "concurrent PATCHes: {} acknowledged, {} refused with 503",
        acknowledged.len(),
        20 - acknowledged.len()
    );
    gw_assert!(gw, !acknowledged.is_empty(), "at least one PATCH succeeds");
    let r = admin.get("/routes/1").await;
    let labels: BTreeSet<String> = body_json(&r)["value"]["labels"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    gw_assert!(
        gw,
        labels == acknowledged,
        "the stored labels must be exactly those whose PATCH got 200:\nstored {labels:?}\nacknowledged {acknowledged:?}"
    );
}
