"""``/version``, ``/metadata``, ``/user``, ``/users`` and ``/users/:id[/memberships]``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from bridge.testing.sim import entities as ent
from bridge.testing.sim.api import (
    cached_rows,
    ctx,
    forbidden,
    int_arg,
    link_base,
    paginated,
    require_user,
    route,
)
from bridge.testing.sim.http import ApiError, Request, Response, not_found
from bridge.testing.sim.pagination import PaginationError, check_offset_cap, keyset_by_cursor
from bridge.testing.sim.rows import User

BLOCKED_STATES = ("blocked", "ldap_blocked")
FORBIDDEN_SEARCH_STATES = ("blocked", "banned", "ldap_blocked")


def version(req: Request) -> Response:
    """GET /version: the profile's version (the /metadata body from ~15.5)."""
    require_user(req)
    if req.profile.metadata_route:
        return metadata(req)
    return Response(200, {"version": req.profile.version_string, "revision": req.profile.revision})


def metadata(req: Request) -> Response:
    """GET /metadata (15.2+)."""
    require_user(req)
    kas: dict[str, object] = {"enabled": False, "externalUrl": None}
    if req.profile.era >= 17:
        kas["externalK8sProxyUrl"] = None
    kas["version"] = None
    body: dict[str, object] = {
        "version": req.profile.version_string,
        "revision": req.profile.revision,
        "kas": kas,
    }
    if req.profile.metadata_enterprise:
        body["enterprise"] = req.profile.edition == "ee"
    return Response(200, body)


def current_user(req: Request) -> Response:
    """GET /user: UserWithAdmin for admins, UserPublic otherwise."""
    require_user(req)
    assert req.caller is not None
    c = ctx(req)
    body = ent.user_with_admin(req.caller, c) if req.is_admin else ent.user_public(req.caller, c)
    return Response(200, body)


def _filter_users(req: Request, users: Iterable[User]) -> list[User]:
    rows = list(users)
    username = req.text("username")
    if username is not None:
        rows = [u for u in rows if u.username.lower() == username.lower()]
    search = req.text("search")
    if search:
        s = search.lower()
        rows = [
            u
            for u in rows
            if s in u.name.lower()
            or s in u.username.lower()
            or (req.is_admin and s in u.email.lower())
        ]
    if req.flag("active"):
        rows = [u for u in rows if u.state == "active"]
    if req.flag("blocked"):
        rows = [u for u in rows if u.state in BLOCKED_STATES]
    if req.profile.era >= 13 and req.flag("exclude_internal"):
        rows = [u for u in rows if not u.internal]
    if req.flag("without_project_bots"):
        rows = [u for u in rows if u.user_type != "project_bot"]
    if req.is_admin:
        return _admin_filters(req, rows)
    if req.profile.era >= 16:  # UsersFinder drops FORBIDDEN_SEARCH_STATES for non-admins
        return [u for u in rows if u.state not in FORBIDDEN_SEARCH_STATES]
    return rows


def _admin_filters(req: Request, rows: list[User]) -> list[User]:
    """Filters GitLab honours for admins only (dropped silently for everyone else)."""
    if req.flag("external"):
        rows = [u for u in rows if u.external]
    if req.flag("admins"):
        rows = [u for u in rows if u.is_admin]
    after, before = req.time("created_after"), req.time("created_before")
    # CreatedAtFilterable: created_at >= after, created_at <= before (both inclusive)
    if after is not None:
        rows = [u for u in rows if u.created_at >= after]
    if before is not None:
        rows = [u for u in rows if u.created_at <= before]
    return rows


_ADMIN_ONLY_PARAMS = frozenset(
    {"order_by", "sort", "created_after", "created_before", "two_factor", "without_projects"}
)
_USER_ORDERS = ("id", "name", "username", "created_at", "updated_at")  # lib/api/users.rb


def _user_sort_key(user: User, order_by: str) -> tuple[Any, int]:
    """The ordering column then id (``order_options_with_tie_breaker``)."""
    if order_by == "id":
        return (user.id, user.id)
    if order_by == "updated_at":
        return (user.updated_at or user.created_at, user.id)
    return (getattr(user, order_by), user.id)


