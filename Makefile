# strait developer commands. On a fresh Debian 12 machine:
#   make run    install what is missing, build, start a local etcd and the gateway
#   make test   install what is missing and run every test
SHELL := /bin/bash
CARGO ?= cargo
CONFIG ?= conf/config.yaml

.PHONY: help deps build run stop test lint unit bench clean

help:
	@echo "make run | make test | make bench | make lint | make stop | make clean"

deps:
	@.ci/install-deps.sh

build: deps
	$(CARGO) build --release --bin strait

run: build
	@.ci/run-local.sh $(CONFIG)

# Stop the etcd that `make run` started.
stop:
	@if [ -f .data/etcd.pid ]; then kill "$$(cat .data/etcd.pid)" 2>/dev/null || true; rm -f .data/etcd.pid; echo "etcd stopped"; fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: deps lint
	$(CARGO) nextest run --no-fail-fast

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
