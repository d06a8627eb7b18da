"""``/{groups,projects}/:id/members[/all][/:user_id]``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bridge.testing.sim import access
from bridge.testing.sim import entities as ent
from bridge.testing.sim.api import (
    ctx,
    find_group,
    find_project,
    int_arg,
    paginated,
    require_user,
    route,
)
from bridge.testing.sim.http import ApiError, Request, Response
from bridge.testing.sim.rows import Member, SourceKind

NOT_FOUND_MEMBER = ApiError(404, {"message": "404 Not found"})


def _source(req: Request, kind: SourceKind) -> int:
    require_user(req)
    return (find_group(req) if kind == "group" else find_project(req)).id


def _direct(req: Request, kind: SourceKind, source_id: int) -> list[Member]:
    rows = req.snap.direct_members(kind, source_id)
    if req.profile.direct_members_hide_minimal:
        rows = [m for m in rows if m.access_level >= 10]
    return rows


def _query_filters(req: Request, rows: list[Member]) -> list[Member]:
    """``query`` (name or username substring) and ``user_ids[]``."""
    query = req.text("query")
    if query:
        q = query.lower()
        users = req.snap.users
        rows = [
            m
            for m in rows
            if q in users[m.user_id].name.lower() or q in users[m.user_id].username.lower()
        ]
    user_ids = set(req.int_list("user_ids", csv=True))
    if user_ids:
        rows = [m for m in rows if m.user_id in user_ids]
    return rows


def _list(kind: SourceKind) -> Callable[[Request], Response]:
    def handler(req: Request) -> Response:
        source_id = _source(req, kind)
        c = ctx(req)
        return paginated(
            req, _query_filters(req, _direct(req, kind, source_id)), lambda m: ent.member(m, c)
        )

    handler.__doc__ = f"GET /{kind}s/:id/members: direct members by member id."
    return handler


def _get(kind: SourceKind) -> Callable[[Request], Response]:
    def handler(req: Request) -> Response:
        return _one(req, _direct(req, kind, _source(req, kind)))

    handler.__doc__ = f"GET /{kind}s/:id/members/:user_id: one direct member or 404."
    return handler


def _one(req: Request, rows: Iterable[Member]) -> Response:
    """The row of the route's ``:user_id`` among ``rows``, or GitLab's member 404."""
    user_id = int_arg(req, "user_id")
    for row in rows:
        if row.user_id == user_id:
            return Response(200, ent.member(row, ctx(req)))
    raise NOT_FOUND_MEMBER


def _all_rows(req: Request, kind: SourceKind) -> list[Member]:
    source_id = _source(req, kind)
    assert req.caller is not None
    return access.members_all(req.snap, req.profile, kind, source_id, req.caller)


def _list_all(kind: SourceKind) -> Callable[[Request], Response]:
    def handler(req: Request) -> Response:
        rows = _query_filters(req, _all_rows(req, kind))
        c = ctx(req)
        return paginated(req, rows, lambda m: ent.member(m, c))

    handler.__doc__ = f"GET /{kind}s/:id/members/all: direct, inherited and shared-in members."
    return handler


def _get_all(kind: SourceKind) -> Callable[[Request], Response]:
    def handler(req: Request) -> Response:
        return _one(req, _all_rows(req, kind))

    handler.__doc__ = f"GET /{kind}s/:id/members/all/:user_id (12.4+)."
    return handler


ROUTES = [
    route("GET", f"/{kind}s/:id/members{suffix}", factory(kind))
    for kind in ("group", "project")
    for suffix, factory in (
        ("/all", _list_all),
        ("/all/:user_id", _get_all),
        ("", _list),
        ("/:user_id", _get),
    )
]
