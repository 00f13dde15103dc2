import { describe, expect, it } from "vitest";
import { chartData, totalsBy, type LlmPoint } from "./llmSeries";

const p = (time: number, consumer: string, model: string, tokens: number, cost = 0): LlmPoint => ({
  time, consumer, model, instance: "openai-a", route: "1", prompt_tokens: tokens, completion_tokens: 1, cost_usd: cost,
});

describe("LLM series", () => {
  it("sums tokens per label, largest first", () => {
    const points = [p(10, "alice", "m1", 9), p(10, "bob", "m1", 1), p(15, "alice", "m2", 4)];
    expect(totalsBy(points, "consumer", "tokens")).toEqual([["alice", 15], ["bob", 2]]);
    expect(totalsBy(points, "model", "tokens")).toEqual([["m1", 12], ["m2", 5]]);
  });

  it("builds one row per time step with one key per series", () => {
    const { rows, series } = chartData([p(15, "bob", "m", 1, 0.5), p(10, "alice", "m", 2, 0.25), p(10, "bob", "m", 3, 1)], "consumer", "cost_usd");
    expect(series).toEqual(["bob", "alice"]);
    expect(rows).toEqual([{ time: 10, "s:alice": 0.25, "s:bob": 1 }, { time: 15, "s:bob": 0.5 }]);
  });

  it("folds the smallest series into other", () => {
    const points = ["a", "b", "c"].map((c, i) => p(10, c, "m", 10 - i));
    const { rows, series } = chartData(points, "consumer", "tokens", undefined, 2);
    expect(series).toEqual(["a", "b", "other"]);
    expect(rows[0]["s:other"]).toBe(9);
  });

  it("names an empty label", () => {
    expect(totalsBy([p(1, "", "m", 1)], "consumer", "tokens")[0][0]).toBe("(none)");
  });

  it("fills every step of the window with zeros where nothing was used", () => {
    const { rows } = chartData([p(20, "alice", "m", 4)], "consumer", "tokens", { start: 10, end: 30, interval: 5 });
    expect(rows).toEqual([
      { time: 10, "s:alice": 0 },
      { time: 15, "s:alice": 0 },
      { time: 20, "s:alice": 5 },
      { time: 25, "s:alice": 0 },
      { time: 30, "s:alice": 0 },
    ]);
  });

  it("keeps the time axis when a consumer is named time", () => {
    const { rows, series } = chartData([p(10, "time", "m", 4)], "consumer", "tokens");
    expect(series).toEqual(["time"]);
    expect(rows).toEqual([{ time: 10, "s:time": 5 }]);
  });
});
