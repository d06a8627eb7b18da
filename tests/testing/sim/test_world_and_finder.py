"""The simulated world: mutations (Python and /-/sim/ over HTTP), expiry, and GitLab's finder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import gitlab
import pytest
import requests

from bridge.testing.sim.access import fuzzy_terms
from bridge.testing.sim.profiles import get_profile
from bridge.testing.sim.simulator import Simulator
from bridge.testing.sim.world import SimClock, SimError, World
from tests.conftest import NOW, SimFactory, client


@pytest.fixture
def finder_sim() -> Iterator[tuple[Simulator, int, int]]:
    """The worked example: groups #1-#4 in creation order, a project in #2, two shares."""
    world = World(SimClock(lambda: NOW))
    root = world.add_group("root-group", visibility="public")
    project_group = world.add_group("project-group", parent_id=root.id, visibility="public")
    dev = world.add_group("dev-share", name="Dev Share", parent_id=root.id, visibility="private")
    rep = world.add_group("reporter-share", name="Reporter Share", visibility="public")
    assert [root.id, project_group.id, dev.id, rep.id] == [1, 2, 3, 4]
    user = world.add_user("regular")
    owner = world.add_user("owner")
    project = world.add_project("the-project", namespace_id=project_group.id, visibility="public")
    personal = world.add_project("mine", namespace_id=owner.namespace_id, visibility="public")
    for p in (project, personal):
        world.share("project", p.id, dev.id, 30)
        world.share("project", p.id, rep.id, 20)
    tokens = {"user": world.add_token(user.id)}
    sim = Simulator(world, get_profile("16.11"), tokens=tokens).start()
    yield sim, project.id, personal.id
    sim.stop()


def _ids(sim: Simulator, project_id: int, **params: object) -> list[int]:
    response = requests.get(
        f"{sim.url}/api/v4/projects/{project_id}/groups",
        params=params,  # type: ignore[arg-type]
        headers={"PRIVATE-TOKEN": sim.tokens["user"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [g["id"] for g in response.json()]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [2, 1]),
        ({"with_shared": "true"}, [4, 3, 2, 1]),
        ({"with_shared": "true", "shared_min_access_level": 30}, [3, 2, 1]),
        ({"with_shared": "true", "shared_visible_only": "true"}, [4, 2, 1]),
        ({"skip_groups[]": 2}, [1]),
        ({"skip_groups": "1,2"}, []),
        ({"with_shared": "true", "search": "share"}, [4, 3]),
        ({"with_shared": "true", "search": "ro"}, []),
        ({"with_shared": "true", "search": "root-group"}, [1]),
        ({"with_shared": "true", "search": "REPORTER"}, [4]),
        ({"with_shared": "true", "search": "ter-sha"}, [4]),  # a substring of the path only
        ({"with_shared": "true", "search": "group root"}, [1]),  # every term, any order
        ({"with_shared": "true", "search": '"dev share"'}, [3]),  # a quoted phrase is one term
        ({"with_shared": "true", "search": "dev nomatch"}, []),
        ({"with_shared": "true", "search": "Dev Share"}, [3]),
    ],
)
def test_finder_scenario(
    finder_sim: tuple[Simulator, int, int], params: dict[str, object], expected: list[int]
) -> None:
    """/projects/:id/groups reproduces GitLab's groups_finder spec, id descending."""
    sim, project_id, _ = finder_sim
    assert _ids(sim, project_id, **params) == expected


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("  a  bc   def ", ["def"]),
        ('"dev share" x', ["dev share"]),
        ('pre"fix quoted"', ['pre"fix', 'quoted"']),
        ('"ab"', []),
    ],
)
def test_fuzzy_terms_follow_gitlab_sql_pattern(query: str, terms: list[str]) -> None:
    """Words and space-bounded quoted phrases of at least 3 characters are the search terms."""
    assert fuzzy_terms(query) == terms


