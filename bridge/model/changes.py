"""What the differ finds: one record per real change between two snapshots.

A ``Change`` carries the record before (``old``) and after (``new``): ``added`` has only ``new``,
``removed`` only ``old``, ``changed`` both. ``key`` identifies the subject by GitLab ids, never
paths: ``(id,)`` for users, groups and projects; ``(source_id, user_id)`` for members;
``(source_id, group_id)`` for shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from bridge.model.records import Group, Member, Project, Share, User

Resource = Literal[
    "user", "group", "project", "group_member", "project_member", "group_share", "project_share"
]
ChangeKind = Literal["added", "changed", "removed"]
R = TypeVar("R", User, Group, Project, Member, Share)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change(Generic[R]):
    """One added, changed or removed record."""

    resource: Resource
    kind: ChangeKind
    key: tuple[int, ...]
    old: R | None
    new: R | None

    def __post_init__(self) -> None:
        expected = {"added": (False, True), "removed": (True, False), "changed": (True, True)}
        if (self.old is not None, self.new is not None) != expected[self.kind]:
            raise ValueError(f"{self.kind} {self.resource} {self.key}: old/new do not fit the kind")

    @property
    def subject(self) -> str:
        """Stable subject name, e.g. ``group_member:7:64`` (delivery orders per subject)."""
        return ":".join((self.resource, *map(str, self.key)))
