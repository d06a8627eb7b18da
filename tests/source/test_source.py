"""The GitLab source adapter against the simulator (main paths) and ``responses`` (edge cases)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import responses

from bridge.errors import FatalSourceError, RetriableSourceError, TokenRefused
from bridge.retry import RetryPolicy
from bridge.source import GitLabSource
from bridge.source.parsing import next_link, parse_date, parse_time, to_member
from bridge.testing.crawl import crawl
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.ratelimit import Throttle
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory

PROFILES = ["12.10", "13.12", "16.11", "17.5", "16.11-ee"]
BASE = "https://gitlab.example.com"
TOKEN = "glpat-secret-token-123"


class FakeTime:
    """A clock that only moves when something sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def source(url: str, token: str, fake: FakeTime | None = None, **kwargs: Any) -> GitLabSource:
    fake = fake or FakeTime()
    return GitLabSource(
        url, token, sleep=fake.sleep, clock=fake.clock, wall_clock=fake.clock, **kwargs
    )


def read_all(src: GitLabSource) -> dict[str, Any]:
    groups, shares = src.groups_and_shares()
    projects = src.projects()
    members = {("group", g.id): src.members("group", g.id) for g in groups}
    members |= {("project", p.id): src.members("project", p.id) for p in projects}
    return {
        "users": src.users(),
        "groups": groups,
        "shares": shares,
        "projects": projects,
        "members": members,
    }


# -- the simulator: every profile ---------------------------------------------------------------


@pytest.mark.parametrize("version", PROFILES)
def test_connect_reads_version_edition_and_admin(make_sim: SimFactory, version: str) -> None:
    """connect() reports the profile's X.Y.Z, its edition and whether the token is an admin."""
    sim = make_sim(version=version)
    admin = source(sim.url, sim.tokens["admin"]).connect()
    user = source(sim.url, sim.tokens["user"]).connect()
    assert admin.version == sim.profile.version
    assert admin.enterprise is version.endswith("-ee")
    assert (admin.token_is_admin, user.token_is_admin) == (True, False)
    assert admin.url == sim.url


@pytest.mark.parametrize("version", PROFILES)
def test_admin_listings_equal_the_world(make_sim: SimFactory, version: str) -> None:
    """Every listing returns exactly the simulator's records, also with many small pages."""
    sim = make_sim(version=version)
    snap = sim.world.snapshot()
    got = read_all(source(sim.url, sim.tokens["admin"], per_page=7))
    assert [u.id for u in got["users"]] == sorted(snap.users)
    assert {u.id: u.email for u in got["users"]} == {i: u.email for i, u in snap.users.items()}
    assert {u.id: u.state for u in got["users"]} == {i: u.state for i, u in snap.users.items()}
    assert {g.id: g.full_path for g in got["groups"]} == snap.group_full_paths
    assert [p.id for p in got["projects"]] == sorted(snap.projects)
    for project in got["projects"]:
        assert project.path_with_namespace == snap.project_full_path(snap.projects[project.id])
        links = snap.links("project", project.id)
        assert {(s.group_id, s.access_level) for s in project.shares} == {
            (s.group_id, s.group_access) for s in links
        }
    assert {(s.source_id, s.group_id) for s in got["shares"]} == {
        (s.shared_id, s.group_id) for s in snap.iter_links() if s.source_kind == "group"
    }
    hidden = 5 if sim.profile.direct_members_hide_minimal else None
    for (kind, sid), rows in got["members"].items():
        expected = [m for m in snap.direct_members(kind, sid) if m.access_level != hidden]
        assert [(m.user_id, m.expires_at) for m in rows] == [
            (m.user_id, m.expires_at) for m in expected
        ]


@pytest.mark.parametrize("version", PROFILES)
def test_user_token_sees_what_python_gitlab_sees(make_sim: SimFactory, version: str) -> None:
    """A non-admin token gets the same ids as a python-gitlab crawl, and no e-mails."""
    sim = make_sim(version=version)
    got = read_all(source(sim.url, sim.tokens["user"], per_page=9))
    oracle = crawl(sim.url, sim.tokens["user"], workers=2)
    assert [u.id for u in got["users"]] == sorted(oracle.users)
    assert all(u.email is None for u in got["users"])
    assert [g.id for g in got["groups"]] == oracle.groups
    assert [p.id for p in got["projects"]] == oracle.projects
    assert {k: [m.user_id for m in v or ()] for k, v in got["members"].items()} == oracle.members


