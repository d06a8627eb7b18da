"""Every hook event kind, end to end: mutate the simulator, sync, check the queued outbox rows.

Each test builds its own group tree on top of the small dataset, takes a silent baseline, makes
one change in the simulator and checks exactly the rows the next sync queues: event name,
receiver and hook, and the key fields of the decoded payloads (docs/payloads.md, docs/events.md).

The group receivers sit on ``acme`` (TOP), ``acme/team`` (TEAM) and ``acme/side`` (SIDE), so a
group event reaches only the receivers whose group is the event's group or an ancestor of it.
Destroys are not checked for order across resources (their queue order is being reworked).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.config.settings import Settings
from bridge.hooks.payloads.context import hook_time
from bridge.model.ledger import OutboxRecord
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory

SYSTEM = "sys"
TOP = "top"
TEAM = "team"
SIDE = "side"
SYS_HOOK = "System Hook"
MEMBER_HOOK = "Member Hook"
SUBGROUP_HOOK = "Subgroup Hook"
PROJECT_HOOK = "Project Hook"

Row = tuple[str, str, str]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")  # docs/payloads.md#conventions, UTC


@dataclass(frozen=True, slots=True)
class Tree:
    """The records a test builds before its baseline."""

    acme: int  # top-level group
    team: int  # acme/team
    squad: int  # acme/team/squad
    cell: int  # acme/team/squad/cell: three levels below acme
    side: int  # acme/side: a sibling of team
    alice: int  # a Developer of acme/team and of acme/team/app
    bob: int  # a user without memberships
    app: int  # project acme/team/app
    receivers: dict[str, int]  # group receiver name -> group id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: NOW) as opened:
        yield opened


def build_tree(sim: Simulator) -> Tree:
    """acme/{team/squad/cell, side}, two users and one project, added to the simulator."""
    world = sim.world
    acme = world.add_group("acme", name="Acme")
    team = world.add_group("team", name="Team", parent_id=acme.id)
    squad = world.add_group("squad", name="Squad", parent_id=team.id)
    cell = world.add_group("cell", name="Cell", parent_id=squad.id)
    side = world.add_group("side", name="Side", parent_id=acme.id)
    alice = world.add_user("alice-e2e", name="Alice E2E")
    bob = world.add_user("bob-e2e", name="Bob E2E")
    app = world.add_project("app", name="App", namespace_id=team.id)
    world.add_member("group", team.id, alice.id, 30)
    world.add_member("project", app.id, alice.id, 30)
    receivers = {TOP: acme.id, TEAM: team.id, SIDE: side.id}
    return Tree(acme.id, team.id, squad.id, cell.id, side.id, alice.id, bob.id, app.id, receivers)


@pytest.fixture
def tree(sim: Simulator) -> Tree:
    """The test tree, not yet baselined."""
    return build_tree(sim)


def settings(sim: Simulator, receivers: dict[str, int], **payloads: Any) -> Settings:
    """One system receiver and a group receiver per ``receivers`` entry, every toggle on."""
    group = [
        {
            "name": name,
            "url": f"http://receiver.test/{name}",
            "group": str(group_id),
            "member_events": True,
            "subgroup_events": True,
            "project_events": True,
        }
        for name, group_id in receivers.items()
    ]
    return Settings.model_validate(
        {
            "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
            "hooks": {
                "system": [{"name": SYSTEM, "url": "http://receiver.test/sys"}],
                "group": group,
            },
            "payloads": payloads,
        }
    )


def run(
    sim: Simulator, store: Store, tree: Tree, *, at: dt.datetime = NOW, **payloads: Any
) -> list[OutboxRecord]:
    """One sync pass at ``at`` with a fresh source; the outbox rows it queued, in queue order."""
    before = len(store.outbox())
    source = GitLabSource(sim.url, sim.tokens["admin"])
    sync(source, store, settings(sim, tree.receivers, **payloads), now=lambda: at, workers=4)
    return store.outbox()[before:]


def rows_of(records: list[OutboxRecord]) -> list[Row]:
    """(event name, receiver, hook) of each row, sorted: receivers' order is not the point."""
    return sorted((r.event_name, r.receiver, r.hook) for r in records)


def expect(*rows: Row) -> list[Row]:
    """The expected rows, sorted like ``rows_of``."""
    return sorted(rows)


