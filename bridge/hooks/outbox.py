"""Pure: confirmed changes -> the outbox rows to queue, one per (event, receiver).

Each change is turned into events with the hierarchy of its side (the pre-change one for
removals, the new one otherwise), routed to receivers (docs/events.md#fan-out), and given a
deterministic identity (docs/events.md#event-identity): ``event_uuid`` from the subject's
snapshot revision before the change, so one change detected twice is one event, and
``idempotency_key`` per receiver. The same row bookkeeping gives removals their snapshot
timestamps (docs/payloads.md#record-timestamps). No I/O, no clock, no logging.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from bridge.hooks.events import Event, approvals, events_for, removed_ids
from bridge.hooks.identity import event_uuid, idempotency_key
from bridge.hooks.payloads import shapes
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
    approved = approvals(changes)
    shaper = _Shaper.of(contexts, gitlab_version)
    rows: list[OutboxRow] = []
    for change in changes:
        groups = contexts.of(change.kind).groups

        def build(sides: Sides[PayloadContext], change: Change[Any] = change) -> tuple[Event, ...]:
            return events_for(
                [change],
                contexts=sides,
                projects=projects,
                destroyed_users=destroyed["user"],
                destroyed_groups=destroyed["group"],
                destroyed_projects=destroyed["project"],
                snapshot=snapshot,
                approved=approved,
            )

        events = build(shaper.contexts if shaper else contexts)
        if shaper:
            events = shaper.shaped(events, build)
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


@dataclass(frozen=True, slots=True)
class _Shaper:
    """``payloads.shape: instance``: each event as the polled version sends it
    (docs/payloads.md#payload-shapes-per-gitlab-version).

    Emails are values, not keys: an event whose shape's era picks the other address than the
    instance's is built again with it before its keys are reshaped.
    """

    version: shapes.Version
    enterprise: bool
    contexts: Sides[PayloadContext]  # with the instance's email rule
    other: Sides[PayloadContext]  # with the other one

    @classmethod
    def of(cls, contexts: Sides[PayloadContext], gitlab_version: str) -> _Shaper | None:
        if contexts.new.settings.shape != "instance":
            return None
        version = _version(gitlab_version)
        primary = shapes.primary_emails(version)
        return cls(
            version=version,
            enterprise=contexts.new.enterprise,
            contexts=_emails(contexts, primary),
            other=_emails(contexts, not primary),
        )

    def shaped(
        self, events: tuple[Event, ...], build: Callable[[Sides[PayloadContext]], tuple[Event, ...]]
    ) -> tuple[Event, ...]:
        primary = shapes.primary_emails(self.version)
        rebuilt: tuple[Event, ...] | None = None
        out: list[Event] = []
        for index, built in enumerate(events):
            event = built
            if built.event_name not in shapes.SHARE_EVENTS:
                era = shapes.shape_version(
                    self.version, hook=built.hook, event_name=built.event_name
                )
                if shapes.primary_emails(era) != primary:
                    rebuilt = rebuilt or build(self.other)
                    event = rebuilt[index]
            payload = shapes.reshape(event.payload, hook=event.hook, event_name=event.event_name,
                                     version=self.version, enterprise=self.enterprise)  # fmt: skip
            out.append(dataclasses.replace(event, payload=payload))
        return tuple(out)


def _emails(contexts: Sides[PayloadContext], primary: bool) -> Sides[PayloadContext]:
    def one(ctx: PayloadContext) -> PayloadContext:
        mode = "primary" if primary else "public"
        return dataclasses.replace(
            ctx, settings=ctx.settings.model_copy(update={"member_email": mode})
        )

    return Sides(old=one(contexts.old), new=one(contexts.new))


def _version(gitlab_version: str) -> shapes.Version:
    """``16.11.3-ee`` -> (16, 11, 3); what is unreadable counts as the newest version."""
    parts = gitlab_version.split("-", 1)[0].split(".")
    try:
        return tuple(int(p) for p in parts[:3]) if parts and parts[0] else (99, 0)
    except ValueError:
        return (99, 0)
