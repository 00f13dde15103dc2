#!/usr/bin/env bash
# Plugin overhead, measured side by side in one run: requests/s through strait
# for a route without plugins and for the same route with plugins, against
# the same nginx upstream. strait gets one worker pinned to core 0; nginx
# (1 worker) and wrk share core 1. Each case runs REPEAT times, alternating;
# the median is reported with min–max.
#
#   bench/plugin_overhead.sh            # needs: etcd, nginx, wrk, target/release/strait
#   PLUGINS='{"limit-count":{...},"prometheus":{}}' DURATION=10 REPEAT=3 bench/plugin_overhead.sh
#   PLUGINS='{"bench-trivial":{}}' bench/plugin_overhead.sh   # a Lua plugin of bench/lua-plugins
#   AI=1 bench/plugin_overhead.sh   # ai-proxy (openai-compatible) against a fixed chat completion;
#                                   # both routes get the chat-completion POST of scenario 8
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-3}"
CONNS="${CONNS:-50}"
DEFAULT_PLUGINS='{"limit-count":{"count":1000000000,"time_window":60,"rejected_code":503},"prometheus":{}}'
PLUGINS="${PLUGINS:-$DEFAULT_PLUGINS}"
WRK_SCRIPT=()
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
    location = /v1/chat/completions { default_type application/json; return 200 '$(python3 -c 'import sys; sys.path.insert(0, "bench"); from harness.procs import CHAT_COMPLETION; print(CHAT_COMPLETION)')'; }
  }
}
NGINX
taskset -c 1 nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" &
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
plugin_attr:
  prometheus:
    export_addr: {ip: 127.0.0.1, port: $METRICS}
strait:
  data_dir: $DIR/data
  snapshot_file: $DIR/snapshot.json
  lua:
    plugin_dirs: ["$PWD/bench/lua-plugins"]
YAML
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
WRAP=()
[ -n "${CALLGRIND:-}" ] && WRAP=(valgrind --tool=callgrind "--callgrind-out-file=$DIR/callgrind.out.%p")
taskset -c 0 "${WRAP[@]}" "$BIN" -c "$DIR/config.yaml" 2>"$DIR/strait.log" &
PIDS+=($!)
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$STATUS/status/ready" >/dev/null 2>&1 && break; sleep 0.1; done

admin() { curl -sS --fail-with-body -X PUT "http://127.0.0.1:$ADMIN/apisix/admin$1" -H "X-API-KEY: $KEY" -d "$2" >/dev/null; }
admin /upstreams/1 "{\"nodes\":{\"127.0.0.1:$UP\":1},\"keepalive_pool\":{\"size\":320,\"idle_timeout\":60,\"requests\":1000000}}"
admin /routes/plain '{"uri":"/plain","upstream_id":"1"}'
if [ -n "${AI:-}" ]; then
  PLUGINS="{\"ai-proxy\":{\"provider\":\"openai-compatible\",\"auth\":{\"header\":{\"Authorization\":\"Bearer sk-upstream\"}},\"override\":{\"endpoint\":\"http://127.0.0.1:$UP/v1/chat/completions\"}}}"
  WRK_SCRIPT=(-s "$PWD/bench/harness/chat_completion.lua")
fi
admin /routes/plugins "{\"uri\":\"/plugins\",\"upstream_id\":\"1\",\"plugins\":$PLUGINS}"
for p in plain plugins; do
  for _ in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}' "http://127.0.0.1:$PROXY/$p")" = 200 ] && break; sleep 0.1; done
done

STRAIT_PID="$(pgrep -f "$BIN -c $DIR/config.yaml" | head -1)"
TICK="$(getconf CLK_TCK)"
# strait's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$STRAIT_PID/stat"; }
run() { taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency ${WRK_SCRIPT[@]+"${WRK_SCRIPT[@]}"} "http://127.0.0.1:$PROXY/$1" 2>/dev/null; }
requests() { awk '/requests in/ {print $1}'; }
rps() { awk '/Requests\/sec/ {print $2}'; }
p50() { awk '$1=="50%" {print $2}'; }
p99() { awk '$1=="99%" {print $2}'; }
non2xx() { awk '/Non-2xx/ {print $4}'; }

# CALLGRIND=1: instead of throughput, count strait's user-space instructions
# per request for each route under valgrind (deterministic: immune to a noisy
# host, blind to the kernel). Needs valgrind; slow, so runs are short.
if [ -n "${CALLGRIND:-}" ]; then
  for p in plain plugins; do
    callgrind_control --zero "$STRAIT_PID" >/dev/null
    out="$(run "$p")"
    callgrind_control --dump="$p" "$STRAIT_PID" >/dev/null
    sleep 1
    n="$(echo "$out" | requests)"
    dump="$(ls -t "$DIR"/callgrind.out.* | head -1)"
    ir="$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")"
    [ -n "${CALLGRIND_KEEP:-}" ] && cp "$dump" "$CALLGRIND_KEEP.$p"
    awk -v ir="$ir" -v n="$n" -v p="$p" 'BEGIN {printf "%s: %d requests, %.0f instructions/request\n", p, n, ir/n}'
  done
  exit 0
