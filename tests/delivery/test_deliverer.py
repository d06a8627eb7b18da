"""Delivery against a real local receiver: wire, outcomes, order, retries, circuit breaker."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from bridge.config.settings import DeliverySettings, HooksSettings
from bridge.delivery.deliverer import Deliverer, DeliveryReport
from bridge.ports import Sender
from bridge.store import Store
from bridge.testing.fakes import EdgeRandom, ManualClock
from bridge.testing.receiver import Receiver, Reply
from tests.store.factories import outbox_row

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store whose queue times are T0."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: T0) as opened:
        yield opened


def hooks(receiver: Receiver, *names: str, **extra: Any) -> HooksSettings:
    """System receivers at /<name> on the local receiver."""
    return HooksSettings.model_validate(
        {
            "system": [
                {"name": n, "url": receiver.url_for(f"/{n}"), "timeout": 1, **extra} for n in names
            ]
        }
    )


def queue(store: Store, *rows: tuple[int, str, str]) -> None:
    """Queue (n, receiver, subject) rows as sync would, with GitLab's wire fields."""
    with store.transaction() as tx:
        tx.enqueue(
            [
                outbox_row(
                    n,
                    name,
                    subject=subject,
                    instance_url="https://gitlab.example.com",
                    gitlab_version="16.11.3-ee",
                )
                for n, name, subject in rows
            ]
        )


def deliverer(
    store: Store,
    hook_settings: HooksSettings,
    clock: ManualClock,
    sender: Sender | None = None,
    **delivery: Any,
) -> Deliverer:
    """A deliverer with a fixed clock and jitter at its low end (HTTP unless ``sender``)."""
    return Deliverer(
        store.deliveries,
        hook_settings,
        DeliverySettings.model_validate(delivery),
        sender=sender,
        now=clock,
        rng=EdgeRandom(),
    )


def run(
    store: Store, hook_settings: HooksSettings, clock: ManualClock, **delivery: Any
) -> DeliveryReport:
    """One delivery pass."""
    worker = deliverer(store, hook_settings, clock, **delivery)
    try:
        return worker.run_pass()
    finally:
        worker.sender.close()


def user_ids(receiver: Receiver, path: str) -> list[int]:
    """user_id of each body the receiver got at ``path``, in arrival order."""
    return [d.json()["user_id"] for d in receiver.deliveries(path)]


def test_an_event_arrives_with_gitlabs_headers_and_the_queued_body(
    store: Store, receiver: Receiver
) -> None:
    """One POST: exact body bytes, GitLab's headers, then the row is delivered with its attempt."""
    queue(store, (1, "audit", "user:1"))
    report = run(store, hooks(receiver, "audit", token="s3cret"), ManualClock(T0))
    assert (report.delivered, report.waiting) == (1, {})
    (got,) = receiver.deliveries("/audit")
    (row,) = store.deliveries.listing()
    assert got.method == "POST"
    assert got.body == row.payload.encode("utf-8")
    assert got.header("Content-Type") == "application/json"
    assert got.header("X-Gitlab-Event") == "System Hook"
    assert got.header("X-Gitlab-Token") == "s3cret"
    assert got.header("X-Gitlab-Instance") == "https://gitlab.example.com"
    assert got.header("Idempotency-Key") == row.idempotency_key
    assert got.header("X-Gitlab-Event-UUID") == row.gitlab_event_uuid
    assert (got.header("User-Agent") or "").startswith("GitLab/16.11.3-ee gitlab-hook-bridge/")
    (attempt,) = store.deliveries.attempts(row.id)
    assert (row.status, attempt.status_code, attempt.outcome) == ("delivered", 200, "delivered")
    assert attempt.webhook_uuid == got.header("X-Gitlab-Webhook-UUID")


def test_rows_to_one_receiver_arrive_in_queue_order(store: Store, receiver: Receiver) -> None:
    """30 events over 4 subjects and 2 receivers: each receiver sees its queue order."""
    rows = [(n, ("a", "b")[n % 2], f"user:{n % 4}") for n in range(1, 31)]
    queue(store, *rows)
    report = run(store, hooks(receiver, "a", "b"), ManualClock(T0))
    assert report.delivered == 30
    assert user_ids(receiver, "/a") == [n for n, name, _ in rows if name == "a"]
    assert user_ids(receiver, "/b") == [n for n, name, _ in rows if name == "b"]


