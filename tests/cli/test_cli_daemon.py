"""``gitlab-bridge status``, ``demo`` and ``run``'s refusals, through ``main``."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge import config
from bridge.cli.demo import run_demo
from bridge.cli.main import build_parser, main
from bridge.service.daemon import Daemon
from bridge.service.locks import InstanceLock
from bridge.service.sdnotify import Notifier
from bridge.store import Store
from bridge.testing.receiver import Receiver
from bridge.testing.sim.simulator import Simulator
from tests.cli.test_cli import _sync_config


def test_status_after_a_sync_shows_resources_and_the_queue(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Human output: each resource's last poll and requests; the receiver's queue and circuit."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
    sim.world.add_user("queued-user")
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("daemon: not running\n")
    assert re.search(r"^users +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\d+s ago +1 +0$", out, re.M)
    assert re.search(r"^members \(\d+ lists\) ", out, re.M)
    assert re.search(r"^audit +1 +0 +0 +closed$", out, re.M)
    assert re.search(r"^queue: 1 waiting, 0 dead letters; oldest waiting \d+s$", out, re.M)


def test_status_json_and_a_running_daemon(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json is machine-readable and names the pid holding the state's lock."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
    capsys.readouterr()
    lock = InstanceLock(tmp_path / "state" / "bridge.db").acquire()
    try:
        assert main(["status", "--config", str(path), "--json"]) == 0
    finally:
        lock.release()
    data = json.loads(capsys.readouterr().out)
    assert data["daemon_pid"] is not None
    assert [r["name"] for r in data["resources"]] == ["users", "groups", "projects", "members"]
    assert all(r["last_complete_at"].endswith("Z") for r in data["resources"])
    assert data["receivers"][0]["name"] == "audit"


def test_run_with_a_token_gitlab_refuses_exits_78(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-admin token is a configuration error systemd must not restart."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["user"])
    text = path.read_text() + "server: {listen: '127.0.0.1:0'}\n"
    path.write_text(text)
    assert main(["run", "--config", str(path)]) == 78
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("gitlab-bridge: gitlab.token: the token of user ")
    assert err.endswith("is not an administrator; the bridge needs an admin token to read all "
                        "users, e-mails and memberships")  # fmt: skip


def test_run_with_a_busy_port_exits_78(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """server.listen on a taken port names the setting and the address."""
    sim = make_sim()
    host, port = sim.url.removeprefix("http://").split(":")
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    path.write_text(path.read_text() + f"server: {{listen: '{host}:{port}'}}\n")
    assert main(["run", "--config", str(path)]) == 78
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"gitlab-bridge: server.listen: cannot listen on {host}:{port}: ")


def test_housekeeping_prunes_old_delivered_rows_only(
    make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """Delivered rows older than keep_delivered go; waiting rows stay whatever their age."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    with Receiver() as receiver:
        text = path.read_text().replace("http://127.0.0.1:9/hook", receiver.url_for("/hook"))
        path.write_text(text + "server: {enabled: false}\n")
        settings = config.load(path)
        assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
        sim.world.add_user("one")
        assert main(["sync", "--config", str(path)]) == 0  # queued and delivered
        assert len(receiver.deliveries()) == 1
    sim.world.add_user("two")
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    daemon = Daemon(str(path), settings, notifier=Notifier({}), now=lambda: later)
    with Store.open(settings.state.url) as store:
        daemon.store = store
        assert daemon.housekeeping() == 1
        assert [r.status for r in store.deliveries.listing()] == ["pending"]
    daemon.store = None


def test_reload_refuses_a_state_change_and_keeps_running_settings(
    make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """state.url cannot change under a running daemon; the old settings stay in force."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    settings = config.load(path)
    daemon = Daemon(str(path), settings, notifier=Notifier({}))
    path.write_text(path.read_text().replace("bridge.db", "other.db"))
    assert not daemon.reload()
    assert daemon.runtime.settings is settings


def test_demo_plays_the_story_and_every_step_gets_its_hooks() -> None:
    """The Quick start's first command: seven changes, each followed by its hooks."""
    out = io.StringIO()
    assert run_demo(seconds=30, out=out) == 0
    text = out.getvalue()
    assert "step 7: dana's account is deleted" in text
    summary = text[text.index("summary:") :]
    assert re.match(r"summary: \d+ hooks for 7 changes", summary)
    for event in (
        "user_create",
        "user_add_to_group",
        "group_add_to_team",
        "project_rename",
        "project_transfer",
        "user_update_for_group",
        "user_destroy",
    ):
        assert event in summary, event
    assert "  [step 2] -> team   Member Hook  user_add_to_group" in text


def commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    """Every subcommand: (full name, its parser, the help line its parent lists)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub, helps.get(name, "")
                yield from commands(sub, f"{prefix}{name} ")


def test_every_command_has_a_help_line_and_a_description() -> None:
    """`gitlab-bridge --help` lists each command with a line; COMMAND --help explains it."""
    found = list(commands(build_parser()))
    assert {"run", "status", "demo", "sync", "deliver", "serve"} <= {n for n, _, _ in found}
    missing = [name for name, sub, line in found if not line or not sub.description]
    assert missing == []
