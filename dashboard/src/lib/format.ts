// Number and time formatting shared by the pages.

/** `hh:mm:ss` of a unix time, in the browser's zone. */
export function clock(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour12: false });
}

/** A rate with sensible precision. */
export function rate(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A fraction as a percentage. */
export function percent(v: number): string {
  return `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)}%`;
}

/** US dollars, with enough digits for fractions of a cent. */
export function usd(v: number): string {
  return v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(6)}`;
}

/** An uptime such as `3d 4h`, `5h 12m` or `42s`. */
export function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${Math.floor(seconds % 60)}s`;
  return `${Math.floor(seconds)}s`;
}
