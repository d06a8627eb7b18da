"""The request budget: its 60-second guarantee, adaptation to GitLab's throttle, recovery, stop;
and the transport that charges every attempt to it."""

from __future__ import annotations

import bisect
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from random import Random
from typing import Any

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import RetriableSourceError
from bridge.retry import RetryPolicy
from bridge.source import GitLabSource
from bridge.source.budget import (
    BLIND_FLOOR,
    FLOOR,
    GROWTH,
    HEADROOM,
    RECOVERY,
    Budget,
    recovered,
    shape,
)
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.ratelimit import Throttle
from tests.conftest import SimFactory

START = 1_800_000_000.0
NS = 1_000_000_000


class FakeClock:
    """Monotonic seconds that move only when something sleeps; records every sleep."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(per_minute: int, fake: FakeClock, **kwargs: Any) -> Budget:
    return Budget(per_minute, clock=fake.clock, sleep=fake.sleep, **kwargs)


def send(b: Budget, fake: FakeClock, arrivals: list[float]) -> list[float]:
    """Callers arrive at ``arrivals`` (seconds after START) one after another; send times."""
    sent = []
    for at in arrivals:
        fake.now = max(fake.now, START + at)
        b.acquire()
        sent.append(fake.now)
    return sent


def busiest_minute(times: list[float]) -> int:
    """The most requests any closed 60-second window [t, t + 60] holds."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + 60.0) - i for i, t in enumerate(ordered)), default=0
    )


ARRIVALS = st.lists(
    st.one_of(st.just(0.0), st.floats(0, 5), st.floats(0, 120)), min_size=1, max_size=250
).map(lambda gaps: [sum(gaps[: i + 1]) for i in range(len(gaps))])


# -- the shape of the bucket ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_minute", "burst", "interval_ns"),
    [
        (600, 10, math.ceil(60 * NS / 590)),
        (120, 2, math.ceil(60 * NS / 118)),
        (96, 1, math.ceil(60 * NS / 95)),
        (60, 1, math.ceil(60 * NS / 59)),
        (2, 1, 60 * NS),
        (1, 1, 61 * NS),
        (1.9, 1, 61 * NS),
    ],
)
def test_shape_fills_exactly_the_budget(per_minute: float, burst: int, interval_ns: int) -> None:
    """Burst b = max(1, N // 60) plus 60 s of refill at (N - b)/60 a second make N; N = 1 waits
    61 s."""
    assert shape(per_minute) == (burst, interval_ns)


# -- the guarantee --------------------------------------------------------------------------------


@given(per_minute=st.integers(1, 3000), arrivals=ARRIVALS)
def test_no_minute_holds_more_than_the_budget(per_minute: int, arrivals: list[float]) -> None:
    """Whatever the pattern of callers, no closed 60-second window holds more than the budget."""
    fake = FakeClock()
    sent = send(budget(per_minute, fake), fake, arrivals)
    assert busiest_minute(sent) <= per_minute


@given(
    per_minute=st.integers(2, 3000),
    arrivals=ARRIVALS,
    at=st.integers(0, 249),
    retry_after=st.none() | st.floats(0, 120),
    limit=st.none() | st.floats(1, 5000),
)
def test_after_a_429_no_minute_holds_more_than_the_lowered_budget(
    per_minute: int, arrivals: list[float], at: int, retry_after: float | None, limit: float | None
) -> None:
    """After a throttle 429 nothing goes during the pause, windows hold at most the lowered
    budget until recovery, and never more than the configured one."""
    fake = FakeClock()
    b = budget(per_minute, fake)
    cut = min(at, len(arrivals))
    before = send(b, fake, arrivals[:cut])
    b.throttled(retry_after, limit)
    throttled_at, lowered = fake.now, b.effective
    after = send(b, fake, arrivals[cut:])
    assert all(t >= throttled_at + (retry_after or 0) - 1e-6 for t in after)
    assert busiest_minute([t for t in after if t < throttled_at + RECOVERY]) <= lowered
    assert busiest_minute(before + after) <= per_minute


