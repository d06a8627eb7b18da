"""Change signals of the simulated GitLab: what a membership or user change moves, and the
endpoints that read it back (docs/simulator.md#change-signals).

Every simulator here stands on a fixed clock at NOW (``world.clock.advance`` moves it), so the
one-hour rule of ``Event#reset_project_activity`` is crossed to the second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from bridge.testing.sim import entities as ent
from bridge.testing.sim.datasets import generate
from bridge.testing.sim.profiles import get_profile
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW

# Small dataset (seed 0): project 3 is private in group 19 (readable by "user", id 2) with one
# member (22); project 10 has none; project 1 is private and unreadable by "user". Every
# project's last activity is more than a week before NOW.
PROJECT, OTHER, HIDDEN = 3, 10, 1
ALICE, BOB = 3, 4  # active users, members of neither project
GROUP = 19
PAIRING = {
    "message": "400 Bad request - `updated_at` filter and `updated_at` sorting must be paired"
}
MakeSim = Callable[[str], Simulator]


@pytest.fixture
def make() -> Iterator[MakeSim]:
    """Start small simulators whose world clock stands at NOW, and stop them afterwards."""
    started: list[Simulator] = []

    def factory(version: str) -> Simulator:
        profile = get_profile(version)
        data = generate("small", profile=profile, now=NOW)
        sim = Simulator(data.world, profile, tokens=data.tokens).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def get(sim: Simulator, path: str, role: str | None = "admin", **params: Any) -> requests.Response:
    """GET /api/v4<path> as ``role`` (None: anonymous)."""
    headers = {"PRIVATE-TOKEN": sim.tokens[role]} if role else {}
    return requests.get(f"{sim.url}/api/v4{path}", params=params, headers=headers, timeout=10)


def ok(sim: Simulator, path: str, role: str | None = "admin", **params: Any) -> Any:
    """The JSON of a 200."""
    r = get(sim, path, role, **params)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def stamps(sim: Simulator, project_id: int) -> tuple[str, str]:
    """(last_activity_at, updated_at) of a project as the API shows them; before ~15.x the
    entity has no updated_at, so then the row's (what order_by=updated_at sorts on)."""
    body = ok(sim, f"/projects/{project_id}")
    row = sim.world.snapshot().projects[project_id]
    return body["last_activity_at"], body.get("updated_at", ent.iso(row.updated_at))


def ids(items: list[dict[str, Any]]) -> list[int]:
    """The ``id`` of each item."""
    return [item["id"] for item in items]


def at(seconds: int = 0) -> str:
    """NOW plus ``seconds`` as the API writes timestamps."""
    return str(ent.iso(NOW + dt.timedelta(seconds=seconds)))


# -- the one-hour rule ----------------------------------------------------------------------


@pytest.mark.parametrize(("version", "touches_updated_at"), [("16.11", True), ("13.12", False)])
def test_joins_move_last_activity_at_once_an_hour(
    version: str, touches_updated_at: bool, make: MakeSim
) -> None:
    """A join on an idle project moves last_activity_at to its time; one 59:59 later does not;
    one at 1:00:00 does (``<= 1.hour.ago``). updated_at follows only where touch_all is used."""
    sim = make(version)
    world = sim.world
    _, idle_updated = stamps(sim, PROJECT)
    world.add_member("project", PROJECT, ALICE, 30)
    first = stamps(sim, PROJECT)
    world.clock.advance(3599)
    world.add_member("project", PROJECT, BOB, 30)
    second = stamps(sim, PROJECT)
    world.clock.advance(1)
    world.remove_member("project", PROJECT, ALICE)
    third = stamps(sim, PROJECT)
    if touches_updated_at:
        assert (first, second, third) == ((at(), at()), (at(), at()), (at(3600), at(3600)))
    else:
        assert (first, second, third) == (
            (at(), idle_updated), (at(), idle_updated), (at(3600), idle_updated)
        )  # fmt: skip
    assert idle_updated < at()
    events = ok(sim, f"/projects/{PROJECT}/events")
    assert [(e["action_name"], e["author_id"], e["created_at"]) for e in events] == [
        ("left", ALICE, at(3600)), ("joined", BOB, at(3599)), ("joined", ALICE, at()),
    ]  # fmt: skip


