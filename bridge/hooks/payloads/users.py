"""User payloads: ``user_create``, ``user_destroy``, ``user_rename`` (docs/payloads.md#users)."""

from __future__ import annotations

from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Ts, stamps, webhook_email
from bridge.model.records import User


def _user(
    ctx: PayloadContext, event: str, phase: Phase, user: User, stamp: tuple[Ts, Ts]
) -> Payload:
    return {
        **stamps(ctx, phase, user.created_at, None, *stamp),
        "event_name": event,
        "name": user.name,
        "email": user.email or webhook_email(user, "public"),
        "user_id": user.id,
        "username": user.username,
    }


def user_create(
    ctx: PayloadContext, user: User, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``user_create``; ``email`` is the primary address, the webhook email when hidden."""
    return _user(ctx, "user_create", "create", user, (created_at, updated_at))


def user_destroy(
    ctx: PayloadContext, user: User, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``user_destroy`` from the snapshot record (pass its last derived ``updated_at``)."""
    return _user(ctx, "user_destroy", "destroy", user, (created_at, updated_at))


def user_rename(
    ctx: PayloadContext, old: User, new: User, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``user_rename``: the new record plus ``old_username`` from the snapshot."""
    payload = _user(ctx, "user_rename", "change", new, (created_at, updated_at))
    payload["old_username"] = old.username
    return payload
