//! Route tables shared by the benchmarks (included with `#[path]`: each
//! bench is its own crate).

#![allow(dead_code)]

use std::sync::Arc;

use strait::config::store::RawItem;

/// Route `i` of a mixed table: a static path with an inline upstream, a
/// parameter path with methods, a prefix path with exact and wildcard
/// hosts, and a path with a `vars` condition (one in four each).
pub fn route_json(i: usize, upstream_port: u16) -> String {
    match i % 4 {
        0 => format!(
            r#"{{"uri":"/api/v1/svc{i}/items","upstream":{{"nodes":{{"127.0.0.1:{upstream_port}":1}}}}}}"#
        ),
        1 => format!(
            r#"{{"uri":"/users{i}/:id/orders","methods":["GET","POST"],"upstream_id":"1"}}"#
        ),
        2 => format!(
            r#"{{"uri":"/static{i}/*","hosts":["h{i}.example.com","*.w{i}.example.com"],"upstream_id":"1"}}"#
        ),
        _ => format!(r#"{{"uri":"/q{i}","vars":[["arg_v","==","{i}"]],"upstream_id":"1"}}"#),
    }
}

/// `n` routes (as [`route_json`]) and upstream 1, as etcd items.
pub fn store_items(n: usize, upstream_port: u16) -> Vec<RawItem> {
    (0..n)
        .map(|i| RawItem {
            key: format!("/apisix/routes/{i}"),
            value: Arc::from(route_json(i, upstream_port)),
            create_revision: i as i64 + 2,
            mod_revision: i as i64 + 2,
        })
        .chain(std::iter::once(RawItem {
            key: "/apisix/upstreams/1".into(),
            value: Arc::from(format!(r#"{{"nodes":{{"127.0.0.1:{upstream_port}":1}}}}"#)),
            create_revision: 1,
            mod_revision: 1,
        }))
        .collect()
}
