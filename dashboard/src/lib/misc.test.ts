import { describe, expect, it } from "vitest";
import { escapeRegex, listQueryString } from "./listQuery";
import { saveTarget, savedId } from "./saveTarget";
import { RESOURCES, resourceByPath } from "./resources";
import { errorMessage } from "../api/http";
import { duration, percent, usd } from "./format";

describe("list queries", () => {
  it("searches literally and pages", () => {
    expect(escapeRegex("a.b*")).toBe("a\\.b\\*");
    const q = new URLSearchParams(listQueryString({ search: " api.v1 ", searchField: "name", label: "env:prod", page: 2, pageSize: 20 }));
    expect(q.get("name")).toBe("api\\.v1");
    expect(q.get("label")).toBe("env:prod");
    expect(q.get("page")).toBe("2");
    expect(q.get("page_size")).toBe("20");
  });
});

describe("save targets", () => {
  const routes = resourceByPath("routes")!;
  const ssls = resourceByPath("ssls")!;
  const consumers = resourceByPath("consumers")!;
  it("PUTs under an id, POSTs without one", () => {
    expect(saveTarget(routes, "routes", "1", false, {})).toEqual({ method: "PUT", path: "routes/1" });
    expect(saveTarget(routes, "routes", undefined, true, {})).toEqual({ method: "POST", path: "routes" });
  });
  it("PUTs consumers on the collection (username in the body)", () => {
    expect(saveTarget(consumers, "consumers", "alice", false, { username: "alice" })).toEqual({ method: "PUT", path: "consumers" });
  });
  it("PATCHes a certificate whose private key was left empty, so the stored key stays", () => {
    expect(saveTarget(ssls, "ssls", "1", false, { cert: "C" }).method).toBe("PATCH");
    expect(saveTarget(ssls, "ssls", "1", false, { cert: "C", key: "K" }).method).toBe("PUT");
  });
  it("reads the id of a saved item from its key", () => {
    expect(savedId({ key: "/apisix/routes/00000000000000000012", value: {} })).toBe("00000000000000000012");
    expect(savedId("done")).toBeUndefined();
  });
});

describe("resources", () => {
  it("covers every kind the Admin API manages", () => {
    expect(RESOURCES.map((r) => r.path)).toEqual([
      "routes", "services", "upstreams", "consumers", "consumer_groups", "plugin_configs", "global_rules", "ssls", "plugin_metadata",
    ]);
    expect(resourceByPath("ssls")?.secretFields).toContain("key");
  });
});

describe("messages", () => {
  it("shows the Admin API's error_msg verbatim, or the raw body", () => {
    expect(errorMessage(400, '{"error_msg":"can not delete this upstream, route [1] is still using it now"}')).toBe(
      "can not delete this upstream, route [1] is still using it now",
    );
    expect(errorMessage(401, '{"error_msg":"failed to check token","description":"wrong apikey"}')).toBe("failed to check token: wrong apikey");
    expect(errorMessage(502, "bad gateway")).toBe("bad gateway");
    expect(errorMessage(500, "")).toBe("HTTP 500");
  });
  it("formats figures", () => {
    expect(percent(0.125)).toBe("12.5%");
    expect(usd(0.000123)).toBe("$0.000123");
    expect(duration(3725)).toBe("1h 2m");
  });
});