def test_a_burst_then_one_request_per_interval() -> None:
    """600 a minute: 10 go at once, then one every 60/590 s, without waiting longer."""
    fake = FakeClock()
    b = budget(600, fake)
    sent = send(b, fake, [0.0] * 600)
    assert fake.sleeps[:1] == [pytest.approx(60 / 590)]
    assert sent[9] == START
    assert sent[-1] - START == pytest.approx(60.0, abs=1e-6)  # the 600th, 60 s after the first
    assert busiest_minute(sent) <= 600


def test_available_is_the_burst_left_and_zero_during_a_pause() -> None:
    """available() counts the requests that could go now without waiting."""
    fake = FakeClock()
    b = budget(600, fake)
    assert b.available() == 10
    send(b, fake, [0.0] * 3)
    assert b.available() == 7
    fake.now += 60
    assert b.available() == 10
    b.pause(5)
    assert b.available() == 0


def test_used_last_minute_counts_the_last_60_seconds() -> None:
    """used_last_minute() counts charges in the last 60 s and forgets older ones."""
    fake = FakeClock()
    b = budget(600, fake)
    send(b, fake, [0.0] * 5)
    fake.now += 30
    send(b, fake, [30.0] * 2)
    assert b.used_last_minute() == 7
    fake.now = START + 60.5
    assert b.used_last_minute() == 2


