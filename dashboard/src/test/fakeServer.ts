// A stand-in for the admin listener in component tests: answers fetch()
// from a table of paths, in the Admin API's wire format.
import { vi } from "vitest";

/** Answers by `METHOD path` (path without query), status and body. */
export type Routes = Record<string, [number, unknown]>;

/** Replace fetch; returns the list of calls made (`METHOD url`). */
export function fakeServer(routes: Routes): string[] {
  const calls: string[] = [];
  vi.stubGlobal("fetch", async (url: string, init?: RequestInit) => {
    const method = init?.method ?? "GET";
    calls.push(`${method} ${url}`);
    const path = url.split("?")[0];
    const hit = routes[`${method} ${path}`];
    const [status, body] = hit ?? [404, { error_msg: "not found" }];
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
  });
  return calls;
}
