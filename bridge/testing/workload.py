"""A workload: GitLab changes at configurable rates per class, with Poisson arrivals.

Pure. ``Schedule`` yields (time, class) arrivals: each class an independent Poisson process at
its rate per hour, and a new user's 1 to 3 group joins within the following minute, as a
provisioning script would make them. ``Planner.propose`` picks the mutation for an arrival from
a ``Model`` of the whole instance, with pickers that cost O(1) samples rather than enumerating
every possible link (``medium`` has 200,000 member rows). The driver
(``bridge.testing.workload_driver``) applies them and logs each with the hooks GitLab sends for
it (docs/freshness.md#the-workload).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Literal

from bridge.testing.mutations import (
    GROUP_LEVELS,
    MAX_DEPTH,
    PROJECT_LEVELS,
    Link,
    Model,
    Mutation,
    Source,
)

Klass = Literal[
    "new_user", "new_user_access", "group_member", "project_member", "project_create",
    "rename_transfer", "destroy", "group_create", "share",
]  # fmt: skip
PROVISIONING_WINDOW = 60.0  # seconds after a new user within which its group joins arrive
TRIES = 50  # random picks before a class gives up on one arrival


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """Arrivals per hour of each class. The defaults are a mid-size organisation's hour
    (issue 13): groups created and shares are this project's choice."""

    new_user: float = 30.0  # each followed by 1-3 group joins (new_user_access)
    group_member: float = 60.0  # add, role change or removal of an existing user
    project_member: float = 120.0
    project_create: float = 20.0
    rename_transfer: float = 10.0  # project rename or transfer, group rename
    destroy: float = 5.0  # projects, and now and then a small leaf group
    group_create: float = 2.0
    share: float = 6.0  # a group invited into a project or group, changed or removed

    @classmethod
    def parse(cls, specs: list[str]) -> Rates:
        """``class=N`` overrides (per hour); an unknown class or a negative rate is a
        ValueError naming it."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for spec in specs:
            name, sep, raw = spec.partition("=")
            if not sep or name not in known:
                raise ValueError(f"rate {spec!r}: expected CLASS=N, CLASS one of {sorted(known)}")
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"rate {spec!r}: {raw!r} is not a number") from None
            if values[name] < 0:
                raise ValueError(f"rate {spec!r}: must be >= 0")
        return cls(**values)

    def items(self) -> Iterator[tuple[Klass, float]]:
        """(class, rate per hour) in declaration order."""
        for f in fields(self):
            yield f.name, getattr(self, f.name)  # type: ignore[misc]


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """One change due at ``at`` seconds from the start; ``joins`` a new user's group joins."""

    at: float
    klass: Klass
    user: int | None = None  # for new_user_access: the new user's id


class Schedule:
    """Merged Poisson arrivals of every class within ``horizon`` seconds, plus the follow-ups
    the driver adds (a new user's joins may fall just past the horizon: they still come)."""

    def __init__(self, rates: Rates, rng: random.Random, horizon: float) -> None:
        self.rng = rng
        self.horizon = horizon
        self._heap: list[tuple[float, int, Arrival]] = []
        self._serial = 0
        self._rates = dict(rates.items())
        for klass, rate in self._rates.items():
            if rate > 0:
                self._push(Arrival(at=rng.expovariate(rate / 3600), klass=klass))

    def _push(self, arrival: Arrival) -> None:
        if arrival.at > self.horizon and arrival.klass != "new_user_access":
            return
        self._serial += 1
        heapq.heappush(self._heap, (arrival.at, self._serial, arrival))

    def pop(self) -> Arrival | None:
        """The next arrival, None when none is left; a Poisson class schedules its successor
        as it is taken."""
        if not self._heap:
            return None
        _, _, arrival = heapq.heappop(self._heap)
        if arrival.klass != "new_user_access":
            gap = self.rng.expovariate(self._rates[arrival.klass] / 3600)
            self._push(Arrival(at=arrival.at + gap, klass=arrival.klass))
        return arrival

    def provision(self, at: float, user: int) -> int:
        """Schedule a new user's 1 to 3 group joins within the next minute; returns how many."""
        joins = self.rng.randint(1, 3)
        for _ in range(joins):
            delay = self.rng.uniform(1.0, PROVISIONING_WINDOW)
            self._push(Arrival(at=at + delay, klass="new_user_access", user=user))
        return joins


@dataclass(frozen=True, slots=True, kw_only=True)
class Population:
    """What the planner may pick from besides the model: users that can be given access."""

    eligible_users: tuple[int, ...]  # active humans