def body(records: list[OutboxRecord], event: str, receiver: str = SYSTEM) -> dict[str, Any]:
    """The decoded payload of the one row with ``event`` for ``receiver``."""
    (row,) = [r for r in records if (r.event_name, r.receiver) == (event, receiver)]
    loaded: dict[str, Any] = json.loads(row.payload)
    assert loaded["event_name"] == event
    for key in ("created_at", "updated_at"):
        assert TIMESTAMP.fullmatch(loaded[key]), (key, loaded[key])
    if loaded.get("expires_at") is not None:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", loaded["expires_at"])
    return loaded


def pick(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The named keys of a payload (missing ones fail the comparison)."""
    return {k: payload.get(k, "<missing>") for k in keys}


def member_rows(event: str, *receivers: str) -> list[Row]:
    """System Hook plus one Member Hook row per group receiver."""
    return expect((event, SYSTEM, SYS_HOOK), *((event, r, MEMBER_HOOK) for r in receivers))


# -- users -------------------------------------------------------------------------------------


def test_user_create(sim: Simulator, store: Store, tree: Tree) -> None:
    """A new user gives user_create to the system receiver only."""
    run(sim, store, tree)
    user = sim.world.add_user("carol-e2e", name="Carol", email="carol@corp.test")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_create", SYSTEM, SYS_HOOK))
    assert pick(body(queued, "user_create"), "user_id", "username", "name", "email") == {
        "user_id": user.id,
        "username": "carol-e2e",
        "name": "Carol",
        "email": "carol@corp.test",
    }


def test_user_destroy(sim: Simulator, store: Store, tree: Tree) -> None:
    """A deleted user without memberships gives user_destroy to the system receiver only."""
    run(sim, store, tree)
    sim.world.remove_user(tree.bob)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_destroy", SYSTEM, SYS_HOOK))
    assert pick(body(queued, "user_destroy"), "user_id", "username") == {
        "user_id": tree.bob,
        "username": "bob-e2e",
    }


def test_user_rename(sim: Simulator, store: Store, tree: Tree) -> None:
    """A changed username gives user_rename with old_username; a name change alone is silent."""
    run(sim, store, tree)
    sim.world.update_user(tree.bob, name="Robert")
    assert run(sim, store, tree) == []
    sim.world.update_user(tree.bob, username="robert-e2e")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_rename", SYSTEM, SYS_HOOK))
    assert pick(body(queued, "user_rename"), "user_id", "username", "old_username", "name") == {
        "user_id": tree.bob,
        "username": "robert-e2e",
        "old_username": "bob-e2e",
        "name": "Robert",
    }


# -- project members ---------------------------------------------------------------------------


def test_user_add_to_team(sim: Simulator, store: Store, tree: Tree) -> None:
    """A project member added gives user_add_to_team as System Hook only, never to groups."""
    run(sim, store, tree)
    sim.world.add_member("project", tree.app, tree.bob, 20)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_add_to_team", SYSTEM, SYS_HOOK))
    keys = ("project_id", "project_path", "project_path_with_namespace", "user_id")
    assert pick(body(queued, "user_add_to_team"), *keys, "user_username", "access_level") == {
        "project_id": tree.app,
        "project_path": "app",
        "project_path_with_namespace": "acme/team/app",
        "user_id": tree.bob,
        "user_username": "bob-e2e",
        "access_level": "Reporter",
    }


def test_user_update_for_team(sim: Simulator, store: Store, tree: Tree) -> None:
    """A project member's new access level gives user_update_for_team, System Hook only."""
    run(sim, store, tree)
    sim.world.update_member("project", tree.app, tree.alice, access_level=40)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_update_for_team", SYSTEM, SYS_HOOK))
    assert pick(body(queued, "user_update_for_team"), "project_id", "user_id", "access_level") == {
        "project_id": tree.app,
        "user_id": tree.alice,
        "access_level": "Maintainer",
    }


def test_user_remove_from_team(sim: Simulator, store: Store, tree: Tree) -> None:
    """A removed project member gives user_remove_from_team with the old level, System Hook only."""
    run(sim, store, tree)
    sim.world.remove_member("project", tree.app, tree.alice)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_remove_from_team", SYSTEM, SYS_HOOK))
    assert pick(body(queued, "user_remove_from_team"), "project_id", "user_id", "access_level") == {
        "project_id": tree.app,
        "user_id": tree.alice,
        "access_level": "Developer",
    }


# -- group members -----------------------------------------------------------------------------


def test_user_add_to_group(sim: Simulator, store: Store, tree: Tree) -> None:
    """A group member added reaches system, the group's and its ancestors' receivers, not SIDE."""
    run(sim, store, tree)
    sim.world.add_member("group", tree.team, tree.bob, 30, expires_at=dt.date(2030, 12, 14))
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_add_to_group", TOP, TEAM)
    system = body(queued, "user_add_to_group")
    assert (
        body(queued, "user_add_to_group", TOP) == system == body(queued, "user_add_to_group", TEAM)
    )
    keys = ("group_id", "group_name", "group_path", "user_id", "user_username", "group_access")
    assert pick(system, *keys, "expires_at") == {
        "group_id": tree.team,
        "group_name": "Team",
        "group_path": "team",
        "user_id": tree.bob,
        "user_username": "bob-e2e",
        "group_access": "Developer",
        "expires_at": "2030-12-14T00:00:00Z",
    }
    assert system["user_email"] == "[REDACTED]"  # no public email: the webhook email


def test_user_update_for_group(sim: Simulator, store: Store, tree: Tree) -> None:
    """A group member's new level and expiry give user_update_for_group to system and ancestors."""
    run(sim, store, tree)
    sim.world.update_member(
        "group", tree.team, tree.alice, access_level=40, expires_at=dt.date(2031, 1, 2)
    )
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_update_for_group", TOP, TEAM)
    payload = body(queued, "user_update_for_group", TEAM)
    assert pick(payload, "group_id", "user_id", "group_access", "expires_at") == {
        "group_id": tree.team,
        "user_id": tree.alice,
        "group_access": "Maintainer",
        "expires_at": "2031-01-02T00:00:00Z",
    }


def test_user_remove_from_group(sim: Simulator, store: Store, tree: Tree) -> None:
    """A removed group member gives user_remove_from_group with the old row, ancestors only."""
    run(sim, store, tree)
    sim.world.remove_member("group", tree.team, tree.alice)
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_remove_from_group", TOP, TEAM)
    payload = body(queued, "user_remove_from_group", TOP)
    assert pick(payload, "group_id", "group_path", "user_id", "group_access", "expires_at") == {
        "group_id": tree.team,
        "group_path": "team",
        "user_id": tree.alice,
        "group_access": "Developer",
        "expires_at": None,
    }


# -- groups ------------------------------------------------------------------------------------


def test_group_create_top_level(sim: Simulator, store: Store, tree: Tree) -> None:
    """A new top-level group gives group_create to system only: no parent, no Subgroup Hook."""
    run(sim, store, tree)
    group = sim.world.add_group("loner-e2e", name="Loner")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("group_create", SYSTEM, SYS_HOOK))
    assert pick(body(queued, "group_create"), "group_id", "name", "path", "full_path") == {
        "group_id": group.id,
        "name": "Loner",
        "path": "loner-e2e",
        "full_path": "loner-e2e",
    }


