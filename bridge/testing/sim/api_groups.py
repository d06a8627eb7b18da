"""``/groups``, ``/groups/:id``, ``/groups/:id/subgroups`` and ``/descendant_groups``."""

from __future__ import annotations

from collections.abc import Iterable

from bridge.testing.sim import access
from bridge.testing.sim import entities as ent
from bridge.testing.sim.api import ctx, find_group, link_base, paginated, route
from bridge.testing.sim.entities_projects import project_with_access
from bridge.testing.sim.http import ApiError, Request, Response
from bridge.testing.sim.pagination import PaginationError, check_offset_cap, keyset_by_cursor
from bridge.testing.sim.rows import Group, Project

_ORDERS = ("name", "path", "id", "similarity")
GROUP_LIST_DEFAULTS = {
    "order_by": "name",
    "owned": "false",
    "sort": "asc",
    "statistics": "false",
    "with_custom_attributes": "false",
}


def _visible(req: Request, candidates: Iterable[Group]) -> list[Group]:
    """GroupsFinder: admins see all; others public/internal (all_available) plus their groups."""
    snap, caller = req.snap, req.caller
    all_available = req.flag("all_available", default=req.is_admin or caller is None)
    if req.is_admin and all_available:
        return list(candidates)
    own = access.access_for(snap, caller).readable_groups if caller else frozenset()
    out = []
    for g in candidates:
        public_to_user = g.visibility == "public" or (
            g.visibility == "internal" and caller is not None and not caller.external
        )
        if g.id in own or (all_available and public_to_user):
            out.append(g)
    return out


def _filtered(req: Request, groups: list[Group]) -> list[Group]:
    snap = req.snap
    skip = set(req.int_list("skip_groups", csv=req.profile.skip_groups_csv))
    if skip:
        groups = [g for g in groups if g.id not in skip]
    if req.flag("top_level_only"):
        groups = [g for g in groups if g.parent_id is None]
    visibility = req.choice("visibility", ("public", "internal", "private"), "")
    if visibility:
        groups = [g for g in groups if g.visibility == visibility]
    search = req.text("search")
    if search:
        groups = [g for g in groups if access.fuzzy_match(search, g.name, g.path)]
    min_level = req.integer("min_access_level", req.profile.shared_min_access_levels())
    owned = req.flag("owned")
    if (min_level or owned) and req.caller is not None:
        levels = access.access_for(snap, req.caller).groups
        floor = 50 if owned else (min_level or 0)
        groups = [g for g in groups if levels.get(g.id, 0) >= floor]
    elif min_level or owned:
        groups = []
    return groups


def _ordered(req: Request, groups: list[Group]) -> tuple[list[Group], str]:
    order_by = req.choice("order_by", _ORDERS, "name")
    sort = req.choice("sort", ("asc", "desc"), "asc")
    if order_by == "similarity" and not req.text("search"):
        order_by = "name"
    paths = req.snap.group_full_paths
    keys = {
        "id": lambda g: (g.id,),
        "name": lambda g: (g.name,),
        "path": lambda g: (paths[g.id],),
        "similarity": lambda g: (g.name,),
    }
    groups.sort(key=lambda g: g.id)  # GitLab's tie-break is id ascending in both directions
    groups.sort(key=keys[order_by], reverse=sort == "desc")
    return groups, order_by


def _respond(req: Request, groups: list[Group]) -> Response:
    groups, order_by = _ordered(req, _filtered(req, groups))
    c = ctx(req)
    anonymous_keyset = req.caller is None and req.profile.groups_anonymous_keyset
    if anonymous_keyset and req.text("pagination") == "keyset":
        return _keyset(req, groups, order_by, c)
    if anonymous_keyset:
        try:
            check_offset_cap(req.params, "Group")
        except PaginationError as exc:
            raise ApiError(exc.status, exc.body) from None
    return paginated(req, groups, lambda g: ent.group(g, c))


