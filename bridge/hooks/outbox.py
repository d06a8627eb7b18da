"""Pure: confirmed changes -> the outbox rows to queue, one per (event, receiver).

Each change is turned into events with the hierarchy of its side (the pre-change one for
removals, the new one otherwise), routed to receivers (docs/events.md#fan-out), and given a
deterministic identity (docs/events.md#event-identity): ``event_uuid`` from the subject's
snapshot revision before the change, so one change detected twice is one event, and
``idempotency_key`` per receiver. The same row bookkeeping gives removals their snapshot
timestamps (docs/payloads.md#record-timestamps). No I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from bridge.hooks.events import events_for, removed_ids
from bridge.hooks.identity import event_uuid, idempotency_key
from bridge.hooks.payloads.context import PayloadContext, body
from bridge.hooks.routing import Receiver, route
from bridge.model.changes import Change, Sides
from bridge.model.ledger import OutboxRow, RowMeta
from bridge.model.records import Project

_NOTHING_REMOVED: Final[Mapping[str, int]] = MappingProxyType({})
_NOTHING_DOOMED: Final[Mapping[str, Collection[int]]] = MappingProxyType({})


def outbox_rows(
    changes: Sequence[Change[Any]],
    *,
    instance_url: str,
    gitlab_version: str = "",
    receivers: Sequence[Receiver],
    snapshot: Mapping[str, RowMeta],
    contexts: Sides[PayloadContext],
    projects: Sides[Mapping[int, Project]],
    removed: Mapping[str, int] = _NOTHING_REMOVED,
    doomed: Mapping[str, Collection[int]] = _NOTHING_DOOMED,
) -> tuple[OutboxRow, ...]:
    """Rows for ``changes`` (in poll order already); ``snapshot`` maps subject -> row bookkeeping.

    A subject missing from ``snapshot`` continues from the revision its row had when it was
    removed (``removed``, the store's tombstones), or is new: revision 0. ``doomed``: users,
    groups and projects the pass destroys, maybe in another commit; rows cascading with them
    are silent.
    """
    destroyed = {
        record: removed_ids(changes, record) | frozenset(doomed.get(record, ()))
        for record in ("user", "group", "project")
    }
    rows: list[OutboxRow] = []
    for change in changes:
        groups = contexts.of(change.kind).groups
        events = events_for(
            [change],
            contexts=contexts,
            projects=projects,
            destroyed_users=destroyed["user"],
            destroyed_groups=destroyed["group"],
            destroyed_projects=destroyed["project"],
            snapshot=snapshot,
        )
        for event in events:
            meta = snapshot.get(event.subject)
            revision = removed.get(event.subject, 0) if meta is None else meta.revision
            uuid = event_uuid(instance_url, event.event_name, event.subject, revision)
            payload = body(event.payload).decode("utf-8")
            rows.extend(
                OutboxRow(
                    event_uuid=uuid,
                    receiver=name,
                    hook=event.hook,
                    event_name=event.event_name,
                    subject=event.subject,
                    payload=payload,
                    idempotency_key=idempotency_key(uuid, name),
                    instance_url=instance_url,
                    gitlab_version=gitlab_version,
                )
                for name in route(event.target, receivers, groups)
            )
    return tuple(rows)
