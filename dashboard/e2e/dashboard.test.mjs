// Browser tests of the dashboard: headless Debian chromium driven by
// playwright-core, against a real strait + etcd (see env.mjs). Each scenario
// is what a dashboard user does, checked by what they (and the proxy's
// clients) see. Screenshots of every page go to e2e/artifacts/.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ADMIN_KEY, VIEWER_KEY, adminCall, startEnv } from "./env.mjs";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const STEP = { timeout: 90000 };

let env;
let browser;
let page;

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Poll `fn` until it returns a truthy value; fail with `what` after `ms`. */
async function eventually(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what}${last ? `: ${last}` : ""}`);
}

async function signIn(key) {
  await page.goto(env.ui);
  await page.getByTestId("admin-key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("role").waitFor();
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByTestId("admin-key").waitFor();
}

/** Open a page of the app by its path below /ui. */
async function open(path) {
  await page.goto(`${env.admin}/ui${path}`);
}

/** Review the diff, save, and wait for the notice that the data plane serves it. */
async function reviewAndSave(expectInDiff) {
  // Earlier notices close on their own timer; close them now so the one
  // awaited below can only be this save's.
  const notices = page.locator(".ant-notification-notice");
  while ((await notices.count()) > 0) {
    await notices.first().locator(".ant-notification-notice-close").click().catch(() => undefined);
    await page.waitForTimeout(50);
  }
  await page.getByTestId("review").click();
  const diff = page.getByTestId("diff");
  await diff.waitFor();
  for (const text of expectInDiff) assert.match(await diff.innerText(), new RegExp(text), `the diff shows ${text}`);
  await page.getByTestId("confirm-save").click();
  await diff.waitFor({ state: "hidden" });
  assert.equal(await page.getByTestId("api-error").count(), 0, "the save was accepted");
  await page.locator(".ant-notification-notice", { hasText: "Live on the data plane" }).waitFor();
}

/** Choose `option` in the Ant Design select with test id `testId`. */
async function choose(testId, option) {
  await page.getByTestId(testId).click();
  // The list is virtual: type to bring the option into view.
  await page.keyboard.type(option);
  await page.locator(".ant-select-dropdown:visible .ant-select-item-option", { hasText: option }).first().click();
}

/** Replace the CodeMirror editor's text. */
async function replaceEditorText(testId, text) {
  const content = page.getByTestId(testId).locator(".cm-content");
  await content.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

async function proxyGet(path) {
  const r = await fetch(`${env.proxy}${path}`);
  return { status: r.status, body: await r.text() };
}

/** A self-signed certificate and its key, made with openssl. */
function selfSignedCertificate(cn) {
  const dir = mkdtempSync(join(tmpdir(), "strait-e2e-cert-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`, "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
}

