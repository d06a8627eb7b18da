"""The delivery side of the store, on SQLite and PostgreSQL: due rows, leases, attempts, views."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.errors import StoreError
from bridge.model.ledger import DeliveryAttempt, ReceiverState
from bridge.store import Store
from tests.store.factories import T0, T2, outbox_row

LATER = T0 + dt.timedelta(minutes=5)


def queue(store: Store, *rows: tuple[int, str, str]) -> list[int]:
    """Queue (n, receiver, subject) rows; their ids in queue order."""
    with store.transaction() as tx:
        tx.enqueue([outbox_row(n, receiver, subject=subject) for n, receiver, subject in rows])
    return [r.id for r in store.deliveries.listing()]


def attempt(row_id: int, outcome: str = "delivered", status: int | None = 200) -> DeliveryAttempt:
    """An attempt record for ``row_id``."""
    return DeliveryAttempt(
        outbox_id=row_id,
        number=1,
        started_at=T0,
        duration_ms=12,
        url="http://r/",
        webhook_uuid="w",
        status_code=status,
        error=None if status == 200 else f"HTTP {status}",
        response_body="ok",
        outcome=outcome,  # type: ignore[arg-type]
    )


def test_enqueue_fixes_wire_fields(store: Store) -> None:
    """A queued row gets a random X-Gitlab-Event-UUID and its max_age clock starts."""
    queue(store, (1, "a", "user:1"), (2, "a", "user:2"))
    rows = store.deliveries.listing()
    assert all(len(r.gitlab_event_uuid) == 36 for r in rows)
    assert rows[0].gitlab_event_uuid != rows[1].gitlab_event_uuid
    assert [r.enqueued_at for r in rows] == [T0, T0]


def test_due_rows_go_in_queue_order_one_per_subject(store: Store) -> None:
    """Only the first waiting row of each subject is due; other receivers are separate."""
    ids = queue(
        store, (1, "a", "user:1"), (2, "a", "user:2"), (3, "a", "user:1"), (4, "b", "user:1")
    )
    assert [r.id for r in store.deliveries.due("a", T0, 10)] == [ids[0], ids[1]]
    assert [r.id for r in store.deliveries.due("b", T0, 10)] == [ids[3]]
    assert store.deliveries.receivers_waiting(T0) == ["a", "b"]


def test_a_row_awaiting_retry_holds_back_only_its_subject(store: Store) -> None:
    """After a failure, the later row of the same subject waits; other subjects proceed."""
    ids = queue(store, (1, "a", "user:1"), (2, "a", "user:1"), (3, "a", "user:2"))
    store.deliveries.finish(
        attempt(ids[0], "retry", 500),
        status="retrying",
        next_attempt_at=LATER,
        error="HTTP 500",
        receiver=ReceiverState(name="a", consecutive_failures=1),
    )
    assert [r.id for r in store.deliveries.due("a", T0, 10)] == [ids[2]]
    assert [r.id for r in store.deliveries.due("a", LATER, 10)] == [ids[0], ids[2]]
    row = store.deliveries.get(ids[0])
    assert row is not None
    assert (row.status, row.attempts, row.last_status_code) == ("retrying", 1, 500)
    assert store.deliveries.receiver_state("a").consecutive_failures == 1


def test_delivered_row_unblocks_the_next_of_its_subject(store: Store) -> None:
    """Once delivered, the next row of the subject becomes due; the attempt is kept."""
    ids = queue(store, (1, "a", "user:1"), (2, "a", "user:1"))
    store.deliveries.finish(
        attempt(ids[0]),
        status="delivered",
        next_attempt_at=None,
        error=None,
        receiver=ReceiverState(name="a"),
    )
    assert [r.id for r in store.deliveries.due("a", T0, 10)] == [ids[1]]
    (kept,) = store.deliveries.attempts(ids[0])
    assert (kept.status_code, kept.response_body, kept.outcome) == (200, "ok", "delivered")
    row = store.deliveries.get(ids[0])
    assert row is not None
    assert (row.status, row.delivered_at) == ("delivered", T0)


def test_a_lease_is_exclusive_until_it_runs_out(store: Store) -> None:
    """A claimed row is not due nor claimable by others until its lease expires."""
    (row_id,) = queue(store, (1, "a", "user:1"))
    assert store.deliveries.claim(row_id, "w1", LATER, T0)
    assert not store.deliveries.claim(row_id, "w2", LATER, T0)
    assert store.deliveries.due("a", T0, 10) == []
    after = LATER + dt.timedelta(seconds=1)
    assert [r.id for r in store.deliveries.due("a", after, 10)] == [row_id]
    assert store.deliveries.claim(row_id, "w2", after + dt.timedelta(minutes=1), after)


def test_release_gives_the_lease_back(store: Store) -> None:
    """Released rows are due again at once; another owner's lease is left alone."""
    first, second = queue(store, (1, "a", "user:1"), (2, "a", "user:2"))
    store.deliveries.claim(first, "w1", LATER, T0)
    store.deliveries.claim(second, "w2", LATER, T0)
    store.deliveries.release([first, second], "w1")
    assert [r.id for r in store.deliveries.due("a", T0, 10)] == [first]


