"""Conformance: the bridge's project groups, computed from a snapshot of a 12.10 GitLab (which
lacks the endpoint), equal what a 16.11 GitLab answers natively over HTTP, for every project,
a grid of parameters and callers of every kind.

Both simulators hold the same world: the ``small`` dataset (seed 0) plus the worked example's
worked example and extra shares, renames and members so that every rule has something to bite
on. The 16.11 instance is configured with the 12.10 one's URL as its external URL (the same
GitLab after an upgrade), so ``web_url`` compares byte for byte.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from bridge.errors import InvalidParameter
from bridge.model.records import Group, Member, Project
from bridge.project_groups.finder import (
    LEVELS_16,
    LEVELS_17_7,
    Caller,
    parse_query,
    project_groups,
    public_group_details,
)
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.testing.sim.profiles import get_profile
from bridge.testing.sim.simulator import Simulator
from bridge.testing.sim.snapshot import Snapshot
from bridge.testing.sim.world import World
from tests.conftest import NOW, baseline

CLOCK = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
Params = list[tuple[str, str]]


# -- the shared world ----------------------------------------------------------------------


def enrich(world: World) -> dict[str, int]:
    """Add the worked example, more shares, renames and members; the same ids in every world."""
    root = world.add_group("root-group", name="Root Group", visibility="public", created_at=NOW)
    pgroup = world.add_group(
        "project-group",
        name="Project Group",
        parent_id=root.id,
        visibility="public",
        created_at=NOW,
    )
    dev = world.add_group(
        "dev-share", name="Dev Share", parent_id=root.id, visibility="private", created_at=NOW
    )
    rep = world.add_group(
        "reporter-share", name="Reporter Share", visibility="public", created_at=NOW
    )
    finder = world.add_project(
        "finder-project", namespace_id=pgroup.id, visibility="public", created_at=NOW
    )
    reader = world.add_user("finder-reader", created_at=NOW)
    guest = world.add_user("dev-guest", created_at=NOW)
    world.add_member("group", dev.id, guest.id, 10, created_at=NOW)
    personal = world.add_project(
        "personal-finder", namespace_id=reader.namespace_id, visibility="public", created_at=NOW
    )
    for pid in (finder.id, personal.id):
        world.share("project", pid, dev.id, 30, created_at=NOW)
        world.share("project", pid, rep.id, 20, created_at=NOW)
    extra = {
        10: [
            (57, 20),
            (30, 40),
            (40, 30),
            (50, 50),
        ],  # four levels deep; 40 is a child of ancestor 9
        1: [(43, 20), (7, 30)],  # personal, private
        30: [(19, 10), (40, 20), (7, 40)],
        2: [(57, 50), (35, 30), (30, 20)],  # personal, public
    }
    for pid, links in extra.items():
        for gid, level in links:
            world.share("project", pid, gid, level, created_at=NOW)
    world.update_group(43, name="Server Side")  # path stays "backend"
    world.update_group(35, name="Cyber_dyne")  # path stays "cyberdyne"
    return {
        "root": root.id,
        "project_group": pgroup.id,
        "dev_share": dev.id,
        "reporter_share": rep.id,
        "finder": finder.id,
        "personal": personal.id,
        "reader": reader.id,
        "guest": guest.id,
    }


def records(snap: Snapshot) -> tuple[object, ...]:
    """Everything GitLab stores that the endpoint depends on."""
    return snap.users, snap.groups, snap.projects, snap.members, snap.shares


@dataclass(frozen=True, slots=True)
class Who:
    """A caller: a token for the simulator and the bridge's view of the same person."""

    label: str
    token: str | None
    caller: Caller


