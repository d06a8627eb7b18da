"""The gitlab-bridge command line: exit codes, one-line errors, and ``sim serve`` as a process."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import gitlab
import pytest
import requests

from bridge.cli.main import main
from bridge.store import Store, head_revision
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.simulator import Simulator


@pytest.mark.parametrize(
    ("argv", "culprit"),
    [
        (["sim", "serve", "--dataset", "huge"], "--dataset"),
        (["sim", "serve", "--version", "9.9"], "--version"),
        (["sim", "serve", "--rate-limit", "fast"], "--rate-limit"),
        (["sim", "serve", "--port", "70000"], "--port"),
    ],
)
def test_bad_options_exit_64_with_one_line(
    argv: list[str], culprit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad option value is a usage error: exit 64 and one line naming the option."""
    assert main(argv) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"gitlab-bridge: {culprit}")


def test_port_in_use_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Binding a port that is taken fails with exit 78, naming host and port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sim", "serve", "--port", str(port)]) == 78
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown subcommand exits 64 (not argparse's 2) with one line pointing to --help."""
    assert main(["frobnicate"]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("gitlab-bridge: argument COMMAND: invalid choice: 'frobnicate'")
    assert err.endswith("(see `gitlab-bridge --help`)\n")


@contextlib.contextmanager
def serve(*options: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``gitlab-bridge sim serve`` in a child process, with its printed lines parsed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "sim", "serve", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = dict(proc.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(3))
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps the child and closes its pipes


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """A 13.12 EE simulator process with seed 7."""
    with serve("--version", "13.12-ee", "--seed", "7") as running:
        yield running


def test_sim_serve_prints_url_and_tokens_and_serves(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    """It prints the URL and both tokens a line each; python-gitlab works; SIGTERM stops it."""
    proc, lines = served
    assert set(lines) == {"url", "admin-token", "user-token"}
    assert lines["url"].startswith("http://127.0.0.1:")
    admin = gitlab.Gitlab(lines["url"], private_token=lines["admin-token"])
    assert admin.http_get("/version")["version"] == "13.12.15-ee"
    assert admin.http_get("/user")["is_admin"] is True
    user = gitlab.Gitlab(lines["url"], private_token=lines["user-token"])
    assert "is_admin" not in user.http_get("/user")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_sim_serve_applies_latency_and_rate_limit_options() -> None:
    """--latency-ms delays every answer and --rate-limit throttles with GitLab's 429."""
    with serve("--latency-ms", "150", "--rate-limit", "2/60") as (_, lines):
        session = requests.Session()
        session.headers["PRIVATE-TOKEN"] = lines["admin-token"]
        url = f"{lines['url']}/api/v4/version"
        started = time.monotonic()
        statuses = [session.get(url, timeout=10).status_code for _ in range(2)]
        elapsed = time.monotonic() - started
        throttled = session.get(url, timeout=10)
    assert statuses == [200, 200]
    assert elapsed >= 0.3
    assert throttled.status_code == 429
    assert throttled.text == "Retry later\n"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60


def test_db_upgrade_migrates_and_refuses_a_newer_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """db upgrade creates the schema; a database from a newer bridge is refused with exit 74."""
    db = tmp_path / "new" / "bridge.db"
    url = f"sqlite:///{db}"
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"schema empty -> {head_revision()}" in capsys.readouterr().out
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    assert main(["db", "upgrade", "--url", url]) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "9999" in err


def _online_config(tmp_path: Path, url: str, token: str, group: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"gitlab: {{url: '{url}', token: {token}, budget: 60000}}\n"
        f"hooks:\n  group:\n    - {{name: prov, group: '{group}', url: 'http://127.0.0.1:9/h'}}\n"
    )
    return path


def test_check_config_online(
    small_sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--online checks the token is an admin's and that every receiver's group exists."""
    group = small_sim.world.snapshot().group_full_paths[min(small_sim.world.snapshot().groups)]
    ok = _online_config(tmp_path, small_sim.url, small_sim.tokens["admin"], group)
    assert main(["check-config", "--config", str(ok), "--online"]) == 0
    assert "GitLab 16.11.10 CE, admin token of 'root'" in capsys.readouterr().out
    unknown = _online_config(tmp_path, small_sim.url, small_sim.tokens["admin"], "acme/plat")
    assert main(["check-config", "--config", str(unknown), "--online"]) == 78
    assert (
        capsys.readouterr().err
        == "gitlab-bridge: hooks.group[0].group: unknown group 'acme/plat'\n"
    )
    user = _online_config(tmp_path, small_sim.url, small_sim.tokens["user"], group)
    assert main(["check-config", "--config", str(user), "--online"]) == 78  # as `run` says
    err = capsys.readouterr().err
    assert "is not an administrator" in err
    assert small_sim.tokens["user"] not in err


def _sync_config(tmp_path: Path, url: str, token: str) -> Path:
    path = tmp_path / "sync.yaml"
    path.write_text(
        f"gitlab: {{url: '{url}', token: {token}, retry_attempts: 1, retry_max_wait: 0.01,"
        " budget: 60000}\n"
        f"state: {{url: 'sqlite:///{tmp_path / 'state' / 'bridge.db'}'}}\n"
        "hooks:\n  system:\n    - {name: audit, url: 'http://127.0.0.1:9/hook'}\n"
    )
    return path


def test_sync_command_baselines_then_queues_a_change(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sync prints one summary line; the first run is a baseline, the next queues real changes."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("sync: ")
    assert "0 events queued, baseline of" in first
    sim.world.add_user("newcomer")
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
    second = capsys.readouterr().out.strip()
    pattern = r"sync: \d+ resources polled, \d+ requests, 1 changes, 1 events queued, [\d.]+ s"
    assert re.fullmatch(pattern, second)


def test_sync_command_exits_69_when_gitlab_keeps_failing(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GitLab that keeps failing makes sync exit 69 (unavailable) with the reason on one line."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    sim.faults.add(FaultRule(kind="status", status=503, fraction=1.0, match="GET /users"))
    assert main(["sync", "--config", str(path)]) == 69
    err = capsys.readouterr().err.strip()
    assert err.startswith("gitlab-bridge: sync failed: ")
    assert "\n" not in err
    assert sim.tokens["admin"] not in err


def test_sync_command_exits_1_when_member_lists_fail(
    make_sim: Callable[..., Simulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed member lists still give the summary line, then exit 1 naming the first culprit."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    rule = FaultRule(kind="status", status=502, fraction=1.0, match="GET /projects/:id/members")
    sim.faults.add(rule)
    # GraphQL fails too, so the lists fall back to REST, which fails.
    sim.faults.add(FaultRule(kind="status", status=502, fraction=1.0, match="POST /api/graphql"))
    assert main(["sync", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("sync: ")
    err = captured.err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"gitlab-bridge: sync incomplete: members:project:\d+: .*502.* \(and \d+ more\); "
        r"those lists keep their previous snapshot",
        err,
    )


@pytest.mark.postgres
def test_sync_is_refused_while_another_process_polls_a_postgresql_state(
    make_sim: Callable[..., Simulator],
    tmp_path: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two pollers would both queue each change: sync exits 73 while the poller lease is held."""
    sim = make_sim()
    path = _sync_config(tmp_path, sim.url, sim.tokens["admin"])
    path.write_text(path.read_text().replace(
        f"sqlite:///{tmp_path / 'state' / 'bridge.db'}", pg_url
    ))  # fmt: skip
    with Store.open(pg_url) as store:
        lease = store.poller_lease()
        assert lease.try_lead()
        try:
            assert main(["sync", "--config", str(path), "--no-deliver"]) == 73
        finally:
            lease.release()
    assert "another gitlab-bridge polls this state" in capsys.readouterr().err
    assert main(["sync", "--config", str(path), "--no-deliver"]) == 0
