#!/usr/bin/env python3
"""`make bench`: every load scenario side by side with its baselines, the
figures written to bench/RESULTS.md (see bench/README.md).

    bench/run.py            full run, criterion micro-benchmarks included
    bench/run.py --quick    shorter runs, a smaller reload table, no criterion (< 5 min)
    bench/run.py --only 1,3 some scenarios (numbers as in the results table)
    bench/run.py --no-write print, leave RESULTS.md alone
"""

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import procs, report, scenarios  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ALL = "1,2,3,4,5,6,7,8,9"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=ALL, help="scenario numbers, and `micro` for criterion")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--binary", default=str(ROOT / "target/release/strait"))
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",")}
    for tool in ["etcd", "nginx", "wrk", "taskset", "openssl"]:
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: run .ci/install-deps.sh --bench")
    if not Path(args.binary).exists():
        sys.exit(f"build first: cargo build --release --bin strait ({args.binary} missing)")
    seconds, repeat = (3, 3) if args.quick else (10, 5)
    reload_routes, reload_writes = (20000, 30) if args.quick else (100000, 100)

    with tempfile.TemporaryDirectory(prefix="strait-bench-") as tmp:
        p = procs.Procs(tmp)
        try:
            etcd_url = procs.start_etcd(p)
            upstream = procs.start_upstream(p)
            stream_port = procs.free_port()
            tls = procs.make_cert(p)
            nginx, nginx_tls, nginx_stream = procs.start_nginx_proxy(p, upstream, stream_port, tls)
            strait = procs.Strait(p, args.binary, etcd_url)
            bench = scenarios.Bench(
                strait, procs.nginx_worker(p, "nginx-proxy"), etcd_url, upstream, nginx, seconds, repeat
            )
            bench.stream_port, bench.nginx_stream_port = stream_port, nginx_stream
            bench.nginx_tls_port, bench.tls = nginx_tls, tls
            if "3" in only:
                bench.far_upstream_port = procs.start_upstream(p, procs.PROXY_CORE, "upstream-far")
            scenarios.setup_routes(bench)
            bench.figures["rss_idle_kib"] = procs.rss_kib(strait.pid)
            steps = [
                ("1", scenarios.core_ratio),
                ("2", scenarios.plugins),
                ("3", scenarios.latency),
                ("5", scenarios.churn),
                ("4", scenarios.many_routes),
                ("8", scenarios.llm),
                ("9", scenarios.tls),
            ]
            for key, step in steps:
                if key in only or (key == "4" and "7" in only):
                    print(f"scenario {key}: {step.__doc__.splitlines()[0]}", flush=True)
                    step(bench)
        finally:
            p.stop_all()
    if "6" in only:
        print("scenario 6: reload (cargo bench --bench reload)", flush=True)
        scenarios.reload_bench(bench, reload_routes, reload_writes)
    if "micro" in only or (not args.quick and args.only == ALL):
        print("micro-benchmarks (criterion)", flush=True)
        scenarios.micro(bench)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "nproc": procs.nproc(),
        "cpu": procs.cpu_model(),
        "commit": commit or "unknown",
        "invocation": "make bench" + (" QUICK=1" if args.quick else "") + f"  # bench/run.py {' '.join(sys.argv[1:])}".rstrip(),
    }
    section = report.render(bench, meta)
    print(section)
    if not args.no_write:
        report.write(ROOT / "bench/RESULTS.md", section)
        print("written to bench/RESULTS.md")


if __name__ == "__main__":
    main()
