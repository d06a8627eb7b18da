"""Project payloads, System Hook and Project Hook forms (docs/payloads.md#projects)."""

from __future__ import annotations

import datetime as dt

from bridge.hooks.payloads.build import Build1, Build2, builder1, builder2
from bridge.hooks.payloads.context import (
    OWNER,
    Payload,
    PayloadContext,
    Phase,
    Stamp,
    members_of,
    stamps,
)
from bridge.model.records import Member, Project


def owner_ids(ctx: PayloadContext, project: Project) -> list[int]:
    """User ids of the project's ``owners`` (docs/payloads.md#owners), in GitLab's order.

    A group's project: the Owner members of that group only, not of its ancestors, in member
    id order (``all_owner_members.find_each``); REST does not show member ids, so their
    creation time stands in, then the user id. A personal project: its Owner members and the
    namespace owner (``project_authorizations``), by user id.
    """
    if project.namespace.kind == "group":
        rows = members_of(ctx.group_members, {project.namespace.id})
        owners = sorted((m for m in rows if m.access_level == OWNER), key=_member_order)
        return [m.user_id for m in owners]
    rows = members_of(ctx.project_members, {project.id})
    ids = {m.user_id for m in rows if m.access_level == OWNER}
    if project.owner_id is not None:
        ids.add(project.owner_id)
    return sorted(ids)


def _member_order(member: Member) -> tuple[dt.datetime, int]:
    return member.created_at or _UNDATED, member.user_id


_UNDATED = dt.datetime.max.replace(tzinfo=dt.UTC)  # before ~13.x rows carry no created_at


def _owner_name(ctx: PayloadContext, user_id: int, project: Project) -> str:
    user = ctx.users.get(user_id)
    if user is not None:
        return user.name
    member = ctx.group_members.get((project.namespace.id, user_id))
    member = member or ctx.project_members.get((project.id, user_id))
    return member.name if member else ""


def owners(ctx: PayloadContext, project: Project) -> list[dict[str, str]]:
    """``owners``: ``[{"name", "email"}]`` with webhook emails, by ascending user id."""
    return [
        {"name": _owner_name(ctx, uid, project), "email": ctx.email(uid)}
        for uid in owner_ids(ctx, project)
    ]


def _owner_fields(ctx: PayloadContext, project: Project) -> Payload:
    if project.namespace.kind == "group":
        return {"owner_name": project.namespace.name, "owner_email": ""}
    user = ctx.users.get(project.owner_id) if project.owner_id is not None else None
    return {
        "owner_name": user.name if user else project.namespace.name,
        "owner_email": ctx.email(project.owner_id),
    }


def _project(
    ctx: PayloadContext, event: str, phase: Phase, project: Project, stamp: Stamp
) -> Payload:
    """The System Hook form; ``project_hook_form`` drops what the Project Hook lacks."""
    return {
        "event_name": event,
        **stamps(ctx, phase, project.created_at, project.updated_at, *stamp),
        "name": project.name,
        "path": project.path,
        "path_with_namespace": project.path_with_namespace,
        "project_id": project.id,
        "project_namespace_id": project.namespace.id,
        "owners": owners(ctx, project),
        "project_visibility": project.visibility,
        **_owner_fields(ctx, project),
    }


def _moved(
    ctx: PayloadContext, event: str, phase: Phase, old: Project, new: Project, stamp: Stamp
) -> Payload:
    return {
        **_project(ctx, event, phase, new, stamp),
        "old_path_with_namespace": old.path_with_namespace,
    }


def project_hook_form(payload: Payload) -> Payload:
    """The group webhook's Project Hook form: the System Hook's without ``owner_*``."""
    return {key: value for key, value in payload.items() if key not in _OWNER_KEYS}


_OWNER_KEYS = ("owner_name", "owner_email")
# A destroy takes the snapshot record and the pre-change hierarchy and members; a rename (a
# ``path`` change) and a transfer (a namespace change) add ``old_path_with_namespace``; an update
# (another tracked attribute) describes the new record.
project_create: Build1[Project] = builder1(_project, "project_create", "create")
project_destroy: Build1[Project] = builder1(_project, "project_destroy", "destroy")
project_update: Build1[Project] = builder1(_project, "project_update", "change")
project_rename: Build2[Project, Project] = builder2(_moved, "project_rename", "change")
project_transfer: Build2[Project, Project] = builder2(_moved, "project_transfer", "change")
