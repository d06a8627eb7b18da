"""The one backoff formula of bridge.retry: server hints, jittered exponential, caps."""

from __future__ import annotations

import email.utils
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.retry import (
    RetryPolicy,
    backoff,
    backoff_bound,
    parse_ratelimit_reset,
    parse_retry_after,
    read_delay,
)
from bridge.testing.fakes import EdgeRandom

NOW = 1_800_000_000.0
POLICY = RetryPolicy(max_attempts=6, base=1.0, cap=60.0, max_retry_after=600.0)


@pytest.mark.parametrize(
    ("failures", "retry_after", "reset", "expected"),
    [
        (1, None, None, 1.0),
        (2, None, None, 2.0),
        (4, None, None, 8.0),
        (5, None, None, 16.0),
        (1, "7", None, 8.0),
        (1, "7", str(int(NOW) + 30), 8.0),
        (1, None, str(int(NOW) + 30), 31.0),
        (1, None, str(int(NOW) - 30), 1.0),
        (1, "100000", None, 600.0),
        (1, email.utils.formatdate(NOW + 20, usegmt=True), None, 21.0),
        (1, "soon", None, 1.0),
        (6, "7", None, None),
    ],
)
def test_read_delay_table(
    failures: int, retry_after: str | None, reset: str | None, expected: float | None
) -> None:
    """Retry-After wins over RateLimit-Reset, both over backoff; all capped; None at the budget."""
    delay = read_delay(
        POLICY,
        failures,
        now=NOW,
        retry_after=retry_after,
        ratelimit_reset=reset,
        rng=EdgeRandom(high=True),
    )
    assert delay == (None if expected is None else pytest.approx(expected))


def test_backoff_bound_reaches_the_cap() -> None:
    """The exponential bound stops growing at ``cap``, even for huge attempt numbers."""
    assert [backoff_bound(POLICY, n) for n in (6, 7, 8, 1000)] == [32.0, 60.0, 60.0, 60.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12.0), (" 3 ", 3.0), ("-5", 0.0), ("", None), (None, None), ("nan", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After as delta seconds, never negative; junk is no hint."""
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_ratelimit_reset_is_relative_to_now() -> None:
    """RateLimit-Reset is a Unix time: the wait is its distance from ``now``."""
    assert parse_ratelimit_reset(str(int(NOW) + 9), now=NOW) == 9.0
    assert parse_ratelimit_reset("x", now=NOW) is None


def test_policy_rejects_nonsense() -> None:
    """A policy without a single attempt cannot exist."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 20),
    base=st.floats(0, 10),
    cap=st.floats(0, 120),
    max_retry_after=st.floats(0, 1000),
)
hints = st.one_of(st.none(), st.integers(-100, 5000).map(str), st.text(max_size=5))


@given(policies, st.integers(1, 200), hints, hints, st.integers(0, 2**32))
def test_delay_is_bounded_and_never_negative(
    policy: RetryPolicy, failures: int, retry_after: str | None, reset: str | None, seed: int
) -> None:
    """Any delay is within [0, max(cap, max_retry_after)] and None once the budget is spent."""
    delay = read_delay(
        policy,
        failures,
        now=NOW,
        retry_after=retry_after,
        ratelimit_reset=reset,
        rng=random.Random(seed),
    )
    if failures >= policy.max_attempts:
        assert delay is None
    else:
        assert delay is not None
        assert 0 <= delay <= max(policy.cap, policy.max_retry_after)


@given(policies, st.integers(1, 200), st.integers(0, 2**32))
def test_backoff_without_hints_stays_under_the_monotone_bound(
    policy: RetryPolicy, failures: int, seed: int
) -> None:
    """Header-less backoff is below a bound that grows with the failures and stops at ``cap``."""
    assert backoff_bound(policy, failures) <= backoff_bound(policy, failures + 1) <= policy.cap
    delay = read_delay(
        policy, failures, now=NOW, retry_after=None, ratelimit_reset=None, rng=random.Random(seed)
    )
    if delay is not None:
        assert 0 <= delay <= backoff_bound(policy, failures)


@given(
    st.floats(0, 100),
    st.floats(0, 1000),
    st.sampled_from([0.0, 0.5, 1.0]),
    st.integers(1, 200),
    st.integers(0, 2**32),
)
def test_jitter_keeps_the_fixed_share_of_the_bound(
    base: float, cap: float, jitter: float, failures: int, seed: int
) -> None:
    """The wait lies in [b·(1 - jitter), b]: full jitter from 0, half-and-half from b/2."""
    policy = RetryPolicy(base=base, cap=cap, jitter=jitter)
    bound = backoff_bound(policy, failures)
    wait = backoff(policy, failures, random.Random(seed))
    assert bound * (1 - jitter) <= wait <= bound + 1e-9


def test_policy_refuses_a_jitter_outside_zero_to_one() -> None:
    """jitter is a share of the bound."""
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.5)
