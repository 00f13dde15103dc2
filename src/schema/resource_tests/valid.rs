//! Bodies every schema must accept: APISIX's documented examples, strait's
//! `conf/apisix.yaml` and the resources written by `t/data_plane/*.rs`.

use serde_json::{json, Value};

use super::examples::{cert, key};

/// Bodies that must validate, by resource.
pub fn valid() -> Vec<(&'static str, &'static str, Value)> {
    let nodes = json!({"127.0.0.1:1980": 1});
    let up = json!({"type": "roundrobin", "nodes": nodes});
    vec![
        // docs: apisix.md §1.8
        (
            "route",
            "admin-api route example",
            json!({
                "uri": "/index.html", "hosts": ["foo.com", "*.bar.com"], "remote_addrs": ["127.0.0.0/8"],
                "methods": ["PUT", "GET"], "enable_websocket": true,
                "upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1980": 1}}
            }),
        ),
        // §4.1
        (
            "upstream",
            "force-delete upstream",
            json!({"nodes": {"127.0.0.1:8080": 1}, "type": "roundrobin"}),
        ),
        (
            "route",
            "force-delete route",
            json!({"uri": "/*", "upstream_id": 1}),
        ),
        (
            "route",
            "stored route value",
            json!({
                "priority": 0, "upstream_id": 1, "uri": "/*", "create_time": 1689038794,
                "id": "1", "status": 1, "update_time": 1689038916
            }),
        ),
        // §4.2
        (
            "upstream",
            "health-check example",
            json!({
                "type": "chash", "hash_on": "header", "key": "X-User", "retries": 2, "retry_timeout": 5,
                "timeout": {"connect": 3, "send": 3, "read": 10}, "scheme": "https",
                "pass_host": "rewrite", "upstream_host": "api.internal",
                "nodes": [{"host": "10.0.0.1", "port": 443, "weight": 100, "priority": 1},
                          {"host": "10.0.0.2", "port": 443, "weight": 100, "priority": 0}],
                "checks": {"active": {"type": "https", "http_path": "/healthz",
                                      "healthy": {"interval": 2, "successes": 2},
                                      "unhealthy": {"interval": 1, "http_failures": 3}},
                           "passive": {"unhealthy": {"http_statuses": [500, 502, 503], "http_failures": 3}}},
                "keepalive_pool": {"size": 320, "idle_timeout": 60, "requests": 1000}
            }),
        ),
        // §1.9
        (
            "service",
            "service example",
            json!({
                "name": "svc", "desc": "shared backend", "labels": {"env": "prod"}, "plugins": {},
                "upstream_id": "1", "enable_websocket": true, "hosts": ["a.com"]
            }),
        ),
        (
            "service",
            "service with inline upstream and script",
            json!({
                "upstream": up, "script": "local _M = {} return _M"
            }),
        ),
        (
            "consumer",
            "consumer example",
            json!({
                "username": "jack", "group_id": "g1", "desc": "a client", "labels": {"team": "a"},
                "plugins": {"key-auth": {"key": "auth-one"}}
            }),
        ),
        (
            "credential",
            "credential example",
            json!({"plugins": {"key-auth": {"key": "auth-one"}}}),
        ),
        (
            "credential",
            "credential with path id and metadata",
            json!({
                "id": "jack/credentials/auth-one", "name": "one", "desc": "d", "labels": {"k": "v"},
                "plugins": {"key-auth": {"key": "auth-one"}}
            }),
        ),
        (
            "credential",
            "credential with plain id",
            json!({"id": "auth-one", "plugins": {}}),
        ),
        (
            "consumer_group",
            "consumer group",
            json!({
                "id": "g1", "name": "gold", "desc": "d", "labels": {"tier": "gold"},
                "plugins": {"limit-count": {"count": 2, "time_window": 60}}
            }),
        ),
        (
            "plugin_config",
            "plugin config",
            json!({
                "id": 1, "name": "", "desc": "d", "labels": {"k": "v"}, "plugins": {"cors": {}}
            }),
        ),
        (
            "global_rule",
            "global rule",
            json!({"id": "1", "plugins": {"prometheus": {}}}),
        ),
        (
            "ssl",
            "server ssl with snis",
            json!({"cert": cert(), "key": key(), "snis": ["t.com", "*.t.com"]}),
        ),
        (
            "ssl",
            "server ssl with sni and extras",
            json!({
                "type": "server", "cert": cert(), "key": key(), "sni": "t.com",
                "certs": [cert()], "keys": [key()],
                "client": {"ca": cert(), "depth": 2, "skip_mtls_uri_regex": ["/health.*"]},
                "status": 0, "ssl_protocols": ["TLSv1.2", "TLSv1.3"], "desc": "d", "labels": {"k": "v"}
            }),
        ),
        (
            "ssl",
            "client ssl",
            json!({"type": "client", "cert": cert(), "key": key()}),
        ),
        // conf/apisix.yaml and t/data_plane/standalone.rs
        (
            "route",
            "apisix.yaml route",
            json!({"id": "hello", "uri": "/hello", "upstream_id": 1}),
        ),
        (
            "upstream",
            "apisix.yaml upstream",
            json!({"id": 1, "type": "roundrobin", "nodes": nodes}),
        ),
        (
            "route",
            "standalone route",
            json!({"id": 1, "uri": "/hello", "upstream": up}),
        ),
        // t/data_plane/*.rs
        (
            "route",
            "balancer weights",
            json!({"uri": "/server_port", "upstream": {
            "type": "roundrobin", "nodes": {"127.0.0.1:1980": 3, "127.0.0.1:1981": 1}}}),
        ),
        (
            "route",
            "balancer chash",
            json!({"uri": "/server_port", "upstream": {
            "type": "chash", "hash_on": "vars", "key": "arg_user", "nodes": nodes}}),
        ),
        (
            "route",
            "balancer least_conn",
            json!({"uri": "/server_port", "upstream": {"type": "least_conn", "nodes": nodes}}),
        ),
        (
            "route",
            "balancer ewma",
            json!({"uri": "/server_port", "upstream": {"type": "ewma", "nodes": nodes}}),
        ),
        (
            "route",
            "node priorities",
            json!({"uri": "/server_port", "upstream": {"type": "roundrobin", "nodes": [
            {"host": "127.0.0.1", "port": 1980, "weight": 1, "priority": 1},
            {"host": "127.0.0.1", "port": 1981, "weight": 100, "priority": 0}]}}),
        ),
        ("upstream", "config_sync upstream", json!({"nodes": nodes})),
        (
            "route",
            "config_sync route by upstream id",
            json!({"uri": "/server_port", "upstream_id": "u1"}),
        ),
        (
            "service",
            "config_sync service",
            json!({"hosts": ["one.example.com"], "upstream": {"nodes": nodes}}),
        ),
        (
            "route",
            "config_sync route by service",
            json!({"uri": "/svc", "service_id": "s1"}),
        ),
        (
            "route",
            "pass_host pass",
            json!({"uri": "/echo/pass", "upstream": {"nodes": nodes, "pass_host": "pass"}}),
        ),
        (
            "route",
            "pass_host node",
            json!({"uri": "/echo/node", "upstream": {"nodes": nodes, "pass_host": "node"}}),
        ),
        (
            "route",
            "pass_host rewrite",
            json!({"uri": "/echo/rewrite", "upstream": {
            "nodes": nodes, "pass_host": "rewrite", "upstream_host": "rewritten.internal"}}),
        ),
        (
            "route",
            "https upstream",
            json!({"uri": "/secure", "upstream": {"scheme": "https", "nodes": nodes,
            "pass_host": "rewrite", "upstream_host": "localhost"}}),
        ),
        (
            "route",
            "https upstream verified",
            json!({"uri": "/verified", "upstream": {"scheme": "https",
            "nodes": nodes, "pass_host": "rewrite", "upstream_host": "localhost", "tls": {"verify": true}}}),
        ),
        (
            "route",
            "invalid_config methods body (valid methods)",
            json!({"uri": "/v", "methods": ["GET"], "upstream": {"nodes": nodes}}),
        ),
        (
            "route",
            "resilience desc",
            json!({"uri": "/a", "desc": "v1", "upstream": {"nodes": nodes}}),
        ),
        (
            "route",
            "router priority",
            json!({"uri": "/prio*", "priority": 2, "upstream": up}),
        ),
        (
            "route",
            "router param",
            json!({"uri": "/user/:id", "upstream": up}),
        ),
        (
            "route",
            "router star param",
            json!({"uri": "/files/*path", "upstream": up}),
        ),
        (
            "route",
            "router wildcard hosts",
            json!({"uri": "/host", "hosts": ["*.example.com"], "upstream": up}),
        ),
        (
            "route",
            "router exact host",
            json!({"uri": "/host", "host": "api.example.com", "upstream": up}),
        ),
        (
            "route",
            "router high priority",
            json!({"uri": "/hb", "priority": 100, "upstream": up}),
        ),
        (
            "route",
            "router methods",
            json!({"uri": "/methods", "methods": ["GET", "POST"], "upstream": up}),
        ),
        (
            "route",
            "router remote_addrs",
            json!({"uri": "/remote", "remote_addrs": ["127.0.0.0/8"], "upstream": up}),
        ),
        (
            "route",
            "router remote_addr",
            json!({"uri": "/ra", "remote_addr": "10.0.0.0/8", "priority": 10, "upstream": up}),
        ),
        (
            "route",
            "router remote_addrs ip",
            json!({"uri": "/ra", "remote_addrs": ["127.0.0.1"], "upstream": up}),
        ),
        (
            "route",
            "router vars",
            json!({"uri": "/vars/ua", "vars": [["http_user_agent", "~*", "android"]], "upstream": up}),
        ),
        (
            "route",
            "router vars not",
            json!({"uri": "/vars/not", "vars": [["http_user_agent", "!", "~*", "android"]], "upstream": up}),
        ),
        (
            "route",
            "router vars or",
            json!({"uri": "/vars/or", "vars": ["OR", ["arg_a", "==", "1"], ["http_x_b", "==", "2"]], "upstream": up}),
        ),
        (
            "route",
            "router disabled",
            json!({"uri": "/disabled", "status": 0, "upstream": up}),
        ),
        (
            "service",
            "router service",
            json!({"hosts": ["svc.example.com"], "upstream_id": "up-b"}),
        ),
        (
            "route",
            "websocket on",
            json!({"uri": "/ws", "host": "ws.on", "enable_websocket": true, "upstream": {"nodes": nodes}}),
        ),
        (
            "route",
            "no retries",
            json!({"uri": "/noretry", "upstream": {"nodes": nodes, "retries": 0}}),
        ),
        (
            "route",
            "passive health check",
            json!({"uri": "/hello", "upstream": {
            "type": "roundrobin", "nodes": nodes, "retries": 0,
            "checks": {"active": {"http_path": "/status/204", "healthy": {"interval": 100}, "unhealthy": {"interval": 100}},
                       "passive": {"unhealthy": {"http_statuses": [500], "http_failures": 2}}}}}),
        ),
        (
            "route",
            "read timeout",
            json!({"uri": "/slow", "timeout": {"connect": 1, "send": 1, "read": 0.5},
            "upstream": {"nodes": nodes}}),
        ),
        // APISIX t/admin/schema-validate.t TEST 1
        (
            "route",
            "schema-validate ok",
            json!({"uri": "/httpbin/*", "upstream": {
            "scheme": "https", "type": "roundrobin", "nodes": {"nghttp2.org": 1}}}),
        ),
        // Declared fields whose use strait refuses semantically, not by schema.
        (
            "route",
            "filter_func declared",
            json!({"uri": "/f", "upstream_id": 1,
            "filter_func": "function(vars) return vars.arg_name == 'json' end"}),
        ),
        (
            "route",
            "script declared",
            json!({"uri": "/s", "script": "local _M = {} return _M", "script_id": "s1"}),
        ),
        (
            "upstream",
            "discovery declared",
            json!({"service_name": "svc", "discovery_type": "dns",
            "discovery_args": {"namespace_id": "ns", "group_name": "g"}}),
        ),
        (
            "upstream",
            "upstream mTLS inline",
            json!({"nodes": nodes, "tls": {"client_cert": cert(), "client_key": key()}}),
        ),
        (
            "upstream",
            "upstream mTLS by id",
            json!({"nodes": nodes, "tls": {"client_cert_id": 1}}),
        ),
        (
            "route",
            "every field",
            json!({
                "id": "r-1.a_b", "name": "n", "desc": "d", "labels": {"a": "b", "c": "d1"},
                "create_time": 1, "update_time": 2, "uris": ["/a", "/b/*"], "priority": -5,
                "methods": ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"],
                "hosts": ["a.com", "*", "[::1]:80"], "remote_addrs": ["10.0.0.1", "10.0.0.0/8", "::1", "fe80::/10"],
                "timeout": {"connect": 1, "send": 2, "read": 31536000}, "vars": [],
                "plugins": {"limit-count": {}}, "plugin_config_id": "pc", "upstream": up,
                "service_id": 7, "upstream_id": "u", "enable_websocket": false, "status": 1
            }),
        ),
        ("route", "plugins only", json!({"uri": "/p", "plugins": {}})),
        ("upstream", "empty nodes object", json!({"nodes": {}})),
        ("upstream", "empty nodes array", json!({"nodes": []})),
        (
            "upstream",
            "every health-check field",
            json!({"nodes": nodes, "checks": {
            "active": {"type": "tcp", "timeout": 0.5, "concurrency": 2, "host": "h.local", "port": 8080,
                "http_method": "HEAD", "http_path": "/h", "http_req_body": "x", "https_verify_certificate": false,
                "req_headers": ["X-A: 1"],
                "healthy": {"interval": 3, "http_statuses": [200], "successes": 254},
                "unhealthy": {"interval": 3, "http_statuses": [500], "http_failures": 1, "tcp_failures": 1, "timeouts": 1}},
            "passive": {"type": "http", "healthy": {"http_statuses": [200], "successes": 0},
                "unhealthy": {"http_statuses": [599], "tcp_failures": 0, "timeouts": 0, "http_failures": 0}}}}),
        ),
    ]
}
