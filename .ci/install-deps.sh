#!/usr/bin/env bash
# Install what strait's build, `make run` and `make test` need on Debian 12,
# skipping anything already present. Safe to run repeatedly.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v etcd    >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v protoc  >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v curl    >/dev/null 2>&1 || missing+=(curl)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)   # limit-* policy: redis tests
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)          # promtool check metrics
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v npm     >/dev/null 2>&1 || missing+=(nodejs npm)              # the dashboard's build
if [ "${1:-}" = "--test" ]; then                                       # dashboard browser tests
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if [ "${1:-}" = "--bench" ]; then                                      # make bench baselines
  command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
  command -v wrk   >/dev/null 2>&1 || missing+=(wrk)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)             # scenario 9's certificate
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -q "${missing[@]}" >/dev/null; then
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
  fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Python packages for the tests, in .venv (recreated when t/requirements.txt changes).
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum t/requirements.txt | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "installing Python test packages into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r t/requirements.txt
  echo "$want" >"$STAMP"
fi

# The dashboard's build (Vite 8) needs Node.js 20.19 or newer; Debian 12's
# own nodejs is 18, so say so instead of failing inside npm.
node_version="$(node -v 2>/dev/null || echo v0)"
node_major="${node_version#v}"; node_minor="${node_major#*.}"; node_major="${node_major%%.*}"; node_minor="${node_minor%%.*}"
if [ "$node_major" -lt 20 ] || { [ "$node_major" -eq 20 ] && [ "$node_minor" -lt 19 ]; }; then
  echo "the dashboard needs Node.js >= 20.19 (found $node_version): install it from nodejs.org or NodeSource" >&2
  exit 1
fi

# The dashboard's npm packages, in dashboard/node_modules (reinstalled when
# dashboard/package-lock.json changes).
NSTAMP=dashboard/node_modules/.package-lock.sha256
nwant="$(sha256sum dashboard/package-lock.json | cut -d' ' -f1)"
if [ ! -d dashboard/node_modules ] || [ "$(cat "$NSTAMP" 2>/dev/null)" != "$nwant" ]; then
  echo "installing the dashboard's npm packages into dashboard/node_modules"
  (cd dashboard && npm ci --no-audit --no-fund --loglevel=error)
  echo "$nwant" >"$NSTAMP"
fi

# LiteLLM's proxy for the LLM baseline of `make bench`, in .data/litellm
# (recreated when bench/litellm-requirements.txt changes).
if [ "${1:-}" = "--bench" ]; then
  LVENV=.data/litellm
  LSTAMP="$LVENV/.requirements.sha256"
  lwant="$(sha256sum bench/litellm-requirements.txt | cut -d' ' -f1)"
  if [ ! -x "$LVENV/bin/litellm" ] || [ "$(cat "$LSTAMP" 2>/dev/null)" != "$lwant" ]; then
    echo "installing LiteLLM's proxy into $LVENV (bench baseline)"
    python3 -m venv "$LVENV"
    "$LVENV/bin/pip" install -q --disable-pip-version-check -r bench/litellm-requirements.txt
    echo "$lwant" >"$LSTAMP"
  fi
fi
