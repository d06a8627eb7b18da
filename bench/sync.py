"""Time `sync` over a simulated GitLab: a baseline run, then a run with nothing changed.

    python bench/sync.py [--dataset medium] [--version 16.11] [--latency-ms 20]
                         [--concurrency 8] [--store URL] [--access-requests]
                         [--graphql both|on|off]

With ``--graphql both`` (the default) the two runs are made twice against the same simulator,
each into a fresh store: member lists over REST only (``gitlab.graphql: false``), then many per
GraphQL request where the version has it; a last line gives the ratio of their requests.

The simulator runs in its own process with the injected latency; the store is a fresh SQLite
file unless --store names another database (a PostgreSQL URL for that backend). Prints one JSON
line per run. Exits 1 unless the baseline stored every user, group, project and member row the
simulator has, the REST run within 5 % of the minimum number of REST requests
(docs/gitlab-api.md#cost-of-a-full-pass), and the quiet run found no change. With
--access-requests (``poll.access_requests``) every member list is read with its access
requests: the floor grows by one request per group and project.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests
from _support import arguments, simulator

from bridge.config.settings import Settings
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.configs import FAST_BUDGET


def main() -> int:
    """Run sync twice against one simulator and report requests, seconds and peak RSS."""
    parser = arguments(__doc__ or "", dataset="medium")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--store")
    parser.add_argument("--access-requests", action="store_true")
    parser.add_argument("--version", default="16.11", help="the simulated GitLab version")
    parser.add_argument("--graphql", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.graphql]
    if args.store and len(modes) > 1:
        parser.error("--store holds one run: add --graphql on or --graphql off")
    ok, quiet = True, {}
    with simulator(
        args.dataset, "--latency-ms", str(args.latency_ms), "--version", args.version
    ) as sim:
        for graphql in modes:
            with tempfile.TemporaryDirectory() as tmp:
                good, quiet[graphql] = _runs(args, sim, Path(tmp), graphql=graphql)
                ok = ok and good
    if len(quiet) == 2:
        ratio = quiet[True] / max(1, quiet[False])
        print(json.dumps({"run": "ratio", "graphql_over_rest_requests": round(ratio, 3)}))
    return 0 if ok else 1


def _runs(args: argparse.Namespace, sim: Any, tmp: Path, *, graphql: bool) -> tuple[bool, int]:
    """Baseline and quiet runs into a fresh store: (all good, the quiet run's requests)."""
    quiet = 0
    url = args.store or f"sqlite:///{tmp / 'bridge.db'}"
    settings = Settings.model_validate(
        {
            # The budget would pace a pass at 600 requests a minute: counted, not paced here.
            "gitlab": {
                "url": sim.url,
                "token": sim.token,
                "concurrency": args.concurrency,
                "budget": FAST_BUDGET,
                "graphql": graphql,
            },
            "state": {"url": url},
            "hooks": {"system": [{"name": "audit", "url": "http://127.0.0.1:9/hook"}]},
            "poll": {"access_requests": args.access_requests},
        }
    )
    info = requests.get(f"{sim.url}/-/sim/info", timeout=30).json()
    ok = True
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
                "graphql": graphql,
                "version": args.version,
                "dataset": args.dataset,
                "latency_ms": args.latency_ms,
                "concurrency": args.concurrency,
                "access_requests": args.access_requests,
                "store": url.split(":", 1)[0],
                "requests": report.requests,
                "seconds": round(report.seconds, 1),
                "changes": report.changes,
                "events_queued": report.events_queued,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
            if label == "baseline":
                figures |= _completeness(store, info, report.requests, args.access_requests)
                ok = ok and bool(figures["complete"] or (graphql and figures["all_rows"]))
            else:
                ok = ok and report.changes == 0
                quiet = report.requests
            print(json.dumps(figures), flush=True)
    return ok, quiet


def _completeness(
    store: Store, info: dict[str, int], requests_made: int, access_requests: bool
) -> dict[str, object]:
    """What the baseline stored against what the simulator holds, and the request floor."""
    members = {kind: store.all_members(kind) for kind in ("group", "project")}
    users, groups, projects = len(store.users()), len(store.groups()), len(store.projects())
    per_source: dict[tuple[str, int], int] = {}
    for kind, rows in members.items():
        for source_id, _user in rows:
            per_source[(kind, source_id)] = per_source.get((kind, source_id), 0) + 1
    pages = sum(max(1, math.ceil(n / 100)) for n in per_source.values())
    pages += groups + projects - len(per_source)  # an empty list still costs a page
    minimum = sum(math.ceil(n / 100) for n in (users, groups, projects)) + groups + pages
    if access_requests:  # one (empty) page of requests per source
        minimum += groups + projects
    stored = {"users": users, "groups": groups, "projects": projects}
    stored["members"] = sum(len(rows) for rows in members.values())
    every = all(stored[k] == info[k] for k in stored)
    return {
        "stored": stored,
        "minimum_rest_requests": minimum,
        "all_rows": every,
        "complete": every and requests_made <= minimum * 1.05,
    }


if __name__ == "__main__":
    sys.exit(main())
