"""What ``gitlab-bridge status`` and ``/metrics`` report, computed from the store's rows.

Pure: the caller reads the store and passes ``now``. The four polled resources are users,
groups, projects and members; members aggregates every member list (its last complete poll is
the oldest list's, so staleness says how old the oldest member data is).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bridge.model.ledger import MEMBER_LIST_PREFIX, RESOURCES, WAITING, ReceiverState, ResourceState
from bridge.model.signals import Capabilities
from bridge.sync.batches import FIT_STATE
from bridge.sync.planner import kind_of, klass_of


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceStatus:
    """One polled resource."""

    name: str
    last_complete_at: dt.datetime | None
    staleness: float | None  # seconds since last_complete_at
    requests: int  # requests the last complete poll used (members: summed over lists)
    lists: int  # member lists known (members only)
    errors: tuple[str, ...]  # "members:group:7: reason" of lists whose last poll failed


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassStatus:
    """One freshness class: its target, and how long ago its least recently read source was
    read (the worst staleness it has now; None: a source never read, or none recorded)."""

    name: str
    target: float
    staleness: float | None
    sources: int

    @property
    def late(self) -> bool:
        """Staler than its target."""
        return self.staleness is not None and self.staleness > self.target


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverStatus:
    """One receiver's queue and circuit."""

    name: str
    configured: bool
    pending: int  # waiting for a first attempt or a retry
    delivered: int
    dead: int
    circuit: str  # closed, open or half-open
    probe_at: dt.datetime | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """The whole picture at ``now``."""

    now: dt.datetime
    resources: tuple[ResourceStatus, ...]
    receivers: tuple[ReceiverStatus, ...]
    oldest_waiting_age: float | None  # seconds the oldest undelivered event has waited
    daemon_pid: int | None  # the daemon holding the state's lock (SQLite), if any
    classes: tuple[ClassStatus, ...] = ()
    budget: int | None = None  # gitlab.budget, requests per minute

    @property
    def queue_depth(self) -> int:
        """Events waiting for delivery, every receiver."""
        return sum(r.pending for r in self.receivers)

    @property
    def dead_letters(self) -> int:
        """Dead letters kept, every receiver."""
        return sum(r.dead for r in self.receivers)


def build(
    *,
    now: dt.datetime,
    states: Iterable[ResourceState],
    counts: Mapping[str, Mapping[str, int]],
    circuits: Iterable[ReceiverState],
    configured: Sequence[str],
    oldest_waiting: dt.datetime | None,
    daemon_pid: int | None = None,
    targets: Mapping[str, float] | None = None,
    budget: int | None = None,
) -> Status:
    """Assemble the status from the store's rows; ``targets`` per class (``freshness:``)."""
    by_name = {s.name: s for s in states}
    members = [s for name, s in by_name.items() if name.startswith(MEMBER_LIST_PREFIX)]
    resources = [_single(name, by_name.get(name), now) for name in RESOURCES[:3]]
    resources.append(_members(members, now))
    circuit = {c.name: c for c in circuits}
    names = sorted(set(configured) | set(counts) | set(circuit))
    receivers = []
    for name in names:
        by_status = counts.get(name, {})
        state = circuit.get(name) or ReceiverState(name=name)
        receivers.append(
            ReceiverStatus(
                name=name,
                configured=name in configured,
                pending=sum(by_status.get(status, 0) for status in WAITING),
                delivered=by_status.get("delivered", 0),
                dead=by_status.get("dead", 0),
                circuit=state.circuit,
                probe_at=state.probe_at,
                consecutive_failures=state.consecutive_failures,
            )
        )
    return Status(
        now=now,
        resources=tuple(resources),
        receivers=tuple(receivers),
        oldest_waiting_age=None if oldest_waiting is None else _age(oldest_waiting, now),
        daemon_pid=daemon_pid,
        classes=_classes(by_name.values(), targets or {}, now),
        budget=budget,
    )


