import { describe, expect, it } from "vitest";
import { nodesForDocument, nodesToArray, nodesToMap, splitAddress } from "./nodes";

describe("upstream nodes", () => {
  it("reads the map form, IPv6 included", () => {
    expect(nodesToArray({ "127.0.0.1:1980": 1, "[::1]:8080": 2, "example.com": 3 })).toEqual([
      { host: "127.0.0.1", port: 1980, weight: 1 },
      { host: "[::1]", port: 8080, weight: 2 },
      { host: "example.com", port: undefined, weight: 3 },
    ]);
    expect(splitAddress("[::1]")).toEqual({ host: "[::1]", port: undefined });
  });

  it("writes the map form back when nodes carry only address and weight", () => {
    expect(nodesToMap([{ host: "a", port: 80, weight: 1 }])).toEqual({ "a:80": 1 });
    expect(nodesToMap([{ host: "a", port: 80, weight: 1, priority: 1 }])).toBeNull();
  });

  it("keeps the shape the stored document used", () => {
    const form = [{ host: "a", port: 80, weight: 1 }];
    expect(nodesForDocument(form, { "a:80": 5 })).toEqual({ "a:80": 1 });
    expect(nodesForDocument(form, [{ host: "a", port: 80, weight: 5 }])).toEqual(form);
    expect(nodesForDocument(form, undefined)).toEqual({ "a:80": 1 });
  });
});