def list_users(req: Request) -> Response:
    """GET /users with admin-only ordering, keyset (16.5+) and the offset cap (17.0+)."""
    if req.caller is None and not req.text("username"):
        raise forbidden(req, "Not authorized to access /api/v4/users")
    # Grape validates the values for everyone; for non-admins GitLab then drops the admin-only
    # ones from params (params.except!), so they vanish from Link URLs as well.
    order_by = req.choice("order_by", _USER_ORDERS, "id")
    sort = req.choice("sort", ("asc", "desc"), "desc")
    if not req.is_admin:
        order_by, sort = "id", "desc"
        kept = {k: v for k, v in req.params.items() if k not in _ADMIN_ONLY_PARAMS}
        req = dataclasses.replace(req, params=kept)

    def build() -> list[User]:
        rows = _filter_users(req, req.snap.users.values())
        rows.sort(key=lambda u: _user_sort_key(u, order_by), reverse=sort == "desc")
        return rows

    rows = cached_rows(req, "users", build)
    c = ctx(req)

    def render(u: User) -> ent.Json:
        return ent.user_with_admin(u, c) if req.is_admin else ent.user_basic(u, c)

    if req.profile.users_keyset and req.text("pagination") == "keyset":
        return _users_keyset(req, rows, order_by, render)
    if req.profile.users_offset_cap:
        _cap(req, "User")
    return paginated(req, rows, render)


def _users_keyset(
    req: Request, rows: list[User], order_by: str, render: Callable[[User], ent.Json]
) -> Response:
    """Keyset on each of the five orders (``User.supported_keyset_orderings``, 16.5): Grape's
    ``values:`` refuses any other order first, so /users never reaches the keyset 405."""
    base, params = link_base(req)

    def values(u: User) -> dict[str, str]:
        if order_by == "id":
            return {"id": str(u.id)}
        value = _user_sort_key(u, order_by)[0]
        text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
        return {order_by: text, "id": str(u.id)}

    def from_cursor(v: dict[str, str]) -> tuple[object, ...]:
        try:
            if order_by == "id":
                return (int(v["id"]), int(v["id"]))
            if order_by in ("created_at", "updated_at"):
                at = dt.datetime.fromisoformat(v[order_by])
                if at.tzinfo is None:  # rows are aware; a naive value cannot be compared
                    raise ValueError(at)
                return (at, int(v["id"]))
            return (v[order_by], int(v["id"]))
        except (KeyError, ValueError):
            raise ApiError(400, {"error": "cursor is invalid"}) from None

    try:
        items, headers = keyset_by_cursor(
            rows, params, base, lambda u: _user_sort_key(u, order_by), values, from_cursor
        )
    except PaginationError as exc:
        raise ApiError(exc.status, exc.body) from None
    return Response(200, [render(u) for u in items], headers)


def _cap(req: Request, type_name: str) -> None:
    try:
        check_offset_cap(req.params, type_name)
    except PaginationError as exc:
        raise ApiError(exc.status, exc.body) from None


def get_user(req: Request) -> Response:
    """GET /users/:id: UserDetailsWithAdmin for admins, Entities::User otherwise."""
    if req.caller is None and req.profile.users_id_requires_auth:
        raise forbidden(req, "Not authorized!")
    user = req.snap.users.get(int_arg(req, "id"))
    if user is None or (not req.is_admin and user.state == "banned"):
        raise not_found("User")
    c = ctx(req)
    body = ent.user_with_admin(user, c, details=True) if req.is_admin else ent.user_profile(user, c)
    return Response(200, body)


def user_memberships(req: Request) -> Response:
    """GET /users/:id/memberships: admins only, direct memberships, optional ``type``.

    Without ``type`` it is ``user.members``, which has no ``requested_at: nil`` scope: pending
    access requests are listed too (as Developer); ``type`` picks ``project_members`` or
    ``group_members``, which leave them out.
    """
    require_user(req)
    if not req.is_admin:
        raise forbidden(req)
    kind = req.choice("type", ("Project", "Namespace"), "")
    user = req.snap.users.get(int_arg(req, "id"))
    if user is None:
        raise not_found("User")
    rows = req.snap.memberships_by_user.get(user.id, [])
    if kind:
        rows = [m for m in rows if (m.source_kind == "project") == (kind == "Project")]
    else:
        requests = req.snap.requests_by_user.get(user.id, [])
        rows = sorted([*rows, *requests], key=lambda m: m.id) if requests else rows
    return paginated(req, rows, lambda m: ent.membership(m, req.snap, req.profile))


ROUTES = [
    route("GET", "/version", version),
    route("GET", "/metadata", metadata, enabled=lambda p: p.metadata_route),
    route("GET", "/user", current_user),
    route("GET", "/users", list_users, defaults={"with_custom_attributes": "false"}),
    route("GET", "/users/:id/memberships", user_memberships),
    route("GET", "/users/:id", get_user),
]
