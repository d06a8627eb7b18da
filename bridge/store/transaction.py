"""The one write entry point: a unit of work whose writes commit together or not at all.

Snapshot upserts compare each record with its row: a new row starts at revision 1 with
``updated_at`` = ``created_at`` (``observed_at`` without one, docs/payloads.md#record-timestamps);
a changed row gets revision + 1 and ``updated_at`` = ``observed_at``; an unchanged row is left
alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bridge.errors import StoreError
from bridge.model.changes import ACCESS_REQUEST_RECORD, MEMBER_RECORD, SHARE_RECORD, subject
from bridge.model.ledger import OutboxRow, ResourceState
from bridge.model.records import Group, Member, Project, Share, SourceKind, User
from bridge.store import schema
from bridge.store.convert import Values, flat_values, project_values

log = logging.getLogger(__name__)
CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit

Key = tuple[Any, ...]
# Rows that go with a deleted one: (table, column naming its id, source kind or None).
Cascade = tuple[Table, str, SourceKind | None]


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = sorted(set(ids))
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def dialect_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on this connection's database."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"unsupported state database dialect {name!r}; use SQLite or PostgreSQL")


class Transaction:
    """Writes of one unit of work; obtain it from ``Store.transaction()``."""

    def __init__(self, connection: Connection, now: Callable[[], dt.datetime]) -> None:
        """Wrap an open connection inside a transaction."""
        self._conn = connection
        self._now = now

    # -- users, groups, projects -------------------------------------------------------------

    def upsert_users(self, records: Iterable[User], observed_at: dt.datetime) -> int:
        """Insert new and update changed users; return how many rows were written."""
        return self._upsert_by_id(schema.users, [flat_values(r) for r in records], observed_at)

    def delete_users(self, ids: Iterable[int]) -> int:
        """Delete users and their member rows; return how many users were deleted."""
        cascade: list[Cascade] = [
            (schema.members, "user_id", None),
            (schema.access_requests, "user_id", None),
        ]
        return self._delete_by_id(schema.users, ids, cascade)

    def upsert_groups(self, records: Iterable[Group], observed_at: dt.datetime) -> int:
        """Insert new and update changed groups; return how many rows were written."""
        return self._upsert_by_id(schema.groups, [flat_values(r) for r in records], observed_at)

    def delete_groups(self, ids: Iterable[int]) -> int:
        """Delete groups with their member rows, their shares and the links that invite them."""
        cascade: list[Cascade] = [
            (schema.members, "source_id", "group"),
            (schema.access_requests, "source_id", "group"),
            (schema.shares, "source_id", "group"),
            (schema.shares, "group_id", None),
        ]
        return self._delete_by_id(schema.groups, ids, cascade)

    def upsert_projects(self, records: Iterable[Project], observed_at: dt.datetime) -> int:
        """Upsert projects and replace each one's shares with ``Project.shares``.

        Returns how many project rows were written; share changes do not count.
        """
        projects = list(records)
        written = self._upsert_by_id(
            schema.projects, [project_values(p) for p in projects], observed_at
        )
        links = {p.id: [flat_values(s) for s in p.shares] for p in projects}
        self._replace_links(schema.shares, "project", links, observed_at)
        return written

    def delete_projects(self, ids: Iterable[int]) -> int:
        """Delete projects with their member rows and shares."""
        cascade: list[Cascade] = [
            (schema.members, "source_id", "project"),
            (schema.access_requests, "source_id", "project"),
            (schema.shares, "source_id", "project"),
        ]
        return self._delete_by_id(schema.projects, ids, cascade)

    # -- member rows and shares of one source ---------------------------------------------

    def replace_members(
        self,
        kind: SourceKind,
        source_id: int,
        records: Iterable[Member],
        observed_at: dt.datetime,
    ) -> int:
        """Make ``records`` the direct members of one group or project; others are untouched."""
        return self._replace_source(schema.members, kind, source_id, records, observed_at)

    def replace_access_requests(
        self,
        kind: SourceKind,
        source_id: int,
        records: Iterable[Member],
        observed_at: dt.datetime,
    ) -> int:
        """Make ``records`` the pending access requests of one group or project."""
        return self._replace_source(schema.access_requests, kind, source_id, records, observed_at)

    def replace_shares(
        self,
        kind: SourceKind,
        source_id: int,
        records: Iterable[Share],
        observed_at: dt.datetime,
    ) -> int:
        """Make ``records`` the groups invited into one group or project."""
        return self._replace_source(schema.shares, kind, source_id, records, observed_at)

    # -- bookkeeping and outbox -----------------------------------------------------------

    def set_resource_state(self, state: ResourceState) -> None:
        """Insert or replace the polling state of one resource."""
        values = asdict(state)
        stmt = dialect_insert(self._conn, schema.resource_state).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_=values)
        self._conn.execute(stmt)

    def enqueue(self, rows: Sequence[OutboxRow]) -> int:
        """Queue events; return how many rows were queued.

        A (receiver, idempotency_key) already queued for the same event is skipped: the same
        change detected again. One already taken by a *different* event (another name, subject
        or payload) is never skipped silently: it is logged as an error with both events.
        """
        if not rows:
            return 0
        now = self._now()
        state = {
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
            "enqueued_at": now,
        }
        # X-Gitlab-Event-UUID: random per (event, receiver), fixed from now on (docs/delivery.md).
        values = [{**asdict(row), **state, "gitlab_event_uuid": str(uuid.uuid4())} for row in rows]
        out = schema.outbox
        stmt = dialect_insert(self._conn, out).on_conflict_do_nothing(
            index_elements=["receiver", "idempotency_key"]
        )
        returning = stmt.returning(out.c.receiver, out.c.idempotency_key)
        queued = {tuple(r) for r in self._conn.execute(returning, values).all()}
        skipped = [row for row in rows if (row.receiver, row.idempotency_key) not in queued]
        if skipped:
            self._check_conflicts(skipped)
        return len(queued)

    def _check_conflicts(self, skipped: Sequence[OutboxRow]) -> None:
        out = schema.outbox
        for row in skipped:
            query = select(out.c.id, out.c.event_name, out.c.subject, out.c.payload).where(
                out.c.receiver == row.receiver, out.c.idempotency_key == row.idempotency_key
            )
            held = self._conn.execute(query).first()
            if held is None:
                continue
            if (held.event_name, held.subject, held.payload) == (
                row.event_name,
                row.subject,
                row.payload,
            ):
                log.debug("%s for %s: already queued as row %d", row.event_name, row.receiver,
                          held.id)  # fmt: skip
                continue
            log.error(
                "outbox conflict: Idempotency-Key %s for receiver %s is held by row %d (%s %s); "
                "the event %s %s was NOT queued; report this as a bug",
                row.idempotency_key,
                row.receiver,
                held.id,
                held.event_name,
                held.subject,
                row.event_name,
                row.subject,
            )

    # -- helpers ---------------------------------------------------------------------------

    def _replace_source(
        self,
        table: Table,
        kind: SourceKind,
        source_id: int,
        records: Iterable[Member | Share],
        observed_at: dt.datetime,
    ) -> int:
        values = [_checked(flat_values(r), kind, source_id) for r in records]
        return self._replace_links(table, kind, {source_id: values}, observed_at)

    def _upsert_by_id(self, table: Table, new: list[Values], observed_at: dt.datetime) -> int:
        existing: dict[Key, RowMapping] = {}
        for chunk in _chunks(v["id"] for v in new):
            rows = self._conn.execute(select(table).where(table.c.id.in_(chunk))).mappings()
            existing.update({(row["id"],): row for row in rows})
        return self._merge(table, ("id",), existing, new, observed_at)

    def _replace_links(
        self,
        table: Table,
        kind: SourceKind,
        new_by_source: Mapping[int, list[Values]],
        observed_at: dt.datetime,
    ) -> int:
        keys = tuple(c.name for c in table.primary_key.columns)
        existing: dict[Key, RowMapping] = {}
        for chunk in _chunks(new_by_source):
            query = select(table).where(table.c.source_kind == kind, table.c.source_id.in_(chunk))
            for row in self._conn.execute(query).mappings():
                existing[tuple(row[k] for k in keys)] = row
        new = [values for group in new_by_source.values() for values in group]
        fresh = [v for v in new if tuple(v[k] for k in keys) not in existing]
        revived = self._revisions_of(table, fresh)
        written = self._merge(table, keys, existing, new, observed_at, revived)
        gone = existing.keys() - {tuple(v[k] for k in keys) for v in new}
        for key in gone:
            self._conn.execute(
                delete(table).where(*(table.c[k] == v for k, v in zip(keys, key, strict=True)))
            )
            written += 1
        self._bury(table, [existing[key] for key in gone], observed_at)
        return written

    def _revisions_of(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        """The tombstoned revision of each of these link rows that was removed before."""
        names = [link_subject(table, row) for row in rows]
        found: dict[str, int] = {}
        stones = schema.tombstones
        for start in range(0, len(names), CHUNK):
            query = select(stones.c.subject, stones.c.revision).where(
                stones.c.subject.in_(names[start : start + CHUNK])
            )
            found.update((row.subject, row.revision) for row in self._conn.execute(query))
        return found

    def _bury(self, table: Table, rows: Sequence[RowMapping], at: dt.datetime) -> None:
        """Keep the revision of removed link rows (see ``schema.tombstones``)."""
        if not rows:
            return
        values = [
            {"subject": link_subject(table, row), "revision": row["revision"], "removed_at": at}
            for row in rows
        ]
        stmt = dialect_insert(self._conn, schema.tombstones)
        stmt = stmt.on_conflict_do_update(
            index_elements=["subject"],
            set_={"revision": stmt.excluded.revision, "removed_at": stmt.excluded.removed_at},
        )
        self._conn.execute(stmt, values)

    def _merge(
        self,
        table: Table,
        keys: tuple[str, ...],
        existing: Mapping[Key, RowMapping],
        new: list[Values],
        observed_at: dt.datetime,
        revived: Mapping[str, int] | None = None,
    ) -> int:
        inserts: list[Values] = []
        updated = 0
        for values in new:
            old = existing.get(tuple(values[k] for k in keys))
            if old is None:
                first = values.get("created_at") or observed_at
                # A link row removed before continues from its tombstone's revision.
                revision = 1 + revived.get(link_subject(table, values), 0) if revived else 1
                meta = {"first_seen_at": observed_at, "bridge_updated_at": first}
                inserts.append({**values, **meta, "revision": revision})
            elif any(old[name] != value for name, value in values.items()):
                where = [table.c[k] == old[k] for k in keys]
                meta = {"bridge_updated_at": observed_at, "revision": old["revision"] + 1}
                self._conn.execute(update(table).where(*where).values(**values, **meta))
                updated += 1
        if inserts:
            self._conn.execute(insert(table), inserts)
        return len(inserts) + updated

    def _delete_by_id(
        self,
        table: Table,
        ids: Iterable[int],
        cascade: Sequence[Cascade],
    ) -> int:
        deleted = 0
        for chunk in _chunks(ids):
            for child, column, kind in cascade:
                where: list[ColumnElement[bool]] = [child.c[column].in_(chunk)]
                if kind is not None:
                    where.append(child.c.source_kind == kind)
                self._conn.execute(delete(child).where(*where))
            deleted += self._conn.execute(delete(table).where(table.c.id.in_(chunk))).rowcount
        return deleted


def link_subject(table: Table, row: Mapping[str, Any] | RowMapping) -> str:
    """The subject of a member or share row (``group_member:7:64``), as ``model.changes``."""
    if table is schema.members:
        return subject(MEMBER_RECORD[row["source_kind"]], (row["source_id"], row["user_id"]))
    if table is schema.access_requests:
        record = ACCESS_REQUEST_RECORD[row["source_kind"]]
        return subject(record, (row["source_id"], row["user_id"]))
    return subject(SHARE_RECORD[row["source_kind"]], (row["source_id"], row["group_id"]))


def _checked(values: Values, kind: SourceKind, source_id: int) -> Values:
    if (values["source_kind"], values["source_id"]) != (kind, source_id):
        raise ValueError(
            f"record of {values['source_kind']} {values['source_id']} given for {kind} {source_id}"
        )
    return values
