"""``GET /application/settings`` of the simulated GitLab: admins only, its throttle's values."""

from __future__ import annotations

import requests

from bridge.testing.sim.ratelimit import Throttle
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory

FIELDS = (
    "throttle_authenticated_api_enabled",
    "throttle_authenticated_api_requests_per_period",
    "throttle_authenticated_api_period_in_seconds",
)


def _settings(sim: Simulator, token: str | None) -> requests.Response:
    headers = {"PRIVATE-TOKEN": token} if token else {}
    return requests.get(f"{sim.url}/api/v4/application/settings", headers=headers, timeout=30)


def test_the_throttle_of_sim_serve_rate_limit_is_reported(make_sim: SimFactory) -> None:
    """--rate-limit 7200/3600 reads back as GitLab's authenticated API throttle settings."""
    sim = make_sim(version="16.11", throttle=Throttle.parse("7200/3600"))
    body = _settings(sim, sim.tokens["admin"]).json()
    assert [body[f] for f in FIELDS] == [True, 7200, 3600]


def test_without_a_throttle_the_defaults_show_disabled(make_sim: SimFactory) -> None:
    """No throttle: disabled, with GitLab's defaults of 7200 per 3600 s."""
    sim = make_sim(version="12.10")
    body = _settings(sim, sim.tokens["admin"]).json()
    assert [body[f] for f in FIELDS] == [False, 7200, 3600]


def test_changing_the_throttle_changes_the_answer(make_sim: SimFactory) -> None:
    """PUT /-/sim/rate_limit is what the next answer reports."""
    sim = make_sim(version="17.5")
    requests.put(f"{sim.url}/-/sim/rate_limit", json={"limit": 50, "period": 10}, timeout=30)
    body = _settings(sim, sim.tokens["admin"]).json()
    assert [body[f] for f in FIELDS] == [True, 50, 10]


def test_only_administrators_may_read_it(make_sim: SimFactory) -> None:
    """authenticated_as_admin!: 403 for a user, 401 for anonymous callers."""
    sim = make_sim(version="16.11")
    user = _settings(sim, sim.tokens["user"])
    assert (user.status_code, user.json()) == (403, {"message": "403 Forbidden"})
    assert _settings(sim, None).status_code == 401
