"""Crawl a simulated GitLab completely with unmodified python-gitlab and report the cost.

    python bench/crawl.py [--dataset medium] [--workers 10] [--version 16.11] [--latency-ms 0]

The simulator runs in its own process (``gitlab-bridge sim serve``) so that client and server
do not share a GIL. Reports requests (from the simulator's counters), wall time, requests per
second, peak RSS of both processes, and checks that every user, group, project and direct
membership was seen.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import requests
from _support import arguments, simulator

from bridge.testing.crawl import crawl


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    """Run the crawl benchmark and print one JSON line of figures."""
    parser = arguments(__doc__ or "", dataset="medium")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--version", default="16.11")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    options = ("--version", args.version, "--latency-ms", str(args.latency_ms))
    with simulator(args.dataset, *options) as sim:
        info = requests.get(f"{sim.url}/-/sim/info", timeout=30).json()
        requests.delete(f"{sim.url}/-/sim/counters", timeout=30)
        keyset = args.version not in ("12.10", "13.12")
        result = crawl(sim.url, sim.token, workers=args.workers, keyset=keyset)
        counters = requests.get(f"{sim.url}/-/sim/counters", timeout=30).json()
        server_rss = _peak_rss_mb(sim.process.pid)
    complete = (
        len(result.users) == info["users"]
        and len(result.groups) == info["groups"]
        and len(result.projects) == info["projects"]
        and result.member_rows == info["members"]
    )
    figures = {
        "dataset": args.dataset,
        "version": args.version,
        "workers": args.workers,
        "latency_ms": args.latency_ms,
        "requests": counters["total"],
        "non_200": sum(c["count"] for c in counters["counters"] if c["status"] != 200),
        "seconds": round(result.seconds, 1),
        "requests_per_second": round(counters["total"] / result.seconds),
        "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "server_peak_rss_mb": round(server_rss),
        "users": len(result.users),
        "groups": len(result.groups),
        "projects": len(result.projects),
        "member_rows": result.member_rows,
        "complete": complete,
    }
    print(json.dumps(figures))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
