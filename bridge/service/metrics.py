"""Prometheus metrics of one daemon: counters fed by its jobs, gauges read from the store.

Each ``Metrics`` owns its registry (no process-global state), so tests and the demo can run
several daemons in one process. Queue depth, oldest pending age, dead letters, circuit state and
staleness are computed at scrape time from the store, so they are right even for work done by
another instance or by ``gitlab-bridge sync``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bridge.delivery.deliverer import DeliveryReport
from bridge.service.status import Status
from bridge.sync import SyncReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_P = "gitlab_bridge_"


class Metrics:
    """The daemon's metrics; ``render()`` is the body of ``GET /metrics``."""

    def __init__(self, status: Callable[[], Status]) -> None:
        """``status`` reads the store when Prometheus scrapes."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            _P + "polls", "Poll passes by resource and outcome", ["resource", "outcome"], registry=r
        )
        self.requests = Counter(
            _P + "gitlab_requests", "HTTP requests sent to GitLab, by resource", ["resource"],
            registry=r,
        )  # fmt: skip
        self.changes = Counter(
            _P + "changes", "Confirmed snapshot changes, by resource", ["resource"], registry=r
        )
        self.queued = Counter(
            _P + "events_queued", "Outbox rows queued (event x receiver), by resource",
            ["resource"], registry=r,
        )  # fmt: skip
        self.deliveries = Counter(
            _P + "deliveries", "Delivery attempts by receiver and outcome (delivered, retry, dead)",
            ["receiver", "outcome"], registry=r,
        )  # fmt: skip
        self.reloads = Counter(
            _P + "config_reloads", "SIGHUP reloads by outcome (applied, refused)", ["outcome"],
            registry=r,
        )  # fmt: skip
        r.register(_StoreCollector(status))

    def poll(self, resource: str, report: SyncReport | None, requests: int) -> None:
        """Count one poll pass; ``report`` is None when it failed."""
        if report is None:
            outcome = "error"
        elif report.failures:
            outcome = "partial"
        else:
            outcome = "stopped" if report.stopped else "ok"
        self.polls.labels(resource, outcome).inc()
        self.requests.labels(resource).inc(requests)
        if report is not None:
            self.changes.labels(resource).inc(report.changes)
            self.queued.labels(resource).inc(report.events_queued)

    def delivery(self, report: DeliveryReport) -> None:
        """Count one delivery pass's attempts."""
        for name, counts in report.receivers.items():
            for outcome, n in (
                ("delivered", counts.delivered),
                ("retry", counts.retrying),
                ("dead", counts.dead),
            ):
                if n:
                    self.deliveries.labels(name, outcome).inc(n)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(self, status: Callable[[], Status]) -> None:
        self._status = status

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # unchecked: names are fixed and cannot collide with the counters

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self._status()
        depth = GaugeMetricFamily(
            _P + "queue_depth", "Events waiting for delivery", labels=["receiver"]
        )
        dead = GaugeMetricFamily(_P + "dead_letters", "Dead letters kept", labels=["receiver"])
        circuit = GaugeMetricFamily(
            _P + "circuit_open", "1 while a receiver's circuit is open", labels=["receiver"]
        )
        for r in status.receivers:
            depth.add_metric([r.name], r.pending)
            dead.add_metric([r.name], r.dead)
            circuit.add_metric([r.name], 0 if r.circuit == "closed" else 1)
        yield from (depth, dead, circuit)
        oldest = GaugeMetricFamily(
            _P + "oldest_pending_age_seconds",
            "How long the oldest undelivered event has waited (0 when none waits)",
        )
        oldest.add_metric([], status.oldest_waiting_age or 0.0)
        yield oldest
        stale = GaugeMetricFamily(
            _P + "staleness_seconds",
            "Seconds since the resource's last complete poll (members: the oldest list's)",
            labels=["resource"],
        )
        last = GaugeMetricFamily(
            _P + "last_complete_poll_timestamp_seconds",
            "Unix time of the resource's last complete poll",
            labels=["resource"],
        )
        failing = GaugeMetricFamily(
            _P + "failing_lists", "Resources or member lists whose last poll failed",
            labels=["resource"],
        )  # fmt: skip
        for res in status.resources:
            if res.staleness is not None and res.last_complete_at is not None:
                stale.add_metric([res.name], res.staleness)
                last.add_metric([res.name], res.last_complete_at.timestamp())
            failing.add_metric([res.name], len(res.errors))
        yield from (stale, last, failing)
