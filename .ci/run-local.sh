#!/usr/bin/env bash
# `make run`: start a local etcd on loopback (data in .data/etcd) unless one
# already answers at ETCD_ENDPOINT, then run strait in the foreground.
set -euo pipefail

CONFIG="${1:-conf/config.yaml}"
ETCD_ENDPOINT="${ETCD_ENDPOINT:-127.0.0.1:2379}"
DATA=".data"
mkdir -p "$DATA"

etcd_up() { curl -fsS --max-time 1 "http://$ETCD_ENDPOINT/health" >/dev/null 2>&1; }

if etcd_up; then
  echo "etcd:      using the one already running at $ETCD_ENDPOINT"
else
  host="${ETCD_ENDPOINT%:*}"; port="${ETCD_ENDPOINT##*:}"
  peer=$((port + 1))
  nohup etcd --name strait-local --data-dir "$DATA/etcd" \
    --listen-client-urls "http://$ETCD_ENDPOINT" --advertise-client-urls "http://$ETCD_ENDPOINT" \
    --listen-peer-urls "http://$host:$peer" --initial-advertise-peer-urls "http://$host:$peer" \
    --initial-cluster "strait-local=http://$host:$peer" \
    --logger zap --log-level warn >"$DATA/etcd.log" 2>&1 &
  echo $! >"$DATA/etcd.pid"
  for _ in $(seq 1 50); do etcd_up && break; sleep 0.1; done
  etcd_up || { echo "etcd did not start; see $DATA/etcd.log" >&2; exit 1; }
  echo "etcd:      started at $ETCD_ENDPOINT (data in $DATA/etcd, log $DATA/etcd.log; stop with: make stop)"
fi

cat <<MSG
proxy:     http://127.0.0.1:9080  https://127.0.0.1:9443 (certificates: /apisix/admin/ssls; README "TLS and HTTP/2")
status:    http://127.0.0.1:7085/status  (ready: /status/ready)
admin:     http://127.0.0.1:9180/apisix/admin  (key: cat $DATA/admin_key.admin, created at first start)
dashboard: http://127.0.0.1:9180/ui/  (sign in with that key)

Try it:
  curl -i -X PUT http://127.0.0.1:9180/apisix/admin/routes/1 -H "X-API-KEY: \$(cat $DATA/admin_key.admin)" \\
    -d '{"uri":"/status","upstream":{"type":"roundrobin","nodes":{"127.0.0.1:7085":1}}}'
  curl -i http://127.0.0.1:9080/status   # proxied to the status API

MSG
exec ./target/release/strait -c "$CONFIG"
