// Validation of a whole document against the full schema the Admin API
// serves, with errors turned into something a person can act on: each tied
// to the field it is about, and "one of" rules said in words.
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { isObject, type Json } from "./document";

const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false, validateSchema: false });
addFormats(ajv);
const compiled = new WeakMap<object, ValidateFunction>();

/** One problem found in a document. */
export interface FieldError {
  /** Path of the field, e.g. `["upstream", "nodes"]`; empty for the document. */
  path: string[];
  message: string;
}

/** The problems of `doc` under `schema`; empty when valid. */
export function validateDocument(schema: unknown, doc: unknown): FieldError[] {
  if (!isObject(schema)) return [];
  let fn = compiled.get(schema);
  if (!fn) {
    try {
      fn = ajv.compile(schema);
    } catch (e) {
      return [{ path: [], message: `the schema could not be compiled: ${String(e)}` }];
    }
    compiled.set(schema, fn);
  }
  if (fn(doc)) return [];
  return readableErrors(fn.errors ?? []);
}

function pointerToPath(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** Ajv's errors as field errors, with `oneOf`/`anyOf` of `required` folded into one line. */
export function readableErrors(errors: ErrorObject[]): FieldError[] {
  const out: FieldError[] = [];
  const folded = new Set<ErrorObject>();
  for (const e of errors) {
    if (e.keyword !== "oneOf" && e.keyword !== "anyOf") continue;
    const inner = errors.filter((x) => x !== e && x.schemaPath.startsWith(e.schemaPath + "/"));
    const missing = inner.filter((x) => x.keyword === "required").map((x) => String(x.params.missingProperty));
    if (inner.length > 0 && missing.length === inner.length) {
      inner.forEach((x) => folded.add(x));
      folded.add(e);
      out.push({ path: pointerToPath(e.instancePath), message: `needs one of: ${[...new Set(missing)].join(", ")}` });
    } else if (isObject(e.params) && Array.isArray(e.params.passingSchemas)) {
      folded.add(e);
      out.push({ path: pointerToPath(e.instancePath), message: "sets fields that exclude each other; keep only one of them" });
    } else if (inner.length > 0) {
      // Alternatives by type (`integer` or `string`): report what is wrong
      // with the alternative of the value's own type, else the types allowed.
      const typeErrors = inner.filter((x) => x.keyword === "type");
      typeErrors.forEach((x) => folded.add(x));
      folded.add(e);
      if (typeErrors.length === inner.length) {
        const types = typeErrors.map((x) => String(x.params.type));
        out.push({ path: pointerToPath(e.instancePath), message: `must be ${[...new Set(types)].join(" or ")}` });
      }
    }
  }
  for (const e of errors) {
    if (folded.has(e) || e.keyword === "if") continue;
    const path = pointerToPath(e.instancePath);
    if (e.keyword === "required") {
      out.push({ path: [...path, String(e.params.missingProperty)], message: "is required" });
    } else if (e.keyword === "additionalProperties") {
      out.push({ path: [...path, String(e.params.additionalProperty)], message: "is not a known field" });
    } else {
      out.push({ path, message: e.message ?? e.keyword });
    }
  }
  return dedupe(out);
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = e.path.join("/") + "\u0000" + e.message;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** How an error reads in a list: `uri: must be string`. */
export function describeError(e: FieldError): string {
  return e.path.length ? `${e.path.join(".")}: ${e.message}` : e.message;
}

/** RJSF's `extraErrors` shape for the errors under the given top-level fields. */
export function toErrorSchema(errors: FieldError[], fields: string[]): Json {
  const root: Json = {};
  for (const e of errors) {
    if (!e.path.length || !fields.includes(e.path[0])) continue;
    let node = root;
    for (const seg of e.path) {
      if (!isObject(node[seg])) node[seg] = {};
      node = node[seg] as Json;
    }
    const list = Array.isArray(node.__errors) ? (node.__errors as string[]) : [];
    list.push(e.message);
    node.__errors = list;
  }
  return root;
}

/** The errors no form field shows (document-level, or on hidden fields). */
export function errorsOutside(errors: FieldError[], fields: string[]): FieldError[] {
  return errors.filter((e) => !e.path.length || !fields.includes(e.path[0]));
}
