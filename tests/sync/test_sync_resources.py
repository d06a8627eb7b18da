"""Sync passes over a subset of resources, as the daemon's per-resource jobs run them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

from bridge.model.ledger import Resource
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import SyncReport, sync
from bridge.testing.fakes import ManualClock
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW
from tests.sync.test_sync import SYSTEM, queued, settings


@pytest.fixture
def top(sim: Simulator) -> int:
    """A top-level group: the group receiver's."""
    snap = sim.world.snapshot()
    return min(g.id for g in snap.groups.values() if g.parent_id is None)


@pytest.fixture
def clock() -> ManualClock:
    """The pass clock."""
    return ManualClock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    """A fresh SQLite store on the pass clock."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=clock) as opened:
        yield opened


def poll(
    sim: Simulator,
    store: Store,
    top: int,
    clock: ManualClock,
    resources: Collection[Resource],
    stop: threading.Event | None = None,
) -> SyncReport:
    """One pass over ``resources``, a minute after the previous one."""
    clock.now += dt.timedelta(minutes=1)
    source = GitLabSource(sim.url, sim.tokens["admin"])
    return sync(
        source, store, settings(sim, top), now=clock, resources=resources, stop=stop, workers=2
    )


ALL: tuple[Resource, ...] = ("users", "groups", "projects", "members")


def test_a_pass_touches_only_its_resources(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """A users pass records users only; the other resources keep no state until polled."""
    report = poll(sim, store, top, clock, ("users",))
    assert report.baselines == ("users",)
    assert {s.name for s in store.resource_states()} == {"users"}
    assert store.groups() == {}


def test_members_of_a_group_found_by_an_earlier_groups_pass_are_real_adds(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """groups finds a new group; a later members pass reports its first member, not a baseline."""
    for resource in ALL:
        poll(sim, store, top, clock, (resource,))
    user = sim.world.add_user("joiner")
    group = sim.world.add_group("fresh", parent_id=top)
    sim.world.add_member("group", group.id, user.id, 30)
    poll(sim, store, top, clock, ("users",))
    poll(sim, store, top, clock, ("groups",))
    report = poll(sim, store, top, clock, ("members",))
    assert f"members:group:{group.id}" not in report.baselines
    names = [name for name, receiver, _ in queued(store) if receiver == SYSTEM]
    assert names == ["user_create", "group_create", "user_add_to_group"]


def test_a_members_pass_reports_removals_of_a_destroyed_user_before_its_destroy(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """Without a users listing, a vanished member whose user 404s is removed with its hook,
    as GitLab's destroy_memberships sends it; the users listing then sends user_destroy."""
    user = sim.world.add_user("leaver")
    sim.world.add_member("group", top, user.id, 30)
    for resource in ALL:
        poll(sim, store, top, clock, (resource,))
    sim.world.remove_user(user.id)
    poll(sim, store, top, clock, ("members",))
    removals = queued(store)
    assert [name for name, _, _ in removals] == ["user_remove_from_group"] * len(removals)
    assert removals
    assert (top, user.id) not in store.all_members("group")
    poll(sim, store, top, clock, ("users",))
    assert [name for name, _, _ in queued(store)][len(removals) :] == ["user_destroy"]


def test_a_removed_member_whose_user_exists_is_reported(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """The user lookup only silences removals of users that are really gone."""
    user = sim.world.add_user("stayer")
    sim.world.add_member("group", top, user.id, 30)
    for resource in ALL:
        poll(sim, store, top, clock, (resource,))
    sim.world.remove_member("group", top, user.id)
    poll(sim, store, top, clock, ("members",))
    assert ("user_remove_from_group", SYSTEM, "System Hook") in queued(store)


def test_a_groups_pass_that_destroys_a_group_destroys_its_projects_first(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """A confirmed group destroy pulls the projects phase in: project_destroy comes first."""
    doomed = sim.world.add_group("doomed")
    sim.world.add_project("inside", namespace_id=doomed.id)
    for resource in ALL:
        poll(sim, store, top, clock, (resource,))
    sim.world.remove_group(doomed.id)
    poll(sim, store, top, clock, ("groups",))
    names = [name for name, receiver, _ in queued(store) if receiver == SYSTEM]
    assert names == ["project_destroy", "group_destroy"]


def test_stop_ends_the_pass_between_transactions(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """A set stop event: nothing is polled, nothing written, the report says it stopped."""
    poll(sim, store, top, clock, ALL)
    sim.world.add_user("unseen")
    stop = threading.Event()
    stop.set()
    report = poll(sim, store, top, clock, ALL, stop=stop)
    assert report.stopped
    assert (report.changes, report.events_queued) == (0, 0)
    assert queued(store) == []
    poll(sim, store, top, clock, ALL)  # the next pass finds the change
    assert [name for name, _, _ in queued(store)] == ["user_create"]


def test_unknown_resources_are_refused(
    sim: Simulator, store: Store, top: int, clock: ManualClock
) -> None:
    """A typo in a resource name is a programming error, not an empty pass."""
    with pytest.raises(ValueError, match="unknown resources"):
        poll(sim, store, top, clock, ("user",))  # type: ignore[arg-type]
