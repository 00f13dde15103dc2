//! The integration-test harness: a real etcd ([`etcd`]), the gateway binary
//! ([`gateway`]), fake upstreams ([`upstream`]) and a small HTTP client
//! ([`client`]), plus free-port allocation and assertion helpers.

// Each test uses a different part of the harness; unused items are expected.
#![allow(dead_code)]

/// Assert with a message that ends with the tail of the gateway's log.
macro_rules! gw_assert {
    ($gw:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            panic!(
                "{}\n--- gateway log (last 40 lines) ---\n{}",
                format!($($arg)+),
                $gw.log_tail(40)
            );
        }
    };
}

/// Assert a response's status, showing the body and the gateway log on failure.
macro_rules! assert_status {
    ($gw:expr, $resp:expr, $status:expr, $($ctx:tt)+) => {{
        let r: &$crate::common::Resp = &$resp;
        gw_assert!(
            $gw,
            r.status == $status,
            "{}: expected status {}, got {} with body {:?}",
            format!($($ctx)+),
            $status,
            r.status,
            r.body
        );
    }};
}

// The modules come after the macros: `macro_rules!` scoping is textual.
pub mod client;
pub mod etcd;
pub mod gateway;
pub mod mock_anthropic;
pub mod mock_embeddings;
pub mod mock_gemini;
pub mod mock_llm;
pub mod mock_ollama;
pub mod tls;
pub mod upstream;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

pub use client::{get, request, Resp};
pub use etcd::Etcd;
pub use gateway::{wait_until, Gateway, GatewayOpts, ADMIN_KEY, VIEWER_KEY};
pub use upstream::{closed_port, Upstream, UpstreamOpts};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that is free now.
///
/// Picked at random below the kernel's ephemeral range (32768+), so the
/// outgoing connections of parallel tests never take it in the meantime, and
/// never handed out twice by this process.
pub fn free_port() -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    loop {
        let port = fastrand::u16(20_000..32_000);
        if handed.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.insert(port);
            return port;
        }
    }
}
