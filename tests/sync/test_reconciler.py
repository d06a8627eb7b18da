"""The reconciler against the simulator over HTTP and a real SQLite state.

Signals find changes cheaply and hint sources; the hinted source is re-read and diffed through
the same commit path as the full pass; removals are confirmed; nothing comes from a signal
alone. Time is the simulator's clock, moved forward by the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config.settings import Settings
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.sync.reconciler import Reconciler, TickReport
from bridge.sync.state import Pass
from bridge.sync.targeted import Applier
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory

TARGETS = {"new_users": "60s", "new_user_memberships": "90s", "group_members": "5m",
           "project_members": "5m", "groups_and_projects": "10m", "shares": "2h",
           "reconcile": "3h"}  # fmt: skip


class Harness:
    """A simulator, a store with a silent baseline, and a reconciler on the simulator's clock."""

    def __init__(self, sim: Simulator, tmp: Path, *, access_requests: bool = False) -> None:
        self.sim, self.world = sim, sim.world
        self.settings = Settings.model_validate({
            "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
            "state": {"url": f"sqlite:///{tmp / 'bridge.db'}"},
            "hooks": {"system": [{"name": "audit", "url": "http://127.0.0.1:9/hook"}]},
            "payloads": {"share_events": True},
            "freshness": TARGETS,
            "poll": {"access_requests": access_requests},
        })  # fmt: skip
        self.store = Store.open(self.settings.state.url)
        self.source = GitLabSource(sim.url, sim.tokens["admin"], budget=None)
        self.now = self.world.clock.now
        sync(self.source, self.store, self.settings, now=self.now)
        self.reconciler = Reconciler.planned(self.source, self.store, self.settings, now=self.now)
        self.stop = threading.Event()
        self.seen = len(self.store.outbox())

    def tick(self, advance: float = 0.0) -> TickReport:
        """Move time forward, then read what is due, and apply it all: a read still running
        when a tick ends (a loaded machine) is applied by the next one."""
        if advance:
            self.world.clock.advance(advance)
        report = self.reconciler.tick(self.stop)
        while self.reconciler.busy:
            self.reconciler.tick(self.stop)
        return report

    def events(self) -> list[str]:
        """Event names queued since the last call."""
        rows = self.store.outbox()
        new, self.seen = rows[self.seen :], len(rows)
        return [r.event_name for r in new]

    def close(self) -> None:
        """Stop the read workers and close the store."""
        self.reconciler.close()
        self.store.close()


@pytest.fixture
def harness(make_sim: SimFactory, tmp_path: Path) -> Iterator[Harness]:
    """A 16.11 CE simulator behind a fresh reconciler."""
    h = Harness(make_sim("small", version="16.11"), tmp_path)
    h.tick()  # the signals' first reads
    yield h
    h.close()


def test_a_quiet_instance_costs_one_request_per_signal(harness: Harness) -> None:
    """Nothing changed: the signals due now cost one request each and find nothing."""
    report = harness.tick(31)  # new_users is read every 30 s
    assert report.reads >= 1
    assert report.requests == report.reads  # one request per read: signals and small lists
    assert harness.events() == []


def test_a_new_user_is_seen_by_the_signal_within_its_period(harness: Harness) -> None:
    """user_create queued at the next new-users read, without a users listing."""
    harness.world.add_user("newbie", name="New Bie")
    harness.tick(31)
    assert "user_create" in harness.events()
    assert harness.reconciler.schedule.last("users") is not None


def test_a_new_users_first_group_join_is_read_through_its_memberships(harness: Harness) -> None:
    """The new user's memberships hint the group's member list: the join is queued."""
    user = harness.world.add_user("joiner")
    harness.tick(31)
    assert harness.events() == ["user_create"]
    group = harness.world.add_group("team-x")
    harness.tick(1)  # not yet seen: groups come by their own signal
    harness.world.add_member("group", group.id, user.id, 30)
    harness.tick(46)  # memberships read every 45 s; new groups every 5 min
    harness.tick(301)
    assert "user_add_to_group" in harness.events() + harness.events()


