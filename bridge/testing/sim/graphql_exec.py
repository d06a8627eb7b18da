"""Executing a validated operation against a snapshot: results in selection order.

Resolvers follow GitLab's: ``project``/``group`` by full path are ``null`` when unknown or
unreadable (no error); ``projects(ids:)`` lists the readable ones among the ids, by id
descending (``ProjectsFinder``); member connections as ``graphql_members`` picks and orders
them. An argument GitLab's resolver refuses (a bad cursor, a bad global id) is an execution
error: the field becomes ``null`` and ``errors`` gets the message with its location and path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql.language import ast

from bridge.testing.sim import access
from bridge.testing.sim.graphql_conn import Connection, PageError, paginate
from bridge.testing.sim.graphql_doc import Doc, collect, merged_selection, response_key
from bridge.testing.sim.graphql_members import (
    DEFAULT_RELATIONS,
    column_value,
    member_rows,
    order_columns,
)
from bridge.testing.sim.graphql_schema import Schema, is_list, named
from bridge.testing.sim.graphql_validate import location
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import Group, Member, Project, SourceKind, User
from bridge.testing.sim.snapshot import Snapshot

# Gitlab::Access: AccessLevelEnum names per integer value
LEVEL_NAMES = {
    0: "NO_ACCESS",
    5: "MINIMAL_ACCESS",
    10: "GUEST",
    15: "PLANNER",
    20: "REPORTER",
    30: "DEVELOPER",
    40: "MAINTAINER",
    50: "OWNER",
}


@dataclass
class Context:
    """What one query is answered from, and the errors it collects."""

    snap: Snapshot
    profile: Profile
    caller: User | None
    schema: Schema
    doc: Doc
    complexity: dict[str, int]  # queryComplexity's score and limit
    errors: list[dict[str, Any]] = field(default_factory=list)


class FieldError(Exception):
    """A resolver's refusal (``Gitlab::Graphql::Errors::ArgumentError``)."""


def execute(ctx: Context) -> dict[str, Any]:
    """The ``data`` of the operation."""
    return _object(ctx, ctx.doc.operation.selection_set, "Query", None, [])


def _object(
    ctx: Context, selset: ast.SelectionSetNode | None, type_name: str, value: Any, path: list[Any]
) -> dict[str, Any]:
    concrete = _concrete(type_name, value)
    out: dict[str, Any] = {}
    for key, nodes in collect(ctx.doc, ctx.schema, selset, concrete).items():
        name = nodes[0].name.value
        if name == "__typename":
            out[key] = concrete
            continue
        fdef = ctx.schema.field(concrete, name)
        assert fdef is not None  # validated
        try:
            raw = RESOLVERS[(_owner(concrete), name)](ctx, value, ctx.doc.arguments(nodes[0]))
        except FieldError as exc:
            ctx.errors.append(
                {
                    "message": str(exc),
                    "locations": [location(nodes[0])],
                    "path": [*path, response_key(nodes[0])],
                }
            )
            out[key] = None
            continue
        out[key] = _complete(ctx, fdef.type, raw, merged_selection(nodes), [*path, key])
    return out


def _complete(
    ctx: Context, type_ref: str, raw: Any, selset: ast.SelectionSetNode | None, path: list[Any]
) -> Any:
    if raw is None:
        return None
    if is_list(type_ref.removesuffix("!")):
        item = type_ref.removesuffix("!")[1:-1]
        return [_complete(ctx, item, v, selset, [*path, i]) for i, v in enumerate(raw)]
    type_name = named(type_ref)
    kind = ctx.schema.types[type_name].kind
    if kind in ("OBJECT", "INTERFACE"):
        return _object(ctx, selset, type_name, raw, path)
    if isinstance(raw, dt.datetime | dt.date):
        return time_type(raw)
    return raw


def time_type(value: dt.date) -> str:
    """``Types::TimeType.coerce_result``: ``value.iso8601``; seconds and ``Z`` for UTC times,
    ``YYYY-MM-DD`` for a date column such as ``members.expires_at`` [inf]."""
    if isinstance(value, dt.datetime):
        text = value.astimezone(dt.UTC).replace(microsecond=0).isoformat()
        return text.replace("+00:00", "Z")
    return value.isoformat()


