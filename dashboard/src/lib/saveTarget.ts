// Which Admin API call saves a document: PUT under an id, POST for a new id
// chosen by the server, PUT on the collection for consumers (the username is
// in the body), PATCH when a write-only field is left out to keep it.
import { isObject, mergePatch, type Json } from "./document";
import type { ResourceDef } from "./resources";

/** The call that saves a document. */
export interface SaveTarget {
  method: "PUT" | "POST" | "PATCH";
  /** Admin API path below `/apisix/admin`. */
  path: string;
}

/** The call with its body: the document, or for PATCH the merge patch from the stored one. */
export interface SaveRequest extends SaveTarget {
  body: Json;
}

/** How to save `doc` of `def` in `collection`; `id` is the item's id if it has one yet. */
export function saveTarget(def: ResourceDef, collection: string, id: string | undefined, isNew: boolean, doc: Json): SaveTarget {
  if (def.idField === "username") return { method: "PUT", path: collection };
  if (!id) return { method: "POST", path: collection };
  const path = `${collection}/${encodeURIComponent(id)}`;
  const keepsSecret = !isNew && def.secretFields.length > 0 && def.secretFields.every((f) => doc[f] === undefined);
  return { method: keepsSecret ? "PATCH" : "PUT", path };
}

/** The request that saves `doc`, `original` being the stored document (editable part). */
export function saveRequest(def: ResourceDef, collection: string, id: string | undefined, isNew: boolean, doc: Json, original: Json | null): SaveRequest {
  const target = saveTarget(def, collection, id, isNew, doc);
  const body = target.method === "PATCH" ? mergePatch(original ?? {}, doc) : doc;
  return { ...target, body };
}

/** A stand-in for a private key the user left empty; only ever validated, never sent. */
const KEPT_KEY = "kept".repeat(32);

/**
 * The document to validate: while editing, a write-only field left empty
 * keeps the stored value, so it stands in for it (a certificate's key).
 */
export function documentToValidate(def: ResourceDef, isNew: boolean, doc: Json): Json {
  if (isNew || !def.secretFields.length || def.secretFields.some((f) => doc[f] !== undefined)) return doc;
  const out = { ...doc };
  if (doc.cert !== undefined) out.key = KEPT_KEY;
  if (Array.isArray(doc.certs)) out.keys = doc.certs.map(() => KEPT_KEY);
  return out;
}

/** The id of a saved item from the Admin API's answer (`key`'s last segment). */
export function savedId(answer: unknown): string | undefined {
  if (!isObject(answer) || typeof answer.key !== "string") return undefined;
  return answer.key.slice(answer.key.lastIndexOf("/") + 1);
}
