"""The request budget: how many requests a minute the bridge sends to one GitLab, all threads
and retries included (docs/freshness.md#the-budget).

**Guarantee**: no 60-second window, ends included, holds more requests than the effective
budget in force during it, so never more than the configured one. It is a GCRA (the
virtual-scheduling form of a token bucket) with burst ``b = max(1, N // 60)`` and refill rate
``r = (N - b) / 60`` a second, ``N = floor(effective)``: a window of 60 s holds at most
``b + 60·r = N``. One a minute cannot refill at ``r = 0``, so N = 1 spaces requests 61 s apart.
Times are whole nanoseconds and the spacing is rounded up, so the arithmetic is exact.

**Adaptation**: a throttle 429 holds every request back for its Retry-After and lowers the
budget to ``HEADROOM`` times GitLab's ``RateLimit-Limit`` (or halves it when it is already below
that: another client spends the same user's quota). A 429 without headers halves it too, but
never below ``BLIND_FLOOR`` of the configured budget: stray 429s must not starve the bridge.
A 429 for a request that went before the last lowering only pauses: requests in flight together
lower the budget once. ``observe`` caps it for good at ``HEADROOM`` times a limit read from the
application settings. After ``RECOVERY`` seconds without a 429 it grows back by ``GROWTH`` per
minute of quiet, up to that cap or the configured value. It never drops below ``FLOOR`` a
minute.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bridge.errors import RetriableSourceError

WINDOW = 60.0  # seconds: the budget is per minute
HEADROOM = 0.8  # of a limit GitLab states: room for clock skew, other clients, rounding
RECOVERY = 600.0  # seconds without a 429 before the budget grows back
GROWTH = 1.10  # after RECOVERY, the budget grows by 10 % per further minute of quiet
FLOOR = 1.0  # requests a minute: the budget never goes lower
BLIND_FLOOR = 0.1  # of the configured budget: the lowest a 429 without headers halves it to
SINGLE_SPACING = 61.0  # seconds between requests on a budget of one a minute
MAX_OBSERVATIONS = 32  # limits remembered for status and metrics
_NS = 1_000_000_000
_MAX_GROWTH_STEPS = 1_000  # GROWTH**1000 is past any budget; larger powers overflow floats

Source = Literal["RateLimit headers", "429 without headers", "application settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """A limit GitLab revealed, and the budget it left: for status and metrics."""

    source: Source
    limit_per_minute: float | None  # None: a 429 that did not say
    effective: float  # the budget per minute right after
    at: float  # the budget's clock, seconds


def shape(per_minute: float) -> tuple[int, int]:
    """The GCRA of a budget: (burst, nanoseconds between requests once the burst is spent)."""
    allowed = max(1, math.floor(per_minute))
    burst = max(1, allowed // 60)
    if allowed == burst:  # only N = 1: a refill rate of (1 - 1) / 60 would never refill
        return 1, round(SINGLE_SPACING * _NS)
    return burst, _ceil_div(int(WINDOW * _NS), allowed - burst)  # rounded up: never faster


def recovered(low: float, ceiling: float, quiet: float) -> float:
    """The budget ``quiet`` seconds after a 429 lowered it to ``low``."""
    if quiet < RECOVERY:
        return min(low, ceiling)
    steps = min(int((quiet - RECOVERY) // WINDOW), _MAX_GROWTH_STEPS)
    return min(ceiling, low * GROWTH**steps)


class Budget:
    """Requests per minute to one GitLab, shared by every thread of a source; thread-safe.

    ``clock`` is monotonic seconds; ``sleep`` waits (default: ``stop.wait`` when there is a
    ``stop``, else ``time.sleep``). A set ``stop`` cuts waits short: ``acquire`` then raises
    ``RetriableSourceError`` instead of letting a request go early.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"budget must be at least 1 request a minute, not {per_minute}")
        self._configured = per_minute
        self._clock, self._sleep, self._stop = clock, sleep, stop
        self._lock = threading.Lock()
        now = self._now()
        self._ceiling = float(per_minute)
        self._low = float(per_minute)  # the budget a 429 left, the start of its recovery
        self._since: int | None = None  # when the last 429 came; None: never
        self._shaped = float(per_minute)  # the budget the GCRA state below is built for
        self._burst, self._interval = shape(per_minute)
        self._tat = now  # GCRA's theoretical arrival time; at or before now: a full burst
        self._paused_until = now
        self._generation = 0  # changes when a 429 voids the turns threads are waiting for
        self._lowered = 0  # counts the 429s that lowered the budget
        self._local = threading.local()  # per thread: ``_lowered`` when its last request went
        self._sent: deque[int] = deque()
        self._observed: deque[Observation] = deque(maxlen=MAX_OBSERVATIONS)

    @property
    def configured(self) -> int:
        """Requests per minute the configuration allows (``gitlab.budget``)."""
        return self._configured

    @property
    def effective(self) -> float:
        """Requests per minute allowed now: the configured budget, or less after GitLab said so."""
        with self._lock:
            return self._effective_at(self._now())

    @property
    def observed(self) -> tuple[Observation, ...]:
        """The latest limits GitLab revealed, oldest first."""
        with self._lock:
            return tuple(self._observed)

    def acquire(self) -> None:
        """Block until one request may go, then charge it."""
        while True:
            self._check_stop()
            with self._lock:
                now = self._now()
                self._sync(now)
                start = max(now, self._paused_until, self._tat - (self._burst - 1) * self._interval)
                self._tat = max(self._tat, start) + self._interval
                generation = self._generation
                if start <= now:
                    self._charge(now)
                    return
            self._wait((start - now) / _NS)
            self._check_stop()
            with self._lock:
                if generation == self._generation:  # else a 429 came meanwhile: queue again
                    self._charge(max(start, self._now()))
                    return

    def available(self) -> int:
        """Requests that could go right now without waiting."""
        with self._lock:
            now = self._now()
            self._sync(now)
            if self._paused_until > now:
                return 0
            return max(0, self._burst - _ceil_div(max(0, self._tat - now), self._interval))

    def used_last_minute(self) -> int:
        """Requests charged in the last 60 seconds."""
        with self._lock:
            now = self._now()
            self._forget(now)
            return sum(1 for sent in self._sent if sent <= now)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (a 503's Retry-After)."""
        with self._lock:
            self._pause(self._now(), seconds)

    def throttled(self, retry_after: float | None, limit_per_minute: float | None) -> None:
        """GitLab's throttle answered the calling thread's last request with 429: pause
        everything and lower the budget, unless that request went before the last lowering.

        Args:
            retry_after: seconds to hold every request back (None: no pause).
            limit_per_minute: GitLab's ``RateLimit-Limit`` (requests per 60 s), if it sent one.
        """
        with self._lock:
            now = self._now()
            self._pause(now, retry_after or 0.0)
            limit = limit_per_minute if _usable(limit_per_minute) else None
            source: Source = "429 without headers" if limit is None else "RateLimit headers"
            if getattr(self._local, "lowered", self._lowered) < self._lowered:
                # Its request went before the budget was last lowered: nothing new. (Four
                # requests in flight when the throttle strikes must not quarter the budget.)
                self._note(source, limit, now)
                return
            current = self._effective_at(now)
            if limit is not None and current > HEADROOM * limit:
                lowered = HEADROOM * limit
            elif limit is not None:
                lowered = current / 2
            else:  # blind: halve, but a few stray 429s must not starve the bridge
                lowered = max(current / 2, BLIND_FLOOR * self._configured)
            self._low, self._since = max(FLOOR, min(lowered, self._ceiling)), now
            self._lowered += 1
            # Restart gently after the pause: an empty bucket, one request per interval.
            self._shaped = self._low
            self._burst, self._interval = shape(self._low)
            self._tat = self._paused_until + self._burst * self._interval
            self._note(source, limit, now)

    def observe(self, limit_per_minute: float) -> None:
        """A limit learnt otherwise (application settings) caps the budget for good."""
        if not _usable(limit_per_minute):
            raise ValueError(f"a limit must be a positive number, not {limit_per_minute}")
        with self._lock:
            now = self._now()
            self._ceiling = max(FLOOR, min(self._configured, HEADROOM * limit_per_minute))
            self._low = min(self._low, self._ceiling)
            self._sync(now)
            self._note("application settings", limit_per_minute, now)

    # -- internals (called with the lock held) -----------------------------------------------

    def _now(self) -> int:
        return round(self._clock() * _NS)

    def _effective_at(self, now: int) -> float:
        if self._since is None:
            return self._ceiling
        return recovered(self._low, self._ceiling, (now - self._since) / _NS)

    def _sync(self, now: int) -> None:
        """Rebuild the GCRA for the budget in force, keeping what was spent (never refilling)."""
        effective = self._effective_at(now)
        if effective == self._shaped:
            return
        burst, interval = shape(effective)
        # Tokens left now are burst - owed/interval; keep them, capped at the new burst.
        deficit = (burst - self._burst) * self._interval + max(0, self._tat - now)
        self._tat = now + max(0, _ceil_div(deficit * interval, self._interval))
        self._shaped, self._burst, self._interval = effective, burst, interval

    def _pause(self, now: int, seconds: float) -> None:
        self._paused_until = max(self._paused_until, now + round(max(0.0, seconds) * _NS))
        self._generation += 1

    def _charge(self, at: int) -> None:
        self._sent.append(at)
        self._local.lowered = self._lowered
        self._forget(at)

    def _forget(self, now: int) -> None:
        horizon = now - int(WINDOW * _NS)
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def _note(self, source: Source, limit: float | None, now: int) -> None:
        effective = self._effective_at(now)
        self._observed.append(
            Observation(source=source, limit_per_minute=limit, effective=effective, at=now / _NS)
        )

    # -- waiting (without the lock) ---------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise RetriableSourceError("stopped while waiting for the request budget")


def _usable(limit: float | None) -> bool:
    return limit is not None and math.isfinite(limit) and limit > 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