def test_subgroup_create(sim: Simulator, store: Store, tree: Tree) -> None:
    """A new subgroup: group_create to system, subgroup_create to the parent and its ancestors."""
    run(sim, store, tree)
    group = sim.world.add_group("pod", name="Pod", parent_id=tree.team)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(
        ("group_create", SYSTEM, SYS_HOOK),
        ("subgroup_create", TOP, SUBGROUP_HOOK),
        ("subgroup_create", TEAM, SUBGROUP_HOOK),
    )
    assert body(queued, "group_create")["full_path"] == "acme/team/pod"
    keys = ("group_id", "path", "full_path", "parent_group_id", "parent_path", "parent_full_path")
    assert pick(body(queued, "subgroup_create", TOP), *keys) == {
        "group_id": group.id,
        "path": "pod",
        "full_path": "acme/team/pod",
        "parent_group_id": tree.team,
        "parent_path": "team",
        "parent_full_path": "acme/team",
    }


def test_subgroup_destroy(sim: Simulator, store: Store, tree: Tree) -> None:
    """A deleted subgroup: group_destroy to system, subgroup_destroy to the old parent's chain."""
    run(sim, store, tree)
    sim.world.remove_group(tree.cell)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(
        ("group_destroy", SYSTEM, SYS_HOOK),
        ("subgroup_destroy", TOP, SUBGROUP_HOOK),
        ("subgroup_destroy", TEAM, SUBGROUP_HOOK),
    )
    assert pick(body(queued, "group_destroy"), "group_id", "path", "full_path") == {
        "group_id": tree.cell,
        "path": "cell",
        "full_path": "acme/team/squad/cell",
    }
    assert pick(body(queued, "subgroup_destroy", TEAM), "group_id", "parent_group_id") == {
        "group_id": tree.cell,
        "parent_group_id": tree.squad,
    }


