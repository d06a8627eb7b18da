"""Pure backoff arithmetic for every retry in the bridge: one policy type, one formula.

Three callers share it: reads from GitLab (full jitter, docs/gitlab-api.md#how-the-bridge-retries),
deliveries (half fixed, half random, docs/delivery.md#retries-and-dead-letters) and the daemon's
reconnect loop. They differ only in their numbers. No clock reads, sleeping or I/O: the caller
passes ``now`` (Unix seconds, for ``Retry-After`` dates and ``RateLimit-Reset``) and a
``random.Random`` for the jitter.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass

_MAX_EXPONENT = 62  # 2**62 times any base is past every cap; larger exponents overflow floats


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry.

    ``max_attempts`` counts every try, the first included. After the n-th consecutive failure
    the wait is ``b·(1 - jitter) + uniform(0, b·jitter)`` with ``b = min(cap, base·2^(n-1))``:
    ``jitter`` 1 is full jitter, 0.5 keeps half of ``b`` fixed. ``max_retry_after`` caps what a
    server may ask us to wait.
    """

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    jitter: float = 1.0
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("base, cap and max_retry_after must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within 0..1, not {self.jitter}")


def backoff_bound(policy: RetryPolicy, failures: int) -> float:
    """``min(cap, base·2^(failures-1))``: the longest wait after ``failures`` failures (≥ 1)."""
    exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
    return min(policy.cap, policy.base * 2.0**exponent)


def backoff(policy: RetryPolicy, failures: int, rng: random.Random) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (≥ 1), jittered."""
    bound = backoff_bound(policy, failures)
    return bound * (1 - policy.jitter) + rng.uniform(0, bound * policy.jitter)


def exhausted(policy: RetryPolicy, attempts: int) -> bool:
    """Whether ``attempts`` tries (the first included) spend the policy's budget."""
    return attempts >= policy.max_attempts


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_ratelimit_reset(value: str | None, *, now: float) -> float | None:
    """Seconds until a ``RateLimit-Reset`` Unix time."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return max(0.0, reset - now) if math.isfinite(reset) else None


def read_delay(
    policy: RetryPolicy,
    failures: int,
    *,
    now: float,
    retry_after: str | None,
    ratelimit_reset: str | None,
    rng: random.Random,
) -> float | None:
    """Seconds before retrying a GitLab read after ``failures`` failures, or None to give up.

    A server hint wins (``Retry-After``, then ``RateLimit-Reset`` - ``now``) with up to ``base``
    seconds of jitter so that workers do not return in lockstep; otherwise ``backoff``.
    """
    if exhausted(policy, failures):
        return None
    hint = parse_retry_after(retry_after, now=now)
    if hint is None:
        hint = parse_ratelimit_reset(ratelimit_reset, now=now)
    if hint is not None:
        return min(policy.max_retry_after, hint + rng.uniform(0, policy.base))
    return backoff(policy, failures, rng)
