"""The reconciler's GraphQL batches against the simulator over HTTP and a real SQLite state.

Project fingerprints (the newest ``updatedAt``) see a role change no REST signal sees, and hint
the list, which REST re-reads; group lists in batches see removals; the lists batches cover are
never read one by one unless hinted; 12.10 has no GraphQL members and stays REST only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sync.reconciler import Reconciler
from tests.conftest import SimFactory
from tests.sync.test_reconciler import Harness

REST_LISTS = ("GET /groups/:id/members", "GET /projects/:id/members")


@pytest.fixture
def harness(make_sim: SimFactory, tmp_path: Path) -> Iterator[Harness]:
    """A 16.11 CE simulator behind a fresh reconciler; the batches' first reads done."""
    h = Harness(make_sim("small", version="16.11"), tmp_path)
    h.tick()
    h.tick(61)
    h.events()
    yield h
    h.close()


def _rest_lists(h: Harness) -> int:
    return sum(h.sim.request_count(t) for t in REST_LISTS)


def test_the_batches_are_planned_and_read_over_graphql(harness: Harness) -> None:
    kinds = {k.rsplit(":", 1)[0] for k in harness.reconciler.schedule if k.startswith("graphql:")}
    assert kinds == {"graphql:lists:group", "graphql:lists:project", "graphql:fingerprints:project"}
    assert harness.sim.request_count("POST /api/graphql") > 0
    periods = harness.reconciler.allocation
    assert periods is not None
    assert periods.periods["graphql:fingerprints:project"] == 150  # half the 5-minute target
    assert periods.worst["project_members"] == 150


def test_a_project_role_change_is_seen_by_its_fingerprint_and_read_over_rest(
    harness: Harness,
) -> None:
    """No REST signal sees a role change (GitLab writes no event): the fingerprint does."""
    world = harness.world
    project = min(world.snapshot().projects)
    row = min(world.snapshot().direct_members("project", project), key=lambda m: m.user_id)
    harness.tick(31)
    before = _rest_lists(harness)
    world.update_member(
        "project", project, row.user_id, access_level=20 if row.access_level != 20 else 30
    )
    harness.tick(151)  # fingerprints every 150 s
    harness.tick(1)
    assert "user_update_for_team" in harness.events()
    assert _rest_lists(harness) - before >= 1  # the hinted list, re-read over REST


def test_a_group_member_removal_is_seen_by_the_group_list_batch(harness: Harness) -> None:
    world = harness.world
    snap = world.snapshot()
    group = min(snap.groups)
    row = min((m for m in snap.direct_members("group", group) if m.access_level < 50),
              key=lambda m: m.user_id)  # fmt: skip
    world.remove_member("group", group, row.user_id)
    harness.tick(301)
    harness.tick(1)
    assert "user_remove_from_group" in harness.events()


def test_quiet_batches_read_no_list_one_by_one(harness: Harness) -> None:
    """With nothing changing, the lists the batches cover cost no REST request of their own."""
    before = _rest_lists(harness)
    graphql = harness.sim.request_count("POST /api/graphql")
    for _ in range(5):
        harness.tick(301)
    assert _rest_lists(harness) == before
    assert harness.sim.request_count("POST /api/graphql") > graphql
    assert harness.events() == []


def test_on_12_10_nothing_goes_to_graphql(make_sim: SimFactory, tmp_path: Path) -> None:
    h = Harness(make_sim("small", version="12.10"), tmp_path)
    try:
        h.tick()
        h.tick(301)
        assert not any(k.startswith("graphql:") for k in h.reconciler.schedule)
        assert h.sim.request_count("POST /api/graphql") == 0
        assert _rest_lists(h) > 0
    finally:
        h.close()


def test_a_role_change_while_the_daemon_was_down_is_seen_by_the_first_fingerprints(
    harness: Harness,
) -> None:
    """Fingerprints are not kept across a restart: the first one after start points at a list
    whose newest member update is after that list's last read."""
    world = harness.world
    project = min(world.snapshot().projects)
    row = min(world.snapshot().direct_members("project", project), key=lambda m: m.user_id)
    harness.reconciler.close()
    world.clock.advance(600)
    world.update_member("project", project, row.user_id,
                        access_level=20 if row.access_level != 20 else 30)  # fmt: skip
    harness.reconciler = Reconciler.planned(
        harness.source, harness.store, harness.settings, now=harness.now
    )
    harness.tick()
    harness.tick(1)
    assert "user_update_for_team" in harness.events()
