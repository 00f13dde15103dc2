"""Writing configuration: the Admin API (what operators use) and, for bulk
loads, etcd's JSON gateway with 128 puts per transaction (etcd's limit)."""

import base64
import json
import urllib.request

from .procs import ADMIN_KEY


def admin_put(strait, path, body):
    """PUT through the Admin API; raises on anything but 200/201."""
    req = urllib.request.Request(
        strait.admin_url(path),
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"X-API-KEY": ADMIN_KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status not in (200, 201):
            raise RuntimeError(f"PUT {path}: {r.status}")


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def etcd_bulk_put(etcd_url, items, prefix="/apisix"):
    """Put `(key suffix, JSON value)` pairs straight into etcd."""
    items = list(items)
    for start in range(0, len(items), 128):
        ops = [
            {"requestPut": {"key": _b64(f"{prefix}{k}"), "value": _b64(json.dumps(v))}}
            for k, v in items[start : start + 128]
        ]
        req = urllib.request.Request(
            etcd_url + "/v3/kv/txn",
            data=json.dumps({"success": ops}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()


def route_with_vars_and_host(i, upstream_id="1"):
    """Route `i` of the many-routes scenarios: a host, a parameter path and
    a `vars` condition, so matching exercises all three."""
    return {
        "uri": f"/svc{i}/:id/items",
        "hosts": [f"h{i}.example.com"],
        "vars": [["arg_v", "==", str(i)]],
        "upstream_id": upstream_id,
    }
