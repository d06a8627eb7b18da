"""``/projects``, ``/projects/:id`` and ``/projects/:id/groups`` (13.10+)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from bridge.testing.sim import access
from bridge.testing.sim import entities as ent
from bridge.testing.sim.api import (
    cached_rows,
    check_paging,
    ctx,
    find_project,
    link_base,
    paginated,
    route,
)
from bridge.testing.sim.entities_projects import basic_project, project_with_access
from bridge.testing.sim.grape import Declared, present
from bridge.testing.sim.http import ApiError, Request, Response
from bridge.testing.sim.pagination import PaginationError, check_offset_cap, keyset_by_id
from bridge.testing.sim.rows import Project

_ORDERS = ("id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity")
PROJECT_LIST_DEFAULTS = {
    "membership": "false",
    "order_by": "created_at",
    "owned": "false",
    "simple": "false",
    "sort": "desc",
    "starred": "false",
    "statistics": "false",
    "with_custom_attributes": "false",
    "with_issues_enabled": "false",
    "with_merge_requests_enabled": "false",
}
KEYSET_405 = {"error": "Keyset pagination is not yet available for this type of request"}


def permissions(req: Request, p: Project) -> tuple[int | None, int | None]:
    """(project_access, group_access) levels of the caller for ``permissions``."""
    if req.caller is None:
        return None, None
    snap = req.snap
    row = snap.members.get(("project", p.id), {}).get(req.caller.id)
    group_level = None
    if p.namespace_id in snap.groups:
        chain = [p.namespace_id, *snap.ancestor_ids(p.namespace_id)]
        levels = [
            snap.members[("group", g)][req.caller.id].access_level
            for g in chain
            if req.caller.id in snap.members.get(("group", g), {})
        ]
        group_level = max(levels) if levels else None
    return (row.access_level if row else None), group_level


def _visible_projects(req: Request) -> list[Project]:
    snap, caller = req.snap, req.caller
    include_deleted = req.is_admin and req.flag("include_pending_delete")
    rows = [p for p in snap.projects.values() if include_deleted or not p.pending_delete]
    if req.flag("membership") or req.flag("owned"):
        levels = access.access_for(snap, caller).projects if caller else {}
        floor = 50 if req.flag("owned") else 10
        return [p for p in rows if levels.get(p.id, 0) >= floor]
    if req.is_admin:
        return rows
    return [p for p in rows if access.can_read_project(snap, caller, p.id)]


# (parameter, attribute, lower bound?, inclusive?)
TimeBound = tuple[str, Callable[[Project], dt.datetime], bool, bool]
UPDATED_PAIRING = {
    "message": "400 Bad request - `updated_at` filter and `updated_at` sorting must be paired"
}


def _time_bounds(req: Request) -> list[TimeBound]:
    """The time filters of this version. ``last_activity_*`` are strict (``ProjectsFinder``);
    ``updated_*`` (15.10) use ``UpdatedAtFilterable``'s ``gteq``/``lteq``; undeclared before
    15.10, they are ignored."""
    bounds: list[TimeBound] = [
        ("last_activity_after", lambda p: p.last_activity_at, True, False),
        ("last_activity_before", lambda p: p.last_activity_at, False, False),
    ]
    if req.profile.projects_updated_filters:
        bounds += [
            ("updated_after", lambda p: p.updated_at, True, True),
            ("updated_before", lambda p: p.updated_at, False, True),
        ]
    return bounds


def _check_updated_pairing(req: Request, order_by: str) -> None:
    """``validate_updated_at_order_and_filter!``: an ``updated_*`` filter needs
    ``order_by=updated_at``; order_by defaults to created_at, so leaving it out fails too."""
    if not req.profile.projects_updated_filters:
        return
    _ = req.caller  # the body's rate-limit check reads current_user first: a refusal wins
    if (req.time("updated_after") or req.time("updated_before")) and order_by != "updated_at":
        raise ApiError(400, UPDATED_PAIRING)


def _check_list_params(req: Request) -> None:
    """Judge every parameter /projects reads before anything asks for the caller: Grape
    validates the declared parameters before the endpoint's body authenticates."""
    for name in ("membership", "owned", "simple", "archived"):
        if req.text(name):
            req.flag(name)
    req.choice("visibility", ("public", "internal", "private"), "")
    req.text("search")
    req.text("pagination")
    req.integer("min_access_level", req.profile.shared_min_access_levels())
    for name, _, _, _ in _time_bounds(req):
        req.time(name)
    for name in ("id_after", "id_before"):
        req.integer(name)
    check_paging(req)


