"""Member rows of ``projectMembers`` / ``groupMembers`` as GitLab's finders pick them.

``MembersFinder`` (projects) and ``GroupMembersFinder`` (groups) with ``include_relations``:
``DIRECT`` is the source's own member rows (``project.namespace_members``, ``group.members``):
no access requests, blocked users included, expired rows until the expiry worker runs. On EE,
``groupMembers`` keeps Minimal Access rows (``ee/app/finders/ee/group_members_finder.rb``
skips ``non_minimal_access`` when the group allows the role), where REST ``/members`` of
16.11+ hides them. Several relations are merged one row per user, the highest level first
(``distinct_on_user_with_max_access_level``; a row of the source itself wins a tie) [inf for
the shared relations, which read the invited groups' direct rows].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from bridge.testing.sim.rows import Member, SourceKind
from bridge.testing.sim.snapshot import Snapshot

DEFAULT_RELATIONS = ("DIRECT", "INHERITED")  # MembersFinder / GroupMembersFinder::DEFAULT_RELATIONS


def member_rows(
    snap: Snapshot, kind: SourceKind, source_id: int, relations: Sequence[str]
) -> list[Member]:
    """The rows of the given relations, one per user when there are several relations."""
    groups = _groups(snap, kind, source_id, relations)
    rows: list[Member] = []
    if "DIRECT" in relations:
        rows.extend(snap.direct_members(kind, source_id))
    for gid in groups:
        rows.extend(snap.direct_members("group", gid))
    if len(relations) <= 1 and not groups:
        return rows
    return _distinct_on_user(rows, kind, source_id)


def _groups(
    snap: Snapshot, kind: SourceKind, source_id: int, relations: Sequence[str]
) -> list[int]:
    """Groups whose direct rows the non-DIRECT relations add."""
    if kind == "group":
        ancestors = snap.ancestor_ids(source_id)
        descendants = snap.descendant_ids(source_id)
        shared_into = [s.group_id for s in snap.links("group", source_id)]
    else:
        namespace = snap.projects[source_id].namespace_id
        ancestors = [namespace, *snap.ancestor_ids(namespace)] if namespace in snap.groups else []
        descendants = []
        shared_into = [s.group_id for s in snap.links("project", source_id)]
    picked: list[int] = []
    for relation, ids in (
        ("INHERITED", ancestors),
        ("DESCENDANTS", descendants),
        ("SHARED_FROM_GROUPS", shared_into),
        ("INVITED_GROUPS", shared_into),
        ("SHARED_INTO_ANCESTORS", [s.group_id for a in ancestors for s in snap.links("group", a)]),
    ):
        if relation in relations:
            picked.extend(i for i in ids if i not in picked)
    return picked


def _distinct_on_user(rows: list[Member], kind: SourceKind, source_id: int) -> list[Member]:
    """One row per user: highest level (+1 for the source's own row), later expiry, earlier."""
    best: dict[int, Member] = {}
    for row in rows:
        current = best.get(row.user_id)
        if current is None or _rank(row, kind, source_id) > _rank(current, kind, source_id):
            best[row.user_id] = row
    return list(best.values())


def _rank(row: Member, kind: SourceKind, source_id: int) -> tuple[int, dt.date, float]:
    own = row.source_kind == kind and row.source_id == source_id
    expiry = row.expires_at or dt.date.max
    return (row.access_level + (1 if own else 0), expiry, -row.created_at.timestamp())


# -- order -------------------------------------------------------------------------------------

# MemberSort value -> (attribute, descending). Member.sort_by_attribute: access_level_*,
# name_* (users.name), else Sortable's created_* / updated_*.
SORTS: dict[str, tuple[str, bool]] = {
    "ACCESS_LEVEL_ASC": ("access_level", False),
    "ACCESS_LEVEL_DESC": ("access_level", True),
    "USER_FULL_NAME_ASC": ("name", False),
    "USER_FULL_NAME_DESC": ("name", True),
    "CREATED_ASC": ("created_at", False),
    "CREATED_DESC": ("created_at", True),
    "UPDATED_ASC": ("updated_at", False),
    "UPDATED_DESC": ("updated_at", True),
}


def order_columns(sort: str | None) -> tuple[tuple[str, bool], ...]:
    """The keyset order: the sort's column, then ``id DESC``, which GitLab's keyset connection
    appends when the order does not end on the primary key [inf: also the default order]."""
    if sort is None:
        return (("id", True),)
    return (SORTS[sort.upper()], ("id", True))


def column_value(snap: Snapshot, row: Member, column: str) -> Any:
    """The value of one order column for a member row."""
    if column == "name":
        return snap.users[row.user_id].name
    return getattr(row, column)


def sort_key(columns: tuple[tuple[str, bool], ...]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A key over column values that sorts them in the order's directions."""

    def key(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(_directed(v, desc) for v, (_, desc) in zip(values, columns, strict=True))

    return key


def _directed(value: Any, desc: bool) -> Any:
    if isinstance(value, dt.datetime):
        value = value.timestamp()
    if isinstance(value, str):
        points = tuple(ord(c) for c in value)
        return (*(-p for p in points), 1) if desc else (*points, -1)
    return -value if desc else value
