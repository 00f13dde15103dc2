//! Certificate rotation under load: while clients keep opening new TLS
//! connections, the SSL object is replaced again and again through the
//! Admin API. No handshake or request fails, each new certificate is served
//! from the next handshakes on, and a connection opened before the first
//! rotation keeps working.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;

use super::{ssl, wait_served};
use crate::common::tls::{HttpConn, KeyKind, Pki, TlsClient};
use crate::plugins::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_fails_no_handshake() {
    let env = Env::start().await;
    let pki = Pki::new("strait test CA");
    let gw = &env.gw;
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "upstream": {"nodes": {env.up.addr(): 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");
    let first = pki.server(&["rot.test"], KeyKind::Ecdsa);
    assert_status!(
        gw,
        env.admin.put("/ssls/1", ssl(&first, &["rot.test"])).await,
        201,
        "PUT"
    );
    wait_served(gw, "rot.test", &first).await;

    let client = TlsClient::new(&pki.ca, &[b"http/1.1"], None);
    let mut kept = HttpConn::open(client.handshake(gw.ssl_port, "rot.test").await.unwrap())
        .await
        .unwrap();
    assert_eq!(kept.get("rot.test", "/hello").await.unwrap().status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let port = gw.ssl_port;
    let mut load = Vec::new();
    for _ in 0..4 {
        let (client, stop, ok, errors) = (client.clone(), stop.clone(), ok.clone(), errors.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.get(port, "rot.test", "/hello").await {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => errors.lock().unwrap().push(format!("status {}", r.status)),
                    Err(e) => errors.lock().unwrap().push(e),
                }
            }
        }));
    }
    let mut last = first;
    for i in 0..8 {
        let next = pki.server(&["rot.test"], KeyKind::Ecdsa);
        let r = env.admin.put("/ssls/1", ssl(&next, &["rot.test"])).await;
        assert_status!(gw, r, 200, "rotation {i}");
        wait_served(gw, "rot.test", &next).await;
        last = next;
        // Let the load run on each certificate for a while.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    let served = ok.load(Ordering::Relaxed);
    gw_assert!(
        gw,
        errors.is_empty(),
        "{} of {} requests failed during rotation: {:?}",
        errors.len(),
        served + errors.len(),
        &errors[..errors.len().min(5)]
    );
    gw_assert!(
        gw,
        served >= 40,
        "only {served} requests ran during the rotations"
    );

    // The connection from before the rotations is still open and served.
    let r = kept.get("rot.test", "/hello").await.unwrap();
    gw_assert!(gw, r.status == 200, "kept connection after rotation: {r:?}");
    let h = client.handshake(gw.ssl_port, "rot.test").await.unwrap();
    gw_assert!(
        gw,
        h.peer == last.der,
        "a new handshake gets the last certificate"
    );
}
