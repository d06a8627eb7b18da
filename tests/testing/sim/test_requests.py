"""Request handling: refused users, HEAD, parameter validation, anonymous group keyset."""

from __future__ import annotations

import pytest
import requests

from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"state": "blocked"}, "403 Forbidden - Your account has been blocked."),
        ({"state": "ldap_blocked"}, "403 Forbidden - Your account has been blocked."),
        ({"state": "banned"}, "403 Forbidden - Your account has been blocked."),
        (
            {"state": "blocked_pending_approval"},
            "403 Forbidden - Your account is pending approval from your administrator "
            "and hence blocked.",
        ),
        (
            {"user_type": "ghost"},
            "403 Forbidden - This action cannot be performed by internal users",
        ),
    ],
)
def test_tokens_of_refused_users_get_403_with_the_reason(
    small_sim: Simulator, attrs: dict[str, str], message: str
) -> None:
    """A valid token of a user who may not use the API is a 403 naming why, not a 401."""
    user = small_sim.world.add_user(f"refused-{next(iter(attrs.values()))}", **attrs)
    token = small_sim.world.add_token(user.id)
    response = requests.get(
        f"{small_sim.url}/api/v4/user", headers={"PRIVATE-TOKEN": token}, timeout=10
    )
    assert (response.status_code, response.json()) == (403, {"message": message})


def test_deactivated_users_are_told_to_sign_in_again(small_sim: Simulator) -> None:
    """A deactivated user's token is refused with the URL to reactivate at."""
    user = small_sim.world.add_user("refused-deactivated", state="deactivated")
    token = small_sim.world.add_token(user.id)
    response = requests.get(
        f"{small_sim.url}/api/v4/user", headers={"PRIVATE-TOKEN": token}, timeout=10
    )
    assert response.status_code == 403
    assert response.json()["message"].endswith(
        f"reactivate your account at {small_sim.external_url}"
    )


def test_head_is_answered_like_get_without_a_body(small_sim: Simulator) -> None:
    """HEAD on a GET route has GET's status and headers and no body."""
    headers = {"PRIVATE-TOKEN": small_sim.tokens["admin"]}
    head = requests.head(f"{small_sim.url}/api/v4/users", headers=headers, timeout=10)
    get = requests.get(f"{small_sim.url}/api/v4/users", headers=headers, timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["X-Total"] == get.headers["X-Total"]


def test_invalid_order_by_is_400_for_non_admins_too(small_sim: Simulator) -> None:
    """Grape validates order_by for everyone before dropping it for non-admins."""
    url = f"{small_sim.url}/api/v4/users"
    for role in ("user", "admin"):
        response = requests.get(
            url,
            params={"order_by": "karma"},
            headers={"PRIVATE-TOKEN": small_sim.tokens[role]},
            timeout=10,
        )
        assert (response.status_code, response.json()) == (
            400,
            {"error": "order_by does not have a valid value"},
        )


def test_anonymous_groups_keyset_walks_every_public_group(make_sim: SimFactory) -> None:
    """Anonymous /groups (14.3+) pages by cursor in name order and covers every public group."""
    sim = make_sim()
    for n in range(7):
        sim.world.add_group(f"pub-{n}", name=f"Public {n % 3}", visibility="public")
    expected = sorted(
        (g for g in sim.world.snapshot().groups.values() if g.visibility == "public"),
        key=lambda g: (g.name, g.id),
    )
    url: str | None = f"{sim.url}/api/v4/groups?pagination=keyset&order_by=name&sort=asc&per_page=3"
    seen: list[int] = []
    while url:
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        seen += [g["id"] for g in response.json()]
        url = response.links.get("next", {}).get("url")
        assert url is None or "cursor=" in url
    assert seen == [g.id for g in expected]
    by_id = requests.get(f"{sim.url}/api/v4/groups?pagination=keyset&order_by=id", timeout=10)
    assert by_id.status_code == 405


def test_non_admin_keyset_links_drop_admin_only_parameters(make_sim: SimFactory) -> None:
    """A non-admin's order_by/sort are dropped from the params, so the cursor walk is consistent."""
    sim = make_sim()
    url: str | None = (
        f"{sim.url}/api/v4/users?pagination=keyset&order_by=username&sort=asc&per_page=7"
    )
    seen: list[int] = []
    while url:
        response = requests.get(url, headers={"PRIVATE-TOKEN": sim.tokens["user"]}, timeout=10)
        seen += [u["id"] for u in response.json()]
        url = response.links.get("next", {}).get("url")
        assert url is None or ("sort=" not in url and "order_by=" not in url)
    visible = [
        u.id
        for u in sim.world.snapshot().users.values()
        if u.state not in ("blocked", "banned", "ldap_blocked")
    ]
    assert seen == sorted(visible, reverse=True)
