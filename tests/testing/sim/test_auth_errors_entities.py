"""Auth, error bodies and entity key sets of the simulated GitLab (docs/simulator.md)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import gitlab
import pytest
import requests

from bridge.testing.sim.profiles import get_profile
from bridge.testing.sim.simulator import Simulator
from bridge.testing.sim.world import SimClock, World
from tests.conftest import NOW, SimFactory, client

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
UNAUTHORIZED = {"message": "401 Unauthorized"}
NO_ROUTE = {"error": "404 Not Found"}
NO_MEMBER = {"message": "404 Not found"}
P404, G404 = {"message": "404 Project Not Found"}, {"message": "404 Group Not Found"}
U404 = {"message": "404 User Not Found"}
USER_BASIC = {
    "12.10": ["id", "name", "username", "state", "avatar_url", "web_url"],
    "13.12": ["id", "username", "name", "state", "avatar_url", "web_url"],
    "16.11": ["id", "username", "name", "state", "locked", "avatar_url", "web_url"],
}
BASIC_PROJECT_16 = [
    "id", "description", "name", "name_with_namespace", "path", "path_with_namespace",
    "created_at", "default_branch", "tag_list", "topics", "ssh_url_to_repo", "http_url_to_repo",
    "web_url", "readme_url", "forks_count", "avatar_url", "star_count", "last_activity_at",
    "namespace",
]  # fmt: skip
PUBLIC_GROUP = ["id", "web_url", "name", "avatar_url", "full_name", "full_path"]
FULL_ONLY = {"visibility", "owner", "shared_with_groups", "updated_at", "permissions"}


@dataclass(frozen=True)
class Api:
    """Raw HTTP against one simulator, with the ids of the records a test refers to."""

    http: requests.Session
    sim: Simulator
    ids: dict[str, int] = field(default_factory=dict)

    def get(
        self, path: str, role: str | None = None, *, token: str | None = None, **params: Any
    ) -> requests.Response:
        """GET /api/v4<path> as ``role`` (None: anonymous) or with an explicit ``token``."""
        token = token or (self.sim.tokens[role] if role else None)
        headers = {"PRIVATE-TOKEN": token} if token else {}
        url = f"{self.sim.url}/api/v4{path.format(**self.ids)}"
        return self.http.get(url, params=params, headers=headers, timeout=10)

    def call(self, path: str, role: str | None = None, **params: Any) -> tuple[int, Any]:
        """Status and JSON body."""
        response = self.get(path, role, **params)
        return response.status_code, response.json()

    def ok(self, path: str, role: str | None = None, **params: Any) -> Any:
        """The JSON body of a request that must succeed."""
        status, body = self.call(path, role, **params)
        assert status == 200, (path, status, body)
        return body

    def ids_of(self, path: str, role: str | None = None, **params: Any) -> set[int]:
        """Ids on one list page of up to 100 items."""
        return {item["id"] for item in self.ok(path, role, per_page=100, **params)}


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """One keep-alive session for the module."""
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def env(http: requests.Session) -> Iterator[Api]:
    """16.11 small dataset plus known records: hidden, public, internal groups and shares."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    world = sim.world
    user_id = world.snapshot().tokens[sim.tokens["user"]]
    secret = world.add_group("t-secret")
    vault = world.add_project("vault", namespace_id=secret.id)
    open_grp = world.add_group("t-open", visibility="public")
    intra = world.add_group("t-intra", visibility="internal")
    intra_proj = world.add_project("intra-proj", namespace_id=intra.id, visibility="internal")
    host = world.add_group("t-host", visibility="public")
    plaza = world.add_group("t-plaza", visibility="public")  # nobody's group
    pub = world.add_project("pub", namespace_id=open_grp.id, visibility="public")
    world.share("group", host.id, secret.id, 30)
    world.share("group", host.id, open_grp.id, 20)
    world.share("project", pub.id, host.id, 30)
    world.add_member("group", open_grp.id, user_id, 30, expires_at=dt.date(2027, 3, 4))
    ids = {"user": user_id, "secret": secret.id, "vault": vault.id, "open": open_grp.id,
           "intra": intra.id, "intra_proj": intra_proj.id, "host": host.id, "plaza": plaza.id,
           "pub": pub.id}  # fmt: skip
    yield Api(http, sim, ids)
    sim.stop()


