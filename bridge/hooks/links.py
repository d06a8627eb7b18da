"""Pure: member, access-request and share changes -> their events (docs/events.md).

Members and links of destroyed sources cascade as docs/events.md#cascades says; an access request
removed while its user joined is an approval (docs/events.md#access-requests); share events are
the bridge's opt-in extension (docs/events.md#share-events-bridge-only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from bridge.hooks.handling import (
    Event,
    Inputs,
    described,
    hook_event,
    known_source,
    new_record,
    old_record,
    system_event,
)
from bridge.hooks.payloads import members as pm
from bridge.hooks.payloads import shares as ps
from bridge.hooks.payloads.build import Build2
from bridge.model.changes import (
    ACCESS_REQUEST_RECORD,
    MEMBER_RECORD,
    Change,
    ChangeKind,
    RecordKind,
    subject,
)
from bridge.model.records import REQUESTED_LEVEL, Group, Member, Project


def approvals(changes: Sequence[Change[Any]]) -> frozenset[str]:
    """Member subjects added in ``changes`` whose access request is removed in them too."""
    added = {c.subject for c in changes if c.kind == "added" and c.record in _MEMBER_RECORDS}
    asked = {
        subject(MEMBER_RECORD[_REQUEST_SOURCE[c.record]], (c.key[0], c.key[1]))
        for c in changes
        if c.kind == "removed" and c.record in _REQUEST_SOURCE
    }
    return frozenset(added & asked)


_MEMBER_RECORDS: Final = frozenset(MEMBER_RECORD.values())
_REQUEST_SOURCE: Final = {record: kind for kind, record in ACCESS_REQUEST_RECORD.items()}


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
    """A share link's removal whose source or invited group was destroyed too: no event."""
    source_id, other_id = change.key
    return change.kind == "removed" and (source_id in sources or other_id in others)


def _group_member_events(change: Change[Any], io: Inputs) -> list[Event]:
    member_hook = True
    if change.kind == "changed":
        old, new = old_record(change), new_record(change)
        if (old.access_level, old.expires_at) == (new.access_level, new.expires_at):
            if old.member_role == new.member_role:
                return []  # name, username or state: no hook
            member_hook = False  # the Member Hook carries level and expiry only
    ctx = io.ctx(change)
    group = known_source(ctx.groups, change.key[0], "group", change)
    row: Member = described(change)
    if change.subject in io.approved:
        return _approved(change, io, pm.user_update_for_group, pm.user_add_to_group, group)
    payload = _LINKS[change.record, change.kind](ctx, group, row, **io.stamp(change))
    events = [system_event(change, payload)]
    if member_hook:
        events.append(hook_event(change, "Member Hook", dict(payload), _hooked(group, io)))
    return events


def _hooked(group: Group, io: Inputs) -> int | None:
    """Whose Member Hooks fire: a destroyed group's own hooks are gone with it."""
    return group.parent_id if group.id in io.destroyed_groups else group.id


def _approved(
    change: Change[Any], io: Inputs, update: Build2[Any, Member], add: Build2[Any, Member],
    source: Group | Project,
) -> list[Event]:  # fmt: skip
    """``accept_request``: its update (``after_update``), then its add (``post_create``); the
    Member Hook's update fires only if the level or expiry moved from the request's."""
    ctx, member = io.contexts.new, new_record(change)
    updated = update(ctx, source, member, updated_at=ctx.observed_at)
    added = add(ctx, source, member, updated_at=ctx.observed_at)  # the row after the update
    events = [system_event(change, updated)]
    if isinstance(source, Group):
        if (member.access_level, member.expires_at) != (REQUESTED_LEVEL, None):
            events.append(hook_event(change, "Member Hook", dict(updated), source.id))
        return [
            *events,
            system_event(change, added),
            hook_event(change, "Member Hook", dict(added), source.id),
        ]
    return [*events, system_event(change, added)]


