// Turning stored resources into editable documents and back: fields the
// server manages are dropped, private keys are never shown, and the part a
// form edits is merged into the rest of the document.

/** Fields the Admin API sets itself; never edited. */
export const SERVER_FIELDS = ["create_time", "update_time"];

/** A JSON object. */
export type Json = Record<string, unknown>;

/** A plain object (not an array, not null). */
export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `doc` without the server-managed fields and without `secret` fields. */
export function editableDocument(doc: Json, secret: string[] = []): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(doc)) {
    if (SERVER_FIELDS.includes(k) || secret.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Drop `undefined`, empty strings, and empty objects or arrays, deeply. */
export function pruneEmpty(v: unknown): unknown {
  if (Array.isArray(v)) {
    const items = v.map(pruneEmpty).filter((x) => x !== undefined);
    return items.length ? items : undefined;
  }
  if (isObject(v)) {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) {
      const p = pruneEmpty(x);
      if (p !== undefined) out[k] = p;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (v === "" || v === undefined) return undefined;
  return v;
}

/** The fields of `doc` a form shows. */
export function formPart(doc: Json, fields: string[]): Json {
  const out: Json = {};
  for (const f of fields) if (doc[f] !== undefined) out[f] = doc[f];
  return out;
}

/**
 * `doc` with the form's fields replaced by what the form holds now. A field
 * the form holds unchanged keeps its stored value as it was, empty strings
 * and all (`response-rewrite`'s `body: ""` means an empty body).
 */
export function mergeFormPart(doc: Json, fields: string[], form: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(doc)) if (!fields.includes(k)) out[k] = v;
  for (const f of fields) {
    const v = pruneEmpty(form[f]);
    const unchanged = doc[f] !== undefined && stableStringify(v) === stableStringify(pruneEmpty(doc[f]));
    if (unchanged) out[f] = doc[f];
    else if (v !== undefined) out[f] = v;
  }
  return out;
}

/** The JSON merge patch (RFC 7386) that turns `before` into `after`: `null` removes. */
export function mergePatch(before: Json, after: Json): Json {
  const patch: Json = {};
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  for (const [k, v] of Object.entries(after)) {
    const old = before[k];
    if (isObject(old) && isObject(v)) {
      const sub = mergePatch(old, v);
      if (Object.keys(sub).length) patch[k] = sub;
    } else if (stableStringify(old) !== stableStringify(v)) {
      patch[k] = v;
    }
  }
  return patch;
}

/** JSON with object keys sorted, so equal documents print equally. */
export function stableStringify(v: unknown): string {
  return JSON.stringify(sortKeys(v), null, 2);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObject(v)) {
    const out: Json = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
    return out;
  }
  return v;
}