@pytest.fixture
def acme(http: requests.Session) -> Iterator[Callable[[str], Api]]:
    """A hand-built world per version, so that /members/all answers are obvious."""
    started: list[Simulator] = []

    def build(version: str) -> Api:
        world = World(SimClock(lambda: NOW))
        root = world.add_user("root", is_admin=True)
        dana, eve, sam = (world.add_user(name) for name in ("dana", "eve", "sam"))
        acme_grp = world.add_group("acme")
        web = world.add_group("web", parent_id=acme_grp.id)
        partners = world.add_group("partners")
        project = world.add_project("platform", namespace_id=acme_grp.id)
        for kind, source, user, level in [
            ("group", acme_grp, root, 50),
            ("group", acme_grp, dana, 20),  # dana: Reporter in the parent, Developer below
            ("group", acme_grp, eve, 40),  # eve: Maintainer in the parent, Guest below
            ("project", project, eve, 10),
            ("group", web, eve, 10),
            ("group", partners, sam, 40),  # sam: only through a Reporter link
        ]:
            world.add_member(kind, source.id, user.id, level)
        expiry = dt.date(2027, 1, 15)
        world.add_member(
            "project", project.id, dana.id, 30, expires_at=expiry, created_by_id=root.id
        )
        world.share("project", project.id, partners.id, 20)
        sim = Simulator(world, get_profile(version), tokens={"admin": world.add_token(root.id)})
        started.append(sim.start())
        return Api(http, sim, {"project": project.id, "web": web.id, "eve": eve.id})

    yield build
    for sim in started:
        sim.stop()


# -- authentication -------------------------------------------------------------------------


def test_private_token_and_bearer_identify_the_same_user(env: Api) -> None:
    """PRIVATE-TOKEN and Authorization: Bearer both authenticate, also for python-gitlab."""
    url, token = f"{env.sim.url}/api/v4/user", env.sim.tokens["user"]
    by_header = env.http.get(url, headers={"PRIVATE-TOKEN": token}, timeout=10)
    by_bearer = env.http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert by_header.json()["id"] == by_bearer.json()["id"] == env.ids["user"]
    gl = gitlab.Gitlab(env.sim.url, oauth_token=token)
    gl.auth()
    assert gl.user is not None
    assert (gl.user.id, "is_admin" in gl.user.attributes) == (env.ids["user"], False)


@pytest.mark.parametrize(
    "path", ["/projects", "/groups", "/projects/{pub}/groups", "/users?username=root", "/version"]
)
def test_invalid_token_is_401_even_on_public_endpoints(env: Api, path: str) -> None:
    """A token GitLab does not know is refused, even where anonymous access would work."""
    response = env.get(path, token="glpat-not-a-real-token")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize(
    "path",
    ["/version", "/metadata", "/user", "/groups/{open}/members", "/groups/{open}/members/all",
     "/projects/{pub}/members", "/projects/{pub}/members/all/{user}", "/users/{user}/memberships"],
)  # fmt: skip
def test_endpoints_needing_a_token_answer_401_anonymously(env: Api, path: str) -> None:
    """/version, /metadata, /user, members of public sources and memberships need a token."""
    assert env.call(path) == (401, UNAUTHORIZED)


