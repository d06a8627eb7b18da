"""Counting requests to GitLab, shared by every thread of one source (``budget`` spaces them)."""

from __future__ import annotations

import threading


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
