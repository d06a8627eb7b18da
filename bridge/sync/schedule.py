"""The schedule: which task to read now, from the periods the planner allocated.

Pure, like the planner (times are seconds the shell passes in). ``Schedule.next`` hands out, in
this order (docs/freshness.md#the-planner): hinted sources, oldest hint first; due signals, then
due sources, earliest deadline first; with budget left over, the stalest source read at least
``floor`` seconds ago. A task whose period is infinite is read only when hinted (a GraphQL batch
reads it otherwise, ``bridge.sync.batches``).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from bridge.sync.planner import FLOOR, RETRY, SIGNALS, kind_of


@dataclass(slots=True)
class _Entry:
    key: str
    period: float
    cost: float
    last: float | None
    version: int = 0
    hinted_at: float | None = None
    busy: bool = False  # handed out and not yet done


@dataclass(slots=True)
class Schedule:
    """Tasks and when each is next due; ``next`` hands out what to read now."""

    floor: float = FLOOR
    _tasks: dict[str, _Entry] = field(default_factory=dict)
    _due: list[tuple[float, int, int, str]] = field(default_factory=list)  # deadline heap
    _signals: list[tuple[float, int, int, str]] = field(default_factory=list)  # the same, signals
    _stale: list[tuple[float, int, int, str]] = field(default_factory=list)  # last-read heap
    _hints: list[tuple[float, int, int, str]] = field(default_factory=list)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, key: object) -> bool:
        return key in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._tasks))

    def add(self, key: str, period: float, *, cost: float = 1.0, last: float | None = None) -> None:
        """A task (again): a new one is due at once unless ``last`` says when it was read."""
        entry = self._tasks.get(key)
        if entry is None:
            entry = self._tasks[key] = _Entry(key, period, max(cost, 1.0), last)
        else:
            entry.period = period
        self._push(entry)

    def remove(self, key: str) -> None:
        """Forget a task (its source is gone); stale heap entries are skipped later."""
        self._tasks.pop(key, None)

    def hint(self, key: str, at: float) -> bool:
        """A signal says this source changed: read it before anything else. False if unknown."""
        entry = self._tasks.get(key)
        if entry is None:
            return False
        if entry.hinted_at is None or at < entry.hinted_at:
            entry.hinted_at = at
            if not entry.busy:
                heapq.heappush(self._hints, (at, next(self._seq), entry.version, key))
        return True

    def done(self, key: str, at: float, *, cost: float | None = None) -> None:
        """A read finished at ``at`` and took ``cost`` requests (a source read by a batch task:
        no cost of its own)."""
        entry = self._tasks.get(key)
        if entry is None:
            return
        entry.busy = False
        entry.last = at
        if cost is not None:
            entry.cost = max(cost, 1.0)
        if entry.hinted_at is not None and entry.hinted_at <= at:
            entry.hinted_at = None
        self._push(entry)

    def failed(self, key: str, at: float) -> None:
        """A read failed: try again after ``RETRY`` seconds, its staleness unchanged."""
        entry = self._tasks.get(key)
        if entry is None:
            return
        entry.busy = False
        entry.version += 1
        due = self._signals if kind_of(key) in SIGNALS else self._due
        heapq.heappush(due, (at + RETRY, next(self._seq), entry.version, key))

    def next(self, now: float, available: float, most: int | None = None) -> list[str]:
        """Tasks to read now, whose expected requests fit ``available`` (the first always),
        ``most`` of them at most."""
        out: list[str] = []
        spent = 0.0
        for heap, ready in (
            (self._hints, lambda t: True),
            (self._signals, lambda t: t <= now),  # cheap, and what makes changes fast
            (self._due, lambda t: t <= now),
            (self._stale, lambda t: t <= now - self.floor),
        ):
            while heap and ready(heap[0][0]) and (not out or spent < available):
                if most is not None and len(out) >= most:
                    return out
                when, _, version, key = heapq.heappop(heap)
                entry = self._tasks.get(key)
                if entry is None or entry.busy or entry.version != version:
                    continue
                if heap is self._stale and entry.period < self.floor:
                    continue  # signals run on their own period only
                if spent and spent + entry.cost > available:
                    heapq.heappush(heap, (when, next(self._seq), version, key))  # next time
                    return out
                entry.busy = True
                entry.version += 1
                spent += entry.cost
                out.append(key)
        return out

    def next_due(self) -> float | None:
        """When the earliest task falls due (hints: now), for the shell's sleep."""
        self._drop_stale_tops()
        if self._hints:
            return -math.inf
        tops = [heap[0][0] for heap in (self._signals, self._due) if heap]
        return min(tops, default=None)

    def staleness(self, now: float, *, prefix: str = "") -> float | None:
        """How long ago the least recently read task (with this key prefix) was read; None
        when one was never read."""
        oldest = 0.0
        for key, entry in self._tasks.items():
            if key.startswith(prefix):
                if entry.last is None:
                    return None
                oldest = max(oldest, now - entry.last)
        return oldest

    def last(self, key: str) -> float | None:
        """When a task was last read."""
        entry = self._tasks.get(key)
        return None if entry is None else entry.last

    def cost(self, key: str) -> float:
        """The requests a task took last time (1 before its first read)."""
        entry = self._tasks.get(key)
        return 1.0 if entry is None else entry.cost

    def _push(self, entry: _Entry) -> None:
        entry.version += 1
        seq = next(self._seq)
        if math.isinf(entry.period):  # read only when hinted (a batch task reads it otherwise)
            if entry.hinted_at is not None:
                heapq.heappush(self._hints, (entry.hinted_at, seq, entry.version, entry.key))
            return
        deadline = -math.inf if entry.last is None else entry.last + entry.period
        due = self._signals if kind_of(entry.key) in SIGNALS else self._due
        heapq.heappush(due, (deadline, seq, entry.version, entry.key))
        stale = -math.inf if entry.last is None else entry.last
        heapq.heappush(self._stale, (stale, seq, entry.version, entry.key))
        if entry.hinted_at is not None:
            heapq.heappush(self._hints, (entry.hinted_at, seq, entry.version, entry.key))

    def _drop_stale_tops(self) -> None:
        for heap in (self._hints, self._signals, self._due):
            while heap:
                _, _, version, key = heap[0]
                entry = self._tasks.get(key)
                if entry is not None and not entry.busy and entry.version == version:
                    break
                heapq.heappop(heap)
