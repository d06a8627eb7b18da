"""The crash and fault soak, short (bench/soak.py is the long one; docs/soak.md).

Real ``gitlab-bridge run`` and ``sync`` processes are killed with SIGKILL at random moments, on
SQLite and on PostgreSQL; GitLab answers with 5xx, resets, truncated bodies and 429 bursts and
revokes the bridge's token for a while; a member row and a share link are added, removed and
added back. Against the oracle: nothing lost, nothing spurious, no event under two keys, every
receiver's events of one subject in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bridge.clock import utcnow
from bridge.config.settings import Settings
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.scenarios import Row, run
from tests.conftest import SimFactory

Sims = Callable[[], contextlib.AbstractContextManager[tuple[str, str]]]


@pytest.fixture
def sims(make_sim: SimFactory) -> Sims:
    """A fresh small 16.11 simulator per scenario: (url, admin token)."""

    @contextlib.contextmanager
    def started() -> Iterator[tuple[str, str]]:
        sim = make_sim("small", version="16.11")
        yield sim.url, sim.tokens["admin"]

    return started


def assert_clean(row: Row) -> None:
    """0 lost, 0 spurious, 0 duplicates under another key, 0 order violations."""
    t = row.tally
    assert t.expected > 0
    assert (t.lost, t.spurious, t.dup_other_key, t.order_violations) == (0, 0, 0, 0), (
        f"{row}; lost {t.lost_hooks}; spurious {t.spurious_hooks}"
    )
    assert t.delivered == t.expected


@pytest.mark.timeout(600)
def test_kill_9_of_run_and_sync_on_sqlite_loses_nothing(tmp_path: Path, sims: Sims) -> None:
    """SIGKILL of ``run`` after a batch, restart; SIGKILL of ``sync`` mid-pass, rerun."""
    row = run(["kill-sync", "kill-run"], store="sqlite", cycles=1, sim=sims, folder=tmp_path,
              seed=1, readd_in_mix=False)  # fmt: skip
    assert_clean(row)


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_kill_9_of_run_on_postgresql_loses_nothing(
    tmp_path: Path, sims: Sims, pg_admin: Engine
) -> None:
    """The same kills with the state in a fresh PostgreSQL database."""
    admin = pg_admin.url.render_as_string(hide_password=False)
    row = run(["kill-run"], store="postgresql", cycles=2, sim=sims, folder=tmp_path, seed=2,
              readd_in_mix=False, admin_url=admin)  # fmt: skip
    assert_clean(row)


@pytest.mark.timeout(600)
def test_gitlab_faults_lose_nothing(tmp_path: Path, sims: Sims) -> None:
    """5xx, resets, truncated bodies; 429 bursts with and without Retry-After; token revoked."""
    row = run(["faults"], store="sqlite", cycles=3, sim=sims, folder=tmp_path, seed=3,
              readd_in_mix=False)  # fmt: skip
    assert_clean(row)
    answered = dict(row.gitlab_errors)
    assert {0, 401, 429} <= answered.keys()  # resets, the revoked token, the bursts
    assert any(status >= 500 for status in answered)


@pytest.mark.timeout(600)
def test_members_and_links_added_back_arrive_each_time(tmp_path: Path, sims: Sims) -> None:
    """Add, remove, add, remove, add at another level, each step seen by its own pass: every
    step's event arrives (issue 12: a re-add used to reuse revision 0 and vanish)."""
    row = run(["readd"], store="sqlite", cycles=5, sim=sims, folder=tmp_path, seed=4)
    assert_clean(row)
    assert row.mutations == 20  # 4 links x 5 steps


def test_a_link_into_a_destroyed_group_goes_silently_when_projects_are_polled_first(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """docs/events.md#share-events-bridge-only: the removal of a link whose invited group was
    destroyed is silent, also when the daemon's projects job sees the link gone before its
    groups job sees the group gone (the soak found group_remove_from_team sent)."""
    sim = make_sim("small", version="16.11")
    world = sim.world
    invited = world.add_group("invited")
    project = world.add_project("shared", namespace_id=world.add_group("home").id)
    world.share("project", project.id, invited.id, 30)
    settings = Settings.model_validate({
        "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
        "state": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"},
        "hooks": {"system": [{"name": "audit", "url": "http://127.0.0.1:9/hook"}]},
        "payloads": {"share_events": True},
    })  # fmt: skip
    source = GitLabSource.from_settings(settings.gitlab)
    with Store.open(settings.state.url) as store:
        sync(source, store, settings, now=utcnow)  # the baseline
        world.remove_group(invited.id)
        for resource in ("projects", "groups"):  # the daemon's jobs, in this order
            sync(source, store, settings, now=utcnow, resources=(resource,))
        queued = [(row.event_name, row.subject) for row in store.deliveries.listing()]
    assert queued == [("group_destroy", f"group:{invited.id}")]