@dataclass(frozen=True, slots=True)
class Env:
    """The 16.11 simulator, the bridge's snapshot taken from 12.10, and the callers."""

    sim: Simulator
    ids: dict[str, int]
    projects: dict[int, Project]
    groups: dict[int, Group]
    members: dict[tuple[int, int], Member]
    callers: dict[str, Who]
    session: requests.Session


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Crawl a 12.10 simulator into SQLite; serve the same world as 16.11."""
    old = Simulator.from_dataset("small", version="12.10", now=NOW)
    ids = enrich(old.world)
    old.start()
    new = Simulator.from_dataset("small", version="16.11", now=NOW, external_url=old.url)
    try:
        assert enrich(new.world) == ids
        assert records(new.world.snapshot()) == records(old.world.snapshot())
        new.start()
        url = f"sqlite:///{tmp_path_factory.mktemp('snapshot') / 'bridge.db'}"
        with Store.open(url, now=lambda: CLOCK) as store:
            baseline(
                GitLabSource(old.url, old.tokens["admin"], per_page=100), store, now=lambda: CLOCK
            )
            users = store.users()
            projects, groups = store.projects(), store.groups()
            members = store.all_members("group")

        def who(label: str, user_id: int, token: str | None = None) -> Who:
            user = users[user_id]
            caller = Caller(
                user_id=user_id, is_admin=bool(user.is_admin), external=bool(user.external)
            )
            return Who(label, token or new.world.add_token(user_id), caller)

        snap = new.world.snapshot()
        token_user = {role: snap.tokens[tok] for role, tok in new.tokens.items()}
        callers = [
            who("admin", token_user["admin"], new.tokens["admin"]),
            who("user", token_user["user"], new.tokens["user"]),  # member of many groups
            who("reader", ids["reader"]),  # no membership anywhere
            who("member", 47),  # direct Developer of private group 30, shared into 3 projects
            who("guest", ids["guest"]),  # direct Guest of the private dev-share
            who("external", token_user["external"], new.tokens["external"]),
            Who("anonymous", None, Caller()),
        ]
        with requests.Session() as session:
            yield Env(new, ids, projects, groups, members, {w.label: w for w in callers}, session)
    finally:
        new.stop()
        old.stop()


# -- asking both -----------------------------------------------------------------------------


def rack_params(pairs: Params) -> dict[str, str | list[str]]:
    """Rack's query parsing: ``key[]`` collects a list, otherwise the last value wins."""
    params: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key.endswith("[]"):
            existing = params.get(key[:-2])
            params[key[:-2]] = [*(existing if isinstance(existing, list) else []), value]
        else:
            params[key] = value
    return params


def ask_gitlab(env: Env, who: Who, project_id: int, params: Params) -> tuple[int, Any]:
    """The 16.11 simulator's native answer, over HTTP with the caller's token."""
    headers = {"PRIVATE-TOKEN": who.token} if who.token else {}
    response = env.session.get(
        f"{env.sim.url}/api/v4/projects/{project_id}/groups",
        params=[*params, ("per_page", "100")],
        headers=headers,
        timeout=30,
    )
    return response.status_code, response.json()


def ask_bridge(env: Env, who: Who, project_id: int, params: Params) -> tuple[int, Any]:
    """The bridge's answer from the 12.10 snapshot (the caller may read the project)."""
    try:
        query = parse_query(rack_params(params), levels=LEVELS_16)
    except InvalidParameter as exc:
        return 400, {"error": str(exc)}
    found = project_groups(env.projects[project_id], env.groups, env.members, query, who.caller)
    return 200, [public_group_details(g) for g in found]


def grid(env: Env, project: Project) -> Iterator[Params]:
    """Parameter combinations: the share filters crossed with skip_groups, then searches.

    Every value of each parameter is crossed with every other except ``search``, which is
    crossed with with_shared, shared_visible_only and skip_groups.
    """
    ancestor = [("skip_groups[]", str(project.namespace.id))]  # array syntax
    shared = [("skip_groups", str(s.group_id)) for s in project.shares[:1]]  # csv syntax
    own = [shared] if shared else []
    skips = [[], *([ancestor] if project.namespace.kind == "group" else []), *own]
    modes: list[Params] = [[]]
    for level, visible in itertools.product((None, 10, 20, 30, 40, 50), ("false", "true")):
        mode = [("with_shared", "true"), ("shared_visible_only", visible)]
        modes.append(mode + ([("shared_min_access_level", str(level))] if level else []))
    for mode, skip in itertools.product(modes, skips):
        yield mode + skip
    searches = ("end", "backend", "qa", "Hooli", "share", "r_d", '"server side"')
    short = [[], [("with_shared", "true")], [("with_shared", "1"), ("shared_visible_only", "yes")]]
    for search, mode, skip in itertools.product(searches, short, [[], *own]):
        yield [*mode, *skip, ("search", search)]


def callers_projects(env: Env, label: str) -> list[int]:
    """Every project for admin and anonymous; shared projects and two others for the rest."""
    ids = sorted(env.projects)
    if label in ("admin", "anonymous"):
        return ids
    unshared = [pid for pid in ids if not env.projects[pid].shares]
    return sorted({pid for pid in ids if env.projects[pid].shares} | {unshared[0], unshared[-1]})


