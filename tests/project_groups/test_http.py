"""The bridge's GET /api/v4/projects/:id/groups over real HTTP, authorized by a simulated GitLab."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from bridge.project_groups.auth import GitLabAuthorizer
from bridge.project_groups.http import BridgeServer
from bridge.project_groups.view import ViewCache, load
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory, baseline

NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class World:
    """The worked example's finder scenario inside a simulator, and the bridge serving it."""

    sim: Simulator
    bridge: BridgeServer
    authorizer: GitLabAuthorizer
    project: int  # root-group/project-group/app (private)
    root: int
    project_group: int
    dev_share: int
    reporter_share: int
    user_token: str  # a member of the project, of neither share
    outsider_token: str  # not a member of anything private


@pytest.fixture
def world(make_sim: SimFactory, tmp_path: Path) -> Iterator[World]:
    """GitLab 16.11 (which has the endpoint natively) and the bridge over its snapshot."""
    sim = make_sim("small", version="16.11")
    w = sim.world
    root = w.add_group("root-group", name="Root Group", visibility="public")
    project_group = w.add_group(
        "project-group", name="Project Group", parent_id=root.id, visibility="public"
    )
    dev = w.add_group("dev-share", name="Dev Share", parent_id=root.id, visibility="private")
    reporter = w.add_group("reporter-share", name="Reporter Share", visibility="public")
    project = w.add_project("app", name="App", namespace_id=project_group.id)
    w.share("project", project.id, dev.id, 30)
    w.share("project", project.id, reporter.id, 20)
    user = w.add_user("finder-user", name="Finder User")
    w.add_member("project", project.id, user.id, 30)
    outsider = w.add_user("outsider", name="Outsider")
    store = Store.open(f"sqlite:///{tmp_path / 'bridge.db'}")
    baseline(GitLabSource(sim.url, sim.tokens["admin"]), store, now=lambda: NOW)
    authorizer = GitLabAuthorizer(sim.url, ttl=60)
    views = ViewCache(lambda: load(store), refresh=3600, clock=time.monotonic)
    bridge = BridgeServer(views, authorizer, external_url="http://bridge.test", now=lambda: NOW)
    bridge.start()
    try:
        yield World(
            sim,
            bridge,
            authorizer,
            project.id,
            root.id,
            project_group.id,
            dev.id,
            reporter.id,
            w.add_token(user.id),
            w.add_token(outsider.id),
        )
    finally:
        bridge.stop()
        authorizer.close()
        store.close()


def get(base: str, path: str, token: str | None = None, **params: object) -> requests.Response:
    """GET with a PRIVATE-TOKEN (if any)."""
    headers = {"PRIVATE-TOKEN": token} if token else {}
    return requests.get(f"{base}/api/v4{path}", params=params, headers=headers, timeout=10)


def ids(response: requests.Response) -> list[int]:
    """Group ids of a successful answer."""
    assert response.status_code == 200, response.text
    return [g["id"] for g in response.json()]


def test_the_finder_scenario_answers_like_gitlab(world: World) -> None:
    """Every row of docs/project-groups.md#worked-example, for a member of the project."""
    base, path, token = world.bridge.url, f"/projects/{world.project}/groups", world.user_token
    r, p, d, s = world.root, world.project_group, world.dev_share, world.reporter_share
    assert ids(get(base, path, token)) == [p, r]
    assert ids(get(base, path, token, with_shared="true")) == [s, d, p, r]
    assert ids(get(base, path, token, with_shared="true", shared_min_access_level=30)) == [d, p, r]
    visible = get(base, path, token, with_shared="true", shared_visible_only="true")
    assert ids(visible) == [s, p, r]
    assert ids(get(base, path, token, **{"skip_groups[]": p})) == [r]
    assert ids(get(base, path, token, with_shared="true", search="share")) == [s, d]
    assert ids(get(base, path, token, with_shared="true", search="ro")) == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"with_shared": "true"},
        {"with_shared": "true", "shared_min_access_level": "20"},
        {"with_shared": "true", "shared_visible_only": "true"},
        {"with_shared": "true", "per_page": "2"},
        {"with_shared": "true", "per_page": "2", "page": "2"},
        {"with_shared": "true", "skip_groups": "1,2"},
        {"search": "group"},
    ],
)
def test_body_and_pagination_headers_equal_gitlabs(world: World, params: dict[str, str]) -> None:
    """Same JSON, same X-* headers, same Link (but for the host) as GitLab 16.11 itself."""
    path = f"/projects/{world.project}/groups"
    ours = get(world.bridge.url, path, world.user_token, **params)
    theirs = get(world.sim.url, path, world.user_token, **params)
    assert ours.status_code == theirs.status_code == 200
    assert ours.content == theirs.content
    for name in ("X-Page", "X-Per-Page", "X-Next-Page", "X-Prev-Page", "X-Total", "X-Total-Pages"):
        assert ours.headers.get(name) == theirs.headers.get(name), name
    assert ours.headers["Link"] == theirs.headers["Link"].replace(
        world.sim.url, "http://bridge.test"
    )
    assert ours.headers["X-Gitlab-Bridge-Snapshot-Age"] == "0"


