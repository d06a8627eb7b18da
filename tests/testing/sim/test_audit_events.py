"""EE instance audit events: the member-change trail per version, filters, auth and paging."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import requests

from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory


def _get(sim: Simulator, path: str, role: str | None = "admin", **params: Any) -> requests.Response:
    headers = {"PRIVATE-TOKEN": sim.tokens[role]} if role else {}
    return requests.get(f"{sim.url}/api/v4{path}", params=params, headers=headers, timeout=10)


def _lifecycle(sim: Simulator) -> dict[str, Any]:
    """Add a Developer (created by user 2) to a new project, promote them, remove them; then
    add them to a new group with an expiry and let the worker expire it."""
    w = sim.world
    group = w.add_group("audit-grp")
    project = w.add_project("audit-proj", namespace_id=group.id)
    user = w.add_user("audit-user", name="Audit User", email="audit-user@example.com")
    joined = w.add_member("project", project.id, user.id, 30, expires_at=dt.date(2030, 1, 1))
    w.update_member("project", project.id, user.id, access_level=40)
    w.remove_member("project", project.id, user.id)
    expiring = w.add_member(
        "group", group.id, user.id, 20, expires_at=dt.date(2026, 11, 5), created_by_id=2
    )
    w.expire(dt.date(2026, 11, 6))
    return {
        "group": group.id,
        "project": project.id,
        "user": user.id,
        "project_member": joined.id,
        "group_member": expiring.id,
        "creator": w.snapshot().users[2].name,
    }


def _trail(sim: Simulator, ids: dict[str, Any]) -> list[dict[str, Any]]:
    """The lifecycle's events, oldest first (the API lists newest first)."""
    project = _get(sim, "/audit_events", entity_type="Project", entity_id=ids["project"]).json()
    group = _get(sim, "/audit_events", entity_type="Group", entity_id=ids["group"]).json()
    return sorted(project + group, key=lambda e: e["id"])


