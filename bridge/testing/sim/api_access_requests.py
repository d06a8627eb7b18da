"""``/{groups,projects}/:id/access_requests[/:user_id[/approve]]`` (8.11+, every profile).

As ``lib/api/access_requests.rb`` (docs/simulator.md#access-requests): ``before { authenticate! }``,
then Grape's parameters, then ``find_source`` (404 for what the caller cannot read). Listing,
approving and denying are for who may ``admin_member_access_request`` (before ~15.x
``admin_group``/``admin_project``: the same people): group owners, project maintainers and
owners, administrators. A user withdraws their own request; anyone else gets 403.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.testing.sim import access
from bridge.testing.sim import entities as ent
from bridge.testing.sim.api import (
    check_paging,
    ctx,
    find_group,
    find_project,
    forbidden,
    paginated,
    require_user,
    route,
)
from bridge.testing.sim.grape import Declared
from bridge.testing.sim.http import ApiError, Request, Response
from bridge.testing.sim.requesters import DEVELOPER
from bridge.testing.sim.rows import SourceKind, User
from bridge.testing.sim.rules import SimError
from bridge.testing.sim.world import World

NOT_FOUND = ApiError(404, {"message": "404 Not found"})  # find_by! on source.requesters
ALREADY_EXISTS = ApiError(400, {"message": {"user_id": ["already exists in source"]}})
BAD_LEVEL = ApiError(400, {"message": {"access_level": ["is not included in the list"]}})
Handler = Callable[[Request], Response]


def _caller(req: Request) -> User:
    require_user(req)
    assert req.caller is not None
    return req.caller


def _source(req: Request, kind: SourceKind) -> int:
    return (find_group(req) if kind == "group" else find_project(req)).id


def _world(req: Request) -> World:
    assert req.world is not None, "the simulator hands every request its world"
    return req.world


def _personal_owner(req: Request, caller: User, project_id: int) -> bool:
    return req.snap.personal.get(req.snap.projects[project_id].namespace_id) == caller.id


def can_admin_requests(req: Request, caller: User, kind: SourceKind, source_id: int) -> bool:
    """``admin_member_access_request``: Owner of a group, Maintainer of a project, or admin."""
    if caller.is_admin:
        return True
    levels = access.access_for(req.snap, caller)
    if kind == "group":
        return levels.groups.get(source_id, 0) >= 50
    return levels.projects.get(source_id, 0) >= 40 or _personal_owner(req, caller, source_id)


def can_request_access(req: Request, caller: User, kind: SourceKind, source_id: int) -> bool:
    """``request_access``: the source is visible to signed-in users (public, or internal for
    non-external users) and the caller has no access to it yet; admins never may.

    GroupPolicy prevents it for ``has_access`` (any level, shares included); ProjectPolicy for
    ``owner | admin | guest | group_member``.
    """
    snap = req.snap
    if caller.is_admin:
        return False
    levels = access.access_for(snap, caller)
    if kind == "group":
        visibility = snap.groups[source_id].visibility
        has_access = levels.groups.get(source_id, 0) > 0
    else:
        project = snap.projects[source_id]
        visibility, ns = project.visibility, project.namespace_id
        has_access = (
            levels.projects.get(source_id, 0) >= 10
            or (ns in snap.groups and levels.groups.get(ns, 0) >= 10)
            or _personal_owner(req, caller, source_id)
        )
    visible = visibility == "public" or (visibility == "internal" and not caller.external)
    return visible and not has_access


def _user_id(req: Request, *, with_level: bool) -> tuple[int, int | None]:
    """``requires :user_id, type: Integer`` (and ``optional :access_level, type: Integer``)."""
    declared = Declared({**req.params, **req.args})
    user_id = declared.integer("user_id")
    level = declared.integer("access_level") if with_level else None
    declared.check()
    if user_id is None:
        raise ApiError(400, {"error": "user_id is missing"})
    return user_id, level


def _list(kind: SourceKind) -> Handler:
    def handler(req: Request) -> Response:
        caller = _caller(req)
        check_paging(req)
        source_id = _source(req, kind)
        if not can_admin_requests(req, caller, kind, source_id):
            raise forbidden(req)
        c = ctx(req)
        rows = req.snap.requesters(kind, source_id)
        return paginated(req, rows, lambda m: ent.access_requester(m, c))

    handler.__doc__ = f"GET /{kind}s/:id/access_requests: pending requests by member id."
    return handler


def _create(kind: SourceKind) -> Handler:
    def handler(req: Request) -> Response:
        caller = _caller(req)
        source_id = _source(req, kind)
        if not can_request_access(req, caller, kind, source_id):
            raise forbidden(req)
        try:
            row = _world(req).request_access(kind, source_id, caller.id)
        except SimError as exc:
            raise (NOT_FOUND if exc.status == 404 else ALREADY_EXISTS) from None
        return Response(201, ent.access_requester(row, ctx(req)))

    handler.__doc__ = f"POST /{kind}s/:id/access_requests: the caller asks to join."
    return handler


def _approve(kind: SourceKind) -> Handler:
    def handler(req: Request) -> Response:
        caller = _caller(req)
        user_id, level = _user_id(req, with_level=True)
        source_id = _source(req, kind)
        if user_id not in req.snap.requests.get((kind, source_id), {}):
            raise NOT_FOUND
        level = DEVELOPER if level is None else level
        if not can_admin_requests(req, caller, kind, source_id):
            raise forbidden(req)
        _check_level(req, caller, kind, source_id, level)
        try:
            member = _world(req).approve_access_request(
                kind, source_id, user_id, level, author_id=caller.id
            )
        except SimError as exc:
            raise (NOT_FOUND if exc.status == 404 else BAD_LEVEL) from None
        return Response(201, ent.member(member, ctx(req)))

    handler.__doc__ = f"PUT /{kind}s/:id/access_requests/:user_id/approve: 201 and the member."
    return handler


def _check_level(req: Request, caller: User, kind: SourceKind, source_id: int, level: int) -> None:
    """The level must exist (projects had no Owner before 14.9); only an owner or admin may
    make a project Owner (``cannot_assign_owner_responsibilities_to_member_in_project?``)."""
    project_owner_role = not req.profile.personal_owner_as_maintainer
    if level not in req.profile.access_levels() or (
        kind == "project" and level == 50 and not project_owner_role
    ):
        raise BAD_LEVEL
    if kind == "project" and level == 50 and not caller.is_admin:
        own = access.access_for(req.snap, caller).projects.get(source_id, 0) >= 50
        if not (own or _personal_owner(req, caller, source_id)):
            raise forbidden(req)


def _deny(kind: SourceKind) -> Handler:
    def handler(req: Request) -> Response:
        caller = _caller(req)
        user_id, _ = _user_id(req, with_level=False)
        source_id = _source(req, kind)
        if user_id not in req.snap.requests.get((kind, source_id), {}):
            raise NOT_FOUND
        withdraw = user_id == caller.id
        if not (withdraw or can_admin_requests(req, caller, kind, source_id)):
            raise forbidden(req)
        try:
            _world(req).deny_access_request(kind, source_id, user_id)
        except SimError:
            raise NOT_FOUND from None
        return Response(204, raw=b"")

    handler.__doc__ = f"DELETE /{kind}s/:id/access_requests/:user_id: deny or withdraw (204)."
    return handler


# Declared as lib/api/access_requests.rb does, GET before POST (Grape's Allow keeps the order).
ROUTES = [
    route(method, f"/{kind}s/:id/access_requests{suffix}", factory(kind))
    for kind in ("group", "project")
    for method, suffix, factory in (
        ("GET", "", _list),
        ("POST", "", _create),
        ("PUT", "/:user_id/approve", _approve),
        ("DELETE", "/:user_id", _deny),
    )
]