def test_group_destroy_top_level(sim: Simulator, store: Store, tree: Tree) -> None:
    """A deleted top-level group without children gives group_destroy to system only."""
    group = sim.world.add_group("doomed-e2e")
    run(sim, store, tree)
    sim.world.remove_group(group.id)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("group_destroy", SYSTEM, SYS_HOOK))
    assert body(queued, "group_destroy")["group_id"] == group.id


def test_group_rename(sim: Simulator, store: Store, tree: Tree) -> None:
    """A group path change gives group_rename with old_path and old_full_path, system only."""
    run(sim, store, tree)
    sim.world.update_group(tree.squad, path="crew", name="Crew")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("group_rename", SYSTEM, SYS_HOOK))
    keys = ("group_id", "name", "path", "full_path", "old_path", "old_full_path")
    assert pick(body(queued, "group_rename"), *keys) == {
        "group_id": tree.squad,
        "name": "Crew",
        "path": "crew",
        "full_path": "acme/team/crew",
        "old_path": "squad",
        "old_full_path": "acme/team/squad",
    }


def test_ancestor_rename_is_one_group_rename(sim: Simulator, store: Store, tree: Tree) -> None:
    """Renaming team gives one group_rename; the new full paths below it are silent."""
    run(sim, store, tree)
    sim.world.update_group(tree.team, path="tribe")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("group_rename", SYSTEM, SYS_HOOK))
    keys = ("group_id", "full_path", "old_full_path")
    assert pick(body(queued, "group_rename"), *keys) == {
        "group_id": tree.team,
        "full_path": "acme/tribe",
        "old_full_path": "acme/team",
    }
    sim.world.add_member("group", tree.cell, tree.bob, 30)
    assert rows_of(run(sim, store, tree)) == member_rows("user_add_to_group", TOP, TEAM)


def test_group_name_change_alone_is_silent(sim: Simulator, store: Store, tree: Tree) -> None:
    """A group name change keeping the path, and its descendants' full paths, queue nothing."""
    run(sim, store, tree)
    sim.world.update_group(tree.team, name="Renamed Team")
    assert run(sim, store, tree) == []


# -- projects ----------------------------------------------------------------------------------


def test_project_create(sim: Simulator, store: Store, tree: Tree) -> None:
    """A project in a group: project_create to system and Project Hook to the group chain."""
    run(sim, store, tree)
    project = sim.world.add_project("tool", name="Tool", namespace_id=tree.squad)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(
        ("project_create", SYSTEM, SYS_HOOK),
        ("project_create", TOP, PROJECT_HOOK),
        ("project_create", TEAM, PROJECT_HOOK),
    )
    system = body(queued, "project_create")
    keys = ("project_id", "name", "path", "path_with_namespace", "project_namespace_id")
    assert pick(system, *keys, "owner_name", "owner_email") == {
        "project_id": project.id,
        "name": "Tool",
        "path": "tool",
        "path_with_namespace": "acme/team/squad/tool",
        "project_namespace_id": tree.squad,
        "owner_name": "Squad",
        "owner_email": "",
    }
    group_form = body(queued, "project_create", TEAM)
    assert "owner_name" not in group_form
    assert "owner_email" not in group_form
    assert pick(group_form, *keys) == pick(system, *keys)


