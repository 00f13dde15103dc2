// LLM usage: tokens and cost over time per consumer, model and provider
// instance, from the node's samples of the apisix_llm_* metrics.
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Card, Col, Empty, Row, Segmented, Space, Table, Typography } from "antd";
import { Area, AreaChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { llmUsage } from "../api/dashboard";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { clock, usd } from "../lib/format";
import { chartData, seriesKey, totalsBy, type Dimension, type LlmPoint, type Measure, type TimeAxis } from "../lib/llmSeries";

const PALETTE = ["#1f6feb", "#1a7f37", "#bf8700", "#cf222e", "#8250df", "#0a7ea4", "#e16f24", "#57606a", "#999999"];
const DIMENSIONS: Array<{ value: Dimension; label: string }> = [
  { value: "consumer", label: "Consumer" },
  { value: "model", label: "Model" },
  { value: "instance", label: "Provider instance" },
];

/** The LLM usage page. */
export function LlmPage() {
  const [seconds, setSeconds] = useState(3600);
  const [dimension, setDimension] = useState<Dimension>("consumer");
  const usage = useQuery({ queryKey: ["llm", seconds], queryFn: () => llmUsage(seconds), refetchInterval: 10000 });
  const points = usage.data?.points ?? [];
  const interval = usage.data?.interval_seconds ?? 5;
  const end = usage.dataUpdatedAt ? Math.floor(usage.dataUpdatedAt / 1000) : 0;
  const axis = points.length ? { start: Math.max(end - seconds, points[0].time), end: Math.max(end, points[points.length - 1].time), interval } : undefined;
  return (
    <div>
      <Typography.Title level={2}>LLM usage</Typography.Title>
      <Space style={{ marginBottom: 16 }} wrap>
        <Segmented
          value={seconds}
          onChange={(v) => setSeconds(Number(v))}
          options={[
            { value: 900, label: "15 min" },
            { value: 3600, label: "1 hour" },
          ]}
        />
        <Segmented value={dimension} onChange={(v) => setDimension(v as Dimension)} options={DIMENSIONS} data-testid="llm-dimension" />
      </Space>
      <ApiErrorAlert error={usage.error} />
      {points.length === 0 && !usage.isLoading && (
        <Empty description="No LLM traffic in this window. Token and cost counts come from routes with the prometheus plugin, as in APISIX." />
      )}
      {points.length > 0 && (
        <>
          <Row gutter={16}>
            <Col span={12}>
              <UsageChart title="Tokens" points={points} axis={axis} dimension={dimension} measure="tokens" />
            </Col>
            <Col span={12}>
              <UsageChart title="Cost (USD)" points={points} axis={axis} dimension={dimension} measure="cost_usd" />
            </Col>
          </Row>
          <Row gutter={16} style={{ marginTop: 16 }}>
            {DIMENSIONS.map((d) => (
              <Col span={8} key={d.value}>
                <Totals points={points} dimension={d.value} title={d.label} />
              </Col>
            ))}
          </Row>
        </>
      )}
    </div>
  );
}

interface UsageChartProps {
  title: string;
  points: LlmPoint[];
  axis?: TimeAxis;
  dimension: Dimension;
  measure: Measure;
}

function UsageChart({ title, points, axis, dimension, measure }: UsageChartProps) {
  const { rows, series } = chartData(points, dimension, measure, axis);
  return (
    <Card title={`${title} per ${dimension}`} data-testid={`llm-chart-${measure}`}>
      <ResponsiveContainer width="100%" height={260}>
        <AreaChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="time" tickFormatter={clock} minTickGap={40} />
          <YAxis tickFormatter={(v) => (measure === "cost_usd" ? usd(Number(v)) : String(v))} width={80} />
          <Tooltip labelFormatter={(t) => clock(Number(t))} formatter={(v) => (measure === "cost_usd" ? usd(Number(v)) : String(v))} />
          <Legend />
          {series.map((s, i) => (
            <Area key={s} type="monotone" dataKey={seriesKey(s)} name={s} stackId="1" stroke={PALETTE[i % PALETTE.length]} fill={PALETTE[i % PALETTE.length]} isAnimationActive={false} />
          ))}
        </AreaChart>
      </ResponsiveContainer>
    </Card>
  );
}

function Totals({ points, dimension, title }: { points: LlmPoint[]; dimension: Dimension; title: string }) {
  const tokens = new Map(totalsBy(points, dimension, "tokens"));
  const cost = new Map(totalsBy(points, dimension, "cost_usd"));
  const rows = [...tokens.keys()].map((k) => ({ key: k, tokens: tokens.get(k) ?? 0, cost: cost.get(k) ?? 0 }));
  return (
    <Card title={`Per ${title.toLowerCase()}`} size="small" data-testid={`llm-totals-${dimension}`}>
      <Table
        size="small"
        pagination={false}
        dataSource={rows}
        columns={[
          { title, dataIndex: "key" },
          { title: "Tokens", dataIndex: "tokens", align: "right" },
          { title: "Cost", dataIndex: "cost", align: "right", render: (v: number) => usd(v) },
        ]}
      />
    </Card>
  );
}
