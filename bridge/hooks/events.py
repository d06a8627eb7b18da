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
  remove. Group members of a destroyed group or user, and project members of a destroyed user,
  get their remove event (GitLab destroys them with callbacks); project members of a destroyed
  project, and share links of destroyed sources or invited groups, get none
  (docs/events.md#cascades).
- An access request removed while its user was added as a member of that source is an
  approval: GitLab's ``accept_request`` sends the update, then the add
  (docs/events.md#access-requests).
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
from types import MappingProxyType
from typing import Any, Final, get_args

from bridge.hooks.handling import (
    Event,
    Inputs,
    described,
    hook_event,
    new_record,
    old_record,
    system_event,
)
from bridge.hooks.links import LINK_HANDLERS, approvals
from bridge.hooks.payloads import groups as pg
from bridge.hooks.payloads import projects as pp
from bridge.hooks.payloads import users as pu
from bridge.hooks.payloads.context import PayloadContext
from bridge.model.changes import Change, Sides
from bridge.model.ledger import RowMeta
from bridge.model.records import Group, Project, Visibility

__all__ = [
    "NO_PROJECTS",
    "TRACKED_PROJECT_FIELDS",
    "Event",
    "approvals",
    "events_for",
    "removed_ids",
]

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


def events_for(
    changes: Sequence[Change[Any]],
    *,
    contexts: Sides[PayloadContext],
    projects: Sides[Mapping[int, Project]] = NO_PROJECTS,
    destroyed_users: frozenset[int] = frozenset(),
    destroyed_groups: frozenset[int] = frozenset(),
    destroyed_projects: frozenset[int] = frozenset(),
    snapshot: Mapping[str, RowMeta] = _NO_METAS,
    approved: frozenset[str] = frozenset(),
) -> tuple[Event, ...]:
    """The events of ``changes`` (in poll order already), in that order; ``approved``: member
    subjects whose add is an approval, as ``approvals`` finds them across a batch."""
    inputs = Inputs(
        contexts=contexts,
        projects=projects,
        destroyed_users=destroyed_users | removed_ids(changes, "user"),
        destroyed_groups=destroyed_groups | removed_ids(changes, "group"),
        destroyed_projects=destroyed_projects | removed_ids(changes, "project"),
        snapshot=snapshot,
        approved=approved | approvals(changes),
    )
    return tuple(event for c in changes for event in _HANDLERS[c.record](c, inputs))


def removed_ids(changes: Sequence[Change[Any]], record: str) -> frozenset[int]:
    """Ids of the ``record`` rows these changes remove (their member rows and links cascade)."""
    return frozenset(c.key[0] for c in changes if c.record == record and c.kind == "removed")


# --- users, groups, projects ------------------------------------------------------------------


def _user_events(change: Change[Any], io: Inputs) -> list[Event]:
    if change.kind == "added":
        return [system_event(change, pu.user_create(io.contexts.new, new_record(change)))]
    if change.kind == "removed":
        return [
            system_event(
                change, pu.user_destroy(io.contexts.old, old_record(change), **io.stamp(change))
            )
        ]
    old, new = old_record(change), new_record(change)
    if old.username == new.username:
        return []  # other user fields fire nothing
    return [system_event(change, pu.user_rename(io.contexts.new, old, new, **io.stamp(change)))]


def _group_events(change: Change[Any], io: Inputs) -> list[Event]:
    if change.kind == "changed":
        old, new = old_record(change), new_record(change)
        # Own path only: a name change, a move keeping the path, or an ancestor's rename is silent.
        return (
            [system_event(change, pg.group_rename(io.contexts.new, old, new, **io.stamp(change)))]
            if old.path != new.path
            else []
        )
    group: Group = described(change)
    ctx = io.ctx(change)
    added = change.kind == "added"
    stamp = io.stamp(change)
    events = [
        system_event(change, (pg.group_create if added else pg.group_destroy)(ctx, group, **stamp))
    ]
    if group.parent_id is not None:
        sub = (pg.subgroup_create if added else pg.subgroup_destroy)(ctx, group, **stamp)
        events.append(hook_event(change, "Subgroup Hook", sub, group.parent_id))
    return events


def _project_events(change: Change[Any], io: Inputs) -> list[Event]:
    if change.kind == "changed":
        return _project_changed(change, io)
    project: Project = described(change)
    ctx = io.ctx(change)
    build = pp.project_create if change.kind == "added" else pp.project_destroy
    stamp = io.stamp(change)
    events = [system_event(change, build(ctx, project, **stamp))]
    if project.namespace.kind == "group":  # personal projects reach no group receiver
        group_form = pp.project_hook_form(events[0].payload)
        events.append(hook_event(change, "Project Hook", group_form, project.namespace.id))
    return events


def _project_changed(change: Change[Any], io: Inputs) -> list[Event]:
    old: Project = old_record(change)
    new: Project = new_record(change)
    events: list[Event] = []
    if old.namespace.id != new.namespace.id:
        events.append(system_event(change, pp.project_transfer(io.contexts.new, old, new)))
    elif old.path != new.path:
        events.append(system_event(change, pp.project_rename(io.contexts.new, old, new)))
    tracked: tuple[str, ...] = TRACKED_PROJECT_FIELDS
    if old.namespace.id != new.namespace.id and _lowered(old.visibility, new.visibility):
        # Projects::TransferService lowers visibility to the new namespace's and sends only
        # project_transfer (docs/events.md#tracked-project-attributes).
        tracked = tuple(f for f in tracked if f != "visibility")
    if any(getattr(old, f) != getattr(new, f) for f in tracked):
        events.append(system_event(change, pp.project_update(io.contexts.new, new)))
    return events


def _lowered(old: str, new: str) -> bool:
    """Whether ``new`` is a more closed visibility than ``old``."""
    order = get_args(Visibility)  # most closed first
    return order.index(new) < order.index(old)


_HANDLERS: Final[Mapping[str, Callable[[Change[Any], Inputs], list[Event]]]] = {
    "user": _user_events,
    "group": _group_events,
    "project": _project_events,
    **LINK_HANDLERS,
}