def test_project_create_in_user_namespace(sim: Simulator, store: Store, tree: Tree) -> None:
    """A personal project gives project_create to system only: no group receiver."""
    run(sim, store, tree)
    namespace = sim.world.snapshot().users[tree.bob].namespace_id
    project = sim.world.add_project("notes", namespace_id=namespace)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("project_create", SYSTEM, SYS_HOOK))
    keys = ("project_id", "path_with_namespace", "owners", "owner_name", "owner_email")
    assert pick(body(queued, "project_create"), *keys) == {
        "project_id": project.id,
        "path_with_namespace": "bob-e2e/notes",
        "owners": [{"name": "Bob E2E", "email": "[REDACTED]"}],
        "owner_name": "Bob E2E",
        "owner_email": "[REDACTED]",
    }


def test_project_destroy(sim: Simulator, store: Store, tree: Tree) -> None:
    """A deleted project: project_destroy to system and the old group chain, no member removal."""
    run(sim, store, tree)
    sim.world.remove_project(tree.app)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(
        ("project_destroy", SYSTEM, SYS_HOOK),
        ("project_destroy", TOP, PROJECT_HOOK),
        ("project_destroy", TEAM, PROJECT_HOOK),
    )
    keys = ("project_id", "path", "path_with_namespace", "project_namespace_id")
    assert pick(body(queued, "project_destroy", TOP), *keys) == {
        "project_id": tree.app,
        "path": "app",
        "path_with_namespace": "acme/team/app",
        "project_namespace_id": tree.team,
    }


def test_project_rename(sim: Simulator, store: Store, tree: Tree) -> None:
    """A project path change in the same namespace gives project_rename, system only."""
    run(sim, store, tree)
    sim.world.update_project(tree.app, path="app2")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("project_rename", SYSTEM, SYS_HOOK))
    keys = ("project_id", "path", "path_with_namespace", "old_path_with_namespace")
    assert pick(body(queued, "project_rename"), *keys) == {
        "project_id": tree.app,
        "path": "app2",
        "path_with_namespace": "acme/team/app2",
        "old_path_with_namespace": "acme/team/app",
    }


def test_project_transfer(sim: Simulator, store: Store, tree: Tree) -> None:
    """A namespace change gives project_transfer, system only (no group Project Hook)."""
    run(sim, store, tree)
    sim.world.update_project(tree.app, namespace_id=tree.side)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("project_transfer", SYSTEM, SYS_HOOK))
    keys = ("project_id", "path_with_namespace", "old_path_with_namespace", "project_namespace_id")
    assert pick(body(queued, "project_transfer"), *keys) == {
        "project_id": tree.app,
        "path_with_namespace": "acme/side/app",
        "old_path_with_namespace": "acme/team/app",
        "project_namespace_id": tree.side,
    }


def test_project_update(sim: Simulator, store: Store, tree: Tree) -> None:
    """A tracked attribute change (description) gives project_update, system only."""
    run(sim, store, tree)
    sim.world.update_project(tree.app, description="now with docs")
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("project_update", SYSTEM, SYS_HOOK))
    keys = ("project_id", "path", "path_with_namespace")
    assert pick(body(queued, "project_update"), *keys) == {
        "project_id": tree.app,
        "path": "app",
        "path_with_namespace": "acme/team/app",
    }
    assert "old_path_with_namespace" not in body(queued, "project_update")


# -- share links (opt-in, docs/events.md#share-events-bridge-only) ---------------------------


def test_share_links_are_silent_by_default(sim: Simulator, store: Store, tree: Tree) -> None:
    """Without share_events, inviting a group into a project or group queues nothing."""
    run(sim, store, tree)
    sim.world.share("project", tree.app, tree.side, 30)
    sim.world.share("group", tree.team, tree.side, 20)
    assert run(sim, store, tree) == []


