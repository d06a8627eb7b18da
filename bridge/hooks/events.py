"""Pure mapping: the differ's changes -> the hook events GitLab would send.

The rules are docs/events.md's: "From change to event" (which change fires what), "Cascades",
"Fan-out" (the target each event routes to) and "Share events". ``events_for`` walks changes
already in poll order (``diff.order``) and turns each into zero or more ``Event``s: a payload from
the builders plus its routing target. Within one change the System Hook comes first, then the
group-webhook form, as GitLab fires them. Creates, renames and updates use the new side's
context (new hierarchy); destroys and removals the old one. No I/O, no clock, no logging.

Choices where GitLab leaves room:

- A path change together with another tracked attribute gives ``project_rename`` *then*
  ``project_update``: in GitLab these are separate saves, each firing its hook; likewise a
  transfer plus a tracked change gives ``project_transfer`` then ``project_update``. A namespace
  change is one ``project_transfer`` even when the path changed too.
- Destroyed users, groups and projects are the given sets plus those the changes themselves
  remove; member rows (and share links) of destroyed sources, users or invited groups get no
  remove event.
- System Hook targets carry ``group_id=None``: every system receiver gets them.
- Timestamps (docs/payloads.md#record-timestamps): a removal carries the snapshot's
  ``updated_at`` (the bridge-derived one where REST has none); a record without a REST
  ``created_at`` uses its first sighting. ``snapshot`` maps a subject to its row bookkeeping; a
  subject it lacks keeps the builders' defaults.
- Project members and project shares need their project; the caller passes ``projects``
  (both sides) since ``PayloadContext`` holds no projects. A missing source is a ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypedDict, TypeVar, get_args

from bridge.hooks.payloads import groups as pg
from bridge.hooks.payloads import members as pm
from bridge.hooks.payloads import projects as pp
from bridge.hooks.payloads import shares as ps
from bridge.hooks.payloads import users as pu
from bridge.hooks.payloads.build import Build2
from bridge.hooks.payloads.context import Payload, PayloadContext, Ts
from bridge.hooks.routing import HookKind, Target
from bridge.model.changes import Change, ChangeKind, R, RecordKind, Sides
from bridge.model.ledger import RowMeta
from bridge.model.records import Group, Member, Project, Visibility

# docs/events.md#tracked-project-attributes; the record holds no other non-volatile field.
TRACKED_PROJECT_FIELDS: Final = (
    "name",
    "description",
    "visibility",
    "archived",
    "default_branch",
    "topics",
)
NO_PROJECTS: Final[Sides[Mapping[int, Project]]] = Sides(  # for changes that need none
    old=MappingProxyType({}), new=MappingProxyType({})
)
_NO_METAS: Final[Mapping[str, RowMeta]] = MappingProxyType({})
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One hook event: its payload, and the target routing turns into receivers."""

    hook: HookKind
    event_name: str
    subject: str  # Change.subject
    payload: dict[str, object]
    target: Target


class _Stamp(TypedDict, total=False):
    """Explicit builder timestamps; an absent key keeps the builder's default."""

    created_at: Ts
    updated_at: Ts


@dataclass(frozen=True, slots=True, kw_only=True)
class _Inputs:
    """Everything a handler needs besides the change."""

    contexts: Sides[PayloadContext]
    projects: Sides[Mapping[int, Project]]
    destroyed_users: frozenset[int]
    destroyed_groups: frozenset[int]
    destroyed_projects: frozenset[int]
    snapshot: Mapping[str, RowMeta]

    def stamp(self, change: Change[Any]) -> _Stamp:
        """Builder timestamps from the snapshot row; empty for adds and unknown rows."""
        meta = self.snapshot.get(change.subject)
        if meta is None or change.kind == "added":
            return {}
        record = _row(change)
        out: _Stamp = {}
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


def events_for(
    changes: Sequence[Change[Any]],
    *,
    contexts: Sides[PayloadContext],
    projects: Sides[Mapping[int, Project]] = NO_PROJECTS,
    destroyed_users: frozenset[int] = frozenset(),
    destroyed_groups: frozenset[int] = frozenset(),
    destroyed_projects: frozenset[int] = frozenset(),
    snapshot: Mapping[str, RowMeta] = _NO_METAS,
) -> tuple[Event, ...]:
    """The events of ``changes`` (in poll order already), in that order."""
    inputs = _Inputs(
        contexts=contexts,
        projects=projects,
        destroyed_users=destroyed_users | removed_ids(changes, "user"),
        destroyed_groups=destroyed_groups | removed_ids(changes, "group"),
        destroyed_projects=destroyed_projects | removed_ids(changes, "project"),
        snapshot=snapshot,
    )
    return tuple(event for c in changes for event in _HANDLERS[c.record](c, inputs))