def test_anonymous_callers_get_public_lists(env: Api) -> None:
    """Anonymous /projects and /groups list public records only, projects as BasicProjectDetails."""
    snap = env.sim.world.snapshot()
    items = env.ok("/projects", per_page=100)
    public = {
        p.id for p in snap.projects.values() if p.visibility == "public" and not p.pending_delete
    }
    assert {p["id"] for p in items} == public
    assert env.ids["pub"] in public
    assert all(list(p) == BASIC_PROJECT_16 for p in items)
    assert not FULL_ONLY & {key for p in items for key in p}
    assert env.ids_of("/groups") == {g.id for g in snap.groups.values() if g.visibility == "public"}


def test_anonymous_project_groups_of_public_projects_only(env: Api) -> None:
    """Anonymous /projects/:id/groups answers for a public project, 404 for an internal one."""
    assert [g["id"] for g in env.ok("/projects/{pub}/groups")] == [env.ids["open"]]
    assert env.call("/projects/{intra_proj}/groups") == (404, P404)


def test_anonymous_users_list_needs_a_username(env: Api) -> None:
    """Anonymous /users is 403 with GitLab's reason unless ``username`` narrows it to one user."""
    reason = {"message": "403 Forbidden - Not authorized to access /api/v4/users"}
    assert env.call("/users") == (403, reason)
    assert [u["username"] for u in env.ok("/users", username="root")] == ["root"]


def test_revoked_tokens_are_refused_at_once(make_sim: SimFactory, http: requests.Session) -> None:
    """World.revoke_token and DELETE /-/sim/tokens/<token> take effect on the next request."""
    sim = make_sim()
    api, gl = Api(http, sim), client(sim, "user")
    gl.auth()
    sim.world.revoke_token(sim.tokens["user"])
    with pytest.raises(gitlab.GitlabAuthenticationError) as caught:
        gl.auth()
    assert caught.value.response_code == 401
    assert api.call("/projects", "user") == (401, UNAUTHORIZED)
    assert api.get("/user", "external").status_code == 200
    revoked = http.delete(f"{sim.url}/-/sim/tokens/{sim.tokens['external']}", timeout=10)
    assert revoked.status_code == 204
    assert api.call("/user", "external") == (401, UNAUTHORIZED)
    assert api.ok("/user", "admin")["username"] == "root"


# -- admin-only endpoints -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "external"])
def test_memberships_are_forbidden_for_non_admins(env: Api, role: str) -> None:
    """/users/:id/memberships is 403 for every non-admin, also through python-gitlab."""
    assert env.call("/users/{user}/memberships", role) == (403, {"message": "403 Forbidden"})
    with pytest.raises(gitlab.GitlabListError) as caught:
        client(env.sim, role).users.get(env.ids["user"], lazy=True).memberships.list()
    assert caught.value.response_code == 403


def test_memberships_for_admins_filter_by_type(env: Api) -> None:
    """Admins get direct memberships; ``type`` keeps Project or Namespace rows, else 400."""
    path = "/users/{user}/memberships"
    every = env.ok(path, "admin", per_page=100)
    projects = env.ok(path, "admin", per_page=100, type="Project")
    groups = env.ok(path, "admin", per_page=100, type="Namespace")
    rows = env.sim.world.snapshot().memberships_by_user[env.ids["user"]]
    assert len(every) == len(rows) == len(projects) + len(groups)
    assert {m["source_type"] for m in projects} == {"Project"}
    assert {m["source_type"] for m in groups} == {"Namespace"}
    assert {"source_id": env.ids["open"], "source_name": "t-open", "source_type": "Namespace",
            "access_level": 30} in groups  # fmt: skip
    assert {tuple(m) for m in every} == {
        ("source_id", "source_name", "source_type", "access_level")
    }
    bad = {"error": "type does not have a valid value"}
    assert env.call(path, "admin", type="Group") == (400, bad)


