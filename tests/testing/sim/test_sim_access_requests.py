"""Access requests in the simulator, driven over HTTP with unmodified python-gitlab."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gitlab
import pytest
import requests

from bridge.testing.sim.entities import iso
from bridge.testing.sim.profiles import get_profile
from bridge.testing.sim.rows import SourceKind
from bridge.testing.sim.simulator import Simulator
from bridge.testing.sim.world import SimClock, SimError, World
from tests.conftest import NOW


@dataclass
class Site:
    """A small world: a public group with a public project, an internal and a private group."""

    sim: Simulator
    group: int
    project: int
    internal: int
    private: int
    users: dict[str, int]

    def gl(self, who: str) -> gitlab.Gitlab:
        """python-gitlab as one of the named users."""
        return gitlab.Gitlab(self.sim.url, private_token=self.sim.tokens[who])

    def source(self, who: str, kind: SourceKind) -> gitlab.base.RESTObject:
        """The lazy group or project object of ``kind`` as ``who``."""
        gl = self.gl(who)
        if kind == "group":
            return gl.groups.get(self.group, lazy=True)
        return gl.projects.get(self.project, lazy=True)

    def source_id(self, kind: SourceKind) -> int:
        """The public group's or project's id."""
        return self.group if kind == "group" else self.project

    def get(self, path: str, who: str = "admin", **params: str | int) -> requests.Response:
        """A raw API GET."""
        headers = {"PRIVATE-TOKEN": self.sim.tokens[who]}
        url = f"{self.sim.url}/api/v4{path}"
        return requests.get(url, headers=headers, params=params, timeout=10)


def build(version: str) -> Site:
    """The site on one profile; the clock starts at NOW and tests may advance it."""
    world = World(SimClock(lambda: NOW))
    names = ["root", "owner", "maint", "dev", "alice", "bob", "carol", "ext"]
    attrs: dict[str, dict[str, Any]] = {"root": {"is_admin": True}, "ext": {"external": True}}
    users = {n: world.add_user(n, **attrs.get(n, {})).id for n in names}
    group = world.add_group("acme", visibility="public").id
    internal = world.add_group("inside", visibility="internal").id
    private = world.add_group("secret", visibility="private").id
    project = world.add_project("app", namespace_id=group, visibility="public").id
    world.add_member("group", group, users["owner"], 50)
    world.add_member("group", group, users["maint"], 40)
    world.add_member("project", project, users["dev"], 30)
    tokens = {n: world.add_token(uid) for n, uid in users.items()}
    tokens["admin"] = tokens["root"]
    sim = Simulator(world, get_profile(version), tokens=tokens).start()
    return Site(sim, group, project, internal, private, users)


@pytest.fixture
def make_site() -> Iterator[Callable[[str], Site]]:
    """Start sites per version and stop them afterwards."""
    started: list[Site] = []

    def factory(version: str = "16.11") -> Site:
        started.append(build(version))
        return started[-1]

    yield factory
    for site in started:
        site.sim.stop()


@pytest.fixture
def site(make_site: Callable[[str], Site]) -> Site:
    """A 16.11 site."""
    return make_site("16.11")


APPROVER = {"group": "owner", "project": "maint"}  # the least role that may list and approve


@pytest.mark.parametrize("kind", ["group", "project"])
def test_request_list_approve_and_deny_round_trip(site: Site, kind: SourceKind) -> None:
    """Requests show in the list by id until approved (a member now) or denied (gone)."""
    alice, bob = site.users["alice"], site.users["bob"]
    made = site.source("alice", kind).accessrequests.create()
    site.source("bob", kind).accessrequests.create()
    assert (made.id, made.requested_at) == (alice, iso(NOW))
    approver = site.source(APPROVER[kind], kind)
    pending = approver.accessrequests.list(get_all=True)
    assert [r.id for r in pending] == [alice, bob]
    site.sim.world.clock.advance(3600)
    pending[0].approve(access_level=40)
    approver.accessrequests.delete(bob)
    assert approver.accessrequests.list(get_all=True) == []
    member = approver.members.get(alice)
    assert (member.access_level, member.created_at) == (40, iso(NOW))
    with pytest.raises(gitlab.GitlabGetError):
        approver.members.get(bob)


def test_approval_keeps_the_row_and_its_creation_time(site: Site) -> None:
    """The member is the request's row: same id and created_at; updated_at moves."""
    world = site.sim.world
    request = world.request_access("group", site.group, site.users["alice"])
    world.clock.advance(60)
    member = world.approve_access_request("group", site.group, site.users["alice"])
    assert (member.id, member.created_at, member.access_level) == (request.id, NOW, 30)
    assert member.requested_at is None
    assert member.updated_at == NOW + dt.timedelta(seconds=60)