def removed_ids(changes: Sequence[Change[Any]], record: str) -> frozenset[int]:
    """Ids of the ``record`` rows these changes remove (their member rows and links cascade)."""
    return frozenset(c.key[0] for c in changes if c.record == record and c.kind == "removed")


# --- helpers ----------------------------------------------------------------------------------


def _event(change: Change[Any], hook: HookKind, payload: Payload, group_id: int | None) -> Event:
    return Event(
        hook=hook,
        event_name=str(payload["event_name"]),
        subject=change.subject,
        payload=payload,
        target=Target(hook=hook, group_id=group_id),
    )


def _system(change: Change[Any], payload: Payload) -> Event:
    return _event(change, "System Hook", payload, None)


def _old(change: Change[R]) -> R:
    if change.old is None:
        raise ValueError(f"{change.kind} {change.subject}: no old record")
    return change.old


def _new(change: Change[R]) -> R:
    if change.new is None:
        raise ValueError(f"{change.kind} {change.subject}: no new record")
    return change.new


def _row(change: Change[R]) -> R:
    """The record the event describes: the snapshot's for removals, the new one otherwise."""
    return _old(change) if change.kind == "removed" else _new(change)


def _source(records: Mapping[int, T], source_id: int, what: str, change: Change[Any]) -> T:
    if source_id not in records:
        raise ValueError(f"{change.kind} {change.subject}: {what} {source_id} is not known")
    return records[source_id]


# --- users, groups, projects ------------------------------------------------------------------


def _user_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if change.kind == "added":
        return [_system(change, pu.user_create(io.contexts.new, _new(change)))]
    if change.kind == "removed":
        return [_system(change, pu.user_destroy(io.contexts.old, _old(change), **io.stamp(change)))]
    old, new = _old(change), _new(change)
    if old.username == new.username:
        return []  # other user fields fire nothing
    return [_system(change, pu.user_rename(io.contexts.new, old, new, **io.stamp(change)))]


def _group_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if change.kind == "changed":
        old, new = _old(change), _new(change)
        # Own path only: a name change, a move keeping the path, or an ancestor's rename is silent.
        return (
            [_system(change, pg.group_rename(io.contexts.new, old, new, **io.stamp(change)))]
            if old.path != new.path
            else []
        )
    group: Group = _row(change)
    ctx = io.ctx(change)
    added = change.kind == "added"
    stamp = io.stamp(change)
    events = [
        _system(change, (pg.group_create if added else pg.group_destroy)(ctx, group, **stamp))
    ]
    if group.parent_id is not None:
        sub = (pg.subgroup_create if added else pg.subgroup_destroy)(ctx, group, **stamp)
        events.append(_event(change, "Subgroup Hook", sub, group.parent_id))
    return events


def _project_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if change.kind == "changed":
        return _project_changed(change, io)
    project: Project = _row(change)
    ctx = io.ctx(change)
    build = pp.project_create if change.kind == "added" else pp.project_destroy
    stamp = io.stamp(change)
    events = [_system(change, build(ctx, project, **stamp))]
    if project.namespace.kind == "group":  # personal projects reach no group receiver
        group_form = pp.project_hook_form(events[0].payload)
        events.append(_event(change, "Project Hook", group_form, project.namespace.id))
    return events


def _project_changed(change: Change[Any], io: _Inputs) -> list[Event]:
    old: Project = _old(change)
    new: Project = _new(change)
    events: list[Event] = []
    if old.namespace.id != new.namespace.id:
        events.append(_system(change, pp.project_transfer(io.contexts.new, old, new)))
    elif old.path != new.path:
        events.append(_system(change, pp.project_rename(io.contexts.new, old, new)))
    tracked: tuple[str, ...] = TRACKED_PROJECT_FIELDS
    if old.namespace.id != new.namespace.id and _lowered(old.visibility, new.visibility):
        # Projects::TransferService lowers visibility to the new namespace's and sends only
        # project_transfer (docs/events.md#tracked-project-attributes).
        tracked = tuple(f for f in tracked if f != "visibility")
    if any(getattr(old, f) != getattr(new, f) for f in tracked):
        events.append(_system(change, pp.project_update(io.contexts.new, new)))
    return events