# -- 404 and 400 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [("/projects/999999", "admin", P404), ("/groups/999999", "admin", G404),
     ("/users/999999", "admin", U404), ("/users/999999/memberships", "admin", U404),
     ("/groups/{open}/members/1", "admin", NO_MEMBER),  # root exists but is no member there
     ("/projects/{pub}/members/999999", "admin", NO_MEMBER),
     ("/groups/{open}/members/all/999999", "user", NO_MEMBER),
     ("/no/such/route", "admin", NO_ROUTE), ("/projects/999999/groups", "admin", P404),
     # hidden from a signed-in non-member: 404, not 403
     ("/projects/{vault}", "user", P404), ("/projects/{vault}/members", "user", P404),
     ("/projects/{vault}/groups", "user", P404), ("/groups/{secret}", "user", G404),
     ("/groups/{secret}/members/all", "user", G404), ("/groups/{intra}", "external", G404),
     ("/projects/{intra_proj}", "external", P404)],
)  # fmt: skip
def test_not_found_bodies(env: Api, path: str, role: str, body: dict[str, str]) -> None:
    """Missing and hidden resources are 404 (never 403) with GitLab's exact body."""
    assert env.call(path, role) == (404, body)


def test_hidden_resources_exist_for_admins(env: Api) -> None:
    """What a non-member gets 404 for is there: admins read it; python-gitlab sees the 404."""
    assert env.ok("/projects/{vault}", "admin")["id"] == env.ids["vault"]
    assert env.ok("/groups/{secret}", "admin")["id"] == env.ids["secret"]
    with pytest.raises(gitlab.GitlabGetError) as caught:
        client(env.sim, "user").projects.get(env.ids["vault"])
    assert caught.value.response_code == 404


def test_ids_may_be_url_encoded_full_paths(env: Api) -> None:
    """``:id`` takes a URL-encoded full path for groups, projects and their members."""
    snap = env.sim.world.snapshot()
    group = next(g for g in snap.groups.values() if g.parent_id is not None)
    project = next(p for p in snap.projects.values() if p.namespace_id == group.id)
    group_path = quote(snap.group_full_paths[group.id], safe="")
    project_path = quote(snap.project_full_path(project), safe="")
    assert "%2F" in group_path
    assert env.ok(f"/groups/{group_path}", "admin")["id"] == group.id
    assert env.ok(f"/projects/{project_path}", "admin")["id"] == project.id
    members = env.ok(f"/projects/{project_path}/members", "admin")
    assert members == env.ok(f"/projects/{project.id}/members", "admin")
    assert client(env.sim).projects.get(snap.project_full_path(project)).id == project.id


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/projects", {"archived": "maybe"}, "archived is invalid"),
        ("/projects", {"page": "two"}, "page is invalid"),
        ("/groups", {"all_available": "perhaps"}, "all_available is invalid"),
        ("/groups/{open}/members", {"per_page": "x"}, "per_page is invalid"),
        ("/groups/{open}/members/abc", {}, "user_id is invalid"),
        ("/users/abc", {}, "id is invalid"),
        ("/projects/{pub}/groups", {"with_shared": "maybe"}, "with_shared is invalid"),
        ("/projects/{pub}/groups", {"shared_min_access_level": "25"},
         "shared_min_access_level does not have a valid value"),
    ],
)  # fmt: skip
def test_invalid_parameters_are_400(
    env: Api, path: str, params: dict[str, str], error: str
) -> None:
    """Grape's coercion and values errors: ``{"error": "<param> is invalid"}`` and friends."""
    assert env.call(path, "admin", **params) == (400, {"error": error})


# -- key sets per profile and caller -----------------------------------------------------------


def test_admin_user_items_carry_admin_fields(env: Api) -> None:
    """Admins list users as UserWithAdmin: email, is_admin and (16.x) namespace_id."""
    snap = env.sim.world.snapshot()
    items = env.ok("/users", "admin", per_page=100)
    assert len(items) == len(snap.users)
    for item in items:
        user = snap.users[item["id"]]
        assert (item["email"], item["is_admin"]) == (user.email, user.is_admin)
        assert item["namespace_id"] == user.namespace_id
        assert list(item)[:7] == USER_BASIC["16.11"]
    assert client(env.sim).users.list(username="root")[0].is_admin is True


