"""``payloads.shape: instance`` end to end on every simulated GitLab version.

Every kind of change the bridge turns into an event is made on the simulator of each profile
(CE and EE), synced with ``shape: instance``, and every queued body is checked against the
shape table of that version (``bridge.hooks.payloads.shapes``): the pass never fails on a
payload, every event is reshaped, and the keys are the era's, in its order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config.settings import Settings
from bridge.hooks.payloads import shapes
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.sim.profiles import PROFILES
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory

VERSIONS = [*PROFILES, "16.11-ee", "12.10-ee"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: NOW) as opened:
        yield opened


def _settings(sim: Simulator, top: int, shape: str) -> Settings:
    return Settings.model_validate(
        {
            "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
            "hooks": {
                "system": [{"name": "sys", "url": "http://receiver.test/sys"}],
                "group": [
                    {"name": "top", "url": "http://receiver.test/top", "group": str(top),
                     "member_events": True, "subgroup_events": True, "project_events": True},
                ],
            },
            "poll": {"access_requests": True},
            "payloads": {"shape": shape, "share_events": True},
        }
    )  # fmt: skip


def _run(sim: Simulator, store: Store, top: int, shape: str = "instance") -> None:
    source = GitLabSource(sim.url, sim.tokens["admin"])
    sync(source, store, _settings(sim, top, shape), now=lambda: NOW, workers=2)


def _changes(sim: Simulator, top: int) -> None:
    """One of every change the bridge turns into events."""
    w = sim.world
    user = w.add_user("shaper", name="Shaper", public_email="shaper@example.com")
    asker = w.add_user("asker")
    sub = w.add_group("sub", parent_id=top, visibility="public")
    project = w.add_project("proj", namespace_id=sub.id, visibility="public")
    w.add_member("group", sub.id, user.id, 30)
    w.add_member("project", project.id, user.id, 30)
    w.request_access("group", top, asker.id)
    other = w.add_group("other")
    w.share("project", project.id, other.id, 30)


def _later(sim: Simulator, top: int) -> None:
    """Renames, updates, removals and destroys of what ``_changes`` made."""
    w = sim.world
    snap = w.snapshot()
    user = next(u for u in snap.users.values() if u.username == "shaper")
    asker = next(u for u in snap.users.values() if u.username == "asker")
    sub = next(g for g in snap.groups.values() if g.path == "sub")
    project = next(p for p in snap.projects.values() if p.path == "proj")
    w.update_user(user.id, username="shaper2")
    w.update_member("group", sub.id, user.id, access_level=40)
    w.update_project(project.id, path="proj2", description="moved")
    w.approve_access_request("group", top, asker.id)
    w.remove_member("project", project.id, user.id)
    w.update_group(sub.id, path="sub2")
    other = next(g for g in snap.groups.values() if g.path == "other")
    w.remove_group(other.id)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_event_takes_its_versions_shape(
    make_sim: SimFactory, store: Store, version: str
) -> None:
    """Every queued body has exactly the keys of its era (``reshape`` of itself is itself)."""
    edition = version.partition("-")[2]
    sim = make_sim("small", version=version)
    top = sim.world.add_group("acme", visibility="public").id
    _run(sim, store, top)
    _changes(sim, top)
    _run(sim, store, top)
    _later(sim, top)
    _run(sim, store, top)
    sim.world.remove_user(next(u.id for u in sim.world.snapshot().users.values()
                               if u.username == "shaper2"))  # fmt: skip
    _run(sim, store, top)
    rows = store.outbox()
    names = {r.event_name for r in rows}
    assert {"user_create", "group_create", "subgroup_create", "project_create",
            "user_add_to_group", "user_add_to_team", "user_access_request_to_group",
            "group_add_to_team", "user_rename", "user_update_for_group", "project_rename",
            "project_update", "user_remove_from_team", "group_rename", "group_destroy",
            "user_destroy", "user_remove_from_group"} <= names  # fmt: skip
    full = tuple(int(p) for p in sim.profile.version.split("."))
    for row in rows:
        body = json.loads(row.payload)
        again = shapes.reshape(body, hook=row.hook, event_name=row.event_name, version=full,
                               enterprise=edition == "ee")  # fmt: skip
        assert list(again) == list(body), (version, row.hook, row.event_name)
        assert body["event_name"] == row.event_name


def test_latest_and_instance_agree_on_the_newest_version(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """On 17.7 ``instance`` is ``latest``: byte-identical bodies."""
    sim = make_sim("small", version="17.7")
    top = sim.world.add_group("acme", visibility="public").id
    stores = {shape: Store.open(f"sqlite:///{tmp_path / shape}.db", now=lambda: NOW)
              for shape in ("latest", "instance")}  # fmt: skip
    try:
        for shape, store in stores.items():
            _run(sim, store, top, shape)
        _changes(sim, top)
        bodies = {}
        for shape, store in stores.items():
            _run(sim, store, top, shape)
            # Member lists commit in the order their concurrent reads end: compare as sets.
            bodies[shape] = sorted((r.event_name, r.hook, r.payload) for r in store.outbox())
    finally:
        for store in stores.values():
            store.close()
    assert bodies["latest"] == bodies["instance"]
    assert bodies["latest"]
