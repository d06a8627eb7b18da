"""The member rows that go with a destroyed group or user, as GitLab's callbacks announce them.

GitLab destroys a group's direct members and pending requesters with callbacks
(``has_many ... dependent: :destroy``; ``Member`` ``after_destroy :post_destroy_member_hook``
and ``:post_destroy_access_request_hook``), so each sends its ``user_remove_from_group`` or
``user_access_request_revoked_for_group`` before the ``group_destroy``. Deleting a user destroys
its memberships one by one first (``Users::DestroyService#destroy_memberships``), each with its
hook. A project's members go with ``dependent: :delete_all``: no hook
(docs/events.md#cascades). The store drops these rows with their group or user, so the removals
are read from it just before the destroy is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.model.changes import (
    ACCESS_REQUEST_RECORD,
    MEMBER_RECORD,
    Change,
    subjects,
)
from bridge.model.ledger import RowMeta
from bridge.model.records import Member, Project, SourceKind
from bridge.ports import SnapshotStore


def cascaded(
    store: SnapshotStore, destroys: Sequence[Change[Any]]
) -> tuple[list[Change[Member]], dict[str, RowMeta], dict[int, Project]]:
    """The removals that go with ``destroys``, their rows' bookkeeping, and their projects."""
    changes: dict[str, Change[Member]] = {}
    metas: dict[str, RowMeta] = {}
    projects: dict[int, Project] = {}

    def remove(kind: SourceKind, source_id: int, rows: dict[tuple[int, int], Member], *,
               requests: bool = False) -> None:  # fmt: skip
        record = (ACCESS_REQUEST_RECORD if requests else MEMBER_RECORD)[kind]
        for key in sorted(rows):
            change = Change(record=record, kind="removed", key=key, old=rows[key], new=None)
            changes.setdefault(change.subject, change)

    for change in destroys:
        if change.kind != "removed":
            continue
        if change.record == "group":
            group_id = change.key[0]
            rows = {(group_id, m.user_id): m for m in store.members("group", group_id).values()}
            remove("group", group_id, rows)
            metas |= subjects(MEMBER_RECORD["group"], store.members_meta_of("group", group_id))
            remove("group", group_id, store.access_requests_of("group", group_id), requests=True)
            metas |= subjects(
                ACCESS_REQUEST_RECORD["group"], store.access_requests_meta_of("group", group_id)
            )
        elif change.record == "user":
            for (kind, source_id), member in sorted(store.memberships_of(change.key[0]).items()):
                remove(kind, source_id, {(source_id, member.user_id): member})
                metas |= subjects(MEMBER_RECORD[kind], store.members_meta_of(kind, source_id))
                if kind == "project" and source_id not in projects:
                    project = store.project(source_id)
                    if project is not None:
                        projects[source_id] = project
    return list(changes.values()), metas, projects