def test_finder_direct_guest_sees_private_shared_group(
    finder_sim: tuple[Simulator, int, int],
) -> None:
    """shared_visible_only admits a private shared group once the caller is its direct Guest."""
    sim, project_id, _ = finder_sim
    user_id = sim.world.snapshot().tokens[sim.tokens["user"]]
    sim.world.add_member("group", 3, user_id, 10)
    assert _ids(sim, project_id, with_shared="true", shared_visible_only="true") == [4, 3, 2, 1]


def test_finder_personal_project_has_only_shares(finder_sim: tuple[Simulator, int, int]) -> None:
    """A project in a user namespace has no ancestors, only its shared groups."""
    sim, _, personal_id = finder_sim
    assert _ids(sim, personal_id, with_shared="true") == [4, 3]
    assert _ids(sim, personal_id) == []


def test_finder_through_python_gitlab(finder_sim: tuple[Simulator, int, int]) -> None:
    """Unmodified python-gitlab lists the groups with PublicGroupDetails fields."""
    sim, project_id, _ = finder_sim
    gl = client(sim, "user")
    groups = gl.projects.get(project_id, lazy=True).groups.list(get_all=True, with_shared=True)
    assert [g.id for g in groups] == [4, 3, 2, 1]
    assert groups[1].full_name == "root-group / Dev Share"
    assert groups[1].full_path == "root-group/dev-share"


@pytest.mark.parametrize("level", ["15", "60", "0"])
def test_finder_rejects_invalid_levels(finder_sim: tuple[Simulator, int, int], level: str) -> None:
    """Levels outside Gitlab::Access.all_values are 400 (15 only exists from 17.7)."""
    sim, project_id, _ = finder_sim
    response = requests.get(
        f"{sim.url}/api/v4/projects/{project_id}/groups",
        params={"with_shared": "true", "shared_min_access_level": level},
        headers={"PRIVATE-TOKEN": sim.tokens["user"]},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "shared_min_access_level does not have a valid value"}


def test_skip_groups_takes_a_comma_list_on_13_12(make_sim: SimFactory) -> None:
    """/projects/:id/groups coerces skip_groups=1,2 (CommaSeparatedToIntegerArray) from 13.10."""
    sim = make_sim(version="13.12")
    snap = sim.world.snapshot()
    project = next(p for p in snap.projects.values() if p.namespace_id in snap.groups)
    chain = [project.namespace_id, *snap.ancestor_ids(project.namespace_id)]
    response = requests.get(
        f"{sim.url}/api/v4/projects/{project.id}/groups",
        params={"skip_groups": ",".join(map(str, chain))},
        headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, [])


# -- mutations --------------------------------------------------------------------------


def test_python_mutations_show_up_in_the_api(make_sim: SimFactory) -> None:
    """Users, nested groups, moves, projects, renames, transfers, members and shares via Python."""
    sim = make_sim()
    world, gl = sim.world, client(sim)
    parent = world.add_group("mut-parent", visibility="internal")
    child = world.add_group("mut-child", parent_id=parent.id)
    other = world.add_group("mut-other")
    user = world.add_user("mutant", name="Mu Tant", public_email="mu@example.org")
    project = world.add_project("proj", namespace_id=child.id)
    world.add_member("group", child.id, user.id, 30, expires_at=dt.date(2030, 1, 2))
    world.add_member("project", project.id, user.id, 40)
    world.share("project", project.id, other.id, 20, expires_at=dt.date(2031, 5, 6))
    world.share("group", child.id, other.id, 10)

    assert gl.groups.get("mut-parent/mut-child").full_path == "mut-parent/mut-child"
    member = gl.groups.get(child.id).members.get(user.id)
    assert (member.access_level, member.expires_at) == (30, "2030-01-02")
    p = gl.projects.get(project.id)
    assert p.path_with_namespace == "mut-parent/mut-child/proj"
    assert p.shared_with_groups[0]["group_id"] == other.id
    assert p.shared_with_groups[0]["expires_at"] == "2031-05-06"
    assert gl.groups.get(child.id).shared_with_groups[0]["group_access_level"] == 10

    world.update_group(child.id, parent_id=other.id)
    world.update_project(project.id, path="renamed", name="Renamed")
    assert gl.projects.get(project.id).path_with_namespace == "mut-other/mut-child/renamed"
    world.update_project(project.id, namespace_id=user.namespace_id)
    moved = gl.projects.get(project.id)
    assert moved.namespace["kind"] == "user"
    assert moved.owner["id"] == user.id
    world.update_user(user.id, username="mutant2")
    assert gl.projects.get(project.id).path_with_namespace == "mutant2/renamed"
    world.remove_group(other.id)
    with pytest.raises(gitlab.GitlabGetError) as err:
        gl.groups.get(child.id)
    assert err.value.response_code == 404