def test_role_change_moves_nothing_and_writes_no_event(make: MakeSim) -> None:
    """An access-level or expiry change moves the member's updated_at only: no project Event,
    so neither project timestamp moves."""
    sim = make("16.11")
    before = stamps(sim, PROJECT)
    world = sim.world
    world.clock.advance(60)
    member = world.update_member("project", PROJECT, 22, access_level=40)
    world.update_member("project", PROJECT, 22, expires_at=dt.date(2027, 1, 1))
    assert (member.access_level, member.updated_at) == (40, NOW + dt.timedelta(seconds=60))
    assert stamps(sim, PROJECT) == before
    assert (world.snapshot().events, ok(sim, f"/projects/{PROJECT}/events")) == ((), [])


def test_group_member_writes_no_event_and_touches_no_project(make: MakeSim) -> None:
    """Adding and removing a group member writes no Event and leaves every project alone."""
    sim = make("16.11")
    listing = {"order_by": "id", "sort": "asc", "per_page": 100}
    before = [(p["last_activity_at"], p["updated_at"]) for p in ok(sim, "/projects", **listing)]
    sim.world.add_member("group", GROUP, ALICE, 30)
    sim.world.remove_member("group", GROUP, ALICE)
    after = [(p["last_activity_at"], p["updated_at"]) for p in ok(sim, "/projects", **listing)]
    assert (after, sim.world.snapshot().events) == (before, ())
    assert len(before) == 30


# -- GET /projects filters -------------------------------------------------------------------


def test_updated_after_needs_updated_at_order_on_16_11(make: MakeSim) -> None:
    """updated_after finds exactly the touched projects (>=, inclusive) with order_by=updated_at;
    without it, or with another order, it is GitLab's 400; updated_before is paired too."""
    sim = make("16.11")
    sim.world.add_member("project", PROJECT, ALICE, 30)
    sim.world.add_member("project", OTHER, ALICE, 30)
    paired = {"order_by": "updated_at"}
    assert ids(ok(sim, "/projects", updated_after=at(), **paired)) == [OTHER, PROJECT]
    assert ids(ok(sim, "/projects", updated_after=at(), sort="asc", **paired)) == [PROJECT, OTHER]
    assert ids(ok(sim, "/projects", updated_after=at(1), **paired)) == []
    older = ok(sim, "/projects", updated_before=at(-1), per_page=100, **paired)
    assert (len(older), {PROJECT, OTHER} & set(ids(older))) == (28, set())
    for params in ({"updated_after": at()}, {"updated_before": at(), "order_by": "created_at"},
                   {"updated_after": at(), "order_by": "last_activity_at"}):  # fmt: skip
        r = get(sim, "/projects", **params)
        assert (r.status_code, r.json()) == (400, PAIRING)
    r = get(sim, "/projects", updated_after="yesterday", order_by="updated_at")
    assert (r.status_code, r.json()) == (400, {"error": "updated_after is invalid"})


@pytest.mark.parametrize("version", ["13.12", "12.10"])
def test_updated_filters_are_ignored_before_15_10(version: str, make: MakeSim) -> None:
    """Undeclared before 15.10: updated_after/updated_before are ignored, never validated."""
    sim = make(version)
    sim.world.add_member("project", PROJECT, ALICE, 30)
    everything = ids(ok(sim, "/projects", per_page=100))
    filtered = ids(ok(sim, "/projects", per_page=100, updated_after=at(), updated_before="no"))
    assert (filtered, len(everything)) == (everything, 30)


def test_last_activity_filters_are_strict(make: MakeSim) -> None:
    """last_activity_after/_before compare strictly (ProjectsFinder ``>``/``<``)."""
    sim = make("13.12")
    sim.world.add_member("project", PROJECT, ALICE, 30)
    assert ids(ok(sim, "/projects", last_activity_after=at(-1))) == [PROJECT]
    assert ids(ok(sim, "/projects", last_activity_after=at())) == []
    before = ids(ok(sim, "/projects", last_activity_before=at(), per_page=100))
    assert (len(before), PROJECT in before) == (29, False)
    r = get(sim, "/projects", last_activity_after="soon")
    assert (r.status_code, r.json()) == (400, {"error": "last_activity_after is invalid"})


