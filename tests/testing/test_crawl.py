"""python-gitlab crawls the simulator completely, on every version profile and at scale."""

from __future__ import annotations

import pytest
import requests

from bridge.testing.crawl import CrawlResult, crawl
from bridge.testing.sim.snapshot import Snapshot
from tests.conftest import SimFactory


def _assert_complete(result: CrawlResult, snap: Snapshot, *, hide_minimal: bool) -> None:
    assert sorted(result.users) == sorted(snap.users)
    assert sorted(result.groups) == sorted(snap.groups)
    assert sorted(result.projects) == sorted(snap.projects)
    for (kind, source_id), ids in result.members.items():
        rows = snap.direct_members("group" if kind == "group" else "project", source_id)
        expected = [m.user_id for m in rows if m.access_level >= 10 or not hide_minimal]
        assert sorted(ids) == sorted(expected), (kind, source_id)
    for gid, invited in result.group_shares.items():
        assert sorted(invited) == sorted(snap.shares.get(("group", gid), {}))
    for pid, invited in result.project_shares.items():
        assert sorted(invited) == sorted(snap.shares.get(("project", pid), {}))


@pytest.mark.parametrize("version", ["12.10", "13.12", "16.11", "17.5", "17.7", "16.11-ee"])
@pytest.mark.parametrize("per_page", [7, 100])
def test_crawl_is_complete_on_every_profile(
    make_sim: SimFactory, version: str, per_page: int
) -> None:
    """Every user, group, project, share and direct member is listed, across pages and versions."""
    sim = make_sim(version=version)
    keyset = sim.profile.users_keyset
    result = crawl(sim.url, sim.tokens["admin"], workers=4, per_page=per_page, keyset=keyset)
    hide_minimal = sim.profile.direct_members_hide_minimal
    _assert_complete(result, sim.world.snapshot(), hide_minimal=hide_minimal)
    assert all(status == 200 for (_, status) in sim.counters())


@pytest.mark.slow
def test_medium_lists_over_ten_thousand_rows_have_no_totals(medium_server: tuple[str, str]) -> None:
    """medium's /users (10,200) and /projects (20,000) lists omit X-Total and rel=last."""
    url, token = medium_server
    for path in ("users", "projects"):
        response = requests.get(
            f"{url}/api/v4/{path}", headers={"PRIVATE-TOKEN": token}, timeout=60
        )
        assert response.status_code == 200
        assert "X-Total" not in response.headers
        assert "X-Total-Pages" not in response.headers
        assert "last" not in response.links
        assert response.headers["X-Next-Page"] == "2"
