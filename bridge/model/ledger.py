"""Records the store keeps besides the model: outbox rows, resource state, row bookkeeping.

Plain frozen dataclasses, importable by the pure core without pulling in SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from bridge.model.records import SourceKind

# pending: not attempted yet (or redelivered); retrying: an attempt failed, another is due.
OutboxStatus = Literal["pending", "retrying", "delivered", "dead"]
WAITING: tuple[OutboxStatus, ...] = ("pending", "retrying")  # rows delivery still owes
# What is polled, each on its own schedule; "members" is every group's and project's member list.
Resource = Literal["users", "groups", "projects", "members"]
RESOURCES: tuple[Resource, ...] = ("users", "groups", "projects", "members")
MEMBER_LIST_PREFIX = "members:"


def member_list(kind: SourceKind, source_id: int) -> str:
    """The bookkeeping name of one member list: ``members:group:42``."""
    return f"{MEMBER_LIST_PREFIX}{kind}:{source_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One event for one receiver, as queued; the payload is the exact JSON body, fixed now."""

    event_uuid: str
    receiver: str  # the receiver's configured name
    hook: str  # X-Gitlab-Event: "System Hook", "Member Hook", ...
    event_name: str
    subject: str  # what the event is about ("user:58", "group_member:7:64"): per-subject order
    payload: str
    idempotency_key: str
    instance_url: str = ""  # X-Gitlab-Instance
    gitlab_version: str = ""  # for User-Agent: "16.11.3-ee"


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
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    # The state of a row as queued, until attempts change it:
    status: OutboxStatus = "pending"
    attempts: int = 0
    last_error: str | None = None
    delivered_at: dt.datetime | None = None
    instance_url: str = ""
    gitlab_version: str = ""
    gitlab_event_uuid: str = ""  # X-Gitlab-Event-UUID: random, fixed when queued
    enqueued_at: dt.datetime | None = None  # max_age counts from here (reset on redelivery)
    claimed_until: dt.datetime | None = None
    claimed_by: str | None = None
    last_status_code: int | None = None


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
    """The store's bookkeeping for one snapshot row: timestamps and the event id's revision."""

    first_seen_at: dt.datetime
    updated_at: dt.datetime  # bridge-derived: created_at at first sight, observed_at on change
    revision: int  # 1 at first sight, +1 per change


AttemptOutcome = Literal["delivered", "retry", "dead"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt:
    """One HTTP attempt of one outbox row (all attempts are kept)."""

    outbox_id: int
    number: int  # 1-based, per row; a redelivery starts the count again
    started_at: dt.datetime
    duration_ms: int
    url: str  # without credentials
    webhook_uuid: str
    status_code: int | None  # None: no HTTP answer (timeout, connection, TLS)
    error: str | None
    response_body: str | None  # at most 8 KB
    outcome: AttemptOutcome


CircuitState = Literal["closed", "open"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverState:
    """A receiver's circuit breaker (docs/delivery.md#retries-and-dead-letters)."""

    name: str
    consecutive_failures: int = 0
    circuit: CircuitState = "closed"
    probe_at: dt.datetime | None = None  # when an open circuit lets one attempt through
    probe_interval: float = 0.0  # seconds; doubles per failed probe up to the cap
    changed_at: dt.datetime | None = None