def test_access_requests_are_read_with_each_member_list(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """poll.access_requests: a member-list task reads the requests too (two requests), and a
    request, then its approval (update, then add), are queued within the members target."""
    sim = make_sim("small", version="16.11")
    group = sim.world.add_group("open-team", visibility="public")
    user = sim.world.add_user("asker")
    h = Harness(sim, tmp_path, access_requests=True)
    try:
        h.tick()
        sim.world.request_access("group", group.id, user.id)
        h.tick(301)
        assert h.events() == ["user_access_request_to_group"]
        state = h.store.resource_state(f"members:group:{group.id}")
        assert state is not None
        assert state.last_requests == 2  # members and requests
        sim.world.approve_access_request("group", group.id, user.id)
        h.tick(301)
        assert h.events() == ["user_update_for_group", "user_add_to_group"]
    finally:
        h.close()


def test_a_group_member_change_is_found_by_the_walk_and_removals_are_confirmed(
    harness: Harness,
) -> None:
    """Role change and removal in a group are seen within the group-members target."""
    snap = harness.world.snapshot()
    gm = next(m for (kind, _), rows in sorted(snap.members.items()) if kind == "group"
              for m in rows.values() if m.access_level < 50)  # fmt: skip
    harness.world.update_member("group", gm.source_id, gm.user_id, access_level=50)
    harness.tick(301)
    assert "user_update_for_group" in harness.events()
    harness.world.remove_member("group", gm.source_id, gm.user_id)
    harness.tick(301)
    assert "user_remove_from_group" in harness.events()


def test_a_project_member_join_is_hinted_by_the_project_activity(harness: Harness) -> None:
    """16.11: the join moves the project's updated_at; the hint re-reads its members."""
    harness.world.clock.advance(2 * 3600)  # past the one-hour rule for every project
    harness.tick(1)
    harness.events()
    snap = harness.world.snapshot()
    project = min(snap.projects.values(), key=lambda p: p.id)
    members = set(snap.members.get(("project", project.id), {}))
    user = next(u for u in snap.users.values() if u.id not in members and u.state == "active"
                and u.user_type == "human")  # fmt: skip
    harness.world.add_member("project", project.id, user.id, 30)
    harness.tick(151)  # changed projects read every 150 s
    assert "user_add_to_team" in harness.events()


def test_a_signal_alone_never_makes_an_event(harness: Harness) -> None:
    """A hinted source that did not change is re-read and nothing is queued."""
    harness.tick(1)
    harness.events()
    key = next(k for k in harness.reconciler.schedule if k.startswith("members:group:"))
    assert harness.reconciler.schedule.hint(key, harness.now().timestamp())
    report = harness.tick(0)
    assert report.reads >= 1
    assert harness.events() == []


def test_a_new_group_and_its_first_members_are_real_adds(harness: Harness) -> None:
    """The new-groups signal queues group_create; its first member list is no baseline."""
    group = harness.world.add_group("fresh-group")
    user = next(u for u in harness.world.snapshot().users.values()
                if u.state == "active" and u.user_type == "human")  # fmt: skip
    harness.world.add_member("group", group.id, user.id, 40)
    harness.tick(301)  # new groups read every 5 min
    harness.tick(1)  # the hinted member list, if not in the same tick
    events = harness.events()
    assert "group_create" in events
    assert "user_add_to_group" in events


def test_a_destroyed_project_is_found_by_the_listing_and_its_tasks_go(harness: Harness) -> None:
    """project_destroy queued by the projects walk; its member list is no longer a task."""
    project = max(harness.world.snapshot().projects.values(), key=lambda p: p.id)
    harness.world.remove_project(project.id)
    harness.tick(601)  # the projects listing is walked every 10 minutes
    assert "project_destroy" in harness.events()
    assert f"members:project:{project.id}" not in harness.reconciler.schedule


def test_on_12_10_a_project_join_is_hinted_by_last_activity(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """12.10 has no updated_after: last_activity_after under the one-hour rule hints instead."""
    h = Harness(make_sim("small", version="12.10"), tmp_path)
    try:
        assert not h.reconciler.caps.updated_after
        assert h.reconciler.caps.last_activity_after
        h.world.clock.advance(2 * 3600)
        h.tick(1)
        h.events()
        snap = h.world.snapshot()
        project = min(snap.projects.values(), key=lambda p: p.id)
        members = set(snap.members.get(("project", project.id), {}))
        user = next(u for u in snap.users.values() if u.id not in members
                    and u.state == "active" and u.user_type == "human")  # fmt: skip
        h.world.add_member("project", project.id, user.id, 30)
        h.tick(151)
        assert "user_add_to_team" in h.events()
    finally:
        h.close()


def test_the_budget_paces_the_reads(make_sim: SimFactory, tmp_path: Path) -> None:
    """On 120/min, ticks for a few seconds send no more than the burst plus the rate allows,
    and still make progress."""
    h = Harness(make_sim("small", version="16.11"), tmp_path)
    try:
        h.source = GitLabSource(h.sim.url, h.sim.tokens["admin"], budget=120)
        h.reconciler = Reconciler.planned(h.source, h.store, h.settings, now=h.now)
        before, started = h.source.requests_made, time.monotonic()
        while time.monotonic() - started < 4.0:
            h.tick()
        sent, took = h.source.requests_made - before, time.monotonic() - started
        assert sent >= 4  # progress: more than the burst of 2
        assert sent <= 2 + took * 118 / 60 + 1  # burst + refill (+1: a read in flight)
        assert h.source.budget is not None
        assert h.source.budget.used_last_minute() <= 120
    finally:
        h.close()


def test_a_listing_read_before_a_targeted_change_does_not_turn_it_back(
    harness: Harness,
) -> None:
    """A rename seen by the changed-projects signal while an older projects listing was being
    read: applying that listing afterwards sends nothing (no rename back, no second rename)."""
    started = harness.now()
    stale = harness.source.projects()  # read before the rename
    project = min(harness.world.snapshot().projects.values(), key=lambda p: p.id)
    harness.world.update_project(project.id, path="renamed-meanwhile", name="Renamed")
    harness.tick(151)  # the changed-projects signal
    assert "project_rename" in harness.events()
    run = Pass(harness.source, harness.store, harness.settings, harness.now, harness.stop,
               states=harness.reconciler.states, lazy_members=True)  # fmt: skip
    applier = Applier(run, harness.reconciler.users, harness.reconciler.groups, window=600,
                      now=started)  # fmt: skip
    applier.listing("projects", stale)
    assert harness.events() == []
    assert harness.store.project(project.id).path == "renamed-meanwhile"  # type: ignore[union-attr]
