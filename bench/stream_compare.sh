#!/usr/bin/env bash
# Streaming through strait without plugins against streaming through
# `ai-proxy`, in one run, to the paced SSE mock of bench/llm_stream.rs:
# what translation adds to time to first token and to each chunk, apart
# from what proxying itself costs. strait (1 worker) runs on core 0; the
# mock and the client share core 1. In the output `strait` is the
# ai-proxy route and `nginx` is strait's plain route (llm_stream.rs's
# second candidate slot).
#
#   bench/stream_compare.sh              # needs: etcd, target/release/strait
#   REQUESTS=1000 bench/stream_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in etcd taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (make deps)"; exit 1; }
done
BIN="${STRAIT_BIN:-target/release/strait}"
[ -x "$BIN" ] || { echo "build first: cargo build --release --bin strait"; exit 1; }
KEY="bench-admin-key-0123456789abcdef"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIR="$(mktemp -d)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
ETCD_PORT=$(free_port); PEER=$(free_port); PROXY=$(free_port); STATUS=$(free_port); ADMIN=$(free_port); MOCK=$(free_port)
etcd --data-dir "$DIR/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" --initial-cluster "default=http://127.0.0.1:$PEER" --logger zap --log-level error >/dev/null 2>&1 &
PIDS+=($!)
cat >"$DIR/config.yaml" <<YAML
apisix:
  node_listen: [{ip: 127.0.0.1, port: $PROXY}]
  status: {ip: 127.0.0.1, port: $STATUS}
  ssl: {enable: false}
nginx_config:
  worker_processes: 1
  error_log_level: error
deployment:
  admin:
    admin_listen: {ip: 127.0.0.1, port: $ADMIN}
    admin_key: [{name: admin, key: $KEY, role: admin}]
  etcd:
    host: ["http://127.0.0.1:$ETCD_PORT"]
strait:
  data_dir: $DIR/data
  snapshot_file: $DIR/snapshot.json
YAML
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
taskset -c 0 "$BIN" -c "$DIR/config.yaml" 2>"$DIR/strait.log" &
PIDS+=($!)
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$STATUS/status/ready" >/dev/null 2>&1 && break; sleep 0.1; done
admin() { curl -sS --fail-with-body -X PUT "http://127.0.0.1:$ADMIN/apisix/admin$1" -H "X-API-KEY: $KEY" -d "$2" >/dev/null; }
admin /upstreams/m "{\"nodes\":{\"127.0.0.1:$MOCK\":1},\"keepalive_pool\":{\"size\":16,\"idle_timeout\":60,\"requests\":1000000}}"
admin /routes/plain '{"uri":"/v1/chat/completions","upstream_id":"m"}'
admin /routes/ai "{\"uri\":\"/ai/v1/chat/completions\",\"plugins\":{\"ai-proxy\":{\"provider\":\"openai-compatible\",\"auth\":{\"header\":{\"Authorization\":\"Bearer x\"}},\"override\":{\"endpoint\":\"http://127.0.0.1:$MOCK/v1/chat/completions\"}}}}"
for _ in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PROXY/ai/v1/chat/completions" -d '{}')" != 404 ] && break; sleep 0.1; done
taskset -c 1 cargo bench --bench llm_stream -- --port $MOCK --strait "http://127.0.0.1:$PROXY/ai/v1/chat/completions" --nginx "http://127.0.0.1:$PROXY/v1/chat/completions" --requests "${REQUESTS:-300}" >"$DIR/bench.out" 2>"$DIR/bench.err" || { cat "$DIR/bench.err"; exit 1; }
grep -v "^{" "$DIR/bench.out"
