"""The planner in virtual time: a day of an instance, a workload, and what each change waited.

Pure and deterministic (a seeded ``random.Random``). ``rehearse`` runs the real ``Schedule``
and ``allocate`` against a virtual budget that spaces requests ``60 / per_minute`` seconds
apart, while Poisson changes land on random sources. A change is seen when the first read of
its task (or, where GitLab offers one, of its signal, which then hints the source) starts after
it. The result holds per class the delays and the target, and the most requests any 60-second
window held, so a test can check that the budget is never exceeded and that each target holds,
or by how much it does not (docs/freshness.md#the-planner).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.model.signals import Capabilities
from bridge.sync.planner import (
    Klass,
    Targets,
    allocate,
    kind_of,
    load_of,
    signal_period,
)
from bridge.sync.schedule import Schedule

HOUR = 3600.0
ONE_HOUR_RULE = HOUR  # GitLab moves last_activity_at at most once an hour per project


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """What the rehearsal reads: ids and the pages each member list takes."""

    users: int
    groups: int
    projects: int
    member_pages: Mapping[str, int]  # member lists longer than one page, by task key


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassResult:
    """The delays one class's changes waited to be read."""

    klass: Klass
    target: float
    predicted: float
    delays: tuple[float, ...]

    @property
    def worst(self) -> float:
        """The longest wait (0 without changes)."""
        return max(self.delays, default=0.0)

    def quantile(self, q: float) -> float:
        """The q-quantile of the waits (nearest rank)."""
        if not self.delays:
            return 0.0
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rehearsal:
    """A rehearsed day."""

    seconds: float
    requests: int
    max_per_minute: int  # the most requests any 60-second window held
    per_minute: float
    stretch: float
    classes: Mapping[Klass, ClassResult]


def tasks_of(instance: Instance, caps: Capabilities) -> list[tuple[str, float]]:
    """Every task of an instance with its cost in requests."""
    pages = instance.member_pages
    out: list[tuple[str, float]] = [
        ("users", math.ceil(instance.users / 100)),
        ("groups", math.ceil(instance.groups / 100)),
        ("projects", math.ceil(instance.projects / 100)),
        ("signal:new_users", 1),
        ("signal:new_groups", 1),
        ("signal:new_projects", 1),
    ]
    if caps.updated_after or caps.last_activity_after:
        out.append(("signal:changed_projects", 1))
    if caps.audit_events:
        out.append(("signal:audit", 1))
    for g in range(1, instance.groups + 1):
        key = f"members:group:{g}"
        out += [(key, pages.get(key, 1)), (f"shares:group:{g}", 1)]
    for p in range(1, instance.projects + 1):
        key = f"members:project:{p}"
        out.append((key, pages.get(key, 1)))
    return out


# Changes per hour by what they touch, and which class each one's wait counts for.
WORKLOAD: Mapping[str, float] = {
    "new_user": 30.0,
    "group_member": 60.0,
    "project_member": 120.0,
    "project_create": 20.0,
    "rename_transfer": 10.0,
    "destroy": 5.0,
    "share": 6.0,
}


def rehearse(
    instance: Instance,
    targets: Targets,
    caps: Capabilities,
    per_minute: float,
    *,
    hours: float = 24.0,
    rates: Mapping[str, float] = WORKLOAD,
    window: float = 600.0,
    workers: int = 4,
    rng: random.Random,
) -> Rehearsal:
    """Run the planner for ``hours`` of virtual time under a workload; measure every wait."""
    tasks = tasks_of(instance, caps)
    allocation = allocate(load_of(tasks), targets, caps, per_minute)
    schedule = Schedule()
    for key, cost in tasks:
        # Start as after a long run: every source read at a random point of its period.
        period = allocation.period(key)
        schedule.add(key, period, cost=cost, last=-rng.uniform(0, period))
    world = _World(instance, caps, schedule, rng)
    world.memberships_period = signal_period("memberships", targets, caps)
    world.window = window
    horizon = hours * HOUR
    changes = _arrivals(rates, horizon, rng)
    spacing = 60.0 / per_minute
    # ``workers`` reads at a time, as the daemon runs them; each budget slot serves the next
    # busy worker in turn, so a long listing takes its pages among the others' reads.
    busy: list[list[Any] | None] = [None] * workers  # [key, pages left, start]
    t, turn, index, requests, max_window = 0.0, 0, 0, 0, 0
    sent: deque[float] = deque()
    while t < horizon:
        while index < len(changes) and changes[index][0] <= t:
            world.change(*changes[index])
            index += 1
        for w in range(workers):
            if busy[w] is None:
                keys = schedule.next(t, 1, most=1)
                if not keys:
                    break
                busy[w] = [keys[0], int(schedule.cost(keys[0])), t]
                world.read(keys[0], t)
        running = [w for w in range(workers) if busy[w] is not None]
        if not running:
            due = schedule.next_due()
            t = min(horizon, max(t + spacing, due if due is not None else t + 1.0))
            continue
        w = min(running, key=lambda n: (n - turn) % workers)
        turn = (w + 1) % workers
        task = busy[w]
        assert task is not None
        task[1] -= 1
        sent.append(t)
        while sent and sent[0] <= t - 60.0 + 1e-6:  # float spacing
            sent.popleft()
        max_window = max(max_window, len(sent))
        requests += 1
        if task[1] <= 0:
            schedule.done(task[0], task[2], cost=schedule.cost(task[0]))
            busy[w] = None
        t += spacing
    return Rehearsal(
        seconds=horizon,
        requests=requests,
        max_per_minute=max_window,
        per_minute=per_minute,
        stretch=allocation.stretch,
        classes={
            k: ClassResult(
                klass=k,
                target=targets.of(k),
                predicted=allocation.worst[k],
                delays=tuple(world.delays[k]),
            )
            for k in allocation.worst
        },
    )


