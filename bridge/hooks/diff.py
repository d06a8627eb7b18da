"""Pure differ: two snapshots of records in, the ordered changes between them out.

Snapshots are mappings keyed by GitLab ids: ``int`` for users, groups and projects;
``(source_id, user_id)`` for members and ``(source_id, group_id)`` for shares. A ``changed``
is emitted only when the records differ; a project's ``shares`` are diffed apart from the
project (``project_shares`` + ``diff_shares``), so a share change never changes its project.
``order`` sorts one poll's changes (docs/events.md#order-within-a-poll). No I/O, clock or logging.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar, cast

from bridge.model.changes import (
    ACCESS_REQUEST_RECORD,
    MEMBER_RECORD,
    SHARE_RECORD,
    Change,
    ChangeKind,
    R,
    RecordKind,
    change_key,
    snapshot_key,
)
from bridge.model.records import Group, Member, Project, Share, SourceKind, User

K = TypeVar("K", int, tuple[int, int])


def diff_users(old: Mapping[int, User], new: Mapping[int, User]) -> tuple[Change[User], ...]:
    """Users added, removed or differing in any field, by ascending id."""
    return _diff("user", old, new, operator.eq)


def diff_groups(old: Mapping[int, Group], new: Mapping[int, Group]) -> tuple[Change[Group], ...]:
    """Groups added, removed or differing in any field, by ascending id."""
    return _diff("group", old, new, operator.eq)


def diff_projects(
    old: Mapping[int, Project], new: Mapping[int, Project]
) -> tuple[Change[Project], ...]:
    """Projects added, removed or differing in a field other than ``shares``, by ascending id."""
    return _diff("project", old, new, _same_project)


def diff_members(
    kind: SourceKind,
    old: Mapping[tuple[int, int], Member],
    new: Mapping[tuple[int, int], Member],
) -> tuple[Change[Member], ...]:
    """Direct member rows of groups or projects, keyed (source_id, user_id), ascending."""
    return _diff(MEMBER_RECORD[kind], old, new, operator.eq)


def diff_access_requests(
    kind: SourceKind,
    old: Mapping[tuple[int, int], Member],
    new: Mapping[tuple[int, int], Member],
) -> tuple[Change[Member], ...]:
    """Pending access requests of groups or projects, keyed (source_id, user_id), ascending."""
    return _diff(ACCESS_REQUEST_RECORD[kind], old, new, operator.eq)


def diff_shares(
    kind: SourceKind,
    old: Mapping[tuple[int, int], Share],
    new: Mapping[tuple[int, int], Share],
) -> tuple[Change[Share], ...]:
    """Share links of groups or projects, keyed (source_id, group_id), ascending."""
    return _diff(SHARE_RECORD[kind], old, new, operator.eq)


def project_shares(projects: Mapping[int, Project]) -> dict[tuple[int, int], Share]:
    """All projects' shares keyed (project id, invited group id), for ``diff_shares``."""
    return {
        (project_id, share.group_id): share
        for project_id in sorted(projects)
        for share in projects[project_id].shares
    }


def apply(old: Mapping[K, R], changes: Iterable[Change[R]]) -> dict[K, R]:
    """Rebuild the newer snapshot from ``old`` and the changes found against it.

    Raises ValueError when a change does not fit ``old`` (an add of a present key, a change or
    removal whose ``old`` is not the record held). Projects round-trip up to their ``shares``.
    """
    result = dict(old)
    for change in changes:
        key = cast(K, snapshot_key(change.key))
        held = result.get(key)
        if (held is None) != (change.old is None) or (held is not None and held != change.old):
            raise ValueError(f"{change.kind} {change.subject}: does not fit the old snapshot")
        if change.new is None:
            del result[key]
        else:
            result[key] = change.new
    return result


