"""The soak's world model and its mutations: pure values, planned with a seeded ``Random``.

A ``Model`` holds the part of the simulated GitLab the soak owns (its users, groups, projects,
direct member rows and share links); ``apply`` returns the model after one ``Mutation``.
``plan_batch`` picks a batch in which every subject is mutated at most once and nothing created
or destroyed in the batch is touched by another of its mutations, so that one complete poll
after the batch sees each mutation as exactly one change (docs/soak.md#the-oracle).
``readd_script`` is the add, remove, add, remove, add-at-another-role sequence of issue 12.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

Op = Literal[
    "user_create", "user_destroy", "user_rename",
    "group_create", "group_destroy", "group_rename",
    "project_create", "project_destroy", "project_rename", "project_update", "project_transfer",
    "member_add", "member_update", "member_remove",
    "share_add", "share_update", "share_remove",
]  # fmt: skip
Source = Literal["group", "project"]
Link = tuple[Source, int, int]  # (kind, source id, user id or invited group id)
Entity = tuple[str, int]  # ("user" | "group" | "project", id)

GROUP_LEVELS = (10, 20, 30, 40, 50)
PROJECT_LEVELS = (10, 20, 30, 40)
MAX_DEPTH = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Mutation:
    """One change made in GitLab.

    ``target`` is the user, group or project (for links: the source group or project); a create
    has none until the simulator assigns the id. ``other`` is a member's user or an invited
    group; ``parent`` a new group's parent or a project's (new) namespace.
    """

    op: Op
    target: int | None = None
    source: Source | None = None
    other: int | None = None
    parent: int | None = None
    level: int | None = None
    name: str | None = None

    @property
    def link(self) -> Link:
        """The member row or share link a member or share mutation is about."""
        assert self.source is not None, f"{self.op} has no source kind"
        assert self.target is not None, f"{self.op} has no source id"
        assert self.other is not None, f"{self.op} has no user or invited group"
        return (self.source, self.target, self.other)


@dataclass(frozen=True, slots=True, kw_only=True)
class Model:
    """What the soak owns in GitLab; never mutated, ``apply`` makes a new one."""

    users: frozenset[int] = frozenset()
    groups: Mapping[int, int | None] = field(default_factory=dict)  # id -> parent
    projects: Mapping[int, int] = field(default_factory=dict)  # id -> namespace group
    members: Mapping[Link, int] = field(default_factory=dict)  # -> access level
    shares: Mapping[Link, int] = field(default_factory=dict)  # -> group access
    fixed: frozenset[int] = frozenset()  # groups never destroyed (they carry the receivers)
    retired: frozenset[Link] = frozenset()  # links removed at least once
    serial: int = 0  # for fresh paths

    def ancestors(self, group: int) -> tuple[int, ...]:
        """``group`` and its ancestors among the model's groups, nearest first."""
        chain: list[int] = []
        current: int | None = group
        while current is not None and current in self.groups:
            chain.append(current)
            current = self.groups[current]
        return tuple(chain)

    def subtree(self, group: int) -> frozenset[int]:
        """``group`` and every group below it."""
        return frozenset(g for g in self.groups if group in self.ancestors(g))

    def doomed(self, group: int) -> tuple[frozenset[int], frozenset[int]]:
        """(groups, projects) that go when ``group`` is destroyed."""
        groups = self.subtree(group)
        return groups, frozenset(p for p, ns in self.projects.items() if ns in groups)


def apply(model: Model, m: Mutation) -> Model:
    """The model after ``m`` (whose created id is known)."""
    serial = model.serial + 1
    if m.op in ("member_add", "member_update", "share_add", "share_update"):
        table = "members" if m.op.startswith("member") else "shares"
        rows = {**getattr(model, table), m.link: m.level}
        return replace(model, **{table: rows}, serial=serial)  # type: ignore[arg-type]
    if m.op in ("member_remove", "share_remove"):
        table = "members" if m.op == "member_remove" else "shares"
        rows = {k: v for k, v in getattr(model, table).items() if k != m.link}
        retired = model.retired | {m.link}
        return replace(model, **{table: rows}, retired=retired, serial=serial)  # type: ignore[arg-type]
    assert m.target is not None, f"{m.op} has no id"
    if m.op == "user_create":
        return replace(model, users=model.users | {m.target}, serial=serial)
    if m.op == "user_destroy":
        return _without(replace(model, users=model.users - {m.target}, serial=serial),
                        users={m.target})  # fmt: skip
    if m.op == "group_create":
        return replace(model, groups={**model.groups, m.target: m.parent}, serial=serial)
    if m.op == "group_destroy":
        groups, projects = model.doomed(m.target)
        return _without(replace(model, serial=serial), groups=groups, projects=projects)
    if m.op in ("project_create", "project_transfer"):
        assert m.parent is not None
        return replace(model, projects={**model.projects, m.target: m.parent}, serial=serial)
    if m.op == "project_destroy":
        return _without(replace(model, serial=serial), projects={m.target})
    return replace(model, serial=serial)  # renames and updates change no structure


