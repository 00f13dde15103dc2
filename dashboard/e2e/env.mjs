// The world the browser tests run against, all on loopback: a real etcd, the
// real strait binary serving the built dashboard, a plain HTTP upstream, and
// a mock OpenAI-compatible provider (the only outside party, in its wire
// format). Everything started here is stopped by `stop()`.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as netServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");

export const ADMIN_KEY = "e2e-admin-key-0123456789";
export const VIEWER_KEY = "e2e-viewer-key-0123456789";

/** A port nobody listens on right now. */
function freePort() {
  return new Promise((ok, fail) => {
    const s = netServer();
    s.unref();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitFor(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up in ${timeoutMs} ms${last ? `: ${last}` : ""}`);
}

function listen(server) {
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server.address().port)));
}

/** The plain upstream: answers `hello from upstream <path>`. */
function startUpstream() {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`hello from upstream ${req.url}`);
  });
  return listen(server).then((port) => ({ server, port }));
}

/** A mock OpenAI-compatible chat endpoint that reports usage. */
function startMockLlm() {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      let model = "gpt-4o-mini";
      try {
        model = JSON.parse(body).model ?? model;
      } catch {
        // keep the default
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "chatcmpl-e2e",
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 },
        }),
      );
    });
  });
  return listen(server).then((port) => ({ server, port }));
}

/** Start everything; resolves to the addresses and a `stop()`. */
export async function startEnv() {
  const dist = resolve(here, "../dist");
  if (!existsSync(join(dist, "index.html"))) throw new Error(`the dashboard is not built (${dist}); run npm run build`);
  const bin = process.env.STRAIT_BIN ?? resolve(repo, "target/debug/strait");
  if (!existsSync(bin)) throw new Error(`no strait binary at ${bin}; build it with cargo build --bin strait or set STRAIT_BIN`);

  const dir = mkdtempSync(join(tmpdir(), "strait-e2e-"));
  const [etcdPort, peerPort, proxyPort, adminPort, statusPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const children = [];
  const etcd = spawn(
    "etcd",
    [
      "--name", "e2e", "--data-dir", join(dir, "etcd"),
      "--listen-client-urls", `http://127.0.0.1:${etcdPort}`, "--advertise-client-urls", `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-urls", `http://127.0.0.1:${peerPort}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
      "--initial-cluster", `e2e=http://127.0.0.1:${peerPort}`, "--log-level", "error",
    ],
    { stdio: "ignore" },
  );
  children.push(etcd);
  try {
    await waitFor("etcd", async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok);
  } catch (e) {
    etcd.kill("SIGTERM");
    throw e;
  }

  const config = `
apisix:
  node_listen: ${proxyPort}
  status: {ip: 127.0.0.1, port: ${statusPort}}
  ssl: {enable: false}
deployment:
  role: traditional
  role_traditional: {config_provider: etcd}
  admin:
    admin_key_required: true
    admin_key:
      - {name: admin, key: ${ADMIN_KEY}, role: admin}
      - {name: viewer, key: ${VIEWER_KEY}, role: viewer}
    admin_listen: {ip: 127.0.0.1, port: ${adminPort}}
    allow_admin: [127.0.0.0/24]
    admin_ui_root: ${dist}
  etcd:
    host: ["http://127.0.0.1:${etcdPort}"]
    prefix: /apisix
plugin_attr:
  prometheus:
    export_addr: {ip: 127.0.0.1, port: ${metricsPort}}
strait:
  snapshot_file: ${join(dir, "snapshot.json")}
  lua:
    plugin_dirs: [${resolve(repo, "lua-plugins")}]
`;
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, config);
  const logPath = join(dir, "strait.log");
  const strait = spawn(bin, ["-c", configPath], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, STRAIT_UI_SAMPLE_MS: "1000" },
  });
  let log = "";
  strait.stdout.on("data", (d) => (log += d));
  strait.stderr.on("data", (d) => (log += d));
  children.push(strait);
  try {
    await waitFor("strait", async () => (await fetch(`http://127.0.0.1:${statusPort}/status/ready`)).ok);
  } catch (e) {
    for (const c of children) c.kill("SIGTERM");
    throw new Error(`${e.message}\nstrait log:\n${log}`);
  }

  const upstream = await startUpstream();
  const llm = await startMockLlm();
  const admin = `http://127.0.0.1:${adminPort}`;
  return {
    admin,
    ui: `${admin}/ui/`,
    proxy: `http://127.0.0.1:${proxyPort}`,
    upstream: `127.0.0.1:${upstream.port}`,
    llm: `http://127.0.0.1:${llm.port}`,
    log: () => log,
    logPath,
    async stop() {
      writeFileSync(logPath, log);
      for (const c of children.reverse()) c.kill("SIGTERM");
      upstream.server.close();
      llm.server.close();
    },
  };
}

/** Call the Admin API directly (test set-up only; scenarios go through the UI). */
export async function adminCall(env, method, path, body) {
  const resp = await fetch(`${env.admin}/apisix/admin/${path}`, {
    method,
    headers: { "X-API-KEY": ADMIN_KEY, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

