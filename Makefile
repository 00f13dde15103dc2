# strait developer commands. On a fresh Debian 12 machine:
#   make run    install what is missing, build, start a local etcd and the gateway
#   make test   install what is missing and run every test
SHELL := /bin/bash
CARGO ?= cargo
CONFIG ?= conf/config.yaml

.PHONY: help deps test-deps build dashboard run stop test lint unit dashboard-test bench clean

help:
	@echo "make run | make test | make bench | make lint | make stop | make clean"

deps:
	@.ci/install-deps.sh

test-deps:
	@.ci/install-deps.sh --test

# The web UI, built to dashboard/dist and served by the admin listener at /ui/.
dashboard: deps
	cd dashboard && npm run build

build: deps dashboard
	$(CARGO) build --release --bin strait

run: build
	@.ci/run-local.sh $(CONFIG)

# Stop the etcd that `make run` started.
stop:
	@if [ -f .data/etcd.pid ]; then kill "$$(cat .data/etcd.pid)" 2>/dev/null || true; rm -f .data/etcd.pid; echo "etcd stopped"; fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: test-deps lint
	$(CARGO) nextest run --no-fail-fast
	$(MAKE) --no-print-directory dashboard-test

# The dashboard: type check, unit tests (Vitest), build, then the browser
# tests (playwright-core driving Debian's chromium, headless) against the
# strait binary the integration tests built, a real etcd and fake upstreams.
# Screenshots of every page go to dashboard/e2e/artifacts/.
dashboard-test:
	cd dashboard && npm run typecheck && npm test && npm run build
	$(CARGO) build --bin strait
	cd dashboard && STRAIT_BIN="$${CARGO_TARGET_DIR:-$(CURDIR)/target}/debug/strait" npm run e2e

# Load scenarios against direct/nginx baselines (bench/run.py) and the
# criterion micro-benchmarks; figures go to bench/RESULTS.md.
# `make bench QUICK=1` finishes in under 5 minutes (no criterion runs).
bench:
	@.ci/install-deps.sh --bench
	$(CARGO) build --release --bin strait
	python3 bench/run.py $(if $(QUICK),--quick,)

clean:
	$(CARGO) clean
	rm -rf .data
