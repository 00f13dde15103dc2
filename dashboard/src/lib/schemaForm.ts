// From the schemas the Admin API serves to schemas a form can render.
// Validation always uses the full schema (see validate.ts); the form gets a
// simplified copy: cross-field rules (`oneOf` of `required`, `if/then`) are
// left to validation, a property that accepts several shapes is shown in
// its most editable one, and defaults become hints instead of values.
import { isObject, type Json } from "./document";

/** Keys that only constrain combinations of fields; dropped from form schemas. */
const COMBINATORS = ["allOf", "oneOf", "anyOf", "not", "if", "then", "else", "dependencies"];

/** Keys that mean nothing to a form. */
const NOISE = ["$comment", "encrypt_fields", "$schema", "id"];

/** Whether a branch is a free-form map (`patternProperties` only). */
function isMapBranch(s: Json): boolean {
  return s.type === "object" && !isObject(s.properties) && (isObject(s.patternProperties) || isObject(s.additionalProperties));
}

/** The branch of an `anyOf`/`oneOf` a form shows: the first typed one, a list before a map. */
export function pickBranch(branches: unknown[]): Json | null {
  const typed = branches.filter((b): b is Json => isObject(b) && (b.type !== undefined || b.enum !== undefined));
  return typed.find((b) => !isMapBranch(b)) ?? typed[0] ?? null;
}

/** A schema a form can render, derived from `schema`. */
export function simplifySchema(schema: unknown): Json {
  if (!isObject(schema)) return {};
  let s: Json = { ...schema };
  for (const key of ["anyOf", "oneOf"]) {
    const branches = s[key];
    if (Array.isArray(branches) && s.type === undefined && s.properties === undefined) {
      const picked = pickBranch(branches);
      if (picked) s = { ...picked, ...withoutKeys(s, [key]) };
    }
  }
  s = withoutKeys(s, [...COMBINATORS, ...NOISE]);
  if (s.default !== undefined) {
    const hint = `Default: ${JSON.stringify(s.default)}`;
    s.description = s.description ? `${s.description}. ${hint}` : hint;
    delete s.default;
  }
  if (Array.isArray(s.type)) s.type = s.type.find((t) => t !== "null") ?? s.type[0];
  if (isObject(s.properties)) {
    const props: Json = {};
    for (const [k, v] of Object.entries(s.properties)) props[k] = simplifySchema(v);
    s.properties = props;
  }
  if (isObject(s.items)) s.items = simplifySchema(s.items);
  if (isObject(s.patternProperties) && !isObject(s.properties)) {
    const first = Object.values(s.patternProperties)[0];
    s.additionalProperties = simplifySchema(first);
    delete s.patternProperties;
  } else if (isObject(s.additionalProperties)) {
    s.additionalProperties = simplifySchema(s.additionalProperties);
  }
  if (s.type === "object" && !isObject(s.properties) && s.additionalProperties === undefined) {
    s.additionalProperties = true;
  }
  if (Array.isArray(s.required) && isObject(s.properties)) {
    const props = s.properties;
    s.required = s.required.filter((r) => typeof r === "string" && r in props);
  }
  return s;
}

function withoutKeys(s: Json, keys: string[]): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) if (!keys.includes(k)) out[k] = v;
  return out;
}

/** A form schema showing only `fields` (in that order) of a resource schema. */
export function formSchema(full: unknown, fields: string[]): Json {
  const simple = simplifySchema(full);
  const props = isObject(simple.properties) ? simple.properties : {};
  const shown: Json = {};
  for (const f of fields) if (props[f] !== undefined) shown[f] = props[f];
  const required = Array.isArray(simple.required) ? simple.required.filter((r) => r in shown) : [];
  return { type: "object", properties: shown, required, additionalProperties: false };
}

/** The form schema of one plugin: every field but the internal `_meta`. */
export function pluginFormSchema(full: unknown): Json {
  const simple = simplifySchema(full);
  const props = isObject(simple.properties) ? { ...simple.properties } : {};
  delete props._meta;
  return { ...simple, type: "object", properties: props };
}

/** Fields shown as multi-line text (`key` only beside a `cert`: an upstream's `key` is a hash key). */
const TEXTAREAS = ["desc", "cert", "certs", "keys"];

/** Fields that name another resource; rendered as a picker of existing ids. */
export const REFERENCE_FIELDS: Record<string, string> = {
  upstream_id: "upstreams",
  service_id: "services",
  plugin_config_id: "plugin_configs",
  group_id: "consumer_groups",
};

/** RJSF's uiSchema for a form schema: order, text areas and reference pickers. */
export function uiSchemaFor(schema: Json, readOnly: boolean): Json {
  const props = isObject(schema.properties) ? Object.keys(schema.properties) : [];
  const ui: Json = { "ui:order": [...props, "*"], "ui:submitButtonOptions": { norender: true } };
  const hasCert = props.includes("cert");
  for (const p of props) {
    if (TEXTAREAS.includes(p) || (p === "key" && hasCert)) ui[p] = { "ui:widget": "textarea", "ui:options": { rows: p === "desc" ? 2 : 6 } };
    if (REFERENCE_FIELDS[p]) ui[p] = { "ui:widget": "reference", "ui:options": { resource: REFERENCE_FIELDS[p] } };
  }
  if (readOnly) ui["ui:readonly"] = true;
  return ui;
}