def test_a_failure_holds_back_only_its_subject_and_retries_in_order(
    store: Store, receiver: Receiver
) -> None:
    """A 500 delays the next event of its subject; other subjects go on; the retry keeps order."""
    queue(store, (1, "a", "user:1"), (2, "a", "user:1"), (3, "a", "user:2"))
    receiver.script("/a", Reply(status=500, body=b"oops"))
    clock = ManualClock(T0)
    first = run(store, hooks(receiver, "a"), clock)
    assert (first.delivered, first.waiting) == (1, {"a": 2})
    assert user_ids(receiver, "/a") == [1, 3]
    failed = store.deliveries.listing(statuses=("retrying",))[0]
    assert failed.next_attempt_at == T0 + dt.timedelta(seconds=15)  # b/2 with b = 30 s
    assert failed.last_error == "HTTP 500"
    assert store.deliveries.attempts(failed.id)[0].response_body == "oops"
    assert run(store, hooks(receiver, "a"), clock).attempted == 0  # not due yet
    clock.advance(seconds=15)
    again = run(store, hooks(receiver, "a"), clock)
    assert (again.delivered, again.waiting) == (2, {})
    assert user_ids(receiver, "/a") == [1, 3, 1, 2]


def test_retry_after_is_honoured(store: Store, receiver: Receiver) -> None:
    """429 with Retry-After: 120 schedules the retry two minutes later, not after 15 s."""
    queue(store, (1, "a", "user:1"))
    receiver.script("/a", Reply(status=429, headers=(("Retry-After", "120"),)))
    run(store, hooks(receiver, "a"), ManualClock(T0))
    (row,) = store.deliveries.listing()
    assert (row.status, row.next_attempt_at) == ("retrying", T0 + dt.timedelta(seconds=120))


@pytest.mark.parametrize(
    ("reply", "accept_redirects", "status", "error"),
    [
        (Reply(status=410), False, "dead", "HTTP 410; HTTP 410: gone"),
        (Reply(status=302, headers=(("Location", "http://x/"),)), False, "retrying", "HTTP 302"),
        (Reply(status=302, headers=(("Location", "http://x/"),)), True, "delivered", "HTTP 302"),
        (Reply(status=404), False, "retrying", "HTTP 404"),
        (Reply(delay=3.0), False, "retrying", "timed out after 1 s"),
        (Reply(reset=True), False, "retrying", "connection failed: "),
    ],
    ids=["410-dead", "302-retried", "302-accepted", "404-retried", "timeout", "reset"],
)
def test_outcomes(
    store: Store,
    receiver: Receiver,
    reply: Reply,
    accept_redirects: bool,
    status: str,
    error: str,
) -> None:
    """410 is dead at once; 3xx, 4xx, timeouts and resets are retried (docs/delivery.md)."""
    queue(store, (1, "a", "user:1"))
    receiver.set_default(reply, "/a")
    run(store, hooks(receiver, "a"), ManualClock(T0), accept_redirects=accept_redirects)
    (row,) = store.deliveries.listing()
    assert row.status == status
    assert (row.last_error or "HTTP 302").startswith(error)
    assert len(receiver.deliveries("/a")) == 1  # redirects are never followed


def test_max_attempts_makes_a_dead_letter_with_every_attempt_kept(
    store: Store, receiver: Receiver
) -> None:
    """After max_attempts failures the row is dead; each attempt is recorded."""
    queue(store, (1, "a", "user:1"))
    receiver.set_default(Reply(status=503), "/a")
    clock = ManualClock(T0)
    for _ in range(3):
        run(store, hooks(receiver, "a"), clock, max_attempts=3, circuit_threshold=10)
        clock.advance(hours=1)
    (row,) = store.deliveries.listing()
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.last_error == "HTTP 503; gave up after 3 attempts"
    assert [a.number for a in store.deliveries.attempts(row.id)] == [1, 2, 3]
    assert [a.outcome for a in store.deliveries.attempts(row.id)] == ["retry", "retry", "dead"]


