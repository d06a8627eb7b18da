"""The policy that spends the request budget: which reads, in which order, how often.

Pure: times are seconds (the shell passes its clock's), nothing here reads a clock, logs or does
I/O, so the whole policy runs in virtual time (tests/sync/test_planner_day.py simulates a day of
the ``large`` instance in seconds).

Every unit of work is a ``Task``: a *signal* (a cheap read that says where changes are: the
newest users, groups and projects, projects changed since, a new user's memberships, audit
events) or a *source* (a listing, one group's shares, one member list). ``allocate`` turns the
freshness targets, the instance's size and the budget into a period per task kind, stretching
the walks uniformly when the budget cannot hold every target (signals are cheap and are never
stretched). ``Schedule`` then hands out tasks in this order (docs/freshness.md#the-planner):

1. hinted sources (a signal saw a change there), oldest hint first;
2. due signals, then due sources (last read + period <= now), earliest deadline first;
3. with budget left over, the stalest source read at least ``floor`` seconds ago: the
   continuous reconcile, which walks every source in order of staleness.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bridge.model.signals import Capabilities

Klass = Literal[
    "new_users", "new_user_memberships", "group_members", "project_members",
    "groups_and_projects", "shares", "reconcile",
]  # fmt: skip
CLASSES: tuple[Klass, ...] = (
    "new_users",
    "new_user_memberships",
    "group_members",
    "project_members",
    "groups_and_projects",
    "shares",
    "reconcile",
)
# What each kind of task is, by the prefix of its key ("members:group:7" is "members:group").
Kind = Literal[
    "signal:new_users", "signal:new_groups", "signal:new_projects", "signal:changed_projects",
    "signal:audit", "memberships", "users", "groups", "projects", "shares:group",
    "members:group", "members:project", "graphql:lists:group", "graphql:lists:project",
    "graphql:fingerprints:group", "graphql:fingerprints:project",
]  # fmt: skip
SIGNALS: frozenset[str] = frozenset(
    {"signal:new_users", "signal:new_groups", "signal:new_projects", "signal:changed_projects",
     "signal:audit", "memberships"}
)  # fmt: skip
# A signal is read every half target: a change waits at most that long to be seen, and its
# re-read and delivery fit in the other half.
SIGNAL_SHARE = 0.5
# A walk re-reads each source once per target: a change waits at most that long, plus seconds
# for the read and the delivery.
WALK_SHARE = 1.0
# GraphQL fingerprints (bridge.source.graphql) are walks, stretched with the others when the
# budget is short, but every half target like a signal: what they see is then re-read.
FINGERPRINTS: frozenset[str] = frozenset(
    {"graphql:fingerprints:group", "graphql:fingerprints:project"}
)
HINT_RESERVE = 0.05  # of the budget, kept for re-reads that signals ask for
FLOOR = 60.0  # seconds: the leftover budget never re-reads a source sooner than this
RETRY = 60.0  # seconds: a failed read is tried again after this long


def kind_of(key: str) -> Kind:
    """``members:group:7`` -> ``members:group``; ``memberships:42`` -> ``memberships``;
    ``graphql:lists:project:3`` (a batch of sources) -> ``graphql:lists:project``."""
    head, _, rest = key.partition(":")
    if head == "graphql":
        shape, kind, _ = rest.split(":", 2)
        return f"graphql:{shape}:{kind}"  # type: ignore[return-value]
    if head in ("signal", "members", "shares"):
        return f"{head}:{rest.split(':', 1)[0]}"  # type: ignore[return-value]
    return head  # type: ignore[return-value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Targets:
    """The freshness targets in seconds (``freshness:``, docs/freshness.md#targets)."""

    new_users: float
    new_user_memberships: float
    group_members: float
    project_members: float
    groups_and_projects: float
    shares: float
    reconcile: float

    def of(self, klass: Klass) -> float:
        """The target of one class."""
        return float(getattr(self, klass))

    def as_dict(self) -> dict[str, float]:
        """Every class's target, in ``CLASSES`` order."""
        return {klass: self.of(klass) for klass in CLASSES}


def klass_of(kind: Kind, caps: Capabilities) -> Klass:
    """The class whose target a task kind serves; audit events make member lists reconcile."""
    match kind:
        case "signal:new_users":
            return "new_users"
        case "memberships":
            return "new_user_memberships"
        case "signal:new_groups" | "signal:new_projects" | "groups" | "projects":
            return "groups_and_projects"
        case "signal:changed_projects":
            return "project_members"
        case "signal:audit":
            return "group_members"
        case "shares:group":
            return "shares"
        case "members:group" | "graphql:lists:group" | "graphql:fingerprints:group":
            return "reconcile" if caps.audit_events else "group_members"
        case "graphql:fingerprints:project":
            return "reconcile" if caps.audit_events else "project_members"
        case _:
            return "reconcile"  # users, members:project, graphql:lists:project


def signal_period(kind: Kind, targets: Targets, caps: Capabilities) -> float:
    """How often a signal is read."""
    if kind == "signal:audit":  # one request that covers every member class
        return SIGNAL_SHARE * min(
            targets.new_user_memberships, targets.group_members, targets.project_members
        )
    return SIGNAL_SHARE * targets.of(klass_of(kind, caps))


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """What one task kind costs per round: how many tasks, and their requests together."""

    tasks: int
    requests: float
    largest: float = 1.0  # the costliest single task (a listing of many pages)


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """Periods per task kind for a budget, and what they buy (``gitlab-bridge plan``)."""

    per_minute: float
    periods: Mapping[str, float]  # task kind -> seconds between two reads of one task
    stretch: float  # >= 1: how much slower than the targets the walks must go
    worst: Mapping[Klass, float]  # predicted worst-case delay per class, seconds
    needed_per_minute: float  # what every target would cost
    idle_per_minute: float  # what the schedule spends with nothing changing
    reconcile_period: float  # seconds to re-read every source at least once

    def period(self, key: str) -> float:
        """The period of the task with this key."""
        return self.periods[kind_of(key)]


def allocate(
    load: Mapping[str, Load], targets: Targets, caps: Capabilities, per_minute: float
) -> Allocation:
    """Periods that hold every target within ``per_minute``, or stretch the walks evenly.

    Signals come first and keep their periods; the walks share what is left. With a stretch
    of s, every walk runs at s times its target period and every class's delay grows with it.
    """
    budget = per_minute / 60.0  # requests per second
    signal_rate, walk_rate = 0.0, 0.0
    periods: dict[str, float] = {}
    for kind, cost in load.items():
        k: Kind = kind  # type: ignore[assignment]
        if kind in SIGNALS:
            periods[kind] = signal_period(k, targets, caps)
            signal_rate += cost.requests / periods[kind]
        else:
            share = SIGNAL_SHARE if kind in FINGERPRINTS else WALK_SHARE
            periods[kind] = share * targets.of(klass_of(k, caps))
            walk_rate += cost.requests / periods[kind]
    # The walks share what the signals leave, less a reserve for the re-reads hints ask for;
    # a starved walk still creeps on.
    left = max(budget * (1 - HINT_RESERVE) - signal_rate, budget * 0.05)
    stretch = max(1.0, walk_rate / left) if walk_rate else 1.0
    for kind in periods:
        if kind not in SIGNALS:
            periods[kind] *= stretch
    # With nothing changing, the leftover re-reads each source every FLOOR seconds at most.
    idle = sum(
        cost.requests / (periods[kind] if kind in SIGNALS else min(periods[kind], FLOOR))
        for kind, cost in load.items()
    )
    walks = [periods[k] for k in periods if k not in SIGNALS]
    return Allocation(
        per_minute=per_minute,
        periods=periods,
        stretch=stretch,
        worst=_worst(periods, targets, caps),
        needed_per_minute=60.0 * (signal_rate + walk_rate),
        idle_per_minute=60.0 * min(budget, idle),
        reconcile_period=max(walks, default=0.0),
    )


def _worst(
    periods: Mapping[str, float], targets: Targets, caps: Capabilities
) -> dict[Klass, float]:
    """The longest a change of each class can wait to be read, under these periods (a long
    listing holds one worker, never the others: the daemon pipelines its reads)."""
    get = periods.get
    members_walk = get(
        "graphql:lists:group",
        get("graphql:fingerprints:group", get("members:group", targets.group_members)),
    )
    reconcile = max((p for k, p in periods.items() if k not in SIGNALS), default=0.0)
    audit = get("signal:audit") if caps.audit_events else None
    worst: dict[Klass, float] = {
        "new_users": get("signal:new_users", reconcile),
        # Seen by the new-users signal, its memberships read then and every period after.
        "new_user_memberships": audit
        or max(
            get("signal:new_users", 0.0),
            get("memberships", signal_period("memberships", targets, caps)),
        ),
        "group_members": audit or members_walk,
        "project_members": audit
        or get("graphql:fingerprints:project", get("signal:changed_projects", reconcile)),
        "groups_and_projects": max(get("groups", 0.0), get("projects", 0.0)),
        "shares": get("shares:group", reconcile),
        "reconcile": reconcile,
    }
    return worst


# --- the schedule -----------------------------------------------------------------------------


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


def load_of(tasks: Iterable[tuple[str, float]]) -> dict[str, Load]:
    """(key, cost) pairs summed per task kind."""
    out: dict[str, list[float]] = {}
    for key, cost in tasks:
        acc = out.setdefault(kind_of(key), [0, 0.0, 1.0])
        acc[0] += 1
        acc[1] += cost
        acc[2] = max(acc[2], cost)
    return {k: Load(tasks=int(v[0]), requests=v[1], largest=v[2]) for k, v in out.items()}