def test_member_trail_13_12_ee(make_sim: SimFactory) -> None:
    """13.x AuditEventService#for_member: target_id is the membership id, no member_id, the
    expiry is authored by nobody (-1) but names the membership's creator."""
    sim = make_sim(version="13.12-ee")
    ids = _lifecycle(sim)
    events = _trail(sim, ids)
    assert [e["author_id"] for e in events] == [1, 1, 1, 1, -1]
    assert [e["entity_type"] for e in events] == ["Project"] * 3 + ["Group"] * 2
    target = {"target_type": "User", "target_details": "Audit User"}
    admin = {"author_name": "Administrator", "target_id": ids["project_member"], **target}
    local = {"ip_address": "127.0.0.1", "entity_path": "audit-grp/audit-proj"}
    assert [e["details"] for e in events] == [
        {"add": "user_access", "as": "Developer", **admin, **local},
        {
            "change": "access_level",
            "from": "Developer",
            "to": "Maintainer",
            "expiry_from": "2030-01-01",
            "expiry_to": "2030-01-01",
            **admin,
            **local,
        },
        {"remove": "user_access", **admin, **local},
        {
            "add": "user_access",
            "as": "Reporter",
            **admin,
            "target_id": ids["group_member"],
            "ip_address": "127.0.0.1",
            "entity_path": "audit-grp",
        },
        {
            "remove": "user_access",
            "author_name": ids["creator"],
            "target_id": ids["group_member"],
            **target,
            "system_event": True,
            "reason": "access expired on 2026-11-05",
            "ip_address": None,
            "entity_path": "audit-grp",
        },
    ]
    assert list(events[0]) == [
        "id",
        "author_id",
        "entity_id",
        "entity_type",
        "details",
        "created_at",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", events[0]["created_at"])


def test_member_trail_16_11_ee(make_sim: SimFactory) -> None:
    """Auditor era: target_id is the user, member_id the membership; a custom_message; the
    expiry's author is "(System)" (-1, no email); author_email from 15.9."""
    sim = make_sim(version="16.11-ee")
    ids = _lifecycle(sim)
    events = _trail(sim, ids)
    assert [e["author_id"] for e in events] == [1, 1, 1, 1, -1]
    pm, gm = ids["project_member"], ids["group_member"]
    target = {"target_id": ids["user"], "target_type": "User", "target_details": "Audit User"}
    admin = {"author_name": "Administrator", **target}
    proj = {"ip_address": "127.0.0.1", "entity_path": "audit-grp/audit-proj"}
    email = {"author_email": "admin@example.com"}
    assert [e["details"] for e in events] == [
        {
            "add": "user_access",
            "as": "Developer",
            "member_id": pm,
            **admin,
            "custom_message": "Membership created",
            **proj,
            **email,
        },
        {
            "change": "access_level",
            "from": "Developer",
            "to": "Maintainer",
            "expiry_from": "2030-01-01",
            "expiry_to": "2030-01-01",
            "as": "Maintainer",
            "member_id": pm,
            **admin,
            "custom_message": "Membership updated",
            **proj,
            **email,
        },
        {
            "remove": "user_access",
            "member_id": pm,
            **admin,
            "custom_message": "Membership destroyed",
            **proj,
            **email,
        },
        {
            "add": "user_access",
            "as": "Reporter",
            "member_id": gm,
            **admin,
            "custom_message": "Membership created",
            "ip_address": "127.0.0.1",
            "entity_path": "audit-grp",
            **email,
        },
        {
            "remove": "user_access",
            "member_id": gm,
            "system_event": True,
            "reason": "access expired on 2026-11-05",
            "author_name": "(System)",
            **target,
            "custom_message": "Membership expired on 2026-11-05",
            "ip_address": None,
            "entity_path": "audit-grp",
            "author_email": None,
        },
    ]
    # key order is GitLab's: additional_details first, then BuildService's keys
    assert list(events[1]["details"])[:8] == [
        "change",
        "from",
        "to",
        "expiry_from",
        "expiry_to",
        "as",
        "member_id",
        "author_name",
    ]


def test_member_trail_17_7_ee_labels_roles(make_sim: SimFactory) -> None:
    """17.x names roles with human_access_labeled and adds member_role_id to updates."""
    sim = make_sim(version="17.7-ee")
    ids = _lifecycle(sim)
    created, updated, removed, _, expired = (e["details"] for e in _trail(sim, ids))
    assert created["as"] == "Default role: Developer"
    assert (updated["from"], updated["to"], updated["as"]) == (
        "Default role: Developer",
        "Default role: Maintainer",
        "Default role: Maintainer",
    )
    assert updated["member_role_id"] is None
    assert removed["as"] == "Default role: Maintainer"
    assert list(expired)[:5] == ["remove", "as", "member_id", "system_event", "reason"]
    assert expired["author_name"] == "(System)"


def test_one_event_per_change(make_sim: SimFactory) -> None:
    """Each member change writes exactly one audit event; the list is newest first."""
    sim = make_sim(version="17.7-ee")
    assert _get(sim, "/audit_events").json() == []
    w = sim.world
    project = w.add_project("one-each", namespace_id=w.add_group("one-each-g").id)
    user = w.add_user("one-each-u")
    counts = []
    w.add_member("project", project.id, user.id, 30)
    counts.append(len(_get(sim, "/audit_events").json()))
    w.update_member("project", project.id, user.id, access_level=20)
    counts.append(len(_get(sim, "/audit_events").json()))
    w.remove_member("project", project.id, user.id)
    counts.append(len(_get(sim, "/audit_events").json()))
    assert counts == [1, 2, 3]
    listed = _get(sim, "/audit_events").json()
    assert [e["id"] for e in listed] == [3, 2, 1]
    assert [next(iter(e["details"])) for e in listed] == ["remove", "change", "add"]
    single = _get(sim, "/audit_events/2")
    assert single.status_code == 200
    assert single.json() == listed[1]


def test_filters(make_sim: SimFactory) -> None:
    """created_after/created_before bound created_at; entity_type and entity_id filter."""
    sim = make_sim(version="16.11-ee")
    w = sim.world
    group = w.add_group("filters-g")
    project = w.add_project("filters-p", namespace_id=group.id)
    user = w.add_user("filters-u")
    w.add_member("group", group.id, user.id, 30)
    w.clock.advance(3600)
    middle = w.clock.now()
    w.add_member("project", project.id, user.id, 30)
    w.clock.advance(3600)
    w.update_member("project", project.id, user.id, access_level=40)
    events = _get(sim, "/audit_events").json()
    stamp = {e["id"]: e["created_at"] for e in events}
    assert len(events) == 3

    def ids(**params: Any) -> list[int]:
        response = _get(sim, "/audit_events", **params)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()]

    at = middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert ids(created_after=at) == [3, 2]
    assert ids(created_before=at) == [1]
    # the API shows milliseconds, the row keeps microseconds: a shown stamp is a lower bound
    assert ids(created_after=stamp[2]) == [3, 2]
    assert ids(entity_type="Group") == [1]
    assert ids(entity_type="Project", entity_id=project.id) == [3, 2]
    assert ids(entity_type="Project", entity_id=project.id + 999) == []
    assert ids(entity_type="User") == []
    assert ids(entity_type="Gitlab::Audit::InstanceScope") == []