def order(
    changes: Iterable[Change[Any]],
    *,
    old_groups: Mapping[int, Group],
    new_groups: Mapping[int, Group],
) -> tuple[Change[Any], ...]:
    """Sort one poll's changes in GitLab's order; ties by record kind, then key.

    The members and requesters of a destroyed group go just before its ``group_destroy``, as
    GitLab's ``dependent: :destroy`` callbacks send them (docs/events.md#cascades).
    """
    changes = list(changes)
    destroyed = {c.key[0] for c in changes if c.record == "group" and c.kind == "removed"}

    def rank(change: Change[Any]) -> tuple[int, int, int, int, str, tuple[int, ...]]:
        phase, sub = _PHASES[change.kind, change.record]
        depth = 0  # only added or removed groups need one: member lists must stay cheap
        group_id = change.key[0]
        last = 1
        if change.record == "group" and change.kind == "added" and group_id in new_groups:
            depth = _depth(group_id, new_groups)  # parents first
        elif change.record == "group" and change.kind == "removed" and group_id in old_groups:
            depth = -_depth(group_id, old_groups)  # children first
        elif change.record in _GROUP_ROWS and change.kind == "removed" and group_id in destroyed:
            phase, sub = _PHASES["removed", "group"]
            depth = -_depth(group_id, old_groups) if group_id in old_groups else 0
            last = 0  # before the group itself
        return phase, sub, depth, last, change.record, change.key

    return tuple(sorted(changes, key=rank))


_GROUP_ROWS: Final = frozenset(("group_member", "group_access_request"))


# (kind, record) -> (phase, position within the phase): docs/events.md#order-within-a-poll.
_PHASES: Final[Mapping[tuple[str, str], tuple[int, int]]] = {
    ("added", "user"): (0, 0),
    ("added", "group"): (0, 1),
    ("added", "project"): (0, 2),
    ("changed", "user"): (1, 0),
    ("changed", "group"): (1, 1),
    ("changed", "project"): (1, 2),
    ("added", "group_member"): (2, 0),
    ("changed", "group_member"): (2, 0),
    ("added", "project_member"): (2, 1),
    ("changed", "project_member"): (2, 1),
    **{
        (kind, res): (3, 0)
        for kind in ("added", "changed", "removed")
        for res in SHARE_RECORD.values()
    },
    ("added", "group_access_request"): (2, 2),
    ("changed", "group_access_request"): (2, 2),
    ("added", "project_access_request"): (2, 3),
    ("changed", "project_access_request"): (2, 3),
    ("removed", "group_member"): (4, 0),
    ("removed", "project_member"): (4, 1),
    ("removed", "group_access_request"): (4, 2),
    ("removed", "project_access_request"): (4, 3),
    ("removed", "project"): (5, 0),
    ("removed", "group"): (5, 1),
    ("removed", "user"): (5, 2),
}


def _diff(
    record: RecordKind,
    old: Mapping[K, R],
    new: Mapping[K, R],
    same: Callable[[R, R], bool],
) -> tuple[Change[R], ...]:
    """Changes between two keyed snapshots of one resource, by ascending key."""
    changes: list[Change[R]] = []
    kind: ChangeKind
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None and after is not None:
            kind = "added"
        elif after is None:
            kind = "removed"
        elif before is not None and not same(before, after):
            kind = "changed"
        else:
            continue
        changes.append(Change(record=record, kind=kind, key=change_key(key), old=before, new=after))
    return tuple(changes)


def _same_project(a: Project, b: Project) -> bool:
    """Projects equal apart from their shares."""
    return dataclasses.replace(a, shares=()) == dataclasses.replace(b, shares=())


def _depth(group_id: int, groups: Mapping[int, Group]) -> int:
    """Ancestors of one group present in ``groups`` (a cycle stops the count)."""
    seen = {group_id}
    parent = groups[group_id].parent_id
    while parent is not None and parent in groups and parent not in seen:
        seen.add(parent)
        parent = groups[parent].parent_id
    return len(seen) - 1