def test_request_count_is_the_minimum_number_of_pages(make_sim: SimFactory) -> None:
    """Listing everything in `small` costs the pages of a full pass, plus connect."""
    sim = make_sim(version="17.5")
    src = source(sim.url, sim.tokens["admin"])
    src.connect()
    sim.reset_counters()
    got = read_all(src)
    pages = 3 + len(got["groups"]) + len(got["members"])  # 3 lists, details, member lists
    assert sim.request_count() <= pages + 1  # 17.x keyset links from the last full page
    assert src.requests_made == sim.request_count() + 2


def test_non_admin_token_is_refused_with_a_clear_message(small_sim: Simulator) -> None:
    """check() refuses a regular user's token, naming the user and what is missing."""
    src = source(small_sim.url, small_sim.tokens["user"])
    username = src.connect().token_username
    with pytest.raises(FatalSourceError, match="not an administrator") as info:
        src.check(needs_admin=True)
    assert repr(username) in str(info.value)
    assert src.check(needs_admin=False).token_is_admin is False
    assert source(small_sim.url, small_sim.tokens["admin"]).check().token_is_admin


def test_point_lookups_return_records_or_none(small_sim: Simulator) -> None:
    """get_* return the same records as the listings, and None on 404."""
    src = source(small_sim.url, small_sim.tokens["admin"])
    user, group, project = src.users()[3], src.groups()[2], src.projects()[4]
    assert src.get_user(user.id) == user
    assert src.get_group(group.id) == group
    assert src.get_project(project.id) == project
    member = (src.members("group", group.id) or ())[0]
    assert src.get_member("group", group.id, member.user_id) == member
    assert src.get_user(999_999) is None
    assert src.get_group(999_999) is None
    assert src.get_project(999_999) is None
    assert src.get_member("group", group.id, 999_999) is None
    assert src.members("project", 999_999) is None
    assert src.group_shares(999_999) is None


def test_bad_token_is_fatal_and_not_echoed(small_sim: Simulator, caplog: Any) -> None:
    """401 is a FatalSourceError that names the URL but never the token."""
    caplog.set_level(logging.DEBUG)
    bad = "glpat-wrong-" + TOKEN
    with pytest.raises(FatalSourceError, match="401") as info:
        source(small_sim.url, bad).connect()
    assert bad not in str(info.value)
    assert bad not in caplog.text


# -- rate limits and faults ---------------------------------------------------------------------


def test_throttle_retry_after_is_honoured(make_sim: SimFactory) -> None:
    """A throttle 429 pauses for Retry-After (plus jitter), then the listing completes."""
    sim = make_sim(version="16.11", throttle=Throttle(limit=4, period=60))
    fake = FakeTime()
    sim.limiter.clock = fake.clock
    src = source(sim.url, sim.tokens["admin"], fake, per_page=10)
    users = src.users()
    assert len(users) == len(sim.world.snapshot().users)
    throttled = sum(n for (_, status), n in sim.counters().items() if status == 429)
    assert throttled >= 1
    assert max(fake.sleeps) >= 1
    assert all(s <= 61 for s in fake.sleeps)
    assert fake.now - 1_800_000_000.0 >= 60  # waited for the window to roll over


def test_502_is_retried_with_backoff(make_sim: SimFactory) -> None:
    """Two 502s on a page cost two jittered sleeps, then the page is read."""
    sim = make_sim(version="16.11")
    sim.faults.add(FaultRule(kind="status", status=502, match="GET /projects", times=2))
    fake = FakeTime()
    projects = source(sim.url, sim.tokens["admin"], fake).projects()
    assert len(projects) == len(sim.world.snapshot().projects)
    assert len(fake.sleeps) == 2
    assert all(0 <= s <= 2 for s in fake.sleeps)


