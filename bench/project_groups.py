"""Latency of the bridge's GET /api/v4/projects/:id/groups under concurrent clients.

    python bench/project_groups.py [--dataset medium] [--clients 50] [--requests 4000]

A simulated GitLab (16.11) runs in its own process; its snapshot is crawled into a fresh SQLite
store; ``gitlab-bridge serve`` runs in a third process. ``--clients`` threads, each with its own
keep-alive session and the admin token, ask for random projects with random parameters. The
cold pass meets each (token, project) for the first time, so every request also asks GitLab
whether the token may read the project; the warm pass repeats the same projects from the
authorization cache. Prints one JSON line with p50/p90/p99 for both, and checks each answer
against the simulator's own endpoint for a sample.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from _support import BRIDGE, arguments, simulator
from pydantic import SecretStr

from bridge.clock import utcnow
from bridge.config.settings import GitLabSettings, Settings
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync

PARAMS = (
    {},
    {"with_shared": "true"},
    {"with_shared": "true", "shared_min_access_level": "30"},
    {"with_shared": "true", "search": "group"},
    {"with_shared": "true", "per_page": "100"},
)


def start(command: list[str], lines: int) -> tuple[subprocess.Popen[str], list[str]]:
    """A process and the first lines it prints."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, [process.stdout.readline().strip() for _ in range(lines)]


def load(
    base: str, token: str, jobs: list[tuple[int, dict[str, str]]], clients: int
) -> tuple[list[float], float]:
    """Run ``jobs`` over ``clients`` threads: each latency in ms, and the wall time in s."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [jobs[i::clients] for i in range(clients)]

    def client(chunk: list[tuple[int, dict[str, str]]]) -> None:
        mine = []
        with requests.Session() as session:
            session.headers["PRIVATE-TOKEN"] = token
            for project, params in chunk:
                started = time.perf_counter()
                response = session.get(
                    f"{base}/api/v4/projects/{project}/groups", params=params, timeout=30
                )
                mine.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90 and p99 in ms."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 1),
        "p90_ms": round(cuts[89], 1),
        "p99_ms": round(cuts[98], 1),
    }


def main() -> int:
    """Crawl, serve, load, report."""
    parser = arguments(__doc__ or "", dataset="medium")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    rng = random.Random(1)
    with simulator(args.dataset) as sim, tempfile.TemporaryDirectory() as tmp:
        url, token = sim.url, sim.token
        db = f"sqlite:///{Path(tmp) / 'bridge.db'}"
        settings = Settings(gitlab=GitLabSettings(url=url, token=SecretStr(token)))
        with Store.open(db) as store:
            crawl = sync(GitLabSource(url, token), store, settings, now=utcnow)
            projects = sorted(store.projects())
        config = Path(tmp) / "bridge.yaml"
        config.write_text(
            f"gitlab: {{url: '{url}', token: {token}}}\nstate: {{url: '{db}'}}\n"
            "server: {listen: '127.0.0.1:0', auth_cache_ttl: 10m, snapshot_refresh: 1h}\n"
        )
        bridge, (line,) = start([*BRIDGE, "serve", "--config", str(config)], 1)
        base = line.split()[1].removesuffix("/api/v4/projects/:id/groups")
        try:
            chosen = rng.sample(projects, min(args.requests, len(projects)))
            jobs = [(p, rng.choice(PARAMS)) for p in chosen]
            cold, cold_wall = load(base, token, jobs, args.clients)
            warm, warm_wall = load(base, token, jobs, args.clients)
            sample = rng.sample(jobs, min(200, len(jobs)))
            same = sum(
                requests.get(f"{base}/api/v4/projects/{p}/groups", params=q, timeout=30,
                             headers={"PRIVATE-TOKEN": token}).content
                == requests.get(f"{url}/api/v4/projects/{p}/groups", params=q, timeout=30,
                                headers={"PRIVATE-TOKEN": token}).content
                for p, q in sample
            )  # fmt: skip
        finally:
            bridge.terminate()
            bridge.communicate(timeout=30)
    figures = {
        "dataset": args.dataset,
        "projects": len(projects),
        "clients": args.clients,
        "requests_per_pass": len(jobs),
        "crawl_requests": crawl.requests,
        "cold": {
            **percentiles(cold),
            "per_second": round(len(cold) / cold_wall),
        },
        "warm": {
            **percentiles(warm),
            "per_second": round(len(warm) / warm_wall),
        },
        "sample_equal_to_gitlab": f"{same}/{len(sample)}",
    }
    print(json.dumps(figures), flush=True)
    return 0 if same == len(sample) else 1


if __name__ == "__main__":
    sys.exit(main())