def test_circuit_breaker_pauses_a_failing_receiver_without_delaying_others(
    store: Store, receiver: Receiver
) -> None:
    """5 failures open a's circuit; its other events wait unspent; b gets all of its events."""
    queue(store, *[(n, "a", f"user:{n}") for n in range(1, 9)])
    queue(store, *[(n, "b", f"user:{n}") for n in range(11, 15)])
    receiver.set_default(Reply(status=500), "/a")
    clock = ManualClock(T0)
    report = run(store, hooks(receiver, "a", "b"), clock)
    assert report.receivers["a"].circuit_open
    assert len(receiver.deliveries("/a")) == 5
    assert user_ids(receiver, "/b") == [11, 12, 13, 14]
    state = store.deliveries.receiver_state("a")
    assert (state.circuit, state.probe_at) == ("open", T0 + dt.timedelta(minutes=1))
    unspent = store.deliveries.listing(statuses=("pending",), receiver="a")
    assert [r.attempts for r in unspent] == [0, 0, 0]
    clock.advance(minutes=1)
    run(store, hooks(receiver, "a", "b"), clock)  # the probe fails: wait doubles
    assert len(receiver.deliveries("/a")) == 6
    assert store.deliveries.receiver_state("a").probe_at == clock.now + dt.timedelta(minutes=2)
    receiver.set_default(Reply(status=200), "/a")
    clock.advance(hours=7)
    recovered = run(store, hooks(receiver, "a", "b"), clock)
    assert recovered.waiting == {}
    assert store.deliveries.receiver_state("a").circuit == "closed"
    assert sorted(set(user_ids(receiver, "/a"))) == list(range(1, 9))


def test_rows_waiting_behind_an_open_circuit_expire_into_dead_letters(
    store: Store, receiver: Receiver
) -> None:
    """While paused, rows past max_age become visible dead letters, never silent drops."""
    queue(store, *[(n, "a", f"user:{n}") for n in range(1, 8)])
    receiver.set_default(Reply(status=500), "/a")
    clock = ManualClock(T0)
    paused = {"max_age": "1h", "circuit_probe": "2h", "circuit_probe_max": "4h"}
    run(store, hooks(receiver, "a"), clock, **paused)
    clock.advance(minutes=59)
    assert run(store, hooks(receiver, "a"), clock, **paused).receivers["a"].dead == 0
    clock.advance(minutes=1)
    report = run(store, hooks(receiver, "a"), clock, **paused)
    assert report.receivers["a"].dead == 7  # 5 failed and 2 never attempted
    assert len(receiver.deliveries("/a")) == 5
    dead = store.deliveries.listing(statuses=("dead",))
    assert {r.last_error for r in dead} == {"older than max_age (circuit open)"}


def test_signed_deliveries_verify_with_the_reference_library(
    store: Store, receiver: Receiver
) -> None:
    """With signing_secret, the receiver verifies webhook-signature with standardwebhooks."""
    queue(store, (1, "a", "user:1"))
    run(store, hooks(receiver, "a", signing_secret=SECRET), ManualClock(T0))
    (got,) = receiver.deliveries("/a")
    headers = {name.lower(): value for name, value in got.headers}  # as servers hand them over
    assert Webhook(SECRET).verify(got.body, headers)["user_id"] == 1
    assert headers["webhook-id"] == got.header("Idempotency-Key")


def test_credentials_in_the_url_are_sent_as_basic_auth(store: Store, receiver: Receiver) -> None:
    """user:pass@ in the receiver URL becomes an Authorization header, not part of the URL."""
    queue(store, (1, "a", "user:1"))
    url = receiver.url_for("/a").replace("http://", "http://bob:p%40ss@")
    settings = HooksSettings.model_validate({"system": [{"name": "a", "url": url}]})
    run(store, settings, ManualClock(T0))
    (got,) = receiver.deliveries("/a")
    assert got.header("Authorization") == "Basic " + base64.b64encode(b"bob:p@ss").decode()
    (attempt,) = store.deliveries.attempts(store.deliveries.listing()[0].id)
    assert "p%40ss" not in attempt.url


def test_response_body_is_kept_up_to_8_kb(store: Store, receiver: Receiver) -> None:
    """A large error page is cut at 8 KB in the attempt record."""
    queue(store, (1, "a", "user:1"))
    receiver.set_default(Reply(status=500, body=b"x" * 20_000), "/a")
    run(store, hooks(receiver, "a"), ManualClock(T0))
    (attempt,) = store.deliveries.attempts(store.deliveries.listing()[0].id)
    assert attempt.response_body == "x" * 8192


def test_unconfigured_receivers_rows_wait_and_are_reported(
    store: Store, receiver: Receiver
) -> None:
    """Rows for a receiver no longer configured are not dropped: they wait and are counted."""
    queue(store, (1, "gone", "user:1"), (2, "a", "user:2"))
    report = run(store, hooks(receiver, "a"), ManualClock(T0))
    assert (report.delivered, report.unknown) == (1, {"gone": 1})
