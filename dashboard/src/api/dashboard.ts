// The dashboard's own read-only endpoints on the admin listener (`/ui/api/*`,
// documented in dashboard/API.md).
import { request } from "./http";
import type { Role } from "./session";
import type { LlmPoint } from "../lib/llmSeries";

/** `GET /ui/api/whoami`. */
export interface WhoAmI {
  name: string;
  role: Role;
}

/** `GET /ui/api/revision`: what this node serves, and where etcd is. */
export interface Revision {
  applied: number;
  etcd: number | null;
}

/** One upstream node and its health. */
export interface NodeHealth {
  host: string;
  port: number;
  weight: number;
  health: "healthy" | "unhealthy" | "unchecked";
}

/** `GET /ui/api/overview`. */
export interface Overview {
  node: { hostname: string; version: string; uptime_seconds: number };
  etcd: { reachable: boolean; endpoints: string[]; prefix: string };
  config: { revision: number; counts: Record<string, number> };
  traffic: { window_seconds: number; requests_per_second: number; error_rate: number };
  upstreams: Array<{ id: string; name: string; nodes: NodeHealth[] }>;
}

/** One step of `GET /ui/api/traffic`. */
export interface TrafficPoint {
  time: number;
  requests: number;
  errors: number;
  requests_per_second: number;
  error_rate: number;
}

/** A series with its sampling interval. */
export interface Series<P> {
  interval_seconds: number;
  points: P[];
}

/** Who the key belongs to; rejects with 401 for a wrong key. */
export function whoAmI(key?: string): Promise<WhoAmI> {
  return request<WhoAmI>("GET", "/ui/api/whoami", { key });
}

/** The applied and current etcd revisions. */
export function revision(): Promise<Revision> {
  return request<Revision>("GET", "/ui/api/revision");
}

/** The overview page's figures. */
export function overview(): Promise<Overview> {
  return request<Overview>("GET", "/ui/api/overview");
}

/** Requests and errors over the last `seconds`. */
export function traffic(seconds: number): Promise<Series<TrafficPoint>> {
  return request<Series<TrafficPoint>>("GET", `/ui/api/traffic?seconds=${seconds}`);
}

/** LLM tokens and cost over the last `seconds`. */
export function llmUsage(seconds: number): Promise<Series<LlmPoint>> {
  return request<Series<LlmPoint>>("GET", `/ui/api/llm?seconds=${seconds}`);
}

/**
 * Resolve once this node serves the configuration etcd holds now (call it
 * right after a write), or reject after `timeoutMs`.
 */
export async function waitUntilLive(timeoutMs = 10000, stepMs = 200): Promise<number> {
  const target = await revision();
  if (target.etcd === null) throw new Error("etcd is not reachable");
  const deadline = Date.now() + timeoutMs;
  let now = target;
  while (now.applied < (target.etcd ?? 0)) {
    if (Date.now() > deadline) throw new Error(`the data plane is still at revision ${now.applied}, etcd at ${target.etcd}`);
    await new Promise((r) => setTimeout(r, stepMs));
    now = await revision();
  }
  return now.applied;
}
