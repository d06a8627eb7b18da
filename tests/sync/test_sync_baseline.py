"""Sync's first pass: a complete, silent baseline of the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from bridge.retry import RetryPolicy
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, baseline

CLOCK = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def minimum_pages(users: int, groups: int, projects: int, member_counts: list[int]) -> int:
    """docs/gitlab-api.md#cost-of-a-full-pass: list pages, one detail per group, a page a list."""
    lists = sum(math.ceil(n / 100) for n in (users, groups, projects))
    return lists + groups + sum(max(1, math.ceil(m / 100)) for m in member_counts)


def _member_counts(store: Store, groups: int, projects: int) -> list[int]:
    counts: dict[tuple[str, int], int] = {}
    for kind in ("group", "project"):
        for source_id, _ in store.all_members(kind):  # type: ignore[arg-type]
            counts[(kind, source_id)] = counts.get((kind, source_id), 0) + 1
    empty = groups + projects - len(counts)
    return list(counts.values()) + [0] * empty


@pytest.mark.parametrize("graphql", [False, True], ids=["rest", "graphql"])
def test_small_baseline_into_the_store_is_complete(store_url: str, graphql: bool) -> None:
    """Every user, group, project, share and member of small lands in the store, in few requests:
    over REST within 5 % of the fewest pages; over GraphQL in at most half of those."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        source = GitLabSource(sim.url, sim.tokens["admin"], per_page=100, graphql=graphql)
        with Store.open(store_url, now=lambda: CLOCK) as store:
            report = baseline(source, store, now=lambda: CLOCK)
            assert (report.events_queued, report.failures) == (0, ())
            snap = sim.world.snapshot()
            assert set(store.users()) == set(snap.users)
            assert set(store.groups()) == set(snap.groups)
            assert set(store.projects()) == set(snap.projects)
            expected_members = {
                (kind, sid, uid)
                for (kind, sid), rows in snap.members.items()
                for uid, m in rows.items()
                if m.access_level >= 10
            }
            stored = {("group", s, u) for s, u in store.all_members("group")}
            stored |= {("project", s, u) for s, u in store.all_members("project")}
            assert stored == expected_members
            expected_shares = {(k, s, g) for (k, s), links in snap.shares.items() for g in links}
            stored_shares = {("group", s, g) for s, g in store.shares("group")}
            stored_shares |= {("project", s, g) for s, g in store.shares("project")}
            assert stored_shares == expected_shares
            state = store.resource_state("users")
            assert state is not None
            assert (state.baseline_at, state.last_complete_at) == (CLOCK, CLOCK)
            minimum = minimum_pages(
                len(snap.users),
                len(snap.groups),
                len(snap.projects),
                _member_counts(store, len(snap.groups), len(snap.projects)),
            )
            if graphql:
                assert sim.request_count("POST /api/graphql") > 0
                assert report.requests <= minimum * 0.5
            else:  # a keyset walk ends on an empty page
                assert minimum <= report.requests <= minimum * 1.05 + 2
    finally:
        sim.stop()


def test_a_failing_member_list_is_not_written_and_the_rest_is(store_url: str) -> None:
    """A member list that keeps failing is recorded as failing; nothing of it is stored."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        victim = min(sim.world.snapshot().projects)
        sim.faults.add(
            FaultRule(
                kind="status", status=502, fraction=1.0, match=f"/api/v4/projects/{victim}/members"
            )
        )
        source = GitLabSource(
            sim.url,
            sim.tokens["admin"],
            retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02),
            graphql=False,  # the REST list fails; a failing batch: tests/sync/test_sync_graphql.py
        )
        with Store.open(store_url, now=lambda: CLOCK) as store:
            report = baseline(source, store, now=lambda: CLOCK)
            name = f"members:project:{victim}"
            assert [f.split(": ", 1)[0] for f in report.failures] == [name]
            state = store.resource_state(name)
            assert state is not None
            assert (state.baseline_at, state.last_complete_at) == (None, None)
            assert f"project {victim}: members" in (state.last_error or "")
            assert store.members("project", victim) == {}
            others = min(p for p in sim.world.snapshot().projects if p != victim)
            assert store.resource_state(f"members:project:{others}") is not None
            assert sim.tokens["admin"] not in str(store.resource_states())
    finally:
        sim.stop()