def test_id_bounds_and_simple(make: MakeSim) -> None:
    """id_after/id_before are exclusive filters in offset mode; simple=true is
    BasicProjectDetails (no updated_at, no permissions)."""
    sim = make("16.11")
    window = ok(sim, "/projects", id_after=5, id_before=9, order_by="id", sort="asc")
    simple = ok(sim, "/projects", simple="true", id_after=5, id_before=7)
    assert (ids(window), ids(simple)) == ([6, 7, 8], [6])
    assert {"updated_at", "permissions"} & set(simple[0]) == set()
    assert {"updated_at", "permissions"} <= set(window[0])
    assert simple[0]["last_activity_at"] == window[0]["last_activity_at"]


# -- GET /users ordering ----------------------------------------------------------------------


def test_users_order_by_updated_at_and_created_after_for_admins_only(make: MakeSim) -> None:
    """Admins order by users.updated_at (an update moves it) and filter by created_at
    (inclusive); a non-admin's order_by, sort and created_after are silently dropped."""
    sim = make("16.11")
    sim.world.clock.advance(5)
    sim.world.update_user(BOB, name="Bob Renamed")
    newest = ok(sim, "/users", order_by="updated_at", sort="desc", per_page=3)
    assert (ids(newest)[0], newest[0]["name"]) == (BOB, "Bob Renamed")
    snap = sim.world.snapshot()
    assert snap.users[BOB].updated_at == NOW + dt.timedelta(seconds=5)
    by_updated = sorted(snap.users.values(), key=lambda u: (u.updated_at, u.id))
    asc = ok(sim, "/users", order_by="updated_at", sort="asc", per_page=100)
    assert ids(asc) == [u.id for u in by_updated]
    cut = sorted(snap.users.values(), key=lambda u: u.created_at)[40]
    created = ok(sim, "/users", created_after=str(ent.iso(cut.created_at)), per_page=100)
    assert sorted(ids(created)) == sorted(
        u.id for u in snap.users.values() if u.created_at >= cut.created_at
    )
    assert len(created) == 10
    default = get(sim, "/users", "user", per_page=100)
    dropped = get(sim, "/users", "user", order_by="updated_at", sort="asc",
                  created_after="2100-01-01T00:00:00Z", per_page=100)  # fmt: skip
    assert ids(dropped.json()) == ids(default.json())
    assert ids(default.json()) == sorted(ids(default.json()), reverse=True)
    assert "order_by" not in dropped.headers["Link"]


def test_users_refuse_last_activity_on(make: MakeSim) -> None:
    """order_by takes id, name, username, created_at and updated_at only (all callers)."""
    sim = make("16.11")
    for role in ("admin", "user"):
        r = get(sim, "/users", role, order_by="last_activity_on")
        assert (r.status_code, r.json()) == (400, {"error": "order_by does not have a valid value"})


