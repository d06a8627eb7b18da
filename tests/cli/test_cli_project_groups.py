"""``gitlab-bridge project-groups``: GitLab's answer from the snapshot, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.testing.sim.simulator import Simulator

Capture = pytest.CaptureFixture[str]


def synced(make_sim: Callable[..., Simulator], tmp_path: Path) -> tuple[Simulator, Path, int]:
    """A simulator with a shared project, a synced snapshot, and the config that reads it."""
    sim = make_sim()
    w = sim.world
    root = w.add_group("root-group", name="Root Group", visibility="public")
    inner = w.add_group("project-group", name="Project Group", parent_id=root.id)
    dev = w.add_group("dev-share", name="Dev Share")
    project = w.add_project("app", namespace_id=inner.id)
    w.share("project", project.id, dev.id, 30)
    config = tmp_path / "bridge.yaml"
    config.write_text(
        f"gitlab: {{url: '{sim.url}', token: {sim.tokens['admin']}, budget: 60000}}\n"
        f"state: {{url: 'sqlite:///{tmp_path / 'bridge.db'}'}}\n"
    )
    assert main(["sync", "--config", str(config)]) == 0
    return sim, config, project.id


def test_json_equals_gitlabs_own_answer(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: Capture
) -> None:
    """--json prints exactly what GitLab 16.11 returns for the same query."""
    sim, config, project = synced(make_sim, tmp_path)
    capsys.readouterr()
    argv = ["project-groups", "root-group/project-group/app", "--with-shared", "--json"]
    assert main([*argv, "--config", str(config)]) == 0
    captured = capsys.readouterr()
    ours = json.loads(captured.out)
    theirs = sim.handle_api(
        "GET",
        f"/api/v4/projects/{project}/groups",
        "with_shared=true&per_page=100",
        {"private-token": sim.tokens["admin"], "authorization": ""},
        "127.0.0.1",
    )[0]
    assert ours == json.loads(theirs.payload())
    assert captured.err.startswith("root-group/project-group/app: 3 groups; snapshot ")


def test_table_says_how_each_group_relates(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: Capture
) -> None:
    """The table names ancestors and shares (with their level), highest id first."""
    _sim, config, project = synced(make_sim, tmp_path)
    capsys.readouterr()
    assert main(["project-groups", str(project), "--with-shared", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "FULL", "PATH", "NAME", "HOW"]
    assert [line.split()[1] for line in lines[1:]] == [
        "dev-share",
        "root-group/project-group",
        "root-group",
    ]
    assert lines[1].endswith("shared (level 30)")
    assert lines[2].endswith("ancestor")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no/such/project"], "project 'no/such/project' is not in the snapshot"),
        (
            ["{project}", "--shared-min-access-level", "25"],
            "--shared-min-access-level: shared_min_access_level does not have a valid value",
        ),
    ],
)
def test_bad_input_exits_64_naming_it(
    make_sim: Callable[..., Simulator],
    tmp_path: Path,
    capsys: Capture,
    argv: list[str],
    message: str,
) -> None:
    """An unknown project or a value GitLab would refuse is one line, exit 64."""
    _sim, config, project = synced(make_sim, tmp_path)
    capsys.readouterr()
    args = [a.format(project=project) for a in argv]
    assert main(["project-groups", *args, "--config", str(config)]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
