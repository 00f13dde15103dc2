import { describe, expect, it } from "vitest";
import routeSchema from "../test/fixtures/schema-route.json";
import limitCount from "../test/fixtures/plugin-limit-count.json";
import { describeError, errorsOutside, toErrorSchema, validateDocument } from "./validate";

describe("validation against strait's full schemas", () => {
  it("accepts a valid route", () => {
    expect(validateDocument(routeSchema, { uri: "/a", upstream_id: "1", methods: ["GET"] })).toEqual([]);
  });

  it("says a route needs uri or uris in words", () => {
    const errors = validateDocument(routeSchema, { name: "x", upstream_id: "1" });
    expect(errors.map(describeError)).toContain("needs one of: uri, uris");
  });

  it("ties a wrong type to its field", () => {
    const errors = validateDocument(routeSchema, { uri: 5, upstream_id: "1" });
    expect(errors).toContainEqual({ path: ["uri"], message: "must be string" });
    expect(toErrorSchema(errors, ["uri"])).toEqual({ uri: { __errors: ["must be string"] } });
    expect(errorsOutside(errors, ["uri"])).toEqual([]);
  });

  it("names an unknown field", () => {
    const errors = validateDocument(routeSchema, { uri: "/a", upstream_id: "1", colour: "red" });
    expect(errors).toContainEqual({ path: ["colour"], message: "is not a known field" });
  });

  it("checks a plugin's settings, including its conditional fields", () => {
    expect(validateDocument(limitCount, { count: 2, time_window: 60 })).toEqual([]);
    const errors = validateDocument(limitCount, { count: 2, time_window: 60, policy: "redis" });
    expect(errors).toContainEqual({ path: ["redis_host"], message: "is required" });
    // `count` is a positive integer or a string: one clear message, next to the field.
    expect(validateDocument(limitCount, { count: 0, time_window: 60 })).toEqual([{ path: ["count"], message: "must be > 0" }]);
    expect(validateDocument(limitCount, { count: true, time_window: 60 })).toEqual([{ path: ["count"], message: "must be integer or string" }]);
  });
});
