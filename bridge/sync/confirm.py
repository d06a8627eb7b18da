"""No false removals: a record the listing lacks is gone only when GitLab answers 404 for it.

A short page, paging drift or a permission change must never become a destroy or remove event
(docs/events.md#confirmed-removals). Each removal found by the differ is looked up once; one that
still answers keeps its old snapshot row and gets no event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from bridge.model.changes import Change, snapshot_key
from bridge.ports import Source

log = logging.getLogger(__name__)
Exists = Callable[[Change[Any]], bool]


def confirm(
    changes: Iterable[Change[Any]], exists: Exists
) -> tuple[tuple[Change[Any], ...], dict[Any, Any]]:
    """Confirmed changes, and the old records (by snapshot key) of removals still found."""
    confirmed: list[Change[Any]] = []
    kept: dict[Any, Any] = {}  # keyed like the snapshot the changes came from
    for change in changes:
        if change.kind == "removed" and exists(change):
            log.info("%s: missing from the listing but still exists; kept", change.subject)
            kept[snapshot_key(change.key)] = old_record(change)
        else:
            confirmed.append(change)
    return tuple(confirmed), kept


def old_record(change: Change[Any]) -> Any:
    """The record before the change; a ValueError for an add."""
    if change.old is None:
        raise ValueError(f"{change.kind} {change.subject}: no old record")
    return change.old


class Lookups:
    """Point lookups that answer "does this record still exist?" for each record kind."""

    def __init__(self, source: Source) -> None:
        self._source = source

    def user(self, change: Change[Any]) -> bool:
        """``GET /users/:id`` answers."""
        return self._source.get_user(change.key[0]) is not None

    def group(self, change: Change[Any]) -> bool:
        """``GET /groups/:id`` answers."""
        return self._source.get_group(change.key[0]) is not None

    def project(self, change: Change[Any]) -> bool:
        """``GET /projects/:id`` answers."""
        return self._source.get_project(change.key[0]) is not None

    def member(self, change: Change[Any]) -> bool:
        """``GET /{groups,projects}/:id/members/:user_id`` answers."""
        member = old_record(change)
        found = self._source.get_member(member.source_kind, member.source_id, member.user_id)
        return found is not None

    def group_share(self, change: Change[Any]) -> bool:
        """The group still lists the invited group among its ``shared_with_groups``."""
        links = self._source.group_shares(change.key[0])
        return links is not None and any(s.group_id == change.key[1] for s in links)

    def project_share(self, change: Change[Any]) -> bool:
        """The project still lists the invited group among its ``shared_with_groups``."""
        project = self._source.get_project(change.key[0])
        return project is not None and any(s.group_id == change.key[1] for s in project.shares)
