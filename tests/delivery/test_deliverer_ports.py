"""The deliverer through its ports, with in-memory fakes where sockets add nothing.

``ScriptedSender`` stands in for the HTTP sender and ``ManualClock`` for time; the outbox is a
real SQLite store. The wire itself is tested against a real receiver in test_deliverer.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config.settings import HooksSettings
from bridge.delivery.wire import Answer, HookRequest
from bridge.store import Store
from bridge.testing.fakes import ManualClock, ScriptedSender, answer
from tests.delivery.test_deliverer import deliverer
from tests.store.factories import outbox_row

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
HOOKS = HooksSettings.model_validate(
    {
        "system": [
            {"name": "a", "url": "http://a.example/hook", "timeout": "3s"},
            {"name": "b", "url": "http://b.example/hook"},
        ]
    }
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty SQLite store on a fixed clock."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: T0) as opened:
        yield opened


class _LeaseWatcher(ScriptedSender):
    """Reads the row's lease from the store while the request is in flight."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.leases: list[dt.datetime | None] = []

    def send(self, receiver: str, request: HookRequest) -> Answer:
        (row,) = self.store.deliveries.listing(receiver=receiver)
        self.leases.append(row.claimed_until)
        return super().send(receiver, request)


@pytest.mark.parametrize(
    ("delivery", "seconds"),
    [({}, 2 * 3 + 5), ({"lease": "7s"}, 7)],
    ids=["twice-the-timeout-plus-5s", "delivery.lease"],
)
def test_an_attempt_holds_its_row_for_the_lease(
    store: Store, delivery: dict[str, object], seconds: float
) -> None:
    """While in flight a row is leased for delivery.lease, else twice its timeout plus 5 s."""
    with store.transaction() as tx:
        tx.enqueue([outbox_row(1, "a")])
    sender = _LeaseWatcher(store)
    deliverer(store, HOOKS, ManualClock(T0), sender, **delivery).run_pass()
    assert sender.leases == [T0 + dt.timedelta(seconds=seconds)]
    (row,) = store.deliveries.listing()
    assert (row.status, row.claimed_until) == ("delivered", None)


def test_one_request_per_due_row_and_retry_after_from_the_answer(store: Store) -> None:
    """Each due row is sent once per pass; a 429's Retry-After sets the next attempt, and the
    other receiver is not held back."""
    with store.transaction() as tx:
        tx.enqueue([outbox_row(1, "a"), outbox_row(2, "b"), outbox_row(3, "b")])
    sender = ScriptedSender()
    sender.script("a", [answer(429, retry_after="120")])
    clock = ManualClock(T0)
    report = deliverer(store, HOOKS, clock, sender).run_pass()
    assert sorted(name for name, _request in sender.requests) == ["a", "b", "b"]
    assert (report.delivered, report.receivers["a"].retrying) == (2, 1)
    (waiting,) = store.deliveries.listing(statuses=("retrying",))
    assert waiting.next_attempt_at == T0 + dt.timedelta(seconds=120)
    clock.advance(seconds=119)
    assert deliverer(store, HOOKS, clock, sender).run_pass().attempted == 0
    clock.advance(seconds=1)
    assert deliverer(store, HOOKS, clock, sender).run_pass().delivered == 1
    assert [name for name, _request in sender.requests].count("a") == 2
