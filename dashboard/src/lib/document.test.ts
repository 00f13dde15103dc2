import { describe, expect, it } from "vitest";
import { editableDocument, mergeFormPart, mergePatch, pruneEmpty, stableStringify } from "./document";

describe("editableDocument", () => {
  it("drops the times the server sets and write-only fields", () => {
    const stored = { id: "1", cert: "C", key: "PRIVATE", create_time: 1, update_time: 2 };
    expect(editableDocument(stored, ["key"])).toEqual({ id: "1", cert: "C" });
  });
});

describe("mergeFormPart", () => {
  it("keeps fields the form does not show and replaces the ones it does", () => {
    const doc = { uri: "/a", vars: [["arg_x", "==", "1"]], plugins: { cors: {} }, name: "old" };
    const merged = mergeFormPart(doc, ["uri", "name", "desc"], { uri: "/b", name: "", desc: "d" });
    expect(merged).toEqual({ uri: "/b", vars: [["arg_x", "==", "1"]], plugins: { cors: {} }, desc: "d" });
  });

  it("removes a field the form emptied", () => {
    expect(mergeFormPart({ uri: "/a", methods: ["GET"] }, ["uri", "methods"], { uri: "/a", methods: [] })).toEqual({ uri: "/a" });
  });
});

describe("pruneEmpty", () => {
  it("drops empty strings, empty objects and arrays deeply but keeps zero and false", () => {
    expect(pruneEmpty({ a: "", b: {}, c: [], d: { e: undefined }, f: 0, g: false, h: [{}, 1] })).toEqual({ f: 0, g: false, h: [1] });
  });
});

describe("stableStringify", () => {
  it("prints equal documents equally whatever the key order", () => {
    expect(stableStringify({ b: 1, a: { d: 2, c: 3 } })).toBe(stableStringify({ a: { c: 3, d: 2 }, b: 1 }));
  });
});

describe("merge patches", () => {
  it("removes with null, changes what changed, leaves the rest out", () => {
    const before = { snis: ["a.example.com"], cert: "C", labels: { env: "dev", team: "edge" }, desc: "old" };
    const after = { snis: ["a.example.com"], cert: "C", labels: { env: "prod" } };
    expect(mergePatch(before, after)).toEqual({ labels: { env: "prod", team: null }, desc: null });
  });
});

describe("untouched form fields", () => {
  it("keep their stored value, empty string included", () => {
    const doc = { body: "", headers: { set: {} }, status_code: 200 };
    expect(mergeFormPart(doc, ["body", "status_code"], { body: undefined, status_code: 200 })).toEqual(doc);
    expect(mergeFormPart(doc, ["body", "status_code"], { body: undefined, status_code: 204 })).toEqual({ body: "", headers: { set: {} }, status_code: 204 });
  });
});