def _without(
    model: Model,
    *,
    users: Iterable[int] = (),
    groups: Iterable[int] = (),
    projects: Iterable[int] = (),
) -> Model:
    """Drop entities and, silently (no hook), every member row and link that goes with them."""
    users, groups, projects = set(users), set(groups), set(projects)

    def gone(link: Link, *, share: bool) -> bool:
        kind, source, other = link
        return (source in groups if kind == "group" else source in projects) or (
            other in groups if share else other in users
        )

    return replace(
        model,
        users=model.users - users,
        groups={g: p for g, p in model.groups.items() if g not in groups},
        projects={p: ns for p, ns in model.projects.items() if p not in projects},
        members={k: v for k, v in model.members.items() if not gone(k, share=False)},
        shares={k: v for k, v in model.shares.items() if not gone(k, share=True)},
    )


def subject(m: Mutation) -> str:
    """The subject a mutation changes (docs/events.md#event-identity); a create's is new."""
    if m.op.startswith(("member", "share")):
        kind, source, other = m.link
        record = f"{kind}_member" if m.op.startswith("member") else f"{kind}_share"
        return f"{record}:{source}:{other}"
    if m.target is None:
        return f"{m.op}:new"
    return f"{m.op.split('_')[0]}:{m.target}"


def footprint(model: Model, m: Mutation) -> frozenset[Entity]:
    """Every user, group and project ``m`` refers to, a destroy's cascade included."""
    refs: set[Entity] = set()
    if m.op.startswith(("member", "share")):
        kind, source, other = m.link
        refs |= {(kind, source), ("user" if m.op.startswith("member") else "group", other)}
    elif m.op == "group_destroy" and m.target is not None:
        groups, projects = model.doomed(m.target)
        refs |= {("group", g) for g in groups} | {("project", p) for p in projects}
    elif m.target is not None:
        refs.add((m.op.split("_")[0], m.target))
    if m.parent is not None:
        refs.add(("group", m.parent))
    return frozenset(refs)


@dataclass
class _Batch:
    """A batch being planned: subjects taken, entities referenced, entities locked."""

    model: Model
    subjects: set[str] = field(default_factory=set)
    used: set[Entity] = field(default_factory=set)
    locked: set[Entity] = field(default_factory=set)
    mutations: list[Mutation] = field(default_factory=list)

    def take(self, m: Mutation) -> bool:
        """Add ``m`` if it keeps the batch observable: its subject is not taken yet, it touches
        nothing destroyed in the batch, and a destroy touches nothing else in the batch uses.
        (A create's subject is new, and its record is not in the model for others to touch.)"""
        refs = footprint(self.model, m)
        destroy = m.op.endswith("_destroy")
        if subject(m) in self.subjects or refs & self.locked or (destroy and refs & self.used):
            return False
        if destroy:
            self.locked |= refs
        if not m.op.endswith("_create"):
            self.subjects.add(subject(m))
        self.used |= refs
        self.mutations.append(m)
        return True


WEIGHTS: Mapping[Op, int] = {
    "user_create": 3, "user_destroy": 2, "user_rename": 2,
    "group_create": 3, "group_destroy": 1, "group_rename": 2,
    "project_create": 3, "project_destroy": 2, "project_rename": 2, "project_update": 2,
    "project_transfer": 2,
    "member_add": 8, "member_update": 5, "member_remove": 5,
    "share_add": 3, "share_update": 2, "share_remove": 2,
}  # fmt: skip
FLOORS = {"user": 6, "group": 5, "project": 3}  # never destroy below these counts


def plan_batch(model: Model, rng: random.Random, *, size: int, readd: bool) -> tuple[Mutation, ...]:
    """Up to ``size`` mutations, every subject at most once (see ``_Batch.take``).

    ``readd``: member rows and links removed before may be added back (half the adds try one).
    """
    batch = _Batch(model)
    ops, weights = list(WEIGHTS), list(WEIGHTS.values())
    for _ in range(size * 20):
        if len(batch.mutations) >= size:
            break
        op = rng.choices(ops, weights)[0]
        m = _propose(model, op, rng, readd=readd, tag=f"{model.serial}-{len(batch.mutations)}")
        if m is not None:
            batch.take(m)
    return tuple(batch.mutations)


