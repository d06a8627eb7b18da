"""Pure parsing of GitLab's JSON into the bridge's records, and of pagination headers.

Timestamps become aware UTC datetimes (any RFC 3339 form), dates ``date`` (an old timestamp
keeps its date), access levels integers even when GitLab sends strings, unknown user states
are kept verbatim. No I/O here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

from bridge.errors import FatalSourceError
from bridge.model.records import (
    REQUESTED_LEVEL,
    Group,
    Member,
    Namespace,
    Project,
    Share,
    SourceKind,
    User,
)

Json = dict[str, Any]
T = TypeVar("T")
_VISIBILITIES = ("private", "internal", "public")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp (``Z``, ``+hh:mm``, with or without fraction) as aware UTC."""
    if value is None or value == "":
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_date(value: object) -> dt.date | None:
    """A ``YYYY-MM-DD`` date; a full timestamp (older GitLab) gives its date as written."""
    if value is None or value == "":
        return None
    return dt.date.fromisoformat(str(value)[:10])


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of ``Link`` or, before GitLab 13.1 on keyset, ``Links``."""
    for name in ("Link", "Links"):
        for url, rel in _LINK.findall(headers.get(name, "")):
            if rel.strip() == "next":
                return str(url)
    return None


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base``."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port or _port(a.scheme)) == (
        b.scheme,
        b.hostname,
        b.port or _port(b.scheme),
    )


def _port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _visibility(value: object) -> Literal["private", "internal", "public"]:
    if value not in _VISIBILITIES:
        raise ValueError(f"unknown visibility {value!r}")
    return cast(Literal["private", "internal", "public"], value)


def to_user(d: Json) -> User:
    """A user from the admin or the basic user entity."""
    is_admin, external = d.get("is_admin"), d.get("external")
    return User(
        id=int(d["id"]),
        username=str(d["username"]),
        name=str(d["name"]),
        state=str(d["state"]),
        email=d.get("email") or None,
        public_email=d.get("public_email") or None,
        is_admin=None if is_admin is None else bool(is_admin),
        external=None if external is None else bool(external),
        bot=bool(d.get("bot", False)),
        created_at=parse_time(d.get("created_at")),
        web_url=str(d["web_url"]),
        avatar_url=d.get("avatar_url"),
    )


def to_group(d: Json) -> Group:
    """A group from the group entity."""
    parent = d.get("parent_id")
    return Group(
        id=int(d["id"]),
        name=str(d["name"]),
        path=str(d["path"]),
        full_path=str(d["full_path"]),
        full_name=str(d["full_name"]),
        parent_id=None if parent is None else int(parent),
        visibility=_visibility(d["visibility"]),
        created_at=parse_time(d.get("created_at")),
        web_url=str(d["web_url"]),
        avatar_url=d.get("avatar_url"),
    )


def to_shares(kind: SourceKind, source_id: int, items: object) -> tuple[Share, ...]:
    """The ``shared_with_groups`` items of a group or project."""
    return tuple(
        Share(
            source_kind=kind,
            source_id=source_id,
            group_id=int(s["group_id"]),
            group_name=str(s["group_name"]),
            group_full_path=s.get("group_full_path"),
            access_level=int(s["group_access_level"]),
            expires_at=parse_date(s.get("expires_at")),
        )
        for s in cast(list[Json], items or [])
    )


def to_project(d: Json) -> Project:
    """A project from the full (non-simple) entity, with its direct shares."""
    ns, owner, pid = d["namespace"], d.get("owner"), int(d["id"])
    created = parse_time(d["created_at"])
    if created is None:
        raise ValueError("created_at is empty")
    return Project(
        id=pid,
        name=str(d["name"]),
        path=str(d["path"]),
        path_with_namespace=str(d["path_with_namespace"]),
        namespace=Namespace(
            id=int(ns["id"]),
            name=str(ns["name"]),
            path=str(ns["path"]),
            kind="user" if ns["kind"] == "user" else "group",
            full_path=str(ns["full_path"]),
            parent_id=None if ns.get("parent_id") is None else int(ns["parent_id"]),
        ),
        visibility=_visibility(d["visibility"]),
        archived=bool(d.get("archived", False)),
        description=d.get("description"),
        default_branch=d.get("default_branch"),
        topics=tuple(d.get("topics") or d.get("tag_list") or ()),
        created_at=created,
        updated_at=parse_time(d.get("updated_at")),
        owner_id=int(owner["id"]) if isinstance(owner, dict) else None,
        shares=to_shares("project", pid, d.get("shared_with_groups")),
        web_url=str(d["web_url"]),
    )


def to_member(kind: SourceKind, source_id: int, d: Json) -> Member:
    """A direct membership row; ``access_level`` may come as a string."""
    role = d.get("member_role")
    return Member(
        source_kind=kind,
        source_id=source_id,
        user_id=int(d["id"]),
        username=str(d["username"]),
        name=str(d["name"]),
        state=str(d["state"]),
        access_level=int(d["access_level"]),
        expires_at=parse_date(d.get("expires_at")),
        created_at=parse_time(d.get("created_at")),
        member_role=str(role.get("name")) if isinstance(role, dict) else role,
    )


def to_access_request(kind: SourceKind, source_id: int, d: Json) -> Member:
    """A pending access request (``AccessRequester``) as the member row GitLab keeps for it."""
    return Member(
        source_kind=kind,
        source_id=source_id,
        user_id=int(d["id"]),
        username=str(d["username"]),
        name=str(d["name"]),
        state=str(d["state"]),
        access_level=REQUESTED_LEVEL,
        expires_at=None,
        created_at=parse_time(d.get("requested_at")),
        member_role=None,
    )


def parse_record(what: str, build: Callable[[Json], T], item: object) -> T:
    """Build a record, turning a malformed answer into a FatalSourceError naming it."""
    try:
        return build(cast(Json, item))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        ident = item.get("id") if isinstance(item, dict) else None
        raise FatalSourceError(f"{what}: malformed row (id {ident}): {exc!r}") from exc


# -- transport ----------------------------------------------------------------------------------
