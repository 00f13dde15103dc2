// One fetch wrapper for the Admin API and the dashboard endpoints: adds the
// admin key, decodes JSON, and turns every non-2xx answer into an ApiError
// that carries the server's message verbatim.
import { loadSession } from "./session";

/** An answer other than 2xx, with the server's own words. */
export class ApiError extends Error {
  readonly status: number;
  /** The response body as text, exactly as received. */
  readonly body: string;

  constructor(status: number, message: string, body: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

/** The message APISIX puts in `error_msg` (with its `description`), else the raw body. */
export function errorMessage(status: number, body: string): string {
  try {
    const v = JSON.parse(body) as Record<string, unknown>;
    if (typeof v.error_msg === "string") {
      return typeof v.description === "string" ? `${v.error_msg}: ${v.description}` : v.error_msg;
    }
    if (typeof v.message === "string") return v.message;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return body.trim() || `HTTP ${status}`;
}

/** Options of one request. */
export interface RequestOptions {
  body?: unknown;
  /** Use this key instead of the session's (sign-in check). */
  key?: string;
  signal?: AbortSignal;
}

/** Send a request; resolve to the decoded JSON body (undefined when empty). */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const key = opts.key ?? loadSession()?.key;
  if (key) headers["X-API-KEY"] = key;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const resp = await fetch(path, { method, headers, body, signal: opts.signal });
  const text = await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, errorMessage(resp.status, text), text);
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return text as T;
  }
}
