"""Pure delivery rules: verdicts, backoff, give-up and the circuit breaker (docs/delivery.md)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config.settings import DeliverySettings
from bridge.delivery.policy import (
    Decision,
    DeliveryRules,
    after_failure,
    after_success,
    allows,
    decide,
    expired,
    verdict,
)
from bridge.model.ledger import ReceiverState
from bridge.retry import backoff
from bridge.testing.fakes import EdgeRandom

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
POLICY = DeliveryRules.from_settings(DeliverySettings())


@pytest.mark.parametrize(
    ("status", "accept_redirects", "expected"),
    [
        (200, False, "success"),
        (204, False, "success"),
        (299, False, "success"),
        (301, False, "retry"),
        (302, True, "success"),
        (400, False, "retry"),
        (404, False, "retry"),
        (410, False, "permanent"),
        (429, False, "retry"),
        (500, False, "retry"),
        (503, False, "retry"),
        (None, False, "retry"),
    ],
)
def test_verdict_per_status(status: int | None, accept_redirects: bool, expected: str) -> None:
    """2xx succeeds, 410 is permanent, 3xx only with accept_redirects, the rest is retried."""
    assert verdict(status, accept_redirects=accept_redirects) == expected


@pytest.mark.parametrize(
    ("failed", "low", "high"),
    [(1, 15, 30), (2, 30, 60), (3, 60, 120), (10, 7680, 15360), (11, 10800, 21600)],
)
def test_backoff_is_half_plus_jitter_of_the_doubling_bound(
    failed: int, low: float, high: float
) -> None:
    """After attempt n the wait lies in [b/2, b], b = min(6 h, 30 s * 2^(n-1))."""
    assert backoff(POLICY.retry, failed, EdgeRandom()) == low
    assert backoff(POLICY.retry, failed, EdgeRandom(high=True)) == high


@given(st.integers(1, 10_000), st.integers(0, 2**32))
def test_backoff_is_capped_and_positive(failed: int, seed: int) -> None:
    """Any wait is within [base/2, cap], whatever the attempt number."""
    wait = backoff(POLICY.retry, failed, random.Random(seed))
    assert POLICY.retry.base / 2 <= wait <= POLICY.retry.cap


@given(st.integers(1, 40))
def test_backoff_bound_is_monotone(failed: int) -> None:
    """The lowest wait never shrinks as attempts grow."""
    low = EdgeRandom()
    assert backoff(POLICY.retry, failed, low) <= backoff(POLICY.retry, failed + 1, low)


def decided(
    status: int | None,
    attempts: int,
    *,
    now: dt.datetime = T0,
    retry_after: str | None = None,
    high: bool = False,
) -> Decision:
    """The decision on attempt ``attempts`` of a row queued at T0, jitter at one end."""
    return decide(
        POLICY,
        status=status,
        attempts=attempts,
        enqueued_at=T0,
        now=now,
        retry_after=retry_after,
        rng=EdgeRandom(high=high),
    )


def test_success_is_delivered() -> None:
    """A 2xx answer delivers the row."""
    d = decided(200, 1)
    assert (d.outcome, d.next_attempt_at) == ("delivered", None)


def test_410_is_a_dead_letter_at_once() -> None:
    """410 Gone ends the row on its first attempt."""
    d = decided(410, 1)
    assert (d.outcome, d.reason) == ("dead", "HTTP 410: gone")


def test_failure_schedules_a_retry_with_backoff() -> None:
    """A 500 on attempt 2 waits between 30 and 60 s."""
    now = T0 + dt.timedelta(minutes=1)
    d = decided(500, 2, now=now)
    assert d.outcome == "retry"
    assert d.next_attempt_at == now + dt.timedelta(seconds=30)


def test_retry_after_is_a_lower_bound_capped_at_retry_after_cap() -> None:
    """Retry-After 600 beats a 15 s backoff; Retry-After of a day is cut to the 1 h cap."""
    d = decided(429, 1, retry_after="600")
    assert d.next_attempt_at == T0 + dt.timedelta(seconds=600)
    d = decided(503, 1, retry_after="86400")
    assert d.next_attempt_at == T0 + dt.timedelta(hours=1)
    d = decided(429, 1, retry_after="Sun, 01 Nov 2026 12:02:00 GMT")
    assert d.next_attempt_at == T0 + dt.timedelta(minutes=2)


def test_gives_up_after_max_attempts() -> None:
    """Attempt 12 failing makes a dead letter with the reason."""
    d = decided(500, 12)
    assert (d.outcome, d.reason) == ("dead", "gave up after 12 attempts")


def test_retry_never_lands_past_max_age_and_then_dies() -> None:
    """The last retry is made at the max_age deadline; failing there makes a dead letter."""
    deadline = T0 + dt.timedelta(hours=72)
    late = deadline - dt.timedelta(seconds=5)
    d = decided(500, 3, now=late, high=True)
    assert d.next_attempt_at == deadline
    d = decided(500, 4, now=deadline, high=True)
    assert (d.outcome, d.reason) == ("dead", "older than max_age")
    assert expired(POLICY, T0, deadline)
    assert not expired(POLICY, T0, late)


def test_circuit_opens_at_the_threshold_and_probes_with_doubling_waits() -> None:
    """5 failures open it; failed probes wait 2, 4 ... minutes up to 1 h; a success closes it."""
    state = ReceiverState(name="r")
    for _ in range(4):
        state = after_failure(POLICY, state, T0)
        assert allows(state, T0)
    state = after_failure(POLICY, state, T0)
    assert (state.circuit, state.probe_at) == ("open", T0 + dt.timedelta(minutes=1))
    assert not allows(state, T0 + dt.timedelta(seconds=59))
    assert allows(state, T0 + dt.timedelta(minutes=1))
    waits = []
    now = T0
    for _ in range(8):
        now = state.probe_at or now
        state = after_failure(POLICY, state, now)
        waits.append(state.probe_interval)
    assert waits == [120, 240, 480, 960, 1920, 3600, 3600, 3600]
    closed = after_success(state, now)
    assert (closed.circuit, closed.consecutive_failures, closed.probe_at) == ("closed", 0, None)
    assert allows(closed, now)


def test_success_on_a_healthy_receiver_changes_nothing() -> None:
    """after_success returns the same state when there is nothing to reset."""
    state = ReceiverState(name="r", changed_at=T0)
    assert after_success(state, T0 + dt.timedelta(hours=1)) is state
