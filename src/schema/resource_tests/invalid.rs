//! Bodies every schema must refuse, each with a fragment of the expected
//! error (normally the field it names).

use serde_json::{json, Value};

use super::examples::{cert, key};

/// Bodies that must fail, and a fragment the error must contain (the field it names).
pub fn invalid() -> Vec<(&'static str, Value, &'static str)> {
    let nodes = json!({"127.0.0.1:1980": 1});
    let up = json!({"nodes": nodes});
    let route = |extra: Value| {
        let mut r = json!({"uri": "/a", "upstream_id": 1});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let upstream = |extra: Value| {
        let mut u = json!({"nodes": {"127.0.0.1:1980": 1}});
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        u
    };
    let checks = |c: Value| upstream(json!({"checks": c}));
    let ssl = |extra: Value| {
        let mut s = json!({"cert": cert(), "key": key(), "sni": "t.com"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        s
    };
    vec![
        // APISIX t/admin/schema-validate.t
        ("route", json!({"uri": 666, "upstream": up}), "\"uri\""),
        ("route", json!({"uri": "", "upstream": up}), "\"uri\""),
        (
            "route",
            json!({"uris": "foobar", "upstream": up}),
            "\"uris\"",
        ),
        ("route", json!({"uris": [], "upstream": up}), "\"uris\""),
        (
            "route",
            json!({"uris": ["/foo", "/foo"], "upstream": up}),
            "\"uris\"",
        ),
        ("route", json!({"upstream": up}), "allOf 1"),
        ("route", route(json!({"status": 3})), "\"status\""),
        (
            "route",
            json!({"script": "xxxxxxxxxxxxxxxxxxxxx", "plugin_config_id": "foo"}),
            "allOf 1",
        ),
        (
            "route",
            route(json!({"plugin_config_id": "@@@@@@@@@@@@@@@@"})),
            "\"plugin_config_id\"",
        ),
        // route fields
        (
            "route",
            json!({"uri": "/a", "uris": ["/b"], "upstream_id": 1}),
            "allOf 1",
        ),
        (
            "route",
            route(json!({"host": "a.com", "hosts": ["b.com"]})),
            "allOf 2",
        ),
        (
            "route",
            route(json!({"remote_addr": "10.0.0.1", "remote_addrs": ["10.0.0.2"]})),
            "allOf 3",
        ),
        (
            "route",
            json!({"uri": "/a"}),
            "object matches none of the required",
        ),
        // APISIX's anyOf has no plugin_config_id-only form.
        (
            "route",
            json!({"uri": "/a", "plugin_config_id": "pc"}),
            "object matches none of the required",
        ),
        (
            "route",
            json!({"uri": "/a", "script": "xxxxxxxxxxxx", "plugins": {}}),
            "wasn't supposed to match",
        ),
        ("route", route(json!({"methods": ["GETT"]})), "\"methods\""),
        (
            "route",
            route(json!({"methods": ["GET", "GET"]})),
            "\"methods\"",
        ),
        ("route", route(json!({"urii": "/b"})), "urii"),
        ("route", route(json!({"hosts": ["bad host"]})), "\"hosts\""),
        ("route", route(json!({"hosts": []})), "\"hosts\""),
        ("route", route(json!({"host": "a/b"})), "\"host\""),
        (
            "route",
            route(json!({"remote_addrs": ["10.0.0.0/33"]})),
            "\"remote_addrs\"",
        ),
        (
            "route",
            route(json!({"remote_addr": "not-an-ip"})),
            "\"remote_addr\"",
        ),
        (
            "route",
            route(json!({"remote_addr": "256.0.0.1"})),
            "\"remote_addr\"",
        ),
        (
            "route",
            route(json!({"timeout": {"connect": 1, "send": 1}})),
            "\"timeout\"",
        ),
        (
            "route",
            route(json!({"timeout": {"connect": 1, "send": 0, "read": 1}})),
            "\"timeout\"",
        ),
        (
            "route",
            route(json!({"timeout": {"connect": 1e19, "send": 1, "read": 1}})),
            "\"timeout\"",
        ),
        (
            "route",
            route(json!({"timeout": {"connect": 1, "send": 1, "read": 1, "idle": 1}})),
            "\"timeout\"",
        ),
        ("route", route(json!({"priority": 1.5})), "\"priority\""),
        ("route", route(json!({"priority": "1"})), "\"priority\""),
        (
            "route",
            route(json!({"filter_func": "return true end"})),
            "\"filter_func\"",
        ),
        (
            "route",
            route(json!({"filter_func": "function"})),
            "\"filter_func\"",
        ),
        ("route", route(json!({"script": "short"})), "\"script\""),
        ("route", route(json!({"script_id": ""})), "\"script_id\""),
        (
            "route",
            route(json!({"labels": {"env": "a b"}})),
            "\"labels\"",
        ),
        ("route", route(json!({"labels": {"env": 1}})), "\"labels\""),
        ("route", route(json!({"labels": {"env": ""}})), "\"labels\""),
        ("route", route(json!({"labels": []})), "\"labels\""),
        ("route", route(json!({"name": ""})), "\"name\""),
        ("route", route(json!({"desc": "d".repeat(257)})), "\"desc\""),
        ("route", route(json!({"id": "a/b"})), "\"id\""),
        ("route", route(json!({"id": 0})), "\"id\""),
        ("route", route(json!({"id": ""})), "\"id\""),
        ("route", route(json!({"id": "a".repeat(65)})), "\"id\""),
        ("route", route(json!({"id": 1.5})), "\"id\""),
        (
            "route",
            route(json!({"upstream_id": true})),
            "\"upstream_id\"",
        ),
        (
            "route",
            route(json!({"service_id": "a b"})),
            "\"service_id\"",
        ),
        ("route", route(json!({"vars": "x"})), "\"vars\""),
        ("route", route(json!({"vars": {}})), "\"vars\""),
        (
            "route",
            route(json!({"create_time": "now"})),
            "\"create_time\"",
        ),
        (
            "route",
            route(json!({"update_time": 1.5})),
            "\"update_time\"",
        ),
        (
            "route",
            route(json!({"enable_websocket": "yes"})),
            "\"enable_websocket\"",
        ),
        ("route", route(json!({"plugins": []})), "\"plugins\""),
        ("route", route(json!({"uri": "u".repeat(4097)})), "\"uri\""),
        (
            "route",
            json!({"uris": ["/a", ""], "upstream_id": 1}),
            "\"uris\"",
        ),
        (
            "route",
            json!({"uri": "/a", "upstream": {"nodes": {"a:1": -1}}}),
            "\"upstream\"",
        ),
        (
            "route",
            json!({"uri": "/a", "upstream": {}}),
            "\"upstream\"",
        ),
        ("route", json!([]), "type"),
        // upstream
        (
            "upstream",
            json!({}),
            "should match only one schema, but matches none",
        ),
        (
            "upstream",
            json!({"nodes": nodes, "service_name": "s", "discovery_type": "dns"}),
            "matches both schemas 1 and 2",
        ),
        (
            "upstream",
            json!({"service_name": "s"}),
            "should match only one schema, but matches none",
        ),
        (
            "upstream",
            upstream(json!({"nodes": {"a:80": -1}})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": {"a:80": 1.5}})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": {"a:80": 4294967296u64}})),
            "\"nodes\"",
        ),
        ("upstream", upstream(json!({"nodes": "a:80"})), "\"nodes\""),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a"}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"weight": 1}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a", "weight": 1, "port": 0}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a", "weight": 1, "port": 65536}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a b", "weight": 1}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a", "weight": 1, "priority": 1.5}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a", "weight": 1, "priority": 2147483648u64}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a", "weight": 1, "metadata": 1}]})),
            "\"nodes\"",
        ),
        (
            "upstream",
            upstream(json!({"nodes": [{"host": "a", "weight": 1, "zone": "x"}]})),
            "\"nodes\"",
        ),
        ("upstream", upstream(json!({"type": 1})), "\"type\""),
        (
            "upstream",
            upstream(json!({"hash_on": "ip"})),
            "\"hash_on\"",
        ),
        ("upstream", upstream(json!({"key": 1})), "\"key\""),
        ("upstream", upstream(json!({"scheme": "ftp"})), "\"scheme\""),
        (
            "upstream",
            upstream(json!({"pass_host": "x"})),
            "\"pass_host\"",
        ),
        (
            "upstream",
            upstream(json!({"upstream_host": "bad host"})),
            "\"upstream_host\"",
        ),
        ("upstream", upstream(json!({"retries": -1})), "\"retries\""),
        (
            "upstream",
            upstream(json!({"retries": 4294967296u64})),
            "\"retries\"",
        ),
        (
            "upstream",
            upstream(json!({"retry_timeout": -1})),
            "\"retry_timeout\"",
        ),
        (
            "upstream",
            upstream(json!({"retry_timeout": 1e19})),
            "\"retry_timeout\"",
        ),
        (
            "upstream",
            upstream(json!({"timeout": {"connect": 0, "send": 1, "read": 1}})),
            "\"timeout\"",
        ),
        (
            "upstream",
            upstream(json!({"keepalive_pool": {"size": 0}})),
            "\"size\"",
        ),
        (
            "upstream",
            upstream(json!({"keepalive_pool": {"idle_timeout": -1}})),
            "\"idle_timeout\"",
        ),
        (
            "upstream",
            upstream(json!({"keepalive_pool": {"idle_timeout": 1e10}})),
            "\"idle_timeout\"",
        ),
        (
            "upstream",
            upstream(json!({"keepalive_pool": {"requests": 0}})),
            "\"requests\"",
        ),
        (
            "upstream",
            upstream(json!({"keepalive_pool": {"max": 1}})),
            "found max",
        ),
        (
            "upstream",
            upstream(json!({"tls": {"client_cert": cert()}})),
            "property \"client_key\" is required",
        ),
        (
            "upstream",
            upstream(json!({"tls": {"client_key": key()}})),
            "property \"client_cert\" is required",
        ),
        (
            "upstream",
            upstream(
                json!({"tls": {"client_cert_id": 1, "client_cert": cert(), "client_key": key()}}),
            ),
            "dependent schema for \"client_cert_id\"",
        ),
        (
            "upstream",
            upstream(json!({"tls": {"client_cert": "short", "client_key": key()}})),
            "\"client_cert\"",
        ),
        (
            "upstream",
            upstream(json!({"tls": {"verify": "yes"}})),
            "\"verify\"",
        ),
        (
            "upstream",
            upstream(json!({"tls": {"sni": "a"}})),
            "found sni",
        ),
        (
            "upstream",
            upstream(json!({"discovery_args": {"namespace_id": 1}})),
            "\"namespace_id\"",
        ),
        (
            "upstream",
            json!({"service_name": "", "discovery_type": "dns"}),
            "\"service_name\"",
        ),
        (
            "upstream",
            upstream(json!({"labels": {"a": "b c"}})),
            "\"labels\"",
        ),
        ("upstream", upstream(json!({"foo": 1})), "foo"),
        ("upstream", checks(json!({})), "\"checks\""),
        ("upstream", checks(json!({"passive": {}})), "\"checks\""),
        (
            "upstream",
            checks(json!({"active": {}, "other": {}})),
            "\"checks\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"type": "udp"}})),
            "\"type\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"timeout": -1}})),
            "\"timeout\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"timeout": 1e300}})),
            "\"timeout\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"concurrency": -1}})),
            "\"concurrency\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"port": 0}})),
            "\"port\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"http_method": "FETCH"}})),
            "\"http_method\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"req_headers": []}})),
            "\"req_headers\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"req_headers": [1]}})),
            "\"req_headers\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"healthy": {"successes": 0}}})),
            "\"successes\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"healthy": {"successes": 255}}})),
            "\"successes\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"healthy": {"interval": 0}}})),
            "\"interval\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"healthy": {"http_statuses": []}}})),
            "\"http_statuses\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"healthy": {"http_statuses": [100]}}})),
            "\"http_statuses\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"healthy": {"http_statuses": [200, 200]}}})),
            "\"http_statuses\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"unhealthy": {"tcp_failures": 0}}})),
            "\"tcp_failures\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"unhealthy": {"timeouts": 255}}})),
            "\"timeouts\"",
        ),
        (
            "upstream",
            checks(json!({"active": {"unhealthy": {"http_failures": 0}}})),
            "\"http_failures\"",
        ),
        (
            "upstream",
            checks(json!({"active": {}, "passive": {"type": "grpc"}})),
            "\"type\"",
        ),
        (
            "upstream",
            checks(json!({"active": {}, "passive": {"healthy": {"successes": -1}}})),
            "\"successes\"",
        ),
        (
            "upstream",
            checks(json!({"active": {}, "passive": {"unhealthy": {"timeouts": 255}}})),
            "\"timeouts\"",
        ),
        (
            "upstream",
            checks(json!({"active": {}, "passive": {"unhealthy": {"http_statuses": [600]}}})),
            "\"http_statuses\"",
        ),
        // service
        ("service", json!({"uri": "/a"}), "uri"),
        ("service", json!({"hosts": []}), "\"hosts\""),
        ("service", json!({"host": "a.com"}), "host"),
        ("service", json!({"upstream_id": "a b"}), "\"upstream_id\""),
        ("service", json!({"script": "x"}), "\"script\""),
        ("service", json!({"upstream": {"nodes": 1}}), "\"upstream\""),
        (
            "service",
            json!({"enable_websocket": 1}),
            "\"enable_websocket\"",
        ),
        // consumer
        ("consumer", json!({"plugins": {}}), "username"),
        ("consumer", json!({"username": "ja ck"}), "\"username\""),
        ("consumer", json!({"username": ""}), "\"username\""),
        (
            "consumer",
            json!({"username": "a".repeat(257)}),
            "\"username\"",
        ),
        ("consumer", json!({"username": "jack", "name": "n"}), "name"),
        (
            "consumer",
            json!({"username": "jack", "group_id": "a b"}),
            "\"group_id\"",
        ),
        (
            "consumer",
            json!({"username": "jack", "plugins": []}),
            "\"plugins\"",
        ),
        // credential
        (
            "credential",
            json!({"plugins": {"key-auth": {}, "basic-auth": {}}}),
            "\"plugins\"",
        ),
        (
            "credential",
            json!({"id": "jack/credentials/", "plugins": {}}),
            "\"id\"",
        ),
        ("credential", json!({"id": "a b", "plugins": {}}), "\"id\""),
        (
            "credential",
            json!({"username": "jack", "plugins": {}}),
            "username",
        ),
        // consumer group / plugin config / global rule
        ("consumer_group", json!({"id": "g"}), "plugins"),
        ("consumer_group", json!({"plugins": {}}), "id"),
        (
            "consumer_group",
            json!({"id": "g", "plugins": {}, "name": ""}),
            "\"name\"",
        ),
        ("plugin_config", json!({"plugins": {}}), "id"),
        (
            "plugin_config",
            json!({"id": 1, "plugins": "x"}),
            "\"plugins\"",
        ),
        (
            "plugin_config",
            json!({"id": 1, "plugins": {}, "name": 1}),
            "\"name\"",
        ),
        ("global_rule", json!({"id": 1}), "plugins"),
        ("global_rule", json!({"plugins": {}}), "id"),
        (
            "global_rule",
            json!({"id": 1, "plugins": {}, "name": "n"}),
            "name",
        ),
        (
            "global_rule",
            json!({"id": 1, "plugins": {}, "desc": "d"}),
            "desc",
        ),
        // ssl
        ("ssl", ssl(json!({"sni": null})), "then clause"),
        ("ssl", ssl(json!({"snis": ["a.com"]})), "then clause"),
        ("ssl", ssl(json!({"key": null})), "then clause"),
        (
            "ssl",
            ssl(json!({"type": "client", "cert": null})),
            "else clause",
        ),
        ("ssl", ssl(json!({"type": "proxy"})), "\"type\""),
        ("ssl", ssl(json!({"cert": "short"})), "\"cert\""),
        ("ssl", ssl(json!({"key": "short"})), "\"key\""),
        (
            "ssl",
            ssl(json!({"cert": "c".repeat(64 * 1024 + 1)})),
            "\"cert\"",
        ),
        ("ssl", ssl(json!({"sni": "bad host"})), "\"sni\""),
        ("ssl", ssl(json!({"sni": null, "snis": []})), "\"snis\""),
        ("ssl", ssl(json!({"certs": ["short"]})), "\"certs\""),
        ("ssl", ssl(json!({"keys": "k"})), "\"keys\""),
        ("ssl", ssl(json!({"client": {"depth": 1}})), "\"client\""),
        (
            "ssl",
            ssl(json!({"client": {"ca": cert(), "depth": -1}})),
            "\"client\"",
        ),
        (
            "ssl",
            ssl(json!({"client": {"ca": cert(), "skip_mtls_uri_regex": []}})),
            "\"client\"",
        ),
        ("ssl", ssl(json!({"status": 2})), "\"status\""),
        (
            "ssl",
            ssl(json!({"ssl_protocols": ["TLSv1.0"]})),
            "\"ssl_protocols\"",
        ),
        (
            "ssl",
            ssl(json!({"ssl_protocols": ["TLSv1.2", "TLSv1.2"]})),
            "\"ssl_protocols\"",
        ),
        ("ssl", ssl(json!({"name": "n"})), "name"),
        ("ssl", ssl(json!({"labels": {"k": ""}})), "\"labels\""),
    ]
}