@pytest.mark.parametrize("version", ["12.10", "16.11"])
def test_non_admin_user_items_are_user_basic(
    make_sim: SimFactory, http: requests.Session, version: str
) -> None:
    """Non-admins list users as exactly UserBasic, in the version's key order."""
    items = Api(http, make_sim(version=version)).ok("/users", "user", per_page=100)
    assert items
    assert all(list(item) == USER_BASIC[version] for item in items)


def test_admin_only_user_filters_are_dropped_for_non_admins(env: Api) -> None:
    """order_by, sort and created_after change nothing for non-admins; admins get them."""
    filters = {"order_by": "username", "sort": "asc", "created_after": "2100-01-01T00:00:00Z"}
    default = [u["id"] for u in env.ok("/users", "user", per_page=100)]
    filtered = [u["id"] for u in env.ok("/users", "user", per_page=100, **filters)]
    assert filtered == default == sorted(default, reverse=True)
    assert env.ok("/users", "admin", **filters) == []


@pytest.mark.parametrize(
    ("version", "set_by", "unset_by"),
    [
        ("12.10", [], []),
        ("13.12", ["created_at"], ["created_at"]),
        ("16.11", ["created_at", "created_by"], ["created_at"]),
    ],
)
def test_member_keys_per_profile(
    acme: Callable[[str], Api], version: str, set_by: list[str], unset_by: list[str]
) -> None:
    """Member: UserBasic, access_level, created_at (13.x), created_by only when set, expires_at."""
    api = acme(version)
    rows = {m["username"]: m for m in api.ok("/projects/{project}/members", "admin")}
    basic = USER_BASIC[version]
    assert list(rows["dana"]) == [*basic, "access_level", *set_by, "expires_at"]  # created_by root
    assert list(rows["eve"]) == [*basic, "access_level", *unset_by, "expires_at"]  # by nobody
    if "created_by" in set_by:
        assert list(rows["dana"]["created_by"]) == basic
        assert rows["dana"]["created_by"]["username"] == "root"


def test_ee_member_fields(make_sim: SimFactory, http: requests.Session) -> None:
    """16.11 EE members add membership_state for everyone and email for admins only."""
    sim = make_sim(version="16.11-ee")
    user_id = sim.world.snapshot().tokens[sim.tokens["user"]]
    group = sim.world.add_group("t-ee", visibility="public")
    sim.world.add_member("group", group.id, user_id, 30)
    ce_keys = [*USER_BASIC["16.11"], "access_level", "created_at", "expires_at"]
    (as_admin,) = Api(http, sim).ok(f"/groups/{group.id}/members", "admin")
    (as_user,) = Api(http, sim).ok(f"/groups/{group.id}/members", "user")
    assert list(as_admin) == [*ce_keys, "email", "membership_state"]
    assert list(as_user) == [*ce_keys, "membership_state"]
    assert as_admin["email"] == sim.world.snapshot().users[user_id].email
    assert as_user["membership_state"] == "active"


@pytest.mark.parametrize(
    ("version", "reported", "enterprise", "groups_route"),
    [
        ("12.10", "12.10.14", None, False),
        ("13.12-ee", "13.12.15-ee", None, True),
        ("16.11", "16.11.10", False, True),
        ("16.11-ee", "16.11.10-ee", True, True),
    ],
)
def test_version_metadata_and_routes_per_profile(
    make_sim: SimFactory,
    http: requests.Session,
    version: str,
    reported: str,
    enterprise: bool | None,
    groups_route: bool,
) -> None:
    """/version adds -ee on EE; /metadata (15.2) and /projects/:id/groups (13.10) per profile."""
    api = Api(http, make_sim(version=version))
    assert api.ok("/version", "user")["version"] == reported
    status, metadata = api.call("/metadata", "user")
    if enterprise is None:
        assert (status, metadata) == (404, NO_ROUTE)
    else:
        assert (status, metadata["version"], metadata["enterprise"]) == (200, reported, enterprise)
    project_id = min(api.sim.world.snapshot().projects)
    existing = api.call(f"/projects/{project_id}/groups", "admin")
    assert (existing[0] == 200) if groups_route else (existing == (404, NO_ROUTE))
    # the body tells "no such route" from "no such project"
    assert api.call("/projects/999999/groups", "admin") == (404, P404 if groups_route else NO_ROUTE)