def test_project_share_events(sim: Simulator, store: Store, tree: Tree) -> None:
    """With share_events: group_add/update/remove_to/for/from_team, system receiver only."""
    run(sim, store, tree, share_events=True)
    sim.world.share("project", tree.app, tree.side, 30, expires_at=dt.date(2030, 6, 1))
    added = run(sim, store, tree, share_events=True)
    sim.world.update_share("project", tree.app, tree.side, group_access=40)
    updated = run(sim, store, tree, share_events=True)
    sim.world.unshare("project", tree.app, tree.side)
    removed = run(sim, store, tree, share_events=True)
    assert rows_of(added) == expect(("group_add_to_team", SYSTEM, SYS_HOOK))
    assert rows_of(updated) == expect(("group_update_for_team", SYSTEM, SYS_HOOK))
    assert rows_of(removed) == expect(("group_remove_from_team", SYSTEM, SYS_HOOK))
    expected = {
        "project_id": tree.app,
        "project_path_with_namespace": "acme/team/app",
        "shared_with_group_id": tree.side,
        "shared_with_group_path": "side",
        "shared_with_group_full_path": "acme/side",
        "access_level": "Developer",
        "expires_at": "2030-06-01T00:00:00Z",
    }
    assert pick(body(added, "group_add_to_team"), *expected) == expected
    assert pick(body(updated, "group_update_for_team"), *expected) == expected | {
        "access_level": "Maintainer"
    }
    assert pick(body(removed, "group_remove_from_team"), *expected) == expected | {
        "access_level": "Maintainer"
    }
    assert "user_id" not in body(added, "group_add_to_team")


def test_group_share_events(sim: Simulator, store: Store, tree: Tree) -> None:
    """With share_events: group_add/update/remove_to/for/from_group, system receiver only."""
    run(sim, store, tree, share_events=True)
    sim.world.share("group", tree.team, tree.side, 20)
    added = run(sim, store, tree, share_events=True)
    sim.world.update_share("group", tree.team, tree.side, expires_at=dt.date(2030, 6, 1))
    updated = run(sim, store, tree, share_events=True)
    sim.world.unshare("group", tree.team, tree.side)
    removed = run(sim, store, tree, share_events=True)
    assert rows_of(added) == expect(("group_add_to_group", SYSTEM, SYS_HOOK))
    assert rows_of(updated) == expect(("group_update_for_group", SYSTEM, SYS_HOOK))
    assert rows_of(removed) == expect(("group_remove_from_group", SYSTEM, SYS_HOOK))
    expected = {
        "group_id": tree.team,
        "group_path": "team",
        "shared_with_group_id": tree.side,
        "shared_with_group_full_path": "acme/side",
        "group_access": "Reporter",
        "expires_at": None,
    }
    dated = expected | {"expires_at": "2030-06-01T00:00:00Z"}
    assert pick(body(added, "group_add_to_group"), *expected) == expected
    assert pick(body(updated, "group_update_for_group"), *expected) == dated
    assert pick(body(removed, "group_remove_from_group"), *expected) == dated
    assert "group_plan" not in body(added, "group_add_to_group")


# -- scenarios ---------------------------------------------------------------------------------


def test_nested_member_reaches_ancestor_receivers_only(
    sim: Simulator, store: Store, tree: Tree
) -> None:
    """A member added three levels below acme reaches TOP and TEAM; sibling SIDE gets nothing."""
    run(sim, store, tree)
    sim.world.add_member("group", tree.cell, tree.bob, 10)
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_add_to_group", TOP, TEAM)
    assert pick(body(queued, "user_add_to_group", TOP), "group_id", "group_path") == {
        "group_id": tree.cell,
        "group_path": "cell",
    }
    assert pick(body(queued, "user_add_to_group", TOP), "group_access") == {"group_access": "Guest"}


def test_events_on_a_group_skip_receivers_on_its_descendants(
    sim: Simulator, store: Store, tree: Tree
) -> None:
    """Member and project events on acme reach TOP only; TEAM and SIDE sit below acme."""
    run(sim, store, tree)
    sim.world.add_member("group", tree.acme, tree.bob, 40)
    sim.world.add_project("portal", namespace_id=tree.acme)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(
        ("project_create", SYSTEM, SYS_HOOK),
        ("project_create", TOP, PROJECT_HOOK),
        ("user_add_to_group", SYSTEM, SYS_HOOK),
        ("user_add_to_group", TOP, MEMBER_HOOK),
    )
    assert body(queued, "user_add_to_group", TOP)["group_access"] == "Maintainer"
    assert body(queued, "project_create", TOP)["path_with_namespace"] == "acme/portal"


