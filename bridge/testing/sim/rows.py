"""Immutable records of the simulated GitLab's database rows.

These mirror GitLab's tables (users, namespaces, projects, members, *_group_links), not its API
entities: serialisation per version and caller lives in ``entities``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Visibility = Literal["private", "internal", "public"]
SourceKind = Literal["group", "project"]
EventAction = Literal["joined", "left", "expired"]
VISIBILITIES: tuple[Visibility, ...] = ("private", "internal", "public")
VISIBILITY_RANK = {"private": 0, "internal": 10, "public": 20}
USER_STATES = (
    "active",
    "blocked",
    "ldap_blocked",
    "blocked_pending_approval",
    "banned",
    "deactivated",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A row of ``users`` with the attributes the API exposes."""

    id: int
    username: str
    name: str
    email: str
    public_email: str = ""
    state: str = "active"
    is_admin: bool = False
    external: bool = False
    bot: bool = False
    user_type: str = (
        "human"  # human, ghost, support_bot, project_bot, ... (internal when not human)
    )
    locked: bool = False
    two_factor_enabled: bool = False
    namespace_id: int
    created_at: dt.datetime
    updated_at: dt.datetime | None = None  # None when built: the same as created_at
    created_by_id: int | None = None
    last_activity_on: dt.date | None = None
    last_sign_in_at: dt.datetime | None = None
    confirmed_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        _default_updated_at(self)

    @property
    def internal(self) -> bool:
        """GitLab's internal users: ghost, support bot, alert bot and the like."""
        return self.user_type not in ("human", "project_bot", "service_account")


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A group namespace; ``parent_id`` is None for a top-level group."""

    id: int
    name: str
    path: str
    parent_id: int | None
    visibility: Visibility
    created_at: dt.datetime
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """A project; ``namespace_id`` is a group id or a user's personal namespace id."""

    id: int
    name: str
    path: str
    namespace_id: int
    visibility: Visibility
    created_at: dt.datetime
    updated_at: dt.datetime
    last_activity_at: dt.datetime
    creator_id: int
    description: str = ""
    default_branch: str | None = "main"
    topics: tuple[str, ...] = ()
    archived: bool = False
    pending_delete: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A direct membership row of a group or project; with ``requested_at`` set it is a
    pending access request instead (GitLab keeps both in ``members``)."""

    id: int
    source_kind: SourceKind
    source_id: int
    user_id: int
    access_level: int
    created_at: dt.datetime
    updated_at: dt.datetime | None = None  # None when built: the same as created_at
    expires_at: dt.date | None = None
    created_by_id: int | None = None
    requested_at: dt.datetime | None = None  # set while the row is an access request

    def __post_init__(self) -> None:
        _default_updated_at(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    """A group link: ``group_id`` is invited into the project or group ``shared_id``."""

    id: int
    source_kind: SourceKind
    shared_id: int
    group_id: int
    group_access: int
    created_at: dt.datetime
    updated_at: dt.datetime | None = None  # None when built: the same as created_at
    expires_at: dt.date | None = None

    def __post_init__(self) -> None:
        _default_updated_at(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A row of ``events`` as a membership change makes it (``EventCreateService``): a user
    joining, leaving or expiring out of a project. Its author is that user."""

    id: int
    project_id: int
    author_id: int
    action: EventAction
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """A row of EE's ``audit_events`` for a member change: the entity is the group or project;
    ``details`` keeps the version-neutral facts that ``audit.render_details`` turns into the
    hash each version stores (docs/simulator.md#audit-events)."""

    id: int
    author_id: int
    entity_id: int
    entity_type: Literal["Group", "Project", "User"]
    details: dict[str, Any] = field(hash=False)
    created_at: dt.datetime


def _default_updated_at(row: Any) -> None:
    """A row built without ``updated_at`` was never updated: it equals ``created_at``."""
    if row.updated_at is None:
        object.__setattr__(row, "updated_at", row.created_at)