def _arrivals(
    rates: Mapping[str, float], horizon: float, rng: random.Random
) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    for what, per_hour in rates.items():
        t = 0.0
        while per_hour > 0:
            t += rng.expovariate(per_hour / HOUR)
            if t >= horizon:
                break
            out.append((t, what))
    out.sort()
    return out


class _World:
    """Pending changes per task, and what each read sees."""

    def __init__(
        self, instance: Instance, caps: Capabilities, schedule: Schedule, rng: random.Random
    ) -> None:
        self.instance, self.caps, self.schedule, self.rng = instance, caps, schedule, rng
        self.pending: defaultdict[str, list[tuple[float, Klass, str | None]]] = defaultdict(list)
        self.delays: defaultdict[Klass, list[float]] = defaultdict(list)
        self.activity: dict[int, float] = {}  # project -> last_activity_at moved
        self.created: dict[int, float] = {}  # new users, not yet seen by the signal
        self.watched: dict[int, float] = {}  # new users whose memberships are read
        self.next_user = instance.users + 1
        self.memberships_period = 45.0
        self.window = 600.0

    def change(self, at: float, what: str) -> None:
        """A change lands: remember which read will see it."""
        rng, inst, audit = self.rng, self.instance, self.caps.audit_events
        if what == "new_user":
            user = self.next_user
            self.next_user += 1
            self.created[user] = at
            self._wait("signal:new_users", at, "new_users", None)
            # 1 to 3 group joins within the next minute, seen through the user's memberships.
            for _ in range(rng.randint(1, 3)):
                group = rng.randint(1, inst.groups)
                join = at + rng.uniform(0, 60)
                via = "signal:audit" if audit else f"memberships:{user}"
                self._wait(via, join, "new_user_memberships", f"members:group:{group}")
            return
        if what == "group_member":
            members = f"members:group:{rng.randint(1, inst.groups)}"
            self._wait("signal:audit" if audit else members, at, "group_members", members)
            return
        if what == "project_member":
            project = rng.randint(1, inst.projects)
            key = f"members:project:{project}"
            hinted = at - self.activity.get(project, -math.inf) >= ONE_HOUR_RULE
            if hinted:
                self.activity[project] = at
            if audit:
                self._wait("signal:audit", at, "project_members", key)
            elif hinted and "signal:changed_projects" in self.schedule:
                self._wait("signal:changed_projects", at, "project_members", key)
            else:
                self._wait(key, at, "reconcile", None)  # no hint: the reconcile finds it
            return
        if what == "project_create":
            self._wait("signal:new_projects", at, "groups_and_projects", None)
        elif what == "rename_transfer":
            via = "signal:changed_projects" if self.caps.updated_after else "projects"
            self._wait(via, at, "groups_and_projects", None)
        elif what == "destroy":
            self._wait("projects", at, "groups_and_projects", None)
        elif what == "share":
            self._wait(f"shares:group:{rng.randint(1, inst.groups)}", at, "shares", None)

    def _watch_new_users(self, start: float) -> None:
        """The new-users signal sees users created before it: watch their memberships."""
        seen = [u for u, at in self.created.items() if at < start]
        if not self.caps.memberships or self.caps.audit_events:
            seen = []
        for user in seen:
            self.watched[user] = self.created.pop(user)
            key = f"memberships:{user}"
            self.schedule.add(key, self.memberships_period)
            self.schedule.hint(key, start)
        for user in [u for u, at in self.created.items() if at < start]:
            self.created.pop(user)

    def _wait(self, key: str, at: float, klass: Klass, then: str | None) -> None:
        self.pending[key].append((at, klass, then))

    def read(self, key: str, start: float) -> None:
        """A read starts at ``start``: it sees every change made before it."""
        if key == "signal:new_users":
            self._watch_new_users(start)
        elif key.startswith("memberships:"):
            user = int(key.split(":")[1])
            if start - self.watched.get(user, start) > self.window:
                self.schedule.remove(key)
        waiting = self.pending.get(key)
        if not waiting:
            return
        seen = [w for w in waiting if w[0] < start]
        if not seen:
            return
        self.pending[key] = [w for w in waiting if w[0] >= start]
        for at, klass, then in seen:
            if then is None or kind_of(key) == kind_of(then):
                self.delays[klass].append(start - at)
            else:  # a signal: the source is read next, and the change is seen then
                self.schedule.hint(then, start)
                self._wait(then, at, klass, None)


def member_pages(sizes: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Member lists over one page: (task key, members) -> pages."""
    return {key: math.ceil(n / 100) for key, n in sizes if n > 100}