# -- the tests -------------------------------------------------------------------------------


def test_the_world_exercises_every_rule(env: Env) -> None:
    """The snapshot has shared, nested, personal, private-shared and renamed cases to compare."""
    projects = env.projects.values()
    depth = {gid: len(_chain(env.groups, gid)) for gid in env.groups}
    assert sum(1 for p in projects if p.shares) >= 7
    assert any(p.namespace.kind == "user" and p.shares for p in projects)
    assert any(p.namespace.kind == "user" and not p.shares for p in projects)
    assert any(depth.get(p.namespace.id, 0) >= 4 and p.shares for p in projects)
    shared = {s.group_id for p in projects for s in p.shares}
    assert {env.groups[g].visibility for g in shared} == {"private", "internal", "public"}
    assert any(env.groups[g].parent_id for g in shared)
    assert len({s.access_level for p in projects for s in p.shares}) == 5
    assert env.members[(30, 47)].access_level == 30  # "member" is a direct member of group 30
    assert env.members[(env.ids["dev_share"], env.ids["guest"])].access_level == 10
    assert env.callers["external"].caller.external
    assert env.callers["admin"].caller.is_admin
    assert env.groups[43].name == "Server Side"
    assert env.groups[43].path == "backend"


def _chain(groups: Mapping[int, Group], gid: int | None) -> list[int]:
    """A group and its ancestors in the snapshot."""
    out: list[int] = []
    while gid is not None and gid in groups and gid not in out:
        out.append(gid)
        gid = groups[gid].parent_id
    return out


@pytest.mark.parametrize(
    "label", ["admin", "user", "reader", "member", "guest", "external", "anonymous"]
)
def test_bridge_answers_as_gitlab_16_11(env: Env, label: str) -> None:
    """For each project and parameter combination, the bridge's JSON equals GitLab's, in order."""
    who = env.callers[label]
    compared = unreadable = nonempty_shared = 0
    mismatches: list[str] = []
    for pid in callers_projects(env, label):
        for params in grid(env, env.projects[pid]):
            status, body = ask_gitlab(env, who, pid, params)
            if status == 404 and body == {"message": "404 Project Not Found"}:
                assert label != "admin"
                unreadable += 1
                break  # the caller cannot read this project: nothing to emulate
            expected = ask_bridge(env, who, pid, params)
            compared += 1
            shared_ids = {s.group_id for s in env.projects[pid].shares}
            nonempty_shared += any(g["id"] in shared_ids for g in body) if status == 200 else 0
            if (status, body) != expected:
                mismatches.append(
                    f"project {pid} {params}: gitlab {status} {body}, bridge {expected}"
                )
    assert mismatches == []
    assert compared >= 300
    assert nonempty_shared >= 50  # shared groups did show up, so filters were really compared
    if label == "anonymous":
        public = sum(1 for p in env.projects.values() if p.visibility == "public")
        assert unreadable == len(env.projects) - public


def test_worked_example_through_http(env: Env) -> None:
    """The worked example over HTTP matches the table, for the reader and the dev-share Guest."""
    ids = env.ids
    root, pgroup, dev, rep = (
        ids["root"],
        ids["project_group"],
        ids["dev_share"],
        ids["reporter_share"],
    )
    cases: list[tuple[str, Params, list[int]]] = [
        ("reader", [], [pgroup, root]),
        ("reader", [("with_shared", "true")], [rep, dev, pgroup, root]),
        (
            "reader",
            [("with_shared", "true"), ("shared_min_access_level", "30")],
            [dev, pgroup, root],
        ),
        ("reader", [("with_shared", "true"), ("shared_visible_only", "true")], [rep, pgroup, root]),
        (
            "guest",
            [("with_shared", "true"), ("shared_visible_only", "true")],
            [rep, dev, pgroup, root],
        ),
        ("reader", [("skip_groups[]", str(pgroup))], [root]),
        ("reader", [("with_shared", "true"), ("search", "share")], [rep, dev]),
        ("reader", [("with_shared", "true"), ("search", "ro")], []),
    ]
    for label, params, want in cases:
        who = env.callers[label]
        status, body = ask_gitlab(env, who, ids["finder"], params)
        assert (status, [g["id"] for g in body]) == (200, want), params
        assert ask_bridge(env, who, ids["finder"], params) == (status, body)
    personal = [("with_shared", "true")]
    status, body = ask_gitlab(env, env.callers["reader"], ids["personal"], personal)
    assert [g["id"] for g in body] == [rep, dev]
    assert ask_bridge(env, env.callers["reader"], ids["personal"], personal) == (status, body)


