"""The systemd units: they parse, carry what the issue asks, and pass systemd-analyze verify."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli.main import build_parser

UNITS = Path(__file__).resolve().parents[2] / "systemd"
INSTALLED = "/opt/gitlab-bridge/bin/gitlab-bridge"


def unit(name: str) -> configparser.RawConfigParser:
    """A unit file parsed as systemd does: sections, keys kept in case, repeated keys joined."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = (UNITS / name).read_text()
    # Repeated keys (SystemCallFilter=) are legal in units; configparser keeps the last one.
    parser.read_string(text)
    return parser


def exec_argv(value: str) -> list[str]:
    """The argv of an ExecStart= line, with ${CONFIGURATION_DIRECTORY} filled in."""
    return shlex.split(value.replace("${CONFIGURATION_DIRECTORY}", "/etc/gitlab-bridge"))


def test_daemon_unit_is_a_hardened_notify_service() -> None:
    """Type=notify, a dynamic user, directories, credentials, hardening and restart policy."""
    service = unit("gitlab-bridge.service")["Service"]
    assert service["Type"] == "notify"
    assert service["DynamicUser"] == "yes"
    assert service["StateDirectory"] == service["ConfigurationDirectory"] == "gitlab-bridge"
    assert service["LoadCredential"].startswith("gitlab-token:/etc/gitlab-bridge/")
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "78"
    assert service["CapabilityBoundingSet"] == ""
    assert "WatchdogSec" in service
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_sync_timer_starts_the_one_shot_service() -> None:
    """The timer has an interval, the service is a oneshot, and both exclude the daemon."""
    timer = unit("gitlab-bridge-sync.timer")
    service = unit("gitlab-bridge-sync.service")
    assert "OnUnitInactiveSec" in timer["Timer"]
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["SuccessExitStatus"] == "75"
    assert "gitlab-bridge.service" in service["Unit"]["Conflicts"]


@pytest.mark.parametrize(
    ("name", "command"),
    [("gitlab-bridge.service", "run"), ("gitlab-bridge-sync.service", "sync")],
)
def test_exec_start_is_a_valid_bridge_command_line(name: str, command: str) -> None:
    """ExecStart= names the installed script and parses with the bridge's own argument parser."""
    argv = exec_argv(unit(name)["Service"]["ExecStart"])
    assert argv[0] == INSTALLED
    args = build_parser().parse_args(argv[1:])
    assert args.command == command
    assert args.config == "/etc/gitlab-bridge/config.yaml"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker finds nothing (ExecStart pointed at this checkout's script)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    script = Path(sys.executable).with_name("gitlab-bridge")
    assert script.exists(), "the project is installed in this interpreter's environment"
    names = ["gitlab-bridge.service", "gitlab-bridge-sync.service", "gitlab-bridge-sync.timer"]
    for name in names:
        text = (UNITS / name).read_text().replace(INSTALLED, str(script))
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [tool, "verify", "--man=no", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    complaints = [line for line in done.stderr.splitlines() if "gitlab-bridge" in line]
    assert done.returncode == 0, done.stderr
    assert complaints == []
