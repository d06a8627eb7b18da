"""Member payloads: project members (``user_*_team``) and group members (``user_*_group``).

docs/payloads.md#project-members and docs/payloads.md#group-members. A member row without a REST
``created_at`` uses ``observed_at`` unless the caller passes its first sighting. The System Hook
and the Member Hook carry the same group-member payload.
"""

from __future__ import annotations

from bridge.hooks.payloads.build import Build2, builder2
from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Stamp, stamps
from bridge.model.records import Group, Member, Project


def project_head(project: Project) -> Payload:
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
    stamp: Stamp,
) -> Payload:
    return {
        **stamps(ctx, phase, member.created_at, None, *stamp),
        **project_head(project),
        **_user_fields(ctx, member),
        "access_level": ctx.role(member.access_level, member.member_role),
        "project_visibility": project.visibility,
        "event_name": event,
    }


def group_head(group: Group) -> Payload:
    return {"group_name": group.name, "group_path": group.path, "group_id": group.id}


def _group_member(
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    group: Group,
    member: Member,
    stamp: Stamp,
) -> Payload:
    payload: Payload = {
        **stamps(ctx, phase, member.created_at, None, *stamp),
        **group_head(group),
        **_user_fields(ctx, member),
        "group_access": ctx.role(member.access_level, member.member_role),
        "expires_at": ctx.date(member.expires_at),
    }
    if ctx.enterprise:
        payload["group_plan"] = None  # no subscription plan on self-managed EE
    payload["event_name"] = event
    return payload


user_add_to_team: Build2[Project, Member] = builder2(_team, "user_add_to_team", "create")
user_update_for_team: Build2[Project, Member] = builder2(_team, "user_update_for_team", "change")
user_remove_from_team: Build2[Project, Member] = builder2(_team, "user_remove_from_team", "destroy")
user_add_to_group: Build2[Group, Member] = builder2(_group_member, "user_add_to_group", "create")
user_update_for_group: Build2[Group, Member] = builder2(
    _group_member, "user_update_for_group", "change"
)
user_remove_from_group: Build2[Group, Member] = builder2(
    _group_member, "user_remove_from_group", "destroy"
)

# Access requests (``poll.access_requests``): the member payload of the requester's row, at the
# requested level (GitLab's Group/ProjectMemberBuilder with :request and :revoke, 17.4).
user_access_request_to_group: Build2[Group, Member] = builder2(
    _group_member, "user_access_request_to_group", "create"
)
user_access_request_revoked_for_group: Build2[Group, Member] = builder2(
    _group_member, "user_access_request_revoked_for_group", "destroy"
)
user_access_request_to_project: Build2[Project, Member] = builder2(
    _team, "user_access_request_to_project", "create"
)
user_access_request_revoked_for_project: Build2[Project, Member] = builder2(
    _team, "user_access_request_revoked_for_project", "destroy"
)
