"""Access-request events end to end (``poll.access_requests``; docs/events.md#access-requests).

The simulator's access requests change; ``sync`` reads them with each member list and queues
what GitLab's ``Member`` callbacks send: ``:request`` when a user asks, ``:revoke`` when a
request is denied or withdrawn, and on approval (``accept_request``) the update, then the add.
Group requests reach the group's and its ancestors' Member Hooks; project requests only system
receivers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config.settings import Settings
from bridge.model.ledger import OutboxRecord
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW

SYS = "sys"
Row = tuple[str, str, str]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: NOW) as opened:
        yield opened


def settings(sim: Simulator, top: int, *, requests: bool = True) -> Settings:
    """One system receiver, one group receiver on ``top`` with member events."""
    return Settings.model_validate(
        {
            "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
            "hooks": {
                "system": [{"name": SYS, "url": "http://receiver.test/sys"}],
                "group": [
                    {"name": "top", "url": "http://receiver.test/top", "group": str(top),
                     "member_events": True},
                ],
            },
            "poll": {"access_requests": requests},
        }
    )  # fmt: skip


def run(sim: Simulator, store: Store, top: int, *, requests: bool = True) -> list[OutboxRecord]:
    """One sync pass; the outbox rows it queued, in queue order."""
    before = len(store.outbox())
    source = GitLabSource(sim.url, sim.tokens["admin"])
    sync(source, store, settings(sim, top, requests=requests), now=lambda: NOW, workers=2)
    return store.outbox()[before:]


def rows(records: list[OutboxRecord]) -> list[Row]:
    """(event, receiver, hook) in queue order."""
    return [(r.event_name, r.receiver, r.hook) for r in records]


def body(record: OutboxRecord) -> dict[str, Any]:
    """The decoded payload."""
    loaded: dict[str, Any] = json.loads(record.payload)
    return loaded


@pytest.fixture
def tree(sim: Simulator) -> dict[str, int]:
    """acme > team (public groups), a public project in team, and a user with no access."""
    world = sim.world
    acme = world.add_group("acme", visibility="public")
    team = world.add_group("team", parent_id=acme.id, visibility="public")
    app = world.add_project("app", namespace_id=team.id, visibility="public")
    carol = world.add_user("carol", name="Carol", public_email="carol@example.com")
    return {"acme": acme.id, "team": team.id, "app": app.id, "carol": carol.id}


def test_a_request_to_a_group_is_announced_to_system_and_member_hooks(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """``user_access_request_to_group``: the group member payload at Developer."""
    run(sim, store, tree["acme"])
    asked = NOW - dt.timedelta(minutes=5)
    sim.world.request_access("group", tree["team"], tree["carol"], at=asked)
    queued = run(sim, store, tree["acme"])
    assert rows(queued) == [
        ("user_access_request_to_group", SYS, "System Hook"),
        ("user_access_request_to_group", "top", "Member Hook"),
    ]
    payload = body(queued[0])
    assert list(payload) == [
        "created_at", "updated_at", "group_name", "group_path", "group_id", "user_username",
        "user_name", "user_email", "user_id", "group_access", "expires_at", "event_name",
    ]  # fmt: skip
    assert payload["group_access"] == "Developer"
    assert payload["user_email"] == "carol@example.com"
    assert payload["expires_at"] is None
    assert payload["created_at"] == payload["updated_at"] == asked.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert queued[0].payload == queued[1].payload
    assert run(sim, store, tree["acme"]) == []  # read again: nothing new


def test_a_denied_or_withdrawn_request_is_revoked(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """``:revoke`` on the destroyed request row: GitLab names it revoked in both hooks."""
    sim.world.request_access("group", tree["team"], tree["carol"])
    run(sim, store, tree["acme"])  # the baseline: the pending request is silent
    sim.world.deny_access_request("group", tree["team"], tree["carol"])
    assert rows(run(sim, store, tree["acme"])) == [
        ("user_access_request_revoked_for_group", SYS, "System Hook"),
        ("user_access_request_revoked_for_group", "top", "Member Hook"),
    ]


def test_an_approval_sends_the_update_then_the_add(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """``accept_request``: ``update(requested_at: nil)`` fires the update, then
    ``after_accept_request`` the add; the Member Hook's update only when the level moved."""
    sim.world.request_access("group", tree["team"], tree["carol"])
    run(sim, store, tree["acme"])
    sim.world.approve_access_request("group", tree["team"], tree["carol"], access_level=30)
    assert rows(run(sim, store, tree["acme"])) == [
        ("user_update_for_group", SYS, "System Hook"),
        ("user_add_to_group", SYS, "System Hook"),
        ("user_add_to_group", "top", "Member Hook"),
    ]
    sim.world.request_access("project", tree["app"], sim.world.add_user("dave").id)
    run(sim, store, tree["acme"])
    dave = max(sim.world.snapshot().users)
    sim.world.approve_access_request("project", tree["app"], dave, access_level=40)
    queued = run(sim, store, tree["acme"])
    assert rows(queued) == [
        ("user_update_for_team", SYS, "System Hook"),
        ("user_add_to_team", SYS, "System Hook"),
    ]
    assert body(queued[1])["access_level"] == "Maintainer"


