"""Pure delivery rules: outcome, next attempt, circuit breaker (docs/delivery.md).

Everything takes ``now`` and, where jitter is involved, a ``random.Random``; nothing reads a
clock, sleeps or logs. The delivery use case applies these decisions to the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass
from typing import Literal

from bridge.config.settings import DeliverySettings
from bridge.model.ledger import AttemptOutcome, ReceiverState
from bridge.retry import RetryPolicy, backoff, exhausted, parse_retry_after

Verdict = Literal["success", "retry", "permanent"]
BODY_LIMIT = 8 * 1024  # response bytes kept per attempt


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRules:
    """The ``delivery.*`` numbers, in seconds: retries, expiry, redirects and the circuit."""

    retry: RetryPolicy
    max_age: float
    accept_redirects: bool
    circuit_threshold: int
    circuit_probe: float
    circuit_probe_max: float

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> DeliveryRules:
        """The rules of ``delivery.*``; the backoff keeps half of each bound fixed (jitter 0.5)."""
        return cls(
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                base=settings.backoff_base,
                cap=settings.backoff_cap,
                jitter=0.5,
                max_retry_after=settings.retry_after_cap,
            ),
            max_age=settings.max_age,
            accept_redirects=settings.accept_redirects,
            circuit_threshold=settings.circuit_threshold,
            circuit_probe=settings.circuit_probe,
            circuit_probe_max=settings.circuit_probe_max,
        )


def verdict(status: int | None, *, accept_redirects: bool) -> Verdict:
    """What an answer means: 2xx success; 410 permanent; anything else (or none) is retried.

    GitLab counts a 3xx as success without following it; the bridge retries it unless
    ``accept_redirects``, since an unfollowed redirect means nobody took the event.
    """
    if status is None:
        return "retry"
    if 200 <= status < 300 or (accept_redirects and 300 <= status < 400):
        return "success"
    return "permanent" if status == 410 else "retry"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """After an attempt: the row's outcome and, for a retry, when to try again."""

    outcome: AttemptOutcome
    next_attempt_at: dt.datetime | None
    reason: str | None  # why it is dead


def decide(
    rules: DeliveryRules,
    *,
    status: int | None,
    attempts: int,
    enqueued_at: dt.datetime,
    now: dt.datetime,
    retry_after: str | None,
    rng: random.Random,
) -> Decision:
    """The outcome of attempt number ``attempts`` (1-based) that answered ``status``.

    A retry never lands past the row's ``max_age`` deadline: the last one is made at it, so an
    event that cannot be delivered ends as a visible dead letter, not as a silent drop.
    """
    result = verdict(status, accept_redirects=rules.accept_redirects)
    if result == "success":
        return Decision(outcome="delivered", next_attempt_at=None, reason=None)
    if result == "permanent":
        return Decision(outcome="dead", next_attempt_at=None, reason=f"HTTP {status}: gone")
    if exhausted(rules.retry, attempts):
        reason = f"gave up after {attempts} attempts"
        return Decision(outcome="dead", next_attempt_at=None, reason=reason)
    deadline = enqueued_at + dt.timedelta(seconds=rules.max_age)
    if now >= deadline:
        return Decision(outcome="dead", next_attempt_at=None, reason="older than max_age")
    wait = backoff(rules.retry, attempts, rng)
    hint = parse_retry_after(retry_after, now=now.timestamp())
    if hint is not None:
        wait = max(wait, min(hint, rules.retry.max_retry_after))
    when = min(now + dt.timedelta(seconds=wait), deadline)
    return Decision(outcome="retry", next_attempt_at=when, reason=None)


def expired(rules: DeliveryRules, enqueued_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a waiting row has outlived ``max_age`` (it becomes a dead letter)."""
    return now >= enqueued_at + dt.timedelta(seconds=rules.max_age)


# --- circuit breaker --------------------------------------------------------------------------


def allows(state: ReceiverState, now: dt.datetime) -> bool:
    """Whether the receiver may be sent to now: closed, or open with its probe due."""
    return state.circuit == "closed" or (state.probe_at is not None and now >= state.probe_at)


def after_success(state: ReceiverState, now: dt.datetime) -> ReceiverState:
    """Any success closes the circuit and resets the failure count."""
    if state.circuit == "closed" and state.consecutive_failures == 0:
        return state
    return ReceiverState(name=state.name, changed_at=now)


def after_failure(rules: DeliveryRules, state: ReceiverState, now: dt.datetime) -> ReceiverState:
    """Count a failure; open at the threshold; a failed probe doubles the wait (to the cap)."""
    failures = state.consecutive_failures + 1
    if state.circuit == "open":
        interval = min(rules.circuit_probe_max, max(state.probe_interval, 1.0) * 2)
        probe_at = now + dt.timedelta(seconds=interval)
        return dataclasses.replace(
            state, consecutive_failures=failures, probe_at=probe_at, probe_interval=interval
        )
    if failures < rules.circuit_threshold:
        return dataclasses.replace(state, consecutive_failures=failures)
    return ReceiverState(
        name=state.name,
        consecutive_failures=failures,
        circuit="open",
        probe_at=now + dt.timedelta(seconds=rules.circuit_probe),
        probe_interval=rules.circuit_probe,
        changed_at=now,
    )