def test_world_refuses_what_gitlab_refuses() -> None:
    """Taken paths, cycles, bad levels and too open a child visibility raise SimError + status."""
    world = World(SimClock(lambda: NOW))
    a = world.add_group("a", visibility="private")
    b = world.add_group("b", parent_id=a.id)
    user = world.add_user("u")
    cases = [
        (lambda: world.add_group("A"), 409),
        (lambda: world.add_group("pub", parent_id=a.id, visibility="public"), 400),
        (lambda: world.update_group(a.id, parent_id=b.id), 400),
        (lambda: world.add_member("group", a.id, user.id, 35), 400),
        (lambda: world.add_user("U"), 409),
        (lambda: world.update_user(999, name="x"), 404),
        (lambda: world.add_project("bad path", namespace_id=a.id), 400),
        (lambda: world.share("group", a.id, a.id, 30), 400),
    ]
    world.add_member("group", a.id, user.id, 30)
    cases.append((lambda: world.add_member("group", a.id, user.id, 30), 409))
    for action, status in cases:
        with pytest.raises(SimError) as err:
            action()
        assert err.value.status == status, err.value


def test_moves_and_transfers_lower_visibility_like_gitlab() -> None:
    """A moved subtree and a transferred project drop to the new parent's visibility."""
    world = World(SimClock(lambda: NOW))
    public = world.add_group("pub", visibility="public")
    child = world.add_group("child", parent_id=public.id, visibility="internal")
    project = world.add_project("p", namespace_id=child.id, visibility="internal")
    closed = world.add_group("closed", visibility="private")
    world.update_group(public.id, parent_id=closed.id)
    snap = world.snapshot()
    assert {snap.groups[g].visibility for g in (public.id, child.id)} == {"private"}
    assert snap.projects[project.id].visibility == "private"
    open_project = world.add_project(
        "q", namespace_id=world.add_group("o", visibility="public").id, visibility="public"
    )
    assert world.update_project(open_project.id, namespace_id=closed.id).visibility == "private"


def test_world_refuses_what_gitlab_forbids_about_links_and_visibility() -> None:
    """Too open or too closed a visibility, self-shares and misplaced Minimal Access are 400s."""
    world = World(SimClock(lambda: NOW))
    top = world.add_group("top", visibility="internal")
    sub = world.add_group("sub", parent_id=top.id, visibility="internal")
    project = world.add_project("p", namespace_id=sub.id, visibility="internal")
    user = world.add_user("u")
    cases = [
        lambda: world.update_group(top.id, visibility="private"),  # children are internal
        lambda: world.update_group(sub.id, visibility="public"),  # parent is internal
        lambda: world.add_project("q", namespace_id=sub.id, visibility="public"),
        lambda: world.update_project(project.id, visibility="public"),
        lambda: world.share("project", project.id, top.id, 30),  # its own ancestor
        lambda: world.add_member("group", sub.id, user.id, 5),  # not a top-level group
        lambda: world.add_member("project", project.id, user.id, 5),
    ]
    for action in cases:
        with pytest.raises(SimError) as err:
            action()
        assert err.value.status == 400, err.value
    assert world.add_member("group", top.id, user.id, 5).access_level == 5


