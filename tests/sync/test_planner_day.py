"""A rehearsed day: the planner in virtual time, on the simulator's dataset sizes.

The budget is never exceeded in any 60-second window, the plan's predicted worst case bounds
every measured wait, and on ``medium`` at 600 requests a minute every target holds. On
``large`` it cannot: the rehearsal shows by how much, and that the plan said so.
"""

from __future__ import annotations

import random

import pytest

from bridge.model.signals import Capabilities
from bridge.sync.planner import CLASSES
from bridge.sync.rehearsal import Instance, Rehearsal, rehearse
from bridge.testing.sim.sizes import SIZES
from tests.sync.test_planner import CE, EE, TARGETS


def instance(size: str) -> Instance:
    """The dataset's counts; its big and huge member lists take several pages."""
    s = SIZES[size]
    pages = {f"members:project:{i + 1}": 3 for i in range(s.big_sources)}
    for i in range(s.huge_groups):
        pages[f"members:group:{s.groups - i}"] = s.huge_members // 100 + 1
    return Instance(users=s.users, groups=s.groups, projects=s.projects, member_pages=pages)


def day(size: str, caps: Capabilities, per_minute: float, hours: float) -> Rehearsal:
    """One rehearsal, seeded."""
    return rehearse(instance(size), TARGETS, caps, per_minute, hours=hours,
                    rng=random.Random(7))  # fmt: skip


def assert_truthful(r: Rehearsal) -> None:
    """Never over budget; no class waited longer than the plan predicted, give or take the
    seconds a read waits for a free worker (1 %, at least 5 s)."""
    assert r.max_per_minute <= r.per_minute
    for klass in CLASSES:
        result = r.classes[klass]
        slack = max(5.0, 0.01 * result.predicted)
        assert result.worst <= result.predicted + slack, (klass, result.worst, result.predicted)


def test_six_hours_of_medium_at_600_a_minute_hold_every_target() -> None:
    """medium, 600/min: budget kept, every class's waits within its target."""
    r = day("medium", CE, 600, hours=6)
    assert_truthful(r)
    assert r.stretch == pytest.approx(1.0)
    for klass in CLASSES:
        result = r.classes[klass]
        assert result.delays or klass in ("reconcile", "shares"), klass  # the workload hit it
        assert result.quantile(0.95) <= result.target, (klass, result.quantile(0.95))


def test_a_day_of_large_at_600_a_minute_says_how_far_it_falls_short() -> None:
    """large, 600/min: the walks stretch about 5x, the plan predicts it, the waits agree."""
    r = day("large", CE, 600, hours=24)
    assert_truthful(r)
    assert 4 < r.stretch < 6
    group = r.classes["group_members"]
    assert group.quantile(0.95) > group.target  # cannot hold 5 minutes...
    assert group.worst <= group.predicted * 1.01  # ...and said so
    assert r.classes["new_users"].quantile(0.95) <= 60  # signals are never stretched


def test_audit_events_make_member_changes_fast_on_a_small_budget() -> None:
    """16.11-ee with audit events at 120/min: member classes within about a minute."""
    r = day("medium", EE, 120, hours=6)
    assert_truthful(r)
    for klass in ("group_members", "project_members", "new_user_memberships"):
        assert r.classes[klass].quantile(0.95) <= 90, klass


def test_without_updated_after_renames_wait_for_the_projects_listing() -> None:
    """12.10 (no updated_after): project renames are seen by the listing walk, still in time."""
    caps = Capabilities(updated_after=False, last_activity_after=True, memberships=True,
                        audit_events=False)  # fmt: skip
    r = day("medium", caps, 600, hours=6)
    assert_truthful(r)
    assert r.classes["groups_and_projects"].worst <= TARGETS.groups_and_projects + 30
