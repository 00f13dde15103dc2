"""The scenarios of `make bench`. Each returns rows for the results table and
the figures the goals are judged by. Candidates compared in one scenario run
back to back in every repetition, in rotating order, so drift on a shared
host does not favour one of them."""

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from . import config_io, stats, wrk
from .procs import CLIENT_CORE, rss_kib, start_litellm, wait_http


@dataclass
class Row:
    scenario: str
    candidate: str
    rps: stats.Series
    p50: stats.Series
    p99: stats.Series
    baseline: str = ""
    ratio: float = float("nan")
    note: str = ""


@dataclass
class Bench:
    """What every scenario shares."""

    strait: object
    nginx_pid: int
    etcd_url: str
    upstream_port: int
    nginx_port: int
    seconds: int
    repeat: int
    connections: int = 50
    # The fake upstream again, on the proxy core (scenario 3); 0 when not started.
    far_upstream_port: int = 0
    # The paced SSE mock of bench/llm_stream.rs (scenario 8), started by that
    # bench, and nginx's unbuffered proxy to it.
    stream_port: int = 0
    nginx_stream_port: int = 0
    # Scenario 9: nginx's TLS port and the (cert, key) both proxies serve.
    nginx_tls_port: int = 0
    tls: tuple = ()
    rows: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    commands: list = field(default_factory=list)

    def direct_url(self, path):
        return f"http://127.0.0.1:{self.upstream_port}{path}"

    def nginx_url(self, path):
        return f"http://127.0.0.1:{self.nginx_port}{path}"


def _rotating(bench, candidates, connections=None, during=None, cpu_pids=None, script=None):
    """Run every candidate `(name, url, headers)` `repeat` times, rotating the
    order; returns {name: [WrkRun]}. `cpu_pids` maps a candidate to the
    process whose CPU time per request is recorded; `script` is a wrk script
    for every run."""
    runs = {name: [] for name, _, _ in candidates}
    for i in range(bench.repeat):
        k = i % len(candidates)
        for name, url, headers in candidates[k:] + candidates[:k]:
            r = wrk.run(
                url,
                bench.seconds,
                connections=connections or bench.connections,
                headers=headers,
                during=during.get(name) if during else None,
                cpu_pid=(cpu_pids or {}).get(name),
                script=script,
            )
            if r.failed:
                raise RuntimeError(f"{name}: {r.failed} failed requests ({' '.join(r.command)})")
            runs[name].append(r)
    for name, url, headers in candidates:
        cmd = " ".join(runs[name][0].command)
        if cmd not in bench.commands:
            bench.commands.append(cmd)
    return runs


def _row(scenario, name, runs, baseline="", base_runs=None, note=""):
    row = Row(scenario, name, stats.of(runs, "rps"), stats.of(runs, "p50"), stats.of(runs, "p99"))
    if base_runs:
        row.baseline = baseline
        row.ratio = row.rps.median / stats.of(base_runs, "rps").median
    cpu = stats.of(runs, "cpu_us")
    if runs and runs[0].cpu_us == runs[0].cpu_us:  # measured (not NaN)
        kernel = stats.of(runs, "sys_us").median
        note = (note + "; " if note else "") + (
            f"proxy CPU {cpu.median:.1f} µs/request ({kernel:.1f} in the kernel)"
        )
    row.note = note
    return row


