"""A total deadline per delivery attempt: connect, send, headers and body together.

A per-read timeout is not enough: a receiver sending one byte just before each read timeout
holds an attempt forever. So each attempt gets a deadline, the connections it uses register
how to cut their sockets (``bridge.delivery.transport``), and one ``Watchdog`` thread shuts
them down when the deadline passes; the blocked read then fails and the sender reports
"timed out".
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator


class Attempt:
    """One attempt's deadline and guard, and how to cut the sockets it uses."""

    def __init__(self, timeout: float, *, allow_local_network: bool) -> None:
        self.deadline = time.monotonic() + timeout
        self.allow_local_network = allow_local_network
        self.expired = False
        self.refused: str | None = None
        self._cuts: list[Callable[[], None]] = []
        self._finished = False
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    @property
    def finished(self) -> bool:
        """Whether the attempt is over (the watchdog leaves it alone)."""
        return self._finished

    def watch(self, cut: Callable[[], None]) -> None:
        """Remember how to cut one socket; cut it at once if the deadline has passed."""
        with self._lock:
            self._cuts.append(cut)
            if self.expired:
                cut()

    def expire(self) -> None:
        """At the deadline: cut every socket, unless the attempt is already over."""
        with self._lock:  # finish() waits, so no cut lands on a connection the pool reuses
            if self._finished:
                return
            self.expired = True
            for cut in self._cuts:
                cut()

    def finish(self) -> None:
        """The attempt is over."""
        with self._lock:
            self._finished = True


class Watchdog:
    """One thread that expires attempts at their deadlines."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._heap: list[tuple[float, int, Attempt]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guarding(self, attempt: Attempt) -> Iterator[None]:
        """Expire ``attempt`` at its deadline unless the block ends first."""
        with self._ready:
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is attempt:  # the thread sleeps until a later deadline
                self._ready.notify()
        try:
            yield
        finally:
            attempt.finish()

    def close(self) -> None:
        """Stop the thread; a later attempt starts a new one."""
        with self._ready:
            self._thread = None
            self._ready.notify()

    def _run(self) -> None:
        with self._ready:
            while self._thread is threading.current_thread():
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._ready.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._ready.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].expire()


_local = threading.local()


@contextlib.contextmanager
def scope(attempt: Attempt) -> Iterator[None]:
    """Connections made or used by this thread inside the block belong to ``attempt``."""
    _local.attempt = attempt
    try:
        yield
    finally:
        _local.attempt = None


def current() -> Attempt:
    """The calling thread's attempt (a connection outside one is a bug in the sender)."""
    attempt: Attempt | None = getattr(_local, "attempt", None)
    if attempt is None:
        raise RuntimeError("a delivery connection was used outside an attempt")
    return attempt


def shutdown(sock: socket.socket) -> None:
    """Shut a socket down (ignoring one already gone), waking any thread blocked on it."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the descriptor's, not ssl's shutdown()
