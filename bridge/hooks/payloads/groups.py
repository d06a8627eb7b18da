"""Group payloads (docs/payloads.md#groups) and the Subgroup Hook's (docs/payloads.md#subgroups).

``full_path`` is on all three group events, as current GitLab code has it; a rename adds
``old_path`` and ``old_full_path`` from the snapshot. A subgroup event takes its parent from the
context's hierarchy: pass the pre-change one for a destroy.
"""

from __future__ import annotations

from bridge.hooks.payloads.build import Build1, Build2, builder1, builder2
from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Stamp, stamps
from bridge.model.records import Group


def _group(ctx: PayloadContext, event: str, phase: Phase, group: Group, stamp: Stamp) -> Payload:
    return {
        **stamps(ctx, phase, group.created_at, None, *stamp),
        "event_name": event,
        "name": group.name,
        "path": group.path,
        "full_path": group.full_path,
        "group_id": group.id,
    }


def _renamed(
    ctx: PayloadContext, event: str, phase: Phase, old: Group, new: Group, stamp: Stamp
) -> Payload:
    payload = _group(ctx, event, phase, new, stamp)
    return {**payload, "old_path": old.path, "old_full_path": old.full_path}


def _subgroup(ctx: PayloadContext, event: str, phase: Phase, group: Group, stamp: Stamp) -> Payload:
    if group.parent_id is None or group.parent_id not in ctx.groups:
        raise ValueError(f"group {group.id} ({group.full_path}): parent not in the hierarchy")
    parent = ctx.groups[group.parent_id]
    return {
        **_group(ctx, event, phase, group, stamp),
        "parent_group_id": parent.id,
        "parent_name": parent.name,
        "parent_path": parent.path,
        "parent_full_path": parent.full_path,
    }


group_create: Build1[Group] = builder1(_group, "group_create", "create")
group_destroy: Build1[Group] = builder1(_group, "group_destroy", "destroy")
group_rename: Build2[Group, Group] = builder2(_renamed, "group_rename", "change")
subgroup_create: Build1[Group] = builder1(_subgroup, "subgroup_create", "create")
subgroup_destroy: Build1[Group] = builder1(_subgroup, "subgroup_destroy", "destroy")
