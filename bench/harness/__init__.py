"""strait's load-test harness: `make bench` (bench/run.py) starts etcd, a fake
upstream, nginx and strait on loopback, drives them with wrk and writes the
figures to bench/RESULTS.md. Standard library only."""
