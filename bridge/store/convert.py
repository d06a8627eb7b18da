"""Model records to column values and back; nothing else crosses the store's boundary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from bridge.model.ledger import OutboxRecord, ResourceState, RowMeta
from bridge.model.records import Group, Member, Namespace, Project, Share, User

Values = dict[str, Any]

_FLAT = (User, Group, Member, Share)
_PROJECT_SCALARS = tuple(
    f.name for f in fields(Project) if f.name not in {"namespace", "topics", "shares"}
)


def flat_values(record: User | Group | Member | Share) -> Values:
    """Column values of a record whose fields map one to one onto columns."""
    assert isinstance(record, _FLAT)
    return {f.name: getattr(record, f.name) for f in fields(record)}


def project_values(project: Project) -> Values:
    """Column values of a project; its shares go to the shares table."""
    values: Values = {name: getattr(project, name) for name in _PROJECT_SCALARS}
    ns = project.namespace
    values.update(
        namespace_id=ns.id,
        namespace_name=ns.name,
        namespace_path=ns.path,
        namespace_kind=ns.kind,
        namespace_full_path=ns.full_path,
        namespace_parent_id=ns.parent_id,
        topics=json.dumps(list(project.topics), ensure_ascii=False),
    )
    return values


def _pick(row: Mapping[Any, Any], cls: type) -> Values:
    return {f.name: row[f.name] for f in fields(cls)}


def to_user(row: Mapping[Any, Any]) -> User:
    """A User from its row."""
    return User(**_pick(row, User))


def to_group(row: Mapping[Any, Any]) -> Group:
    """A Group from its row."""
    return Group(**_pick(row, Group))


def to_member(row: Mapping[Any, Any]) -> Member:
    """A Member from its row."""
    return Member(**_pick(row, Member))


def to_share(row: Mapping[Any, Any]) -> Share:
    """A Share from its row."""
    return Share(**_pick(row, Share))


def to_project(row: Mapping[Any, Any], shares: tuple[Share, ...]) -> Project:
    """A Project from its row and its shares (ordered by group id)."""
    namespace = Namespace(
        id=row["namespace_id"],
        name=row["namespace_name"],
        path=row["namespace_path"],
        kind=row["namespace_kind"],
        full_path=row["namespace_full_path"],
        parent_id=row["namespace_parent_id"],
    )
    values = {name: row[name] for name in _PROJECT_SCALARS}
    topics = tuple(json.loads(row["topics"]))
    return Project(**values, namespace=namespace, topics=topics, shares=shares)


def to_meta(row: Mapping[Any, Any]) -> RowMeta:
    """The bookkeeping of a snapshot row."""
    return RowMeta(
        first_seen_at=row["first_seen_at"],
        updated_at=row["bridge_updated_at"],
        revision=row["revision"],
    )


def to_outbox(row: Mapping[Any, Any]) -> OutboxRecord:
    """An OutboxRecord from its row."""
    return OutboxRecord(**_pick(row, OutboxRecord))


def to_resource_state(row: Mapping[Any, Any]) -> ResourceState:
    """A ResourceState from its row."""
    return ResourceState(**_pick(row, ResourceState))
