"""The state store: snapshot reads, bookkeeping reads and the unit of work that writes."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Engine, RowMapping, Select, Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import StoreError
from bridge.model.ledger import OutboxRecord, OutboxStatus, ResourceState, RowMeta
from bridge.model.records import Group, Member, Project, Share, SourceKind, User
from bridge.store import schema
from bridge.store.convert import (
    to_group,
    to_member,
    to_meta,
    to_project,
    to_resource_state,
    to_share,
    to_user,
)
from bridge.store.deliveries import Deliveries
from bridge.store.engine import WRITE_OPTION, describe, make_engine, redact, write_lock
from bridge.store.leader import PollerLease
from bridge.store.migrate import upgrade_engine
from bridge.store.transaction import CHUNK, Transaction
from bridge.store.views import MemberView


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Store:
    """The bridge's state database; open it with ``Store.open(url)``."""

    def __init__(self, engine: Engine, now: Callable[[], dt.datetime]) -> None:
        """Wrap a migrated engine; prefer ``Store.open``."""
        self._engine = engine
        self._now = now
        self.url = redact(engine.url)
        self._lock = write_lock(engine)
        self.deliveries = Deliveries(engine, self.url, now, self._lock)

    @classmethod
    def open(cls, url: str, *, now: Callable[[], dt.datetime] | None = None) -> Store:
        """Connect, refuse a newer schema (SchemaError), and migrate up to head."""
        engine = make_engine(url)
        try:
            upgrade_engine(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, now or _utcnow)

    def poller_lease(self) -> PollerLease:
        """Leadership among daemons sharing this database (see ``bridge.store.leader``)."""
        return PollerLease(self._engine)

    def close(self) -> None:
        """Release every connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        """Use the store as a context manager that closes it."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the store."""
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One unit of work: everything written inside commits together, or nothing does."""
        try:
            with self._lock, self._engine.connect() as plain:
                connection = plain.execution_options(**{WRITE_OPTION: True})
                with connection.begin():
                    yield Transaction(connection, self._now)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"state database {self.url}: write failed: {describe(exc, self._engine.url)}"
            ) from exc

    # -- snapshot reads ------------------------------------------------------------------------

    def users(self) -> dict[int, User]:
        """Every user in the snapshot, by id."""
        return {row["id"]: to_user(row) for row in self._rows(select(schema.users))}

    def groups(self) -> dict[int, Group]:
        """Every group in the snapshot, by id."""
        return {row["id"]: to_group(row) for row in self._rows(select(schema.groups))}

    def projects(self) -> dict[int, Project]:
        """Every project in the snapshot with its shares (ordered by group id), by id."""
        links: defaultdict[int, list[Share]] = defaultdict(list)
        for share in self.shares("project").values():
            links[share.source_id].append(share)
        rows = self._rows(select(schema.projects))
        return {row["id"]: to_project(row, tuple(links[row["id"]])) for row in rows}

    def members(self, kind: SourceKind, source_id: int) -> dict[int, Member]:
        """The direct members of one group or project, by user id."""
        table = schema.members
        query = _links(table, kind).where(table.c.source_id == source_id)
        return {row["user_id"]: to_member(row) for row in self._rows(query)}

    def all_members(self, kind: SourceKind) -> dict[tuple[int, int], Member]:
        """Every direct member row of groups or of projects, by (source id, user id)."""
        rows = self._rows(_links(schema.members, kind))
        return {(row["source_id"], row["user_id"]): to_member(row) for row in rows}

    def shares(self, kind: SourceKind) -> dict[tuple[int, int], Share]:
        """Every share of groups or of projects, by (source id, invited group id)."""
        rows = self._rows(_links(schema.shares, kind))
        return {(row["source_id"], row["group_id"]): to_share(row) for row in rows}

    # -- point reads (targeted re-reads need one source, not the whole snapshot) -------------

    def project(self, project_id: int) -> Project | None:
        """One project with its shares, or None."""
        rows = self._rows(select(schema.projects).where(schema.projects.c.id == project_id))
        if not rows:
            return None
        return to_project(rows[0], tuple(self.shares_of("project", project_id).values()))

    def shares_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], Share]:
        """The shares of one group or project, by (source id, invited group id)."""
        table = schema.shares
        rows = self._rows(_links(table, kind).where(table.c.source_id == source_id))
        return {(row["source_id"], row["group_id"]): to_share(row) for row in rows}

    def shares_meta_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of one source's shares."""
        table = schema.shares
        rows = self._rows(_links(table, kind).where(table.c.source_id == source_id))
        return {(row["source_id"], row["group_id"]): to_meta(row) for row in rows}

    def members_meta_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of one member list, by (source id, user id)."""
        table = schema.members
        rows = self._rows(_links(table, kind).where(table.c.source_id == source_id))
        return {(row["source_id"], row["user_id"]): to_meta(row) for row in rows}

    def memberships_of(self, user_id: int) -> dict[tuple[SourceKind, int], Member]:
        """Every direct membership of one user, by (source kind, source id)."""
        table = schema.members
        rows = self._rows(select(table).where(table.c.user_id == user_id))
        return {(row["source_kind"], row["source_id"]): to_member(row) for row in rows}

    def access_requests_of(self, kind: SourceKind, source_id: int) -> dict[tuple[int, int], Member]:
        """The pending access requests of one group or project, by (source id, user id)."""
        table = schema.access_requests
        rows = self._rows(_links(table, kind).where(table.c.source_id == source_id))
        return {(row["source_id"], row["user_id"]): to_member(row) for row in rows}

    def access_requests_meta_of(
        self, kind: SourceKind, source_id: int
    ) -> dict[tuple[int, int], RowMeta]:
        """Row bookkeeping of one source's access requests, by (source id, user id)."""
        table = schema.access_requests
        rows = self._rows(_links(table, kind).where(table.c.source_id == source_id))
        return {(row["source_id"], row["user_id"]): to_meta(row) for row in rows}

    def all_access_requests(self, kind: SourceKind) -> dict[tuple[int, int], Member]:
        """Every pending access request of groups or of projects, by (source id, user id)."""
        rows = self._rows(_links(schema.access_requests, kind))
        return {(row["source_id"], row["user_id"]): to_member(row) for row in rows}

    def member_view(self, kind: SourceKind) -> MemberView:
        """Member rows read on demand, by (source id, user id) (bridge.store.views)."""
        return MemberView(self, kind)

    def first_seen(self, kind: SourceKind, source_id: int) -> dt.datetime | None:
        """When the bridge first saw a group or project, or None."""
        table = schema.groups if kind == "group" else schema.projects
        rows = self._rows(select(table.c.first_seen_at).where(table.c.id == source_id))
        return rows[0]["first_seen_at"] if rows else None

    def max_id(self, kind: Literal["user", "group", "project"]) -> int:
        """The highest id of users, groups or projects in the snapshot (0 when empty)."""
        table = {"user": schema.users, "group": schema.groups, "project": schema.projects}[kind]
        rows = self._rows(select(func.max(table.c.id).label("top")))
        return int(rows[0]["top"] or 0)

    def metas_of(
        self, kind: Literal["user", "group", "project"], ids: Iterable[int]
    ) -> dict[int, RowMeta]:
        """Row bookkeeping of these users, groups or projects, where they exist."""
        table = {"user": schema.users, "group": schema.groups, "project": schema.projects}[kind]
        wanted, found = sorted(set(ids)), {}
        for start in range(0, len(wanted), CHUNK):
            query = select(table).where(table.c.id.in_(wanted[start : start + CHUNK]))
            found.update({row["id"]: to_meta(row) for row in self._rows(query)})
        return found

    def ids(self, kind: Literal["user", "group", "project"]) -> list[int]:
        """Every id of users, groups or projects in the snapshot, ascending."""
        table = {"user": schema.users, "group": schema.groups, "project": schema.projects}[kind]
        return [row["id"] for row in self._rows(select(table.c.id).order_by(table.c.id))]

    def members_where(
        self, kind: SourceKind, keys: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], Member]:
        """These member rows (source id, user id) where they exist."""
        table, wanted = schema.members, sorted(set(keys))
        found: dict[tuple[int, int], Member] = {}
        for start in range(0, len(wanted), CHUNK):
            sources = {s for s, _ in wanted[start : start + CHUNK]}
            query = _links(table, kind).where(table.c.source_id.in_(sorted(sources)))
            for row in self._rows(query):
                key = (row["source_id"], row["user_id"])
                if key in wanted:
                    found[key] = to_member(row)
        return found

    def members_of_sources(self, kind: SourceKind, source_ids: Iterable[int]) -> list[Member]:
        """Every member row of these groups or projects."""
        table, ids = schema.members, sorted(set(source_ids))
        out: list[Member] = []
        for start in range(0, len(ids), CHUNK):
            query = _links(table, kind).where(table.c.source_id.in_(ids[start : start + CHUNK]))
            out.extend(to_member(row) for row in self._rows(query))
        return out

    # -- row bookkeeping -----------------------------------------------------------------------

    def users_meta(self) -> dict[int, RowMeta]:
        """Revision and derived timestamps of every user row, by id."""
        return {row["id"]: to_meta(row) for row in self._rows(select(schema.users))}

    def groups_meta(self) -> dict[int, RowMeta]:
        """Revision and derived timestamps of every group row, by id."""
        return {row["id"]: to_meta(row) for row in self._rows(select(schema.groups))}

    def projects_meta(self) -> dict[int, RowMeta]:
        """Revision and derived timestamps of every project row, by id."""
        return {row["id"]: to_meta(row) for row in self._rows(select(schema.projects))}

    def members_meta(self, kind: SourceKind) -> dict[tuple[int, int], RowMeta]:
        """Revision and derived timestamps of member rows, by (source id, user id)."""
        rows = self._rows(_links(schema.members, kind))
        return {(row["source_id"], row["user_id"]): to_meta(row) for row in rows}

    def shares_meta(self, kind: SourceKind) -> dict[tuple[int, int], RowMeta]:
        """Revision and derived timestamps of shares, by (source id, invited group id)."""
        rows = self._rows(_links(schema.shares, kind))
        return {(row["source_id"], row["group_id"]): to_meta(row) for row in rows}

    def tombstones(self, subjects: Iterable[str]) -> dict[str, int]:
        """The last revision of each of these member or share subjects that was removed."""
        names = sorted(set(subjects))
        found: dict[str, int] = {}
        stones = schema.tombstones
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            query = select(stones).where(stones.c.subject.in_(chunk))
            found.update({row["subject"]: row["revision"] for row in self._rows(query)})
        return found

    # -- bookkeeping ---------------------------------------------------------------------------

    def resource_states(self) -> list[ResourceState]:
        """Every resource's polling state, by name."""
        table = schema.resource_state
        return [to_resource_state(r) for r in self._rows(select(table).order_by(table.c.name))]

    def resource_state(self, name: str) -> ResourceState | None:
        """The polling state of one resource, None before its first poll."""
        table = schema.resource_state
        rows = self._rows(select(table).where(table.c.name == name))
        return to_resource_state(rows[0]) if rows else None

    def outbox(
        self, *, status: OutboxStatus | None = None, receiver: str | None = None
    ) -> list[OutboxRecord]:
        """Outbox rows in queue order, optionally only one status or receiver."""
        statuses = () if status is None else (status,)
        return self.deliveries.listing(statuses=statuses, receiver=receiver)

    def _rows(self, query: Select[Any]) -> list[RowMapping]:
        try:
            with self._engine.connect() as connection:
                return list(connection.execute(query).mappings())
        except SQLAlchemyError as exc:
            raise StoreError(
                f"state database {self.url}: read failed: {describe(exc, self._engine.url)}"
            ) from exc


def _links(table: Table, kind: SourceKind) -> Select[Any]:
    key = table.c.user_id if "user_id" in table.c else table.c.group_id
    return select(table).where(table.c.source_kind == kind).order_by(table.c.source_id, key)