def test_shared_with_groups_only_in_group_detail(env: Api) -> None:
    """Lists never carry shared_with_groups; GET /groups/:id does, only with readable groups."""
    items = env.ok("/groups", "admin", per_page=100)
    assert items
    assert not any("shared_with_groups" in g for g in items)
    shares = {s["group_id"]: s for s in env.ok("/groups/{host}", "admin")["shared_with_groups"]}
    assert set(shares) == {env.ids["secret"], env.ids["open"]}
    assert shares[env.ids["open"]] == {"group_id": env.ids["open"], "group_name": "t-open",
        "group_full_path": "t-open", "group_access_level": 20, "expires_at": None}  # fmt: skip
    for role in ("user", "external"):  # the invited private group is hidden from non-members
        detail = env.ok("/groups/{host}", role)
        assert [s["group_id"] for s in detail["shared_with_groups"]] == [env.ids["open"]]


def test_project_owner_only_in_user_namespaces(env: Api) -> None:
    """``owner`` (UserBasic of the namespace owner) appears only when namespace.kind is user."""
    items = env.ok("/projects", "admin", per_page=100)
    assert {p["namespace"]["kind"] for p in items} == {"user", "group"}
    for p in items:
        assert ("owner" in p) == (p["namespace"]["kind"] == "user")
        if "owner" in p:
            assert p["owner"]["username"] == p["namespace"]["path"]
            assert list(p["owner"]) == USER_BASIC["16.11"]


@pytest.mark.parametrize("role", ["admin", "user"])
def test_simple_projects_lack_full_fields(env: Api, role: str) -> None:
    """``simple=true`` gives BasicProjectDetails: no visibility, owner, shares or updated_at."""
    full = env.ok("/projects", role, per_page=100)
    simple = env.ok("/projects", role, per_page=100, simple="true")
    assert [p["id"] for p in simple] == [p["id"] for p in full]
    assert not FULL_ONLY & {key for p in simple for key in p}
    assert all(
        {"visibility", "shared_with_groups", "updated_at", "permissions"} <= set(p) for p in full
    )
    if role == "admin":  # admins read every repository, so no key is conditional
        assert all(list(p) == BASIC_PROJECT_16 for p in simple)


def test_guest_of_private_project_gets_no_default_branch(
    make_sim: SimFactory, http: requests.Session
) -> None:
    """BasicProjectDetails hides default_branch from callers who cannot read the code."""
    sim = make_sim()
    user_id = sim.world.snapshot().tokens[sim.tokens["user"]]
    project = sim.world.add_project("code", namespace_id=sim.world.add_group("t-guarded").id)
    sim.world.add_member("project", project.id, user_id, 10)
    assert Api(http, sim).ok(f"/projects/{project.id}", "admin")["default_branch"] == "main"
    as_guest = Api(http, sim).ok(f"/projects/{project.id}", "user")
    assert as_guest["permissions"]["project_access"]["access_level"] == 10
    assert "default_branch" not in as_guest


def test_all_available_defaults(env: Api) -> None:
    """Admins see every group by default; others their own, plus public/internal on request."""
    ids = env.ids
    assert env.ids_of("/groups", "admin") == set(env.sim.world.snapshot().groups)
    assert ids["intra"] not in env.ids_of("/groups", "admin", all_available="false")
    mine = env.ids_of("/groups", "user")
    assert {ids["open"], ids["host"]} <= mine  # a member of t-open, which is invited into t-host
    assert not mine & {ids["intra"], ids["plaza"], ids["secret"]}
    everything = env.ids_of("/groups", "user", all_available="true")
    assert {ids["open"], ids["intra"], ids["host"], ids["plaza"]} <= everything
    assert ids["secret"] not in everything


