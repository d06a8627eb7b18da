"""``check-config --online`` reports the request budget against GitLab's own throttle."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.testing.sim.ratelimit import Throttle
from tests.conftest import SimFactory


def _config(tmp_path: Path, url: str, token: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"gitlab: {{url: '{url}', token: {token}, budget: 600}}\n")
    return path


def _budget_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("budget: "))


def test_the_instance_throttle_lowers_the_effective_budget(
    make_sim: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sim serve --rate-limit 7200/3600: 120 a minute, so 96 of the configured 600 are left."""
    sim = make_sim(version="16.11", throttle=Throttle.parse("7200/3600"))
    config = _config(tmp_path, sim.url, sim.tokens["admin"])
    assert main(["check-config", "--config", str(config), "--online"]) == 0
    assert _budget_line(capsys.readouterr().out) == (
        "budget: 600 requests/min configured; GitLab's authenticated API throttle: "
        "7200 per 3600s (120/min); effective: 96/min"
    )


def test_without_a_throttle_the_configured_budget_stands(
    make_sim: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The throttle off: the configured budget is the effective one."""
    sim = make_sim(version="12.10")
    config = _config(tmp_path, sim.url, sim.tokens["admin"])
    assert main(["check-config", "--config", str(config), "--online"]) == 0
    assert _budget_line(capsys.readouterr().out) == (
        "budget: 600 requests/min configured; GitLab's authenticated API throttle: off; "
        "effective: 600/min"
    )