def test_group_moved_to_new_parent(sim: Simulator, store: Store, tree: Tree) -> None:
    """A move keeping the path is silent; later member events follow the new parent's chain."""
    sim.world.add_project("kit", namespace_id=tree.cell)  # its full path changes with the move
    run(sim, store, tree)
    sim.world.update_group(tree.squad, parent_id=tree.side)
    assert run(sim, store, tree) == []
    sim.world.add_member("group", tree.cell, tree.bob, 30)
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_add_to_group", TOP, SIDE)
    sim.world.add_group("pod", parent_id=tree.squad)
    created = run(sim, store, tree)
    assert rows_of(created) == expect(
        ("group_create", SYSTEM, SYS_HOOK),
        ("subgroup_create", TOP, SUBGROUP_HOOK),
        ("subgroup_create", SIDE, SUBGROUP_HOOK),
    )
    assert body(created, "group_create")["full_path"] == "acme/side/squad/pod"


def test_project_transfer_and_rename_in_one_cycle(sim: Simulator, store: Store, tree: Tree) -> None:
    """A path change plus a namespace change between polls is one project_transfer, no rename."""
    run(sim, store, tree)
    sim.world.update_project(tree.app, path="moved-app")
    sim.world.update_project(tree.app, namespace_id=tree.side)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("project_transfer", SYSTEM, SYS_HOOK))
    keys = ("path", "path_with_namespace", "old_path_with_namespace", "project_namespace_id")
    assert pick(body(queued, "project_transfer"), *keys) == {
        "path": "moved-app",
        "path_with_namespace": "acme/side/moved-app",
        "old_path_with_namespace": "acme/team/app",
        "project_namespace_id": tree.side,
    }


def test_expiring_membership_is_removed(sim: Simulator, store: Store, tree: Tree) -> None:
    """A membership past its expiry, deleted by GitLab's worker, gives user_remove_from_group."""
    sim.world.expire()  # the dataset's own overdue rows go before the baseline
    sim.world.add_member("group", tree.squad, tree.bob, 20, expires_at=dt.date(2026, 10, 30))
    run(sim, store, tree)
    assert sim.world.expire() == 1  # GitLab's daily worker deletes the overdue row
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_remove_from_group", TOP, TEAM)
    keys = ("group_id", "user_id", "group_access", "expires_at")
    assert pick(body(queued, "user_remove_from_group", TEAM), *keys) == {
        "group_id": tree.squad,
        "user_id": tree.bob,
        "group_access": "Reporter",
        "expires_at": "2026-10-30T00:00:00Z",
    }


def test_user_renamed_then_deleted(sim: Simulator, store: Store, tree: Tree) -> None:
    """user_rename, then the deleted user's memberships removed with hooks, then user_destroy."""
    run(sim, store, tree)
    sim.world.update_user(tree.alice, username="alicia-e2e")
    renamed = run(sim, store, tree)
    assert rows_of(renamed) == expect(("user_rename", SYSTEM, SYS_HOOK))
    assert pick(body(renamed, "user_rename"), "username", "old_username") == {
        "username": "alicia-e2e",
        "old_username": "alice-e2e",
    }
    sim.world.remove_user(tree.alice)
    destroyed = run(sim, store, tree)
    assert rows_of(destroyed) == expect(
        ("user_remove_from_group", SYSTEM, SYS_HOOK),
        ("user_remove_from_group", TOP, MEMBER_HOOK),
        ("user_remove_from_group", TEAM, MEMBER_HOOK),
        ("user_remove_from_team", SYSTEM, SYS_HOOK),
        ("user_destroy", SYSTEM, SYS_HOOK),
    )
    assert destroyed[-1].event_name == "user_destroy"  # after every removal
    assert pick(body(destroyed, "user_destroy"), "user_id", "username") == {
        "user_id": tree.alice,
        "username": "alicia-e2e",
    }
    assert (tree.team, tree.alice) not in store.all_members("group")
    assert (tree.app, tree.alice) not in store.all_members("project")


def test_destroy_carries_the_snapshot_timestamps(sim: Simulator, store: Store, tree: Tree) -> None:
    """user_destroy's updated_at is the last derived one (the rename's), not the deletion's."""
    renamed_at, deleted_at = NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=2)
    run(sim, store, tree)
    sim.world.update_user(tree.alice, username="alicia-e2e")
    run(sim, store, tree, at=renamed_at)
    created = sim.world.snapshot().users[tree.alice].created_at
    sim.world.remove_user(tree.alice)
    destroyed = run(sim, store, tree, at=deleted_at)
    assert pick(body(destroyed, "user_destroy"), "created_at", "updated_at") == {
        "created_at": hook_time(created, "UTC"),
        "updated_at": "2026-11-01T13:00:00Z",
    }


