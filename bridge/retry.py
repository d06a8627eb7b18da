"""Pure backoff arithmetic: how long to wait before the next attempt, or give up.

No clock reads, sleeping or I/O: the caller passes ``now`` (Unix seconds, for ``Retry-After``
dates and ``RateLimit-Reset``) and a ``random.Random`` for the jitter (GITLAB_API.md §4.4).
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one request.

    ``max_attempts`` counts every try, the first included; ``base`` and ``cap`` bound the
    full-jitter exponential delay; ``max_retry_after`` caps what a server may ask us to wait.
    """

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("base, cap and max_retry_after must not be negative")


def backoff_bound(policy: RetryPolicy, attempt: int) -> float:
    """Upper bound of the jittered delay after failed attempt ``attempt`` (0-based)."""
    if attempt >= 64:  # 2**attempt overflows floats long before; the cap applies anyway
        return policy.cap
    return min(policy.cap, policy.base * 2.0**attempt)


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


def next_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    now: float,
    retry_after: str | None,
    ratelimit_reset: str | None,
    rng: random.Random,
) -> float | None:
    """Seconds to wait after failed attempt ``attempt`` (0-based), or None to give up.

    A server hint wins (``Retry-After``, then ``RateLimit-Reset`` - ``now``) with up to ``base``
    seconds of jitter so that workers do not return in lockstep; otherwise full-jitter
    exponential backoff, ``uniform(0, min(cap, base * 2**attempt))``.
    """
    if attempt + 1 >= policy.max_attempts:
        return None
    hint = parse_retry_after(retry_after, now=now)
    if hint is None:
        hint = parse_ratelimit_reset(ratelimit_reset, now=now)
    if hint is not None:
        return min(policy.max_retry_after, hint + rng.uniform(0, policy.base))
    return rng.uniform(0, backoff_bound(policy, attempt))
