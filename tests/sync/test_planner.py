"""The planner: periods from targets and budget, and the order a Schedule hands out reads."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.model.signals import Capabilities
from bridge.sync.planner import (
    FLOOR,
    HINT_RESERVE,
    RETRY,
    Load,
    Targets,
    allocate,
    kind_of,
    klass_of,
    load_of,
)
from bridge.sync.schedule import Schedule

TARGETS = Targets(new_users=60, new_user_memberships=90, group_members=300, project_members=300,
                  groups_and_projects=600, shares=7200, reconcile=10800)  # fmt: skip
CE = Capabilities(updated_after=True, last_activity_after=True, memberships=True,
                  audit_events=False)  # fmt: skip
EE = Capabilities(updated_after=True, last_activity_after=True, memberships=True,
                  audit_events=True)  # fmt: skip


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("members:group:7", "members:group"),
        ("members:project:9", "members:project"),
        ("shares:group:3", "shares:group"),
        ("signal:new_users", "signal:new_users"),
        ("memberships:42", "memberships"),
        ("users", "users"),
        ("projects", "projects"),
    ],
)
def test_a_key_names_its_kind(key: str, kind: str) -> None:
    """The kind is the key without its id."""
    assert kind_of(key) == kind


def test_audit_events_move_group_member_lists_to_the_reconcile() -> None:
    """With audit events a group member list needs no walk of its own: the signal hints it."""
    assert klass_of("members:group", CE) == "group_members"
    assert klass_of("members:group", EE) == "reconcile"
    assert klass_of("members:project", CE) == "reconcile"


def test_a_budget_that_holds_every_target_keeps_the_target_periods() -> None:
    """Enough budget: walks run at their targets, signals at half, no stretch."""
    load = {"members:group": Load(tasks=100, requests=100), "signal:new_users": Load(tasks=1,
            requests=1), "members:project": Load(tasks=1000, requests=1000)}  # fmt: skip
    a = allocate(load, TARGETS, CE, per_minute=600)
    assert a.stretch == 1.0
    assert a.periods["members:group"] == 300
    assert a.periods["members:project"] == 10800
    assert a.periods["signal:new_users"] == 30
    assert a.worst["group_members"] == 300
    assert a.needed_per_minute == pytest.approx(60 * (100 / 300 + 1 / 30 + 1000 / 10800))


def test_an_overcommitted_budget_stretches_the_walks_evenly_but_not_the_signals() -> None:
    """Needing twice the budget doubles every walk's period; signals keep theirs."""
    load = {"members:group": Load(tasks=1200, requests=1200), "signal:new_users": Load(tasks=1,
            requests=1)}  # fmt: skip
    # Walks need 1200 / 300 s = 4/s; the signal 1/30 s. Leave the walks 2/s after the signal
    # and the reserve for hinted re-reads.
    a = allocate(load, TARGETS, CE, per_minute=60 * (2 + 1 / 30) / (1 - HINT_RESERVE))
    assert a.stretch == pytest.approx(2.0)
    assert a.periods["members:group"] == pytest.approx(600)
    assert a.periods["signal:new_users"] == 30
    assert a.worst["group_members"] > TARGETS.group_members


def test_the_idle_rate_is_the_budget_when_the_leftover_can_use_it() -> None:
    """With nothing changing the leftover re-reads sources every FLOOR seconds at most."""
    small = {"members:group": Load(tasks=10, requests=10)}
    assert allocate(small, TARGETS, CE, 600).idle_per_minute == pytest.approx(10 * 60 / FLOOR)
    big = {"members:group": Load(tasks=10_000, requests=10_000)}
    assert allocate(big, TARGETS, CE, 600).idle_per_minute == 600


def test_load_sums_tasks_per_kind_and_keeps_the_costliest() -> None:
    """Requests add up per kind; the largest single task is what blocks others."""
    load = load_of([("members:group:1", 1), ("members:group:2", 15), ("users", 103)])
    assert load["members:group"] == Load(tasks=2, requests=16, largest=15)
    assert load["users"].largest == 103


def test_new_tasks_are_due_at_once_in_the_order_added() -> None:
    """A task never read is due now; ties keep insertion order."""
    s = Schedule()
    for key in ("users", "groups", "projects"):
        s.add(key, 300)
    assert s.next(0.0, 10) == ["users", "groups", "projects"]
    assert s.next(0.0, 10) == []  # handed out: not again until done


