"""Time `sync` over a simulated GitLab: a baseline run, then a run with nothing changed.

    python bench/sync.py [--dataset medium] [--latency-ms 20] [--concurrency 8] [--store URL]

The simulator runs in its own process with the injected latency; the store is a fresh SQLite
file unless --store names another database. Prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bridge.config.settings import Settings
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync


def main() -> int:
    """Run sync twice against one simulator and report requests, seconds and peak RSS."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="medium")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--store")
    args = parser.parse_args()
    command = [sys.executable, "-m", "bridge", "sim", "serve", "--dataset", args.dataset]
    command += ["--latency-ms", str(args.latency_ms)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server,
    ):
        assert server.stdout is not None
        lines = dict(server.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(3))
        url = args.store or f"sqlite:///{Path(tmp) / 'bridge.db'}"
        settings = Settings.model_validate(
            {
                "gitlab": {
                    "url": lines["url"],
                    "token": lines["admin-token"],
                    "concurrency": args.concurrency,
                },
                "state": {"url": url},
                "hooks": {"system": [{"name": "audit", "url": "http://127.0.0.1:9/hook"}]},
            }
        )
        try:
            with Store.open(url) as store:
                for label in ("baseline", "unchanged"):
                    source = GitLabSource.from_settings(settings.gitlab)
                    report = sync(
                        source,
                        store,
                        settings,
                        now=lambda: dt.datetime.now(dt.UTC),
                        workers=args.concurrency,
                    )
                    figures = {
                        "run": label,
                        "dataset": args.dataset,
                        "latency_ms": args.latency_ms,
                        "concurrency": args.concurrency,
                        "store": url.split(":", 1)[0],
                        "requests": report.requests,
                        "seconds": round(report.seconds, 1),
                        "changes": report.changes,
                        "events_queued": report.events_queued,
                        "peak_rss_mb": round(
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                        ),
                    }
                    print(json.dumps(figures), flush=True)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