def test_adding_a_requester_as_member_approves_the_request(site: Site) -> None:
    """``add_member`` on a requester approves the request: its id and created_at are kept."""
    world = site.sim.world
    request = world.request_access("project", site.project, site.users["bob"])
    world.clock.advance(60)
    member = world.add_member("project", site.project, site.users["bob"], 20)
    assert (member.id, member.created_at, member.access_level) == (request.id, NOW, 20)
    assert world.snapshot().requesters("project", site.project) == []


def test_the_list_paginates_like_every_offset_list(site: Site) -> None:
    """per_page 20 by default, 100 at most, X-Total and Link headers, member id order."""
    world = site.sim.world
    ids = [world.add_user(f"asker{i}").id for i in range(25)]
    for uid in reversed(ids):  # ids of the requests follow the order they were made in
        world.request_access("group", site.group, uid)
    first = site.get(f"/groups/{site.group}/access_requests")
    assert (first.headers["X-Total"], first.headers["X-Total-Pages"]) == ("25", "2")
    assert [r["id"] for r in first.json()] == list(reversed(ids))[:20]
    second = site.get(f"/groups/{site.group}/access_requests", per_page=10, page=3)
    assert (second.headers["X-Page"], len(second.json())) == ("3", 5)
    assert ('rel="prev"' in second.headers["Link"], 'rel="next"' in second.headers["Link"]) == (
        True,
        False,
    )
    capped = site.get(f"/groups/{site.group}/access_requests", per_page=500)
    assert capped.headers["X-Per-Page"] == "100"
    every = site.source("owner", "group").accessrequests.list(iterator=True, per_page=7)
    assert [r.id for r in every] == list(reversed(ids))
    assert site.get(f"/groups/{site.group}/access_requests", page="x").status_code == 400


@pytest.mark.parametrize(
    ("kind", "who", "status"),
    [
        ("group", "root", 200),
        ("group", "owner", 200),
        ("group", "maint", 403),  # admin_group / admin_group_member: owners only
        ("group", "alice", 403),
        ("project", "owner", 200),  # inherited Owner
        ("project", "maint", 200),
        ("project", "dev", 403),
        ("project", "alice", 403),
    ],
)
def test_only_group_owners_and_project_maintainers_list(
    site: Site, kind: SourceKind, who: str, status: int
) -> None:
    """Listing is ``admin_member_access_request``: everyone else gets 403 Forbidden."""
    answer = site.get(f"/{kind}s/{site.source_id(kind)}/access_requests", who)
    assert answer.status_code == status
    if status == 403:
        assert answer.json() == {"message": "403 Forbidden"}


def test_unknown_or_unreadable_sources_are_404_and_anonymous_is_401(site: Site) -> None:
    """find_source answers 404 before any permission; authenticate! comes first of all."""
    assert site.get("/groups/9999/access_requests").json() == {"message": "404 Group Not Found"}
    assert site.get("/projects/9999/access_requests").json() == {"message": "404 Project Not Found"}
    hidden = site.get(f"/groups/{site.private}/access_requests", "alice")
    assert (hidden.status_code, hidden.json()) == (404, {"message": "404 Group Not Found"})
    anonymous = requests.get(f"{site.sim.url}/api/v4/groups/{site.group}/access_requests")
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "401 Unauthorized"})


