"""Deliveries per second to a local receiver, against a bare ``requests`` loop in the same run.

    python bench/deliver.py [--events 2000] [--receivers 4] [--concurrency 4] [--store EMPTY-DB-URL]

The receiver (bridge.testing.receiver) runs in its own process and answers 200 at once. The
bridge run is one ``Deliverer.run_pass`` over a freshly queued outbox: claim, sign nothing, POST,
record the attempt and the row's state in the store, per event. The bare loop POSTs the same
bodies with one keep-alive ``requests.Session`` and records nothing. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bridge.config.settings import DeliverySettings, HooksSettings
from bridge.delivery.deliverer import Deliverer
from bridge.model.ledger import OutboxRow
from bridge.store import Store

RECEIVER = (
    "import signal, sys\n"
    "from bridge.testing.receiver import Receiver\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})\n"
    "r = Receiver().start()\n"
    "print(r.url, flush=True)\n"
    "signal.sigwait({signal.SIGTERM, signal.SIGINT})\n"
    "print(len(r.deliveries()), flush=True)\n"
)


def rows(events: int, receivers: int) -> list[OutboxRow]:
    """``events`` user_create rows spread over ``receivers`` receivers."""
    return [
        OutboxRow(
            event_uuid=f"00000000-0000-5000-8000-{n:012d}",
            receiver=f"r{n % receivers}",
            hook="System Hook",
            event_name="user_create",
            subject=f"user:{n}",
            payload=json.dumps(
                {
                    "created_at": "2026-11-01T12:00:00Z",
                    "event_name": "user_create",
                    "name": f"User {n}",
                    "username": f"user{n}",
                    "user_id": n,
                }
            ),
            idempotency_key=f"key-{n}",
            instance_url="https://gitlab.example.com",
            gitlab_version="16.11.3",
        )
        for n in range(events)
    ]


def bare_loop(url: str, queued: list[OutboxRow]) -> float:
    """Seconds for one session to POST every body, in order."""
    with requests.Session() as session:
        started = time.perf_counter()
        for row in queued:
            response = session.post(
                f"{url}/{row.receiver}",
                data=row.payload.encode(),
                headers={"Content-Type": "application/json", "X-Gitlab-Event": row.hook},
                timeout=10,
            )
            response.raise_for_status()
        return time.perf_counter() - started


def main() -> int:
    """Run both deliverers against one receiver process and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--receivers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--store")
    args = parser.parse_args()
    queued = rows(args.events, args.receivers)
    with (
        tempfile.TemporaryDirectory() as tmp,
        subprocess.Popen(
            [sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True
        ) as server,
    ):
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        bare = bare_loop(url, queued)
        store_url = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
        hooks = HooksSettings.model_validate(
            {"system": [{"name": f"r{i}", "url": f"{url}/r{i}"} for i in range(args.receivers)]}
        )
        with Store.open(store_url) as store:
            with store.transaction() as tx:
                tx.enqueue(queued)
            deliverer = Deliverer(
                store.deliveries, hooks, DeliverySettings(concurrency=args.concurrency)
            )
            report = deliverer.run_pass()
            deliverer.sender.close()
            delivered = len(store.deliveries.listing(statuses=("delivered",)))
        server.terminate()
        received = int(server.communicate(timeout=30)[0].strip() or 0)
    figures = {
        "events": args.events,
        "receivers": args.receivers,
        "concurrency": args.concurrency,
        "store": store_url.split(":", 1)[0],
        "bridge_seconds": round(report.seconds, 2),
        "bridge_per_second": round(args.events / report.seconds),
        "bare_requests_seconds": round(bare, 2),
        "bare_requests_per_second": round(args.events / bare),
        "ratio_bridge_to_bare": round(bare / report.seconds, 2),
        "delivered_rows": delivered,
        "received_posts": received,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(figures), flush=True)
    return 0 if delivered == args.events and received == 2 * args.events else 1


if __name__ == "__main__":
    sys.exit(main())