def test_expiry_worker_removes_expired_rows_only() -> None:
    """expire() deletes memberships and links whose date has passed; others stay."""
    world = World(SimClock(lambda: NOW))
    g1, g2 = world.add_group("g1"), world.add_group("g2")
    user = world.add_user("u")
    world.add_member("group", g1.id, user.id, 30, expires_at=NOW.date() - dt.timedelta(days=1))
    world.add_member("group", g2.id, user.id, 30, expires_at=NOW.date() + dt.timedelta(days=3))
    world.share("group", g1.id, g2.id, 20, expires_at=NOW.date() - dt.timedelta(days=2))
    assert world.expire() == 2
    snap = world.snapshot()
    assert snap.members[("group", g1.id)] == {}
    assert user.id in snap.members[("group", g2.id)]
    assert snap.shares[("group", g1.id)] == {}
    assert world.expire(NOW.date() + dt.timedelta(days=10)) == 1


def test_control_api_drives_the_world_over_http(make_sim: SimFactory) -> None:
    """Another process mutates through /-/sim/ (moves, transfers, both share kinds) and sees it."""
    sim = make_sim()
    s = requests.Session()
    ctl = f"{sim.url}/-/sim"

    def call(method: str, route: str, status: int = 200, /, **body: object) -> dict[str, object]:
        response = s.request(method, f"{ctl}/{route}", json=body or None, timeout=10)
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    group = call("POST", "groups", path="ctl-group", visibility="public")
    other = call("POST", "groups", path="ctl-other", visibility="private")
    user = call("POST", "users", username="ctl-user", name="Ctl")
    project = call(
        "POST", "projects", path="ctl-proj", namespace_id=group["id"], visibility="public"
    )
    call(
        "PUT",
        f"groups/{group['id']}/members/{user['id']}",
        access_level=30,
        expires_at="2030-03-04",
    )
    call("PUT", f"groups/{group['id']}/members/{user['id']}", access_level=40)
    call("PUT", f"projects/{project['id']}/shares/{other['id']}", group_access=20)
    call("PUT", f"groups/{group['id']}/shares/{other['id']}", group_access=10)
    call("PATCH", f"projects/{project['id']}", path="ctl-renamed")
    token = call("POST", "tokens", user_id=user["id"])["token"]

    gl = client(sim)
    assert gl.groups.get(group["id"]).members.get(user["id"]).access_level == 40
    assert [g["group_id"] for g in gl.groups.get(group["id"]).shared_with_groups] == [other["id"]]
    assert gl.projects.get(project["id"]).path == "ctl-renamed"
    assert gitlab.Gitlab(sim.url, private_token=token).http_get("/user")["username"] == "ctl-user"

    call("PATCH", f"groups/{group['id']}", parent_id=other["id"])  # a move under a private parent
    moved = gl.groups.get(group["id"])
    assert (moved.full_path, moved.visibility) == ("ctl-other/ctl-group", "private")
    call("PATCH", f"projects/{project['id']}", namespace_id=user["namespace_id"])  # a transfer
    assert gl.projects.get(project["id"]).path_with_namespace == "ctl-user/ctl-renamed"

    call("DELETE", f"groups/{group['id']}/shares/{other['id']}", 204)
    call("DELETE", f"groups/{group['id']}/members/{user['id']}", 204)
    call("DELETE", f"groups/{group['id']}/members/{user['id']}", 404)
    assert "already been taken" in str(call("POST", "groups", 409, path="ctl-other")["error"])
    call("POST", "nothing", 404)
    assert call("GET", "info")["groups"] == len(sim.world.snapshot().groups)


def test_control_clock_and_expiry_over_http(make_sim: SimFactory) -> None:
    """Advancing the simulated clock and running the expiry workers works over HTTP."""
    sim = make_sim()
    s = requests.Session()
    before = sum(len(r) for r in sim.world.snapshot().members.values())
    now = s.post(
        f"{sim.url}/-/sim/clock", json={"advance_seconds": 400 * 86400}, timeout=10
    ).json()["now"]
    assert dt.datetime.fromisoformat(now) > NOW
    removed = s.post(f"{sim.url}/-/sim/expire", timeout=10).json()["removed"]
    after = sum(len(r) for r in sim.world.snapshot().members.values())
    assert removed > 0
    assert after < before