def test_expire_makes_old_waiting_rows_dead_letters(store: Store) -> None:
    """Rows enqueued before the cutoff become dead with the reason; delivered rows stay."""
    ids = queue(store, (1, "a", "user:1"), (2, "b", "user:1"))
    assert store.deliveries.expire("a", LATER, "older than max_age") == 1
    assert store.deliveries.expire("a", T0, "older than max_age") == 0
    row = store.deliveries.get(ids[0])
    assert row is not None
    assert (row.status, row.last_error) == ("dead", "older than max_age")
    assert store.deliveries.counts() == {"a": {"dead": 1}, "b": {"pending": 1}}


def test_redeliver_resets_attempts_and_keeps_keys(store: Store) -> None:
    """A dead row queued again is pending with attempts 0, the same keys and a new clock."""
    (row_id,) = queue(store, (1, "a", "user:1"))
    store.deliveries.finish(
        attempt(row_id, "dead", 410),
        status="dead",
        next_attempt_at=None,
        error="HTTP 410",
        receiver=ReceiverState(name="a"),
    )
    before = store.deliveries.get(row_id)
    assert store.deliveries.redeliver([row_id], LATER) == 1
    after = store.deliveries.get(row_id)
    assert before is not None
    assert after is not None
    assert (after.status, after.attempts, after.enqueued_at) == ("pending", 0, LATER)
    assert (after.idempotency_key, after.gitlab_event_uuid, after.payload) == (
        before.idempotency_key,
        before.gitlab_event_uuid,
        before.payload,
    )
    assert store.deliveries.last_url(row_id) == "http://r/"


def test_purge_deletes_finished_rows_and_their_attempts_only(store: Store) -> None:
    """Delivered rows older than the cutoff go; pending rows are never purged."""
    done, waiting = queue(store, (1, "a", "user:1"), (2, "a", "user:2"))
    store.deliveries.finish(
        attempt(done), status="delivered", next_attempt_at=None, error=None,
        receiver=ReceiverState(name="a"),
    )  # fmt: skip
    assert store.deliveries.purge(T0, ["delivered"]) == 0  # not older than the cutoff
    assert store.deliveries.purge(LATER, ["delivered", "pending"]) == 1
    assert [r.id for r in store.deliveries.listing()] == [waiting]
    assert store.deliveries.attempts(done) == []


def test_receiver_state_round_trips(store: Store) -> None:
    """An open circuit is stored and read back as it was."""
    state = ReceiverState(
        name="a",
        consecutive_failures=6,
        circuit="open",
        probe_at=LATER,
        probe_interval=120.0,
        changed_at=T0,
    )
    store.deliveries.save_receiver(state)
    assert store.deliveries.receiver_state("a") == state
    assert store.deliveries.receiver_states() == [state]
    assert store.deliveries.receiver_state("b") == ReceiverState(name="b")
    assert store.deliveries.oldest_waiting() is None


def test_finish_counts_the_attempt_and_sets_the_status(store: Store) -> None:
    """A failed attempt counts and reschedules; a delivered one sets delivered_at; an unknown
    row is an error, and nothing of that attempt is kept."""
    first, second = queue(store, (1, "a", "user:1"), (2, "a", "user:2"))
    store.deliveries.finish(
        attempt(first, "retry", 502), status="retrying", next_attempt_at=T2, error="HTTP 502",
        receiver=None,
    )  # fmt: skip
    store.deliveries.finish(
        attempt(second), status="delivered", next_attempt_at=None, error=None, receiver=None
    )
    [failed] = store.deliveries.listing(statuses=("retrying",))
    assert (failed.attempts, failed.next_attempt_at, failed.last_error) == (1, T2, "HTTP 502")
    [delivered] = store.deliveries.listing(statuses=("delivered",))
    assert (delivered.attempts, delivered.delivered_at) == (1, T0)
    with pytest.raises(StoreError, match="outbox row 999 does not exist"):
        store.deliveries.finish(
            attempt(999), status="dead", next_attempt_at=None, error=None, receiver=None
        )
    assert store.deliveries.attempts(999) == []
