"""Long-lived threads never die silently: a death fails readiness and stops the daemon.

The daemon then exits with ``EX_SOFTWARE`` (70), so systemd's ``Restart=on-failure`` starts a
fresh process instead of leaving one that polls but no longer delivers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bridge.service.health import Readiness

log = logging.getLogger(__name__)


class Supervisor:
    """Starts guarded threads and checks that they, and anything else watched, still run."""

    def __init__(
        self, health: Readiness, stop: threading.Event, on_death: Callable[[], None]
    ) -> None:
        """``stop``: set while the daemon winds down (an ending thread is then expected);
        ``on_death``: what a death triggers (the daemon's stop request)."""
        self._health, self._stop, self._on_death = health, stop, on_death
        self._watched: dict[str, Callable[[], bool]] = {}

    def start(self, name: str, work: Callable[[], None]) -> threading.Thread:
        """Run ``work`` on a daemon thread; its end before a stop is a death."""
        thread = threading.Thread(target=self._guard, args=(name, work), name=name, daemon=True)
        thread.start()
        self.watch(name, thread.is_alive)
        return thread

    def watch(self, name: str, alive: Callable[[], bool]) -> None:
        """Check ``alive`` at every ``check``, e.g. the scheduler's ``running``."""
        self._watched[name] = alive

    def check(self) -> None:
        """Fail for anything watched that stopped running although no stop was requested."""
        for name, alive in self._watched.items():
            if not alive() and not self._stop.is_set():
                self.died(name, "it is no longer running")

    def died(self, name: str, why: str) -> None:
        """Fail readiness for good and trigger the stop."""
        if self._health.failed is not None:
            return
        log.critical("the %s thread died (%s); stopping so that systemd restarts the service",
                     name, why)  # fmt: skip
        self._health.failed = f"the {name} thread died: {why}"
        self._on_death()

    def _guard(self, name: str, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:
            self.died(name, f"{type(exc).__name__}: {exc}")
            raise
        if not self._stop.is_set():
            self.died(name, "its loop returned")