def _project_member_events(change: Change[Any], io: Inputs) -> list[Event]:
    if change.kind == "removed" and change.key[0] in io.destroyed_projects:
        return []  # project members go with dependent: :delete_all
    if change.kind == "changed" and _member_terms(old_record(change)) == _member_terms(
        new_record(change)
    ):
        return []
    project = known_source(io.projects_of(change), change.key[0], "project", change)
    if change.subject in io.approved:
        return _approved(change, io, pm.user_update_for_team, pm.user_add_to_team, project)
    build = _LINKS[change.record, change.kind]
    return [
        system_event(change, build(io.ctx(change), project, described(change), **io.stamp(change)))
    ]


# --- access requests (poll.access_requests, docs/events.md#access-requests) -------------------


def _group_request_events(change: Change[Any], io: Inputs) -> list[Event]:
    if change.kind == "changed" or _request_approved(change, io):
        return []  # name or state; or an approval, which its member's add announces
    ctx = io.ctx(change)
    group = known_source(ctx.groups, change.key[0], "group", change)
    build = pm.user_access_request_to_group
    if change.kind == "removed":
        build = pm.user_access_request_revoked_for_group
    payload = build(ctx, group, described(change), **io.stamp(change))
    return [
        system_event(change, payload),
        hook_event(change, "Member Hook", dict(payload), _hooked(group, io)),
    ]


def _project_request_events(change: Change[Any], io: Inputs) -> list[Event]:
    if change.kind == "changed" or _request_approved(change, io):
        return []
    if change.kind == "removed" and change.key[0] in io.destroyed_projects:
        return []  # requesters go with their project, as its members do [inf]
    project = known_source(io.projects_of(change), change.key[0], "project", change)
    build = pm.user_access_request_to_project
    if change.kind == "removed":
        build = pm.user_access_request_revoked_for_project
    return [
        system_event(change, build(io.ctx(change), project, described(change), **io.stamp(change)))
    ]


def _request_approved(change: Change[Any], io: Inputs) -> bool:
    member = subject(MEMBER_RECORD[_REQUEST_SOURCE[change.record]], (change.key[0], change.key[1]))
    return change.kind == "removed" and member in io.approved


def _member_terms(member: Member) -> tuple[object, ...]:
    return member.access_level, member.expires_at, member.member_role


# --- share links (opt-in, docs/events.md#share-events-bridge-only) ----------------------------


def _share_silent(change: Change[Any], io: Inputs, sources: frozenset[int]) -> bool:
    """Off by default; a cascaded removal or a change of neither level nor expiry is silent."""
    if not io.contexts.new.settings.share_events or _cascaded(change, sources, io.destroyed_groups):
        return True
    if change.kind != "changed":
        return False
    old, new = old_record(change), new_record(change)
    return (old.access_level, old.expires_at) == (new.access_level, new.expires_at)


def _group_share_events(change: Change[Any], io: Inputs) -> list[Event]:
    if _share_silent(change, io, io.destroyed_groups):
        return []
    ctx = io.ctx(change)
    group = known_source(ctx.groups, change.key[0], "group", change)
    build = _LINKS[change.record, change.kind]
    return [system_event(change, build(ctx, group, described(change), **io.stamp(change)))]


def _project_share_events(change: Change[Any], io: Inputs) -> list[Event]:
    if _share_silent(change, io, io.destroyed_projects):
        return []
    project = known_source(io.projects_of(change), change.key[0], "project", change)
    build = _LINKS[change.record, change.kind]
    return [
        system_event(change, build(io.ctx(change), project, described(change), **io.stamp(change)))
    ]


LINK_HANDLERS: Final[Mapping[str, Callable[[Change[Any], Inputs], list[Event]]]] = {
    "group_member": _group_member_events,
    "project_member": _project_member_events,
    "group_share": _group_share_events,
    "project_share": _project_share_events,
    "group_access_request": _group_request_events,
    "project_access_request": _project_request_events,
}
