//! The gateway survives etcd: an outage while traffic flows, a compaction
//! past its watch revision while it was away, and a start with etcd down
//! (served from the snapshot persisted by a previous run).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::{etcd_gateway, is_route_not_found, nodes, simple_route};
use crate::common::{get, wait_until, Etcd, Gateway, GatewayOpts, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_outage_loses_no_request_and_recovers() {
    let up = Upstream::start().await;
    let up2 = Upstream::start().await;
    let (mut etcd, gw) = etcd_gateway(&[("routes/1", simple_route("/hello", &up))]).await;

    // Requests flow continuously from here on.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let url = gw.url("/hello");
    let traffic = {
        let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match get(&url).timeout(Duration::from_secs(2)).send().await {
                    Ok(r) if r.status == 200 && r.body == "hello world" => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{} {:?}", r.status, r.body)),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_outage = ok.load(Ordering::SeqCst);

    etcd.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during_outage = ok.load(Ordering::SeqCst) - before_outage;
    let log = gw.log();
    gw_assert!(
        gw,
        log.contains("serving the last good configuration"),
        "the gateway should have noticed the outage"
    );

    etcd.restart().await;
    etcd.put(
        "/apisix/routes/2",
        &simple_route("/after", &up2).to_string(),
    )
    .await;
    let url2 = gw.url("/after");
    let took = wait_until(Duration::from_secs(15), || async {
        matches!(get(&url2).send().await, Ok(r) if r.status == 200 && r.upstream_port() == Some(up2.port()))
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();
    eprintln!("route written after the etcd restart served after {took:?}");

    let failures = failures.lock().unwrap().clone();
    gw_assert!(
        gw,
        failures.is_empty(),
        "{} of {} requests failed around the etcd outage; first: {:?}",
        failures.len(),
        failures.len() + ok.load(Ordering::SeqCst),
        failures.first()
    );
    gw_assert!(
        gw,
        before_outage > 10 && during_outage > 10,
        "traffic should flow before ({before_outage}) and during ({during_outage}) the outage"
    );
    gw_assert!(
        gw,
        took.is_some(),
        "a route written after etcd came back was not served within 15 s"
    );
}

fn route_to(uri: &str, up: &Upstream, desc: &str) -> String {
    json!({"uri": uri, "desc": desc, "upstream": {"nodes": nodes(&[(up, 1)])}}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_past_watch_revision_forces_full_reload() {
    let old = Upstream::start().await;
    let new = Upstream::start().await;
    let (mut etcd, gw) = etcd_gateway(&[
        ("routes/1", simple_route("/a", &old)),
        ("routes/gone", simple_route("/gone", &old)),
    ])
    .await;
    for path in ["/a", "/gone"] {
        let r = get(gw.url(path)).send().await.unwrap();
        assert_status!(gw, r, 200, "GET {path} before the outage");
    }
    let loads_before = gw.log().matches("loaded configuration from etcd").count();

    // etcd goes away for the gateway; meanwhile it changes a lot and its
    // history is compacted, so the gateway's watch revision no longer exists.
    etcd.restart_on_private_port().await;
    for i in 0..20 {
        etcd.put("/apisix/routes/1", &route_to("/a", &new, &format!("v{i}")))
            .await;
    }
    etcd.delete("/apisix/routes/gone").await;
    etcd.put("/apisix/routes/3", &route_to("/c", &new, "added"))
        .await;
    let rev = etcd.revision().await;
    etcd.compact(rev).await;
    etcd.restart().await;

    let (a, gone, c) = (gw.url("/a"), gw.url("/gone"), gw.url("/c"));
    let took = wait_until(Duration::from_secs(15), || async {
        let a = get(&a).send().await;
        let gone = get(&gone).send().await;
        let c = get(&c).send().await;
        matches!(a, Ok(r) if r.upstream_port() == Some(new.port()))
            && matches!(gone, Ok(r) if is_route_not_found(&r))
            && matches!(c, Ok(r) if r.status == 200 && r.upstream_port() == Some(new.port()))
    })
    .await;
    gw_assert!(
        gw,
        took.is_some(),
        "after compaction the gateway should serve the latest config: /a from {}, /gone 404, /c 200",
        new.port()
    );
    let log = gw.log();
    gw_assert!(
        gw,
        log.contains("compacted"),
        "the gateway log should report the compaction"
    );
    let loads_after = log.matches("loaded configuration from etcd").count();
    gw_assert!(
        gw,
        loads_after > loads_before,
        "expected a full reload after the compaction (full loads: {loads_before} before, {loads_after} after)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_persisted_snapshot_while_etcd_is_down() {
    let old = Upstream::start().await;
    let new = Upstream::start().await;
    let shared = tempfile::tempdir().unwrap();
    let snapshot = shared.path().join("snapshot.json");

    // First run: etcd up, the route is served and persisted.
    let mut etcd = Etcd::start().await;
    etcd.put("/apisix/routes/1", &route_to("/snap", &old, "v1"))
        .await;
    let mut first = Gateway::start(GatewayOpts::etcd(&etcd).snapshot_file(&snapshot)).await;
    first.wait_ready().await;
    let r = get(first.url("/snap")).send().await.unwrap();
    assert_status!(first, r, 200, "first run: GET /snap");
    let persisted = wait_until(Duration::from_secs(5), || async {
        std::fs::read_to_string(&snapshot).is_ok_and(|s| s.contains("/apisix/routes/1"))
    })
    .await;
    gw_assert!(
        first,
        persisted.is_some(),
        "the snapshot was not persisted to {}",
        snapshot.display()
    );
    first.sigterm();
    first.wait_exit(Duration::from_secs(10)).await;

    // The route changes while no gateway runs, then etcd goes down.
    etcd.put("/apisix/routes/1", &route_to("/snap", &new, "v2"))
        .await;
    etcd.stop();

    // Second run: etcd down, the persisted snapshot is served.
    let gw = Gateway::start(GatewayOpts::etcd(&etcd).snapshot_file(&snapshot)).await;
    gw.wait_ready().await;
    let ready = get(gw.status_url("/status/ready")).send().await.unwrap();
    assert_status!(gw, ready, 200, "/status/ready with etcd down");
    let r = get(gw.url("/snap")).send().await.unwrap();
    assert_status!(gw, r, 200, "GET /snap from the persisted snapshot");
    gw_assert!(
        gw,
        r.upstream_port() == Some(old.port()),
        "the persisted (old) route should answer from {}, got {:?}",
        old.port(),
        r.upstream_port()
    );

    // etcd returns with the changed route: the gateway catches up.
    etcd.restart().await;
    let url = gw.url("/snap");
    let took = wait_until(Duration::from_secs(15), || async {
        matches!(get(&url).send().await, Ok(r) if r.upstream_port() == Some(new.port()))
    })
    .await;
    gw_assert!(
        gw,
        took.is_some(),
        "after etcd returned, /snap should be served by {} within 15 s",
        new.port()
    );
    eprintln!("caught up with etcd {took:?} after it returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_a_first_configuration_is_loaded() {
    let up = Upstream::start().await;
    let mut etcd = Etcd::start().await;
    etcd.put("/apisix/routes/1", &simple_route("/hello", &up).to_string())
        .await;
    etcd.stop();

    // etcd down and no persisted snapshot: alive, not ready, nothing routed.
    let gw = Gateway::start(GatewayOpts::etcd(&etcd)).await;
    for _ in 0..5 {
        let ready = get(gw.status_url("/status/ready")).send().await.unwrap();
        assert_status!(gw, ready, 503, "/status/ready with no configuration");
        let r = get(gw.url("/hello")).send().await.unwrap();
        gw_assert!(
            gw,
            is_route_not_found(&r),
            "with no configuration every request is a 404, got {} {:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    etcd.restart().await;
    gw.wait_ready().await;
    let url = gw.url("/hello");
    let served = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.status == 200 && r.body == "hello world")
    })
    .await;
    gw_assert!(
        gw,
        served.is_some(),
        "once etcd is up the route should be served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_restored_at_an_older_revision_forces_full_reload() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let (mut etcd, gw) = etcd_gateway(&[("routes/old", simple_route("/old", &a))]).await;
    // Move the revision well past what the restored cluster will have.
    for i in 0..10 {
        etcd.put("/apisix/routes/1", &route_to("/one", &a, &format!("v{i}")))
            .await;
    }
    let one = gw.url("/one");
    let seen = wait_until(Duration::from_secs(5), || async {
        matches!(get(&one).send().await, Ok(r) if r.status == 200)
    })
    .await;
    gw_assert!(
        gw,
        seen.is_some(),
        "/one should be served before the restore"
    );

    // A different, younger cluster comes back on the same endpoint.
    etcd.restart_empty().await;
    etcd.put("/apisix/routes/1", &route_to("/one", &b, "restored"))
        .await;
    etcd.put("/apisix/routes/new", &simple_route("/new", &b).to_string())
        .await;

    let (old, new) = (gw.url("/old"), gw.url("/new"));
    let took = wait_until(Duration::from_secs(15), || async {
        let o = get(&old).send().await;
        let n = get(&new).send().await;
        let x = get(&one).send().await;
        matches!(o, Ok(r) if is_route_not_found(&r))
            && matches!(n, Ok(r) if r.upstream_port() == Some(b.port()))
            && matches!(x, Ok(r) if r.upstream_port() == Some(b.port()))
    })
    .await;
    gw_assert!(
        gw,
        took.is_some(),
        "after etcd came back at an older revision the gateway should serve exactly its content: /old 404, /new and /one from {}",
        b.port()
    );
    gw_assert!(
        gw,
        gw.log().contains("revision went backwards"),
        "the revision regression should be logged"
    );
}