fi

declare -A R
for i in $(seq 1 "$REPEAT"); do
  # Alternate which route goes first, so drift on a shared host cancels.
  order="plain plugins"; [ $((i % 2)) -eq 0 ] && order="plugins plain"
  for p in $order; do
    before="$(cpu_ticks)"
    out="$(run "$p")"
    after="$(cpu_ticks)"
    # strait CPU microseconds per request: robust to the load generator's
    # share of core 1, which throughput alone is not.
    cpu_us="$(awk -v a="$before" -v b="$after" -v t="$TICK" -v n="$(echo "$out" | requests)" 'BEGIN {printf "%.2f", (b-a)/t*1e6/n}')"
    R[$p,$i]="$(echo "$out" | rps) $(echo "$out" | p50) $(echo "$out" | p99) $cpu_us $(echo "$out" | non2xx)"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "wrk -t1 -c$CONNS -d${DURATION}s, $REPEAT runs each, alternating; plugins: $PLUGINS"
for p in plain plugins; do
  vals="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f1; done)"
  med="$(echo "$vals" | median)"; min="$(echo "$vals" | sort -n | head -1)"; max="$(echo "$vals" | sort -n | tail -1)"
  lat="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f2-3; done | tr '\n' ';')"
  cpus="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f4; done)"
  cpu_med="$(echo "$cpus" | median)"
  bad="$(for i in $(seq 1 "$REPEAT"); do echo "${R[$p,$i]}" | cut -d' ' -f5; done | tr '\n' ' ')"
  echo "$p: median $med req/s (min $min, max $max); strait CPU/request median $cpu_med us ($(echo "$cpus" | sort -n | head -1)-$(echo "$cpus" | sort -n | tail -1)); p50/p99 per run: $lat non-2xx: ${bad:-none}"
  eval "MED_$p=$med"
  eval "CPU_$p=$cpu_med"
done
awk -v a="$MED_plugins" -v b="$MED_plain" 'BEGIN {printf "ratio of medians plugins/plain: %.3f (%.1f%% lost)\n", a/b, (1-a/b)*100}'
# Each repetition's two runs are back to back: their ratio is the least
# disturbed by a noisy host. Median and range over the repetitions.
pair_ratios="$(for i in $(seq 1 "$REPEAT"); do
  awk -v a="$(echo "${R[plugins,$i]}" | cut -d' ' -f1)" -v b="$(echo "${R[plain,$i]}" | cut -d' ' -f1)" 'BEGIN {printf "%.4f\n", a/b}'
done)"
awk -v m="$(echo "$pair_ratios" | median)" -v lo="$(echo "$pair_ratios" | sort -n | head -1)" -v hi="$(echo "$pair_ratios" | sort -n | tail -1)" \
  'BEGIN {printf "paired ratio plugins/plain: median %.3f (%.1f%% lost), range %.3f-%.3f\n", m, (1-m)*100, lo, hi}'
awk -v a="$CPU_plugins" -v b="$CPU_plain" 'BEGIN {printf "strait CPU per request plain/plugins: %.3f (throughput at a saturated core: %.1f%% lost)\n", b/a, (1-b/a)*100}'

# PROFILE=out.perf: one more run of the plugin route (PROFILE_ROUTE=plain: the
# route without plugins) under `perf record`.
if [ -n "${PROFILE:-}" ]; then
  perf record -F 999 -g --call-graph dwarf,16384 -p "$STRAIT_PID" -o "$PROFILE" -- sleep "$DURATION" >/dev/null 2>&1 &
  PERF_PID=$!
  run "${PROFILE_ROUTE:-plugins}" >/dev/null
  wait "$PERF_PID" || true
  echo "profile written to $PROFILE (perf report -i $PROFILE --no-children)"
fi

# SYSCALLS=1: one more run of the plain route (PROFILE_ROUTE=plugins: the
# plugin route) under `strace -c`, and the
# system calls per request it made (strace slows it down; the counts hold).
if [ -n "${SYSCALLS:-}" ]; then
  strace -c -f -p "$STRAIT_PID" -o "$DIR/strace.txt" &
  STRACE_PID=$!
  sleep 0.5
  requests="$(run "${PROFILE_ROUTE:-plain}" | requests)"
  kill -INT "$STRACE_PID"; wait "$STRACE_PID" || true
  awk -v n="$requests" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {printf "%-16s %8.3f per request\n", $NF, $4 / n}' "$DIR/strace.txt" | sort -k2 -nr
  echo "($requests requests)"
fi
