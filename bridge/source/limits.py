"""GitLab's own request limit, read from its application settings at start.

``GET /application/settings`` is for administrators only (``lib/api/settings.rb``: ``before {
authenticated_as_admin! }``) and presents ``Entities::ApplicationSetting``, which exposes
``ApplicationSettingsHelper.visible_attributes`` (``lib/api/entities/application_setting.rb``,
``app/helpers/application_settings_helper.rb``). Among them, the throttle Rack::Attack applies
to authenticated API requests, per user (``Gitlab::Throttle.authenticated_api_options``):

* ``throttle_authenticated_api_enabled`` (default false),
* ``throttle_authenticated_api_requests_per_period`` (default 7200),
* ``throttle_authenticated_api_period_in_seconds`` (default 3600).

They exist since GitLab 10.3 (migration ``AddGlobalRateLimitsToApplicationSettings``;
CHANGELOG 10.3.0: "authenticated (web or API) rate limits per user", !14708), so on every
version the bridge supports; a GitLab without them, or a token that may not read them (403,
404), gives None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import gitlab

from bridge.errors import FatalSourceError, TokenRefused
from bridge.source.budget import WINDOW
from bridge.source.transport import Transport

SETTINGS_PATH = "/application/settings"
_PREFIX = "throttle_authenticated_api_"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceLimits:
    """GitLab's authenticated API throttle: ``requests_per_period`` per user and period."""

    enabled: bool
    requests_per_period: int
    period_seconds: int

    @property
    def per_minute(self) -> float:
        """The same limit per 60 seconds (not rounded up, unlike ``RateLimit-Limit``)."""
        return self.requests_per_period * WINDOW / self.period_seconds


def parse_limits(data: Any) -> InstanceLimits | None:
    """The throttle from an application settings answer; None if it lacks a usable one."""
    if not isinstance(data, dict):
        return None
    enabled = data.get(f"{_PREFIX}enabled")
    count = data.get(f"{_PREFIX}requests_per_period")
    period = data.get(f"{_PREFIX}period_in_seconds")
    if not isinstance(enabled, bool) or not _positive(count) or not _positive(period):
        return None
    return InstanceLimits(enabled=enabled, requests_per_period=count, period_seconds=period)


def read_limits(http: Transport) -> InstanceLimits | None:
    """GitLab's authenticated API throttle, or None when the settings cannot be read."""
    try:
        page = http.get(SETTINGS_PATH, {}, "application settings", missing="any")
    except TokenRefused:
        raise
    except FatalSourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, gitlab.GitlabError) and cause.response_code == 403:
            return None  # not an administrator
        raise
    return None if page is None else parse_limits(page.data)


def _positive(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