@pytest.mark.parametrize(
    ("version", "has_groups_route", "has_metadata", "has_descendants"),
    [
        ("12.10", False, False, False),
        ("13.12", True, False, True),
        ("16.11", True, True, True),
        ("17.5", True, True, True),
    ],
)
def test_version_profiles_decide_routes(
    make_sim: SimFactory,
    version: str,
    has_groups_route: bool,
    has_metadata: bool,
    has_descendants: bool,
) -> None:
    """/version reports the profile; routes exist only where the version has them."""
    sim = make_sim(version=version)
    s = requests.Session()
    s.headers["PRIVATE-TOKEN"] = sim.tokens["admin"]
    api = f"{sim.url}/api/v4"
    assert s.get(f"{api}/version", timeout=10).json()["version"].startswith(version + ".")
    project_id, group_id = min(sim.world.snapshot().projects), min(sim.world.snapshot().groups)
    assert (
        s.get(f"{api}/projects/{project_id}/groups", timeout=10).status_code == 200
    ) is has_groups_route
    assert (s.get(f"{api}/metadata", timeout=10).status_code == 200) is has_metadata
    assert (
        s.get(f"{api}/groups/{group_id}/descendant_groups", timeout=10).status_code == 200
    ) is has_descendants


@pytest.mark.parametrize(("version", "filtered"), [("13.12", False), ("16.11", True)])
def test_project_share_links_are_filtered_per_caller_in_newer_versions(
    make_sim: SimFactory, version: str, filtered: bool
) -> None:
    """Newer GitLab lists a project's shares only for groups the caller can read."""
    sim = make_sim(version=version)
    world = sim.world
    project = world.add_project(
        "shared-proj",
        namespace_id=world.add_group("sp-home", visibility="public").id,
        visibility="public",
    )
    secret = world.add_group("sp-secret", visibility="private")
    visible = world.add_group("sp-visible", visibility="public")
    world.share("project", project.id, secret.id, 30)
    world.share("project", project.id, visible.id, 20)
    seen = [
        link["group_id"] for link in client(sim, "user").projects.get(project.id).shared_with_groups
    ]
    assert seen == ([visible.id] if filtered else [secret.id, visible.id])
    admin_seen = [
        link["group_id"] for link in client(sim).projects.get(project.id).shared_with_groups
    ]
    assert admin_seen == [secret.id, visible.id]


@pytest.mark.parametrize(("version", "shown"), [("16.11", False), ("17.5", True)])
def test_members_all_shows_invited_private_groups_members_from_17(
    make_sim: SimFactory, version: str, shown: bool
) -> None:
    """/members/all: an invited private group's members reach a project member only from 17.x."""
    sim = make_sim(version=version)
    world = sim.world
    caller = world.snapshot().tokens[sim.tokens["user"]]
    home = world.add_group("inv-home", visibility="public")
    project = world.add_project("inv-proj", namespace_id=home.id, visibility="public")
    world.add_member("project", project.id, caller, 30)
    hidden = world.add_group("inv-private", visibility="private")
    outsider = world.add_user("inv-outsider")
    world.add_member("group", hidden.id, outsider.id, 40)
    world.share("project", project.id, hidden.id, 20)

    rows = client(sim, "user").projects.get(project.id, lazy=True).members_all.list(get_all=True)
    by_user = {m.id: m.access_level for m in rows}
    assert caller in by_user
    assert (outsider.id in by_user) is shown
    if shown:
        assert by_user[outsider.id] == 20  # capped at the link's level
    admin_rows = client(sim).projects.get(project.id, lazy=True).members_all.list(get_all=True)
    assert outsider.id in {m.id for m in admin_rows}  # admins read every group
