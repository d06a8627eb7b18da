"""The slice of GitLab's GraphQL schema the simulator serves, built per schema era.

Types, fields, arguments and enum values are named as in GitLab (``app/graphql/types/``,
``app/graphql/resolvers/``); which of them exist is decided by a ``SchemaEra``
(docs/simulator.md#graphql). A field carries what GitLab's complexity rules need: whether it
is backed by a resolver class (``Types::BaseField#field_complexity``) and whether it is a
connection.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

from bridge.testing.sim.profiles import Profile

Kind = Literal["OBJECT", "INTERFACE", "ENUM", "SCALAR"]
SCALARS = ("ID", "String", "Int", "Boolean", "Time")


@dataclass(frozen=True, slots=True)
class ArgDef:
    """An argument: ``type`` in GraphQL notation (``[ID!]``, ``String!``)."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A field; ``resolver`` marks a field backed by a resolver class (complexity proc)."""

    name: str
    type: str
    args: tuple[ArgDef, ...] = ()
    resolver: bool = False
    connection: bool = False
    max_page_size: int | None = None  # the field's own, else the schema's default

    def arg(self, name: str) -> ArgDef | None:
        """The argument called ``name``, if the field has it."""
        return next((a for a in self.args if a.name == name), None)


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A named type: fields for objects and interfaces, values for enums."""

    name: str
    kind: Kind
    fields: dict[str, FieldDef] = field(default_factory=dict)
    values: tuple[str, ...] = ()
    possible: tuple[str, ...] = ()  # an interface's implementations


@dataclass(frozen=True, slots=True)
class Schema:
    """The served schema: named types and the schema-wide page size."""

    types: dict[str, TypeDef]
    default_max_page_size: int = 100

    def field(self, type_name: str, name: str) -> FieldDef | None:
        """A field of an object or interface, with ``__typename`` on every composite type."""
        if name == "__typename":
            return TYPENAME
        typedef = self.types.get(type_name)
        return typedef.fields.get(name) if typedef else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaEra:
    """What one GitLab version has of the served slice (from its profile)."""

    member_fields: bool
    relations: bool
    query_complexity: bool
    member_sort: bool
    member_count: bool
    query_groups: bool
    project_relations: tuple[str, ...]  # ProjectMemberRelation (MembersFinder::RELATIONS)
    group_relations: tuple[str, ...]  # GroupMemberRelation (GroupMembersFinder::RELATIONS)
    user_type: str
    user_states: tuple[str, ...]  # UserState
    access_levels: tuple[str, ...]  # AccessLevelEnum

    @classmethod
    def of(cls, profile: Profile) -> SchemaEra:
        """The era of a profile; enum values by version [inf where the docstring says so]."""
        modern = profile.graphql_user_core
        levels = [
            "NO_ACCESS",
            "MINIMAL_ACCESS",
            "GUEST",
            "REPORTER",
            "DEVELOPER",
            "MAINTAINER",
            "OWNER",
        ]
        if profile.planner_role:
            levels.insert(levels.index("REPORTER"), "PLANNER")
        return cls(
            member_fields=profile.graphql_member_fields,
            relations=profile.graphql_member_relations,
            query_complexity=profile.graphql_query_complexity,
            member_sort=profile.graphql_member_sort,
            member_count=profile.graphql_member_count,
            query_groups=profile.graphql_query_groups,
            # SHARED_FROM_GROUPS (MR !66778, ~14.3); SHARED_INTO_ANCESTORS [inf: 17.x]
            project_relations=("DIRECT", "INHERITED", "DESCENDANTS", "INVITED_GROUPS")
            + (("SHARED_INTO_ANCESTORS",) if profile.minor >= (17, 0) else ()),
            group_relations=("DIRECT", "INHERITED", "DESCENDANTS")
            + (("SHARED_FROM_GROUPS",) if modern else ()),
            user_type="UserCore" if modern else "User",
            user_states=("active", "blocked", "deactivated")
            + (("banned", "ldap_blocked", "blocked_pending_approval") if modern else ()),
            access_levels=tuple(levels),
        )


@functools.lru_cache(maxsize=32)
def schema_for(profile: Profile) -> Schema:
    """The schema a profile serves, built once."""
    return build_schema(SchemaEra.of(profile))


TYPENAME = FieldDef("__typename", "String!")
_PAGING = (
    ArgDef("after", "String"),
    ArgDef("before", "String"),
    ArgDef("first", "Int"),
    ArgDef("last", "Int"),
)
_MEMBER_SORTS = (
    "ACCESS_LEVEL_ASC",
    "ACCESS_LEVEL_DESC",
    "USER_FULL_NAME_ASC",
    "USER_FULL_NAME_DESC",
    "updated_desc",
    "updated_asc",
    "created_desc",
    "created_asc",
    "UPDATED_DESC",
    "UPDATED_ASC",
    "CREATED_DESC",
    "CREATED_ASC",
)


def build_schema(era: SchemaEra) -> Schema:
    """The schema of one era."""
    types: dict[str, TypeDef] = {name: TypeDef(name, "SCALAR") for name in SCALARS}
    types["Query"] = _object("Query", _query_fields(era))
    types["Project"] = _object("Project", _source_fields(era, "project"))
    types["Group"] = _object("Group", _source_fields(era, "group"))
    types.update(_connection("Project", era, count=True))
    types.update(_connection("Group", era, count=True))
    if era.member_fields:
        types.update(_member_types(era))
    types["PageInfo"] = _object(
        "PageInfo",
        [
            FieldDef("hasNextPage", "Boolean!"),
            FieldDef("hasPreviousPage", "Boolean!"),
            FieldDef("startCursor", "String"),
            FieldDef("endCursor", "String"),
        ],
    )
    if era.query_complexity:
        types["QueryComplexity"] = _object(
            "QueryComplexity", [FieldDef("limit", "Int"), FieldDef("score", "Int")]
        )
    return Schema(types)


def _object(name: str, fields: list[FieldDef]) -> TypeDef:
    return TypeDef(name, "OBJECT", {f.name: f for f in fields})


def _query_fields(era: SchemaEra) -> list[FieldDef]:
    fields = [
        FieldDef("group", "Group", (ArgDef("fullPath", "ID!"),), resolver=True),
        FieldDef("project", "Project", (ArgDef("fullPath", "ID!"),), resolver=True),
        FieldDef(
            "projects",
            "ProjectConnection",
            (
                *_PAGING,
                ArgDef("ids", "[ID!]"),
                ArgDef("membership", "Boolean"),
                ArgDef("search", "String"),
                ArgDef("sort", "String"),
            ),
            resolver=True,
            connection=True,
        ),
    ]
    if era.query_groups:
        fields.append(
            FieldDef(
                "groups",
                "GroupConnection",
                (*_PAGING, ArgDef("ids", "[ID!]"), ArgDef("search", "String")),
                resolver=True,
                connection=True,
            )
        )
    if era.query_complexity:
        fields.append(FieldDef("queryComplexity", "QueryComplexity"))
    return fields


def _source_fields(era: SchemaEra, kind: str) -> list[FieldDef]:
    fields = [FieldDef("id", "ID!"), FieldDef("fullPath", "ID!"), FieldDef("name", "String!")]
    if not era.member_fields:
        return fields
    args = [*_PAGING, ArgDef("search", "String")]
    if era.relations:
        relation = "ProjectMemberRelation" if kind == "project" else "GroupMemberRelation"
        args.append(ArgDef("relations", f"[{relation}!]"))
    if era.member_sort:
        args.append(ArgDef("sort", "MemberSort"))
    name, type_ = (
        ("projectMembers", "MemberInterfaceConnection")
        if kind == "project"
        else ("groupMembers", "GroupMemberConnection")
    )
    fields.append(FieldDef(name, type_, tuple(args), resolver=True, connection=True))
    return fields


def _connection(node: str, era: SchemaEra, *, count: bool) -> dict[str, TypeDef]:
    fields = [
        FieldDef("edges", f"[{node}Edge]"),
        FieldDef("nodes", f"[{node}]"),
        FieldDef("pageInfo", "PageInfo!"),
    ]
    if count:
        fields.insert(0, FieldDef("count", "Int!"))
    edge = _object(f"{node}Edge", [FieldDef("cursor", "String!"), FieldDef("node", node)])
    return {f"{node}Connection": _object(f"{node}Connection", fields), edge.name: edge}


def _member_types(era: SchemaEra) -> dict[str, TypeDef]:
    common = [
        FieldDef("accessLevel", "AccessLevel"),
        FieldDef("createdAt", "Time"),
        FieldDef("expiresAt", "Time"),
        FieldDef("id", "ID!"),
        FieldDef("updatedAt", "Time"),
        FieldDef("user", era.user_type),
    ]
    types = {
        "MemberInterface": TypeDef(
            "MemberInterface",
            "INTERFACE",
            {f.name: f for f in common},
            possible=("GroupMember", "ProjectMember"),
        ),
        "ProjectMember": _object("ProjectMember", [*common, FieldDef("project", "Project")]),
        "GroupMember": _object("GroupMember", [*common, FieldDef("group", "Group")]),
        "AccessLevel": _object(
            "AccessLevel",
            [FieldDef("integerValue", "Int"), FieldDef("stringValue", "AccessLevelEnum")],
        ),
        "AccessLevelEnum": TypeDef("AccessLevelEnum", "ENUM", values=era.access_levels),
        "MemberSort": TypeDef("MemberSort", "ENUM", values=_MEMBER_SORTS),
        "ProjectMemberRelation": TypeDef(
            "ProjectMemberRelation", "ENUM", values=era.project_relations
        ),
        "GroupMemberRelation": TypeDef("GroupMemberRelation", "ENUM", values=era.group_relations),
        "UserState": TypeDef("UserState", "ENUM", values=era.user_states),
        era.user_type: _object(
            era.user_type,
            [
                FieldDef("id", "ID!"),
                FieldDef("name", "String!"),
                FieldDef("state", "UserState!"),
                FieldDef("username", "String!"),
            ],
        ),
    }
    types.update(_connection("MemberInterface", era, count=era.member_count))
    types.update(_connection("GroupMember", era, count=era.member_count))
    return types


def named(type_ref: str) -> str:
    """The named type inside a reference: ``[ProjectMemberRelation!]`` -> the enum's name."""
    return type_ref.strip("[]!")


def is_list(type_ref: str) -> bool:
    """Whether the reference is a list (nullable or not)."""
    return type_ref.startswith("[")
