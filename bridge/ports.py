"""The ports the use cases depend on: what they need of GitLab, the store and the network.

The sync pass needs a ``Source`` and a ``SnapshotStore``; the deliverer an ``Outbox`` and a
``Sender``. The adapters (``bridge.source``, ``bridge.store``, ``bridge.delivery.sender``)
implement them; tests may pass in-memory fakes where sockets or a database add nothing
(``bridge.testing.fakes``). Pure: this module imports no adapter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol

from bridge.delivery.wire import Answer, HookRequest
from bridge.model.ledger import (
    DeliveryAttempt,
    OutboxRecord,
    OutboxRow,
    OutboxStatus,
    ReceiverState,
    ResourceState,
    RowMeta,
)
from bridge.model.records import Group, Instance, Member, Project, Share, SourceKind, User
from bridge.model.signals import AuditEntry, Capabilities, ChangedBy, Fingerprint, Membership


class Source(Protocol):
    """Reads of one GitLab instance: complete listings or an error, point lookups or None."""

    @property
    def requests_made(self) -> int:
        """Requests sent so far, retries included."""

    @property
    def requests_by_this_thread(self) -> int:
        """Requests the calling thread has sent so far."""

    def check(self, *, needs_admin: bool = True) -> Instance:
        """The instance; an error when the token cannot see what is needed."""

    def users(self) -> tuple[User, ...]:
        """Every user, by id."""

    def groups_and_shares(self) -> tuple[tuple[Group, ...], tuple[Share, ...]]:
        """Every group and every group share."""

    def groups(self) -> tuple[Group, ...]:
        """Every group, without shares (one request per page)."""

    def projects(self) -> tuple[Project, ...]:
        """Every project with its direct shares."""

    def members(self, kind: SourceKind, source_id: int) -> tuple[Member, ...] | None:
        """Direct members of a group or project; None when it is gone."""

    def access_requests(self, kind: SourceKind, source_id: int) -> tuple[Member, ...] | None:
        """Pending access requests of a group or project; None when it is gone."""

    def get_user(self, user_id: int) -> User | None:
        """One user, or None when GitLab answers 404."""

    def get_group(self, group_id: int | str) -> Group | None:
        """One group, or None when GitLab answers 404."""

    def get_project(self, project_id: int) -> Project | None:
        """One project with its shares, or None when GitLab answers 404."""

    def get_member(self, kind: SourceKind, source_id: int, user_id: int) -> Member | None:
        """One direct membership, or None when GitLab answers 404."""

    def group_shares(self, group_id: int) -> tuple[Share, ...] | None:
        """The groups invited into a group; None when the group is gone."""

    @property
    def capabilities(self) -> Capabilities:
        """The change signals this version and token offer."""

    def newest_users(self, after_id: int, per_page: int = 20) -> tuple[User, ...]:
        """Users with id > ``after_id``, ascending; 1 request when none is new."""

    def newest_groups(self, after_id: int, per_page: int = 20) -> tuple[Group, ...]:
        """Groups with id > ``after_id``, ascending; 1 request when none is new."""

    def newest_projects(self, after_id: int, per_page: int = 20) -> tuple[Project, ...]:
        """Projects with id > ``after_id``, ascending, with shares; 1 request when none is new."""

    def changed_projects(
        self, since: dt.datetime, *, by: ChangedBy, per_page: int = 100
    ) -> tuple[Project, ...]:
        """Projects whose ``by`` moved after ``since``; 1 request when none did."""

    def user_memberships(self, user_id: int) -> tuple[Membership, ...] | None:
        """A user's direct memberships; None when the user is gone."""

    def audit_entries(self, since: dt.datetime, after_id: int = 0) -> tuple[AuditEntry, ...]:
        """EE instance audit events since ``since`` with id > ``after_id``, ascending."""

    def probe_audit_events(self) -> bool:
        """Whether GET /audit_events answers this token."""

    def probe_graphql(self) -> bool:
        """Whether GraphQL member reads work here (1 request); off for good if not."""

    def member_fingerprints(
        self, kind: SourceKind, sources: Sequence[tuple[int, str]]
    ) -> dict[int, Fingerprint | None]:
        """Many sources' member fingerprints over GraphQL; None: not answered."""

    def member_lists(
        self, kind: SourceKind, sources: Sequence[tuple[int, str]]
    ) -> dict[int, tuple[Member, ...] | None]:
        """Many sources' direct members over GraphQL; None: read that one over REST."""


