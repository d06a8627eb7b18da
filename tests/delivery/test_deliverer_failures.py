"""Every failure of one attempt is that row's recorded attempt: broken receivers, unsendable
requests and refused targets never stop a pass or the other receivers (docs/delivery.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bridge.config.settings import HooksSettings
from bridge.store import Store
from bridge.testing.fakes import ManualClock
from bridge.testing.receiver import Receiver, Reply
from tests.delivery.misbehaving import RawReceiver, truncated
from tests.delivery.test_deliverer import deliverer, queue, user_ids

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store whose queue times are T0."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: T0) as opened:
        yield opened


def broken_hooks(receiver: Receiver, truncating: RawReceiver) -> HooksSettings:
    """healthy; truncating (a body shorter than promised); latin (a header that cannot be sent);
    unsigned (a signing secret that makes building the request fail). The last two bypass
    load-time validation, as a configuration from an older bridge might."""
    hooks = HooksSettings.model_validate(
        {
            "system": [
                {"name": "healthy", "url": receiver.url_for("/healthy"), "timeout": 1},
                {"name": "truncating", "url": truncating.url_for("/t"), "timeout": 1},
                {"name": "latin", "url": receiver.url_for("/latin"), "timeout": 1},
                {"name": "unsigned", "url": receiver.url_for("/unsigned"), "timeout": 1},
            ]
        }
    )
    healthy, cut, latin, unsigned = hooks.system
    latin = latin.model_copy(update={"custom_headers": {"X-Team": "plätform €"}})
    unsigned = unsigned.model_copy(update={"signing_secret": (SecretStr("not-whsec"),)})
    return hooks.model_copy(update={"system": (healthy, cut, latin, unsigned)})


def test_broken_receivers_get_failed_attempts_and_the_healthy_one_gets_everything(
    store: Store, receiver: Receiver
) -> None:
    """Truncated answers, an unsendable header and a failing signature are recorded as failed
    attempts of their own rows; the pass goes on and the healthy receiver gets all its events."""
    names = ("healthy", "truncating", "latin", "unsigned")
    queue(store, *[(n, names[n % 4], f"user:{n}") for n in range(1, 13)])
    with RawReceiver(truncated) as truncating:
        worker = deliverer(store, broken_hooks(receiver, truncating), ManualClock(T0))
        try:
            report = worker.run_pass()
        finally:
            worker.sender.close()
    assert user_ids(receiver, "/healthy") == [4, 8, 12]
    assert report.receivers["healthy"].delivered == 3
    assert receiver.deliveries("/latin") == receiver.deliveries("/unsigned") == []
    expected = {
        "truncating": "response broken after HTTP 200: ",
        "latin": "header 'X-Team' cannot be sent: its value is not latin-1",
        "unsigned": "internal error: ValueError: a signing secret starts with whsec_",
    }
    for name, error in expected.items():
        rows = store.deliveries.listing(receiver=name)
        assert [r.status for r in rows] == ["retrying"] * 3, name
        for row in rows:
            (attempt,) = store.deliveries.attempts(row.id)
            assert (attempt.outcome, attempt.status_code) == ("retry", None)
            assert (attempt.error or "").startswith(error), attempt.error
            assert "\n" not in (attempt.error or "")
            assert (row.last_error or "").startswith(error)
        assert report.receivers[name].retrying == 3


def test_a_local_receiver_is_refused_when_the_local_network_is_not_allowed(
    store: Store, receiver: Receiver
) -> None:
    """delivery.allow_local_network: false makes a 127.0.0.1 receiver's attempt fail, retried."""
    queue(store, (1, "a", "user:1"))
    hooks = HooksSettings.model_validate(
        {"system": [{"name": "a", "url": receiver.url_for("/a"), "timeout": 1}]}
    )
    worker = deliverer(store, hooks, ManualClock(T0), allow_local_network=False)
    try:
        worker.run_pass()
    finally:
        worker.sender.close()
    (row,) = store.deliveries.listing()
    assert row.status == "retrying"
    assert row.last_error == (
        "refused: 127.0.0.1 is a local address (loopback) (delivery.allow_local_network is false)"
    )
    assert receiver.deliveries() == []


def test_a_response_body_with_nul_bytes_is_recorded_on_every_backend(
    store_url: str, receiver: Receiver
) -> None:
    """PostgreSQL text cannot hold NUL: a receiver answering one still gets its attempt recorded,
    the NUL shown as U+FFFD."""
    receiver.set_default(Reply(status=500, body=b"bad\x00body"), "/a")
    hooks = HooksSettings.model_validate(
        {"system": [{"name": "a", "url": receiver.url_for("/a"), "timeout": 1}]}
    )
    with Store.open(store_url, now=lambda: T0) as store:
        queue(store, (1, "a", "user:1"))
        worker = deliverer(store, hooks, ManualClock(T0))
        try:
            worker.run_pass()
        finally:
            worker.sender.close()
        (row,) = store.deliveries.listing()
        (attempt,) = store.deliveries.attempts(row.id)
    assert (row.status, attempt.status_code) == ("retrying", 500)
    assert attempt.response_body == "bad\ufffdbody"
