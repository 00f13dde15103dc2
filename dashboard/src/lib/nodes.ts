// Upstream `nodes` come in two shapes: a map `{"host:port": weight}` and an
// array of `{host, port, weight, priority?}`. The form edits the array; a
// document that used the map keeps the map when nothing needs the array.
import { isObject, type Json } from "./document";

/** One upstream node as the form edits it. */
export interface UpstreamNode {
  host: string;
  port?: number;
  weight: number;
  priority?: number;
  metadata?: Json;
}

/** Split `host:port` (IPv6 in brackets) into its parts. */
export function splitAddress(addr: string): { host: string; port?: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(addr);
  if (!m) return { host: addr };
  return { host: m[1], port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** Nodes in array form, whatever the stored shape. */
export function nodesToArray(nodes: unknown): UpstreamNode[] {
  if (Array.isArray(nodes)) return nodes as UpstreamNode[];
  if (!isObject(nodes)) return [];
  return Object.entries(nodes).map(([addr, weight]) => ({
    ...splitAddress(addr),
    weight: Number(weight),
  }));
}

/** Nodes in map form, or null when a node carries more than address and weight. */
export function nodesToMap(nodes: UpstreamNode[]): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const n of nodes) {
    if (n.priority !== undefined || n.metadata !== undefined || !n.host) return null;
    out[n.port === undefined ? n.host : `${n.host}:${n.port}`] = n.weight;
  }
  return out;
}

/** The form's nodes back in the shape the stored document used. */
export function nodesForDocument(formNodes: unknown, stored: unknown): unknown {
  if (!Array.isArray(formNodes)) return formNodes;
  if (stored !== undefined && !isObject(stored)) return formNodes;
  return nodesToMap(formNodes as UpstreamNode[]) ?? formNodes;
}
