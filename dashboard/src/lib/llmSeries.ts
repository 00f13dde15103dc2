// The LLM page's charts: token and cost samples from `/ui/api/llm`, summed
// per time step and per consumer, model or provider instance.

/** One sample of `/ui/api/llm`: what one label combination used in one interval. */
export interface LlmPoint {
  time: number;
  consumer: string;
  model: string;
  instance: string;
  route: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

/** What a chart groups by. */
export type Dimension = "consumer" | "model" | "instance";

/** What a chart adds up. */
export type Measure = "tokens" | "cost_usd";

/** Chart rows (one per time step, one key per series) and the series names, largest first. */
export interface ChartData {
  rows: Array<Record<string, number>>;
  series: string[];
}

/** The row key of a series: prefixed, so a consumer named `time` keeps the x axis intact. */
export function seriesKey(name: string): string {
  return `s:${name}`;
}

/** The label of a point along a dimension; an empty label reads as `(none)`. */
export function labelOf(p: LlmPoint, d: Dimension): string {
  return p[d] || "(none)";
}

function measureOf(p: LlmPoint, m: Measure): number {
  return m === "tokens" ? p.prompt_tokens + p.completion_tokens : p.cost_usd;
}

/** Totals per label along `d`, largest first. */
export function totalsBy(points: LlmPoint[], d: Dimension, m: Measure): Array<[string, number]> {
  const totals = new Map<string, number>();
  for (const p of points) totals.set(labelOf(p, d), (totals.get(labelOf(p, d)) ?? 0) + measureOf(p, m));
  return [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The time axis of a chart: every `interval` seconds from `start` to `end`. */
export interface TimeAxis {
  start: number;
  end: number;
  interval: number;
}

/**
 * Rows for a stacked chart: at most `maxSeries` series, the rest summed as
 * `other`. With an `axis`, every step of it gets a row (zero when nothing was
 * used), so a quiet minute shows as zero rather than as a gap.
 */
export function chartData(points: LlmPoint[], d: Dimension, m: Measure, axis?: TimeAxis, maxSeries = 8): ChartData {
  const ranked = totalsBy(points, d, m).map(([k]) => k);
  const kept = new Set(ranked.slice(0, maxSeries));
  const series = ranked.slice(0, maxSeries);
  if (ranked.length > maxSeries) series.push("other");
  const byTime = new Map<number, Record<string, number>>();
  const step = (t: number) => (axis ? axis.start + Math.round((t - axis.start) / axis.interval) * axis.interval : t);
  if (axis && axis.interval > 0) {
    for (let t = axis.start; t <= axis.end; t += axis.interval) {
      const row: Record<string, number> = { time: t };
      for (const s of series) row[seriesKey(s)] = 0;
      byTime.set(t, row);
    }
  }
  for (const p of points) {
    const t = step(p.time);
    const row = byTime.get(t) ?? { time: t };
    const key = seriesKey(kept.has(labelOf(p, d)) ? labelOf(p, d) : "other");
    row[key] = (row[key] ?? 0) + measureOf(p, m);
    byTime.set(t, row);
  }
  const rows = [...byTime.values()].sort((a, b) => a.time - b.time);
  return { rows, series };
}