def test_a_done_task_is_due_again_after_its_period() -> None:
    """Done at t: not before t + period (FLOOR aside), due at t + period."""
    s = Schedule(floor=math.inf)
    s.add("members:group:1", 300)
    assert s.next(0.0, 1) == ["members:group:1"]
    s.done("members:group:1", 0.0, cost=1)
    assert s.next(299.0, 1) == []
    assert s.next(300.0, 1) == ["members:group:1"]


def test_hints_go_first_then_signals_then_the_earliest_deadline() -> None:
    """A hinted source beats a due signal, which beats an overdue source."""
    s = Schedule(floor=math.inf)
    s.add("members:group:1", 300, last=0.0)  # due at 300
    s.add("members:group:2", 300, last=100.0)  # due at 400
    s.add("signal:new_users", 30, last=390.0)  # due at 420
    assert s.hint("members:group:2", 450.0)
    assert s.next(500.0, 3) == ["members:group:2", "signal:new_users", "members:group:1"]


def test_a_hint_for_an_unknown_source_is_refused() -> None:
    """Hinting a key the schedule lacks says so (the caller adds the source first)."""
    assert not Schedule().hint("members:group:99", 0.0)


def test_the_leftover_reads_the_stalest_source_once_it_is_floor_old() -> None:
    """Nothing due: the source read longest ago goes, if it was read at least FLOOR ago."""
    s = Schedule()
    s.add("members:project:1", 10800, last=1000.0)
    s.add("members:project:2", 10800, last=500.0)
    assert s.next(500.0 + FLOOR - 1, 5) == []
    assert s.next(1000.0 + FLOOR, 5) == ["members:project:2", "members:project:1"]


def test_signals_never_run_early_on_leftover_budget() -> None:
    """A signal (period below FLOOR) is read on its period only."""
    s = Schedule()
    s.add("signal:new_users", 30, last=0.0)
    assert s.next(29.0 + FLOOR, 5) == ["signal:new_users"]  # due at 30: read because due
    s.done("signal:new_users", 100.0)
    assert s.next(129.0, 5) == []


def test_a_failed_read_is_retried_after_a_pause_and_keeps_its_staleness() -> None:
    """A failed read is due again RETRY seconds later; its last read time is unchanged."""
    s = Schedule(floor=math.inf)
    s.add("members:group:1", 300, last=0.0)
    assert s.next(300.0, 1) == ["members:group:1"]
    s.failed("members:group:1", 300.0)
    assert s.last("members:group:1") == 0.0
    assert s.next(300.0 + RETRY - 1, 1) == []
    assert s.next(300.0 + RETRY, 1) == ["members:group:1"]


def test_a_batch_stops_at_the_available_requests_but_always_hands_out_one() -> None:
    """Costs add up to at most ``available``; a costly first task still goes alone."""
    s = Schedule()
    s.add("projects", 600, cost=200)
    s.add("members:group:1", 300, cost=1)
    assert s.next(0.0, 5) == ["projects"]
    assert s.next(0.0, 5) == ["members:group:1"]


def test_a_removed_task_is_never_handed_out() -> None:
    """Forgetting a source (it was destroyed) drops it from every queue."""
    s = Schedule()
    s.add("members:group:1", 300)
    s.hint("members:group:1", 0.0)
    s.remove("members:group:1")
    assert s.next(0.0, 5) == []
    assert "members:group:1" not in s


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 40), st.floats(1, 1000), st.integers(1, 5)),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 20),
)
def test_every_task_is_read_within_its_period_when_the_budget_allows(
    tasks: list[tuple[int, float, int]], per_tick: int
) -> None:
    """EDF property: when sum(cost/period) fits the capacity, a task waits past its deadline at
    most as long as the whole backlog takes (all due at once), in virtual time."""
    s = Schedule(floor=math.inf)
    specs = {f"members:group:{i}": (max(p, 10.0), c) for i, (_, p, c) in enumerate(tasks)}
    utilisation = sum(c / p for p, c in specs.values())
    capacity = max(per_tick, math.ceil(utilisation * 2) + max(c for _, c in specs.values()))
    for key, (period, cost) in specs.items():
        s.add(key, period, cost=cost, last=0.0)
    backlog = math.ceil(sum(c for _, c in specs.values()) / capacity) + 1
    last = dict.fromkeys(specs, 0.0)
    for t in range(0, 2000):
        for key in s.next(float(t), capacity):
            assert t - last[key] <= specs[key][0] + backlog, key
            last[key] = float(t)
            s.done(key, float(t), cost=specs[key][1])
