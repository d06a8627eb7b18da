"""The full pass with GraphQL member lists: the same snapshot and the same hooks as REST, fewer
requests, and REST wherever a batch cannot settle a list (docs/freshness.md#graphql).

The oracle is the REST pass itself: one simulator, two stores, the same changes; every queued
body must be byte-for-byte the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bridge.retry import RetryPolicy
from bridge.source import GitLabSource
from bridge.source.graphql import Fit
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory
from tests.sync.test_sync import settings

REST_LISTS = ("GET /groups/:id/members", "GET /projects/:id/members")


def _pass(sim: Simulator, store: Store, top: int, *, graphql: bool, **kw: Any) -> Any:
    source = GitLabSource(sim.url, sim.tokens["admin"], graphql=graphql, **kw)
    return sync(source, store, settings(sim, top), now=lambda: NOW, workers=4), source


def _rows(store: Store) -> set[tuple[Any, ...]]:
    """Member rows as GraphQL can tell them: ``created_at`` to the second."""
    out = set()
    for kind in ("group", "project"):
        for (sid, uid), m in store.all_members(kind).items():  # type: ignore[arg-type]
            created = m.created_at.replace(microsecond=0) if m.created_at else None
            out.add((kind, sid, uid, m.access_level, m.expires_at, m.username, m.state, created))
    return out


def _bodies(store: Store) -> list[tuple[str, str, bytes]]:
    return [(r.receiver, r.event_name, r.payload) for r in store.outbox()]


def _top(sim: Simulator) -> int:
    snap = sim.world.snapshot()
    parents = {g.parent_id for g in snap.groups.values()}
    return min(g.id for g in snap.groups.values() if g.parent_id is None and g.id in parents)


def _change(sim: Simulator, top: int) -> None:
    """A member added, one's role changed, one removed, in groups and projects."""
    world = sim.world
    snap = world.snapshot()
    project = min(snap.projects)
    members = sorted(snap.direct_members("project", project), key=lambda m: m.user_id)
    world.update_member("project", project, members[0].user_id,
                        access_level=20 if members[0].access_level != 20 else 30)  # fmt: skip
    group_rows = [m for m in snap.direct_members("group", top) if m.access_level < 50]
    world.remove_member("group", top, min(group_rows, key=lambda m: m.user_id).user_id)
    user = world.add_user("graphql-newcomer")
    world.add_member("group", top, user.id, 30, expires_at=dt.date(2031, 5, 1))
    world.add_member("project", project, user.id, 40)