def _filters(req: Request, rows: list[Project]) -> list[Project]:
    archived = req.text("archived")
    if archived:
        want = req.flag("archived")
        rows = [p for p in rows if p.archived == want]
    visibility = req.choice("visibility", ("public", "internal", "private"), "")
    if visibility:
        rows = [p for p in rows if p.visibility == visibility]
    search = req.text("search")
    if search:
        s = search.lower()
        rows = [
            p
            for p in rows
            if s in p.name.lower() or s in p.path.lower() or s in p.description.lower()
        ]
    min_level = req.integer("min_access_level", req.profile.shared_min_access_levels())
    if min_level is not None:
        levels = access.access_for(req.snap, req.caller).projects if req.caller else {}
        rows = [p for p in rows if levels.get(p.id, 0) >= min_level]
    for name, attr, after, inclusive in _time_bounds(req):
        bound = req.time(name)
        if bound is not None:
            rows = [p for p in rows if _within(attr(p), bound, after=after, inclusive=inclusive)]
    for name, after in (("id_after", True), ("id_before", False)):
        raw = req.integer(name)
        if raw is not None and req.text("pagination") != "keyset":
            rows = [p for p in rows if (p.id > raw if after else p.id < raw)]
    return rows


def _within(value: dt.datetime, bound: dt.datetime, *, after: bool, inclusive: bool) -> bool:
    if value == bound:
        return inclusive
    return value > bound if after else value < bound


def list_projects(req: Request) -> Response:
    """GET /projects: offset (capped from 13.0) or keyset by id."""
    order_by = req.choice("order_by", _ORDERS, "created_at")
    sort = req.choice("sort", ("asc", "desc"), "desc")
    _check_list_params(req)
    _check_updated_pairing(req, order_by)
    keys: dict[str, Callable[[Project], tuple[object, ...]]] = {
        "id": lambda p: (p.id,),
        "name": lambda p: (p.name, p.id),
        "path": lambda p: (p.path, p.id),
        "created_at": lambda p: (p.created_at, p.id),
        "updated_at": lambda p: (p.updated_at, p.id),
        "last_activity_at": lambda p: (p.last_activity_at, p.id),
        "similarity": lambda p: (p.id,),
    }

    def build() -> list[Project]:
        rows = _filters(req, _visible_projects(req))
        rows.sort(key=keys[order_by], reverse=sort == "desc")
        return rows

    rows = cached_rows(req, "projects", build)
    c = ctx(req)
    simple = req.caller is None or req.flag("simple")

    def render(p: Project) -> ent.Json:
        return basic_project(p, c) if simple else project_with_access(p, c, permissions(req, p))

    if req.text("pagination") == "keyset":
        if order_by != "id":
            raise ApiError(405, KEYSET_405)
        base, params = link_base(req)
        try:
            items, headers = keyset_by_id(
                rows,
                params,
                base,
                lambda p: p.id,
                next_when_nonempty=req.profile.keyset_next_when_nonempty,
                header_names=req.profile.keyset_link_headers,
            )
        except PaginationError as exc:
            raise ApiError(exc.status, exc.body) from None
        return Response(200, [render(p) for p in items], headers)
    if req.profile.projects_offset_cap:
        try:
            check_offset_cap(req.params, "Project")
        except PaginationError as exc:
            raise ApiError(exc.status, exc.body) from None
    return paginated(req, rows, render)


def get_project(req: Request) -> Response:
    """GET /projects/:id: the full entity with permissions (BasicProjectDetails if anonymous)."""
    p = find_project(req)
    c = ctx(req)
    if req.caller is None:
        return Response(200, basic_project(p, c))
    return Response(200, project_with_access(p, c, permissions(req, p)))


def project_groups(req: Request) -> Response:
    """GET /projects/:id/groups: ancestors plus shared groups (docs/project-groups.md).

    Parameters are validated as Grape does (``bridge.testing.sim.grape``), in the order
    ``lib/api/projects.rb`` declares them, before the project is looked up.
    """
    declared = Declared(req.params)
    search = declared.string("search")
    skip = declared.integer_array("skip_groups", comma_separated=req.profile.skip_groups_csv)
    with_shared = declared.boolean("with_shared")
    shared_visible_only = False  # undeclared before ~13.12: ignored, not validated
    if req.profile.shared_visible_only:
        shared_visible_only = declared.boolean("shared_visible_only")
    level = declared.integer(
        "shared_min_access_level", values=req.profile.shared_min_access_levels()
    )
    declared.pagination(zero_per_page_refused=req.profile.per_page_zero_refused)
    declared.check()
    project = find_project(req)
    ids = access.project_groups(
        req.snap,
        project,
        caller=req.caller,
        with_shared=with_shared,
        shared_min_access_level=level,
        shared_visible_only=shared_visible_only,
        skip_groups=skip,
        search=search if present(search) else None,  # groups.search(...) if search.present?
    )
    c = ctx(req)
    return paginated(req, ids, lambda gid: ent.public_group(req.snap.groups[gid], c))


ROUTES = [
    route("GET", "/projects", list_projects, defaults=PROJECT_LIST_DEFAULTS),
    route(
        "GET",
        "/projects/:id/groups",
        project_groups,
        enabled=lambda p: p.project_groups_route,
        defaults={"shared_visible_only": "false", "with_shared": "false"},
    ),
    route(
        "GET", "/projects/:id", get_project, defaults={"license": "false", "statistics": "false"}
    ),
]