def setup_routes(bench):
    """Upstream 1 (the fake upstream, keep-alive) and the routes the
    throughput scenarios use."""
    s = bench.strait
    config_io.admin_put(
        s,
        "/upstreams/1",
        {
            "nodes": {f"127.0.0.1:{bench.upstream_port}": 1},
            "keepalive_pool": {"size": 320, "idle_timeout": 60, "requests": 1000000},
        },
    )
    config_io.admin_put(s, "/routes/plain", {"uri": "/hello", "upstream_id": "1"})
    config_io.admin_put(
        s,
        "/routes/limit",
        {
            "uri": "/limited",
            "upstream_id": "1",
            "plugins": {
                "limit-count": {"count": 1000000000, "time_window": 60, "rejected_code": 503},
                "prometheus": {},
            },
        },
    )
    config_io.admin_put(s, "/consumers", {"username": "bench", "plugins": {"key-auth": {"key": "bench-key"}}})
    config_io.admin_put(
        s, "/routes/keyauth", {"uri": "/keyed", "upstream_id": "1", "plugins": {"key-auth": {}}}
    )
    config_io.admin_put(
        s, "/routes/lua", {"uri": "/lua", "upstream_id": "1", "plugins": {"bench-trivial": {}}}
    )
    # Scenario 8: ai-proxy to the fake upstream's fixed chat completion.
    config_io.admin_put(
        s,
        "/routes/ai",
        {
            "uri": "/v1/chat/completions",
            "plugins": {
                "ai-proxy": {
                    "provider": "openai-compatible",
                    "auth": {"header": {"Authorization": "Bearer sk-upstream"}},
                    "override": {
                        "endpoint": f"http://127.0.0.1:{bench.upstream_port}/v1/chat/completions"
                    },
                }
            },
        },
    )
    # Scenario 8, streaming: ai-proxy to the paced SSE mock bench/llm_stream.rs starts.
    config_io.admin_put(
        s,
        "/routes/ai-paced",
        {
            "uri": "/paced/v1/chat/completions",
            "plugins": {
                "ai-proxy": {
                    "provider": "openai-compatible",
                    "auth": {"header": {"Authorization": "Bearer sk-upstream"}},
                    "override": {
                        "endpoint": f"http://127.0.0.1:{bench.stream_port}/v1/chat/completions"
                    },
                }
            },
        },
    )
    for path, headers in [("/hello", {}), ("/limited", {}), ("/keyed", {"apikey": "bench-key"}), ("/lua", {})]:
        wait_http(s.url(path), expect=200, headers=headers)


def tls(bench):
    """9. HTTPS (TLS 1.3, keep-alive): strait vs its own HTTP and vs nginx with the same certificate."""
    s = bench.strait
    cert, key = bench.tls
    config_io.admin_put(
        s, "/ssls/bench", {"cert": cert.read_text(), "key": key.read_text(), "snis": ["bench.test"]}
    )
    wait_http_tls = f"https://127.0.0.1:{bench.nginx_tls_port}/hello"
    runs = _rotating(
        bench,
        [
            ("strait-http", s.url("/hello"), ()),
            ("strait-https", s.tls_url("/hello"), ()),
            ("nginx-https", wait_http_tls, ()),
        ],
        cpu_pids={"strait-http": s.pid, "strait-https": s.pid, "nginx-https": bench.nginx_pid},
    )
    scen = "9. TLS"
    bench.rows.append(_row(scen, "strait, HTTP", runs["strait-http"]))
    https = _row(scen, "strait, HTTPS", runs["strait-https"], "strait HTTP", runs["strait-http"])
    nginx = _row(scen, "nginx, HTTPS (same certificate)", runs["nginx-https"])
    vs_nginx = https.rps.median / nginx.rps.median
    https.note = (https.note + "; " if https.note else "") + f"{vs_nginx:.3f} × nginx HTTPS"
    bench.rows += [https, nginx]
    bench.figures["https_vs_http"] = https.ratio
    bench.figures["https_vs_nginx"] = vs_nginx


def core_ratio(bench):
    """1. direct upstream, nginx proxy_pass, strait without plugins."""
    peak_rss = []

    def sample():
        peak_rss.append(rss_kib(bench.strait.pid))

    runs = _rotating(
        bench,
        [
            ("direct", bench.direct_url("/hello"), ()),
            ("nginx", bench.nginx_url("/hello"), ()),
            ("strait", bench.strait.url("/hello"), ()),
        ],
        during={"strait": sample},
        cpu_pids={"strait": bench.strait.pid, "nginx": bench.nginx_pid},
    )
    direct = stats.of(runs["direct"], "rps").median
    rows = [_row("1. core ratio", "direct upstream", runs["direct"])]
    for name, label in [("nginx", "nginx proxy_pass"), ("strait", "strait, 1 route, no plugins")]:
        rps = stats.of(runs[name], "rps").median
        note = ""
        if rps >= 0.95 * direct:
            note = "client/upstream-bound: proxied ≈ direct, the proxy is not what is measured"
        base = "nginx" if name == "strait" else "direct"
        rows.append(_row("1. core ratio", label, runs[name], base, runs[base], note))
    bench.rows += rows
    bench.figures["strait_vs_nginx"] = rows[2].ratio
    bench.figures["rss_load_kib"] = max(peak_rss) if peak_rss else 0
    bench.figures["plain_runs"] = runs["strait"]


