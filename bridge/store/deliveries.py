"""The delivery side of the store: claim due rows, record attempts, circuit state, operator views.

Claims are leases (``claimed_until``): a worker that dies mid-attempt leaves a row that becomes
claimable again when its lease runs out, so an event is sent at least once, never lost.
Ordering (docs/delivery.md#ordering): a receiver's rows go in queue order, and a row awaiting a
retry holds back only the later rows with the same subject.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import StoreError
from bridge.model.ledger import (
    WAITING,
    DeliveryAttempt,
    OutboxRecord,
    OutboxStatus,
    ReceiverState,
)
from bridge.store import schema
from bridge.store.convert import to_outbox
from bridge.store.engine import WRITE_OPTION, describe
from bridge.store.transaction import dialect_insert

_OUT = schema.outbox
_ATT = schema.delivery_attempts
_REC = schema.receivers


class Deliveries:
    """Delivery reads and writes; obtain it as ``store.deliveries``."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        now: Callable[[], dt.datetime],
        lock: AbstractContextManager[object],
    ) -> None:
        """Share the store's engine and write lock; ``url`` is the redacted one for messages."""
        self._engine, self._url, self._now, self._lock = engine, url, now, lock

    # -- the worker ------------------------------------------------------------------------

    def receivers_waiting(self, now: dt.datetime) -> list[str]:
        """Receivers with at least one row due now."""
        query = (
            select(_OUT.c.receiver)
            .where(_OUT.c.status.in_(WAITING), _OUT.c.next_attempt_at <= now)
            .distinct()
            .order_by(_OUT.c.receiver)
        )
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def due(self, receiver: str, now: dt.datetime, limit: int) -> list[OutboxRecord]:
        """The receiver's rows that may be attempted now, in queue order.

        A row is due when it waits, its time has come, nobody holds a live lease on it, and no
        earlier row with the same subject still waits (that one must go first).
        """
        earlier = _OUT.alias("earlier")
        blocked = (
            select(earlier.c.id)
            .where(
                earlier.c.receiver == _OUT.c.receiver,
                earlier.c.subject == _OUT.c.subject,
                earlier.c.id < _OUT.c.id,
                earlier.c.status.in_(WAITING),
            )
            .exists()
        )
        query = (
            select(_OUT)
            .where(
                _OUT.c.receiver == receiver,
                _OUT.c.status.in_(WAITING),
                _OUT.c.next_attempt_at <= now,
                _unclaimed(now),
                ~blocked,
            )
            .order_by(_OUT.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [to_outbox(r) for r in conn.execute(query).mappings()]

    def claim(self, row_id: int, owner: str, until: dt.datetime, now: dt.datetime) -> bool:
        """Lease one waiting row to ``owner``; False if it is taken or no longer waiting."""
        stmt = (
            update(_OUT)
            .where(_OUT.c.id == row_id, _OUT.c.status.in_(WAITING), _unclaimed(now))
            .values(claimed_until=until, claimed_by=owner)
        )
        with self._write() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def release(self, row_ids: Iterable[int], owner: str) -> None:
        """Give leases back unattempted (on shutdown), so another worker need not wait."""
        ids = list(row_ids)
        if ids:
            stmt = (
                update(_OUT)
                .where(_OUT.c.id.in_(ids), _OUT.c.claimed_by == owner)
                .values(claimed_until=None, claimed_by=None)
            )
            with self._write() as conn:
                conn.execute(stmt)

    def finish(
        self,
        attempt: DeliveryAttempt,
        *,
        status: OutboxStatus,
        next_attempt_at: dt.datetime | None,
        error: str | None,
        receiver: ReceiverState | None,
    ) -> None:
        """Record one attempt, the row's new state and (if it changed) the receiver's circuit."""
        now = self._now()
        values: dict[str, Any] = {
            "status": status,
            "attempts": _OUT.c.attempts + 1,
            "last_error": error,
            "last_status_code": attempt.status_code,
            "updated_at": now,
            "claimed_until": None,
            "claimed_by": None,
            "delivered_at": now if status == "delivered" else None,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self._write() as conn:
            conn.execute(insert(_ATT).values(asdict(attempt)))
            result = conn.execute(update(_OUT).where(_OUT.c.id == attempt.outbox_id).values(values))
            if result.rowcount != 1:
                raise StoreError(f"outbox row {attempt.outbox_id} does not exist")
            if receiver is not None:
                _save_receiver(conn, receiver, now)

    def expire(self, receiver: str, cutoff: dt.datetime, reason: str) -> int:
        """Waiting rows of ``receiver`` enqueued at or before ``cutoff`` become dead letters."""
        stmt = (
            update(_OUT)
            .where(
                _OUT.c.receiver == receiver,
                _OUT.c.status.in_(WAITING),
                _OUT.c.enqueued_at <= cutoff,
                _unclaimed(self._now()),
            )
            .values(status="dead", last_error=reason, updated_at=self._now())
        )
        with self._write() as conn:
            return int(conn.execute(stmt).rowcount)

    def receiver_state(self, name: str) -> ReceiverState:
        """The receiver's circuit breaker (closed with no failures if never recorded)."""
        with self._read() as conn:
            row = conn.execute(select(_REC).where(_REC.c.name == name)).mappings().first()
        return ReceiverState(name=name) if row is None else ReceiverState(**dict(row))

    def receiver_states(self) -> list[ReceiverState]:
        """Every recorded receiver state, by name."""
        with self._read() as conn:
            rows = conn.execute(select(_REC).order_by(_REC.c.name)).mappings()
            return [ReceiverState(**dict(r)) for r in rows]

    def save_receiver(self, state: ReceiverState) -> None:
        """Store a receiver's circuit state on its own."""
        with self._write() as conn:
            _save_receiver(conn, state, self._now())

    # -- operator views --------------------------------------------------------------------

    def get(self, row_id: int) -> OutboxRecord | None:
        """One outbox row."""
        with self._read() as conn:
            row = conn.execute(select(_OUT).where(_OUT.c.id == row_id)).mappings().first()
        return None if row is None else to_outbox(row)

    def attempts(self, row_id: int) -> list[DeliveryAttempt]:
        """Every attempt of one row, oldest first."""
        query = select(_ATT).where(_ATT.c.outbox_id == row_id).order_by(_ATT.c.id)
        with self._read() as conn:
            return [
                DeliveryAttempt(**{k: v for k, v in r.items() if k != "id"})
                for r in conn.execute(query).mappings()
            ]

    def listing(
        self,
        *,
        statuses: Sequence[OutboxStatus] = (),
        receiver: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxRecord]:
        """Rows in queue order, filtered by status and receiver."""
        query = select(_OUT).order_by(_OUT.c.id)
        if statuses:
            query = query.where(_OUT.c.status.in_(statuses))
        if receiver is not None:
            query = query.where(_OUT.c.receiver == receiver)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [to_outbox(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, dict[str, int]]:
        """Receiver -> status -> number of rows."""
        query = select(_OUT.c.receiver, _OUT.c.status, func.count()).group_by(
            _OUT.c.receiver, _OUT.c.status
        )
        out: dict[str, dict[str, int]] = {}
        with self._read() as conn:
            for receiver, status, count in conn.execute(query):
                out.setdefault(receiver, {})[status] = int(count)
        return out

    def next_due(self) -> dt.datetime | None:
        """When the earliest waiting row becomes due (its lease's end if one is held)."""
        held = _OUT.c.claimed_until
        due = case((held > _OUT.c.next_attempt_at, held), else_=_OUT.c.next_attempt_at)
        query = select(func.min(due)).where(_OUT.c.status.in_(WAITING))
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return _aware(value)

    def oldest_waiting(self) -> dt.datetime | None:
        """When the oldest waiting row was enqueued (for the queue-age metric)."""
        query = select(func.min(_OUT.c.enqueued_at)).where(_OUT.c.status.in_(WAITING))
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return _aware(value)

    def redeliver(self, row_ids: Sequence[int], now: dt.datetime) -> int:
        """Queue rows again with the same body and keys: attempts and the max_age clock reset."""
        if not row_ids:
            return 0
        stmt = (
            update(_OUT)
            .where(_OUT.c.id.in_(list(row_ids)), _OUT.c.claimed_until.is_(None))
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                enqueued_at=now,
                last_error=None,
                delivered_at=None,
                updated_at=now,
            )
        )
        with self._write() as conn:
            return int(conn.execute(stmt).rowcount)

    def last_url(self, row_id: int) -> str | None:
        """The URL of the row's latest attempt (redelivery refuses a changed one)."""
        query = select(_ATT.c.url).where(_ATT.c.outbox_id == row_id).order_by(_ATT.c.id.desc())
        with self._read() as conn:
            return conn.execute(query.limit(1)).scalar()

    def purge(self, cutoff: dt.datetime, statuses: Sequence[OutboxStatus]) -> int:
        """Delete finished rows (and their attempts) last updated before ``cutoff``."""
        done = [s for s in statuses if s not in WAITING]  # waiting rows are never purged
        if not done:
            return 0
        doomed = select(_OUT.c.id).where(_OUT.c.status.in_(done), _OUT.c.updated_at < cutoff)
        with self._write() as conn:
            conn.execute(delete(_ATT).where(_ATT.c.outbox_id.in_(doomed)))
            return int(conn.execute(delete(_OUT).where(_OUT.c.id.in_(doomed))).rowcount)

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(
                f"state database {self._url}: read failed: {describe(exc, self._engine.url)}"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._lock, self._engine.connect() as plain:
                conn = plain.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(
                f"state database {self._url}: write failed: {describe(exc, self._engine.url)}"
            ) from exc


def _unclaimed(now: dt.datetime) -> Any:
    return or_(_OUT.c.claimed_until.is_(None), _OUT.c.claimed_until < now)


def _save_receiver(conn: Connection, state: ReceiverState, now: dt.datetime) -> None:
    values = asdict(state)
    if values["changed_at"] is None:
        values["changed_at"] = now
    stmt = dialect_insert(conn, _REC).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def _aware(value: object) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