def test_persistent_502_names_resource_and_page(make_sim: SimFactory, caplog: Any) -> None:
    """A page that keeps failing gives RetriableSourceError after the attempt budget."""
    caplog.set_level(logging.DEBUG)
    sim = make_sim(version="16.11")
    sim.faults.add(FaultRule(kind="status", status=502, match="GET /groups", fraction=1.0))
    src = source(sim.url, sim.tokens["admin"], retry=RetryPolicy(max_attempts=3))
    with pytest.raises(RetriableSourceError) as info:
        src.groups()
    assert str(info.value) == "groups: page 1 failed after 3 attempts: HTTP 502"
    assert sim.tokens["admin"] not in caplog.text


def test_truncated_body_is_retried(make_sim: SimFactory) -> None:
    """A body short of its Content-Length is a transient failure, read again."""
    sim = make_sim(version="16.11")
    sim.faults.add(FaultRule(kind="truncate", match="GET /users", times=1))
    fake = FakeTime()
    users = source(sim.url, sim.tokens["admin"], fake).users()
    assert len(users) == len(sim.world.snapshot().users)
    assert len(fake.sleeps) == 1


def test_bad_json_is_retried_then_fails(make_sim: SimFactory) -> None:
    """Invalid JSON is retried; if it persists the error says so, naming the page."""
    sim = make_sim(version="13.12")
    sim.faults.add(FaultRule(kind="bad_json", match="GET /groups/:id/members", fraction=1.0))
    src = source(sim.url, sim.tokens["admin"], retry=RetryPolicy(max_attempts=2))
    group = src.groups()[0]
    with pytest.raises(RetriableSourceError, match=r"group \d+: members: page 1 failed after 2"):
        src.members("group", group.id)


def test_budget_is_kept(make_sim: SimFactory) -> None:
    """With budget=60 (a burst of 1, then 59 a minute), n requests span (n-1)·60/59 seconds."""
    sim = make_sim(version="16.11")
    fake = FakeTime()
    src = source(sim.url, sim.tokens["admin"], fake, per_page=10, budget=60)
    src.users()
    assert src.requests_made >= 6
    assert fake.now - 1_800_000_000.0 == pytest.approx((src.requests_made - 1) * 60 / 59)


