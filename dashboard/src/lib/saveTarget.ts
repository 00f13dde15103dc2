// Which Admin API call saves a document: PUT under an id, POST for a new id
// chosen by the server, PUT on the collection for consumers (the username is
// in the body), PATCH when a write-only field is left out to keep it.
import { isObject, type Json } from "./document";
import type { ResourceDef } from "./resources";

/** The call that saves a document. */
export interface SaveTarget {
  method: "PUT" | "POST" | "PATCH";
  /** Admin API path below `/apisix/admin`. */
  path: string;
}

/** How to save `doc` of `def` in `collection`; `id` is the item's id if it has one yet. */
export function saveTarget(def: ResourceDef, collection: string, id: string | undefined, isNew: boolean, doc: Json): SaveTarget {
  if (def.idField === "username") return { method: "PUT", path: collection };
  if (!id) return { method: "POST", path: collection };
  const path = `${collection}/${encodeURIComponent(id)}`;
  const keepsSecret = !isNew && def.secretFields.length > 0 && def.secretFields.every((f) => doc[f] === undefined);
  return { method: keepsSecret ? "PATCH" : "PUT", path };
}

/** The id of a saved item from the Admin API's answer (`key`'s last segment). */
export function savedId(answer: unknown): string | undefined {
  if (!isObject(answer) || typeof answer.key !== "string") return undefined;
  return answer.key.slice(answer.key.lastIndexOf("/") + 1);
}
