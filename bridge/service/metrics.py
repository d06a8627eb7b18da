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
from bridge.sync.reconciler import Freshness, TickReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_P = "gitlab_bridge_"


class Metrics:
    """The daemon's metrics; ``render()`` is the body of ``GET /metrics``."""

    def __init__(
        self, status: Callable[[], Status], freshness: Callable[[], Freshness | None] = lambda: None
    ) -> None:
        """``status`` reads the store when Prometheus scrapes; ``freshness`` asks the planner."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            _P + "gitlab_requests", "HTTP requests sent to GitLab, by freshness class",
            ["class"], registry=r,
        )  # fmt: skip
        self.changes = Counter(
            _P + "changes", "Confirmed snapshot changes", ["resource"], registry=r
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
        self.reads = Counter(
            _P + "reconcile_reads", "Reads the planner made (signals, re-reads, reconcile)",
            registry=r,
        )  # fmt: skip
        r.register(_StoreCollector(status))
        r.register(_FreshnessCollector(freshness))

    def tick(self, report: TickReport) -> None:
        """Count one reconcile tick: reads, and requests, changes and events by class."""
        self.reads.inc(report.reads)
        for klass, requests in report.by_class.items():
            self.requests.labels(klass).inc(requests)
        if report.changes:
            self.changes.labels("reconcile").inc(report.changes)
        if report.events_queued:
            self.queued.labels("reconcile").inc(report.events_queued)

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


class _FreshnessCollector(Collector):
    """Per class target, predicted worst case and staleness; the budget and its use."""

    def __init__(self, freshness: Callable[[], Freshness | None]) -> None:
        self._freshness = freshness

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._freshness()
        if now is None:  # a follower, or not planned yet
            return
        target = GaugeMetricFamily(
            _P + "freshness_target_seconds", "The freshness target of each class", labels=["class"]
        )
        predicted = GaugeMetricFamily(
            _P + "freshness_predicted_seconds",
            "The plan's worst-case delay for each class on the current budget", labels=["class"],
        )  # fmt: skip
        stale = GaugeMetricFamily(
            _P + "freshness_staleness_seconds",
            "Age of the least recently read source of each class", labels=["class"],
        )  # fmt: skip
        for c in now.classes:
            target.add_metric([c.klass], c.target)
            predicted.add_metric([c.klass], c.predicted)
            if c.staleness is not None:
                stale.add_metric([c.klass], c.staleness)
        budget = GaugeMetricFamily(
            _P + "budget_requests_per_minute",
            "The request budget: configured, effective (after GitLab's limits) and used in the "
            "last minute", labels=["kind"],
        )  # fmt: skip
        budget.add_metric(["configured"], now.budget)
        budget.add_metric(["effective"], now.effective)
        if now.used_last_minute is not None:
            budget.add_metric(["used"], now.used_last_minute)
        yield from (target, predicted, stale, budget)
