"""The policy that spends the request budget: which reads, in which order, how often.

Pure: times are seconds (the shell passes its clock's), nothing here reads a clock, logs or does
I/O, so the whole policy runs in virtual time (tests/sync/test_planner_day.py simulates a day of
the ``large`` instance in seconds).

Every unit of work is a ``Task``: a *signal* (a cheap read that says where changes are: the
newest users, groups and projects, projects changed since, a new user's memberships, audit
events) or a *source* (a listing, one group's shares, one member list). ``allocate`` turns the
freshness targets, the instance's size and the budget into a period per task kind, stretching
the walks uniformly when the budget cannot hold every target (signals are cheap and are never
stretched). ``bridge.sync.schedule.Schedule`` then hands the tasks out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
# GraphQL batches that hold a member class (bridge.sync.batches) are walks, stretched with the
# others when the budget is short, but every half target like a signal: a fingerprint's hint
# is then re-read, and a list's change read and delivered, within the target. They cost a few
# requests a sweep (measured on large: group lists in 24 requests, fingerprints of 100,000
# projects in 100), so holding the target with room to spare is cheap.
HALF_TARGET: frozenset[str] = frozenset(
    {"graphql:fingerprints:group", "graphql:fingerprints:project", "graphql:lists:group"}
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
            share = SIGNAL_SHARE if kind in HALF_TARGET else WALK_SHARE
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


def load_of(tasks: Iterable[tuple[str, float]]) -> dict[str, Load]:
    """(key, cost) pairs summed per task kind."""
    out: dict[str, list[float]] = {}
    for key, cost in tasks:
        acc = out.setdefault(kind_of(key), [0, 0.0, 1.0])
        acc[0] += 1
        acc[1] += cost
        acc[2] = max(acc[2], cost)
    return {k: Load(tasks=int(v[0]), requests=v[1], largest=v[2]) for k, v in out.items()}