def crawl(sim: Simulator, **params: Any) -> list[int]:
    """Follow /users keyset Link rel=next to the end, as an admin."""
    url: str | None = f"{sim.url}/api/v4/users"
    seen: list[int] = []
    query: dict[str, Any] | None = {"pagination": "keyset", "per_page": 7, **params}
    while url:
        r = requests.get(url, params=query, headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
                         timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        seen += ids(r.json())
        url, query = r.links.get("next", {}).get("url"), None
    return seen


@pytest.mark.parametrize("order_by", ["id", "name", "username", "created_at", "updated_at"])
@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_users_keyset_pages_through_every_order(order_by: str, sort: str, make: MakeSim) -> None:
    """From 16.5 keyset works for all five orders and visits every user once, in the offset
    order, even with several users sharing one updated_at."""
    sim = make("16.11")
    for user_id in (BOB, ALICE, 9):  # three users with the same updated_at, NOW
        sim.world.update_user(user_id, name=f"Renamed {user_id}")
    offset = ids(ok(sim, "/users", order_by=order_by, sort=sort, per_page=100))
    assert crawl(sim, order_by=order_by, sort=sort) == offset
    assert len(offset) == 50


def test_users_keyset_is_ignored_on_13_12(make: MakeSim) -> None:
    """Before 16.5 pagination=keyset is undeclared: offset headers, no cursor Link."""
    sim = make("13.12")
    r = get(sim, "/users", pagination="keyset", order_by="updated_at", per_page=7)
    assert (r.status_code, r.headers["X-Total"], r.headers["X-Next-Page"]) == (200, "50", "2")
    assert "cursor=" not in r.headers["Link"]


# -- GET /projects/:id/events -----------------------------------------------------------------


def test_project_events_entity_and_filters(make: MakeSim) -> None:
    """joined, left and expired events with the member as author; action, target_type, the
    exclusive before/after days and sort filter them; unreadable projects are 404."""
    sim = make("16.11")
    world = sim.world
    assert world.expire() == 3  # the dataset's already expired rows (events 1 and 2)
    world.add_member("project", PROJECT, ALICE, 30, expires_at=NOW.date())
    world.add_member("project", PROJECT, BOB, 30)
    world.clock.advance(86_400)  # the next day: ALICE's membership has expired
    world.remove_member("project", PROJECT, BOB)
    assert world.expire() == 1  # only ALICE's: it expired yesterday
    events = ok(sim, f"/projects/{PROJECT}/events")
    alice = world.snapshot().users[ALICE]
    assert events[3] == {
        "id": 3, "project_id": PROJECT, "action_name": "joined", "target_id": None,
        "target_iid": None, "target_type": None, "author_id": ALICE, "target_title": None,
        "created_at": at(),
        "author": {"id": ALICE, "username": alice.username, "name": alice.name,
                   "state": "active", "locked": False, "avatar_url": ent.avatar(alice),
                   "web_url": f"{sim.url}/{alice.username}"},
        "author_username": alice.username,
    }  # fmt: skip
    assert [(e["id"], e["action_name"], e["author_id"], e["created_at"]) for e in events] == [
        (6, "removed due to membership expiration from", ALICE, at(86_400)),
        (5, "left", BOB, at(86_400)), (4, "joined", BOB, at()), (3, "joined", ALICE, at()),
    ]  # fmt: skip
    expired_early = ok(sim, "/projects/7/events")  # user 47's membership ended on 2026-10-31
    assert [(e["id"], e["action_name"], e["author_id"]) for e in expired_early] == [
        (1, "removed due to membership expiration from", 47)
    ]
    path = f"/projects/{PROJECT}/events"
    first_day, next_day = NOW.date(), (NOW + dt.timedelta(days=1)).date()
    assert ids(ok(sim, path, action="joined", sort="asc")) == [3, 4]
    assert ids(ok(sim, path, action="expired")) == [6]
    assert ids(ok(sim, path, action="pushed")) == []
    assert ids(ok(sim, path, target_type="issue")) == []
    assert ids(ok(sim, path, after=str(first_day))) == [6, 5]  # after the end of that day
    assert ids(ok(sim, path, after=str(next_day))) == []
    assert ids(ok(sim, path, before=str(next_day))) == [4, 3]  # before the start of that day
    assert ids(ok(sim, path, before=str(first_day))) == []
    assert ids(ok(sim, f"/projects/{OTHER}/events")) == []
    r = get(sim, f"/projects/{HIDDEN}/events", "user")
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    assert get(sim, f"/projects/{PROJECT}/events", "user").status_code == 200
    r = get(sim, path, "user", action="promoted", before="never", sort="up")
    assert (r.status_code, r.json()) == (400, {
        "error": "action does not have a valid value, before is invalid, "
                 "sort does not have a valid value"})  # fmt: skip


def test_project_events_pages_and_older_entities(make: MakeSim) -> None:
    """Events paginate by offset (sort echoed in Link); 12.10's entity has no id and its
    ``action`` values lack ``approved``."""
    sim = make("12.10")
    for user_id in (ALICE, BOB, 9):
        sim.world.add_member("project", PROJECT, user_id, 30)
    r = get(sim, f"/projects/{PROJECT}/events", per_page=2)
    assert (r.status_code, r.headers["X-Total"], r.headers["X-Next-Page"]) == (200, "3", "2")
    assert "sort=desc" in r.headers["Link"]
    assert [e["author_id"] for e in r.json()] == [9, BOB]
    assert list(r.json()[0]) == [
        "project_id", "action_name", "target_id", "target_iid", "target_type", "author_id",
        "target_title", "created_at", "author", "author_username",
    ]  # fmt: skip
    r = get(sim, f"/projects/{PROJECT}/events", action="approved")
    assert (r.status_code, r.json()) == (400, {"error": "action does not have a valid value"})
    modern = make("16.11")
    assert get(modern, f"/projects/{PROJECT}/events", action="approved").json() == []
