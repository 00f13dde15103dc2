#!/usr/bin/env bash
# Plugin overhead, measured side by side in one run: requests/s through strait
# for a route without plugins and for the same route with plugins, against
# the same nginx upstream. strait gets one worker pinned to core 0; nginx
# (1 worker) and wrk share core 1. Each case runs REPEAT times, alternating;
# the median is reported with min–max.
#
#   bench/plugin_overhead.sh            # needs: etcd, nginx, wrk, target/release/strait
#   PLUGINS='{"limit-count":{...},"prometheus":{}}' DURATION=10 REPEAT=3 bench/plugin_overhead.sh
set -euo pipefail

DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-3}"
CONNS="${CONNS:-50}"
DEFAULT_PLUGINS='{"limit-count":{"count":1000000000,"time_window":60,"rejected_code":503},"prometheus":{}}'
PLUGINS="${PLUGINS:-$DEFAULT_PLUGINS}"
BIN="${STRAIT_BIN:-target/release/strait}"
KEY="bench-admin-key-0123456789abcdef"

for tool in etcd nginx wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (make deps / apt-get install)"; exit 1; }
done
[ -x "$BIN" ] || { echo "build first: cargo build --release --bin strait"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIR="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

ETCD_PORT=$(free_port); PEER=$(free_port); UP=$(free_port); PROXY=$(free_port)
STATUS=$(free_port); ADMIN=$(free_port); METRICS=$(free_port)

etcd --data-dir "$DIR/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$PEER" \
  --initial-advertise-peer-urls "http://127.0.0.1:$PEER" --initial-cluster "default=http://127.0.0.1:$PEER" \
  --logger zap --log-level error >/dev/null 2>&1 &
PIDS+=($!)

mkdir -p "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP;
    location / { return 200 "hello world\n"; }
  }
}
NGINX
taskset -c 1 nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" &
PIDS+=($!)

cat >"$DIR/config.yaml" <<YAML
apisix:
  node_listen: [{ip: 127.0.0.1, port: $PROXY}]
  status: {ip: 127.0.0.1, port: $STATUS}
nginx_config:
  worker_processes: 1
  error_log_level: error
deployment:
  admin:
    admin_listen: {ip: 127.0.0.1, port: $ADMIN}
    admin_key: [{name: admin, key: $KEY, role: admin}]
  etcd:
    host: ["http://127.0.0.1:$ETCD_PORT"]
plugin_attr:
  prometheus:
    export_addr: {ip: 127.0.0.1, port: $METRICS}
strait:
  data_dir: $DIR/data
  snapshot_file: $DIR/snapshot.json
YAML
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
taskset -c 0 "$BIN" -c "$DIR/config.yaml" 2>"$DIR/strait.log" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$STATUS/status/ready" >/dev/null 2>&1 && break; sleep 0.1; done

admin() { curl -sS --fail-with-body -X PUT "http://127.0.0.1:$ADMIN/apisix/admin$1" -H "X-API-KEY: $KEY" -d "$2" >/dev/null; }
admin /upstreams/1 "{\"nodes\":{\"127.0.0.1:$UP\":1},\"keepalive_pool\":{\"size\":320,\"idle_timeout\":60,\"requests\":1000000}}"
admin /routes/plain '{"uri":"/plain","upstream_id":"1"}'
admin /routes/plugins "{\"uri\":\"/plugins\",\"upstream_id\":\"1\",\"plugins\":$PLUGINS}"
for p in plain plugins; do
  for _ in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROXY/$p")" = 200 ] && break; sleep 0.1; done
done

run() { taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PROXY/$1" 2>/dev/null; }
rps() { awk '/Requests\/sec/ {print $2}'; }
p50() { awk '$1=="50%" {print $2}'; }
p99() { awk '$1=="99%" {print $2}'; }
non2xx() { awk '/Non-2xx/ {print $4}'; }

declare -A R
for i in $(seq 1 "$REPEAT"); do
  for p in plain plugins; do
    out="$(run "$p")"
    R[$p,$i]="$(echo "$out" | rps) $(echo "$out" | p50) $(echo "$out" | p99) $(echo "$out" | non2xx)"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "wrk -t1 -c$CONNS -d${DURATION}s, $REPEAT runs each, alternating; plugins: $PLUGINS"
for p in plain plugins; do
  vals="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f1; done)"
  med="$(echo "$vals" | median)"; min="$(echo "$vals" | sort -n | head -1)"; max="$(echo "$vals" | sort -n | tail -1)"
  lat="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f2-3; done | tr '\n' ';')"
  bad="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f4; done | tr '\n' ' ')"
  echo "$p: median $med req/s (min $min, max $max); p50/p99 per run: $lat non-2xx: ${bad:-none}"
  eval "MED_$p=$med"
done
awk -v a="$MED_plugins" -v b="$MED_plain" 'BEGIN {printf "ratio plugins/plain: %.3f (%.1f%% lost)\n", a/b, (1-a/b)*100}'
