"""The unit of work, the outbox and resource state."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from bridge.errors import StoreError
from bridge.model.ledger import OutboxRecord, ResourceState
from bridge.store import Store
from tests.store.factories import T0, T1, T2, member, outbox_row, user


def _nothing_written(store: Store) -> None:
    assert store.users() == {}
    assert store.all_members("group") == {}
    assert store.outbox() == []
    assert store.resource_state("users") is None


def test_exception_inside_the_transaction_writes_nothing(store: Store) -> None:
    """An exception in the block rolls back snapshot rows, outbox rows and resource state."""

    def work() -> None:
        with store.transaction() as tx:
            tx.upsert_users([user(1)], T1)
            tx.replace_members("group", 4, [member("group", 4, 1)], T1)
            tx.enqueue([outbox_row(1)])
            tx.set_resource_state(ResourceState(name="users", baseline_at=T1))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        work()
    _nothing_written(store)


def test_constraint_failure_midway_writes_nothing(store: Store) -> None:
    """A database error after earlier writes is a StoreError and leaves nothing behind."""

    def work() -> None:
        with store.transaction() as tx:
            tx.enqueue([outbox_row(1)])
            tx.set_resource_state(ResourceState(name="users", baseline_at=T1))
            tx.upsert_users([user(1), user(1)], T1)  # the same primary key twice

    with pytest.raises(StoreError) as info:
        work()
    assert isinstance(info.value.__cause__, IntegrityError)
    assert "write failed" in str(info.value)
    _nothing_written(store)


def test_enqueue_stores_rows_as_pending(store: Store) -> None:
    """Queued rows are pending, due now, with the exact payload text."""
    row = outbox_row(1)
    with store.transaction() as tx:
        assert tx.enqueue([row]) == 1
    [record] = store.outbox()
    assert record == OutboxRecord(
        id=record.id,
        event_uuid=row.event_uuid,
        receiver="system",
        hook="System Hook",
        event_name="user_create",
        subject="user:1",
        payload='{"event_name":"user_create","name":"Zoë","user_id":1}',
        idempotency_key="key-1",
        status="pending",
        attempts=0,
        next_attempt_at=T0,
        last_error=None,
        created_at=T0,
        updated_at=T0,
        delivered_at=None,
        gitlab_event_uuid=record.gitlab_event_uuid,  # random (checked in the deliveries suite)
        enqueued_at=T0,
    )


def test_enqueue_ignores_duplicates_per_receiver(store: Store) -> None:
    """The same (receiver, idempotency key) is queued once; other receivers get their own row."""
    with store.transaction() as tx:
        assert tx.enqueue([outbox_row(1), outbox_row(1, receiver="group-7")]) == 2
    with store.transaction() as tx:
        assert tx.enqueue([outbox_row(1, payload="{}"), outbox_row(2), outbox_row(2)]) == 1
    rows = store.outbox()
    assert [(r.receiver, r.idempotency_key) for r in rows] == [
        ("system", "key-1"),
        ("group-7", "key-1"),
        ("system", "key-2"),
    ]
    assert rows[0].payload.startswith('{"event_name"')
    assert [r.idempotency_key for r in store.outbox(receiver="group-7")] == ["key-1"]


def test_resource_state_round_trips_and_is_replaced(store: Store) -> None:
    """Resource state is stored whole and replaced by the next write."""
    assert store.resource_state("members:group:42") is None
    state = ResourceState(
        name="members:group:42",
        baseline_at=T0,
        last_complete_at=T1,
        last_attempt_at=T2,
        watermark="2026-11-02T08:30:15Z|17",
        last_requests=12,
        last_error=None,
    )
    with store.transaction() as tx:
        tx.set_resource_state(state)
    assert store.resource_state("members:group:42") == state
    later = ResourceState(name="members:group:42", baseline_at=T0, last_error="HTTP 502 at page 3")
    with store.transaction() as tx:
        tx.set_resource_state(later)
    assert store.resource_state("members:group:42") == later
    assert store.resource_state("users") is None


def test_naive_datetimes_are_refused(store: Store) -> None:
    """A naive datetime cannot be stored: its instant is unknown."""
    with pytest.raises(StoreError, match="naive datetime"), store.transaction() as tx:
        tx.upsert_users([user(1)], dt.datetime(2026, 1, 1))
    assert store.users() == {}