def test_levels_16_11_refuse_planner_with_gitlabs_text(env: Env) -> None:
    """16.11 answers 15 with the same 400 as parse_query(levels=LEVELS_16); 17.7 accepts it."""
    assert get_profile("16.11").shared_min_access_levels() == LEVELS_16
    assert get_profile("17.7").shared_min_access_levels() == LEVELS_17_7
    params = [("with_shared", "true"), ("shared_min_access_level", "15")]
    status, body = ask_gitlab(env, env.callers["admin"], env.ids["finder"], params)
    with pytest.raises(InvalidParameter) as refused:
        parse_query(rack_params(params), levels=LEVELS_16)
    assert (status, body) == (400, {"error": str(refused.value)})
    assert str(refused.value) == "shared_min_access_level does not have a valid value"
    with Simulator.from_dataset("small", version="17.7", now=NOW) as sim177:
        pid = min(sim177.world.snapshot().projects)
        answer = env.session.get(
            f"{sim177.url}/api/v4/projects/{pid}/groups",
            params=params,
            headers={"PRIVATE-TOKEN": sim177.tokens["admin"]},
            timeout=30,
        )
    assert answer.status_code == 200
    assert parse_query(rack_params(params), levels=LEVELS_17_7).shared_min_access_level == 15


def _qs(text: str) -> Params:
    """A raw query string as (key, value) pairs, blanks kept."""
    return parse_qsl(text, keep_blank_values=True)


# Raw query strings at the corners of Grape's rules, which the simulator (bridge.testing.sim.grape)
# and parse_query both follow: '' is nil for non-String types; skip_groups is
# CommaSeparatedToIntegerArray (to_i never fails); a failed coercion still runs the values
# validator; Params::Bool takes listed spellings only (not tRuE); every invalid parameter is
# reported, joined by ', '; a blank search is skipped (params[:search].present?);
# Params::Integer is Ruby's Integer(s, 10) (ASCII digits, surrounding spaces allowed).
PARAMETER_CASES = [
    pytest.param("with_shared=maybe", id="bad-boolean"),
    pytest.param("with_shared=true&shared_visible_only=2", id="bad-visible-only"),
    pytest.param("with_shared=true&shared_min_access_level=15", id="planner-on-16"),
    pytest.param("with_shared=true&shared_min_access_level=7", id="unknown-level"),
    pytest.param("with_shared=TRUE&shared_visible_only=No", id="boolean-spellings"),
    pytest.param("with_shared=1&skip_groups[]={dev}&skip_groups[]={root}", id="skip-array"),
    pytest.param("with_shared=on&skip_groups={rep},%20{project_group}", id="skip-csv"),
    pytest.param("search[]=share", id="search-array"),
    pytest.param("with_shared=true&shared_min_access_level=", id="empty-level"),
    pytest.param("search=", id="empty-search"),
    pytest.param("with_shared=", id="empty-boolean"),
    pytest.param("skip_groups=abc", id="skip-not-a-number"),
    pytest.param("skip_groups[]={root},{project_group}", id="skip-array-csv"),
    pytest.param("shared_min_access_level=abc", id="level-not-a-number"),
    pytest.param("with_shared=tRuE", id="boolean-mixed-case"),
    pytest.param("with_shared=maybe&shared_min_access_level=7", id="two-errors"),
    pytest.param("with_shared=true&search=%20%20", id="blank-search"),
    pytest.param("with_shared=true&shared_min_access_level=%2030", id="level-spaces"),
    pytest.param(
        "with_shared=true&shared_min_access_level=%EF%BC%93%EF%BC%90",  # fullwidth "30"
        id="level-fullwidth-digits",
    ),
]


@pytest.mark.parametrize("query", PARAMETER_CASES)
def test_parameter_handling_agrees(env: Env, query: str) -> None:
    """Raw query strings get the same status and body from the simulator and the bridge."""
    who, pid = env.callers["admin"], env.ids["finder"]
    params = _qs(query.format(dev=env.ids["dev_share"], rep=env.ids["reporter_share"], **env.ids))
    assert ask_gitlab(env, who, pid, params) == ask_bridge(env, who, pid, params)