def _concrete(type_name: str, value: Any) -> str:
    if type_name == "MemberInterface" and isinstance(value, Member):
        return "ProjectMember" if value.source_kind == "project" else "GroupMember"
    return type_name


def _owner(type_name: str) -> str:
    """Resolver table key: connection and member types share theirs."""
    if type_name.endswith("Connection"):
        return "Connection"
    if type_name.endswith("Edge"):
        return "Edge"
    if type_name in ("ProjectMember", "GroupMember"):
        return "Member"
    if type_name in ("User", "UserCore"):
        return "User"
    return type_name


# -- resolvers ---------------------------------------------------------------------------------

Resolver = Callable[[Context, Any, dict[str, Any]], Any]


def _project(ctx: Context, _obj: Any, args: dict[str, Any]) -> Project | None:
    pid = ctx.snap.projects_by_full_path.get(str(args.get("fullPath", "")).lower())
    return _readable_project(ctx, pid)


def _readable_project(ctx: Context, pid: int | None) -> Project | None:
    project = ctx.snap.projects.get(pid) if pid is not None else None
    if project is None or project.pending_delete:
        return None
    return project if access.can_read_project(ctx.snap, ctx.caller, project.id) else None


def _group(ctx: Context, _obj: Any, args: dict[str, Any]) -> Group | None:
    gid = ctx.snap.groups_by_full_path.get(str(args.get("fullPath", "")).lower())
    if gid is None or not access.can_read_group(ctx.snap, ctx.caller, gid):
        return None
    return ctx.snap.groups[gid]


def parse_gid(value: str, model: str) -> int:
    """``GitlabSchema.parse_gid(gid, expected_type:)`` and its two refusals."""
    prefix, _, rest = str(value).partition("gid://gitlab/")
    klass, _, ident = rest.partition("/")
    if prefix or not klass or not ident.isdigit():
        raise FieldError(f"{value} is not a valid GitLab ID.")
    if klass != model:
        raise FieldError(f"{value} is not a valid ID for {model}.")
    return int(ident)


def _projects(ctx: Context, _obj: Any, args: dict[str, Any]) -> Connection:
    ids = args.get("ids")
    wanted = None if ids is None else {parse_gid(v, "Project") for v in ids}
    rows = [
        p
        for pid in sorted(ctx.snap.projects, reverse=True)
        if (wanted is None or pid in wanted) and (p := _readable_project(ctx, pid)) is not None
    ]
    if args.get("search"):
        term = str(args["search"]).lower()
        rows = [p for p in rows if term in p.name.lower() or term in p.path.lower()]
    return _paged(ctx, rows, args, lambda p: {"id": p.id}, (("id", True),))


def _groups(ctx: Context, _obj: Any, args: dict[str, Any]) -> Connection:
    ids = args.get("ids")
    wanted = None if ids is None else {parse_gid(v, "Group") for v in ids}
    snap = ctx.snap
    rows = [
        snap.groups[gid]
        for gid in sorted(snap.groups, key=lambda g: (snap.groups[g].name.lower(), g))
        if (wanted is None or gid in wanted) and access.can_read_group(snap, ctx.caller, gid)
    ]  # Namespaces::BaseGroupsResolver: sort defaults to name_asc
    return _paged(
        ctx,
        rows,
        args,
        lambda g: {"name": g.name.lower(), "id": g.id},
        (("name", False), ("id", False)),
    )


def _members(kind: SourceKind) -> Resolver:
    def resolve(ctx: Context, source: Project | Group, args: dict[str, Any]) -> Connection:
        relations = tuple(args.get("relations") or DEFAULT_RELATIONS)
        rows = member_rows(ctx.snap, kind, source.id, relations)
        if args.get("search"):
            term = str(args["search"]).lower()
            users = ctx.snap.users
            rows = [m for m in rows if _matches(term, users[m.user_id])]
        columns = order_columns(args.get("sort"))
        return _paged(
            ctx,
            rows,
            args,
            lambda m: {c: column_value(ctx.snap, m, c) for c, _ in columns},
            columns,
        )

    return resolve


