"""Routing and shared helpers of the simulated REST API v4.

A route is (method, path template, handler, enabled-for-profile). Templates use ``:id`` for a
numeric id or URL-encoded path, like GitLab's; routes a profile lacks answer GitLab's catch-all
``{"error":"404 Not Found"}``.

Routing follows Grape's ``Router`` as GitLab mounts it (docs/simulator.md#hostile-requests): the
path is normalised first (runs of ``/`` squeezed, trailing ones dropped); HEAD is served by the
GET route; OPTIONS on a known path is answered by the route itself (204 with ``Allow``); a
method the path has no route for falls to GitLab's ``route :any, '*path'`` catch-all, which
Grape prefers to a 405.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

from bridge.testing.sim import access
from bridge.testing.sim.entities import Ctx
from bridge.testing.sim.http import NO_ROUTE, ApiError, Request, Response, not_found
from bridge.testing.sim.pagination import (
    LinkBase,
    PaginationError,
    Params,
    offset_page,
    paging_errors,
    ruby_integer,
    ruby_to_i,
)
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import Group, Project

T = TypeVar("T")
Handler = Callable[[Request], Response]
API_PREFIX = "/api/v4"
ROUTED = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE"})  # PATCH: no route has it
# lib/api/helpers.rb INTEGER_ID_REGEX = /^-?\d+$/: Ruby's ^ and $ are line anchors and its \d
# is ASCII, so any line of ASCII digits makes an id ("1\nfoo" is project 1).
_INTEGER_ID = re.compile(r"^-?[0-9]+$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: ``template`` is how counters and limits name it (``GET /projects/:id``)."""

    method: str
    pattern: tuple[str, ...]
    handler: Handler
    enabled: Callable[[Profile], bool]
    defaults: tuple[tuple[str, str], ...] = ()  # declared defaults GitLab echoes into Link URLs

    @property
    def template(self) -> str:
        """Endpoint name, e.g. ``GET /groups/:id/members/all``."""
        return f"{self.method} /{'/'.join(self.pattern)}"


def route(
    method: str,
    path: str,
    handler: Handler,
    *,
    enabled: Callable[[Profile], bool] = lambda _p: True,
    defaults: dict[str, str] | None = None,
) -> Route:
    """Declare a route from a template like ``/projects/:id/groups``."""
    pattern = tuple(path.strip("/").split("/"))
    return Route(method, pattern, handler, enabled, tuple(sorted((defaults or {}).items())))


def normalize_path(path: str) -> str:
    """Grape's ``Router.normalize_path``: runs of ``/`` squeezed, trailing ones dropped."""
    return "/" + "/".join(part for part in path.split("/") if part)


def match(
    routes: Sequence[Route], method: str, path: str, profile: Profile
) -> tuple[Route, dict[str, str]]:
    """The route for a raw API path (``/api/v4/...``) and its decoded arguments.

    HEAD finds the path's GET route, OPTIONS any of its routes, other methods their own; a
    method the path lacks finds none, as GitLab's catch-all answers it before Grape's 405.
    """
    if method not in ROUTED:
        raise NO_ROUTE
    path = normalize_path(path)
    if not path.startswith(API_PREFIX + "/"):
        raise NO_ROUTE
    segments = path[len(API_PREFIX) + 1 :].split("/")
    wanted = "GET" if method == "HEAD" else method
    for candidate in routes:
        if method != "OPTIONS" and candidate.method != wanted:
            continue
        args = _bind(candidate.pattern, segments)
        if args is None:
            continue
        if not candidate.enabled(profile):
            raise NO_ROUTE
        return candidate, args
    raise NO_ROUTE