class SnapshotWriter(Protocol):
    """One unit of work: snapshot changes, outbox rows and bookkeeping commit together."""

    def upsert_users(self, records: Iterable[User], observed_at: dt.datetime) -> int:
        """Insert or update users."""

    def delete_users(self, ids: Iterable[int]) -> int:
        """Delete users (their member rows go with them)."""

    def upsert_groups(self, records: Iterable[Group], observed_at: dt.datetime) -> int:
        """Insert or update groups."""

    def delete_groups(self, ids: Iterable[int]) -> int:
        """Delete groups (their shares and member rows go with them)."""

    def upsert_projects(self, records: Iterable[Project], observed_at: dt.datetime) -> int:
        """Insert or update projects and their shares."""

    def delete_projects(self, ids: Iterable[int]) -> int:
        """Delete projects (their shares and member rows go with them)."""

    def replace_members(
        self, kind: SourceKind, source_id: int, records: Iterable[Member], observed_at: dt.datetime
    ) -> int:
        """Make one member list exactly ``records``."""

    def replace_access_requests(
        self, kind: SourceKind, source_id: int, records: Iterable[Member], observed_at: dt.datetime
    ) -> int:
        """Make one source's pending access requests exactly ``records``."""

    def replace_shares(
        self, kind: SourceKind, source_id: int, records: Iterable[Share], observed_at: dt.datetime
    ) -> int:
        """Make one source's shares exactly ``records``."""

    def set_resource_state(self, state: ResourceState) -> None:
        """Insert or replace one resource's polling state."""

    def enqueue(self, rows: Sequence[OutboxRow]) -> int:
        """Queue outbox rows; returns how many were new."""


class SnapshotStore(Protocol):
    """The snapshot as the sync pass reads and writes it."""

    def users(self) -> dict[int, User]:
        """Every user, by id."""

    def groups(self) -> dict[int, Group]:
        """Every group, by id."""

    def projects(self) -> dict[int, Project]:
        """Every project with its shares, by id."""

    def shares(self, kind: SourceKind) -> dict[tuple[int, int], Share]:
        """Every share of groups or projects, by (source id, invited group id)."""

    def all_members(self, kind: SourceKind) -> dict[tuple[int, int], Member]:
        """Every direct member row of groups or projects, by (source id, user id)."""

    def users_meta(self) -> dict[int, RowMeta]:
        """Row bookkeeping of users, by id."""

    def groups_meta(self) -> dict[int, RowMeta]:
        """Row bookkeeping of groups, by id."""

    def projects_meta(self) -> dict[int, RowMeta]:
        """Row bookkeeping of projects, by id."""

    def members_meta(self, kind: SourceKind) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of member rows, by (source id, user id)."""

    def shares_meta(self, kind: SourceKind) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of shares, by (source id, invited group id)."""

    def tombstones(self, subjects: Iterable[str]) -> dict[str, int]:
        """The last revision of each of these removed member or share subjects."""

    def project(self, project_id: int) -> Project | None:
        """One project with its shares, or None."""

    def shares_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], Share]:
        """The shares of one group or project."""

    def shares_meta_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of one source's shares."""

    def members_meta_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of one member list."""

    def memberships_of(self, user_id: int) -> dict[tuple[SourceKind, int], Member]:
        """Every direct membership of one user, by (source kind, source id)."""

    def access_requests_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], Member]:
        """One source's pending access requests, by (source id, user id)."""

    def access_requests_meta_of(
        self, kind: SourceKind, source_id: int
    ) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of one source's access requests."""

    def member_view(self, kind: SourceKind) -> Mapping[tuple[int, int], Member]:
        """Member rows read on demand, by (source id, user id)."""

    def first_seen(self, kind: SourceKind, source_id: int) -> dt.datetime | None:
        """When the bridge first saw a group or project, or None."""

    def max_id(self, kind: Literal["user", "group", "project"]) -> int:
        """The highest id of users, groups or projects (0 when empty)."""

    def metas_of(
        self, kind: Literal["user", "group", "project"], ids: Iterable[int]
    ) -> dict[int, RowMeta]:
        """Row bookkeeping of these users, groups or projects, where they exist."""

    def ids(self, kind: Literal["user", "group", "project"]) -> list[int]:
        """Every id of users, groups or projects, ascending."""

    def members(self, kind: SourceKind, source_id: int) -> dict[int, Member]:
        """The direct members of one group or project, by user id."""

    def resource_states(self) -> list[ResourceState]:
        """Every resource's polling state."""

    def transaction(self) -> AbstractContextManager[SnapshotWriter]:
        """One unit of work."""


class Outbox(Protocol):
    """The outbox as the deliverer works it: due rows, leases, attempts and circuits."""

    def receivers_waiting(self, now: dt.datetime) -> list[str]:
        """Receivers with a row due now."""

    def due(self, receiver: str, now: dt.datetime, limit: int) -> list[OutboxRecord]:
        """A receiver's rows that may be attempted now, in queue order."""

    def claim(self, row_id: int, owner: str, until: dt.datetime, now: dt.datetime) -> bool:
        """Lease one row; False when it is taken or no longer waiting."""

    def finish(
        self,
        attempt: DeliveryAttempt,
        *,
        status: OutboxStatus,
        next_attempt_at: dt.datetime | None,
        error: str | None,
        receiver: ReceiverState | None,
    ) -> None:
        """Record one attempt, the row's new state and a changed circuit, together."""

    def expire(self, receiver: str, cutoff: dt.datetime, reason: str) -> int:
        """Waiting rows enqueued at or before ``cutoff`` become dead letters."""

    def receiver_state(self, name: str) -> ReceiverState:
        """A receiver's circuit."""

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per receiver and status."""


class Sender(Protocol):
    """Sends one hook request and reports what came back; never raises for the receiver."""

    def send(self, receiver: str, request: HookRequest) -> Answer:
        """POST once."""

    def close(self) -> None:
        """Release pooled connections."""
