"""Group payloads (docs/payloads.md#groups) and the Subgroup Hook's (docs/payloads.md#subgroups)."""

from __future__ import annotations

from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Ts, stamps
from bridge.model.records import Group


def _group(
    ctx: PayloadContext, event: str, phase: Phase, group: Group, stamp: tuple[Ts, Ts]
) -> Payload:
    return {
        **stamps(ctx, phase, group.created_at, None, *stamp),
        "event_name": event,
        "name": group.name,
        "path": group.path,
        "full_path": group.full_path,
        "group_id": group.id,
    }


def group_create(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``group_create`` (System Hook), ``full_path`` included as current GitLab code does."""
    return _group(ctx, "group_create", "create", group, (created_at, updated_at))


def group_destroy(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``group_destroy`` from the snapshot record."""
    return _group(ctx, "group_destroy", "destroy", group, (created_at, updated_at))


def group_rename(
    ctx: PayloadContext, old: Group, new: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``group_rename``: the new record plus ``old_path``/``old_full_path`` from the snapshot."""
    payload = _group(ctx, "group_rename", "change", new, (created_at, updated_at))
    payload["old_path"] = old.path
    payload["old_full_path"] = old.full_path
    return payload


def _subgroup(
    ctx: PayloadContext, event: str, phase: Phase, group: Group, stamp: tuple[Ts, Ts]
) -> Payload:
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


def subgroup_create(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``subgroup_create`` (Subgroup Hook); the parent comes from ``ctx.groups``."""
    return _subgroup(ctx, "subgroup_create", "create", group, (created_at, updated_at))


def subgroup_destroy(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``subgroup_destroy``; pass the pre-change hierarchy so the parent is found."""
    return _subgroup(ctx, "subgroup_destroy", "destroy", group, (created_at, updated_at))
