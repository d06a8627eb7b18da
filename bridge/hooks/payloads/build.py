"""The builders' shape: one function per event, made from the payload family it belongs to.

A family (``_user``, ``_group_member``...) takes the event name, its phase and the records; a
builder (``user_create``, ``user_add_to_group``...) fixes the first two and takes optional
explicit timestamps (docs/payloads.md#record-timestamps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from bridge.hooks.payloads.context import Payload, PayloadContext, Phase, Stamp, Ts

A_contra = TypeVar("A_contra", contravariant=True)
B_contra = TypeVar("B_contra", contravariant=True)
A = TypeVar("A")
B = TypeVar("B")


class Build1(Protocol[A_contra]):
    """A builder of one record's event: ``user_create(ctx, user)``."""

    def __call__(
        self,
        ctx: PayloadContext,
        record: A_contra,
        /,
        *,
        created_at: Ts = None,
        updated_at: Ts = None,
    ) -> Payload: ...


class Build2(Protocol[A_contra, B_contra]):
    """A builder of two records' event: the old and new record of a rename, or a member row or
    link (the second) of a group or project (the first)."""

    def __call__(
        self,
        ctx: PayloadContext,
        first: A_contra,
        second: B_contra,
        /,
        *,
        created_at: Ts = None,
        updated_at: Ts = None,
    ) -> Payload: ...


def builder1(
    family: Callable[[PayloadContext, str, Phase, A, Stamp], Payload], event: str, phase: Phase
) -> Build1[A]:
    """The builder of ``event``: ``family``'s payload with that event name and phase."""

    def build(
        ctx: PayloadContext, record: A, /, *, created_at: Ts = None, updated_at: Ts = None
    ) -> Payload:
        return family(ctx, event, phase, record, (created_at, updated_at))

    return _named(build, event)


def builder2(
    family: Callable[[PayloadContext, str, Phase, A, B, Stamp], Payload], event: str, phase: Phase
) -> Build2[A, B]:
    """The builder of ``event``: ``family``'s payload with that event name and phase."""

    def build(
        ctx: PayloadContext,
        first: A,
        second: B,
        /,
        *,
        created_at: Ts = None,
        updated_at: Ts = None,
    ) -> Payload:
        return family(ctx, event, phase, first, second, (created_at, updated_at))

    return _named(build, event)


F = TypeVar("F", bound=Callable[..., Payload])


def _named(build: F, event: str) -> F:
    build.__name__ = build.__qualname__ = event
    build.__doc__ = f"``{event}`` (docs/payloads.md)."
    return build