def test_threads_share_one_budget() -> None:
    """Eight threads drawing 2,000 requests from 60,000/min take at least the time it allows."""
    b = Budget(60_000)  # a burst of 1,000, then 59,000 a minute
    began = time.monotonic()
    threads = [threading.Thread(target=lambda: [b.acquire() for _ in range(250)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - began >= 1000 * 60 / 59_000 - 0.01
    assert b.used_last_minute() == 2000


# -- adaptation and recovery ----------------------------------------------------------------------


def test_a_429_with_ratelimit_headers_lowers_to_headroom_and_pauses() -> None:
    """throttled(30, 120): 0.8 x 120 = 96 a minute, nothing for 30 s, noted as headers."""
    fake = FakeClock()
    b = budget(600, fake)
    b.throttled(30.0, 120.0)
    assert b.effective == pytest.approx(HEADROOM * 120)
    assert b.configured == 600
    send(b, fake, [0.0])
    assert fake.now - START >= 30
    (seen,) = b.observed
    assert (seen.source, seen.limit_per_minute, seen.effective) == (
        "RateLimit headers",
        120.0,
        pytest.approx(96.0),
    )


def test_a_429_without_headers_halves_down_to_the_blind_floor() -> None:
    """GitLab 12.10's bare 429 halves the budget each time, never below a tenth of it."""
    fake = FakeClock()
    b = budget(600, fake)
    b.throttled(None, None)
    assert b.effective == 300
    assert b.observed[-1].source == "429 without headers"
    for _ in range(20):
        b.throttled(None, None)
    assert b.effective == BLIND_FLOOR * 600


def test_rate_limit_headers_may_lower_the_budget_below_the_blind_floor() -> None:
    """A limit GitLab states is believed, however low (never below one a minute)."""
    fake = FakeClock()
    b = budget(600, fake)
    for _ in range(20):
        b.throttled(None, 2.0)
    assert b.effective == FLOOR


def test_a_429_below_the_headroom_halves() -> None:
    """Already at 0.8 x the limit and throttled again: someone else spends the quota, halve."""
    fake = FakeClock()
    b = budget(600, fake)
    b.throttled(0, 120.0)
    b.throttled(0, 120.0)
    assert b.effective == pytest.approx(48.0)


def test_requests_in_flight_together_lower_the_budget_once() -> None:
    """A 429 for a request sent before the last lowering pauses but does not lower again; the
    next request's 429 does."""
    fake = FakeClock()
    b = budget(600, fake)
    with ThreadPoolExecutor(max_workers=1) as other:  # one other thread
        other.submit(b.acquire).result()  # in flight together with ...
        b.acquire()  # ... this one, whose 429 comes first
        b.throttled(5.0, None)
        other.submit(b.throttled, 20.0, None).result()
        assert b.effective == 300
        assert len(b.observed) == 2
        fake.now += 10
        assert b.available() == 0  # the pause still grew to 20 s
        other.submit(lambda: (b.acquire(), b.throttled(0, None))).result()
    assert b.effective == 150


def test_recovery_grows_ten_percent_a_minute_after_quiet() -> None:
    """RECOVERY seconds after the last 429 the budget grows 10 % a minute, up to configured."""
    fake = FakeClock()
    b = budget(600, fake)
    b.throttled(0, 120.0)
    fake.now = START + RECOVERY - 1
    assert b.effective == pytest.approx(96.0)
    fake.now = START + RECOVERY + 60
    assert b.effective == pytest.approx(96.0 * GROWTH)
    fake.now = START + RECOVERY + 3600
    assert b.effective == 600
    fake.now = START + 10 * 365 * 86400.0  # years later: no overflow
    assert b.effective == 600


def test_observe_caps_the_budget_for_good() -> None:
    """A limit from the application settings caps the budget, also after recovery."""
    fake = FakeClock()
    b = budget(600, fake)
    b.observe(120.0)
    assert b.effective == pytest.approx(96.0)
    assert b.observed[-1].source == "application settings"
    b.throttled(0, None)
    fake.now = START + 10 * RECOVERY
    assert b.effective == pytest.approx(96.0)
    b.observe(10_000.0)
    assert b.effective == 600


def test_observe_keeps_a_recent_429s_lower_budget() -> None:
    """observe() never raises the budget above what a recent 429 left."""
    fake = FakeClock()
    b = budget(600, fake)
    b.throttled(0, None)
    b.observe(1000.0)
    assert b.effective == 300


def test_a_lowered_budget_spaces_requests_at_once() -> None:
    """observe() lowers the rate of the very next requests, the spent burst is not refilled."""
    fake = FakeClock()
    b = budget(600, fake)
    send(b, fake, [0.0] * 10)
    b.observe(75.0)  # 60 a minute: a burst of 1, one every 60/59 s
    sent = send(b, fake, [0.0] * 3)
    assert sent[0] - START == pytest.approx(60 / 59, abs=1e-6)
    assert sent[2] - sent[1] == pytest.approx(60 / 59, abs=1e-6)


@given(low=st.floats(1, 1000), ceiling=st.floats(1, 1000), a=st.floats(0, 1e6), b=st.floats(0, 1e6))
def test_recovery_is_monotone_and_capped(low: float, ceiling: float, a: float, b: float) -> None:
    """More quiet never lowers the budget, and it never passes the ceiling."""
    first, second = sorted((a, b))
    assert recovered(low, ceiling, first) <= recovered(low, ceiling, second) <= ceiling


# -- waiting and stopping -------------------------------------------------------------------------


def test_a_429_while_waiting_sends_only_after_the_pause() -> None:
    """A thread waiting for its turn when another one is throttled waits for the pause too."""
    fake = FakeClock()
    b = budget(60, fake)
    send(b, fake, [0.0])

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 1:
            b.throttled(30.0, None)  # another thread's 429 arrives meanwhile

    b._sleep = sleep
    b.acquire()
    assert fake.now >= START + 60 / 59 + 30


def test_stop_cuts_a_wait_short_without_sending() -> None:
    """A stop set during a wait raises instead of letting the request go early."""
    fake = FakeClock()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        stop.set()  # SIGTERM ends the wait at once: the clock does not move

    b = Budget(1, clock=fake.clock, sleep=sleep, stop=stop)
    b.acquire()
    with pytest.raises(RetriableSourceError, match="stopped"):
        b.acquire()
    assert b.used_last_minute() == 1
    with pytest.raises(RetriableSourceError, match="stopped"):
        b.acquire()


def test_the_default_wait_ends_when_stop_is_set() -> None:
    """Without an injected sleep, a wait is ``stop.wait``: SIGTERM does not wait out 61 s."""
    stop = threading.Event()
    b = Budget(1, stop=stop)
    b.acquire()
    threading.Timer(0.05, stop.set).start()
    began = time.monotonic()
    with pytest.raises(RetriableSourceError):
        b.acquire()
    assert time.monotonic() - began < 5


def test_nonsense_is_refused() -> None:
    """A budget below one a minute, or a limit that is not a positive number, is a ValueError."""
    with pytest.raises(ValueError, match="at least 1"):
        Budget(0)
    with pytest.raises(ValueError, match="positive"):
        Budget(10).observe(0)


# -- the transport charges the budget -------------------------------------------------------------


def _source(url: str, token: str, fake: FakeClock, **kwargs: Any) -> GitLabSource:
    return GitLabSource(
        url, token, sleep=fake.sleep, clock=fake.clock, wall_clock=fake.clock, **kwargs
    )


def test_a_throttle_429_with_headers_lowers_the_budget(make_sim: SimFactory) -> None:
    """The simulator's throttle (20 a minute) answers 429 with RateLimit-Limit 20: the budget
    drops to 16 a minute, and the listing completes without another 429."""
    sim = make_sim(version="16.11", throttle=Throttle(limit=20, period=60))
    fake = FakeClock()
    sim.limiter.clock = fake.clock
    src = _source(sim.url, sim.tokens["admin"], fake, per_page=2, budget=600)
    users = src.users()
    assert len(users) == len(sim.world.snapshot().users)
    assert src.budget is not None
    assert src.budget.effective == pytest.approx(16.0)
    assert [(o.source, o.limit_per_minute) for o in src.budget.observed] == [
        ("RateLimit headers", 20.0)
    ]
    assert sum(n for (_, status), n in sim.counters().items() if status == 429) == 1


def test_a_bare_429_halves_the_budget(make_sim: SimFactory) -> None:
    """GitLab 12.10's throttle sends no headers: the budget halves and the read completes."""
    sim = make_sim(version="12.10", throttle=Throttle(limit=20, period=60))
    fake = FakeClock()
    sim.limiter.clock = fake.clock
    retry = RetryPolicy(max_attempts=10)  # backoff alone must outlast the 60 s window
    src = _source(
        sim.url, sim.tokens["admin"], fake, per_page=2, budget=600, retry=retry, rng=Random(0)
    )
    src.users()
    assert src.budget is not None
    assert src.budget.observed[0].source == "429 without headers"
    assert src.budget.effective <= 300


@responses.activate
def test_an_application_limit_429_leaves_the_budget_alone() -> None:
    """An endpoint's own limit (JSON 429) is retried with backoff; the budget is not lowered."""
    base = "https://gitlab.example.com"
    responses.get(f"{base}/api/v4/metadata", json={"version": "16.11.0", "revision": "abc"})
    responses.get(f"{base}/api/v4/user", json={"id": 1, "username": "root", "is_admin": True})
    body = {"message": {"error": "This endpoint has been requested too many times."}}
    responses.get(f"{base}/api/v4/users/7", json=body, status=429)
    responses.get(f"{base}/api/v4/users/7", status=404, json={"message": "404 User Not Found"})
    fake = FakeClock()
    src = _source(base, "glpat-x", fake, budget=600)
    assert src.get_user(7) is None
    assert src.budget is not None
    assert src.budget.effective == 600
    assert src.budget.observed == ()
    assert len(fake.sleeps) == 1


def test_every_attempt_is_charged_retries_included(make_sim: SimFactory) -> None:
    """Two 502s and the success: three requests, three charges."""
    sim = make_sim(version="16.11")
    sim.faults.add(FaultRule(kind="status", status=502, match="GET /projects", times=2))
    fake = FakeClock()
    src = _source(sim.url, sim.tokens["admin"], fake, budget=600)
    src.projects()
    assert src.budget is not None
    assert src.budget.used_last_minute() == src.requests_made
    assert src.requests_made == sim.request_count()


def test_no_budget_means_no_limit() -> None:
    """budget=None: no Budget, requests go as fast as concurrency allows."""
    assert GitLabSource("https://gitlab.example.com", "t").budget is None
    shared = Budget(100)
    assert GitLabSource("https://gitlab.example.com", "t", budget=shared).budget is shared
