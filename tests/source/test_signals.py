"""The change-signal reads against the simulator over HTTP, and ``responses`` for offset churn."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import requests
import responses

from bridge.errors import FatalSourceError, RetriableSourceError
from bridge.source import GitLabSource
from bridge.source import signals as sig
from bridge.testing.sim.faults import Latency
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory

T = TypeVar("T")
VERSIONS = ["12.10", "16.11", "16.11-ee"]
BASE = "https://gitlab.example.com"
_names = itertools.count()


def admin(sim: Simulator, role: str = "admin", **kwargs: Any) -> GitLabSource:
    """A connected source; its requests are counted from here on."""
    src = GitLabSource(sim.url, sim.tokens[role], concurrency=1, **kwargs)
    src.connect()
    return src


def cost(src: GitLabSource, call: Callable[[], T]) -> tuple[T, int]:
    """The answer of ``call`` and the requests it took."""
    before = src.requests_made
    answer = call()
    return answer, src.requests_made - before


def control(sim: Simulator, method: str, route: str, **body: Any) -> Any:
    """One call of the simulator's ``/-/sim/`` control API."""
    answer = requests.request(method, f"{sim.url}/-/sim/{route}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def name(prefix: str) -> str:
    """A fresh path or username."""
    return f"{prefix}-{next(_names)}"


def newcomer(sim: Simulator, project_id: int) -> int:
    """A user who is no direct member of the project yet."""
    snap = sim.world.snapshot()
    members = snap.members.get(("project", project_id), {})
    return next(u for u in sorted(snap.users) if u not in members)


def quiet_since(sim: Simulator) -> dt.datetime:
    """A time after every project's last change and activity, at least an hour old by the
    simulated clock, so the one-hour activity rule lets the next event through."""
    world = sim.world
    projects = world.snapshot().projects.values()
    latest = max(max(p.updated_at, p.last_activity_at) for p in projects)
    gap = (latest - world.clock.now()).total_seconds() + 2 * 3600
    if gap > 0:
        world.clock.advance(gap)
    return world.clock.now()


# -- newest rows ---------------------------------------------------------------------------------

LISTINGS = {
    "users": lambda snap: max(snap.users),
    "groups": lambda snap: max(snap.groups),
    "projects": lambda snap: max(snap.projects),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_newest_costs_one_request_when_nothing_is_new(
    make_sim: SimFactory, version: str, listing: str
) -> None:
    """newest_users/groups/projects from the newest known id: nothing, in exactly 1 request."""
    sim = make_sim(version=version)
    src = admin(sim)
    newest = LISTINGS[listing](sim.world.snapshot())
    found, spent = cost(src, lambda: getattr(src, f"newest_{listing}")(newest))
    assert (found, spent) == ((), 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_newest_lists_rows_created_through_the_control_api(
    make_sim: SimFactory, version: str
) -> None:
    """Users, a group and a project added over /-/sim/ come back ascending, 1 request each."""
    sim = make_sim(version=version)
    src = admin(sim)
    snap = sim.world.snapshot()
    users = [control(sim, "POST", "users", username=name("sig-user")) for _ in range(2)]
    group = control(sim, "POST", "groups", path=name("sig-group"))
    project = control(sim, "POST", "projects", path=name("sig-p"), namespace_id=group["id"])

    found_users, spent_users = cost(src, lambda: src.newest_users(max(snap.users)))
    found_groups, spent_groups = cost(src, lambda: src.newest_groups(max(snap.groups)))
    found_projects, spent_projects = cost(src, lambda: src.newest_projects(max(snap.projects)))

    assert [u.username for u in found_users] == [u["username"] for u in users]
    assert [g.full_path for g in found_groups] == [group["path"]]
    assert [(p.id, p.namespace.id) for p in found_projects] == [(project["id"], group["id"])]
    assert (spent_users, spent_groups, spent_projects) == (1, 1, 1)


@pytest.mark.parametrize("version", ["13.12", "16.11"])
def test_newest_walks_pages_until_it_reaches_a_known_id(make_sim: SimFactory, version: str) -> None:
    """25 new users at 10 a page (offset) and 12 new projects at 5 a page (keyset): every new
    row, ascending, in 3 requests each."""
    sim = make_sim(version=version)
    src = admin(sim)
    snap = sim.world.snapshot()
    group = sim.world.add_group(name("sig-pages"))
    users = [sim.world.add_user(name("sig-page-user")).id for _ in range(25)]
    projects = [sim.world.add_project(name("p"), namespace_id=group.id).id for _ in range(12)]

    found_users, spent_users = cost(src, lambda: src.newest_users(max(snap.users), per_page=10))
    found_projects, spent_projects = cost(
        src, lambda: src.newest_projects(max(snap.projects), per_page=5)
    )

    assert [u.id for u in found_users] == users
    assert [p.id for p in found_projects] == projects
    assert (spent_users, spent_projects) == (3, 3)


# -- changed projects ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["16.11", "16.11-ee"])
def test_changed_projects_by_updated_at_picks_a_renamed_project(
    make_sim: SimFactory, version: str
) -> None:
    """Nothing changed costs 1 request; renamed over /-/sim/, the project is listed, renamed."""
    sim = make_sim(version=version)
    src = admin(sim)
    since = quiet_since(sim)
    nothing, spent_nothing = cost(src, lambda: src.changed_projects(since, by="updated_at"))
    target = min(sim.world.snapshot().projects)
    control(sim, "PATCH", f"projects/{target}", name="renamed-by-signal")

    found, spent = cost(src, lambda: src.changed_projects(since, by="updated_at"))

    assert (nothing, spent_nothing) == ((), 1)
    assert [(p.id, p.name) for p in found] == [(target, "renamed-by-signal")]
    assert spent == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_changed_projects_by_last_activity_picks_a_project_a_member_joined(
    make_sim: SimFactory, version: str
) -> None:
    """A member joining writes an event that moves last_activity_at past an hour-old value;
    updated_at moves with it only where GitLab uses touch_all (16.11 here, not 12.10)."""
    sim = make_sim(version=version)
    src = admin(sim)
    since = quiet_since(sim)
    snap = sim.world.snapshot()
    target = min(snap.projects)
    joiner = next(
        u for u in sorted(snap.users) if u not in snap.members.get(("project", target), {})
    )
    control(sim, "PUT", f"projects/{target}/members/{joiner}", access_level=30)

    found, spent = cost(src, lambda: src.changed_projects(since, by="last_activity_at"))

    assert ([p.id for p in found], spent) == ([target], 1)
    if src.capabilities.updated_after:
        assert [p.id for p in src.changed_projects(since, by="updated_at")] == [target]


def test_updated_at_filter_is_refused_before_15_10(make_sim: SimFactory) -> None:
    """12.10 has no updated_after (GitLab would ignore it and list every project): refused."""
    sim = make_sim(version="12.10")
    src = admin(sim)
    connected = src.requests_made
    with pytest.raises(FatalSourceError, match="cannot filter /projects by updated_at"):
        src.changed_projects(quiet_since(sim), by="updated_at")
    assert src.requests_made == connected


# -- memberships ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["12.10", "16.11"])
def test_user_memberships_are_the_users_direct_rows(make_sim: SimFactory, version: str) -> None:
    """Every direct membership of the busiest user, over pages of 2; None for a user who is gone;
    a 403 for a token that is no administrator's."""
    sim = make_sim(version=version)
    src = admin(sim, per_page=2)
    snap = sim.world.snapshot()
    user_id, rows = max(snap.memberships_by_user.items(), key=lambda item: len(item[1]))
    old = sim.profile.personal_owner_as_maintainer

    def level(kind: str, value: int) -> int:
        return 40 if old and kind == "project" and value == 50 else value

    found = src.user_memberships(user_id)

    assert found is not None
    assert len(rows) > 2
    assert {(m.kind, m.source_id, m.access_level) for m in found} == {
        (r.source_kind, r.source_id, level(r.source_kind, r.access_level)) for r in rows
    }
    assert {m.user_id for m in found} == {user_id}
    assert src.user_memberships(max(snap.users) + 1000) is None
    with pytest.raises(FatalSourceError, match="HTTP 403"):
        admin(sim, "user").user_memberships(user_id)


# -- audit events --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["13.12-ee", "16.11-ee"])
def test_audit_entries_show_a_member_added(make_sim: SimFactory, version: str) -> None:
    """A member added over /-/sim/ is one audit entry on the project (target: the membership on
    13.x, the user from 14.x); read from its id on, nothing is new, in 1 request."""
    sim = make_sim(version=version)
    src = admin(sim)
    since = quiet_since(sim)
    snap = sim.world.snapshot()
    target = max(snap.projects)
    joiner = next(
        u for u in sorted(snap.users) if u not in snap.members.get(("project", target), {})
    )
    before, spent_before = cost(src, lambda: src.audit_entries(since))
    member = control(sim, "PUT", f"projects/{target}/members/{joiner}", access_level=30)

    entries = src.audit_entries(since)
    later, spent_later = cost(src, lambda: src.audit_entries(since, after_id=entries[-1].id))

    assert (before, spent_before) == ((), 1)
    assert [(e.entity_type, e.entity_id) for e in entries] == [("Project", target)]
    expected = member["id"] if sim.profile.era <= 13 else joiner
    assert entries[0].target_id == expected
    assert entries[0].created_at >= since
    assert (later, spent_later) == ((), 1)


@pytest.mark.parametrize("version", ["13.12-ee", "16.11-ee"])
def test_audit_entries_walk_pages_ascending(make_sim: SimFactory, version: str) -> None:
    """Seven member changes at 3 a page come back in id order, offset (13.12) as keyset (16.11)."""
    sim = make_sim(version=version)
    src = admin(sim, per_page=3)
    since = quiet_since(sim)
    group = sim.world.add_group(name("sig-audit"))
    for user_id in sorted(sim.world.snapshot().users)[:7]:
        sim.world.add_member("group", group.id, user_id, 30)
    entries, spent = cost(src, lambda: src.audit_entries(since))
    assert [e.entity_id for e in entries] == [group.id] * 7
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert spent in (3, 4)  # 7 rows at 3 a page; a keyset walk may end on an empty page


@pytest.mark.parametrize(
    ("version", "role", "expected"),
    [
        ("16.11-ee", "admin", True),
        ("12.10-ee", "admin", True),
        ("16.11", "admin", False),
        ("16.11-ee", "user", False),
    ],
)
def test_probe_audit_events(make_sim: SimFactory, version: str, role: str, expected: bool) -> None:
    """One request: True where the instance audit log answers, False on CE (404) or for a
    token that is no administrator's (403)."""
    sim = make_sim(version=version)
    src = admin(sim, role)
    assert cost(src, src.probe_audit_events) == (expected, 1)
    assert src.capabilities.audit_events is expected


# -- parsing -------------------------------------------------------------------------------------


def test_membership_source_types_become_kinds() -> None:
    """``Namespace`` is a group, ``Project`` a project; another type is a malformed row."""
    row = {"source_id": 7, "source_name": "x", "access_level": "30"}
    assert sig.to_membership(3, {**row, "source_type": "Namespace"}).kind == "group"
    assert sig.to_membership(3, {**row, "source_type": "Project"}).access_level == 30
    with pytest.raises(KeyError):
        sig.to_membership(3, {**row, "source_type": "Epic"})


@pytest.mark.parametrize(
    ("target", "expected"), [(42, 42), ("42", 42), ("a/b", None), (None, None)]
)
def test_audit_target_id_is_an_integer_or_none(target: object, expected: int | None) -> None:
    """details.target_id: an id (number or digits) is kept; a path or nothing is None."""
    row = {"id": 1, "entity_type": "Group", "entity_id": 2, "created_at": "2026-01-02T03:04:05Z"}
    entry = sig.to_audit_entry({**row, "details": {"target_id": target}})
    assert entry.target_id == expected
    assert entry.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_signals_refuse_naive_datetimes(small_sim: Simulator) -> None:
    """A naive ``since`` is a ValueError before any request is sent."""
    src = admin(small_sim)
    for read in (
        lambda: src.audit_entries(dt.datetime(2026, 1, 1)),
        lambda: src.changed_projects(dt.datetime(2026, 1, 1), by="last_activity_at"),
    ):
        with pytest.raises(ValueError, match="naive"):
            cost(src, read)
    assert src.requests_made == 2  # connect() only


# -- responses: a filter GitLab ignored, offset walks under churn ------------------------------


@responses.activate
def test_a_filter_gitlab_ignores_fails_on_the_first_page() -> None:
    """Rows older than ``since`` mean the filter was not applied: fatal after 1 request, not a
    walk of every project."""
    old = {**_project(1), "updated_at": "2020-01-01T00:00:00.000Z"}
    responses.get(
        f"{BASE}/api/v4/projects", json=[old], headers={"X-Page": "1", "X-Next-Page": "2"}
    )
    responses.get(f"{BASE}/api/v4/metadata", json={"version": "16.11.0", "revision": "abc"})
    responses.get(f"{BASE}/api/v4/user", json={"id": 1, "username": "root", "is_admin": True})
    src = GitLabSource(BASE, "t")
    src.connect()
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(FatalSourceError, match="ignored updated_after"):
        cost(src, lambda: src.changed_projects(since, by="updated_at"))
    assert src.requests_made == 3  # connect() and one page


def _project(pid: int) -> dict[str, Any]:
    return {
        "id": pid, "name": f"p{pid}", "path": f"p{pid}", "path_with_namespace": f"g/p{pid}",
        "namespace": {"id": 9, "name": "g", "path": "g", "kind": "group", "full_path": "g"},
        "visibility": "private", "created_at": "2024-01-02T03:04:05+02:00",
        "web_url": f"{BASE}/g/p{pid}", "shared_with_groups": [],
    }  # fmt: skip


def _group(gid: int) -> dict[str, Any]:
    return {
        "id": gid, "name": f"g{gid}", "path": f"g{gid}", "full_path": f"g{gid}",
        "full_name": f"g{gid}", "parent_id": None, "visibility": "private",
        "web_url": f"{BASE}/groups/g{gid}",
    }  # fmt: skip


def _page(ids: list[int], number: int, total: int | None, last: bool) -> dict[str, Any]:
    headers = {"X-Page": str(number), "X-Next-Page": "" if last else str(number + 1)}
    if total is not None:
        headers["X-Total"] = str(total)
    return {"json": [_group(i) for i in ids], "headers": headers}


@responses.activate
def test_offset_walk_with_arrivals_counts_them_as_repeats() -> None:
    """Two groups arrive between pages: page 2 repeats two rows and X-Total grew by two, which
    proves that nothing was skipped; the walk is not repeated."""
    url = f"{BASE}/api/v4/groups"
    responses.get(url, **_page([20, 19, 18], 1, 20, last=False))
    responses.get(url, **_page([19, 18, 17], 2, 22, last=False))  # 22, 21 arrived on top
    responses.get(url, **_page([16, 15, 14], 3, 22, last=False))
    groups = GitLabSource(BASE, "t").newest_groups(14, per_page=3)
    assert [g.id for g in groups] == [15, 16, 17, 18, 19, 20]
    assert len(responses.calls) == 3


@responses.activate
def test_offset_walk_with_departures_twice_is_retriable() -> None:
    """A group leaving above the read position during two walks in a row is a
    RetriableSourceError, never a short list."""
    url = f"{BASE}/api/v4/groups"
    for _ in range(2):
        responses.get(url, **_page([20, 19, 18], 1, 20, last=False))
        responses.get(url, **_page([16, 15, 14], 2, 19, last=False))  # 19 left: 17 skipped
    with pytest.raises(RetriableSourceError, match="rows left during two walks"):
        GitLabSource(BASE, "t").newest_groups(14, per_page=3)


@responses.activate
def test_offset_walk_without_totals_is_read_twice_and_merged() -> None:
    """Without X-Total (over 10,000 rows) a walk of several pages is done twice; a row the
    first walk skipped is in the second."""
    url = f"{BASE}/api/v4/groups"
    responses.get(url, **_page([20, 19, 18], 1, None, last=False))
    responses.get(url, **_page([16, 15, 14], 2, None, last=False))  # 17 skipped
    responses.get(url, **_page([20, 18, 17], 1, None, last=False))
    responses.get(url, **_page([16, 15, 14], 2, None, last=False))
    groups = GitLabSource(BASE, "t").newest_groups(14, per_page=3)
    assert [g.id for g in groups] == [15, 16, 17, 18, 19, 20]


# -- the simulator under churn: offset walks that prove themselves -------------------------------


def _churn(sim: Simulator, mutate: Callable[[], None], read: Callable[[], T]) -> T:
    """``read()`` while another thread calls ``mutate()`` every few milliseconds."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.003):
            mutate()

    sim.faults.latency = Latency(fixed_ms=3)  # each page takes a while: the walk is long
    thread = threading.Thread(target=loop)
    thread.start()
    try:
        return read()
    finally:
        stop.set()
        thread.join()


def test_newest_users_completes_while_users_keep_arriving(make_sim: SimFactory) -> None:
    """On 13.12 (offset /users) arrivals during a walk of several pages only repeat rows: every
    user created before the call is listed, and the walk is not refused."""
    sim = make_sim(version="13.12")
    src = admin(sim)
    known = max(sim.world.snapshot().users)
    created = [sim.world.add_user(name("sig-before")).id for _ in range(30)]
    for _ in range(3):
        found = _churn(
            sim,
            lambda: sim.world.add_user(name("sig-churn")),
            lambda: src.newest_users(known, per_page=5),
        )
        ids = [u.id for u in found]
        assert set(created) <= set(ids)
        assert ids == sorted(ids)


def test_newest_users_never_passes_off_a_short_list_while_users_leave(
    make_sim: SimFactory,
) -> None:
    """Departures during every walk: either every survivor is listed, or RetriableSourceError."""
    sim = make_sim(version="13.12")
    src = admin(sim)
    known = max(sim.world.snapshot().users)
    created = [sim.world.add_user(name("sig-leaver")).id for _ in range(40)]
    survivors, doomed = set(created[:5]), iter(reversed(created[5:]))

    def leave() -> None:
        victim = next(doomed, None)
        if victim is not None:
            sim.world.remove_user(victim)

    try:
        listed: set[int] | None = {
            u.id for u in _churn(sim, leave, lambda: src.newest_users(known, per_page=5))
        }
    except RetriableSourceError as exc:
        listed, error = None, str(exc)
    if listed is None:
        assert "rows left during two walks" in error
    else:
        assert survivors <= listed