def plugins(bench):
    """2. plugins, each as a ratio to the same gateway's route without plugins."""
    runs = _rotating(
        bench,
        [
            ("plain", bench.strait.url("/hello"), ()),
            ("limit", bench.strait.url("/limited"), ()),
            ("keyauth", bench.strait.url("/keyed"), ("apikey: bench-key",)),
            ("lua", bench.strait.url("/lua"), ()),
        ],
        cpu_pids={n: bench.strait.pid for n in ("plain", "limit", "keyauth", "lua")},
    )
    scen = "2. plugins"
    bench.rows.append(_row(scen, "strait, no plugins", runs["plain"]))
    lc = _row(scen, "strait, limit-count + prometheus", runs["limit"], "no plugins", runs["plain"])
    ka = _row(scen, "strait, key-auth", runs["keyauth"], "no plugins", runs["plain"])
    lua = _row(scen, "strait, trivial Lua plugin (access)", runs["lua"], "no plugins", runs["plain"])
    bench.rows += [lc, ka, lua]
    bench.figures["limit_vs_plain"] = lc.ratio
    bench.figures["lua_vs_plain"] = lua.ratio


def latency(bench):
    """3. one connection: added latency over direct."""
    candidates = [
        ("direct", bench.direct_url("/hello"), ()),
        ("nginx", bench.nginx_url("/hello"), ()),
        ("strait", bench.strait.url("/hello"), ()),
    ]
    if bench.far_upstream_port:
        far = f"http://127.0.0.1:{bench.far_upstream_port}/hello"
        candidates.append(("far", far, ()))
    runs = _rotating(bench, candidates, connections=1)
    scen = "3. latency, 1 connection"
    d50 = stats.of(runs["direct"], "p50").median
    d99 = stats.of(runs["direct"], "p99").median
    bench.rows.append(_row(scen, "direct upstream", runs["direct"]))
    if "far" in runs:
        # What crossing cores costs on this machine, with no proxy at all: a
        # proxied request crosses twice as often (client → proxy → upstream
        # and back) as this one (client → upstream and back).
        p50 = stats.of(runs["far"], "p50").median
        p99 = stats.of(runs["far"], "p99").median
        note = (
            f"the machine's cost of crossing cores: p50 +{(p50 - d50) * 1000:.0f} µs, "
            f"p99 +{(p99 - d99) * 1000:.0f} µs for 2 crossings; a proxy adds 4"
        )
        bench.rows.append(_row(scen, "direct, upstream on the proxy core", runs["far"], "direct", runs["direct"], note))
        bench.figures["cross_core_p50_us"] = (p50 - d50) * 1000
    for name, label in [("nginx", "nginx proxy_pass"), ("strait", "strait, no plugins")]:
        p50 = stats.of(runs[name], "p50").median
        p99 = stats.of(runs[name], "p99").median
        note = f"added: p50 +{(p50 - d50) * 1000:.0f} µs, p99 +{(p99 - d99) * 1000:.0f} µs"
        bench.rows.append(_row(scen, label, runs[name], "direct", runs["direct"], note))
        bench.figures[f"added_p99_us_{name}"] = (p99 - d99) * 1000
        bench.figures[f"added_p50_us_{name}"] = (p50 - d50) * 1000


