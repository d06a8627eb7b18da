"""Pure routing: which receivers get an event (docs/events.md#fan-out).

GitLab runs the hooks of the event's group and of all its ancestors, so a group receiver on G
gets the events of G and every descendant. A subgroup event belongs to the subgroup's *parent*
(the subgroup's own hooks do not fire); a project event to the project's namespace group
(personal projects reach no group receiver). System receivers get every System Hook event.
Callers pass the hierarchy to use: the new one for creates and updates, the one from before
the change for destroys and removals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.config.settings import GroupHookSettings, HooksSettings
from bridge.model.records import Group, ancestry

HookKind = Literal["System Hook", "Member Hook", "Subgroup Hook", "Project Hook"]
_TOGGLE = {
    "Member Hook": "member_events",
    "Subgroup Hook": "subgroup_events",
    "Project Hook": "project_events",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Receiver:
    """A configured receiver with its group resolved to an id (None for system receivers)."""

    name: str
    group_id: int | None = None
    member_events: bool = False
    subgroup_events: bool = False
    project_events: bool = False

    @property
    def is_system(self) -> bool:
        """Whether this receiver takes System Hook events."""
        return self.group_id is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What routing needs of an event: its hook kind and the group whose hooks fire."""

    hook: HookKind
    group_id: int | None  # member: the group; subgroup: the parent; project: the namespace group


def route(
    target: Target, receivers: Sequence[Receiver], groups: Mapping[int, Group]
) -> tuple[str, ...]:
    """Names of the receivers that get an event with ``target``, in configuration order."""
    if target.hook == "System Hook":
        return tuple(r.name for r in receivers if r.is_system)
    if target.group_id is None:
        return ()
    toggle = _TOGGLE[target.hook]
    owners = set(ancestry(target.group_id, groups))
    return tuple(
        r.name for r in receivers if not r.is_system and getattr(r, toggle) and r.group_id in owners
    )


def resolve_receivers(
    hooks: HooksSettings, groups: Mapping[int, Group]
) -> tuple[tuple[Receiver, ...], tuple[str, ...]]:
    """Receivers with groups resolved by id or full path; one problem per unknown group."""
    by_path = {g.full_path.lower(): g.id for g in groups.values()}
    receivers = [Receiver(name=h.name) for h in hooks.system]
    problems: list[str] = []
    for index, hook in enumerate(hooks.group):
        group_id = _resolve(hook, groups, by_path)
        if group_id is None:
            problems.append(f"hooks.group[{index}].group: unknown group {hook.group!r}")
            continue
        receivers.append(
            Receiver(
                name=hook.name,
                group_id=group_id,
                member_events=hook.member_events,
                subgroup_events=hook.subgroup_events,
                project_events=hook.project_events,
            )
        )
    return tuple(receivers), tuple(problems)


def _resolve(
    hook: GroupHookSettings, groups: Mapping[int, Group], by_path: Mapping[str, int]
) -> int | None:
    ident = hook.group.strip().strip("/")
    if ident.isdigit():
        return int(ident) if int(ident) in groups else None
    return by_path.get(ident.lower())


def descendants(group_id: int, groups: Iterable[Group]) -> set[int]:
    """Every group below ``group_id`` (for tests and operators: a receiver's reach)."""
    children: dict[int, list[int]] = {}
    for g in groups:
        if g.parent_id is not None:
            children.setdefault(g.parent_id, []).append(g.id)
    out: set[int] = set()
    stack = list(children.get(group_id, ()))
    while stack:
        gid = stack.pop()
        if gid not in out:
            out.add(gid)
            stack.extend(children.get(gid, ()))
    return out
