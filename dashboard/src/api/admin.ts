// Typed calls to the Admin API (`/apisix/admin`): lists, single items,
// writes, schemas and the plugin list.
import { request } from "./http";
import { listQueryString, type ListParams } from "../lib/listQuery";
import type { Json } from "../lib/document";

const BASE = "/apisix/admin";

/** One stored item of a list, as the Admin API wraps it. */
export interface StoredItem {
  key: string;
  value: Json;
  createdIndex?: number;
  modifiedIndex?: number;
}

/** A page of a list. */
export interface ListPage {
  total: number;
  list: StoredItem[];
}

/** `/apisix/admin/{path}` for a collection (and an optional id). */
export function adminPath(collection: string, id?: string): string {
  return id === undefined ? `${BASE}/${collection}` : `${BASE}/${collection}/${encodeURIComponent(id)}`;
}

/** The last segment of an etcd key: the item's id. */
export function idFromKey(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

/** One page of a collection. */
export async function listItems(collection: string, params: ListParams): Promise<ListPage> {
  const page = await request<ListPage | undefined>("GET", `${adminPath(collection)}?${listQueryString(params)}`);
  return { total: page?.total ?? 0, list: page?.list ?? [] };
}

/** Every item of a collection (for pickers), up to 500. */
export async function allItems(collection: string): Promise<StoredItem[]> {
  return (await listItems(collection, { page: 1, pageSize: 500 })).list;
}

/** One item. */
export async function getItem(collection: string, id: string): Promise<StoredItem> {
  return request<StoredItem>("GET", adminPath(collection, id));
}

/** Create or replace an item under an id. */
export async function putItem(collection: string, id: string, value: Json): Promise<StoredItem> {
  return request<StoredItem>("PUT", adminPath(collection, id), { body: value });
}

/** Create an item with an id the server picks. */
export async function postItem(collection: string, value: Json): Promise<StoredItem> {
  return request<StoredItem>("POST", adminPath(collection), { body: value });
}

/** Merge fields into an item (fields not given are kept). */
export async function patchItem(collection: string, id: string, value: Json): Promise<StoredItem> {
  return request<StoredItem>("PATCH", adminPath(collection, id), { body: value });
}

/** Delete an item; rejects with the server's dependency error when it is in use. */
export async function deleteItem(collection: string, id: string): Promise<void> {
  await request<unknown>("DELETE", adminPath(collection, id));
}

/** The JSON schema of a resource kind (`/schema/{name}`). */
export async function resourceSchema(name: string): Promise<Json> {
  return request<Json>("GET", `${BASE}/schema/${name}`);
}

/** The schema of a plugin's configuration (or its consumer/metadata schema). */
export async function pluginSchema(name: string, type?: "consumer" | "metadata"): Promise<Json> {
  const q = type ? `?schema_type=${type}` : "";
  return request<Json>("GET", `${BASE}/plugins/${encodeURIComponent(name)}${q}`);
}

/** The enabled plugins, Rust and Lua, sorted. */
export async function enabledPlugins(): Promise<string[]> {
  return request<string[]>("GET", `${BASE}/plugins/list`);
}
