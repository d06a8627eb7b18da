"""Domain records of the bridge: what the GitLab adapter yields and the store keeps.

Frozen, slotted, keyword-only; aware UTC datetimes, dates for GitLab date columns, tuples for
sequences. No raw API dicts, ORM rows or HTTP responses cross an adapter boundary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SourceKind = Literal["group", "project"]
NamespaceKind = Literal["group", "user"]
Visibility = Literal["private", "internal", "public"]
# What an access request asks for: GitLab creates every request at Developer
# (``Member#request_access``); the AccessRequester entity does not show it.
REQUESTED_LEVEL = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """The GitLab instance as the configured token sees it."""

    url: str  # base URL: scheme, host, port, relative root; no trailing slash
    version: str  # leading X.Y.Z of /metadata or /version
    full_version: str = ""  # as GitLab reports it, e.g. "16.11.3-ee" (User-Agent of hooks)
    revision: str
    enterprise: bool
    token_user_id: int
    token_username: str
    token_is_admin: bool

    @property
    def major_minor(self) -> tuple[int, int]:
        """(major, minor) for feature decisions."""
        parts = [*self.version.split("."), "0"]
        return int(parts[0]), int(parts[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A user; ``email`` is the primary address, None when the token may not see it."""

    id: int
    username: str
    name: str
    state: str  # stored verbatim, including states this version of the bridge does not know
    email: str | None
    public_email: str | None
    is_admin: bool | None  # None: not visible to the token
    external: bool | None
    bot: bool
    created_at: dt.datetime | None
    web_url: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    """A group link: ``group_id`` is invited into the group or project ``source_id``."""

    source_kind: SourceKind
    source_id: int
    group_id: int
    group_name: str
    group_full_path: str | None  # absent before 12.x
    access_level: int
    expires_at: dt.date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A group with its place in the hierarchy."""

    id: int
    name: str
    path: str
    full_path: str
    full_name: str
    parent_id: int | None
    visibility: Visibility
    created_at: dt.datetime | None  # absent on 12.10
    web_url: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace:
    """A project's parent namespace: a group or a user's personal namespace."""

    id: int
    name: str
    path: str
    kind: NamespaceKind
    full_path: str
    parent_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """A project from the full (non-simple) entity, with its direct shares."""

    id: int
    name: str
    path: str
    path_with_namespace: str
    namespace: Namespace
    visibility: Visibility
    archived: bool
    description: str | None
    default_branch: str | None
    topics: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime | None  # absent before ~16.x
    owner_id: int | None  # only for projects in a personal namespace
    shares: tuple[Share, ...]
    web_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A direct membership row of a group or project."""

    source_kind: SourceKind
    source_id: int
    user_id: int
    username: str
    name: str
    state: str
    access_level: int
    expires_at: dt.date | None
    created_at: dt.datetime | None  # absent before ~13.x
    member_role: str | None  # EE custom role name, if any


def ancestry(group_id: int, groups: Mapping[int, Group]) -> list[int]:
    """The group and its ancestors, nearest first; stops at unknown parents and cycles."""
    out: list[int] = []
    current: int | None = group_id
    while current is not None and current not in out:
        out.append(current)
        group = groups.get(current)
        current = group.parent_id if group is not None else None
    return out
