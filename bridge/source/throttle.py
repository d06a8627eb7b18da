"""Spacing and counting requests to GitLab, shared by every thread of one source."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Bucket:
    """Spaces requests ``1/rate`` apart across threads; a throttle 429 pauses every thread."""

    def __init__(
        self, rate: float | None, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"requests_per_second must be positive, not {rate}")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._paused_until = float("-inf")

    def acquire(self) -> None:
        """Wait for this thread's turn."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._paused_until)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class RequestCounter:
    """A total, plus a per-thread count so concurrent callers can each measure their own cost."""

    def __init__(self) -> None:
        self._lock, self.total = threading.Lock(), 0
        self._local = threading.local()

    def add(self) -> None:
        """Count one request."""
        with self._lock:
            self.total += 1
        self._local.value = self.mine + 1

    @property
    def mine(self) -> int:
        """Requests the calling thread has sent."""
        return int(getattr(self._local, "value", 0))