def churn(bench):
    """5. 10 route changes per second through the Admin API during load."""
    stop = threading.Event()
    writes = {"ok": 0, "failed": 0}

    def writer():
        i = 0
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                config_io.admin_put(
                    bench.strait,
                    f"/routes/churn{i % 10}",
                    {"uri": f"/churn{i % 10}", "desc": f"change {i}", "upstream_id": "1"},
                )
                writes["ok"] += 1
            except Exception:  # counted, reported
                writes["failed"] += 1
            i += 1
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.monotonic()))

    quiet = []
    churned = []
    for _ in range(bench.repeat):
        quiet.append(wrk.run(bench.strait.url("/hello"), bench.seconds, bench.connections))
        stop.clear()
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        churned.append(wrk.run(bench.strait.url("/hello"), bench.seconds, bench.connections))
        stop.set()
        t.join()
    failed = sum(r.failed for r in churned)
    scen = "5. config churn"
    bench.rows.append(_row(scen, "strait, no churn", quiet))
    bench.rows.append(
        _row(
            scen,
            "strait, 10 route changes/s",
            churned,
            "no churn",
            quiet,
            f"{failed} failed requests; {writes['ok']} Admin API writes ({writes['failed']} failed); "
            f"p99 {stats.of(churned, 'p99').median:.2f} ms vs {stats.of(quiet, 'p99').median:.2f} ms",
        )
    )
    bench.figures["churn_failed"] = failed + writes["failed"]


def many_routes(bench, count=10000):
    """4. 10,000 routes with vars and hosts: throughput vs 1 route. Also
    7. memory with those routes loaded."""
    config_io.etcd_bulk_put(
        bench.etcd_url,
        ((f"/routes/many{i}", config_io.route_with_vars_and_host(i)) for i in range(count)),
    )
    probe = count // 2
    url = bench.strait.url(f"/svc{probe}/42/items?v={probe}")
    host = (f"Host: h{probe}.example.com",)
    last = count - 1
    wait_http(
        bench.strait.url(f"/svc{last}/1/items?v={last}"),
        timeout=120,
        expect=200,
        headers={"Host": f"h{last}.example.com"},
    )
    time.sleep(2)
    bench.figures["rss_routes_kib"] = rss_kib(bench.strait.pid)
    runs = _rotating(bench, [("one", bench.strait.url("/hello"), ()), ("many", url, host)])
    scen = f"4. {count:,} routes"
    bench.rows.append(_row(scen, "strait, 1 route matched (static)", runs["one"]))
    bench.rows.append(
        _row(scen, f"strait, {count:,} routes (host + parameter path + vars)", runs["many"], "1 route", runs["one"])
    )


_RELOAD_LINE = re.compile(r"^(.*): n=(\d+) p50=([\d.]+)ms p99=([\d.]+)ms max=([\d.]+)ms$")


def reload_bench(bench, routes, writes):
    """6. Admin-API write → first request served by it (bench/reload.rs)."""
    env = dict(os.environ, STRAIT_BENCH_ROUTES=str(routes), STRAIT_BENCH_WRITES=str(writes))
    cmd = ["cargo", "bench", "--bench", "reload"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    bench.commands.append(f"STRAIT_BENCH_ROUTES={routes} STRAIT_BENCH_WRITES={writes} " + " ".join(cmd))
    results = []
    for line in out.splitlines():
        m = _RELOAD_LINE.match(line.strip())
        if m:
            results.append((m.group(1), int(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(5))))
    bench.figures["reload"] = results
    for label, n, p50, p99, mx in results:
        if label.startswith("end-to-end, Admin API PUT -> first 200 with 1 routes"):
            bench.figures["admin_p99_ms"] = p99
        if label.startswith(f"end-to-end, Admin API PUT -> first 200 with {routes} routes"):
            bench.figures["admin_big_p99_ms"] = p99
            bench.figures["big_routes"] = routes
    return results


_CRITERION = re.compile(r"^(\S+)\s+time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", re.M)


def micro(bench, names=("router", "hot_paths")):
    """Criterion micro-benchmarks of the hot pure functions."""
    for name in names:
        cmd = ["cargo", "bench", "--bench", name]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        bench.commands.append(" ".join(cmd))
        # Criterion prints a long name alone on its line, the time on the next.
        text = re.sub(r"^(\S+)\n\s+time:", r"\1 time:", out, flags=re.M)
        for m in _CRITERION.finditer(text):
            bench.figures.setdefault("micro", []).append(m.groups())


def _check_chat(url):
    """One chat completion through `url` must answer 200 (the route is live)."""
    body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}]}'
    deadline = time.monotonic() + 10
    while True:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: no chat completion: {e}") from e
        time.sleep(0.05)