def test_graphql_and_rest_passes_store_the_same_rows_and_queue_the_same_bodies(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    sim = make_sim("small", version="16.11")
    top = _top(sim)
    with (
        Store.open(f"sqlite:///{tmp_path / 'rest.db'}", now=lambda: NOW) as rest,
        Store.open(f"sqlite:///{tmp_path / 'graphql.db'}", now=lambda: NOW) as graphql,
    ):
        _pass(sim, rest, top, graphql=False)
        before = sim.request_count("POST /api/graphql")
        _pass(sim, graphql, top, graphql=True)
        assert sim.request_count("POST /api/graphql") > before
        assert _rows(rest) == _rows(graphql)
        _change(sim, top)
        _pass(sim, rest, top, graphql=False)
        lists_before = sum(sim.request_count(t) for t in REST_LISTS)
        report, _ = _pass(sim, graphql, top, graphql=True)
        assert report.failures == ()
        assert _rows(rest) == _rows(graphql)
        assert _bodies(graphql) == _bodies(rest)
        names = {name for _, name, _ in _bodies(rest)}
        assert {"user_update_for_team", "user_remove_from_group", "user_add_to_group",
                "user_add_to_team"} <= names  # fmt: skip
        # Only the lists too long for a batch (small has one big source) went over REST, and
        # a removal's confirmation: GET .../members/:user_id is not a list.
        big = [k for k, rows in sim.world.snapshot().members.items() if len(rows) > 100]
        assert sum(sim.request_count(t) for t in REST_LISTS) - lists_before == 2 * len(big)


def test_a_failing_graphql_endpoint_falls_back_to_rest_and_loses_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    sim = make_sim("small", version="16.11")
    top = _top(sim)
    with (
        Store.open(f"sqlite:///{tmp_path / 'rest.db'}", now=lambda: NOW) as rest,
        Store.open(f"sqlite:///{tmp_path / 'graphql.db'}", now=lambda: NOW) as graphql,
    ):
        _pass(sim, rest, top, graphql=False)
        _pass(sim, graphql, top, graphql=True)
        _change(sim, top)
        _pass(sim, rest, top, graphql=False)
        retry = RetryPolicy(max_attempts=2, base=0.01, cap=0.02)
        source = GitLabSource(sim.url, sim.tokens["admin"], retry=retry)
        assert source.probe_graphql()  # GraphQL answered at first; now every batch gets a 502
        sim.faults.add(FaultRule(kind="status", status=502, match="POST /api/graphql",
                                 times=10_000))  # fmt: skip
        report = sync(source, graphql, settings(sim, top), now=lambda: NOW, workers=4)
        assert report.failures == ()
        assert sim.request_count("POST /api/graphql") > 1
        assert _bodies(graphql) == _bodies(rest)


def test_a_batch_gitlab_refuses_as_too_complex_is_resized_from_its_numbers(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Sized too big on purpose: GitLab's refusal names the score and the limit, the next
    batches fit, and every list is read. 13.12 has no ``Query.groups``: groups go by path,
    about 30 each (docs/gitlab-api.md#graphql-complexity)."""
    sim = make_sim("small", version="13.12")
    top = _top(sim)
    with (
        Store.open(f"sqlite:///{tmp_path / 'rest.db'}", now=lambda: NOW) as rest,
        Store.open(f"sqlite:///{tmp_path / 'graphql.db'}", now=lambda: NOW) as graphql,
    ):
        _pass(sim, rest, top, graphql=False)
        source = GitLabSource(sim.url, sim.tokens["admin"])
        assert source.graphql is not None
        source.graphql.fits_[("group", "list")] = Fit(size=10)
        sync(source, graphql, settings(sim, top), now=lambda: NOW, workers=4)
        fit = source.graphql.fit("group", "list")
        assert fit.limit == 300  # the admin's limit (app/graphql/gitlab_schema.rb)
        assert 1 <= fit.size < 10
        assert fit.score is not None
        assert fit.score <= 300
        assert _rows(rest) == _rows(graphql)


@pytest.mark.parametrize("version", ["12.10", "13.12"])
def test_versions_without_graphql_member_lists_stay_rest_only(
    make_sim: SimFactory, tmp_path: Path, version: str
) -> None:
    """12.10 has no member fields; 13.12 has them (13.9+ reads them) and batches its lists."""
    sim = make_sim("small", version=version)
    with Store.open(f"sqlite:///{tmp_path / 'b.db'}", now=lambda: NOW) as store:
        report, _ = _pass(sim, store, _top(sim), graphql=True)
        assert report.failures == ()
        used = sim.request_count("POST /api/graphql")
        assert (used > 0) is (version == "13.12")


def test_minimal_access_rows_are_rests_to_decide(make_sim: SimFactory, tmp_path: Path) -> None:
    """16.11-ee: GraphQL's groupMembers shows Minimal Access rows REST hides; such a list is
    read over REST, so the snapshot is REST's."""
    sim = make_sim("small", version="16.11-ee")
    top = _top(sim)
    user = sim.world.add_user("minimal")
    sim.world.add_member("group", top, user.id, 5)
    with (
        Store.open(f"sqlite:///{tmp_path / 'rest.db'}", now=lambda: NOW) as rest,
        Store.open(f"sqlite:///{tmp_path / 'graphql.db'}", now=lambda: NOW) as graphql,
    ):
        _pass(sim, rest, top, graphql=False)
        _pass(sim, graphql, top, graphql=True)
        assert (top, user.id) not in graphql.all_members("group")
        assert _rows(rest) == _rows(graphql)


def test_a_gitlab_without_groups_by_id_is_asked_by_path(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``Query.groups(ids:)`` is tried where it may exist; GitLab's refusal turns the groups to
    aliases by full path for good, and nothing is lost."""
    sim = make_sim("small", version="13.12")
    top = _top(sim)
    with (
        Store.open(f"sqlite:///{tmp_path / 'rest.db'}", now=lambda: NOW) as rest,
        Store.open(f"sqlite:///{tmp_path / 'graphql.db'}", now=lambda: NOW) as graphql,
    ):
        _pass(sim, rest, top, graphql=False)
        source = GitLabSource(sim.url, sim.tokens["admin"])
        assert source.graphql is not None
        source.graphql.dialect = dataclasses.replace(source.graphql.dialect, groups_by_id=True)
        report = sync(source, graphql, settings(sim, top), now=lambda: NOW, workers=4)
        assert report.failures == ()
        assert source.graphql.dialect.groups_by_id is False
        assert _rows(rest) == _rows(graphql)
