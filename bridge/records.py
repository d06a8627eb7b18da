"""Records the store keeps besides the model: outbox rows, resource state, row bookkeeping.

Plain frozen dataclasses, importable by the pure core without pulling in SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

OutboxStatus = Literal["pending", "delivered", "failed", "dead"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One event for one receiver, as queued; the payload is the exact JSON body, fixed now."""

    event_uuid: str
    receiver: str  # the receiver's configured name
    hook: str  # X-Gitlab-Event: "System Hook", "Member Hook", ...
    event_name: str
    subject: str  # what the event is about ("user:58", "member:group:7:64"): per-subject ordering
    payload: str
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRecord:
    """An outbox row with its delivery state."""

    id: int
    event_uuid: str
    receiver: str
    hook: str
    event_name: str
    subject: str
    payload: str
    idempotency_key: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    delivered_at: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceState:
    """Polling bookkeeping of one resource ("users", "members:group:42", ...)."""

    name: str
    baseline_at: dt.datetime | None = None  # the silent first complete poll
    last_complete_at: dt.datetime | None = None
    last_attempt_at: dt.datetime | None = None
    watermark: str | None = None
    last_requests: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RowMeta:
    """The store's bookkeeping for one snapshot row (HOOKS.md §2 and §4)."""

    first_seen_at: dt.datetime
    updated_at: dt.datetime  # bridge-derived: created_at at first sight, observed_at on change
    revision: int  # 1 at first sight, +1 per change
