//! `request-id`: generated ids (uuid, nanoid, range_id) sent upstream and
//! in the response, incoming ids kept, `include_in_response`.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn request_id_generates_keeps_and_returns_ids() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "upstream": env.upstream(), "plugins": {"request-id": {}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo/nano", "upstream": env.upstream(),
               "plugins": {"request-id": {"header_name": "X-Trace", "include_in_response": false,
                                          "algorithm": "nanoid"}}}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/echo/range", "upstream": env.upstream(),
               "plugins": {"request-id": {"algorithm": "range_id",
                                          "range_id": {"length": 10, "char_set": "abcdef"}}}}),
    )
    .await;

    let r = env.until("/echo", &[], 200).await;
    let id = r
        .header("x-request-id")
        .expect("id in the response")
        .to_string();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "4", "uuid v4: {id}");
    assert_eq!(r.json()["headers"]["x-request-id"], id.as_str());
    let again = env.get("/echo", &[]).await;
    assert_ne!(again.header("x-request-id"), Some(id.as_str()));

    let r = env.get("/echo", &[("x-request-id", "client-id-1")]).await;
    assert_eq!(r.header("x-request-id"), Some("client-id-1"));
    assert_eq!(r.json()["headers"]["x-request-id"], "client-id-1");

    let r = env.until("/echo/nano", &[], 200).await;
    assert!(r.header("x-trace").is_none());
    let sent = r.json()["headers"]["x-trace"].as_str().unwrap().to_string();
    assert_eq!(sent.len(), 21, "{sent}");

    let r = env.until("/echo/range", &[], 200).await;
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 10);
    assert!(id.chars().all(|c| "abcdef".contains(c)), "{id}");
}