def test_who_may_request_access(site: Site) -> None:
    """Members, admins and the invisible may not ask; a second request is a validation error."""
    refused_askers: list[tuple[str, SourceKind]] = [
        ("owner", "group"),
        ("owner", "project"),  # an inherited member
        ("dev", "project"),
        ("root", "group"),  # admins have Owner everywhere
    ]
    for who, kind in refused_askers:
        with pytest.raises(gitlab.GitlabCreateError) as refused:
            site.source(who, kind).accessrequests.create()
        assert refused.value.response_code == 403
    internal = site.gl("alice").groups.get(site.internal, lazy=True)
    assert internal.accessrequests.create().id == site.users["alice"]
    with pytest.raises(gitlab.GitlabCreateError) as hidden:
        site.gl("ext").groups.get(site.internal, lazy=True).accessrequests.create()
    assert hidden.value.response_code == 404  # an external user cannot read an internal group
    with pytest.raises(gitlab.GitlabCreateError) as again:
        internal.accessrequests.create()
    assert again.value.response_code == 400
    assert json.loads(again.value.response_body or b"") == {
        "message": {"user_id": ["already exists in source"]}
    }


def test_deny_is_for_approvers_and_withdraw_for_the_requester(site: Site) -> None:
    """Another user may not delete a request (403); its own user withdraws it (204)."""
    site.source("alice", "project").accessrequests.create()
    with pytest.raises(gitlab.GitlabDeleteError) as refused:
        site.source("carol", "project").accessrequests.delete(site.users["alice"])
    assert refused.value.response_code == 403
    with pytest.raises(gitlab.GitlabHttpError) as approve:
        site.gl("alice").http_put(
            f"/projects/{site.project}/access_requests/{site.users['alice']}/approve"
        )
    assert approve.value.response_code == 403
    site.source("alice", "project").accessrequests.delete(site.users["alice"])
    with pytest.raises(gitlab.GitlabDeleteError) as gone:
        site.source("maint", "project").accessrequests.delete(site.users["alice"])
    assert (gone.value.response_code, gone.value.error_message) == (404, "404 Not found")


def test_approve_validates_its_parameters(site: Site) -> None:
    """Grape's Integer coercion for user_id and access_level; levels the version lacks."""
    site.sim.world.request_access("group", site.group, site.users["alice"])
    base = f"{site.sim.url}/api/v4/groups/{site.group}/access_requests"
    headers = {"PRIVATE-TOKEN": site.sim.tokens["owner"]}
    bad = requests.put(f"{base}/abc/approve", headers=headers, data={"access_level": "x"})
    assert bad.json() == {"error": "user_id is invalid, access_level is invalid"}
    level = requests.put(
        f"{base}/{site.users['alice']}/approve", headers=headers, json={"access_level": 35}
    )
    assert (level.status_code, level.json()) == (
        400,
        {"message": {"access_level": ["is not included in the list"]}},
    )
    form = requests.put(
        f"{base}/{site.users['alice']}/approve", headers=headers, data={"access_level": "20"}
    )
    assert (form.status_code, form.json()["access_level"]) == (201, 20)


def test_requests_are_no_memberships(site: Site) -> None:
    """A requester is in no member list, has no access, and only untyped memberships list it."""
    alice = site.users["alice"]
    site.source("alice", "group").accessrequests.create()
    site.source("alice", "project").accessrequests.create()
    for kind in ("group", "project"):
        path = f"/{kind}s/{site.source_id(kind)}/members"
        for suffix in ("", "/all"):
            assert alice not in [m["id"] for m in site.get(path + suffix).json()]
        assert site.get(f"{path}/{alice}").status_code == 404
        assert site.get(f"{path}/all/{alice}").status_code == 404
    assert site.get("/projects", "alice", membership="true").json() == []
    assert site.get(f"/groups/{site.group}/access_requests", "alice").status_code == 403
    memberships = site.get(f"/users/{alice}/memberships").json()
    assert [(m["source_type"], m["access_level"]) for m in memberships] == [
        ("Namespace", 30),
        ("Project", 30),
    ]
    for kind in ("Project", "Namespace"):
        assert site.get(f"/users/{alice}/memberships", type=kind).json() == []


def test_destroying_the_source_or_the_user_removes_requests(site: Site) -> None:
    """Group, project and user deletion take their pending requests with them."""
    world = site.sim.world
    sub = world.add_group("sub", parent_id=site.group, visibility="public").id
    world.request_access("group", sub, site.users["alice"])
    world.request_access("project", site.project, site.users["bob"])
    world.request_access("group", site.internal, site.users["carol"])
    world.remove_group(site.group)  # the subgroup and the project go with it
    world.remove_user(site.users["carol"])
    assert world.snapshot().requests_by_user == {}
    assert site.get(f"/groups/{site.internal}/access_requests").json() == []


