"""User payloads: ``user_create``, ``user_destroy``, ``user_rename`` (docs/payloads.md#users)."""

from __future__ import annotations

from bridge.hooks.payloads.build import Build1, Build2, builder1, builder2
from bridge.hooks.payloads.context import (
    Payload,
    PayloadContext,
    Phase,
    Stamp,
    stamps,
    webhook_email,
)
from bridge.model.records import User


def _user(ctx: PayloadContext, event: str, phase: Phase, user: User, stamp: Stamp) -> Payload:
    return {
        **stamps(ctx, phase, user.created_at, None, *stamp),
        "event_name": event,
        "name": user.name,
        "email": user.email or webhook_email(user, "public"),
        "user_id": user.id,
        "username": user.username,
    }


def _renamed(
    ctx: PayloadContext, event: str, phase: Phase, old: User, new: User, stamp: Stamp
) -> Payload:
    return {**_user(ctx, event, phase, new, stamp), "old_username": old.username}


# ``email`` is the primary address, the webhook email when hidden; a destroy takes the snapshot
# record and its last derived ``updated_at``; a rename adds ``old_username`` from the snapshot.
user_create: Build1[User] = builder1(_user, "user_create", "create")
user_destroy: Build1[User] = builder1(_user, "user_destroy", "destroy")
user_rename: Build2[User, User] = builder2(_renamed, "user_rename", "change")
