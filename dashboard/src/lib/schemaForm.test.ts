import { describe, expect, it } from "vitest";
import routeSchema from "../test/fixtures/schema-route.json";
import upstreamSchema from "../test/fixtures/schema-upstream.json";
import limitCount from "../test/fixtures/plugin-limit-count.json";
import { formSchema, pickBranch, pluginFormSchema, simplifySchema, uiSchemaFor } from "./schemaForm";
import type { Json } from "./document";

describe("form schemas from strait's schemas", () => {
  it("shows only the listed route fields, in order, without cross-field rules", () => {
    const s = formSchema(routeSchema, ["name", "uri", "methods", "upstream_id", "labels", "no_such_field"]);
    expect(Object.keys(s.properties as Json)).toEqual(["name", "uri", "methods", "upstream_id", "labels"]);
    expect(s.allOf).toBeUndefined();
    expect(s.anyOf).toBeUndefined();
    const props = s.properties as Record<string, Json>;
    // `upstream_id` is a string or an integer: the form edits a string.
    expect(props.upstream_id.type).toBe("string");
    // `labels` is a map: rendered as free key/value pairs.
    expect(props.labels.additionalProperties).toMatchObject({ type: "string" });
    expect(props.labels.patternProperties).toBeUndefined();
  });

  it("edits upstream nodes as a list of host, port and weight", () => {
    const nodes = (formSchema(upstreamSchema, ["nodes"]).properties as Record<string, Json>).nodes;
    expect(nodes.type).toBe("array");
    expect(Object.keys((nodes.items as Json).properties as Json)).toEqual(expect.arrayContaining(["host", "port", "weight"]));
  });

  it("turns defaults into hints so a form never writes them", () => {
    const s = pluginFormSchema(limitCount);
    const props = s.properties as Record<string, Json>;
    expect(props.rejected_code.default).toBeUndefined();
    expect(String(props.rejected_code.description)).toContain("Default: 503");
    expect(props._meta).toBeUndefined();
    expect(props.count.type).toBe("integer");
    expect(s.if).toBeUndefined();
  });

  it("prefers a list to a map and ignores untyped branches", () => {
    expect(pickBranch([{ required: ["a"] }, { type: "object", patternProperties: { ".*": {} } }, { type: "array" }])).toEqual({ type: "array" });
    expect(simplifySchema({ anyOf: [{ type: "integer" }, { type: "string" }] }).type).toBe("integer");
  });

  it("puts references behind a picker and makes a viewer's form read-only", () => {
    const s = formSchema(routeSchema, ["upstream_id", "desc"]);
    const ui = uiSchemaFor(s, true);
    expect((ui.upstream_id as Json)["ui:widget"]).toBe("reference");
    expect((ui.desc as Json)["ui:widget"]).toBe("textarea");
    expect(ui["ui:readonly"]).toBe(true);
  });
});
