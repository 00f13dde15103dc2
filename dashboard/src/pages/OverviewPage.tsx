// The overview: etcd, the configuration this node serves, traffic, and the
// health of upstream nodes. Refreshed every 5 seconds.
import { Link } from "react-router-dom";
import { useQuery } from "@tanstack/react-query";
import { Card, Col, Row, Statistic, Table, Tag, Typography } from "antd";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { overview, traffic, type NodeHealth, type Overview } from "../api/dashboard";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { clock, duration, percent, rate } from "../lib/format";
import { RESOURCES } from "../lib/resources";

const HEALTH_COLORS: Record<NodeHealth["health"], string> = { healthy: "green", unhealthy: "red", unchecked: "default" };

/** The overview page. */
export function OverviewPage() {
  const ov = useQuery({ queryKey: ["overview"], queryFn: overview, refetchInterval: 5000 });
  const tr = useQuery({ queryKey: ["traffic"], queryFn: () => traffic(900), refetchInterval: 5000 });
  const o = ov.data;
  return (
    <div>
      <Typography.Title level={2}>Overview</Typography.Title>
      <ApiErrorAlert error={ov.error ?? tr.error} />
      {o && <Figures o={o} />}
      {o && <Counts counts={o.config.counts} />}
      <Card title="Traffic, last 15 minutes" style={{ marginTop: 16 }} data-testid="traffic-chart">
        <ResponsiveContainer width="100%" height={240}>
          <LineChart data={tr.data?.points ?? []}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="time" tickFormatter={clock} minTickGap={40} />
            <YAxis yAxisId="rps" />
            <YAxis yAxisId="err" orientation="right" tickFormatter={percent} domain={[0, 1]} />
            <Tooltip labelFormatter={(t) => clock(Number(t))} />
            <Legend />
            <Line yAxisId="rps" type="monotone" dataKey="requests_per_second" name="requests/s" stroke="#1f6feb" dot={false} isAnimationActive={false} />
            <Line yAxisId="err" type="monotone" dataKey="error_rate" name="5xx rate" stroke="#cf222e" dot={false} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </Card>
      {o && <Upstreams o={o} />}
    </div>
  );
}

function Figures({ o }: { o: Overview }) {
  return (
    <Row gutter={16}>
      <Col span={5}>
        <Card data-testid="etcd-status">
          <Statistic title="etcd" value={o.etcd.reachable ? "reachable" : "unreachable"} styles={{ content: { color: o.etcd.reachable ? "#1a7f37" : "#cf222e" } }} />
          <Typography.Text type="secondary">{o.etcd.endpoints.join(", ")}</Typography.Text>
        </Card>
      </Col>
      <Col span={5}>
        <Card>
          <Statistic title="Config revision served" value={o.config.revision} groupSeparator="" />
          <Typography.Text type="secondary">prefix {o.etcd.prefix}</Typography.Text>
        </Card>
      </Col>
      <Col span={5}>
        <Card>
          <Statistic title="Requests/s" value={rate(o.traffic.requests_per_second)} />
          <Typography.Text type="secondary">last {o.traffic.window_seconds}s</Typography.Text>
        </Card>
      </Col>
      <Col span={4}>
        <Card>
          <Statistic title="Error rate (5xx)" value={percent(o.traffic.error_rate)} />
          <Typography.Text type="secondary">last {o.traffic.window_seconds}s</Typography.Text>
        </Card>
      </Col>
      <Col span={5}>
        <Card>
          <Statistic title="strait" value={o.node.version} />
          <Typography.Text type="secondary">
            {o.node.hostname}, up {duration(o.node.uptime_seconds)}
          </Typography.Text>
        </Card>
      </Col>
    </Row>
  );
}

function Counts({ counts }: { counts: Record<string, number> }) {
  return (
    <Card title="Configuration this node serves" style={{ marginTop: 16 }} data-testid="resource-counts">
      <Row gutter={[16, 16]}>
        {RESOURCES.map((r) => (
          <Col span={4} key={r.path}>
            <Link to={`/${r.path}`}>
              <Statistic title={r.title} value={counts[r.path] ?? 0} />
            </Link>
          </Col>
        ))}
      </Row>
    </Card>
  );
}

function Upstreams({ o }: { o: Overview }) {
  return (
    <Card title="Upstream nodes" style={{ marginTop: 16 }} data-testid="upstream-health">
      <Table
        rowKey="id"
        size="small"
        pagination={{ pageSize: 10, hideOnSinglePage: true }}
        dataSource={o.upstreams}
        columns={[
          { title: "Upstream", key: "id", render: (_, u) => (u.name ? `${u.id} (${u.name})` : u.id) },
          {
            title: "Nodes",
            key: "nodes",
            render: (_, u) =>
              u.nodes.map((n) => (
                <Tag key={`${n.host}:${n.port}`} color={HEALTH_COLORS[n.health]}>
                  {n.host}:{n.port} · {n.health}
                </Tag>
              )),
          },
        ]}
      />
    </Card>
  );
}