@pytest.mark.parametrize(
    ("version", "keys", "created"),
    [
        ("12.10", ["id", "name", "username", "state", "avatar_url", "web_url"], False),
        ("13.12", ["id", "username", "name", "state", "avatar_url", "web_url"], True),
        ("16.11", ["id", "username", "name", "state", "locked", "avatar_url", "web_url"], True),
        ("17.5", ["id", "username", "name", "state", "locked", "avatar_url", "web_url"], True),
    ],
)
def test_entities_per_version(
    make_site: Callable[[str], Site], version: str, keys: list[str], created: bool
) -> None:
    """AccessRequester is UserBasic plus requested_at; the approved Member shows created_at
    (13.x+) as the request's, and from 17.0 the approver as created_by."""
    site = make_site(version)
    site.source("alice", "group").accessrequests.create()
    listed = site.get(f"/groups/{site.group}/access_requests").json()
    assert list(listed[0]) == [*keys, "requested_at"]
    site.sim.world.clock.advance(60)
    approved = requests.put(
        f"{site.sim.url}/api/v4/groups/{site.group}/access_requests/{site.users['alice']}/approve",
        headers={"PRIVATE-TOKEN": site.sim.tokens["owner"]},
        timeout=10,
    )
    body = approved.json()
    assert (approved.status_code, body["access_level"]) == (201, 30)
    assert body.get("created_at") == (iso(NOW) if created else None)
    creator = body.get("created_by", {}).get("id")
    assert creator == (site.users["owner"] if version == "17.5" else None)


def test_allow_lists_the_methods_a_path_has(site: Site) -> None:
    """OPTIONS answers Grape's Allow per path; a method a path lacks is the catch-all's 404."""
    headers = {"PRIVATE-TOKEN": site.sim.tokens["owner"]}
    base = f"{site.sim.url}/api/v4/groups/{site.group}/access_requests"
    cases = {
        base: "OPTIONS, GET, POST, HEAD",
        f"{base}/5/approve": "OPTIONS, PUT",
        f"{base}/5": "OPTIONS, DELETE",
    }
    for url, allow in cases.items():
        assert requests.options(url, headers=headers).headers["Allow"] == allow
    for method, url in (("PATCH", base), ("GET", f"{base}/5/approve"), ("PUT", base)):
        answer = requests.request(method, url, headers=headers)
        assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"})
    assert site.sim.request_count("OPTIONS /groups/:id/access_requests/:user_id/approve") == 1


def test_the_world_refuses_duplicates_and_unknown_requests(site: Site) -> None:
    """One row per user and source; approving or denying nothing is a 404."""
    world = site.sim.world
    with pytest.raises(SimError, match="already exists"):
        world.request_access("group", site.group, site.users["owner"])
    with pytest.raises(SimError) as missing:
        world.approve_access_request("group", site.group, site.users["alice"])
    assert missing.value.status == 404
    with pytest.raises(SimError):
        world.deny_access_request("project", site.project, site.users["alice"])


def test_control_api_drives_access_requests(site: Site) -> None:
    """POST, PUT .../approve and DELETE under /-/sim/ map onto the world's methods."""
    base = f"{site.sim.url}/-/sim/groups/{site.group}/access_requests"
    alice, bob = site.users["alice"], site.users["bob"]
    made = requests.post(f"{base}/{alice}", json={"requested_at": "2026-10-01T00:00:00Z"})
    assert made.json()["requested_at"] == "2026-10-01T00:00:00+00:00"
    requests.post(f"{base}/{bob}", json={})
    assert requests.get(f"{site.sim.url}/-/sim/info").json()["access_requests"] == 2
    approved = requests.put(f"{base}/{alice}/approve", json={"access_level": 20})
    assert (approved.json()["access_level"], approved.json()["requested_at"]) == (20, None)
    assert requests.delete(f"{base}/{bob}").status_code == 204
    assert requests.delete(f"{base}/{bob}").status_code == 404
    assert requests.get(f"{site.sim.url}/-/sim/world").json()["access_requests"] == []
