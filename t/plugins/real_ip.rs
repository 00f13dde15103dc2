//! `real-ip`: the client address taken from a header, a query argument or
//! `X-Forwarded-For`, seen by later plugins and sent upstream; untrusted
//! peers are ignored.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn real_ip_replaces_the_client_address() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"real-ip": {"source": "http_x_real_ip"},
                           "ip-restriction": {"blacklist": ["1.2.3.4"]}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo/arg", "upstream": env.upstream(),
               "plugins": {"real-ip": {"source": "arg_realip"}}}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/echo/xff", "upstream": env.upstream(),
               "plugins": {"real-ip": {"source": "http_x_forwarded_for",
                   "trusted_addresses": ["127.0.0.0/8", "10.0.0.0/8"], "recursive": true}}}),
    )
    .await;
    env.put(
        "/routes/4",
        json!({"uri": "/echo/untrusted", "upstream": env.upstream(),
               "plugins": {"real-ip": {"source": "http_x_real_ip", "trusted_addresses": ["10.0.0.0/8"]}}}),
    )
    .await;

    // ip-restriction (access) sees the address real-ip (rewrite) set.
    let r = env.until("/echo", &[("x-real-ip", "1.2.3.4")], 403).await;
    assert_eq!(
        r.json(),
        json!({"message": "Your IP address is not allowed"})
    );
    let r = env.get("/echo", &[("x-real-ip", "5.6.7.8")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-forwarded-for"], "5.6.7.8");
    let r = env.get("/echo", &[("x-real-ip", "not-an-ip")]).await;
    assert_eq!(
        r.json()["headers"]["x-real-ip"],
        "127.0.0.1",
        "bad address ignored"
    );

    let r = env.until("/echo/arg?realip=9.9.9.9:1234", &[], 200).await;
    assert_eq!(r.json()["headers"]["x-real-ip"], "9.9.9.9");

    let r = env
        .until(
            "/echo/xff",
            &[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.7")],
            200,
        )
        .await;
    assert_eq!(r.json()["headers"]["x-real-ip"], "2.2.2.2");

    let r = env
        .until("/echo/untrusted", &[("x-real-ip", "7.7.7.7")], 200)
        .await;
    assert_eq!(
        r.json()["headers"]["x-real-ip"],
        "127.0.0.1",
        "the peer is not trusted"
    );
}