describe("dashboard in a browser", () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    env = await startEnv();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(15000);
  });

  afterEach(async (t) => {
    // A picture of the page at the end of each scenario helps read a failure.
    await page?.screenshot({ path: join(ARTIFACTS, `last-${t.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}.png`) }).catch(() => undefined);
  });

  after(async () => {
    await browser?.close();
    await env?.stop();
  });

  it("refuses a wrong key and signs in with the admin key", STEP, async () => {
    await page.goto(env.ui);
    await shot("sign-in");
    await page.getByTestId("admin-key").fill("not-the-key-0123456789");
    await page.getByRole("button", { name: "Sign in" }).click();
    const error = await page.getByTestId("sign-in-error").innerText();
    assert.match(error, /401/);
    await signIn(ADMIN_KEY);
    assert.equal(await page.getByTestId("role").innerText(), "admin");
    await page.getByTestId("etcd-status").getByText("reachable").waitFor();
  });

  it("creates an upstream and a route through the form, and the proxy serves the route", STEP, async () => {
    await open("/upstreams/new");
    await page.getByTestId("new-id").fill("web");
    await page.locator("#root_name").fill("web upstream");
    await page.getByTestId("resource-form").getByTitle("Add Item").first().click();
    const [host, port] = env.upstream.split(":");
    await page.locator("#root_nodes_0_host").fill(host);
    await page.locator("#root_nodes_0_port").fill(port);
    await page.locator("#root_nodes_0_weight").fill("1");
    await reviewAndSave(['"name": "web upstream"', env.upstream]);
    await page.waitForURL(/\/ui\/upstreams\/web$/);

    await open("/routes/new");
    await page.getByTestId("new-id").fill("hello");
    await page.locator("#root_name").fill("hello route");
    // Schema validation next to the fields before anything is sent.
    await page.getByTestId("review").click();
    await page.getByTestId("document-errors").getByText("needs one of: uri, uris").waitFor();
    await page.locator("#root_uri").fill("/hello");
    await choose("ref-upstream_id", "web");
    await reviewAndSave(['"uri": "/hello"', '"upstream_id": "web"']);
    await page.waitForURL(/\/ui\/routes\/hello$/);

    const r = await proxyGet("/hello");
    assert.equal(r.status, 200);
    assert.equal(r.body, "hello from upstream /hello");
  });

  it("edits the route in the JSON editor", STEP, async () => {
    await open("/routes/hello");
    await page.getByRole("tab", { name: "JSON" }).click();
    const text = JSON.stringify({ id: "hello", name: "hello route", uris: ["/hello", "/hi"], upstream_id: "web", labels: { team: "edge" } }, null, 2);
    await replaceEditorText("resource-json", text);
    await reviewAndSave(['"/hi"', '"team": "edge"']);
    await shot("route-json-editor");
    const r = await proxyGet("/hi");
    assert.equal(r.status, 200);
    assert.equal(r.body, "hello from upstream /hi");
  });

  it("adds limit-count through the plugin form and the proxy answers 429 past the limit", STEP, async () => {
    await open("/routes/hello");
    await choose("plugin-picker", "limit-count");
    await page.getByTestId("plugin-add").click();
    const form = page.getByTestId("plugin-form");
    await form.waitFor();
    await page.locator("#root_count").fill("2");
    await page.locator("#root_time_window").fill("60");
    await page.locator("#root_rejected_code").fill("429");
    await shot("plugin-form-limit-count");
    // Schema validation in the plugin form, before anything is sent.
    await page.locator("#root_count").fill("0");
    await page.getByTestId("plugin-apply").click();
    await page.getByTestId("plugin-form").getByText("must be > 0").waitFor();
    await page.locator("#root_count").fill("2");
    await page.getByTestId("plugin-apply").click();
    await page.getByTestId("plugin-card-limit-count").waitFor();
    await reviewAndSave(['"limit-count"', '"count": 2', '"rejected_code": 429']);
    await shot("route-edit");
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await proxyGet("/hello")).status);
    assert.deepEqual(statuses, [200, 200, 429, 429]);
  });

  it("offers Lua plugins in the picker, configured through their schema", STEP, async () => {
    await open("/routes/hello");
    await choose("plugin-picker", "ai-prompt-decorator");
    await page.getByTestId("plugin-add").click();
    await page.getByTestId("plugin-form").waitFor();
    // The form comes from the Lua plugin's own schema.
    await page.getByTestId("plugin-form").getByText("prepend").first().waitFor();
    await shot("plugin-form-lua");
  });

  it("shows the Admin API's error when deleting an upstream still in use", STEP, async () => {
    await open("/upstreams");
    await page.getByTestId("delete-web").click();
    await page.locator(".ant-popconfirm").getByRole("button", { name: "Delete" }).click();
    const error = await page.getByTestId("api-error").innerText();
    assert.match(error, /can not delete this upstream, route \[hello\] is still using it now/);
    await shot("upstream-delete-refused");
    assert.equal((await adminCall(env, "GET", "upstreams/web")).value.name, "web upstream", "the upstream is still there");
  });

  it("shows every page, LLM usage included", STEP, async () => {
    // Set-up through the Admin API: an LLM route with a consumer, and one
    // item of each other kind, so every page has something to show.
    await adminCall(env, "PUT", "consumers", { username: "alice", desc: "LLM user" });
    await adminCall(env, "PUT", "consumers/alice/credentials/alice-key", { plugins: { "key-auth": { key: "alice-secret-key" } } });
    await adminCall(env, "PUT", "routes/llm", {
      uri: "/v1/chat/completions",
      plugins: {
        "key-auth": {},
        // LLM metrics are kept for routes with prometheus, as in APISIX.
        prometheus: {},
        "ai-proxy-multi": {
          instances: [
            { name: "openai-a", provider: "openai-compatible", weight: 1, auth: { header: { Authorization: "Bearer sk-a" } }, options: { model: "gpt-4o-mini" }, override: { endpoint: `${env.llm}/v1/chat/completions` } },
          ],
        },
      },
    });
    await adminCall(env, "PUT", "services/s1", { name: "edge service", upstream_id: "web" });
    await adminCall(env, "PUT", "consumer_groups/gold", { desc: "gold tier", plugins: { "limit-count": { count: 100, time_window: 60 } } });
    await adminCall(env, "PUT", "plugin_configs/cors", { desc: "CORS for browsers", plugins: { cors: {} } });
    await adminCall(env, "PUT", "global_rules/1", { plugins: { "request-id": {} } });
    await adminCall(env, "PUT", "plugin_metadata/http-logger", { log_format: { host: "$host" } });
    const { cert, key } = selfSignedCertificate("shop.example.com");
    await adminCall(env, "PUT", "ssls/shop", { snis: ["shop.example.com"], cert, key });
    await eventually("the LLM route", async () => {
      const r = await fetch(`${env.proxy}/v1/chat/completions`, {
        method: "POST",
        headers: { apikey: "alice-secret-key", "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      return r.status === 200;
    });

    await open("/llm");
    await page.getByTestId("llm-totals-consumer").getByText("alice").waitFor({ timeout: 20000 });
    await page.getByTestId("llm-totals-model").getByText("gpt-4o-mini").waitFor();
    await page.getByTestId("llm-totals-instance").getByText("openai-a").waitFor();
    await shot("llm");

    await open("/");
    await page.getByTestId("upstream-health").getByText(env.upstream).first().waitFor();
    await shot("overview");
    const known = { routes: "hello route", services: "edge service", upstreams: "web upstream", consumers: "alice", consumer_groups: "gold", plugin_configs: "cors", global_rules: "request-id", ssls: "shop.example.com", plugin_metadata: "http-logger" };
    for (const [p, item] of Object.entries(known)) {
      await open(`/${p}`);
      await page.locator(".ant-table-row", { hasText: item }).first().waitFor();
      assert.equal(await page.getByTestId("api-error").count(), 0, `no error on the ${p} page`);
      await shot(`list-${p}`);
    }
    // Plugin metadata is one item per plugin: picking one that exists opens it.
    await open("/plugin_metadata/new");
    await choose("metadata-plugin", "http-logger");
    await page.waitForURL(/\/ui\/plugin_metadata\/http-logger$/);
    await page.getByTestId("resource-form").waitFor();
    await shot("plugin-metadata-edit");

    // A certificate's private key is never shown, in the form or the JSON.
    await open("/ssls/shop");
    await page.locator("#root_cert").waitFor();
    await page.getByRole("tab", { name: "JSON" }).click();
    await page.getByTestId("resource-json").locator(".cm-content").waitFor();
    const html = await page.content();
    assert.ok(html.includes("shop.example.com"), "the certificate is shown");
    assert.ok(!html.includes("PRIVATE KEY") && !html.includes(key.split("\n")[1]), "the private key is not on the page");
    await shot("ssl-edit");
    // An edit that leaves the key empty keeps the stored one, and a removed label goes.
    await replaceEditorText("resource-json", JSON.stringify({ id: "shop", snis: ["shop.example.com", "www.shop.example.com"], cert, type: "server", status: 1 }, null, 2));
    await reviewAndSave(["www.shop.example.com"]);
    const saved = (await adminCall(env, "GET", "ssls/shop")).value;
    assert.deepEqual(saved.snis, ["shop.example.com", "www.shop.example.com"]);
    // A second credential through the UI: its page opens, and the key works.
    await open("/consumers/alice");
    await page.getByText("alice-key").waitFor();
    await page.getByRole("button", { name: "Create credential" }).click();
    await page.getByTestId("new-id").fill("alice-laptop");
    await choose("plugin-picker", "key-auth");
    await page.getByTestId("plugin-add").click();
    await page.locator("#root_key").fill("alice-laptop-key");
    await page.getByTestId("plugin-apply").click();
    await page.getByTestId("plugin-card-key-auth").waitFor();
    await reviewAndSave(['"key-auth"']);
    await page.waitForURL(/\/ui\/consumers\/alice\/credentials\/alice-laptop$/);
    const llmAnswer = await fetch(`${env.proxy}/v1/chat/completions`, {
      method: "POST",
      headers: { apikey: "alice-laptop-key", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(llmAnswer.status, 200, "the new credential signs alice in");
    await open("/consumers/alice");
    await page.getByText("alice-laptop").waitFor();
    await shot("consumer-with-credentials");
  });

  it("gives a viewer no write controls", STEP, async () => {
    await signOut();
    await signIn(VIEWER_KEY);
    assert.match(await page.getByTestId("role").innerText(), /viewer/);
    await open("/routes");
    await page.getByText("hello route").waitFor();
    assert.equal(await page.getByRole("button", { name: /create/i }).count(), 0, "no create button");
    assert.equal(await page.getByTestId("delete-hello").count(), 0, "no delete button");
    await open("/routes/hello");
    await page.getByTestId("plugins-section").waitFor();
    assert.equal(await page.getByTestId("review").count(), 0, "no save button");
    assert.equal(await page.getByTestId("plugin-picker").count(), 0, "no plugin picker");
    assert.equal(await page.getByRole("button", { name: "Remove" }).count(), 0, "no plugin removal");
    const uri = page.locator("#root_uris_0");
    await uri.waitFor();
    assert.equal(await uri.isDisabled(), true, "the form is read-only");
    await shot("viewer-route");
  });
});