def test_a_url_encoded_path_works_like_the_id(world: World) -> None:
    """``:id`` may be the project's full path, URL-encoded, in any letter case."""
    path = quote("Root-Group/project-group/app", safe="")
    assert ids(get(world.bridge.url, f"/projects/{path}/groups", world.user_token)) == [
        world.project_group,
        world.root,
    ]


@pytest.mark.parametrize(
    ("who", "path", "params", "status", "body"),
    [
        ("outsider", "/projects/{project}/groups", {}, 404, {"message": "404 Project Not Found"}),
        (None, "/projects/{project}/groups", {}, 404, {"message": "404 Project Not Found"}),
        ("user", "/projects/999999/groups", {}, 404, {"message": "404 Project Not Found"}),
        ("bad", "/projects/{project}/groups", {}, 401, {"message": "401 Unauthorized"}),
        (
            "user",
            "/projects/{project}/groups",
            {"shared_min_access_level": "25"},
            400,
            {"error": "shared_min_access_level does not have a valid value"},
        ),
        (
            "user",
            "/projects/{project}/groups",
            {"with_shared": "maybe"},
            400,
            {"error": "with_shared is invalid"},
        ),
    ],
    ids=["unreadable", "anonymous-private", "unknown", "bad-token", "bad-level", "bad-bool"],
)
def test_errors_have_gitlabs_status_and_shape(
    world: World,
    who: str | None,
    path: str,
    params: dict[str, str],
    status: int,
    body: dict[str, str],
) -> None:
    """Nobody sees a project GitLab would hide; errors match GitLab's status and body."""
    token = {
        "user": world.user_token,
        "outsider": world.outsider_token,
        "bad": "glpat-not-a-token",
        None: None,
    }[who]
    url_path = path.format(project=world.project)
    ours = get(world.bridge.url, url_path, token, **params)
    theirs = get(world.sim.url, url_path, token, **params)
    assert (ours.status_code, ours.json()) == (status, body)
    assert (theirs.status_code, theirs.json()) == (status, body)


def test_public_project_is_open_to_anonymous_callers(world: World) -> None:
    """Without a token, a public project's groups are served, as GitLab does."""
    world.sim.world.update_project(world.project, visibility="public")
    path = f"/projects/{world.project}/groups"
    assert ids(get(world.bridge.url, path)) == ids(get(world.sim.url, path))


def test_authorization_is_cached_per_token(world: World) -> None:
    """Repeated requests with one token ask GitLab once per (token, project)."""
    path = f"/projects/{world.project}/groups"
    ids(get(world.bridge.url, path, world.user_token))
    asked = world.authorizer.requests_made
    for _ in range(5):
        ids(get(world.bridge.url, path, world.user_token, with_shared="true"))
    assert world.authorizer.requests_made == asked


def test_gitlab_down_is_502_not_a_leak(world: World) -> None:
    """If GitLab cannot answer the check, the bridge answers 502 rather than guess."""
    world.sim.stop()
    response = get(world.bridge.url, f"/projects/{world.project}/groups", world.user_token)
    assert response.status_code == 502


def test_unknown_route_is_gitlabs_404(world: World) -> None:
    """Anything else is 404 {"error": "404 Not Found"}, like a route GitLab lacks."""
    response = get(world.bridge.url, "/projects/1/members", world.user_token)
    assert (response.status_code, response.json()) == (404, {"error": "404 Not Found"})
