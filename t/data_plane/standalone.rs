//! Standalone mode (`config_provider: yaml`): routes come from `apisix.yaml`
//! next to the config file, reloaded when it changes (added and removed
//! routes); a file without the closing `#END` line is treated as
//! half-written and not applied.

use std::time::Duration;

use crate::common::{get, wait_until, Gateway, GatewayOpts, Upstream};

fn yaml(routes: &[(&str, &Upstream)], end: bool) -> String {
    let mut s = String::from("routes:\n");
    for (i, (uri, up)) in routes.iter().enumerate() {
        s.push_str(&format!(
            "  - id: {}\n    uri: {uri}\n    upstream:\n      type: roundrobin\n      nodes:\n        \"{}\": 1\n",
            i + 1,
            up.addr()
        ));
    }
    if end {
        s.push_str("#END\n");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_yaml_serves_and_reloads_only_complete_files() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let gw = Gateway::start(GatewayOpts::standalone(&yaml(&[("/hello", &a)], true))).await;
    gw.wait_ready().await;
    let r = get(gw.url("/hello")).send().await.unwrap();
    assert_status!(gw, r, 200, "GET /hello from apisix.yaml");
    gw_assert!(gw, r.body == "hello world", "unexpected body {:?}", r.body);

    // A new complete file takes effect.
    let file = gw.dir().join("apisix.yaml");
    std::fs::write(&file, yaml(&[("/hello", &a), ("/new", &b)], true)).unwrap();
    let url = gw.url("/new");
    let took = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.status == 200 && r.upstream_port() == Some(b.port()))
    })
    .await;
    gw_assert!(
        gw,
        took.is_some(),
        "the rewritten apisix.yaml was not applied within 5 s"
    );
    eprintln!("standalone file change served after {took:?}");

    // A file without `#END` is not applied: the previous config keeps serving.
    std::fs::write(&file, yaml(&[("/partial", &a)], false)).unwrap();
    let noticed = wait_until(Duration::from_secs(5), || async {
        gw.log().contains("standalone configuration not applied")
    })
    .await;
    gw_assert!(
        gw,
        noticed.is_some(),
        "the incomplete file should be reported in the log"
    );
    for path in ["/hello", "/new"] {
        let r = get(gw.url(path)).send().await.unwrap();
        assert_status!(gw, r, 200, "GET {path} after an incomplete apisix.yaml");
    }
    let r = get(gw.url("/partial")).send().await.unwrap();
    assert_status!(gw, r, 404, "GET /partial (only in the incomplete file)");

    // A complete file again: a route left out of it is removed.
    std::fs::write(&file, yaml(&[("/new", &b)], true)).unwrap();
    let url = gw.url("/hello");
    let removed = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.status == 404)
    })
    .await;
    gw_assert!(
        gw,
        removed.is_some(),
        "/hello should be gone once the file no longer has it"
    );
    let r = get(gw.url("/new")).send().await.unwrap();
    assert_status!(gw, r, 200, "GET /new after /hello was removed");
}