def _propose(model: Model, op: Op, rng: random.Random, *, readd: bool, tag: str) -> Mutation | None:
    """One random candidate for ``op``, or None when the model has nothing for it."""
    users, groups, projects = sorted(model.users), sorted(model.groups), sorted(model.projects)
    if op == "user_create":
        return Mutation(op=op, name=f"soak-user-{tag}")
    if op.startswith("user_") and users:
        if op == "user_destroy" and len(users) <= FLOORS["user"]:
            return None
        return Mutation(op=op, target=rng.choice(users), name=f"soak-user-{tag}")
    if op == "group_create":
        parents = [g for g in groups if len(model.ancestors(g)) < MAX_DEPTH]
        parent = rng.choice([*parents, None])
        return Mutation(op=op, parent=parent, name=f"soak-group-{tag}")
    if op == "group_destroy":
        mortal = [g for g in groups if not model.subtree(g) & model.fixed]
        target = rng.choice(mortal) if mortal else None
        if target is None or len(groups) - len(model.subtree(target)) < FLOORS["group"]:
            return None
        return Mutation(op=op, target=target)
    if op == "group_rename" and groups:
        return Mutation(op=op, target=rng.choice(groups), name=f"soak-group-{tag}")
    if op == "project_create" and groups:
        return Mutation(op=op, parent=rng.choice(groups), name=f"soak-project-{tag}")
    if op.startswith("project_") and projects:
        if op == "project_destroy" and len(projects) <= FLOORS["project"]:
            return None
        target = rng.choice(projects)
        if op == "project_transfer":
            others = [g for g in groups if g != model.projects[target]]
            return Mutation(op=op, target=target, parent=rng.choice(others)) if others else None
        return Mutation(op=op, target=target, name=f"soak-project-{tag}")
    if op.startswith("member_"):
        return _propose_link(model, op, rng, readd=readd, rows=model.members)
    if op.startswith("share_"):
        return _propose_link(model, op, rng, readd=readd, rows=model.shares)
    return None


def _propose_link(
    model: Model, op: Op, rng: random.Random, *, readd: bool, rows: Mapping[Link, int]
) -> Mutation | None:
    """A member or share mutation: a new link, or a change or removal of an existing one."""
    if op.endswith(("_update", "_remove")):
        if not rows:
            return None
        kind, source, other = rng.choice(sorted(rows))
        level = _other_level(kind, rows[(kind, source, other)], rng) if "update" in op else None
        return Mutation(op=op, source=kind, target=source, other=other, level=level)
    candidates = [link for link in _possible_links(model, share=op == "share_add")
                  if link not in rows and (readd or link not in model.retired)]  # fmt: skip
    again = [link for link in candidates if link in model.retired]
    pool = again if again and readd and rng.random() < 0.5 else candidates
    if not pool:
        return None
    kind, source, other = rng.choice(pool)
    levels = GROUP_LEVELS if kind == "group" else PROJECT_LEVELS
    return Mutation(op=op, source=kind, target=source, other=other, level=rng.choice(levels))


def _possible_links(model: Model, *, share: bool) -> list[Link]:
    """Every member row (or share link) GitLab would accept among the model's records."""
    links: list[Link] = []
    others = sorted(model.groups) if share else sorted(model.users)
    for group in sorted(model.groups):
        links += [("group", group, o) for o in others if not (share and o == group)]
    for project, namespace in sorted(model.projects.items()):
        refused = set(model.ancestors(namespace)) if share else set()
        links += [("project", project, o) for o in others if o not in refused]
    return links


def _other_level(kind: Source, level: int, rng: random.Random) -> int:
    return rng.choice([lv for lv in (GROUP_LEVELS if kind == "group" else PROJECT_LEVELS)
                       if lv != level])  # fmt: skip


def readd_script(model: Model) -> tuple[tuple[Mutation, ...], ...]:
    """Five batches for one group member, project member, group link and project link:
    add, remove, add, remove, add at another level (issue 12: the re-adds reuse revision 0)."""
    members = [k for k in _possible_links(model, share=False) if k not in model.members]
    shares = [k for k in _possible_links(model, share=True) if k not in model.shares]
    links = [
        next(k for k in members if k[0] == "group"),
        next(k for k in members if k[0] == "project"),
        next(k for k in shares if k[0] == "group"),
        next(k for k in shares if k[0] == "project"),
    ]
    batches = []
    for step, level in enumerate((30, 30, 30, 30, 20)):
        action = "add" if step % 2 == 0 else "remove"
        batches.append(
            tuple(
                Mutation(
                    op=f"{'member' if n < 2 else 'share'}_{action}",  # type: ignore[arg-type]
                    source=kind,
                    target=source,
                    other=other,
                    level=level if action == "add" else None,
                )
                for n, (kind, source, other) in enumerate(links)
            )
        )
    return tuple(batches)