def test_offset_scan_rescans_when_rows_move_between_pages(make_sim: SimFactory) -> None:
    """A member removed ahead of the read position changes X-Total: the scan is redone."""
    sim = make_sim(version="16.11")
    snap = sim.world.snapshot()
    kind, sid = max(snap.members, key=lambda k: len(snap.members[k]))
    first = snap.direct_members(kind, sid)[0]
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 3:  # after /metadata, /user and page 1: before page 2
            sim.world.remove_member(kind, first.source_id, first.user_id)

    src = GitLabSource(
        sim.url, sim.tokens["admin"], per_page=3, budget=60,
        sleep=sleep, clock=fake.clock,
    )  # fmt: skip
    src.connect()
    rows = src.members(kind, sid) or ()
    after = sim.world.snapshot().direct_members(kind, sid)
    assert [m.user_id for m in rows] == [m.user_id for m in after]
    pages = -(-len(after) // 3)
    assert sim.request_count(f"GET /{kind}s/:id/members") > pages


# -- responses: narrow cases --------------------------------------------------------------------


def _instance(rsps: responses.RequestsMock, version: str = "16.11.0") -> None:
    rsps.get(f"{BASE}/api/v4/metadata", json={"version": version, "revision": "abc"})
    rsps.get(f"{BASE}/api/v4/user", json={"id": 1, "username": "root", "is_admin": True})


def _project(pid: int) -> dict[str, Any]:
    return {
        "id": pid, "name": f"p{pid}", "path": f"p{pid}", "path_with_namespace": f"g/p{pid}",
        "namespace": {"id": 9, "name": "g", "path": "g", "kind": "group", "full_path": "g"},
        "visibility": "private", "created_at": "2024-01-02T03:04:05+02:00",
        "web_url": f"{BASE}/g/p{pid}", "shared_with_groups": [],
    }  # fmt: skip


@responses.activate
def test_header_less_429_backs_off_exponentially() -> None:
    """An application 429 (no headers) gets full-jitter backoff, not a pause, then succeeds."""
    _instance(responses.mock)
    url = f"{BASE}/api/v4/projects"
    body = {"message": {"error": "This endpoint has been requested too many times."}}
    responses.get(url, json=body, status=429)
    responses.get(url, json=body, status=429)
    responses.get(url, json=[_project(1)])
    fake = FakeTime()
    projects = source(BASE, TOKEN, fake).projects()
    assert [p.id for p in projects] == [1]
    assert len(fake.sleeps) == 2
    assert fake.sleeps[0] <= 1
    assert fake.sleeps[1] <= 2


@responses.activate
def test_next_link_to_another_host_is_refused() -> None:
    """A keyset next link on another host is fatal, and nothing is sent there."""
    _instance(responses.mock)
    evil = "https://evil.example.net/api/v4/projects?id_after=1&pagination=keyset"
    responses.get(
        f"{BASE}/api/v4/projects", json=[_project(1)], headers={"Link": f'<{evil}>; rel="next"'}
    )
    responses.get(evil, json=[])
    with pytest.raises(FatalSourceError, match=r"page 2 \(id_after=1\).*evil\.example\.net"):
        source(BASE, TOKEN).projects()
    assert not [c for c in responses.calls if "evil" in (c.request.url or "")]


@responses.activate
def test_redirect_to_another_host_is_not_followed() -> None:
    """A redirect is refused before the token could travel to its target."""
    _instance(responses.mock)
    responses.get(
        f"{BASE}/api/v4/projects", status=302, headers={"Location": "https://evil.example.net/x"}
    )
    responses.get("https://evil.example.net/x", json=[])
    with pytest.raises(FatalSourceError, match=r"redirected to evil\.example\.net"):
        source(BASE, TOKEN).projects()
    assert not [c for c in responses.calls if "evil" in (c.request.url or "")]


@responses.activate
def test_old_links_header_is_followed() -> None:
    """Before 13.1 the keyset next link comes in ``Links``; it is followed all the same."""
    _instance(responses.mock)
    url = f"{BASE}/api/v4/projects"
    nxt = f"{url}?id_after=1&order_by=id&pagination=keyset&per_page=100&sort=asc"
    responses.get(url, json=[_project(1)], headers={"Links": f'<{nxt}>; rel="next"'})
    responses.get(nxt, json=[_project(2)])
    assert [p.id for p in source(BASE, TOKEN).projects()] == [1, 2]


@responses.activate
def test_truncated_json_page_is_retried() -> None:
    """A page cut short (invalid JSON) is read again before the scan goes on."""
    _instance(responses.mock)
    url = f"{BASE}/api/v4/projects"
    whole = json.dumps([_project(1)])
    responses.get(url, body=whole[: len(whole) // 2], content_type="application/json")
    responses.get(url, body=whole, content_type="application/json")
    fake = FakeTime()
    assert [p.id for p in source(BASE, TOKEN, fake).projects()] == [1]
    assert len(fake.sleeps) == 1


def _offset(rows: list[int], page: int, nxt: str, total: int) -> dict[str, Any]:
    headers = {"X-Page": str(page), "X-Next-Page": nxt, "X-Total": str(total)}
    member = {"username": "u", "name": "U", "state": "active", "access_level": "30"}
    return {"json": [{"id": i, **member} for i in rows], "headers": headers}


@responses.activate
def test_offset_duplicates_are_dropped() -> None:
    """A row seen on two offset pages is kept once; a string access_level becomes an int."""
    _instance(responses.mock)
    url = f"{BASE}/api/v4/groups/5/members"
    responses.get(url, **_offset([1, 2], 1, "2", 3))
    responses.get(url, **_offset([2, 3], 2, "", 3))
    rows = source(BASE, TOKEN).members("group", 5) or ()
    assert [(m.user_id, m.access_level) for m in rows] == [(1, 30), (2, 30), (3, 30)]


@responses.activate
def test_total_changing_twice_is_retriable() -> None:
    """If X-Total moves during the scan and again during the rescan, the listing raises."""
    _instance(responses.mock)
    url = f"{BASE}/api/v4/groups/5/members"
    for _ in range(2):
        responses.get(url, **_offset([1], 1, "2", 2))
        responses.get(url, **_offset([2], 2, "", 3))
    with pytest.raises(RetriableSourceError, match=r"total changed .* \(2 -> 3\)"):
        source(BASE, TOKEN).members("group", 5)


@responses.activate
def test_missing_x_next_page_is_not_taken_as_the_end() -> None:
    """An offset page without X-Next-Page cannot prove completeness: fatal, not partial."""
    _instance(responses.mock)
    responses.get(f"{BASE}/api/v4/groups", json=[], headers={"X-Page": "1"})
    with pytest.raises(FatalSourceError, match="X-Next-Page"):
        source(BASE, TOKEN).groups()


@responses.activate
def test_metadata_404_falls_back_to_version() -> None:
    """Before 15.2 /metadata is a missing route; /version and its -ee suffix are used."""
    responses.get(f"{BASE}/api/v4/metadata", json={"error": "404 Not Found"}, status=404)
    responses.get(f"{BASE}/api/v4/version", json={"version": "13.12.15-ee", "revision": "r"})
    responses.get(f"{BASE}/api/v4/user", json={"id": 2, "username": "bob"})
    inst = source(BASE, TOKEN).connect()
    assert (inst.version, inst.enterprise, inst.token_is_admin) == ("13.12.15", True, False)


@responses.activate
def test_route_404_on_a_lookup_is_fatal() -> None:
    """A 404 without a resource message means the route is missing, not that the row is gone."""
    _instance(responses.mock)
    responses.get(f"{BASE}/api/v4/users/3", json={"error": "404 Not Found"}, status=404)
    with pytest.raises(FatalSourceError, match="user 3: HTTP 404"):
        source(BASE, TOKEN).get_user(3)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2020-01-15T12:36:29Z",
        "2020-01-15T12:36:29.000Z",
        "2020-01-15T14:36:29+02:00",
        "2020-01-15T12:36:29",
    ],
)
def test_timestamps_become_aware_utc(text: str) -> None:
    """Any RFC 3339 form gives the same aware UTC instant."""
    parsed = parse_time(text)
    assert parsed is not None
    assert parsed.utcoffset() is not None
    assert parsed.isoformat() == "2020-01-15T12:36:29+00:00"


def test_dates_accept_timestamps_and_members_keep_unknown_states() -> None:
    """expires_at may be a date or a timestamp; unknown states and EE roles are kept verbatim."""
    assert parse_date("2012-10-22T14:13:35Z") == parse_date("2012-10-22")
    row = {"id": 4, "username": "u", "name": "U", "state": "frozen", "access_level": 15,
           "member_role": {"id": 1, "name": "auditor"}}  # fmt: skip
    member = to_member("project", 1, row)
    assert (member.state, member.member_role, member.expires_at) == ("frozen", "auditor", None)


def test_next_link_reads_link_and_links() -> None:
    """``rel="next"`` is found among several rels, in Link or Links."""
    value = '<https://h/a?page=1>; rel="first", <https://h/a?page=2>; rel="next"'
    assert next_link({"Link": value}) == "https://h/a?page=2"
    assert next_link({"Links": value}) == "https://h/a?page=2"
    assert next_link({"Link": '<https://h/a?page=1>; rel="first"'}) is None


@responses.activate
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"message": "401 Unauthorized"}),
        (403, {"message": "403 Forbidden - Your account has been blocked."}),
    ],
)
def test_a_token_refused_mid_pass_is_a_configuration_error(
    status: int, body: dict[str, str]
) -> None:
    """Revoked or blocked after connecting: TokenRefused, exit 78 like at start, not 69."""
    _instance(responses.mock)
    responses.get(f"{BASE}/api/v4/projects", json=body, status=status)
    with pytest.raises(TokenRefused) as refused:
        source(BASE, TOKEN).projects()
    assert refused.value.exit_code == 78
    assert TOKEN not in str(refused.value)


@responses.activate
def test_a_plain_403_stays_fatal_but_not_a_token_problem() -> None:
    """A 403 for another reason (not an admin, a forbidden resource) is not TokenRefused."""
    _instance(responses.mock)
    responses.get(f"{BASE}/api/v4/projects", json={"message": "403 Forbidden"}, status=403)
    with pytest.raises(FatalSourceError) as refused:
        source(BASE, TOKEN).projects()
    assert not isinstance(refused.value, TokenRefused)
