"""A complete crawl of the simulator into the store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import requests

from bridge.errors import RetriableSourceError
from bridge.ingest import ingest
from bridge.retry import RetryPolicy
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW

CLOCK = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def minimum_pages(users: int, groups: int, projects: int, member_counts: list[int]) -> int:
    """GITLAB_API.md §9: list pages, one detail per group, at least one page per member list."""
    lists = sum(math.ceil(n / 100) for n in (users, groups, projects))
    return lists + groups + sum(max(1, math.ceil(m / 100)) for m in member_counts)


def _member_counts(store: Store, groups: int, projects: int) -> list[int]:
    counts: dict[tuple[str, int], int] = {}
    for kind in ("group", "project"):
        for source_id, _ in store.all_members(kind):  # type: ignore[arg-type]
            counts[(kind, source_id)] = counts.get((kind, source_id), 0) + 1
    empty = groups + projects - len(counts)
    return list(counts.values()) + [0] * empty


def test_small_crawl_into_the_store_is_complete(store_url: str) -> None:
    """Every user, group, project, share and member of small lands in the store, in few requests."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        source = GitLabSource(sim.url, sim.tokens["admin"], per_page=100)
        with Store.open(store_url, now=lambda: CLOCK) as store:
            report = ingest(source, store, now=lambda: CLOCK)
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
                report.users,
                report.groups,
                report.projects,
                _member_counts(store, report.groups, report.projects),
            )
            assert minimum <= report.requests <= minimum * 1.05 + 2  # keyset ends on an empty page
    finally:
        sim.stop()


def test_a_failing_member_list_aborts_without_partial_writes(store_url: str) -> None:
    """If one member list keeps failing, the crawl raises and that list is not stored."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        victim = min(sim.world.snapshot().projects)
        sim.faults.add(
            FaultRule(
                kind="status", status=502, fraction=1.0, match=f"/api/v4/projects/{victim}/members"
            )
        )
        source = GitLabSource(
            sim.url, sim.tokens["admin"], retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)
        )
        with Store.open(store_url, now=lambda: CLOCK) as store:
            with pytest.raises(RetriableSourceError, match=f"project {victim}|projects/{victim}"):
                ingest(source, store, now=lambda: CLOCK)
            assert store.resource_state(f"members:project:{victim}") is None
            assert store.members("project", victim) == {}
            assert sim.tokens["admin"] not in str(store.resource_state("users"))
    finally:
        sim.stop()


@pytest.mark.slow
# 22,000 member lists, one transaction each: ~200 s on PostgreSQL here, over 300 s (the
# suite's default timeout) on slower CI machines.
@pytest.mark.timeout(1200)
def test_medium_crawl_into_the_store(store_url: str, medium_server: tuple[str, str]) -> None:
    """medium lands completely on each backend within 5 % of the minimum number of requests."""
    url, token = medium_server
    info = requests.get(f"{url}/-/sim/info", timeout=30).json()
    source = GitLabSource(url, token, concurrency=8)
    with Store.open(store_url, now=lambda: CLOCK) as store:
        report = ingest(source, store, now=lambda: CLOCK, workers=8)
        assert (report.users, report.groups, report.projects) == (
            info["users"],
            info["groups"],
            info["projects"],
        )
        assert len(store.users()) == info["users"]
        assert len(store.projects()) == info["projects"]
        stored = len(store.all_members("group")) + len(store.all_members("project"))
        assert stored == report.member_rows == info["members"]
        minimum = minimum_pages(
            report.users,
            report.groups,
            report.projects,
            _member_counts(store, report.groups, report.projects),
        )
        assert report.requests <= minimum * 1.05
        backend = store_url.split(":", maxsplit=1)[0]
        print(f"\nmedium on {backend}: {report.requests} requests (minimum {minimum})")
        print(f"medium on {backend}: {report.seconds:.1f} s")
