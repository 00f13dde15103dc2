import { describe, expect, it } from "vitest";
import { documentDiff, hasChanges } from "./diff";

describe("documentDiff", () => {
  it("marks the changed line and keeps the rest", () => {
    const lines = documentDiff({ uri: "/a", name: "r" }, { uri: "/b", name: "r" });
    expect(lines.filter((l) => l.kind === "-").map((l) => l.text.trim())).toEqual(['"uri": "/a"']);
    expect(lines.filter((l) => l.kind === "+").map((l) => l.text.trim())).toEqual(['"uri": "/b"']);
    expect(lines.some((l) => l.kind === " " && l.text.includes('"name": "r"'))).toBe(true);
  });

  it("shows a new resource as all additions", () => {
    const lines = documentDiff(null, { uri: "/a" });
    expect(lines.every((l) => l.kind === "+")).toBe(true);
  });

  it("finds no change when only key order differs", () => {
    expect(hasChanges(documentDiff({ a: 1, b: 2 }, { b: 2, a: 1 }))).toBe(false);
  });
});
