"""What the differ finds: one record per real change, and the one function that names a subject.

A ``Change`` carries the record before (``old``) and after (``new``): ``added`` has only ``new``,
``removed`` only ``old``, ``changed`` both. ``key`` identifies the subject by GitLab ids, never
paths: ``(id,)`` for users, groups and projects; ``(source_id, user_id)`` for members and
access requests; ``(source_id, group_id)`` for shares. The store keys the same rows by ``id`` or
by the pair.

``subject`` turns (record kind, key) into the string every event id, Idempotency-Key and
per-subject delivery order derives from (docs/events.md#event-identity). Every caller, the differ
and the sync engine alike, goes through it, so the two can never spell a subject differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from bridge.model.ledger import RowMeta
from bridge.model.records import Group, Member, Project, Share, SourceKind, User

RecordKind = Literal[
    "user",
    "group",
    "project",
    "group_member",
    "project_member",
    "group_share",
    "project_share",
    "group_access_request",
    "project_access_request",
]
ChangeKind = Literal["added", "changed", "removed"]
Key = tuple[int, ...]  # a change's key: (id,) or (source_id, other_id)
SnapshotKey = int | tuple[int, int]  # the store's key of the same row: id or the pair
R = TypeVar("R", User, Group, Project, Member, Share)
T = TypeVar("T")
K = TypeVar("K", int, tuple[int, int])

MEMBER_RECORD: Final[Mapping[SourceKind, RecordKind]] = {
    "group": "group_member",
    "project": "project_member",
}
SHARE_RECORD: Final[Mapping[SourceKind, RecordKind]] = {
    "group": "group_share",
    "project": "project_share",
}
# Pending access requests: Member records of the requested level (``poll.access_requests``).
ACCESS_REQUEST_RECORD: Final[Mapping[SourceKind, RecordKind]] = {
    "group": "group_access_request",
    "project": "project_access_request",
}
# Records whose key can come back after a removal (GitLab never reuses a user, group or
# project id): their revisions outlive the row (the store's tombstones).
LINK_RECORDS: Final[frozenset[RecordKind]] = frozenset(
    (*MEMBER_RECORD.values(), *SHARE_RECORD.values(), *ACCESS_REQUEST_RECORD.values())
)


def change_key(key: SnapshotKey) -> Key:
    """A store key as a change key: ``7`` -> ``(7,)``, ``(7, 64)`` stays."""
    return (key,) if isinstance(key, int) else key


def snapshot_key(key: Key) -> SnapshotKey:
    """A change key as the store's key: the inverse of ``change_key``."""
    if len(key) == 1:
        return key[0]
    if len(key) == 2:
        return key[0], key[1]
    raise ValueError(f"change key {key} has neither one nor two ids")


def subject(record: RecordKind, key: SnapshotKey) -> str:
    """The subject of a row: ``user:58``, ``group_member:7:64``, ``project_share:3:9``."""
    return ":".join((record, *map(str, change_key(key))))


def subjects(record: RecordKind, metas: Mapping[K, RowMeta]) -> dict[str, RowMeta]:
    """The store's row bookkeeping of one record kind, by subject."""
    return {subject(record, key): meta for key, meta in metas.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Change(Generic[R]):
    """One added, changed or removed record of kind ``record``."""

    record: RecordKind
    kind: ChangeKind
    key: Key
    old: R | None
    new: R | None

    def __post_init__(self) -> None:
        expected = {"added": (False, True), "removed": (True, False), "changed": (True, True)}
        if (self.old is not None, self.new is not None) != expected[self.kind]:
            raise ValueError(f"{self.kind} {self.record} {self.key}: old/new do not fit the kind")

    @property
    def subject(self) -> str:
        """This change's subject (see ``subject``)."""
        return subject(self.record, snapshot_key(self.key))


@dataclass(frozen=True, slots=True, kw_only=True)
class Sides(Generic[T]):
    """One thing as it was before a change (``old``) and after it (``new``).

    Creates and updates use the new side, destroys and removals the old one
    (docs/events.md#fan-out); naming the sides keeps them from being swapped.
    """

    old: T
    new: T

    def of(self, kind: ChangeKind) -> T:
        """The side a change of ``kind`` is described with: old for removals, else new."""
        return self.old if kind == "removed" else self.new