def _lowered(old: str, new: str) -> bool:
    """Whether ``new`` is a more closed visibility than ``old``."""
    order = get_args(Visibility)  # most closed first
    return order.index(new) < order.index(old)


# --- members ----------------------------------------------------------------------------------

# The builder of each member and link event: the group or project first, then the row or link.
_LINKS: Final[Mapping[tuple[RecordKind, ChangeKind], Build2[Any, Any]]] = {
    ("group_member", "added"): pm.user_add_to_group,
    ("group_member", "changed"): pm.user_update_for_group,
    ("group_member", "removed"): pm.user_remove_from_group,
    ("project_member", "added"): pm.user_add_to_team,
    ("project_member", "changed"): pm.user_update_for_team,
    ("project_member", "removed"): pm.user_remove_from_team,
    ("group_share", "added"): ps.group_add_to_group,
    ("group_share", "changed"): ps.group_update_for_group,
    ("group_share", "removed"): ps.group_remove_from_group,
    ("project_share", "added"): ps.group_add_to_team,
    ("project_share", "changed"): ps.group_update_for_team,
    ("project_share", "removed"): ps.group_remove_from_team,
}


def _cascaded(change: Change[Any], sources: frozenset[int], others: frozenset[int]) -> bool:
    """A removal whose source or other party was destroyed too: GitLab sends no event."""
    source_id, other_id = change.key
    return change.kind == "removed" and (source_id in sources or other_id in others)


def _group_member_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if _cascaded(change, io.destroyed_groups, io.destroyed_users):
        return []
    member_hook = True
    if change.kind == "changed":
        old, new = _old(change), _new(change)
        if (old.access_level, old.expires_at) == (new.access_level, new.expires_at):
            if old.member_role == new.member_role:
                return []  # name, username or state: no hook
            member_hook = False  # the Member Hook carries level and expiry only
    ctx = io.ctx(change)
    group = _source(ctx.groups, change.key[0], "group", change)
    payload = _LINKS[change.record, change.kind](ctx, group, _row(change), **io.stamp(change))
    events = [_system(change, payload)]
    if member_hook:
        events.append(_event(change, "Member Hook", dict(payload), group.id))
    return events


def _project_member_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if _cascaded(change, io.destroyed_projects, io.destroyed_users):
        return []
    if change.kind == "changed" and _member_terms(_old(change)) == _member_terms(_new(change)):
        return []
    project = _source(io.projects_of(change), change.key[0], "project", change)
    build = _LINKS[change.record, change.kind]
    return [_system(change, build(io.ctx(change), project, _row(change), **io.stamp(change)))]


def _member_terms(member: Member) -> tuple[object, ...]:
    return member.access_level, member.expires_at, member.member_role


# --- share links (opt-in, docs/events.md#share-events-bridge-only) ----------------------------


def _share_silent(change: Change[Any], io: _Inputs, sources: frozenset[int]) -> bool:
    """Off by default; a cascaded removal or a change of neither level nor expiry is silent."""
    if not io.contexts.new.settings.share_events or _cascaded(change, sources, io.destroyed_groups):
        return True
    if change.kind != "changed":
        return False
    old, new = _old(change), _new(change)
    return (old.access_level, old.expires_at) == (new.access_level, new.expires_at)


def _group_share_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if _share_silent(change, io, io.destroyed_groups):
        return []
    ctx = io.ctx(change)
    group = _source(ctx.groups, change.key[0], "group", change)
    build = _LINKS[change.record, change.kind]
    return [_system(change, build(ctx, group, _row(change), **io.stamp(change)))]


def _project_share_events(change: Change[Any], io: _Inputs) -> list[Event]:
    if _share_silent(change, io, io.destroyed_projects):
        return []
    project = _source(io.projects_of(change), change.key[0], "project", change)
    build = _LINKS[change.record, change.kind]
    return [_system(change, build(io.ctx(change), project, _row(change), **io.stamp(change)))]


_HANDLERS: Final[Mapping[str, Callable[[Change[Any], _Inputs], list[Event]]]] = {
    "user": _user_events,
    "group": _group_events,
    "project": _project_events,
    "group_member": _group_member_events,
    "project_member": _project_member_events,
    "group_share": _group_share_events,
    "project_share": _project_share_events,
}
