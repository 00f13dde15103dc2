"""Processes under test: etcd, the fake upstream (nginx), nginx as a proxy
baseline and strait, each pinned to a core with taskset and stopped on exit."""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

# Core layout on a 2-core machine: the proxies (strait or nginx) get core 0;
# the load generator and the fake upstream share core 1.
PROXY_CORE = "0"
CLIENT_CORE = "1"

CHAT_COMPLETION = (
    '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,'
    '"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",'
    '"content":"Hello from the mock."},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}'
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30.0, expect=None, headers=None):
    """Poll `url` (with `headers`) until it answers (with status `expect`,
    when given)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                last = r.status
        except urllib.error.HTTPError as e:
            last = e.code
        except OSError as e:
            last = e
        else:
            if expect is None:
                return
        if expect is not None and last == expect:
            return
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer{'' if expect is None else f' {expect}'}: {last}")


class Procs:
    """Started processes, stopped in reverse order by `stop_all`."""

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.started = []

    def start(self, name, argv, core=None, env=None):
        log = open(self.dir / f"{name}.log", "wb")
        if core is not None:
            argv = ["taskset", "-c", core] + list(argv)
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        self.started.append((name, p))
        return p

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.started = [(n, q) for n, q in self.started if q is not p]

    def stop_all(self):
        for _, p in reversed(list(self.started)):
            self.stop(p)


def start_etcd(procs):
    client, peer = free_port(), free_port()
    procs.start(
        "etcd",
        [
            "etcd", "--data-dir", str(procs.dir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            "--logger", "zap", "--log-level", "error",
            "--quota-backend-bytes", str(4 * 1024**3),
        ],
    )
    url = f"http://127.0.0.1:{client}"
    wait_http(url + "/health")
    return url


def _nginx(procs, name, http_block, core):
    d = procs.dir / name
    d.mkdir(exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{http_block}
}}
"""
    )
    return procs.start(name, ["nginx", "-c", str(conf), "-p", str(d)], core=core)


def nginx_worker(procs, name):
    """The worker pid of the nginx started as `name`."""
    for n, p in procs.started:
        if n == name:
            return worker_pid(p)
    raise KeyError(name)


def start_upstream(procs, core=CLIENT_CORE, name="upstream"):
    """The fake upstream every candidate proxies to: a fixed small body on
    every path, and a fixed chat-completion JSON at /v1/chat/completions.
    It shares the client's core, unless `core` says otherwise."""
    port = free_port()
    _nginx(
        procs,
        name,
        f"""  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    location / {{ default_type text/plain; return 200 "hello world\\n"; }}
    location = /v1/chat/completions {{ default_type application/json; return 200 '{CHAT_COMPLETION}'; }}
  }}""",
        core,
    )
    wait_http(f"http://127.0.0.1:{port}/hello", expect=200)
    return port


def make_cert(procs):
    """A self-signed ECDSA P-256 certificate for `bench.test`, made with the
    openssl CLI: (cert path, key path), served by nginx and strait alike."""
    d = procs.dir / "tls"
    d.mkdir(exist_ok=True)
    cert, key = d / "bench.crt", d / "bench.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=bench.test",
         "-addext", "subjectAltName=DNS:bench.test"],
        check=True,
        capture_output=True,
    )
    return cert, key


def start_nginx_proxy(procs, upstream_port, stream_port, tls):
    """nginx `proxy_pass` with upstream keep-alive: the baseline proxy, on
    plain HTTP and on TLS with the `tls` (cert, key) pair; and a server
    streaming (unbuffered) to the paced SSE mock on `stream_port`. Returns
    the HTTP, TLS and streaming ports."""
    port = free_port()
    tls_port = free_port()
    stream_proxy_port = free_port()
    cert, key = tls
    _nginx(
        procs,
        "nginx-proxy",
        f"""  upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 320; keepalive_requests 1000000; }}
  upstream paced {{ server 127.0.0.1:{stream_port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{stream_proxy_port};
    location / {{
      proxy_pass http://paced;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    listen 127.0.0.1:{tls_port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}""",
        PROXY_CORE,
    )
    wait_http(f"http://127.0.0.1:{port}/hello", expect=200)
    return port, tls_port, stream_proxy_port


LITELLM = Path(__file__).resolve().parents[2] / ".data/litellm/bin/litellm"
# The Lua plugins of the benchmark (the trivial plugin of scenario 2).
LUA_PLUGINS = Path(__file__).resolve().parents[1] / "lua-plugins"


def start_litellm(procs, upstream_port):
    """LiteLLM's proxy (one worker, on the proxy core) with one OpenAI model
    served by the fake upstream: (port, process), or None when it is not
    installed (`.ci/install-deps.sh --bench` installs it)."""
    if not LITELLM.exists():
        return None
    port = free_port()
    conf = procs.dir / "litellm.yaml"
    conf.write_text(
        f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: sk-mock
"""
    )
    # The local price map: the bench has no internet to fetch the newest one.
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    argv = [str(LITELLM), "--config", str(conf), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    proc = procs.start("litellm", argv, core=PROXY_CORE, env=env)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180, expect=200)
    return port, proc


ADMIN_KEY = "bench-admin-key-0123456789abcdef"


class Strait:
    """A strait gateway with one worker thread on the proxy core."""

    def __init__(self, procs, binary, etcd_url, name="strait", extra_yaml=""):
        self.procs = procs
        self.proxy_port = free_port()
        self.ssl_port = free_port()
        self.status_port = free_port()
        self.admin_port = free_port()
        self.metrics_port = free_port()
        d = procs.dir / name
        d.mkdir(exist_ok=True)
        conf = d / "config.yaml"
        conf.write_text(
            f"""apisix:
  node_listen: [{{ip: 127.0.0.1, port: {self.proxy_port}}}]
  status: {{ip: 127.0.0.1, port: {self.status_port}}}
  ssl:
    listen: [{{ip: 127.0.0.1, port: {self.ssl_port}}}]
    # wrk sends no usable SNI for an IP address: look up bench.test instead.
    fallback_sni: bench.test
nginx_config:
  worker_processes: 1
  error_log_level: error
deployment:
  admin:
    admin_listen: {{ip: 127.0.0.1, port: {self.admin_port}}}
    admin_key: [{{name: admin, key: {ADMIN_KEY}, role: admin}}]
  etcd:
    host: ["{etcd_url}"]
plugin_attr:
  prometheus:
    export_addr: {{ip: 127.0.0.1, port: {self.metrics_port}}}
strait:
  data_dir: {d}/data
  snapshot_file: {d}/snapshot.json
  lua:
    plugin_dirs: ["{LUA_PLUGINS}"]
{extra_yaml}"""
        )
        self.proc = procs.start(name, [str(binary), "-c", str(conf)], core=PROXY_CORE)
        wait_http(f"http://127.0.0.1:{self.status_port}/status/ready", timeout=60, expect=200)

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path):
        return f"http://127.0.0.1:{self.proxy_port}{path}"

    def tls_url(self, path):
        return f"https://127.0.0.1:{self.ssl_port}{path}"

    def admin_url(self, path):
        return f"http://127.0.0.1:{self.admin_port}/apisix/admin{path}"

    def stop(self):
        self.procs.stop(self.proc)


def cpu_ticks(pid):
    """(user, system) CPU time of `pid` so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def worker_pid(master):
    """The single worker of an nginx master process."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return int(children[0]) if children else master.pid


def rss_kib(pid):
    """Resident set size of `pid` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def nproc():
    return os.cpu_count() or 0
