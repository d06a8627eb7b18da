"""Share events, a bridge extension GitLab does not have (docs/events.md#share-events-bridge-only).

A group invited to a project (``group_*_team``) or to a group (``group_*_group``). Links never
carry a REST ``created_at``: ``observed_at`` of the first sighting stands in.
"""

from __future__ import annotations

from bridge.hooks.payloads.build import Build2, builder2
from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Stamp, stamps
from bridge.hooks.payloads.members import group_head, project_head
from bridge.model.records import Group, Project, Share


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
    stamp: Stamp,
) -> Payload:
    return {
        **stamps(ctx, phase, None, None, *stamp),
        **project_head(project),
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
    stamp: Stamp,
) -> Payload:
    return {
        **stamps(ctx, phase, None, None, *stamp),
        **group_head(group),
        **_shared_with(ctx, share),
        "group_access": ctx.role(share.access_level),
        "expires_at": ctx.date(share.expires_at),
        "event_name": event,
    }


group_add_to_team: Build2[Project, Share] = builder2(_team_share, "group_add_to_team", "create")
group_update_for_team: Build2[Project, Share] = builder2(
    _team_share, "group_update_for_team", "change"
)
group_remove_from_team: Build2[Project, Share] = builder2(
    _team_share, "group_remove_from_team", "destroy"
)
group_add_to_group: Build2[Group, Share] = builder2(_group_share, "group_add_to_group", "create")
group_update_for_group: Build2[Group, Share] = builder2(
    _group_share, "group_update_for_group", "change"
)
group_remove_from_group: Build2[Group, Share] = builder2(
    _group_share, "group_remove_from_group", "destroy"
)
