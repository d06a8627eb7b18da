"""``gitlab-bridge plan``: the instance's sizes from the snapshot, each class's predicted worst
case on the budget, and what would hold a target it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.testing.sim.ratelimit import Throttle
from tests.conftest import SimFactory


def _config(tmp_path: Path, url: str, token: str, budget: int, **freshness: str) -> Path:
    path = tmp_path / f"config-{budget}.yaml"
    targets = ", ".join(f"{k}: {v}" for k, v in freshness.items())
    path.write_text(
        f"gitlab: {{url: '{url}', token: {token}, budget: {budget}}}\n"
        f"state: {{url: 'sqlite:///{tmp_path / 'bridge.db'}'}}\n"
        + (f"freshness: {{{targets}}}\n" if targets else "")
    )
    return path


@pytest.fixture
def synced(make_sim: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple:
    """A small 16.11 instance with a snapshot (one sync at a large budget)."""
    sim = make_sim("small", version="16.11")
    fast = _config(tmp_path, sim.url, sim.tokens["admin"], 60_000)
    assert main(["sync", "--config", str(fast), "--no-deliver"]) == 0
    capsys.readouterr()
    return sim, tmp_path


def test_a_budget_that_holds_every_target_exits_0(
    synced: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every class ok; the sizes come from the snapshot; the signals from the version."""
    sim, tmp_path = synced
    config = _config(tmp_path, sim.url, sim.tokens["admin"], 600)
    assert main(["plan", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    snap = sim.world.snapshot()
    assert f"{len(snap.users):,} users, {len(snap.groups):,} groups" in out
    assert "updated after, last activity after, memberships" in out
    # GraphQL group lists are cheap enough to run every half target.
    assert "group_members         5m      2m30s                 ok" in out
    assert "LATE" not in out


def test_a_target_the_budget_cannot_hold_is_late_with_advice(
    synced: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    """Group members and shares every second on 60/min cannot be held, even with small's
    group lists in one GraphQL request (ten groups' shares are ten): LATE, exit 1, what would
    hold it."""
    sim, tmp_path = synced
    config = _config(tmp_path, sim.url, sim.tokens["admin"], 60, group_members="1s", shares="1s")
    assert main(["plan", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    late = next(line for line in out.splitlines() if line.startswith("group_members"))
    assert late.endswith("LATE")
    assert "warning: group_members" in out
    assert "requests/min would hold every target" in out
    assert "instance audit events (GitLab Premium)" in out


def test_the_instance_throttle_caps_the_plan_and_allowlisting_is_advised(
    make_sim: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitLab's throttle at 120/min leaves 96 of 600: the plan uses 96 and says why."""
    sim = make_sim("small", version="16.11", throttle=Throttle.parse("7200/3600"))
    fast = _config(tmp_path, sim.url, sim.tokens["admin"], 60_000)
    assert main(["sync", "--config", str(fast), "--no-deliver"]) in (0, 1)
    capsys.readouterr()
    config = _config(tmp_path, sim.url, sim.tokens["admin"], 600, group_members="1s", shares="1s")
    assert main(["plan", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "budget 96 requests/min" in out
    assert "allowlisting the bridge's user" in out


def test_json_and_an_offline_version(synced: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    """--version plans without asking GitLab; --json holds every class and the idle rate."""
    sim, tmp_path = synced
    config = _config(tmp_path, sim.url, sim.tokens["admin"], 600)
    assert main(["plan", "--config", str(config), "--json", "--version", "12.10"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["signals"]["updated_after"] is False
    assert data["signals"]["last_activity_after"] is True
    assert set(data["classes"]) == {"new_users", "new_user_memberships", "group_members",
                                    "project_members", "groups_and_projects", "shares",
                                    "reconcile"}  # fmt: skip
    assert data["classes"]["new_users"] == {"target": 60.0, "predicted_worst": 30.0}
    assert 0 < data["idle_per_minute"] <= 600


def test_graphql_batches_cut_what_a_full_reconcile_costs(
    synced: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    """16.11 reads member lists many a request (GraphQL batches); 12.10 one list a request."""
    sim, tmp_path = synced
    config = _config(tmp_path, sim.url, sim.tokens["admin"], 600)
    cost = {}
    for version in ("12.10", "16.11"):
        main(["plan", "--config", str(config), "--json", "--version", version])
        cost[version] = json.loads(capsys.readouterr().out)["full_reconcile_requests"]
    snap = sim.world.snapshot()
    sources = len(snap.groups) + len(snap.projects)
    assert cost["12.10"] >= sources  # at least one request a member list
    assert cost["16.11"] <= cost["12.10"] - sources + 5  # the lists in a few batches


def test_an_empty_snapshot_asks_for_a_sync_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No snapshot yet: a one-line pointer to `sync`, exit 1."""
    config = _config(tmp_path, "http://127.0.0.1:9", "t", 600)
    assert main(["plan", "--config", str(config), "--version", "16.11"]) == 1
    assert "the snapshot is empty; run `gitlab-bridge sync` first" in capsys.readouterr().out


@pytest.mark.parametrize("version", ["16", "x.y", "16.11-ce", "16.11.1.1-ee-x"])
def test_a_bad_version_is_a_usage_error(
    tmp_path: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--version must be X.Y or X.Y-ee: exit 64, one line naming it."""
    config = _config(tmp_path, "http://127.0.0.1:9", "t", 600)
    assert main(["plan", "--config", str(config), "--version", version]) == 64
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"--version {version!r}" in err


def test_access_requests_double_what_a_member_list_costs(
    synced: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    """poll.access_requests: each member-list read costs one request more, and the plan says
    so: on a budget that stretches the walk, every member class waits longer."""
    sim, tmp_path = synced
    predicted = {}
    for on in (False, True):
        config = _config(tmp_path, sim.url, sim.tokens["admin"], 4)
        config.write_text(config.read_text() + f"poll: {{access_requests: {str(on).lower()}}}\n")
        main(["plan", "--config", str(config), "--json", "--version", "16.11"])
        classes = json.loads(capsys.readouterr().out)["classes"]
        predicted[on] = {k: classes[k]["predicted_worst"] for k in ("group_members", "reconcile")}
    assert predicted[True]["group_members"] > predicted[False]["group_members"]
    assert predicted[True]["reconcile"] > predicted[False]["reconcile"]
