"""GitLab's two kinds of 429 (docs/gitlab-api.md#rate-limits).

*Throttle* (Rack::Attack): fixed, epoch-aligned windows per user (per IP when anonymous), a
``Retry later`` text body and ``RateLimit-*``/``Retry-After`` headers computed as
``Gitlab::RackAttack.throttled_response_headers`` does. *Application* limits
(``check_rate_limit!``): per endpoint, a JSON body and no headers.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Headers = list[tuple[str, str]]
APP_LIMIT_BODY = {
    "message": {"error": "This endpoint has been requested too many times. Try again later."}
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Throttle:
    """A Rack::Attack throttle: ``limit`` requests per ``period`` seconds per discriminator."""

    limit: int
    period: int = 60
    exempt_tokens: frozenset[str] = frozenset()
    headers_on_success: bool = False  # GitLab.com sends RateLimit-* on every response
    strip_headers: bool = False  # a CDN that drops them from 429s

    @classmethod
    def parse(cls, spec: str) -> Throttle:
        """``N/s``, ``N/m``, ``N/h`` or ``N/<seconds>`` (e.g. ``7200/3600``)."""
        count, _, per = spec.partition("/")
        units = {"s": 1, "m": 60, "min": 60, "h": 3600}
        valid_per = per in units or (per.isdigit() and int(per) >= 1)
        if not count.strip().isdigit() or not valid_per or int(count) < 1:
            raise ValueError(f"rate limit {spec!r} is not N/s, N/m, N/h or N/<seconds>, N >= 1")
        period = units[per] if per in units else int(per)
        return cls(limit=int(count), period=period)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppLimit:
    """An application rate limit on one endpoint template (``check_rate_limit!``)."""

    limit: int
    period: int
    per_source: bool = False  # scoped to the group or project in the path as well as the user
    non_admin_only: bool = False
    anonymous_only: bool = False  # counts anonymous callers (per IP) only


@dataclass(slots=True)
class _Window:
    start: float
    count: int = 0


@dataclass
class RateLimiter:
    """Counts requests and decides 429s; thread-safe."""

    throttle: Throttle | None = None
    app_limits: dict[str, AppLimit] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    _windows: dict[tuple[object, ...], _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_throttle(self, discriminator: str, token: str | None) -> tuple[bool, Headers]:
        """(allowed, headers) for the throttle; headers are empty when none apply."""
        throttle = self.throttle
        if throttle is None or (token is not None and token in throttle.exempt_tokens):
            return True, []
        now = self.clock()
        epoch = int(now)
        window_start = epoch - epoch % throttle.period
        with self._lock:
            window = self._windows.get(("throttle", discriminator))
            if window is None or window.start != window_start:
                window = self._windows[("throttle", discriminator)] = _Window(window_start)
            window.count += 1
            observed = window.count
        allowed = observed <= throttle.limit
        if allowed and not throttle.headers_on_success:
            return True, []
        if not allowed and throttle.strip_headers:
            return False, []
        name = "throttle_unauthenticated_api" if token is None else "throttle_authenticated_api"
        return allowed, throttle_headers(name, throttle, observed, epoch)

    def check_app_limit(
        self, template: str, user_key: str, source: str, is_admin: bool, *, anonymous: bool = False
    ) -> bool:
        """False when the endpoint's application limit is exhausted for this caller."""
        limit = self.app_limits.get(template)
        if limit is None or (limit.non_admin_only and is_admin):
            return True
        if limit.anonymous_only and not anonymous:
            return True
        key = ("app", template, user_key, source if limit.per_source else "")
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= limit.period:
                window = self._windows[key] = _Window(now)
            window.count += 1
            return window.count <= limit.limit

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()


def throttle_headers(name: str, throttle: Throttle, observed: int, now: int) -> Headers:
    """RateLimit-* and Retry-After exactly as GitLab computes them."""
    rounded_limit = math.ceil(throttle.limit * 60 / throttle.period)
    retry_after = throttle.period - (now % throttle.period)
    reset = now + retry_after
    return [
        ("RateLimit-Name", name),
        ("RateLimit-Limit", str(rounded_limit)),
        ("RateLimit-Observed", str(observed)),
        ("RateLimit-Remaining", str(max(0, throttle.limit - observed))),
        ("RateLimit-Reset", str(reset)),
        ("RateLimit-ResetTime", email.utils.formatdate(reset, usegmt=True)),
        ("Retry-After", str(retry_after)),
    ]


def default_app_limits(modern: bool) -> dict[str, AppLimit]:
    """The ``check_rate_limit!`` limits on by default (``ApplicationSettingImplementation``
    defaults, ``Gitlab::ApplicationRateLimiter`` intervals); ``modern`` is the 16.x+ profiles.

    * ``GET /users/:id``: ``users_get_by_id`` 300 per 10 min per user, admins exempt
      (``lib/api/users.rb``: ``unless current_user.can_read_all_resources?``).
    * ``GET /projects`` anonymous: ``projects_api_rate_limit_unauthenticated`` 400 per 10 min
      per IP (GA in 16.0; ``lib/api/projects.rb``).

    Left off, as on self-managed instances by default: the authenticated ``projects_api``
    (2000 per 10 min) and ``groups_api`` (200 per min) limits, behind the feature flag
    ``rate_limit_groups_and_projects_api`` (off from 17.1 to 18.0, GA in 18.1). There is no
    limit on ``GET /groups/:id/members/all`` (``lib/api/members.rb`` checks none).
    """
    if not modern:
        return {}
    return {
        "GET /users/:id": AppLimit(limit=300, period=600, non_admin_only=True),
        "GET /projects": AppLimit(limit=400, period=600, anonymous_only=True),
    }