def _keyset(req: Request, groups: list[Group], order_by: str, c: ent.Ctx) -> Response:
    """Anonymous ``/groups`` keyset (14.3+): ``name`` ascending only."""
    if order_by != "name" or req.text("sort") == "desc":
        raise ApiError(
            405, {"error": "Keyset pagination is not yet available for this type of request"}
        )
    base, params = link_base(req)
    try:
        items, headers = keyset_by_cursor(
            groups,
            params,
            base,
            lambda g: (g.name, g.id),
            lambda g: {"name": g.name, "id": str(g.id)},
            lambda v: (v.get("name", ""), int(v.get("id", "0") or 0)),
        )
    except PaginationError as exc:
        raise ApiError(exc.status, exc.body) from None
    return Response(200, [ent.group(g, c) for g in items], headers)


def list_groups(req: Request) -> Response:
    """GET /groups."""
    return _respond(req, _visible(req, req.snap.groups.values()))


def subgroups(req: Request) -> Response:
    """GET /groups/:id/subgroups: readable children."""
    parent = find_group(req)
    children = [req.snap.groups[g] for g in req.snap.children.get(parent.id, [])]
    return _respond(req, _visible(req, children))


def descendant_groups(req: Request) -> Response:
    """GET /groups/:id/descendant_groups (13.5+): the readable subtree."""
    parent = find_group(req)
    below = [req.snap.groups[g] for g in req.snap.descendant_ids(parent.id)]
    return _respond(req, _visible(req, below))


def get_group(req: Request) -> Response:
    """GET /groups/:id: GroupDetail, with ``shared_with_groups`` the caller can read.

    Before ~14.x ``with_projects=false`` chose the plain Group entity, without shares
    (``with: params[:with_projects] ? Entities::GroupDetail : Entities::Group``).
    """
    g = find_group(req)
    snap, c, era = req.snap, ctx(req), req.profile.era
    with_projects = req.flag("with_projects", default=True)
    body = ent.group(g, c)
    if era < 16 and not with_projects:
        return Response(200, body)
    body["shared_with_groups"] = [
        ent.share_item(link, snap, req.profile)
        for link in snap.links("group", g.id)
        if access.can_read_group(snap, req.caller, link.group_id)
    ]
    levels = access.access_for(snap, req.caller).groups if req.caller else {}
    if req.is_admin or levels.get(g.id, 0) >= 50:
        body["runners_token"] = "GR1348941sim" + str(g.id)
    if era >= 16 and g.parent_id is None:
        body["prevent_sharing_groups_outside_hierarchy"] = False
    if with_projects:
        body["projects"], body["shared_projects"] = _group_projects(req, g)
    if c.ee:
        body.update(shared_runners_minutes_limit=None, extra_shared_runners_minutes_limit=None)
        if era >= 16:
            body.update(prevent_forking_outside_group=None, membership_lock=False)
    return Response(200, body)


def _group_projects(req: Request, g: Group) -> tuple[list[ent.Json], list[ent.Json]]:
    """GroupDetail's ``projects`` and ``shared_projects`` (at most 100 each, readable only)."""
    snap, c = req.snap, ctx(req)
    own = [snap.projects[p] for p in snap.project_ids_in_namespace(g.id)]
    shared = [
        snap.projects[link.shared_id]
        for link in snap.iter_links()
        if link.source_kind == "project" and link.group_id == g.id
    ]

    def render(projects: list[Project]) -> list[ent.Json]:
        readable = [
            p
            for p in projects
            if not p.pending_delete and access.can_read_project(snap, req.caller, p.id)
        ]
        out = []
        for p in sorted(readable, key=lambda p: p.id)[:100]:
            body = project_with_access(p, c, (None, None))
            body.pop("permissions")
            out.append(body)
        return out

    return render(own), render(shared)


ROUTES = [
    route("GET", "/groups", list_groups, defaults=GROUP_LIST_DEFAULTS),
    route("GET", "/groups/:id/subgroups", subgroups, defaults=GROUP_LIST_DEFAULTS),
    route(
        "GET",
        "/groups/:id/descendant_groups",
        descendant_groups,
        enabled=lambda p: p.descendant_groups_route,
        defaults=GROUP_LIST_DEFAULTS,
    ),
    route("GET", "/groups/:id", get_group),
]