def llm(bench):
    """8. LLM: a chat completion direct to the mock and through LiteLLM."""
    scen = "8. LLM chat completion"
    candidates = [
        ("direct", bench.direct_url("/v1/chat/completions"), ()),
        ("strait", bench.strait.url("/v1/chat/completions"), ()),
    ]
    _check_chat(bench.strait.url("/v1/chat/completions"))
    # Started only now: an idle Python process on the proxy core would
    # disturb the other scenarios.
    litellm = start_litellm(bench.strait.procs, bench.upstream_port)
    if litellm:
        url = f"http://127.0.0.1:{litellm[0]}/v1/chat/completions"
        candidates.append(("litellm", url, ()))
    try:
        # LiteLLM serves hundreds of requests/s at most: 16 connections keep
        # it saturated without queueing seconds of latency.
        runs = _rotating(
            bench,
            candidates,
            connections=16,
            script="chat_completion.lua",
            cpu_pids={"strait": bench.strait.pid},
        )
    finally:
        if litellm:
            bench.strait.procs.stop(litellm[1])
    bench.rows.append(_row(scen, "direct to the mock", runs["direct"]))
    if "litellm" in runs:
        bench.rows.append(
            _row(scen, "LiteLLM proxy, 1 worker", runs["litellm"], "direct", runs["direct"])
        )
    else:
        bench.rows.append(
            Row(scen, "LiteLLM proxy, 1 worker", stats.Series([]), stats.Series([]), stats.Series([]),
                note="not installed: .ci/install-deps.sh --bench")
        )
    bench.rows.append(_row(scen, "strait ai-proxy", runs["strait"], "direct", runs["direct"]))
    if "litellm" in runs:
        bench.figures["ai_proxy_vs_litellm"] = (
            stats.of(runs["strait"], "rps").median / stats.of(runs["litellm"], "rps").median
        )
    llm_latency(bench)
    llm_stream(bench)


def llm_latency(bench):
    """The chat completion at one connection: what ai-proxy adds."""
    scen = "8. LLM, 1 connection"
    candidates = [
        ("direct", bench.direct_url("/v1/chat/completions"), ()),
        ("strait", bench.strait.url("/v1/chat/completions"), ()),
    ]
    runs = _rotating(bench, candidates, connections=1, script="chat_completion.lua")
    d50 = stats.of(runs["direct"], "p50").median
    d99 = stats.of(runs["direct"], "p99").median
    p50 = stats.of(runs["strait"], "p50").median
    p99 = stats.of(runs["strait"], "p99").median
    bench.rows.append(_row(scen, "direct to the mock", runs["direct"]))
    note = f"added: p50 +{(p50 - d50) * 1000:.0f} µs, p99 +{(p99 - d99) * 1000:.0f} µs"
    bench.rows.append(_row(scen, "strait ai-proxy", runs["strait"], "direct", runs["direct"], note))
    bench.figures["llm_added_p50_us"] = (p50 - d50) * 1000
    bench.figures["llm_added_p99_us"] = (p99 - d99) * 1000


def llm_stream(bench):
    """Streaming through ai-proxy against a paced SSE mock (bench/llm_stream.rs)."""
    requests = 100 if bench.seconds < 10 else 300
    cmd = [
        "taskset", "-c", CLIENT_CORE, "cargo", "bench", "--bench", "llm_stream", "--",
        "--port", str(bench.stream_port),
        "--strait", bench.strait.url("/paced/v1/chat/completions"),
        "--nginx", f"http://127.0.0.1:{bench.nginx_stream_port}/v1/chat/completions",
        "--requests", str(requests), "--chunks", "20", "--pace-ms", "2",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    bench.commands.append(" ".join(cmd))
    lines = [line for line in out.splitlines() if line.startswith("{")]
    bench.figures["llm_stream"] = json.loads(lines[-1])