@pytest.mark.parametrize(
    ("version", "params", "error"),
    [
        ("16.11-ee", {"entity_id": "5"}, "entity_type is missing"),
        ("16.11-ee", {"entity_type": "Issue"}, "entity_type does not have a valid value"),
        (
            "13.12-ee",
            {"entity_type": "Gitlab::Audit::InstanceScope"},
            "entity_type does not have a valid value",
        ),
        ("16.11-ee", {"entity_id": "x"}, "entity_id is invalid, entity_type is missing"),
        ("16.11-ee", {"created_after": "yesterday"}, "created_after is invalid"),
        (
            "16.11-ee",
            {"created_before": "2026-13-01", "page": "a"},
            "created_before is invalid, page is invalid",
        ),
    ],
)
def test_invalid_params(
    make_sim: SimFactory, version: str, params: dict[str, str], error: str
) -> None:
    """Grape's 400s, every message in declaration order."""
    response = _get(make_sim(version=version), "/audit_events", **params)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_admins_only(make_sim: SimFactory) -> None:
    """authenticated_as_admin! runs before validation: 401 anonymous, 403 non-admin."""
    sim = make_sim(version="17.7-ee")
    for path in ("/audit_events", "/audit_events/1"):
        anonymous = _get(sim, path, role=None, entity_id="5")
        assert (anonymous.status_code, anonymous.json()) == (401, {"message": "401 Unauthorized"})
        regular = _get(sim, path, role="user", entity_id="5")
        assert (regular.status_code, regular.json()) == (403, {"message": "403 Forbidden"})


def test_single_event_errors(make_sim: SimFactory) -> None:
    """A missing id is the API's RecordNotFound 404; a non-integer one Grape's 400."""
    sim = make_sim(version="16.11-ee")
    missing = _get(sim, "/audit_events/999")
    assert (missing.status_code, missing.json()) == (404, {"message": "404 Not found"})
    bad = _get(sim, "/audit_events/abc")
    assert (bad.status_code, bad.json()) == (400, {"error": "id is invalid"})


@pytest.mark.parametrize("path", ["/audit_events", "/audit_events/1"])
def test_ce_has_no_route(make_sim: SimFactory, path: str) -> None:
    """CE has no ee/ code: the catch-all 404, even for an administrator."""
    response = _get(make_sim(version="17.7"), path)
    assert (response.status_code, response.json()) == (404, {"error": "404 Not Found"})


def _churn(sim: Simulator, count: int) -> None:
    """``count`` audit events: one member added per new user."""
    w = sim.world
    group = w.add_group("churn")
    for n in range(count):
        w.add_member("group", group.id, w.add_user(f"churn-{n}").id, 30)


def test_keyset_pages_through_all(make_sim: SimFactory) -> None:
    """15.11+: cursor keyset on id descending; Link rel=next until the last page."""
    sim = make_sim(version="16.11-ee")
    _churn(sim, 7)
    url: str | None = f"{sim.url}/api/v4/audit_events?pagination=keyset&per_page=3"
    pages = []
    while url:
        response = requests.get(url, headers={"PRIVATE-TOKEN": sim.tokens["admin"]}, timeout=10)
        assert response.status_code == 200
        assert "X-Total" not in response.headers
        pages.append([e["id"] for e in response.json()])
        found = re.search(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
        url = found.group(1) if found else None
        assert url is None or "cursor=" in url
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]


@pytest.mark.parametrize("params", [{"order_by": "created_at"}, {"sort": "asc"}])
def test_keyset_only_by_id_desc(make_sim: SimFactory, params: dict[str, str]) -> None:
    """supported_keyset_orderings is { id: [:desc] }: anything else is a 405."""
    response = _get(make_sim(version="16.11-ee"), "/audit_events", pagination="keyset", **params)
    assert response.status_code == 405
    assert response.json() == {
        "error": "Keyset pagination is not yet available for this type of request"
    }


def test_offset_cap_from_15_11(make_sim: SimFactory) -> None:
    """paginate_with_strategies caps offset pagination of a keyset-capable type."""
    response = _get(make_sim(version="16.11-ee"), "/audit_events", page=501, per_page=100)
    assert response.status_code == 405
    assert "objects of type AuditEvent" in response.json()["error"]
    old = _get(make_sim(version="13.12-ee"), "/audit_events", page=501, per_page=100)
    assert (old.status_code, old.json()) == (200, [])


def test_13_12_ignores_keyset(make_sim: SimFactory) -> None:
    """13.x used plain paginate: pagination=keyset (even with order_by) is offset paging."""
    sim = make_sim(version="13.12-ee")
    _churn(sim, 5)
    response = _get(
        sim, "/audit_events", pagination="keyset", order_by="created_at", per_page=2, page=2
    )
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [3, 2]
    assert (response.headers["X-Page"], response.headers["X-Total"]) == ("2", "5")
    assert "cursor=" not in response.headers["Link"]
