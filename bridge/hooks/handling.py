"""What every event handler shares: the ``Event``, the handlers' inputs and record accessors.

Pure; ``bridge.hooks.events`` (users, groups, projects) and ``bridge.hooks.links`` (members,
access requests, shares) build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from bridge.hooks.payloads.context import Payload, PayloadContext, Ts
from bridge.hooks.routing import HookKind, Target
from bridge.model.changes import Change, R, Sides
from bridge.model.ledger import RowMeta
from bridge.model.records import Project

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One hook event: its payload, and the target routing turns into receivers."""

    hook: HookKind
    event_name: str
    subject: str  # Change.subject
    payload: dict[str, object]
    target: Target


class Stamp(TypedDict, total=False):
    """Explicit builder timestamps; an absent key keeps the builder's default."""

    created_at: Ts
    updated_at: Ts


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """Everything a handler needs besides the change."""

    contexts: Sides[PayloadContext]
    projects: Sides[Mapping[int, Project]]
    destroyed_users: frozenset[int]
    destroyed_groups: frozenset[int]
    destroyed_projects: frozenset[int]
    snapshot: Mapping[str, RowMeta]
    approved: frozenset[str]  # member subjects whose add is an approved access request

    def stamp(self, change: Change[Any]) -> Stamp:
        """Builder timestamps from the snapshot row; empty for adds and unknown rows."""
        meta = self.snapshot.get(change.subject)
        if meta is None or change.kind == "added":
            return {}
        record = described(change)
        out: Stamp = {}
        if getattr(record, "created_at", None) is None:
            out["created_at"] = meta.first_seen_at
        if change.kind == "removed" and getattr(record, "updated_at", None) is None:
            out["updated_at"] = meta.updated_at
        return out

    def ctx(self, change: Change[Any]) -> PayloadContext:
        """The pre-change context for removals, the new one otherwise."""
        return self.contexts.of(change.kind)

    def projects_of(self, change: Change[Any]) -> Mapping[int, Project]:
        """The pre-change projects for removals, the new ones otherwise."""
        return self.projects.of(change.kind)


def hook_event(
    change: Change[Any], hook: HookKind, payload: Payload, group_id: int | None
) -> Event:
    return Event(
        hook=hook,
        event_name=str(payload["event_name"]),
        subject=change.subject,
        payload=payload,
        target=Target(hook=hook, group_id=group_id),
    )


def system_event(change: Change[Any], payload: Payload) -> Event:
    return hook_event(change, "System Hook", payload, None)


def old_record(change: Change[R]) -> R:
    if change.old is None:
        raise ValueError(f"{change.kind} {change.subject}: no old record")
    return change.old


def new_record(change: Change[R]) -> R:
    if change.new is None:
        raise ValueError(f"{change.kind} {change.subject}: no new record")
    return change.new


def described(change: Change[R]) -> R:
    """The record the event describes: the snapshot's for removals, the new one otherwise."""
    return old_record(change) if change.kind == "removed" else new_record(change)


def known_source(records: Mapping[int, T], source_id: int, what: str, change: Change[Any]) -> T:
    if source_id not in records:
        raise ValueError(f"{change.kind} {change.subject}: {what} {source_id} is not known")
    return records[source_id]
