"""Pure member and share payload builders (HOOKS.md §3.2, §3.3, §5), in builder key order.

Shares with the other builders in ``bridge.hooks.payloads.context`` the context, the timestamp rule (see its
module docstring) and the formatting helpers. Member rows without a REST ``created_at`` and share
links (which never have one) use ``observed_at`` unless the caller passes the first sighting.
"""

from __future__ import annotations

from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Ts, stamps
from bridge.model.records import Group, Member, Project, Share

# --- project members (§3.2) -------------------------------------------------------------------


def _project_head(project: Project) -> Payload:
    return {
        "project_name": project.name,
        "project_path": project.path,
        "project_path_with_namespace": project.path_with_namespace,
        "project_id": project.id,
    }


def _user_fields(ctx: PayloadContext, member: Member) -> Payload:
    return {
        "user_username": member.username,
        "user_name": member.name,
        "user_email": ctx.email(member.user_id),
        "user_id": member.user_id,
    }


def _team(
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    project: Project,
    member: Member,
    stamp: tuple[Ts, Ts],
) -> Payload:
    return {
        **stamps(ctx, phase, member.created_at, None, *stamp),
        **_project_head(project),
        **_user_fields(ctx, member),
        "access_level": ctx.role(member.access_level, member.member_role),
        "project_visibility": project.visibility,
        "event_name": event,
    }


def user_add_to_team(
    ctx: PayloadContext,
    project: Project,
    member: Member,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``user_add_to_team``: a new direct project member row."""
    return _team(ctx, "user_add_to_team", "create", project, member, (created_at, updated_at))


def user_remove_from_team(
    ctx: PayloadContext,
    project: Project,
    member: Member,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``user_remove_from_team`` from the snapshot row (pass its last derived ``updated_at``)."""
    stamp = (created_at, updated_at)
    return _team(ctx, "user_remove_from_team", "destroy", project, member, stamp)


def user_update_for_team(
    ctx: PayloadContext,
    project: Project,
    member: Member,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``user_update_for_team``: level, expiry or EE custom role changed (new row)."""
    stamp = (created_at, updated_at)
    return _team(ctx, "user_update_for_team", "change", project, member, stamp)


# --- group members (§3.3) ---------------------------------------------------------------------


def _group_head(group: Group) -> Payload:
    return {"group_name": group.name, "group_path": group.path, "group_id": group.id}


def _group_member(
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    group: Group,
    member: Member,
    stamp: tuple[Ts, Ts],
) -> Payload:
    payload: Payload = {
        **stamps(ctx, phase, member.created_at, None, *stamp),
        **_group_head(group),
        **_user_fields(ctx, member),
        "group_access": ctx.role(member.access_level, member.member_role),
        "expires_at": ctx.date(member.expires_at),
    }
    if ctx.enterprise:
        payload["group_plan"] = None  # no subscription plan on self-managed EE
    payload["event_name"] = event
    return payload


def user_add_to_group(
    ctx: PayloadContext,
    group: Group,
    member: Member,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``user_add_to_group`` (System Hook and Member Hook alike)."""
    stamp = (created_at, updated_at)
    return _group_member(ctx, "user_add_to_group", "create", group, member, stamp)


def user_remove_from_group(
    ctx: PayloadContext,
    group: Group,
    member: Member,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``user_remove_from_group`` from the snapshot row (pass its last derived ``updated_at``)."""
    stamp = (created_at, updated_at)
    return _group_member(ctx, "user_remove_from_group", "destroy", group, member, stamp)


def user_update_for_group(
    ctx: PayloadContext,
    group: Group,
    member: Member,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``user_update_for_group``: level, expiry or EE custom role changed (new row)."""
    stamp = (created_at, updated_at)
    return _group_member(ctx, "user_update_for_group", "change", group, member, stamp)


# --- share links (§5, a bridge extension) -----------------------------------------------------


def _shared_with(ctx: PayloadContext, share: Share) -> Payload:
    """The invited group; before 12.x links lack ``group_full_path``: take it from the hierarchy."""
    full_path = share.group_full_path
    if full_path is None:
        known = ctx.groups.get(share.group_id)
        full_path = known.full_path if known else share.group_name
    return {
        "shared_with_group_name": share.group_name,
        "shared_with_group_path": full_path.rsplit("/", 1)[-1],
        "shared_with_group_full_path": full_path,
        "shared_with_group_id": share.group_id,
    }


def _team_share(
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    project: Project,
    share: Share,
    stamp: tuple[Ts, Ts],
) -> Payload:
    return {
        **stamps(ctx, phase, None, None, *stamp),
        **_project_head(project),
        **_shared_with(ctx, share),
        "access_level": ctx.role(share.access_level),
        "expires_at": ctx.date(share.expires_at),
        "project_visibility": project.visibility,
        "event_name": event,
    }


def _group_share(
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    group: Group,
    share: Share,
    stamp: tuple[Ts, Ts],
) -> Payload:
    return {
        **stamps(ctx, phase, None, None, *stamp),
        **_group_head(group),
        **_shared_with(ctx, share),
        "group_access": ctx.role(share.access_level),
        "expires_at": ctx.date(share.expires_at),
        "event_name": event,
    }


def group_add_to_team(
    ctx: PayloadContext,
    project: Project,
    share: Share,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``group_add_to_team``: a group was invited to ``project``."""
    return _team_share(ctx, "group_add_to_team", "create", project, share, (created_at, updated_at))


def group_remove_from_team(
    ctx: PayloadContext,
    project: Project,
    share: Share,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``group_remove_from_team`` from the snapshot link (pass first sighting, last update)."""
    stamp = (created_at, updated_at)
    return _team_share(ctx, "group_remove_from_team", "destroy", project, share, stamp)


def group_update_for_team(
    ctx: PayloadContext,
    project: Project,
    share: Share,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``group_update_for_team``: the link's level or expiry changed (new link)."""
    stamp = (created_at, updated_at)
    return _team_share(ctx, "group_update_for_team", "change", project, share, stamp)


def group_add_to_group(
    ctx: PayloadContext,
    group: Group,
    share: Share,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``group_add_to_group``: a group was invited to ``group``."""
    return _group_share(ctx, "group_add_to_group", "create", group, share, (created_at, updated_at))


def group_remove_from_group(
    ctx: PayloadContext,
    group: Group,
    share: Share,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``group_remove_from_group`` from the snapshot link (pass first sighting, last update)."""
    stamp = (created_at, updated_at)
    return _group_share(ctx, "group_remove_from_group", "destroy", group, share, stamp)


def group_update_for_group(
    ctx: PayloadContext,
    group: Group,
    share: Share,
    *,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``group_update_for_group``: the link's level or expiry changed (new link)."""
    stamp = (created_at, updated_at)
    return _group_share(ctx, "group_update_for_group", "change", group, share, stamp)
