// What the list tables show for each kind: a short summary of the fields
// that tell items apart.
import { isObject, type Json } from "./document";
import { nodesToArray } from "./nodes";

/** One summary column: title and how to read it from a stored value. */
export interface SummaryColumn {
  title: string;
  text: (v: Json) => string;
}

function list(v: unknown): string {
  return Array.isArray(v) ? v.join(", ") : v === undefined || v === null ? "" : String(v);
}

function upstreamOf(v: Json): string {
  if (v.upstream_id !== undefined) return `upstream ${String(v.upstream_id)}`;
  if (isObject(v.upstream)) return `inline: ${nodeList(v.upstream.nodes)}`;
  if (v.service_id !== undefined) return `service ${String(v.service_id)}`;
  return "";
}

function nodeList(nodes: unknown): string {
  return nodesToArray(nodes)
    .map((n) => (n.port === undefined ? n.host : `${n.host}:${n.port}`))
    .join(", ");
}

/** The summary columns of a kind (by its path). */
export function summaryColumns(path: string): SummaryColumn[] {
  switch (path) {
    case "routes":
      return [
        { title: "URI", text: (v) => list(v.uris ?? v.uri) },
        { title: "Methods", text: (v) => list(v.methods) || "any" },
        { title: "Upstream", text: upstreamOf },
      ];
    case "services":
      return [
        { title: "Hosts", text: (v) => list(v.hosts) },
        { title: "Upstream", text: upstreamOf },
      ];
    case "upstreams":
      return [
        { title: "Type", text: (v) => String(v.type ?? "roundrobin") },
        { title: "Nodes", text: (v) => nodeList(v.nodes) || list(v.service_name) },
      ];
    case "consumers":
      return [
        { title: "Group", text: (v) => list(v.group_id) },
        { title: "Description", text: (v) => list(v.desc) },
      ];
    case "ssls":
      return [
        { title: "SNIs", text: (v) => list(v.snis ?? v.sni) },
        { title: "Type", text: (v) => String(v.type ?? "server") },
      ];
    case "credentials":
      return [{ title: "Description", text: (v) => list(v.desc) }];
    default:
      return [{ title: "Description", text: (v) => list(v.desc) }];
  }
}

/** The display name of an item: `name`, else `username`, else empty. */
export function displayName(v: Json): string {
  return typeof v.name === "string" ? v.name : typeof v.username === "string" ? v.username : "";
}

/** The plugins an item configures, by name. */
export function pluginNames(v: Json): string[] {
  return isObject(v.plugins) ? Object.keys(v.plugins).sort() : [];
}

/** The item's labels as `key:value` strings. */
export function labelPairs(v: Json): string[] {
  return isObject(v.labels) ? Object.entries(v.labels).map(([k, x]) => `${k}:${String(x)}`) : [];
}
