"""Project payloads, System Hook and Project Hook forms (docs/payloads.md#projects)."""

from __future__ import annotations

from bridge.hooks.payloads.context import OWNER, Payload, PayloadContext, Phase, Ts, stamps
from bridge.model.records import Project, ancestry


def owner_ids(ctx: PayloadContext, project: Project) -> list[int]:
    """User ids of the project's ``owners`` (§3.6), unique and ascending."""
    if project.namespace.kind == "group":
        chain = set(ancestry(project.namespace.id, ctx.groups))
        rows = ctx.group_members.items()
    else:
        chain = {project.id}
        rows = ctx.project_members.items()
    ids = {uid for (source, uid), m in rows if source in chain and m.access_level == OWNER}
    if project.namespace.kind == "user" and project.owner_id is not None:
        ids.add(project.owner_id)
    return sorted(ids)


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
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    project: Project,
    stamp: tuple[Ts, Ts],
    system_hook: bool,
) -> Payload:
    payload: Payload = {
        "event_name": event,
        **stamps(ctx, phase, project.created_at, project.updated_at, *stamp),
        "name": project.name,
        "path": project.path,
        "path_with_namespace": project.path_with_namespace,
        "project_id": project.id,
        "project_namespace_id": project.namespace.id,
        "owners": owners(ctx, project),
        "project_visibility": project.visibility,
    }
    if system_hook:
        payload.update(_owner_fields(ctx, project))
    return payload


def project_create(
    ctx: PayloadContext,
    project: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_create``; ``system_hook=False`` gives the Project Hook form (no owner_* fields)."""
    return _project(ctx, "project_create", "create", project, (created_at, updated_at), system_hook)


def project_destroy(
    ctx: PayloadContext,
    project: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_destroy`` from the snapshot record and the pre-change hierarchy and members."""
    stamp = (created_at, updated_at)
    return _project(ctx, "project_destroy", "destroy", project, stamp, system_hook)


def _moved(
    ctx: PayloadContext,
    event: str,
    old: Project,
    new: Project,
    stamp: tuple[Ts, Ts],
    system_hook: bool,
) -> Payload:
    payload = _project(ctx, event, "change", new, stamp, system_hook)
    payload["old_path_with_namespace"] = old.path_with_namespace
    return payload


def project_rename(
    ctx: PayloadContext,
    old: Project,
    new: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_rename`` (a ``path`` change): adds ``old_path_with_namespace``."""
    return _moved(ctx, "project_rename", old, new, (created_at, updated_at), system_hook)


def project_transfer(
    ctx: PayloadContext,
    old: Project,
    new: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_transfer`` (a namespace change): adds ``old_path_with_namespace``."""
    return _moved(ctx, "project_transfer", old, new, (created_at, updated_at), system_hook)


def project_update(
    ctx: PayloadContext,
    project: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_update`` (another tracked attribute changed) from the new record."""
    stamp = (created_at, updated_at)
    return _project(ctx, "project_update", "change", project, stamp, system_hook)
