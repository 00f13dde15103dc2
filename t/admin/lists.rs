//! List queries (APISIX v3): `page`/`page_size` over items sorted by
//! creation, `name` and `uri` regexes, `label` (key present), `filter`
//! (`service_id=1`), and `total` counting every match, not just the page.

use serde_json::json;

use super::{assert_bad_request, body_json, list_ids, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_pages_and_totals() {
    let (_etcd, gw, admin) = start().await;
    for sid in ["1", "2"] {
        let r = admin
            .put(
                &format!("/services/{sid}"),
                json!({"upstream": {"nodes": {"127.0.0.1:1980": 1}}}),
            )
            .await;
        assert_status!(gw, r, 201, "PUT /services/{sid}");
    }
    // Route i: odd → `shop-i`, service 1; even → `blog-i`, service 2;
    // every third has the label `team`; 1–4 are under /v1/, the rest /v2/.
    for i in 1..=12 {
        let (name, service) = if i % 2 == 1 {
            (format!("shop-{i}"), "1")
        } else {
            (format!("blog-{i}"), "2")
        };
        let labels = if i % 3 == 0 {
            json!({"team": "blue"})
        } else {
            json!({"env": "dev"})
        };
        let uri = if i <= 4 {
            format!("/v1/item{i}")
        } else {
            format!("/v2/item{i}")
        };
        let r = admin
            .put(
                &format!("/routes/{i}"),
                json!({"name": name, "uri": uri, "labels": labels, "service_id": service}),
            )
            .await;
        assert_status!(gw, r, 201, "PUT /routes/{i}");
    }
    let ids = |v: &[u32]| -> Vec<String> { v.iter().map(|i| i.to_string()).collect() };
    let query = |q: &'static str| {
        let admin = admin.clone();
        async move {
            let r = admin.get(&format!("/routes{q}")).await;
            assert_eq!(r.status, 200, "GET /routes{q}: {}", r.body);
            let b = body_json(&r);
            (b["total"].as_u64().unwrap_or(u64::MAX), list_ids(&b))
        }
    };

    let (total, all) = query("").await;
    assert_eq!(total, 12);
    assert_eq!(all.len(), 12, "no paging without page arguments");

    // Pages follow creation order; total counts every item.
    let (total, page) = query("?page=1&page_size=10").await;
    assert_eq!((total, page), (12, ids(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])));
    let (total, page) = query("?page=2&page_size=10").await;
    assert_eq!((total, page), (12, ids(&[11, 12])));
    let (total, page) = query("?page=3&page_size=10").await;
    assert_eq!((total, page), (12, ids(&[])));

    // Filters, alone and together; total counts the matches before paging.
    let (total, page) = query("?name=shop").await;
    assert_eq!((total, page), (6, ids(&[1, 3, 5, 7, 9, 11])));
    let (total, page) = query("?name=%5Eblog-1").await;
    assert_eq!((total, page), (2, ids(&[10, 12])), "name is a regex");
    let (total, page) = query("?label=team").await;
    assert_eq!((total, page), (4, ids(&[3, 6, 9, 12])));
    let (total, page) = query("?uri=%5E%2Fv1%2F").await;
    assert_eq!((total, page), (4, ids(&[1, 2, 3, 4])));
    let (total, page) = query("?filter=service_id%3D1").await;
    assert_eq!((total, page), (6, ids(&[1, 3, 5, 7, 9, 11])));
    let (total, page) = query("?filter=service_id%3D2&label=team").await;
    assert_eq!((total, page), (2, ids(&[6, 12])));
    let (total, page) = query("?name=shop&label=team").await;
    assert_eq!((total, page), (2, ids(&[3, 9])));
    let (total, page) = query("?uri=%2Fv2%2F&page=1&page_size=10").await;
    assert_eq!((total, page), (8, ids(&[5, 6, 7, 8, 9, 10, 11, 12])));
    let (total, page) = query("?name=nothing-like-this").await;
    assert_eq!((total, page), (0, ids(&[])));
    let r = admin.get("/routes?name=nothing-like-this").await;
    assert_eq!(body_json(&r), json!({"total": 0, "list": []}));

    // Services are listed the same way.
    let r = admin.get("/services?page=1&page_size=10").await;
    assert_status!(gw, r, 200, "GET /services paged");
    assert_eq!(body_json(&r)["total"], 2);

    // page_size bounds.
    for bad in ["5", "501"] {
        let r = admin.get(&format!("/routes?page=1&page_size={bad}")).await;
        gw_assert!(
            gw,
            r.status == 400 && r.body.contains("page_size must be between 10 and 500"),
            "page_size={bad}: expected 400 `page_size must be between 10 and 500`, got {} {}",
            r.status,
            r.body
        );
    }
    let r = admin.get("/routes?name=%28").await;
    assert_bad_request(&gw, &r, "name", "an invalid name regex");
}