class Planner:
    """Random mutations of one class over a ``Model`` (pure but for ``rng``)."""

    def __init__(self, rng: random.Random, population: Population) -> None:
        self.rng = rng
        self.users = list(population.eligible_users)
        self.serial = 0

    def applied(self, m: Mutation) -> None:
        """Learn what GitLab created: a new user can be given access from now on."""
        if m.op == "user_create" and m.target is not None:
            self.users.append(m.target)

    def propose(self, model: Model, arrival: Arrival) -> Mutation | None:
        """The mutation for ``arrival``, or None when the model offers nothing for it."""
        self.serial += 1
        tag = f"wl-{self.serial}"
        rng, klass = self.rng, arrival.klass
        groups = list(model.groups)
        if klass == "new_user":
            return Mutation(op="user_create", name=f"{tag}-user")
        if klass == "new_user_access":
            if not groups or arrival.user is None:
                return None
            for _ in range(TRIES):
                group = rng.choice(groups)
                if ("group", group, arrival.user) not in model.members:
                    level = rng.choice((10, 20, 30, 30, 30, 40))
                    return Mutation(op="member_add", source="group", target=group,
                                    other=arrival.user, level=level)  # fmt: skip
            return None
        if klass in ("group_member", "project_member"):
            if klass == "group_member":
                return self._member(model, "group", groups)
            return self._member(model, "project", list(model.projects))
        if klass == "project_create" and groups:
            return Mutation(op="project_create", parent=rng.choice(groups), name=f"{tag}-project")
        if klass == "group_create":
            parents = [g for g in groups if len(model.ancestors(g)) < MAX_DEPTH]
            parent = rng.choice(parents) if parents and rng.random() < 0.8 else None
            return Mutation(op="group_create", parent=parent, name=f"{tag}-group")
        if klass == "rename_transfer":
            return self._rename_transfer(model, groups, tag)
        if klass == "destroy":
            return self._destroy(model, groups)
        if klass == "share":
            return self._share(model, groups)
        return None

    def _member(self, model: Model, source: Source, sources: list[int]) -> Mutation | None:
        rng = self.rng
        levels = GROUP_LEVELS if source == "group" else PROJECT_LEVELS
        action = rng.choices(("add", "update", "remove"), (4, 3, 3))[0]
        if action == "add" and sources and self.users:
            for _ in range(TRIES):
                target, user = rng.choice(sources), rng.choice(self.users)
                if (source, target, user) not in model.members:
                    return Mutation(op="member_add", source=source, target=target,
                                    other=user, level=rng.choice(levels[:4]))  # fmt: skip
            return None
        rows = _links_of(model.members, source)
        for _ in range(TRIES if rows else 0):
            link = rng.choice(rows)
            level = model.members[link]
            if level == 50 or link[2] not in self.users:  # owners stay; bots and blocked too
                continue
            if action == "remove":
                return Mutation(op="member_remove", source=link[0], target=link[1], other=link[2])
            new = rng.choice([lv for lv in levels[:4] if lv != level])
            return Mutation(op="member_update", source=link[0], target=link[1], other=link[2],
                            level=new)  # fmt: skip
        return None

    def _rename_transfer(self, model: Model, groups: list[int], tag: str) -> Mutation | None:
        rng = self.rng
        projects = list(model.projects)
        pick = rng.choices(("project_rename", "project_transfer", "group_rename"), (4, 3, 3))[0]
        if pick == "group_rename" and groups:
            return Mutation(op="group_rename", target=rng.choice(groups), name=f"{tag}-group")
        if not projects:
            return None
        project = rng.choice(projects)
        if pick == "project_rename":
            return Mutation(op="project_rename", target=project, name=f"{tag}-project")
        others = [g for g in groups if g != model.projects[project]]
        return (
            Mutation(op="project_transfer", target=project, parent=rng.choice(others))
            if others
            else None
        )

    def _destroy(self, model: Model, groups: list[int]) -> Mutation | None:
        rng = self.rng
        if rng.random() < 0.2 and groups:
            for _ in range(TRIES):
                group = rng.choice(groups)
                doomed_groups, doomed_projects = model.doomed(group)
                if len(doomed_groups) == 1 and len(doomed_projects) <= 2:
                    return Mutation(op="group_destroy", target=group)
        projects = list(model.projects)
        return Mutation(op="project_destroy", target=rng.choice(projects)) if projects else None

    def _share(self, model: Model, groups: list[int]) -> Mutation | None:
        rng = self.rng
        action = rng.choices(("add", "update", "remove"), (2, 1, 1))[0]
        rows = list(model.shares)
        if action != "add" and rows:
            kind, source, other = rng.choice(rows)
            if action == "remove":
                return Mutation(op="share_remove", source=kind, target=source, other=other)
            level = rng.choice(
                [lv for lv in (10, 20, 30, 40) if lv != model.shares[(kind, source, other)]]
            )
            return Mutation(op="share_update", source=kind, target=source, other=other, level=level)
        projects = list(model.projects)
        for _ in range(TRIES if len(groups) > 1 else 0):
            invited = rng.choice(groups)
            if projects and rng.random() < 0.7:
                project = rng.choice(projects)
                link = ("project", project, invited)
                if invited in model.ancestors(model.projects[project]) or link in model.shares:
                    continue
            else:
                group = rng.choice(groups)
                link = ("group", group, invited)
                if group == invited or link in model.shares:
                    continue
            return Mutation(op="share_add", source=link[0], target=link[1], other=link[2],  # type: ignore[arg-type]
                            level=rng.choice((10, 20, 30)))  # fmt: skip
        return None


def _links_of(rows: Mapping[Link, int], source: Source) -> list[Link]:
    """The member rows of groups or of projects (a list, so ``choice`` can sample it)."""
    return [link for link in rows if link[0] == source]