def test_an_approval_at_another_level_updates_the_member_hook_too(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """The EE Member Hook's update fires when the level or expiry changed from the request's."""
    sim.world.request_access("group", tree["team"], tree["carol"])
    run(sim, store, tree["acme"])
    sim.world.approve_access_request("group", tree["team"], tree["carol"], access_level=40)
    assert rows(run(sim, store, tree["acme"])) == [
        ("user_update_for_group", SYS, "System Hook"),
        ("user_update_for_group", "top", "Member Hook"),
        ("user_add_to_group", SYS, "System Hook"),
        ("user_add_to_group", "top", "Member Hook"),
    ]


def test_project_requests_reach_system_receivers_only(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """Projects have no webhook access-request event: System Hooks only."""
    run(sim, store, tree["acme"])
    sim.world.request_access("project", tree["app"], tree["carol"])
    queued = run(sim, store, tree["acme"])
    assert rows(queued) == [("user_access_request_to_project", SYS, "System Hook")]
    assert body(queued[0])["access_level"] == "Developer"
    assert "expires_at" not in body(queued[0])
    sim.world.deny_access_request("project", tree["app"], tree["carol"])
    assert rows(run(sim, store, tree["acme"])) == [
        ("user_access_request_revoked_for_project", SYS, "System Hook")
    ]


def test_turning_it_on_makes_pending_requests_a_silent_baseline(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """Requests pending when ``poll.access_requests`` is turned on send nothing; later ones do."""
    erin = sim.world.add_user("erin").id
    sim.world.request_access("group", tree["team"], tree["carol"])
    run(sim, store, tree["acme"], requests=False)
    assert run(sim, store, tree["acme"]) == []
    sim.world.request_access("group", tree["acme"], erin)
    assert [r[0] for r in rows(run(sim, store, tree["acme"]))] == [
        "user_access_request_to_group",
        "user_access_request_to_group",
    ]


def test_off_reads_no_access_requests(sim: Simulator, store: Store, tree: dict[str, int]) -> None:
    """Without the option no request is read: one request fewer per source."""
    run(sim, store, tree["acme"], requests=False)
    sim.reset_counters()
    sim.world.request_access("group", tree["team"], tree["carol"])
    assert run(sim, store, tree["acme"], requests=False) == []
    assert not any("access_requests" in endpoint for endpoint, _ in sim.counters())
    run(sim, store, tree["acme"])
    assert any("access_requests" in endpoint for endpoint, _ in sim.counters())


def test_a_group_destroy_revokes_its_pending_requests_before_its_destroy(
    sim: Simulator, store: Store, tree: dict[str, int]
) -> None:
    """``has_many :requesters, dependent: :destroy``: each request's ``:revoke`` fires, before
    ``group_destroy``; the Member Hook reaches the ancestors (the group's own hooks are gone)."""
    run(sim, store, tree["acme"])
    sim.world.request_access("group", tree["team"], tree["carol"])
    run(sim, store, tree["acme"])
    sim.world.remove_group(tree["team"])
    names = rows(run(sim, store, tree["acme"]))
    revoked = [
        ("user_access_request_revoked_for_group", SYS, "System Hook"),
        ("user_access_request_revoked_for_group", "top", "Member Hook"),
    ]
    assert names[names.index(revoked[0]) : names.index(revoked[0]) + 2] == revoked
    assert names.index(revoked[0]) < names.index(("group_destroy", SYS, "System Hook"))