def test_member_rows_without_rest_created_at_use_the_first_sighting(
    make_sim: SimFactory, store: Store
) -> None:
    """12.10 member rows lack created_at: first sighting, then the derived updated_at."""
    old_sim = make_sim("small", version="12.10")
    old_tree = build_tree(old_sim)
    first, changed, removed = (NOW + dt.timedelta(hours=h) for h in (1, 2, 3))
    run(old_sim, store, old_tree)
    old_sim.world.add_member("group", old_tree.squad, old_tree.bob, 30)
    added = run(old_sim, store, old_tree, at=first)
    old_sim.world.update_member("group", old_tree.squad, old_tree.bob, access_level=40)
    updated = run(old_sim, store, old_tree, at=changed)
    old_sim.world.remove_member("group", old_tree.squad, old_tree.bob)
    gone = run(old_sim, store, old_tree, at=removed)
    stamps = ("created_at", "updated_at")
    assert pick(body(added, "user_add_to_group"), *stamps) == {
        "created_at": "2026-11-01T13:00:00Z",
        "updated_at": "2026-11-01T13:00:00Z",
    }
    assert pick(body(updated, "user_update_for_group"), *stamps) == {
        "created_at": "2026-11-01T13:00:00Z",
        "updated_at": "2026-11-01T14:00:00Z",
    }
    assert pick(body(gone, "user_remove_from_group"), *stamps) == {
        "created_at": "2026-11-01T13:00:00Z",
        "updated_at": "2026-11-01T14:00:00Z",
    }


def test_members_of_a_project_in_a_user_namespace(sim: Simulator, store: Store, tree: Tree) -> None:
    """Adding a member to a personal project gives user_add_to_team, System Hook only."""
    namespace = sim.world.snapshot().users[tree.bob].namespace_id
    project = sim.world.add_project("dotfiles", namespace_id=namespace)
    run(sim, store, tree)
    sim.world.add_member("project", project.id, tree.alice, 30)
    queued = run(sim, store, tree)
    assert rows_of(queued) == expect(("user_add_to_team", SYSTEM, SYS_HOOK))
    keys = ("project_id", "project_path_with_namespace", "user_id", "access_level")
    assert pick(body(queued, "user_add_to_team"), *keys) == {
        "project_id": project.id,
        "project_path_with_namespace": "bob-e2e/dotfiles",
        "user_id": tree.alice,
        "access_level": "Developer",
    }


def test_gitlab_12_10_group_member_gets_member_hook(make_sim: SimFactory, store: Store) -> None:
    """On 12.10 (no member webhooks there) a group member add gives System and Member Hook."""
    old_sim = make_sim("small", version="12.10")
    old_tree = build_tree(old_sim)
    run(old_sim, store, old_tree)
    old_sim.world.add_member("group", old_tree.squad, old_tree.bob, 30)
    queued = run(old_sim, store, old_tree)
    assert rows_of(queued) == member_rows("user_add_to_group", TOP, TEAM)
    system = body(queued, "user_add_to_group")
    assert body(queued, "user_add_to_group", TEAM) == system
    keys = ("group_id", "group_path", "user_id", "user_username", "group_access", "expires_at")
    assert pick(system, *keys) == {
        "group_id": old_tree.squad,
        "group_path": "squad",
        "user_id": old_tree.bob,
        "user_username": "bob-e2e",
        "group_access": "Developer",
        "expires_at": None,
    }


def test_member_removed_during_a_move_routes_by_the_old_hierarchy(
    sim: Simulator, store: Store, tree: Tree
) -> None:
    """A removal seen together with its group's move reaches the pre-change chain."""
    sim.world.add_member("group", tree.squad, tree.bob, 30)
    run(sim, store, tree)
    sim.world.update_group(tree.squad, parent_id=tree.side)
    sim.world.remove_member("group", tree.squad, tree.bob)
    queued = run(sim, store, tree)
    assert rows_of(queued) == member_rows("user_remove_from_group", TOP, TEAM)