def _level(profile: Profile, row: Member) -> int:
    """The row's level as the version shows it: projects had no Owner before ~14.9 (as REST)."""
    if profile.personal_owner_as_maintainer and row.source_kind == "project":
        return min(row.access_level, 40)
    return row.access_level


def _matches(term: str, user: User) -> bool:
    """``Member.search``: the user's name or username contains the term [inf: fuzzy]."""
    return term in user.name.lower() or term in user.username.lower()


def _paged(
    ctx: Context,
    rows: list[Any],
    args: dict[str, Any],
    values: Callable[[Any], dict[str, Any]],
    columns: tuple[tuple[str, bool], ...],
) -> Connection:
    try:
        return paginate(rows, args, values, columns, ctx.schema.default_max_page_size)
    except PageError as exc:
        raise FieldError(str(exc)) from None


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "project"): _project,
    ("Query", "group"): _group,
    ("Query", "projects"): _projects,
    ("Query", "groups"): _groups,
    ("Query", "queryComplexity"): lambda ctx, _o, _a: ctx.complexity,
    ("QueryComplexity", "score"): lambda _c, o, _a: o["score"],
    ("QueryComplexity", "limit"): lambda _c, o, _a: o["limit"],
    ("Project", "id"): lambda _c, o, _a: f"gid://gitlab/Project/{o.id}",
    ("Project", "fullPath"): lambda c, o, _a: c.snap.project_full_path(o),
    ("Project", "name"): lambda _c, o, _a: o.name,
    ("Project", "projectMembers"): _members("project"),
    ("Group", "id"): lambda _c, o, _a: f"gid://gitlab/Group/{o.id}",
    ("Group", "fullPath"): lambda c, o, _a: c.snap.group_full_paths[o.id],
    ("Group", "name"): lambda _c, o, _a: o.name,
    ("Group", "groupMembers"): _members("group"),
    ("Connection", "count"): lambda _c, o, _a: o.total,
    ("Connection", "nodes"): lambda _c, o, _a: o.page,
    ("Connection", "edges"): lambda _c, o, _a: [(o, row) for row in o.page],
    ("Connection", "pageInfo"): lambda _c, o, _a: o,
    ("Edge", "cursor"): lambda _c, o, _a: o[0].cursor(o[1]),
    ("Edge", "node"): lambda _c, o, _a: o[1],
    ("PageInfo", "hasNextPage"): lambda _c, o, _a: o.has_next,
    ("PageInfo", "hasPreviousPage"): lambda _c, o, _a: o.has_previous,
    ("PageInfo", "startCursor"): lambda _c, o, _a: o.cursor(o.page[0]) if o.page else None,
    ("PageInfo", "endCursor"): lambda _c, o, _a: o.cursor(o.page[-1]) if o.page else None,
    ("Member", "id"): lambda _c, o, _a: f"gid://gitlab/{_concrete('MemberInterface', o)}/{o.id}",
    ("Member", "accessLevel"): lambda c, o, _a: _level(c.profile, o),
    ("Member", "createdAt"): lambda _c, o, _a: o.created_at,
    ("Member", "updatedAt"): lambda _c, o, _a: o.updated_at,
    ("Member", "expiresAt"): lambda _c, o, _a: o.expires_at,
    ("Member", "user"): lambda c, o, _a: c.snap.users.get(o.user_id),
    ("Member", "project"): lambda c, o, _a: _readable_project(c, o.source_id),
    ("Member", "group"): lambda c, o, _a: c.snap.groups.get(o.source_id),
    ("AccessLevel", "integerValue"): lambda _c, o, _a: o,
    ("AccessLevel", "stringValue"): lambda _c, o, _a: LEVEL_NAMES.get(o),
    ("User", "id"): lambda _c, o, _a: f"gid://gitlab/User/{o.id}",
    ("User", "username"): lambda _c, o, _a: o.username,
    ("User", "name"): lambda _c, o, _a: o.name,
    ("User", "state"): lambda _c, o, _a: o.state,
}
