"""In-memory fakes for the bridge's ports, for tests where sockets or a database add nothing.

``ManualClock`` is a ``bridge.clock.Clock`` that moves only when told. ``ScriptedSender`` is a
``bridge.ports.Sender`` that records every request and answers from a script. ``EdgeRandom``
puts every jitter at one end of its range, so backoff times are exact.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import deque
from collections.abc import Iterable

from bridge.delivery.wire import Answer, HookRequest


class ManualClock:
    """A clock that reads ``now`` and moves only by ``advance``."""

    def __init__(self, now: dt.datetime) -> None:
        """Start at ``now`` (aware UTC)."""
        self.now = now

    def __call__(self) -> dt.datetime:
        """The current time."""
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        """Move forward by ``datetime.timedelta(**delta)``; returns the new time."""
        self.now += dt.timedelta(**delta)
        return self.now


class EdgeRandom(random.Random):
    """A ``random.Random`` whose ``uniform(a, b)`` is always ``b`` (``high``) or ``a``."""

    def __init__(self, *, high: bool = False) -> None:
        """The low end unless ``high``."""
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        """One end of the range."""
        return b if self.high else a


def answer(
    status: int | None, *, retry_after: str | None = None, error: str | None = None
) -> Answer:
    """An answer as the HTTP sender would report it (status None: no HTTP answer)."""
    if error is None and (status is None or not 200 <= status < 300):
        error = "connection failed" if status is None else f"HTTP {status}"
    return Answer(status=status, body="", retry_after=retry_after, error=error, duration_ms=1)


class ScriptedSender:
    """Records each request; answers from a per-receiver script, then ``default``."""

    def __init__(self, default: Answer | None = None) -> None:
        """``default`` answers once a receiver's script is used up (200 unless given)."""
        self.default = default or answer(200)
        self.requests: list[tuple[str, HookRequest]] = []
        self._scripts: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        self.closed = False

    def script(self, receiver: str, answers: Iterable[Answer]) -> None:
        """Answer ``receiver``'s next requests with ``answers``, in order."""
        with self._lock:
            self._scripts.setdefault(receiver, deque()).extend(answers)

    def send(self, receiver: str, request: HookRequest) -> Answer:
        """Record the request and answer it."""
        with self._lock:
            self.requests.append((receiver, request))
            queue = self._scripts.get(receiver)
            return queue.popleft() if queue else self.default

    def close(self) -> None:
        """Nothing to release."""
        self.closed = True