def _bind(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """The decoded ``:name`` arguments if ``segments`` fit ``pattern``, else None."""
    if len(pattern) != len(segments):
        return None
    args: dict[str, str] = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith(":"):
            if not got:
                return None
            args[want[1:]] = unquote(got)
        elif want != got:
            return None
    return args


def allow(routes: Sequence[Route], found: Route, profile: Profile) -> str:
    """Grape's ``Allow`` for a path: OPTIONS, its methods as declared, HEAD when GET is one."""
    methods = [r.method for r in routes if r.pattern == found.pattern and r.enabled(profile)]
    if "GET" in methods:
        methods.append("HEAD")
    return ", ".join(dict.fromkeys(["OPTIONS", *methods]))


# -- shared helpers --------------------------------------------------------------------------


def ctx(req: Request) -> Ctx:
    """Serialisation context of a request."""
    return Ctx(req.snap, req.profile, req.external_url, req.caller)


def int_arg(req: Request, name: str) -> int:
    """An integer route argument (``requires :user_id, type: Integer``); 400 when it is none."""
    number = ruby_integer(req.args[name])
    if number is None:
        raise ApiError(400, {"error": f"{name} is invalid"})
    return number


def record_id(ident: str) -> int | None:
    """The id ``find_by(id:)`` looks up for an ``:id`` that matches ``INTEGER_ID_REGEX``
    (Rails casts the string with ``to_i``), or None: then it is a full path."""
    return ruby_to_i(ident) if _INTEGER_ID.search(ident) else None


def find_project(req: Request, ident: str | None = None) -> Project:
    """``find_project!``: by id or full path; unreadable or pending deletion is a 404."""
    ident = ident if ident is not None else req.args["id"]
    snap = req.snap
    pid = record_id(ident)
    if pid is None:
        pid = snap.projects_by_full_path.get(ident.lower())
    project = snap.projects.get(pid) if pid is not None else None
    if project is None or project.pending_delete:
        raise not_found("Project")
    if not access.can_read_project(snap, req.caller, project.id):
        raise not_found("Project")
    return project


def find_group(req: Request, ident: str | None = None) -> Group:
    """``find_group!``: by id or full path; unreadable is a 404."""
    ident = ident if ident is not None else req.args["id"]
    snap = req.snap
    gid = record_id(ident)
    if gid is None:
        gid = snap.groups_by_full_path.get(ident.lower())
    group = snap.groups.get(gid) if gid is not None else None
    if group is None or not access.can_read_group(snap, req.caller, group.id):
        raise not_found("Group")
    return group


def require_user(req: Request) -> None:
    """``authenticate!``: 401 for anonymous callers."""
    if req.caller is None:
        raise ApiError(401, {"message": "401 Unauthorized"})


def forbidden(req: Request, reason: str | None = None) -> ApiError:
    """``forbidden!(reason)``; 12.x joined the reason with two spaces."""
    if reason is None:
        return ApiError(403, {"message": "403 Forbidden"})
    sep = "  - " if req.profile.era == 12 else " - "
    return ApiError(403, {"message": f"403 Forbidden{sep}{reason}"})


_PAGING = frozenset({"page", "per_page", "cursor", "pagination"})
_KEYSET_BOUNDS = frozenset({"id_after", "id_before"})  # filters in offset mode, bounds in keyset


def cached_rows(req: Request, kind: str, build: Callable[[], list[T]]) -> list[T]:
    """A filtered, ordered listing, computed once per snapshot, caller and non-paging params.

    Crawls ask for the same list page after page; rebuilding it per page would make the
    simulator's own cost grow with the dataset instead of the page.
    """
    keyset = req.params.get("pagination") == "keyset"
    skip = _PAGING | _KEYSET_BOUNDS if keyset else _PAGING
    params = tuple(sorted((k, str(v)) for k, v in req.params.items() if k not in skip))
    key = (kind, req.caller.id if req.caller else None, params, keyset)
    rows = req.snap.cache.get(key)
    if rows is None:
        rows = build()
        with req.snap.cache_lock:
            if len(req.snap.cache) > 10_000:
                req.snap.cache.clear()
            req.snap.cache[key] = rows
    return rows


def link_base(req: Request) -> tuple[LinkBase, Params]:
    """Link target and the params GitLab echoes: declared defaults, route args, the query."""
    params: Params = dict(req.link_defaults)
    params.update(req.args)
    params.update(req.params)
    return LinkBase(req.external_url, req.path), params


def check_paging(req: Request) -> None:
    """Grape's 400 for ``page``/``per_page`` when the endpoint declares nothing else."""
    errors = paging_errors(req.params, zero_per_page_refused=req.profile.per_page_zero_refused)
    if errors:
        raise ApiError(400, {"error": ", ".join(errors)})


def paginated(req: Request, rows: Sequence[T], render: Callable[[T], Any]) -> Response:
    """An offset-paginated JSON list."""
    check_paging(req)
    base, params = link_base(req)
    try:
        items, headers = offset_page(rows, params, base, count_limit=req.count_limit)
    except PaginationError as exc:
        raise ApiError(exc.status, exc.body) from None
    return Response(200, [render(item) for item in items], headers)
