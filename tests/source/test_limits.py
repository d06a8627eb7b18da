"""GitLab's own limit from its application settings: parsing, reading, and capping the budget."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from bridge.errors import TokenRefused
from bridge.source import GitLabSource
from bridge.source.budget import HEADROOM
from bridge.source.limits import InstanceLimits, parse_limits
from bridge.testing.sim.ratelimit import Throttle
from tests.conftest import SimFactory

BASE = "https://gitlab.example.com"
SETTINGS = f"{BASE}/api/v4/application/settings"
DEFAULTS_ON = InstanceLimits(enabled=True, requests_per_period=7200, period_seconds=3600)
DEFAULTS_OFF = InstanceLimits(enabled=False, requests_per_period=7200, period_seconds=3600)


def _answer(enabled: Any = True, count: Any = 7200, period: Any = 3600) -> dict[str, Any]:
    return {
        "id": 1,
        "throttle_authenticated_api_enabled": enabled,
        "throttle_authenticated_api_requests_per_period": count,
        "throttle_authenticated_api_period_in_seconds": period,
    }


def test_per_minute_is_the_exact_rate() -> None:
    """7200 per 3600 s is 120 a minute; 100 per 7200 s is 0.83, not rounded up."""
    assert DEFAULTS_ON.per_minute == 120
    slow = InstanceLimits(enabled=True, requests_per_period=100, period_seconds=7200)
    assert slow.per_minute == pytest.approx(100 / 120)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_answer(), DEFAULTS_ON),
        (_answer(False), DEFAULTS_OFF),
        ({"id": 1}, None),  # a GitLab without the settings
        (_answer("yes"), None),
        (_answer(count=0), None),
        (_answer(period=-60), None),
        (_answer(period=True), None),
        (_answer(count="7200"), None),
        ([], None),
    ],
)  # fmt: skip
def test_parse_limits_takes_only_a_usable_throttle(
    data: Any, expected: InstanceLimits | None
) -> None:
    """Missing fields or values of the wrong type or sign mean no limit is known."""
    assert parse_limits(data) == expected


def test_an_enabled_throttle_caps_the_budget(make_sim: SimFactory) -> None:
    """Throttle 7200/3600 on: instance_limits() reads it and the budget becomes 0.8 x 120."""
    sim = make_sim(version="16.11", throttle=Throttle.parse("7200/3600"))
    src = GitLabSource(sim.url, sim.tokens["admin"], budget=600)
    limits = src.instance_limits()
    assert limits == DEFAULTS_ON
    assert src.budget is not None
    assert src.budget.effective == pytest.approx(HEADROOM * 120)
    assert src.budget.observed[-1].source == "application settings"


def test_a_disabled_throttle_leaves_the_budget(make_sim: SimFactory) -> None:
    """Throttle off: the settings are read, the budget stays as configured."""
    sim = make_sim(version="12.10")
    src = GitLabSource(sim.url, sim.tokens["admin"], budget=600)
    limits = src.instance_limits()
    assert limits is not None
    assert not limits.enabled
    assert src.budget is not None
    assert src.budget.effective == 600
    assert src.budget.observed == ()


def test_a_non_admin_gets_none(make_sim: SimFactory) -> None:
    """A token that is not an admin's gets 403: the limit is unknown, nothing raised."""
    sim = make_sim(version="16.11", throttle=Throttle.parse("7200/3600"))
    src = GitLabSource(sim.url, sim.tokens["user"], budget=600)
    assert src.instance_limits() is None
    assert src.budget is not None
    assert src.budget.effective == 600


@responses.activate
def test_a_missing_route_gets_none() -> None:
    """A 404 (a GitLab or proxy without the route) is tolerated as an unknown limit."""
    responses.get(SETTINGS, status=404, json={"error": "404 Not Found"})
    assert GitLabSource(BASE, "glpat-x").instance_limits() is None


@responses.activate
def test_a_refused_token_still_raises() -> None:
    """401 is not an unknown limit: the token itself is refused."""
    responses.get(SETTINGS, status=401, json={"message": "401 Unauthorized"})
    with pytest.raises(TokenRefused):
        GitLabSource(BASE, "glpat-x").instance_limits()


@responses.activate
def test_without_a_budget_the_limits_are_still_read() -> None:
    """budget=None: instance_limits() reports the throttle and caps nothing."""
    responses.get(SETTINGS, json=_answer())
    src = GitLabSource(BASE, "glpat-x")
    assert src.instance_limits() == parse_limits(_answer())
    assert src.budget is None
