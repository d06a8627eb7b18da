"""Behaviours that differ between GitLab versions, each against the profile that has it."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory, client


def _get(sim: Simulator, path: str, role: str = "admin", **params: object) -> requests.Response:
    return requests.get(
        f"{sim.url}/api/v4{path}",
        params=params,  # type: ignore[arg-type]
        headers={"PRIVATE-TOKEN": sim.tokens[role]},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("version", "headers"),
    [("12.10", {"Links"}), ("13.12", {"Links", "Link"}), ("16.11", {"Link"})],
)
def test_projects_keyset_link_header_names(
    make_sim: SimFactory, version: str, headers: set[str]
) -> None:
    """/projects keyset: Links before 13.1, Links and Link in 13.x, Link from 14.0."""
    sim = make_sim(version=version)
    response = _get(sim, "/projects", pagination="keyset", order_by="id", sort="asc", per_page=5)
    present = {name for name in ("Link", "Links") if name in response.headers}
    assert present == headers
    assert all("id_after=" in response.headers[name] for name in present)


@pytest.mark.parametrize(("version", "has_shares"), [("13.12", False), ("16.11", True)])
def test_group_detail_without_projects_per_era(
    make_sim: SimFactory, version: str, has_shares: bool
) -> None:
    """with_projects=false gave the plain Group entity (no shares) before ~14.x."""
    sim = make_sim(version=version)
    gid = next(
        s for (kind, s), links in sim.world.snapshot().shares.items() if kind == "group" and links
    )
    light = _get(sim, f"/groups/{gid}", with_projects="false").json()
    full = _get(sim, f"/groups/{gid}").json()
    assert ("shared_with_groups" in light) is has_shares
    assert "projects" not in light
    assert full["shared_with_groups"]
    assert "projects" in full


def _build(sim: Simulator) -> dict[str, int]:
    """Parent group P holds project X; user A is Guest-with-expiry on X and Maintainer of P;
    group S (public) is invited into P at Reporter; user B is S's Owner."""
    w = sim.world
    parent = w.add_group("era-parent", visibility="public")
    invited = w.add_group("era-invited", visibility="public")
    project = w.add_project("era-proj", namespace_id=parent.id, visibility="public")
    a, b = w.add_user("era-a"), w.add_user("era-b")
    w.add_member("project", project.id, a.id, 10, expires_at=dt.date(2027, 1, 1))
    w.add_member("group", parent.id, a.id, 40)
    w.add_member("group", invited.id, b.id, 50)
    w.share("group", parent.id, invited.id, 20)
    return {"parent": parent.id, "project": project.id, "a": a.id, "b": b.id}


@pytest.mark.parametrize(
    ("version", "a_project", "b_in_parent"),
    [
        (
            "12.10",
            (10, "2027-01-01"),
            None,
        ),  # project row first, own level; no shares into the chain
        ("13.12", (40, "2027-01-01"), 20),  # own row kept, effective level; shared-in capped
        ("16.11", (40, "2027-01-01"), 20),
    ],
)
def test_members_all_rows_per_era(
    make_sim: SimFactory, version: str, a_project: tuple[int, str], b_in_parent: int | None
) -> None:
    """/members/all picks rows and levels as each era's MembersFinder does."""
    sim = make_sim(version=version)
    ids = _build(sim)
    rows = {m["id"]: m for m in _get(sim, f"/projects/{ids['project']}/members/all").json()}
    assert (rows[ids["a"]]["access_level"], rows[ids["a"]]["expires_at"]) == a_project
    parent_rows = {
        m["id"]: m["access_level"] for m in _get(sim, f"/groups/{ids['parent']}/members/all").json()
    }
    assert parent_rows.get(ids["b"]) == b_in_parent
    assert parent_rows[ids["a"]] == 40


@pytest.mark.parametrize(("version", "hidden"), [("13.12", False), ("16.11", True)])
def test_non_admins_do_not_list_blocked_users_in_newer_versions(
    make_sim: SimFactory, version: str, hidden: bool
) -> None:
    """UsersFinder drops blocked, banned and ldap_blocked users for non-admins (16.x)."""
    sim = make_sim(version=version)
    blocked = sim.world.add_user("era-blocked", state="blocked")
    seen = {u.id for u in client(sim, "user").users.list(get_all=True, per_page=100)}
    assert (blocked.id not in seen) is hidden
    assert blocked.id in {u.id for u in client(sim).users.list(get_all=True, per_page=100)}


@pytest.mark.parametrize(("version", "level"), [("13.12", 40), ("16.11", 50)])
def test_personal_project_owner_level_per_era(
    make_sim: SimFactory, version: str, level: int
) -> None:
    """Before ~14.9 a personal project's owner shows as Maintainer, in both APIs."""
    sim = make_sim(version=version)
    owner = sim.world.add_user("era-owner")
    project = sim.world.add_project("mine", namespace_id=owner.namespace_id)
    sim.world.add_member("project", project.id, owner.id, 50)
    assert _get(sim, f"/projects/{project.id}/members/{owner.id}").json()["access_level"] == level
    memberships = _get(sim, f"/users/{owner.id}/memberships").json()
    assert [m["access_level"] for m in memberships] == [level]
