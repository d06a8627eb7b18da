"""What the daemon says about itself: readiness, the HTTP endpoints and the status it reads.

``/-/health`` answers while the process runs; ``/-/ready`` once GitLab answered and every
source was read once; ``/metrics`` renders the Prometheus exposition. ``read_status`` builds
``gitlab-bridge status`` and the systemd STATUS= line from the store's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config.settings import Settings
from bridge.project_groups.http import Reply
from bridge.service import status
from bridge.service.metrics import CONTENT_TYPE, Metrics
from bridge.store import Store
from bridge.sync.tasks import targets


@dataclass
class Readiness:
    """What ``/-/ready`` waits for: a connection to GitLab, then every source read once."""

    connected: bool = False
    reconciled: bool = False  # every listing, member list and share read at least once
    failed: str | None = None  # a long-lived thread died: never ready again

    def problem(self) -> str | None:
        """Why the daemon is not ready, or None."""
        if self.failed is not None:
            return self.failed
        if not self.connected:
            return "not connected to GitLab yet"
        if not self.reconciled:
            return "not every source read yet"
        return None


class Endpoints:
    """The daemon's own endpoints on the bridge's HTTP server."""

    def __init__(
        self, readiness: Readiness, metrics: Metrics, settings: Callable[[], Settings]
    ) -> None:
        """``settings`` gives the current configuration (a reload may change the token)."""
        self._readiness, self._metrics, self._settings = readiness, metrics, settings

    @property
    def metrics_token(self) -> str | None:
        """The bearer token ``/-/ready`` and ``/metrics`` need; None: loopback clients only."""
        token = self._settings().server.token
        return None if token is None else token.get_secret_value()

    def health(self) -> Reply:
        """``/-/health``: the process answers."""
        return Reply(200, {"status": "ok"})

    def ready(self) -> Reply:
        """``/-/ready``: 200, or 503 with the reason."""
        problem = self._readiness.problem()
        if problem is None:
            return Reply(200, {"status": "ok"})
        return Reply(503, {"status": "failed", "message": problem})

    def metrics(self) -> Reply:
        """``/metrics``: the Prometheus exposition."""
        return Reply(200, self._metrics.render(), content_type=CONTENT_TYPE)


def read_status(
    store: Store, settings: Settings, *, now: dt.datetime, pid: int | None
) -> status.Status:
    """The status at ``now`` from the store's rows; ``pid`` is the running daemon's, if any."""
    deliveries = store.deliveries
    return status.build(
        now=now,
        states=store.resource_states(),
        counts=deliveries.counts(),
        circuits=deliveries.receiver_states(),
        configured=[r.name for r in settings.hooks.receivers()],
        oldest_waiting=deliveries.oldest_waiting(),
        daemon_pid=pid,
        targets=targets(settings).as_dict(),
        budget=settings.gitlab.budget,
    )
