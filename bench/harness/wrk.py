"""Running wrk (pinned to the client core) and reading its report."""

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import CLIENT_CORE, TICKS_PER_SECOND, cpu_ticks

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class WrkRun:
    """One wrk run: throughput, latency percentiles (ms), failures."""

    rps: float
    p50: float
    p99: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0
    # CPU time the measured process spent per request (µs), when known:
    # total, and the part spent in the kernel.
    cpu_us: float = float("nan")
    sys_us: float = float("nan")
    command: list = field(default_factory=list)

    @property
    def failed(self):
        return self.non_2xx + self.socket_errors


def parse(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return WrkRun(
        rps=rps,
        p50=p50,
        p99=p99,
        requests=requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


SCRIPTS = Path(__file__).resolve().parent


def run(url, seconds, connections=50, headers=(), threads=1, during=None, cpu_pid=None, script=None):
    """One wrk run; `during`, if given, is called halfway through; with
    `cpu_pid`, that process's CPU time per request is recorded; `script` names
    a wrk Lua script next to this file (e.g. a POST body)."""
    before = cpu_ticks(cpu_pid) if cpu_pid else None
    cmd = [
        "taskset", "-c", CLIENT_CORE, "wrk", f"-t{threads}", f"-c{connections}",
        f"-d{seconds}s", "--latency",
    ]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", str(SCRIPTS / script)]
    cmd.append(url)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if during is not None:
        time.sleep(seconds / 2)
        during()
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}): {err.strip()}")
    r = parse(out)
    r.command = [c.replace(f"{SCRIPTS.parents[1]}/", "") for c in cmd[3:]]
    if cpu_pid and r.requests:
        user, system = cpu_ticks(cpu_pid)
        per_request = 1e6 / TICKS_PER_SECOND / r.requests
        r.cpu_us = (user - before[0] + system - before[1]) * per_request
        r.sys_us = (system - before[1]) * per_request
    return r
