//! Streaming through the gateway: server-sent events flow chunk by chunk as
//! the upstream sends them, and websockets are tunnelled both ways on routes
//! that enable them (and only there).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{etcd_gateway, nodes};
use crate::common::upstream::{SSE_EVENTS, SSE_GAP};
use crate::common::{get, Gateway, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_event_by_event() {
    let up = Upstream::start().await;
    let route = json!({"uri": "/sse", "upstream": {"nodes": nodes(&[(&up, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;

    let started = Instant::now();
    let resp = get(gw.url("/sse")).send_streaming().await.unwrap();
    gw_assert!(
        gw,
        resp.status() == 200
            && resp.headers().get("content-type").map(|v| v.as_bytes())
                == Some(b"text/event-stream".as_slice()),
        "expected a 200 text/event-stream, got {} {:?}",
        resp.status(),
        resp.headers()
    );
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut arrivals = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap_or_else(|e| panic!("stream broke after {text:?}: {e}"));
        if let Some(data) = frame.data_ref() {
            if !data.is_empty() {
                arrivals.push(started.elapsed());
                text.push_str(&String::from_utf8_lossy(data));
            }
        }
    }
    let total = started.elapsed();
    eprintln!("SSE chunk arrivals: {arrivals:?}");
    for i in 0..SSE_EVENTS {
        gw_assert!(
            gw,
            text.contains(&format!("data: event {i}\n\n")),
            "event {i} missing from the stream: {text:?}"
        );
    }
    let first = arrivals.first().copied().unwrap_or(total);
    let last_sent_after = SSE_GAP * (SSE_EVENTS as u32 - 1);
    gw_assert!(
        gw,
        first < Duration::from_millis(600) && total >= last_sent_after,
        "the first event should arrive at once (got {first:?}), before the last is sent ({last_sent_after:?}; stream took {total:?})"
    );
    gw_assert!(
        gw,
        arrivals.len() >= 3,
        "events should arrive as separate chunks, got {} chunk(s) at {arrivals:?}",
        arrivals.len()
    );
}

/// Open a websocket through the gateway with this `Host`.
async fn ws_connect(
    gw: &Gateway,
    host: &str,
) -> Result<
    (
        WebSocketStream<tokio::net::TcpStream>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let mut req = format!("ws://127.0.0.1:{}/ws", gw.proxy_port)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert(http::header::HOST, host.parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.proxy_port))
        .await
        .unwrap();
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async(req, tcp),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => panic!(
            "websocket handshake timed out\n--- gateway log ---\n{}",
            gw.log_tail(40)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_gateway() {
    let up = Upstream::start().await;
    let upstream = json!({"nodes": nodes(&[(&up, 1)])});
    let (_etcd, gw) = etcd_gateway(&[
        (
            "routes/on",
            json!({"uri": "/ws", "host": "ws.on", "enable_websocket": true, "upstream": upstream}),
        ),
        (
            "routes/off",
            json!({"uri": "/ws", "host": "ws.off", "upstream": upstream}),
        ),
    ])
    .await;

    let (mut ws, resp) = ws_connect(&gw, "ws.on").await.unwrap_or_else(|e| {
        panic!(
            "websocket handshake through the gateway failed: {e}\n--- gateway log ---\n{}",
            gw.log_tail(40)
        )
    });
    assert_eq!(resp.status(), 101);
    for text in ["hello over strait", "second message"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        let got = match echoed {
            Ok(Some(Ok(m))) => m.into_text().map(|t| t.to_string()).unwrap_or_default(),
            other => format!("{other:?}"),
        };
        gw_assert!(
            gw,
            got == text,
            "the websocket upstream should echo {text:?}, got {got:?}"
        );
    }
    ws.close(None).await.unwrap();
    assert_eq!(up.count_path("/ws"), 1, "one upgrade request upstream");

    // Without enable_websocket the upgrade is not passed on: a plain request
    // reaches the upstream, which refuses it.
    let refused = ws_connect(&gw, "ws.off").await;
    let status = match &refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Some(r.status().as_u16()),
        _ => None,
    };
    gw_assert!(
        gw,
        status == Some(400),
        "a route without enable_websocket should not upgrade (the upstream answers 400), got {:?}",
        refused.map(|(_, r)| r.status())
    );
}