def _classes(
    states: Iterable[ResourceState], targets: Mapping[str, float], now: dt.datetime
) -> tuple[ClassStatus, ...]:
    """Each class's worst staleness over the sources its reads have recorded."""
    states = list(states)
    audit = any(s.name == "signal:audit" for s in states)
    caps = Capabilities(updated_after=False, last_activity_after=False, memberships=False,
                        audit_events=audit)  # fmt: skip
    ages: dict[str, list[float | None]] = {name: [] for name in targets}
    for state in states:
        if state.name == FIT_STATE:
            continue  # bookkeeping of GraphQL batch sizes, not a read
        klass = klass_of(kind_of(state.name), caps)
        if klass in ages:
            last = state.last_complete_at
            ages[klass].append(None if last is None else _age(last, now))
    out = []
    for name, target in targets.items():
        found = ages[name]
        worst = None if not found or None in found else max(a for a in found if a is not None)
        out.append(ClassStatus(name=name, target=target, staleness=worst, sources=len(found)))
    return tuple(out)


def summary(status: Status) -> str:
    """One line for systemd's STATUS=: staleness per resource, queue depth, dead letters."""
    polls = ", ".join(f"{r.name} {short_age(r.staleness)}" for r in status.resources)
    return f"polled {polls}; queue {status.queue_depth}; dead {status.dead_letters}"


def to_json(status: Status) -> dict[str, object]:
    """The ``--json`` shape: stable keys, ISO 8601 times, seconds as numbers."""
    return {
        "now": _iso(status.now),
        "daemon_pid": status.daemon_pid,
        "resources": [
            {
                "name": r.name,
                "last_complete_at": _iso(r.last_complete_at),
                "staleness_seconds": _round(r.staleness),
                "requests": r.requests,
                **({"lists": r.lists} if r.name == "members" else {}),
                "errors": list(r.errors),
            }
            for r in status.resources
        ],
        "receivers": [
            {
                "name": r.name,
                "configured": r.configured,
                "pending": r.pending,
                "delivered": r.delivered,
                "dead": r.dead,
                "circuit": r.circuit,
                "probe_at": _iso(r.probe_at),
                "consecutive_failures": r.consecutive_failures,
            }
            for r in status.receivers
        ],
        "freshness": [
            {
                "class": c.name,
                "target_seconds": c.target,
                "staleness_seconds": _round(c.staleness),
                "sources": c.sources,
                "late": c.late,
            }
            for c in status.classes
        ],
        "budget_per_minute": status.budget,
        "queue_depth": status.queue_depth,
        "dead_letters": status.dead_letters,
        "oldest_waiting_seconds": _round(status.oldest_waiting_age),
    }


def _single(name: str, state: ResourceState | None, now: dt.datetime) -> ResourceStatus:
    last = state.last_complete_at if state else None
    return ResourceStatus(
        name=name,
        last_complete_at=last,
        staleness=None if last is None else _age(last, now),
        requests=(state.last_requests or 0) if state else 0,
        lists=0,
        errors=(f"{name}: {state.last_error}",) if state and _failing(state) else (),
    )


def _members(states: Sequence[ResourceState], now: dt.datetime) -> ResourceStatus:
    completes = [s.last_complete_at for s in states]
    # The oldest list decides; a list never completed makes members as stale as "never".
    last = None if not completes or None in completes else min(c for c in completes if c)
    return ResourceStatus(
        name="members",
        last_complete_at=last,
        staleness=None if last is None else _age(last, now),
        requests=sum(s.last_requests or 0 for s in states),
        lists=len(states),
        errors=tuple(f"{s.name}: {s.last_error}" for s in states if _failing(s)),
    )


def _failing(state: ResourceState) -> bool:
    """The last attempt failed (an error newer than the last complete poll)."""
    if not state.last_error:
        return False
    if state.last_complete_at is None or state.last_attempt_at is None:
        return True
    return state.last_attempt_at > state.last_complete_at


def _age(then: dt.datetime, now: dt.datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def short_age(seconds: float | None) -> str:
    """``never``, ``42s``, ``5m``, ``3h``, ``2d`` ago."""
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
