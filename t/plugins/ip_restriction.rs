//! `ip-restriction`: white and black lists of addresses and CIDRs, the
//! configured message and status, Admin API checks.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn ip_restriction_white_and_black_lists() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"ip-restriction": {"whitelist": ["127.0.0.0/24", "::1"]}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"ip-restriction": {"blacklist": ["10.0.0.1", "127.0.0.1"]}}}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/server_port", "upstream": env.upstream(),
               "plugins": {"ip-restriction": {"whitelist": ["10.0.0.0/8"],
                   "message": "go away", "response_code": 404}}}),
    )
    .await;

    let r = env.until("/hello", &[], 200).await;
    assert_eq!(r.body, "hello world");
    let r = env.until("/echo", &[], 403).await;
    assert_eq!(
        r.json(),
        json!({"message": "Your IP address is not allowed"})
    );
    let r = env.until("/server_port", &[], 404).await;
    assert_eq!(r.json(), json!({"message": "go away"}));

    for bad in [
        json!({"whitelist": ["1.2.3.4/33"]}),
        json!({"blacklist": ["::1/129"]}),
        json!({"whitelist": ["1.1.1.1"], "blacklist": ["2.2.2.2"]}),
        json!({"response_code": 500, "whitelist": ["1.1.1.1"]}),
    ] {
        let r = env
            .admin
            .put(
                "/routes/4",
                json!({"uri": "/x", "upstream": env.upstream(), "plugins": {"ip-restriction": bad}}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}