def test_external_user_never_sees_internal_by_visibility(env: Api) -> None:
    """Internal groups and projects open to every signed-in user stay hidden from externals."""
    groups = env.ids_of("/groups", "external", all_available="true")
    assert env.ids["plaza"] in groups
    assert env.ids["intra"] not in groups
    assert env.ids["intra"] in env.ids_of("/groups", "user", all_available="true")
    assert env.ids["intra_proj"] not in env.ids_of("/projects", "external")
    assert env.ids["intra_proj"] in env.ids_of("/projects", "user")


# -- formats -----------------------------------------------------------------------------------


def test_timestamps_are_utc_with_milliseconds(env: Api) -> None:
    """Every API timestamp looks like 2020-01-15T12:36:29.590Z."""
    stamps = [u["created_at"] for u in env.ok("/users", "admin", per_page=100)]
    stamps += [g["created_at"] for g in env.ok("/groups", "admin", per_page=100)]
    for p in env.ok("/projects", "admin", per_page=100):
        stamps += [p["created_at"], p["last_activity_at"], p["updated_at"]]
    stamps += [m["created_at"] for m in env.ok("/groups/{open}/members", "admin")]
    assert len(stamps) > 100
    assert [s for s in stamps if not TIMESTAMP.match(s)] == []


def test_member_expires_at_is_a_date_or_null(env: Api) -> None:
    """Member ``expires_at`` is YYYY-MM-DD or null across every group and project."""
    snap = env.sim.world.snapshot()
    paths = [f"/groups/{g}/members" for g in snap.groups]
    paths += [f"/projects/{p}/members" for p in snap.projects]
    values = [m["expires_at"] for path in paths for m in env.ok(path, "admin", per_page=100)]
    dates = [v for v in values if v is not None]
    assert "2027-03-04" in dates
    assert all(DATE.match(v) for v in dates)


def test_project_groups_items_are_public_group_details(env: Api) -> None:
    """/projects/:id/groups items have exactly PublicGroupDetails keys, in order."""
    items = env.ok("/projects/{pub}/groups", "user", with_shared="true")
    assert [g["id"] for g in items] == [env.ids["host"], env.ids["open"]]
    assert all(list(g) == PUBLIC_GROUP for g in items)
    assert items[1]["web_url"] == f"{env.sim.url}/groups/t-open"


@pytest.mark.parametrize(
    ("version", "project_levels", "subgroup_eve"),
    [
        ("12.10", {"dana": 30, "eve": 10, "root": 50}, 10),  # the source's own row first
        ("16.11", {"dana": 30, "eve": 40, "root": 50, "sam": 20}, 40),  # highest; link caps sam
    ],
)
def test_members_all_per_era(
    acme: Callable[[str], Api], version: str, project_levels: dict[str, int], subgroup_eve: int
) -> None:
    """/members/all: one row per user; 12.10 prefers the source's row, 16.11 the highest level."""
    api = acme(version)
    listed = api.ok("/projects/{project}/members/all", "admin")
    rows = {m["username"]: m for m in listed}
    assert len(rows) == len(listed)
    assert {name: rows[name]["access_level"] for name in project_levels} == project_levels
    assert rows["dana"]["expires_at"] == "2027-01-15"
    eve = api.ok("/projects/{project}/members/all/{eve}", "admin")
    assert eve["access_level"] == project_levels["eve"]
    web = api.ok("/groups/{web}/members/all", "admin")
    assert {m["username"]: m["access_level"] for m in web}["eve"] == subgroup_eve
    project = client(api.sim).projects.get(api.ids["project"], lazy=True)
    levels = {m.username: m.access_level for m in project.members_all.list(get_all=True)}
    assert {name: levels[name] for name in project_levels} == project_levels
